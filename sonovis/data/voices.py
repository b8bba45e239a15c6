"""Leaving voices out: which utterances count as held-out voices, and retrieval metrics per voice.

A model trained on one synthesiser was measured at chance on another, so recall over
all voices can hide a model that only knows the voices it trained on. One pattern rule
serves every stage, so prep time, training and evaluation agree on what "held out" means:
a voice is held out when its label (``Voice.label()``, e.g. ``espeak:en-gb-scotland+f2/s160/p40``)
contains any pattern as a substring. Prep time (``speech.holdout_voices``) keeps held-out
voices out of train entirely; training time (``train.holdout_voices``) drops them from
train and scores the eval split's held-out and seen voices separately.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from sonovis.errors import ConfigError

TRAIN_SPLIT = "train"  # the only split that must never hear a held-out voice


def check_patterns(patterns: Sequence[str], where: str) -> None:
    """An empty pattern is a substring of every label and would hold out every voice."""
    if any(not p.strip() for p in patterns):
        raise ConfigError(f"{where}: empty pattern in {list(patterns)}; it would match every voice")


def matches(label: str, patterns: Sequence[str]) -> bool:
    """True when ``label`` contains any pattern: the voice is held out."""
    return any(p in label for p in patterns)


def held_out_mask(labels: np.ndarray, patterns: Sequence[str]) -> np.ndarray:
    """[N] bool over voice labels; all false when no pattern is given."""
    return np.array([matches(str(label), patterns) for label in labels], dtype=bool)


def wants_held_out(split: str, patterns: Sequence[str]) -> bool:
    """Whether ``split`` speaks with held-out voices: dev and test do, train never; no patterns, no sides."""
    return bool(patterns) and split != TRAIN_SPLIT


def split_voice_counts(splits: Sequence[str], labels: Sequence[str], patterns: Sequence[str]) -> dict[str, Any]:
    """The manifest's holdout record: per split, how many utterances a held-out voice spoke, and how many not.

    With prep-time holdout, train's ``heldout`` and dev/test's ``seen`` must both be 0: the
    manifest shows it rather than asking the reader to trust the sampler.
    """
    counts: dict[str, dict[str, int]] = {}
    for split, label in zip(splits, labels):
        side = "heldout" if matches(label, patterns) else "seen"
        entry = counts.setdefault(split, {"heldout": 0, "seen": 0})
        entry[side] += 1
    return {"patterns": list(patterns), "by_split": counts}
