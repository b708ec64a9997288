"""The quality cost of the fast inference configurations.

Trains StyleNet(channels=32) (Johnson's width) and StyleNet(channels=16) (the
"small" net) with texnet's default training path, same style, photos, seed
and number of steps, then scores both on held-out photos with the fp32 loss
(texture + content, relative), each run in fp32 and through the fast
inference path. Short CPU training, so absolute losses are high; the ratio
between the two widths is the figure of interest.
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Dict

import torch

from common import log

TRAIN_PHOTOS = ("astronaut", "coffee", "rocket", "motorcycle")
HELD_OUT = ("chelsea", "camera")
STYLE = "sample:gravel"


def training_config(photos: Path, channels: int, size: int, batch: int, steps: int):
    """The StyleNet recipe both widths train with (only the width differs)."""
    from texnet.config import TrainConfig

    return TrainConfig(task="style", exemplar=STYLE, content_dir=str(photos), generator="stylenet",
                       stylenet_channels=channels, size=size, batch_size=batch, steps=steps, device="cpu", seed=0)


def run(quick: bool, fast: dict) -> Dict[str, object]:
    from texnet.io.images import load_image, save_image
    from texnet.render.inference import prepare_inference
    from texnet.build import build_loss
    from texnet.config import LossConfig
    from texnet.train import Trainer

    size, batch, steps, eval_size = (64, 2, 10, 64) if quick else (128, 4, 200, 256)
    out: Dict[str, object] = {"train_size": size, "batch": batch, "steps": steps, "style": STYLE,
                              "held_out": [f"sample:{n}" for n in HELD_OUT], "eval_size": eval_size, "models": {}}
    trained = {}
    with tempfile.TemporaryDirectory(prefix="texnet-quality-") as tmp:
        tmp = Path(tmp)
        photos = tmp / "photos"
        photos.mkdir()
        for name in TRAIN_PHOTOS:
            save_image(load_image(f"sample:{name}")[0], photos / f"{name}.png")
        style = load_image(STYLE, size=eval_size)
        evaluator = build_loss(LossConfig(precision="fp32", channels_last=False), style, with_content=True)
        held = [load_image(f"sample:{n}", size=eval_size) for n in HELD_OUT]
        for ch in (32, 16):
            log(f"[quality] training StyleNet(channels={ch}) {steps} steps at {size}², batch {batch}")
            cfg = training_config(photos, ch, size, batch, steps)
            tr = Trainer(cfg, tmp / f"run{ch}", overwrite=True, show_progress=False, log=lambda m: None)
            last = []
            import time

            t = time.perf_counter()
            for s in range(1, steps + 1):
                last.append(tr.train_step(s)["loss"])
            seconds = time.perf_counter() - t
            g = tr.generator.eval()
            trained[f"stylenet{ch}"] = g
            scores = {}
            for mode, model in (("fp32", prepare_inference(g)), ("fast", prepare_inference(g, **fast))):
                tot, tex, con = [], [], []
                with torch.inference_mode():
                    for x in held:
                        y = model(x)
                        res = evaluator(y, evaluator.content_targets(x))
                        tot.append(float(res["total"][0]))
                        tex.append(float(res["texture"][0]))
                        con.append(float(res["content"][0]))
                scores[mode] = {"total": sum(tot) / len(tot), "texture": sum(tex) / len(tex), "content": sum(con) / len(con)}
            tail = last[-max(1, steps // 5):]
            out["models"][f"stylenet{ch}"] = {"parameters": g.num_parameters(), "train_seconds": seconds,
                                              "train_loss_tail_mean": sum(tail) / len(tail), "held_out": scores}
            log(f"  held-out loss fp32 {scores['fp32']['total']:.4f}, fast {scores['fast']['total']:.4f}")
    m = out["models"]
    out["small_vs_full_held_out_loss"] = m["stylenet16"]["held_out"]["fp32"]["total"] / m["stylenet32"]["held_out"]["fp32"]["total"]
    out["fast_vs_fp32_held_out_loss"] = {k: v["held_out"]["fast"]["total"] / v["held_out"]["fp32"]["total"] for k, v in m.items()}
    return out, trained
