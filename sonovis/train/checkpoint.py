"""Checkpoints are data: tensors and plain values, read back with ``weights_only=True``.

A ``model.pt`` travels between office machines, so loading one must never run code: PyTorch's
weights-only unpickler admits tensors, dicts, lists, strings and numbers and refuses any other
object. What is read is then checked to be a sonovis checkpoint before any of it is used.
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path, PosixPath
from typing import Any

import torch

from sonovis.config import ExperimentConfig, from_dict
from sonovis.data.shards import Prepared
from sonovis.errors import InputError
from sonovis.model.text import Vocabulary
from sonovis.train.trainer import Trainer

REQUIRED_KEYS = ("model", "optimizer", "average", "epoch", "config", "vocab", "dims", "torch_rng")


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """A saved Trainer state (``model.pt``, or a folder holding one), or one line saying why not."""
    path = Path(path)
    if path.is_dir():
        path = path / "model.pt"
    if not path.is_file():
        raise InputError(f"{path}: no checkpoint here")
    try:
        # Older checkpoints kept the prepared folder as a PosixPath: a harmless class to rebuild.
        with torch.serialization.safe_globals([PosixPath]):
            state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:  # weights_only refused what it read
        found = re.search(r"GLOBAL (\S+)", str(err))
        if found is None:  # no object to refuse, just bytes that are no pickle
            raise InputError(f"{path}: not a readable PyTorch checkpoint (truncated or not one)") from None
        raise InputError(f"{path}: refused, it holds objects such as {found.group(1)} beyond tensors and plain "
                         "values, and loading those could run code") from None
    except Exception as err:  # a file from elsewhere is data: whatever is wrong with it, one line
        raise InputError(f"{path}: not a readable PyTorch checkpoint (truncated or not one: "
                         f"{type(err).__name__})") from None
    missing = [k for k in REQUIRED_KEYS if not isinstance(state, dict) or k not in state]
    if missing:
        raise InputError(f"{path}: not a sonovis checkpoint (missing {', '.join(missing)})")
    return state


def load_checkpoint(path: str | Path, data: Prepared) -> Trainer:
    """A trainer holding a saved model, ready to evaluate or embed on ``data``."""
    state = read_checkpoint(path)
    cfg = from_dict(ExperimentConfig, state["config"], where=str(path))
    vocab = Vocabulary.from_dict(state["vocab"]) if state["vocab"] else None
    trainer = Trainer(cfg, data, vocab, dims=state["dims"], phones=state.get("phones"))
    try:
        trainer.restore(state)
    except (RuntimeError, KeyError, ValueError) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise InputError(f"{path}: checkpoint does not fit its own config ({reason[:160]})") from None
    return trainer
