"""What each `texnet` command does: build its typed config from the parsed flags and call the library.

cli.py lists the commands and generates their flags; nothing here parses or
repeats a default.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from texnet._version import __version__
from texnet.config import InferenceConfig, OptimizeConfig, TrainConfig
from texnet.errors import ConfigError
from texnet.paper.loss_network import WEIGHT_FORMATS
from texnet.config.options import option
from texnet.apps import costs
from texnet.apps.flags import RunFlags, build_config


@dataclass
class InfoConfig:
    """`texnet info`: which VGG-19 file to describe."""

    vgg_weights: Optional[str] = option(None, "VGG-19 weights file", default_text="bundled")
    vgg_format: str = option("auto", "weight format / preprocessing", choices=WEIGHT_FORMATS)


def optimize_config(args) -> OptimizeConfig:
    given = vars(args)
    if given.get("texture") and (given.get("content") or given.get("style")):
        raise ConfigError("give either --texture IMG (synthesis) or --content IMG --style IMG (stylization), not both")
    mode = "texture" if given.get("texture") else "style"
    return build_config(OptimizeConfig, args, mode=mode).validate()


def optimize(args) -> int:
    from texnet.io.files import RunFolder
    from texnet.io.images import resolve_path
    from texnet.optimize import run_optimization

    cfg = optimize_config(args)
    run_flags = build_config(RunFlags, args)
    for path in (cfg.texture, cfg.content, cfg.style):
        if path:
            resolve_path(path)  # missing files fail before the output folder is touched
    if cfg.init not in (None, "noise", "content"):
        resolve_path(cfg.init)
    run = RunFolder(run_flags.out, overwrite=run_flags.overwrite)
    res = run_optimization(cfg, run, show_progress=not run_flags.quiet)
    print(
        f"loss {res.initial_loss:.4g} -> {res.final_loss:.4g} ({res.initial_loss / max(res.final_loss, 1e-12):.0f}x lower) "
        f"in {res.seconds:.1f} s; wrote {run.path}"
    )
    return 0


def demo(args) -> int:
    from texnet.apps.demo import DemoConfig, run_demo

    cfg = build_config(DemoConfig, args).validate()
    run_demo(cfg.out, size=cfg.size, steps=cfg.steps, device=cfg.device, overwrite=cfg.overwrite,
             show_progress=not cfg.quiet)
    return 0


def info(args) -> int:
    import torch

    from texnet.paper.loss_network import LAYER_NAMES, LossNetwork, default_weights_path

    cfg = build_config(InfoConfig, args)
    net = LossNetwork(["relu5_4"], weights=cfg.vgg_weights, weights_format=cfg.vgg_format)
    print(f"texnet {__version__}, torch {torch.__version__}")
    print(f"VGG-19 weights: {net.weights_path} (format {net.weights_format}; default {default_weights_path()})")
    print("cuda:", torch.cuda.is_available(), "| threads:", torch.get_num_threads())
    print("taps:", " ".join(n for n in LAYER_NAMES if not n.startswith("pool")))
    return 0


def train_config(args) -> TrainConfig:
    """The resolved, validated TrainConfig of a `train-texture` / `train-style` command line."""
    task = "texture" if args.command == "train-texture" else "style"
    fixed = {"task": task, **({"generator": "stylenet"} if task == "style" else {})}
    return build_config(TrainConfig, args, **fixed).resolved().validate()


def train(args) -> int:
    from texnet.distributed import is_main_process
    from texnet.io.images import resolve_path
    from texnet.train import train

    cfg = train_config(args)
    run_flags = build_config(RunFlags, args)
    costs.warn_train(cfg)
    for source in cfg.exemplars:
        resolve_path(source)
    res = train(cfg, run_flags.out, overwrite=run_flags.overwrite, resume=run_flags.resume,
                show_progress=not run_flags.quiet)
    if not is_main_process():  # under torchrun rank 0 speaks for the job
        return 0
    last = res.history[-1] if res.history else {}
    msg = f"trained {res.generator.arch} to step {last.get('step', 0):.0f}: loss {last.get('loss', float('nan')):.4g}"
    if "nn_distance" in last:
        msg += f", batch nearest-neighbour distance {last['nn_distance']:.4g}"
    print(f"{msg}; wrote {res.run_dir}/model.pt")
    return 0


def inference_config(args) -> InferenceConfig:
    return build_config(InferenceConfig, args).validate(args.command)


def _fast(cfg: InferenceConfig) -> dict:
    return dict(precision=cfg.precision, channels_last=cfg.channels_last or None, compile=cfg.compile)  # None: auto


def sample(args) -> int:
    from texnet.apps.runs import run_sample
    from texnet.runtime import resolve_device

    cfg = inference_config(args)
    run_flags = build_config(RunFlags, args)
    costs.warn_sample(cfg)
    info = run_sample(cfg.model, run_flags.out, n=cfg.n, size=cfg.size, seed=cfg.seed,
                      device=resolve_device(cfg.device), overwrite=run_flags.overwrite, grid=not cfg.no_grid,
                      files=not cfg.grid_only, batch_size=cfg.batch_size, tile_preview=cfg.tile_preview, **_fast(cfg),
                      **_large(cfg, run_flags))
    seams = f" (seam score {max(info['seam_scores']):.2f}, 1.0 = seamless)" if "seam_scores" in info else ""
    print(f"{info['n']} samples of {info['size'][1]}x{info['size'][0]} in {info['seconds']:.2f} s{seams}; "
          f"wrote {run_flags.out}")
    return 0


def _large(cfg: InferenceConfig, run_flags) -> dict:
    """Tiling and runtime options of sample / stylize."""
    return dict(tile=cfg.tile, max_memory=cfg.max_memory, tile_mode=cfg.tile_mode, onnx=cfg.onnx,
                show_progress=not run_flags.quiet)


def style_options(cfg: InferenceConfig) -> dict:
    """The style selector, strength and colour options of stylize / stylize-video (selector resolved later)."""
    return dict(style_index=cfg.style_index, style_mix=cfg.style_mix, strength=cfg.strength,
                strength_mode=cfg.strength_mode, preserve_color=cfg.preserve_color)


def stylize(args) -> int:
    from texnet.apps.runs import run_stylize
    from texnet.runtime import resolve_device

    cfg = inference_config(args)
    run_flags = build_config(RunFlags, args)
    costs.warn_stylize(cfg, args.images)
    info = run_stylize(cfg.model, args.images, run_flags.out, size=cfg.size, seed=cfg.seed,
                       device=resolve_device(cfg.device), overwrite=run_flags.overwrite, max_pixels=cfg.max_pixels,
                       style_scale=cfg.style_scale, **_fast(cfg), **style_options(cfg), **_large(cfg, run_flags))
    for note in info["notes"]:
        print(note)
    times = info["seconds_per_image"]
    print(f"stylized {len(times)} image(s), {sum(times) / len(times):.3f} s per image (forward pass); wrote {run_flags.out}")
    return 0


def stylize_video(args) -> int:
    from texnet.checkpoints import load
    from texnet.render.inference import require_task, style_selector
    from texnet.runtime import resolve_device
    from texnet.render.video import require_av, stylize_video as run

    cfg = inference_config(args)
    run_flags = build_config(RunFlags, args)
    require_av()
    g = load(cfg.model, device=resolve_device(cfg.device))
    require_task(g, "style", cfg.model)
    size = cfg.size if cfg.size is None or isinstance(cfg.size, int) else max(cfg.size)
    res = run(g, args.video, run_flags.out, size=size, preserve_color=cfg.preserve_color,
              style_mix=style_selector(g, cfg.style_index, cfg.style_mix), strength=cfg.strength, seed=cfg.seed,
              stabilize=cfg.stabilize, progress=not run_flags.quiet, precision=cfg.precision,
              max_frames=cfg.max_frames, overwrite=run_flags.overwrite)
    print(f"stylized {res.frames} frames of {res.size[1]}x{res.size[0]} at {float(res.fps):.3g} fps in "
          f"{res.seconds:.1f} s (flicker {res.flicker:+.4f}); wrote {res.path}")
    return 0


@dataclass
class ExportConfig:
    """`texnet export`: a trained generator as an ONNX file (dynamic height/width, noise as an input)."""

    model: Optional[str] = option(None, "model.pt / checkpoint.pt (or its run folder)", required=True)
    fast_upsample: bool = option(False, "export the exact phase-convolution form of the x2 upsampling stages")
    #: Static int8 (onnxruntime QDQ); measured on starry_night at 512 px: 1.13x faster, mean 4.1/255 from fp32.
    int8: bool = option(False, "quantize the convolutions to int8 (calibrated; smaller and a little faster, "
                        "slightly different pixels: see README)")
    calibration: str = option("sample:photos", "with --int8 (StyleNet): photos whose activation ranges set the "
                              "int8 scales", default_text="the sample photos bundled with texnet")


def export(args) -> int:
    from texnet.checkpoints import load
    from texnet.render.onnx import export_onnx

    cfg = build_config(ExportConfig, args)
    run_flags = build_config(RunFlags, args)
    if Path(run_flags.out).exists() and not run_flags.overwrite:
        raise ConfigError(f"{run_flags.out}: exists; use --overwrite to replace it")
    g = load(cfg.model)
    if cfg.int8:
        from texnet.render.onnx import quantize_onnx

        out = Path(run_flags.out)
        fp32 = export_onnx(g, out.with_name(f".{out.stem}.fp32.onnx"), fast_upsample=cfg.fast_upsample)
        try:  # the fp32 graph is a temporary: only the int8 file is written, or nothing
            path = quantize_onnx(g, fp32, out, photos=cfg.calibration)
        finally:
            fp32.unlink(missing_ok=True)
    else:
        path = export_onnx(g, run_flags.out, fast_upsample=cfg.fast_upsample)
    use = "stylize --onnx" if g.task == "style" else "sample --onnx"
    print(f"exported {cfg.model} to {path} ({path.stat().st_size / 2**20:.1f} MiB); run it with texnet {use} {path}")
    return 0


def evaluate(args) -> int:
    from texnet.runtime import resolve_device
    from texnet.apps.evaluate import EvaluateConfig, evaluate_model

    cfg = build_config(EvaluateConfig, args).validate()
    run_flags = build_config(RunFlags, args)
    res = evaluate_model(cfg.model, run_flags.out, n=cfg.n, size=cfg.size, style=cfg.style, content=cfg.content or (),
                         seed=cfg.seed, device=resolve_device(cfg.device), overwrite=run_flags.overwrite,
                         max_pixels=cfg.max_pixels)
    q = res.get("quality", {})
    line = f"{res['architecture']}: " + (f"texture/style loss {q['texture']:.4g}" if q else "no exemplar here")
    if "content" in q:
        line += f", content loss {q['content']:.4g}"
    if "diversity" in res:
        d = res["diversity"]
        line += f", diversity pixels {d['pixels_pairwise']:.4g} / features {d['features_pairwise']:.4g} (pairwise)"
        if "layout" in d:
            line += f", layout {d['layout']:.2f} of the exemplar's"
        if "layout_nn" in d:
            line += f" (nearest neighbour {d['layout_nn']:.2f} of the crops')"
    if "stride_power_ratio" in res:
        ref = "photos'" if "per_image" in res else "exemplar's"
        line += f", stride-line power {res['stride_power_ratio']:.2g}× the {ref}"
    if "note" in res:
        card = res.get("card_quality") or {}
        line += (f"; its card (measured with the exemplar): texture loss {card['texture_loss']:.4g}, layout "
                 f"{card['layout']:.2f}" if "texture_loss" in card else "") + f". {res['note']}"
    print(f"{line}; wrote {run_flags.out}/results.json")
    return 0


def reproduce(args) -> int:
    from texnet.apps.profiles import get_profile
    from texnet.apps.reproduce import ReproduceConfig, reproduce
    from texnet.apps.reproduce_report import claims

    cfg = build_config(ReproduceConfig, args).validate()
    run_flags = build_config(RunFlags, args)
    profile = get_profile(cfg.profile, precision=cfg.precision)
    costs.warn_reproduce(profile)
    res = reproduce(profile, run_flags.out, style=cfg.style, texture=cfg.texture, content_dir=cfg.content_dir,
                    device=cfg.device, overwrite=run_flags.overwrite, reuse=cfg.reuse,
                    show_progress=not run_flags.quiet)
    for claim, ok, evidence in claims(res):
        print(f"[{ok}] {claim}: {evidence}")
    print(f"wrote {run_flags.out}/index.html and results.json")
    return 0
