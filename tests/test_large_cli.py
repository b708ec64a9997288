"""Any size and any runtime from the command line: odd sizes, tiles, export to ONNX and onnxruntime runs."""
from __future__ import annotations

import numpy as np
import pytest

from helpers_cli import one_line, run_cli
from texnet.io.images import load_image

SMALL = ["--texture-layers", "relu1_1", "--batch-size", "2", "--steps", "2",
         "--device", "cpu", "--quiet", "--precision", "fp32"]


@pytest.fixture(scope="module")
def models(tmp_path_factory, one_thread):
    from texnet.apps.cli import main
    from texnet.io.images import save_image

    root = tmp_path_factory.mktemp("large")
    (root / "photos").mkdir()
    for name in ("chelsea", "coffee"):
        save_image(load_image(f"sample:{name}", size=48)[0], root / "photos" / f"{name}.png")
    assert main(["train-texture", "--texture", "sample:brick", "--generator", "v1", "--scales", "3", "--size", "32",
                 "--out", str(root / "v1"), *SMALL]) == 0
    assert main(["train-style", "--style", "sample:starry_night", "--content-dir", str(root / "photos"),
                 "--channels", "8", "--size", "32", "--content-layers", "relu2_1", "--out", str(root / "style"),
                 *SMALL]) == 0
    return root


def _img(path):
    """H x W x 3 float pixels of a written PNG."""
    return load_image(path)[0].permute(1, 2, 0).numpy()


def test_v1_samples_any_size_exactly(models, tmp_path, capsys):
    rc, _, err = run_cli(["sample", "--model", models / "v1", "-n", "1", "--size", "333x517", "--out", tmp_path / "s",
                          "--device", "cpu"], capsys)
    assert rc == 0, err
    assert _img(tmp_path / "s" / "sample_000.png").shape == (517, 333, 3)


def test_tiled_stylization_matches_the_untiled_one(models, tmp_path, capsys):
    base = ["stylize", "--model", models / "style", "sample:coffee", "--device", "cpu", "--quiet"]
    assert run_cli(base + ["--out", tmp_path / "whole"], capsys)[0] == 0
    rc, _, err = run_cli(base + ["--tile", "96", "--out", tmp_path / "tiles"], capsys)
    assert rc == 0, err
    whole, tiles = _img(tmp_path / "whole" / "coffee_stylized.png"), _img(tmp_path / "tiles" / "coffee_stylized.png")
    assert whole.shape == tiles.shape == (400, 600, 3)
    assert np.abs(whole - tiles).mean() <= 2 / 255


def test_tiled_stylization_keeps_strength_and_colours(models, tmp_path, capsys):
    base = ["stylize", "--model", models / "style", "sample:coffee", "--device", "cpu", "--quiet",
            "--strength", "0.6", "--preserve-color"]
    assert run_cli(base + ["--out", tmp_path / "whole"], capsys)[0] == 0
    rc, _, err = run_cli(base + ["--tile", "96", "--out", tmp_path / "tiles"], capsys)
    assert rc == 0, err
    whole, tiles = _img(tmp_path / "whole" / "coffee_stylized.png"), _img(tmp_path / "tiles" / "coffee_stylized.png")
    rc, _, err = run_cli(base[:6] + ["--tile", "96", "--out", tmp_path / "plain"], capsys)  # no options
    assert rc == 0, err
    plain = _img(tmp_path / "plain" / "coffee_stylized.png")
    assert np.abs(whole - tiles).mean() <= 2 / 255
    assert np.abs(plain - tiles).mean() > 10 / 255  # the options did act on the tiled output
    rc, _, err = run_cli(base + ["--tile", "96", "--strength-mode", "norm", "--out", tmp_path / "n"], capsys)
    assert rc == 1 and "not available for tiled" in one_line(err)


def test_export_and_onnxruntime_runs_match_pytorch(models, tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    onnx = tmp_path / "style.onnx"
    rc, _, err = run_cli(["export", "--model", models / "style", "--out", onnx], capsys)
    assert rc == 0, err
    outs = {}
    for name, src in (("torch", ["--model", models / "style"]), ("onnx", ["--onnx", onnx])):
        rc, _, err = run_cli(["stylize", *src, "sample:chelsea", "--size", "77", "--out", tmp_path / name,
                              "--device", "cpu"], capsys)
        assert rc == 0, err
        outs[name] = _img(tmp_path / name / "chelsea_stylized.png")
    assert np.abs(outs["torch"] - outs["onnx"]).max() <= 1 / 255 + 1e-6  # equal up to 8-bit rounding
    rc, _, err = run_cli(["stylize", "--onnx", onnx, "sample:chelsea", "--size", "77", "--strength", "0",
                          "--out", tmp_path / "s0", "--device", "cpu"], capsys)
    assert rc == 0, err  # strength 0 through onnxruntime: the photo itself, as with PyTorch
    photo = load_image("sample:chelsea", size=77)[0].permute(1, 2, 0).numpy()
    assert np.abs(_img(tmp_path / "s0" / "chelsea_stylized.png") - photo).max() <= 1 / 255 + 1e-6
    rc, _, err = run_cli(["sample", "--onnx", onnx, "--out", tmp_path / "x"], capsys)
    assert rc == 1 and "texnet stylize --onnx" in one_line(err)
    rc, _, err = run_cli(["export", "--model", models / "style", "--out", onnx], capsys)
    assert rc == 1 and "--overwrite" in one_line(err)


def test_int8_export_runs_close_to_fp32_and_is_quantized(models, tmp_path, capsys):
    onnx_mod = pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    outs = {}
    for name, extra in (("fp32", []), ("int8", ["--int8", "--calibration", models / "photos"])):
        path = tmp_path / f"{name}.onnx"
        rc, _, err = run_cli(["export", "--model", models / "style", "--out", path, *extra], capsys)
        assert rc == 0, err
        rc, _, err = run_cli(["stylize", "--onnx", path, "sample:chelsea", "--size", "64", "--out", tmp_path / name,
                              "--device", "cpu"], capsys)
        assert rc == 0, err
        outs[name] = _img(tmp_path / name / "chelsea_stylized.png")
    ops = {n.op_type for n in onnx_mod.load(str(tmp_path / "int8.onnx")).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear", "Conv"} <= ops
    diff = np.abs(outs["fp32"] - outs["int8"])
    assert 0 < diff.mean() <= 8 / 255  # quantized: different pixels, but close
    rc, _, err = run_cli(["export", "--model", models / "style", "--int8", "--calibration", tmp_path / "nothing",
                          "--out", tmp_path / "bad.onnx"], capsys)
    assert rc == 1 and "no such folder" in one_line(err) and not (tmp_path / "bad.onnx").exists()


@pytest.mark.parametrize("extra, text", [(["--max-memory", "lots"], "expected bytes"),
                                         (["--tile", "4"], "--tile must be >= 16"),
                                         (["--onnx", "m.onnx"], "not both")])
def test_bad_large_options_are_one_line(models, tmp_path, capsys, extra, text):
    rc, _, err = run_cli(["sample", "--model", models / "v1", "--out", tmp_path / "o", *extra], capsys)
    assert rc == 1 and text in one_line(err)
    assert not (tmp_path / "o").exists()


def test_tileable_textures_from_the_command_line(models, tmp_path, capsys, one_thread):
    """optimize --tileable and a tileable TextureNetV2 give seam scores <= 1.2; --tile-preview writes 2x2 repeats."""
    from texnet.extras.seams import seam_score

    rc, _, err = run_cli(["optimize", "--texture", "sample:gravel", "--size", "48", "--texture-size", "96", "--steps",
                          "60", "--tileable", "--tv-weight", "1", "--texture-layers", "relu1_1,relu2_1,relu3_1",
                          "--out", tmp_path / "opt", "--quiet", "--device", "cpu"], capsys)
    assert rc == 0, err
    assert float(seam_score(load_image(tmp_path / "opt" / "output.png"))) <= 1.2
    rc, _, err = run_cli(["train-texture", "--texture", "sample:brick", "--generator", "v2", "--tileable",
                          "--size", "32", "--out", tmp_path / "v2", *SMALL], capsys)
    assert rc == 0, err
    rc, out, err = run_cli(["sample", "--model", tmp_path / "v2", "-n", "2", "--tile-preview", "--out",
                            tmp_path / "s", "--device", "cpu"], capsys)
    assert rc == 0 and "seam score" in out, err
    tiled = load_image(tmp_path / "s" / "sample_000_tiled.png")
    assert tiled.shape[-2:] == (64, 64) and float(seam_score(load_image(tmp_path / "s" / "sample_000.png"))) <= 1.2


def test_sliced_wasserstein_loss_from_the_command_line(tmp_path, capsys):
    rc, out, err = run_cli(["optimize", "--texture", "sample:brick", "--size", "32", "--steps", "5",
                            "--texture-loss", "sw", "--sw-seed", "0", "--texture-layers", "relu1_1,relu2_1",
                            "--out", tmp_path / "o", "--quiet", "--device", "cpu"], capsys)
    assert rc == 0, err
    import json

    saved = json.loads((tmp_path / "o" / "config.json").read_text())
    assert saved["config"]["loss"]["texture_loss"] == "sw" and saved["final_loss"] < saved["initial_loss"]


# --------------------------------------------------------------------------- one stylize path (issue 32)


def test_stylize_with_size_takes_the_bounded_path_when_a_budget_is_given(models, tmp_path, capsys):
    """`--size` (an upscaled copy of the photo) is planned like a native-size image: --max-memory and --tile
    are honoured (before, --size skipped the tiled path and both were silently ignored)."""
    import json

    base = ["stylize", "--model", models / "style", "sample:coffee", "--size", "360", "--device", "cpu", "--quiet"]
    assert run_cli(base + ["--out", tmp_path / "whole"], capsys)[0] == 0
    rc, _, err = run_cli(base + ["--tile", "96", "--out", tmp_path / "tiles"], capsys)
    assert rc == 0, err
    info = json.loads((tmp_path / "tiles" / "config.json").read_text())
    assert info["paths"] == ["tiled"]
    whole, tiles = _img(tmp_path / "whole" / "coffee_stylized.png"), _img(tmp_path / "tiles" / "coffee_stylized.png")
    assert whole.shape == tiles.shape == (240, 360, 3)
    assert np.abs(whole - tiles).mean() <= 3 / 255
    rc, _, err = run_cli(base + ["--max-memory", "1M", "--out", tmp_path / "tiny"], capsys)
    assert rc == 1 and "1 MiB" in one_line(err) and not (tmp_path / "tiny").exists()


def test_style_scale_strength_and_colours_work_on_the_tiled_path(models, tmp_path, capsys):
    base = ["stylize", "--model", models / "style", "sample:coffee", "--size", "240", "--device", "cpu", "--quiet",
            "--style-scale", "2", "--strength", "0.7", "--preserve-color"]
    assert run_cli(base + ["--out", tmp_path / "whole"], capsys)[0] == 0
    rc, _, err = run_cli(base + ["--tile", "64", "--out", tmp_path / "tiles"], capsys)
    assert rc == 0, err
    whole, tiles = _img(tmp_path / "whole" / "coffee_stylized.png"), _img(tmp_path / "tiles" / "coffee_stylized.png")
    assert whole.shape == tiles.shape == (160, 240, 3)
    assert np.abs(whole - tiles).mean() <= 3 / 255
    rc, _, err = run_cli(base[:8] + ["--tile", "64", "--out", tmp_path / "plain"], capsys)  # scale 2 only
    assert rc == 0, err
    assert np.abs(_img(tmp_path / "plain" / "coffee_stylized.png") - tiles).mean() > 5 / 255


def test_the_python_api_tiles_exactly_like_the_command(models, tmp_path, capsys):
    """`texnet.load(path).stylize(photo, size=..., tile=...)` is the CLI's path: the same pixels."""
    import texnet

    rc, _, err = run_cli(["stylize", "--model", models / "style", "sample:coffee", "--size", "300", "--tile", "64",
                          "--device", "cpu", "--quiet", "--out", tmp_path / "cli"], capsys)
    assert rc == 0, err
    g = texnet.load(models / "style")
    api = g.stylize("sample:coffee", size=300, tile=64, seed=0, out=tmp_path / "api.png")
    assert np.array_equal(_img(tmp_path / "cli" / "coffee_stylized.png"), _img(api))
    y = texnet.stylize(g, "sample:coffee", size=300, tile=64, seed=0)  # no file: a tensor
    assert y.shape == (1, 3, 200, 300)
    assert np.abs(y[0].permute(1, 2, 0).numpy() - _img(api)).max() <= 1 / 255 + 1e-6
