"""Shared fixtures: the shared Flickr8k copy, one real local Ray (2 CPUs), one small prepared corpus."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_FLICKR8K = REPO.parent / "shared" / "data" / "flickr8k"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked slow run with SONOVIS_SLOW=1 (make test-all) or when selected with -m slow."""
    if os.environ.get("SONOVIS_SLOW") == "1" or "slow" in (config.getoption("-m") or ""):
        return
    skip = pytest.mark.skip(reason="slow: run with SONOVIS_SLOW=1 (make test-all)")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def shared_flickr8k() -> Path:
    assert (SHARED_FLICKR8K / "captions.txt").exists(), f"{SHARED_FLICKR8K}: the shared Flickr8k copy is missing"
    return SHARED_FLICKR8K


@pytest.fixture(scope="session")
def speech_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One speech cache for the whole run, so tests never synthesise the same caption twice."""
    path = tmp_path_factory.mktemp("speech-cache")
    os.environ["SONOVIS_TEST_SPEECH_CACHE"] = str(path)
    return path


@pytest.fixture(scope="session")
def ray_local():
    """A real local Ray with 2 CPUs, shared by every test that needs one (starting Ray takes seconds)."""
    import ray

    from sonovis.runtime import connect

    connect(num_cpus=2, dashboard=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def prepared_builtin(tmp_path_factory: pytest.TempPathFactory, ray_local, speech_cache: Path) -> Path:
    """A small built-in corpus prepared once: 150 train and 30 dev scenes, 900 spoken captions."""
    from sonovis.config import CorpusConfig, PrepareConfig, SpeechConfig
    from sonovis.data.prepare import prepare

    out = tmp_path_factory.mktemp("prepared-builtin")
    cfg = PrepareConfig(out=str(out), shard_rows=200,
                        corpus=CorpusConfig(kind="builtin", builtin_images=(150, 30, 0)),
                        speech=SpeechConfig(cache_dir=str(speech_cache)))
    prepare(cfg)
    return out


@pytest.fixture
def ray_temp_dir():
    """A short folder for a separate Ray's --temp-dir: Ray's Unix sockets must fit in 107 bytes."""
    import shutil
    import tempfile

    path = Path(tempfile.mkdtemp(prefix="sv-ray-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RayHead(tuple):
    """(dashboard URL, environment with the token); also .gcs (127.0.0.1:port) and .temp_dir."""

    gcs: str
    temp_dir: Path


def stop_ray_in(temp_dir: Path) -> None:
    """Kill every process of the Ray started with --temp-dir ``temp_dir`` (only ours: never `ray stop`)."""
    import sys

    sys.path.insert(0, str(REPO / "cluster"))
    import node

    node.kill(temp_dir)


@pytest.fixture
def ray_head(tmp_path: Path, ray_temp_dir: Path):
    """A separate cluster started by cluster/start-head.sh (token auth, 127.0.0.1), ready to accept jobs.

    Yields (dashboard URL, environment with the token) and stops the head afterwards. A busy
    machine can make Ray give up on its own start (its agents have 15 s): then it is tried again.
    """
    import signal
    import subprocess
    import sys
    import time

    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env.update(RAY_AUTH_TOKEN_PATH=str(tmp_path / "token" / "auth_token"), RAY_AUTH_MODE="token",
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}")
    ray = str(Path(sys.executable).parent / "ray")
    head = None
    try:
        for attempt in range(3):
            port, dash = free_port(), free_port()
            log = tmp_path / f"head-{attempt}.log"
            head = subprocess.Popen([str(REPO / "cluster" / "start-head.sh"), "--port", str(port), "--dashboard-port",
                                     str(dash), "--agent-port", str(free_port()), "--client-port", str(free_port()),
                                     "--num-cpus", "2", "--temp-dir", str(ray_temp_dir), "--block"],
                                    env=env, start_new_session=True, stdout=open(log, "w"), stderr=subprocess.STDOUT)
            url = f"http://127.0.0.1:{dash}"
            deadline = time.time() + 240
            while head.poll() is None:  # the job agent comes up after the dashboard: wait until a job really runs
                probe = subprocess.run([ray, "job", "submit", "--address", url, "--", "true"], env=env,
                                       capture_output=True, text=True)
                if probe.returncode == 0:
                    break
                assert time.time() < deadline, log.read_text()[-3000:] + probe.stderr[-2000:]
                time.sleep(2)
            if head.poll() is None:
                break
            stop_ray_in(ray_temp_dir)
        else:
            raise AssertionError("start-head.sh failed 3 times:\n" + log.read_text()[-3000:])
        ready = RayHead((url, env))
        ready.gcs, ready.temp_dir = f"127.0.0.1:{port}", ray_temp_dir
        yield ready
    finally:  # killed, not stopped: Ray's graceful stop takes ~30 s a head and is not under test here
        if head is not None and head.poll() is None:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait()
        stop_ray_in(ray_temp_dir)
