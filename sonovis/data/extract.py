"""The work inside one shard: caption rows -> speech -> features, and image files -> backbone features.

Pure Python with no Ray, so the same code runs in a Ray Data worker, in a plain
loop (the benchmark's baseline) and in tests.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from PIL import Image

from sonovis.config import PrepareConfig
from sonovis.data.audio import Waveform, audio_problem, header_seconds
from sonovis.data.conditions import condition_text, conditions_for, render
from sonovis.data.corpus.rows import CaptionRow
from sonovis.data.features import feature_dim, speech_features
from sonovis.data.phonemes import phonemiser
from sonovis.data.shards import (
    frames_array,
    grid_array,
    image_schema,
    rendition_id,
    utterance_schema,
)
from sonovis.data.speech.base import SpeechEngine, Voice
from sonovis.data.speech.cache import SpeechCache, default_cache_dir, speak
from sonovis.data.speech.registry import make_engine
from sonovis.errors import InputError


@dataclass
class UtteranceTask:
    row: CaptionRow
    voice_index: int  # k-th voice speaking this caption (voices_per_caption > 1)

    @property
    def utterance_id(self) -> str:
        return rendition_id(self.row.utterance_id, self.voice_index)


@dataclass
class ShardResult:
    table: pa.Table
    skipped: list[dict[str, Any]] = field(default_factory=list)
    stats: dict[str, float] = field(default_factory=dict)
    phonemes: str = ""  # what made the shard's phonemes (utterance shards only)


class Extractor:
    """Holds what is slow to build (TTS engine, speech cache, image backbone) for many shards."""

    def __init__(self, cfg: PrepareConfig):
        self.cfg = cfg
        self.engine: SpeechEngine = make_engine(cfg.speech)
        self.cache = SpeechCache(default_cache_dir(cfg.speech))
        self._backbone = None

    def utterances(self, tasks: list[UtteranceTask]) -> ShardResult:
        feats: list[np.ndarray] = []
        columns: dict[str, list] = {k: [] for k in utterance_schema(1).names if k != "features"}
        skipped: list[dict[str, Any]] = []
        stats = {"synthesised": 0, "cache_hits": 0, "speech_seconds": 0.0, "condition_seconds": 0.0,
                 "feature_seconds": 0.0}
        phonemise = phonemiser()
        phones = dict(zip((t.row.caption for t in tasks), phonemise([t.row.caption for t in tasks])))
        for task in tasks:
            row = task.row
            t0 = time.perf_counter()
            try:
                voice, wave, cached = self._speak(task)
            except InputError as err:  # one unreadable recording must not sink the shard
                skipped.append(_skip(row, task, f"audio: {err}"))
                continue
            t1 = time.perf_counter()
            stats["speech_seconds"] += t1 - t0
            stats["cache_hits" if cached else "synthesised"] += 1
            try:
                wave, condition = self._condition(task, wave)
            except InputError as err:  # a condition that cannot apply (e.g. too short to convert) is a skip
                skipped.append(_skip(row, task, f"conditions: {err}"))
                continue
            t2 = time.perf_counter()
            stats["condition_seconds"] += t2 - t1
            try:
                matrix = speech_features(wave.samples, wave.sample_rate, self.cfg.features)
            except InputError as err:  # e.g. empty or shorter than one analysis window
                skipped.append(_skip(row, task, str(err)))
                continue
            stats["feature_seconds"] += time.perf_counter() - t2
            feats.append(matrix)
            for key, value in (
                ("id", task.utterance_id), ("image", row.image_id), ("caption", row.caption),
                ("phonemes", phones[row.caption]), ("split", row.split), ("engine", voice.engine),
                ("voice", voice.label()),
                ("voice_group", voice.group()), ("condition", condition),
                ("sample_rate", self.cfg.features.sample_rate),
                ("duration", wave.duration), ("n_frames", len(matrix)),
            ):
                columns[key].append(value)
        dim = feature_dim(self.cfg.features)
        schema = utterance_schema(dim)
        arrays = [pa.array(columns[n], type=schema.field(n).type) for n in schema.names[:-1]]
        table = pa.Table.from_arrays(arrays + [frames_array(feats, dim)], schema=schema)
        return ShardResult(table, skipped, stats, phonemise.source)

    def _speak(self, task: UtteranceTask) -> tuple[Voice, Waveform, bool]:
        """A task's voice and audio; audio too long (checked from a recording's header first) or silent is refused."""
        speech = self.cfg.speech
        row = task.row
        if row.audio_path and speech.max_seconds:
            seconds = header_seconds(row.audio_path)
            if seconds is not None and seconds > speech.max_seconds:
                raise InputError(f"{row.audio_path}: {seconds:.1f} s long, over speech.max_seconds = "
                                 f"{speech.max_seconds:g}")
        voice, wave, cached = speak(row, self.engine, self.cache, task.voice_index)
        problem = audio_problem(wave, speech.max_seconds, speech.silence_dbfs)
        if problem:
            raise InputError(f"{row.audio_path or voice.label()}: {problem}")
        return voice, wave, cached

    def _condition(self, task: UtteranceTask, wave: Waveform) -> tuple[Waveform, str]:
        """The audio through the rendition's conditions, if it has any, and their record for the shard.

        After synthesis, so the speech cache keeps clean audio and one synthesis serves every condition.
        """
        conditions = conditions_for(self.cfg.speech, task.row.utterance_id, task.voice_index, task.row.split)
        if conditions is None:
            return wave, condition_text({})
        samples, record = render(wave.samples, wave.sample_rate, conditions, self.cfg.speech.seed,
                                 task.utterance_id)
        return Waveform(samples=samples, sample_rate=wave.sample_rate), condition_text(record)

    def images(self, rows: list[tuple[str, str, str]]) -> ShardResult:
        """``rows`` are (image id, split, absolute path); decode failures were caught by the corpus reader."""
        backbone = self.backbone
        t0 = time.perf_counter()
        pooled, grids = [], []
        batch = self.cfg.features.image_batch
        for start in range(0, len(rows), batch):
            images = []
            for _, _, path in rows[start : start + batch]:
                with Image.open(path) as img:
                    images.append(img.convert("RGB"))
            p, g = backbone(images)
            pooled.append(p)
            grids.append(g)
        pooled_arr, grid_arr = np.concatenate(pooled), np.concatenate(grids)
        schema = image_schema(backbone.pooled_dim, backbone.grid_dim)
        table = pa.Table.from_arrays([
            pa.array([r[0] for r in rows]), pa.array([r[1] for r in rows]),
            pa.array([backbone.name] * len(rows)),
            pa.FixedSizeListArray.from_arrays(pa.array(pooled_arr.ravel()), backbone.pooled_dim),
            grid_array(grid_arr),
        ], schema=schema)
        return ShardResult(table, [], {"image_seconds": time.perf_counter() - t0})

    @property
    def backbone(self):
        if self._backbone is None:
            # Imported here: timm and torchvision add ~2 s to every worker's start, and most
            # shards are utterances, which never need them.
            from sonovis.data.backbones import load_backbone

            self._backbone = load_backbone(self.cfg.features.backbone)
        return self._backbone


def _skip(row: CaptionRow, task: UtteranceTask, reason: str) -> dict[str, Any]:
    """The manifest entry of an utterance that could not be made, at the corpus file and line of its row."""
    source = row.source or row.audio_path or row.image_id
    return {"source": str(Path(source)), "line": row.line, "id": task.utterance_id, "split": row.split,
            "reason": reason}
