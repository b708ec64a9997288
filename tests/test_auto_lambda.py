"""The relative diversity weight λ = κ·L: its math, the objective it gives, and determinism for a seed."""
from __future__ import annotations

import os

os.environ.setdefault("TEXNET_NO_PROGRESS", "1")

import pytest
import torch

from texnet.extras.auto_lambda import AUTO_KAPPA, relative_lambda
from texnet.config import LossConfig
from texnet.errors import ConfigError
from texnet.paper.generators import TextureNetV2
from texnet.io.images import load_image
from texnet.build import build_loss
from texnet.paper.objective import JuleszObjective
from texnet.train import step_generator

TINY_LAYOUT = ("relu1_1", "relu2_1")


@pytest.fixture(scope="module")
def tiny_loss():
    exemplar = load_image("sample:brick", size=32)
    return build_loss(LossConfig(texture_layers={"relu1_1": 1.0, "relu2_1": 1.0}, precision="fp32"), exemplar,
                      with_content=False)


def test_relative_lambda_scales_with_the_loss_and_is_detached():
    assert relative_lambda(0.2, 1.5) == pytest.approx(0.3)
    assert relative_lambda(0.2) == pytest.approx(0.2 * AUTO_KAPPA)
    loss = torch.tensor(0.4, requires_grad=True)
    lam = relative_lambda(loss * 1.0, 2.0)
    assert not lam.requires_grad and float(lam) == pytest.approx(0.8)
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ConfigError, match="relative diversity weight"):
            relative_lambda(0.2, bad)


def test_relative_objective_equals_the_absolute_one_at_lambda_kappa_times_loss(tiny_loss):
    """λ = κ·L̄ is detached: the gradient is that of L − (κ·L̄)·H with the number κ·L̄, i.e. L̄·∇(log L − κ·H)."""
    kappa = 0.7
    rel = JuleszObjective(tiny_loss, kappa, "layout", layout_layers=TINY_LAYOUT, relative=True)
    x = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(0)).requires_grad_()
    stats = rel(x)
    stats["objective"].backward()
    lam = float(stats["lambda"])
    assert lam == pytest.approx(kappa * float(stats["loss"]))
    y = x.detach().clone().requires_grad_()
    absolute = JuleszObjective(tiny_loss, lam, "layout", layout_layers=TINY_LAYOUT)
    absolute(y)["objective"].backward()
    torch.testing.assert_close(x.grad, y.grad, rtol=1e-4, atol=1e-4 * float(y.grad.abs().max()))
    assert float(x.grad.abs().max()) > 0


def _lambda_history(tiny_loss, seed: int, steps: int = 3):
    """A few Adam steps of a tiny TextureNetV2 with the relative weight; the λ of every step."""
    torch.manual_seed(seed)
    g = TextureNetV2(size=32, hidden=16, base_channels=32)
    obj = JuleszObjective(tiny_loss, AUTO_KAPPA, "layout", layout_layers=TINY_LAYOUT, relative=True)
    opt = torch.optim.Adam(g.parameters(), lr=1e-3)
    lams = []
    for step in range(1, steps + 1):
        stats = obj(g(g.sample_noise(3, generator=step_generator(seed, step))))
        opt.zero_grad()
        stats["objective"].backward()
        opt.step()
        lams.append(float(stats["lambda"]))
    return lams


def test_relative_lambda_is_deterministic_for_a_seed(tiny_loss, one_thread):
    a, b = _lambda_history(tiny_loss, 0), _lambda_history(tiny_loss, 0)
    assert a == b
    assert _lambda_history(tiny_loss, 1) != a
    assert all(v > 0 for v in a)


def test_absolute_objective_reports_no_lambda(tiny_loss):
    stats = JuleszObjective(tiny_loss, 0.1, "layout", layout_layers=TINY_LAYOUT)(torch.rand(2, 3, 32, 32))
    assert "lambda" not in stats


V2_AUTO = ["train-texture", "--texture", "sample:brick", "--texture-size", "32", "--generator", "v2", "--size", "16",
           "--batch-size", "3", "--steps", "3", "--texture-layers", "relu1_1,relu2_1,relu3_1,relu4_1", "--quiet"]


def test_diversity_auto_trains_in_the_layout_space_and_logs_every_lambda(tmp_path, capsys, one_thread):
    import csv
    import json

    from helpers_cli import run_cli

    rc, out, err = run_cli(V2_AUTO + ["--diversity", "auto", "--diversity-kappa", "0.5", "--diversity-target", "0",
                                      "--out", tmp_path / "r"], capsys)
    assert rc == 0, err
    saved = json.loads((tmp_path / "r" / "config.json").read_text())["config"]
    assert saved["diversity"] == "auto" and saved["diversity_space"] == "layout" and saved["diversity_kappa"] == 0.5
    assert saved["diversity_target"] == 0  # 0: a constant κ
    rows = list(csv.DictReader(open(tmp_path / "r" / "losses.csv")))
    assert len(rows) == 3
    for r in rows:
        assert float(r["lambda"]) == pytest.approx(0.5 * float(r["loss"]), rel=1e-4)
    assert "λ = κ × batch loss" in out + err


def test_kappa_schedule_is_geometric_and_reaches_the_log(tmp_path, capsys, one_thread):
    import csv

    from helpers_cli import run_cli
    from texnet.extras.auto_lambda import kappa_at

    assert [kappa_at(s, 3, 2.0, 0.5) for s in (1, 2, 3)] == pytest.approx([2.0, 1.0, 0.5])
    assert kappa_at(7, 10, 1.5) == 1.5  # no end: constant
    rc, _, err = run_cli(V2_AUTO + ["--diversity", "auto", "--diversity-kappa", "2", "--diversity-kappa-end", "0.5",
                                    "--out", tmp_path / "r"], capsys)
    assert rc == 0, err
    rows = list(csv.DictReader(open(tmp_path / "r" / "losses.csv")))
    ratios = [float(r["lambda"]) / float(r["loss"]) for r in rows]
    assert ratios == pytest.approx([2.0, 1.0, 0.5], rel=1e-4)


@pytest.mark.parametrize("extra, code, message", [
    (["--diversity", "lots"], 2, "number λ >= 0 or auto"),
    (["--diversity", "-1"], 1, "number λ >= 0 or auto"),
    (["--diversity", "nan"], 1, "number λ >= 0 or auto"),
    (["--diversity", "auto", "--diversity-space", "pixels"], 1, "layout space"),
    (["--diversity", "auto", "--diversity-kappa-end", "0"], 1, "--diversity-kappa-end must be > 0"),
    (["--diversity", "0.1", "--diversity-kappa-end", "0.5"], 1, "schedules κ of --diversity auto"),
])
def test_bad_diversity_values_get_one_line(tmp_path, capsys, extra, code, message):
    from helpers_cli import one_line, run_cli

    rc, _, err = run_cli(V2_AUTO + extra + ["--out", tmp_path / "r"], capsys)
    assert rc == code and message in one_line(err)
    assert not (tmp_path / "r").exists()
