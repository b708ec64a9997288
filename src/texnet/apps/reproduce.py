"""`texnet reproduce`: the paper's experiments (Figs. 3-7 and speed) in one command, as an illustrated report.

Writes DIR/index.html (figures with what the paper claims and what we
measured, and a plain verdict per claim), the PNGs, and DIR/results.json with
every number. Hyperparameters live in profiles.py.

Fig. 3a (IN vs BN), Fig. 5 (TextureNetV1) and the λ sweep (Fig. 5 / 7) train
one network per seed of the profile (run folders end in `_seedN`) and store
each seed's value with the mean and std (reproduce_report.spread), so a claim
is only decided where the seed spread allows it. Fig. 3b, 4, 6 and the speed
comparison use the first seed's networks.
"""
from __future__ import annotations

import dataclasses
import math
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional

import torch

from texnet.checkpoints import load
from texnet.config import LossConfig, TrainConfig, device_option, to_dict
from texnet.paper.diversity import LAYOUT_LAYERS
from texnet.hparams import PAPER
from texnet.errors import ConfigError
from texnet.extras.exemplars import training_exemplar
from texnet.io.files import RunFolder
from texnet.io.images import load_image, make_grid, resize, sample_image_path, save_image
from texnet.paper.losses import DEFAULT_TEXTURE_LAYERS
from texnet.build import build_loss
from texnet.extras.metrics import diversity, layout_diversity, layout_nn, median_time, quality
from texnet.extras.spectra import exemplar_stride_power_ratio
from texnet.optimize import optimize_pixels
from texnet.config.options import check_fields, option
from texnet.runtime import PRECISIONS, resolve_device, seed_everything
from texnet.train import train
from texnet.apps.profiles import PROFILES, STYLE_LAYERS, Profile
from texnet.apps.reproduce_report import spread, write_report

DEFAULT_STYLE = "sample:starry_night"
DEFAULT_TEXTURE = "sample:brick"
#: Bundled photos used to train the stylization networks; EVAL_PHOTOS are held out for Fig. 4.
TRAIN_PHOTOS = ("astronaut", "rocket", "motorcycle", "camera", "hubble_deep_field", "retina", "logo")
EVAL_PHOTOS = ("chelsea", "coffee")


#: The style image's short side for Fig. 6's layout reference, as a multiple of the stylizations' long side:
#: room for crops of the stylizations' size at different places of the painting.
STYLE_REFERENCE_MARGIN = 1.5


def _mean_tail(values: List[float], frac: float = 0.1) -> float:
    """Mean of the last `frac` of a training curve: the final objective without one step's noise."""
    k = max(1, int(len(values) * frac))
    return sum(values[-k:]) / k


def _summarize(per_seed: List[Dict[str, float]]) -> Dict[str, Dict[str, object]]:
    """{metric: spread over seeds} from one metrics dict per seed (same keys, seed order kept)."""
    return {k: spread([m[k] for m in per_seed]) for k in per_seed[0]}


#: Fig. 6's "clearly moved" reference: the first stylization shifted by this many pixels per copy.
FIG6_SHIFT_PX = 8


def fig6_calibration(ys: torch.Tensor, reference: torch.Tensor, net) -> Dict[str, float]:
    """Layout scores of two sets a viewer can judge, beside the stylizations: copies of the first one under iid
    pixel noise of the same pairwise RMS (invisible as a change of picture) and copies shifted by
    FIG6_SHIFT_PX-pixel steps (plainly moved strokes). The verdict's threshold is their geometric mean."""
    k = ys.shape[0]
    rms = float((ys[0] - ys[1]).pow(2).mean().sqrt())
    gen = torch.Generator().manual_seed(0)
    noise = torch.randn((k,) + tuple(ys.shape[1:]), generator=gen).to(ys.device)
    noisy = (ys[:1] + rms / math.sqrt(2) * noise).clamp(0, 1)
    shifted = torch.stack([torch.roll(ys[0], (FIG6_SHIFT_PX * i,) * 2, dims=(1, 2)) for i in range(k)])
    return {"noise_layout": layout_diversity(noisy, reference, net),
            "shift_layout": layout_diversity(shifted, reference, net), "shift_px": FIG6_SHIFT_PX,
            "noise_layout_nn": layout_nn(noisy, reference, net), "shift_layout_nn": layout_nn(shifted, reference, net)}


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
        if not profile.seeds:
            raise ConfigError(f"profile {profile.name} has no seeds; give at least one")
        self.device = resolve_device(device)
        self.style_loss_cfg = LossConfig(texture_layers=dict(STYLE_LAYERS), content_weight=profile.content_weight,
                                         precision=profile.precision)
        self.texture_loss_cfg = LossConfig(texture_layers=dict(DEFAULT_TEXTURE_LAYERS), precision=profile.precision)
        self._check_texture_exemplar()
        self.run = RunFolder(out, overwrite=overwrite, resume=reuse)
        self.root = self.run.path
        self.reuse = reuse
        self.show_progress = show_progress
        self.log = log
        self.content_dir = content_dir or str(self._bundled_content())
        self.results: Dict[str, object] = {"profile": dataclasses.asdict(profile), "style": self.style,
                                           "texture": self.texture, "content_dir": self.content_dir,
                                           "device": str(self.device), "torch": torch.__version__,
                                           "seeds": list(profile.seeds)}

    # ------------------------------------------------------------------ plumbing

    def _check_texture_exemplar(self) -> None:
        """The layout metric compares samples with crops of the exemplar: it must be at least the samples' size."""
        h, w = training_exemplar(self._texture_cfg().resolved()).shape[-2:]
        side = self.p.texture_size
        if min(h, w) < side:
            raise ConfigError(f"the texture exemplar is {w}x{h} px at this profile's exemplar size, smaller than "
                              f"the {side}-px samples; the layout-diversity verdicts need crops of the samples' "
                              f"size, so use a larger texture image")

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
                from texnet.checkpoints import load_checkpoint

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
        # z_dim and upsampling: the paper's (hparams.PAPER; texnet's defaults are measured: method.md §8)
        base = dict(task="texture", exemplar=self.texture, generator="v2", size=p.texture_size,
                    z_dim=PAPER["v2_z_dim"], v2_upsample=PAPER["v2_upsample"],
                    batch_size=p.texture_batch, steps=p.texture_steps, lr_step=p.texture_lr_step, seed=p.seed,
                    device=str(self.device), loss=self.texture_loss_cfg, v1_scales=p.v1_scales,
                    exemplar_size=p.exemplar_size, diversity_space=p.texture_diversity_space)
        base.update(kw)
        every = max(1, base["steps"] // max(1, p.snapshots))
        return TrainConfig(checkpoint_every=every, sample_every=every, **base)

    def _save(self, img, name: str) -> str:
        save_image(img, self.run.file(name))
        return name

    # ------------------------------------------------------------------ experiments

    def fig3a(self) -> Dict[str, object]:
        """StyleNet IN vs BN: same data, schedule and budget, one pair per seed; the first seed's nets go on."""
        self.nets, curves = {}, {"IN": [], "BN": []}
        for seed in self.p.seeds:
            for norm, key in (("instance", "IN"), ("batch", "BN")):
                g, hist = self._train(f"stylenet_{key}_seed{seed}", self._style_cfg(norm=norm, seed=seed))
                curves[key].append([r["objective"] for r in hist])
                if seed == self.p.seed:
                    self.nets[key] = g
        final = {k: [_mean_tail(c) for c in v] for k, v in curves.items()}
        ratios = [i / b for i, b in zip(final["IN"], final["BN"])]  # paired: same seed, same data order
        res = {"seeds": list(self.p.seeds), "final_objective": {k: spread(v) for k, v in final.items()},
               "ratio_IN_over_BN": spread(ratios), "curves": curves}
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

    def _texture_samples(self, g, n: int, seed: int):
        gen = torch.Generator().manual_seed(seed + 1)
        with torch.inference_mode():
            return g(g.sample_noise(n, self.p.texture_size, gen, self.device))

    def fig5_fig7(self) -> Dict[str, object]:
        """TextureNetV1 (λ=0), TextureNetV2 (λ=0, λ>0) and the λ sweep, each trained once per seed."""
        p = self.p
        exemplar = training_exemplar(self._texture_cfg().resolved()).to(self.device)
        loss = build_loss(self.texture_loss_cfg, exemplar, with_content=False, device=self.device,
                          extra_layers=list(LAYOUT_LAYERS))

        def measure(g, seed):
            x = self._texture_samples(g, p.samples, seed)
            return x, {"texture_loss": quality(x, loss)["texture"], **diversity(x, loss.net),
                       "layout": layout_diversity(x, exemplar, loss.net), "layout_nn": layout_nn(x, exemplar, loss.net),
                       "stride_power_ratio": exemplar_stride_power_ratio(x, exemplar)}

        lams = sorted(set(p.lambdas) | {0.0, p.main_lambda})
        runs = [("v1", 0.0)] + [("v2", lam) for lam in lams]
        measured = {run: [] for run in runs}
        first = {}  # the first seed's samples, for the figures
        for seed in p.seeds:
            for gen_name, lam in runs:
                g, _ = self._train(f"texture_{gen_name}_lam{lam}_seed{seed}",
                                   self._texture_cfg(generator=gen_name, diversity=lam, seed=seed))
                x, m = measure(g, seed)
                measured[(gen_name, lam)].append(m)
                if seed == p.seed:
                    first[(gen_name, lam)] = x.cpu()
        rows5 = [("V1, λ=0", ("v1", 0.0)), ("V2, λ=0", ("v2", 0.0)),
                 (f"V2, λ={p.main_lambda}", ("v2", p.main_lambda))]
        tiles, captions = [], []
        for label, run in rows5:
            tiles += list(first[run])
            captions += [label] + [""] * (len(first[run]) - 1)
        self._save(make_grid(tiles, ncol=p.samples, captions=captions), "fig5_textures.png")
        self._save(make_grid(list(first[("v2", lams[-1])]), ncol=p.samples), "fig7_samples_largest_lambda.png")
        seeds = list(p.seeds)
        self.results["fig5"] = {"seeds": seeds, "rows": {label: _summarize(measured[run]) for label, run in rows5}}
        self.results["fig7"] = {"seeds": seeds, "lambdas": {str(lam): _summarize(measured[("v2", lam)])
                                                            for lam in lams}}
        return self.results["fig5"]

    def _style_reference(self, size) -> torch.Tensor:
        """The style image large enough for random crops of the stylizations' size (Fig. 6's layout reference)."""
        img = load_image(self.style)
        h, w = img.shape[-2:]
        short = STYLE_REFERENCE_MARGIN * max(size)
        scale = short / min(h, w)
        return resize(img, (round(h * scale), round(w * scale))).to(self.device)

    def fig6(self) -> Dict[str, object]:
        """StyleNet IN with noise input trained with λ > 0: one photo, several z."""
        p = self.p
        g, _ = self._train(f"stylenet_IN_diverse_seed{p.seed}", self._style_cfg(
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
                          device=self.device, extra_layers=list(LAYOUT_LAYERS))
        targets = loss.content_targets(x0.expand(k, -1, -1, -1))
        reference = self._style_reference(ys.shape[-2:])
        layout = layout_diversity(ys, reference, loss.net)
        self.results["fig6"] = {"seed": p.seed, "diversity": {**diversity(ys, loss.net), "layout": layout,
                                                              "layout_nn": layout_nn(ys, reference, loss.net)},
                                "calibration": fig6_calibration(ys, reference, loss.net),
                                "quality": {k2: v for k2, v in quality(ys, loss, targets).items()
                                            if k2 != "per_image_total"}}
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

    profile: str = option("cpu", "smoke (seconds), cpu (<= 90 min on 2 cores, 3 seeds), paper (GPU)",
                          choices=tuple(PROFILES))
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
