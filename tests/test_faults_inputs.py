"""Fault injection, inputs: every command that reads images, fed every kind of bad or unusual file.

Bad files (missing, a folder, 0 bytes, text, truncated PNG/JPEG, SVG/PDF, a
decompression bomb, a FIFO, over --max-pixels) must give one line naming the
file and the reason, exit 1, no traceback, and no output; unusual but valid
images (greyscale, palette, RGBA, CMYK, 16-bit, float, EXIF-rotated,
non-ASCII names, animated GIF, wrong extension, 1-4 px) must just work; a
content folder with some broken files trains and counts them; one with none
readable fails before training. Invalid option values are rejected before any
image is decoded or any loss network built. Everything runs in-process through
`texnet.apps.cli.main`, plus a few real `python -m texnet` subprocesses.
"""
from __future__ import annotations

import io
import os
import random
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from helpers_cli import child_env, one_line, run_cli
from helpers_train import make_content_folder, quiet, style_config, texture_config
from texnet.config import LossConfig
from texnet.io.data import IMAGE_EXTENSIONS
from texnet.errors import ImageError
from texnet.io.images import decode_image, load_image
from texnet.train import train


LAYERS = ["--texture-layers", "relu1_1,relu2_1"]
FAST = ["--device", "cpu", "--quiet"]


pytestmark = pytest.mark.usefixtures("one_thread")


# --------------------------------------------------------------------------- the inputs


def _png_header_only(w: int, h: int) -> bytes:
    """A PNG that declares w x h pixels but holds a few bytes: opening it must not allocate w*h."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def _photo(h: int = 40, w: int = 48, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx / max(w - 1, 1), yy / max(h - 1, 1), 0.5 + 0.5 * np.sin(xx / 3.0)], axis=-1) * 200
    return np.clip(base + rng.integers(0, 55, size=(h, w, 3)), 0, 255).astype(np.uint8)


#: kind -> substring (or alternatives) the one-line error must contain, besides the file name
BAD = {
    "missing": "no such file",
    "folder": "is a folder",
    "empty": "empty file",
    "text_with_png_extension": "not an image file",
    "random_bytes_jpg": "not an image file",
    "truncated_png": "truncated or corrupt",
    "truncated_jpeg": "truncated or corrupt",
    "png_header_only": ("truncated or corrupt", "not an image file"),  # Pillow may not even identify it
    "svg_unsupported": "not an image file",
    "pdf_unsupported": "not an image file",
    "decompression_bomb": "decompression bomb",
    "over_max_pixels": "exceeds the limit",
    "fifo": "not a regular file",
}

#: unusual but valid images: must work everywhere
GOOD = ["grey", "grey_alpha", "palette", "palette_transparent", "rgba", "cmyk_jpeg", "cmyk_tiff", "png_16bit",
        "tiff_float", "exif_rotated", "non_ascii_name", "animated_gif", "bmp", "webp", "jpeg_named_png",
        "tiny_4px", "one_pixel"]


def _make_bad(root: Path, kind: str) -> Path:
    a = _photo()
    full_png, full_jpg = io.BytesIO(), io.BytesIO()
    Image.fromarray(a).save(full_png, format="PNG")
    Image.fromarray(a).save(full_jpg, format="JPEG", quality=90)
    p = {
        "missing": root / "does_not_exist.png", "folder": root / "a_folder.png", "empty": root / "empty.png",
        "text_with_png_extension": root / "notes.png", "random_bytes_jpg": root / "noise.jpg",
        "truncated_png": root / "cut.png", "truncated_jpeg": root / "cut.jpg", "png_header_only": root / "header.png",
        "svg_unsupported": root / "drawing.svg", "pdf_unsupported": root / "scan.pdf",
        "decompression_bomb": root / "bomb.png", "over_max_pixels": root / "big.png", "fifo": root / "pipe.png",
    }[kind]
    if kind == "folder":
        p.mkdir()
    elif kind == "empty":
        p.write_bytes(b"")
    elif kind == "text_with_png_extension":
        p.write_text("these are not pixels\n", encoding="utf-8")
    elif kind == "random_bytes_jpg":
        p.write_bytes(random.Random(5).randbytes(3000))
    elif kind == "truncated_png":
        p.write_bytes(full_png.getvalue()[: len(full_png.getvalue()) // 2])
    elif kind == "truncated_jpeg":
        p.write_bytes(full_jpg.getvalue()[: len(full_jpg.getvalue()) // 2])
    elif kind == "png_header_only":
        p.write_bytes(full_png.getvalue()[:33])  # signature + IHDR, no pixel data
    elif kind == "svg_unsupported":
        p.write_text('<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"><rect width="64" height="64"/></svg>')
    elif kind == "pdf_unsupported":
        p.write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n")
    elif kind == "decompression_bomb":
        p.write_bytes(_png_header_only(100_000, 100_000))  # 10 G pixels declared in 100 bytes
    elif kind == "over_max_pixels":
        Image.fromarray(_photo(100, 100)).save(p)  # 10,000 pixels; the commands get --max-pixels 5000
    elif kind == "fifo":
        os.mkfifo(p)  # reading it would block forever
    return p


def _make_good(root: Path, kind: str) -> Path:
    a = _photo()
    names = {"non_ascii_name": "Фото ü 写真.png", "cmyk_jpeg": "cmyk.jpg", "cmyk_tiff": "cmyk.tif",
             "tiff_float": "float.tif", "exif_rotated": "rotated.jpg", "animated_gif": "anim.gif", "bmp": "photo.bmp",
             "webp": "photo.webp", "jpeg_named_png": "really_a_jpeg.png"}
    p = root / names.get(kind, f"{kind}.png")
    im = Image.fromarray(a)
    if kind == "grey":
        im.convert("L").save(p)
    elif kind == "grey_alpha":
        Image.fromarray(np.dstack([a[..., 0], a[..., 1]]), "LA").save(p)
    elif kind == "palette":
        im.convert("P").save(p)
    elif kind == "palette_transparent":
        im.convert("P").save(p, transparency=0)
    elif kind == "rgba":
        Image.fromarray(np.dstack([a, np.linspace(0, 255, a.shape[1], dtype=np.uint8)[None].repeat(a.shape[0], 0)])).save(p)
    elif kind in ("cmyk_jpeg", "cmyk_tiff"):
        im.convert("CMYK").save(p)
    elif kind == "png_16bit":
        Image.fromarray(a[..., 0].astype(np.uint16) * 257).save(p)
    elif kind == "tiff_float":
        Image.fromarray(a[..., 1].astype(np.float32) / 255.0, "F").save(p)
    elif kind == "exif_rotated":
        exif = Image.Exif()
        exif[0x0112] = 6  # rotate 90° on display
        im.save(p, exif=exif)
    elif kind == "animated_gif":
        im.save(p, save_all=True, append_images=[Image.fromarray(255 - a)], duration=100)
    elif kind == "jpeg_named_png":
        im.save(p, format="JPEG")
    elif kind == "tiny_4px":
        Image.fromarray(a[:4, :4]).save(p)
    elif kind == "one_pixel":
        Image.fromarray(a[:1, :1]).save(p)
    else:
        im.save(p)
    return p


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Inputs, a clean content folder and three tiny trained models (texture/default taps, style)."""
    root = tmp_path_factory.mktemp("fault_inputs")
    (root / "bad").mkdir()
    (root / "good").mkdir()
    bad = {k: _make_bad(root / "bad", k) for k in BAD}
    good = {k: _make_good(root / "good", k) for k in GOOD}
    photo = root / "photo.png"
    Image.fromarray(_photo(48, 40, seed=1)).save(photo)
    content = make_content_folder(root / "content")
    style_model = root / "style_run"
    train(style_config(content, steps=1), style_model, show_progress=False, log=quiet)
    # evaluate measures feature diversity at relu2_1/relu4_1: a texture model trained with the default taps
    texture_model = root / "texture_run"
    train(texture_config(steps=1, loss=LossConfig()), texture_model, show_progress=False, log=quiet)
    return dict(root=root, bad=bad, good=good, photo=photo, content=content,
                style_model=style_model / "model.pt", texture_model=texture_model / "model.pt", n=[0])


def _out(world) -> Path:
    world["n"][0] += 1
    return world["root"] / "out" / f"run{world['n'][0]}"


#: command name -> argv builder (image path, out folder, world); every way a command reads an image
COMMANDS = {
    "optimize --texture": lambda img, out, w: ["optimize", "--texture", img, "--size", "32", "--steps", "1", *LAYERS],
    "optimize --content": lambda img, out, w: ["optimize", "--content", img, "--style", str(w["photo"]), "--size", "32",
                                               "--steps", "1", *LAYERS],
    "optimize --style": lambda img, out, w: ["optimize", "--content", str(w["photo"]), "--style", img, "--size", "32",
                                             "--steps", "1", *LAYERS],
    "optimize --init": lambda img, out, w: ["optimize", "--texture", str(w["photo"]), "--init", img, "--size", "32",
                                            "--steps", "1", *LAYERS],
    "train-texture --texture": lambda img, out, w: ["train-texture", "--texture", img, "--generator", "v1", "--scales", "3",
                                                    "--size", "32", "--batch-size", "2", "--steps", "1", *LAYERS],
    "train-style --style": lambda img, out, w: ["train-style", "--style", img, "--content-dir", str(w["content"]),
                                                "--channels", "8", "--size", "32", "--batch-size", "2", "--steps", "1",
                                                *LAYERS],
    "stylize IMG": lambda img, out, w: ["stylize", img, "--model", str(w["style_model"])],
    "evaluate --style": lambda img, out, w: ["evaluate", "--model", str(w["texture_model"]), "--style", img, "-n", "2"],
    "evaluate --content": lambda img, out, w: ["evaluate", "--model", str(w["style_model"]), "--content", img],
}


def _says(line: str, expect) -> bool:
    return any(e in line for e in ((expect,) if isinstance(expect, str) else expect))


def _no_outputs(out: Path) -> bool:
    return not out.exists() or not any(p.is_file() for p in out.rglob("*"))


# --------------------------------------------------------------------------- bad files


@pytest.mark.parametrize("kind", sorted(BAD))
def test_bad_file_is_one_line_for_every_command(world, capsys, kind):
    path = world["bad"][kind]
    problems = []
    for name, build in COMMANDS.items():
        out = _out(world)
        extra = ["--max-pixels", "5000"] if kind == "over_max_pixels" else []
        if kind == "over_max_pixels" and name.startswith("evaluate"):
            continue  # evaluate accepts --max-pixels but does not pass it on (the default limit: the bomb case)
        argv = build(str(path), out, world) + ["--out", str(out)] + FAST + extra
        rc, stdout, err = run_cli(argv, capsys)
        try:
            assert rc == 1, f"exit {rc}"
            line = one_line(err)
            assert line.startswith("texnet: error:"), line
            assert path.name in line and _says(line, BAD[kind]), line
            assert _no_outputs(out), sorted(p.name for p in out.rglob("*"))
        except AssertionError as exc:
            problems.append(f"{name}: {exc}")
    assert not problems, "\n".join(problems)


def test_bad_files_as_a_python_m_texnet_subprocess_are_one_stderr_line(world, tmp_path):
    """The real entry point (python -m texnet): stderr is exactly one line, no traceback, nothing on stdout."""
    cases = [("truncated_jpeg", COMMANDS["train-texture --texture"]), ("decompression_bomb", COMMANDS["stylize IMG"]),
             ("text_with_png_extension", COMMANDS["optimize --content"])]
    procs = []
    for kind, build in cases:  # side by side: start-up (imports) is most of their time
        out = tmp_path / kind
        argv = build(str(world["bad"][kind]), out, world) + ["--out", str(out)] + FAST
        proc = subprocess.Popen([sys.executable, "-m", "texnet", *argv], cwd=tmp_path, env=child_env(),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        procs.append((kind, out, argv, proc))
    for kind, out, argv, proc in procs:
        stdout, stderr = proc.communicate(timeout=180)
        assert proc.returncode == 1, stderr
        line = one_line(stderr)
        path = world["bad"][kind]
        assert line.startswith("texnet: error:") and path.name in line and _says(line, BAD[kind])
        assert stdout == ""
        assert not out.exists()


# --------------------------------------------------------------------------- unusual but valid images


def test_unusual_images_decode_to_rgb(world):
    for kind, path in world["good"].items():
        x = load_image(path)
        assert x.dtype == torch.float32 and x.dim() == 4 and x.shape[:2] == (1, 3), kind
        assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0, kind
    rotated = load_image(world["good"]["exif_rotated"])
    assert tuple(rotated.shape[-2:]) == (48, 40)  # the 40x48 photo, turned by its EXIF orientation


#: These three read their image through the same train.load_exemplar: each kind goes through one of them
#: (a training run costs ~0.5 s), and all of them through every other command.
EXEMPLAR_COMMANDS = ["train-texture --texture", "train-style --style", "evaluate --style"]


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_unusual_images_work_for_every_command(world, capsys, command):
    """One run per image for commands taking one image; stylize and evaluate --content take them all at once."""
    build = COMMANDS[command]
    kinds = list(GOOD)
    if command in EXEMPLAR_COMMANDS:
        kinds = kinds[EXEMPLAR_COMMANDS.index(command)::len(EXEMPLAR_COMMANDS)]
    if command in ("stylize IMG", "evaluate --content"):
        batches = [kinds]
    else:
        batches = [[k] for k in kinds]
    problems = []
    for batch in batches:
        out = _out(world)
        paths = [str(world["good"][k]) for k in batch]
        argv = build(paths[0], out, world)
        if len(batch) > 1:
            i = argv.index(paths[0])
            argv = argv[:i] + paths + argv[i + 1:]
        rc, stdout, err = run_cli(argv + ["--out", str(out)] + FAST, capsys)
        if rc != 0:
            problems.append(f"{batch}: exit {rc}: {err.strip()[-300:]}")
        elif not any(p.suffix == ".png" for p in out.rglob("*")):
            problems.append(f"{batch}: no image written")
    assert not problems, "\n".join(problems)


def test_tiny_exemplars_are_upscaled_and_it_is_said(world, capsys):
    """A 1-pixel texture is below what relu5_1 needs (16 px): upscaled, with a note on stdout."""
    out = _out(world)
    rc, stdout, err = run_cli(["optimize", "--texture", str(world["good"]["one_pixel"]), "--size", "32", "--steps", "1",
                            "--out", str(out)] + FAST, capsys)
    assert rc == 0, err
    assert "upscaled to 16x16" in stdout and "one_pixel.png" in stdout
    logs = []
    train(texture_config(exemplar=str(world["good"]["tiny_4px"]), exemplar_size=None, steps=1, loss=LossConfig()),
          _out(world), show_progress=False, log=logs.append)
    assert any("4x4 px" in m and "upscaled to 16x16" in m for m in logs), logs


def test_thin_images(world, capsys, tmp_path):
    """A 1x64 strip: exemplars are upscaled; where it sets the output size the error says so in one line."""
    thin = tmp_path / "strip.png"
    Image.fromarray(_photo(1, 64)).save(thin)
    expect_error = {"optimize --content": "--size", "evaluate --content": "too small"}
    for name, build in COMMANDS.items():
        out = _out(world)
        rc, stdout, err = run_cli(build(str(thin), out, world) + ["--out", str(out)] + FAST, capsys)
        if name in expect_error:
            assert rc == 1 and expect_error[name] in one_line(err), (name, err)
        else:
            assert rc == 0, (name, err)


# --------------------------------------------------------------------------- content folders


def test_content_folder_with_some_broken_files_trains_and_counts_them(world, tmp_path, capsys):
    folder = tmp_path / "photos"
    make_content_folder(folder)
    broken = 0
    for kind in BAD:
        if kind in ("missing", "folder", "over_max_pixels"):
            continue
        src = world["bad"][kind]
        dst = folder / "broken" / src.name
        dst.parent.mkdir(exist_ok=True)
        if kind == "fifo":
            os.mkfifo(dst)
        else:
            shutil.copyfile(src, dst)
        broken += dst.suffix.lower() in IMAGE_EXTENSIONS  # .svg/.pdf are not even picked up
    (folder / "broken" / "dangling.png").symlink_to(folder / "gone.png")  # a missing file
    broken += 1
    (folder / "unusual").mkdir()
    for kind in GOOD:  # unusual but readable photos are used, tiny ones upscaled to the crop
        shutil.copyfile(world["good"][kind], folder / "unusual" / world["good"][kind].name)
    out = tmp_path / "run"
    # 12 steps of batch 4 draw 48 crops: (almost) every file is met, broken ones are skipped and counted
    rc, stdout, err = run_cli(["train-style", "--style", str(world["photo"]), "--content-dir", str(folder), "--channels", "8",
                            "--size", "32", "--batch-size", "4", "--steps", "12", "--checkpoint-every", "100",
                            "--sample-every", "100", *LAYERS, "--out", str(out)] + FAST, capsys)
    assert rc == 0, err
    assert err == ""
    line = [ln for ln in stdout.splitlines() if "unreadable" in ln]
    assert len(line) == 1, stdout
    skipped = int(line[0].split("skipped ")[1].split()[0])
    assert 1 <= skipped <= broken, line
    assert "upscaled" in stdout and "smaller than the 32 px crop" in stdout
    assert (out / "model.pt").is_file()

    from texnet.io.data import ContentFolder

    data = ContentFolder(folder, 32)
    for i in range(len(data)):
        data._load(i)
    assert data.skipped == broken  # every broken file is counted, once
    assert len(data.upscaled) >= 2  # the 1- and 4-pixel photos


def test_content_folder_with_zero_readable_images(world, tmp_path, capsys):
    folder = tmp_path / "nothing_readable"
    folder.mkdir()
    for kind in ("empty", "text_with_png_extension", "truncated_png", "truncated_jpeg", "svg_unsupported",
                 "random_bytes_jpg", "decompression_bomb"):
        if world["bad"][kind].suffix.lower() in (".svg", ".pdf"):
            continue  # not an image extension: not even found
        shutil.copyfile(world["bad"][kind], folder / world["bad"][kind].name)
    out = tmp_path / "run"
    rc, stdout, err = run_cli(["train-style", "--style", str(world["photo"]), "--content-dir", str(folder), "--size", "32",
                            "--steps", "1", "--out", str(out)] + FAST, capsys)
    assert rc == 1
    line = one_line(err)
    assert "none of the 6 image files could be read" in line and str(folder) in line
    assert _no_outputs(out)
    # a folder with no image files at all, and a file given as the folder
    for target, expect in ((tmp_path / "empty_folder", "no images found"), (world["photo"], "expected a folder")):
        if target.suffix == "":
            target.mkdir()
        rc, stdout, err = run_cli(["train-style", "--style", str(world["photo"]), "--content-dir", str(target), "--size", "32",
                                "--steps", "1", "--out", str(tmp_path / "run2")] + FAST, capsys)
        assert rc == 1 and expect in one_line(err)


# --------------------------------------------------------------------------- fuzzed image bytes


def test_fuzzed_image_bytes_decode_or_raise_image_error():
    """Seeded byte flips, insertions and truncations of PNG/JPEG/GIF/TIFF/BMP/WEBP files: decoded, or ImageError."""
    a = _photo(24, 32)
    seeds = {}
    for fmt, kw in [("PNG", {}), ("JPEG", {"quality": 80}), ("GIF", {}), ("TIFF", {}), ("BMP", {}), ("WEBP", {})]:
        buf = io.BytesIO()
        Image.fromarray(a).save(buf, format=fmt, **kw)
        seeds[fmt] = buf.getvalue()
    exif = Image.Exif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="JPEG", exif=exif)
    seeds["JPEG+EXIF"] = buf.getvalue()
    rng = random.Random(20170102)
    decoded = refused = 0
    for _ in range(300):
        name = rng.choice(sorted(seeds))
        data = bytearray(seeds[name])
        how = rng.choice(["flip", "insert", "truncate"])
        if how == "truncate":
            data = data[: rng.randrange(1, len(data))]
        for _ in range(rng.randint(1, 6) if how != "truncate" else 0):
            i = rng.randrange(len(data))
            if how == "flip":
                data[i] = rng.randrange(256)
            else:
                data[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        try:
            x = decode_image(bytes(data), name=f"fuzzed-{name}", max_pixels=10_000_000)
        except ImageError as exc:
            assert "\n" not in str(exc) and "fuzzed-" in str(exc)
            refused += 1
        else:
            assert x.ndim == 3 and x.shape[2] == 3 and x.dtype == np.float32
            decoded += 1
    assert decoded > 0 and refused > 0


# --------------------------------------------------------------------------- invalid options, before any work


INVALID = [
    # (argv, exit code) — 2: argparse usage error (not a value of the flag's type), 1: a ConfigError from validation
    (["train-texture", "--size", "-4"], 1), (["train-texture", "--size", "8"], 1),
    (["train-texture", "--size", "32x48"], 2), (["train-texture", "--size", "30"], 1),
    (["train-texture", "--generator", "v2", "--size", "48"], 1), (["train-texture", "--batch-size", "0"], 1),
    (["train-texture", "--batch-size", "-2"], 1), (["train-texture", "--diversity", "-0.1"], 1),
    (["train-texture", "--diversity", "nan"], 1), (["train-texture", "--diversity", "0.1", "--batch-size", "1"], 1),
    (["train-texture", "--lr", "0"], 1), (["train-texture", "--lr", "-1"], 1), (["train-texture", "--lr", "nan"], 1),
    (["train-texture", "--lr-decay", "0"], 1), (["train-texture", "--diversity-eps", "0"], 1),
    (["train-texture", "--diversity-eps", "nan"], 1), (["train-texture", "--steps", "0"], 1),
    (["train-texture", "--checkpoint-every", "0"], 1), (["train-texture", "--scales", "0"], 1),
    (["train-texture", "--scales", "9"], 1), (["train-texture", "--texture-size", "8"], 1),
    (["train-texture", "--seed", str(2**70)], 1), (["train-texture", "--tv-weight", "-1"], 1),
    (["train-texture", "--texture-layers", "relu9_9"], 1), (["train-texture", "--texture-layers", "relu1_1:-1"], 1),
    (["train-texture", "--device", "tpu"], 1),
    (["train-style", "--noise-channels", "-1"], 1), (["train-style", "--size", "8"], 1),
    (["train-style", "--diversity", "0.1", "--batch-size", "1", "--noise-channels", "1"], 1),
    (["train-style", "--content-weight", "-1"], 1),
    (["optimize", "--size", "0"], 1), (["optimize", "--size", "-3"], 1), (["optimize", "--size", "1x100"], 1),
    (["optimize", "--steps", "0"], 1), (["optimize", "--lr", "-1"], 1), (["optimize", "--texture-size", "3"], 1),
    (["optimize", "--batch-size", "0"], 1), (["optimize", "--seed", "-" + str(2**70)], 1),
    (["demo", "--size", "4"], 1), (["demo", "--steps", "0"], 1),
]


def _base(command: str, world) -> list:
    return {
        "train-texture": ["train-texture", "--texture", str(world["photo"]), "--generator", "v1", "--scales", "3",
                          "--size", "32", "--batch-size", "2", "--steps", "1", *LAYERS],
        "train-style": ["train-style", "--style", str(world["photo"]), "--content-dir", str(world["content"]),
                        "--channels", "8", "--size", "32", "--batch-size", "2", "--steps", "1", *LAYERS],
        "optimize": ["optimize", "--texture", str(world["photo"]), "--size", "32", "--steps", "1", *LAYERS],
        "demo": ["demo", "--steps", "1"],
    }[command]


@pytest.mark.parametrize("extra,code", INVALID, ids=[" ".join(a) for a, _ in INVALID])
def test_invalid_option_values_are_rejected_before_any_work(world, capsys, monkeypatch, extra, code):
    """No image is decoded, no loss network built, no output folder created."""
    import texnet.io.images
    import texnet.paper.loss_network

    def tripwire(*a, **k):
        raise AssertionError("work started before the options were checked")

    monkeypatch.setattr(texnet.io.images, "decode_image", tripwire)
    monkeypatch.setattr(texnet.paper.loss_network.LossNetwork, "__init__", tripwire)
    out = _out(world)
    argv = _base(extra[0], world) + extra[1:] + ["--out", str(out)] + ["--quiet"]
    if extra[0] != "demo":
        argv += ["--device", "cpu"] if "--device" not in extra else []
    rc, stdout, err = run_cli(argv, capsys)
    assert rc == code, err
    line = one_line(err)
    assert "error" in line
    assert not out.exists()


@pytest.mark.parametrize("argv", [["sample", "--size", "0"], ["sample", "-n", "0"], ["sample", "--batch-size", "0"],
                                  ["sample", "--seed", str(2**64)], ["stylize", "IMG", "--size", "0"],
                                  ["evaluate", "-n", "0"], ["evaluate", "--size", "30"]])
def test_invalid_inference_options_are_one_line(world, capsys, argv):
    out = _out(world)
    model = world["style_model"] if argv[0] == "stylize" else world["texture_model"]
    argv = [str(world["photo"]) if a == "IMG" else a for a in argv]
    rc, stdout, err = run_cli(argv + ["--model", str(model), "--out", str(out), "--device", "cpu"], capsys)
    assert rc in (1, 2)
    assert "error" in one_line(err)
    assert _no_outputs(out)


@pytest.mark.parametrize("option,kind", [("--style", "missing"), ("--style", "truncated_png"),
                                         ("--style", "decompression_bomb"), ("--texture", "folder"),
                                         ("--texture", "empty"), ("--content-dir", "no images"),
                                         ("--content-dir", "none readable")])
def test_reproduce_bad_inputs_are_one_line(world, capsys, tmp_path, option, kind):
    """`texnet reproduce` reads a style, a texture and a content folder too (smoke profile)."""
    if kind == "no images":
        path = tmp_path / "empty_folder"
        path.mkdir()
        expect = "no images found"
    elif kind == "none readable":
        path = tmp_path / "broken_photos"
        path.mkdir()
        shutil.copyfile(world["bad"]["truncated_jpeg"], path / "a.jpg")
        shutil.copyfile(world["bad"]["text_with_png_extension"], path / "b.png")
        expect = "could be read"
    else:
        path, expect = world["bad"][kind], BAD[kind]
    out = tmp_path / "report"
    rc, stdout, err = run_cli(["reproduce", "--profile", "smoke", option, str(path), "--out", str(out), "--device", "cpu",
                            "--quiet"], capsys)
    assert rc == 1, err
    line = one_line(err)
    assert line.startswith("texnet: error:") and _says(line, expect) and path.name in line, line


# --------------------------------------------------------------------------- decoding bounded before the pixels


def test_a_huge_png_that_would_not_fit_in_memory_is_refused_before_decoding(tmp_path, monkeypatch, capsys):
    """--max-pixels 500000000 on a 20000² PNG resized to 64 px: the decode would take 1.5 GiB in Pillow (more
    than this test says is available): refused in one line from the header, before any pixel is decoded."""
    import texnet.io.memory as memory

    big = tmp_path / "huge.png"
    big.write_bytes(_png_header_only(20000, 20000))
    monkeypatch.setattr(memory, "available_memory", lambda: 512 << 20)
    with pytest.raises(ImageError) as info:
        load_image(big, size=64, max_pixels=500_000_000)
    text = str(info.value)
    assert "huge.png" in text and "20000x20000" in text and "memory available" in text and "\n" not in text
    rc, _, err = run_cli(["optimize", "--texture", big, "--size", "64", "--steps", "1", "--max-pixels", "500000000",
                          "--out", tmp_path / "run", *LAYERS, *FAST], capsys)
    assert rc == 1 and "memory available" in one_line(err)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_a_large_image_resized_small_is_decoded_reduced(tmp_path, fmt):
    """An 18-megapixel file loaded at --size 64: JPEG decoded at 1/8 scale (draft), PNG decoded in 8 bits and
    box-reduced before any float copy. The old path held ~40 bytes a pixel (Pillow, float32 array, its /255
    copy, the CHW tensor: ~700 MB); peak memory now stays far under that, in a fresh process."""
    path = tmp_path / f"big.{fmt.lower()}"
    yy, xx = np.mgrid[0:3000, 0:6000]
    a = np.stack([(xx // 7) % 256, (yy // 5) % 256, ((xx + yy) // 11) % 256], -1).astype(np.uint8)
    Image.fromarray(a).save(path, format=fmt, **({"quality": 90} if fmt == "JPEG" else {"compress_level": 1}))
    del a, yy, xx
    code = ("import resource, sys\n"
            "from texnet.io.images import load_image\n"
            "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
            "x = load_image(sys.argv[1], size=64)\n"
            "after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
            "print(tuple(x.shape), (after - before) // 1024)\n")
    proc = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, env=child_env(),
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    shape, grown_mb = proc.stdout.split(")")[0] + ")", int(proc.stdout.split(")")[1])
    assert shape == "(1, 3, 32, 64)", proc.stdout
    assert grown_mb < (40 if fmt == "JPEG" else 160), proc.stdout  # PNG: 72 MB of 8-bit pixels in Pillow


def test_reduced_decoding_matches_the_full_decode_closely(tmp_path):
    """The reduced path changes how pixels are gathered, not the picture: at 64 px the two agree within a few
    levels of 255 (the box pre-reduction keeps >= 2x the target, the antialiased resize does the rest)."""
    import texnet.io.images as images

    path = tmp_path / "big.png"
    yy, xx = np.mgrid[0:4200, 0:4200]
    a = np.stack([128 + 127 * np.sin(xx / 90.0), 128 + 127 * np.cos(yy / 70.0), (xx + yy) * (255 / 8400)], -1)
    Image.fromarray(a.astype(np.uint8)).save(path, compress_level=1)  # a photo's scale of detail
    reduced = images.load_image(path, size=64)
    full = images.resize(images.to_tensor(images.read_image(path)), 64)
    assert reduced.shape == full.shape == (1, 3, 64, 64)
    assert float((reduced - full).abs().mean()) < 3 / 255
