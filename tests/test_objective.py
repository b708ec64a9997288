"""The Julesz objective (paper eq. 10): mean loss minus λ times the entropy estimate, with a real VGG-19 loss."""
from __future__ import annotations

import math

import pytest
import torch

from texnet.config import LossConfig
from texnet.paper.diversity import entropy_term, layout_entropy, lowpass, nearest_neighbor_distances, remove_brightness
from texnet.io.images import load_image
from texnet.build import build_loss
from texnet.paper.objective import DIVERSITY_SPACES, JuleszObjective, julesz_objective


@pytest.fixture(scope="module")
def tiny_loss():
    """A real PerceptualLoss (bundled VGG-19 up to relu2_1) for the brick texture at 32 px."""
    exemplar = load_image("sample:brick", size=32)
    cfg = LossConfig(texture_layers={"relu1_1": 1.0, "relu2_1": 1.0})
    return build_loss(cfg, exemplar, with_content=False, extra_layers=["relu2_1"])


def _samples(n=3, seed=0, size=32):
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


# --------------------------------------------------------------------------- julesz_objective


@pytest.mark.parametrize("lam", [0.0, 0.05, 1.0, 10.0])
def test_objective_is_mean_loss_minus_lambda_entropy(lam):
    losses = torch.tensor([0.5, 1.5, 4.0])
    x = _samples(3)
    objective, ent = julesz_objective(losses, x, lam, eps=1e-3)
    expected_ent = float(entropy_term(x, 1e-3)) if lam > 0 else 0.0
    assert abs(float(ent) - expected_ent) < 1e-6
    assert abs(float(objective) - (2.0 - lam * expected_ent)) < 1e-5
    if lam > 0:  # entropy of uniform noise images: ρ ≈ 0.41, ln ρ ≈ −0.9, so the term is visible
        assert abs(float(objective) - 2.0) > 0.5 * lam


def test_objective_eps_is_used():
    losses = torch.zeros(2)
    x = torch.zeros(2, 3, 4, 4)  # identical samples: ρ ≈ 0
    for eps in (1e-3, 0.1):
        objective, _ = julesz_objective(losses, x, 1.0, eps=eps)
        assert abs(float(objective) + math.log(eps)) < 1e-2


def test_lambda_zero_ignores_diversity():
    losses = torch.tensor([0.25, 0.75])
    same = torch.zeros(2, 3, 8, 8)
    different = _samples(2, size=8)
    a, ent_a = julesz_objective(losses, same, 0.0)
    b, ent_b = julesz_objective(losses, different, 0.0)
    assert float(a) == float(b) == 0.5
    assert float(ent_a) == float(ent_b) == 0.0
    # and a batch of one is fine without the entropy term
    c, _ = julesz_objective(torch.tensor([0.3]), same[:1], 0.0)
    assert abs(float(c) - 0.3) < 1e-7


def test_objective_gradient_includes_the_entropy_term():
    """d/dx of E = mean L − λ H: with L independent of x, the gradient is −λ dH/dx."""
    x = _samples(3, size=8).requires_grad_()
    objective, _ = julesz_objective(torch.tensor([1.0, 2.0, 3.0]), x, 0.5)
    objective.backward()
    y = x.detach().clone().requires_grad_()
    entropy_term(y).backward()
    assert torch.allclose(x.grad, -0.5 * y.grad, atol=1e-7)
    assert x.grad.abs().sum() > 0


# --------------------------------------------------------------------------- JuleszObjective


def test_objective_asks_for_the_tap_its_diversity_space_needs():
    """The features space measures distances at a loss-network tap: build_objective adds it to the loss network."""
    from texnet.config import TrainConfig
    from texnet.build import build_objective

    cfg = TrainConfig(exemplar="sample:brick", diversity=0.1, diversity_space="features", diversity_layer="relu3_1",
                      loss=LossConfig(texture_layers={"relu1_1": 1.0}, precision="fp32")).resolved()
    obj = build_objective(cfg, load_image("sample:brick", size=32))
    assert "relu3_1" in obj.loss.net.names
    stats = obj(_samples(2, size=32))
    assert torch.isfinite(stats["objective"]) and float(stats["entropy"]) != 0.0


@pytest.mark.parametrize("space", DIVERSITY_SPACES)
def test_each_space_gives_finite_objective_and_gradients(tiny_loss, space):
    lam = 0.1
    obj = JuleszObjective(tiny_loss, diversity=lam, space=space, feature_layer="relu2_1",
                          layout_layers=("relu1_1", "relu2_1"))
    x = _samples(3, seed=1).requires_grad_()
    stats = obj(x)
    assert {"objective", "loss", "texture", "entropy", "nn_distance"} <= set(stats)
    for k, v in stats.items():
        assert v.dim() == 0 and torch.isfinite(v), k
    assert float(stats["loss"]) > 0
    assert abs(float(stats["objective"].detach()) - (float(stats["loss"]) - lam * float(stats["entropy"]))) < 1e-5
    # the entropy is measured in the chosen space
    with torch.no_grad():
        if space == "pixels":
            expected = entropy_term(x)
        elif space == "lowpass":
            expected = entropy_term(lowpass(x, 4))
        elif space == "structure":
            expected = entropy_term(remove_brightness(x))
        elif space == "layout":
            feats = tiny_loss.net(x, layers=["relu1_1", "relu2_1"])
            expected = layout_entropy([feats["relu1_1"], feats["relu2_1"]])
        else:
            expected = entropy_term(tiny_loss.net(x, layers=["relu2_1"])["relu2_1"])
    assert abs(float(stats["entropy"]) - float(expected)) < 1e-4 * max(1.0, abs(float(expected)))
    stats["objective"].backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_features_space_with_lambda_zero(tiny_loss):
    obj = JuleszObjective(tiny_loss, diversity=0.0, space="features", feature_layer="relu2_1")
    with torch.no_grad():
        stats = obj(_samples(2, seed=5))
    assert float(stats["entropy"]) == 0.0
    assert float(stats["objective"]) == pytest.approx(float(stats["loss"]))


def test_spaces_measure_different_distances(tiny_loss):
    x = _samples(3, seed=2)
    ents = {}
    for space in DIVERSITY_SPACES:
        obj = JuleszObjective(tiny_loss, diversity=0.1, space=space, feature_layer="relu2_1",
                              layout_layers=("relu1_1", "relu2_1"))
        with torch.no_grad():
            ents[space] = float(obj(x)["entropy"])
    assert len({round(v, 4) for v in ents.values()}) == len(DIVERSITY_SPACES), ents


def test_entropy_gradient_flows_through_the_objective(tiny_loss):
    """The same samples: with λ > 0 the gradient differs from λ = 0 by exactly −λ dH/dx (pixel space)."""
    x0 = _samples(3, seed=3)
    grads = {}
    for lam in (0.0, 0.2):
        x = x0.clone().requires_grad_()
        JuleszObjective(tiny_loss, diversity=lam)(x)["objective"].backward()
        grads[lam] = x.grad
    y = x0.clone().requires_grad_()
    entropy_term(y).backward()
    diff = grads[0.2] - grads[0.0]
    assert torch.allclose(diff, -0.2 * y.grad, atol=1e-6, rtol=1e-3)


def test_reports_nn_distance_and_zero_entropy_without_diversity(tiny_loss):
    x = _samples(4, seed=4)
    obj = JuleszObjective(tiny_loss, diversity=0.0)
    with torch.no_grad():
        stats = obj(x)
    assert abs(float(stats["nn_distance"]) - float(nearest_neighbor_distances(x).mean())) < 1e-6
    assert float(stats["nn_distance"]) > 0.3  # independent uniform noise images
    assert float(stats["entropy"]) == 0.0
    assert float(stats["objective"]) == pytest.approx(float(stats["loss"]), rel=1e-6)
    assert float(stats["loss"]) == pytest.approx(float(stats["texture"]), rel=1e-6)  # texture weight 1, no content/TV
    # batch of one without diversity: fine, nn_distance 0
    with torch.no_grad():
        one = obj(x[:1])
    assert float(one["nn_distance"]) == 0.0


def test_exemplar_scores_lower_than_noise(tiny_loss):
    """Sanity of the loss inside the objective: the exemplar itself has (near) zero texture loss."""
    obj = JuleszObjective(tiny_loss, diversity=0.0)
    exemplar = load_image("sample:brick", size=32)
    with torch.no_grad():
        own = float(obj(exemplar)["loss"])
        noise = float(obj(_samples(1))["loss"])
    assert own < 1e-6 < noise
