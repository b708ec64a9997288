"""Layout variety per sample (metrics.layout_nn): constructed sets whose answer a viewer knows, the reference's
dependence on N, the training tracker, and the reproduction's verdicts that use it."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from texnet.extras.metrics import (LayoutTracker, exemplar_layout_nearest, layout_diversity, layout_nearest, layout_nn,
                                   random_crops)
from texnet.io.images import load_image, resize
from texnet.paper.diversity import LAYOUT_LAYERS
from texnet.paper.loss_network import LossNetwork


@pytest.fixture(scope="module")
def net():
    return LossNetwork(list(LAYOUT_LAYERS))


@pytest.fixture(scope="module", params=["brick", "grass"])
def texture(request):
    return resize(load_image(f"sample:{request.param}"), 128)


def test_k_distinct_images_each_repeated_score_zero_however_different(net, texture, one_thread):
    """Three crops, each twice: the mean pairwise layout calls them most of the texture's variety, per sample ~0."""
    three = random_crops(texture, 3, 64, seed=7)
    repeated = torch.cat([three, three])
    assert layout_diversity(repeated, texture, net) > 0.5  # what the mean pairwise distance sees
    assert layout_nn(repeated, texture, net) < 0.01


def test_one_image_under_smooth_brightness_fields_scores_low(net, texture, one_thread):
    """Six smooth ±30 % brightness ramps over one crop (measured 0.017-0.024, real crops 0.84-0.92)."""
    one = random_crops(texture, 1, 64, seed=5)
    ramps = torch.rand(6, 1, 2, 2, generator=torch.Generator().manual_seed(0)) * 2 - 1
    bright = (one * (1 + 0.3 * F.interpolate(ramps, size=(64, 64), mode="bilinear", align_corners=True))).clamp(0, 1)
    crops = random_crops(texture, 6, 64, seed=7)
    assert layout_nn(bright, texture, net) < 0.1
    assert layout_nn(bright, texture, net) < 0.15 * layout_nn(crops, texture, net)


def test_real_crops_of_the_texture_score_about_one(net, texture, one_thread):
    crops = random_crops(texture, 6, 64, seed=7)  # other positions than the reference's (seeds 0-3)
    assert layout_nn(crops, texture, net) == pytest.approx(1.0, abs=0.3)


def test_the_reference_takes_as_many_crops_as_samples(net, texture, one_thread):
    """The nearest of more crops is nearer: a reference of another N would shift the score."""
    few = exemplar_layout_nearest(texture, net, 64, 3, draws=2)
    many = exemplar_layout_nearest(texture, net, 64, 12, draws=2)
    assert many < 0.9 * few
    samples = random_crops(texture, 5, 64, seed=9)
    expected = layout_nearest(samples, net) / exemplar_layout_nearest(texture, net, 64, 5)
    assert layout_nn(samples, texture, net) == pytest.approx(expected, rel=1e-6)


def test_the_training_tracker_reports_the_same_number(net, one_thread):
    texture = resize(load_image("sample:gravel"), 96)
    tracker = LayoutTracker(texture, net, 48)
    samples = random_crops(texture, 4, 48, seed=3)
    assert tracker.nearest(samples) == pytest.approx(layout_nn(samples, texture, net), rel=1e-6)
    assert tracker.nearest(samples[:1]) is None
    assert LayoutTracker(texture, net, 96).nearest(random_crops(texture, 4, 96)) is None  # no crops: not tracked


# ---------------------------------------------------------------- the reproduction's verdicts


def _row(loss, layout, layout_nn=None):
    from texnet.apps.reproduce_report import spread

    row = {"texture_loss": spread(loss), "layout": spread(layout), "pixels_pairwise": spread(layout),
           "structure_pairwise": spread(layout), "features_pairwise": spread(layout)}
    if layout_nn is not None:
        row["layout_nn"] = spread(layout_nn)
    return row


def _fig5_verdict(v2_lambda_row):
    from texnet.apps.reproduce_report import claims

    res = {"fig5": {"rows": {"V1": _row([0.2] * 3, [0.9] * 3, [0.9] * 3), "V2 0": _row([0.1] * 3, [0.01] * 3, [0] * 3),
                             "V2 l": v2_lambda_row}}}
    (found,) = [(v, e) for c, v, e in claims(res) if c.startswith("Fig. 5: TextureNetV2 with λ > 0")]
    return found


def test_fig5_fails_k_images_each_repeated_and_passes_distinct_samples():
    from texnet.apps.reproduce_report import NOT_SUPPORTED, SUPPORTED

    twins, evidence = _fig5_verdict(_row([0.12, 0.13, 0.12], [0.7, 0.72, 0.69], [0.001, 0.002, 0.001]))
    assert str(twins) == NOT_SUPPORTED and "nearest neighbour 0.00" in evidence
    distinct, _ = _fig5_verdict(_row([0.12, 0.13, 0.12], [0.7, 0.72, 0.69], [0.8, 0.75, 0.7]))
    assert str(distinct) == SUPPORTED
    older, _ = _fig5_verdict(_row([0.12, 0.13, 0.12], [0.7, 0.72, 0.69]))  # results without the metric
    assert str(older) == SUPPORTED


def test_fig6_needs_every_stylization_apart_from_its_nearest():
    from texnet.apps.reproduce_report import NOT_SUPPORTED, SUPPORTED, claims

    cal = {"noise_layout": 0.04, "shift_layout": 0.9, "shift_px": 8, "noise_layout_nn": 0.04, "shift_layout_nn": 0.9}

    def verdict(layout_nn):
        d = {"pixels_pairwise": 0.1, "structure_pairwise": 0.05, "features_pairwise": 0.2, "layout": 0.5,
             "layout_nn": layout_nn}
        res = {"fig6": {"seed": 0, "diversity": d, "quality": {}, "calibration": cal}}
        (found,) = [(v, e) for c, v, e in claims(res) if c.startswith("Fig. 6")]
        return found

    pairs, evidence = verdict(0.02)  # pairs of twins: far apart on average, each with a twin
    assert str(pairs) == NOT_SUPPORTED and "nearest neighbour 0.020" in evidence
    assert str(verdict(0.5)[0]) == SUPPORTED
