"""Self-describing checkpoints: plain tensors and Python literals only, loaded with weights_only=True.

A checkpoint holds the generator's architecture name and constructor
arguments, its weights, the full training config, the exemplar's digest and,
for resuming, the optimizer, scheduler, RNG state and loss history. It is
written atomically (temp file, fsync, rename), so a crash or kill -9 during a
save leaves the previous checkpoint intact.
"""
from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path
from typing import Any, Dict, Optional

import torch

from texnet.errors import CheckpointError, clip
from texnet.extras.styles import add_style, style_name
from texnet.io.files import atomic_write, safe_torch_load
from texnet.paper.generators import Generator, build_generator

FORMAT = "texnet-checkpoint"
#: Bumped when the layout changes; newer versions are refused with a clear message, older ones converted.
#: 2: the exemplar is named for what it is (train_config 'exemplar'/'exemplar_size', 'exemplar_digest'/'_path').
VERSION = 2
#: Top-level keys renamed in version 2 (old -> new); train_config keys: config.RENAMED_TRAIN_KEYS.
RENAMED_KEYS_V2 = {"style_digest": "exemplar_digest", "style_path": "exemplar_path"}


def file_digest(path: os.PathLike | str) -> str:
    """sha256 of a file's bytes (identifies the exemplar/style image a model was trained on)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def generator_payload(g: Generator) -> Dict[str, Any]:
    """What it takes to rebuild `g`: architecture, constructor arguments, weights (on CPU)."""
    return {
        "architecture": g.arch,
        "arch_config": dict(g.config),
        "state_dict": {k: v.detach().cpu() for k, v in g.state_dict().items()},
    }


def save_checkpoint(path: os.PathLike | str, generator: Generator, **fields: Any) -> Path:
    """Atomically write a checkpoint; `fields` add train_config, step, optimizer, history, ..."""
    from texnet._version import __version__

    data = {"format": FORMAT, "version": VERSION, "texnet_version": __version__, **generator_payload(generator), **fields}
    return write_checkpoint_dict(path, data)


def write_checkpoint_dict(path: os.PathLike | str, data: Dict[str, Any]) -> Path:
    """Atomically write an already assembled checkpoint dict (save_checkpoint, the bundled compact files)."""
    buf = io.BytesIO()
    torch.save(data, buf)
    payload = buf.getvalue()
    return atomic_write(path, lambda fh: fh.write(payload))


def load_checkpoint(path: os.PathLike | str, map_location: Any = "cpu") -> Dict[str, Any]:
    """Read and validate a checkpoint dict; unsafe, foreign, or future files get a one-line CheckpointError.

    `path` may also name a bundled network (texnet.io.bundled; `texnet models` lists them).
    """
    from texnet.io.bundled import resolve

    path = resolve(path)
    if not path.exists():
        raise CheckpointError(f"{path}: no such checkpoint")
    if path.is_dir():
        for name in ("model.pt", "checkpoint.pt"):
            if (path / name).is_file():
                path = path / name
                break
        else:
            raise CheckpointError(f"{path}: is a folder without model.pt or checkpoint.pt")
    data = safe_torch_load(path, CheckpointError, "texnet checkpoint", map_location=map_location)
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a texnet checkpoint (no '{FORMAT}' marker)")
    version = data.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise CheckpointError(f"{path}: checkpoint has no valid format version ({version!r}); it is damaged or not from texnet")
    if version > VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format version {version} is newer than this texnet supports ({VERSION}); upgrade texnet"
        )
    for key in ("architecture", "arch_config", "state_dict"):
        if key not in data:
            raise CheckpointError(f"{path}: checkpoint is missing '{key}'")
    for key, kind in (("architecture", str), ("arch_config", dict), ("state_dict", dict)):
        if not isinstance(data[key], kind):
            raise CheckpointError(f"{path}: checkpoint field '{key}' is a {type(data[key]).__name__}, not a {kind.__name__}")
    data["path"] = str(path)
    from texnet.io.bundled import expand

    return expand(upgrade(data))


def upgrade(data: Dict[str, Any]) -> Dict[str, Any]:
    """A checkpoint dict of any older format version in the current layout (keys renamed, nothing lost)."""
    from texnet.config import RENAMED_TRAIN_KEYS

    if data["version"] < 2:
        data = {RENAMED_KEYS_V2.get(k, k): v for k, v in data.items()}
        if isinstance(data.get("train_config"), dict):
            data["train_config"] = {RENAMED_TRAIN_KEYS.get(k, k): v for k, v in data["train_config"].items()}
        data["version"] = VERSION
    return data


def generator_from_checkpoint(data: Dict[str, Any], expect: Optional[str] = None) -> Generator:
    """Rebuild the generator and load its weights; `expect` checks the architecture first."""
    arch = data["architecture"]
    if expect is not None and arch != expect:
        raise CheckpointError(f"{data.get('path', 'checkpoint')}: holds a {arch}, but a {expect} is needed here")
    g = build_generator(arch, data["arch_config"])
    try:
        g.load_state_dict(data["state_dict"])
    except (RuntimeError, TypeError, ValueError, KeyError, AttributeError) as exc:
        raise CheckpointError(
            f"{data.get('path', 'checkpoint')}: weights do not fit a {arch} with {data['arch_config']} "
            f"({clip(str(exc), 120)})"
        ) from exc
    return g


def load(path: os.PathLike | str, device: Any = "cpu") -> Generator:
    """Load a trained generator for inference: `g = texnet.load('run/model.pt')` or a bundled network,
    `texnet.load('starry_night')`; then `g(z)` or `g(x0, z)`. Weights are fp32 whatever was stored.

    The module is in eval mode; `g.checkpoint` keeps the checkpoint's
    metadata (training config, step, exemplar digest) without the weights.
    """
    data = load_checkpoint(path)
    g = generator_from_checkpoint(data).float().to(device).eval()
    if data.get("default_style") is not None:  # add-style's network: its new style unless a call names another
        g.set_style_mix(int(data["default_style"]))
    g.checkpoint = {k: v for k, v in data.items() if k not in ("state_dict", "optimizer", "scheduler", "rng")}
    return g


def extend_trained_stylenet(path, new_style: str):
    """(network, trainable parameters, style names): a trained StyleNet with `new_style`'s row added (add_style)."""
    base = load(path)
    if base.arch != "StyleNet" or base.config.get("norm") != "instance":
        raise CheckpointError(f"{path}: add-style needs an instance-norm StyleNet, not a {base.arch} "
                              f"({base.config.get('norm')})")
    known = base.checkpoint.get("style_names")
    if not known:
        sources = base.checkpoint.get("exemplar_path") or []
        known = [style_name(e) for e in (sources if isinstance(sources, list) else [sources])]
    params = add_style(base)
    names = list(known)[: base.styles - 1]
    names += [f"style{k}" for k in range(len(names), base.styles - 1)] + [style_name(new_style)]
    return base, params, names


def init_weights(generator: Generator, source) -> Optional[int]:
    """--init: copy a trained network's weights into a freshly built `generator` of the same architecture.

    Returns the source's training step (for the log); a different architecture or width is one clear line,
    before any run folder is written.
    """
    data = load_checkpoint(source)
    arch, config = data["architecture"], dict(generator.config)
    if arch != generator.arch or data["arch_config"] != config:
        theirs = data["arch_config"] if arch == generator.arch else {"architecture": arch}
        ours = config if arch == generator.arch else {"architecture": generator.arch}
        differs = sorted(k for k in set(theirs) | set(ours) if theirs.get(k) != ours.get(k))
        raise CheckpointError(f"--init {source}: its network has {', '.join(f'{k} {theirs.get(k)}' for k in differs)}, "
                              f"this run's {', '.join(str(ours.get(k)) for k in differs)}; "
                              "give the same settings or drop --init")
    generator.load_state_dict({k: v.float() for k, v in data["state_dict"].items()})
    return data.get("step")
