"""How good a bundled network is, measured the way its card reports it.

StyleNets: style and content loss of its stylizations of photos it never saw
(scikit-image's, bundled with texnet), at its declared output size, as ratios
to a Gatys optimization of the same photos with the same style-image size
(the optimum a feed-forward network approximates). Texture networks: texture
loss of samples from fixed noise, their pixel / structure / feature / layout
diversity (mean pairwise, and nearest-neighbour as `layout_nn`) and their
checkerboard grain (`stride_power_ratio`, spectra.py; StyleNets: against the
photo). Every loss is the fp32 training loss (relative scale,
default layers), so numbers from different networks compare.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional, Sequence

import torch

from texnet.config import LossConfig, OptimizeConfig
from texnet.paper.diversity import LAYOUT_LAYERS
from texnet.extras.exemplars import load_exemplar
from texnet.io.images import load_image, save_image
from texnet.render.inference import stylize_image
from texnet.build import build_loss
from texnet.extras.metrics import diversity, layout_diversity, layout_nn, quality, random_crops
from texnet.extras.spectra import exemplar_stride_power_ratio, stride_power_ratio
from texnet.optimize import run_optimization

#: Photos no bundled network trained on (content-train is a different set), colour, 512 px. One photo: a
#: 100-step Gatys reference at 512 px costs ~5 CPU-minutes per style, the budget of the session that built the
#: shipped cards; add photos here (e.g. sample:coffee) and run `make zoo-measure` where time allows.
HELD_OUT_PHOTOS = ("sample:astronaut",)
#: L-BFGS steps of the reference optimization from the photo, its loss network in 'auto' precision (bf16 where
#: fast: half the time, and L-BFGS converged no worse in benchmarks/RESULTS.md); results are judged in fp32.
GATYS_STEPS = 100
GATYS_PRECISION = "auto"
#: Samples and seed of the texture measurements.
TEXTURE_SAMPLES, TEXTURE_SEED = 16, 123


def _name(source: str) -> str:
    return source.split(":", 1)[1] if source.startswith("sample:") else Path(source).stem


def gatys_reference(style: str, photo: str, size: int, style_size: int, cache: Path,
                    steps: int = GATYS_STEPS) -> torch.Tensor:
    """The optimization result for (style, photo) at `size` with the style at `style_size`; cached as PNG."""
    path = Path(cache) / f"gatys_{_name(style)}_{_name(photo)}_{size}_{style_size}_{steps}_{GATYS_PRECISION}.png"
    if path.exists():
        return load_image(path)
    cfg = OptimizeConfig(mode="style", content=photo, style=style, size=size, exemplar_size=style_size, steps=steps,
                         loss=LossConfig(precision=GATYS_PRECISION))
    result = run_optimization(cfg, show_progress=False, log=None)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_image(result.images[:1], path)
    return load_image(path)  # what is measured is the saved 8-bit image, as a user would get it


def _style_loss(style: str, style_size: int):
    style_img = load_exemplar(style, "style", LossConfig().texture_layers, size=style_size)
    return build_loss(LossConfig(precision="fp32"), style_img, with_content=True)


@torch.no_grad()
def stylenet_quality(generator, style: str, size: int, style_size: int, cache: Path,
                     photos: Sequence[str] = HELD_OUT_PHOTOS, steps: int = GATYS_STEPS,
                     style_index: Optional[int] = None) -> Dict[str, object]:
    """Per held-out photo and on average: the network's style/content loss and their ratios to Gatys'."""
    loss = _style_loss(style, style_size)
    rows: List[Dict[str, float]] = []
    for photo in photos:
        content = load_image(photo, size=size)
        targets = loss.content_targets(content)
        out = stylize_image(generator, content, seed=0, style=style_index)
        with torch.enable_grad():
            ref = gatys_reference(style, photo, size, style_size, cache, steps)
        net_q, ref_q = quality(out, loss, targets), quality(ref, loss, targets)
        rows.append({"photo": _name(photo), "style": net_q["texture"], "content": net_q["content"],
                     "gatys_style": ref_q["texture"], "gatys_content": ref_q["content"],
                     "style_ratio": net_q["texture"] / ref_q["texture"],
                     "content_ratio": net_q["content"] / ref_q["content"],
                     "stride_power_ratio": stride_power_ratio(out, content)})  # grain over the photo's own
    mean = {k: sum(r[k] for r in rows) / len(rows) for k in rows[0] if k != "photo"}
    return {"size": size, "style_size": style_size, "gatys_steps": steps, "photos": rows, **mean}


@torch.no_grad()
def texture_quality(generator, exemplar: str, exemplar_size: Optional[int] = None,
                    size: Optional[int] = None) -> Dict[str, float]:
    """Texture loss, diversity (pixel, structure, feature, layout, layout_nn) and stride power of fixed samples."""
    image = load_exemplar(exemplar, "texture", LossConfig().texture_layers, size=exemplar_size)
    samples = generator.float().eval().generate(TEXTURE_SAMPLES, size=size, seed=TEXTURE_SEED)
    return score_samples(samples, image)


def crops_quality(exemplar: str, size: int, exemplar_size: Optional[int] = None) -> Dict[str, float]:
    """The real texture under the same judge: TEXTURE_SAMPLES random crops of the exemplar at the samples' size.
    A crop's statistics wander as a layout-rich sample's do (bark's 128-px crops: 28x the loss of a λ = 0
    network, which tunes one picture to the whole exemplar), so it is the scale a sample's loss reads against."""
    image = load_exemplar(exemplar, "texture", LossConfig().texture_layers, size=exemplar_size)
    return score_samples(random_crops(image, TEXTURE_SAMPLES, size, seed=1), image)


def score_samples(samples, image) -> Dict[str, float]:
    """Texture loss (fp32 Gram, relative) and diversity numbers of a set of samples against an exemplar tensor."""
    loss = build_loss(LossConfig(precision="fp32"), image, with_content=False, extra_layers=list(LAYOUT_LAYERS))
    with torch.no_grad():
        div = diversity(samples, loss.net)
        return {"texture_loss": quality(samples, loss)["texture"], "layout": layout_diversity(samples, image, loss.net),
                "layout_nn": layout_nn(samples, image, loss.net), "stride_power_ratio":
                exemplar_stride_power_ratio(samples, image), "pixels": div["pixels_pairwise"],
                "structure": div["structure_pairwise"], "features": div["features_pairwise"]}
