"""The README's style-feature pictures, made by the `texnet` commands themselves (small JPEGs in docs/images).

    python experiments/figures_styles.py --model runs/three-styles --size 192

Strips: colour preserved vs not, a 5-step interpolation between two styles of a multi-style network, a
strength strip. Each picture's caption line gives the command that made every tile.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from texnet.io.images import load_image, make_grid  # noqa: E402

OUT = ROOT / "docs" / "images"


def stylize(model: str, photo: str, size: int, folder: Path, *extra: str):
    """One `texnet stylize` call; returns the output image tensor."""
    subprocess.run([sys.executable, "-m", "texnet", "stylize", "--model", model, photo, "--size", str(size),
                    "--out", str(folder), "--overwrite", "--quiet", *extra], check=True)
    return load_image(next(folder.glob("*_stylized.png")))[0]


def strip(images, captions, name: str) -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / name
    make_grid(images, ncol=len(images), captions=captions).save(path, quality=88)
    print(f"wrote {path}")
    return path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="a multi-style StyleNet (run folder or model.pt)")
    ap.add_argument("--photo", default="sample:astronaut")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--a", type=int, default=0, help="first style of the interpolation")
    ap.add_argument("--b", type=int, default=1, help="second style of the interpolation")
    args = ap.parse_args(argv)
    import texnet

    names = texnet.load(args.model).checkpoint.get("style_names") or []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        photo = load_image(args.photo, size=args.size)[0]
        plain = stylize(args.model, args.photo, args.size, tmp / "plain", "--style-index", str(args.a))
        kept = stylize(args.model, args.photo, args.size, tmp / "kept", "--style-index", str(args.a),
                       "--preserve-color")
        strip([photo, plain, kept], ["photo", f"--style-index {args.a}", "... --preserve-color"],
              "preserve_color.jpg")
        tiles, caps = [], []
        for i, w in enumerate((0.0, 0.25, 0.5, 0.75, 1.0)):
            mix = ",".join(f"{(1 - w) if k == args.a else w if k == args.b else 0:g}" for k in range(len(names)))
            tiles.append(stylize(args.model, args.photo, args.size, tmp / f"mix{i}", "--style-mix", mix))
            caps.append(f"--style-mix {mix}")
        strip(tiles, caps, "style_interpolation.jpg")
        tiles, caps = [], []
        for i, s in enumerate((0.0, 0.25, 0.5, 0.75, 1.0)):
            tiles.append(stylize(args.model, args.photo, args.size, tmp / f"s{i}", "--style-index", str(args.a),
                                 "--strength", str(s)))
            caps.append(f"--strength {s:g}")
        strip(tiles, caps, "style_strength.jpg")
    return 0


if __name__ == "__main__":
    sys.exit(main())
