"""Content photos for stylization training: finding files, random crops, broken files, determinism."""
from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from PIL import Image

from texnet.io.data import IMAGE_EXTENSIONS, ContentFolder, find_images
from texnet.errors import TexnetError


def _photo(path, h=40, w=56, seed=0, fmt=None):
    """A smooth random colour image (gradients plus noise) written with Pillow."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx / max(w - 1, 1), yy / max(h - 1, 1), ((xx + yy) % 17) / 16.0], axis=-1)
    a = np.clip(base * 200 + rng.integers(0, 55, size=(h, w, 3)), 0, 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(a).save(path, format=fmt)
    return path


def _truncated_png(path, seed=3):
    full = _photo(path.with_name("full_" + path.name), 64, 64, seed=seed)
    data = full.read_bytes()
    full.unlink()
    path.write_bytes(data[: len(data) // 2])
    return path


def _text_as_jpg(path):
    path.write_text("this is a shopping list, not a photo\n", encoding="utf-8")
    return path


# --------------------------------------------------------------------------- find_images


def test_find_images_recursive_case_insensitive_sorted_hidden_skipped(tmp_path):
    root = tmp_path / "photos"
    expected = [
        _photo(root / "a.jpg"),
        _photo(root / "B.PNG", fmt="PNG"),
        _photo(root / "c.JpEg", fmt="JPEG"),
        _photo(root / "sub" / "deeper" / "d.webp", fmt="WEBP"),
        _photo(root / "sub" / "e.bmp"),
    ]
    _photo(root / ".hidden.jpg", fmt="JPEG")  # hidden file
    _photo(root / ".cache" / "f.png", fmt="PNG")  # inside a hidden folder
    (root / "notes.txt").write_text("not an image")
    (root / "README").write_text("no extension")
    found = find_images(root)
    assert found == sorted(expected)
    assert all(p.is_file() for p in found)
    # a str works as well as a Path
    assert find_images(str(root)) == found


def test_find_images_follows_symlinked_folders(tmp_path):
    elsewhere = _photo(tmp_path / "elsewhere" / "x.png").parent
    root = tmp_path / "photos"
    _photo(root / "a.png")
    try:
        os.symlink(elsewhere, root / "linked", target_is_directory=True)
    except (OSError, NotImplementedError):
        pytest.skip("symlinks not supported here")
    assert [p.relative_to(root).as_posix() for p in find_images(root)] == ["a.png", "linked/x.png"]


def test_find_images_survives_a_symlink_loop(tmp_path):
    root = tmp_path / "photos"
    _photo(root / "a.png")
    try:
        os.symlink(".", root / "again", target_is_directory=True)
    except (OSError, NotImplementedError):
        pytest.skip("symlinks not supported here")
    found = find_images(root)
    assert len(found) == 1, f"{len(found)} entries for one photo"


def test_find_images_knows_the_common_extensions():
    assert {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"} <= IMAGE_EXTENSIONS


def test_find_images_empty_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "x.txt").write_text("nope")
    with pytest.raises(TexnetError) as info:
        find_images(tmp_path / "empty")
    assert "no images" in str(info.value) and "empty" in str(info.value)


def test_find_images_missing_folder(tmp_path):
    with pytest.raises(TexnetError, match="no such folder"):
        find_images(tmp_path / "nowhere")


def test_find_images_file_instead_of_folder(tmp_path):
    f = _photo(tmp_path / "one.png")
    with pytest.raises(TexnetError, match="folder"):
        find_images(f)


# --------------------------------------------------------------------------- crops


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "content"
    _photo(root / "wide.png", 48, 96, seed=1)
    _photo(root / "tall.jpg", 120, 60, seed=2)
    _photo(root / "sub" / "big.png", 200, 150, seed=3)
    return root


def test_crops_have_the_right_shape_and_range(folder):
    data = ContentFolder(folder, crop=32)
    assert len(data) == 3 and data.skipped == 0
    batch = data.batch(6, torch.Generator().manual_seed(0))
    assert batch.shape == (6, 3, 32, 32) and batch.dtype == torch.float32
    assert float(batch.min()) >= 0.0 and float(batch.max()) <= 1.0
    assert float(batch.std()) > 0.05  # real picture content, not a blank
    one = data.sample(torch.Generator().manual_seed(1))
    assert one.shape == (3, 32, 32)


def test_crops_come_from_the_photos(tmp_path):
    """A folder holding one flat-coloured photo: every crop is that colour."""
    root = tmp_path / "flat"
    root.mkdir()
    Image.new("RGB", (80, 60), (255, 0, 128)).save(root / "flat.png")
    batch = ContentFolder(root, crop=24).batch(3, torch.Generator().manual_seed(0))
    expected = torch.tensor([1.0, 0.0, 128 / 255]).view(1, 3, 1, 1)
    assert torch.allclose(batch, expected.expand_as(batch), atol=2e-3)


def test_tiny_images_are_upscaled_to_the_crop(tmp_path):
    root = tmp_path / "tiny"
    _photo(root / "tiny.png", 10, 12, seed=4)
    data = ContentFolder(root, crop=32)
    batch = data.batch(3, torch.Generator().manual_seed(0))
    assert batch.shape == (3, 3, 32, 32)
    assert float(batch.min()) >= 0.0 and float(batch.max()) <= 1.0
    assert float(batch.std()) > 0.05


def test_same_seed_same_batch_different_seed_different_batch(folder):
    a = ContentFolder(folder, crop=32).batch(4, torch.Generator().manual_seed(5))
    b = ContentFolder(folder, crop=32).batch(4, torch.Generator().manual_seed(5))  # a fresh instance (no cache)
    data = ContentFolder(folder, crop=32)
    data.batch(7, torch.Generator().manual_seed(99))  # history (cache) must not matter
    c = data.batch(4, torch.Generator().manual_seed(5))
    d = data.batch(4, torch.Generator().manual_seed(6))
    assert torch.equal(a, b) and torch.equal(a, c)
    assert (a - d).abs().mean() > 0.01


def test_crops_are_random(folder):
    batch = ContentFolder(folder, crop=32).batch(8, torch.Generator().manual_seed(0))
    diffs = [float((batch[i] - batch[j]).abs().mean()) for i in range(8) for j in range(i + 1, 8)]
    assert min(diffs) > 1e-3  # no two crops identical


def test_large_photos_are_kept_downscaled_in_memory(folder):
    data = ContentFolder(folder, crop=32)
    data.batch(30, torch.Generator().manual_seed(0))
    assert len(data._cache) == 3
    for img in data._cache.values():
        assert img.dtype == torch.uint8 and min(img.shape[-2:]) <= 64


# --------------------------------------------------------------------------- broken files


def test_broken_files_are_skipped_and_counted(folder):
    # sorted first, so they are met while looking for the first readable file
    _text_as_jpg(folder / "0_shopping_list.jpg")
    _truncated_png(folder / "1_cut.png")
    data = ContentFolder(folder, crop=32)
    assert len(data) == 5
    assert data.skipped == 2
    batch = data.batch(20, torch.Generator().manual_seed(0))
    assert batch.shape == (20, 3, 32, 32) and torch.isfinite(batch).all()
    assert data.skipped == 2  # each counted once
    assert len(data.broken_reasons) == 2
    assert any("0_shopping_list.jpg" in r for r in data.broken_reasons)
    assert any("1_cut.png" in r for r in data.broken_reasons)


def test_broken_file_met_later_is_counted_when_drawn(folder):
    _truncated_png(folder / "zz_cut.png")  # sorted last: not touched at construction
    data = ContentFolder(folder, crop=32)
    assert data.skipped == 0
    data.batch(40, torch.Generator().manual_seed(0))  # 4 files, 40 draws: it is drawn
    assert data.skipped == 1


def test_batches_with_broken_files_are_still_deterministic(folder):
    _text_as_jpg(folder / "b_notes.jpg")
    _truncated_png(folder / "sub" / "c_cut.png")
    a = ContentFolder(folder, crop=32).batch(8, torch.Generator().manual_seed(3))
    data = ContentFolder(folder, crop=32)
    data.batch(20, torch.Generator().manual_seed(4))
    b = data.batch(8, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


def test_folder_of_only_broken_files_raises_at_construction(tmp_path):
    root = tmp_path / "broken"
    root.mkdir()
    _text_as_jpg(root / "a.jpg")
    _truncated_png(root / "b.png")
    (root / "c.png").write_bytes(b"")
    with pytest.raises(TexnetError) as info:
        ContentFolder(root, crop=32)
    msg = str(info.value)
    assert "none of the 3" in msg and str(root) in msg
    assert "\n" not in msg
