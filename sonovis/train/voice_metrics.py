"""Recall per voice: held-out against seen voices, and per voice group, from one split's embeddings."""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import torch

from sonovis.data.voices import held_out_mask
from sonovis.table import format_table
from sonovis.train.metrics import RECALL_AT, retrieval_metrics

RATIO_KEY = "voice_ratio"  # held-out s2i R@10 / seen s2i R@10: 1.0 means voices generalise fully


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
