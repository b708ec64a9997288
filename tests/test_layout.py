"""Layout diversity: unit-normalized feature distances (math against brute force) and the metric on VGG-19."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from texnet.paper.diversity import (
    LAYOUT_LAYERS,
    layout_distances,
    pairwise_mean,
    layout_embedding,
    layout_entropy,
    unit_normalize,
)
from texnet.errors import ConfigError
from texnet.io.images import load_image, resize
from texnet.paper.loss_network import LossNetwork
from texnet.extras.metrics import exemplar_layout_distance, layout_distance, layout_diversity, layout_twins, random_crops


# --------------------------------------------------------------------------- the math


def _brute_cosine(a, b):
    """Mean over positions of 1 − cos(a_p, b_p) for (C, H, W) feature maps."""
    a, b = a.flatten(1).double(), b.flatten(1).double()
    cos = (a * b).sum(0) / (a.norm(dim=0) * b.norm(dim=0))
    return float((1 - cos).mean())


def test_layout_distances_are_mean_cosine_distances_averaged_over_layers():
    g = torch.Generator().manual_seed(0)
    f1 = torch.randn(3, 5, 4, 4, generator=g)
    f2 = torch.randn(3, 7, 2, 3, generator=g)
    d = layout_distances([f1, f2])
    assert d.shape == (3, 3) and float(d.diagonal().abs().max()) < 1e-6
    for i in range(3):
        for j in range(3):
            if i != j:
                expected = (_brute_cosine(f1[i], f1[j]) + _brute_cosine(f2[i], f2[j])) / 2
                assert float(d[i, j]) == pytest.approx(expected, abs=1e-5)


def test_unit_normalization_ignores_per_position_scale():
    f = torch.rand(2, 6, 5, 5) + 0.1
    scale = torch.rand(2, 1, 5, 5) * 10 + 0.5  # a positive gain at every position (brightness, contrast)
    torch.testing.assert_close(unit_normalize(f * scale), unit_normalize(f))
    torch.testing.assert_close(unit_normalize(f).norm(dim=1), torch.ones(2, 5, 5))
    assert torch.equal(unit_normalize(torch.zeros(1, 3, 2, 2)), torch.zeros(1, 3, 2, 2))  # dead ReLUs: no NaN


def test_layout_entropy_is_finite_for_identical_samples_and_grows_with_spread():
    f = torch.rand(1, 4, 3, 3).repeat(3, 1, 1, 1).requires_grad_()
    h = layout_entropy([f])
    h.backward()
    assert torch.isfinite(h) and torch.isfinite(f.grad).all()
    spread = layout_entropy([torch.rand(3, 4, 3, 3, generator=torch.Generator().manual_seed(1))])
    assert float(spread) > float(h.detach()) + 1.0
    e = layout_embedding([torch.rand(3, 4, 3, 3)])
    assert e.shape == (3, 36)
    with pytest.raises(ConfigError, match="at least 2"):
        layout_entropy([torch.rand(1, 4, 3, 3)])


# --------------------------------------------------------------------------- the metric on VGG-19


@pytest.fixture(scope="module")
def layout_net():
    return LossNetwork(list(LAYOUT_LAYERS))


@pytest.fixture(scope="module")
def brick128():
    return resize(load_image("sample:brick"), 128)


def test_random_crops_are_deterministic_for_a_seed(brick128):
    a, b = random_crops(brick128, 4, 64, seed=3), random_crops(brick128, 4, 64, seed=3)
    assert a.shape == (4, 3, 64, 64) and torch.equal(a, b)
    assert not torch.equal(a, random_crops(brick128, 4, 64, seed=4))
    assert random_crops(brick128, 2, (32, 48), seed=0).shape == (2, 3, 32, 48)
    with pytest.raises(ConfigError, match="smaller than the samples"):
        random_crops(brick128, 2, 256)


def test_a_collapsed_set_scores_zero(layout_net, brick128, one_thread):
    one = random_crops(brick128, 1, 64, seed=5)
    assert layout_diversity(one.repeat(4, 1, 1, 1), brick128, layout_net) < 1e-6


def test_distinct_crops_of_the_texture_score_about_one(layout_net, brick128, one_thread):
    crops = random_crops(brick128, 6, 64, seed=7)  # other positions than the reference crops (seed 0)
    assert layout_diversity(crops, brick128, layout_net) == pytest.approx(1.0, abs=0.25)


def test_brightness_fields_over_one_crop_score_far_below_distinct_crops(layout_net, brick128, one_thread):
    """Six smooth ±30% brightness ramps over one crop: pixel distances call that half as diverse as real
    crops; the layout metric calls it nearly nothing (measured 0.047 vs 1.005)."""
    one = random_crops(brick128, 1, 64, seed=5)
    ramps = torch.rand(6, 1, 2, 2, generator=torch.Generator().manual_seed(0)) * 2 - 1
    fields = F.interpolate(ramps, size=(64, 64), mode="bilinear", align_corners=True)
    bright = (one * (1 + 0.3 * fields)).clamp(0, 1)
    crops = random_crops(brick128, 6, 64, seed=7)
    lay_bright, lay_crops = layout_diversity(bright, brick128, layout_net), layout_diversity(crops, brick128, layout_net)
    pix_ratio = float(pairwise_mean(bright)) / float(pairwise_mean(crops))
    assert lay_bright < 0.1
    assert pix_ratio > 0.3  # the brightness set is not trivially similar in pixels...
    assert lay_bright / lay_crops < 0.2 * pix_ratio  # ...but the layout metric discounts it


def test_layout_twins_tell_pairs_of_near_twins_from_distinct_layouts(layout_net, brick128, one_thread):
    """Three crops, each twice with a ±3 % brightness change: as far apart on average as six crops, but every
    sample has a twin; the mean pairwise distance cannot see that, the nearest-neighbour ratio does."""
    crops = random_crops(brick128, 3, 64, seed=7)
    twins = torch.cat([crops, (crops * 1.03).clamp(0, 1)])
    distinct = random_crops(brick128, 6, 64, seed=7)
    assert layout_twins(twins, layout_net) < 0.05
    assert layout_twins(distinct, layout_net) > 0.5
    assert layout_distance(twins, layout_net) > 0.5 * layout_distance(distinct, layout_net)


def test_layout_diversity_is_the_distance_over_the_exemplar_reference(layout_net, brick128, one_thread):
    crops = random_crops(brick128, 3, 64, seed=9)
    ref = exemplar_layout_distance(brick128, layout_net, 64, crops=16, seed=0)
    assert 0.1 < ref < 1.0
    assert layout_diversity(crops, brick128, layout_net) == pytest.approx(layout_distance(crops, layout_net) / ref)
    # deterministic for a seed, different reference crops for another
    assert exemplar_layout_distance(brick128, layout_net, 64, crops=16, seed=0) == ref
    assert exemplar_layout_distance(brick128, layout_net, 64, crops=16, seed=1) != ref


def test_layout_metric_errors(brick128):
    small = LossNetwork(["relu1_1"])
    with pytest.raises(ConfigError, match="taps"):
        layout_distance(torch.rand(2, 3, 32, 32), small)
    with pytest.raises(ConfigError, match="at least 2"):
        layout_distance(torch.rand(1, 3, 32, 32), small)


# --------------------------------------------------------------------------- in training logs


def test_training_logs_the_layout_diversity_of_its_fixed_samples(tmp_path, one_thread):
    from helpers_train import quiet, read_rows, texture_config
    from texnet.train import SAMPLE_COUNT, SAMPLE_SEED, Trainer

    out = tmp_path / "run"
    trainer = Trainer(texture_config(diversity="auto", steps=4, sample_every=2), out, show_progress=False, log=quiet)
    res = trainer.run()
    rows = read_rows(out / "losses.csv")
    logged = {int(r["step"]): float(r["layout"]) for r in rows if r["layout"]}
    assert sorted(logged) == [2, 4] and (out / "layout.png").exists()
    g = res.generator.float().eval()
    with torch.no_grad():
        samples = g(g.sample_noise(SAMPLE_COUNT, 32, torch.Generator().manual_seed(SAMPLE_SEED)))
    expected = layout_diversity(samples, trainer.exemplar, trainer.objective.loss.net)
    assert logged[4] == pytest.approx(expected, rel=1e-4) and logged[4] > 0


def test_no_layout_column_without_the_layout_taps(tmp_path):
    from helpers_train import quiet, read_rows, texture_config
    from texnet.train import train

    train(texture_config(steps=2, sample_every=1), tmp_path / "run", show_progress=False, log=quiet)
    assert "layout" not in read_rows(tmp_path / "run" / "losses.csv")[0]


def test_the_closing_layout_line_names_the_nearest_neighbour_and_only_plots_that_exist():
    from texnet.training_log import summary_lines

    one = [{"step": 1, "layout": 0.6, "layout_nn": 0.05}]
    line = summary_lines(one, 0.1, None, 8)[-1]
    assert "0.60 mean pairwise, nearest neighbour 0.05" in line and "layout.png" not in line  # one row: no plot
    two = [{"step": 1, "layout": 0.5}, {"step": 2, "layout": 0.6, "layout_nn": 0.4}]
    assert "see layout.png" in summary_lines(two, 0.1, None, 8)[-1]
