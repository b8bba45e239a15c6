"""``sonovis serve``: a real server in a subprocess, a really trained model, real espeak-ng audio, real sockets."""

from __future__ import annotations

import base64
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import psutil
import pytest

from sonovis.config import ExperimentConfig, ModelConfig, SpeechConfig, TrainConfig, from_dict
from sonovis.data.audio import Waveform, read_wav
from sonovis.data.shards import Prepared, load_prepared
from sonovis.data.speech.registry import make_engine
from sonovis.train.trainer import fit
from sonovis.use.serve import wav_bytes
from sonovis.use.translate import translate

EPOCHS = 20  # as tests/use/test_translate.py: the 30-image dev gallery is learnt by then
TOKEN = "test-token-7f3a"


@pytest.fixture(scope="session")
def dev_data(prepared_builtin: Path) -> Prepared:
    """The dev split in the trainer's train slot too: the model learns the gallery it is queried on."""
    data = load_prepared(prepared_builtin, splits=("dev",))
    dev = data.splits["dev"]
    return Prepared(root=data.root, manifest=data.manifest, splits={"train": dev, "dev": dev})


@pytest.fixture(scope="session")
def serve_model(dev_data: Prepared, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Trained once per session on disk: test_page imports this fixture, and must not train again."""
    path = tmp_path_factory.getbasetemp() / "serve-model" / "model.pt"
    if not path.is_file():
        path.parent.mkdir(exist_ok=True)
        config = ExperimentConfig(model=ModelConfig(rnn="gru", hidden_size=128),
                                  train=TrainConfig(epochs=EPOCHS, lr=1e-3, batch_size=16))
        for result in fit(config, dev_data):
            pass
        result.trainer.save(path)
    return path


@dataclass
class Server:
    process: subprocess.Popen
    url: str  # http://127.0.0.1:PORT
    banner: str  # what it printed before serving

    def listening(self) -> list[str]:
        """The addresses the server process really listens on, read from the OS."""
        return sorted({f"{c.laddr.ip}:{c.laddr.port}" for c in psutil.Process(self.process.pid).net_connections("inet")
                       if c.status == psutil.CONN_LISTEN})


@contextmanager
def running_server(model: Path, data: Path, log: Path, *flags: str, env: dict | None = None) -> Iterator[Server]:
    """``sonovis serve`` on a free port, until it has printed where it listens; stopped afterwards."""
    command = [sys.executable, "-m", "sonovis.cli", "serve", str(model), "--data", str(data), "--port", "0", *flags]
    with open(log, "w") as err:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=err, text=True, env=env)
    banner = []
    try:
        for line in process.stdout:
            banner.append(line)
            found = re.search(r"listening on http://(\S+):(\d+)/", line)
            if found:
                break
        else:
            pytest.fail(f"serve exited {process.wait()}: {log.read_text()[-2000:]}")
        banner.append(process.stdout.readline())  # the line about tokens or loopback
        yield Server(process, f"http://127.0.0.1:{found.group(2)}", "".join(banner))
    finally:
        process.terminate()
        process.wait(timeout=30)


def request(url: str, method: str = "GET", body: bytes | Iterator[bytes] | None = None,
            headers: dict | None = None) -> tuple[int, dict, bytes]:
    """One request with the stdlib; an iterator body goes chunked (no Content-Length)."""
    address = re.match(r"http://([^/]+)(/.*)", url)
    conn = http.client.HTTPConnection(address.group(1), timeout=120)
    try:
        try:
            conn.request(method, address.group(2), body=body, headers=headers or {},
                         encode_chunked=body is not None and not isinstance(body, bytes))
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered (413) and closed before the whole body went out: read its answer
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def search_json(base: str, body: object, headers: dict | None = None) -> tuple[int, dict]:
    status, _, data = request(f"{base}/api/search", "POST", json.dumps(body).encode(),
                              {"Content-Type": "application/json", **(headers or {})})
    return status, json.loads(data)


def multipart(data: bytes, filename: str = "query.wav", k: int = 5) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="k"\r\n\r\n{k}\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="audio"; filename="{filename}"\r\n'
            f"Content-Type: application/octet-stream\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def search_audio(base: str, data: bytes, filename: str = "query.wav", k: int = 5) -> tuple[int, dict]:
    body, kind = multipart(data, filename, k)
    status, _, out = request(f"{base}/api/search", "POST", body, {"Content-Type": kind})
    return status, json.loads(out)


def spoken_captions(data: Prepared) -> list[tuple[str, str, Waveform]]:
    """(image id, caption, that caption spoken as prepare spoke it) for one caption of every dev image."""
    dev = data.splits["dev"]
    engine = make_engine(from_dict(SpeechConfig, data.manifest["config"]["speech"]))
    out = []
    for index, image_id in enumerate(dev.image_ids):
        utterance = int(np.flatnonzero(dev.image_of_utterance == index)[index % 5])
        caption = str(dev.captions[utterance])
        out.append((str(image_id), caption, engine.synthesize(caption, engine.voice_for(str(dev.utterance_ids[utterance])))))
    return out


@pytest.fixture(scope="module")
def server(serve_model: Path, prepared_builtin: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(serve_model, prepared_builtin, tmp_path_factory.mktemp("serve") / "serve.log") as running:
        yield running


def test_listens_on_loopback_only_by_default(server: Server) -> None:
    port = server.url.rsplit(":", 1)[1]
    assert server.listening() == [f"127.0.0.1:{port}"]
    status, _, body = request(f"{server.url}/api/health")
    assert status == 200 and json.loads(body)["images"] == 30
    status, headers, page = request(f"{server.url}/")
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert b"<script" in page and b"src=\"http" not in page and b"href=\"http" not in page  # nothing external


def test_uploaded_and_typed_captions_find_their_images(server: Server, dev_data: Prepared,
                                                       prepared_builtin: Path, serve_model: Path) -> None:
    """Uploads are captions in the voices prepare gave them: most find their image in the top 5.

    Typed sentences are spoken in the one fixed voice of ``translate --say``, which this 30-image
    model never heard (it finds about 1 in 5 images): for those the server must give exactly what
    ``sonovis translate --say`` gives, and find at least one image, whatever the model.
    """
    queries = spoken_captions(dev_data)
    uploaded = typed = 0
    for image_id, caption, audio in queries:
        status, result = search_audio(server.url, wav_bytes(audio), f"{image_id}.wav")
        assert status == 200, result
        uploaded += image_id in [m["image_id"] for m in result["matches"]]
        status, result = search_json(server.url, {"say": caption, "k": 5})
        assert status == 200, result
        typed += image_id in [m["image_id"] for m in result["matches"]]
    assert uploaded / len(queries) >= 0.6 and typed >= 1, (uploaded, typed, len(queries))
    for _, caption, _ in queries[:3]:
        served = search_json(server.url, {"say": caption, "k": 5})[1]["matches"]
        library = translate(serve_model, prepared_builtin, say=caption, k=5)
        assert [m["image_id"] for m in served] == [m.image_id for m in library]
        assert np.allclose([m["score"] for m in served], [m.similarity for m in library], atol=1e-3)

    image_id, caption, _ = queries[0]
    status, result = search_json(server.url, {"say": caption, "k": 5})
    matches = result["matches"]
    assert [m["rank"] for m in matches] == [1, 2, 3, 4, 5] and result["k"] == 5
    assert all(a["score"] >= b["score"] for a, b in zip(matches, matches[1:]))
    assert all(len(m["captions"]) == 5 for m in matches) and result["timing_ms"]["total"] > 0
    heard = read_wav(base64.b64decode(result["audio"].removeprefix("data:audio/wav;base64,")))
    assert abs(heard.duration - result["audio_seconds"]) < 0.01 and heard.duration > 1
    status, headers, png = request(server.url + matches[0]["image_url"])
    assert status == 200 and headers["content-type"] == "image/png" and png.startswith(b"\x89PNG")


def _wav(seconds: float, rate: int = 16000) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    return wav_bytes(Waveform((0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), rate))


def test_bad_input_gets_a_one_line_4xx_and_the_server_keeps_serving(server: Server) -> None:
    webm = subprocess.run(["ffmpeg", "-loglevel", "error", "-f", "wav", "-i", "-", "-c:a", "libopus", "-f", "webm", "-"],
                          input=_wav(1.0), capture_output=True, check=True).stdout
    big = os.urandom(11 * 1024 * 1024)
    body, kind = multipart(big)
    cases = {
        "not audio": (lambda: search_audio(server.url, b"these are my notes\n" * 50, "notes.wav"), 422, "cannot read"),
        "corrupt webm": (lambda: search_audio(server.url, webm[:48] + bytes(range(256)) * 8, "bad.webm"), 422,
                         "bad.webm"),
        "empty file": (lambda: search_audio(server.url, b""), 422, "empty file"),
        "no samples": (lambda: search_audio(server.url, _wav(0.0)), 422, "cannot read audio"),
        "too short": (lambda: search_audio(server.url, _wav(0.005)), 422, "shorter than"),
        "too long": (lambda: search_audio(server.url, _wav(25.0)), 422, "at most 20 s"),
        "too big": (lambda: _status_json(request(f"{server.url}/api/search", "POST", body, {"Content-Type": kind})),
                    413, "over 10 MB"),
        "too big, chunked": (lambda: _status_json(request(f"{server.url}/api/search", "POST",
                                                          iter([body[i:i + 65536] for i in range(0, len(body), 65536)]),
                                                          {"Content-Type": kind})), 413, "over 10 MB"),
        "empty text": (lambda: search_json(server.url, {"say": "   "}), 422, "empty text"),
        "long text": (lambda: search_json(server.url, {"say": "a red ball " * 30}), 422, "at most 300"),
        "text not a string": (lambda: search_json(server.url, {"say": 7}), 422, "empty text"),
        "bad k": (lambda: search_json(server.url, {"say": "a red ball", "k": 0}), 422, "between 1 and 50"),
        "not JSON": (lambda: _status_json(request(f"{server.url}/api/search", "POST", b"{say",
                                                  {"Content-Type": "application/json"})), 400, "not valid JSON"),
        "no file field": (lambda: _status_json(request(f"{server.url}/api/search", "POST", *_fields_only())),
                          422, "field named 'audio'"),
        "other body type": (lambda: _status_json(request(f"{server.url}/api/search", "POST", b"a red ball",
                                                         {"Content-Type": "text/plain"})), 415, "multipart"),
        "image outside the gallery": (lambda: _status_json(request(f"{server.url}/images/manifest.json")),
                                      404, "no image"),
        "path in the image id": (lambda: _status_json(request(f"{server.url}/images/..%2Fmanifest.json")),
                                 404, "Not Found"),  # no route: %2F is a path separator by then
    }
    for name, (send, want, reason) in cases.items():
        status, result = send()
        assert status == want and reason in result["detail"] and "\n" not in result["detail"], (name, status, result)
        status, result = search_json(server.url, {"say": "a red ball", "k": 1})
        assert status == 200 and len(result["matches"]) == 1, (name, result)
    assert server.process.poll() is None


def _status_json(response: tuple[int, dict, bytes]) -> tuple[int, dict]:
    return response[0], json.loads(response[2])


def _fields_only() -> tuple[bytes, dict]:
    body, kind = multipart(b"")
    return body.replace(b'name="audio"', b'name="other"'), {"Content-Type": kind}


def test_any_other_host_needs_a_token(serve_model: Path, prepared_builtin: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "SONOVIS_SERVE_TOKEN"}
    refused = subprocess.run([sys.executable, "-m", "sonovis.cli", "serve", str(serve_model), "--data",
                              str(prepared_builtin), "--host", "0.0.0.0"], capture_output=True, text=True, env=env)
    assert refused.returncode == 2 and "--token" in refused.stderr and len(refused.stderr.splitlines()) == 1

    model = Path(shutil.copy(serve_model, tmp_path / "model.pt"))  # its own gallery cache
    with running_server(model, prepared_builtin, tmp_path / "serve.log", "--host", "0.0.0.0", "--token", TOKEN,
                        env=env) as server:
        assert server.listening() == [f"0.0.0.0:{server.url.rsplit(':', 1)[1]}"]
        assert "token is required" in server.banner and TOKEN not in server.banner
        for path in ("/", "/api/health", "/docs", "/openapi.json", "/images/x.png"):
            assert request(server.url + path)[0] == 401, path
        assert request(f"{server.url}/api/health", headers={"Authorization": "Bearer wrong"})[0] == 401
        assert search_json(server.url, {"say": "a red ball"})[0] == 401
        assert search_json(server.url, {"say": "a red ball"}, {"Authorization": f"Bearer {TOKEN}"})[0] == 200

        status, headers, _ = request(f"{server.url}/?token={TOKEN}")
        assert status == 303 and headers["location"] == "/"
        cookie = headers["set-cookie"].split(";")[0]
        assert "httponly" in headers["set-cookie"].lower()
        status, _, page = request(f"{server.url}/", headers={"Cookie": cookie})
        assert status == 200 and b"Hold to talk" in page
        assert request(f"{server.url}/?token=wrong")[0] == 401
