"""Lever study for issue 33: StyleNet recipes trained for equal CPU time, measured by bench_style_quality.

    python benchmarks/style_levers.py train LEVER [--minutes 8] [--marks 3] [--painting starry_night]
    python benchmarks/style_levers.py measure [LEVER ...]     # every snapshot -> study-runs/levers/levers.json
    python benchmarks/style_levers.py plot                    # docs/images/style_levers.png

Every lever is the zoo recipe (zoo.STYLE_STAGE1) plus its flags, trained with `texnet train-style` on
content-train minus the benchmark's held-out photo, one thread, nice'd; the run folder is study-runs/levers/LEVER
(`--resume`-able: a later `train LEVER` continues it). The training is stopped with SIGTERM (texnet checkpoints
and exits) once its clock passes --minutes: the training process's own CPU seconds (/proc), so a busy machine
does not bias a lever. checkpoint.pt is copied to snapshots/ each time the clock passes one of --marks equal
fractions of it, so each lever gives a curve of held-out quality against training CPU-minutes. 'warm*' levers
start from the bundled network's weights (`--init NAME`: a fresh Adam state); their clock starts at the bundled network's steps,
costed at the run's own CPU seconds per step.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TEXNET_NO_PROGRESS", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import style_quality_common as C  # noqa: E402

ROOT = Path(os.environ.get("TEXNET_LEVERS_ROOT", C.ROOT / "study-runs" / "levers"))
TEXNET = [sys.executable, "-m", "texnet"]
#: lever -> extra flags on top of the zoo recipe (later flags win in argparse).
LEVERS = {
    "control": [],
    "style_w3": ["--style-weight", "3"],
    "crop256_b1": ["--size", "256", "--batch-size", "1"],
    "lr3e-3": ["--lr", "3e-3"],
    "content_relu2_2": ["--content-layers", "relu2_2"],
    "width32": ["--channels", "32"],
    "warm": [],
    "warm_style_w3": ["--style-weight", "3"],
    "warm_crop256_b1": ["--size", "256", "--batch-size", "1"],
    "warm_content_relu2_2": ["--content-layers", "relu2_2"],
}


def recipe(painting: str):
    from texnet.apps.zoo import STYLE_STAGE1, STYLES

    ex = next(e for n, _t, e, *_ in STYLES if n == painting)
    return ["--style", str(C.DATA / ex), *STYLE_STAGE1]


def elapsed_of(ckpt: Path):
    import torch

    try:
        d = torch.load(ckpt, map_location="cpu", weights_only=False)
        return float(d.get("elapsed", 0.0)), int(d.get("step", 0))
    except Exception:  # being replaced right now: try again at the next poll
        return None


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (Linux /proc): the study's clock, fair under a busy machine."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def train(lever: str, minutes: float, marks: int, painting: str, steps: int = 100000) -> Path:
    run = ROOT / lever
    content = C.held_out_content_dir(C.ROOT / "study-runs" / "content-heldout")
    argv = [*TEXNET, "train-style", *recipe(painting), *LEVERS[lever], "--content-dir", str(content),
            "--checkpoint-every", "20", "--sample-every", "100000", "--out", str(run), "--quiet", "--steps", str(steps)]
    if lever.startswith("warm"):  # from the bundled network's weights, a fresh Adam state
        import texnet

        argv += ["--init", painting]
        if not (run / "warm_offset_steps").is_file():
            run.mkdir(parents=True, exist_ok=True)
            (run / "warm_offset_steps").write_text(str(texnet.load(painting).checkpoint["step"]))
    return train_with_snapshots(argv, run, minutes, marks, tag=lever)


def train_with_snapshots(argv, run: Path, minutes: float, marks: int, tag: str = "") -> Path:
    """Run the training command `argv` (resuming the run folder when it holds a checkpoint) until its own CPU
    clock has spent `minutes` more, copying checkpoint.pt to run/snapshots at `marks` equal fractions of that
    time; the CPU seconds of earlier sessions are kept in run/cpu_s."""
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    resume = (run / "checkpoint.pt").is_file()
    snaps = run / "snapshots"  # made at the first snapshot: texnet refuses a new run in a non-empty folder
    limit = minutes * 60
    spent = float((run / "cpu_s").read_text()) if (run / "cpu_s").is_file() else 0.0  # earlier sessions
    due = [spent + limit * (k + 1) / marks for k in range(marks)]
    proc = subprocess.Popen(["nice", "-n", "5", *argv, *(["--resume"] if resume else [])], env=env)
    last, cpu = None, spent
    try:
        while proc.poll() is None:
            time.sleep(3)
            ck = run / "checkpoint.pt"
            if not ck.is_file() or ck.stat().st_mtime == last:
                continue
            last = ck.stat().st_mtime
            got = elapsed_of(ck)
            try:
                cpu = spent + cpu_seconds(proc.pid)  # includes the process's start-up (~10 s)
            except (OSError, IndexError):
                continue
            if got is None:
                continue
            el, step = got
            if due and cpu >= due[0]:
                while due and cpu >= due[0]:
                    due.pop(0)
                snaps.mkdir(parents=True, exist_ok=True)
                shutil.copy(ck, snaps / f"step_{step:06d}.pt")
                (snaps / f"step_{step:06d}.json").write_text(json.dumps({"cpu_s": cpu, "elapsed_s": el}))
                print(f"[levers] {tag}: snapshot at step {step}, {cpu / 60:.1f} CPU-min", flush=True)
            if cpu >= spent + limit:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=300)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=300)
        (run / "cpu_s").write_text(str(cpu))
    return run


def measure(levers, out: Path = ROOT / "levers.json") -> dict:
    import torch

    import bench_style_quality as B

    torch.set_num_threads(1)
    res = json.loads(out.read_text()) if out.is_file() else {}
    cache: dict = {}
    for lever in levers:
        run = ROOT / lever
        # A warm start's clock starts at the bundled network's steps, costed at this run's own CPU s/step
        # (the card's wall time was measured on a shared core: an overestimate of its CPU time).
        warm = int((run / "warm_offset_steps").read_text()) if (run / "warm_offset_steps").is_file() else 0
        for snap in sorted((run / "snapshots").glob("step_*.pt")):
            key = f"{lever}/{snap.stem}"
            side = snap.with_suffix(".json")
            cpu = json.loads(side.read_text())["cpu_s"] if side.is_file() else elapsed_of(snap)[0]
            step = int(snap.stem.split("_")[1])
            offset = warm * cpu / max(1, step - (1 if warm else 0))
            if key in res:
                res[key].update(cpu_minutes=(cpu + offset) / 60, offset_minutes=offset / 60)
                continue
            r = B.run([str(snap)], judges_cache=cache, allow_install=False)[0]
            r.update(lever=lever, cpu_minutes=(cpu + offset) / 60, train_minutes=cpu / 60, offset_minutes=offset / 60)
            res[key] = {k: v for k, v in r.items() if k != "stl"}
            out.write_text(json.dumps(res, indent=1))
    out.write_text(json.dumps(res, indent=1))
    return res


def plot(src: Path = ROOT / "levers.json", dest: Path = C.ROOT / "docs" / "images" / "style_levers.png",
         baseline: dict = None) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    res = json.loads(src.read_text())
    fig, axes = plt.subplots(2, 2, figsize=(10, 7), sharex=True)
    keys = [("vgg_style", "VGG style"), ("vgg_content", "VGG content"), ("eff_style", "EffNet style"),
            ("eff_content", "EffNet content")]
    for lever in dict.fromkeys(r["lever"] for r in res.values()):
        pts = sorted(((r["cpu_minutes"], i, r) for i, r in enumerate(res.values()) if r["lever"] == lever))
        pts = [(x, r) for x, _i, r in pts]
        if baseline and pts and pts[0][1].get("offset_minutes"):  # a warm start: its curve leaves the bundled point
            pts.insert(0, (pts[0][1]["offset_minutes"], baseline))
        for ax, (k, title) in zip(axes.flat, keys):
            ax.plot([p[0] for p in pts], [p[1][f"{k}_median"] for p in pts], "o-", label=lever)
    for ax, (k, title) in zip(axes.flat, keys):
        if baseline:
            ax.axhline(baseline[f"{k}_median"], color="k", ls="--", lw=1, label="bundled starry_night (1200 steps)")
        ax.set_title(f"{title}: median ratio to Gatys")
        ax.grid(alpha=0.3)
    for ax in axes[1]:
        ax.set_xlabel("training CPU-minutes (one thread)")
    axes[0, 0].legend(fontsize=7)
    return save_figure(fig, "starry_night StyleNet levers, 6 held-out photos at 512 px (lower is better)", dest)


def save_figure(fig, title: str, dest: Path) -> Path:
    """The study plots' common ending: title, layout, a small PNG."""
    fig.suptitle(title)
    fig.tight_layout()
    dest.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(dest, dpi=80)
    return dest


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("action", choices=("train", "measure", "plot"))
    ap.add_argument("levers", nargs="*")
    ap.add_argument("--minutes", type=float, default=8.0)
    ap.add_argument("--marks", type=int, default=3)
    ap.add_argument("--painting", default="starry_night")
    a = ap.parse_args(argv)
    if a.action == "train":
        for lever in a.levers:
            train(lever, a.minutes, a.marks, a.painting)
    elif a.action == "measure":
        measure(a.levers or [p.name for p in sorted(ROOT.iterdir()) if (p / "snapshots").is_dir()])
    else:
        base = C.ROOT / "study-runs" / "quality" / f"{a.painting}.json"
        print(plot(baseline=json.loads(base.read_text()) if base.is_file() else None))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
