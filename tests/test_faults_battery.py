"""The fault battery (issue 36): one test per class of fault, each run against every command it concerns.

Classes: bad files, bad values, a read-only --out, a full disk (ENOSPC injected into the writers, or a real
full tmpfs where this machine lets the test mount one), signals in the middle of a tiled output, concurrent runs
into one folder. Every case must end in exactly one stderr line (no traceback), the exit code of its class
(1 for bad files, values and I/O; 130/143 for signals), and no output lost or half-written: no temp file
(.tmp/.part/.partial) left, no earlier file changed, no empty run folder left behind.

The outcomes are collected into a table (cases x commands) printed at the end of the module (`pytest -s` or
the terminal summary shows it).
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers_cli import child_env, one_line, run_cli

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and locks")

#: class -> case -> command -> outcome ("exit 1" ...); printed as the battery's table.
TABLE: dict = defaultdict(lambda: defaultdict(dict))
COUNTS = {"cases": 0, "tracebacks": 0, "outputs lost": 0}
STYLE, TEXTURE = "starry_night", "stone"  # bundled: a StyleNet and a TextureNetV1 (any size)
TEMP_GLOBS = (".*.tmp", ".*.part", ".*.partial.*")


def _record(klass: str, case: str, command: str, rc, err: str, lost: int = 0) -> None:
    COUNTS["cases"] += 1
    tb = int("Traceback" in err)
    COUNTS["tracebacks"] += tb
    COUNTS["outputs lost"] += lost
    TABLE[klass][case][command] = "TRACEBACK" if tb else (f"exit {rc}" + (f", {lost} lost" if lost else ""))


def _temp_files(root: Path):
    return sorted(str(p) for g in TEMP_GLOBS for p in root.rglob(g)) if root.exists() else []


@pytest.fixture(scope="module", autouse=True)
def _print_table(request):
    yield
    lines = ["", "fault battery (issue 36): cases x commands"]
    for klass, cases in TABLE.items():
        commands = sorted({c for row in cases.values() for c in row})
        lines.append(f"\n[{klass}]")
        lines.append("| case | " + " | ".join(commands) + " |")
        lines.append("|---" * (len(commands) + 1) + "|")
        for case, row in cases.items():
            lines.append(f"| {case} | " + " | ".join(row.get(c, "") for c in commands) + " |")
    lines.append(f"\ncases {COUNTS['cases']}, tracebacks {COUNTS['tracebacks']}, outputs lost {COUNTS['outputs lost']}")
    text = "\n".join(lines)
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(text)
    else:
        print(text)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("battery")
    photo = root / "photo.png"
    yy, xx = np.mgrid[0:40, 0:48]
    Image.fromarray(np.stack([xx * 5, yy * 6, (xx + yy) * 3], -1).astype(np.uint8)).save(photo)
    truncated = root / "truncated.png"
    truncated.write_bytes(photo.read_bytes()[: len(photo.read_bytes()) // 2])
    text_png = root / "text.png"
    text_png.write_text("not an image\n")
    folder = root / "a_folder"
    folder.mkdir()

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned > /dev/null",))

    evil = root / "evil.pt"
    evil.write_bytes(pickle.dumps({"state_dict": Evil()}, protocol=4))  # a raw pickle, not a torch zip
    fake_video = root / "fake.mp4"
    fake_video.write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(3000))
    video = _tiny_video(root / "in.mp4") if _have_av() else None
    return dict(root=root, photo=photo, truncated=truncated, text_png=text_png, folder=folder, evil=evil,
                fake_video=fake_video, video=video, n=[0])


def _tiny_video(path: Path) -> Path:
    import av

    with av.open(str(path), "w") as c:
        s = c.add_stream("mpeg4", rate=5)
        s.width, s.height, s.pix_fmt = 32, 32, "yuv420p"
        for i in range(3):
            frame = av.VideoFrame.from_ndarray(np.full((32, 32, 3), 40 * i, np.uint8), format="rgb24")
            for p in s.encode(frame):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    return path


def _out(world) -> Path:
    world["n"][0] += 1
    return world["root"] / "out" / f"run{world['n'][0]}"


def _have_av() -> bool:
    try:
        import av  # noqa: F401
    except ImportError:
        return False
    return True


# --------------------------------------------------------------------------- bad files

BAD_FILES = {
    # case: (command argv builder, words the one line must hold)
    "truncated PNG": (lambda w: ["stylize", w["truncated"], "--model", STYLE], ("truncated.png",)),
    "text as PNG": (lambda w: ["optimize", "--texture", w["text_png"], "--size", "32", "--steps", "1"], ("text.png",)),
    "folder as image": (lambda w: ["optimize", "--texture", w["folder"], "--size", "32", "--steps", "1"],
                        ("a_folder", "folder")),
    "raw malicious pickle (sample)": (lambda w: ["sample", "--model", w["evil"], "-n", "1"], ("evil.pt", "refused")),
    "raw malicious pickle (stylize)": (lambda w: ["stylize", w["photo"], "--model", w["evil"]], ("evil.pt", "refused")),
    "--vgg-weights FOLDER": (lambda w: ["optimize", "--texture", w["photo"], "--size", "32", "--steps", "1",
                                        "--vgg-weights", w["folder"]], ("a_folder", "is a folder")),
    "non-video (stylize-video)": (lambda w: ["stylize-video", w["fake_video"], "--model", STYLE], ("fake.mp4",)),
}


def test_bad_files_are_one_line_exit_1(world, capsys):
    problems = []
    for case, (build, words) in BAD_FILES.items():
        if "video" in case and not _have_av():
            continue
        out = _out(world)
        argv = build(world) + ["--out", out if "video" not in case else out.with_suffix(".mp4"), "--device", "cpu"]
        rc, _, err = run_cli(argv, capsys)
        lost = len(_temp_files(out.parent)) + int(out.exists())
        _record("bad files", case, argv[0], rc, err, lost)
        try:
            assert rc == 1, f"exit {rc}: {err}"
            line = one_line(err)
            assert line.startswith("texnet: error:") and all(w in line for w in words), line
            assert not lost, "left files behind"
        except AssertionError as exc:
            problems.append(f"{case}: {exc}")
    assert not problems, "\n".join(problems)


# --------------------------------------------------------------------------- bad values

SIZE_ZERO = {
    "sample": lambda w: ["sample", "--model", TEXTURE, "--size", "0"],
    "stylize": lambda w: ["stylize", w["photo"], "--model", STYLE, "--size", "0"],
    "optimize": lambda w: ["optimize", "--texture", w["photo"], "--size", "0"],
    "train-texture": lambda w: ["train-texture", "--texture", w["photo"], "--size", "0"],
    "train-style": lambda w: ["train-style", "--style", w["photo"], "--size", "0"],
    "evaluate": lambda w: ["evaluate", "--model", TEXTURE, "--size", "0"],
}
MAX_MEMORY = ["inf", "nan", "1e999", "infG", "-1G"]


def test_bad_values_exit_1_in_every_command(world, capsys):
    """`--size 0` exits 1 in every command (issue 36: it was 1 in train-texture, 2 in optimize/sample/stylize),
    and a non-finite --max-memory is one line, exit 1, before anything is written."""
    problems = []
    cases = [("--size 0", name, build(world)) for name, build in SIZE_ZERO.items()]
    cases += [(f"--max-memory {v}", cmd, [cmd, *(["--model", TEXTURE] if cmd == "sample" else
                                                 [str(world["photo"]), "--model", STYLE]), f"--max-memory={v}"])
              for v in MAX_MEMORY for cmd in ("sample", "stylize")]
    for case, command, argv in cases:
        out = _out(world)
        rc, _, err = run_cli(argv + ["--out", out, "--device", "cpu"], capsys)
        _record("bad values", case, command, rc, err, int(out.exists()))
        try:
            assert rc == 1, f"exit {rc}: {err}"
            assert one_line(err).startswith("texnet: error:")
            assert not out.exists()
        except AssertionError as exc:
            problems.append(f"{case} / {command}: {exc}")
    assert not problems, "\n".join(problems)


# --------------------------------------------------------------------------- read-only --out


@contextlib.contextmanager
def read_only_folder(path: Path):
    """An existing, empty folder nobody can write into. Not root: chmod 555. Root (chmod does not stop root):
    a read-only tmpfs mounted there where the machine allows it, else EROFS injected into os.open/os.mkdir
    for paths inside it (what a read-only mount answers)."""
    path.mkdir(parents=True)
    if os.geteuid() != 0:
        path.chmod(0o555)
        try:
            yield "chmod 555"
        finally:
            path.chmod(0o755)
        return
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(path)],
                             capture_output=True).returncode == 0 if shutil.which("mount") else False
    if mounted:
        try:
            yield "read-only tmpfs"
        finally:
            subprocess.run(["umount", str(path)], capture_output=True)
        return
    inside = str(path.absolute()) + os.sep
    real_open, real_mkdir = os.open, os.mkdir

    def refuse(p):
        if (os.fspath(p) if not isinstance(p, int) else "").startswith(inside):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), os.fspath(p))

    def fake_open(p, *a, **k):
        refuse(p)
        return real_open(p, *a, **k)

    def fake_mkdir(p, *a, **k):
        refuse(p)
        return real_mkdir(p, *a, **k)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(os, "open", fake_open)
        mp.setattr(os, "mkdir", fake_mkdir)
        yield "EROFS injected"


READ_ONLY = {
    "stylize": lambda w: ["stylize", w["photo"], "--model", STYLE, "--size", "64", "--device", "cpu"],
    "sample": lambda w: ["sample", "--model", TEXTURE, "-n", "1", "--size", "64", "--device", "cpu"],
    "optimize": lambda w: ["optimize", "--texture", w["photo"], "--size", "32", "--steps", "1", "--device", "cpu"],
    "train-texture": lambda w: ["train-texture", "--texture", w["photo"], "--generator", "v1", "--scales", "3",
                                "--size", "32", "--batch-size", "2", "--steps", "1", "--device", "cpu"],
    "evaluate": lambda w: ["evaluate", "--model", STYLE, "--content", w["photo"], "--size", "32", "--device", "cpu"],
    "models --out": lambda w: ["models"],
    "stylize-video": lambda w: ["stylize-video", w["video"], "--model", STYLE, "--device", "cpu"],  # --out DIR/o.mp4
}


def test_read_only_out_folder_is_refused_before_work(world, capsys, monkeypatch):
    """An existing, empty, non-writable --out: one line naming it, exit 1, before any work (the loss network
    is never built, no image decoded)."""
    import texnet.paper.loss_network

    def tripwire(*a, **k):
        raise AssertionError("work started before the output folder was checked")

    monkeypatch.setattr(texnet.paper.loss_network.LossNetwork, "__init__", tripwire)
    problems = []
    for command, build in READ_ONLY.items():
        if command == "stylize-video" and world["video"] is None:
            continue
        out = _out(world)
        with read_only_folder(out) as how:
            if command == "stylize-video" and how == "EROFS injected":
                continue  # FFmpeg opens files itself: only a real read-only folder tests it
            target = out / "o.mp4" if command == "stylize-video" else out
            rc, _, err = run_cli(build(world) + ["--out", target], capsys)
        _record("read-only --out", f"empty folder ({how})", command, rc, err)
        try:
            assert rc == 1, f"exit {rc}: {err}"
            line = one_line(err)
            assert str(out) in line and ("read-only" in line or "not writable" in line or "permission" in line), line
        except AssertionError as exc:
            problems.append(f"{command}: {exc}")
    assert not problems, "\n".join(problems)


# --------------------------------------------------------------------------- disk full


class _Filling:
    """A file object that stores up to `room` bytes, then fails like a full disk."""

    def __init__(self, fh, room: int):
        self.fh, self.room = fh, room

    def write(self, data):
        if len(data) > self.room:
            self.fh.write(data[: self.room])
            self.room = 0
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.room -= len(data)
        return self.fh.write(data)

    def __getattr__(self, name):
        return getattr(self.fh, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.fh.close()
        return False


def test_disk_full_is_one_line_and_leaves_nothing(world, capsys, monkeypatch):
    """ENOSPC in the middle of a streamed PNG (tiled sample and tiled stylize), of an atomic PNG write and of
    config.json: one line saying so, exit 1, no temp file, and the new run folder removed again; an earlier
    output in an --overwrite folder is kept byte for byte."""
    import texnet.io.bigimage as bigimage
    import texnet.io.files as files

    real_fdopen = os.fdopen
    armed = {"name": None}

    def stream_open(path, mode="r", *a, **k):
        fh = open(path, mode, *a, **k)
        return _Filling(fh, 2000) if str(path).endswith(".part") else fh

    def fdopen(fd, *a, **k):
        fh = real_fdopen(fd, *a, **k)
        name = armed["name"]
        return _Filling(fh, 100) if name and name in os.readlink(f"/proc/self/fd/{fd}") else fh

    cases = {
        "streamed PNG (tiled)": ("sample", ["sample", "--model", TEXTURE, "-n", "1", "--size", "256", "--tile", "64"],
                                 None),
        "streamed PNG (stylize tiled)": ("stylize", ["stylize", world["photo"], "--model", STYLE, "--size", "96",
                                                     "--tile", "64"], None),
        "atomic PNG": ("stylize", ["stylize", world["photo"], "--model", STYLE, "--size", "48"], "_stylized.png"),
        "config.json": ("sample", ["sample", "--model", TEXTURE, "-n", "1", "--size", "64"], "config.json"),
    }
    problems = []
    monkeypatch.setattr(bigimage, "open", stream_open, raising=False)
    monkeypatch.setattr(files.os, "fdopen", fdopen)
    for case, (command, argv, name) in cases.items():
        if not Path("/proc/self/fd").is_dir() and name:
            continue
        for existing in (False, True):
            out = _out(world)
            keep = None
            if existing:  # an earlier run's output in the folder, replaced with --overwrite
                out.mkdir(parents=True)
                keep = out / "earlier.png"
                shutil.copyfile(world["photo"], keep)
            armed["name"] = name
            rc, _, err = run_cli(argv + ["--out", out, "--device", "cpu"] + (["--overwrite"] if existing else []),
                                 capsys)
            armed["name"] = None
            lost = len(_temp_files(out)) + int(existing and keep.read_bytes() != world["photo"].read_bytes())
            lost += int(not existing and out.exists())
            _record("disk full (ENOSPC injected)", case + (" into --overwrite folder" if existing else ""),
                    command, rc, err, lost)
            try:
                assert rc == 1, f"exit {rc}: {err}"
                line = one_line(err)
                assert "no space left on device" in line, line
                assert not lost, (_temp_files(out), out.exists() and sorted(os.listdir(out)))
            except AssertionError as exc:
                problems.append(f"{case} (existing={existing}): {exc}")
    assert not problems, "\n".join(problems)


def test_real_full_tmpfs(world, tmp_path):
    """A real full file system where the test may mount a 256 kB tmpfs (root): a 1024² tiled sample does
    not fit; one line, exit 1, nothing left on it."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    if os.geteuid() != 0 or not shutil.which("mount") or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)], capture_output=True).returncode:
        pytest.skip("cannot mount a small tmpfs here (needs root); ENOSPC is injected in the test above")
    try:
        out = mnt / "run"
        proc = subprocess.run([sys.executable, "-m", "texnet", "sample", "--model", TEXTURE, "-n", "1", "--size",
                               "1024", "--tile", "256", "--out", str(out), "--device", "cpu"], env=child_env(),
                              capture_output=True, text=True, timeout=600)
        lost = len(_temp_files(mnt)) + int(out.exists())
        _record("disk full (real tmpfs)", "256 kB tmpfs, 1024² PNG", "sample", proc.returncode, proc.stderr, lost)
        assert proc.returncode == 1, proc.stderr
        assert "no space left on device" in one_line(proc.stderr)
        assert not lost, os.listdir(mnt)
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True)


# --------------------------------------------------------------------------- signals


def _until(predicate, proc, timeout=300.0):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if predicate():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_during_a_tiled_sample(world, sig):
    """The signal lands while the streamed PNG is being written: one line, exit 128 + N, no .part file, no run
    folder left (it held nothing finished), and the same command then runs to the end."""
    out = _out(world)
    argv = [sys.executable, "-m", "texnet", "sample", "--model", TEXTURE, "-n", "1", "--size", "768", "--tile", "64",
            "--out", str(out), "--device", "cpu"]
    proc = subprocess.Popen(argv, env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    started = _until(lambda: bool(_temp_files(out)), proc)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=300)
    lost = len(_temp_files(out)) + int(out.exists())
    _record("signals", f"{signal.Signals(sig).name} mid-PNG", "sample (tiled)", proc.returncode, err, lost)
    assert started, err
    assert proc.returncode == 128 + sig, err
    line = one_line(err)
    assert line.startswith("texnet: interrupted:"), line
    assert not lost, (_temp_files(out), out.exists())
    if sig == signal.SIGTERM:  # re-running works (the folder is not left "exists and is not empty")
        rerun = subprocess.run(argv[:-7] + ["256", "--tile", "64", "--out", str(out), "--device", "cpu"],
                               env=child_env(), capture_output=True, text=True, timeout=600)
        assert rerun.returncode == 0, rerun.stderr
        assert (out / "sample_000.png").is_file() and not _temp_files(out)


# --------------------------------------------------------------------------- concurrent runs


def test_a_folder_another_run_holds_is_refused(world, capsys):
    """Another process holds the folder (its lock taken here on another descriptor): the run is refused in one
    line before any work, and the other run's files are untouched."""
    problems = []
    for command, build in READ_ONLY.items():
        if command in ("train-texture", "optimize", "evaluate", "stylize-video"):
            continue  # same RunFolder path as the others; they need the loss network (slow here); a video: a file
        out = _out(world)
        out.mkdir(parents=True)
        fd = os.open(out, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            rc, _, err = run_cli(build(world) + ["--out", out, "--overwrite"], capsys)
        finally:
            os.close(fd)
        _record("concurrent runs", "folder locked by another run", command, rc, err)
        try:
            assert rc == 1, f"exit {rc}: {err}"
            line = one_line(err)
            assert "another texnet run" in line, line
            assert os.listdir(out) == []
        except AssertionError as exc:
            problems.append(f"{command}: {exc}")
    assert not problems, "\n".join(problems)


def test_two_stylize_runs_into_one_new_folder(world):
    """Two processes started together into one new --out: one writes its result, the other is refused in one
    line (another run holds the folder, or it is no longer empty); nothing is lost silently."""
    out = _out(world)
    argv = [sys.executable, "-m", "texnet", "stylize", str(world["photo"]), "--model", STYLE, "--size", "64",
            "--out", str(out), "--device", "cpu"]
    procs = [subprocess.Popen(argv + ["--seed", str(i)], env=child_env(), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for i in range(2)]
    results = [(p.wait(timeout=600), p.stderr.read()) for p in procs]
    codes = sorted(rc for rc, _ in results)
    for rc, err in results:
        _record("concurrent runs", "two stylize at once, new --out", f"stylize (exit {rc})", rc, err)
    assert codes == [0, 1], results
    err = next(e for rc, e in results if rc == 1)
    line = one_line(err)
    assert "another texnet run" in line or "not empty" in line, line
    import json

    info = json.loads((out / "config.json").read_text())
    winner = next(i for i, (rc, _) in enumerate(results) if rc == 0)
    assert info["seed"] == winner and (out / "photo_stylized.png").is_file()


def test_stylize_video_refuses_to_overwrite_its_input(world, capsys, tmp_path):
    if not _have_av():
        pytest.skip("needs texnet[video] (PyAV)")
    video = _tiny_video(tmp_path / "in.mp4")
    before = video.read_bytes()
    for out in (video, tmp_path / "." / "in.mp4"):
        rc, _, err = run_cli(["stylize-video", video, "--model", STYLE, "--out", out, "--overwrite",
                              "--device", "cpu"], capsys)
        _record("bad values", "--out is the input video", "stylize-video", rc, err, int(video.read_bytes() != before))
        assert rc == 1 and "is the input video" in one_line(err), err
        assert video.read_bytes() == before


# --------------------------------------------------------------------------- permissions and messages


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_outputs_get_the_permissions_the_umask_gives(world, capsys, umask):
    """Run-folder files are created through temp files (mkstemp makes 0600): they end with 0666 & ~umask, like
    any file the user's programs write (issue 36: they were 0600 whatever the umask)."""
    out = _out(world)
    old = os.umask(umask)
    try:
        rc, _, err = run_cli(["stylize", world["photo"], "--model", STYLE, "--size", "48", "--out", out,
                              "--device", "cpu"], capsys)
        rc2, _, err2 = run_cli(["sample", "--model", TEXTURE, "-n", "1", "--size", "96", "--tile", "64",
                                "--out", out / "tiled", "--device", "cpu"], capsys)  # the streamed PNG too
    finally:
        os.umask(old)
    assert rc == 0 and rc2 == 0, err + err2
    files = [p for p in out.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"photo_stylized.png", "config.json", "sample_000.png"}
    assert {oct(p.stat().st_mode & 0o777) for p in files} == {oct(0o666 & ~umask)}


def test_one_line_for_each_kind_of_failure_the_boundary_maps(capsys, monkeypatch):
    """OSError (read-only, full disk, permission), PyAV and Pillow errors, torch load errors, overflow: one
    line naming the file where there is one, exit 1; a bug (any other exception) keeps its traceback."""
    import texnet.apps.commands as commands
    from PIL import UnidentifiedImageError
    from texnet.apps.cli import main

    cases = [
        (OSError(errno.EROFS, os.strerror(errno.EROFS), "/data/out/x.png"), ("/data/out/x.png", "read-only")),
        (OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "/data/out/x.png"), ("x.png", "no space left")),
        (PermissionError(errno.EACCES, os.strerror(errno.EACCES), "/data/in.png"), ("in.png", "permission denied")),
        (UnidentifiedImageError("cannot identify image file 'a.png'"), ("a.png",)),
        (pickle.UnpicklingError("invalid load key, 'x'."), ("not a texnet/torch checkpoint",)),
        (RuntimeError("PytorchStreamReader failed reading zip archive: failed finding central directory"),
         ("not a texnet/torch checkpoint",)),
        (OverflowError("cannot convert float infinity to integer"), ("too large",)),
    ]
    if _have_av():
        import av

        cases.append((av.error.InvalidDataError(1094995529, "Invalid data found when processing input", "v.mp4"),
                      ("v.mp4", "video")))
    for exc, words in cases:
        def boom(args, exc=exc):
            raise exc

        monkeypatch.setattr(commands, "info", boom)
        from texnet.apps import cli

        monkeypatch.setitem(cli.COMMANDS, "info", cli.COMMANDS["info"][:3] + (boom,))
        rc, _, err = run_cli(["info"], capsys)
        _record("boundary", type(exc).__name__ + (f" {errno.errorcode.get(exc.errno, '')}"
                                                  if isinstance(exc, OSError) and exc.errno else ""), "any", rc, err)
        assert rc == 1, err
        line = one_line(err)
        assert line.startswith("texnet: error:") and all(w in line for w in words), line

    def bug(args):
        raise KeyError("a bug")

    monkeypatch.setitem(cli.COMMANDS, "info", cli.COMMANDS["info"][:3] + (bug,))
    with pytest.raises(KeyError):
        main(["info"])


def test_long_messages_are_cut_between_words():
    from texnet.errors import clip

    text = "Weights only load failed. " + "In PyTorch 2.6, we changed the default value of the weights_only " * 5
    cut = clip(text, 120)
    assert len(cut) <= 120 and cut.endswith("…")
    assert text.startswith(cut[:-1]) and text[len(cut) - 1] in " ,.;:"  # the next character ends a word


# --------------------------------------------------------------------------- kill of a rank


def test_kill_9_of_one_torchrun_process(tmp_path):
    """SIGKILL of rank 1 of a 2-process `torchrun ... texnet train-texture`: rank 0 saves the step both completed
    (its checkpoint loads and --resume continues from it) and says so in one texnet line; torchrun's own report
    of the failed worker stays."""
    pytest.importorskip("torch.distributed")
    out = tmp_path / "run"
    env = dict(child_env(), PYTHONWARNINGS="ignore")
    proc = subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                             "-m", "texnet", "train-texture", "--texture", "sample:brick", "--texture-size", "48",
                             "--generator", "v1", "--scales", "3", "--size", "32", "--batch-size", "4", "--steps",
                             "5000", "--checkpoint-every", "4", "--texture-layers", "relu1_1,relu2_1", "--device", "cpu",
                             "--quiet", "--out", str(out)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    assert _until(lambda: (out / "checkpoint.pt").is_file(), proc, timeout=600), proc.communicate()[1]
    time.sleep(2)
    rank1 = []
    for child in Path("/proc").glob("[0-9]*"):
        try:
            if (child / "stat").read_text().split()[3] == str(proc.pid) and \
                    b"\0RANK=1\0" in b"\0" + (child / "environ").read_bytes():
                rank1.append(int(child.name))
        except (OSError, IndexError):
            continue
    assert len(rank1) == 1, rank1
    os.kill(rank1[0], signal.SIGKILL)
    _, err = proc.communicate(timeout=300)
    ours = [ln for ln in err.splitlines() if ln.startswith(("texnet:", "texnet["))]  # not torchrun's "texnet FAILED"
    _record("kill of a rank", "SIGKILL rank 1 of 2", "train-texture (torchrun)", proc.returncode,
            "\n".join(ours), 0)
    assert proc.returncode != 0
    assert len(ours) == 1 and "another process of this torchrun job stopped" in ours[0] and "--resume" in ours[0], err
    from texnet.checkpoints import load_checkpoint

    step = load_checkpoint(out / "checkpoint.pt")["step"]
    assert f"checkpoint: step {step}," in ours[0], ours[0]
    assert not _temp_files(out)
