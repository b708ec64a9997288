"""README pictures of the bundled networks, made through the CLI a user runs.

    PYTHONPATH=src python experiments/figures_zoo.py [--textures]     # --textures: only bundled_textures.jpg

docs/images/bundled_styles.jpg: one held-out photo (scikit-image's coffee) stylized by every bundled
StyleNet at its declared output size (docs/images/painting_base.jpg: the same photo in each painting of the
multi-style base); docs/images/bundled_textures.jpg: eight samples of every bundled texture
network; docs/images/style_scale.jpg: `texnet stylize --style-scale` 0.5 / 1 / 2 with one network.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IMAGES = ROOT / "docs" / "images"
PHOTO = "sample:coffee"
SCALE_NETWORK = "starry_night"
SCALES = (0.5, 1.0, 2.0)
#: Samples per texture network in bundled_textures.jpg (`texnet sample`'s default -n).
TEXTURE_SAMPLES = 8


def texnet(*args: str) -> str:
    out = subprocess.run([sys.executable, "-m", "texnet", *args, "--quiet"], capture_output=True, text=True,
                         cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT / "src"), "TEXNET_NO_PROGRESS": "1",
                                        "OMP_NUM_THREADS": "1"})
    if out.returncode != 0:
        raise SystemExit(out.stderr)
    return out.stdout


def main() -> None:
    sys.path.insert(0, str(ROOT / "src"))
    from texnet.io import bundled
    from texnet.io.images import load_image, make_grid, resize

    IMAGES.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        styles = [n for n in bundled.names() if bundled.card(n)["kind"] == "style" and not bundled.card(n).get("base")]
        bases = [n for n in bundled.names() if bundled.card(n).get("base")]
        textures = [n for n in bundled.names() if bundled.card(n)["kind"] == "texture"]
        if "--textures" in sys.argv:  # only bundled_textures.jpg (the StyleNet pictures take minutes)
            styles, bases = [], []
        tiles, caps = [load_image(PHOTO, size=256)], ["photo"]
        for name in styles:
            size = bundled.card(name)["declared"]["output_size"]
            texnet("stylize", "--model", name, PHOTO, "--size", str(size), "--out", str(tmp / name))
            tiles.append(resize(load_image(tmp / name / "coffee_stylized.png"), 256))
            caps.append(name)
        if styles:
            make_grid(tiles, ncol=len(tiles), captions=caps).convert("RGB").save(IMAGES / "bundled_styles.jpg",
                                                                                 quality=85)
        for name in bases:  # every painting of a multi-style base, by --style-index
            size = bundled.card(name)["declared"]["output_size"]
            tiles, caps = [], []
            for k, painting in enumerate(bundled.card(name)["styles"]):
                texnet("stylize", "--model", name, PHOTO, "--size", str(size), "--style-index", str(k),
                       "--out", str(tmp / f"{name}_{k}"))
                tiles.append(resize(load_image(tmp / f"{name}_{k}" / "coffee_stylized.png"), 192))
                caps.append(painting[:22])
            make_grid(tiles, ncol=8, captions=caps).convert("RGB").save(IMAGES / f"{name}.jpg", quality=85)
        rows, caps = [], []
        for name in textures:  # what `texnet sample --model NAME -n 8` gives (issue 34 asks for 8 per network)
            size = bundled.card(name)["declared"].get("output_size", 256)
            texnet("sample", "--model", name, "-n", str(TEXTURE_SAMPLES), "--size", str(size), "--out", str(tmp / name))
            for i, path in enumerate(sorted((tmp / name).glob("sample_*.png"))[:TEXTURE_SAMPLES]):
                rows.append(resize(load_image(path), 128))
                caps.append(f"{name} ({bundled.card(name)['architecture']})" if i == 0 else "")
        make_grid(rows, ncol=TEXTURE_SAMPLES, captions=caps).convert("RGB").save(IMAGES / "bundled_textures.jpg",
                                                                                 quality=85)
        if SCALE_NETWORK in styles:
            size = bundled.card(SCALE_NETWORK)["declared"]["output_size"]
            strip, caps = [], []
            for s in SCALES:
                out = tmp / f"scale_{s}"
                texnet("stylize", "--model", SCALE_NETWORK, PHOTO, "--size", str(size), "--style-scale", str(s),
                       "--out", str(out))
                strip.append(resize(load_image(out / "coffee_stylized.png"), 320))
                caps.append(f"--style-scale {s:g}")
            make_grid(strip, ncol=len(strip), captions=caps).convert("RGB").save(IMAGES / "style_scale.jpg", quality=85)
    print(f"wrote {IMAGES}/" + ("bundled_textures.jpg" if not styles else
                                "bundled_styles.jpg, bundled_textures.jpg, style_scale.jpg"))
    from texnet.apps.models import QUALITY_HEADER, quality_row

    rows = [QUALITY_HEADER] + [quality_row(bundled.card(n)) for n in bundled.names()]
    print("\n".join("| " + " | ".join(r) + " |" + ("\n|" + " --- |" * len(r) if i == 0 else "")
                    for i, r in enumerate(rows)))


if __name__ == "__main__":
    main()
