"""Fault injection, checkpoints and outputs: code-running pickles, damaged or foreign checkpoints, future
formats, fuzzed bytes, and outputs that must never be overwritten without --overwrite.

Every checkpoint is read with torch.load(weights_only=True): a file that would
run code when unpickled is refused with one line and the code never runs (a
marker file it would create stays absent). Every command that reads a
checkpoint (sample, stylize, evaluate, train --resume) is tried with each.
"""
from __future__ import annotations

import builtins
import os
import pickle
import random
import shutil
import subprocess
import warnings
from pathlib import Path

import pytest
import torch

from helpers_cli import one_line, run_cli
from helpers_train import make_content_folder, quiet, style_config
from texnet.checkpoints import FORMAT, VERSION, load, load_checkpoint
from texnet.apps.cli import main
from texnet.errors import CheckpointError
from texnet.paper.generators import TextureNetV1
from texnet.train import train


LAYERS = ["--texture-layers", "relu1_1,relu2_1,relu3_1"]
#: The texture run every checkpoint here derives from (so --resume with these settings gets past the config check).
TRAIN = ["train-texture", "--texture", "sample:brick", "--texture-size", "48", "--generator", "v1", "--scales", "3",
         "--size", "32", "--batch-size", "2", *LAYERS, "--checkpoint-every", "100", "--sample-every", "100",
         "--device", "cpu", "--quiet"]


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("fault_checkpoints")
    content = make_content_folder(root / "content")
    texture = root / "texture_run"
    assert main(TRAIN + ["--steps", "2", "--out", str(texture)]) == 0
    style = root / "style_run"
    train(style_config(content, steps=1), style, show_progress=False, log=quiet)
    return dict(root=root, texture=texture, style=style, content=content, n=[0])


def _out(runs) -> Path:
    runs["n"][0] += 1
    return runs["root"] / "out" / f"o{runs['n'][0]}"


# --------------------------------------------------------------------------- pickles that would run code


class _RunsShell:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class _RunsExec:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (builtins.exec, (f"open({self.marker!r}, 'w').close()",))


class _RunsPopen:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (subprocess.Popen, (["touch", self.marker],))


class _Custom:
    """A harmless-looking custom class: still not an allowed global."""

    def __init__(self, marker):
        self.value = 1


def _evil_variants(runs, marker):
    """name -> checkpoint dict (or object) that would run code (or import arbitrary globals) when unpickled."""
    good = torch.load(runs["texture"] / "checkpoint.pt", weights_only=True)
    sd = dict(good["state_dict"])
    first = next(iter(sd))
    return {
        "os.system at the top level": {**good, "extra": _RunsShell(marker)},
        "exec inside the state_dict": {**good, "state_dict": {**sd, first: _RunsExec(marker)}},
        "Popen inside the optimizer state": {**good, "optimizer": {**good["optimizer"], "evil": _RunsPopen(marker)}},
        "os.system in the history": {**good, "history": good["history"] + [{"step": 3, "x": _RunsShell(marker)}]},
        "custom class instance": {**good, "extra": _Custom(marker)},
        "a whole pickled nn.Module": {**good, "module": TextureNetV1(scales=2, size=16)},
        "a pickled function": {**good, "hook": os.getcwd},
        "only the payload": _RunsShell(marker),
    }


def _place(runs, name: str, obj, legacy: bool) -> Path:
    """A run folder whose checkpoint.pt and model.pt are the malicious object."""
    folder = runs["root"] / "evil" / f"{name.replace(' ', '_')}{'_legacy' if legacy else ''}"
    shutil.copytree(runs["texture"], folder)
    for fname in ("checkpoint.pt", "model.pt"):
        torch.save(obj, folder / fname, _use_new_zipfile_serialization=not legacy)
    return folder


def test_pickles_that_would_run_code_are_refused_by_every_reader(runs, capsys):
    marker = runs["root"] / "PWNED"
    for legacy in (False, True):
        for name, obj in _evil_variants(runs, marker).items():
            folder = _place(runs, name, obj, legacy)
            with pytest.raises(CheckpointError) as info:
                load_checkpoint(folder / "checkpoint.pt")
            assert "refused" in str(info.value) and "run code" in str(info.value), (name, legacy, info.value)
            assert "\n" not in str(info.value)
            commands = {
                "sample": ["sample", "--model", folder / "model.pt", "-n", "1", "--out", _out(runs)],
                "stylize": ["stylize", runs["content"] / "astronaut.png", "--model", folder, "--out", _out(runs)],
                "evaluate": ["evaluate", "--model", folder / "model.pt", "-n", "2", "--out", _out(runs)],
                "train --resume": ["train-texture", "--texture", "sample:brick", "--resume", "--out", folder],
                "texnet.load": None,
            }
            for command, argv in commands.items():
                if argv is None:
                    with pytest.raises(CheckpointError, match="refused"):
                        load(folder)
                    continue
                rc, out, err = run_cli(argv + ["--device", "cpu"], capsys)
                assert rc == 1, (name, command, err)
                line = one_line(err)
                assert "refused" in line and "run code" in line, (name, command, line)
    assert not marker.exists(), "a checkpoint ran code"


def test_plain_pickle_files_are_refused_too(runs):
    """Not a torch file at all: a bare pickle stream with a REDUCE opcode."""
    marker = runs["root"] / "PWNED_PLAIN"
    path = runs["root"] / "plain.pt"
    path.write_bytes(pickle.dumps({"format": FORMAT, "x": _RunsShell(marker)}))
    with warnings.catch_warnings(record=True) as caught, pytest.raises(CheckpointError) as info:
        warnings.simplefilter("always")
        load_checkpoint(path)
    assert "\n" not in str(info.value)
    assert not caught, [str(w.message) for w in caught]  # a warning would be a second stderr line in the CLI
    assert not marker.exists()


# --------------------------------------------------------------------------- foreign, future, damaged


def _variant(runs, name, mutate) -> Path:
    folder = runs["root"] / "variants" / name
    shutil.copytree(runs["texture"], folder)
    data = torch.load(folder / "checkpoint.pt", weights_only=True)
    result = mutate(folder, data)
    if result is not None:
        torch.save(result, folder / "checkpoint.pt")
        torch.save(result, folder / "model.pt")
    return folder


DAMAGED = {
    # name -> (mutation, substring of the one-line error)
    "future version": (lambda f, d: {**d, "version": VERSION + 1}, "newer than this texnet supports"),
    "version as text": (lambda f, d: {**d, "version": "1"}, "no valid format version"),
    "no version": (lambda f, d: {k: v for k, v in d.items() if k != "version"}, "no valid format version"),
    "no format marker": (lambda f, d: {k: v for k, v in d.items() if k != "format"}, "not a texnet checkpoint"),
    "another marker": (lambda f, d: {**d, "format": "other-tool"}, "not a texnet checkpoint"),
    "unknown architecture": (lambda f, d: {**d, "architecture": "FooNet"},
                             ("unknown generator architecture", "holds a FooNet")),
    "another architecture's weights": (lambda f, d: {**d, "architecture": "StyleNet", "arch_config": {}}, "StyleNet"),
    "options of another version": (lambda f, d: {**d, "arch_config": {**d["arch_config"], "wings": 2}}, "options"),
    "weights of another size": (lambda f, d: {**d, "arch_config": {**d["arch_config"], "channels": 4}}, "do not fit"),
    "state_dict not a dict": (lambda f, d: {**d, "state_dict": 3}, "'state_dict'"),
    "arch_config not a dict": (lambda f, d: {**d, "arch_config": [1]}, "'arch_config'"),
    "a list": (lambda f, d: [1, 2, 3], "not a texnet checkpoint"),
    "a bare tensor": (lambda f, d: torch.zeros(3), "not a texnet checkpoint"),
    "empty file": (lambda f, d: ((f / "checkpoint.pt").write_bytes(b""), (f / "model.pt").write_bytes(b"")) and None,
                   "empty file"),
    "text file": (lambda f, d: ((f / "checkpoint.pt").write_text("hello\n"), (f / "model.pt").write_text("hi\n"))
                  and None, "not a readable"),
    "an image": (lambda f, d: (shutil.copyfile(f / "samples.png", f / "checkpoint.pt"),
                               shutil.copyfile(f / "samples.png", f / "model.pt")) and None, "not a readable"),
}


@pytest.mark.parametrize("name", sorted(DAMAGED))
def test_foreign_future_and_damaged_checkpoints_are_one_line_everywhere(runs, capsys, name):
    mutate, expect = DAMAGED[name]
    expect = (expect,) if isinstance(expect, str) else expect
    folder = _variant(runs, name.replace(" ", "_").replace("'", ""), mutate)
    commands = {
        "sample": ["sample", "--model", folder / "model.pt", "-n", "1", "--out", _out(runs)],
        "evaluate": ["evaluate", "--model", folder / "model.pt", "-n", "2", "--out", _out(runs)],
        "train --resume": TRAIN + ["--steps", "3", "--resume", "--out", folder],
    }
    before = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    for command, argv in commands.items():
        rc, out, err = run_cli(argv + ["--device", "cpu", "--quiet"], capsys)
        assert rc == 1, (command, err)
        line = one_line(err)
        assert line.startswith("texnet: error:") and any(e in line for e in expect), (command, line)
    assert {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()} == before  # nothing touched


RESUME_DAMAGED = {
    "a model.pt copied over checkpoint.pt": (lambda d: {k: v for k, v in d.items()
                                                        if k not in ("optimizer", "scheduler", "rng", "history")},
                                             "no training state"),
    "optimizer of another model": (lambda d: {**d, "optimizer": {"state": {}, "param_groups": []}}, "damaged"),
    "optimizer is text": (lambda d: {**d, "optimizer": "adam"}, "damaged"),
    "scheduler is a number": (lambda d: {**d, "scheduler": 5}, "damaged"),
    "RNG state of the wrong type": (lambda d: {**d, "rng": torch.zeros(3)}, "damaged"),
    "step is text": (lambda d: {**d, "step": "three"}, "damaged"),
    "history is a number": (lambda d: {**d, "history": 5}, "damaged"),
}


def _resume_config():
    """The TrainConfig the CLI builds from TRAIN (what the texture run was trained with), 3 steps."""
    from texnet.apps import cli
    from texnet.apps.commands import train_config

    args = cli.build_parser().parse_args(TRAIN + ["--steps", "3", "--out", "unused"])
    return train_config(args)


@pytest.mark.parametrize("name", sorted(RESUME_DAMAGED))
def test_damaged_training_state_is_refused_on_resume(runs, name):
    mutate, expect = RESUME_DAMAGED[name]
    folder = runs["root"] / "resume_damaged" / name.replace(" ", "_")
    shutil.copytree(runs["texture"], folder)
    data = torch.load(folder / "checkpoint.pt", weights_only=True)
    torch.save(mutate(data), folder / "checkpoint.pt")
    with pytest.raises(CheckpointError) as info:
        train(_resume_config(), folder, resume=True, show_progress=False, log=quiet)
    assert expect in str(info.value) and "\n" not in str(info.value)


def test_resume_with_another_architecture_is_refused(runs, capsys):
    """A V2 run folder resumed with V1 settings (and a style run resumed as a texture run)."""
    for folder, argv in ((runs["texture"], [a if a != "v1" else "v2" for a in TRAIN]),
                         (runs["style"], TRAIN)):
        before = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
        rc, out, err = run_cli(argv + ["--steps", "3", "--resume", "--out", folder], capsys)
        assert rc == 1
        line = one_line(err)
        assert "cannot resume" in line and "generator" in line, line
        assert {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()} == before
    for command, model in (("sample", runs["style"]), ("stylize", runs["texture"])):
        argv = ["sample", "--model", model, "--out", _out(runs)] if command == "sample" else \
            ["stylize", runs["content"] / "astronaut.png", "--model", model, "--out", _out(runs)]
        rc, out, err = run_cli(argv + ["--device", "cpu"], capsys)
        assert rc == 1 and ("texnet stylize" if command == "sample" else "texnet sample") in one_line(err)


def test_fuzzed_checkpoint_bytes_load_or_fail_in_one_line(runs):
    """Seeded byte flips and truncations of a real checkpoint: a CheckpointError, or (bytes inside tensor data or
    zip padding) a checkpoint that still validates; never another exception."""
    data = (runs["texture"] / "checkpoint.pt").read_bytes()
    rng = random.Random(20170102)
    folder = runs["root"] / "fuzz"
    folder.mkdir()
    refused = loaded = 0
    for i in range(60):
        b = bytearray(data)
        if i % 3 == 0:
            b = b[: rng.randrange(1, len(b))]
        else:
            for _ in range(rng.randint(1, 20)):
                b[rng.randrange(len(b))] = rng.randrange(256)
        path = folder / f"f{i}.pt"
        path.write_bytes(bytes(b))
        try:
            ck = load_checkpoint(path)
        except CheckpointError as exc:
            assert "\n" not in str(exc)
            refused += 1
        else:
            assert ck["format"] == FORMAT
            try:
                load(path)
            except CheckpointError:
                pass
            loaded += 1
    assert refused > 0


# --------------------------------------------------------------------------- outputs are never overwritten


def test_existing_outputs_are_never_overwritten_without_overwrite(runs, capsys):
    """Every command, pointed at a folder holding files with its output names (and at a plain file): refused in
    one line naming --overwrite, every byte unchanged; with --overwrite it runs."""
    photo = runs["content"] / "astronaut.png"
    commands = {
        "optimize": (["optimize", "--texture", photo, "--size", "32", "--steps", "1", *LAYERS], "output.png"),
        "train-texture": (["train-texture", "--texture", photo, "--generator", "v1", "--scales", "3", "--size", "32",
                           "--batch-size", "2", "--steps", "1", *LAYERS], "model.pt"),
        "train-style": (["train-style", "--style", photo, "--content-dir", runs["content"], "--channels", "8",
                         "--size", "32", "--batch-size", "2", "--steps", "1", *LAYERS], "model.pt"),
        "sample": (["sample", "--model", runs["texture"], "-n", "2"], "grid.png"),
        "stylize": (["stylize", photo, "--model", runs["style"]], "astronaut_stylized.png"),
        "evaluate": (["evaluate", "--model", runs["style"], "--content", photo], "results.json"),
        "demo": (["demo", "--steps", "1", "--size", "32"], "index.html"),
    }
    for command, (argv, output_name) in commands.items():
        folder = runs["root"] / "keep" / command
        folder.mkdir(parents=True)
        (folder / output_name).write_bytes(b"precious: written by an earlier run\n")
        (folder / "notes.txt").write_text("mine\n")
        plain = runs["root"] / "keep" / f"{command}.file"
        plain.write_bytes(b"a file, not a folder\n")
        for target in (folder, plain):
            before = {p: p.read_bytes() for p in [target, *target.rglob("*")] if p.is_file()}
            extra = ["--device", "cpu"] if command != "demo" else []
            rc, out, err = run_cli(argv + ["--out", target, "--quiet", *extra], capsys)
            assert rc == 1, (command, target, err)
            line = one_line(err)
            assert ("--overwrite" in line) if target == folder else ("not a folder" in line), line
            assert {p: p.read_bytes() for p in [target, *target.rglob("*")] if p.is_file()} == before
    # with --overwrite: the run replaces its own outputs and leaves the others alone
    folder = runs["root"] / "keep" / "sample"
    rc, out, err = run_cli(commands["sample"][0] + ["--out", folder, "--overwrite", "--device", "cpu"], capsys)
    assert rc == 0, err
    assert (folder / "grid.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (folder / "notes.txt").read_text() == "mine\n"
