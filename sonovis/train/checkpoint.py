"""Checkpoints: what a saved model holds, and how it is read back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from sonovis.config import ExperimentConfig, from_dict
from sonovis.data.shards import Prepared
from sonovis.errors import InputError
from sonovis.model.text import Vocabulary
from sonovis.train.trainer import Trainer


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if path.is_dir():
        path = path / "model.pt"
    if not path.exists():
        raise InputError(f"{path}: no checkpoint here")
    return torch.load(path, map_location="cpu", weights_only=False)


def load_checkpoint(path: str | Path, data: Prepared) -> Trainer:
    """A trainer holding a saved model, ready to evaluate or embed on ``data``."""
    state = read_checkpoint(path)
    cfg = from_dict(ExperimentConfig, state["config"], where=str(path))
    vocab = Vocabulary.from_dict(state["vocab"]) if state["vocab"] else None
    trainer = Trainer(cfg, data, vocab, dims=state["dims"])
    trainer.restore(state)
    return trainer
