"""Using trained generators: texnet.load, sampling and stylizing, and the CLI end to end (train -> sample/stylize)."""
from __future__ import annotations

import json

import pytest
import torch
from PIL import Image

import texnet
from helpers_cli import one_line
from helpers_train import LOSS_ARGS, make_content_folder, write_photo
from texnet.checkpoints import save_checkpoint
from texnet.apps.cli import main
from texnet.errors import CheckpointError, ConfigError
from texnet.paper.generators import StyleNet, TextureNetV1, TextureNetV2
from texnet.apps.runs import run_sample, run_stylize
from texnet.render.inference import sample_textures

TRAIN_TEXTURE = ["train-texture", "--texture", "sample:brick", "--texture-size", "48", "--generator", "v1",
                 "--scales", "3", "--size", "32", "--batch-size", "2", "--steps", "3", "--device", "cpu",
                 "--quiet"] + LOSS_ARGS
TRAIN_STYLE = ["train-style", "--style", "sample:brick", "--style-size", "32", "--channels", "8", "--size", "32",
               "--batch-size", "2", "--steps", "2", "--device", "cpu", "--quiet", "--noise-channels", "1",
               "--content-layers", "relu2_1"] + LOSS_ARGS


@pytest.fixture(scope="module")
def texture_model(tmp_path_factory):
    """`texnet train-texture` (TextureNetV1, 3 scales, 32 px, 3 steps) run through the CLI."""
    out = tmp_path_factory.mktemp("texture") / "run"
    assert main(TRAIN_TEXTURE + ["--out", str(out)]) == 0
    return out / "model.pt"


@pytest.fixture(scope="module")
def style_model(tmp_path_factory):
    """`texnet train-style` (StyleNet, 8 channels, one noise plane, 2 steps) run through the CLI."""
    base = tmp_path_factory.mktemp("style")
    content = make_content_folder(base / "content")
    out = base / "run"
    assert main(TRAIN_STYLE + ["--content-dir", str(content), "--out", str(out)]) == 0
    return out / "model.pt"


def _sizes(folder):
    out = {}
    for p in sorted(folder.iterdir()):
        if p.suffix == ".png":
            with Image.open(p) as im:
                out[p.name] = im.size  # (width, height)
    return out


# --------------------------------------------------------------------------- CLI: texture


def test_train_texture_cli_writes_a_run(texture_model, capsys):
    run = texture_model.parent
    assert {"model.pt", "checkpoint.pt", "losses.csv", "config.json", "samples.png"} <= {p.name for p in run.iterdir()}
    config = json.loads((run / "config.json").read_text())
    assert config["architecture"] == "TextureNetV1" and config["config"]["steps"] == 3
    assert config["config"]["loss"]["texture_layers"] == {"relu1_1": 1.0, "relu2_1": 1.0, "relu3_1": 1.0}


def test_sample_cli_writes_n_files_and_a_grid(texture_model, tmp_path, capsys):
    out = tmp_path / "samples"
    assert main(["sample", "--model", str(texture_model), "-n", "3", "--out", str(out), "--quiet"]) == 0
    captured = capsys.readouterr()
    assert "3 samples of 32x32" in captured.out and captured.err == ""
    sizes = _sizes(out)
    assert set(sizes) == {"sample_000.png", "sample_001.png", "sample_002.png", "grid.png"}
    assert all(sizes[f"sample_{i:03d}.png"] == (32, 32) for i in range(3))
    assert sizes["grid.png"][0] > 3 * 32
    info = json.loads((out / "config.json").read_text())
    assert info["n"] == 3 and info["architecture"] == "TextureNetV1"
    # different noise per sample
    a = (out / "sample_000.png").read_bytes()
    assert a != (out / "sample_001.png").read_bytes()


def test_sample_cli_other_sizes_and_seeds(texture_model, tmp_path, capsys):
    """A fully convolutional V1 samples any multiple of 4 (3 scales); same seed, same files."""
    for name, seed in (("a", "1"), ("b", "1"), ("c", "2")):
        args = ["sample", "--model", str(texture_model), "-n", "2", "--size", "48x40", "--seed", seed,
                "--grid-only", "--out", str(tmp_path / name)]
        assert main(args) == 0
    capsys.readouterr()
    assert set(_sizes(tmp_path / "a")) == {"grid.png"}  # --grid-only
    grid = lambda n: (tmp_path / n / "grid.png").read_bytes()  # noqa: E731
    assert grid("a") == grid("b") and grid("a") != grid("c")
    assert main(["sample", "--model", str(texture_model), "-n", "1", "--size", "48x40", "--no-grid",
                 "--out", str(tmp_path / "d")]) == 0
    assert _sizes(tmp_path / "d") == {"sample_000.png": (48, 40)}


@pytest.mark.parametrize("size,wh", [("30", (30, 30)), ("32x30", (32, 30))])
def test_sample_cli_sizes_off_the_grid_come_back_exactly(texture_model, tmp_path, capsys, size, wh):
    """TextureNetV1 runs at multiples of 4 here (3 scales) and crops, so any --size works."""
    out = tmp_path / "s"
    rc = main(["sample", "--model", str(texture_model), "-n", "2", "--size", size, "--out", str(out)])
    assert rc == 0
    capsys.readouterr()
    assert _sizes(out)["sample_001.png"] == wh


def test_sample_cli_fixed_size_generator(tmp_path, capsys):
    """TextureNetV2 makes one size only: another --size is a one-line error, its own size works."""
    torch.manual_seed(0)
    path = save_checkpoint(tmp_path / "v2.pt", TextureNetV2(size=16, hidden=32, base_channels=64))
    assert main(["sample", "--model", str(path), "-n", "2", "--size", "32", "--out", str(tmp_path / "x")]) == 1
    line = one_line(capsys.readouterr().err)
    assert line.startswith("texnet: error:") and "16x16" in line and "TextureNetV1" in line
    assert main(["sample", "--model", str(path), "-n", "2", "--out", str(tmp_path / "y")]) == 0
    capsys.readouterr()
    assert _sizes(tmp_path / "y")["sample_001.png"] == (16, 16)


def test_sample_cli_smallest_v1_size_works_or_is_a_one_line_error(tmp_path, capsys):
    torch.manual_seed(0)
    path = save_checkpoint(tmp_path / "v1.pt", TextureNetV1())
    rc = main(["sample", "--model", str(path), "-n", "2", "--size", "32", "--out", str(tmp_path / "out")])
    if rc == 1:
        assert one_line(capsys.readouterr().err).startswith("texnet: error:")
    else:
        assert rc == 0 and _sizes(tmp_path / "out")["sample_000.png"] == (32, 32)


def test_sample_cli_with_a_style_model_is_a_clear_error(style_model, tmp_path, capsys):
    rc = main(["sample", "--model", str(style_model), "-n", "2", "--out", str(tmp_path / "out")])
    assert rc == 1
    line = one_line(capsys.readouterr().err)
    assert line.startswith("texnet: error:") and "StyleNet" in line and "texnet stylize" in line
    assert not (tmp_path / "out").exists()


def test_sample_cli_with_a_missing_model(tmp_path, capsys):
    assert main(["sample", "--model", str(tmp_path / "nope.pt"), "--out", str(tmp_path / "out")]) == 1
    line = one_line(capsys.readouterr().err)
    assert line.startswith("texnet: error:") and "no such checkpoint" in line


# --------------------------------------------------------------------------- CLI: style


def test_stylize_cli_two_inputs_keep_their_size(style_model, tmp_path, capsys):
    a = write_photo(tmp_path / "in" / "street.png", 41, 57, seed=1)
    b = write_photo(tmp_path / "in" / "portrait.jpg", 66, 35, seed=2)
    out = tmp_path / "styled"
    assert main(["stylize", str(a), str(b), "--model", str(style_model), "--out", str(out), "--quiet"]) == 0
    captured = capsys.readouterr()
    assert "stylized 2 image(s)" in captured.out
    assert _sizes(out) == {"street_stylized.png": (57, 41), "portrait_stylized.png": (35, 66)}
    info = json.loads((out / "config.json").read_text())
    assert info["outputs"] == ["street_stylized.png", "portrait_stylized.png"]


def test_stylize_cli_same_names_do_not_overwrite(style_model, tmp_path, capsys):
    a = write_photo(tmp_path / "a" / "photo.png", 32, 40, seed=1)
    b = write_photo(tmp_path / "b" / "photo.png", 36, 28, seed=2)
    out = tmp_path / "styled"
    assert main(["stylize", str(a), str(b), "--model", str(style_model), "--out", str(out)]) == 0
    capsys.readouterr()
    assert _sizes(out) == {"photo_stylized.png": (40, 32), "photo_1_stylized.png": (28, 36)}


def test_stylize_cli_sample_image_and_size(style_model, tmp_path, capsys):
    out = tmp_path / "styled"
    assert main(["stylize", "sample:coffee", "--size", "40", "--model", str(style_model), "--out", str(out)]) == 0
    capsys.readouterr()
    (w, h), = _sizes(out).values()
    assert max(w, h) == 40 and "coffee_stylized.png" in _sizes(out)


def test_stylize_cli_with_a_texture_model_is_a_clear_error(texture_model, tmp_path, capsys):
    photo = write_photo(tmp_path / "p.png", 32, 32)
    rc = main(["stylize", str(photo), "--model", str(texture_model), "--out", str(tmp_path / "out")])
    assert rc == 1
    line = one_line(capsys.readouterr().err)
    assert line.startswith("texnet: error:") and "TextureNetV1" in line and "texnet sample" in line
    assert not (tmp_path / "out").exists()


def test_stylize_cli_missing_input_fails_before_writing(style_model, tmp_path, capsys):
    good = write_photo(tmp_path / "good.png", 32, 32)
    rc = main(["stylize", str(good), str(tmp_path / "missing.png"), "--model", str(style_model),
               "--out", str(tmp_path / "out")])
    assert rc == 1
    line = one_line(capsys.readouterr().err)
    assert line.startswith("texnet: error:") and "missing.png" in line
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- library


def test_load_texture_model_is_callable_in_eval_mode(texture_model):
    g = texnet.load(texture_model)
    assert isinstance(g, TextureNetV1) and not g.training
    z = g.sample_noise(2, 32, torch.Generator().manual_seed(0))
    with torch.no_grad():
        x = g(z)
    assert x.shape == (2, 3, 32, 32) and 0 <= float(x.min()) and float(x.max()) <= 1
    assert torch.equal(x, g.generate(2, 32, seed=0))
    assert g.checkpoint["step"] == 3 and g.checkpoint["task"] == "texture"
    assert torch.equal(sample_textures(g, 2, 32, seed=0), x)
    # chunked sampling gives the same samples as one batch
    assert torch.equal(sample_textures(g, 5, 32, seed=4, batch_size=2)[:2], sample_textures(g, 2, 32, seed=4))


def test_load_style_model_is_callable_in_eval_mode(style_model):
    g = texnet.load(style_model)
    assert isinstance(g, StyleNet) and not g.training and g.noise_channels == 1
    x0 = torch.rand(1, 3, 30, 42, generator=torch.Generator().manual_seed(0))
    z = g.sample_noise(1, (30, 42), torch.Generator().manual_seed(1))
    with torch.no_grad():
        y = g(x0, z)
        y_again = g(x0, z)
        y_other = g(x0, torch.randn_like(z))
    assert y.shape == x0.shape and torch.equal(y, y_again)
    assert not torch.equal(y, y_other)
    assert g.stylize(x0, seed=3).shape == x0.shape


def test_run_functions_refuse_the_wrong_task(texture_model, style_model, tmp_path):
    with pytest.raises(CheckpointError, match="texnet stylize"):
        run_sample(style_model, tmp_path / "a")
    with pytest.raises(CheckpointError, match="texnet sample"):
        run_stylize(texture_model, ["sample:coffee"], tmp_path / "b")
    with pytest.raises(ConfigError):
        run_sample(texture_model, tmp_path / "c", size=0)  # any positive size works; 0 does not
