"""`texnet serve`: a 512-px stylization request against the same forward through the Python API, one process.

    python benchmarks/bench_serve.py [--repeats 10] [--model starry_night] [--json out.json]

Four timings, interleaved (common.interleaved: median of the repeats):
  api      texnet.render.pipeline.stylize(g, photo, size=512) on a loaded network and a decoded photo: the
           forward the app reports in X-Texnet-Forward-Seconds;
  cli      the same call as `texnet stylize` makes it and times it (its "s per image"): the photo's path in,
           the result written to a PNG file;
  asgi     POST /api/stylize through FastAPI's TestClient (in-process ASGI: multipart parsing, PNG decode,
           the render, PNG encode), no socket;
  http     the same request over a real socket to uvicorn (texnet serve's server, in a thread of this process).
The goal (issue 37): a request <= the CLI's forward time + 100 ms. The photo is scikit-image's astronaut (512x512 PNG,
uploaded as its file bytes), the network loaded once (the app keeps it loaded; the first request is a warmup).
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import threading
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import interleaved, machine_info  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--model", default="starry_night")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args(argv)

    import tempfile

    try:
        import httpx2 as httpx
    except ImportError:
        import httpx
    import uvicorn
    from fastapi.testclient import TestClient

    import texnet
    from texnet.io.images import sample_image_path
    from texnet.render.pipeline import stylize
    from texnet.apps.serve_api import create_app

    photo_path = sample_image_path("astronaut")
    data = photo_path.read_bytes()
    g = texnet.load(args.model)
    x = texnet.load_image(str(photo_path))
    runs = tempfile.mkdtemp(prefix="bench-serve-")
    app = create_app(runs)
    form = {"model": args.model, "size": str(args.size)}
    headers = {"X-Texnet-Client": "bench"}
    forward = []
    overhead: dict = {}  # per request: its wall time minus the forward it reports (robust to drifting load)

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120)

    with TestClient(app, base_url="http://127.0.0.1") as asgi:
        def post(client):
            t0 = time.perf_counter()
            r = client.post("/api/stylize", files={"image": ("astronaut.png", data, "image/png")}, data=form,
                            headers=headers)
            assert r.status_code == 200, r.text
            forward.append(float(r.headers["x-texnet-forward-seconds"]))
            overhead.setdefault(client is http, []).append(time.perf_counter() - t0 - forward[-1])
            return r.content

        out_png = Path(runs) / "cli_stylized.png"
        variants = {
            "api": lambda: stylize(g, x, size=args.size),
            "cli": lambda: stylize(g, str(photo_path), size=args.size, out=out_png),
            "asgi": lambda: post(asgi),
            "http": lambda: post(http),
        }
        res = interleaved(variants, repeats=args.repeats, warmup=2)
    server.should_exit = True
    thread.join(10)

    api = res["api"]["median_s"]
    print(f"{args.model}, {args.size}x{args.size} px, {args.repeats} interleaved repeats (median), "
          f"{torch_threads()} torch threads, load {os.getloadavg()[0]:.2f}")
    print(f"  Python API forward (texnet.render.pipeline.stylize): {api * 1e3:7.1f} ms")
    cli = res["cli"]["median_s"]
    print(f"  as texnet stylize times it (file in, PNG out):       {cli * 1e3:7.1f} ms")
    for name, text in (("asgi", "request, in-process ASGI (TestClient)"), ("http", "request over HTTP (uvicorn)")):
        t = res[name]["median_s"]
        print(f"  {text:<44} {t * 1e3:7.1f} ms  ({(t - api) * 1e3:+.1f} ms vs api, {(t - cli) * 1e3:+.1f} ms vs cli; "
              "goal <= cli + 100 ms)")
    fwd = sorted(forward)[len(forward) // 2]
    print(f"  forward inside the requests (X-Texnet-Forward-Seconds, median): {fwd * 1e3:.1f} ms")
    per = {("http" if k else "asgi"): sorted(v)[len(v) // 2] for k, v in overhead.items()}
    print("  per request, wall minus its own forward (median): " +
          ", ".join(f"{k} +{v * 1e3:.1f} ms" for k, v in sorted(per.items())))
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": machine_info(), "model": args.model, "size": args.size,
                                               "results": res, "forward_in_request_s": fwd,
                                               "overhead_s": per}, indent=2))
    return 0


def torch_threads() -> int:
    import torch

    return torch.get_num_threads()


if __name__ == "__main__":
    sys.exit(main())
