"""The Kozachenko-Leonenko entropy term (paper eq. 8-10) and the diversity metrics, against brute force."""
from __future__ import annotations

import math

import pytest
import torch

from texnet.paper.diversity import (
    entropy_term,
    lowpass,
    nearest_neighbor_distances,
    pairwise_mean,
    remove_brightness,
    rms_distances,
)
from texnet.errors import ConfigError
from texnet.extras.metrics import diversity


def _samples(n=5, shape=(3, 4, 6), seed=0, dtype=torch.float32):
    return torch.rand(n, *shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def _brute_rms(x):
    n = x.shape[0]
    d = x[0].numel()
    out = torch.zeros(n, n, dtype=torch.float64)
    for i in range(n):
        for j in range(n):
            diff = x[i].double() - x[j].double()
            out[i, j] = math.sqrt(float((diff * diff).sum()) / d)
    return out


def _brute_nn(x):
    d = _brute_rms(x)
    n = d.shape[0]
    return torch.tensor([min(float(d[i, j]) for j in range(n) if j != i) for i in range(n)], dtype=torch.float64)


# --------------------------------------------------------------------------- distances


@pytest.mark.parametrize("n,shape", [(2, (3, 2, 2)), (5, (3, 4, 6)), (7, (10,))])
def test_rms_distances_match_brute_force(n, shape):
    x = _samples(n, shape, seed=n)
    d = rms_distances(x)
    assert d.shape == (n, n)
    ref = _brute_rms(x)
    off = ~torch.eye(n, dtype=torch.bool)
    assert torch.allclose(d.double()[off], ref[off], rtol=1e-5, atol=1e-6)
    assert torch.allclose(d, d.T)
    assert float(d.diagonal().max()) < 1e-5  # sqrt(0 + tiny)


def test_rms_distance_is_size_independent():
    """RMS, not the plain norm: a constant offset of 0.1 is a distance of 0.1 at any image size."""
    for hw in (4, 32):
        a = torch.full((1, 3, hw, hw), 0.3)
        d = rms_distances(torch.cat([a, a + 0.1]))
        assert abs(float(d[0, 1]) - 0.1) < 1e-5


@pytest.mark.parametrize("n", [2, 3, 6])
def test_nearest_neighbor_distances_match_brute_force(n):
    x = _samples(n, seed=10 + n)
    rho = nearest_neighbor_distances(x)
    assert rho.shape == (n,)
    assert torch.allclose(rho.double(), _brute_nn(x), rtol=1e-5, atol=1e-6)


def test_nearest_neighbour_is_the_closest_other_sample_not_itself():
    # three points on a line in 1-D pixel space: 0, 1, 3 -> nearest distances 1, 1, 2
    x = torch.tensor([[0.0], [1.0], [3.0]])
    assert torch.allclose(nearest_neighbor_distances(x), torch.tensor([1.0, 1.0, 2.0]), atol=1e-5)


def test_batch_of_one_raises():
    x = _samples(1)
    with pytest.raises(ConfigError, match="at least 2"):
        nearest_neighbor_distances(x)
    with pytest.raises(ConfigError):
        entropy_term(x)


def test_pairwise_mean_matches_brute_force():
    x = _samples(4, seed=3)
    ref = _brute_rms(x)
    expected = sum(float(ref[i, j]) for i in range(4) for j in range(i + 1, 4)) / 6
    assert abs(float(pairwise_mean(x)) - expected) < 1e-5


# --------------------------------------------------------------------------- entropy value


@pytest.mark.parametrize("eps", [1e-3, 0.1])
def test_entropy_term_matches_brute_force(eps):
    x = _samples(6, seed=4)
    expected = float(torch.log(_brute_nn(x) + eps).mean())
    assert abs(float(entropy_term(x, eps)) - expected) < 1e-5


def test_entropy_grows_with_spread():
    """Scaling every sample's deviation from the mean by s adds about ln s (exactly, for eps -> 0)."""
    x = _samples(5, seed=5)
    centre = x.mean(0, keepdim=True)
    spread = centre + 3.0 * (x - centre)
    diff = float(entropy_term(spread, eps=1e-9) - entropy_term(x, eps=1e-9))
    assert abs(diff - math.log(3.0)) < 1e-4


def test_identical_samples_give_finite_value_and_gradient():
    x = torch.full((2, 3, 4, 4), 0.5, requires_grad=True)
    ent = entropy_term(x, eps=1e-3)
    assert torch.isfinite(ent)
    assert abs(float(ent.detach()) - math.log(1e-3)) < 1e-2  # ρ = sqrt(tiny) ≈ 1e-6, so ln(ρ + ε) ≈ ln ε
    ent.backward()
    assert torch.isfinite(x.grad).all()
    # also when only some samples coincide
    y = torch.cat([_samples(1, (3, 4, 4)), _samples(1, (3, 4, 4)), _samples(1, (3, 4, 4), seed=9)]).requires_grad_()
    (-entropy_term(y)).backward()
    assert torch.isfinite(y.grad).all()


# --------------------------------------------------------------------------- entropy gradient


def _separated(n=4, d=3, seed=0, dtype=torch.float64):
    """Points whose nearest neighbours are unambiguous (the min over j has a clear winner, by 0.05 or more)."""
    for s in range(seed, seed + 1000):
        x = torch.randn(n, d, generator=torch.Generator().manual_seed(s), dtype=dtype)
        dist = _brute_rms(x) + torch.eye(n, dtype=torch.float64) * 1e9
        ordered = dist.sort(dim=1).values
        if float((ordered[:, 1] - ordered[:, 0]).min()) > 0.05:
            return x
    raise AssertionError("no well-separated test data found")


def _analytic_entropy_grad(x, eps):
    """d/dx of (1/N) Σ_i ln(ρ_i + ε), ρ_i = ||x_i − x_nn(i)|| / sqrt(D), by hand."""
    x = x.double()
    n = x.shape[0]
    flat = x.reshape(n, -1)
    d = flat.shape[1]
    dist = _brute_rms(x) + torch.eye(n, dtype=torch.float64) * 1e9
    nn_idx = dist.argmin(dim=1)
    grad = torch.zeros_like(flat)
    for i in range(n):
        j = int(nn_idx[i])
        diff = flat[i] - flat[j]
        rho = float(diff.pow(2).mean().sqrt())
        g = diff / (d * rho * (rho + eps) * n)
        grad[i] += g
        grad[j] -= g
    return grad.reshape(x.shape)


def test_entropy_gradient_matches_the_analytic_gradient():
    x = _separated(5, 6, seed=1).float().requires_grad_()
    entropy_term(x, eps=1e-3).backward()
    expected = _analytic_entropy_grad(x.detach(), 1e-3)
    assert torch.allclose(x.grad.double(), expected, rtol=1e-4, atol=1e-6)


def test_entropy_gradient_matches_finite_differences():
    """Central differences, with steps large enough for the float32 distance computation."""
    x = _separated(4, 3, seed=2)
    xr = x.float().requires_grad_()
    entropy_term(xr).backward()
    h = 1e-3
    num = torch.zeros_like(x)
    for idx in range(x.numel()):
        e = torch.zeros(x.numel(), dtype=torch.float64)
        e[idx] = h
        e = e.view_as(x)
        num.view(-1)[idx] = (float(entropy_term(x + e)) - float(entropy_term(x - e))) / (2 * h)
    assert torch.allclose(xr.grad.double(), num, rtol=2e-2, atol=2e-4)


def test_entropy_gradcheck_float64():
    x = _separated(4, 3, seed=2).requires_grad_()
    assert entropy_term(x).dtype == torch.float64
    assert torch.autograd.gradcheck(lambda t: entropy_term(t, 1e-3), (x,))


def test_gradient_step_on_negative_entropy_pushes_samples_apart():
    """Paper §4: the gradient of −H pushes every sample away from its nearest neighbour."""
    x = _samples(6, (3, 5, 5), seed=6).requires_grad_()
    before = _brute_rms(x.detach()) + torch.eye(6, dtype=torch.float64) * 1e9
    nn_idx = before.argmin(dim=1)
    (-entropy_term(x)).backward()
    assert x.grad.abs().sum() > 0
    with torch.no_grad():
        moved = x - 1e-2 * x.grad / x.grad.abs().max()
    after = _brute_rms(moved)
    for i in range(6):
        j = int(nn_idx[i])
        assert after[i, j] > before[i, j], f"sample {i} moved towards its nearest neighbour {j}"
    assert (nearest_neighbor_distances(moved).double() > _brute_nn(x.detach())).all()
    assert float(entropy_term(moved)) > float(entropy_term(x.detach()))


def test_entropy_gradient_only_involves_nearest_neighbour_pairs():
    """Sample 2's nearest neighbour is sample 0, and sample 2 is nobody's nearest neighbour: its gradient is
    its own term alone, pointing straight away from sample 0. Sample 5 is far from everything."""
    y = torch.tensor([[0.0, 0.0], [0.1, 0.0], [0.0, 0.12], [5.0, 5.0], [5.3, 5.0], [100.0, -100.0]],
                     requires_grad=True)
    entropy_term(y).backward()
    assert torch.isfinite(y.grad).all()
    g2 = y.grad[2]
    direction = (y[2] - y[0]).detach()
    cos = float(g2 @ direction) / (float(g2.norm()) * float(direction.norm()))
    assert cos > 0.999
    # its size is (1/N) / (D ρ (ρ + ε)) · ||x_2 − x_0|| = 1 / (N · sqrt(D) · (ρ + ε)), with ρ the RMS distance
    rho = 0.12 / math.sqrt(2)
    assert abs(float(g2.norm()) - 1 / (6 * math.sqrt(2) * (rho + 1e-3))) < 1e-3


# --------------------------------------------------------------------------- diversity metrics


def test_diversity_metrics_of_identical_samples_are_zero():
    stats = diversity(torch.full((4, 3, 16, 16), 0.4))
    assert set(stats) == {"pixels_pairwise", "pixels_nn", "structure_pairwise", "structure_nn"}
    assert all(isinstance(v, float) and abs(v) < 1e-4 for v in stats.values())


def test_diversity_metrics_of_different_samples():
    x = _samples(4, (3, 16, 16), seed=7)
    stats = diversity(x)
    assert stats["pixels_pairwise"] >= stats["pixels_nn"] > 0.1  # uniform noise: RMS distance ≈ 0.41
    assert abs(stats["pixels_pairwise"] - float(pairwise_mean(x))) < 1e-6
    assert abs(stats["pixels_nn"] - float(nearest_neighbor_distances(x).mean())) < 1e-6
    assert stats["structure_pairwise"] > 0.1


def test_structure_diversity_ignores_brightness_blotches():
    """Samples that differ only by smooth brightness changes are diverse in pixels, not in structure."""
    base = _samples(1, (3, 32, 32), seed=8)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 32), torch.linspace(0, 1, 32), indexing="ij")
    blotches = [0.2 * torch.sin(math.pi * (a * xx + b * yy)) for a, b in ((0.5, 0.0), (0.0, 0.5), (0.3, 0.3), (-0.4, 0.2))]
    x = torch.cat([(base + b).clamp(0, 1) for b in blotches])
    stats = diversity(x)
    assert stats["pixels_pairwise"] > 3 * stats["structure_pairwise"]


def test_diversity_of_one_sample_is_zero():
    assert set(diversity(_samples(1)).values()) == {0.0}


def test_lowpass_and_remove_brightness_shapes():
    x = _samples(2, (3, 16, 12))
    assert lowpass(x, 4).shape == (2, 3, 4, 3)
    assert torch.equal(lowpass(x, 1), x)
    r = remove_brightness(x)
    assert r.shape == x.shape
    # a constant image has no structure
    assert remove_brightness(torch.full((1, 3, 16, 16), 0.7)).abs().max() < 1e-6
