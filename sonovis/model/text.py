"""Caption text for tri-modal training (MCN): a word vocabulary and a small text encoder.

The vocabulary is built from training captions only, so dev/test words never leak into
the model; words it has not seen map to ``UNK``. Tokenisation is deliberately simple
(lowercase words and numbers, with an apostrophe part kept: "man's"), because the text is
an auxiliary view of the caption the speech says, not the thing being evaluated.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

PAD = 0
UNK = 1
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def tokenize(caption: str) -> list[str]:
    return _WORD.findall(caption.lower())


class Vocabulary:
    """Word <-> id; ids 0 (padding) and 1 (unknown word) are reserved."""

    def __init__(self, words: list[str]):
        self.words = list(words)
        self._ids = {w: i + 2 for i, w in enumerate(self.words)}

    @classmethod
    def build(cls, captions: Iterable[str], min_count: int = 1) -> "Vocabulary":
        """Words seen at least ``min_count`` times, most frequent first (ties alphabetical: reproducible)."""
        counts = Counter(word for caption in captions for word in tokenize(caption))
        kept = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
        return cls(kept)

    def encode(self, caption: str) -> list[int]:
        return [self._ids.get(word, UNK) for word in tokenize(caption)]

    def __len__(self) -> int:
        return len(self.words) + 2

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form stored in checkpoints, so a model is reloaded with the ids it was trained on."""
        return {"words": list(self.words)}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "Vocabulary":
        return cls(list(values["words"]))


class TextEncoder(nn.Module):
    """Mean of word embeddings over the real tokens, then a 2-layer MLP to the shared space.

    A bag of words is enough for captions this short (about 12 words) and costs almost
    nothing on one CPU thread next to the speech encoder.
    """

    def __init__(self, vocab_size: int, text_dim: int, embed_dim: int, dropout: float):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, text_dim, padding_idx=PAD)
        self.proj = nn.Sequential(
            nn.Linear(text_dim, text_dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(text_dim, embed_dim)
        )

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``tokens`` [B, L] (0 = padding), ``lengths`` [B] -> L2-normalised [B, embed_dim]."""
        positions = torch.arange(tokens.shape[1], device=tokens.device)
        valid = (positions[None, :] < lengths[:, None]).unsqueeze(-1).to(self.embedding.weight.dtype)
        summed = (self.embedding(tokens) * valid).sum(dim=1)
        mean = summed / lengths.clamp(min=1).unsqueeze(-1).to(summed.dtype)
        return nn.functional.normalize(self.proj(mean), dim=-1)
