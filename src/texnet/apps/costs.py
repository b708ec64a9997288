"""No surprises in cost: one line before a job that will take minutes or gigabytes, with how to make it smaller.

The estimates are rough (a factor of two either way) and come from measured rates scaled to the job:

* training: seconds per step = RATE[task] x batch x (size / 256)^2 x (2 / threads), RATE from the `make bench`
  training steps (benchmarks/RESULTS.md: StyleNet IN 256², batch 4, 4.64 s; TextureNetV2 128², batch 8, 1.19 s)
  and the zoo's one-thread runs (StyleNet(16) 128 px 2.2 s/step, TextureNetV2 128 px 1.05 s/step); twice that
  without native bf16 (--precision auto falls back to fp32); eight TextureNetV2 experts ~1.6x (docs/method.md §8);
  a StyleNet's time goes with the square of its width (--channels 16 at 256 px, batch 1, one thread: 0.47 s/step
  measured in the zoo's 2026-12-07 runs, 2.3 s estimated without that factor, 0.58 s with it);
* disk: model.pt holds the weights (4 bytes a parameter), checkpoint.pt the weights and Adam's two moments
  (12 bytes a parameter); parameters are counted on torch's meta device, so nothing is allocated;
* memory: weights, gradients, Adam and the serialized checkpoint (~40 bytes a parameter), the loss network's
  activations (~150 MB per 256² image), plus ~0.5 GB for torch and VGG-19;
* inference: seconds per megapixel measured at 1024² (benchmarks/RESULTS.md, inference table); a PNG takes up
  to 3 bytes a pixel.

Nothing here changes what a command does; `announce` prints one line (rank 0 only under torchrun).
"""
from __future__ import annotations

from typing import List, Optional, Sequence

#: Seconds per step for one 256² image on 2 threads with native bf16 (see the module docstring).
RATE = {"style": 1.16, "texture": 0.45}
#: Without native bf16 the loss network runs in fp32: about twice as long (benchmarks/RESULTS.md).
FP32_FACTOR = 2.0
#: Eight TextureNetV2 networks routed by z train in ~1.6x the time of one (424-511 s vs ~290 s, method.md §8).
EXPERTS_FACTOR = 1.6
#: Inference seconds per megapixel on 2 threads: (fp32, bf16) at 1024², benchmarks/RESULTS.md.
INFER_RATE = {"StyleNet": (4.2, 1.0), "TextureNetV1": (3.8, 1.0), "TextureNetV2": (0.5, 0.2)}
#: Announce above these.
MINUTES, BYTES = 2.0, 1 << 30

MB = 1 << 20


def _threads() -> int:
    import torch

    return max(1, torch.get_num_threads())


def _native_bf16() -> bool:
    from texnet.runtime import cpu_has_fast_bf16

    return cpu_has_fast_bf16()


def _size(n: float) -> str:
    return f"{n / 2**30:.1f} GB" if n >= 2**30 else f"{n / MB:.0f} MB"


def _time(seconds: float) -> str:
    if seconds < 60:
        return "under a minute"
    if seconds < 5400:
        return f"about {max(1, round(seconds / 60))} min"
    return f"about {seconds / 3600:.1f} h"


def parameters(cfg) -> int:
    """Parameters of the generator a resolved TrainConfig trains, counted without allocating them."""
    import torch

    from texnet.paper.generators import build_generator

    arch, kw = cfg.generator_spec()
    with torch.device("meta"):
        g = build_generator(arch, kw)
    return sum(p.numel() for p in g.parameters())


def step_seconds(task: str, batch: int, size: int, precision: str = "auto", experts: int = 1,
                 channels: int = 32) -> float:
    s = RATE[task] * batch * (size / 256) ** 2 * 2 / _threads()
    if task == "style":  # the generator's convolutions dominate and go with the square of the StyleNet's width
        s *= (channels / 32) ** 2
    if precision == "fp32" or (precision == "auto" and not _native_bf16()):
        s *= FP32_FACTOR
    return s * (EXPERTS_FACTOR if experts > 1 else 1.0)


def training(cfg) -> Optional[str]:
    """The cost line of a training run (None when it is small), for a resolved TrainConfig."""
    if cfg.base_model:  # add-style: the base's width, which add-style keeps
        import dataclasses

        from texnet.checkpoints import load_checkpoint

        try:
            arch = load_checkpoint(cfg.base_model)["arch_config"]
        except Exception:  # the run itself says what is wrong with --model, in one line
            return None
        cfg = dataclasses.replace(cfg, stylenet_channels=arch.get("channels", 32),
                                  noise_channels=arch.get("noise_channels", 0))
    try:
        params = parameters(cfg)
    except Exception:  # an architecture the meta device cannot build: say nothing rather than guess
        return None
    seconds = cfg.steps * step_seconds(cfg.task, cfg.batch_size, cfg.size, cfg.loss.precision, cfg.v2_experts,
                                       cfg.stylenet_channels or 32)
    disk = 16 * params
    memory = 40 * params + cfg.batch_size * (cfg.size / 256) ** 2 * 150 * MB + 512 * MB
    if seconds < 60 * MINUTES and disk < BYTES / 4 and memory < 2 * BYTES:
        return None
    tips: List[str] = []
    if cfg.v2_experts > 1:
        tips.append(f"--v2-experts 1 (one network: 1/{cfg.v2_experts} of the size)")
    if seconds >= 60 * MINUTES:
        tips.append(f"fewer --steps (now {cfg.steps}) or a smaller --size (now {cfg.size}; time goes with its square)")
        if cfg.task == "style" and cfg.stylenet_channels > 16 and not cfg.base_model:
            tips.append("--channels 16 (a 2.3x faster net)")
    return (f"cost: {_time(seconds)} on this machine ({_threads()} threads), {_size(disk)} on disk "
            f"(model.pt + checkpoint.pt, {params / 1e6:.1f} M parameters), {_size(memory)} of memory"
            + (f"; smaller: {', '.join(tips)}" if tips else ""))


def inference(arch: str, megapixels: float, precision: str, outputs: int) -> Optional[str]:
    """The cost line of `sample` / `stylize` (None when it is small)."""
    fp32, bf16 = INFER_RATE.get(arch, INFER_RATE["StyleNet"])
    seconds = megapixels * outputs * (bf16 if precision == "bf16" else fp32) * 2 / _threads()
    disk = 3 * megapixels * 1e6 * outputs
    if seconds < 60 * MINUTES and disk < BYTES:
        return None
    tips = ["--precision bf16 (3-4x faster on CPUs with AVX512-BF16, pixels differ slightly)"] \
        if precision != "bf16" else []
    tips.append("a smaller --size" + (" or -n" if outputs > 1 else ""))
    return (f"cost: {_time(seconds)} on this machine for {outputs} output(s) of {megapixels:.0f} MP, up to "
            f"{_size(disk)} on disk, memory bounded by --max-memory; smaller: {', '.join(tips)}")


def announce(line: Optional[str]) -> None:
    if not line:
        return
    from texnet.distributed import is_main_process

    if is_main_process():
        print(line, flush=True)


def warn_train(cfg) -> None:
    """`texnet train-texture / train-style / add-style`: one line before a large run."""
    announce(training(cfg))


def _arch(model: Optional[str]) -> Optional[str]:
    if not model:
        return None
    try:
        from texnet.io import bundled

        if bundled.looks_like_name(model) and model in bundled.names():
            return bundled.card(model)["architecture"]
        import torch

        from texnet.io.bundled import resolve

        path = resolve(model)
        path = path / "model.pt" if path.is_dir() else path
        return torch.load(path, weights_only=True, map_location="meta").get("architecture")
    except Exception:  # the command itself reports a bad model; costs stay quiet
        return None


def warn_sample(cfg) -> None:
    """`texnet sample`: one line before very large or very many textures."""
    if cfg.size is None:
        return
    h, w = (cfg.size, cfg.size) if isinstance(cfg.size, int) else cfg.size
    announce(inference(_arch(cfg.model) or "TextureNetV1", h * w / 1e6, cfg.precision, cfg.n))


def warn_stylize(cfg, images: Sequence[str]) -> None:
    """`texnet stylize`: one line before very large outputs (the photos' own size when --size is not given)."""
    from texnet.io.images import target_hw

    from texnet.io.bigimage import image_hw

    total = 0.0
    for image in images:
        try:
            h, w = target_hw(*image_hw(image, cfg.max_pixels), cfg.size)
        except Exception:  # unreadable photos are the command's to report
            continue
        total += h * w / 1e6
    if images:
        announce(inference("StyleNet", total / len(images), cfg.precision, len(images)))


def warn_reproduce(profile) -> None:
    """`texnet reproduce`: its training runs, estimated from the profile (time and disk)."""
    from texnet.config import TrainConfig

    seeds = len(getattr(profile, "seeds", (0,)))
    style = TrainConfig(task="style", exemplar="x", size=profile.style_size, batch_size=profile.style_batch).resolved()
    tex = TrainConfig(task="texture", exemplar="x", generator="v2", size=profile.texture_size,
                      batch_size=profile.texture_batch).resolved()
    runs_style = 2 * seeds
    runs_tex = (len(profile.lambdas) + 1) * seeds
    seconds = (runs_style * profile.style_steps * step_seconds("style", profile.style_batch, profile.style_size)
               + profile.diverse_style_steps * step_seconds("style", profile.style_batch, profile.style_size)
               + runs_tex * profile.texture_steps * step_seconds("texture", profile.texture_batch, profile.texture_size))
    try:
        disk = 16 * (parameters(style) * (runs_style + 1) + parameters(tex) * runs_tex)
    except Exception:
        disk = 0
    if seconds < 60 * MINUTES:
        return
    announce(f"cost: {_time(seconds)} of training on this machine ({_threads()} threads; plus the L-BFGS "
             f"runs), {_size(disk)} on disk for {runs_style + runs_tex + 1} runs; smaller: --profile smoke "
             "(minutes, to check the pipeline), or run a second process with --reuse on the same --out")
