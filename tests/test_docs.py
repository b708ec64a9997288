"""The README's and docs' examples stay true: every command line parses, every `texnet.NAME` of the API examples
exists, every picture is in the repository (tests/test_readme_snippets.py runs the blocks themselves)."""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

import texnet
from texnet.apps.cli import build_parser

README = Path(__file__).resolve().parents[1] / "README.md"
PAGES = [README, *sorted((README.parent / "docs").glob("*.md"))]


def _blocks(lang: str):
    return [b for page in PAGES for b in re.findall(rf"```{lang}\n(.*?)```", page.read_text(encoding="utf-8"), flags=re.S)]


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


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_images_and_links_exist_and_images_are_small(page):
    text = page.read_text(encoding="utf-8")
    for link in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text):
        path = page.parent / link
        assert path.is_file(), f"{page.name} shows {link}, which is not in the repository"
        assert path.stat().st_size < 400_000, f"{link} is over 400 kB; commit only small images"
    for link in re.findall(r"(?<!!)\[[^\]]*\]\(([^)#:]+)(?:#[^)]*)?\)", text):
        assert (page.parent / link).exists(), f"{page.name} links to {link}, which is not in the repository"


def test_readme_is_a_product_page():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 320, f"README.md has {len(lines)} lines; move details to docs/"


def _help(argv, capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(argv)
    return capsys.readouterr().out


def test_help_is_written_per_command(capsys):
    from texnet.io import bundled

    texture = _help(["train-texture", "--help"], capsys)
    assert "stylenet" not in texture and "train-style" not in texture and "examples:" in texture
    assert "--texture-layers" not in texture and "--help-all" in texture  # the loss options wait for --help-all
    assert "--texture-layers" in _help(["train-texture", "--help-all"], capsys)
    outs = {c: _help([c, "--help"], capsys).split("--out PATH", 1)[1].split("--", 1)[0]
            for c in ("sample", "stylize", "train-style", "evaluate", "export")}
    assert len(set(outs.values())) == len(outs), "every command says what its --out holds"
    assert "losses.csv" not in outs["sample"] + outs["stylize"] + outs["evaluate"]
    textures = [n for n in bundled.names() if bundled.card(n)["kind"] == "texture"]
    styles = [n for n in bundled.names() if bundled.card(n)["kind"] == "style"]
    sample, stylize = _help(["sample", "--help"], capsys), _help(["stylize", "--help"], capsys)
    assert all(n in sample for n in textures) and not any(n in sample for n in styles)
    assert all(n in stylize for n in styles) and not any(f" {n}," in stylize for n in textures)


def test_every_help_example_parses():
    from texnet.apps import parser as p

    for name, examples in p.EXAMPLES.items():
        for line in examples:
            argv = shlex.split(line.split(" #")[0])[1:]
            try:
                args = build_parser().parse_args(argv)
            except SystemExit as exc:
                pytest.fail(f"texnet {name} --help example does not parse (exit {exc.code}): {line}")
            assert args.command == name
