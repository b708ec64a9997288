"""InferenceConfig: the options of `sample`, `stylize` and `stylize-video`."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from texnet.errors import ConfigError
from texnet.io.images import parse_size
from texnet.config.options import check_fields, option
from texnet.runtime import PRECISIONS
from texnet.extras.styles import DEFAULT_STRENGTH_MODE, STRENGTH_MODES
from texnet.config.vocab import TILE_MODES, parse_bytes
from texnet.config.schema import STYLIZE, device_option, max_pixels_option, seed_option


@dataclass
class InferenceConfig:
    """One forward pass per output with a trained generator (texnet sample / stylize)."""

    model: Optional[str] = option(None, "model.pt / checkpoint.pt (or its run folder)")
    #: Exported by `texnet export`; run by onnxruntime (pip install texnet[onnx]).
    onnx: Optional[str] = option(None, "run this ONNX file with onnxruntime instead of a --model checkpoint",
                                 commands=("sample", "stylize"))
    n: int = option(8, "number of samples", flag="-n", low=1, commands=("sample",))
    grid_only: bool = option(False, "write only grid.png", commands=("sample",))
    tile_preview: bool = option(False, "also write each sample repeated 2x2 (NAME_tiled.png), to see its seams",
                                commands=("sample",))
    no_grid: bool = option(False, "write only the sample files", commands=("sample",))
    size: Any = option(None, {"sample": "output size: N (square) or WxH; TextureNetV1 makes any size",
                              "*": "output size: N (the long side; the photo's aspect kept) or WxH"}, parse=parse_size,
                       default_text="the model's / the input's")
    batch_size: int = option(8, "samples per forward pass", low=1, commands=("sample",))
    seed: int = seed_option()
    device: str = device_option()
    max_pixels: Optional[int] = max_pixels_option(commands=("stylize",))
    #: fp32 is bit-identical to the generator; bf16 2.7-4.2x faster on CPUs with AVX512-BF16 (benchmarks/RESULTS.md),
    #: pixel differences measured on the bundled StyleNets in docs/results.md.
    precision: str = option("fp32", "generator precision: fp32 (exact), bf16 (faster on CPUs with AVX512-BF16; "
                            "measured on the bundled StyleNets: mean < 1/255, single pixels up to 19/255 at 512 px "
                            "and 33/255 at 1024 px), auto (bf16 where native)", choices=PRECISIONS, group="speed")
    #: Multi-style networks (conditional instance norm): one style, or a blend of their scale/bias rows.
    style_index: Optional[int] = option(None, "style k of a multi-style network (default: style 0, or the style "
                                        "add-style added)", low=0, commands=STYLIZE)
    style_mix: Optional[str] = option(None, "blend of a multi-style network's styles: NAME=W,NAME=W or W,W,... "
                                      "(weights normalized to sum 1)", commands=STYLIZE)
    #: 'output' blending measured better than interpolating norm parameters (experiments/RESULTS_styles.md).
    strength: float = option(1.0, "style strength: 0 = the photo, 1 = the full style", low=0, high=1,
                             commands=STYLIZE)
    strength_mode: Optional[str] = option(None, "how strength < 1 blends: the outputs, or the norm layers",
                                          choices=STRENGTH_MODES, default_text=DEFAULT_STRENGTH_MODE, commands=("stylize",))
    #: The network sees a copy 1/S the size and its output is resized back: strokes S times larger (bundled.py
    #: cards say which output size a network's strokes were made for).
    style_scale: float = option(1.0, "stroke size: 2 = strokes twice as large (the network sees a half-size copy), "
                                "0.5 = finer strokes", above=0, high=8, commands=("stylize",))
    #: YCbCr: luminance from the stylization, chrominance from the photo (texnet.extras.color says why).
    preserve_color: bool = option(False, "keep the photo's colours (luminance from the stylization)", commands=STYLIZE)
    stabilize: float = option(0.0, "motion-aware running average of output frames, 0 = off (0.8 halves the "
                              "frame-to-frame change)", low=0, high=0.99, commands=("stylize-video",))
    max_frames: Optional[int] = option(None, "stop after this many frames", low=1, commands=("stylize-video",))
    #: Large outputs (texnet.render.tiling): automatic when one piece would not fit the memory budget.
    tile: Optional[int] = option(None, "tile side in px: process the output in overlapping tiles (implies tiling)",
                                 low=16, commands=("sample", "stylize"), group="large")
    max_memory: Optional[str] = option(None, "memory budget for one output, e.g. 4G or 512M (also TEXNET_MAX_MEMORY)",
                                       default_text="min(3G, half the free memory)", commands=("sample", "stylize"),
                                       group="large")
    tile_mode: str = option("auto", "auto: one piece if it fits, else exact bands (StyleNet), else tiles with "
                            "frozen instance-norm statistics; exact: never approximate; tiled: always tile",
                            choices=TILE_MODES, commands=("sample", "stylize"), group="large")
    #: bf16/fp16 on the CPU is NHWC without it (inference.py); this also makes fp32 NHWC (~1.4x faster there,
    #: equal to ~1e-5 instead of bit-identical).
    channels_last: bool = option(False, "NHWC generator also in fp32 (bf16 on the CPU always is)", group="speed")
    compile: bool = option(False, "torch.compile an NCHW copy of the generator (falls back to eager; on CPU "
                           "about as fast as eager bf16)", group="speed")

    def validate(self, command: Optional[str] = None) -> "InferenceConfig":
        check_fields(self, command)
        if bool(self.model) == bool(self.onnx):
            raise ConfigError("needs --model MODEL (a model.pt, checkpoint.pt or run folder)"
                              + (" or --onnx FILE, not both" if command in ("sample", "stylize") else ""))
        if self.max_memory is not None:
            parse_bytes(self.max_memory)
        if self.style_index is not None and self.style_mix:
            raise ConfigError("give --style-index K or --style-mix, not both")
        return self
