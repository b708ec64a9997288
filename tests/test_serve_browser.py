"""`texnet serve` in a real browser: Debian's Chromium driven by Playwright for Python (no browser download).

A real server (`python -m texnet serve`, a subprocess on a free port) and headless Chromium: upload a photo,
stylize it with a bundled network, check the result image is shown (decoded, with the right size) and the
forward time is reported, then screenshot the page. Skips only where Chromium (or Playwright) cannot start;
`TEXNET_SCREENSHOT=docs/images/webapp.png` also writes the screenshot the docs show.
"""
from __future__ import annotations

import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi")
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (texnet[dev]) is not installed")

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium_path():
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name) or (f"/usr/bin/{name}" if os.path.exists(f"/usr/bin/{name}") else None)
        if found:
            return found
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def server(tmp_path):
    port = free_port()
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "texnet", "serve", "--port", str(port), "--runs",
                             str(tmp_path / "runs")], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env)
    line = proc.stdout.readline()  # printed once the app is built, before uvicorn listens
    assert f"http://127.0.0.1:{port}/" in line, line
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            assert proc.poll() is None, proc.stdout.read()
            time.sleep(0.2)
    yield f"http://127.0.0.1:{port}/"
    proc.send_signal(signal.SIGINT)
    try:
        assert proc.wait(30) == 0  # Ctrl-C: a clean stop
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.fixture()
def browser():
    path = chromium_path()
    if path is None:
        pytest.skip("no chromium on this machine (apt-get install chromium)")
    with sync_api.sync_playwright() as p:
        try:
            b = p.chromium.launch(executable_path=path, args=CHROMIUM_ARGS, headless=True)
        except Exception as exc:  # a chromium that cannot start here (no sandbox support, missing libraries)
            pytest.skip(f"chromium at {path} cannot start: {str(exc).splitlines()[0][:200]}")
        yield b
        b.close()


def test_upload_stylize_and_see_the_result(server, browser, tmp_path):
    photo = tmp_path / "photo.png"
    Image.open(io.BytesIO(Path(_skimage("chelsea.png")).read_bytes())).convert("RGB").save(photo)
    page = browser.new_page(viewport={"width": 1200, "height": 760})
    outside = []
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith((server, "blob:", "data:")) else None)
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server)
    page.wait_for_function("document.querySelectorAll('#style-model option').length > 0")
    page.set_input_files("#photo", str(photo))
    page.select_option("#style-model", "starry_night")
    page.fill("#out-size", "384")
    page.click("#stylize-btn")
    result = page.locator("#stylize-result")
    result.wait_for(state="visible", timeout=60_000)
    page.wait_for_function("document.getElementById('stylize-result').complete && "
                           "document.getElementById('stylize-result').naturalWidth > 0", timeout=60_000)
    assert page.evaluate("document.getElementById('stylize-result').naturalWidth") == 384
    text = page.inner_text("#stylize-status")
    assert "forward pass" in text and "384x" in text, text
    assert page.locator("#stylize-download").is_visible()
    shot = tmp_path / "webapp.png"
    page.screenshot(path=str(shot))
    pixels = np.asarray(Image.open(shot).convert("RGB"))
    assert pixels.std() > 10  # a page with an image on it, not a blank one
    target = os.environ.get("TEXNET_SCREENSHOT")
    if target:  # the docs' screenshot: a palette PNG keeps it small
        Image.open(shot).convert("RGB").quantize(colors=256).save(target, optimize=True)
    page.click("#nav button[data-tab=textures]")
    page.click("#sample-btn")
    page.wait_for_function("document.getElementById('sample-result').naturalWidth > 0", timeout=60_000)
    assert not errors, errors
    assert not outside, outside  # nothing fetched from outside the app


def _skimage(name: str) -> str:
    from texnet.io.images import sample_image_path

    return str(sample_image_path(name.split(".")[0]))
