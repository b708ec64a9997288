"""Training feed-forward generators (paper eq. 11): progress, run folders, exact resume, failures, signals."""
from __future__ import annotations

import json
import math
import os
import signal

import pytest
import torch
from PIL import Image

from helpers_train import (
    make_content_folder,
    quiet,
    read_rows,
    state,
    style_config,
    texture_config,
    without,
)
from texnet.checkpoints import load, load_checkpoint
from texnet.errors import CheckpointError, ConfigError, TexnetError
from texnet.paper.generators import StyleNet, TextureNetV1
from texnet.paper.objective import JuleszObjective
from texnet.train import SAMPLE_COUNT, Trainer, TrainingDiverged, TrainingInterrupted, train

#: The reference run every resume/interrupt test is compared with. The lr halves after step 3, so a run
#: split after step 2 must restore the scheduler's position, not only the optimizer's lr.
N = 4
REFERENCE = dict(steps=N, lr_step=3, lr_decay=0.5)


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("reference") / "run"
    res = train(texture_config(**REFERENCE), out, show_progress=False, log=quiet)
    return out, res


@pytest.fixture(scope="module")
def content_dir(tmp_path_factory):
    return make_content_folder(tmp_path_factory.mktemp("photos") / "content")


# --------------------------------------------------------------------------- learning


def test_a_few_steps_lower_the_objective(tmp_path):
    cfg = texture_config(steps=16, batch_size=4)
    trainer = Trainer(cfg, tmp_path / "run", show_progress=False, log=quiet)
    fixed = trainer.generator.sample_noise(4, 32, torch.Generator().manual_seed(123))

    def evaluate():
        trainer.generator.eval()
        with torch.no_grad():
            return float(trainer.objective(trainer.generator(fixed))["objective"])

    before = evaluate()
    res = trainer.run()
    after = evaluate()
    objectives = [r["objective"] for r in res.history]
    assert len(objectives) == 16 and all(math.isfinite(v) for v in objectives)
    first, last = sum(objectives[:3]) / 3, sum(objectives[-3:]) / 3
    assert last < 0.6 * first, objectives  # measured: 2.8 -> 0.7 (brick, 32 px)
    assert after < 0.6 * before, (before, after)


def test_run_folder_contents(reference_run):
    out, res = reference_run
    names = {p.name for p in out.iterdir()}
    assert {"checkpoint.pt", "model.pt", "losses.csv", "losses.png", "samples.png", "config.json"} <= names
    assert not [n for n in names if n.endswith(".tmp")]

    rows = read_rows(out / "losses.csv")
    assert len(rows) == N
    assert {"step", "objective", "loss", "texture", "nn_distance"} <= set(rows[0])
    assert [int(float(r["step"])) for r in rows] == list(range(1, N + 1))
    assert all(math.isfinite(float(r["objective"])) for r in rows)
    assert [float(r["lr"]) for r in rows] == [0.01, 0.01, 0.01, 0.005]
    assert [r["objective"] for r in res.history] == [float(r["objective"]) for r in rows]

    with Image.open(out / "losses.png") as im:
        assert im.width > 100 and im.height > 100
    with Image.open(out / "samples.png") as im:  # 8 samples of 32 px in a 4-column grid
        assert im.width >= 4 * 32 and im.height >= 2 * 32

    config = json.loads((out / "config.json").read_text())
    assert config["command"] == "train-texture"
    assert config["architecture"] == "TextureNetV1"
    assert config["arch_config"]["scales"] == 3
    assert config["config"]["steps"] == N and config["config"]["loss"]["texture_layers"]["relu3_1"] == 1.0
    assert config["parameters"] == res.generator.num_parameters()

    g = load(out / "model.pt")
    assert isinstance(g, TextureNetV1) and g.checkpoint["step"] == N
    for k, v in res.generator.state_dict().items():
        assert torch.equal(g.state_dict()[k], v)
    assert load_checkpoint(out / "checkpoint.pt")["step"] == N


def test_periodic_sample_grids_and_checkpoints(tmp_path):
    out = tmp_path / "run"
    res = train(texture_config(steps=4, sample_every=2, checkpoint_every=2), out, show_progress=False, log=quiet)
    assert sorted(p.name for p in (out / "samples").iterdir()) == ["step_000002.png", "step_000004.png"]
    assert res.history[-1]["step"] == 4
    with Image.open(out / "samples" / "step_000002.png") as im:
        assert im.width >= 4 * 32 and im.height >= (SAMPLE_COUNT // 4) * 32


# --------------------------------------------------------------------------- resume


def test_resume_reproduces_the_uninterrupted_run(tmp_path, reference_run):
    ref_out, _ = reference_run
    out = tmp_path / "run"
    half = train(texture_config(**{**REFERENCE, "steps": N // 2}), out, show_progress=False, log=quiet)
    assert len(half.history) == N // 2
    assert load_checkpoint(out / "checkpoint.pt")["step"] == N // 2
    logs = []
    res = train(texture_config(**REFERENCE), out, resume=True, show_progress=False, log=logs.append)
    assert any(f"at step {N // 2}" in m for m in logs)
    assert [r["step"] for r in res.history] == list(range(1, N + 1))

    mine, ref = read_rows(out / "losses.csv"), read_rows(ref_out / "losses.csv")
    assert without(mine, "seconds") == without(ref, "seconds")  # exact: same text, same floats
    for name in ("checkpoint.pt", "model.pt"):
        a, b = state(out / name), state(ref_out / name)
        assert a.keys() == b.keys()
        for k in a:
            assert torch.equal(a[k], b[k]), (name, k)


def test_resume_style_training_reproduces_the_data_order(tmp_path, content_dir):
    """Stylization draws content crops per step: a resumed run sees the same crops and noise."""
    cfg = dict(steps=4, noise_channels=1)
    full = train(style_config(content_dir, **cfg), tmp_path / "full", show_progress=False, log=quiet)
    train(style_config(content_dir, **{**cfg, "steps": 2}), tmp_path / "split", show_progress=False, log=quiet)
    resumed = train(style_config(content_dir, **cfg), tmp_path / "split", resume=True, show_progress=False, log=quiet)
    assert without(resumed.history, "seconds") == without(full.history, "seconds")
    a, b = state(tmp_path / "full" / "model.pt"), state(tmp_path / "split" / "model.pt")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_resume_with_a_changed_setting_is_refused(tmp_path):
    out = tmp_path / "run"
    train(texture_config(steps=2), out, show_progress=False, log=quiet)
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    with pytest.raises(CheckpointError) as info:
        train(texture_config(steps=4, lr=0.02), out, resume=True, show_progress=False, log=quiet)
    assert "lr" in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(CheckpointError, match="v1_scales"):
        train(texture_config(steps=4, v1_scales=2), out, resume=True, show_progress=False, log=quiet)
    after = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    assert after == before  # nothing touched
    # steps / checkpoint_every / sample_every may change
    res = train(texture_config(steps=3, checkpoint_every=1, sample_every=50), out, resume=True,
                show_progress=False, log=quiet)
    assert [r["step"] for r in res.history] == [1, 2, 3]


def test_nothing_to_resume(tmp_path):
    with pytest.raises(CheckpointError, match="nothing to resume"):
        train(texture_config(), tmp_path / "never_trained", resume=True, show_progress=False, log=quiet)
    assert not (tmp_path / "never_trained").exists()
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="nothing to resume"):
        train(texture_config(), tmp_path / "empty", resume=True, show_progress=False, log=quiet)


def test_existing_run_folder_is_not_clobbered(tmp_path, reference_run):
    ref_out, _ = reference_run
    before = (ref_out / "model.pt").read_bytes()
    with pytest.raises(TexnetError, match="--overwrite"):
        train(texture_config(steps=1), ref_out, show_progress=False, log=quiet)
    assert (ref_out / "model.pt").read_bytes() == before


def test_resume_past_the_end_does_nothing(tmp_path):
    out = tmp_path / "run"
    train(texture_config(steps=2), out, show_progress=False, log=quiet)
    before = state(out / "model.pt")
    logs = []
    res = train(texture_config(steps=2), out, resume=True, show_progress=False, log=logs.append)
    assert len(res.history) == 2 and any("nothing to do" in m for m in logs)
    after = state(out / "model.pt")
    assert all(torch.equal(before[k], after[k]) for k in before)


# --------------------------------------------------------------------------- rejected before any work


def test_diversity_with_batch_size_one_is_rejected_before_work(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(ConfigError, match="batch-size"):
        train(texture_config(diversity=0.05, batch_size=1), out, show_progress=False, log=quiet)
    assert not out.exists()


@pytest.mark.parametrize("bad", [dict(lr=0.0), dict(size=8), dict(steps=0), dict(generator="stylenet"),
                                 dict(norm="group"), dict(diversity=-1.0), dict(exemplar=None),
                                 dict(diversity_space="frequency"), dict(diversity_layer="relu9_9")])
def test_invalid_settings_are_rejected_before_work(tmp_path, bad):
    out = tmp_path / "run"
    with pytest.raises(ConfigError):
        train(texture_config(**bad), out, show_progress=False, log=quiet)
    assert not out.exists()


# --------------------------------------------------------------------------- diversity term in training


@pytest.mark.parametrize("space", ["pixels", "features"])
def test_training_with_diversity_logs_entropy(tmp_path, space):
    cfg = texture_config(steps=2, diversity=0.05, diversity_space=space)  # features: relu3_1, a texture tap
    res = train(cfg, tmp_path / "run", show_progress=False, log=quiet)
    rows = read_rows(tmp_path / "run" / "losses.csv")
    assert "entropy" in rows[0]
    for r in res.history:
        assert r["entropy"] != 0.0
        assert abs(r["objective"] - (r["loss"] - 0.05 * r["entropy"])) < 1e-5
    assert (tmp_path / "run" / "diversity.png").is_file()


def test_feature_space_setting_with_zero_diversity_trains(tmp_path):
    res = train(texture_config(steps=1, diversity_space="features", diversity_layer="relu2_1"), tmp_path / "run",
                show_progress=False, log=quiet)
    assert len(res.history) == 1


# --------------------------------------------------------------------------- stylization


def test_style_training_works_and_reports_skipped_files(tmp_path):
    content = make_content_folder(tmp_path / "content", broken=True)
    logs = []
    res = train(style_config(content, steps=3), tmp_path / "run", show_progress=False, log=logs.append)
    assert res.skipped_files == 2
    assert any("skipped 2 unreadable file(s)" in m for m in logs)
    assert isinstance(res.generator, StyleNet) and not res.generator.training
    rows = read_rows(tmp_path / "run" / "losses.csv")
    assert len(rows) == 3 and {"content", "texture"} <= set(rows[0])
    assert all(math.isfinite(float(r["content"])) and float(r["content"]) >= 0 for r in rows)
    with Image.open(tmp_path / "run" / "samples.png") as im:  # 4 crops above their 4 stylizations
        assert im.width >= 4 * 32 and im.height >= 2 * 32
    g = load(tmp_path / "run" / "model.pt")
    x = torch.rand(1, 3, 37, 45)
    assert g.stylize(x).shape == (1, 3, 37, 45)


def test_style_training_lowers_the_objective(tmp_path, content_dir):
    res = train(style_config(content_dir, steps=14), tmp_path / "run", show_progress=False, log=quiet)
    obj = [r["objective"] for r in res.history]
    assert sum(obj[-3:]) / 3 < 0.5 * sum(obj[:3]) / 3, obj  # measured: ~15 -> ~3


def test_style_training_without_readable_photos_fails_before_training(tmp_path):
    content = tmp_path / "content"
    content.mkdir()
    (content / "a.jpg").write_text("nope")
    with pytest.raises(TexnetError, match="could be read"):
        train(style_config(content), tmp_path / "run", show_progress=False, log=quiet)
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


# --------------------------------------------------------------------------- divergence


def test_divergence_with_a_huge_learning_rate(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(TrainingDiverged) as info:
        train(texture_config(lr=1e30, checkpoint_every=1), out, show_progress=False, log=quiet)
    msg = str(info.value)
    assert "at step 2" in msg and "last good checkpoint: step 1" in msg and "--lr" in msg
    data = load_checkpoint(out / "checkpoint.pt")
    assert data["step"] == 1
    assert not (out / "model.pt").exists()


def _poison_objective(monkeypatch, at_call: int, value: float) -> dict:
    """Make the real objective's value non-finite (times `value`) on its `at_call`-th evaluation; counts calls."""
    calls = {"n": 0}
    real_forward = JuleszObjective.forward

    def poisoned(self, samples, content_targets=None, **kw):
        stats = real_forward(self, samples, content_targets, **kw)
        calls["n"] += 1
        if calls["n"] == at_call:
            stats["objective"] = stats["objective"] * value
        return stats

    monkeypatch.setattr(JuleszObjective, "forward", poisoned)
    return calls


def test_nan_objective_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    """The objective turns NaN at step 3 (the real loss, then poisoned): the run stops naming the step, and
    checkpoint.pt (saved every step) still holds step 2."""
    calls = _poison_objective(monkeypatch, at_call=3, value=float("nan"))
    out = tmp_path / "run"
    with pytest.raises(TrainingDiverged) as info:
        train(texture_config(steps=5, checkpoint_every=1), out, show_progress=False, log=quiet)
    assert calls["n"] == 3
    msg = str(info.value)
    assert "nan" in msg and "step 3" in msg and "last good checkpoint: step 2" in msg
    data = load_checkpoint(out / "checkpoint.pt")
    assert data["step"] == 2
    assert [r["step"] for r in data["history"]] == [1, 2]
    assert all(torch.isfinite(v).all() for v in data["state_dict"].values() if v.dtype.is_floating_point)
    g = load(out / "checkpoint.pt")
    assert torch.isfinite(g.generate(2, 32, seed=0)).all()
    assert len(read_rows(out / "losses.csv")) == 2


def test_divergence_message_names_the_checkpoint_actually_on_disk(tmp_path, monkeypatch):
    _poison_objective(monkeypatch, at_call=4, value=float("inf"))
    out = tmp_path / "run"
    with pytest.raises(TrainingDiverged) as info:
        train(texture_config(steps=6, checkpoint_every=2), out, show_progress=False, log=quiet)
    saved = load_checkpoint(out / "checkpoint.pt")["step"]
    assert saved == 2
    assert "at step 4" in str(info.value)
    assert f"last good checkpoint: step {saved}" in str(info.value)


# --------------------------------------------------------------------------- Ctrl-C / SIGTERM


def _require_handler(sig, outside):
    """Fail cleanly (instead of killing the test process) if training installed no handler of its own."""
    inside = signal.getsignal(sig)
    if inside in (outside, signal.SIG_DFL, signal.SIG_IGN, signal.default_int_handler):
        raise AssertionError(f"no {signal.Signals(sig).name} handler installed during training")


@pytest.mark.parametrize("sig,name", [(signal.SIGINT, "Ctrl-C"), (signal.SIGTERM, "SIGTERM")])
def test_signal_saves_a_checkpoint_and_resume_continues(tmp_path, monkeypatch, reference_run, sig, name):
    ref_out, _ = reference_run
    real_step = Trainer.train_step
    handler_before = signal.getsignal(sig)

    def step_then_signal(self, step):
        row = real_step(self, step)
        if step == 2:
            _require_handler(sig, handler_before)
            os.kill(os.getpid(), sig)
        return row

    monkeypatch.setattr(Trainer, "train_step", step_then_signal)
    out = tmp_path / "run"
    with pytest.raises(TrainingInterrupted) as info:
        train(texture_config(**REFERENCE), out, show_progress=False, log=quiet)
    msg = str(info.value)
    assert name in msg and "step 2" in msg and "--resume" in msg
    assert signal.getsignal(sig) is handler_before  # handlers restored
    assert load_checkpoint(out / "checkpoint.pt")["step"] == 2
    assert not (out / "model.pt").exists()
    assert len(read_rows(out / "losses.csv")) == 2

    monkeypatch.undo()
    res = train(texture_config(**REFERENCE), out, resume=True, show_progress=False, log=quiet)
    assert [r["step"] for r in res.history] == list(range(1, N + 1))
    assert without(read_rows(out / "losses.csv"), "seconds") == without(read_rows(ref_out / "losses.csv"), "seconds")
    a, b = state(out / "model.pt"), state(ref_out / "model.pt")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_second_ctrl_c_does_not_abort_the_save(tmp_path, monkeypatch):
    """Ctrl-C twice in a row (issue 36: impatient users press it again): the run still saves the step it was
    at and stops with the resumable one-line interruption, instead of losing the step to the second signal."""
    real_step = Trainer.train_step
    handler_before = signal.getsignal(signal.SIGINT)

    def step_then_two_signals(self, step):
        row = real_step(self, step)
        if step == 2:
            _require_handler(signal.SIGINT, handler_before)
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)
        return row

    monkeypatch.setattr(Trainer, "train_step", step_then_two_signals)
    out = tmp_path / "run"
    with pytest.raises(TrainingInterrupted):
        train(texture_config(steps=4, checkpoint_every=1), out, show_progress=False, log=quiet)
    assert load_checkpoint(out / "checkpoint.pt")["step"] == 2