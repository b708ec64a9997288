"""Images in and out: every Pillow mode, EXIF, bad files, resizing, sizes, saving, grids."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image, ImageFont

from conftest import rgb_array
from texnet.errors import ImageError, TexnetError
from texnet.io.images import load_image, make_grid, parse_size, read_image, resize, save_image


# --------------------------------------------------------------------------- reading modes


def test_read_rgb_png_exact(write_image):
    a = rgb_array(16, 24)
    x = read_image(write_image("rgb.png", a))
    assert x.dtype == np.float32 and x.shape == (16, 24, 3)
    np.testing.assert_array_equal(np.round(x * 255).astype(np.uint8), a)
    assert x.min() >= 0.0 and x.max() <= 1.0


def test_read_rgba_composites_transparent_pixels_onto_white(write_image):
    a = np.zeros((2, 3, 4), np.uint8)
    a[..., 0] = 255  # pure red ...
    a[..., 3] = 255  # ... opaque
    a[0, 0, 3] = 0  # fully transparent red pixel
    a[1, 1, 3] = 128  # half transparent
    x = read_image(write_image("rgba.png", a, "RGBA"))
    assert x.shape == (2, 3, 3)
    np.testing.assert_allclose(x[0, 0], [1.0, 1.0, 1.0])  # white, not red, not black
    np.testing.assert_allclose(x[0, 1], [1.0, 0.0, 0.0])
    alpha = 128 / 255
    np.testing.assert_allclose(x[1, 1], [1.0, 1 - alpha, 1 - alpha], atol=1e-6)


def test_read_greyscale_becomes_rgb(write_image):
    a = np.array([[0, 64], [128, 255]], np.uint8)
    x = read_image(write_image("grey.png", a, "L"))
    assert x.shape == (2, 2, 3)
    for c in range(3):
        np.testing.assert_allclose(x[..., c], a / 255.0, atol=1e-7)


def test_read_la_composites_onto_white(write_image):
    grey = np.full((1, 2), 50, np.uint8)
    alpha = np.array([[0, 255]], np.uint8)
    x = read_image(write_image("la.png", np.stack([grey, alpha], -1), "LA"))
    np.testing.assert_allclose(x[0, 0], [1, 1, 1])
    np.testing.assert_allclose(x[0, 1], [50 / 255] * 3, atol=1e-7)


def _palette_image():
    idx = np.array([[0, 1, 2, 0]] * 3, np.uint8)
    im = Image.fromarray(idx, "P")
    im.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * (256 * 3 - 9))
    return im


def test_read_palette_without_transparency(write_image):
    path = write_image("pal.png", _palette_image())
    assert Image.open(path).mode == "P"
    x = read_image(path)
    np.testing.assert_allclose(x[0], [[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 0, 0]])


def test_read_palette_with_transparency_index_becomes_white(write_image):
    path = write_image("palt.png", _palette_image(), transparency=1)  # green index is transparent
    with Image.open(path) as im:
        assert im.mode == "P" and im.info.get("transparency") == 1
    x = read_image(path)
    np.testing.assert_allclose(x[0], [[1, 0, 0], [1, 1, 1], [0, 0, 1], [1, 0, 0]])


@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_read_transparent_colour_key_becomes_white(write_image, mode):
    if mode == "RGB":
        a = np.array([[[255, 0, 0], [0, 0, 255]]], np.uint8)
        path = write_image("key_rgb.png", a, transparency=(255, 0, 0))
    else:
        a = np.array([[10, 200]], np.uint8)
        path = write_image("key_l.png", a, "L", transparency=10)
    with Image.open(path) as im:
        assert im.mode == mode and "transparency" in im.info
        assert np.asarray(im.convert("RGBA"))[0, 0, 3] == 0  # Pillow itself sees the pixel as transparent
    x = read_image(path)
    np.testing.assert_allclose(x[0, 0], [1.0, 1.0, 1.0])


@pytest.mark.parametrize("ext", ["jpg", "tif"])
def test_read_cmyk(write_image, ext):
    im = Image.new("CMYK", (5, 4), (0, 255, 255, 0))  # no cyan, full magenta + yellow = red
    path = write_image(f"cmyk.{ext}", im)
    with Image.open(path) as check:
        assert check.mode == "CMYK"
    x = read_image(path)
    assert x.shape == (4, 5, 3)
    np.testing.assert_allclose(x.mean(axis=(0, 1)), [1.0, 0.0, 0.0], atol=0.02)


def test_read_16bit_png_keeps_precision(write_image):
    a = np.full((3, 4), 1000, np.uint16)
    a[0, 0] = 1001
    a[2, 3] = 65535
    path = write_image("deep.png", a)
    with Image.open(path) as im:
        assert im.mode.startswith("I")  # a real 16-bit greyscale PNG
    x = read_image(path)
    assert x.shape == (3, 4, 3)
    assert x[1, 1, 0] == pytest.approx(1000 / 65535, rel=1e-6)
    # 8-bit rounding would give 4/255 = 0.0157; the 16-bit value is 0.01526
    assert abs(x[1, 1, 0] - round(1000 / 65535 * 255) / 255) > 1e-4
    assert x[0, 0, 0] > x[1, 1, 0]  # 1001 vs 1000 distinguishable
    assert x[2, 3, 0] == pytest.approx(1.0)


def test_read_16bit_png_dark_image_not_mistaken_for_8bit(write_image):
    a = np.full((2, 2), 200, np.uint16)  # all values < 256
    x = read_image(write_image("dark16.png", a))
    assert x[0, 0, 0] == pytest.approx(200 / 65535, rel=1e-6)


@pytest.mark.parametrize("orientation", [6, 8])
def test_exif_orientation_is_applied(write_image, orientation):
    # 40 wide, 20 high; left half red, right half blue
    a = np.zeros((20, 40, 3), np.uint8)
    a[:, :20, 0] = 255
    a[:, 20:, 2] = 255
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = write_image(f"o{orientation}.jpg", a, exif=exif, quality=95)
    with Image.open(path) as im:
        assert im.size == (40, 20) and im.getexif().get(0x0112) == orientation
    x = read_image(path)
    assert x.shape == (40, 20, 3)  # rotated: now 40 high, 20 wide
    top, bottom = x[:10].mean(axis=(0, 1)), x[-10:].mean(axis=(0, 1))
    if orientation == 6:  # rotate 90 deg clockwise: the left (red) half goes to the top
        assert top[0] > 0.8 and bottom[2] > 0.8
    else:  # rotate 90 deg counter-clockwise: the left (red) half goes to the bottom
        assert bottom[0] > 0.8 and top[2] > 0.8


def test_non_ascii_file_name(write_image):
    path = write_image("ünïcødé 图像 текстура.png", rgb_array(8, 8))
    x = read_image(path)
    assert x.shape == (8, 8, 3)
    assert load_image(str(path)).shape == (1, 3, 8, 8)


def test_sample_images_resolve_offline():
    x = load_image("sample:brick")
    assert x.shape == (1, 3, 512, 512)
    with pytest.raises(ImageError, match="unknown sample image"):
        load_image("sample:no_such_sample")


# --------------------------------------------------------------------------- errors


def _assert_one_line_naming(exc_info, path):
    msg = str(exc_info.value)
    assert "\n" not in msg
    assert str(path) in msg or path.name in msg


@pytest.mark.parametrize("kind", ["missing", "empty", "text", "truncated_png", "truncated_jpeg"])
def test_unreadable_files_raise_one_line_image_error(bad_images, kind):
    path = bad_images[kind]
    with pytest.raises(ImageError) as info:
        read_image(path)
    _assert_one_line_naming(info, path)
    with pytest.raises(ImageError):
        load_image(str(path), size=32)


def test_directory_is_refused(tmp_path):
    folder = tmp_path / "looks_like.png"
    folder.mkdir()
    with pytest.raises(ImageError, match="folder") as info:
        read_image(folder)
    _assert_one_line_naming(info, folder)


def test_pixel_limit(write_image):
    path = write_image("big.png", rgb_array(20, 30))
    with pytest.raises(ImageError, match="exceeds the limit") as info:
        read_image(path, max_pixels=599)
    _assert_one_line_naming(info, path)
    assert read_image(path, max_pixels=600).shape == (20, 30, 3)  # exactly at the limit is fine


# --------------------------------------------------------------------------- resize / sizes


def test_resize_downscale_is_antialiased():
    checker = torch.from_numpy((np.indices((64, 64)).sum(0) % 2).astype(np.float32))
    x = checker.expand(1, 3, 64, 64).contiguous()
    y = resize(x, 13)  # non-integer factor: a plain bicubic resample aliases (values near 0 and 1)
    assert y.shape == (1, 3, 13, 13)
    assert (y - 0.5).abs().max() < 0.02


def test_resize_keeps_aspect_and_exact_size():
    x = torch.rand(1, 3, 30, 60)
    assert resize(x, 20).shape == (1, 3, 10, 20)
    assert resize(x, (10, 7)).shape == (1, 3, 10, 7)
    assert resize(x, None) is x
    y = resize(torch.rand(1, 3, 40, 40) * 3 - 1, 16)
    assert y.min() >= 0 and y.max() <= 1


def test_load_image_size_long_side(write_image):
    path = write_image("wide.png", rgb_array(30, 60))
    assert load_image(str(path), size=32).shape == (1, 3, 16, 32)


@pytest.mark.parametrize(
    "text, expected",
    [("256", 256), ("384x256", (256, 384)), ("384X256", (256, 384)), (" 64 ", 64), (None, None), (48, 48)],
)
def test_parse_size(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "abc", "0", "-5", "3.5", "256x", "x256", "0x10", "10x-3", "1x2x3"])
def test_parse_size_rejects_bad_strings(text):
    with pytest.raises(TexnetError) as info:
        parse_size(text)
    assert "\n" not in str(info.value)


# --------------------------------------------------------------------------- save / grid


def test_save_png_round_trip_is_exact(tmp_path):
    x = torch.from_numpy(rgb_array(12, 20).astype(np.float32) / 255).permute(2, 0, 1)
    path = save_image(x, tmp_path / "out.png")
    assert path.exists()
    y = load_image(str(path))
    assert y.shape == (1, 3, 12, 20)
    torch.testing.assert_close(y[0], x, atol=1e-6, rtol=0)
    assert not list(tmp_path.glob("*.tmp"))  # atomic write leaves no temp files


def test_save_jpeg_round_trip_is_close(tmp_path):
    yy, xx = np.mgrid[0:32, 0:32] / 31.0
    x = torch.from_numpy(np.stack([yy, xx, 1 - yy], 0).astype(np.float32))  # smooth: JPEG-friendly
    path = save_image(x.unsqueeze(0), tmp_path / "out.jpg")
    with Image.open(path) as im:
        assert im.format == "JPEG"
    y = load_image(str(path))[0]
    assert (y - x).abs().mean() < 0.02


def test_save_unsupported_extension(tmp_path):
    with pytest.raises(TexnetError, match="unsupported output extension"):
        save_image(torch.rand(3, 8, 8), tmp_path / "out.xyz")
    assert not (tmp_path / "out.xyz").exists()


def test_make_grid_size():
    imgs = [torch.rand(3, 32, 32), torch.rand(3, 20, 40), torch.rand(3, 32, 32)]
    g = make_grid(imgs, ncol=2, pad=4)
    assert g.size == (2 * 40 + 3 * 4, 2 * 32 + 3 * 4)
    g = make_grid(imgs, captions=["a", "b", "c"], pad=2)
    assert g.size == (3 * 40 + 4 * 2, 32 + 14 + 2 * 2)
    with pytest.raises(ValueError):
        make_grid([])


def test_captions_draw_greek_letters():
    # Pillow's built-in fonts have no λ (it comes out as a "missing glyph" box or "?"); the caption font,
    # matplotlib's DejaVu Sans, must have a real glyph for it.
    from texnet.io.images import caption_font

    font = caption_font()
    assert isinstance(font, ImageFont.FreeTypeFont) and font.path.endswith("DejaVuSans.ttf")
    missing = bytes(font.getmask("\ue000"))  # a private-use code point: no font has it
    assert bytes(font.getmask("λ")) != missing
    grid = make_grid([torch.ones(3, 16, 40)], captions=["λ=0.03"])
    assert grid.convert("L").getextrema()[0] < 128  # the caption is drawn (dark pixels on white)
