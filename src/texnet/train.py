"""Training feed-forward generators with the Julesz objective (paper eq. 11): Adam on batches.

One loop serves texture networks (g(z)) and stylization networks (g(x0, z)).
Every random draw of a step (noise, content crops) comes from a generator
seeded by (seed, step), so `--resume` reproduces an uninterrupted run exactly
on the same machine. Checkpoints are atomic; Ctrl-C / SIGTERM save one and
exit; a NaN/Inf loss stops the run naming the step and keeps the last good
checkpoint. Under torchrun every process runs this loop on its slice of one
global batch (texnet.distributed); rank 0 alone writes the run folder.
"""
from __future__ import annotations

import dataclasses
import math
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional

import torch

from texnet import distributed
from texnet.extras.auto_lambda import kappa_at, layout_target
from texnet.checkpoints import (extend_trained_stylenet, file_digest, generator_from_checkpoint, init_weights,
                                load_checkpoint, save_checkpoint)
from texnet.config import TrainConfig, to_dict
from texnet.config.train import resume_differences
from texnet.io.data import SAMPLE_PHOTOS, ContentFolder
from texnet.errors import CheckpointError, TexnetError, TrainingDiverged, TrainingInterrupted, clip  # noqa: F401
from texnet.io.claims import remove_temp_files
from texnet.io.files import RunFolder
from texnet.paper.generators import Generator, build_generator
from texnet.extras.color import luminance_rgb
from texnet.extras.exemplars import training_exemplar
from texnet.io.images import make_grid, resolve_path, save_image
from texnet.extras.metrics import LayoutTracker
from texnet.build import build_objective
from texnet.runtime import Deadline, StopFlag, autocast, progress, seed_everything
from texnet.extras.styles import draw_styles, style_name
from texnet.training_log import summary_lines, write_logs

CHECKPOINT = "checkpoint.pt"
MODEL = "model.pt"
#: Noise / content crops used for the periodic sample grids (fixed, so grids are comparable over time).
SAMPLE_SEED = 20170102
SAMPLE_COUNT = 8


@dataclass
class TrainResult:
    generator: Generator
    history: List[Dict[str, float]] = field(default_factory=list)
    run_dir: Optional[Path] = None
    skipped_files: int = 0


def step_generator(seed: int, step: int) -> torch.Generator:
    """The RNG of one training step: depends only on (seed, step)."""
    return torch.Generator().manual_seed((seed * 1_000_003 + step) % (2**63))


class Trainer:
    """Holds everything of one run; `run()` trains to cfg.steps (resuming if asked)."""

    def __init__(self, cfg: TrainConfig, out, overwrite: bool = False, resume: bool = False,
                 show_progress: bool = True, log: Callable[[str], None] = print):
        self.cfg = cfg.resolved().validate()
        #: This process's place under torchrun (texnet.distributed); one process: identity everywhere.
        self.dist = distributed.join(self.cfg)
        self.log = log if self.dist.is_main else _quiet
        self.show_progress = show_progress and self.dist.is_main
        self.device = self.dist.device
        # The generator first (its init draws from the seeded global RNG): a size it cannot make fails here,
        # before the checkpoint, the images or the loss network are read.
        seed_everything(self.cfg.seed)
        #: Parameters Adam trains (all, except for add-style: the new style's rows) and style bookkeeping.
        self.trainable: Optional[List[torch.nn.Parameter]] = None
        self.style_names = [style_name(e) for e in self.cfg.exemplars]
        if self.cfg.base_model:
            generator = self._add_style_to_base()
        else:
            arch, options = self.cfg.generator_spec()
            generator = build_generator(arch, options)
            if self.cfg.init and not resume:  # a resumed run's checkpoint holds its weights
                self.log(f"starting from {self.cfg.init} (step {init_weights(generator, self.cfg.init)})")
        if self.cfg.task == "texture":
            generator.check_size(self.cfg.size)
        resume_data = self.dist.from_main(lambda: self._read_checkpoint(out)) if resume else None
        # rank 0 alone judges and claims the folder, every rank takes its verdict (their own look raced its claim)
        self.run_dir = self.dist.from_main(lambda: RunFolder(out, overwrite=overwrite, resume=resume))
        self.exemplar = training_exemplar(self.cfg, self.log)
        digests = [file_digest(resolve_path(e)) for e in self.cfg.exemplars]
        self.digest = digests if isinstance(self.cfg.exemplar, list) else digests[0]
        self.data = ContentFolder(self.cfg.content_dir, self.cfg.size, self.cfg.max_pixels) if self.cfg.task == "style" else None
        if self.cfg.task == "style" and self.cfg.content_dir == SAMPLE_PHOTOS:
            self.log(f"no --content-dir: training on the {len(self.data.files)} sample photos bundled with texnet; "
                     "for a network that generalizes, give --content-dir with a folder of >= 100 photos")
        self.generator = generator.to(self.device)
        self.model = self.dist.wrap(self.generator)  # what training calls: DDP under torchrun
        self.objective = build_objective(self.cfg, self.exemplar, self.device)
        self.dist.attach(self.objective, self.cfg, self.log)
        #: loss.precision also sets the generator's autocast in training (benchmarks/RESULTS.md).
        self.precision = self.objective.loss.net.effective_precision(self.device)
        self.optimizer = torch.optim.Adam(self.trainable or self.generator.parameters(), lr=self.cfg.lr)
        self.scheduler = torch.optim.lr_scheduler.StepLR(self.optimizer, self.cfg.lr_step, self.cfg.lr_decay)
        self.history: List[Dict[str, float]] = []
        #: Texture runs: layout diversity of the fixed samples at every sample grid (issue 15's metric, in the log).
        #: Its exemplar-crop distance is also --diversity-target's reference, needed by every process.
        tracker = None
        if self.cfg.task == "texture" and (self.dist.is_main or self.cfg.diversity_target):
            tracker = LayoutTracker(self.exemplar.to(self.device), self.objective.loss.net, self.cfg.size)
        self.layout = tracker if self.dist.is_main else None
        self.kappa_control = layout_target(self.cfg, self.exemplar, tracker)
        self.step = 0
        self.elapsed = 0.0
        self.saved_step: Optional[int] = None
        if resume_data is not None:
            if resume_data.get("exemplar_digest") not in (None, self.digest):
                raise CheckpointError(
                    f"cannot resume: {self.cfg.exemplar} changed since the checkpoint was written "
                    "(its sha256 differs); restore the original image or start a new run"
                )
            self._restore(resume_data)

    # ------------------------------------------------------------------ state

    def _add_style_to_base(self):
        """add-style: the trained StyleNet with one more style row, everything but that row frozen."""
        base, self.trainable, names = extend_trained_stylenet(self.cfg.base_model, self.cfg.exemplar)
        c = base.config  # the run's config says what the network is
        self.cfg = dataclasses.replace(self.cfg, norm=c["norm"], stylenet_channels=c["channels"],
                                       noise_channels=c["noise_channels"], stylenet_upsample=c["upsample"],
                                       luminance_only=bool(c.get("luminance_only", False)))
        self.new_style, self.style_names = base.styles - 1, names
        return base.train()

    def _styles(self, n: int, gen: torch.Generator):
        """(generator style, loss target) per sample of a step; (None, None) for a single-style network."""
        if self.cfg.base_model:
            return torch.full((n,), self.new_style, dtype=torch.long), None
        drawn = draw_styles(n, len(self.cfg.exemplars), gen)
        return drawn, drawn

    def _read_checkpoint(self, out):
        ckpt = Path(out) / CHECKPOINT
        if not ckpt.is_file():
            raise CheckpointError(f"{ckpt}: nothing to resume (no checkpoint in {out})")
        data = load_checkpoint(ckpt)
        self._check_resumable(data)
        return data

    def _check_resumable(self, data) -> None:
        differs = resume_differences(data.get("train_config"), self.cfg)
        if differs:
            raise CheckpointError(
                f"cannot resume: the checkpoint was trained with different settings for {', '.join(differs)} "
                "(only --steps, --checkpoint-every, --sample-every and --device may change)"
            )

    def _restore(self, data) -> None:
        g = generator_from_checkpoint(data, expect=self.generator.arch)
        path = data.get("path", CHECKPOINT)
        missing = [k for k in ("optimizer", "scheduler", "step") if k not in data]
        if missing:
            raise CheckpointError(f"{path}: holds no training state to resume from (no {', '.join(missing)}; "
                                  "a model.pt copied over checkpoint.pt?)")
        try:
            self.generator.load_state_dict(g.state_dict())
            self.optimizer.load_state_dict(data["optimizer"])
            self.scheduler.load_state_dict(data["scheduler"])
            self.step = int(data["step"])
            self.history = [dict(r) for r in data.get("history", [])]
            if self.kappa_control is not None:
                self.kappa_control.restore(self.history)
            self.elapsed = float(data.get("elapsed", 0.0))
            if "rng" in data:
                torch.set_rng_state(data["rng"])
        except (KeyError, ValueError, TypeError, RuntimeError, AttributeError, IndexError) as exc:
            raise CheckpointError(f"{path}: training state is damaged and cannot be resumed "
                                  f"({type(exc).__name__}: {clip(str(exc), 120)})") from exc
        self.saved_step = self.step
        if self.dist.is_main:
            remove_temp_files(self.run_dir.path)  # of atomic writes a crash or kill -9 cut short
        self.log(f"resumed {self.run_dir.path} at step {self.step}")

    def _peer_lost(self, step: int, exc: BaseException) -> TexnetError:
        """Another process of the job stopped mid-step: every process completed self.step (lockstep), which
        rank 0 saves (it needs no collective) before this process stops with one line."""
        if self.dist.is_main and self.step != self.saved_step:
            self.save()
            self.write_logs()
        detail = clip(" ".join(w for w in str(exc).split() if not w.startswith("[")), 80)  # not gloo's source line
        return TexnetError(f"another process of this torchrun job stopped during step {step} ({detail}); "
                           f"{self._last_saved_text()}; continue with the same command plus --resume")

    def _last_saved_text(self) -> str:
        return ("no checkpoint was written yet" if self.saved_step is None
                else f"last good checkpoint: step {self.saved_step}, in {self.run_dir.path / CHECKPOINT}")

    def save(self, name: str = CHECKPOINT, full: bool = True) -> Path:
        """Atomic checkpoint (with optimizer/scheduler/RNG/history) or slim model file (rank 0 alone)."""
        if not self.dist.is_main:
            self.saved_step = self.step if full else self.saved_step
            return self.run_dir.path / name
        fields = dict(train_config=to_dict(self.cfg), step=self.step, exemplar_digest=self.digest,
                      exemplar_path=self.cfg.exemplar, task=self.cfg.task, world_size=self.dist.world_size)
        if self.cfg.task == "style":  # add-style: calls that name no style get the one it added
            fields.update(style_names=self.style_names, **({"default_style": self.new_style} if self.cfg.base_model else {}))
        if full:
            fields.update(optimizer=self.optimizer.state_dict(), scheduler=self.scheduler.state_dict(),
                          rng=torch.get_rng_state(), history=self.history, elapsed=self.elapsed)
        try:
            path = save_checkpoint(self.run_dir.file(name), self.generator, **fields)
        except TexnetError as exc:
            if not full:
                raise
            raise TexnetError(f"{exc}; {self._last_saved_text()}") from exc
        if full:
            self.saved_step = self.step
        return path

    # ------------------------------------------------------------------ one step

    def batch(self, step: int, n: Optional[int] = None, gen: Optional[torch.Generator] = None):
        """(noise, content) for a step; content is None for texture networks."""
        n = n or self.cfg.batch_size
        gen = gen or step_generator(self.cfg.seed, step)
        content = self.data.batch(n, gen).to(self.device) if self.data is not None else None
        if content is not None and self.cfg.luminance_only:
            content = luminance_rgb(content)  # the network learns luminance -> stylized luminance
        size = content.shape[-2:] if content is not None else self.cfg.size
        z = self.generator.sample_noise(n, size, gen, self.device) if self.cfg.task == "texture" or self.cfg.noise_channels else None
        return z, content

    def forward(self, z, content, style=None):
        if content is None:
            return self.model(z)
        return self.model(content, z) if style is None else self.model(content, z, style=style)

    def train_step(self, step: int) -> Dict[str, float]:
        self.generator.train()
        gen = step_generator(self.cfg.seed, step)
        z, content = self.batch(step, gen=gen)
        styles, targets_of = self._styles(self.cfg.batch_size, gen)  # drawn after the batch: old RNG streams kept
        z, content, styles, targets_of = self.dist.shard((z, content, styles, targets_of))  # this process's slice
        targets = self.objective.loss.content_targets(content) if content is not None else None
        if self.cfg.auto_lambda:
            self.objective.diversity = self.kappa_control.kappa if self.kappa_control else kappa_at(
                step, self.cfg.steps, self.cfg.diversity_kappa, self.cfg.diversity_kappa_end)
        with autocast(self.precision, self.device.type):  # fast path: generator convs in bf16 (weights, Adam: fp32)
            samples = self.forward(z, content, styles)
        stats = self.objective(samples.float(), targets, style=targets_of)
        shown = self.dist.average(stats)  # the global batch's values, the same in every process
        value = float(shown["objective"])
        if not math.isfinite(value):
            raise TrainingDiverged(
                f"the objective became {value} at step {step}; stopped without saving it "
                f"({self._last_saved_text()}); try a smaller --lr or --diversity"
            )
        self.optimizer.zero_grad(set_to_none=True)
        stats["objective"].backward()
        grads = [p.grad for p in self.generator.parameters() if p.grad is not None]
        if grads and not bool(torch.stack([torch.isfinite(g).all() for g in grads]).all()):
            raise TrainingDiverged(
                f"the gradient became NaN/Inf at step {step} (objective {value:.4g}); stopped before applying it "
                f"({self._last_saved_text()}); try a smaller --lr or --diversity"
            )
        self.optimizer.step()
        lr = self.optimizer.param_groups[0]["lr"]
        self.scheduler.step()
        row = {"step": step, "lr": lr}
        row.update({k: float(v) for k, v in shown.items()})
        if self.kappa_control is not None:
            row.update(self.kappa_control.update(row["layout_distance"]))
        return row

    # ------------------------------------------------------------------ outputs

    @torch.no_grad()
    def sample_grid(self, name: str) -> Path:
        """A grid of samples from fixed noise (and fixed content crops): comparable across steps (rank 0)."""
        if not self.dist.is_main:
            return self.run_dir.path / name
        self.generator.eval()
        gen = torch.Generator().manual_seed(SAMPLE_SEED)
        if self.cfg.task == "texture":
            grid = make_grid(list(self._fixed_textures(gen).cpu()), ncol=4)
        else:
            content = self.data.batch(4, gen).to(self.device)
            z = self.generator.sample_noise(4, content.shape[-2:], gen, self.device) if self.cfg.noise_channels else None
            several = self.generator.styles > 1
            rows = [self.generator(content, z, style=k if several else None)
                    for k in range(self.generator.styles)]  # one row per style, photos on top
            grid = make_grid(list(content.cpu()) + [img for row in rows for img in row.cpu()], ncol=4)
        self.generator.train()
        return save_image(grid, self.run_dir.file(name))

    @torch.no_grad()
    def track_layout(self, row: Dict[str, float]) -> None:
        """Add the layout diversity of the fixed samples (those of the sample grids) to this step's log row."""
        if self.layout is None or not self.layout.active:
            return
        self.generator.eval()
        samples = self._fixed_textures(torch.Generator().manual_seed(SAMPLE_SEED))
        self.generator.train()
        row.update((k, v) for k, v in (("layout", self.layout(samples)), ("layout_nn", self.layout.nearest(samples)))
                   if v is not None)  # mean pairwise and nearest-neighbour layout, both relative to exemplar crops

    def _fixed_textures(self, gen: torch.Generator) -> torch.Tensor:
        """The SAMPLE_COUNT textures of the sample grids (noise drawn from `gen`, seeded with SAMPLE_SEED)."""
        return self.generator(self.generator.sample_noise(SAMPLE_COUNT, self.cfg.size, gen, self.device))

    def write_logs(self) -> None:
        if self.dist.is_main:
            write_logs(self.run_dir, self.history, self.generator.arch, self.cfg.has_entropy, SAMPLE_COUNT)

    def write_config(self) -> None:
        if not self.dist.is_main:
            return
        self.run_dir.write_json("config.json", {
            "command": self.cfg.command, "config": to_dict(self.cfg), "architecture": self.generator.arch,
            "arch_config": dict(self.generator.config), "style_names": self.style_names, "parameters": self.generator.num_parameters(), "device": str(self.device),
            "torch": torch.__version__, "exemplar_digest": self.digest, "world_size": self.dist.world_size,
        })

    # ------------------------------------------------------------------ loop

    def run(self) -> TrainResult:
        cfg = self.cfg
        self.write_config()
        if self.step >= cfg.steps:
            self.log(f"already trained to step {self.step} (>= --steps {cfg.steps}); nothing to do")
        bar = progress(range(self.step + 1, cfg.steps + 1), total=cfg.steps, initial=self.step,
                       desc=f"train {self.generator.arch}", enabled=self.show_progress)
        with StopFlag() as stop:
            start = time.perf_counter() - self.elapsed
            due = Deadline(cfg.checkpoint_minutes)  # a checkpoint by wall time as well as by steps
            for step in bar:
                try:
                    row = self.train_step(step)
                    self.step = step
                    self.elapsed = time.perf_counter() - start
                    row["seconds"] = self.elapsed
                    self.history.append(row)
                    if step % cfg.sample_every == 0 or step == cfg.steps:
                        self.track_layout(row)
                    bar.set_postfix(_postfix(row))
                    signum = self.dist.agree_signal(stop.signal)  # a signal to any process stops all at this step
                except RuntimeError as exc:  # under torchrun: another process died (its collectives fail)
                    raise self._peer_lost(step, exc) if self.dist.peer_lost(exc) else exc
                if step % cfg.checkpoint_every == 0 or step == cfg.steps or signum is not None or due():
                    self.save()  # signals during the save only set the flag again (StopFlag): it completes
                    self.write_logs()
                    due.restart()
                if step % cfg.sample_every == 0:
                    self.sample_grid(f"samples/step_{step:06d}.png")
                if signum is not None:
                    bar.close()
                    self.dist.barrier()  # nobody exits before rank 0's checkpoint is on disk
                    name = "SIGTERM" if signum == signal.SIGTERM else "Ctrl-C"
                    raise TrainingInterrupted(
                        f"{name} at step {step}: checkpoint saved to {self.run_dir.path / CHECKPOINT}; "
                        "continue with the same command plus --resume", signum
                    )
        bar.close()
        for line in summary_lines(self.history, cfg.diversity_kappa, cfg.diversity_kappa_end, SAMPLE_COUNT):
            self.log(line)
        self.save(MODEL, full=False)
        self.write_logs()
        self.sample_grid("samples.png")
        self.dist.barrier()  # rank 0's files are written before any process returns
        self.run_dir.release()
        skipped = self.data.skipped if self.data is not None else 0
        if skipped:
            self.log(f"skipped {skipped} unreadable file(s) in {cfg.content_dir}")
        if self.data is not None and self.data.upscaled:
            self.log(f"upscaled {len(self.data.upscaled)} photo(s) smaller than the {cfg.size} px crop in {cfg.content_dir}")
        return TrainResult(self.dist.unwrap(self.generator).eval(), self.history, self.run_dir.path, skipped)


def _postfix(row: Dict[str, float]) -> Dict[str, str]:
    keys = ["loss", "texture", "content", "nn_distance", "lambda"]
    names = {"nn_distance": "nn", "lambda": "λ"}
    return {names.get(k, k): f"{row[k]:.4g}" for k in keys if k in row}


def _quiet(_msg: str) -> None:
    """The log of every process but rank 0."""


def train(cfg: TrainConfig, out, overwrite: bool = False, resume: bool = False,
          show_progress: bool = True, log: Callable[[str], None] = print) -> TrainResult:
    """Train a generator as configured into run folder `out` (see Trainer; under torchrun: texnet.distributed)."""
    return Trainer(cfg, out, overwrite=overwrite, resume=resume, show_progress=show_progress, log=log).run()
