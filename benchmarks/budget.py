"""The one rule every quality benchmark trains by: epochs until ``train.epochs`` or a CPU-time budget.

The budget counts training CPU time only (``time.process_time`` around ``Trainer.train_epoch``),
so loading data and evaluating never eat into it, and an epoch that would overrun the budget
(judged by the longest epoch so far) is not started.
"""

from __future__ import annotations

import time
from typing import Iterator

import torch

from sonovis.train.trainer import Trainer


def epochs_within_budget(trainer: Trainer, budget_s: float
                         ) -> Iterator[tuple[float, float, dict[str, float], dict[str, torch.Tensor]]]:
    """Yield (training CPU seconds so far, train loss, eval-split metrics, eval-split embeddings) after every epoch."""
    train_cpu, longest = 0.0, 0.0
    while trainer.epoch < trainer.cfg.train.epochs and train_cpu + longest <= budget_s:
        start = time.process_time()
        loss = trainer.train_epoch()
        longest = max(longest, time.process_time() - start)
        train_cpu += time.process_time() - start
        split = trainer.cfg.train.eval_split
        embeddings = trainer.embed(trainer.data.splits[split])
        yield train_cpu, loss, trainer.evaluate(split, embeddings), embeddings
