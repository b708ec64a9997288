"""Distributed training (texnet.distributed): 2 processes on gloo, compared with single-process training.

One torchrun of 2 processes (helpers_distributed.worker) runs every scenario,
the `texnet train-texture` command included; the tests below check what it
recorded. Sizes are tiny (16-32 px, VGG to relu2_1,
fp32) and every process uses one thread.
"""
from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import helpers_distributed as hd
from helpers_train import make_content_folder, quiet, read_rows, without
from texnet import distributed
from texnet.checkpoints import load, load_checkpoint
from texnet.config import TrainConfig
from texnet.errors import ConfigError
from texnet.train import train

#: Float tolerance of "equal to the single-process value": the same sums, added in another order.
ATOL = 1e-5


def _torchrun(*args, timeout=300):
    """`python -m torch.distributed.run --standalone --nproc_per_node 2 ARGS` with this checkout's texnet."""
    src = Path(__file__).resolve().parents[1] / "src"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(src), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1", "TEXNET_NO_PROGRESS": "1"}
    for k in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(k, None)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(hd.WORLD), *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Start the 2 processes once under torchrun; ({rank: results}, the folder they worked in, the process)."""
    tmp = tmp_path_factory.mktemp("ddp")
    content = make_content_folder(tmp / "content")
    proc = _torchrun(str(Path(hd.__file__)), str(tmp), str(content))
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = {r: torch.load(tmp / "results" / f"rank{r}.pt", weights_only=False) for r in range(hd.WORLD)}
    for r, res in results.items():
        assert "error" not in res, f"rank {r} failed:\n{res['error']}"
    return results, tmp, proc


def _max_diff(a, b) -> float:
    return max(float((x - y).abs().max()) for x, y in zip(a, b))


# --------------------------------------------------------------------------- objective and gradients


@pytest.mark.parametrize("case", ["v2", "v2e", "style"])
def test_objective_and_gradients_equal_the_single_process_ones(runs, case):
    """The global batch split over 2 processes: the logged objective (loss, entropy, nn distance) and the
    DDP-averaged gradients equal single-process training on the same global batch."""
    results, _, _ = runs
    ref = results[0][f"ref_{case}"]
    for r in range(hd.WORLD):
        got = results[r][f"dist_{case}"]
        for key in ("objective", "loss", "entropy", "nn_distance"):
            assert abs(got["row"][key] - ref["row"][key]) <= ATOL * max(1.0, abs(ref["row"][key])), (case, key)
        assert got["row"]["entropy"] != 0.0
        diff = _max_diff(got["grads"], ref["grads"])
        scale = max(float(g.abs().max()) for g in ref["grads"])
        print(f"{case}: max |grad difference| {diff:.3g} (max |grad| {scale:.3g}); "
              f"objective difference {abs(got['row']['objective'] - ref['row']['objective']):.3g}")
        assert diff <= ATOL * scale, (case, diff, scale)
    # both processes applied the very same averaged gradients
    assert all(torch.equal(a, b) for a, b in zip(results[0][f"dist_{case}"]["grads"], results[1][f"dist_{case}"]["grads"]))


def test_rank_scope_searches_neighbours_within_each_process(runs):
    """entropy_scope='rank': the objective is the mean of the single-process objectives of the two slices,
    which is not the global-batch objective (each slice's nearest neighbours are farther)."""
    results, _, _ = runs
    expected = results[0]["ref_rank_scope"]
    got = results[0]["dist_rank_scope"]["objective"]
    assert abs(got - expected) <= ATOL * max(1.0, abs(expected))
    assert results[1]["dist_rank_scope"]["objective"] == got
    assert results[0]["dist_rank_scope"]["entropy"] > results[0]["dist_v2"]["row"]["entropy"]


# --------------------------------------------------------------------------- training, resume, output


def test_weights_stay_identical_across_processes(runs):
    results, _, _ = runs
    a, b = results[0]["full_state"], results[1]["full_state"]
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert without(results[0]["full_history"], "seconds") == without(results[1]["full_history"], "seconds")


def test_resumed_run_continues_the_uninterrupted_loss_history(runs):
    results, tmp, _ = runs
    full = without(results[0]["full_history"], "seconds")
    resumed = without(results[0]["resumed_history"], "seconds")
    assert [r["step"] for r in resumed] == [1, 2, 3, 4]
    assert resumed == full  # same world size: bit for bit
    a = load_checkpoint(tmp / "full_0" / "model.pt")["state_dict"]
    b = load_checkpoint(tmp / "split_0" / "model.pt")["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    # rank 1 had no run folder of its own: it resumed from the checkpoint rank 0 read and handed over
    assert without(results[1]["resumed_history"], "seconds") == resumed
    assert any("at step 2" in m for m in results[0]["resumed_logs"]) and not results[1]["resumed_logs"]


def test_only_rank_0_writes_files(runs):
    _, tmp, _ = runs
    for name in ("full", "split", "sig", "nan"):
        assert (tmp / f"{name}_0" / "checkpoint.pt").is_file(), name
        assert not (tmp / f"{name}_1").exists(), name
    assert {"model.pt", "losses.csv", "config.json", "samples.png"} <= {p.name for p in (tmp / "full_0").iterdir()}
    assert len(read_rows(tmp / "full_0" / "losses.csv")) == 4
    g = load(tmp / "full_0" / "model.pt")
    assert g.checkpoint["world_size"] == 2
    assert torch.isfinite(g.generate(2, 32, seed=0)).all()


def test_a_signal_to_one_process_stops_every_process_at_the_same_step(runs):
    results, tmp, _ = runs
    for r in range(hd.WORLD):
        got = results[r]["signal"]
        assert got["raised"] == "TrainingInterrupted" and got["signum"] == 15, got
        assert "SIGTERM at step 2" in got["message"] and "--resume" in got["message"]
    assert load_checkpoint(tmp / "sig_0" / "checkpoint.pt")["step"] == 2
    assert not (tmp / "sig_0" / "model.pt").exists()


def test_a_nan_in_one_process_stops_every_process_at_the_same_step(runs):
    results, tmp, _ = runs
    for r in range(hd.WORLD):
        got = results[r]["nan"]
        assert got["raised"] == "TrainingDiverged", got
        assert "at step 2" in got["message"] and "last good checkpoint: step 1" in got["message"]
    assert load_checkpoint(tmp / "nan_0" / "checkpoint.pt")["step"] == 1


def test_a_two_process_checkpoint_resumes_in_one_process(runs, tmp_path):
    """World size 2 -> 1: the same global batches, so the history continues to float tolerance."""
    results, tmp, _ = runs
    out = tmp_path / "run"
    out.mkdir()
    shutil.copy(tmp / "split_step2.pt", out / "checkpoint.pt")
    res = train(hd.v1_config(device="cpu"), out, resume=True, show_progress=False, log=quiet)
    full = results[0]["full_history"]
    assert [r["step"] for r in res.history] == [1, 2, 3, 4]
    assert without(res.history[:2], "seconds") == without(full[:2], "seconds")  # restored, not recomputed
    for mine, ref in zip(res.history[2:], full[2:]):
        for key in ("objective", "loss", "entropy", "nn_distance"):
            assert abs(mine[key] - ref[key]) <= 1e-4 * max(1.0, abs(ref[key])), (mine["step"], key)


# --------------------------------------------------------------------------- settings refused before work


def _cfg(**kw) -> TrainConfig:
    return hd.v1_config(**kw).resolved()


@pytest.mark.parametrize("kw,world,match", [
    (dict(batch_size=6), 4, "divisible by the 4 processes"),
    (dict(batch_size=4, entropy_scope="rank"), 4, "entropy-scope rank"),
    (dict(sync_bn=True, norm="batch"), 2, "SyncBatchNorm does not run on CPU"),
])
def test_impossible_settings_are_one_line_config_errors(kw, world, match):
    with pytest.raises(ConfigError, match=match) as info:
        distributed.check_config(_cfg(**kw), world, torch.device("cpu"))
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("kw,match", [(dict(entropy_scope="batch"), "entropy-scope must be one of global, rank"),
                                      (dict(sync_bn=True), "needs --norm batch")])
def test_distributed_options_are_validated_by_the_config(kw, match):
    with pytest.raises(ConfigError, match=match):
        _cfg(**kw).resolved().validate()


def test_torchrun_environment_is_checked_before_any_work(tmp_path, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "3")
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("LOCAL_RANK", "0")
    out = tmp_path / "run"
    with pytest.raises(ConfigError, match="divisible by the 3 processes"):
        train(hd.v1_config(device="cpu"), out, show_progress=False, log=quiet)
    with pytest.raises(ConfigError, match="cuda:LOCAL_RANK"):
        train(hd.v1_config(device="cuda:1", batch_size=3), out, show_progress=False, log=quiet)
    assert not out.exists()
    assert not torch.distributed.is_initialized()


def test_sync_batchnorm_on_cpu_is_really_refused_by_torch():
    """Why sync_bn is a ConfigError on CPU: torch's SyncBatchNorm rejects CPU tensors under a process group."""
    import torch.distributed as dist

    store = dist.HashStore()
    dist.init_process_group("gloo", store=store, rank=0, world_size=1)
    try:
        bn = torch.nn.SyncBatchNorm(3)
        with pytest.raises(ValueError, match="GPU"):
            bn(torch.rand(2, 3, 4, 4))
    finally:
        dist.destroy_process_group()


def test_single_process_context_is_the_identity():
    ctx = distributed.DistContext()
    batch = ([torch.rand(4, 3)], torch.rand(4, 1))
    assert ctx.shard(batch) is batch and not ctx.enabled and ctx.is_main
    assert ctx.agree_signal(None) is None and ctx.agree_signal(15) == 15
    assert ctx.from_main(lambda: 7) == 7
    two = dataclasses.replace(ctx, world_size=2, rank=1)
    z, c = two.shard(batch)
    assert torch.equal(z[0], batch[0][0][2:]) and torch.equal(c, batch[1][2:])


# --------------------------------------------------------------------------- the command under torchrun


def test_texnet_train_command_under_torchrun(runs):
    """`texnet train-texture` in both processes with one --out: rank 0 writes one run folder whose model
    samples; texnet started the process group itself (and `leave`, also run at exit, ends it)."""
    results, tmp, proc = runs
    assert [results[r]["cli"]["rc"] for r in range(hd.WORLD)] == [0, 0]
    assert all(results[r]["cli_started_group"] and results[r]["group_ended"] for r in range(hd.WORLD))
    assert proc.stdout.count(f"training on 2 processes ({hd.backend()}): global batch 4 = 2 x 2") == 1  # rank 0 alone
    out = tmp / "cli"
    assert {"model.pt", "checkpoint.pt", "losses.csv", "config.json"} <= {p.name for p in out.iterdir()}
    assert len(read_rows(out / "losses.csv")) == 2
    g = load(out / "model.pt")
    assert g.checkpoint["world_size"] == 2 and g.generate(2, seed=0).shape == (2, 3, 16, 16)


def test_diversity_auto_trains_under_torchrun(runs):
    """`--diversity auto` (λ follows the loss) under 2 gloo processes: eight TextureNetV2 networks and a
    StyleNet both finish and write a model; before, both ranks died comparing the word auto with 0."""
    results, tmp, _ = runs
    assert [results[r]["cli_auto"] for r in range(hd.WORLD)] == [{"texture": 0, "style": 0}] * hd.WORLD
    tex = load(tmp / "cli_auto_texture" / "model.pt")
    assert tex.checkpoint["world_size"] == 2 and tex.checkpoint["train_config"]["diversity"] == "auto"
    assert tex.config.get("experts") == 8
    style = load(tmp / "cli_auto_style" / "model.pt")
    assert style.checkpoint["world_size"] == 2 and style.checkpoint["train_config"]["diversity"] == "auto"
