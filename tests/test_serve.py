"""`texnet serve`: the JSON API through FastAPI's TestClient, the jobs worker (real `python -m texnet` subprocesses,
tiny sizes), the safety rules (uploads, traversal, token, client header) and the command's one-line errors."""
from __future__ import annotations

import io
import json
import shutil
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi")
pytest.importorskip("multipart")
from fastapi.testclient import TestClient  # noqa: E402

from texnet.apps.serve_api import create_app  # noqa: E402
from texnet.apps.serve_render import Refused, safe_path  # noqa: E402

H = {"X-Texnet-Client": "test"}
BASE = "http://127.0.0.1"


def png(w=96, h=64, seed=0) -> bytes:
    rng = np.random.default_rng(seed)
    a = (rng.random((h, w, 3)) * 255).astype(np.uint8)
    a[:, : w // 2, 0] = 255  # some structure: a red half
    buf = io.BytesIO()
    Image.fromarray(a, "RGB").save(buf, format="PNG")
    return buf.getvalue()


def decoded(content: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(content)).convert("RGB"))


def make_run(root: Path, name: str, bundled: str = "brick", arch: str = "TextureNetV1") -> Path:
    """A finished run folder: a bundled network's checkpoint as model.pt plus the config.json a training writes."""
    from texnet.io import bundled as b

    folder = root / name
    folder.mkdir(parents=True)
    shutil.copyfile(b.models_dir() / f"{bundled}.pt", folder / "model.pt")
    (folder / "config.json").write_text(json.dumps({"command": "train", "architecture": arch}))
    return folder


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    make_run(root, "mybrick")
    make_run(root, "group/mystyle", "starry_night", "StyleNet")
    return root


@pytest.fixture(scope="module")
def client(runs):
    with TestClient(create_app(runs), base_url=BASE) as c:
        yield c


# --------------------------------------------------------------------------- page, lookups


def test_page_is_one_self_contained_file(client):
    r = client.get("/")
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]
    html = r.text
    assert 'id="stylize-btn"' in html and 'id="stylize-result"' in html
    for outside in ("http://", "https://", "//cdn", "@import", "<link", "src=\"http"):
        assert outside not in html, outside  # nothing fetched from outside: works offline


def test_docs_page_is_off_and_schema_is_local(client):
    assert client.get("/docs").status_code == 404  # Swagger UI would load from a CDN
    schema = client.get("/api/openapi.json").json()
    assert "/api/stylize" in schema["paths"] and "/api/jobs/{job_id}" in schema["paths"]


def test_models_lists_bundled_networks_and_finished_runs(client):
    rows = {m["id"]: m for m in client.get("/api/models").json()}
    assert rows["starry_night"]["kind"] == "style" and rows["starry_night"]["output_size"] == 512
    assert rows["brick"]["kind"] == "texture" and rows["brick"]["any_size"]
    assert rows["run:mybrick"]["source"] == "run" and rows["run:mybrick"]["kind"] == "texture"
    assert rows["run:group/mystyle"]["kind"] == "style"
    assert not any(i.startswith("run:.serve") for i in rows)


def test_gallery_has_every_bundled_card_and_its_quality_row(client):
    from texnet.apps.models import QUALITY_HEADER
    from texnet.io import bundled

    g = client.get("/api/gallery").json()
    assert g["header"] == QUALITY_HEADER
    assert [c["name"] for c in g["cards"]] == bundled.names()
    assert all(len(c["quality"]) == len(QUALITY_HEADER) for c in g["cards"])
    shipped = next(c for c in g["cards"] if c["has_exemplar"])
    r = client.get(f"/api/models/{shipped['name']}/exemplar")
    assert r.status_code == 200 and r.headers["content-type"].startswith("image/")
    assert client.get("/api/models/bark/exemplar").status_code == 404  # not shipped (licence)
    info = client.get("/api/info").json()
    assert "chelsea" in info["samples"] and info["max_pixels"] > 0
    assert client.get("/api/samples/chelsea").status_code == 200
    assert client.get("/api/samples/..%2f..%2fetc%2fpasswd").status_code in (400, 404)


# --------------------------------------------------------------------------- stylize / sample


def test_stylize_upload_returns_the_same_pixels_as_the_python_api(client):
    import texnet
    from texnet.render.inference import stylize_image

    r = client.post("/api/stylize", files={"image": ("photo.png", png(), "image/png")},
                    data={"model": "starry_night", "size": "128"}, headers=H)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/png" and float(r.headers["x-texnet-forward-seconds"]) > 0
    assert 'filename="photo_stylized.png"' in r.headers["content-disposition"]
    got = decoded(r.content)
    assert got.shape == (85, 128, 3)
    x = texnet.load_image(Image.open(io.BytesIO(png())), size=128)
    want = stylize_image(texnet.load("starry_night"), x, 0)[0]
    want = (want.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
    assert np.abs(got.astype(int) - want.astype(int)).max() <= 1


def test_stylize_options_reach_the_render(client):
    base = dict(model="starry_night", sample="sample:chelsea", size="96")
    full = decoded(client.post("/api/stylize", data=base, headers=H).content).astype(float)
    none = decoded(client.post("/api/stylize", data={**base, "strength": "0"}, headers=H).content).astype(float)
    import texnet

    photo = (texnet.load_image("sample:chelsea", size=96)[0].permute(1, 2, 0).numpy() * 255)
    assert np.abs(none - photo).mean() < 1.0 < np.abs(full - photo).mean()  # strength 0 = the photo
    kept = decoded(client.post("/api/stylize", data={**base, "preserve_color": "1"}, headers=H).content).astype(float)
    assert np.abs(kept - full).mean() > 1.0
    scaled = client.post("/api/stylize", data={**base, "style_scale": "2"}, headers=H)
    assert scaled.status_code == 200 and decoded(scaled.content).shape == full.shape
    assert np.abs(decoded(scaled.content).astype(float) - full).mean() > 1.0
    bad = client.post("/api/stylize", data={**base, "strength": "1.5"}, headers=H)
    assert bad.status_code == 400 and "strength" in bad.text


def test_stylize_a_run_folder_network(client):
    r = client.post("/api/stylize", data={"model": "run:group/mystyle", "sample": "sample:coffee", "size": "64"},
                    headers=H)
    assert r.status_code == 200 and max(decoded(r.content).shape[:2]) == 64


def test_sample_seed_size_and_tile_preview(client):
    a = client.post("/api/sample", json={"model": "brick", "seed": 1, "size": 96}, headers=H)
    b = client.post("/api/sample", json={"model": "brick", "seed": 1, "size": 96}, headers=H)
    c = client.post("/api/sample", data={"model": "brick", "seed": "2", "size": "96"}, headers=H)  # a form works too
    assert a.status_code == b.status_code == c.status_code == 200
    assert decoded(a.content).shape == (96, 96, 3) and a.content == b.content and a.content != c.content
    p = client.post("/api/sample", json={"model": "brick", "seed": 1, "size": "80x48", "tile_preview": True}, headers=H)
    tiled = decoded(p.content)
    assert tiled.shape == (96, 160, 3) and float(p.headers["x-texnet-seam-score"]) > 0
    assert np.array_equal(tiled[:48, :80], tiled[48:, 80:])
    v2 = client.post("/api/sample", json={"model": "bark", "size": 100}, headers=H)
    assert v2.status_code == 400 and "TextureNetV2" in v2.text
    wrong = client.post("/api/sample", json={"model": "starry_night"}, headers=H)
    assert wrong.status_code == 400 and "StyleNet" in wrong.text
    assert client.post("/api/sample", json={"model": "run:mybrick", "size": 64}, headers=H).status_code == 200


def test_large_stylizations_take_the_tiled_path(runs, monkeypatch):
    monkeypatch.setenv("TEXNET_MAX_MEMORY", "16M")  # what texnet serve --max-memory 16M sets
    with TestClient(create_app(runs), base_url=BASE) as c:
        s = c.post("/api/stylize", data={"model": "starry_night", "sample": "sample:chelsea", "size": "384"}, headers=H)
        assert s.status_code == 200, s.text
        assert s.headers["x-texnet-tiled"] == "true" and decoded(s.content).shape == (255, 384, 3)
        small = c.post("/api/stylize", data={"model": "starry_night", "sample": "sample:chelsea", "size": "64"},
                       headers=H)
        assert small.headers["x-texnet-tiled"] == "false"


def test_results_too_large_for_a_tensor_go_through_a_unique_temp_png(runs, monkeypatch):
    import texnet.render.plan as plan

    # the app's own test: a result the budget cannot hold as a tensor (plan.tensor_fits, the pipeline's rule, as
    # the app reads it) is written by the pipeline to a temp PNG (at this size the pipeline itself, with its
    # default budget, still renders it in one piece)
    monkeypatch.setattr(plan, "tensor_fits", lambda h, w, max_memory=None: False)
    with TestClient(create_app(runs), base_url=BASE) as c:
        r = c.post("/api/stylize", data={"model": "starry_night", "sample": "sample:chelsea", "size": "160"},
                   headers=H)
        assert r.status_code == 200, r.text
        assert decoded(r.content).shape == (106, 160, 3)
    spool = runs / ".serve" / "tmp"
    assert spool.is_dir() and not list(spool.iterdir())  # used, and nothing left behind


@pytest.mark.slow
def test_large_textures_take_the_tiled_path(runs, monkeypatch):
    monkeypatch.setenv("TEXNET_MAX_MEMORY", "250M")
    with TestClient(create_app(runs), base_url=BASE) as c:
        r = c.post("/api/sample", json={"model": "brick", "size": 640, "seed": 3}, headers=H)
        assert r.status_code == 200 and r.headers["x-texnet-tiled"] == "true"
        assert decoded(r.content).shape == (640, 640, 3)


def test_concurrent_requests_each_get_their_own_output(client):
    jobs = [("starry_night", 64), ("scream", 80), ("starry_night", 96), ("great_wave", 72), ("scream", 64)]
    want = {}
    for model, size in jobs:
        want[(model, size)] = client.post("/api/stylize", data={"model": model, "sample": "sample:astronaut",
                                                                 "size": str(size)}, headers=H).content
    got = {}

    def go(model, size):
        got[(model, size)] = client.post("/api/stylize", data={"model": model, "sample": "sample:astronaut",
                                                                "size": str(size)}, headers=H).content

    threads = [threading.Thread(target=go, args=job) for job in jobs * 2]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got == want


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("data,fragment", [
    (b"this is not an image", "not an image"),
    (png()[:200], "truncated"),
    (b"", "empty"),
])
def test_undecodable_uploads_get_a_400_with_text(client, data, fragment):
    r = client.post("/api/stylize", files={"image": ("bad.png", data, "image/png")}, data={"model": "starry_night"},
                    headers=H)
    assert r.status_code == 400 and fragment in r.text.lower()
    assert r.headers["content-type"].startswith("text/plain") and "Traceback" not in r.text


def test_upload_limits_in_bytes_and_pixels(runs):
    with TestClient(create_app(runs, max_upload=20_000, max_pixels=5000), base_url=BASE) as c:
        big = c.post("/api/stylize", files={"image": ("big.png", png(200, 200), "image/png")},
                     data={"model": "starry_night"}, headers=H)
        assert big.status_code == 413 and "upload limit" in big.text
        many = c.post("/api/stylize", files={"image": ("wide.png", png(100, 60), "image/png")},
                      data={"model": "starry_night"}, headers=H)
        assert many.status_code == 400 and "exceeds the limit" in many.text
        out = c.post("/api/stylize", files={"image": ("ok.png", png(40, 40), "image/png")},
                     data={"model": "starry_night", "size": "512"}, headers=H)
        assert out.status_code == 400 and "limit" in out.text  # the output is capped too


def test_unknown_models_and_missing_fields(client):
    r = client.post("/api/stylize", data={"model": "starry_nite", "sample": "sample:chelsea"}, headers=H)
    assert r.status_code == 404 and "starry_night" in r.text  # did you mean
    assert client.post("/api/stylize", data={"model": "starry_night"}, headers=H).status_code == 400
    assert client.post("/api/stylize", data={"model": "starry_night", "sample": "sample:nope"}, headers=H).status_code == 400
    assert client.post("/api/sample", json={"model": "brick", "seed": "x"}, headers=H).status_code == 400
    assert client.post("/api/sample", content=b"{not json", headers={**H, "content-type": "application/json"}).status_code == 400


# --------------------------------------------------------------------------- paths stay inside --runs


@pytest.mark.parametrize("rel", ["..", "../x", "a/../../x", "/etc", "/etc/passwd", "~/x", "a\\..\\b", "", "C:/x"])
def test_safe_path_refuses_leaving_the_runs_folder(tmp_path, rel):
    with pytest.raises(Refused):
        safe_path(tmp_path, rel)


def test_traversal_attempts_are_refused(client, runs, tmp_path):
    outside = tmp_path / "outside"
    make_run(tmp_path, "outside")
    (runs / "escape").symlink_to(outside, target_is_directory=True)
    try:
        for model in ("run:../outside", f"run:{outside}", "run:escape", "run:..", "run:mybrick/../../outside"):
            r = client.post("/api/sample", json={"model": model, "size": 32}, headers=H)
            assert r.status_code in (403, 404), (model, r.status_code, r.text)
        assert "run:escape" not in {m["id"] for m in client.get("/api/models").json()}
        for name in ("../evil", "/tmp/evil", "a/b", ".hidden"):
            r = client.post("/api/jobs", data={"kind": "train-texture", "name": name,
                                               "params": json.dumps({"texture": "sample:brick"})}, headers=H)
            assert r.status_code in (400, 403), (name, r.text)
        for params in ({"texture": "/etc/passwd"}, {"texture": "../mybrick/model.pt"}):
            r = client.post("/api/jobs", data={"kind": "train-texture", "params": json.dumps(params)}, headers=H)
            assert r.status_code == 400 and "sample:NAME" in r.text
        r = client.post("/api/jobs", data={"kind": "train-style", "params": json.dumps(
            {"style": "sample:starry_night", "content_dir": "../"})}, headers=H)
        assert r.status_code == 403
        r = client.post("/api/jobs", data={"kind": "add-style", "params": json.dumps(
            {"style": "sample:starry_night", "model": "run:escape"})}, headers=H)
        assert r.status_code in (403, 404)
        assert not (tmp_path / "evil").exists() and not Path("/tmp/evil").exists()
    finally:
        (runs / "escape").unlink()


def test_bad_zip_of_content_photos_is_refused(client):
    r = client.post("/api/jobs", data={"kind": "train-style", "params": json.dumps({"style": "sample:starry_night"})},
                    files={"content_zip": ("photos.zip", b"not a zip", "application/zip")}, headers=H)
    assert r.status_code == 400 and "zip" in r.text


def test_zip_members_cannot_escape(tmp_path):
    import zipfile

    from texnet.apps.serve_inputs import unzip_photos

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("../../evil.png", png(8, 8))
        z.writestr("/abs/also.jpg", png(8, 8))
        z.writestr("notes.txt", "x")
    folder = unzip_photos(buf.getvalue(), tmp_path / "content")
    assert sorted(p.name for p in folder.iterdir()) == ["00000_evil.png", "00001_also.jpg"]
    assert not (tmp_path / "evil.png").exists()


# --------------------------------------------------------------------------- token and client header


def test_token_is_checked_on_every_api_request(runs):
    with TestClient(create_app(runs, token="s3cret"), base_url=BASE) as c:
        assert c.get("/").status_code == 200  # the page itself; it reads ?token= and sends it
        assert c.get("/api/models").status_code == 401
        assert c.get("/api/models", headers={"X-Texnet-Token": "wrong"}).status_code == 401
        assert c.get("/api/models", headers={"X-Texnet-Token": "s3cret"}).status_code == 200
        assert c.get("/api/models?token=s3cret").status_code == 200
        assert c.get("/api/jobs", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        r = c.post("/api/sample", json={"model": "brick", "size": 32}, headers=H)
        assert r.status_code == 401
        r = c.post("/api/sample", json={"model": "brick", "size": 32}, headers={**H, "X-Texnet-Token": "s3cret"})
        assert r.status_code == 200


def test_state_changing_requests_need_the_client_header(client):
    r = client.post("/api/sample", json={"model": "brick", "size": 32})
    assert r.status_code == 403 and "x-texnet-client" in r.text


def test_host_header_is_checked_on_a_local_server(runs):
    with TestClient(create_app(runs, allowed_hosts=["127.0.0.1", "localhost"]), base_url="http://evil.example") as c:
        assert c.get("/api/models").status_code == 400  # DNS rebinding: a foreign name pointed at 127.0.0.1


# --------------------------------------------------------------------------- the command


def test_serve_command_errors_are_one_line(capsys, monkeypatch, tmp_path):
    import sys

    from texnet.apps.cli import main

    assert main(["serve", "--host", "0.0.0.0", "--runs", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--token" in err[0]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert main(["serve", "--port", str(port), "--runs", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "in use" in err[0]
    monkeypatch.setitem(sys.modules, "uvicorn", None)
    assert main(["serve", "--runs", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "texnet[serve]" in err[0]


def test_a_non_local_host_warns_and_needs_its_token(tmp_path):
    import os
    import signal
    import subprocess
    import sys

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "texnet", "serve", "--host", "0.0.0.0", "--port", str(port),
                             "--token", "t0ken", "--runs", str(tmp_path)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    try:
        line = proc.stdout.readline()
        assert f":{port}/?token=t0ken" in line, line  # the address to open, token included
        assert "warning" in proc.stderr.readline()
        try:
            import httpx2 as httpx  # what starlette's TestClient uses (texnet[dev])
        except ImportError:
            import httpx

        for _ in range(100):
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/api/models", timeout=5)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        assert r.status_code == 401
        ok = httpx.get(f"http://127.0.0.1:{port}/api/models", headers={"X-Texnet-Token": "t0ken"}, timeout=30)
        assert ok.status_code == 200
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(30)
