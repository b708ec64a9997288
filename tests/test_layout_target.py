"""--diversity-target: κ steered by the batch's layout diversity — direction, bounds, determinism, resume, errors."""
from __future__ import annotations

import os

os.environ.setdefault("TEXNET_NO_PROGRESS", "1")

import pytest

from helpers_train import quiet, texture_config, without
from texnet.extras.auto_lambda import LayoutTarget
from texnet.errors import ConfigError
from texnet.train import train


def test_kappa_rises_below_the_target_falls_above_it_and_stays_in_range():
    low = LayoutTarget(0.5, 1.0, reference=0.2)
    entries = [low.update(0.02) for _ in range(5)]  # layout 0.1 of the exemplar's: more entropy wanted
    assert [e["kappa"] for e in entries] == sorted(e["kappa"] for e in entries) and low.kappa > 1.0
    high = LayoutTarget(0.5, 1.0, reference=0.2)
    for _ in range(5):
        high.update(0.2)  # as varied as the exemplar: less entropy, less loss
    assert high.kappa < 1.0
    for _ in range(10_000):
        low.update(0.0)
        high.update(10.0)
    assert low.kappa == pytest.approx(LayoutTarget.RANGE) and high.kappa == pytest.approx(1 / LayoutTarget.RANGE)


STEERED = dict(generator="v2", v2_experts=1, diversity="auto", diversity_target=0.5, batch_size=3, steps=6,
               exemplar_size=64)


def _run(tmp_path, name, resume=False, **overrides):
    return train(texture_config(**{**STEERED, **overrides}), tmp_path / name, resume=resume, show_progress=False,
                 log=quiet)


def test_steered_training_is_deterministic_and_logs_kappa(tmp_path):
    a, b = _run(tmp_path, "a"), _run(tmp_path, "b")
    kappas = [r["kappa"] for r in a.history]
    assert kappas == [r["kappa"] for r in b.history] and len(set(kappas)) > 1  # moved, identically
    assert kappas[0] == 1.0  # starts at --diversity-kappa
    assert all(r["lambda"] == pytest.approx(r["kappa"] * r["loss"], rel=1e-5) for r in a.history)
    header = (a.run_dir / "losses.csv").read_text().splitlines()[0].split(",")
    assert {"kappa", "layout_level"} <= set(header)


def test_resume_continues_the_controller(tmp_path):
    full = _run(tmp_path, "full")
    _run(tmp_path, "split", steps=3)
    resumed = _run(tmp_path, "split", resume=True)
    # ("layout" and "layout_nn" are tracked at a run's last step, so the 3-step half has one more)
    assert without(resumed.history, "seconds", "layout", "layout_nn") == without(full.history, "seconds", "layout", "layout_nn")


def test_target_needs_auto_and_an_exemplar_larger_than_the_samples(tmp_path):
    with pytest.raises(ConfigError, match="--diversity-target steers"):
        texture_config(generator="v2", diversity=0.1, diversity_target=0.5).validate()
    with pytest.raises(ConfigError, match="--diversity-target steers"):
        texture_config(generator="v2", diversity="auto", diversity_target=0.5, diversity_kappa_end=0.5).validate()
    with pytest.raises(ConfigError, match="must be larger than"):
        _run(tmp_path, "small", exemplar_size=32)


def test_diversity_auto_steers_to_the_layout_target_by_default_with_an_eight_dimensional_z():
    from texnet.extras.auto_lambda import LAYOUT_TARGET
    from texnet.config import V2_Z_DIM

    auto = texture_config(generator="v2", diversity="auto").resolved().validate()
    assert auto.diversity_target == LAYOUT_TARGET == 0.55 and auto.z_dim == V2_Z_DIM == 8
    assert auto.generator_spec()[1]["z_dim"] == 8
    # 0 turns the controller off; a κ schedule or a number λ has no target
    assert texture_config(generator="v2", diversity="auto", diversity_target=0).resolved().diversity_target == 0
    scheduled = texture_config(generator="v2", diversity="auto", diversity_kappa_end=0.5).resolved().validate()
    assert scheduled.diversity_target == 0
    assert texture_config(generator="v2", diversity=0.1).resolved().validate().diversity_target == 0
    assert texture_config(generator="v2", z_dim=256).resolved().z_dim == 256


def test_a_run_saved_before_the_target_default_resumes_as_a_constant_kappa():
    from texnet.config import to_dict, train_config_from_saved

    old = to_dict(texture_config(generator="v2", diversity="auto", z_dim=256))  # unresolved: target None
    assert old["diversity_target"] is None
    assert train_config_from_saved(old).diversity_target == 0.0
    new = to_dict(texture_config(generator="v2", diversity="auto").resolved())
    assert train_config_from_saved(new).diversity_target == 0.55


def test_the_default_target_on_a_too_small_exemplar_says_how_to_go_on(tmp_path):
    with pytest.raises(ConfigError, match="--diversity-target 0"):
        train(texture_config(generator="v2", diversity="auto", batch_size=3, steps=2, exemplar_size=32),
              tmp_path / "r", show_progress=False, log=quiet)
