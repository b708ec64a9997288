"""`texnet evaluate`: quality, diversity and speed of a trained generator, written as JSON and a picture."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import torch

from texnet.checkpoints import load
from texnet.config import TrainConfig, device_option, max_pixels_option, seed_option, train_config_from_saved
from texnet.extras.exemplars import training_exemplar
from texnet.io import bundled
from texnet.io.files import RunFolder
from texnet.io.images import load_image, make_grid, parse_size, resolve_path, save_image
from texnet.build import build_loss
from texnet.paper.loss_network import LossNetwork
from texnet.paper.diversity import LAYOUT_LAYERS
from texnet.extras.metrics import FEATURE_DIVERSITY_LAYERS, diversity, layout_diversity, layout_nn, median_time, quality
from texnet.extras.spectra import exemplar_stride_power_ratio, mean_ratio, measurable
from texnet.config.options import check_fields, option
from texnet.errors import ConfigError

#: Photos stylized when no --content is given (bundled with scikit-image).
DEFAULT_EVAL_CONTENT = ("sample:chelsea", "sample:astronaut", "sample:coffee")


@dataclass
class EvaluateConfig:
    """`texnet evaluate`: what to measure a trained generator on."""

    model: Optional[str] = option(None, "model.pt / checkpoint.pt (or its run folder)", required=True)
    n: int = option(16, "texture samples to draw", flag="-n", low=1)
    style: Optional[str] = option(None, "exemplar to compare with", aliases=("--texture",),
                                  default_text="the training one")
    content: Optional[list] = option(None, "photos to stylize", default_text="bundled samples")
    size: Any = option(None, "output size: N (long side) or WxH", parse=parse_size,
                       default_text="the model's / twice the training crop")
    seed: int = seed_option()
    device: str = device_option()
    max_pixels: Optional[int] = max_pixels_option()

    def validate(self) -> "EvaluateConfig":
        check_fields(self, "evaluate")
        return self


def _train_config(g) -> TrainConfig:
    return train_config_from_saved(g.checkpoint.get("train_config"))


def recorded_exemplar(g, recorded: str, optional: bool = False) -> Optional[str]:
    """The exemplar the checkpoint records, if it is here; for a bundled network (which records DATA/...), its
    shipped thumbnail where the licence allows one, else None when `optional` (its exemplar does not ship), else a
    ConfigError that says which flag to pass."""
    flag = "--texture" if g.task == "texture" else "--style"
    if isinstance(recorded, str) and (recorded.startswith("sample:") or Path(recorded).is_file()):
        return recorded
    name = g.checkpoint.get("bundled_name")
    if name in bundled.names():
        thumb = bundled.exemplar_thumbnail(name)
        if thumb is not None:
            return str(thumb)
        if optional:
            return None
        ex = bundled.card(name)["exemplar"]
        raise ConfigError(f"{name}'s exemplar ({ex['title']}) does not ship with texnet ({ex['licence']}): pass "
                          f"{flag} FILE, an image to compare its outputs with")
    raise ConfigError(f"{recorded}: the exemplar this network was trained on is not here; pass {flag} FILE")


def evaluate_model(model, out=None, n: int = 16, size=None, style: Optional[str] = None,
                   content: Sequence[str] = (), seed: int = 0, device="cpu", overwrite: bool = False,
                   variations: int = 4, max_pixels: Optional[int] = None) -> Dict[str, object]:
    """Metrics of a checkpoint; `style` overrides the exemplar it was trained on (default: the one recorded)."""
    g = load(model, device=device)
    cfg = _train_config(g)
    # a bundled texture network whose exemplar does not ship: measured on what needs none (diversity, speed)
    source = style or recorded_exemplar(g, cfg.exemplar, optional=g.task == "texture")
    cfg = dataclasses.replace(cfg, exemplar=source)
    if max_pixels is not None:
        cfg = dataclasses.replace(cfg, max_pixels=max_pixels)
    if source is not None:
        resolve_path(source)
    for c in content:
        resolve_path(c)
    run = RunFolder(out, overwrite=overwrite) if out else None
    # Metrics are measured in fp32 whatever precision the model was trained with (fast paths are for training).
    if source is None:
        exemplar, loss = None, None
        net = LossNetwork(FEATURE_DIVERSITY_LAYERS, pooling=cfg.loss.pooling, weights=cfg.loss.vgg_weights,
                          weights_format=cfg.loss.vgg_format).to(device)
    else:
        exemplar = training_exemplar(cfg)
        loss = build_loss(dataclasses.replace(cfg.loss, precision="fp32"), exemplar, with_content=g.task == "style",
                          device=device, extra_layers=FEATURE_DIVERSITY_LAYERS + LAYOUT_LAYERS)
        net = loss.net
    res: Dict[str, object] = {"model": str(model), "architecture": g.arch, "step": g.checkpoint.get("step"),
                              "exemplar": source, "seed": seed}
    gen = torch.Generator().manual_seed(seed)
    with torch.inference_mode():
        if g.task == "texture":
            size = size if size is not None else g.default_size()
            z = g.sample_noise(n, size, gen, device)
            samples = g(z)
            if loss is not None:
                res["quality"] = quality(samples, loss)
            res["diversity"] = diversity(samples, net)
            if exemplar is None:
                name = g.checkpoint["bundled_name"]
                res["card_quality"] = bundled.card(name).get("quality")
                res["note"] = (f"{name}'s exemplar does not ship with texnet "
                               f"({bundled.card(name)['exemplar']['licence']}): texture loss, layout and checkerboard "
                               "numbers need --texture FILE; card_quality holds the ones measured when it was built")
            elif min(exemplar.shape[-2:]) > max(samples.shape[-2:]):  # crops of the samples' size at different places
                # 1.0 = the samples' layouts differ as much as different parts of the exemplar (metrics.py)
                res["diversity"]["layout"] = layout_diversity(samples, exemplar, loss.net, seed=seed)
                # per sample: nearest-neighbour distance over that of as many crops (0 = every sample has a twin)
                res["diversity"]["layout_nn"] = layout_nn(samples, exemplar, loss.net, seed=seed)
                # checkerboard grain: stride-line spectral power over the exemplar crops' (1 = the real texture's)
                if measurable(samples.shape[-2:]):
                    res["stride_power_ratio"] = exemplar_stride_power_ratio(samples, exemplar, seed=seed)
            one = g.sample_noise(1, size, gen, device)
            res["seconds_per_sample"] = median_time(lambda: g(one), repeats=5)
            picture = make_grid(list(samples[:8].cpu()), ncol=4)
        else:
            rows: List[torch.Tensor] = []
            per_image = []
            for c in (content or DEFAULT_EVAL_CONTENT):
                x0 = load_image(c, size=size or cfg.size * 2, max_pixels=max_pixels).to(device)
                k = variations if g.noise_channels else 1
                zs = [g.sample_noise(1, x0.shape[-2:], gen, device) if g.noise_channels else None for _ in range(k)]
                ys = torch.cat([g(x0, z) for z in zs])
                targets = loss.content_targets(x0.expand(k, -1, -1, -1))
                q = quality(ys, loss, targets)
                entry = {"image": c, **{key: v for key, v in q.items() if key != "per_image_total"}}
                if k > 1:
                    entry["diversity"] = diversity(ys, loss.net)
                if measurable(x0.shape[-2:]):  # grain over the photo's own (1 = none added)
                    entry["stride_power_ratio"] = mean_ratio([(ys, x0)])
                entry["seconds"] = median_time(lambda: g(x0, zs[0]), repeats=3)
                per_image.append(entry)
                rows.append(torch.cat([x0.cpu(), ys.cpu()]))
            res["per_image"] = per_image
            res["quality"] = {key: sum(e[key] for e in per_image) / len(per_image)
                              for key in ("texture", "content", "total") if key in per_image[0]}
            res["seconds_per_image"] = sum(e["seconds"] for e in per_image) / len(per_image)
            if all(measurable(row.shape[-2:]) for row in rows):
                res["stride_power_ratio"] = mean_ratio([(row[1:], row[:1]) for row in rows])
            picture = make_grid([img for row in rows for img in row], ncol=rows[0].shape[0])
    if run is not None:
        save_image(picture, run.file("samples.png"))
        run.write_json("results.json", res)
    return res
