"""Train one configuration on prepared data: what ``sonovis train`` and every search trial run.

No Ray here: ``fit`` is a generator of per-epoch results, so a Tune trial only has
to report what it yields, and a plain loop or a test can drive it just the same.
Deterministic for a seed: batch order comes from (seed, epoch), and the torch RNG
state (which also drives augmentation) travels in the checkpoint, so a resumed run
continues exactly. Augmentation touches training batches only, never evaluation.
With ``train.ema_decay`` the optimiser trains ``model`` as always, and everything that
reads the model afterwards (evaluation, embeddings, ``evaluate``, ``translate``) reads
the moving average of its weights, ``eval_model``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from sonovis.config import ExperimentConfig, FeatureConfig, from_dict, to_dict
from sonovis.data.phonemes import phone_inventory
from sonovis.data.shards import RERUN, Prepared, SplitData
from sonovis.data.voices import check_patterns, held_out_mask
from sonovis.errors import ConfigError, InputError
from sonovis.model.batch import Batch
from sonovis.model.joint import SonovisModel
from sonovis.model.text import Vocabulary
from sonovis.train.augment import Augmenter, is_active
from sonovis.train.batches import bucketed_order, make_batch, voice_pairs
from sonovis.train.evaluation import embed_split, split_metrics
from sonovis.train.heap import TRIM_EVERY, release_free_heap


def needs_text(cfg: ExperimentConfig) -> bool:
    return any("text" in pair for pair in cfg.model.pairs)


def needs_grid(cfg: ExperimentConfig) -> bool:
    return cfg.model.cmd_weight > 0


PRECISIONS = ("fp32", "bf16", "auto")


def uses_bf16(precision: str) -> bool:
    """Whether ``train.precision`` trains in bfloat16 here: "auto" only on a CPU with native bf16 arithmetic."""
    if precision not in PRECISIONS:
        raise ConfigError(f"train.precision = {precision!r}; expected one of {list(PRECISIONS)}")
    if precision == "auto":
        return torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
    return precision == "bf16"


@dataclass
class EpochResult:
    epoch: int
    metrics: dict[str, float]  # train_loss, seconds, and the eval split's recalls (flat keys)
    trainer: "Trainer"


class Trainer:
    """A model, its optimiser and its data; one epoch at a time."""

    def __init__(self, cfg: ExperimentConfig, data: Prepared, vocab: Vocabulary | None = None,
                 dims: dict[str, int] | None = None, phones: list[str] | None = None):
        torch.set_num_threads(cfg.train.threads)
        torch.manual_seed(cfg.train.seed)
        self.cfg = cfg
        self.data = data
        self.train_split = data.splits.get("train")  # absent when only evaluating
        if needs_grid(cfg) and self.train_split is not None and self.train_split.grid is None:
            raise InputError(f"{data.root}: cmd_weight > 0 needs the image grid; load with with_grid=True")
        # indices, not a copy (the data may be shared); how many held-out voices and skipped conditions left out
        self.train_rows, self.dropped, self.skipped = self._train_rows()
        if needs_text(cfg) and vocab is None:
            if self.train_split is None:
                raise InputError(f"{data.root}: a text vocabulary needs the train split")
            vocab = Vocabulary.build(list(self.train_split.captions[self.train_rows]))  # train captions only
        self.vocab = vocab
        # The voice adversary's classes: the voice groups it trains on, sorted (so a resumed run agrees).
        self.voice_groups = np.zeros(0, str)
        if cfg.model.voice_adversary_weight > 0 and self.train_split is not None:
            self.voice_groups = np.unique(self.train_split.voice_groups[self.train_rows])
        # The CTC head's classes: the training set's phones (kept in checkpoints, so a resumed run
        # agrees); none when only evaluating or serving, which drops the head.
        self.phones = self._phone_inventory(phones)
        self.phone_ids = {phone: i + 1 for i, phone in enumerate(self.phones)}
        self.dims = {**(dims or {"feat_dim": data.feat_dim, "image_dim": data.image_dim,
                                 "grid_dim": data.grid_dim if needs_grid(cfg) else 0,
                                 "voice_groups": len(self.voice_groups)}), "phones": len(self.phones)}
        features = from_dict(FeatureConfig, data.manifest["config"]["features"], where=f"{data.root}/manifest.json")
        if cfg.model.n_cepstra and features.kind != "mfcc":
            raise ConfigError(f"model.n_cepstra keeps the first MFCC, but {data.root} holds {features.kind} features")
        self.model = SonovisModel(cfg.model, vocab_size=len(vocab) if vocab else 0, **self.dims)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=cfg.train.lr,
                                           weight_decay=cfg.train.weight_decay)
        if not 0.0 <= cfg.train.ema_decay < 1.0:
            raise ConfigError(f"train.ema_decay must be in [0, 1) (0 = off), got {cfg.train.ema_decay}")
        self.average = (AveragedModel(self.model, multi_avg_fn=get_ema_multi_avg_fn(cfg.train.ema_decay))
                        if cfg.train.ema_decay else None)
        self.bf16 = uses_bf16(cfg.train.precision)
        self.augment: Augmenter | None = None
        if is_active(cfg.augment) and self.train_split is not None:
            self.augment = Augmenter(cfg.augment, features)
        self.epoch = 0

    def _train_rows(self) -> tuple[np.ndarray, int, int]:
        """Train utterances to learn from (of the first ``train.limit_images`` images, if set), how many
        ``train.holdout_voices`` left out, and how many ``train.skip_conditions`` left out of the rest."""
        if self.train_split is None:
            return np.zeros(0, np.int64), 0, 0
        patterns = self.cfg.train.holdout_voices
        check_patterns(patterns, "train.holdout_voices")
        held = held_out_mask(self.train_split.voices, patterns)
        if held.all():
            raise ConfigError(f"{self.data.root}: train.holdout_voices {list(patterns)} matches every train utterance")
        skipped = self._skipped_conditions() & ~held
        if (held | skipped).all():
            raise ConfigError(f"{self.data.root}: train.skip_conditions {list(self.cfg.train.skip_conditions)} "
                              "leaves no train utterance")
        keep = ~(held | skipped)
        if self.cfg.train.limit_images:  # a fixed subset, for cheap ablations on a big corpus
            keep &= self.train_split.image_of_utterance < self.cfg.train.limit_images
        return np.flatnonzero(keep), int(held.sum()), int(skipped.sum())

    def _skipped_conditions(self) -> np.ndarray:
        """[N] bool: train utterances rendered through a kind of ``train.skip_conditions``. A kind that no train
        utterance went through is refused: in a search it would make two choices of one dimension the same."""
        kinds, conditions = self.cfg.train.skip_conditions, self.train_split.conditions
        if not kinds:
            return np.zeros(len(self.train_split.voices), dtype=bool)
        combos = np.unique(conditions) if conditions is not None else []  # a handful of distinct kind lists
        present = sorted({k for c in combos if c for k in c.split("+")})
        absent = [k for k in kinds if k not in present]
        if absent:
            raise ConfigError(f"{self.data.root}: train.skip_conditions names {absent[0]!r}, but no train utterance "
                              f"went through it (this folder's conditions: {', '.join(present) or 'none'})")
        return self.train_split.went_through(kinds)

    def _phone_inventory(self, phones: list[str] | None) -> list[str]:
        if self.cfg.model.ctc_weight == 0 or self.train_split is None:
            return []
        if phones is not None:
            return list(phones)
        root, sources = self.data.root, self.data.manifest.get("phonemes", [])
        if self.train_split.phonemes is None:
            raise InputError(f"{root}: model.ctc_weight > 0 needs phonemes, and this folder was prepared before "
                             f"they were stored; {RERUN}")
        if len(sources) > 1:
            raise InputError(f"{root}: its phonemes were made in different ways ({', '.join(sources)}); rerun "
                             "`sonovis prepare` where every worker has espeak-ng")
        return phone_inventory(list(self.train_split.phonemes[self.train_rows]))

    def make_batch(self, split: SplitData, idx: np.ndarray, paired: bool = False) -> Batch:
        return make_batch(split, idx, self.vocab, self.voice_groups, with_grid=needs_grid(self.cfg), paired=paired,
                          phone_ids=self.phone_ids)

    @property
    def eval_model(self) -> SonovisModel:
        """The weights everything but the optimiser reads: their moving average when ``train.ema_decay`` is on."""
        return self.average.module if self.average is not None else self.model

    @property
    def paired(self) -> bool:
        return self.cfg.model.voice_pair_weight > 0

    def epoch_batches(self, rng: np.random.Generator) -> list[np.ndarray]:
        """One epoch's batches as train-split rows; paired, each is [first renditions, second renditions]
        of ``batch_size`` captions: as many images to contrast as unpaired, at twice the utterances."""
        rows, split, cfg = self.train_rows, self.train_split, self.cfg.train
        if not self.paired:
            order = bucketed_order(split.image_of_utterance[rows], split.lengths[rows], cfg.batch_size,
                                   cfg.bucket_batches, rng)
            return [rows[idx] for idx in order]
        first, second = (rows[i] for i in voice_pairs(split.utterance_ids[rows], rng))
        lengths = np.maximum(split.lengths[first], split.lengths[second])
        order = bucketed_order(split.image_of_utterance[first], lengths, cfg.batch_size, cfg.bucket_batches, rng)
        return [np.concatenate([first[idx], second[idx]]) for idx in order]

    def train_epoch(self) -> float:
        self.model.train()
        rng = np.random.default_rng([self.cfg.train.seed, self.epoch])
        total, count = 0.0, 0
        for step, idx in enumerate(self.epoch_batches(rng), start=1):
            if len(idx) < (4 if self.paired else 2):  # a lone utterance (or pair) has no negatives
                continue
            batch = self.make_batch(self.train_split, idx, self.paired)
            if self.augment is not None:
                batch.speech, batch.speech_lengths = self.augment(batch.speech, batch.speech_lengths)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
                losses = self.model.losses(batch)
            self.optimizer.zero_grad(set_to_none=True)
            losses["total"].backward()
            self.optimizer.step()
            if self.average is not None:
                self.average.update_parameters(self.model)
            total += losses["total"].item() * len(idx)
            count += len(idx)
            if step % TRIM_EVERY == 0:
                release_free_heap()
        release_free_heap()  # before the evaluation's own buffers
        self.epoch += 1
        return total / max(count, 1)

    def embed(self, split: SplitData) -> dict[str, torch.Tensor]:
        """Speech (and text) embeddings of every utterance, and of every image, by ``eval_model``."""
        return embed_split(self.eval_model, split, self.vocab, self.cfg.model.embed_dim)

    def evaluate(self, split_name: str, emb: dict[str, torch.Tensor] | None = None) -> dict[str, float]:
        """Retrieval metrics on a split; ``emb``, that split's ``embed``, spares a second pass to a caller who has it."""
        split = self.data.splits[split_name]
        return split_metrics(self.embed(split) if emb is None else emb, split, self.cfg.train.holdout_voices)

    def save(self, path: str | Path) -> None:
        torch.save({
            "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            "average": self.average.state_dict() if self.average is not None else None,
            "epoch": self.epoch, "config": to_dict(self.cfg),
            "vocab": self.vocab.to_dict() if self.vocab else None,
            "dims": self.dims, "phones": self.phones,
            "torch_rng": torch.get_rng_state(), "prepared": str(self.data.root),
        }, path)

    def restore(self, state: dict[str, Any]) -> None:
        """A saved state; a head this trainer does not build (the CTC head, when evaluating) is left out."""
        weights = self._built(state["model"])
        self.model.load_state_dict(weights)
        if len(weights) == len(state["model"]):  # the same parameters: the optimiser's state fits them
            self.optimizer.load_state_dict(state["optimizer"])
        if self.average is not None:
            self.average.load_state_dict(self._built(state["average"]))
        self.epoch = state["epoch"]
        torch.set_rng_state(state["torch_rng"])


    def _built(self, weights: dict[str, Any]) -> dict[str, Any]:
        if self.model.ctc is not None:
            return weights
        return {k: v for k, v in weights.items() if not k.removeprefix("module.").startswith("ctc.")}


def fit(cfg: ExperimentConfig, data: Prepared, resume: dict[str, Any] | None = None) -> Iterator[EpochResult]:
    """Train to ``cfg.train.epochs``, yielding after every epoch; continues from a checkpoint's state if given."""
    vocab = Vocabulary.from_dict(resume["vocab"]) if resume and resume["vocab"] else None
    trainer = Trainer(cfg, data, vocab, phones=resume.get("phones") if resume else None)
    if resume is not None:
        trainer.restore(resume)
    while trainer.epoch < cfg.train.epochs:
        t0, cpu0 = time.perf_counter(), time.process_time()
        loss = trainer.train_epoch()
        metrics = {"train_loss": loss, **trainer.evaluate(cfg.train.eval_split)}
        if cfg.train.holdout_voices:
            metrics["train_dropped"] = float(trainer.dropped)  # train utterances of held-out voices
        if cfg.train.skip_conditions:
            metrics["train_skipped"] = float(trainer.skipped)  # train utterances of the conditions left out
        metrics["seconds"] = time.perf_counter() - t0
        metrics["cpu_seconds"] = time.process_time() - cpu0  # what the epoch cost, however busy the machine
        yield EpochResult(trainer.epoch, metrics, trainer)
