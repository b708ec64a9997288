"""The README's examples stay true: every command line parses, every `texnet.NAME` of the API example exists."""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

import texnet
from texnet.apps.cli import build_parser

README = Path(__file__).resolve().parents[1] / "README.md"


def _blocks(lang: str):
    return re.findall(rf"```{lang}\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


def _command_lines():
    out = []
    for block in _blocks("bash"):
        for line in block.replace("\\\n", " ").splitlines():  # join continued lines
            line = line.split(" #")[0].strip()
            if line.startswith("texnet "):
                out.append(line)
    return out


def test_readme_has_examples():
    assert len(_command_lines()) >= 10
    assert _blocks("python")


@pytest.mark.parametrize("line", _command_lines())
def test_readme_command_parses(line):
    argv = shlex.split(line)[1:]
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # argparse rejected an option the README shows
        pytest.fail(f"README command does not parse (exit {exc.code}): {line}")
    assert args.command == argv[0]


def test_readme_api_names_exist():
    names = set()
    for block in _blocks("python"):
        names.update(re.findall(r"\btexnet\.([A-Za-z_]\w*)", block))
    assert names, "the API example uses no texnet names"
    missing = sorted(n for n in names if not hasattr(texnet, n))
    assert not missing, f"README uses texnet.{missing} which the package does not export"


def test_readme_api_methods_exist():
    # Methods the example calls on loaded generators.
    from texnet.paper.generators import StyleNet, TextureNetV2

    for cls, methods in ((TextureNetV2, ("generate", "sample_noise")), (StyleNet, ("stylize",))):
        for m in methods:
            assert callable(getattr(cls, m, None)), f"{cls.__name__}.{m}"


def test_readme_images_exist_and_are_small():
    root = README.parent
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", README.read_text(encoding="utf-8"))
    assert links
    for link in links:
        path = root / link
        assert path.is_file(), f"README shows {link}, which is not in the repository"
        assert path.stat().st_size < 400_000, f"{link} is over 400 kB; commit only small images"
