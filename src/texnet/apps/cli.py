"""The `texnet` command: its subcommands, flags generated from the typed configs, errors for people.

Each subcommand lists the configs it is built from (COMMANDS); every flag
comes from an option field of those configs (texnet.apps.flags), so adding
an option is one field on a config plus its use.
"""
from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from .. import __version__
from ..config import InferenceConfig, OptimizeConfig, TrainConfig
from ..errors import TexnetError
from . import commands as cmd
from .demo import DemoConfig
from .evaluate import EvaluateConfig
from .flags import RunFlags, add_config
from .models import ModelsConfig, models as models_command
from .zoo import ZooConfig, zoo as zoo_command
from .reproduce import ReproduceConfig

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error in one line (plus a pointer to --help)."""

    def error(self, message):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


#: name -> (help, description, configs the flags come from, handler).
COMMANDS = {
    "optimize": ("texture synthesis or stylization by optimization (Gatys et al.)",
                 "Optimize pixels with L-BFGS (or Adam) to match a texture, or a content and a style.",
                 (OptimizeConfig, RunFlags), cmd.optimize),
    "demo": ("run the main jobs on bundled sample images and write an HTML page",
             "Texture synthesis and stylization on scikit-image samples; writes OUT/index.html.",
             (DemoConfig,), cmd.demo),
    "train-texture": ("train a texture generator (TextureNetV1/V2) with the Julesz objective",
                      "Train g(z) so its samples match the texture; --diversity λ > 0 adds the entropy term.",
                      (TrainConfig, RunFlags), cmd.train),
    "train-style": ("train a StyleNet stylization network (IN or BN)",
                    "Train g(x0, z) on crops of the photos in --content-dir to render them in --style.",
                    (TrainConfig, RunFlags), cmd.train),
    "add-style": ("add a style to a trained StyleNet: only the new style's norm scale/bias train",
                  "Fine-tune one new row of every instance-norm layer of --model on --style; the network's "
                  "existing styles stay bit-identical.",
                  (TrainConfig, RunFlags), cmd.train),
    "sample": ("sample textures from a trained texture generator",
               "Draw -n samples (fresh noise) from a TextureNetV1/V2 checkpoint.",
               (InferenceConfig, RunFlags), cmd.sample),
    "stylize": ("stylize photos with a trained StyleNet (one forward pass each)",
                "Stylize each IMG with a StyleNet checkpoint; writes NAME_stylized.png.",
                (InferenceConfig, RunFlags), cmd.stylize),
    "stylize-video": ("stylize a video frame by frame with a trained StyleNet (needs texnet[video])",
                      "Stylize VIDEO into --out (a video file: .mp4, .mov, .mkv, .webm, .avi), keeping fps, size "
                      "and audio, with the same noise for every frame.",
                      (InferenceConfig, RunFlags), cmd.stylize_video),
    "export": ("export a trained StyleNet / TextureNetV1 to ONNX (needs texnet[onnx])",
               "Write --model as an ONNX file --out (dynamic height and width, noise as an explicit input); "
               "texnet stylize/sample --onnx run it with onnxruntime.",
               (cmd.ExportConfig, RunFlags), cmd.export),
    "evaluate": ("quality, diversity and speed of a trained generator",
                 "Texture/style and content loss, pixel/structure/feature diversity, timing.",
                 (EvaluateConfig, RunFlags), cmd.evaluate),
    "reproduce": ("run the paper's experiments (Figs. 3-7, speed) and write a report",
                  "Train and compare StyleNet IN/BN, TextureNetV1/V2 with and without the entropy term, "
                  "optimization; writes OUT/index.html and OUT/results.json.",
                  (ReproduceConfig, RunFlags), cmd.reproduce),
    "models": ("list the bundled networks (--json; --out DIR writes an HTML gallery)",
               "Every trained network that ships with texnet: use it by name, e.g. texnet stylize --model "
               "starry_night photo.jpg or texnet sample --model bark.",
               (ModelsConfig,), models_command),
    "zoo": ("rebuild the bundled networks from their recipes (maintainers; make zoo)",
            "zoo build [NAME...]: train each recipe (reusing a finished run with the same config), train the "
            "λ = 0 companion of diverse texture networks, measure quality, write NAME.pt and its card NAME.json. "
            "zoo measure [NAME...]: re-measure finished runs without training.",
            (ZooConfig,), zoo_command),
    "info": ("show versions, devices and the VGG-19 weights in use", None, (cmd.InfoConfig,), cmd.info),
}


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="texnet", description="Improved Texture Networks: texture synthesis and stylization (CVPR 2017).")
    parser.add_argument("--version", action="version", version=f"texnet {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name, (help_text, description, configs, handler) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=description)
        if name == "stylize":
            p.add_argument("images", nargs="+", metavar="IMG", help="photos (files or sample:NAME)")
        if name == "zoo":
            p.add_argument("action", choices=("build", "measure"), help="build: train, measure, write; measure: "
                           "re-measure finished runs in --work")
            p.add_argument("names", nargs="*", metavar="NAME", help="recipes to run (default: all)")
        if name == "stylize-video":
            p.add_argument("video", metavar="VIDEO", help="input video file")
        groups: dict = {}
        for cls in configs:
            add_config(p, cls, name, groups=groups)
        p.set_defaults(func=handler)
    return parser


#: Out-of-memory messages of torch's allocators (CUDA, MPS, CPU) turned into one line.
_OOM_TEXT = ("out of memory", "can't allocate memory", "cannot allocate memory")


def _speaker() -> str:
    """'texnet' (one process, or rank 0 under torchrun) or 'texnet[rank R]', so a job's lines say who spoke."""
    from ..distributed import environment

    try:
        rank = environment()[1]
    except TexnetError:
        return "texnet"
    return "texnet" if rank == 0 else f"texnet[rank {rank}]"


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except TexnetError as exc:
        who = _speaker()
        signum = getattr(exc, "signum", None)  # train.TrainingInterrupted: a checkpoint was saved
        if signum:
            print(f"{who}: interrupted: {exc}", file=sys.stderr)
            return 128 + signum  # like the signal itself: 130 for Ctrl-C, 143 for SIGTERM
        print(f"{who}: error: {exc}", file=sys.stderr)
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
