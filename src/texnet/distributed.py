"""Training on several processes (torchrun): DistributedDataParallel, one global batch, rank-0 output.

`texnet train-texture` / `train-style` run unchanged under
`torchrun --nproc_per_node N [--nnodes M ...] -m texnet ...`: the environment
torchrun sets (WORLD_SIZE, RANK, LOCAL_RANK, MASTER_ADDR/PORT) is detected
here; WORLD_SIZE 1 (or none) is ordinary single-process training. CUDA runs
NCCL with one GPU per process (cuda:LOCAL_RANK); CPU runs gloo.

The batch. `batch_size` is the GLOBAL batch: it must be divisible by the
number of processes, each of which trains on n = batch_size / world_size
samples. Every process draws the whole global batch of step t (noise and
content crops) from the step RNG of (seed, t) and keeps its own slice
[rank·n, (rank+1)·n). So no two processes train on the same crop, the global
batch is exactly the single-process batch of that step, whatever the world
size, and a run resumes under another world size with the same data. The
cost: each process draws all N noise tensors and, for stylization, cuts and
resizes all N content crops (data time ∝ N, not n, on every process).

The objective. Each process's loss is the mean over its n samples of
L − λ·ln(ρ + ε) (paper eq. 10). DDP averages gradients over the W processes,
and the mean over processes of the local means is the global-batch mean, so
the averaged gradient is the gradient of the single-process objective on the
global batch (and so is the logged value, averaged the same way). With
`entropy_scope="global"` (default) ρ_i is the distance to the nearest of ALL
N samples: the distance inputs are gathered from every process with a
gradient-carrying all-gather (`torch.distributed.nn.functional.all_gather`,
whose backward sums the gradients every process's entropy sends to a sample
back to the process that made it). Cost: memory N·D per process for the
gathered inputs (D values per sample: pixels, or the chosen feature map),
n·N distances, one all-gather per step with its reduce-scatter in backward,
plus one gradient-free all-gather of the pixels for the logged nn_distance.
`entropy_scope="rank"` searches neighbours within each process's n samples:
no communication beyond DDP's, but a different (larger-ρ, world-size
dependent) objective than single-process training; it needs n >= 2.

Normalization. Instance norm needs nothing. Batch norm under DDP normalizes
each process's n samples; `sync_bn` converts it to SyncBatchNorm, which
normalizes with the statistics of the global batch (CUDA only: torch's
SyncBatchNorm refuses CPU tensors, so it is a ConfigError there).

Output and stopping. Rank 0 alone writes the run folder (config, logs,
checkpoints, samples) and shows progress; on resume it alone reads the
checkpoint and hands it to the others, so the run folder need not be shared
between machines. The losses every process logs are global-batch averages, so
a NaN/Inf objective (or gradient, after DDP's averaging) stops every process
at the same step; a Ctrl-C / SIGTERM seen by any process is agreed on by an
all-reduce each step, rank 0 saves, the others wait for it at a barrier, and
all stop with the same message. torchrun answers its own Ctrl-C with SIGTERM
to every worker and kills them 30 s later: a step plus a save must fit.

Exactness. Resuming under the same world size reproduces the uninterrupted
run bit for bit (same batches, same reductions). Under another world size the
batches are the same but the gradient sums are added in another order: equal
to float rounding, not bit-identical (and with entropy_scope="rank" or
batch norm without sync_bn the objective itself depends on the world size).
"""
from __future__ import annotations

import atexit
import os
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional

import torch
import torch.nn as nn

from texnet.config.vocab import ENTROPY_SCOPES  # (re-exported)
from texnet.paper.diversity import nearest_neighbor_distances
from texnet.errors import ConfigError, TexnetError, clip
from texnet.runtime import resolve_device

#: What gloo / NCCL say when a collective finds another process of the job gone.
PEER_LOST = ("connection closed by peer", "connection reset by peer", "broken pipe", "socket closed", "timed out",
             "timeout", "connection refused", "communicator was aborted", "read error", "write error", "peer")

#: Where the entropy term searches nearest neighbours under DDP: the global batch, or each process's slice.


def environment() -> tuple:
    """(world_size, rank, local_rank): of the initialized process group, else from torchrun's variables."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        rank = dist.get_rank()
        return dist.get_world_size(), rank, int(os.environ.get("LOCAL_RANK", rank))
    try:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local = int(os.environ.get("LOCAL_RANK", rank))
    except ValueError as exc:
        raise ConfigError(f"WORLD_SIZE / RANK / LOCAL_RANK must be whole numbers ({exc})") from exc
    return world, rank, local


def is_main_process() -> bool:
    """True on rank 0 and in single-process runs (the one process that should print summaries)."""
    return environment()[1] == 0


def check_config(cfg, world_size: int, device: torch.device) -> None:
    """Settings that cannot work under `world_size` processes on `device`: one ConfigError before any work."""
    if world_size == 1:
        return
    if cfg.batch_size % world_size:
        lower = max(world_size, cfg.batch_size // world_size * world_size)
        raise ConfigError(f"--batch-size {cfg.batch_size} is the global batch and must be divisible by the "
                          f"{world_size} processes (try {lower} or {lower + world_size})")
    if cfg.has_entropy and cfg.entropy_scope == "rank" and cfg.batch_size // world_size < 2:
        raise ConfigError(f"--entropy-scope rank compares samples within each process: it needs --batch-size >= "
                          f"{2 * world_size} with {world_size} processes (or --entropy-scope global)")
    if cfg.sync_bn and device.type != "cuda":
        raise ConfigError("--sync-bn needs CUDA GPUs: torch's SyncBatchNorm does not run on CPU (gloo); "
                          "train on GPUs or drop --sync-bn")


def distributed_device(name: str, local_rank: int) -> torch.device:
    """The device of one process: cuda:LOCAL_RANK for 'auto'/'cuda' where CUDA is visible, else the CPU."""
    name = (name or "auto").lower()
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        if name != "cuda":
            raise ConfigError(f"--device {name}: under torchrun every process uses cuda:LOCAL_RANK; "
                              "give --device cuda (or auto) and choose GPUs with CUDA_VISIBLE_DEVICES")
        resolve_device("cuda")  # a clear error where no GPU is visible
        count = torch.cuda.device_count()
        if local_rank >= count:
            raise ConfigError(f"process LOCAL_RANK {local_rank} has no GPU: {count} visible on this machine; "
                              f"start at most {count} processes per node (--nproc_per_node)")
        return torch.device("cuda", local_rank)
    if name == "cpu":
        return torch.device("cpu")
    raise ConfigError(f"--device {name}: distributed training runs on cuda (NCCL) or cpu (gloo)")


@dataclass
class DistContext:
    """One process's place in a run (world size 1: every method is the single-process identity)."""

    world_size: int = 1
    rank: int = 0
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    sync_bn: bool = False

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that writes files, logs and progress."""
        return self.rank == 0

    # ------------------------------------------------------------------ model and objective

    def wrap(self, generator: nn.Module) -> nn.Module:
        """The module to train through: DDP around the generator (BN -> SyncBatchNorm if asked); itself alone."""
        if not self.enabled:
            return generator
        from torch.nn.parallel import DistributedDataParallel

        if self.sync_bn:
            converted = nn.SyncBatchNorm.convert_sync_batchnorm(generator)
            assert converted is generator  # children replaced in place: checkpoints see the same module
        ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(generator, device_ids=ids)

    def attach(self, objective, cfg, log: Callable[[str], None] = print) -> None:
        """Make the objective's entropy term (and its nn_distance log) search the global batch; say how the
        run is split."""
        if not self.enabled:
            return
        if cfg.entropy_scope == "global":
            objective.nearest = self.global_nearest
        backend = "nccl" if self.device.type == "cuda" else "gloo"
        log(f"training on {self.world_size} processes ({backend}): global batch {cfg.batch_size} = "
            f"{self.world_size} x {cfg.batch_size // self.world_size}")
        if cfg.norm == "batch" and not cfg.sync_bn:
            log("note: --norm batch normalizes each process's slice of the batch; --sync-bn normalizes the global batch")

    def global_nearest(self, x: torch.Tensor) -> torch.Tensor:
        """ρ_i of this process's samples against all processes' samples; gradients reach every process."""
        from torch.distributed.nn.functional import all_gather

        x = x.float()  # gloo gathers no bf16; the distances are computed in fp32 anyway
        with warnings.catch_warnings():  # torch 2.13 calls it deprecated; its gloo-capable backward is what we need
            warnings.simplefilter("ignore", FutureWarning)
            pool = torch.cat(all_gather(x))
        return nearest_neighbor_distances(x, pool, offset=self.rank * x.shape[0])

    def unwrap(self, generator: nn.Module) -> nn.Module:
        """The trained generator with plain BatchNorm2d again (SyncBatchNorm needs a process group to train)."""
        if self.sync_bn:
            _revert_sync_batchnorm(generator)
        return generator

    # ------------------------------------------------------------------ batches and logs

    def shard(self, batch):
        """This process's slice of a global batch: tensors, lists of tensors (TextureNetV1 noise), None."""
        if not self.enabled:
            return batch
        if batch is None:
            return None
        if isinstance(batch, (list, tuple)):
            return type(batch)(self.shard(t) for t in batch)
        n = batch.shape[0] // self.world_size
        return batch[self.rank * n:(self.rank + 1) * n].contiguous()

    def average(self, stats: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        """Detached scalars averaged over processes (one all-reduce): the global batch's values, the same
        on every process, so a NaN anywhere stops every process at the same step."""
        plain = {k: v.detach() for k, v in stats.items()}
        if not self.enabled:
            return plain
        import torch.distributed as dist

        keys = list(plain)
        flat = torch.stack([plain[k].float().reshape(()).to(self.device) for k in keys])
        dist.all_reduce(flat)
        return dict(zip(keys, (flat / self.world_size).unbind()))

    def agree_signal(self, signum: Optional[int]) -> Optional[int]:
        """The stop signal any process received (the larger number: SIGTERM over SIGINT), the same on all."""
        if not self.enabled:
            return signum
        import torch.distributed as dist

        flag = torch.tensor([int(signum or 0)], device=self.device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return int(flag.item()) or None

    def peer_lost(self, exc: BaseException) -> bool:
        """Whether `exc`, raised by a collective, says another process of the job is gone (killed, crashed)."""
        text = str(exc).lower()
        return self.enabled and isinstance(exc, RuntimeError) and any(t in text for t in PEER_LOST)

    def barrier(self) -> None:
        """Wait for every process (e.g. for rank 0's checkpoint before anyone exits)."""
        if not self.enabled:
            return
        import torch.distributed as dist

        if self.device.type == "cuda":
            dist.barrier(device_ids=[self.device.index])
        else:
            dist.barrier()

    def from_main(self, read: Callable[[], Any]) -> Any:
        """`read()` on rank 0 alone, its result (or its error) handed to every process."""
        if not self.enabled:
            return read()
        import torch.distributed as dist

        box = [None]
        failure: Optional[BaseException] = None
        if self.is_main:
            try:
                box[0] = ("ok", read())
            except TexnetError as exc:
                box[0] = ("error", exc)
            except Exception as exc:  # not a TexnetError: re-raised here, a one-line stop for the others
                failure = exc
                box[0] = ("error", TexnetError(f"rank 0 failed: {type(exc).__name__}: {clip(str(exc), 200)}"))
        dist.broadcast_object_list(box, src=0, device=self.device if self.device.type == "cuda" else None)
        kind, value = box[0]
        if failure is not None:
            raise failure
        if kind == "error":
            raise value
        return value


#: Whether `join` started the process group (then `leave` ends it; a group the caller started is left alone).
_STARTED = False


def join(cfg) -> DistContext:
    """This process's DistContext for a resolved TrainConfig: checks it, starts the process group if needed.

    A group texnet starts lives until the process exits (or `leave()`), so one process may train several
    times: torch cannot start a second default group on the same rendezvous store after destroying one.
    """
    global _STARTED
    world, rank, local = environment()
    device = distributed_device(cfg.device, local) if world > 1 else resolve_device(cfg.device)
    check_config(cfg, world, device)
    ctx = DistContext(world, rank, local, device, sync_bn=bool(cfg.sync_bn) and world > 1)
    if world == 1:
        return ctx
    import torch.distributed as dist

    if not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
            dist.init_process_group("nccl", device_id=device)
        else:
            dist.init_process_group("gloo")
        if not _STARTED:
            atexit.register(leave)
        _STARTED = True
    return ctx


def leave() -> None:
    """End the process group `join` started (destroy_process_group); called at exit, harmless twice."""
    global _STARTED
    if _STARTED:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()
        _STARTED = False


def _revert_sync_batchnorm(module: nn.Module) -> None:
    for name, child in module.named_children():
        if isinstance(child, nn.SyncBatchNorm):
            bn = nn.BatchNorm2d(child.num_features, child.eps, child.momentum, child.affine, child.track_running_stats)
            bn.load_state_dict(child.state_dict())
            bn.to(next(iter(child.state_dict().values())).device).train(child.training)
            setattr(module, name, bn)
        else:
            _revert_sync_batchnorm(child)


__all__ = ["ENTROPY_SCOPES", "DistContext", "check_config", "distributed_device", "environment",
           "is_main_process", "join", "leave"]
