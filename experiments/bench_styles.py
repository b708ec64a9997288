"""Measurements behind the style options: strength modes, video flicker and its stabilizer, 2-style training.

    python experiments/bench_styles.py [--model run/model.pt] [--quick] [--only strength,flicker,multistyle]

`--model` is a trained single-style StyleNet (without one, a small one is
trained here first, on scikit-image samples: minutes on a CPU). Prints one
JSON object; strips and clips go to --out (default: a temporary folder).

* strength: texture (style) and content loss, relative, on held-out photos,
  along s = 0 .. 1 for 'output' (pixel) and 'norm' (norm-layer) blending,
  and 'identity' (a copy with a fitted identity style, blended toward it);
  a mode is better when, for the same content loss, its style loss is lower,
  and when its style loss moves evenly with s.
* flicker: a static-camera clip (a photo, a moving square, per-frame sensor
  noise), stylized with stabilize = 0, 0.5, 0.8; flicker = mean |Δ output|
  minus mean |Δ input| over consecutive frames.
* stability: the model fine-tuned 40 steps without / with 1000·stability_penalty
  (the noise-at-training trick), each scored for flicker and losses.
* multistyle: a 2-style StyleNet trained from scratch at 32 px; each style's
  loss before/after, and the cross losses (style k's output scored against
  the other style's target) that show the rows condition the network.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Dict

os.environ.setdefault("TEXNET_NO_PROGRESS", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402

LAYERS = {"relu1_1": 1.0, "relu2_1": 1.0, "relu3_1": 1.0, "relu4_1": 1.0}
CONTENT = {"relu3_1": 1.0}
HELD_OUT = ("chelsea", "coffee", "astronaut", "motorcycle")
#: Photos the identity style is fitted on (not the held-out ones).
IDENTITY_PHOTOS = ("rocket", "camera", "hubble_deep_field", "retina", "logo", "ihc", "grass", "brick")
STEPS = (0.0, 0.25, 0.5, 0.75, 1.0)


def _loss(style_img):
    from texnet.paper.loss_network import LossNetwork
    from texnet.paper.losses import ContentLoss, PerceptualLoss, TextureLoss

    net = LossNetwork(list(dict.fromkeys(list(LAYERS) + list(CONTENT))))
    return PerceptualLoss(net, TextureLoss.from_images(net, style_img, LAYERS), ContentLoss(CONTENT))


def _sample_photos(out: Path) -> Path:
    """A folder of scikit-image photos (not the held-out ones) for training and fine-tuning."""
    from texnet.io.images import load_image, save_image

    photos = out / "photos"
    photos.mkdir(parents=True, exist_ok=True)
    for name in ("rocket", "camera", "hubble_deep_field", "retina", "logo", "ihc"):
        save_image(load_image(f"sample:{name}", size=160)[0], photos / f"{name}.png")
    return photos


def train_small(out: Path, steps: int) -> Path:
    """A StyleNet(16) on scikit-image photos with the bundled Starry Night (the suite's fallback model)."""
    from texnet.config import LossConfig, TrainConfig
    from texnet.train import train

    photos = _sample_photos(out)
    cfg = TrainConfig(task="style", exemplar="sample:starry_night", content_dir=str(photos), generator="stylenet",
                      stylenet_channels=16, size=96, exemplar_size=128, batch_size=4, steps=steps, lr=2e-3,
                      checkpoint_every=10**6, sample_every=10**6, device="cpu", seed=0,
                      loss=LossConfig(texture_layers=dict(LAYERS), content_layers=dict(CONTENT),
                                      precision="fp32", channels_last=False))
    train(cfg, out / "model", overwrite=True, show_progress=False, log=lambda m: None)
    return out / "model" / "model.pt"


def bench_strength(g, style_img, out: Path, size: int, identity_steps: int) -> Dict[str, object]:
    import copy

    from texnet.io.images import load_image, make_grid
    from texnet.extras.styles import fit_identity_style

    loss = _loss(style_img)
    photos = torch.cat([load_image(f"sample:{n}", size=(size, size)) for n in HELD_OUT])
    targets = loss.content_targets(photos)
    # the same network with a learned identity row (style 1) for "interpolate toward the identity style"
    with_identity = copy.deepcopy(g)
    train = torch.cat([load_image(f"sample:{n}", size=(size, size)) for n in IDENTITY_PHOTOS])
    fit_identity_style(with_identity, train, steps=identity_steps, lr=0.02, batch_size=4)
    with_identity.eval()
    rows: Dict[str, object] = {}
    strips = []
    for mode, net, kind in (("output", g, "output"), ("norm", g, "norm"), ("identity", with_identity, "norm")):
        rows[mode] = []
        outs = []
        for s in STEPS:
            with torch.no_grad():
                y = net.stylize(photos, strength=s, strength_mode=kind, style=0 if mode == "identity" else None)
                r = loss(y, targets)
            rows[mode].append({"s": s, "style": float(r["texture"].mean()), "content": float(r["content"].mean()),
                               "pixel_mse_to_content": float((y - photos).pow(2).mean())})
            outs.append(y[0])
        strips += outs
    make_grid(strips, ncol=len(STEPS)).save(out / "strength_strips.png")
    for mode in ("output", "norm", "identity"):
        style = [r["style"] for r in rows[mode]]
        steps = np.abs(np.diff(style))
        rows[mode + "_evenness"] = float(steps.max() / max(steps.sum(), 1e-12))  # 0.25 = perfectly even over 4 steps
        rows[mode + "_monotone"] = bool(np.all(np.diff(style) <= 1e-9))
    return rows


def _write_clip(path: Path, frames: int, size, noise: float, seed: int = 0) -> None:
    import av

    from texnet.io.images import load_image

    h, w = size
    bg = load_image("sample:chelsea", size=(h, w))[0].permute(1, 2, 0).numpy()
    rng = np.random.default_rng(seed)
    with av.open(str(path), "w") as c:
        v = c.add_stream("libx264", rate=12)
        v.width, v.height, v.pix_fmt = w, h, "yuv444p"
        v.options = {"qp": "0"}  # lossless: the noise in the clip is the noise we added
        for i in range(frames):
            img = bg.copy()
            x0 = (4 + 3 * i) % (w - 16)
            img[h // 4:h // 4 + 16, x0:x0 + 16] = (0.95, 0.9, 0.2)
            img = np.clip(img + rng.normal(0, noise, img.shape), 0, 1)
            f = av.VideoFrame.from_ndarray((img * 255).round().astype(np.uint8), format="rgb24")
            f.pts = i
            for p in v.encode(f):
                c.mux(p)
        for p in v.encode(None):
            c.mux(p)


def bench_flicker(g, out: Path, frames: int, size) -> Dict[str, object]:
    from texnet.render.video import stylize_video

    res = {}
    for noise in (0.005, 0.02):
        clip = out / f"static_camera_noise{noise}.mkv"
        _write_clip(clip, frames, size, noise=noise)
        for k in (0.0, 0.5, 0.8):
            r = stylize_video(g, clip, out / f"stylized_noise{noise}_k{k}.mkv", stabilize=k, progress=False)
            res[f"noise={noise} stabilize={k}"] = {"flicker": r.flicker, "input_change": r.input_change,
                                                   "output_change": r.output_change, "frames": r.frames}
    return res


def bench_stability(model: Path, style_img, out: Path, content_dir: Path, steps: int, weight: float,
                    frames: int, size) -> Dict[str, object]:
    """Fine-tune the model `steps` steps without and with weight·stability_penalty; flicker and losses of each."""
    from texnet.checkpoints import load
    from texnet.io.data import ContentFolder
    from texnet.io.images import load_image
    from texnet.render.video import stability_penalty, stylize_video

    loss = _loss(style_img)
    data = ContentFolder(content_dir, 96)
    clip = out / "static_camera_noise0.02.mkv"
    if not clip.exists():
        _write_clip(clip, frames, size, noise=0.02)
    test = torch.cat([load_image(f"sample:{n}", size=(128, 128)) for n in HELD_OUT])
    res = {}
    for name, w in (("plain", 0.0), ("stability", weight)):
        g = load(model).train()
        opt = torch.optim.Adam(g.parameters(), lr=1e-3)
        for step in range(1, steps + 1):
            gen = torch.Generator().manual_seed(1000 + step)
            x = data.batch(4, gen)
            total = loss(g(x), loss.content_targets(x))["total"].mean()
            if w:
                total = total + w * stability_penalty(g, x, sigma=0.02, generator=gen).mean()
            opt.zero_grad(set_to_none=True)
            total.backward()
            opt.step()
        g.eval()
        with torch.no_grad():
            r = loss(g(test), loss.content_targets(test))
        v = stylize_video(g, clip, out / f"finetuned_{name}.mkv", progress=False)
        res[name] = {"flicker": v.flicker, "output_change": v.output_change, "input_change": v.input_change,
                     "style": float(r["texture"].mean()), "content": float(r["content"].mean())}
    res.update(steps=steps, weight=weight)
    return res


def bench_multistyle(steps: int) -> Dict[str, object]:
    from texnet.paper.generators import StyleNet
    from texnet.io.images import load_image
    from texnet.paper.loss_network import LossNetwork
    from texnet.paper.losses import ContentLoss, PerceptualLoss, TextureLoss
    from texnet.extras.styles import draw_styles

    layers = {"relu1_1": 1.0, "relu2_1": 1.0}
    net = LossNetwork(list(layers))
    styles = [load_image(f"sample:{n}", size=32) for n in ("starry_night", "hubble_deep_field")]
    loss = PerceptualLoss(net, TextureLoss.from_style_images(net, styles, layers), ContentLoss({"relu2_1": 1.0}))
    contents = torch.cat([load_image(f"sample:{n}", size=(32, 32)) for n in ("astronaut", "coffee", "chelsea", "rocket")])
    torch.manual_seed(0)
    g = StyleNet(channels=8, residual_blocks=1, styles=2)
    opt = torch.optim.Adam(g.parameters(), lr=3e-3)

    def table():
        with torch.no_grad():
            t = loss.content_targets(contents)
            return {f"net style {k} vs target {j}": float(loss(g(contents, style=k), t, style=torch.full((4,), j))["texture"].mean())
                    for k in range(2) for j in range(2)}

    before = table()
    for step in range(1, steps + 1):
        gen = torch.Generator().manual_seed(step)
        x = contents[torch.randint(4, (2,), generator=gen)]
        s = draw_styles(2, 2, gen)
        r = loss(g(x, style=s), loss.content_targets(x), style=s)
        opt.zero_grad(set_to_none=True)
        r["total"].mean().backward()
        opt.step()
    return {"steps": steps, "before": before, "after": table()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="a trained single-style StyleNet (else one is trained here)")
    ap.add_argument("--style", default="sample:starry_night", help="the style image the model was trained on")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", default="strength,flicker,stability,multistyle")
    ap.add_argument("--content-dir", default=None, help="photos for the stability fine-tune (else scikit-image samples)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    from texnet.checkpoints import load
    from texnet.io.images import load_image

    out = Path(args.out or tempfile.mkdtemp(prefix="texnet-bench-styles-"))
    out.mkdir(parents=True, exist_ok=True)
    only = set(args.only.split(","))
    result: Dict[str, object] = {"out": str(out)}
    g = None
    if only & {"strength", "flicker", "stability"}:
        model = Path(args.model) if args.model else train_small(out, 20 if args.quick else 250)
        g = load(model).eval()
        result["model"] = str(model)
    size = 64 if args.quick else 128
    if "strength" in only:
        result["strength"] = bench_strength(g, load_image(args.style, size=size), out, size, 30 if args.quick else 300)
    if "flicker" in only:
        result["flicker"] = bench_flicker(g, out, 8 if args.quick else 24, (72, 96) if args.quick else (144, 192))
    if "stability" in only:
        content_dir = Path(args.content_dir) if args.content_dir else _sample_photos(out)
        result["stability"] = bench_stability(model, load_image(args.style, size=128), out, content_dir,
                                              5 if args.quick else 40, 1000.0, 8 if args.quick else 24,
                                              (72, 96) if args.quick else (144, 192))
    if "multistyle" in only:
        result["multistyle"] = bench_multistyle(10 if args.quick else 60)
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
