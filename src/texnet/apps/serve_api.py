"""`texnet serve`: the FastAPI app, its JSON API and the page (texnet/apps/web/index.html).

    app = create_app(runs="runs", token=None)        # then uvicorn, or fastapi.testclient.TestClient(app)

Errors are one line of text/plain with a 4xx status (never a traceback page): 400 a bad value or an undecodable
image, 401 a missing/wrong token, 403 a path outside --runs or a state-changing request without the
`X-Texnet-Client` header (which a foreign web page cannot send without a CORS preflight this app never allows),
404 an unknown model/job/file, 413 an upload over --max-upload. The Swagger UI page (/docs) is off: it loads its
scripts from a CDN; the OpenAPI schema is at /api/openapi.json.
"""
from __future__ import annotations

import hmac
import json
import re
from importlib import resources
from pathlib import Path
from typing import Any, Dict, List, Optional

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from texnet.errors import CheckpointError, ConfigError, ImageError, TexnetError

from .serve_inputs import check_sample, sample_names
from .serve_jobs import JobManager, job_images
from .serve_render import (APP_DIR, ModelCache, NotFound, Refused, TooLarge, decode_upload, list_models, png_bytes,
                           render_sample, render_stylize, safe_path)

#: Default byte limit of one request (an image upload, or a zip of content photos for a style training).
MAX_UPLOAD = 100 << 20
CLIENT_HEADER = "x-texnet-client"
_STATUS = ((NotFound, 404), (Refused, 403), (TooLarge, 413), (ImageError, 400), (CheckpointError, 400),
           (ConfigError, 400), (TexnetError, 400))


def _text(status: int, message: str) -> PlainTextResponse:
    return PlainTextResponse(message.strip().splitlines()[0] if message.strip() else "error", status_code=status)


def _number(form, key: str, kind=float, default=None, low=None, high=None):
    raw = form.get(key)
    if raw in (None, ""):
        return default
    if isinstance(raw, UploadFile):
        raise ConfigError(f"{key}: expected a value, got a file")
    try:
        value = kind(raw)
    except (TypeError, ValueError):
        raise ConfigError(f"{key}: expected a {'whole number' if kind is int else 'number'}, got {raw!r}")
    if (low is not None and value < low) or (high is not None and value > high):
        raise ConfigError(f"{key}: must be in [{low}, {high}], got {raw}")
    return value


def _flag(form, key: str) -> bool:
    return str(form.get(key, "")).lower() in ("1", "true", "on", "yes")


def create_app(runs="runs", token: Optional[str] = None, max_pixels: Optional[int] = None,
               max_upload: int = MAX_UPLOAD, jobs: Optional[JobManager] = None,
               allowed_hosts: Optional[List[str]] = None) -> FastAPI:
    """The web app over run folder `runs` (created if missing). `token`: required on every /api request. The
    memory budget of one output is TEXNET_MAX_MEMORY (`texnet serve --max-memory` sets it), as for the CLI."""
    from contextlib import asynccontextmanager

    from texnet.io.images import DEFAULT_MAX_PIXELS

    root = Path(runs)
    root.mkdir(parents=True, exist_ok=True)
    root = root.resolve()
    max_pixels = int(max_pixels or DEFAULT_MAX_PIXELS)
    cache = ModelCache(root)
    manager = jobs if jobs is not None else JobManager(root)

    @asynccontextmanager
    async def lifespan(_app):
        yield
        await run_in_threadpool(manager.shutdown)

    app = FastAPI(title="texnet", docs_url=None, redoc_url=None, openapi_url="/api/openapi.json", lifespan=lifespan)
    app.state.cache, app.state.jobs, app.state.root = cache, manager, root
    if allowed_hosts:
        from starlette.middleware.trustedhost import TrustedHostMiddleware

        app.add_middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts)

    @app.middleware("http")
    async def guard(request: Request, call_next):
        path = request.url.path
        if path.startswith("/api/"):
            if token:
                given = (request.headers.get("x-texnet-token") or request.query_params.get("token")
                         or request.headers.get("authorization", "").removeprefix("Bearer ").strip())
                if not hmac.compare_digest(str(given or ""), token):
                    return _text(401, "this server needs its token: the X-Texnet-Token header or ?token=")
            if request.method not in ("GET", "HEAD", "OPTIONS") and not request.headers.get(CLIENT_HEADER):
                return _text(403, f"state-changing requests need the {CLIENT_HEADER} header (any value)")
            length = request.headers.get("content-length")
            if length and length.isdigit() and int(length) > max_upload:
                return _text(413, f"request of {int(length):,} bytes is more than the upload limit of "
                                  f"{max_upload:,} bytes (texnet serve --max-upload)")
        try:
            return await call_next(request)
        except Exception as exc:  # never a traceback page
            return _error(exc)

    def _error(exc: Exception) -> PlainTextResponse:
        for kind, status in _STATUS:
            if isinstance(exc, kind):
                return _text(status, str(exc))
        if isinstance(exc, MemoryError) or "out of memory" in str(exc).lower():
            return _text(507, "out of memory; choose a smaller size")
        return _text(500, f"internal error: {type(exc).__name__}: {exc}")

    from starlette.exceptions import HTTPException

    app.add_exception_handler(TexnetError, lambda request, exc: _error(exc))
    app.add_exception_handler(HTTPException, lambda request, exc: _text(exc.status_code, str(exc.detail)))
    app.add_exception_handler(RequestValidationError, lambda request, exc: _text(400, f"bad request: {exc.errors()[0].get('msg', exc)}"))

    async def _form(request: Request):
        try:
            return await request.form(max_files=32, max_fields=200)
        except Exception as exc:
            raise ConfigError(f"could not read the form data ({exc})") from exc

    async def _read_upload(upload: UploadFile) -> bytes:
        data = await upload.read(max_upload + 1)
        if len(data) > max_upload:
            raise TooLarge(f"{upload.filename}: more than the upload limit of {max_upload:,} bytes")
        return data

    # ------------------------------------------------------------------ the page and small lookups

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index():
        return HTMLResponse(resources.files("texnet.apps").joinpath("web/index.html").read_text(encoding="utf-8"))

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon():
        return Response(status_code=204)

    @app.get("/api/info")
    def info():
        """Version, limits, bundled sample images and the runs folder."""
        from texnet import __version__

        return {"version": __version__, "runs": str(root), "max_pixels": max_pixels, "max_upload": max_upload,
                "samples": sample_names(), "token_required": bool(token)}

    @app.get("/api/models")
    def models():
        """Every network: bundled ones and finished runs under --runs (id, kind, architecture, sizes, styles)."""
        return list_models(root)

    @app.get("/api/gallery")
    def gallery():
        """The bundled networks' cards and measured quality (the content of `texnet models --out`)."""
        from texnet.io import bundled

        from .models import QUALITY_HEADER, quality_row

        cards = []
        for name in bundled.names():
            c = bundled.card(name)
            cards.append({"name": name, "kind": c["kind"], "architecture": c["architecture"], "title": c["title"],
                          "exemplar": c.get("exemplar", {}), "training": c.get("training", {}),
                          "declared": c.get("declared", {}), "quality": quality_row(c),
                          "has_exemplar": bundled.exemplar_thumbnail(name) is not None})
        return {"header": QUALITY_HEADER, "cards": cards}

    @app.get("/api/models/{name}/exemplar")
    def exemplar(name: str):
        from texnet.io import bundled

        if name not in bundled.names() or bundled.exemplar_thumbnail(name) is None:
            raise NotFound(f"{name}: no shipped exemplar thumbnail")
        return FileResponse(bundled.exemplar_thumbnail(name))

    @app.get("/api/samples/{name}")
    def sample_image(name: str):
        from texnet.io.images import resolve_path

        return FileResponse(resolve_path(check_sample(f"sample:{name}")))

    @app.get("/api/folders")
    def folders():
        """Folders under --runs that are not runs (candidates for a style training's content photos)."""
        runs_found = {p.relative_to(root).as_posix() for p in _run_dirs()}
        out = []
        for p in sorted(root.rglob("*")):
            rel = p.relative_to(root)
            if p.is_dir() and not p.is_symlink() and len(rel.parts) <= 2 and not any(s.startswith(".") for s in rel.parts) \
                    and rel.as_posix() not in runs_found and not any(rel.as_posix().startswith(r + "/") for r in runs_found):
                out.append(rel.as_posix())
        return out

    def _run_dirs():
        from .serve_render import run_folders

        return [p for p in run_folders(root)]

    # ------------------------------------------------------------------ renders

    @app.post("/api/stylize")
    async def stylize(request: Request):
        """multipart: `image` (file) or `sample` (sample:NAME), `model`; optional `size`, `strength`,
        `preserve_color`, `style_scale`, `style_mix` (w,w,...), `seed`. Returns image/png; the forward pass's
        seconds in X-Texnet-Forward-Seconds."""
        form = await _form(request)
        upload = form.get("image")
        if isinstance(upload, UploadFile):
            name = upload.filename or "image"
            data = await _read_upload(upload)
            x = await run_in_threadpool(decode_upload, data, name, max_upload, max_pixels)
        elif form.get("sample"):
            from texnet.io.images import load_image

            text = str(form.get("sample"))
            name = check_sample(text if text.startswith("sample:") else f"sample:{text}")
            x = await run_in_threadpool(load_image, name)
        else:
            raise ConfigError("give an image file (field 'image') or a bundled sample (field 'sample')")
        opts = dict(size=_number(form, "size", int, None, 16, 16384), strength=_number(form, "strength", float, 1.0, 0, 1),
                    style_scale=_number(form, "style_scale", float, 1.0, 0.1, 8), seed=_number(form, "seed", int, 0, 0, 2**31 - 1),
                    preserve_color=_flag(form, "preserve_color"))
        model = str(form.get("model") or "")
        mix = str(form.get("style_mix") or "")

        def work():
            from texnet.render.inference import style_selector

            g, lock = cache.get(model)
            with lock:
                style = style_selector(g, None, mix) if mix and getattr(g, "styles", 1) > 1 else None
                y, meta = render_stylize(g, x, style=style, max_pixels=max_pixels,
                                        spool=root / APP_DIR / "tmp", **opts)
            return png_bytes(y), meta

        body, meta = await run_in_threadpool(work)
        stem = Path(name.replace("sample:", "")).stem or "image"
        return Response(body, media_type="image/png", headers=_meta_headers(meta, f"{stem}_stylized.png"))

    @app.post("/api/sample")
    async def sample(request: Request):
        """form or JSON: `model`, optional `seed`, `size` (N or WxH), `tile_preview` (2x2). Returns image/png."""
        from texnet.io.images import parse_size

        if request.headers.get("content-type", "").startswith("application/json"):
            try:
                form = json.loads(await request.body() or b"{}")
            except ValueError as exc:
                raise ConfigError(f"request body is not JSON ({exc})") from exc
            if not isinstance(form, dict):
                raise ConfigError("request body must be a JSON object")
        else:
            form = await _form(request)
        raw_size = form.get("size")
        size = None if raw_size in (None, "") else parse_size(str(raw_size))
        seed = _number(form, "seed", int, 0, 0, 2**31 - 1)
        preview = _flag(form, "tile_preview") or form.get("tile_preview") is True
        model = str(form.get("model") or "")

        def work():
            g, lock = cache.get(model)
            with lock:
                y, meta = render_sample(g, seed=seed, size=size, tile_preview=preview, max_pixels=max_pixels)
            return png_bytes(y), meta

        body, meta = await run_in_threadpool(work)
        return Response(body, media_type="image/png", headers=_meta_headers(meta, f"{model.replace('run:', '').replace('/', '_')}_{seed}.png"))

    # ------------------------------------------------------------------ jobs

    @app.get("/api/jobs")
    def jobs_list():
        return manager.list()

    @app.post("/api/jobs")
    async def jobs_submit(request: Request):
        """multipart: `kind` (optimize, train-texture, train-style, add-style), `params` (JSON object of options,
        sample:NAME images, `content_dir`, `model`), optional `name`; files `texture`, `content`, `style`
        (several for train-style), `content_zip`. Returns the queued job."""
        form = await _form(request)
        try:
            params = json.loads(str(form.get("params") or "{}"))
        except ValueError as exc:
            raise ConfigError(f"params: not a JSON object ({exc})") from exc
        if not isinstance(params, dict):
            raise ConfigError("params: must be a JSON object")
        uploads: Dict[str, List[Any]] = {}
        for key, value in form.multi_items():
            if isinstance(value, UploadFile) and value.filename:
                uploads.setdefault(key, []).append((value.filename, await _read_upload(value)))
        job = await run_in_threadpool(manager.submit, str(form.get("kind") or ""), params, uploads,
                                      str(form.get("name") or "") or None, max_pixels)
        return JSONResponse(job, status_code=201)

    @app.get("/api/jobs/{job_id}")
    def jobs_get(job_id: str):
        return manager.public(job_id)

    @app.delete("/api/jobs/{job_id}")
    def jobs_cancel(job_id: str):
        """Cancel a queued or running job (a training keeps a resumable checkpoint); remove a finished one."""
        return manager.cancel(job_id)

    @app.post("/api/jobs/{job_id}/resume")
    def jobs_resume(job_id: str):
        return manager.resume(job_id)

    @app.get("/api/jobs/{job_id}/files/{name:path}")
    def jobs_file(job_id: str, name: str):
        folder = manager.folder(job_id)
        if name not in job_images(folder):
            raise NotFound(f"{name}: not an image of this job")
        path = safe_path(root, f"{folder.relative_to(root).as_posix()}/{name}")
        return FileResponse(path, headers={"Cache-Control": "no-store"})

    return app


def _meta_headers(meta: Dict[str, Any], filename: str) -> Dict[str, str]:
    filename = re.sub(r"[^A-Za-z0-9_.-]", "_", filename)
    headers = {"X-Texnet-Forward-Seconds": f"{meta['seconds']:.4f}", "X-Texnet-Tiled": str(meta["tiled"]).lower(),
               "X-Texnet-Size": "x".join(str(v) for v in reversed(meta["size"])),
               "Content-Disposition": f'inline; filename="{filename}"', "Cache-Control": "no-store"}
    if meta.get("notes"):
        headers["X-Texnet-Notes"] = " | ".join(meta["notes"]).encode("ascii", "replace").decode()
    if "seam_score" in meta:
        headers["X-Texnet-Seam-Score"] = f"{meta['seam_score']:.4f}"
    return headers
