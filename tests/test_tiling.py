"""Inference at any size within a budget: tiles and bands give the one-piece image; noise ignores the tiling.

Tiny untrained networks at 32-200 px: exactness is a property of the
arithmetic (windows with halos, global statistics, coordinate noise), not of
the weights. Outputs are uint8; 1 level of difference is float rounding at a
.5 boundary.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from texnet.io.bigimage import PngStreamWriter, read_rgb_uint8, save_png_uint8
from texnet.errors import ConfigError, TexnetError
from texnet.paper.generators import StyleNet, TextureNetV1, TextureNetV2
from texnet.render.tile_noise import axis_indices, hash_normal, v1_noise
from texnet.render.plan import parse_bytes, plan_tiles
from texnet.render.tiling import tiled_sample, tiled_stylize, untiled_reference

MiB = 2**20


def _u8(y: torch.Tensor) -> np.ndarray:
    return (y[0].clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy().astype(int)


def _diff(a, b) -> int:
    return int(np.abs(np.asarray(a, dtype=int) - np.asarray(b, dtype=int)).max())


@pytest.fixture(scope="module")
def style():
    torch.manual_seed(0)
    return StyleNet(channels=4, noise_channels=1, residual_blocks=2).eval()


@pytest.fixture(scope="module")
def photo():
    torch.manual_seed(1)
    return torch.rand(1, 3, 75, 106)  # odd sizes on purpose


# --------------------------------------------------------------------------- noise


def test_hash_noise_does_not_depend_on_the_window():
    big = hash_normal(7, 2, axis_indices(0, 64), axis_indices(0, 80))
    part = hash_normal(7, 2, axis_indices(13, 20), axis_indices(31, 17))
    assert torch.equal(part, big[13:33, 31:48])
    wrapped = hash_normal(7, 2, axis_indices(-3, 10, 64), axis_indices(75, 10, 80))
    assert torch.equal(wrapped[3:, :5], big[:7, 75:80]) and torch.equal(wrapped[:3, 5:], big[61:, :5])


def test_hash_noise_is_standard_normal_and_depends_on_seed_and_plane():
    z = hash_normal(0, 0, axis_indices(0, 512), axis_indices(0, 512))
    assert abs(float(z.mean())) < 0.01 and abs(float(z.std()) - 1) < 0.01
    assert abs(float((z[:, 1:] * z[:, :-1]).mean())) < 0.01 and abs(float((z[1:] * z[:-1]).mean())) < 0.01
    assert abs(float((z > 1.96).float().mean()) - 0.025) < 0.003
    other_seed = hash_normal(1, 0, axis_indices(0, 512), axis_indices(0, 512))
    other_plane = hash_normal(0, 1, axis_indices(0, 512), axis_indices(0, 512))
    assert abs(float((z * other_seed).mean())) < 0.01 and abs(float((z * other_plane).mean())) < 0.01


def test_hash_noise_is_finite_at_every_24_bit_level():
    """The extreme levels map to |z| <= 5.5, never inf (the top one used to round to u = 1: erfinv(1) = inf)."""
    from texnet.render.tile_noise import bits_to_normal

    levels = torch.tensor([0, 1, 2**23, 2**24 - 2, 2**24 - 1], dtype=torch.int32)
    z = bits_to_normal(levels << 8)
    assert bool(torch.isfinite(z).all()) and float(z.abs().max()) < 5.5
    assert float(z[0]) < -5 and float(z[-1]) > 5 and float(z[-2]) < float(z[-1])


def test_v1_noise_windows_are_scaled_crops_of_the_full_noise():
    full = v1_noise(3, 3, 2, 0, 0, 32, 48, (32, 48), circular=True)
    part = v1_noise(3, 3, 2, 8, 16, 16, 16, (32, 48), circular=True)
    for k, (f, p) in enumerate(zip(full, part)):
        s = 2 ** (2 - k)
        assert torch.equal(p, f[..., 8 // s:24 // s, 16 // s:32 // s])


# --------------------------------------------------------------------------- StyleNet


def test_one_piece_stylize_equals_the_reference_at_the_input_size(style, photo):
    info = {}
    y = tiled_stylize(style, photo, seed=5, info=info)
    assert info["mode"] == "single" and y.shape == (75, 106, 3) and y.dtype == np.uint8
    assert _diff(y, _u8(untiled_reference(style, 5, image=photo))) <= 1


@pytest.mark.parametrize("tile", [16, 40, (24, 60)])
def test_tiles_with_full_resolution_statistics_equal_the_one_piece_image(style, photo, tile):
    info = {}
    y = tiled_stylize(style, photo, seed=5, tile=tile, stats_pixels=10**9, info=info)
    assert info["mode"] == "tiled" and info["tiles"][0] * info["tiles"][1] > 1
    assert _diff(y, _u8(untiled_reference(style, 5, image=photo))) <= 1  # no seams, same noise


def test_exact_banded_mode_equals_the_one_piece_image(style, photo):
    probe = {}
    tiled_stylize(style, photo, seed=5, info=probe)
    single, exact = probe["estimates"]["single"], probe["estimates"]["exact"]
    assert exact < single  # the banded executor needs less memory than one forward
    info = {}
    y = tiled_stylize(style, photo, seed=5, max_memory=(single + exact) // 2, info=info)
    assert info["mode"] == "exact"
    assert _diff(y, _u8(untiled_reference(style, 5, image=photo))) <= 1


def test_frozen_statistics_do_not_depend_on_the_tiling(style, photo):
    """Approximate (reduced-resolution) statistics are the same for every tile, so any tiling gives one image."""
    a = tiled_stylize(style, photo, seed=5, tile=24, stats_pixels=40 * 50)
    b = tiled_stylize(style, photo, seed=5, tile=(48, 32), stats_pixels=40 * 50)
    assert _diff(a, b) <= 1


def test_uint8_arrays_files_and_tensors_give_the_same_image(style, tmp_path):
    rgb = (np.random.default_rng(0).random((41, 30, 3)) * 255).astype(np.uint8)
    Image.fromarray(rgb).save(tmp_path / "in.png")
    from_array = tiled_stylize(style, rgb, seed=1)
    from_file = tiled_stylize(style, str(tmp_path / "in.png"), seed=1)
    from_tensor = tiled_stylize(style, torch.from_numpy(rgb).permute(2, 0, 1).float() / 255, seed=1)
    assert _diff(from_array, from_file) == 0 and _diff(from_array, from_tensor) <= 1


def test_png_output_is_streamed_and_equals_the_array(style, photo, tmp_path):
    y = tiled_stylize(style, photo, seed=2, tile=32, stats_pixels=10**9)
    path = tiled_stylize(style, photo, seed=2, tile=32, stats_pixels=10**9, out=tmp_path / "o.png")
    assert _diff(np.asarray(Image.open(path)), y) == 0
    assert not list(tmp_path.glob(".*part"))  # the temporary file was renamed into place


# --------------------------------------------------------------------------- TextureNetV1


@pytest.mark.parametrize("padding", ["circular", "reflect"])
@pytest.mark.parametrize("size,tile", [((64, 96), 32), ((50, 71), 32), ((96, 64), (32, 64))])
def test_v1_tiles_equal_the_one_piece_texture(padding, size, tile):
    torch.manual_seed(2)
    g = TextureNetV1(scales=3, channels=4, padding=padding).eval()
    ref = _u8(untiled_reference(g, 9, size=size))
    y = tiled_sample(g, size, seed=9, tile=tile, stats_pixels=10**9)
    assert y.shape == (*size, 3) and _diff(y, ref) <= 1
    assert _diff(tiled_sample(g, size, seed=9), ref) <= 1  # one piece
    assert _diff(tiled_sample(g, size, seed=10), ref) > 10  # the seed matters


def test_v1_reduced_statistics_run_and_keep_the_size():
    g = TextureNetV1(scales=3, channels=4).eval()
    info = {}
    y = tiled_sample(g, (100, 90), seed=0, tile=32, stats_pixels=48 * 48, info=info)
    assert y.shape == (100, 90, 3) and info["stats_size"] == [48, 48] and info["stats_passes"] == 1
    y = tiled_sample(g, (256, 256), seed=0, tile=64, stats_pixels=64 * 64, info=info)
    assert info["stats_passes"] == 9  # a window per quarter of the side: a 3x3 grid of 64² windows, pooled


def test_statistics_pooled_over_several_images_are_those_of_all_of_them():
    """Recording two equal-size images gives the statistics of both together (what tiled V1 freezes)."""
    from texnet.paper.normalization import InstanceNorm2d
    from texnet.render.tile_norm import StatsNorm, set_mode

    torch.manual_seed(3)
    norm = StatsNorm(InstanceNorm2d(4))
    a, b = torch.randn(1, 4, 8, 6) * 2 + 1, torch.randn(1, 4, 8, 6) - 3
    set_mode([norm], "record")
    norm(a), norm(b)
    both = torch.cat([a, b], 3)
    assert torch.allclose(norm.mean, both.mean((0, 2, 3)), atol=1e-5)
    assert torch.allclose(norm.var, both.var((0, 2, 3), unbiased=False), atol=1e-4)
    set_mode([norm], "record")  # a new recording starts afresh
    norm(a)
    assert torch.allclose(norm.mean, a.mean((0, 2, 3)), atol=1e-5)


# --------------------------------------------------------------------------- budgets and errors


def test_the_budget_chooses_tiles_that_fit():
    plans = [plan_tiles((4000, 3000), (4000, 3000), 4, 60, False, 300.0, b * MiB, 40 * MiB) for b in (256, 1024)]
    for plan, b in zip(plans, (256, 1024)):
        assert plan.window_bytes(plan.max_window_pixels()) + plan.fixed_bytes <= b * MiB
        assert plan.rows[-1][1] == 4000 and plan.cols[-1][1] == 3000
    assert plans[0].n_tiles > plans[1].n_tiles >= 1


def test_a_budget_too_small_is_one_config_error_before_anything_is_written(style, photo, tmp_path):
    out = tmp_path / "never.png"
    with pytest.raises(ConfigError) as info:
        tiled_stylize(style, photo, max_memory="100K", out=out)
    assert "max_memory" in str(info.value) and "\n" not in str(info.value)
    assert not out.exists() and not list(tmp_path.iterdir())
    with pytest.raises(ConfigError, match="tile"):
        tiled_stylize(style, photo, tile=64, max_memory=300_000)
    with pytest.raises(ConfigError, match="mode"):
        tiled_stylize(style, photo, mode="fast")
    with pytest.raises(ConfigError, match="does not exist"):
        tiled_stylize(style, photo, out=tmp_path / "no" / "x.png")


def test_dry_run_plans_without_writing(style, photo, tmp_path):
    info = tiled_stylize(style, photo, max_memory=4 * MiB, tile=16, out=tmp_path / "o.png", dry_run=True)
    assert info["mode"] == "tiled" and info["estimate"] <= 4 * MiB and not list(tmp_path.iterdir())
    with pytest.raises(ConfigError):
        tiled_sample(TextureNetV1(scales=2, channels=2), 4096, max_memory="10M", dry_run=True)


def test_wrong_generators_are_refused():
    with pytest.raises(ConfigError, match="TextureNetV1"):
        tiled_sample(TextureNetV2(size=16, hidden=32, base_channels=64), 16)
    with pytest.raises(ConfigError, match="StyleNet"):
        tiled_stylize(TextureNetV1(scales=2), torch.rand(1, 3, 16, 16))


def test_parse_bytes():
    assert parse_bytes("3G") == 3 * 2**30 and parse_bytes("512MiB") == 512 * MiB and parse_bytes(1000) == 1000
    for bad in ("lots", "-1G", 0):
        with pytest.raises(ConfigError):
            parse_bytes(bad)


# --------------------------------------------------------------------------- big images


def test_png_stream_writer_round_trips(tmp_path):
    rgb = (np.random.default_rng(1).random((37, 23, 3)) * 255).astype(np.uint8)
    assert _diff(np.asarray(Image.open(save_png_uint8(rgb, tmp_path / "a.png"))), rgb) == 0
    writer = PngStreamWriter(tmp_path / "b.png", 23, 37)
    writer.write_rows(rgb[:10])
    with pytest.raises(ValueError):
        writer.close()  # rows missing: no file appears
    assert not (tmp_path / "b.png").exists()
    with pytest.raises(TexnetError):
        PngStreamWriter(tmp_path / "c.jpg", 4, 4)


def test_read_rgb_uint8_converts_modes(tmp_path):
    rgba = np.zeros((4, 5, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[:, :2, 3] = 255  # left opaque red, right transparent -> white
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    Image.fromarray(np.full((3, 2), 77, np.uint8), "L").save(tmp_path / "g.png")
    a = read_rgb_uint8(tmp_path / "a.png")
    assert a.shape == (4, 5, 3) and tuple(a[0, 0]) == (200, 0, 0) and tuple(a[0, 4]) == (255, 255, 255)
    assert tuple(read_rgb_uint8(tmp_path / "g.png")[1, 1]) == (77, 77, 77)
    with pytest.raises(TexnetError, match="limit"):
        read_rgb_uint8(tmp_path / "a.png", max_pixels=10)


def test_the_png_band_is_counted_inside_the_budget(tmp_path):
    """Streaming to PNG holds one band of rows; the plan must fit the budget with that band, not beside it."""
    for budget in (24 * MiB, 48 * MiB):
        info = tiled_sample(TextureNetV1(scales=2, channels=2), 4096, max_memory=budget, out=tmp_path / "o.png",
                            dry_run=True)
        assert info["mode"] == "tiled" and info["estimate"] <= budget, (info["tiles"], info["estimate"], budget)
