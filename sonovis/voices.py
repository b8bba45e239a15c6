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

import math
from typing import Any, Sequence

import numpy as np
import torch

from sonovis.errors import ConfigError
from sonovis.metrics import RECALL_AT, retrieval_metrics
from sonovis.table import format_table

TRAIN_SPLIT = "train"  # the only split that must never hear a held-out voice
RATIO_KEY = "voice_ratio"  # held-out s2i R@10 / seen s2i R@10: 1.0 means voices generalise fully


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


def voice_metrics(speech: torch.Tensor, image: torch.Tensor, image_of: np.ndarray, voices: np.ndarray,
                  patterns: Sequence[str]) -> dict[str, dict[str, dict[str, float]]]:
    """``{"heldout": retrieval_metrics, "seen": ...}`` over the utterances whose voice matches / does not.

    Each subset is ranked against every image of the split, so a held-out R@10 and a seen R@10
    have the same chance level and can be divided. A subset with no utterance is left out.
    """
    held = held_out_mask(voices, patterns)
    out = {}
    for name, keep in (("heldout", held), ("seen", ~held)):
        if keep.any():
            rows = np.flatnonzero(keep)
            out[name] = retrieval_metrics(speech[rows], image, image_of[rows])
    return out


def voice_ratio(subsets: dict[str, dict[str, dict[str, float]]]) -> float:
    """Held-out over seen speech->image R@10; NaN when either side is missing or seen is 0."""
    if "heldout" not in subsets or "seen" not in subsets or subsets["seen"]["s2i"]["r10"] == 0:
        return math.nan
    return subsets["heldout"]["s2i"]["r10"] / subsets["seen"]["s2i"]["r10"]


def by_voice_group(speech: torch.Tensor, image: torch.Tensor, image_of: np.ndarray,
                   groups: np.ndarray) -> dict[str, dict[str, Any]]:
    """Speech->image recall per voice group (accent), each group's utterances over all images."""
    out: dict[str, dict[str, Any]] = {}
    for group in sorted(set(groups.tolist())):
        rows = np.flatnonzero(groups == group)
        s2i = retrieval_metrics(speech[rows], image, image_of[rows])["s2i"]
        out[group] = {"utterances": int(len(rows)), **s2i}
    return out


def by_voice_table(by_voice: dict[str, dict[str, Any]], title: str = "speech->image by voice group") -> str:
    headers = ["voice group", "utterances"] + [f"R@{k}" for k in RECALL_AT] + ["medr"]
    rows = [[group, m["utterances"]] + [m[f"r{k}"] for k in RECALL_AT] + [m["medr"]]
            for group, m in by_voice.items()]
    return format_table(headers, rows, title=title)


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
