"""Stylizing videos frame by frame (PyAV), measuring flicker, and a cheap temporal stabilizer.

Streaming: one frame is decoded, stylized, encoded and dropped before the
next is read, so memory stays flat however long the video is. The noise
planes are the same for every frame (drawn from `seed` alike for each), the frame rate
and size are kept, and the audio stream is copied packet by packet (no
re-encoding) when the output container accepts its codec.

Flicker = mean |y_t − y_{t−1}| of the output minus the same of the input
(per pixel and channel, over consecutive frames): on a static-camera clip the
input term is only sensor noise and moving objects, so what is left is the
network's own frame-to-frame instability.

Stabilizer (`stabilize` k in [0, 1)): a motion-aware running average,
out_t = a·out_{t−1} + (1−a)·y_t with per-pixel a = k·exp(−d/τ), where d is
the change of the (blurred) input at that pixel. Static pixels are averaged
over ~1/(1−k) frames; where the content moves, a → 0 and the current
stylization is used, so moving objects leave no ghost trails.
"""
from __future__ import annotations

import errno
import math
import os
import time
import warnings
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from texnet.errors import ConfigError, TexnetError, clip
from texnet.io.claims import io_error_line
from texnet.runtime import progress as progress_bar

#: Output container (FFmpeg muxer name) and video codec by file extension.
CONTAINERS = {".mp4": ("mp4", "libx264"), ".mov": ("mov", "libx264"), ".mkv": ("matroska", "libx264"),
              ".webm": ("webm", "libvpx-vp9"), ".avi": ("avi", "mpeg4")}
#: libx264 quality (constant rate factor): 18 is visually lossless for most material.
CRF = 18
#: τ of the stabilizer: an input change of this much (in [0, 1] units) reduces the averaging weight e-fold.
MOTION_SCALE = 0.03


def require_av():
    """The PyAV module, or a one-line TexnetError saying how to install it."""
    try:
        import av
    except ImportError as exc:
        raise TexnetError("video needs PyAV: pip install texnet[video]") from exc
    return av


@dataclass
class VideoResult:
    """What stylize_video wrote: frame count, rate, (height, width), whether audio was copied, flicker."""

    path: Path
    frames: int
    fps: Fraction
    size: Tuple[int, int]
    audio: bool
    flicker: float
    input_change: float
    output_change: float
    seconds: float


class FlickerMeter:
    """Streaming flicker: mean |Δ output| − mean |Δ input| over consecutive frames (no frames kept)."""

    def __init__(self):
        self.prev_in: Optional[torch.Tensor] = None
        self.prev_out: Optional[torch.Tensor] = None
        self.sum_in = 0.0
        self.sum_out = 0.0
        self.pairs = 0

    def update(self, x: torch.Tensor, y: torch.Tensor) -> None:
        """Add one (input, output) frame pair, both (1, 3, H, W) in [0, 1] at the same size."""
        if self.prev_in is not None:
            self.sum_in += float((x - self.prev_in).abs().mean())
            self.sum_out += float((y - self.prev_out).abs().mean())
            self.pairs += 1
        self.prev_in, self.prev_out = x, y

    @property
    def input_change(self) -> float:
        return self.sum_in / self.pairs if self.pairs else 0.0

    @property
    def output_change(self) -> float:
        return self.sum_out / self.pairs if self.pairs else 0.0

    @property
    def flicker(self) -> float:
        return self.output_change - self.input_change


def flicker(inputs, outputs) -> float:
    """Flicker of a sequence of (1, 3, H, W) frames (see FlickerMeter); for clips held in memory."""
    meter = FlickerMeter()
    for x, y in zip(inputs, outputs):
        meter.update(x, y)
    return meter.flicker


class TemporalStabilizer:
    """Motion-aware running average of stylized frames (see the module docstring); k = 0 is off."""

    def __init__(self, strength: float, motion_scale: float = MOTION_SCALE, blur: int = 5):
        if not (math.isfinite(strength) and 0.0 <= strength < 1.0):
            raise ConfigError(f"stabilize must be in [0, 1), got {strength}")
        if not motion_scale > 0:
            raise ConfigError(f"motion scale must be > 0, got {motion_scale}")
        self.k = float(strength)
        self.tau = float(motion_scale)
        self.blur = int(blur)
        self.prev_in: Optional[torch.Tensor] = None
        self.prev_out: Optional[torch.Tensor] = None

    def _smooth(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(x, self.blur, stride=1, padding=self.blur // 2, count_include_pad=False)

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The stabilized output for input frame x and its stylization y."""
        if self.k == 0.0:
            return y
        sx = self._smooth(x)
        if self.prev_in is None or self.prev_in.shape != sx.shape:
            out = y
        else:
            change = (sx - self.prev_in).abs().mean(1, keepdim=True)
            change = F.max_pool2d(change, self.blur, stride=1, padding=self.blur // 2)  # motion edges: no trails
            a = self.k * torch.exp(-change / self.tau)
            out = a * self.prev_out + (1.0 - a) * y
        self.prev_in, self.prev_out = sx, out
        return out


def stability_penalty(g, content: torch.Tensor, z: Optional[torch.Tensor] = None, sigma: float = 0.02,
                      generator: Optional[torch.Generator] = None, style=None) -> torch.Tensor:
    """Training-time stabilizer: per-image mean square change of g's output under small input noise.

    Adding λ·this to the training objective teaches the network to ignore
    sensor-noise-sized changes (the noise-at-training trick), which is what
    makes static regions flicker in video. Returns shape (N,).
    """
    noise = torch.randn(content.shape, generator=generator).to(content.device) * sigma
    clean = g(content, z, style=style)
    noisy = g((content + noise).clamp(0.0, 1.0), z, style=style)
    return (noisy - clean).pow(2).flatten(1).mean(1)


# --------------------------------------------------------------------------- files


def _open_input(av, src: Path):
    if not src.is_file():
        raise TexnetError(f"{src}: no such video file" if not src.exists() else f"{src}: not a regular file")
    try:
        container = av.open(str(src))
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise TexnetError(f"{src}: not a video PyAV can read ({_short(exc)})") from exc
    if not container.streams.video:
        container.close()
        raise TexnetError(f"{src}: has no video stream")
    return container


def _same_file(src: Path, dst: Path) -> bool:
    """Whether writing `dst` would replace `src` (same path, a link to it, or the same file by another name)."""
    try:
        return dst.resolve() == src.resolve() or (dst.exists() and src.exists() and os.path.samefile(src, dst))
    except OSError:
        return False


def _failure_line(exc: BaseException, src: Path, dst: Path, tmp: Path) -> str:
    """One line for a PyAV / OS error while stylizing a video: the file it concerns and what to do."""
    name = getattr(exc, "filename", None)
    writing = name is not None and Path(str(name)).name == tmp.name
    code = getattr(exc, "errno", None)
    if writing or (name is None and code in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES)):
        if isinstance(exc, OSError) and code is not None:
            return io_error_line(dst, exc, "cannot write the video") + "; nothing was kept"
        return f"{dst}: cannot write the video ({_short(exc)}); nothing was kept"
    return f"{src}: cannot decode this video ({_short(exc)}); nothing was written"


def _short(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return clip(lines[0], 160) if lines else type(exc).__name__


def _out_hw(h: int, w: int, size: Optional[int], even: bool) -> Tuple[int, int]:
    if size is not None:
        scale = size / max(h, w)
        h, w = max(2, round(h * scale)), max(2, round(w * scale))
    if even:  # 4:2:0 chroma needs even sides
        h, w = h + h % 2, w + w % 2
    return h, w


def _frame_tensor(frame, hw: Tuple[int, int], device) -> torch.Tensor:
    a = frame.to_ndarray(format="rgb24")
    x = torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1).unsqueeze(0).float().div_(255.0)
    if tuple(x.shape[-2:]) != hw:
        x = F.interpolate(x, size=hw, mode="bicubic", align_corners=False, antialias=True).clamp_(0.0, 1.0)
    return x.to(device)


def stylize_video(g, src, dst, size: Optional[int] = None, preserve_color: bool = False, style_mix=None,
                  strength: float = 1.0, seed: int = 0, stabilize: float = 0.0, progress: bool = True,
                  precision: str = "fp32", max_frames: Optional[int] = None, overwrite: bool = True) -> VideoResult:
    """Stylize video `src` into `dst` (.mp4/.mov/.mkv/.webm/.avi) with StyleNet `g`, one frame at a time.

    `size` scales the long side (default: the input size); `style_mix`,
    `strength` and `preserve_color` are as for stylize_image; `stabilize`
    k in [0, 1) turns on the motion-aware running average (0 = off). The
    file is written under a temporary name and renamed when complete.
    """
    from texnet.extras.color import preserve_color as keep_colors
    from texnet.render.inference import prepare_inference, stylize_image

    av = require_av()
    if getattr(g, "task", None) != "style":
        raise ConfigError("stylize_video needs a stylization network (StyleNet)")
    src, dst = Path(src), Path(dst)
    if dst.suffix.lower() not in CONTAINERS:
        raise ConfigError(f"{dst}: unsupported video extension; use one of {', '.join(sorted(CONTAINERS))}")
    if _same_file(src, dst):
        raise ConfigError(f"{dst}: is the input video itself; write the stylized video to another file")
    if dst.exists() and not overwrite:
        raise TexnetError(f"{dst}: exists; use --overwrite (overwrite=True) to replace it")
    if not dst.parent.is_dir():
        raise TexnetError(f"{dst.parent}: no such folder for the output video")
    stabilizer = TemporalStabilizer(stabilize)
    model = prepare_inference(g, precision)
    fmt, codec = CONTAINERS[dst.suffix.lower()]
    inp = _open_input(av, src)
    tmp = dst.with_name(f".{dst.stem}.partial{dst.suffix}")
    t0 = time.perf_counter()
    try:
        vin = inp.streams.video[0]
        vin.thread_type = "AUTO"
        fps = vin.average_rate or vin.guessed_rate or Fraction(25)
        hw = _out_hw(vin.codec_context.height, vin.codec_context.width, size, even=codec == "mpeg4")
        out = av.open(str(tmp), "w", format=fmt)
        try:
            vout = out.add_stream(codec, rate=fps)
            vout.height, vout.width = hw
            # 4:2:0 needs even sides; odd sizes are kept exactly with full-resolution chroma instead
            vout.pix_fmt = "yuv420p" if hw[0] % 2 == 0 and hw[1] % 2 == 0 else "yuv444p"
            if codec == "libx264":
                vout.options = {"crf": str(CRF)}
            ain, aout = _audio_streams(inp, out, fmt)
            meter = FlickerMeter()
            total = vin.frames or None
            if max_frames is not None:
                total = min(total, max_frames) if total else max_frames
            bar = progress_bar(total=total, desc="stylize video", enabled=progress, unit="frame")
            n = 0
            streams = [vin] + ([ain] if aout is not None else [])
            for packet in inp.demux(*streams):
                if packet.stream is not vin:
                    if packet.dts is not None and aout is not None:
                        packet.stream = aout
                        out.mux(packet)
                    continue
                if max_frames is not None and n >= max_frames:
                    break
                for frame in packet.decode():
                    if max_frames is not None and n >= max_frames:
                        break
                    x = _frame_tensor(frame, hw, model.device)
                    y = stylize_image(model, x, seed=seed, style=style_mix, strength=strength)
                    y = stabilizer(x.cpu(), y)
                    if preserve_color:
                        y = keep_colors(y, x.cpu())
                    meter.update(x.cpu(), y)
                    a = (y[0].clamp(0, 1) * 255.0).round().to(torch.uint8).permute(1, 2, 0).numpy()
                    vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(a), format="rgb24")
                    vf.pts = n
                    for p in vout.encode(vf):
                        out.mux(p)
                    n += 1
                    bar.update(1)
            bar.close()
            for p in vout.encode(None):
                out.mux(p)
        finally:
            out.close()
    except BaseException as exc:
        try:
            tmp.unlink()
        except OSError:
            pass
        if isinstance(exc, (av.error.FFmpegError, OSError)) and not isinstance(exc, TexnetError):
            raise TexnetError(_failure_line(exc, src, dst, tmp)) from exc
        raise
    finally:
        inp.close()
    if n == 0:
        tmp.unlink()
        raise TexnetError(f"{src}: no video frames could be decoded")
    try:
        os.replace(tmp, dst)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise TexnetError(io_error_line(dst, exc, "cannot write the video") + "; nothing was kept") from exc
    return VideoResult(dst, n, Fraction(fps), hw, aout is not None, meter.flicker, meter.input_change,
                       meter.output_change, time.perf_counter() - t0)


def _audio_streams(inp, out, fmt: str):
    """(input audio stream, output stream copying it) or (None, None) when absent or not muxable here."""
    if not inp.streams.audio:
        return None, None
    ain = inp.streams.audio[0]
    name = ain.codec_context.name
    try:
        import av

        ok = av.format.ContainerFormat(fmt, "w") is not None
        aout = out.add_stream_from_template(ain) if ok else None
    except Exception as exc:  # a codec this container cannot hold: drop the audio, keep the video
        warnings.warn(f"audio ({name}) cannot be copied into a .{fmt} file ({_short(exc)}); writing video only")
        return None, None
    return ain, aout
