"""`texnet reproduce`: the paper's experiments (Figs. 3-7 and speed) in one command, as an illustrated report.

Writes DIR/index.html (figures with what the paper claims and what we
measured, and a plain verdict per claim), the PNGs, and DIR/results.json with
every number. Hyperparameters live in profiles.py.
"""
from __future__ import annotations

import dataclasses
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional

import torch

from ..checkpoints import load
from ..config import LossConfig, TrainConfig, device_option, to_dict
from ..exemplars import training_exemplar
from ..files import RunFolder
from ..images import load_image, make_grid, sample_image_path, save_image
from ..losses import DEFAULT_TEXTURE_LAYERS, build_loss
from ..metrics import diversity, median_time, quality
from ..optimize import optimize_pixels
from ..options import check_fields, option
from ..runtime import PRECISIONS, resolve_device, seed_everything
from ..train import train
from .profiles import PROFILES, STYLE_LAYERS, Profile
from .reproduce_report import write_report

DEFAULT_STYLE = "sample:starry_night"
DEFAULT_TEXTURE = "sample:brick"
#: Bundled photos used to train the stylization networks; EVAL_PHOTOS are held out for Fig. 4.
TRAIN_PHOTOS = ("astronaut", "rocket", "motorcycle", "camera", "hubble_deep_field", "retina", "logo")
EVAL_PHOTOS = ("chelsea", "coffee")


def _mean_tail(values: List[float], frac: float = 0.1) -> float:
    k = max(1, int(len(values) * frac))
    return sum(values[-k:]) / k


class Reproduction:
    """One reproduction run; each `fig*` method runs an experiment and records numbers and images."""

    def __init__(self, profile: Profile, out, style: Optional[str] = None, texture: Optional[str] = None,
                 content_dir: Optional[str] = None, device: str = "auto", overwrite: bool = False,
                 reuse: bool = False, show_progress: bool = True, log: Callable[[str], None] = print):
        self.p = profile
        self.style = style or DEFAULT_STYLE
        self.texture = texture or DEFAULT_TEXTURE
        for src in (self.style, self.texture):
            load_image(src)  # decode both now: a bad file fails in one line before hours of training
        self.run = RunFolder(out, overwrite=overwrite, resume=reuse)
        self.root = self.run.path
        self.device = resolve_device(device)
        self.reuse = reuse
        self.show_progress = show_progress
        self.log = log
        self.content_dir = content_dir or str(self._bundled_content())
        self.results: Dict[str, object] = {"profile": dataclasses.asdict(profile), "style": self.style,
                                           "texture": self.texture, "content_dir": self.content_dir,
                                           "device": str(self.device), "torch": torch.__version__}
        self.style_loss_cfg = LossConfig(texture_layers=dict(STYLE_LAYERS), content_weight=profile.content_weight,
                                         precision=profile.precision)
        self.texture_loss_cfg = LossConfig(texture_layers=dict(DEFAULT_TEXTURE_LAYERS), precision=profile.precision)

    # ------------------------------------------------------------------ plumbing

    def _bundled_content(self) -> Path:
        folder = self.run.file("inputs/content/.keep").parent
        for name in TRAIN_PHOTOS:
            src = sample_image_path(name)
            dst = folder / f"{name}{src.suffix}"
            if not dst.exists():
                shutil.copyfile(src, dst)
        return folder

    def _eval_images(self) -> List[str]:
        return [f"sample:{n}" for n in EVAL_PHOTOS]

    def _train(self, name: str, cfg: TrainConfig):
        """Train (or, with --reuse, load an identical finished run) into DIR/runs/NAME."""
        folder = self.root / "runs" / name
        cfg = cfg.resolved().validate()
        model = folder / "model.pt"
        if self.reuse and model.is_file():
            g = load(model, device=self.device)
            if g.checkpoint.get("train_config") == to_dict(cfg) and (folder / "checkpoint.pt").is_file():
                from ..checkpoints import load_checkpoint

                hist = load_checkpoint(folder / "checkpoint.pt").get("history", [])
                self.log(f"[reproduce] reusing {folder}")
                return g, hist
        self.log(f"[reproduce] training {name}: {cfg.generator}, {cfg.steps} steps, λ={cfg.diversity}")
        res = train(cfg, folder, overwrite=True, show_progress=self.show_progress, log=self.log)
        return res.generator.eval(), res.history

    def _style_cfg(self, **kw) -> TrainConfig:
        p = self.p
        base = dict(task="style", exemplar=self.style, content_dir=self.content_dir, generator="stylenet",
                    size=p.style_size, batch_size=p.style_batch, steps=p.style_steps, lr=p.style_lr,
                    lr_step=p.style_lr_step, seed=p.seed, device=str(self.device), loss=self.style_loss_cfg,
                    exemplar_size=p.exemplar_size)
        base.update(kw)
        every = max(1, base["steps"] // max(1, p.snapshots))
        return TrainConfig(checkpoint_every=every, sample_every=every, **base)

    def _texture_cfg(self, **kw) -> TrainConfig:
        p = self.p
        base = dict(task="texture", exemplar=self.texture, generator="v2", size=p.texture_size,
                    batch_size=p.texture_batch, steps=p.texture_steps, lr_step=p.texture_lr_step, seed=p.seed,
                    device=str(self.device), loss=self.texture_loss_cfg, v1_scales=p.v1_scales,
                    exemplar_size=p.exemplar_size)
        base.update(kw)
        every = max(1, base["steps"] // max(1, p.snapshots))
        return TrainConfig(checkpoint_every=every, sample_every=every, **base)

    def _save(self, img, name: str) -> str:
        save_image(img, self.run.file(name))
        return name

    # ------------------------------------------------------------------ experiments

    def fig3a(self) -> Dict[str, object]:
        """StyleNet IN vs BN: same data, seed, schedule and budget."""
        self.nets, hists = {}, {}
        for norm in ("instance", "batch"):
            key = "IN" if norm == "instance" else "BN"
            self.nets[key], hists[key] = self._train(f"stylenet_{key}", self._style_cfg(norm=norm))
        curves = {k: [r["objective"] for r in h] for k, h in hists.items()}
        final = {k: _mean_tail(v) for k, v in curves.items()}
        res = {"final_objective": final, "ratio_IN_over_BN": final["IN"] / final["BN"], "curves": curves}
        self.results["fig3a"] = res
        return res

    def fig3b_fig4(self) -> Dict[str, object]:
        """Stylize held-out photos with IN / BN nets and by optimization; fine-tune from each start."""
        p = self.p
        loss = build_loss(self.style_loss_cfg, training_exemplar(self._style_cfg().resolved()),
                          with_content=True, device=self.device)
        rows, cells = [], []
        fine_tune = {}
        for idx, src in enumerate(self._eval_images()):
            x0 = load_image(src, size=p.eval_size).to(self.device)
            targets = loss.content_targets(x0)
            with torch.inference_mode():
                outs = {k: g(x0) for k, g in self.nets.items()}
            seed_everything(p.seed)
            t0 = time.perf_counter()
            opt = optimize_pixels(loss, x0.clone(), p.opt_steps, content_targets=targets,
                                  show_progress=self.show_progress)
            opt_seconds = time.perf_counter() - t0
            entry = {"image": src, "optimization_seconds": opt_seconds}
            for k, y in list(outs.items()) + [("optimization", opt.images)]:
                entry[k] = quality(y, loss, targets)["total"]
            cells.append(entry)
            rows += [x0[0].cpu(), outs["IN"][0].cpu(), outs["BN"][0].cpu(), opt.images[0].cpu()]
            if idx == 0:
                gen = torch.Generator().manual_seed(p.seed)
                starts = {"noise": torch.rand(x0.shape, generator=gen).to(self.device), **outs}
                for k, start in starts.items():
                    r = optimize_pixels(loss, start, p.opt_steps, content_targets=targets,
                                        show_progress=self.show_progress)
                    fine_tune[k] = [h["loss"] for h in r.history]
                    self._save(r.images[0], f"fig3b_finetuned_from_{k}.png")
        captions = []
        for e in cells:
            captions += [Path(e["image"]).name, f"IN {e['IN']:.3g}", f"BN {e['BN']:.3g}",
                         f"optim. {e['optimization']:.3g}"]
        self._save(make_grid(rows, ncol=4, captions=captions), "fig4_grid.png")
        first = {k: v[0] for k, v in fine_tune.items()}
        self.results["fig3b"] = {"curves": fine_tune, "first_loss": first, "final_loss": {k: v[-1] for k, v in fine_tune.items()}}
        self.results["fig4"] = {"cells": cells}
        return self.results["fig3b"]

    def _texture_samples(self, g, n: int):
        gen = torch.Generator().manual_seed(self.p.seed + 1)
        with torch.inference_mode():
            return g(g.sample_noise(n, self.p.texture_size, gen, self.device))

    def fig5_fig7(self) -> Dict[str, object]:
        """TextureNetV1 (λ=0), TextureNetV2 (λ=0, λ>0) and the λ sweep."""
        p = self.p
        loss = build_loss(self.texture_loss_cfg, training_exemplar(self._texture_cfg().resolved()),
                          with_content=False, device=self.device)

        def measure(g):
            x = self._texture_samples(g, p.samples)
            return x, {"texture_loss": quality(x, loss)["texture"], **diversity(x, loss.net)}

        rows, captions, fig5 = [], [], {}
        runs = [("V1, λ=0", "v1", 0.0), ("V2, λ=0", "v2", 0.0), (f"V2, λ={p.main_lambda}", "v2", p.main_lambda)]
        sweep = {}
        for label, gen_name, lam in runs:
            g, _ = self._train(f"texture_{gen_name}_lam{lam}", self._texture_cfg(generator=gen_name, diversity=lam))
            x, m = measure(g)
            fig5[label] = m
            if gen_name == "v2":
                sweep[lam] = (x, m)
            rows += list(x.cpu())
            captions += [label] + [""] * (len(x) - 1)
        self._save(make_grid(rows, ncol=p.samples, captions=captions), "fig5_textures.png")
        for lam in p.lambdas:
            if lam not in sweep:
                g, _ = self._train(f"texture_v2_lam{lam}", self._texture_cfg(diversity=lam))
                sweep[lam] = measure(g)
        lams = sorted(sweep)
        top = lams[-1]
        self._save(make_grid(list(sweep[top][0].cpu()), ncol=p.samples), "fig7_samples_largest_lambda.png")
        self.results["fig5"] = fig5
        self.results["fig7"] = {str(lam): sweep[lam][1] for lam in lams}
        return self.results["fig5"]

    def fig6(self) -> Dict[str, object]:
        """StyleNet IN with noise input trained with λ > 0: one photo, several z."""
        p = self.p
        g, _ = self._train("stylenet_IN_diverse", self._style_cfg(
            norm="instance", noise_channels=p.style_noise_channels, diversity=p.style_lambda,
            steps=p.diverse_style_steps, batch_size=max(2, p.style_batch)))
        x0 = load_image(self._eval_images()[0], size=p.eval_size).to(self.device)
        gen = torch.Generator().manual_seed(p.seed + 2)
        k = max(2, min(p.samples, 6))
        with torch.inference_mode():
            ys = torch.cat([g(x0, g.sample_noise(1, x0.shape[-2:], gen, self.device)) for _ in range(k)])
        diff = ((ys[0] - ys[1]).abs() * 4).clamp(0, 1)  # where two z differ, amplified so it can be seen
        captions = ["photo"] + [f"z{i + 1}" for i in range(k)] + ["|z1 − z2| × 4"]
        self._save(make_grid([x0[0].cpu()] + list(ys.cpu()) + [diff.cpu()], ncol=k + 2, captions=captions),
                   "fig6_diverse_stylization.png")
        loss = build_loss(self.style_loss_cfg, training_exemplar(self._style_cfg().resolved()), with_content=True,
                          device=self.device)
        targets = loss.content_targets(x0.expand(k, -1, -1, -1))
        self.results["fig6"] = {"diversity": diversity(ys, loss.net), "quality": {
            k2: v for k2, v in quality(ys, loss, targets).items() if k2 != "per_image_total"}}
        return self.results["fig6"]

    def speed(self) -> Dict[str, object]:
        """Feed-forward time per image vs optimization time, same size."""
        x0 = load_image(self._eval_images()[0], size=self.p.eval_size).to(self.device)
        g = self.nets["IN"]
        with torch.inference_mode():
            ff = median_time(lambda: g(x0), repeats=5)
        opt = self.results["fig4"]["cells"][0]["optimization_seconds"]
        res = {"size": list(x0.shape[-2:]), "feedforward_seconds": ff, "optimization_seconds": opt,
               "optimization_steps": self.p.opt_steps, "speedup": opt / ff}
        self.results["speed"] = res
        return res

    # ------------------------------------------------------------------ all

    def run_all(self) -> Dict[str, object]:
        t0 = time.perf_counter()
        steps = [("Fig. 3a", self.fig3a), ("Fig. 3b / 4", self.fig3b_fig4), ("Fig. 5 / 7", self.fig5_fig7),
                 ("Fig. 6", self.fig6), ("speed", self.speed)]
        for name, fn in steps:
            self.log(f"[reproduce] {name}")
            fn()
            self.run.write_json("results.json", self.results)
        self.results["seconds"] = time.perf_counter() - t0
        self.run.write_json("results.json", self.results)
        write_report(self.root, self.results, self.p)
        self.log(f"[reproduce] wrote {self.root / 'index.html'} in {self.results['seconds'] / 60:.1f} min")
        return self.results


@dataclass
class ReproduceConfig:
    """`texnet reproduce`: which profile, on which images."""

    profile: str = option("cpu", "smoke (seconds), cpu (<= 90 min on 2 cores), paper (GPU)", choices=tuple(PROFILES))
    style: Optional[str] = option(None, "style image", default_text="bundled Starry Night")
    texture: Optional[str] = option(None, "texture exemplar", default_text=DEFAULT_TEXTURE)
    content_dir: Optional[str] = option(None, "training photos", default_text="bundled samples")
    precision: Optional[str] = option(None, "loss-network precision", choices=PRECISIONS, default_text="the profile's")
    device: str = device_option()
    reuse: bool = option(False, "reuse finished training runs already in --out")

    def validate(self) -> "ReproduceConfig":
        check_fields(self, "reproduce")
        return self


def reproduce(profile: Profile, out, **kw) -> Dict[str, object]:
    """Run every experiment of the profile into `out`; see Reproduction."""
    return Reproduction(profile, out, **kw).run_all()
