"""What each `texnet` command does: build its typed config from parsed arguments and call the library.

cli.py owns the argument definitions and the error handling; nothing here parses.
"""
from __future__ import annotations

from . import __version__
from .errors import ConfigError


def loss_config(args):
    from .config import LossConfig
    from .losses import DEFAULT_CONTENT_LAYERS, DEFAULT_TEXTURE_LAYERS, parse_layer_weights

    return LossConfig(
        texture_layers=parse_layer_weights(args.texture_layers, DEFAULT_TEXTURE_LAYERS),
        content_layers=parse_layer_weights(getattr(args, "content_layers", None), DEFAULT_CONTENT_LAYERS),
        texture_weight=args.texture_weight,
        content_weight=getattr(args, "content_weight", 1.0),
        tv_weight=args.tv_weight,
        loss_scale=args.loss_scale,
        pooling=args.pooling,
        vgg_weights=args.vgg_weights,
        vgg_format=args.vgg_format,
        normalize_gradients=args.normalize_gradients,
        precision=args.precision,
        channels_last=args.channels_last,
        compile=getattr(args, "compile", False),
    )

def optimize(args) -> int:
    from .config import OptimizeConfig
    from .files import RunFolder
    from .images import resolve_path
    from .optimize import run_optimization

    if args.texture and (args.content or args.style):
        raise ConfigError("give either --texture IMG (synthesis) or --content IMG --style IMG (stylization), not both")
    mode = "texture" if args.texture else "style"
    cfg = OptimizeConfig(
        mode=mode,
        texture=args.texture,
        content=args.content,
        style=args.style,
        size=list(args.size) if isinstance(args.size, tuple) else args.size,
        texture_size=args.texture_size,
        steps=args.steps,
        optimizer=args.optimizer,
        lr=args.lr,
        init=args.init,
        batch_size=args.batch_size,
        seed=args.seed,
        device=args.device,
        max_pixels=args.max_pixels,
        loss=loss_config(args),
    ).validate()
    for path in (cfg.texture, cfg.content, cfg.style):
        if path:
            resolve_path(path)  # missing files fail before the output folder is touched
    if cfg.init not in (None, "noise", "content"):
        resolve_path(cfg.init)
    run = RunFolder(args.out, overwrite=args.overwrite)
    res = run_optimization(cfg, run, show_progress=not args.quiet)
    print(
        f"loss {res.initial_loss:.4g} -> {res.final_loss:.4g} ({res.initial_loss / max(res.final_loss, 1e-12):.0f}x lower) "
        f"in {res.seconds:.1f} s; wrote {run.path}"
    )
    return 0

def demo(args) -> int:
    from .demo import run_demo

    size = args.size if isinstance(args.size, int) else max(args.size)
    if size < 16:
        raise ConfigError(f"--size must be >= 16 for the demo (the loss network taps relu5_1), got {size}")
    run_demo(args.out, size=size, steps=args.steps, device=args.device, overwrite=args.overwrite, show_progress=not args.quiet)
    return 0

def info(args) -> int:
    from .loss_network import LAYER_NAMES, LossNetwork, default_weights_path
    import torch

    net = LossNetwork(["relu5_4"], weights=args.vgg_weights, weights_format=args.vgg_format)
    print(f"texnet {__version__}, torch {torch.__version__}")
    print(f"VGG-19 weights: {net.weights_path} (format {net.weights_format}; default {default_weights_path()})")
    print("cuda:", torch.cuda.is_available(), "| threads:", torch.get_num_threads())
    print("taps:", " ".join(n for n in LAYER_NAMES if not n.startswith("pool")))
    return 0

def train_config(args, task: str):
    from .config import TrainConfig

    if not isinstance(args.size, int):
        raise ConfigError("training crops are square: give --size N, not WxH")
    return TrainConfig(
        task=task, texture=args.texture, content_dir=getattr(args, "content_dir", None),
        generator=getattr(args, "generator", None) or ("stylenet" if task == "style" else None), norm=args.norm,
        v1_scales=getattr(args, "scales", 6), padding=getattr(args, "padding", "circular"),
        z_dim=getattr(args, "z_dim", 256), v2_upsample=getattr(args, "v2_upsample", "transposed"),
        stylenet_channels=getattr(args, "channels", 32), noise_channels=getattr(args, "noise_channels", 0),
        stylenet_upsample=getattr(args, "stylenet_upsample", "nearest"),
        size=args.size, texture_size=args.texture_size, batch_size=args.batch_size, steps=args.steps, lr=args.lr,
        lr_decay=args.lr_decay, lr_step=args.lr_step, diversity=args.diversity, diversity_space=args.diversity_space,
        diversity_layer=args.diversity_layer, diversity_eps=args.diversity_eps,
        checkpoint_every=args.checkpoint_every, sample_every=args.sample_every, seed=args.seed, device=args.device,
        max_pixels=args.max_pixels, loss=loss_config(args),
    ).resolved().validate()

def train(args) -> int:
    from .images import resolve_path
    from .train import train

    task = "style" if args.command == "train-style" else "texture"
    cfg = train_config(args, task)
    resolve_path(cfg.texture)
    res = train(cfg, args.out, overwrite=args.overwrite, resume=args.resume, show_progress=not args.quiet)
    last = res.history[-1] if res.history else {}
    msg = f"trained {res.generator.arch} to step {last.get('step', 0):.0f}: loss {last.get('loss', float('nan')):.4g}"
    if "nn_distance" in last:
        msg += f", batch nearest-neighbour distance {last['nn_distance']:.4g}"
    print(f"{msg}; wrote {res.run_dir}/model.pt")
    return 0

def sample(args) -> int:
    from .inference import run_sample
    from .runtime import resolve_device

    size = tuple(args.size) if isinstance(args.size, tuple) else args.size
    info = run_sample(args.model, args.out, n=args.n, size=size, seed=args.seed, device=resolve_device(args.device),
                      overwrite=args.overwrite, grid=not args.no_grid, files=not args.grid_only,
                      batch_size=args.batch_size, **inference_args(args))
    print(f"{info['n']} samples of {info['size'][1]}x{info['size'][0]} in {info['seconds']:.2f} s; wrote {args.out}")
    return 0

def stylize(args) -> int:
    from .inference import run_stylize
    from .runtime import resolve_device

    size = tuple(args.size) if isinstance(args.size, tuple) else args.size
    info = run_stylize(args.model, args.images, args.out, size=size, seed=args.seed,
                       device=resolve_device(args.device), overwrite=args.overwrite, max_pixels=args.max_pixels,
                       **inference_args(args))
    times = info["seconds_per_image"]
    print(f"stylized {len(times)} image(s), {sum(times) / len(times):.3f} s per image (forward pass); wrote {args.out}")
    return 0

def inference_args(args) -> dict:
    return dict(precision=args.precision, channels_last=args.channels_last, compile=args.compile)

def evaluate(args) -> int:
    from .evaluate import evaluate_model
    from .runtime import resolve_device

    size = tuple(args.size) if isinstance(args.size, tuple) else args.size
    res = evaluate_model(args.model, args.out, n=args.n, size=size, style=args.style, content=args.content or (),
                         seed=args.seed, device=resolve_device(args.device), overwrite=args.overwrite,
                         max_pixels=args.max_pixels)
    q = res["quality"]
    line = f"{res['architecture']}: texture/style loss {q['texture']:.4g}"
    if "content" in q:
        line += f", content loss {q['content']:.4g}"
    if "diversity" in res:
        d = res["diversity"]
        line += f", diversity pixels {d['pixels_pairwise']:.4g} / features {d['features_pairwise']:.4g} (pairwise)"
    print(f"{line}; wrote {args.out}/results.json")
    return 0

def reproduce(args) -> int:
    from .profiles import get_profile
    from .reproduce import reproduce

    profile = get_profile(args.profile, precision=args.precision)
    res = reproduce(profile, args.out, style=args.style, texture=args.texture, content_dir=args.content_dir,
                    device=args.device, overwrite=args.overwrite, reuse=args.reuse, show_progress=not args.quiet)
    from .reproduce_report import claims

    for claim, ok, evidence in claims(res):
        print(f"[{'supported' if ok else 'NOT supported'}] {claim}: {evidence}")
    print(f"wrote {args.out}/index.html and results.json")
    return 0
