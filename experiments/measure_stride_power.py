"""Checkerboard grain and per-sample layout of every bundled network (issue 34, items 1-2).

Texture networks: 16 samples (seed 123, as the cards) at the card's output size (TextureNetV1: its 128-px
training size, and its 256-px gallery size), scored against random crops of the exemplar (the GPL texture in
DATA/textures, not shipped) at its native size, as training saw it:
* `stride_power_ratio` (extras/spectra.py): luminance power on the period-2 and period-4 rows and columns of the
  spectrum, over the crops'; also split into the period-2 lines alone and the period-4 lines alone;
* `layout` (mean pairwise) and `layout_nn` (nearest neighbour, metrics.py), against the crops;
* line contrast: the stride lines' power over their neighbouring lines' (a periodic grain stands out of the
  spectrum around it; broadband detail does not), for the outputs and for the reference.
StyleNets: each held-out photo (sample:astronaut, chelsea, coffee) at the card's 512-px output size, stylized with
seed 0; the outputs' stride-line share over the photos' (pooled), and over 128-px crops of the style image at the
card's style size (outputs also cut into 128-px crops), the scale at which the network learned the strokes.

    PYTHONPATH=src nice -n 10 python experiments/measure_stride_power.py [--data ../shared/data]

Writes experiments/results/stride_power.json and prints a markdown table (the one in RESULTS_stride_power.md).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from common import markdown_table  # noqa: E402

from texnet.checkpoints import load  # noqa: E402
from texnet.extras.metrics import layout_diversity, layout_nn, random_crops  # noqa: E402
from texnet.extras.spectra import (exemplar_stride_power_ratio, luminance, stride_power,  # noqa: E402
                                   stride_power_ratio)
from texnet.io import bundled  # noqa: E402
from texnet.io.images import load_image, resize  # noqa: E402
from texnet.paper.diversity import LAYOUT_LAYERS  # noqa: E402
from texnet.paper.loss_network import LossNetwork  # noqa: E402
from texnet.render.inference import stylize_image  # noqa: E402

SAMPLES, SEED = 16, 123
PHOTOS = ("sample:astronaut", "sample:chelsea", "sample:coffee")
STYLE_CROP = 128


def _crops_of(images: torch.Tensor, size: int) -> torch.Tensor:
    """Non-overlapping size x size tiles of every image (the top-left grid)."""
    h, w = images.shape[-2:]
    return torch.cat([images[..., y:y + size, x:x + size] for y in range(0, h - size + 1, size)
                      for x in range(0, w - size + 1, size)])


def texture_row(name: str, card: dict, data: Path, net: LossNetwork, size: int) -> dict:
    g = load(name).float().eval()
    exemplar = load_image(data / card["exemplar"]["file"])
    exemplar = resize(exemplar, min(max(exemplar.shape[-2:]), 256))
    with torch.no_grad():
        x = g.generate(SAMPLES, size=size, seed=SEED)
    crops = random_crops(exemplar, 16, x.shape[-2:], 0)
    row = {"name": name, "architecture": card["architecture"], "size": size,
           "stride_power_ratio": exemplar_stride_power_ratio(x, exemplar), **_split([(x, crops)]),
           "share": stride_power(x), "crops_share": stride_power(crops),
           "line_contrast": line_contrast(x), "reference_line_contrast": line_contrast(crops)}
    if min(exemplar.shape[-2:]) > size:  # else every crop is the same image: no layout reference
        row.update(layout=layout_diversity(x, exemplar, net), layout_nn=layout_nn(x, exemplar, net))
    return row


def line_contrast(images: torch.Tensor) -> float:
    """Power on the stride rows and columns over the mean of their neighbouring rows and columns (±1 bin), from the
    set's mean luminance spectrum: ~1 for broadband content, far above 1 for a periodic grain. Needs no reference."""
    y = luminance(images)
    power = torch.fft.fft2(y - y.mean(dim=(-2, -1), keepdim=True)).abs().pow(2).mean(0)
    h, w = power.shape
    on = near = 0.0
    for f in (0.25, 0.5, 0.75):
        r, c = round(h * f), round(w * f)
        on += float(power[r].sum() + power[:, c].sum())
        near += float(power[r - 1].sum() + power[(r + 1) % h].sum() + power[:, c - 1].sum()
                      + power[:, (c + 1) % w].sum()) / 2
    return on / near


def _split(pairs) -> dict:
    """Pooled ratios on the period-2 lines alone and on the period-4 lines off them (all lines minus period 2)."""
    def pooled(fn):
        return sum(fn(y) for y, _ in pairs) / sum(fn(c) for _, c in pairs)
    return {"period2_ratio": pooled(lambda im: stride_power(im, (2,))),
            "period4_ratio": pooled(lambda im: stride_power(im) - stride_power(im, (2,)))}


def style_row(name: str, card: dict, data: Path) -> dict:
    g = load(name).float().eval()
    d = card["declared"]
    pairs = []
    for photo in PHOTOS:
        content = load_image(photo, size=d["output_size"])
        with torch.no_grad():
            pairs.append((stylize_image(g, content, seed=0), content))
    style = resize(load_image(data / card["exemplar"]["file"]), d["style_size"])
    style_crops = random_crops(style, 16, STYLE_CROP, 0)
    out_tiles = torch.cat([_crops_of(y, STYLE_CROP) for y, _ in pairs])
    return {"name": name, "architecture": card["architecture"], "size": d["output_size"],
            "stride_power_ratio": sum(stride_power(y) for y, _ in pairs) / sum(stride_power(c) for _, c in pairs),
            "per_photo": [stride_power_ratio(y, c) for y, c in pairs],
            "vs_style_crops": stride_power(out_tiles) / stride_power(style_crops), **_split(pairs),
            "line_contrast": line_contrast(out_tiles), "reference_line_contrast": line_contrast(style_crops),
            "photo_line_contrast": line_contrast(torch.cat([_crops_of(c, STYLE_CROP) for _, c in pairs]))}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--out", default=str(ROOT / "experiments" / "results" / "stride_power.json"))
    ap.add_argument("--only", nargs="*", help="networks to (re)measure; the others' rows are kept from --out")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    data, out = Path(args.data), Path(args.out)
    net = LossNetwork(list(LAYOUT_LAYERS))
    rows = json.loads(out.read_text()) if out.is_file() and args.only else []
    for name in args.only or bundled.names():
        card = bundled.card(name)
        t0 = time.perf_counter()
        rows = [r for r in rows if r["name"] != name]
        if card["kind"] == "texture":
            side = min(load_image(data / card["exemplar"]["file"]).shape[-2:])
            sizes = [card["declared"]["output_size"]] if "output_size" in card["declared"] else [128, 256]
            rows += [texture_row(name, card, data, net, s) for s in sizes if s <= side]
        else:
            rows.append(style_row(name, card, data))
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(rows, indent=1))
        print(f"{name}: {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    order = {n: i for i, n in enumerate(bundled.names())}
    rows.sort(key=lambda r: (order.get(r["name"], 99), r["size"]))
    table = [[r["name"], r["architecture"], r["size"], f"{r['stride_power_ratio']:.2f}×",
              f"{r['period2_ratio']:.2f}×", f"{r['period4_ratio']:.2f}×",
              f"{r['vs_style_crops']:.2f}×" if "vs_style_crops" in r else "-",
              f"{r['line_contrast']:.1f} / {r['reference_line_contrast']:.1f}",
              f"{r['layout']:.2f}" if "layout" in r else "-", f"{r['layout_nn']:.2f}" if "layout_nn" in r else "-"]
             for r in rows]
    print(markdown_table(["network", "architecture", "px", "stride power (all lines)", "period-2 lines",
                          "period-4 lines (off period 2)", "StyleNet: vs style crops",
                          "line contrast: output / reference", "layout", "layout_nn"], table))


if __name__ == "__main__":
    main()
