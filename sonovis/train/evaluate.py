"""``sonovis evaluate``: a checkpoint scored on a prepared split with the standard 1k-image protocol."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sonovis.data.shards import load_prepared
from sonovis.train.checkpoint import load_checkpoint
from sonovis.train.metrics import format_metrics_table, retrieval_metrics
from sonovis.train.voice_metrics import by_voice_group, by_voice_table


def evaluate_checkpoint(checkpoint: str | Path, data_path: str | Path, split: str = "dev",
                        by_voice: bool = False) -> dict[str, Any]:
    """``{"s2i": {r1, r5, r10, medr}, "i2s": {...}}`` in percent; plus ``t2i`` (the text ceiling) when trained
    with text, and ``by_voice`` (speech->image per voice group) when asked: one accent may lag the rest."""
    data = load_prepared(data_path, splits=(split,))
    trainer = load_checkpoint(checkpoint, data)
    part = data.splits[split]
    emb = trainer.embed(part)
    image_of = part.image_of_utterance
    result: dict[str, Any] = retrieval_metrics(emb["speech"], emb["image"], image_of)
    if "text" in emb:
        result["t2i"] = retrieval_metrics(emb["text"], emb["image"], image_of)["s2i"]
    if by_voice:
        result["by_voice"] = by_voice_group(emb["speech"], emb["image"], image_of, part.voice_groups)
    result["split"] = split
    result["images"] = int(len(part.image_ids))
    result["utterances"] = int(len(part.utterance_ids))
    return result


def metrics_text(result: dict[str, Any]) -> str:
    head = f"{result['split']}: {result['utterances']} utterances, {result['images']} images"
    text = head + "\n" + format_metrics_table({k: v for k, v in result.items() if k != "by_voice"})
    return text + ("\n\n" + by_voice_table(result["by_voice"]) if "by_voice" in result else "")
