"""Cross-modal retrieval metrics: recall@k and median rank, both directions.

The protocol is the standard spoken-caption one (Harwath & Glass; Flickr8k 1k images):

* speech -> image: every utterance ranks all M images; a hit is its own image.
* image -> speech: every image ranks all N utterances; a hit is ANY of its own
  utterances (usually five), so an image's rank is the best rank among them.

Ties are pessimistic: a candidate that scores exactly as high as the right answer is
counted as ranked above it (own captions of the same image never count against each
other). A model whose embeddings collapsed to one constant vector therefore scores
zero, not a perfect 100, and no ordering accident can flatter a model. Non-finite
embeddings (a diverged run) are refused, as NaN scores compare as neither higher nor lower.

Scores are computed in chunks so a 5,000 x 1,000 evaluation stays a few MB.
"""

from __future__ import annotations

import numpy as np
import torch

RECALL_AT = (1, 5, 10)
DIRECTIONS = {"s2i": "speech->image", "i2s": "image->speech"}


def retrieval_metrics(
    speech_emb: torch.Tensor,
    image_emb: torch.Tensor,
    image_of_speech: torch.Tensor | np.ndarray,
    chunk: int = 1024,
) -> dict[str, dict[str, float]]:
    """``{"s2i": {"r1", "r5", "r10", "medr"}, "i2s": {...}}``; recalls in percent, 1-based median rank.

    ``speech_emb`` [N, E] and ``image_emb`` [M, E] are compared by dot product (cosine for the
    model's L2-normalised embeddings); ``image_of_speech`` [N] holds each utterance's image row
    (a tensor, or a split's ``image_of_utterance`` array as it is: it is copied, never written).
    Images that no utterance describes are ranked against in speech->image but are not queries.
    """
    image_of_speech = (image_of_speech.long() if isinstance(image_of_speech, torch.Tensor)
                       else torch.from_numpy(np.array(image_of_speech, dtype=np.int64)))
    num_images = image_emb.shape[0]
    if speech_emb.shape[0] != image_of_speech.shape[0]:
        raise ValueError(f"{speech_emb.shape[0]} utterances but {image_of_speech.shape[0]} image indices")
    if image_of_speech.numel() and (image_of_speech.min() < 0 or image_of_speech.max() >= num_images):
        raise ValueError(f"image_of_speech must index the {num_images} images")
    if not (torch.isfinite(speech_emb).all() and torch.isfinite(image_emb).all()):
        raise ValueError("cannot rank non-finite embeddings (NaN or inf): the model has diverged")
    with torch.no_grad():
        speech_emb, image_emb = speech_emb.float(), image_emb.float()
        return {
            "s2i": _summarise(_speech_to_image_ranks(speech_emb, image_emb, image_of_speech, chunk)),
            "i2s": _summarise(_image_to_speech_ranks(speech_emb, image_emb, image_of_speech, chunk)),
        }


def _speech_to_image_ranks(
    speech_emb: torch.Tensor, image_emb: torch.Tensor, image_of_speech: torch.Tensor, chunk: int
) -> torch.Tensor:
    ranks = []
    for start in range(0, speech_emb.shape[0], chunk):
        scores = speech_emb[start : start + chunk] @ image_emb.T  # [n, M]
        own = scores.gather(1, image_of_speech[start : start + chunk, None])  # [n, 1]
        ranks.append((scores >= own).sum(dim=1))  # own image counts itself once: rank >= 1
    return torch.cat(ranks)


def _image_to_speech_ranks(
    speech_emb: torch.Tensor, image_emb: torch.Tensor, image_of_speech: torch.Tensor, chunk: int
) -> torch.Tensor:
    """Best rank of any own utterance = 1 + other images' utterances scoring at least as high as it."""
    queried = torch.unique(image_of_speech)
    ranks = []
    for start in range(0, queried.shape[0], chunk):
        images = queried[start : start + chunk]
        scores = image_emb[images] @ speech_emb.T  # [m, N]
        is_own = image_of_speech[None, :] == images[:, None]
        best_own = scores.masked_fill(~is_own, float("-inf")).amax(dim=1, keepdim=True)
        ranks.append(1 + ((scores >= best_own) & ~is_own).sum(dim=1))
    return torch.cat(ranks) if ranks else torch.zeros(0, dtype=torch.long)


def _summarise(ranks: torch.Tensor) -> dict[str, float]:
    """Recall@k in percent and the median rank (mean of the two middle ranks for an even count)."""
    if ranks.numel() == 0:
        return {**{f"r{k}": float("nan") for k in RECALL_AT}, "medr": float("nan")}
    ranks_np = ranks.cpu().numpy()
    out = {f"r{k}": float(100.0 * np.mean(ranks_np <= k)) for k in RECALL_AT}
    out["medr"] = float(np.median(ranks_np))
    return out


def format_metrics_table(metrics: dict[str, dict[str, float]]) -> str:
    """A small fixed-width table of ``retrieval_metrics`` output for the command line."""
    columns = [f"R@{k}" for k in RECALL_AT] + ["medr"]
    keys = [f"r{k}" for k in RECALL_AT] + ["medr"]
    label_width = max(len(label) for label in DIRECTIONS.values())
    lines = [f"{'direction':<{label_width}}  " + "  ".join(f"{c:>6}" for c in columns)]
    for direction, label in DIRECTIONS.items():
        if direction in metrics:
            values = metrics[direction]
            lines.append(f"{label:<{label_width}}  " + "  ".join(f"{values[k]:6.1f}" for k in keys))
    return "\n".join(lines)


MEAN_RECALL = "mean_recall"  # mean of R@1/5/10 both ways: smoother than any single recall
# What searches rank by and runs keep their best epoch by: mean_recall, and when train.holdout_voices
# is set, the mean of the seen and the held-out voices' mean_recall, so that a recipe that only
# fits the voices it trained on does not win (evaluation.split_metrics).
SEARCH_METRIC = "search_recall"


def flat_metrics(metrics: dict[str, dict[str, float]]) -> dict[str, float]:
    """``{"s2i": {"r1": ..}}`` -> ``{"s2i_r1": ..}`` plus their mean recall, for Tune and JSON lines."""
    flat = {f"{d}_{k}": float(v) for d, ks in metrics.items() for k, v in ks.items()}
    recalls = [flat[f"{d}_r{k}"] for d in ("s2i", "i2s") for k in (1, 5, 10)]
    flat[MEAN_RECALL] = float(np.mean(recalls))
    return flat
