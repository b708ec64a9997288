"""Generation by optimization (Gatys et al.; paper §2): minimize the loss over the pixels.

The slow gold standard every generator is compared with, and the fine-tuning
step of paper Fig. 3b (start from a generator's output instead of noise).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterable, List, Mapping, Optional

import torch

from .config import OptimizeConfig, to_dict
from .errors import ConfigError, TexnetError
from .files import RunFolder
from .images import load_image, resize, save_image, target_hw
from .losses import DEFAULT_CONTENT_LAYERS, DEFAULT_TEXTURE_LAYERS, PerceptualLoss, build_loss, parse_layer_weights
from .runtime import progress, resolve_device, seed_everything

#: L-BFGS step length (pastiche and Gatys' reference use 1.0; one loss evaluation per step).
LBFGS_LR = 1.0
#: Adam on [0, 1] pixels: chosen here, converges in a few hundred steps.
ADAM_LR = 0.02
#: In texture mode a native exemplar larger than this (long side) is downscaled.
MAX_NATIVE_TEXTURE = 768


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
) -> OptimizeResult:
    """Minimize `loss_fn` over the pixels of `init` (N, 3, H, W); each image is optimized independently.

    L-BFGS makes one loss evaluation per step (so step counts compare across
    methods and with pastiche). The loss always sees pixels clamped to [0, 1]
    (straight-through), so what is saved is what was optimized. The history's
    `loss` is the batch mean of the per-image total loss; `final_loss` is
    measured on the returned images.
    """
    if steps < 1:
        raise ConfigError(f"steps must be >= 1, got {steps}")
    x = init.detach().clone(memory_format=torch.contiguous_format).requires_grad_(True)  # L-BFGS views grads flat
    if optimizer == "lbfgs":
        opt = torch.optim.LBFGS([x], lr=lr or LBFGS_LR, max_iter=1, history_size=100)
    elif optimizer == "adam":
        opt = torch.optim.Adam([x], lr=lr or ADAM_LR)
    else:
        raise ConfigError(f"optimizer must be 'lbfgs' or 'adam', not '{optimizer}'")
    history: List[Dict[str, float]] = []
    start = time.perf_counter()
    last: Dict[str, float] = {}

    def closure():
        opt.zero_grad(set_to_none=True)
        out = loss_fn(_ClampStraightThrough.apply(x), content_targets)
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
        final = float(loss_fn(result, content_targets)["total"].mean())
    return OptimizeResult(result, history, history[0]["loss"], final, time.perf_counter() - start)


def initial_image(kind: Optional[str], shape, content: Optional[torch.Tensor], generator: torch.Generator,
                  max_pixels: Optional[int] = None) -> torch.Tensor:
    """The starting pixels: uniform noise, the content image, or an image file resized to the output."""
    n, _, h, w = shape
    if kind in (None, "noise"):
        return torch.rand(shape, generator=generator)
    if kind == "content":
        if content is None:
            raise ConfigError("--init content needs a content image (stylization)")
        return content.expand(n, -1, -1, -1).clone()
    return load_image(kind, size=(h, w), max_pixels=max_pixels).expand(n, -1, -1, -1).clone()


def output_hw(size, aspect_from: Optional[torch.Tensor] = None):
    """Resolve the output (height, width): an int is square for textures, the long side for a content image."""
    if isinstance(size, (list, tuple)):
        return int(size[0]), int(size[1])
    if aspect_from is None:
        return int(size), int(size)
    return target_hw(aspect_from.shape[-2], aspect_from.shape[-1], int(size))


def min_input_side(layers: Iterable[str]) -> int:
    """Smallest image side VGG-19 accepts when tapped at `layers`: 2 ** (poolings up to the deepest tap)."""
    from .loss_network import LAYER_NAMES, layer_index

    deepest = max((layer_index(n) for n in layers), default=0)
    return 2 ** sum(1 for n in LAYER_NAMES[: deepest + 1] if n.startswith("pool"))


def fit_exemplar(img: torch.Tensor, layers: Iterable[str], what: str = "the exemplar",
                 log: Optional[Callable[[str], None]] = None) -> torch.Tensor:
    """Upscale an exemplar/style image whose short side is below what the loss network needs (aspect kept),
    saying so through `log`; anything large enough is returned unchanged."""
    need = min_input_side(layers)
    h, w = img.shape[-2:]
    if min(h, w) >= need:
        return img
    scale = need / min(h, w)
    out = resize(img, (max(need, round(h * scale)), max(need, round(w * scale))))
    if log is not None:
        log(f"note: {what} is {w}x{h} px, smaller than the {need} px the loss network needs; "
            f"upscaled to {out.shape[-1]}x{out.shape[-2]}")
    return out


def check_output_size(h: int, w: int, layers: Iterable[str]) -> None:
    """A clear error (before any work) when an output is too small for the loss network's taps."""
    layers = list(layers)
    need = min_input_side(layers)
    if min(h, w) < need:
        raise ConfigError(
            f"the output would be {w}x{h} px, but the loss network (taps {', '.join(layers)}) needs at least "
            f"{need} px on each side; use a larger --size"
        )


def run_optimization(cfg: OptimizeConfig, run: Optional[RunFolder] = None, show_progress: bool = True,
                     log: Optional[Callable[[str], None]] = print) -> OptimizeResult:
    """Texture synthesis or stylization by optimization, as configured; writes the run folder if given."""
    cfg.validate()
    device = resolve_device(cfg.device)
    gen = seed_everything(cfg.seed)
    tex_layers = list(parse_layer_weights(cfg.loss.texture_layers, DEFAULT_TEXTURE_LAYERS))
    content = None
    if cfg.mode == "style":
        con_layers = list(parse_layer_weights(cfg.loss.content_layers, DEFAULT_CONTENT_LAYERS))
        content = load_image(cfg.content, size=cfg.size if not isinstance(cfg.size, list) else tuple(cfg.size), max_pixels=cfg.max_pixels)
        h, w = content.shape[-2:]
        check_output_size(h, w, tex_layers + con_layers)
        style_size = cfg.texture_size or max(h, w)
        style = load_image(cfg.style, size=style_size, max_pixels=cfg.max_pixels)
        style = fit_exemplar(style, tex_layers, f"the style image {cfg.style}", log)
    else:
        h, w = output_hw(cfg.size)
        check_output_size(h, w, tex_layers)
        style = load_image(cfg.texture, max_pixels=cfg.max_pixels)
        native = max(style.shape[-2:])
        style = resize(style, cfg.texture_size or min(native, MAX_NATIVE_TEXTURE))
        style = fit_exemplar(style, tex_layers, f"the texture {cfg.texture}", log)
    loss_fn = build_loss(cfg.loss, style, with_content=cfg.mode == "style", device=device)
    targets = loss_fn.content_targets(content.to(device)) if content is not None else None
    init_kind = cfg.init or ("content" if cfg.mode == "style" else "noise")
    init = initial_image(init_kind, (cfg.batch_size, 3, h, w), content, gen, cfg.max_pixels).to(device)
    if targets is not None and cfg.batch_size > 1:
        targets = {k: v.expand(cfg.batch_size, *v.shape[1:]) for k, v in targets.items()}
    result = optimize_pixels(loss_fn, init, cfg.steps, cfg.optimizer, cfg.lr, targets, show_progress)
    if run is not None:
        save_run(run, cfg, result, style, content, device)
    return result


def save_run(run: RunFolder, cfg: OptimizeConfig, result: OptimizeResult, style, content, device) -> None:
    """Images, losses.csv and config.json (with the measured start/final losses) into the run folder."""
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
