"""Audio in and out: any ffmpeg-readable file to a mono waveform, and the cheap stdlib WAV path."""

from __future__ import annotations

import io
import re
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from sonovis.errors import InputError


@dataclass
class Waveform:
    samples: np.ndarray  # float32 mono in [-1, 1]
    sample_rate: int

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return len(self.samples) / self.sample_rate


def decode_audio(source: str | Path | BinaryIO, name: str) -> Waveform:
    """Decode any ffmpeg-readable audio (wav, mp3, flac, ...) to mono; ``name`` goes in errors."""
    import torchaudio  # here: only recordings and gTTS decode through ffmpeg, and its import costs a second

    try:
        samples, sample_rate = torchaudio.load(source)
    except (RuntimeError, ValueError) as err:
        first_line = str(err).splitlines()[0] if str(err) else type(err).__name__
        reason = re.sub(r"^.*\.cpp:\d+,\s*", "", first_line).replace(str(name), "").strip(" :")
        raise InputError(f"{name}: cannot read audio ({reason})") from None
    if samples.numel() == 0:
        raise InputError(f"{name}: no audio samples")
    mono = samples.mean(dim=0).numpy().astype(np.float32, copy=False)
    return Waveform(samples=mono, sample_rate=int(sample_rate))


def load_audio(path: str | Path) -> Waveform:
    """A user's audio file as a mono waveform, with a one-line error naming the file."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: audio file not found")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: empty file, no audio")
    return decode_audio(path, str(path))


def read_wav(data: bytes | Path) -> Waveform:
    """16-bit PCM WAV via the stdlib: far cheaper than ffmpeg for espeak output and the cache."""
    with wave.open(io.BytesIO(data) if isinstance(data, bytes) else str(data), "rb") as wav:
        # espeak-ng --stdout writes a streaming header with a bogus frame count: read to the end.
        frames = wav.readframes(wav.getnframes())
        channels, rate = wav.getnchannels(), wav.getframerate()
    pcm = np.frombuffer(frames, dtype="<i2").reshape(-1, channels).astype(np.float32)
    return Waveform(samples=pcm.mean(axis=1) / 32768.0, sample_rate=rate)
