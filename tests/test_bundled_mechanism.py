"""Networks used by name: lookup, fp16 storage loaded as fp32, one-line errors with close matches, `texnet models`.

A tiny StyleNet and TextureNetV1 are written as a bundle into a temporary
models folder (TEXNET_MODELS_DIR), exactly as `texnet zoo build` writes one.
"""
from __future__ import annotations

import io
import json

import pytest
import torch

from helpers_cli import one_line, run_cli
from texnet.io import bundled
from texnet.checkpoints import generator_payload, load
from texnet.paper.generators import StyleNet, TextureNetV1


def _bundle(folder, name, g, kind, declared):
    data = {"format": "texnet-checkpoint", "version": 2, "texnet_version": "test", **generator_payload(g),
            "train_config": {"task": kind}, "step": 1}
    buf = io.BytesIO()
    torch.save(bundled.compact(data, declared=declared, bundled_name=name), buf)
    (folder / f"{name}.pt").write_bytes(buf.getvalue())
    card = {"name": name, "kind": kind, "architecture": g.arch, "title": f"test {name}", "declared": declared,
            "exemplar": {"title": "t", "provenance": f"made by the test for {name}", "licence": "CC0", "thumbnail": None},
            "training": {"command": ["texnet", "x"], "device": "cpu", "steps": 1, "wall_time_s": 1.0, "final_loss": 1.0},
            "quality": {}}
    (folder / f"{name}.json").write_text(json.dumps(card))


@pytest.fixture
def zoo(tmp_path, monkeypatch):
    folder = tmp_path / "models"
    folder.mkdir()
    torch.manual_seed(0)
    style = StyleNet(channels=4, residual_blocks=1).eval()
    texture = TextureNetV1(scales=3, channels=4, size=32).eval()
    _bundle(folder, "tiny_style", style, "style", {"output_size": 64, "style_size": 32})
    _bundle(folder, "tiny_texture", texture, "texture", {"any_size": True, "tileable": True, "gallery_size": 32})
    monkeypatch.setenv("TEXNET_MODELS_DIR", str(folder))
    return {"folder": folder, "style": style, "texture": texture}


def test_names_load_to_fp32_within_fp16_rounding_of_the_trained_weights(zoo):
    assert bundled.names() == ["tiny_style", "tiny_texture"]
    g = load("tiny_style")
    assert all(p.dtype == torch.float32 for p in g.parameters())
    x = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        diff = (g(x) - zoo["style"](x)).abs().max()
    assert 0 < float(diff) < 1e-2  # stored as fp16: not bit-identical, but within its rounding
    stored = torch.load(zoo["folder"] / "tiny_style.pt", weights_only=True)
    assert all(v.dtype == torch.float16 for v in stored["state_dict"].values() if v.is_floating_point())
    assert g.checkpoint["declared"]["output_size"] == 64


def test_a_path_still_wins_over_a_name(zoo, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert bundled.resolve("tiny_style") == zoo["folder"] / "tiny_style.pt"
    (tmp_path / "tiny_style").mkdir()  # a run folder of that name in the working directory
    assert bundled.resolve("tiny_style").resolve() == tmp_path / "tiny_style"


def test_cli_uses_names_and_unknown_names_get_close_matches(zoo, tmp_path, capsys):
    rc, out, err = run_cli(["stylize", "--model", "tiny_style", "sample:chelsea", "--size", "48",
                            "--out", tmp_path / "s", "--quiet"], capsys)
    assert rc == 0, err
    assert (tmp_path / "s" / "chelsea_stylized.png").is_file()
    rc, out, err = run_cli(["sample", "--model", "tiny_texture", "-n", "2", "--size", "40", "--out", tmp_path / "t",
                            "--quiet"], capsys)
    assert rc == 0, err
    rc, _, err = run_cli(["sample", "--model", "tiny_textur", "--out", tmp_path / "u"], capsys)
    line = one_line(err)
    assert rc == 1 and "did you mean tiny_texture" in line and "texnet models" in line
    assert not (tmp_path / "u").exists()
    rc, _, err = run_cli(["sample", "--model", "zzzz", "--out", tmp_path / "u"], capsys)
    assert rc == 1 and "did you mean" not in one_line(err)


def test_stroke_size_note_and_style_scale(zoo, tmp_path, capsys):
    rc, out, _ = run_cli(["stylize", "--model", "tiny_style", "sample:chelsea", "--size", "160",
                          "--out", tmp_path / "a", "--quiet"], capsys)
    assert rc == 0 and "made for 64-px outputs" in out and "--style-scale 2.5" in out
    rc, out, _ = run_cli(["stylize", "--model", "tiny_style", "sample:chelsea", "--size", "160", "--style-scale", "2.5",
                          "--out", tmp_path / "b", "--quiet"], capsys)
    assert rc == 0 and "made for" not in out
    from texnet.io.images import load_image

    a, b = load_image(tmp_path / "a" / "chelsea_stylized.png"), load_image(tmp_path / "b" / "chelsea_stylized.png")
    assert a.shape == b.shape  # same output size, strokes from a smaller copy
    assert float((a - b).abs().mean()) > 0.01


def test_models_lists_json_and_writes_a_gallery(zoo, tmp_path, capsys):
    rc, out, _ = run_cli(["models"], capsys)
    assert rc == 0 and "tiny_style" in out and "made by the test for tiny_texture" in out
    rc, out, _ = run_cli(["models", "--json"], capsys)
    rows = {r["name"]: r for r in json.loads(out)}
    assert rows["tiny_style"]["kind"] == "style" and rows["tiny_style"]["output_size"] == 64
    assert rows["tiny_style"]["style_size"] == 32 and rows["tiny_texture"]["any_size"] is True
    assert rows["tiny_style"]["bytes"] == (zoo["folder"] / "tiny_style.pt").stat().st_size
    rc, out, _ = run_cli(["models", "--out", tmp_path / "g"], capsys)
    assert rc == 0
    page = (tmp_path / "g" / "index.html").read_text()
    assert "tiny_style" in page and "tiny_texture_samples.jpg" in page and "tiny_style_chelsea.jpg" in page
    assert (tmp_path / "g" / "tiny_texture_samples.jpg").is_file()


def test_train_style_without_a_content_folder_uses_the_bundled_photos(tmp_path, capsys, one_thread):
    import json

    rc, out, err = run_cli(["train-style", "--style", "sample:starry_night", "--steps", "1", "--size", "32",
                            "--channels", "4", "--out", tmp_path / "r", "--quiet"], capsys)
    assert rc == 0, err
    assert "sample photos bundled with texnet" in out + err and ">= 100 photos" in out + err
    assert json.loads((tmp_path / "r" / "config.json").read_text())["config"]["content_dir"] == "sample:photos"


def test_large_tensors_ship_as_int8_rows_and_come_back_within_half_a_step():
    torch.manual_seed(0)
    w = torch.randn(300, 40, 3, 3)
    small = torch.randn(8, 4)
    data = {"architecture": "x", "arch_config": {}, "state_dict": {"w": w, "b": small, "n": torch.tensor(3)}}
    packed = bundled.compact(data)
    assert packed["state_dict"]["w"].dtype == torch.int8 and packed["state_dict"]["b"].dtype == torch.float16
    back = bundled.expand(dict(packed))["state_dict"]
    step = w.flatten(1).abs().amax(1) / 127
    err = (back["w"] - w).flatten(1).abs().amax(1)
    assert bool((err <= step / 2 + 1e-6).all()) and float(err.max()) > 0
    assert back["w"].dtype == torch.float32 and torch.equal(back["n"], torch.tensor(3))
    buf_int8, buf_fp16 = io.BytesIO(), io.BytesIO()
    torch.save(packed, buf_int8)
    torch.save({"w": w.half()}, buf_fp16)
    assert len(buf_int8.getvalue()) < 0.6 * len(buf_fp16.getvalue())
