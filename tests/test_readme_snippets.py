"""Every code block of README.md and docs/*.md runs on the installed package, so a renamed field fails here.

How the blocks run (the conventions a writer of the docs follows):

* Each document runs in its own temporary folder, its blocks in order, so a later block may use what an earlier
  one wrote (`texnet stylize --model runs/mine ...` after the training that wrote runs/mine).
* ```python blocks run as written. `<!-- test: steps=2 size=64 -->` on the line before a block makes them cheap:
  every keyword argument `steps=<number>` becomes `steps=2`, `size=<number>` becomes `size=64`.
* ```bash / ```sh / ```console blocks: continued lines are joined, a console block's `$ ` prompt is stripped,
  comments are dropped, and every line that starts with `texnet` runs in-process (`texnet.apps.cli.main`) and
  must exit 0. `<!-- test: --size 64 --steps 2 -->` before a block sets those flags on each of its commands that
  has them: a value the line gives is replaced, a flag the command accepts but the line leaves out is added
  (`--quiet` is always added). `# test: --flag VALUE` at the end of one line does the same for that line only.
* `<!-- test: skip (REASON) -->` before a block skips it; the reason is required. Lines whose program cannot run
  here are skipped by rule, each for the reason in SKIPPED_PROGRAMS / SKIPPED_COMMANDS; any other program fails
  the test (mark its block instead).
* Stand-in inputs: a bare image file name that a command or snippet uses (`photo.jpg`, `painting.jpg`, ...) and
  that does not exist yet is made from a scikit-image sample at 96 px; a bare folder name ending in `/`
  (`photos/`) gets three such photos. Files inside folders (`runs/x/model.pt`) are never made up: an earlier
  block must write them.

Runtime: about a minute and a half on 2 busy CPU cores (every training is 2 steps at 64 px).
"""
from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"(?:<!--\s*test:(?P<marker>[^>]*?)-->\s*\n)?```(?P<lang>[\w-]*)[^\n]*\n(?P<body>.*?)```", re.S)
SHELL = ("bash", "sh", "shell", "console")
IMAGE = re.compile(r"^[\w.-]+\.(?:jpe?g|png|webp|bmp|tiff?)$", re.I)

#: Programs that are shown in the docs but not run here, and why.
SKIPPED_PROGRAMS = {
    "make": "builds the virtual environment or runs long jobs (make test is this suite)",
    "pip": "installs packages", "git": "needs the network", "source": "changes the shell", "cd": "changes the shell",
    "torchrun": "several processes or GPUs", "curl": "needs the running web app",
    "python": "benchmarks and scripts of the repository: minutes to hours",
}
#: texnet commands that are not run here, and why.
SKIPPED_COMMANDS = {
    "serve": "starts a server that runs until stopped",
    "zoo": "rebuilds the bundled networks from the maintainers' exemplars (--data-dir)",
    "reproduce": "the paper's experiments take an hour (tests/test_reproduce.py runs the smoke profile)",
    "stylize-video": "needs a video file and PyAV",
    "export": "needs onnx and onnxruntime (tests/test_export.py)",
}


def blocks(doc: Path) -> List[Tuple[int, str, str, str]]:
    """(line, language, marker, body) of every fenced block."""
    text = doc.read_text(encoding="utf-8")
    out = []
    for m in FENCE.finditer(text):
        line = text.count("\n", 0, m.start("lang")) + 1
        out.append((line, m.group("lang").lower(), (m.group("marker") or "").strip(), m.group("body")))
    return out


def skip_reason(marker: str) -> Optional[str]:
    if not marker.startswith("skip"):
        return None
    reason = re.fullmatch(r"skip\s*\((.+)\)", marker)
    assert reason, f"a skip marker needs a reason: <!-- test: skip (REASON) -->, got '{marker}'"
    return reason.group(1)


def shell_commands(lang: str, body: str) -> List[Tuple[str, str]]:
    """(command line, its own `# test:` marker) of a shell block, continued lines joined."""
    out = []
    for raw in body.replace("\\\n", " ").splitlines():
        line = raw.strip()
        if lang == "console":
            if not line.startswith("$ "):
                continue  # output
            line = line[2:]
        marker = ""
        if "# test:" in line:
            line, marker = line.split("# test:", 1)
        line = re.split(r"\s#", " " + line, maxsplit=1)[0].strip()
        if line and not line.startswith("#"):
            out.append((line, marker.strip()))
    return out


def _flag_pairs(marker: str) -> List[Tuple[str, Optional[str]]]:
    tokens, pairs, i = shlex.split(marker), [], 0
    while i < len(tokens):
        value = tokens[i + 1] if i + 1 < len(tokens) and not tokens[i + 1].startswith("-") else None
        pairs.append((tokens[i], value))
        i += 2 if value is not None else 1
    return pairs


def _accepted(command: str) -> Dict[str, object]:
    from texnet.apps.cli import build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command")
    return sub.choices[command]._option_string_actions


def with_flags(argv: List[str], marker: str) -> List[str]:
    """argv with the marker's flags replacing given values, or added where the command accepts them."""
    argv = list(argv)
    accepted = _accepted(argv[0])
    for flag, value in _flag_pairs(marker) + [("--quiet", None)]:
        if flag in argv:
            if value is not None:
                argv[argv.index(flag) + 1] = value
        elif flag in accepted:
            argv += [flag] + ([value] if value is not None else [])
    return argv


def with_keywords(code: str, marker: str) -> str:
    for key, value in (kv.split("=", 1) for kv in marker.split()):
        code = re.sub(rf"\b{re.escape(key)}=\d+", f"{key}={value}", code)
    return code


def stand_ins(words: List[str], cwd: Path) -> None:
    """Make the bare image files and photo folders a command names (see the module docstring)."""
    from texnet.io.images import load_image, save_image

    photos = ("sample:chelsea", "sample:coffee", "sample:astronaut")
    for i, word in enumerate(words):
        if IMAGE.match(word) and not (cwd / word).exists():
            save_image(load_image(photos[i % 3], size=96), cwd / word)
        elif re.fullmatch(r"[\w.-]+/", word) and not (cwd / word).exists():
            (cwd / word).mkdir()
            for k, p in enumerate(photos):
                save_image(load_image(p, size=96), cwd / word / f"photo{k}.jpg")


def run_block(doc: Path, line: int, lang: str, marker: str, body: str, cwd: Path) -> None:
    from texnet.apps.cli import main

    where = f"{doc.relative_to(ROOT)}:{line}"
    if lang == "python":
        code = with_keywords(body, marker)
        stand_ins(re.findall(r"[\"']([^\"']+)[\"']", code), cwd)
        try:
            exec(compile(code, where, "exec"), {"__name__": "__snippet__"})
        except Exception as exc:
            pytest.fail(f"{where}: the Python block fails: {type(exc).__name__}: {exc}")
        return
    for command, own in shell_commands(lang, body):
        words = shlex.split(command)
        if words[0] in SKIPPED_PROGRAMS:
            continue
        assert words[0] == "texnet", (f"{where}: '{words[0]}' cannot run in the tests: mark the block "
                                      "<!-- test: skip (REASON) --> or add it to SKIPPED_PROGRAMS with a reason")
        if len(words) > 1 and words[1] in SKIPPED_COMMANDS:
            continue
        argv = with_flags(words[1:], f"{marker} {own}")
        stand_ins(argv, cwd)
        try:
            rc = main(argv)
        except SystemExit as exc:  # argparse: an unknown flag or a bad value
            rc = exc.code
        assert rc == 0, f"{where}: `{command}` (run as texnet {' '.join(argv)}) exited {rc}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda d: str(d.relative_to(ROOT)))
def test_every_code_block_runs(doc, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TEXNET_MODELS_DIR", raising=False)
    ran = 0
    for line, lang, marker, body in blocks(doc):
        if lang not in SHELL + ("python",) or skip_reason(marker):
            continue
        run_block(doc, line, lang, marker, body, tmp_path)
        ran += 1
    if doc.name == "README.md":
        assert ran >= 2


def test_the_readme_first_screen_gets_a_newcomer_to_a_stylized_photo_and_a_texture():
    first = "\n".join((ROOT / "README.md").read_text(encoding="utf-8").splitlines()[:60])
    for needed in ("make demo", "make test", "texnet stylize --model", "texnet sample --model"):
        assert needed in first, needed


def test_a_renamed_documented_field_fails():
    """The README's TrainConfig(...) call builds; with `exemplar` renamed back to `texture` (before checkpoint
    format 2) it fails, as the block test above would."""
    body = next(b for _, lang, _, b in blocks(ROOT / "README.md") if lang == "python" and "TrainConfig(" in b)
    call = "import texnet\n" + re.search(r"texnet\.TrainConfig\(.*?\)\n", body, re.S).group(0)
    assert "exemplar=" in call
    exec(compile(call, "README", "exec"), {})
    with pytest.raises(TypeError, match="texture"):
        exec(compile(call.replace("exemplar=", "texture="), "README", "exec"), {})
