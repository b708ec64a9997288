"""Fault injection, training: kill -9 at random moments, kill -9 inside checkpoint writes, Ctrl-C and SIGTERM,
NaN/Inf losses and gradients, a full disk while saving.

The promise under test: a run never loses more than one checkpoint interval of
work, the checkpoint on disk is always loadable, and `--resume` continues with
exactly the losses and weights of an uninterrupted run (CPU, same seed).

Training runs here are real `python -m texnet train-texture` subprocesses
(TextureNetV1, 3 scales, 32 px, batch 2, VGG taps relu1_1/relu2_1: about 0.1 s
a step) killed with SIGKILL at moments drawn from a seeded RNG; the in-process
cases go through `texnet.apps.cli.main`.
"""
from __future__ import annotations

import errno
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import faults_counter as fc
from helpers_cli import one_line, run_cli
from helpers_train import read_rows, without
from texnet.checkpoints import load_checkpoint, save_checkpoint
from texnet.apps.cli import main
from texnet.generators import TextureNetV1
from texnet.objective import JuleszObjective

fc.module("training")

pytestmark = [pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals"),
              pytest.mark.usefixtures("one_thread")]

STEPS = 12
EVERY = 3  # --checkpoint-every: a kill may lose at most this many steps
#: The lr halves every 4 steps: a resumed run must restore the scheduler, not only Adam's state.
ARGS = ["train-texture", "--texture", "sample:brick", "--texture-size", "48", "--generator", "v1", "--scales", "3",
        "--size", "32", "--batch-size", "2", "--steps", str(STEPS), "--checkpoint-every", str(EVERY),
        "--sample-every", "1", "--texture-layers", "relu1_1,relu2_1", "--lr-step", "4", "--lr-decay", "0.5",
        "--seed", "7", "--device", "cpu", "--quiet"]
#: One thread: identical arithmetic in every process, and no 100x slow-down on a busy 2-core machine.
ENV = dict(os.environ, TEXNET_NO_PROGRESS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONWARNINGS="ignore")
SEED = 20170102
N_KILLS = 5


def _texnet(args, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "texnet", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=ENV, **kw)


def _finish(proc: subprocess.Popen, timeout: float = 300):
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def _saved_step(out: Path):
    ckpt = out / "checkpoint.pt"
    return load_checkpoint(ckpt)["step"] if ckpt.is_file() else None


def _temp_files(out: Path):
    return sorted(p.name for p in out.rglob(".*.tmp")) if out.is_dir() else []


def _sample_steps_since(out: Path, t_ns: int):
    """Steps whose sample grid was written after t_ns (--sample-every 1: one grid per completed step)."""
    folder = out / "samples"
    if not folder.is_dir():
        return []
    return sorted(int(p.stem.split("_")[1]) for p in folder.glob("step_*.png") if p.stat().st_mtime_ns >= t_ns)


def _strip(rows):
    return [{k: (float(v) if k != "step" else int(float(v))) for k, v in r.items() if k != "seconds"} for r in rows]


def _assert_same_as(reference: Path, out: Path):
    """losses.csv (every column but wall time) and model.pt weights identical to the uninterrupted run."""
    assert without(read_rows(out / "losses.csv"), "seconds") == without(read_rows(reference / "losses.csv"), "seconds")
    a = torch.load(out / "model.pt", weights_only=True)["state_dict"]
    b = torch.load(reference / "model.pt", weights_only=True)["state_dict"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _checkpoint_matches_reference(out: Path, reference: Path):
    """The checkpoint on disk holds a prefix of the uninterrupted run's history, exactly."""
    data = load_checkpoint(out / "checkpoint.pt")
    ref = _strip(read_rows(reference / "losses.csv"))[: data["step"]]
    assert [r["step"] for r in data["history"]] == list(range(1, data["step"] + 1))
    assert [{k: r[k] for k in ref[0]} for r in data["history"]] == ref
    return data["step"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted run, as a subprocess; also measures start-up and step times for the kill moments."""
    out = tmp_path_factory.mktemp("reference") / "run"
    t0 = time.time_ns()
    rc, stdout, err = _finish(_texnet(ARGS + ["--out", out]))
    assert rc == 0, err
    stamps = sorted((int(p.stem.split("_")[1]), p.stat().st_mtime_ns) for p in (out / "samples").glob("step_*.png"))
    assert [s for s, _ in stamps] == list(range(1, STEPS + 1))
    startup = (stamps[0][1] - t0) / 1e9
    step = (stamps[-1][1] - stamps[0][1]) / 1e9 / (STEPS - 1)
    return dict(out=out, startup=startup, step=step)


# --------------------------------------------------------------------------- kill -9


def test_kill_9_at_random_moments(reference, tmp_path):
    """SIGKILL at seeded pseudo-random moments (in start-up, between and inside steps and checkpoint writes),
    then resume: every checkpoint left behind loads and is a prefix of the uninterrupted run, no kill loses more
    than --checkpoint-every steps, and the finished run equals the uninterrupted one exactly."""
    rng = random.Random(SEED)
    out = tmp_path / "run"
    kills = attempts = 0
    while kills < N_KILLS and attempts < 3 * N_KILLS:
        attempts += 1
        saved_before = _saved_step(out)
        if saved_before is not None and saved_before >= STEPS:
            break
        args = ARGS + ["--out", out] + (["--resume"] if saved_before is not None else ["--overwrite"])
        launch = time.time_ns()
        proc = _texnet(args)
        if rng.random() < 0.25:  # during start-up (imports, loading VGG, the exemplar, the checkpoint) or step 1
            deadline = time.time() + rng.uniform(0.0, reference["startup"] * 1.2)
        else:  # just after a random step k of this attempt: in step k+1's compute, checkpoint, logs or sample grid
            k = min(STEPS - 1, (saved_before or 0) + rng.randint(1, EVERY))
            while proc.poll() is None and k not in _sample_steps_since(out, launch):
                time.sleep(0.002)
            deadline = time.time() + rng.uniform(0.0, reference["step"]) * rng.choice([0.1, 0.3, 1.0])
        while proc.poll() is None and time.time() < deadline:
            time.sleep(0.002)
        if proc.poll() is not None:  # finished (or failed) before the kill
            rc, _, err = _finish(proc)
            assert rc == 0, err
            continue
        proc.send_signal(signal.SIGKILL)
        rc, _, err = _finish(proc)
        assert rc == -signal.SIGKILL
        kills += 1
        fc.fault("sigkill")
        fresh_temp = [p for p in out.rglob(".*.tmp") if p.stat().st_mtime_ns >= launch] if out.is_dir() else []
        if fresh_temp:
            fc.killed_mid_write()
        saved = _checkpoint_matches_reference(out, reference["out"]) if (out / "checkpoint.pt").exists() else 0
        done = max(_sample_steps_since(out, launch), default=saved_before or 0)
        if any(p.name.startswith(".checkpoint.pt.") for p in fresh_temp):  # killed saving the next checkpoint
            done = max(done, min(saved + EVERY, STEPS))
        lost = max(0, done - saved)
        fc.steps_lost(lost, EVERY)
        assert lost <= EVERY, f"kill {kills} lost {lost} steps (done {done}, checkpoint {saved})"
        if saved_before is not None:
            fc.resumed()
    # a kill soon after step k <= checkpoint + EVERY moves the checkpoint by at most EVERY steps, so at least
    # (STEPS - EVERY) / EVERY = 3 kills land before the run can finish; 5 is usual
    assert kills >= (STEPS - EVERY) // EVERY, f"only {kills} kills in {attempts} attempts"
    rc, stdout, err = _finish(_texnet(ARGS + ["--out", out, "--resume"]))
    fc.resumed()
    assert rc == 0, err
    _assert_same_as(reference["out"], out)
    assert _temp_files(out) == []  # stale temp files of killed writes are removed on resume


DRIVER = r"""
import io, sys, time
import texnet.checkpoints as checkpoints

real = checkpoints.atomic_write

def slow_atomic_write(path, write, binary=True):
    def trickle(fh):  # the real bytes, in 8 KiB pieces, 10 ms apart: a checkpoint write takes ~0.4 s
        buf = io.BytesIO()
        write(buf)
        data = buf.getvalue()
        for i in range(0, len(data), 8192):
            fh.write(data[i:i + 8192])
            fh.flush()
            time.sleep(0.01)
    return real(path, trickle, binary)

checkpoints.atomic_write = slow_atomic_write
from texnet.apps.cli import main
sys.exit(main(sys.argv[1:]))
"""


ROUNDS_MID_WRITE = 1


def test_kill_9_during_checkpoint_writes_of_a_real_run(reference, tmp_path):
    """Training whose checkpoint writes are slowed down is killed while a checkpoint temp file is being written
    (at a seeded moment inside the write): the previous checkpoint stays intact; resume is exact."""
    rng = random.Random(SEED + 1)
    out = tmp_path / "run"
    for _ in range(ROUNDS_MID_WRITE):
        resume = ["--resume"] if (out / "checkpoint.pt").exists() else []
        stale = set(_temp_files(out))
        proc = subprocess.Popen([sys.executable, "-c", DRIVER, *map(str, ARGS + ["--out", out] + resume)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
        old = None
        while proc.poll() is None and old is None:
            # a new checkpoint write that will replace an existing checkpoint
            writing = out.is_dir() and any(p.name not in stale for p in out.glob(".checkpoint.pt.*.tmp"))
            if writing and (out / "checkpoint.pt").exists():
                old = (out / "checkpoint.pt").read_bytes()
            else:
                time.sleep(0.003)
        assert old is not None, _finish(proc)[2]
        time.sleep(rng.uniform(0.0, 0.1))  # the slowed write takes ~0.4 s
        proc.send_signal(signal.SIGKILL)
        assert _finish(proc)[0] == -signal.SIGKILL
        fc.fault("sigkill")
        fc.killed_mid_write()
        assert (out / "checkpoint.pt").read_bytes() == old  # the previous checkpoint, untouched
        assert _temp_files(out)  # the half-written temp file is still there ...
        step = _checkpoint_matches_reference(out, reference["out"])  # ... and does not disturb loading
        assert step % EVERY == 0 and step > 0
        fc.steps_lost(EVERY, EVERY)  # the steps since the previous checkpoint, whose checkpoint was being written
    rc, _, err = _finish(_texnet(ARGS + ["--out", out, "--resume"]))
    fc.resumed()
    assert rc == 0, err
    _assert_same_as(reference["out"], out)
    assert _temp_files(out) == []


PHASE_CHILD = r"""
import os, sys, time
from texnet import files

path, new_file, phase = sys.argv[1:4]
new = open(new_file, "rb").read()
real_replace = os.replace

def ready():
    print("ready", flush=True)
    time.sleep(120)

def writer(fh):
    half = len(new) // 2
    fh.write(new[:half])
    if phase == "while writing":
        fh.flush()
        ready()
    fh.write(new[half:])

def replace(src, dst):
    if phase == "after fsync, before rename":
        ready()
    real_replace(src, dst)
    if phase == "after rename, before the folder fsync":
        ready()

os.replace = replace
files.atomic_write(path, writer)
"""


def test_kill_9_at_each_phase_of_an_atomic_write(tmp_path):
    """Killed while writing, after fsync before the rename, and after the rename: the file is always a whole
    checkpoint, the old one before the rename and the new one after it."""
    phases = {"while writing": "old", "after fsync, before rename": "old", "after rename, before the folder fsync": "new"}
    procs = {}
    for i, phase in enumerate(phases):
        folder = tmp_path / f"phase{i}"
        folder.mkdir()
        save_checkpoint(folder / "checkpoint.pt", TextureNetV1(scales=2, size=16), step=1)
        save_checkpoint(folder / "new.bin", TextureNetV1(scales=2, size=16), step=2)
        procs[phase] = (folder, subprocess.Popen(
            [sys.executable, "-c", PHASE_CHILD, str(folder / "checkpoint.pt"), str(folder / "new.bin"), phase],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV))
    for phase, (folder, proc) in procs.items():
        line = proc.stdout.readline()
        assert line.strip() == "ready", proc.stderr.read()
        proc.send_signal(signal.SIGKILL)
        assert _finish(proc)[0] == -signal.SIGKILL
        fc.fault("sigkill")
        fc.killed_mid_write(phases[phase] == "old")
        data = load_checkpoint(folder / "checkpoint.pt")
        assert data["step"] == (1 if phases[phase] == "old" else 2), phase
        leftovers = _temp_files(folder)
        assert (len(leftovers) == 1) == (phases[phase] == "old"), (phase, leftovers)
        # a later save next to the stale temp file works, and loading still sees only checkpoint.pt
        save_checkpoint(folder / "checkpoint.pt", TextureNetV1(scales=2, size=16), step=3)
        assert load_checkpoint(folder / "checkpoint.pt")["step"] == 3


# --------------------------------------------------------------------------- Ctrl-C and SIGTERM


def test_ctrl_c_and_sigterm_save_exit_cleanly_and_resume_exactly(reference, tmp_path):
    """Both signals to a running `python -m texnet train-texture`: one stderr line, exit 130 / 143, a checkpoint
    of the step it stopped at, and a resumed run equal to the uninterrupted one."""
    procs = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        out = tmp_path / sig.name
        procs[sig] = (out, _texnet(ARGS + ["--out", out]))
    for sig, (out, proc) in procs.items():
        while proc.poll() is None and not (out / "checkpoint.pt").exists():  # the training loop is running
            time.sleep(0.005)
        proc.send_signal(sig)
        fc.fault(sig.name.lower())
    resumed = {}
    for sig, (out, proc) in procs.items():
        rc, stdout, err = _finish(proc)
        assert rc == 128 + sig, (rc, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in err, err
        name = "Ctrl-C" if sig == signal.SIGINT else "SIGTERM"
        assert lines[0].startswith(f"texnet: interrupted: {name} at step ") and "--resume" in lines[0]
        step = int(lines[0].split(" at step ")[1].split(":")[0])
        assert _checkpoint_matches_reference(out, reference["out"]) == step
        assert not (out / "model.pt").exists()
        resumed[sig] = (out, _texnet(ARGS + ["--out", out, "--resume"]))
    for sig, (out, proc) in resumed.items():
        rc, stdout, err = _finish(proc)
        fc.resumed()
        assert rc == 0, err
        assert "resumed" in stdout
        _assert_same_as(reference["out"], out)


# --------------------------------------------------------------------------- NaN / Inf


IN_PROCESS = list(ARGS)
IN_PROCESS[IN_PROCESS.index("--steps") + 1] = "9"  # checkpoints at 3, 6, 9


@pytest.fixture(scope="module")
def inproc_reference(tmp_path_factory):
    """The uninterrupted 9-step run, in this process (compared with in-process runs only)."""
    out = tmp_path_factory.mktemp("inproc_reference") / "run"
    assert main(IN_PROCESS + ["--out", str(out)]) == 0
    return out


class _NanGrad(torch.autograd.Function):
    """Identity forward, NaN backward: a finite loss whose gradient is poison."""

    @staticmethod
    def forward(ctx, x):
        return x.view_as(x)

    @staticmethod
    def backward(ctx, g):
        return g * float("nan")


@pytest.mark.parametrize("poison", ["nan", "inf", "-inf", "nan_gradient"])
def test_non_finite_loss_stops_naming_the_step_and_keeps_the_last_good_checkpoint(tmp_path, capsys, monkeypatch,
                                                                                 inproc_reference, poison):
    bad_step = random.Random(f"{SEED}-{poison}").randint(2, 9)
    real_forward = JuleszObjective.forward
    calls = {"n": 0}

    def poisoned(self, samples, content_targets=None):
        calls["n"] += 1
        if calls["n"] == bad_step and poison == "nan_gradient":
            samples = _NanGrad.apply(samples)
        stats = real_forward(self, samples, content_targets)
        if calls["n"] == bad_step and poison != "nan_gradient":
            stats["objective"] = stats["objective"] + float(poison)
        return stats

    monkeypatch.setattr(JuleszObjective, "forward", poisoned)
    out = tmp_path / "run"
    rc, stdout, err = run_cli(IN_PROCESS + ["--out", out], capsys)
    fc.fault(poison)
    assert rc == 1
    line = one_line(err)
    good = (bad_step - 1) // EVERY * EVERY
    assert f"at step {bad_step}" in line, line
    assert ("gradient" in line) == (poison == "nan_gradient"), line
    if good:
        assert f"last good checkpoint: step {good}" in line, line
        data = load_checkpoint(out / "checkpoint.pt")
        assert data["step"] == good
        assert all(torch.isfinite(v).all() for v in data["state_dict"].values() if v.dtype.is_floating_point)
        assert all(torch.isfinite(torch.as_tensor(r["objective"])) for r in data["history"])
    else:
        assert "no checkpoint was written yet" in line and not (out / "checkpoint.pt").exists()
    assert not (out / "model.pt").exists()

    # the fault was transient: resuming finishes the run, identical to one that never met it
    monkeypatch.undo()
    rc, stdout, err = run_cli(IN_PROCESS + ["--out", out] + (["--resume"] if good else ["--overwrite"]), capsys)
    fc.resumed(bool(good))
    assert rc == 0, err
    _assert_same_as(inproc_reference, out)


# --------------------------------------------------------------------------- full disk


class _FullDisk:
    """Wraps a real file object: the first write stores half its bytes (or text), then fails with ENOSPC."""

    def __init__(self, fh, armed):
        self.fh = fh
        self.armed = armed

    def write(self, data):
        self.fh.write(data[: len(data) // 2])
        self.fh.flush()
        self.armed["fired"] += 1
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def __getattr__(self, name):
        return getattr(self.fh, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.fh.close()
        return False


@pytest.mark.parametrize("where", ["write", "fsync", "rename", "first checkpoint", "losses.csv"])
def test_full_disk_while_saving_keeps_the_old_checkpoint(tmp_path, capsys, monkeypatch, inproc_reference, where):
    """ENOSPC injected into the checkpoint save at step 6 (or the first one at step 3, or losses.csv): one line,
    exit 1, the previous checkpoint byte-identical, no temp file left; resuming with space again is exact."""
    train_mod = sys.modules["texnet.train"]  # (texnet.train the attribute is the train() function)

    fail_step = 3 if where == "first checkpoint" else 6
    armed = {"on": False, "fired": 0}
    state = {}

    def enospc():
        armed["fired"] += 1
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    real_save = train_mod.save_checkpoint
    real_write_csv = train_mod.RunFolder.write_csv

    def save_checkpoint_armed(path, generator, **fields):
        if Path(path).name == "checkpoint.pt" and fields.get("step") == fail_step and where != "losses.csv":
            state["before"] = Path(path).read_bytes() if Path(path).exists() else None
            armed["on"] = True
            try:
                return real_save(path, generator, **fields)
            finally:
                armed["on"] = False
        return real_save(path, generator, **fields)

    def write_csv_armed(self, name, rows, fieldnames=None):
        if where == "losses.csv" and name == "losses.csv" and rows[-1]["step"] == fail_step:
            state["before"] = (self.path / "checkpoint.pt").read_bytes()
            armed["on"] = True
            try:
                return real_write_csv(self, name, rows, fieldnames)
            finally:
                armed["on"] = False
        return real_write_csv(self, name, rows, fieldnames)

    real_fdopen, real_fsync, real_replace = os.fdopen, os.fsync, os.replace

    def fdopen(fd, *a, **k):
        fh = real_fdopen(fd, *a, **k)
        return _FullDisk(fh, armed) if armed["on"] and where in ("write", "first checkpoint", "losses.csv") else fh

    def fsync(fd):
        if armed["on"] and where == "fsync":
            enospc()
        return real_fsync(fd)

    def replace(src, dst):
        if armed["on"] and where == "rename":
            enospc()
        return real_replace(src, dst)

    monkeypatch.setattr(train_mod, "save_checkpoint", save_checkpoint_armed)
    monkeypatch.setattr(train_mod.RunFolder, "write_csv", write_csv_armed)
    monkeypatch.setattr(os, "fdopen", fdopen)
    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)

    out = tmp_path / "run"
    rc, stdout, err = run_cli(IN_PROCESS + ["--out", out], capsys)
    fc.fault("enospc")
    assert armed["fired"] == 1
    assert rc == 1
    line = one_line(err)
    assert "no space left on device" in line, line
    assert _temp_files(out) == []
    if where == "first checkpoint":
        assert not (out / "checkpoint.pt").exists() and "no checkpoint was written yet" in line
    elif where == "losses.csv":
        assert "losses.csv" in line and load_checkpoint(out / "checkpoint.pt")["step"] == fail_step
    else:
        assert (out / "checkpoint.pt").read_bytes() == state["before"]
        assert load_checkpoint(out / "checkpoint.pt")["step"] == fail_step - EVERY
        assert f"last good checkpoint: step {fail_step - EVERY}" in line, line

    monkeypatch.undo()
    resume = ["--resume"] if (out / "checkpoint.pt").exists() else ["--overwrite"]
    rc, stdout, err = run_cli(IN_PROCESS + ["--out", out] + resume, capsys)
    fc.resumed(resume == ["--resume"])
    assert rc == 0, err
    _assert_same_as(inproc_reference, out)
