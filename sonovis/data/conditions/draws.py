"""Seeded draws for the conditions: generators keyed by stable hashes, and values fit for a manifest.

Every draw comes from a generator seeded by SHA-256 of its key (Python's ``hash`` differs per process),
so a condition depends on (speech.seed, utterance id, kind) alone: any worker, any order, any rerun
renders an utterance alike, and switching one kind on or off leaves the others' draws unchanged.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

DECIMALS = 4  # recorded values: 0.1 ms, 0.1 mm and 0.0001 dB are finer than anything they describe


def keyed_rng(*parts: object) -> np.random.Generator:
    """A numpy generator for this key only; equal keys give equal streams everywhere."""
    key = "\x1f".join(str(p) for p in parts)
    return np.random.default_rng(int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big"))


def uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    """A value between the bounds (a degenerate range gives its one value)."""
    return float(rng.uniform(bounds[0], bounds[1]))


def choice(rng: np.random.Generator, options: tuple[str, ...]) -> str:
    """One of the options, equally likely."""
    return options[int(rng.integers(len(options)))]


def rounded(value: Any) -> Any:
    """Floats (also inside dicts, lists and tuples) rounded for the manifest; tuples become lists, as JSON has."""
    if isinstance(value, float):
        return round(value, DECIMALS)
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [rounded(v) for v in value]
    return value
