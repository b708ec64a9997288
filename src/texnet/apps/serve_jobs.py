"""`texnet serve` jobs: optimizations and trainings run one at a time, each as a `python -m texnet` subprocess.

A single worker thread takes queued jobs in order and runs `texnet KIND ... --out RUNS/NAME`, so a job is exactly
the command line a user could type (shown on the page) and a crash or a kill of the job never takes the server
down. Live progress comes from the job's own output (its tqdm bar: step, total, loss) and its run folder
(losses.csv, samples/step_*.png). Cancel is SIGINT, which texnet's training turns into a checkpoint and a
resumable folder (a second SIGINT after a grace period, then SIGKILL). The job list is kept in
RUNS/.serve/jobs.json: a page reload shows it as it was, and after a server restart a job that had not finished
shows as interrupted, to be resumed (`--resume`) from the page.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Dict, List, Optional

from texnet.errors import ConfigError

from .serve_inputs import IMAGES, PARAMS
from .serve_render import APP_DIR, NotFound, safe_path

KINDS = ("optimize", "train-texture", "train-style", "add-style")
TRAINING = ("train-texture", "train-style", "add-style")
LIVE = ("queued", "running")
#: Seconds after the first SIGINT before a second one, and before SIGKILL.
GRACE = (30.0, 60.0)
_BAR = re.compile(r"(\d+)/(\d+) \[")
_LOSS = re.compile(r"[\s,]loss=([-+0-9.eEinfa]+)")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class JobManager:
    """The queue, the worker thread and the persisted list of jobs (see the module docstring)."""

    def __init__(self, root: Path, python: str = sys.executable):
        self.root = Path(root).resolve()
        self.python = python
        self.state = self.root / APP_DIR / "jobs.json"
        self._lock = threading.RLock()
        self._wake = threading.Condition(self._lock)
        self._jobs: Dict[str, Dict[str, Any]] = {}
        self._procs: Dict[str, subprocess.Popen] = {}
        self._stopping = False
        self._saved = 0.0
        self._load()
        self._worker = threading.Thread(target=self._work, name="texnet-jobs", daemon=True)
        self._worker.start()

    # ------------------------------------------------------------------ state

    def _load(self) -> None:
        try:
            data = json.loads(self.state.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
        for job in data.get("jobs", []) if isinstance(data, dict) else []:
            if not isinstance(job, dict) or not isinstance(job.get("id"), str) or job.get("kind") not in KINDS \
                    or not _NAME.match(str(job.get("name", ""))) or not isinstance(job.get("args"), list):
                continue  # not a job this app wrote (a hand-edited file): never run, never shown
            job.pop("cancel", None)
            job.pop("by_user", None)
            if job.get("status") in LIVE:  # the server stopped while it was queued or running
                job["status"], job["message"] = "interrupted", "the server stopped; resume it to continue"
            self._jobs[job["id"]] = job

    def _save(self, force: bool = True) -> None:
        from texnet.io.files import write_json

        now = time.monotonic()
        if not force and now - self._saved < 2.0:
            return
        self._saved = now
        with self._lock:
            data = {"jobs": [dict(j) for j in self._jobs.values()]}
        try:
            write_json(self.state, data)
        except Exception:  # a full disk must not stop the server; the list lives on in memory
            pass

    # ------------------------------------------------------------------ submitting

    def submit(self, kind: str, params: Dict[str, Any], uploads: Dict[str, List[tuple]], name: Optional[str] = None,
               max_pixels: Optional[int] = None) -> Dict[str, Any]:
        """Validate, save the uploads, queue `texnet KIND ...`; the job's public dict."""
        from .serve_inputs import content_source, model_source, save_images

        if kind not in KINDS:
            raise ConfigError(f"job kind must be one of {', '.join(KINDS)}, got {kind!r}")
        params = dict(params or {})
        job_id = uuid.uuid4().hex[:12]
        folder = self._folder(kind, name, job_id)
        args: List[str] = []
        allowed = PARAMS[kind]
        for key, value in params.items():
            if key in IMAGES[kind] or key in ("content_dir", "model"):
                continue
            if key not in allowed:
                raise ConfigError(f"{kind}: unknown parameter {key!r}; allowed: {', '.join(sorted(allowed))}")
            flag = "--" + key.replace("_", "-")
            if allowed[key] is bool:
                if value in (True, "true", "1", "on", 1):
                    args.append(flag)
                continue
            if value in (None, ""):
                continue
            args += [flag, allowed[key](value, key)]
        upload_dir = self.root / APP_DIR / "uploads" / job_id
        images = save_images(kind, IMAGES[kind], params, uploads, upload_dir, max_pixels)
        has = {k for k in ("texture", "content", "style") if k in images}
        if kind == "optimize" and has not in ({"texture"}, {"content", "style"}):
            raise ConfigError("optimize needs either a texture image, or a content and a style image")
        for key, paths in images.items():
            args += [IMAGES[kind][key][0], *paths]
        if kind in ("train-style", "add-style"):
            args += ["--content-dir", content_source(self.root, params.get("content_dir"), uploads, upload_dir)]
        if kind == "add-style":
            args += ["--model", model_source(self.root, params.get("model"))]
        job = {"id": job_id, "kind": kind, "name": folder, "args": args, "status": "queued", "created": time.time(),
               "started": None, "finished": None, "returncode": None, "message": "", "step": 0,
               "total": int(params.get("steps") or 0), "loss": None, "points": [], "log": [], "runs": 0}
        with self._lock:
            self._jobs[job_id] = job
            self._wake.notify_all()
        self._save()
        return self.public(job_id)

    def _folder(self, kind: str, name: Optional[str], job_id: str) -> str:
        name = (name or "").strip() or f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}-{job_id[:4]}"
        if not _NAME.match(name):
            raise ConfigError(f"run name {name!r}: use 1-64 letters, digits, '-', '_' or '.'")
        path = safe_path(self.root, name)
        taken = {j["name"] for j in self._jobs.values()}
        if path.exists() or name in taken:
            raise ConfigError(f"run name {name!r}: a run of that name exists in the runs folder; choose another")
        return name

    # ------------------------------------------------------------------ reading

    def _get(self, job_id: str) -> Dict[str, Any]:
        job = self._jobs.get(str(job_id))
        if job is None:
            raise NotFound(f"no job {job_id!r}")
        return job

    def folder(self, job_id: str) -> Path:
        with self._lock:
            return safe_path(self.root, self._get(job_id)["name"])

    def public(self, job_id: str, detail: bool = True) -> Dict[str, Any]:
        """The job as the API shows it: state, queue position, command, progress, loss curve, images."""
        with self._lock:
            job = dict(self._get(job_id))
            queued = [j["id"] for j in self._jobs.values() if j["status"] == "queued"]
        folder = safe_path(self.root, job["name"])
        out = {k: job[k] for k in ("id", "kind", "name", "status", "created", "started", "finished", "returncode",
                                   "message", "step", "total", "loss", "runs")}
        out["position"] = queued.index(job["id"]) + 1 if job["id"] in queued else 0
        out["command"] = "texnet " + " ".join([job["kind"], *job["args"], "--out", str(folder)])
        out["model"] = f"run:{job['name']}" if (folder / "model.pt").is_file() else None
        out["resumable"] = job["status"] in ("cancelled", "interrupted", "failed") and job["kind"] in TRAINING \
            and (folder / "checkpoint.pt").is_file()
        out["restartable"] = job["status"] in ("cancelled", "interrupted", "failed") and not out["resumable"]
        out["images"] = job_images(folder)
        if detail:
            out["log"] = list(job["log"])[-30:]
            out["curve"] = loss_curve(folder, job["points"])
        return out

    def list(self) -> List[Dict[str, Any]]:
        with self._lock:
            ids = list(self._jobs)
        return [self.public(i, detail=False) for i in reversed(ids)]

    # ------------------------------------------------------------------ cancel, resume, remove

    def cancel(self, job_id: str) -> Dict[str, Any]:
        """Cancel a queued or running job (SIGINT: a training saves a checkpoint); forget a finished one."""
        with self._lock:
            job = self._get(job_id)
            if job["status"] == "queued":
                job.update(status="cancelled", finished=time.time(), message="cancelled before it started")
            elif job["status"] == "running":
                job["cancel"], job["by_user"] = time.monotonic(), True
                proc = self._procs.get(job_id)
                if proc is not None and proc.poll() is None:
                    _signal(proc, signal.SIGINT)
            else:
                del self._jobs[job_id]
                self._save()
                return {"id": job_id, "status": "removed"}
        self._save()
        return self.public(job_id)

    def resume(self, job_id: str) -> Dict[str, Any]:
        """Queue a cancelled/interrupted/failed job again: `--resume` from its checkpoint, else from the start."""
        info = self.public(job_id)
        if not (info["resumable"] or info["restartable"]):
            raise ConfigError(f"job {job_id} is {info['status']}; only a cancelled, interrupted or failed job resumes")
        with self._lock:
            job = self._get(job_id)
            args = [a for a in job["args"] if a not in ("--resume", "--overwrite")]
            job["args"] = args + (["--resume"] if info["resumable"] else ["--overwrite"])
            job.update(status="queued", message="", returncode=None, finished=None)
            job.pop("cancel", None)
            job.pop("by_user", None)
            self._wake.notify_all()
        self._save()
        return self.public(job_id)

    def shutdown(self, timeout: float = 60.0) -> None:
        """Stop the worker: the running job gets SIGINT (a checkpoint) and shows as interrupted."""
        with self._lock:
            self._stopping = True
            procs = list(self._procs.values())
            self._wake.notify_all()
        for proc in procs:
            if proc.poll() is None:
                _signal(proc, signal.SIGINT)
        self._worker.join(timeout)
        self._save()

    # ------------------------------------------------------------------ the worker

    def _next(self) -> Optional[Dict[str, Any]]:
        with self._lock:
            while not self._stopping:
                for job in self._jobs.values():
                    if job["status"] == "queued":
                        return job
                self._wake.wait(1.0)
        return None

    def _work(self) -> None:
        while True:
            job = self._next()
            if job is None:
                return
            try:
                self._run(job)
            except Exception as exc:  # never let one job stop the worker
                with self._lock:
                    job.update(status="failed", finished=time.time(), message=f"could not run: {exc}")
                self._save()

    def _run(self, job: Dict[str, Any]) -> None:
        folder = safe_path(self.root, job["name"])
        cmd = [self.python, "-m", "texnet", job["kind"], *job["args"], "--out", str(folder)]
        env = dict(os.environ, PYTHONUNBUFFERED="1", COLUMNS="160")
        env.pop("TEXNET_NO_PROGRESS", None)  # the progress bar is how the worker reads the step and loss
        with self._lock:
            job.update(status="running", started=time.time(), step=job.get("step", 0), runs=job.get("runs", 0) + 1)
            job["log"] = list(job.get("log", []))[-20:] + ["$ " + " ".join(["texnet", *cmd[3:]])]
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    env=env, cwd=str(self.root), start_new_session=True)
            self._procs[job["id"]] = proc
        self._save()
        reader = threading.Thread(target=self._read, args=(job, proc), daemon=True)
        reader.start()
        sent = 1
        while proc.poll() is None:
            time.sleep(0.2)
            with self._lock:
                asked = job.get("cancel")
                stopping = self._stopping
            if asked is None and stopping:
                asked = job["cancel"] = time.monotonic()
                _signal(proc, signal.SIGINT)
            if asked is not None and sent < 3 and time.monotonic() - asked > GRACE[sent - 1]:
                _signal(proc, signal.SIGINT if sent == 1 else signal.SIGKILL)
                sent += 1
            self._save(force=False)
        reader.join(5.0)
        rc = proc.returncode
        with self._lock:
            self._procs.pop(job["id"], None)
            errors = [ln for ln in job["log"] if "error:" in ln or "interrupted:" in ln]
            if rc == 0:
                status = "done"
            elif job.get("by_user"):
                status = "cancelled"
            elif self._stopping:
                status = "interrupted"
            else:
                status = "failed"
            message = "finished" if status == "done" else (errors[-1] if errors else f"exit status {rc}")
            job.update(status=status, returncode=rc, finished=time.time(), message=message)
            job.pop("cancel", None)
            job.pop("by_user", None)
            self._save()  # under the lock: nobody sees the final status before it is on disk

    def _read(self, job: Dict[str, Any], proc: subprocess.Popen) -> None:
        """Parse the job's output: tqdm refreshes (\\r) give step, total and loss; other lines go to its log."""
        buf = b""
        while True:
            chunk = proc.stdout.read1(4096) if hasattr(proc.stdout, "read1") else proc.stdout.read(4096)
            if not chunk:
                break
            buf += chunk
            parts = re.split(rb"[\r\n]", buf)
            buf = parts.pop()
            for raw in parts:
                self._line(job, raw.decode("utf-8", "replace").strip())
        self._line(job, buf.decode("utf-8", "replace").strip())

    def _line(self, job: Dict[str, Any], line: str) -> None:
        if not line:
            return
        bar = _BAR.search(line)
        with self._lock:
            if bar is None:
                job["log"] = (job["log"] + [line[:400]])[-60:]
                return
            step, total = int(bar.group(1)), int(bar.group(2))
            job["step"], job["total"] = step, total
            loss = _LOSS.search(line)
            if loss:
                try:
                    value = float(loss.group(1))
                except ValueError:
                    return
                if value != job.get("loss") or not job["points"]:
                    # set_postfix runs after a step and before the bar counts it: this is step `step + 1`
                    job["points"] = (job["points"] + [[min(step + 1, total), value]])[-2000:]
                job["loss"] = value


def _signal(proc: subprocess.Popen, sig: int) -> None:
    try:
        proc.send_signal(sig)
    except OSError:
        pass


def job_images(folder: Path) -> List[str]:
    """Images of a run folder worth showing, newest result first: outputs, the final samples, the latest grid."""
    if not folder.is_dir():
        return []
    names = [n for n in ("output.png", "samples.png") if (folder / n).is_file()]
    names += sorted(p.name for p in folder.glob("output_*.png"))
    steps = sorted((folder / "samples").glob("step_*.png")) if (folder / "samples").is_dir() else []
    if steps:
        names.append(f"samples/{steps[-1].name}")
    names += [n for n in ("losses.png",) if (folder / n).is_file()]
    return names


def loss_curve(folder: Path, points: List[List[float]], limit: int = 400) -> List[List[float]]:
    """[step, loss] pairs: losses.csv where written (every checkpoint), the live progress bar's values after it."""
    from texnet.io.files import read_csv

    rows: List[List[float]] = []
    csv = folder / "losses.csv"
    if csv.is_file():
        try:
            rows = [[float(r["step"]), float(r["loss"])] for r in read_csv(csv)
                    if isinstance(r.get("step"), float) and isinstance(r.get("loss"), float)]
        except (OSError, KeyError, ValueError):
            rows = []
    last = rows[-1][0] if rows else 0
    rows += [p for p in points if p[0] > last]
    if len(rows) > limit:
        stride = len(rows) / limit
        rows = [rows[int(i * stride)] for i in range(limit)] + [rows[-1]]
    return rows
