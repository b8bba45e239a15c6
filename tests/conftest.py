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

    from sonovis.ray_runtime import connect

    connect(num_cpus=2, dashboard=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def prepared_builtin(tmp_path_factory: pytest.TempPathFactory, ray_local, speech_cache: Path) -> Path:
    """A small built-in corpus prepared once: 80 train and 30 dev scenes, 550 spoken captions."""
    from sonovis.config import CorpusConfig, PrepareConfig, SpeechConfig
    from sonovis.prepare import prepare

    out = tmp_path_factory.mktemp("prepared-builtin")
    cfg = PrepareConfig(out=str(out), shard_rows=200,
                        corpus=CorpusConfig(kind="builtin", builtin_images=(80, 30, 30)),
                        speech=SpeechConfig(cache_dir=str(speech_cache)))
    prepare(cfg)
    return out
