"""The 2-process worker of test_distributed.py: every distributed scenario in one spawn (start-up paid once).

Run by torchrun (test_distributed.py starts it). Each process first computes
single-process references (torchrun's variables hidden), then runs the
`texnet train-texture` command itself (texnet starts the gloo group), then
the same settings as the references, distributed, in that group. What it saw goes to `results/rank<R>.pt`; the tests
compare. Every process trains into its own run folder (`<name>_<rank>`), so
a folder that exists for rank 1 means rank 1 wrote something.
"""
from __future__ import annotations

import os
import shutil
import signal
import sys
import traceback
from pathlib import Path

import torch

from helpers_train import style_config, texture_config, tiny_loss

WORLD = 2
#: TEXNET_TEST_DEVICE=cuda runs these on NCCL where 2 GPUs are visible; gloo on the CPU otherwise.
DEVICE = os.environ.get("TEXNET_TEST_DEVICE", "cpu")


def device() -> str:
    if DEVICE.startswith("cuda") and torch.cuda.is_available() and torch.cuda.device_count() >= WORLD:
        return "cuda"
    return "cpu"


def backend() -> str:
    return "nccl" if device() == "cuda" else "gloo"


def shallow_loss():
    loss = tiny_loss()
    loss.texture_layers = {"relu1_1": 1.0, "relu2_1": 1.0}
    loss.content_layers = {"relu2_1": 1.0}
    loss.precision = "fp32"  # exact comparisons: bf16 convolutions may round differently at another batch size
    return loss


def v2_config(**kw):
    """TextureNetV2 at 16 px with the entropy term: the objective/gradient equivalence case."""
    base = dict(generator="v2", size=16, z_dim=8, batch_size=4, diversity=0.05, lr=1e-3, device=device(),
                loss=shallow_loss())
    return texture_config(**{**base, **kw})


def v1_config(**kw):
    """TextureNetV1 (list of noise tensors) at 32 px: the training, resume and stop cases."""
    base = dict(batch_size=4, diversity=0.05, steps=4, lr_step=3, lr_decay=0.5, device=device(), loss=shallow_loss())
    return texture_config(**{**base, **kw})


def s_config(content, **kw):
    """StyleNet with a noise plane, g(x0, z): the stylization equivalence case."""
    base = dict(batch_size=4, noise_channels=1, diversity=0.05, device=device(), loss=shallow_loss())
    return style_config(content, **{**base, **kw})


def one_step(cfg, out):
    """Step 1 of a fresh Trainer: its logged row and the gradients it applied (after DDP's averaging)."""
    from texnet.train import Trainer

    trainer = Trainer(cfg, out, show_progress=False, log=quiet)
    row = trainer.train_step(1)
    grads = [p.grad.detach().cpu().clone() for p in trainer.generator.parameters()]
    return {"row": row, "grads": grads}


def rank_scope_reference(cfg, out):
    """The objective entropy_scope='rank' should give: the mean of single-process objectives on each slice."""
    from texnet.train import Trainer

    trainer = Trainer(cfg, out, show_progress=False, log=quiet)
    z, _ = trainer.batch(1)
    n = cfg.batch_size // WORLD
    values = []
    for r in range(WORLD):
        with torch.no_grad():
            part = trainer.generator(z[r * n:(r + 1) * n])
            values.append(float(trainer.objective(part)["objective"]))
    return sum(values) / WORLD


def quiet(_msg):
    pass


def _stop_case(tmp, rank, poison):
    """Rank 1 alone gets SIGTERM (or a NaN objective) after step 2: what every process raises, and when."""
    from texnet.paper.objective import JuleszObjective
    from texnet.train import Trainer, train

    real_step, real_forward = Trainer.train_step, JuleszObjective.forward

    def step_then_signal(self, step):
        row = real_step(self, step)
        if step == 2 and rank == 1:
            os.kill(os.getpid(), signal.SIGTERM)
        return row

    calls = {"n": 0}

    def poisoned(self, samples, targets=None, **kw):
        stats = real_forward(self, samples, targets, **kw)
        calls["n"] += 1
        if rank == 1 and calls["n"] == 2:
            stats["objective"] = stats["objective"] * float("nan")
        return stats

    if poison:
        JuleszObjective.forward = poisoned
    else:
        Trainer.train_step = step_then_signal
    try:
        train(v1_config(steps=4, checkpoint_every=1 if poison else 100), tmp / f"{'nan' if poison else 'sig'}_{rank}",
              show_progress=False, log=quiet)
        return {"raised": None}
    except Exception as exc:  # what the CLI would print, per process
        return {"raised": type(exc).__name__, "message": str(exc), "signum": getattr(exc, "signum", None)}
    finally:
        Trainer.train_step, JuleszObjective.forward = real_step, real_forward


def _cli_case(tmp, rank):
    """`texnet train-texture` itself, the way torchrun runs it: the process group started and ended by texnet."""
    from texnet.apps.cli import main

    out = tmp / "cli"  # one --out for both processes, as on one machine
    args = ["train-texture", "--texture", "sample:brick", "--generator", "v2", "--size", "16", "--batch-size", "4",
            "--diversity", "0.03", "--steps", "2", "--texture-layers", "relu1_1", "--precision", "fp32",
            "--device", device(), "--quiet", "--out", str(out)]
    return {"rc": main(args)}


def _cli_auto_cases(tmp, content):
    """The diverse modes as the README recommends them, under torchrun (λ = auto broke here once: issue 32):
    eight TextureNetV2 networks with a global batch of 8, and a StyleNet with --diversity auto."""
    from texnet.apps.cli import main

    common = ["--size", "16", "--steps", "2", "--texture-layers", "relu1_1", "--precision", "fp32", "--device",
              device(), "--quiet"]
    texture = main(["train-texture", "--texture", "sample:brick", "--generator", "v2", "--diversity", "auto",
                    "--batch-size", "8", "--out", str(tmp / "cli_auto_texture"), *common])
    style = main(["train-style", "--style", "sample:starry_night", "--content-dir", str(content), "--diversity",
                  "auto", "--noise-channels", "1", "--channels", "4", "--batch-size", "6", "--out",
                  str(tmp / "cli_auto_style"), *common])
    return {"texture": texture, "style": style}


def worker(rank: int, tmp: str, content: str) -> None:
    """One process of the 2-process run; results in tmp/results/rank<R>.pt (an error: its traceback)."""
    tmp = Path(tmp)
    os.environ["TEXNET_NO_PROGRESS"] = "1"
    torch.set_num_threads(1)
    torch.backends.cudnn.allow_tf32 = False  # on GPUs: fp32 convolutions, so float tolerances mean fp32
    torch.backends.cuda.matmul.allow_tf32 = False
    results = {}
    try:
        import torch.distributed as dist

        from texnet import distributed
        from texnet.train import train

        # single-process references first, with torchrun's variables hidden: each process computes them
        hidden = {k: os.environ.pop(k) for k in ("WORLD_SIZE", "RANK", "LOCAL_RANK")}
        results["ref_v2"] = one_step(v2_config(), tmp / f"ref_v2_{rank}")
        # four experts, two rows per process: every process has networks without rows (zero gradients)
        results["ref_v2e"] = one_step(v2_config(v2_experts=4), tmp / f"ref_v2e_{rank}")
        results["ref_style"] = one_step(s_config(content), tmp / f"ref_style_{rank}")
        results["ref_rank_scope"] = rank_scope_reference(v2_config(), tmp / f"ref_rank_{rank}")
        os.environ.update(hidden)

        # the command first: texnet starts the process group (env://, as under any torchrun)
        results["cli"] = _cli_case(tmp, rank)
        results["cli_started_group"] = dist.is_initialized()
        results["cli_auto"] = _cli_auto_cases(tmp, content)

        results["dist_v2"] = one_step(v2_config(), tmp / f"dist_v2_{rank}")
        results["dist_v2e"] = one_step(v2_config(v2_experts=4), tmp / f"dist_v2e_{rank}")
        results["dist_style"] = one_step(s_config(content), tmp / f"dist_style_{rank}")
        results["dist_rank_scope"] = one_step(v2_config(entropy_scope="rank"), tmp / f"dist_rank_{rank}")["row"]

        full = train(v1_config(), tmp / f"full_{rank}", show_progress=False, log=quiet)
        results["full_history"] = full.history
        results["full_state"] = {k: v.cpu() for k, v in full.generator.state_dict().items()}

        train(v1_config(steps=2), tmp / f"split_{rank}", show_progress=False, log=quiet)
        if rank == 0:
            shutil.copy(tmp / "split_0" / "checkpoint.pt", tmp / "split_step2.pt")
        logs = []
        resumed = train(v1_config(), tmp / f"split_{rank}", resume=True, show_progress=False, log=logs.append)
        results["resumed_history"] = resumed.history
        results["resumed_logs"] = logs

        results["signal"] = _stop_case(tmp, rank, poison=False)
        results["nan"] = _stop_case(tmp, rank, poison=True)
        distributed.leave()
        results["group_ended"] = not dist.is_initialized()
    except BaseException:
        results["error"] = traceback.format_exc()
    (tmp / "results").mkdir(exist_ok=True)
    torch.save(results, tmp / "results" / f"rank{rank}.pt")


if __name__ == "__main__":  # python -m torch.distributed.run --nproc_per_node 2 helpers_distributed.py TMP CONTENT
    worker(int(os.environ["RANK"]), sys.argv[1], sys.argv[2])
