"""--init: a run that starts from a trained network's weights (the zoo's second, 256-px StyleNet stage)."""
from __future__ import annotations

import pytest
import torch

from helpers_cli import one_line, run_cli
from helpers_train import quiet, state, texture_config, without
from texnet.errors import CheckpointError
from texnet.train import Trainer, train


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A TextureNetV1 trained for 3 steps: the weights the runs below start from."""
    out = tmp_path_factory.mktemp("source") / "run"
    train(texture_config(steps=3), out, show_progress=False, log=quiet)
    return out


def test_the_run_starts_from_the_given_weights_and_continues_them(tmp_path, source):
    t = Trainer(texture_config(steps=2, init=str(source)), tmp_path / "warm", show_progress=False, log=quiet)
    before = t.generator.state_dict()
    trained = state(source / "model.pt")
    assert all(torch.equal(before[k], trained[k]) for k in trained)
    warm = t.run().history
    cold = train(texture_config(steps=2), tmp_path / "cold", show_progress=False, log=quiet).history
    assert warm[0]["loss"] < cold[0]["loss"]  # 3 trained steps ahead of a fresh network


def test_a_different_architecture_is_one_line_before_the_run_folder_exists(tmp_path, source):
    out = tmp_path / "never"
    with pytest.raises(CheckpointError) as info:
        Trainer(texture_config(steps=2, v1_scales=2, init=str(source)), out, show_progress=False, log=quiet)
    message = str(info.value)
    assert "scales 3" in message and "\n" not in message and "--init" in message
    assert not out.exists()


def test_resume_keeps_the_trained_weights_rather_than_starting_again(tmp_path, source):
    """The split run is the uninterrupted one: --init acts once, at the start."""
    cfg = dict(init=str(source), steps=4)
    full = train(texture_config(**cfg), tmp_path / "full", show_progress=False, log=quiet)
    train(texture_config(**{**cfg, "steps": 2}), tmp_path / "split", show_progress=False, log=quiet)
    resumed = train(texture_config(**cfg), tmp_path / "split", resume=True, show_progress=False, log=quiet)
    assert without(resumed.history, "seconds") == without(full.history, "seconds")


def test_cli_flag_and_a_missing_source(tmp_path, capsys):
    rc, out, _ = run_cli(["train-style", "--help"], capsys)
    assert rc == 0 and "--init MODEL" in out
    rc, _, err = run_cli(["train-texture", "--texture", "sample:brick", "--generator", "v1", "--size", "32",
                          "--steps", "1", "--init", tmp_path / "nothing.pt", "--out", tmp_path / "run"], capsys)
    assert rc != 0 and "nothing.pt" in one_line(err)
    assert not (tmp_path / "run").exists()
