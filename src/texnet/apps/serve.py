"""`texnet serve`: a local web app for stylizing, sampling, optimizing and training (needs texnet[serve]).

    texnet serve                      # http://127.0.0.1:8000/, runs in ./runs
    texnet serve --runs my-runs --open

The app itself is texnet.apps.serve_api (FastAPI); renders are texnet.apps.serve_render, jobs
texnet.apps.serve_jobs. This module is the command: flags, checks that fail in one line (a missing extra, a
port in use, a non-local host without --token), then uvicorn. docs/webapp.md describes the page and the API.
"""
from __future__ import annotations

import ipaddress
import os
import socket
import sys
import threading
from dataclasses import dataclass
from typing import Optional

from texnet.config.options import option
from texnet.errors import ConfigError, TexnetError

#: Hosts that only this machine can reach: no token needed.
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


@dataclass
class ServeConfig:
    """`texnet serve`: where it listens, its runs folder, its limits."""

    host: str = option("127.0.0.1", "address to listen on; anything but localhost needs --token and is reachable "
                       "from other machines")
    port: int = option(8000, "port to listen on", low=1, high=65535)
    runs: str = option("runs", "run folder: jobs write here, finished runs here appear in the network list; no "
                       "path outside it is read or written")
    token: Optional[str] = option(None, "secret every API request must carry (X-Texnet-Token header or ?token=); "
                                  "required with a non-local --host")
    open: bool = option(False, "open the page in a web browser")
    max_pixels: Optional[int] = option(None, "refuse uploaded images (and outputs) with more pixels", low=1,
                                       default_text="80M, as the CLI")
    max_upload: int = option(100 << 20, "byte limit of one request (an image, or a zip of content photos)", low=1,
                             default_text="100 MB")
    max_memory: Optional[str] = option(None, "memory budget for one output, e.g. 2G: outputs that do not fit it in "
                                       "one piece are tiled (sets TEXNET_MAX_MEMORY)",
                                       default_text="TEXNET_MAX_MEMORY, else min(3G, half the free memory)")


def is_local(host: str) -> bool:
    if host in LOCAL_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def require_extra() -> None:
    """One line naming the extra when FastAPI, uvicorn or python-multipart is missing."""
    missing = []
    for module, package in (("fastapi", "fastapi"), ("uvicorn", "uvicorn"), ("multipart", "python-multipart")):
        try:
            __import__(module)
        except ImportError:
            missing.append(package)
    if missing:
        raise TexnetError(f"texnet serve needs {', '.join(missing)}: pip install 'texnet[serve]'")


def check_port(host: str, port: int) -> None:
    """Fail in one line before anything starts when the address cannot be bound (in use, not ours)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            reason = "in use (another server runs there?); choose another --port" if exc.errno in (98, 48, 10048) \
                else exc.strerror or str(exc)
            raise TexnetError(f"cannot listen on {host}:{port}: {reason}") from exc


def url_of(host: str, port: int, token: Optional[str] = None) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/" + (f"?token={token}" if token else "")


def serve(args) -> int:
    """The `texnet serve` command."""
    from .flags import build_config

    cfg = build_config(ServeConfig, args)
    from texnet.config.options import check_fields

    check_fields(cfg, "serve")
    require_extra()
    local = is_local(cfg.host)
    if not local and not cfg.token:
        raise ConfigError(f"--host {cfg.host} makes the app reachable from other machines: give --token SECRET "
                          "too (or keep the default --host 127.0.0.1)")
    check_port(cfg.host, cfg.port)
    import uvicorn

    from .serve_api import create_app

    if cfg.max_memory:
        from texnet.config.vocab import parse_bytes

        parse_bytes(cfg.max_memory)  # a bad value is one line now, not an error on every render
        os.environ["TEXNET_MAX_MEMORY"] = cfg.max_memory  # the budget every render reads, as the CLI's
    hosts = None if not local else ["127.0.0.1", "localhost", "::1", "[::1]"]
    app = create_app(cfg.runs, token=cfg.token, max_pixels=cfg.max_pixels, max_upload=cfg.max_upload,
                     allowed_hosts=hosts)
    url = url_of(cfg.host, cfg.port, cfg.token)
    if not local:
        print(f"texnet serve: warning: listening on {cfg.host}: anyone who can reach this machine and knows the "
              "token can use the app and start jobs", file=sys.stderr)
    print(f"texnet serve: {url} (runs folder {app.state.root}; Ctrl-C stops)", flush=True)
    if cfg.open:
        import webbrowser

        threading.Timer(1.0, lambda: webbrowser.open(url)).start()
    config = uvicorn.Config(app, host=cfg.host, port=cfg.port, log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    if not server.started:
        raise TexnetError(f"cannot listen on {cfg.host}:{cfg.port}")
    return 0
