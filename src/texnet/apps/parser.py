"""The `texnet` argument parser: every command's name, help and the configs its flags are generated from.

Apart from cli.py so that apps which run other commands (the zoo trains recipes given as command lines) can
parse them without importing the command-line entry point that lists those apps.
"""
from __future__ import annotations

import argparse

from texnet._version import __version__
from texnet.config import InferenceConfig, OptimizeConfig, TrainConfig
from texnet.apps import commands as cmd
from texnet.apps.demo import DemoConfig
from texnet.apps.evaluate import EvaluateConfig
from texnet.apps.flags import RunFlags, add_config
from texnet.apps.models import ModelsConfig, models as models_command
from texnet.apps.reproduce import ReproduceConfig
from texnet.apps.serve import ServeConfig, serve as serve_command

EXIT_USAGE = 2


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
    "info": ("show versions, devices and the VGG-19 weights in use", None, (cmd.InfoConfig,), cmd.info),
    "serve": ("a local web app: stylize, sample, optimize and train in the browser (needs texnet[serve])",
              "Serve the texnet web app and its JSON API on --host:--port (default http://127.0.0.1:8000/); jobs "
              "run one at a time into --runs. See docs/webapp.md.",
              (ServeConfig,), serve_command),
}


#: 2-3 examples per command, shown at the end of `texnet COMMAND --help`.
EXAMPLES = {
    "optimize": ["texnet optimize --texture sample:gravel --size 256 --out runs/gravel",
                 "texnet optimize --texture sample:gravel --tileable --out runs/gravel-tile",
                 "texnet optimize --content photo.jpg --style painting.jpg --size 512 --out runs/photo-opt"],
    "demo": ["texnet demo --out outputs", "texnet demo --size 128 --steps 50 --out outputs/quick"],
    "train-texture": ["texnet train-texture --texture sample:brick --generator v1 --out runs/brick-v1",
                      "texnet train-texture --texture bark.png --generator v2 --diversity 0.03 --out runs/bark",
                      "texnet train-texture --texture bark.png --diversity auto --v2-experts 1 --out runs/bark-auto"],
    "train-style": ["texnet train-style --style painting.jpg --steps 200 --out runs/mine   # a try-out, minutes",
                    "texnet train-style --style painting.jpg --content-dir photos/ --out runs/mine",
                    "texnet train-style --style a.jpg b.jpg c.jpg --content-dir photos/ --out runs/three"],
    "add-style": ["texnet add-style --model runs/three --style d.jpg --content-dir photos/ --out runs/four",
                  "texnet add-style --model starry_night --style painting.jpg --out runs/two"],
    "sample": ["texnet sample --model bark -n 8 --out runs/bark",
               "texnet sample --model brick --size 2048 -n 2 --tile-preview --out runs/brick",
               "texnet sample --model runs/mine -n 16 --out runs/mine-samples"],
    "stylize": ["texnet stylize --model starry_night photo.jpg --out runs/starry",
                "texnet stylize --model great_wave photo.jpg --size 1024 --style-scale 2 --out runs/wave",
                "texnet stylize --model runs/mine *.jpg --preserve-color --strength 0.7 --out runs/mine-photos"],
    "stylize-video": ["texnet stylize-video --model starry_night in.mp4 --out out.mp4",
                      "texnet stylize-video --model scream in.mp4 --size 512 --stabilize 0.8 --out out.mp4"],
    "export": ["texnet export --model starry_night --out starry.onnx",
               "texnet export --model starry_night --int8 --out starry-int8.onnx"],
    "evaluate": ["texnet evaluate --model runs/mine --out runs/mine-eval",
                 "texnet evaluate --model bark --texture bark.png -n 8 --out runs/bark-eval",
                 "texnet evaluate --model starry_night --content photo.jpg --out runs/starry-eval"],
    "reproduce": ["texnet reproduce --profile smoke --out outputs/smoke   # minutes: checks the pipeline",
                  "texnet reproduce --profile cpu --out outputs/reproduce",
                  "texnet reproduce --profile cpu --style s.jpg --texture t.png --out outputs/mine"],
    "models": ["texnet models", "texnet models --json", "texnet models --out runs/gallery"],
    "info": ["texnet info"],
    "serve": ["texnet serve", "texnet serve --port 8080"],
    "zoo": ["texnet zoo build starry_night --data-dir ../shared/data", "texnet zoo measure --data-dir ../shared/data"],
}
#: Usage lines: the required arguments, then [options] (argparse's own would list every flag).
USAGE = {
    "optimize": "texnet optimize (--texture IMG | --content IMG --style IMG) --out DIR [options]",
    "train-texture": "texnet train-texture --texture IMG --out DIR [options]",
    "train-style": "texnet train-style --style IMG [IMG ...] --out DIR [options]",
    "add-style": "texnet add-style --model MODEL --style IMG --out DIR [options]",
    "sample": "texnet sample --model MODEL --out DIR [options]",
    "stylize": "texnet stylize --model MODEL IMG [IMG ...] --out DIR [options]",
    "stylize-video": "texnet stylize-video --model MODEL VIDEO --out FILE [options]",
    "export": "texnet export --model MODEL --out FILE.onnx [options]",
    "evaluate": "texnet evaluate --model MODEL --out DIR [options]",
    "reproduce": "texnet reproduce --out DIR [options]",
}


def epilog(name: str, full: bool) -> str:
    lines = ["examples:"] + [f"  {e}" for e in EXAMPLES.get(name, [])]
    if not full and name in HAS_MORE:
        lines += ["", f"more options (loss network, speed, advanced): texnet {name} --help-all"]
    return "\n".join(lines) if len(lines) > 1 else ""


#: Commands whose --help leaves options to --help-all (filled by build_parser).
HAS_MORE: set = set()


class _HelpAll(argparse.Action):
    """--help-all: the command's help with every option."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None, **kw):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        name = parser.prog.split()[-1]
        full = build_parser(_LAST_COMMANDS.get("commands"), full=True)
        sub = next(a for a in full._actions if a.dest == "command").choices[name]
        sub.print_help()
        parser.exit()


_LAST_COMMANDS: dict = {}


def build_parser(commands=None, full: bool = False) -> argparse.ArgumentParser:
    """The `texnet` parser of `commands` (name -> (help, description, configs, handler)); all but zoo by default.
    `full`: --help lists every option (else the loss-network, speed and advanced ones wait for --help-all)."""
    _LAST_COMMANDS["commands"] = commands
    parser = _Parser(prog="texnet", description="Improved Texture Networks: stylize photos and synthesize textures "
                     "in one forward pass (Ulyanov et al., CVPR 2017). `texnet COMMAND --help` for a command.",
                     epilog="start with: texnet models; texnet stylize --model starry_night sample:chelsea --out "
                     "runs/cat; texnet sample --model brick --size 1024 --out runs/brick")
    parser.add_argument("--version", action="version", version=f"texnet {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name, (help_text, description, configs, handler) in (COMMANDS if commands is None else commands).items():
        p = sub.add_parser(name, help=help_text, description=description, usage=USAGE.get(name),
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        p.add_argument("--help-all", action=_HelpAll, help="show every option, also the loss network, speed and "
                       "advanced ones")
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
            add_config(p, cls, name, groups=groups, full=full)
        if any(a.help == argparse.SUPPRESS for a in p._actions):
            HAS_MORE.add(name)
        p.epilog = epilog(name, full)
        p.set_defaults(func=handler)
    return parser
