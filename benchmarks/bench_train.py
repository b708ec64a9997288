"""Training step time: texnet's default path vs the naive reference (and texnet fp32), same process, same batches."""
from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path
from typing import Dict

import torch

from common import interleaved, log
from naive import NaiveObjective, naive_layers

CONTENT_SAMPLES = ("astronaut", "chelsea", "coffee", "rocket", "motorcycle", "camera")


def content_folder(root: Path) -> Path:
    """A few photos bundled with scikit-image, written as PNG files (what `--content-dir` reads)."""
    from texnet.io.images import load_image, save_image

    folder = root / "content"
    folder.mkdir(parents=True, exist_ok=True)
    for name in CONTENT_SAMPLES:
        save_image(load_image(f"sample:{name}")[0], folder / f"{name}.png")
    return folder


def cases(quick: bool, tmp: Path):
    """(name, description, TrainConfig) of the two training benchmarks of the issue."""
    from texnet.config import TrainConfig

    style_size, style_batch = (64, 2) if quick else (256, 4)
    tex_size, tex_batch = (32, 4) if quick else (128, 8)
    yield ("stylenet", f"StyleNet IN {style_size}², batch {style_batch}",
           TrainConfig(task="style", exemplar="sample:gravel", content_dir=str(content_folder(tmp)), generator="stylenet",
                       size=style_size, batch_size=style_batch, steps=10**6, device="cpu", seed=0))
    yield ("texturenet_v2", f"TextureNetV2 {tex_size}², batch {tex_batch}, λ=0.03",
           TrainConfig(task="texture", exemplar="sample:brick", generator="v2", size=tex_size, batch_size=tex_batch,
                       diversity=0.03, steps=10**6, device="cpu", seed=0))


def trainer(cfg, out: Path, **loss_overrides):
    from texnet.train import Trainer

    cfg = dataclasses.replace(cfg, loss=dataclasses.replace(cfg.loss, **loss_overrides))
    return Trainer(cfg, out, overwrite=True, show_progress=False, log=lambda m: None)


class NaiveTrainer:
    """Same generator init, same batches (drawn by a texnet Trainer), naive objective, Adam."""

    def __init__(self, reference):
        from texnet.paper.generators import build_generator

        self.ref = reference
        cfg = reference.cfg
        arch, options = cfg.generator_spec()
        torch.manual_seed(cfg.seed)
        self.generator = build_generator(arch, options)
        self.generator.load_state_dict(reference.generator.state_dict())
        tex, con = naive_layers(cfg)
        self.objective = NaiveObjective(reference.exemplar, tex, con if cfg.task == "style" else {},
                                        cfg.loss.texture_weight, cfg.loss.content_weight, cfg.diversity,
                                        cfg.diversity_eps)
        self.optimizer = torch.optim.Adam(self.generator.parameters(), lr=cfg.lr)

    def value(self, step: int, generator=None) -> float:
        g = generator or self.generator
        z, content = self.ref.batch(step)
        targets = self.objective.content_targets(content) if content is not None else None
        with torch.no_grad():
            samples = g(z) if content is None else g(content, z)
            return float(self.objective(samples, targets))

    def train_step(self, step: int) -> float:
        self.generator.train()
        z, content = self.ref.batch(step)
        targets = self.objective.content_targets(content) if content is not None else None
        samples = self.generator(z) if content is None else self.generator(content, z)
        loss = self.objective(samples, targets)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return float(loss.detach())


def objective_value(tr, step: int, generator) -> float:
    z, content = tr.batch(step)
    targets = tr.objective.loss.content_targets(content) if content is not None else None
    with torch.no_grad():
        samples = generator(z) if content is None else generator(content, z)
        return float(tr.objective(samples, targets)["objective"])


def run(quick: bool, repeats: int) -> Dict[str, object]:
    from texnet.config import LossConfig

    torch.set_grad_enabled(True)
    results = {}
    defaults = LossConfig()
    with tempfile.TemporaryDirectory(prefix="texnet-bench-") as tmp:
        tmp = Path(tmp)
        for name, desc, cfg in cases(quick, tmp):
            log(f"[train] {desc}")
            fast = trainer(cfg, tmp / f"{name}-default")
            fp32 = trainer(cfg, tmp / f"{name}-fp32", precision="fp32", channels_last=False)
            naive = NaiveTrainer(fp32)
            # Same generator, same batch, before any update: the three objectives agree?
            fast.generator.load_state_dict(fp32.generator.state_dict())
            fp32.generator.eval(), fast.generator.eval(), naive.generator.eval()
            v_naive = naive.value(0, fp32.generator)
            v_fp32 = objective_value(fp32, 0, fp32.generator)
            v_fast = objective_value(fast, 0, fp32.generator)
            steps = iter(range(1, 10**6))
            timings = interleaved({
                "naive": lambda t=naive: t.train_step(next(steps)),
                "texnet_fp32": lambda t=fp32: t.train_step(next(steps)),
                "texnet_default": lambda t=fast: t.train_step(next(steps)),
            }, repeats=repeats)
            results[name] = {
                "description": desc,
                "default_loss_config": {"precision": defaults.precision, "channels_last": defaults.channels_last,
                                        "resolved_precision": fast.objective.loss.net.effective_precision()},
                "objective_naive": v_naive, "objective_texnet_fp32": v_fp32, "objective_texnet_default": v_fast,
                "rel_diff_fp32_vs_naive": abs(v_fp32 - v_naive) / abs(v_naive),
                "rel_diff_default_vs_fp32": abs(v_fast - v_fp32) / abs(v_fp32),
                "timings": timings,
            }
            log(f"  naive {timings['naive']['median_s']:.2f} s, texnet fp32 {timings['texnet_fp32']['median_s']:.2f} s, "
                f"default {timings['texnet_default']['median_s']:.2f} s -> {timings['texnet_default']['speedup']:.2f}x")
            del fast, fp32, naive
    return results
