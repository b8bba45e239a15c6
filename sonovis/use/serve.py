"""``sonovis serve``: example-based translation as a web page and a JSON API (FastAPI on uvicorn).

One process holds the model and the gallery (embedded once, through translate's cache) in memory.
A query is decoded by the same ``decode_audio`` as a recording, or spoken by ``synthesize``, then
embedded by ``embed_utterance``: the page, the API and ``sonovis translate`` cannot drift apart.
FastAPI + uvicorn alone rather than Ray Serve: on a 2-core office PC it is one process that starts
in seconds and binds exactly the host given; Ray Serve adds a controller, a proxy and replica
processes, and HTTP ports of its own, for scaling this model does not need.

Secure by default: 127.0.0.1 unless told otherwise, and any other host only with a token, sent as
``Authorization: Bearer`` or as the cookie that visiting ``/?token=...`` sets.
"""

from __future__ import annotations

import base64
import hmac
import importlib.resources
import io
import ipaddress
import socket
import time
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import anyio
import numpy as np
import torch
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response

from sonovis.config import FeatureConfig, from_dict
from sonovis.data.audio import Waveform, decode_audio
from sonovis.data.shards import Prepared, read_manifest
from sonovis.errors import ConfigError, InputError, SonovisError
from sonovis.train.checkpoint import load_checkpoint
from sonovis.train.trainer import Trainer
from sonovis.use.translate import Gallery, Match, embed_utterance, load_gallery, model_file, nearest, synthesize

MAX_BODY_BYTES = 10 * 1024 * 1024  # a 20 s recording is ~0.7 MB as WAV, ~40 kB as Opus
DRAIN_BYTES = 4 * MAX_BODY_BYTES  # read and dropped before a 413, so the client is reading when we close
DRAIN_SECONDS = 5.0
MAX_SECONDS = 20.0
MAX_TEXT_CHARS = 300
MAX_K = 50
COOKIE = "sonovis_token"
TOKEN_ENV = "SONOVIS_SERVE_TOKEN"
SEARCH_BODY = {  # the OpenAPI description of the one body FastAPI cannot infer: JSON or a file
    "required": True,
    "content": {
        "application/json": {"schema": {"type": "object", "required": ["say"], "properties": {
            "say": {"type": "string", "maxLength": MAX_TEXT_CHARS}, "k": {"type": "integer", "default": 5}}}},
        "multipart/form-data": {"schema": {"type": "object", "required": ["audio"], "properties": {
            "audio": {"type": "string", "format": "binary"}, "k": {"type": "integer", "default": 5}}}},
    },
}


@dataclass
class Translator:
    """The model, its gallery and the prepared data's settings, loaded once for every request."""

    trainer: Trainer
    gallery: Gallery
    features: FeatureConfig
    manifest: dict
    tts: str
    paths: dict[str, str]  # image id -> its file: the only files /images serves

    @classmethod
    def load(cls, checkpoint: str | Path, data_path: str | Path, split: str = "dev", tts: str = "espeak") -> Translator:
        model_path = model_file(checkpoint)
        manifest = read_manifest(data_path)
        trainer = load_checkpoint(model_path, Prepared(root=str(Path(data_path).resolve()), manifest=manifest))
        gallery = load_gallery(model_path, data_path, split, trainer)
        features = from_dict(FeatureConfig, manifest["config"]["features"], where="manifest features")
        return cls(trainer, gallery, features, manifest, tts,
                   dict(zip(map(str, gallery.image_ids), map(str, gallery.image_paths))))

    def search(self, wave_: Waveform, name: str, k: int) -> list[Match]:
        return nearest(self.gallery, embed_utterance(self.trainer, wave_, self.features, name), k)

    def say(self, text: str) -> Waveform:
        return synthesize(text, self.tts, self.manifest)


def wav_bytes(wave_: Waveform) -> bytes:
    """16-bit mono WAV: what the page plays back, and the start-up's warm-up query."""
    pcm = np.clip(np.round(wave_.samples * 32768.0), -32768, 32767).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(wave_.sample_rate)
        out.writeframes(pcm.tobytes())
    return buffer.getvalue()


def wav_data_uri(wave_: Waveform) -> str:
    """A data: URI, so the page plays the synthesised query without a second request."""
    return "data:audio/wav;base64," + base64.b64encode(wav_bytes(wave_)).decode()


def _decode_upload(data: bytes, name: str) -> Waveform:
    if not data:
        raise InputError(f"{name}: empty file, no audio")
    return decode_audio(io.BytesIO(data), name, max_seconds=MAX_SECONDS)


def _check_text(text: object) -> str:
    if not isinstance(text, str) or not text.strip():
        raise InputError("say: empty text, nothing to speak")
    if len(text) > MAX_TEXT_CHARS:
        raise InputError(f"say: {len(text)} characters; at most {MAX_TEXT_CHARS}")
    return text.strip()


def _check_k(value: object, images: int) -> int:
    try:
        k = int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InputError(f"k: {value!r} is not a whole number") from None
    if not 1 <= k <= MAX_K:
        raise InputError(f"k: {k}; between 1 and {MAX_K}")
    return min(k, images)


class BodyLimit:
    """Refuse a body past ``limit`` bytes: by its Content-Length before reading, else while it streams in."""

    def __init__(self, app: Callable, limit: int = MAX_BODY_BYTES) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length", b"0")
        if not length.isdigit() or int(length) > self.limit:
            return await self._refuse(scope, receive, send)
        seen, started = 0, False

        async def counted_receive() -> dict:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise _TooLarge
            return message

        async def tracked_send(message: dict) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except _TooLarge:
            if not started:
                await self._refuse(scope, receive, send)

    async def _refuse(self, scope: dict, receive: Callable, send: Callable) -> None:
        await _drain(receive)
        detail = f"request body over {self.limit // (1024 * 1024)} MB (or a bad Content-Length)"
        await JSONResponse({"detail": detail}, status_code=413, headers={"Connection": "close"})(scope, receive, send)


class _TooLarge(Exception):
    pass


async def _drain(receive: Callable) -> None:
    """Read what the client is still sending, within a byte and time budget, before answering 413.

    Closing a socket with unread bytes makes the kernel send a reset, which can destroy the 413 before
    the client reads it (nginx's "lingering close" solves the same); past the budget the client loses it.
    """
    drained = 0
    with anyio.move_on_after(DRAIN_SECONDS):
        while drained < DRAIN_BYTES:
            message = await receive()
            drained += len(message.get("body", b""))
            if message["type"] != "http.request" or not message.get("more_body"):
                return


class TokenGate:
    """Every route, the docs included, only with the token: a Bearer header or the cookie ``/?token=`` sets.

    Plain ASGI rather than ``@app.middleware``: that wraps errors in task groups, hiding ``BodyLimit``'s.
    """

    def __init__(self, app: Callable, token: str) -> None:
        self.app, self.token = app, token

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        request = Request(scope)
        offered = request.query_params.get("token")
        if request.url.path == "/" and offered is not None and _same(offered, self.token):
            response: Response = RedirectResponse("/", status_code=303)  # the token leaves the address bar
            response.set_cookie(COOKIE, self.token, httponly=True, samesite="strict")
            return await response(scope, receive, send)
        bearer = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if _same(bearer, self.token) or _same(request.cookies.get(COOKIE, ""), self.token):
            return await self.app(scope, receive, send)
        response = JSONResponse({"detail": "token required: Authorization: Bearer <token>, or open /?token=<token>"},
                                status_code=401, headers={"WWW-Authenticate": "Bearer"})
        await response(scope, receive, send)


def build_app(translator: Translator, token: str | None = None, workers: int = 2) -> FastAPI:
    """The page, ``/api/search``, ``/api/health`` and ``/images/{id}``; every route behind ``token`` if given."""
    app = FastAPI(title="sonovis", summary="Say something; see the images it describes and their captions.")
    page = importlib.resources.files("sonovis.use").joinpath("page.html").read_text(encoding="utf-8")
    limiter = anyio.CapacityLimiter(workers)  # torch runs on one thread: one query per core at a time

    @app.exception_handler(InputError)
    async def bad_input(request: Request, err: InputError) -> JSONResponse:
        return JSONResponse({"detail": str(err).splitlines()[0]}, status_code=422)

    @app.exception_handler(SonovisError)
    async def failed(request: Request, err: SonovisError) -> JSONResponse:
        return JSONResponse({"detail": str(err).splitlines()[0]}, status_code=500)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index() -> str:
        return page

    @app.get("/api/health")
    async def health() -> dict:
        return {"status": "ok", "images": len(translator.paths), "tts": translator.tts,
                "max_seconds": MAX_SECONDS, "max_text_chars": MAX_TEXT_CHARS, "max_body_bytes": MAX_BODY_BYTES}

    @app.get("/images/{image_id}")
    async def image(image_id: str) -> FileResponse:
        path = translator.paths.get(image_id)  # looked up, never joined: no request path reaches the disk
        if path is None or not Path(path).is_file():
            raise HTTPException(404, f"no image {image_id!r} in the gallery")
        return FileResponse(path)

    @app.post("/api/search", openapi_extra={"requestBody": SEARCH_BODY})
    async def search(request: Request) -> dict:
        """Top-k gallery images for a spoken query (multipart ``audio``) or a typed one (JSON ``say``)."""
        started = time.perf_counter()
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind == "application/json":
            try:
                body = await request.json()
            except ValueError:
                raise HTTPException(400, "body is not valid JSON") from None
            if not isinstance(body, dict):
                raise HTTPException(400, 'JSON body must be an object: {"say": "...", "k": 5}')
            text, k = _check_text(body.get("say")), _check_k(body.get("k", 5), len(translator.paths))
            wave_ = await anyio.to_thread.run_sync(translator.say, text, limiter=limiter)
            query, name = text, "say"
        elif kind == "multipart/form-data":
            form = await request.form(max_files=1, max_fields=2)
            upload = form.get("audio")
            if upload is None or isinstance(upload, str):
                raise HTTPException(422, "multipart body needs a file field named 'audio'")
            k = _check_k(form.get("k", 5), len(translator.paths))
            name = f"upload {upload.filename or 'audio'}"
            wave_ = await anyio.to_thread.run_sync(_decode_upload, await upload.read(), name, limiter=limiter)
            query = upload.filename or "uploaded audio"
        else:
            raise HTTPException(415, "send multipart/form-data with a file 'audio', or JSON {\"say\": \"...\"}")
        heard = time.perf_counter()
        matches = await anyio.to_thread.run_sync(translator.search, wave_, name, k, limiter=limiter)
        done = time.perf_counter()
        return {"query": query, "k": k, "audio_seconds": round(wave_.duration, 3),
                "audio": wav_data_uri(wave_) if kind == "application/json" else None,
                "matches": [{"rank": m.rank, "image_id": m.image_id, "image_url": f"/images/{m.image_id}",
                             "score": round(m.similarity, 4), "captions": list(m.captions)} for m in matches],
                "timing_ms": {"audio": round(1000 * (heard - started), 1), "search": round(1000 * (done - heard), 1),
                              "total": round(1000 * (done - started), 1)}}

    if token is not None:
        app.add_middleware(TokenGate, token=token)
    app.add_middleware(BodyLimit)  # added last, so outermost: a too-large body is refused before anything reads it
    return app


def _same(offered: str, token: str) -> bool:
    """Constant-time, so response times do not leak how much of a guessed token was right."""
    return hmac.compare_digest(offered.encode(), token.encode())


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def listen(host: str, port: int) -> socket.socket:
    """Bind the socket here, not in uvicorn: the address printed is the one listened on (port 0 too)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1" if host == "localhost" else host, port))
    except OSError as err:
        sock.close()
        raise ConfigError(f"--host {host} --port {port}: cannot listen ({err.strerror})") from None
    sock.listen(128)
    return sock


def serve(checkpoint: str | Path, data_path: str | Path, split: str = "dev", host: str = "127.0.0.1", port: int = 8000,
          token: str | None = None, tts: str = "espeak", echo: Callable[[str], None] | None = None) -> None:
    """Load once, then answer until interrupted; refuse a non-loopback host without a token."""
    import uvicorn

    echo = echo or (lambda line: print(line, flush=True))  # flushed: a supervisor or test waits for these lines
    if not is_loopback(host) and not token:
        raise ConfigError(f"--host {host} is reachable from other machines: give --token or set {TOKEN_ENV}")
    started = time.perf_counter()
    torch.set_num_threads(1)
    translator = Translator.load(checkpoint, data_path, split, tts)
    # One silent query end to end: ffmpeg and the model load now, not during the first person's query.
    silence = wav_bytes(Waveform(np.zeros(8000, np.float32), 16000))
    translator.search(_decode_upload(silence, "warm-up"), "warm-up", 1)
    app = build_app(translator, token)
    sock = listen(host, port)
    bound_host, bound_port = sock.getsockname()[:2]
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    echo(f"sonovis serve: {len(translator.paths)} images, ready in {time.perf_counter() - started:.1f} s")
    echo(f"sonovis serve: listening on http://{shown}:{bound_port}/ (API docs at /docs)")
    if token:
        echo(f"sonovis serve: a token is required: open http://{shown}:{bound_port}/?token=<token> once, "
             f"or send 'Authorization: Bearer <token>'")
    else:
        echo("sonovis serve: loopback only, no token; for other machines use an SSH tunnel or --host and --token")
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=5))
    server.run(sockets=[sock])
