"""Video stylization (PyAV): frames, size, fps and audio kept, fixed noise, flicker metric, stabilizer."""
from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from texnet.errors import ConfigError, TexnetError
from texnet.paper.generators import StyleNet, TextureNetV2
from texnet.render.video import FlickerMeter, TemporalStabilizer, flicker, require_av, stability_penalty, stylize_video

FRAMES, H, W, FPS = 8, 48, 64, 12


@pytest.fixture
def av():
    return pytest.importorskip("av")


def make_clip(av, path, frames=FRAMES, h=H, w=W, fps=FPS, audio=True, moving=True):
    """A gradient background with a yellow square moving right 4 px per frame; optionally a 440 Hz AAC tone."""
    out = av.open(str(path), "w")
    v = out.add_stream("libx264", rate=fps)
    v.width, v.height, v.pix_fmt = w, h, "yuv420p"
    a = out.add_stream("aac", rate=8000) if audio else None
    if a is not None:
        a.layout = "mono"
    yy, xx = np.mgrid[0:h, 0:w]
    for i in range(frames):
        img = np.stack([xx * 255 // w, yy * 255 // h, np.full_like(xx, 90)], -1).astype(np.uint8)
        x0 = 4 + 4 * i if moving else 8
        img[10:22, x0:x0 + 12] = (250, 250, 30)
        frame = av.VideoFrame.from_ndarray(img, format="rgb24")
        frame.pts = i
        for p in v.encode(frame):
            out.mux(p)
    for p in v.encode(None):
        out.mux(p)
    if a is not None:
        n = 8000 * frames // fps
        tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(n) / 8000)).astype(np.float32)
        for s0 in range(0, n, 1024):
            af = av.AudioFrame.from_ndarray(tone[None, s0:s0 + 1024], format="fltp", layout="mono")
            af.sample_rate, af.pts = 8000, s0
            for p in a.encode(af):
                out.mux(p)
        for p in a.encode(None):
            out.mux(p)
    out.close()
    return path


def probe(av, path):
    """(frames decoded, (h, w), fps, audio packets) of a video file."""
    with av.open(str(path)) as c:
        vs = c.streams.video[0]
        fps, hw = vs.average_rate, (vs.codec_context.height, vs.codec_context.width)
        frames = sum(1 for _ in c.decode(video=0))
    with av.open(str(path)) as c:
        audio = sum(1 for p in c.demux(audio=0) if p.size) if c.streams.audio else 0
    return frames, hw, fps, audio


def _net(**kw):
    torch.manual_seed(0)
    return StyleNet(channels=4, residual_blocks=1, **kw).eval()


def test_stylize_video_keeps_frames_size_fps_and_audio(av, tmp_path, one_thread):
    src = make_clip(av, tmp_path / "clip.mp4")
    res = stylize_video(_net(), src, tmp_path / "out.mp4", progress=False)
    frames, hw, fps, audio = probe(av, tmp_path / "out.mp4")
    assert (res.frames, res.size, res.fps, res.audio) == (FRAMES, (H, W), FPS, True)
    assert (frames, hw, fps) == (FRAMES, (H, W), FPS)
    assert audio > 0  # the AAC packets were copied
    assert not list(tmp_path.glob(".*partial*"))  # the temporary file was renamed
    assert np.isfinite(res.flicker) and res.input_change > 0


def test_odd_sizes_scaling_colour_and_style_options(av, tmp_path, one_thread):
    src = make_clip(av, tmp_path / "clip.mp4", frames=3, audio=False)
    g = _net(styles=2)
    res = stylize_video(g, src, tmp_path / "small.mkv", size=33, preserve_color=True, style_mix=[0.5, 0.5],
                        strength=0.7, progress=False)
    frames, hw, fps, audio = probe(av, tmp_path / "small.mkv")
    assert res.size == hw == (25, 33) and frames == 3 and audio == 0 and not res.audio


def test_noise_is_fixed_across_frames(av, tmp_path, one_thread):
    """A static clip through a network with noise planes: the output does not change from frame to frame."""
    src = make_clip(av, tmp_path / "still.mp4", frames=5, audio=False, moving=False)
    res = stylize_video(_net(noise_channels=2), src, tmp_path / "out.mp4", seed=4, progress=False)
    assert res.output_change < 0.002, res  # fresh noise per frame would change it by ~0.05
    g = _net(noise_channels=2)
    x = torch.rand(1, 3, H, W)
    assert (g.stylize(x, seed=4) - g.stylize(x, seed=5)).abs().mean() > 0.005


def test_flicker_meter_and_stabilizer():
    """Static noisy frames with a moving square; a 'network' that adds its own per-frame noise."""
    gen = torch.Generator().manual_seed(0)
    base = torch.rand(1, 3, 1, 1, generator=gen).expand(1, 3, 32, 48).clone()
    frames, outs = [], []
    for t in range(10):
        x = base.clone()
        x[..., 8:16, 4 * t:4 * t + 8] = 1.0
        x = (x + 0.005 * torch.randn(x.shape, generator=gen)).clamp(0, 1)
        frames.append(x)
        outs.append((x + 0.05 * torch.randn(x.shape, generator=gen)).clamp(0, 1))
    raw = flicker(frames, outs)
    assert raw > 0.02  # the added per-frame noise shows up
    assert abs(flicker(frames, frames)) < 1e-7
    stab = TemporalStabilizer(0.8)
    smoothed = [stab(x, y) for x, y in zip(frames, outs)]
    assert flicker(frames, smoothed) < 0.5 * raw
    # where the square moves the current output is used (no ghost trail of where it was)
    t = 9
    moving = (slice(None), slice(None), slice(8, 16), slice(4 * t, 4 * t + 8))
    assert torch.allclose(smoothed[t][moving], outs[t][moving], atol=0.02)
    meter = FlickerMeter()
    for x, y in zip(frames, outs):
        meter.update(x, y)
    assert meter.pairs == 9 and abs(meter.flicker - raw) < 1e-9
    with pytest.raises(ConfigError):
        TemporalStabilizer(1.0)


def test_stability_penalty_is_per_image_and_differentiable():
    g = _net(noise_channels=1).train()
    x = torch.rand(2, 3, 16, 16)
    z = torch.randn(2, 1, 16, 16)
    pen = stability_penalty(g, x, z, sigma=0.05, generator=torch.Generator().manual_seed(0))
    assert pen.shape == (2,) and (pen > 0).all()
    pen.sum().backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in g.parameters())
    assert torch.allclose(stability_penalty(g.eval(), x, z, sigma=0.0), torch.zeros(2), atol=1e-12)


def test_missing_pyav_is_one_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "av", None)
    with pytest.raises(TexnetError) as info:
        require_av()
    assert str(info.value) == "video needs PyAV: pip install texnet[video]"


def test_bad_inputs_are_clear_errors(av, tmp_path):
    g = _net()
    with pytest.raises(TexnetError, match="no such video"):
        stylize_video(g, tmp_path / "missing.mp4", tmp_path / "out.mp4", progress=False)
    junk = tmp_path / "notes.mp4"
    junk.write_text("not a video\n")
    with pytest.raises(TexnetError, match="not a video"):
        stylize_video(g, junk, tmp_path / "out.mp4", progress=False)
    with pytest.raises(ConfigError, match="extension"):
        stylize_video(g, junk, tmp_path / "out.gif", progress=False)
    with pytest.raises(ConfigError, match="StyleNet"):
        stylize_video(TextureNetV2(size=32), junk, tmp_path / "out.mp4", progress=False)
    assert not (tmp_path / "out.mp4").exists()
