"""Mini-batches for training and evaluation, built from prepared arrays.

Batches are drawn so that every image in a batch is distinct (so InfoNCE has
exactly one positive image per utterance) and utterances of similar length are
grouped, so little time goes into padding. Nothing is truncated: padding is
masked by ``speech_lengths``.
"""

from __future__ import annotations

import numpy as np
import torch

from sonovis.data.shards import SplitData, caption_key
from sonovis.model.batch import Batch
from sonovis.model.text import Vocabulary


def pad_frames(frames: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack variable-length [T_i, F] arrays into a zero-padded [B, T_max, F] tensor plus lengths."""
    lengths = np.array([len(f) for f in frames], dtype=np.int64)
    out = np.zeros((len(frames), int(lengths.max()), frames[0].shape[1]), dtype=np.float32)
    for i, f in enumerate(frames):
        out[i, : len(f)] = f
    return torch.from_numpy(out), torch.from_numpy(lengths)


def pad_tokens(sequences: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    lengths = torch.tensor([max(len(s), 1) for s in sequences], dtype=torch.int64)
    out = torch.zeros(len(sequences), int(lengths.max()), dtype=torch.int64)
    for i, s in enumerate(sequences):
        out[i, : len(s)] = torch.tensor(s, dtype=torch.int64)
    return out, lengths


def bucketed_order(
    image_of_utterance: np.ndarray,
    lengths: np.ndarray,
    batch_size: int,
    bucket_batches: int,
    rng: np.random.Generator,
) -> list[np.ndarray]:
    """One epoch of batches: utterance indices, distinct images within a batch, similar lengths.

    Each epoch every utterance is used once. Utterances are shuffled, cut into pools of
    ``bucket_batches`` batches, each pool sorted by length and dealt into batches; an
    utterance whose image is already in the batch waits for the next batch of its pool.
    Batch order is shuffled so lengths do not rise through the epoch.
    """
    order = rng.permutation(len(lengths))
    pool_size = batch_size * bucket_batches
    batches: list[np.ndarray] = []
    for start in range(0, len(order), pool_size):
        pool = order[start : start + pool_size]
        pool = list(pool[np.argsort(lengths[pool], kind="stable")])
        while pool:
            batch, seen, rest = [], set(), []
            for idx in pool:
                image = int(image_of_utterance[idx])
                if len(batch) < batch_size and image not in seen:
                    batch.append(idx)
                    seen.add(image)
                else:
                    rest.append(idx)
            batches.append(np.asarray(batch, dtype=np.int64))
            pool = rest
    rng.shuffle(batches)
    return batches


def voice_pairs(utterance_ids: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two renditions of every caption, drawn afresh each epoch: indices ``first[c]``, ``second[c]``.

    With ``speech.voices_per_caption`` > 1 the two are distinct voices of one caption. A caption
    spoken once (K = 1, or its other voices held out) pairs with itself: the two copies then differ
    only by augmentation, so the pair loss still asks for invariance to it.
    """
    by_caption: dict[str, list[int]] = {}
    for index, utterance_id in enumerate(utterance_ids):
        by_caption.setdefault(caption_key(str(utterance_id)), []).append(index)
    pairs = [[renditions[i] for i in rng.choice(len(renditions), size=2, replace=False)]
             if len(renditions) > 1 else renditions * 2 for renditions in by_caption.values()]
    first, second = np.asarray(pairs, dtype=np.int64).reshape(-1, 2).T
    return first, second


def pad_phones(phonemes: list[str], phone_ids: dict[str, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Space-separated phones -> [B, L] ids from 1 (0 = padding) and true lengths (0 for a caption without any).

    A phone missing from ``phone_ids`` (the training set's inventory) is left out rather than guessed.
    """
    ids = [[phone_ids[p] for p in utterance.split() if p in phone_ids] for utterance in phonemes]
    lengths = torch.tensor([len(s) for s in ids], dtype=torch.int64)
    out = torch.zeros(len(ids), max(int(lengths.max()), 1), dtype=torch.int64)
    for i, s in enumerate(ids):
        out[i, : len(s)] = torch.tensor(s, dtype=torch.int64)
    return out, lengths


def make_batch(split: SplitData, idx: np.ndarray, vocab: Vocabulary | None, voice_groups: np.ndarray,
               with_grid: bool = False, paired: bool = False, phone_ids: dict[str, int] | None = None) -> Batch:
    """The rows ``idx`` of a split as one padded batch; each image once, however many of its captions are in it."""
    speech, lengths = pad_frames([split.frames(i) for i in idx])
    images, image_index = np.unique(split.image_of_utterance[idx], return_inverse=True)
    batch = Batch(speech=speech, speech_lengths=lengths, image_index=torch.from_numpy(image_index),
                  image_pooled=torch.from_numpy(np.ascontiguousarray(split.pooled[images])), paired=paired)
    if with_grid:
        batch.image_grid = torch.from_numpy(split.grid[images].astype(np.float32))
    if vocab is not None:
        batch.text, batch.text_lengths = pad_tokens([vocab.encode(split.captions[i]) for i in idx])
    if phone_ids:
        batch.phones, batch.phone_lengths = pad_phones([split.phonemes[i] for i in idx], phone_ids)
    if len(voice_groups):
        batch.voice_index = torch.from_numpy(np.searchsorted(voice_groups, split.voice_groups[idx]))
    return batch
