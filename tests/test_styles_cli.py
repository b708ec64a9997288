"""Multi-style training, add-style, style mixing, strength, colour preservation and video, from the command line."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import texnet
import texnet.apps.cli
from helpers_cli import one_line, run_cli
from texnet.extras.color import chroma
from texnet.io.images import load_image, save_image

SMALL = ["--texture-layers", "relu1_1,relu2_1", "--content-layers", "relu2_1", "--size", "32", "--batch-size", "2",
         "--device", "cpu", "--quiet", "--precision", "fp32"]
STYLES = ["sample:starry_night", "sample:brick", "sample:grass"]


@pytest.fixture(scope="module")
def content(tmp_path_factory):
    folder = tmp_path_factory.mktemp("content")
    for name in ("chelsea", "astronaut", "coffee"):
        save_image(load_image(f"sample:{name}", size=48)[0], folder / f"{name}.png")
    return folder


@pytest.fixture(scope="module")
def three(tmp_path_factory, content, one_thread):
    """A 3-style StyleNet (8 channels) trained for 3 steps on 32-px crops."""
    out = tmp_path_factory.mktemp("three") / "run"
    rc = texnet.apps.cli.main(["train-style", "--style", *STYLES, "--content-dir", str(content), "--channels", "8",
                               "--steps", "3", "--out", str(out), *SMALL])
    assert rc == 0
    return out


def _stylize(capsys, model, out, *extra):
    rc, _, err = run_cli(["stylize", "--model", model, "sample:chelsea", "--size", "40", "--out", out,
                          "--device", "cpu", *extra], capsys)
    assert rc == 0, err
    return np.asarray(load_image(out / "chelsea_stylized.png"))


def test_several_styles_train_one_conditional_network(three):
    g = texnet.load(three)
    assert g.styles == 3 and g.checkpoint["style_names"] == ["starry_night", "brick", "grass"]
    assert g.checkpoint["train_config"]["exemplar"] == STYLES


def test_style_index_equals_a_one_hot_mix_by_name_and_by_weight(three, tmp_path, capsys):
    by_index = _stylize(capsys, three, tmp_path / "a", "--style-index", "1")
    assert np.array_equal(by_index, _stylize(capsys, three, tmp_path / "b", "--style-mix", "brick=1"))
    assert np.array_equal(by_index, _stylize(capsys, three, tmp_path / "c", "--style-mix", "0,2,0"))
    other = _stylize(capsys, three, tmp_path / "d", "--style-index", "0")
    blend = _stylize(capsys, three, tmp_path / "e", "--style-mix", "starry_night=0.5,brick=0.5")
    assert not np.array_equal(blend, other) and not np.array_equal(blend, by_index)


@pytest.mark.parametrize("extra, text", [(["--style-mix", "monet=1"], "no style 'monet'"),
                                         (["--style-index", "7"], "style 7"),
                                         (["--style-mix", "1,1"], "2 weights for a network of 3 styles"),
                                         (["--style-index", "1", "--style-mix", "brick=1"], "not both"),
                                         (["--strength", "1.5"], "--strength must be <= 1")])
def test_bad_style_options_are_one_line(three, tmp_path, capsys, extra, text):
    rc, _, err = run_cli(["stylize", "--model", three, "sample:chelsea", "--out", tmp_path / "o", *extra], capsys)
    assert rc == 1 and text in one_line(err)


def test_add_style_keeps_the_existing_styles_bit_identical(three, content, tmp_path, capsys, one_thread):
    out = tmp_path / "four"
    rc, _, err = run_cli(["add-style", "--model", three, "--style", "sample:gravel", "--content-dir", content,
                          "--steps", "3", "--out", out, *SMALL], capsys)
    assert rc == 0, err
    g = texnet.load(out)
    assert g.styles == 4 and g.checkpoint["style_names"][-1] == "gravel"
    for k in range(3):
        before = _stylize(capsys, three, tmp_path / f"b{k}", "--style-index", str(k))
        assert np.array_equal(before, _stylize(capsys, out, tmp_path / f"a{k}", "--style-index", str(k)))
    new = _stylize(capsys, out, tmp_path / "new", "--style-index", "3")
    assert not np.array_equal(new, before)
    # naming no style gives the added one (the painting the user brought), in the CLI and the API
    assert np.array_equal(_stylize(capsys, out, tmp_path / "default"), new)
    assert g.checkpoint["default_style"] == 3 and texnet.load(three).style_mix is None


def test_strength_zero_gives_back_the_photo(three, tmp_path, capsys):
    photo = np.asarray(load_image("sample:chelsea", size=40))
    assert np.abs(_stylize(capsys, three, tmp_path / "s0", "--strength", "0") - photo).max() <= 1 / 255 + 1e-6


def test_preserve_color_keeps_the_photos_chroma(three, tmp_path, capsys):
    """Chroma of the saved output equals the photo's up to 8-bit rounding (measured max 0.006 on [0, 1])."""
    out = torch.from_numpy(_stylize(capsys, three, tmp_path / "c", "--preserve-color")).float()
    photo = load_image("sample:chelsea", size=40)
    assert (chroma(out) - chroma(photo)).abs().max() < 0.01


def test_luminance_only_network_keeps_the_photos_chroma(content, tmp_path, capsys, one_thread):
    out = tmp_path / "lum"
    rc, _, err = run_cli(["train-style", "--style", "sample:starry_night", "--content-dir", content, "--channels", "8",
                          "--steps", "2", "--luminance-only", "--out", out, *SMALL], capsys)
    assert rc == 0, err
    assert texnet.load(out).config["luminance_only"] is True
    y = torch.from_numpy(_stylize(capsys, out, tmp_path / "s")).float()
    assert (chroma(y) - chroma(load_image("sample:chelsea", size=40))).abs().max() < 0.01


def test_optimize_preserve_color(tmp_path, capsys):
    rc, _, err = run_cli(["optimize", "--content", "sample:chelsea", "--style", "sample:starry_night", "--size", "32",
                          "--steps", "2", "--preserve-color", "--texture-layers", "relu1_1", "--content-layers",
                          "relu2_1", "--out", tmp_path / "o", "--quiet", "--device", "cpu"], capsys)
    assert rc == 0, err
    y = load_image(tmp_path / "o" / "output.png")
    assert (chroma(y) - chroma(load_image("sample:chelsea", size=32))).abs().max() < 0.01
    rc, _, err = run_cli(["optimize", "--texture", "sample:brick", "--preserve-color", "--out", tmp_path / "t"], capsys)
    assert rc == 1 and "--preserve-color" in one_line(err)


def test_stylize_video_command_keeps_frames_size_and_fps(three, tmp_path, capsys):
    av = pytest.importorskip("av")
    from test_video import FPS, FRAMES, H, W, make_clip

    src = tmp_path / "in.mp4"
    make_clip(av, src)
    dst = tmp_path / "out.mp4"
    rc, out, err = run_cli(["stylize-video", src, "--model", three, "--style-mix", "0.5,0.5,0", "--stabilize", "0.5",
                            "--out", dst, "--device", "cpu", "--quiet"], capsys)
    assert rc == 0, err
    assert f"stylized {FRAMES} frames of {W}x{H}" in out
    with av.open(str(dst)) as f:
        v = f.streams.video[0]
        frames = sum(1 for _ in f.decode(v))
        assert (frames, v.codec_context.width, v.codec_context.height, float(v.average_rate)) == (FRAMES, W, H, FPS)
    rc, _, err = run_cli(["stylize-video", src, "--model", three, "--out", dst, "--device", "cpu"], capsys)
    assert rc == 1 and "--overwrite" in one_line(err)  # an existing video is not replaced silently
