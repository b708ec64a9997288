"""ONNX export of StyleNet and TextureNetV1, and an onnxruntime runner that behaves like the torch generator.

The graph has dynamic height and width and takes the noise as explicit
inputs, so the caller (the runner) controls the seed:

* StyleNet: inputs `image` (N, 3, H, W) and, with noise channels, `noise`
  (N, noise_channels, H, W); H and W multiples of 4, at least 8 (the runner
  pads like StyleNet.forward and crops back). Output `output`, RGB in [0, 1].
* TextureNetV1: inputs `noise_0` ... `noise_{K-1}` (coarsest first, as
  sample_noise makes them). Output `output` at the generation size.

Instance norm exports as ONNX InstanceNormalization (the custom
InstanceNorm2d calls F.instance_norm; checked against torch in the tests).
The generator's architecture and config travel in the model's metadata, so
`OnnxGenerator(path)` needs nothing else. onnx / onnxruntime are optional:
without them these functions raise one TexnetError line.
"""
from __future__ import annotations

import copy
import json
import os
import warnings
from pathlib import Path
from typing import Optional, Union

import numpy as np
import torch
import torch.nn as nn

from texnet.errors import CheckpointError, ConfigError, TexnetError
from texnet.paper.generators import StyleNet, TextureNetV1, build_generator
from texnet.paper.generators.base import hw, seeded
from texnet.paper.generators.style_net import pad_input

PathLike = Union[str, os.PathLike]
OPSET = 17
_INSTALL = "pip install texnet[onnx]"


def _require(module: str):
    """Import an optional ONNX package, or one TexnetError line saying how to install it."""
    try:
        return __import__(module)
    except ImportError as exc:
        raise TexnetError(f"ONNX support needs the '{module}' package ({_INSTALL})") from exc


class _StyleGraph(nn.Module):
    """What the ONNX graph computes for a StyleNet: concat noise, body, sigmoid (no padding, no crop)."""

    def __init__(self, g: StyleNet):
        super().__init__()
        self.body = g.body
        self.noise = g.noise_channels > 0

    def forward(self, image, noise=None):
        x = torch.cat([image, noise], 1) if self.noise else image
        return torch.sigmoid(self.body(x))


def export_onnx(g, path: PathLike, opset: int = OPSET, fast_upsample: bool = False) -> Path:
    """Write `g` (StyleNet or TextureNetV1) as an ONNX file with dynamic height/width; returns the path.

    `fast_upsample` exports the phase-convolution form of the upsampling
    stages (fast_upsample.py) instead of Resize + Conv.
    """
    onnx = _require("onnx")
    if not isinstance(g, (StyleNet, TextureNetV1)):
        raise ConfigError(f"export_onnx supports StyleNet and TextureNetV1, not {type(g).__name__}")
    path = Path(path)
    if path.suffix.lower() != ".onnx":
        raise ConfigError(f"{path}: the ONNX file name must end in .onnx")
    if not path.parent.is_dir():
        raise ConfigError(f"{path}: the folder {path.parent} does not exist")
    net = copy.deepcopy(g).float().eval()
    if fast_upsample:
        from texnet.render.fast_upsample import rewrite_upsampling

        rewrite_upsampling(net, inplace=True)
    if isinstance(net, StyleNet):
        module = _StyleGraph(net).eval()
        args = (torch.rand(1, 3, 64, 64),) + ((torch.randn(1, net.noise_channels, 64, 64),) if net.noise_channels else ())
        names = ["image"] + (["noise"] if net.noise_channels else [])
    else:
        module = net
        args = (list(net.sample_noise(1, 4 * net.multiple)),)
        names = [f"noise_{k}" for k in range(net.scales)]
    if isinstance(net, StyleNet):  # image and noise share one height and width
        axes = {n: {0: "batch", 2: "height", 3: "width"} for n in names}
    else:  # one pair of dims per scale
        axes = {n: {0: "batch", 2: f"height_{k}", 3: f"width_{k}"} for k, n in enumerate(names)}
    axes["output"] = {0: "batch", 2: "height", 3: "width"}
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(module, args, str(tmp), input_names=names, output_names=["output"],
                              dynamic_axes=axes, opset_version=opset, dynamo=False)
        model = onnx.load(str(tmp))
        meta = {"texnet_arch": g.arch, "texnet_config": json.dumps(g.config), "texnet_task": g.task}
        onnx.helper.set_model_props(model, meta)
        onnx.save(model, str(tmp))
        os.replace(tmp, path)
    except TexnetError:
        raise
    except Exception as exc:
        raise TexnetError(f"ONNX export of {g.arch} failed ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})") from exc
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


class OnnxGenerator:
    """An exported generator run by onnxruntime, with the torch generator's `stylize` / `generate` calls."""

    def __init__(self, path: PathLike, threads: Optional[int] = None):
        ort = _require("onnxruntime")
        path = Path(path)
        if not path.is_file():
            raise CheckpointError(f"{path}: no such ONNX file")
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = int(threads)
        try:
            self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise CheckpointError(f"{path}: onnxruntime cannot load it ({str(exc).splitlines()[0][:200]})") from exc
        meta = self.session.get_modelmeta().custom_metadata_map
        if "texnet_arch" not in meta:
            raise CheckpointError(f"{path}: not a texnet ONNX export (no texnet metadata)")
        self.arch, self.task = meta["texnet_arch"], meta.get("texnet_task")
        self.config = json.loads(meta["texnet_config"])
        self.shell = build_generator(self.arch, self.config)  # shapes and noise only; its weights are unused
        self.inputs = [i.name for i in self.session.get_inputs()]

    def __call__(self, *arrays) -> np.ndarray:
        """Run the graph on numpy inputs (in the exported order)."""
        feed = {n: np.ascontiguousarray(a, dtype=np.float32) for n, a in zip(self.inputs, arrays)}
        return self.session.run(["output"], feed)[0]

    def stylize(self, x0: torch.Tensor, seed: Optional[int] = None, z: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Like StyleNet.stylize: any size in, the same size out (padded to a multiple of 4 and cropped)."""
        if self.task != "style":
            raise ConfigError(f"{self.arch} is a texture generator; use generate()")
        n, _, h, w = x0.shape
        nc = self.shell.noise_channels
        x = x0.float()
        if nc:
            if z is None:
                gen = seeded(seed)
                z = self.shell.sample_noise(n, (h, w), gen, "cpu")
            x = torch.cat([x, z.float()], 1)
        x = pad_input(x)
        parts = (x[:, :3], x[:, 3:]) if nc else (x,)
        y = self(*[p.numpy() for p in parts])
        return torch.from_numpy(y)[..., :h, :w]

    def generate(self, n: int, size=None, seed: Optional[int] = None) -> torch.Tensor:
        """Like Generator.generate for TextureNetV1: the same noise for the same seed, cropped to `size`."""
        if self.task == "style":
            raise ConfigError(f"{self.arch} is a stylization network; use stylize()")
        size = size if size is not None else self.shell.default_size()
        h, w = hw(size)
        gen = seeded(seed)
        z = self.shell.sample_noise(n, self.shell.generation_size(size), gen, "cpu")
        return torch.from_numpy(self(*[t.numpy() for t in z]))[..., :h, :w]


#: Calibration of `quantize_onnx`: images (StyleNet) or noise draws (TextureNetV1) at this long side.
CALIBRATION_SIDE = 256
CALIBRATION_PHOTOS = 8  # the first photos of the folder: activation ranges settle within a few images
CALIBRATION_DRAWS = 4


def _calibration_feeds(g, photos, names):
    """Input dicts for static int8 calibration: photos for a StyleNet (with seeded noise), noise for TextureNetV1."""
    gen = torch.Generator().manual_seed(0)
    feeds = []
    if isinstance(g, StyleNet):
        from texnet.io.data import find_images
        from texnet.io.images import load_image

        files = find_images(photos)
        if not files:
            raise ConfigError(f"{photos}: no images to calibrate the int8 model with")
        for f in files[:CALIBRATION_PHOTOS]:
            x = load_image(f, size=CALIBRATION_SIDE)
            x = x[..., : x.shape[-2] // 4 * 4, : x.shape[-1] // 4 * 4]
            feed = {"image": x.numpy()}
            if g.noise_channels:
                feed["noise"] = g.sample_noise(1, x.shape[-2:], gen, "cpu").numpy()
            feeds.append(feed)
    else:
        for _ in range(CALIBRATION_DRAWS):
            z = g.sample_noise(1, g.generation_size(CALIBRATION_SIDE), gen, "cpu")
            feeds.append({n: t.numpy() for n, t in zip(names, z)})
    return feeds


def quantize_onnx(g, fp32_path: PathLike, path: PathLike, photos: str = "sample:photos") -> Path:
    """Static int8 quantization (QDQ, per-channel int8 weights, uint8 activations) of an exported `g`.

    Activation ranges are calibrated on `photos` (StyleNet; the bundled sample photos by default) or on noise
    draws (TextureNetV1). Convolutions run as integer kernels in onnxruntime; instance norm stays float.
    The texnet metadata is kept, so OnnxGenerator runs it like the fp32 file.
    """
    onnx = _require("onnx")
    _require("onnxruntime")
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    src = onnx.load(str(fp32_path))
    names = [i.name for i in src.graph.input]
    feeds = iter(_calibration_feeds(g, photos, names))

    class Reader(CalibrationDataReader):
        def get_next(self):
            return next(feeds, None)

    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.int8.part")
    try:
        import logging

        root, level = logging.getLogger(), logging.getLogger().level
        root.setLevel(logging.ERROR)  # onnxruntime logs "consider pre-processing" advice on the root logger
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                quantize_static(str(fp32_path), str(tmp), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                                activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                                op_types_to_quantize=["Conv"])
            finally:
                root.setLevel(level)
        model = onnx.load(str(tmp))
        onnx.helper.set_model_props(model, {p.key: p.value for p in src.metadata_props} | {"texnet_int8": "1"})
        onnx.save(model, str(tmp))
        os.replace(tmp, path)
    except TexnetError:
        raise
    except Exception as exc:
        raise TexnetError(f"int8 quantization of {g.arch} failed ({type(exc).__name__}: "
                          f"{str(exc).splitlines()[0][:200]})") from exc
    finally:
        if tmp.exists():
            tmp.unlink()
    return path
