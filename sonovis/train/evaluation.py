"""Embedding a split and scoring it: the per-epoch evaluation, and what ``evaluate`` and the benchmarks read.

Kept apart from the Trainer: it needs a model and a split, not an optimiser, and reads no training state.
"""

from __future__ import annotations

import numpy as np
import torch

from sonovis.data.shards import SplitData
from sonovis.model.joint import SonovisModel
from sonovis.model.text import Vocabulary
from sonovis.train.batches import pad_frames, pad_tokens
from sonovis.train.heap import release_free_heap
from sonovis.train.metrics import MEAN_RECALL, SEARCH_METRIC, flat_metrics, retrieval_metrics
from sonovis.train.voice_metrics import RATIO_KEY, voice_metrics, voice_ratio

# Utterances encoded at once when evaluating: the longest chunk's activations are the peak of a
# trial's memory (256 at up to 20 s each took ~1 GiB), and 64 keeps the encoder just as busy.
EVAL_CHUNK = 64


@torch.inference_mode()
def embed_split(model: SonovisModel, split: SplitData, vocab: Vocabulary | None, embed_dim: int) -> dict[str, torch.Tensor]:
    """Speech (and text) embeddings of every utterance, and of every image, in eval mode."""
    model.eval()
    order = np.argsort(split.lengths, kind="stable")  # similar lengths together: less padding
    speech = torch.zeros(len(order), embed_dim)
    text = torch.zeros_like(speech) if vocab is not None else None
    for start in range(0, len(order), EVAL_CHUNK):
        idx = order[start : start + EVAL_CHUNK]
        frames, lengths = pad_frames([split.frames(i) for i in idx])
        speech[idx] = model.encode_speech(frames, lengths)
        if text is not None:
            tokens, tok_lengths = pad_tokens([vocab.encode(split.captions[i]) for i in idx])
            text[idx] = model.encode_text(tokens, tok_lengths)
    out = {"speech": speech, "image": model.encode_image(torch.from_numpy(np.array(split.pooled)))}
    if text is not None:
        out["text"] = text
    release_free_heap()
    return out


def split_metrics(emb: dict[str, torch.Tensor], split: SplitData, holdout_voices: tuple[str, ...] = ()) -> dict[str, float]:
    """Flat retrieval metrics of a split's embeddings; the text ceiling when text is a modality; held-out
    and seen voices apart (and their ratio) when ``train.holdout_voices`` is set; the search metric."""
    image_of = split.image_of_utterance
    flat = flat_metrics(retrieval_metrics(emb["speech"], emb["image"], image_of))
    if "text" in emb:
        text = retrieval_metrics(emb["text"], emb["image"], image_of)
        flat.update({f"text_{k}": v for k, v in flat_metrics(text).items() if k != MEAN_RECALL})
    if holdout_voices:
        subsets = voice_metrics(emb["speech"], emb["image"], image_of, split.voices, holdout_voices)
        for name, metrics in subsets.items():
            flat.update({f"{name}_{k}": v for k, v in flat_metrics(metrics).items()})
        flat[RATIO_KEY] = voice_ratio(subsets)
    both = [flat.get(f"{name}_{MEAN_RECALL}") for name in ("seen", "heldout")]
    flat[SEARCH_METRIC] = float(np.mean(both)) if None not in both else flat[MEAN_RECALL]
    return flat
