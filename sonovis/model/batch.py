"""What the model reads: one padded batch of speech, images and (optionally) caption text."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Batch:
    speech: torch.Tensor  # [B, T, F] float32, zero-padded after each utterance's length
    speech_lengths: torch.Tensor  # [B] int64, frames
    image_index: torch.Tensor  # [B] int64: row of image_pooled that each utterance describes
    image_pooled: torch.Tensor  # [U, D] float32, the frozen backbone's pooled vectors (U distinct images)
    image_grid: torch.Tensor | None = None  # [U, 49, Dg] 7x7 feature map, only when a loss needs it
    text: torch.Tensor | None = None  # [B, L] int64 token ids, 0 = padding; only for tri-modal training
    text_lengths: torch.Tensor | None = None  # [B] int64
    paired: bool = False  # rows i and B/2 + i speak the same caption (model.voice_pair_weight > 0)
    voice_index: torch.Tensor | None = None  # [B] int64 training voice group, for the voice adversary
    phones: torch.Tensor | None = None  # [B, L] int64 phone ids from 1 (0 = padding), for the CTC head
    phone_lengths: torch.Tensor | None = None  # [B] int64
