"""ONNX export: onnxruntime gives the torch generator's output (max abs <= 1e-3) at two sizes, noise included."""
from __future__ import annotations

import builtins

import pytest
import torch

from texnet.errors import ConfigError, TexnetError
from texnet.paper.generators import StyleNet, TextureNetV1, TextureNetV2

TOL = 1e-3


@pytest.fixture(scope="module")
def onnx_modules():
    return pytest.importorskip("onnx"), pytest.importorskip("onnxruntime")


@pytest.mark.parametrize("noise_channels,upsample,fast", [(0, "nearest", False), (2, "nearest", True),
                                                          (0, "transposed", False)])
def test_stylenet_onnx_equals_torch(onnx_modules, tmp_path, noise_channels, upsample, fast):
    from texnet.render.onnx import OnnxGenerator, export_onnx

    torch.manual_seed(0)
    g = StyleNet(channels=4, noise_channels=noise_channels, upsample=upsample, residual_blocks=2).eval()
    og = OnnxGenerator(export_onnx(g, tmp_path / "s.onnx", fast_upsample=fast))
    assert og.arch == "StyleNet" and og.config == g.config
    for hw in ((37, 50), (64, 96)):  # not multiples of 4 / multiples: the runner pads and crops like torch
        x = torch.rand(1, 3, *hw)
        y = og.stylize(x, seed=3)
        assert y.shape == (1, 3, *hw)
        assert float((y - g.stylize(x, seed=3)).abs().max()) <= TOL


@pytest.mark.parametrize("padding", ["circular", "reflect"])
def test_texturenet_v1_onnx_equals_torch(onnx_modules, tmp_path, padding):
    from texnet.render.onnx import OnnxGenerator, export_onnx

    torch.manual_seed(1)
    g = TextureNetV1(scales=3, channels=4, padding=padding).eval()
    og = OnnxGenerator(export_onnx(g, tmp_path / "v.onnx"))
    for size in ((32, 48), (50, 70)):
        y = og.generate(2, size, seed=4)
        assert y.shape == (2, 3, *size)
        assert float((y - g.generate(2, size, seed=4)).abs().max()) <= TOL


def test_instance_norm_exports_as_instance_normalization(onnx_modules, tmp_path):
    from texnet.render.onnx import export_onnx

    onnx, _ = onnx_modules
    path = export_onnx(StyleNet(channels=4, residual_blocks=1).eval(), tmp_path / "s.onnx")
    ops = {n.op_type for n in onnx.load(str(path)).graph.node}
    assert "InstanceNormalization" in ops and "BatchNormalization" not in ops


def test_export_refuses_bad_targets(onnx_modules, tmp_path):
    from texnet.render.onnx import OnnxGenerator, export_onnx

    with pytest.raises(ConfigError, match=".onnx"):
        export_onnx(StyleNet(channels=4), tmp_path / "s.pt")
    with pytest.raises(ConfigError, match="StyleNet and TextureNetV1"):
        export_onnx(TextureNetV2(size=16, hidden=32, base_channels=64), tmp_path / "v2.onnx")
    g = OnnxGenerator(export_onnx(TextureNetV1(scales=2, channels=2).eval(), tmp_path / "v.onnx"))
    with pytest.raises(ConfigError, match="generate"):
        g.stylize(torch.rand(1, 3, 16, 16))
    with pytest.raises(TexnetError):
        OnnxGenerator(tmp_path / "missing.onnx")


def test_missing_onnxruntime_is_one_line_error(monkeypatch, tmp_path):
    from texnet.render import onnx as export

    real_import = builtins.__import__

    def no_onnx(name, *args, **kwargs):
        if name in ("onnx", "onnxruntime"):
            raise ImportError(f"No module named '{name}'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_onnx)
    for call in (lambda: export.export_onnx(StyleNet(channels=4), tmp_path / "s.onnx"),
                 lambda: export.OnnxGenerator(tmp_path / "s.onnx")):
        with pytest.raises(TexnetError) as info:
            call()
        assert "pip install texnet[onnx]" in str(info.value) and "\n" not in str(info.value)


def test_texturenet_v1_int8_export_is_calibrated_on_noise_and_close(onnx_modules, tmp_path):
    from texnet.render.onnx import OnnxGenerator, export_onnx, quantize_onnx

    torch.manual_seed(2)
    g = TextureNetV1(scales=3, channels=4).eval()
    fp32 = export_onnx(g, tmp_path / "v1.onnx")
    og = OnnxGenerator(quantize_onnx(g, fp32, tmp_path / "v1_int8.onnx"))
    assert og.arch == "TextureNetV1"
    y, ref = og.generate(2, size=48, seed=4), g.generate(2, size=48, seed=4)
    assert y.shape == ref.shape == (2, 3, 48, 48)
    assert 0 < float((y - ref).abs().mean()) <= 0.03  # int8: not equal, but close
