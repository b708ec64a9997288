"""`texnet serve` jobs through the API: real `python -m texnet` subprocesses at tiny sizes (seconds), one run to
completion, one cancelled, resumed after a simulated server restart, and the parameter checks."""
from __future__ import annotations

import json
import time

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("multipart")
from fastapi.testclient import TestClient  # noqa: E402

from texnet.apps.serve_api import create_app  # noqa: E402

H = {"X-Texnet-Client": "test"}
BASE = "http://127.0.0.1"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return tmp_path_factory.mktemp("runs")


@pytest.fixture(scope="module")
def client(runs):
    with TestClient(create_app(runs), base_url=BASE) as c:
        yield c


def wait(client, job_id, until, timeout=240.0):
    t0 = time.monotonic()
    job = None
    while time.monotonic() - t0 < timeout:
        job = client.get(f"/api/jobs/{job_id}").json()
        if until(job):
            return job
        time.sleep(0.25)
    raise AssertionError(f"job {job_id} did not get there in {timeout} s: {job}")


# --------------------------------------------------------------------------- jobs


TINY = {"texture": "sample:brick", "size": 32, "steps": 2, "batch_size": 2, "generator": "v2", "sample_every": 1}


def test_a_job_runs_to_completion_and_its_network_is_listed(client):
    r = client.post("/api/jobs", data={"kind": "train-texture", "name": "tiny", "params": json.dumps(TINY)}, headers=H)
    assert r.status_code == 201, r.text
    job = r.json()
    assert job["status"] in ("queued", "running") and "--steps 2" in job["command"]
    done = wait(client, job["id"], lambda j: j["status"] not in ("queued", "running"))
    assert done["status"] == "done", done
    assert done["step"] == done["total"] == 2 and done["model"] == "run:tiny"
    assert [p[0] for p in done["curve"]] == [1.0, 2.0] and done["loss"] > 0
    assert "samples.png" in done["images"]
    img = client.get(f"/api/jobs/{job['id']}/files/samples.png")
    assert img.status_code == 200 and img.headers["content-type"] == "image/png"
    assert client.get(f"/api/jobs/{job['id']}/files/model.pt").status_code == 404  # images only
    assert "run:tiny" in {m["id"] for m in client.get("/api/models").json()}
    assert client.post("/api/sample", json={"model": "run:tiny", "size": 32}, headers=H).status_code == 200
    assert any(j["id"] == job["id"] for j in client.get("/api/jobs").json())
    again = client.post("/api/jobs", data={"kind": "train-texture", "name": "tiny", "params": json.dumps(TINY)},
                        headers=H)
    assert again.status_code == 400 and "exists" in again.text
    assert client.delete(f"/api/jobs/{job['id']}", headers=H).json()["status"] == "removed"
    assert client.get(f"/api/jobs/{job['id']}").status_code == 404


def test_a_running_job_is_cancelled_resumable_and_survives_a_restart(client, runs):
    long = {**TINY, "steps": 100000, "checkpoint_every": 100000}
    first = client.post("/api/jobs", data={"kind": "train-texture", "name": "long", "params": json.dumps(long)},
                        headers=H).json()
    wait(client, first["id"], lambda j: j["status"] == "running")
    queued = client.post("/api/jobs", data={"kind": "train-texture", "params": json.dumps(TINY)}, headers=H).json()
    assert queued["status"] == "queued" and queued["position"] == 1
    assert client.delete(f"/api/jobs/{queued['id']}", headers=H).json()["status"] == "cancelled"
    wait(client, first["id"], lambda j: j["status"] == "running" and j["step"] >= 1)
    client.delete(f"/api/jobs/{first['id']}", headers=H)
    job = wait(client, first["id"], lambda j: j["status"] != "running", timeout=120)
    assert job["status"] == "cancelled" and job["resumable"], job
    assert (runs / "long" / "checkpoint.pt").is_file() and "interrupted" in job["message"]

    # a server restart while it ran: the persisted list shows it interrupted, resumable from the page
    state = runs / ".serve" / "jobs.json"
    data = json.loads(state.read_text())
    assert next(j for j in data["jobs"] if j["id"] == first["id"])["status"] == "cancelled"  # saved as shown
    for j in data["jobs"]:
        if j["id"] == first["id"]:
            j["status"] = "running"
    state.write_text(json.dumps(data))
    with TestClient(create_app(runs), base_url=BASE) as fresh:
        again = fresh.get(f"/api/jobs/{first['id']}").json()
        assert again["status"] == "interrupted" and again["resumable"]
        resumed = fresh.post(f"/api/jobs/{first['id']}/resume", headers=H).json()
        assert resumed["status"] in ("queued", "running") and resumed["command"].endswith("--resume --out " +
                                                                                          str(runs.resolve() / "long"))
        wait(fresh, first["id"], lambda j: any("resumed" in line for line in j["log"]))
        fresh.delete(f"/api/jobs/{first['id']}", headers=H)
        job = wait(fresh, first["id"], lambda j: j["status"] != "running", timeout=120)
        assert job["status"] == "cancelled" and job["runs"] >= 2


def test_job_parameters_are_checked_before_queueing(client):
    bad = [
        ({"kind": "rm -rf", "params": "{}"}, "kind"),
        ({"kind": "train-texture", "params": json.dumps({**TINY, "steps": -3})}, "steps"),
        ({"kind": "train-texture", "params": json.dumps({**TINY, "out": "/tmp/x"})}, "unknown parameter"),
        ({"kind": "train-texture", "params": "[1, 2]"}, "JSON object"),
        ({"kind": "train-texture", "params": json.dumps({"size": 32})}, "needs a texture"),
        ({"kind": "optimize", "params": json.dumps({"texture": "sample:brick", "content": "sample:chelsea"})}, "either"),
        ({"kind": "add-style", "params": json.dumps({"style": "sample:brick"})}, "needs a model"),
    ]
    for data, fragment in bad:
        r = client.post("/api/jobs", data=data, headers=H)
        assert r.status_code == 400 and fragment in r.text, (data, r.text)
    r = client.post("/api/jobs", data={"kind": "train-texture", "params": json.dumps({"size": 32})},
                    files={"texture": ("t.png", b"garbage", "image/png")}, headers=H)
    assert r.status_code == 400 and "not an image" in r.text
    assert client.get("/api/jobs/nope").status_code == 404


def _zip_of_photos(n=3, side=48) -> bytes:
    import io
    import zipfile

    import numpy as np
    from PIL import Image

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for i in range(n):
            a = (np.random.default_rng(i).random((side, side, 3)) * 255).astype(np.uint8)
            img = io.BytesIO()
            Image.fromarray(a).save(img, format="PNG")
            z.writestr(f"photos/p{i}.png", img.getvalue())
    return buf.getvalue()


def test_every_job_kind_runs_from_the_api(client):
    style = {"style": ["sample:starry_night", "sample:brick"], "size": 32, "steps": 2, "batch_size": 2,
             "sample_every": 1}
    trained = client.post("/api/jobs", data={"kind": "train-style", "name": "two-styles", "params": json.dumps(style)},
                          files={"content_zip": ("photos.zip", _zip_of_photos(), "application/zip")}, headers=H)
    assert trained.status_code == 201, trained.text
    assert "--content-dir" in trained.json()["command"] and "--style sample:starry_night sample:brick" in \
        trained.json()["command"]
    opt = client.post("/api/jobs", data={"kind": "optimize", "name": "opt", "params": json.dumps(
        {"texture": "sample:gravel", "size": 32, "steps": 2, "optimizer": "adam"})}, headers=H).json()
    assert opt["status"] == "queued" or opt["status"] == "running"
    done = wait(client, trained.json()["id"], lambda j: j["status"] not in ("queued", "running"))
    assert done["status"] == "done", done
    model = next(m for m in client.get("/api/models").json() if m["id"] == "run:two-styles")
    assert model["kind"] == "style" and len(model["style_names"]) == 2
    mixes = [client.post("/api/stylize", data={"model": "run:two-styles", "sample": "sample:coffee", "size": "48",
                                                "style_mix": mix}, headers=H).content for mix in ("1,0", "0,1", "0.5,0.5")]
    assert len(set(mixes)) == 3  # the mix reaches the network
    done = wait(client, opt["id"], lambda j: j["status"] not in ("queued", "running"))
    assert done["status"] == "done" and "output.png" in done["images"], done
    added = client.post("/api/jobs", data={"kind": "add-style", "name": "three-styles", "params": json.dumps(
        {"style": "sample:grass", "model": "run:two-styles", "size": 32, "steps": 2, "batch_size": 2})}, headers=H)
    assert added.status_code == 201, added.text
    done = wait(client, added.json()["id"], lambda j: j["status"] not in ("queued", "running"))
    assert done["status"] == "done", done
    model = next(m for m in client.get("/api/models").json() if m["id"] == "run:three-styles")
    assert len(model["style_names"]) == 3


def test_the_saved_job_list_is_checked_on_load(tmp_path):
    state = tmp_path / ".serve" / "jobs.json"
    state.parent.mkdir(parents=True)
    good = {"id": "a1", "kind": "train-texture", "name": "ok", "args": ["--texture", "sample:brick"],
            "status": "queued", "created": 0, "started": None, "finished": None, "returncode": None, "message": "",
            "step": 0, "total": 5, "loss": None, "points": [], "log": [], "runs": 0}
    bad = [dict(good, id="b1", name="../escape"), dict(good, id="b2", kind="rm"), "not a job"]
    state.write_text(json.dumps({"jobs": [good, *bad]}))
    with TestClient(create_app(tmp_path), base_url=BASE) as c:
        jobs = c.get("/api/jobs").json()
        assert [j["id"] for j in jobs] == ["a1"]
        job = c.get("/api/jobs/a1").json()
        assert job["status"] == "interrupted" and job["restartable"] and not job["resumable"]  # never started
        assert c.get("/api/jobs/b1").status_code == 404
