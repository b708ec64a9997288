"""`texnet zoo build|measure [NAME...]` / `make zoo`: rebuild the bundled networks from their recipes.

RECIPES below is the one place where every bundled network's settings live,
each with a note of why. `build` trains a recipe (reusing a finished run in
--work whose config matches), trains the λ = 0 companion of a diverse
texture network, measures quality (zoo_quality.py), and writes the compact
weights and the card to --out (`--install`: into the package). `measure`
re-measures networks already built, without training.

Budget (2-core CPU, one thread per run, as measured for the shipped cards):
a StyleNet(16) is 800-1200 steps on 128-px crops, about 15-30 minutes; a texture
network 300 steps at 128 px, 5-10 minutes (+ its λ = 0 companion). Settings
chosen to fit 45 minutes per network: the slim 16-channel StyleNet (its
quality cost measured in benchmarks/RESULTS.md), 128-px crops with the style
image at 256 px (so strokes match a 512-px output, the declared size), and
the texture defaults' 600 steps cut to 300.
"""
from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from texnet.io import bundled
from texnet.errors import ConfigError, TexnetError
from texnet.config.options import option

PAINTINGS_PD = "the painting is in the public domain (its author died more than 70 years ago)"

#: Style networks: (name, title, exemplar under --data-dir, provenance, licence of the digital copy, ship thumbnail).
#: Digital copies under GPL are not redistributed inside the (differently licensed) wheel: no thumbnail for them.
STYLES: List[Tuple[str, str, str, str, str, bool]] = [
    ("starry_night", "Vincent van Gogh, The Starry Night (1889)", "styles/starry_night.jpg",
     "opencv-doc 4.6.0 (Debian), cropped to the painted area", "Apache-2.0 AND BSD-3-Clause (opencv)", True),
    ("great_wave", "Katsushika Hokusai, The Great Wave off Kanagawa (1823-1829)", "styles/great_wave_off_kanagawa.jpg",
     "gcompris-qt-data 3.1 (Debian), reassembled from 12 pieces", "GPL-3+ (WebMuseum copy): not shipped", False),
    ("scream", "Edvard Munch, The Scream (1893)", "styles/scream.jpg", "darknet (Debian) data/scream.jpg",
     "GPL-3.0+ or MIT or WTFPL (darknet): shipped under MIT", True),
    ("composition_viii", "Wassily Kandinsky, Composition VIII (1923)", "styles/composition_viii.jpg",
     "gcompris-qt-data 3.1 (Debian), reassembled from 8 pieces", "GPL-3+ (WebMuseum copy): not shipped", False),
    ("cafe_terrace", "Vincent van Gogh, Cafe Terrace at Night (1888)", "styles/cafe_terrace_at_night.jpg",
     "gcompris-qt-data 3.1 (Debian), details activity background", "public domain (upstream README)", True),
]
#: Every StyleNet is trained in two stages (issue 33; benchmarks/RESULTS_style_quality.md).
#: Stage 1: 16 channels, 128-px crops, style at 256 px, batch 4 (task default), seed 0 - the recipe of the
#: networks bundled until 2026-12-07.
STYLE_STAGE1 = ["--channels", "16", "--size", "128", "--style-size", "256", "--seed", "0"]
#: Steps: 1200 (about 20 min on one free core); 800 for three of them, which had to share the CPU of the session
#: that built them (their cards say so, and their measured quality shows the cost).
STYLE_STEPS = {"starry_night": 1200, "great_wave": 1200}
DEFAULT_STYLE_STEPS = 800
#: Stage 2: continue stage 1 (--init) on 256-px crops, batch 1 (the same pixels and CPU per step). At equal CPU
#: this was the lever that lowered all four held-out medians at once (starry_night, +300 steps: VGG style
#: 4.91 -> 4.26x, content 2.11 -> 2.06x); the same time on stage 1's recipe moved them 2 %. 2000 steps: about
#: 16 CPU-minutes, and the lr schedule's first decay (hparams: every 2000 steps) is not reached.
STYLE_STAGE2 = ["--channels", "16", "--size", "256", "--style-size", "256", "--batch-size", "1", "--seed", "0"]
STAGE2_DEFAULT_STEPS = 2000
#: Stage-2 steps where a network shipped longer (the same run continued with --resume; bench_style_quality.py on
#: its 6 held-out photos). great_wave at 4000: VGG style 2.80 -> 2.58x, content 2.00 -> 1.84x, EfficientNet
#: style 1.06 -> 1.05x, content 1.22 -> 1.17x; at 6000 VGG style and EfficientNet style rose again (2.65x,
#: 1.10x). starry_night at 4000 gained under VGG (3.45 -> 3.31x) but lost under EfficientNet (style 1.05 ->
#: 1.10x), so it stays at 2000.
STAGE2_STEPS = {"great_wave": 4000}
#: Declared use: strokes match the painting at 256 px when the output's long side is 512 px (2x the crop).
STYLE_DECLARED = {"output_size": 512, "style_size": 256}
#: content-train photos no StyleNet recipe trains on: held out for bench_style_quality.py (thin structure
#: against the sky, which the first networks lost).
HELD_OUT_PHOTOS = ("monuments_eiffelTower.jpg",)
#: How a card writes the maintainer's paths: the content folder (content-train minus HELD_OUT_PHOTOS) and a
#: two-stage recipe's first-stage network.
PORTABLE = {"--content-dir": "DATA/content-train", "--init": "STAGE1/model.pt"}

#: The multi-style base (issue 33): one conditional-instance-norm StyleNet holding 16 of the 18 paintings of
#: styles/, for `texnet add-style --model painting_base --style YOURS.jpg`, which trains only a new style's norm
#: rows. Held out to measure that on: church_at_auvers (near the base: one more Van Gogh) and the_librarian
#: (near none of it: Arcimboldo's portrait made of books). Stage 2's crops and batch; 8000 steps (500 per
#: painting) are about 70 CPU-minutes, what one core could give while the StyleNets retrained on the other.
BASE_NAME = "painting_base"
BASE_HELD_OUT = ("church_at_auvers.jpg", "the_librarian.jpg")
BASE_PAINTINGS = ("bridge_of_langlois", "cafe_terrace_at_night", "composition_viii", "ejiri_in_suruga_province",
                  "great_wave_off_kanagawa", "lion", "night_cafe", "oiran_and_kamuro", "pala_di_pesaro", "poppies",
                  "ramparts_at_aigues_mortes", "scream", "spring", "starry_night", "summertime",
                  "village_street_in_auvers")
BASE_ARGS = ["--channels", "16", "--size", "256", "--style-size", "256", "--batch-size", "1", "--seed", "0",
             "--steps", "8000"]

GIMP = "gimp-data 2.10.34 (Debian) pattern"
GIMP_LICENCE = "GPL-3+ (gimp-data patterns): not shipped"
#: TextureNetV2s whose every sample is its own texture (issue 34; docs/method.md §8): z read as a circular 4x4
#: map, nearest upsampling, 8 noise channels at every stage. With no unit knowing where it is the network cannot
#: settle on one picture, so no entropy term is needed. Width 384: 2.2 M weights, 2.2 MB shipped (512: 4.0 MB).
#: Kept where the samples look like the exemplar (bark, brick_gray). Tried and not shipped, same recipe: leather
#: (a grey-brown cast over blotches where the exemplar is deep red) and hr_pastel_paper_02 (short straight strokes
#: on a grid where the exemplar has curled fibres).
V2_VARIED = ["--generator", "v2", "--v2-z", "map", "--tileable", "--v2-spatial-noise", "8", "--v2-width", "384",
             "--v2-hidden", "384"]
#: burlap keeps the network bundled since 2026-12-02: the paper's V2 with the entropy term, one network, the
#: transposed layer (the default then, pinned here so the recipe rebuilds it). Both replacements tried on
#: 2026-12-08 looked worse: the map V2 broke the weave into a maze of thread pieces, and this recipe with nearest
#: upsampling wove the right half of every sample alike and painted changing smudges on the left (its numbers,
#: 0.55x the λ = 0 loss at nearest-neighbour layout 0.58, say otherwise: docs/method.md §8).
V2_AUTO = ["--generator", "v2", "--diversity", "auto", "--v2-experts", "1", "--upsample", "transposed"]
#: The λ = 0 network a V2's card compares its loss with: the paper's V2 (fully connected z), texnet's defaults
#: but for the recipe's own upsampling.
V2_REFERENCE = ["--generator", "v2"]
#: Texture networks: (name, title, exemplar, provenance, licence, generator flags).
TEXTURES: List[Tuple[str, str, str, str, str, List[str]]] = [
    ("bark", "tree bark (stochastic, brown)", "textures/bark.png", f"{GIMP} Wood/bark.pat", GIMP_LICENCE, V2_VARIED),
    ("rock", "rocks (stochastic, grey-brown, large elements), any size, tileable", "textures/rock.png",
     f"{GIMP} Stone/rock.pat", GIMP_LICENCE, ["--generator", "v1"]),
    ("burlap", "burlap weave (regular, fine)", "textures/burlap.png", f"{GIMP} Fabric/burlap.pat", GIMP_LICENCE,
     V2_AUTO),
    ("brick_gray", "grey brick wall (regular, long bricks)", "textures/brick_gray.png",
     "scikit-image 0.26.0 skimage/data/brick.png (CC0Textures)", "CC0 (image); not shipped", V2_VARIED),
    ("brick", "red bricks (regular), any size, tileable", "textures/brick.png", f"{GIMP} Stone/brick.pat",
     GIMP_LICENCE, ["--generator", "v1"]),
    ("stone", "stone wall (irregular, colour), any size, tileable", "textures/stone33.png",
     f"{GIMP} Stone/stone33.pat", GIMP_LICENCE, ["--generator", "v1"]),
]
#: Every texture network: 128 px, 300 steps, batch 8, seed 0 (V2: its output size; V1: any size, circular padding).
TEXTURE_ARGS = ["--size", "128", "--steps", "300", "--batch-size", "8", "--seed", "0"]


def recipes() -> Dict[str, Dict[str, Any]]:
    """name -> recipe: the command line (exemplar relative to --data-dir), the card's fixed fields."""
    out = {}
    for name, title, ex, prov, lic, thumb in STYLES:
        steps = str(STYLE_STEPS.get(name, DEFAULT_STYLE_STEPS))
        stage2 = ["--style", ex, *STYLE_STAGE2, "--steps", str(STAGE2_STEPS.get(name, STAGE2_DEFAULT_STEPS))]
        out[name] = dict(kind="style", command="train-style", exemplar=ex, args=stage2,
                         stage1=["--style", ex, *STYLE_STAGE1, "--steps", steps],
                         title=title, provenance=f"{title}; {prov}; {PAINTINGS_PD}", licence=lic, thumbnail=thumb,
                         declared=dict(STYLE_DECLARED))
    paintings = [f"styles/{p}.jpg" for p in BASE_PAINTINGS]
    title = f"{len(paintings)} paintings in one network (a base for texnet add-style)"
    out[BASE_NAME] = dict(kind="style", command="train-style", exemplar=paintings[0], exemplars=paintings,
                          args=["--style", *paintings, *BASE_ARGS], title=title, thumbnail=False,
                          provenance=f"{', '.join(BASE_PAINTINGS)}: the public-domain paintings of the shared "
                                     "styles/ folder (its SOURCES.md) but church_at_auvers and the_librarian",
                          licence="digital copies GPL-3+ (WebMuseum) or public domain: not shipped",
                          declared=dict(STYLE_DECLARED), styles=list(BASE_PAINTINGS), base=True)
    for name, title, ex, prov, lic, gen in TEXTURES:
        v1 = "v1" in gen
        declared = {"any_size": True, "tileable": True, "gallery_size": 256} if v1 else {"output_size": 128}
        out[name] = dict(kind="texture", command="train-texture", exemplar=ex, args=["--texture", ex, *gen, *TEXTURE_ARGS],
                         title=title, provenance=f"{title}; {prov}", licence=lic, thumbnail=False, declared=declared,
                         **({} if v1 else {"lambda0": ["--texture", ex, *V2_REFERENCE, *TEXTURE_ARGS,
                                                        *_upsampling(gen)]}))
    return out


@dataclass
class ZooConfig:
    """`texnet zoo`: which networks to rebuild, from which data, into which folder."""

    #: Positionals (cli.py adds them): build = train (or reuse a matching run), measure, write; measure = the
    #: runs already in --work, re-measured and rewritten without training.
    action: str = option("build", "", choices=("build", "measure"), commands=False)
    names: Optional[List[str]] = option(None, "", commands=False)
    data_dir: str = option("../shared/data", "folder holding the exemplars (styles/, textures/)")
    content_dir: Optional[str] = option(None, "content photos for the StyleNets", default_text="DATA_DIR/content-train")
    work: str = option("zoo-runs", "training run folders (finished runs with the same config are reused)")
    out: Optional[str] = option(None, "where NAME.pt / NAME.json go", default_text="WORK/bundle")
    install: bool = option(False, "write into the installed package's assets/models (maintainers)")


def _upsampling(flags: List[str]) -> List[str]:
    """A recipe's own `--upsample X`, which its λ = 0 reference keeps (none: both take the default)."""
    i = flags.index("--upsample") if "--upsample" in flags else None
    return flags[i:i + 2] if i is not None else []


def _argv(recipe: Dict[str, Any], data: Path, content: Path, out: Path, lambda0: bool = False,
          stage1: bool = False, init: Optional[Path] = None) -> List[str]:
    exemplars = recipe.get("exemplars", [recipe["exemplar"]])
    key = "lambda0" if lambda0 else "stage1" if stage1 else "args"
    args = [str(data / a) if a in exemplars else a for a in recipe[key]]
    if recipe["kind"] == "style":
        args += ["--content-dir", str(content)]
    if init is not None:
        args += ["--init", str(init)]
    return [recipe["command"], *args, "--out", str(out), "--quiet"]


def training_photos(content: Path, dest: Path) -> Path:
    """`dest`: a folder of links to the photos of `content` minus HELD_OUT_PHOTOS (what the recipes train on)."""
    from texnet.io.data import find_images

    dest.mkdir(parents=True, exist_ok=True)
    for f in find_images(content):
        if f.name not in HELD_OUT_PHOTOS and not (dest / f.name).exists():
            (dest / f.name).symlink_to(f.resolve())
    return dest


def _config_of(argv: List[str]):
    from texnet.apps.commands import train_config
    from texnet.apps.parser import build_parser

    return train_config(build_parser().parse_args(argv))


def _comparable(cfg) -> Dict[str, Any]:
    d = dataclasses.asdict(cfg)
    for k in ("exemplar", "content_dir", "device"):
        d.pop(k, None)
    return d


def finished_run_matches(run: Path, cfg) -> bool:
    """A finished run (model.pt) whose saved config equals the resolved TrainConfig `cfg` (paths aside)."""
    from texnet.config import train_config_from_saved

    saved = run / "config.json"
    if not (run / "model.pt").is_file() or not saved.is_file():
        return False
    old = train_config_from_saved(json.loads(saved.read_text())["config"]).resolved()
    return _comparable(old) == _comparable(cfg)


def train_recipe(argv: List[str], run: Path, log=print) -> Path:
    """Train (or reuse) one run folder; returns it."""
    from texnet.apps.parser import build_parser

    if finished_run_matches(run, _config_of(argv)):
        log(f"[zoo] reusing {run} (finished, same config)")
        return run
    log(f"[zoo] texnet {' '.join(argv)}")
    args = build_parser().parse_args(argv[:-1] + ["--overwrite"] if run.exists() else argv)
    try:
        args.func(args)
    except TexnetError as exc:
        raise ConfigError(f"training {run.name} failed ({exc}); nothing was written to the bundle") from exc
    return run


def training_facts(run: Path, argv: List[str], data: Optional[Path] = None,
                   stage1: Optional[Tuple[Path, List[str]]] = None) -> Dict[str, Any]:
    """The card's training section, from the run folder (the command with the data folder written as DATA);
    a two-stage recipe's first stage under "stage1"."""
    from texnet.io.files import read_csv

    rows = read_csv(run / "losses.csv")
    saved = json.loads((run / "config.json").read_text())
    tail = rows[-max(1, len(rows) // 20):]
    command = [PORTABLE.get(argv[i - 1], a.replace(str(data), "DATA") if data is not None else a)
               for i, a in enumerate(argv[:-3])]
    return {"command": ["texnet", *command, "--out", "RUN"], "config": portable_config(saved["config"]),
            "device": f"{saved.get('device', '?')} (one thread of a shared 2-core machine)",
            "torch": saved.get("torch"), "steps": int(rows[-1]["step"]), "wall_time_s": round(float(rows[-1]["seconds"]), 1),
            "final_loss": sum(float(r["loss"]) for r in tail) / len(tail), "final_loss_note": "mean of the last 5 % of steps",
            **({"content_note": f"DATA/content-train minus {', '.join(HELD_OUT_PHOTOS)}, held out for "
                "benchmarks/bench_style_quality.py"} if "--content-dir" in argv else {}),
            **({"stage1": training_facts(*stage1, data)} if stage1 else {})}


def measure(name: str, recipe: Dict[str, Any], model_path: Path, data: Path, work: Path,
            companion: Optional[Path]) -> Dict[str, Any]:
    """The card's quality section."""
    from texnet.checkpoints import load
    from texnet.apps.zoo_quality import crops_quality, stylenet_quality, texture_quality

    g = load(model_path)
    exemplar = str(data / recipe["exemplar"])
    if recipe["kind"] == "style":
        d = recipe["declared"]
        return stylenet_quality(g, exemplar, d["output_size"], d["style_size"], work / "gatys")
    size = recipe["declared"].get("output_size") or g.checkpoint["train_config"]["size"]  # V1: its training size
    q = texture_quality(g, exemplar, size=size)
    if companion is not None:
        q["lambda0"] = texture_quality(load(companion / "model.pt"), exemplar, size=size)
        q["crops"] = crops_quality(exemplar, size)
    return q


def write_weights(name: str, recipe: Dict[str, Any], run: Path, out: Path) -> Path:
    """NAME.pt in `out`: the compact weights (bundled.compact) of the run's model."""
    from texnet.checkpoints import load_checkpoint, write_checkpoint_dict

    out.mkdir(parents=True, exist_ok=True)
    data = load_checkpoint(run / "model.pt")
    data["train_config"] = portable_config(data["train_config"])
    compact = bundled.compact(data, declared=recipe["declared"], bundled_name=name)
    return write_checkpoint_dict(out / f"{name}.pt", compact)


def portable_config(config: Dict[str, Any]) -> Dict[str, Any]:
    """A saved training config with the maintainer's paths written as in the card's command: the exemplar as
    DATA/<folder>/<file> (its place under --data-dir), the content folder as DATA/content-train."""
    config = dict(config)
    def portable(path: str) -> str:
        return "DATA/" + "/".join(Path(path).parts[-2:])

    if isinstance(config.get("exemplar"), (str, list)):  # several: a multi-style network
        ex = config["exemplar"]
        config["exemplar"] = portable(ex) if isinstance(ex, str) else [portable(e) for e in ex]
    if config.get("content_dir"):
        config["content_dir"] = PORTABLE["--content-dir"]
    if config.get("init"):  # a two-stage recipe: the first stage's network (the card's training.stage1)
        config["init"] = PORTABLE["--init"]
    return config


def write_card(name: str, recipe: Dict[str, Any], run: Path, out: Path, argv: List[str], quality: Dict[str, Any],
               data: Path, stage1: Optional[Tuple[Path, List[str]]] = None) -> Path:
    """NAME.json (the card) in `out`, and the exemplar thumbnail where its licence allows."""
    from texnet.io.files import write_json
    from texnet.io.images import load_image, save_image, resize

    thumb = None
    if recipe["thumbnail"]:
        img = load_image(data / recipe["exemplar"])
        save_image(resize(img, 256), out / f"{name}_exemplar.jpg", quality=88)
        thumb = f"{name}_exemplar.jpg"
    card = {"name": name, "kind": recipe["kind"], "architecture": json.loads((run / "config.json").read_text())["architecture"],
            "title": recipe["title"], "declared": recipe["declared"],
            "exemplar": {"title": recipe["title"], "file": recipe["exemplar"], "provenance": recipe["provenance"],
                         "licence": recipe["licence"], "thumbnail": thumb},
            "training": training_facts(run, argv, data, stage1), "quality": quality,
            **{k: recipe[k] for k in ("styles", "base") if k in recipe},
            "built": time.strftime("%Y-%m-%d"),
            "weights": "float16 (int8 with per-row scales for tensors of >= 65536 weights), loaded as float32; "
                       "quality measured on these shipped weights"}
    return write_json(out / f"{name}.json", card)


def zoo(args) -> int:
    from texnet.apps.flags import build_config

    cfg = build_config(ZooConfig, args, action=args.action, names=args.names or None)
    table = recipes()
    chosen = cfg.names or list(table)
    unknown = [n for n in chosen if n not in table]
    if unknown:
        raise ConfigError(f"no recipe named {', '.join(unknown)}; recipes: {', '.join(table)}")
    data = Path(cfg.data_dir)
    content = Path(cfg.content_dir) if cfg.content_dir else data / "content-train"
    work = Path(cfg.work)
    out = bundled.MODELS_DIR if cfg.install else Path(cfg.out) if cfg.out else work / "bundle"
    for name in chosen:
        r = table[name]
        missing = [e for e in r.get("exemplars", [r["exemplar"]]) if not (data / e).is_file()]
        if missing:
            raise ConfigError(f"{name}: exemplar {data / missing[0]} not found (set --data-dir)")
        if r["kind"] == "style" and not content.is_dir():
            raise ConfigError(f"{name}: content folder {content} not found (set --content-dir)")
    styles = any(table[n]["kind"] == "style" for n in chosen)
    photos = training_photos(content, work / "content-train") if styles and cfg.action == "build" else content
    for name in chosen:
        r = table[name]
        t0 = time.perf_counter()
        init, stage1 = None, None
        if r.get("stage1"):  # the 128-px stage, which the 256-px stage continues
            init = work / f"{name}_stage1" / "model.pt"
            stage1 = (init.parent, _argv(r, data, photos, init.parent, stage1=True))
            if cfg.action == "build":
                train_recipe(stage1[1], init.parent)
        argv = _argv(r, data, photos, work / name, init=init)
        run = work / name if cfg.action == "measure" else train_recipe(argv, work / name)
        companion = None
        if r.get("lambda0"):
            companion = work / f"{name}_lambda0"
            if cfg.action == "build":
                train_recipe(_argv(r, data, photos, companion, lambda0=True), companion)
        path = write_weights(name, r, run, out)
        quality = measure(name, r, path, data, work, companion)  # the shipped (compacted) weights
        write_card(name, r, run, out, argv, quality, data, stage1=stage1)
        print(f"[zoo] {name}: wrote {path} ({path.stat().st_size / 2**20:.2f} MB) in {time.perf_counter() - t0:.0f} s")
    return 0
