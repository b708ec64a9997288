"""Fault injection, training: kill -9 at chosen moments, kill -9 inside checkpoint writes, Ctrl-C and SIGTERM,
NaN/Inf losses and gradients, a full disk while saving.

The promise under test: a run never loses more than one checkpoint interval of
work, the checkpoint on disk is always loadable, and `--resume` continues with
exactly the losses and weights of an uninterrupted run (CPU, same seed).

Training runs here are real `python -m texnet train-texture` subprocesses
(TextureNetV1, 3 scales, 32 px, batch 2, VGG taps relu1_1/relu2_1). The ones
that get killed run under DRIVER, which stops the child at each event (start-up
done, a step computed, a file about to be written) until the test answers, so
every signal lands at a known moment: no waiting on the clock. The in-process
cases go through `texnet.apps.cli.main`.
"""
from __future__ import annotations

import errno
import os
import random
import select
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from helpers_cli import child_env, one_line, run_cli
from helpers_train import read_rows, without
from texnet.checkpoints import load_checkpoint, save_checkpoint
from texnet.apps.cli import main
from texnet.paper.generators import TextureNetV1
from texnet.paper.objective import JuleszObjective

pytestmark = [pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals"),
              pytest.mark.usefixtures("one_thread")]

STEPS = 12
EVERY = 3  # --checkpoint-every: a kill may lose at most this many steps
#: The lr halves every 4 steps: a resumed run must restore the scheduler, not only Adam's state.
ARGS = ["train-texture", "--texture", "sample:brick", "--texture-size", "48", "--generator", "v1", "--scales", "3",
        "--size", "32", "--batch-size", "2", "--steps", str(STEPS), "--checkpoint-every", str(EVERY),
        "--sample-every", "1", "--texture-layers", "relu1_1,relu2_1", "--lr-step", "4", "--lr-decay", "0.5",
        "--seed", "7", "--device", "cpu", "--quiet", "--checkpoint-minutes", "0"]  # by steps only: known moments
SEED = 20170102
#: Seconds to wait for a child's next event before calling it hung (a step takes well under a second).
EVENT_TIMEOUT = 300


def _texnet(args, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "texnet", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=child_env(), **kw)


def _finish(proc: subprocess.Popen, timeout: float = 300):
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def _saved_step(out: Path) -> int:
    """The step of the checkpoint on disk; 0 when there is none."""
    ckpt = out / "checkpoint.pt"
    return load_checkpoint(ckpt)["step"] if ckpt.is_file() else 0


def _temp_files(out: Path):
    return sorted(p.name for p in out.rglob(".*.tmp")) if out.is_dir() else []


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
def reference(tmp_path_factory) -> Path:
    """The uninterrupted run, as a plain `python -m texnet` subprocess."""
    out = tmp_path_factory.mktemp("reference") / "run"
    rc, stdout, err = _finish(_texnet(ARGS + ["--out", out]))
    assert rc == 0, err
    return out


# --------------------------------------------------------------------------- a child that stops at each event


DRIVER = r'''
"""`python -m texnet ARGS` that reports events on file descriptor FD and waits at each for an answer on stdin.

Events (one line each):  start             imports done, the command line not yet read
                         ready             trainer built (loss network, exemplar, resumed state), no step run
                         step K            step K computed and applied; nothing of it written yet
                         write NAME SIZE   an atomic write of NAME is about to put SIZE bytes (or characters)
                                           into its temp file
                         paused NAME N     N of them are in the temp file, flushed; not fsynced, not renamed
Answers: "go", or to a write event "pause N" (stop again after N bytes).
"""
import io, os, runpy, sys

events = int(sys.argv[1])


def tell(*words):
    os.write(events, (" ".join(map(str, words)) + "\n").encode())
    answer = sys.stdin.readline().split()
    if not answer:  # the test is gone
        os._exit(70)
    return answer


import texnet.io.files as files
from texnet.train import Trainer

real_atomic_write = files.atomic_write


def atomic_write(path, write, binary=True):
    def staged(fh):
        buf = io.BytesIO() if binary else io.StringIO(newline="")
        write(buf)
        data = buf.getvalue()
        name = os.path.basename(path)
        answer = tell("write", name, len(data))
        if answer[0] == "pause":
            n = int(answer[1])
            fh.write(data[:n])
            fh.flush()
            tell("paused", name, n)
            data = data[n:]
        fh.write(data)
    return real_atomic_write(path, staged, binary)


files.atomic_write = atomic_write  # modules imported later bind this one
for module in list(sys.modules.values()):  # ... and those already imported are re-pointed
    if getattr(module, "__name__", "").startswith("texnet") and getattr(module, "atomic_write", None) is real_atomic_write:
        module.atomic_write = atomic_write

real_step, real_run = Trainer.train_step, Trainer.run


def train_step(self, step):
    row = real_step(self, step)
    tell("step", step)
    return row


def run(self):
    tell("ready")
    return real_run(self)


Trainer.train_step, Trainer.run = train_step, run
tell("start")
sys.argv = ["texnet", *sys.argv[2:]]
runpy.run_module("texnet", run_name="__main__", alter_sys=True)
'''


class _Driven:
    """A `python -m texnet` child under DRIVER: it stops at every event until the test answers."""

    def __init__(self, args):
        read_fd, write_fd = os.pipe()
        self.proc = subprocess.Popen([sys.executable, "-c", DRIVER, str(write_fd), *map(str, args)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, env=child_env(), pass_fds=[write_fd])
        os.close(write_fd)
        self.events = os.fdopen(read_fd, "rb", buffering=0)
        self.step = None  # the last step the child reported computed

    def next_event(self):
        """The child's next event as a list of words (the child waits for an answer); None once it has exited."""
        readable, _, _ = select.select([self.events], [], [], EVENT_TIMEOUT)
        if not readable:
            self.proc.kill()
            pytest.fail(f"no event from the training child in {EVENT_TIMEOUT} s: {self.proc.communicate()[1]}")
        words = self.events.readline().decode().split()
        if words[:1] == ["step"]:
            self.step = int(words[1])
        return words or None

    def answer(self, text: str = "go") -> None:
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()

    def until(self, wanted):
        """Answer "go" to each event until `wanted(event)`: that event (not answered yet), or None if the child
        exited first."""
        while True:
            event = self.next_event()
            if event is None or wanted(event):
                return event
            self.answer()

    def finish(self, timeout: float = 300):
        """Let the child run to its end, answering "go" to every event from now on (an event already read must
        be answered first): (exit code, stdout, stderr)."""
        self.until(lambda event: False)
        out, err = self.proc.communicate(timeout=timeout)
        self.events.close()
        return self.proc.returncode, out, err

    def kill_9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        rc, _, err = self.finish()
        assert rc == -signal.SIGKILL, err


def _file(out: Path, name: str) -> Path:
    return out / "samples" / name if name.startswith("step_") else out / name


# --------------------------------------------------------------------------- kill -9


#: Where a kill lands, one attempt each, in a seeded order (the final model write last: it ends the run).
MOMENTS = ["start", "ready", "config.json", "step", "sample grid", "checkpoint.pt", "losses.csv"]


def _kill_moment(kind: str, rng: random.Random, saved: int):
    """The event key DRIVER reports at a seeded moment of `kind` in a run resumed from step `saved`."""
    k = min(rng.randint(saved + 1, saved + 2 * EVERY), STEPS)  # before the next checkpoint or the one after
    ckpt = min(saved + rng.choice([1, 2]) * EVERY, STEPS)  # one of those checkpoint writes
    return {
        "start": ("start",),  # start-up: imports done, nothing read yet
        "ready": ("ready",),  # start-up done: loss network built, checkpoint restored, no step run
        "config.json": ("write", "config.json", saved),  # inside the first write of the run
        "step": ("step", k),  # step k computed and applied, nothing of it saved
        "sample grid": ("write", f"step_{k:06d}.png", k),  # inside step k's sample grid write
        "checkpoint.pt": ("write", "checkpoint.pt", ckpt),  # inside a checkpoint write
        "losses.csv": ("write", "losses.csv", ckpt),  # just after a checkpoint, inside the log write
        "model.pt": ("write", "model.pt", STEPS),  # inside the final model write
    }[kind]


def _event_key(event, step: int):
    if event[0] == "write":
        return ("write", event[1], step)
    if event[0] == "step":
        return ("step", int(event[1]))
    return (event[0],)


def test_kill_9_at_random_moments(reference, tmp_path):
    """SIGKILL at seeded moments (in start-up, after a step, inside a sample, checkpoint, log or model write at a
    seeded byte), then resume: a write cut short leaves its file as it was, every checkpoint left behind loads
    and is a prefix of the uninterrupted run, the checkpoint never moves back, no kill loses more than
    --checkpoint-every of the steps computed, and the finished run equals the uninterrupted one exactly."""
    rng = random.Random(SEED)
    out = tmp_path / "run"
    moments = []
    for kind in rng.sample(MOMENTS, len(MOMENTS)) + ["model.pt"]:
        saved = _saved_step(out)
        target = _kill_moment(kind, rng, saved)
        moments.append(target)
        child = _Driven(ARGS + ["--out", out] + (["--resume"] if saved else ["--overwrite"]))
        event = child.until(lambda e: _event_key(e, child.step or saved) == target)
        if event is None:  # the run ended first: right only if it had no step left (every moment is <= STEPS)
            rc, _, err = child.finish()
            assert rc == 0, err
            assert saved == STEPS, f"{moments}: the run from step {saved} ended without that event"
            break
        if target[0] == "write":
            path = _file(out, target[1])
            before = path.read_bytes() if path.exists() else None
            cut = rng.randint(0, int(event[2]))
            child.answer(f"pause {cut}")
            assert child.next_event() == ["paused", target[1], str(cut)]
        child.kill_9()
        if target[0] == "write":
            assert (path.read_bytes() if path.exists() else None) == before, f"{moments}: {path.name} changed"
            assert list(path.parent.glob(f".{path.name}.*.tmp")), f"{moments}: the kill was not inside the write"
        now = _checkpoint_matches_reference(out, reference) if (out / "checkpoint.pt").exists() else 0
        done = child.step or saved
        assert now >= saved, f"{moments}: the checkpoint went back from step {saved} to {now}"
        assert done - now <= EVERY, f"{moments}: {done} steps computed, checkpoint at step {now}"
    # the final model write comes after the last checkpoint: there is always one to resume from here
    rc, stdout, err = _finish(_texnet(ARGS + ["--out", out, "--resume"]))
    assert rc == 0, err
    _assert_same_as(reference, out)
    assert _temp_files(out) == [], moments  # the temp files of cut-short writes are removed on resume


def test_kill_9_inside_checkpoint_writes_of_a_real_run(reference, tmp_path):
    """Killed inside the checkpoint writes of steps 6 and 9 (the temp file holding a seeded number of the new
    bytes): the previous checkpoint is byte-identical and loads, the stale temp file does not disturb loading,
    and resuming finishes exactly like the uninterrupted run."""
    rng = random.Random(SEED + 1)
    out = tmp_path / "run"
    for step in (6, 9):
        child = _Driven(ARGS + ["--out", out] + (["--resume"] if (out / "checkpoint.pt").exists() else []))
        event = child.until(lambda e: e[:2] == ["write", "checkpoint.pt"] and child.step == step)
        assert event is not None, child.finish()[2]
        old = (out / "checkpoint.pt").read_bytes()
        cut = rng.randint(0, int(event[2]))
        child.answer(f"pause {cut}")
        assert child.next_event() == ["paused", "checkpoint.pt", str(cut)]
        (temp,) = out.glob(".checkpoint.pt.*.tmp")  # a resumed run removed the one the previous kill left
        assert temp.stat().st_size == cut
        child.kill_9()
        assert (out / "checkpoint.pt").read_bytes() == old  # the previous checkpoint, untouched
        assert temp.exists()  # the half-written temp file is still there ...
        assert _checkpoint_matches_reference(out, reference) == step - EVERY  # ... and does not disturb loading
    rc, _, err = _finish(_texnet(ARGS + ["--out", out, "--resume"]))
    assert rc == 0, err
    _assert_same_as(reference, out)
    assert _temp_files(out) == []


PHASE_CHILD = r"""
import os, sys
from texnet.io import files

path, new_file, phase = sys.argv[1:4]
new = open(new_file, "rb").read()
real_replace = os.replace

def ready():  # tell the test, then wait on stdin until it kills us
    print("ready", flush=True)
    sys.stdin.readline()

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
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env()))
    for phase, (folder, proc) in procs.items():
        line = proc.stdout.readline()
        assert line.strip() == "ready", proc.stderr.read()
        proc.send_signal(signal.SIGKILL)
        assert _finish(proc)[0] == -signal.SIGKILL
        data = load_checkpoint(folder / "checkpoint.pt")
        assert data["step"] == (1 if phases[phase] == "old" else 2), phase
        leftovers = _temp_files(folder)
        assert (len(leftovers) == 1) == (phases[phase] == "old"), (phase, leftovers)
        # a later save next to the stale temp file works, and loading still sees only checkpoint.pt
        save_checkpoint(folder / "checkpoint.pt", TextureNetV1(scales=2, size=16), step=3)
        assert load_checkpoint(folder / "checkpoint.pt")["step"] == 3


# --------------------------------------------------------------------------- Ctrl-C and SIGTERM


def test_ctrl_c_and_sigterm_save_exit_cleanly_and_resume_exactly(reference, tmp_path):
    """Each signal sent just after a seeded step k of a running `python -m texnet train-texture`: one stderr line
    naming step k, exit 130 / 143, a checkpoint of step k, and a resumed run equal to the uninterrupted one."""
    rng = random.Random(SEED + 2)
    children = {}
    for sig in (signal.SIGINT, signal.SIGTERM):  # side by side: start-up is most of their time
        out = tmp_path / sig.name
        children[sig] = (out, rng.randint(1, STEPS - 1), _Driven(ARGS + ["--out", out]))
    resumed = {}
    for sig, (out, step, child) in children.items():
        assert child.until(lambda e: e == ["step", str(step)]) is not None, child.finish()[2]
        child.proc.send_signal(sig)  # while the child waits at the event: handled before it goes on
        child.answer()
        rc, stdout, err = child.finish()
        assert rc == 128 + sig, (rc, err)
        line = one_line(err)
        name = "Ctrl-C" if sig == signal.SIGINT else "SIGTERM"
        assert line.startswith(f"texnet: interrupted: {name} at step {step}:") and "--resume" in line, line
        assert _checkpoint_matches_reference(out, reference) == step
        assert not (out / "model.pt").exists()
        resumed[sig] = (out, _texnet(ARGS + ["--out", out, "--resume"]))
    for sig, (out, proc) in resumed.items():
        rc, stdout, err = _finish(proc)
        assert rc == 0, err
        assert "resumed" in stdout
        _assert_same_as(reference, out)


def test_three_ctrl_c_in_quick_succession_still_leave_a_checkpoint_and_the_log(reference, tmp_path):
    """Ctrl-C just after step 4, then two more 0.15 s apart while the checkpoint is being written (a user
    hammering the key): the step, the checkpoint and losses.csv complete; one line, exit 130, resumable."""
    import time

    out = tmp_path / "run"
    step = 4  # not a multiple of --checkpoint-every: the save is the one the signal asks for
    child = _Driven(ARGS + ["--out", out])
    assert child.until(lambda e: e == ["step", str(step)]) is not None, child.finish()[2]
    child.proc.send_signal(signal.SIGINT)
    child.answer()
    assert child.until(lambda e: e[:2] == ["write", "checkpoint.pt"]) is not None, child.finish()[2]
    for _ in range(2):  # while the child waits inside the checkpoint write
        time.sleep(0.15)
        child.proc.send_signal(signal.SIGINT)
    child.answer()
    rc, stdout, err = child.finish()
    assert rc == 130, (rc, err)
    line = one_line(err)
    assert line.startswith(f"texnet: interrupted: Ctrl-C at step {step}:") and "--resume" in line, line
    assert _checkpoint_matches_reference(out, reference) == step
    assert [int(r["step"]) for r in read_rows(out / "losses.csv")] == list(range(1, step + 1))
    assert _temp_files(out) == []


def test_checkpoints_by_wall_time_as_well_as_by_steps(tmp_path, capsys, monkeypatch):
    """--checkpoint-minutes: a checkpoint (and losses.csv) once that much wall time passed, whatever
    --checkpoint-every says, so kill -9 loses minutes of work at most. Here 6 ms: every step is saved."""
    train_mod = sys.modules["texnet.train"]
    saved = []
    real_save = train_mod.Trainer.save

    def save(self, name="checkpoint.pt", full=True):
        saved.append((name, self.step))
        return real_save(self, name, full)

    monkeypatch.setattr(train_mod.Trainer, "save", save)
    argv = list(IN_PROCESS)
    argv[argv.index("--checkpoint-every") + 1] = "100"
    argv[argv.index("--steps") + 1] = "4"
    argv[argv.index("--checkpoint-minutes") + 1] = "0.0001"
    rc, stdout, err = run_cli(argv + ["--out", tmp_path / "run"], capsys)
    assert rc == 0, err
    assert [s for name, s in saved if name == "checkpoint.pt"] == [1, 2, 3, 4]
    from texnet.config import TrainConfig

    assert 0 < TrainConfig().checkpoint_minutes <= 5  # the default: minutes of work at risk, not hours


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

    def poisoned(self, samples, content_targets=None, **kw):
        calls["n"] += 1
        if calls["n"] == bad_step and poison == "nan_gradient":
            samples = _NanGrad.apply(samples)
        stats = real_forward(self, samples, content_targets, **kw)
        if calls["n"] == bad_step and poison != "nan_gradient":
            stats["objective"] = stats["objective"] + float(poison)
        return stats

    monkeypatch.setattr(JuleszObjective, "forward", poisoned)
    out = tmp_path / "run"
    rc, stdout, err = run_cli(IN_PROCESS + ["--out", out], capsys)
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
    assert rc == 0, err
    _assert_same_as(inproc_reference, out)
