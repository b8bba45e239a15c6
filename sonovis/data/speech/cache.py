"""Synthesised audio cached on disk, so a rerun of a 35,000-caption corpus is file reads."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import wave
from dataclasses import asdict
from pathlib import Path

import numpy as np

from sonovis.config import SpeechConfig
from sonovis.data.audio import Waveform, read_wav
from sonovis.data.corpus.rows import CaptionRow
from sonovis.data.speech.base import SpeechEngine, TextToSpeech, Voice


class SpeechCache:
    """Synthesised audio on disk, addressed by sha256 of (engine, voice settings, text)."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def path_for(self, voice: Voice, text: str) -> Path:
        key = json.dumps({"voice": asdict(voice), "text": text}, sort_keys=True)
        digest = hashlib.sha256(key.encode()).hexdigest()
        return self.root / digest[:2] / f"{digest}.wav"

    def get(self, voice: Voice, text: str) -> Waveform | None:
        path = self.path_for(voice, text)
        try:
            return read_wav(path)
        except FileNotFoundError:
            return None
        except (wave.Error, EOFError, ValueError):
            return None  # damaged by something outside sonovis: a miss, and put() replaces it

    def put(self, voice: Voice, text: str, wave_: Waveform) -> None:
        """Write to a temp file and rename it in, so a killed worker never leaves half a file."""
        path = self.path_for(voice, text)
        path.parent.mkdir(parents=True, exist_ok=True)
        pcm = np.clip(np.round(wave_.samples * 32768.0), -32768, 32767).astype("<i2")  # inverse of read_wav
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle, wave.open(handle, "wb") as wav:
                wav.setnchannels(1)
                wav.setsampwidth(2)
                wav.setframerate(wave_.sample_rate)
                wav.writeframes(pcm.tobytes())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def speak(
    row: CaptionRow, engine: SpeechEngine, cache: SpeechCache | None, k: int = 0
) -> tuple[Voice, Waveform, bool]:
    """The k-th voice and audio of a row, and whether it came from the cache."""
    voice = engine.voice_for(row.utterance_id, k, row.split)
    if cache is None or not isinstance(engine, TextToSpeech):
        return voice, engine.audio_for(row, voice), False
    cached = cache.get(voice, row.caption)
    if cached is not None:
        return voice, cached, True
    audio = engine.audio_for(row, voice)
    cache.put(voice, row.caption, audio)
    return voice, audio, False


def default_cache_dir(cfg: SpeechConfig) -> Path:
    return Path(cfg.cache_dir).expanduser() if cfg.cache_dir else Path.home() / ".cache" / "sonovis" / "speech"
