"""Frame-level helpers on padded (batch, frames, features) tensors, shared by the encoder and augmentation."""

from __future__ import annotations

import torch


def frame_mask(lengths: torch.Tensor, width: int) -> torch.Tensor:
    """[B, width] bool, true on each sequence's first ``lengths[b]`` positions."""
    return torch.arange(width, device=lengths.device)[None, :] < lengths[:, None]


def resample_frames(x: torch.Tensor, lengths: torch.Tensor, frames: int) -> torch.Tensor:
    """Linear interpolation of each sequence's valid frames onto ``frames`` evenly spaced points."""
    last = (lengths - 1)[:, None]
    position = torch.linspace(0.0, 1.0, frames, device=x.device)[None, :] * last.to(x.dtype)
    low = position.floor().long()
    high = (low + 1).clamp(max=last)
    weight = (position - low.to(x.dtype)).unsqueeze(-1)
    return take_frames(x, low) * (1 - weight) + take_frames(x, high) * weight


def take_frames(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``x[b, index[b, t]]`` for [B, T, F] ``x`` and [B, T'] ``index``."""
    return x.gather(1, index.unsqueeze(-1).expand(-1, -1, x.shape[2]))
