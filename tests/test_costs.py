"""One line before a job that takes minutes or gigabytes (texnet.apps.costs), nothing before a small one."""
from __future__ import annotations

from texnet.apps import costs
from texnet.apps.profiles import get_profile
from texnet.config import TrainConfig


def _cfg(**kw):
    return TrainConfig(exemplar="sample:brick", **kw).resolved()


def test_eight_network_auto_says_its_disk_and_memory_and_how_to_shrink_it():
    line = costs.training(_cfg(task="texture", generator="v2", diversity="auto", size=64, steps=30))
    assert line and "46.2 M parameters" in line and "MB on disk" in line and "GB of memory" in line
    assert "--v2-experts 1" in line


def test_a_small_run_says_nothing():
    assert costs.training(_cfg(task="texture", generator="v1", size=64, steps=2)) is None


def test_a_long_run_says_its_time_and_what_to_cut():
    line = costs.training(_cfg(task="style", size=256, steps=2000))
    assert line and " h on this machine" in line and "--steps" in line and "--channels 16" in line


def test_large_outputs_and_reproduce(capsys):
    assert "--precision bf16" in costs.inference("TextureNetV1", 8192 * 8192 / 1e6, "fp32", 1)
    assert costs.inference("StyleNet", 0.25, "fp32", 1) is None
    costs.warn_reproduce(get_profile("cpu"))
    assert "--profile smoke" in capsys.readouterr().out


def test_a_slim_stylenet_is_estimated_at_a_quarter_of_the_default_width(monkeypatch):
    """Time goes with the square of the StyleNet's width (the zoo's --channels 16 runs: estimated 4.6x too long
    without it)."""
    monkeypatch.setattr(costs, "_threads", lambda: 1)
    wide, slim = (costs.step_seconds("style", 1, 256, channels=c) for c in (32, 16))
    assert slim == wide / 4
    assert costs.step_seconds("texture", 1, 256, channels=16) == costs.step_seconds("texture", 1, 256)


def test_add_style_is_estimated_for_its_base_and_offers_no_width_it_cannot_change(tmp_path):
    import texnet
    from texnet.paper.generators import StyleNet

    g = StyleNet(channels=16, residual_blocks=1)
    base = tmp_path / "base.pt"
    texnet.checkpoints.save_checkpoint(base, g, train_config={}, step=1)
    line = costs.training(_cfg(task="style", base_model=str(base), size=256, steps=100000))
    wide = costs.training(_cfg(task="style", size=256, steps=100000))
    assert line and "--channels 16" not in line and "--channels 16" in wide
    assert costs.training(_cfg(task="style", base_model=str(tmp_path / "missing.pt"), steps=100000)) is None
