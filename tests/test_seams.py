"""Seamless textures: the seam score, tile previews, tileable pixel optimization and tileable generators."""
from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from texnet.config import LossConfig, OptimizeConfig
from texnet.errors import ConfigError
from texnet.paper.generators import TextureNetV1, TextureNetV2
from texnet.io.images import load_image, resize
from texnet.build import build_loss
from texnet.optimize import optimize_pixels, run_optimization
from texnet.extras.seams import TILE_METHODS, circular_pad, seam_score, tile_preview, tileable_view


def _smooth_field(h, w, periodic: bool, seed=0):
    """A smooth random image: sinusoids with whole periods across the image (periodic) or not."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij")
    img = torch.zeros(3, h, w, dtype=torch.float64)
    for _ in range(6):
        fy, fx = torch.randint(1, 4, (2,), generator=g).tolist()
        if not periodic:
            fy, fx = fy + 0.37, fx + 0.41
        phase = float(torch.rand((), generator=g)) * 2 * math.pi
        img += torch.rand(3, 1, 1, generator=g, dtype=torch.float64) * torch.cos(2 * math.pi * (fy * yy / h + fx * xx / w) + phase)
    return (0.5 + 0.08 * img).float()


# --------------------------------------------------------------------------- seam score, previews


def test_seam_score_of_a_periodic_image_is_about_one_and_a_cut_scores_high():
    periodic = _smooth_field(40, 56, periodic=True)
    cut = _smooth_field(40, 56, periodic=False)
    assert float(seam_score(periodic)) == pytest.approx(1.0, abs=0.2)
    assert float(seam_score(cut)) > 3.0
    # a circular shift of a periodic image is as seamless; of a cut image it moves the seam inside
    assert float(seam_score(torch.roll(periodic, (7, 11), (-2, -1)))) == pytest.approx(1.0, abs=0.2)


def test_seam_score_is_per_image_and_checks_its_input():
    batch = torch.stack([_smooth_field(32, 32, True), _smooth_field(32, 32, False)])
    s = seam_score(batch)
    assert s.shape == (2,) and float(s[0]) < float(s[1])
    with pytest.raises(ConfigError, match="expected an image"):
        seam_score(torch.rand(3, 2, 2))


def test_seam_score_scores_each_direction_against_itself():
    """Stripes across x only: a clean vertical seam is not hidden by the flat y direction (and vice versa)."""
    x = torch.arange(32, dtype=torch.float32) / 31  # a ramp: its wrap-around jump is 31 steps
    img = x.view(1, 1, 32).expand(3, 32, 32) + 0.01 * torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(0))
    assert float(seam_score(img)) > 5.0


def test_tile_preview_repeats_2x2():
    img = torch.rand(3, 5, 7)
    t = tile_preview(img)
    assert t.shape == (3, 10, 14)
    assert torch.equal(t[:, 5:, 7:], img) and torch.equal(t[:, :5, 7:], img)
    assert tile_preview(img.unsqueeze(0), 3).shape == (1, 3, 15, 21)
    with pytest.raises(ConfigError):
        tile_preview(img, 0)


def test_circular_pad_continues_with_the_opposite_edge():
    x = torch.rand(1, 3, 8, 10)
    p = circular_pad(x, 4)
    assert p.shape == (1, 3, 16, 18)
    assert torch.equal(p[..., 4:12, 4:14], x)
    assert torch.equal(p[..., 4:12, :4], x[..., :, -4:])
    assert torch.equal(tileable_view(x, "pad")[..., 4:12, 5:15], x)  # half the height / width on each side
    assert tileable_view(x, "pad").shape == (1, 3, 16, 20)
    assert tileable_view(x, "shift").shape == x.shape
    assert TILE_METHODS[0] == "pad"


# --------------------------------------------------------------------------- tileable optimization


@pytest.fixture(scope="module")
def smooth_brick_loss():
    """Brick at 1/2 scale, a 96-px crop (smooth at pixel level, so seams are measurable), relu1_1..relu3_1."""
    exemplar = resize(load_image("sample:brick"), 256)[..., :96, :96]
    cfg = LossConfig(texture_layers={"relu1_1": 1.0, "relu2_1": 1.0, "relu3_1": 1.0}, tv_weight=1.0, precision="fp32")
    return build_loss(cfg, exemplar, with_content=False)


def test_tileable_optimization_tiles_and_plain_does_not(smooth_brick_loss, one_thread):
    init = torch.rand(3, 3, 48, 48, generator=torch.Generator().manual_seed(0))
    plain = optimize_pixels(smooth_brick_loss, init, 80, "lbfgs", show_progress=False)
    torch.manual_seed(0)
    tiled = optimize_pixels(smooth_brick_loss, init, 80, "lbfgs", show_progress=False, tileable=True)
    # The seam of a single image varies with what it happens to cross (a mortar line or a flat brick),
    # so the batch mean is compared: measured 2.48 (plain) and 0.39 (tileable).
    plain_seam, tiled_seam = float(seam_score(plain.images).mean()), float(seam_score(tiled.images).mean())
    assert tiled_seam <= 1.2
    assert plain_seam > 1.6
    # the texture is as good as without the constraint (losses of what each optimized)
    assert tiled.final_loss < 1.5 * plain.final_loss
    # and the plain result, seen tiled, is worse than the tileable one seen tiled
    with torch.no_grad():
        seen_tiled = [float(smooth_brick_loss(tileable_view(r.images, "pad"))["total"].mean()) for r in (plain, tiled)]
    assert seen_tiled[1] < seen_tiled[0]


def test_tileable_stylization_is_refused_by_the_config():
    cfg = OptimizeConfig(mode="style", content="sample:chelsea", style="sample:brick", size=32, steps=1, tileable=True)
    with pytest.raises(ConfigError, match="texture synthesis"):
        run_optimization(cfg, log=None, show_progress=False)


def test_run_optimization_passes_tileable_through(one_thread):
    cfg = OptimizeConfig(texture="sample:gravel", size=32, exemplar_size=64, steps=3, optimizer="adam",
                         loss=LossConfig(texture_layers={"relu1_1": 1.0, "relu2_1": 1.0}, precision="fp32"))
    plain = run_optimization(cfg, log=None, show_progress=False)
    tiled = run_optimization(dataclasses.replace(cfg, tileable=True), log=None, show_progress=False)
    assert tiled.images.shape == plain.images.shape
    assert not torch.allclose(tiled.images, plain.images)  # a different objective


# --------------------------------------------------------------------------- tileable generators


def test_v1_with_circular_padding_is_seamless():
    torch.manual_seed(0)
    g = TextureNetV1(scales=4)
    x = g.generate(4, size=64, seed=1)
    assert float(seam_score(x).mean()) <= 1.2


@pytest.mark.parametrize("upsample", ["transposed", "nearest"])
def test_v2_tileable_output_is_periodic(upsample):
    """On a torus: rolling the 4x4 map by one cell rolls the image by size/4, wrapping around (exactly)."""
    torch.manual_seed(0)
    g = TextureNetV2(size=32, hidden=16, base_channels=64, upsample=upsample, tileable=True).eval()
    z = g.sample_noise(2, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        m = g.fc(z).view(-1, g.c0, 4, 4)
        x = g._from_map(m)
        rolled = g._from_map(torch.roll(m, (1, 2), (-2, -1)))
    torch.testing.assert_close(rolled, torch.roll(x, (8, 16), (-2, -1)), atol=1e-5, rtol=0)
    assert float(seam_score(x).mean()) <= 1.2


@pytest.mark.parametrize("upsample", ["transposed", "nearest"])
def test_v2_tileable_shares_weights_and_only_changes_the_borders(upsample):
    torch.manual_seed(0)
    plain = TextureNetV2(size=32, hidden=16, base_channels=64, upsample=upsample).eval()
    tiled = TextureNetV2(size=32, hidden=16, base_channels=64, upsample=upsample, tileable=True).eval()
    tiled.load_state_dict(plain.state_dict())  # same keys and shapes
    assert plain.config.get("tileable") is None and tiled.config["tileable"] is True
    z = plain.sample_noise(2, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        a, b = plain(z), tiled(z)
    assert not torch.allclose(a, b)
    # away from the border the first upsampling computes the same thing (the crop lines up with padding=1)
    with torch.no_grad():
        m = torch.relu(plain.norm0(plain.fc(z).view(-1, plain.c0, 4, 4)))
        up_plain, up_tiled = plain.body[0](m), tiled._upsample(tiled.body[0], m)
    torch.testing.assert_close(up_plain[..., 2:-2, 2:-2], up_tiled[..., 2:-2, 2:-2])
