"""Levers for issue 15 that need code, not options: run as patches on bench_auto_lambda's recipe.

None is kept in the library (measured no better than seed noise; docs/method.md §8), so they live here,
where the numbers can be re-made:

* `mlp4`: TextureNetV2's z -> 4x4 map through four fully connected layers (512 wide) instead of two: is the
  mapping from z to many coarse layouts what a diverse network lacks?
* `proj`: gradient surgery (Yu et al. 2020, "PCGrad"): per sample, the entropy term's gradient with respect to
  the image loses its component along the texture loss's gradient wherever the two conflict, so the push
  toward other layouts does not, to first order, raise that sample's loss.
* `ema`: the generator that is scored is an exponential moving average of its weights over the steps (decay
  0.95, about the last 20 steps): is the diverse network's excess the noise of a last step taken on fresh z?
* `codes8` / `codes4`: TextureNetV2 gets K learned 4x4 maps (K = 8 or 4), one picked by z's first coordinate
  (its normal CDF cut in K equal bins) and added to the fully connected output: K coarse layouts that a shared
  body renders, each trained by the texture loss alone, so they need not pay the entropy term to differ.
  `codes8c`: the code is a quarter of the 4x4 map's channels instead of a sum (the fc bias cannot drown it).
* `experts8` / `experts4`: K whole TextureNetV2 networks with their own initial weights, z's first coordinate
  picking the one that renders a sample (λ = 0 networks from different seeds land on different layouts; one
  network collapses). `experts8s` / `experts4s`: in training each batch's picks are dealt out evenly (z's
  first coordinate redrawn inside its dealt bin), so every network gets a gradient at every step.

    PYTHONPATH=src python benchmarks/bench_patched_levers.py proj bark --seeds 0 1 2
    PYTHONPATH=src python benchmarks/bench_patched_levers.py mlp4 brick --variants lambda0 auto

Rows go to benchmarks/results/patched_levers.jsonl (texture, variant, seed, lever); compare them with
bench_auto_lambda's rows of the same texture, variant and seed.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
import torch.nn as nn

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "patched_levers.jsonl"


def deeper_mapping(depth: int = 4, hidden: int = 512) -> None:
    """Patch TextureNetV2 so z reaches the 4x4 map through `depth` fully connected layers."""
    from texnet.generators import texture_net_v2 as v2

    original = v2.TextureNetV2.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        layers, width = [], self.z_dim
        for _ in range(depth - 1):
            layers += [nn.Linear(width, hidden), nn.ReLU(inplace=True)]
            width = hidden
        self.fc = nn.Sequential(*layers, nn.Linear(width, self.c0 * 16))

    v2.TextureNetV2.__init__ = init


def projected_entropy() -> None:
    """Patch JuleszObjective: its 'objective' back-propagates ∇L + (λ∇(−H) without its conflicting ∇L part)."""
    from texnet import objective as ob
    from texnet.diversity import entropy_term, nearest_neighbor_distances

    original = ob.JuleszObjective.forward

    def forward(self, samples, content_targets=None, style=None):
        if self.diversity == 0 or not samples.requires_grad or self.space != "layout":
            return original(self, samples, content_targets, style)
        image = samples.detach().requires_grad_(True)  # the loss network's graph ends here
        out = self.loss(image, content_targets, extra_layers=self.taps(self.space, self.feature_layer,
                                                                        self.layout_layers), style=style)
        embedding = self._distance_input(image, out)
        loss = out["total"].mean()
        lam = ob.relative_lambda(loss.detach(), self.diversity) if self.relative else self.diversity
        ent = entropy_term(embedding, self.eps, self.nearest)
        g_loss = torch.autograd.grad(loss, image, retain_graph=True)[0].flatten(1)
        g_ent = torch.autograd.grad(-lam * ent, image)[0].flatten(1)
        dot = (g_loss * g_ent).sum(1, keepdim=True)
        g_ent = g_ent - torch.where(dot < 0, dot / g_loss.pow(2).sum(1, keepdim=True).clamp_min(1e-30), 0.0) * g_loss
        grad = (g_loss + g_ent).view_as(samples)
        push = (samples * grad).sum()
        stats = {"objective": (loss - lam * ent).detach() + push - push.detach(), "loss": loss.detach(),
                 "texture": out["texture"].mean().detach(), "entropy": ent.detach(),
                 "lambda": torch.as_tensor(lam).detach()}
        with torch.no_grad():
            d = embedding.float()
            stats["layout_distance"] = torch.pdist(d).pow(2).mean() / (2 * d.shape[1])
            stats["nn_distance"] = nearest_neighbor_distances(samples.detach()).mean()
        return stats

    ob.JuleszObjective.forward = forward


def averaged_weights(decay: float = 0.95) -> None:
    """Patch Trainer: keep an exponential moving average of the generator's tensors and return it after training."""
    import importlib

    tr = importlib.import_module("texnet.train")  # the module (texnet.train is also the function)

    step_original, run_original = tr.Trainer.train_step, tr.Trainer.run

    def train_step(self, step):
        row = step_original(self, step)
        with torch.no_grad():
            state = self.generator.state_dict()
            if not hasattr(self, "_ema"):
                self._ema = {k: v.detach().clone() for k, v in state.items()}
            for k, v in state.items():
                if v.is_floating_point():
                    self._ema[k].mul_(decay).add_(v.detach(), alpha=1 - decay)
                else:
                    self._ema[k].copy_(v)
        return row

    def run(self):
        result = run_original(self)
        if hasattr(self, "_ema"):
            result.generator.load_state_dict(self._ema)
        return result

    tr.Trainer.train_step, tr.Trainer.run = train_step, run


def coarse_codes(k: int, concat: bool = False) -> None:
    """Patch TextureNetV2: K learned 4x4 maps, the one z's first coordinate picks added to the fc output
    (`concat`: a quarter of the 4x4 map's channels are the code's alone, normalized apart from the fc's)."""
    from texnet.generators import texture_net_v2 as v2

    init_original = v2.TextureNetV2.__init__

    def init(self, *args, **kwargs):
        init_original(self, *args, **kwargs)
        width = self.c0 // 4 if concat else self.c0
        self.codes = nn.Parameter(torch.randn(k, width, 4, 4))
        if concat:
            self.fc[-1] = nn.Linear(self.fc[-1].in_features, (self.c0 - width) * 16)

    def forward(self, z):
        z, maps = self._split_noise(z)
        code = self.codes[(torch.special.ndtr(z[:, 0]) * k).long().clamp(0, k - 1)]
        if concat:
            x = torch.cat([self.fc(z).view(z.shape[0], -1, 4, 4), code], dim=1)
        else:
            x = self.fc(z).view(-1, self.c0, 4, 4) + code
        return self._from_map(x, maps)

    v2.TextureNetV2.__init__, v2.TextureNetV2.forward = init, forward


def experts(k: int, stratified: bool = False) -> None:
    """Patch TextureNetV2 to the library's K networks (`experts=K`, --v2-experts) wherever it is built without
    that argument; without `stratified` the training deal is switched off, so z's first coordinate routes every
    row at random. (Rows recorded before 2026-12-07 came from a standalone patch that dealt the bins with the
    global RNG instead of the step's generator: the same mechanism, another random stream.)"""
    from texnet.generators import texture_net_v2 as v2

    init_original = v2.TextureNetV2.__init__

    def init(self, *args, **kwargs):
        kwargs.setdefault("experts", k)  # the other networks are built with experts=1 and stay single
        init_original(self, *args, **kwargs)

    v2.TextureNetV2.__init__ = init
    if not stratified:
        v2.TextureNetV2.deal = lambda self, z, generator=None: z


PATCHES = {"mlp4": deeper_mapping, "proj": projected_entropy, "ema": averaged_weights,
           "codes8": lambda: coarse_codes(8), "codes4": lambda: coarse_codes(4),
           "codes8c": lambda: coarse_codes(8, concat=True), "experts8": lambda: experts(8),
           "experts4": lambda: experts(4), "experts8s": lambda: experts(8, True),
           "experts4s": lambda: experts(4, True)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("lever", choices=sorted(PATCHES))
    ap.add_argument("texture", help="a texture name of bench_auto_lambda (e.g. bark)")
    ap.add_argument("--variants", nargs="*", default=["auto"], choices=["lambda0", "auto"])
    ap.add_argument("--seeds", type=int, nargs="*", default=[0])
    args = ap.parse_args()
    import bench_auto_lambda as bench

    torch.set_num_threads(1)
    PATCHES[args.lever]()
    bench.RUNS = bench.RUNS.with_name(f"patched_{args.lever}_runs")
    texture = next((t for t in bench.textures() if bench.name_of(t) == args.texture), None)
    if texture is None:
        raise SystemExit(f"no texture named '{args.texture}'")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    for seed in args.seeds:
        for variant in args.variants:
            row = {**bench.run_one(texture, variant, seed), "seed": seed, "lever": args.lever}
            with open(RESULTS, "a") as f:
                f.write(json.dumps(row) + "\n")
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    import sys

    sys.path.insert(0, str(HERE))
    main()
