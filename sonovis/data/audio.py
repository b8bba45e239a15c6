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


def decode_audio(source: str | Path | BinaryIO, name: str, max_seconds: float | None = None) -> Waveform:
    """Decode any ffmpeg-readable audio (wav, mp3, flac, opus, ...) to mono; ``name`` goes in errors.

    With ``max_seconds``, only that much (and a little more, to know it goes on) is decoded, so a few
    megabytes of low-bitrate Opus that hold hours of sound cannot fill memory before being refused.
    """
    from torchcodec.decoders import AudioDecoder  # here: only recordings, uploads and gTTS decode through ffmpeg

    try:
        decoder = AudioDecoder(source)
        stop = None if max_seconds is None else max_seconds + 1.0
        samples = decoder.get_samples_played_in_range(0.0, stop)
    except (RuntimeError, ValueError) as err:
        first_line = str(err).splitlines()[0] if str(err) else type(err).__name__
        reason = re.sub(r"^.*\.cpp:\d+,\s*", "", first_line).replace(str(name), "").strip(" :")
        raise InputError(f"{name}: cannot read audio ({reason})") from None
    if samples.data.numel() == 0:
        raise InputError(f"{name}: no audio samples")
    mono = samples.data.mean(dim=0).numpy().astype(np.float32, copy=False)
    wave_ = Waveform(samples=mono, sample_rate=int(samples.sample_rate))
    if max_seconds is not None and wave_.duration > max_seconds:
        length = decoder.metadata.duration_seconds_from_header
        said = f"{length:.1f} s" if length else f"over {max_seconds:.0f} s"
        raise InputError(f"{name}: {said} of audio; at most {max_seconds:.0f} s")
    return wave_


def load_audio(path: str | Path, max_seconds: float | None = None) -> Waveform:
    """A user's audio file as a mono waveform, with a one-line error naming the file; see decode_audio."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: audio file not found")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: empty file, no audio")
    return decode_audio(path, str(path), max_seconds)


def header_seconds(path: str | Path) -> float | None:
    """A file's length from its header, without decoding it (None when the header does not say).

    Lets a 10-hour recording be refused before its samples fill memory.
    """
    from torchcodec.decoders import AudioDecoder  # here for the same reason as in decode_audio

    try:
        return AudioDecoder(str(path)).metadata.duration_seconds_from_header
    except (RuntimeError, ValueError):
        return None  # unreadable: decoding it reports why


def audio_problem(wave_: Waveform, max_seconds: float, silence_dbfs: float) -> str | None:
    """Why audio is no usable caption, or None: longer than ``max_seconds`` (0 = no cap), or silent.

    Silent means no 25 ms frame reaches ``silence_dbfs`` RMS: a single click does not make a
    recording audible, and digital silence is -inf dB.
    """
    if max_seconds and wave_.duration > max_seconds:
        return f"audio of {wave_.duration:.1f} s, over speech.max_seconds = {max_seconds:g}"
    loudest = loudest_frame_dbfs(wave_)
    if loudest < silence_dbfs:
        return f"silent audio: loudest frame {loudest:.0f} dBFS, under speech.silence_dbfs = {silence_dbfs:g}"
    return None


def loudest_frame_dbfs(wave_: Waveform, frame_ms: float = 25.0) -> float:
    """RMS level of the loudest frame in dB relative to full scale (-inf for digital silence)."""
    frame = max(1, min(len(wave_.samples), int(wave_.sample_rate * frame_ms / 1000)))
    usable = wave_.samples[: len(wave_.samples) // frame * frame].astype(np.float64)
    power = float(np.square(usable).reshape(-1, frame).mean(axis=1).max()) if usable.size else 0.0
    return 10 * float(np.log10(power)) if power > 0 else float("-inf")


def read_wav(data: bytes | Path) -> Waveform:
    """16-bit PCM WAV via the stdlib: far cheaper than ffmpeg for espeak output and the cache."""
    with wave.open(io.BytesIO(data) if isinstance(data, bytes) else str(data), "rb") as wav:
        # espeak-ng --stdout writes a streaming header with a bogus frame count: read to the end.
        frames = wav.readframes(wav.getnframes())
        channels, rate = wav.getnchannels(), wav.getframerate()
    pcm = np.frombuffer(frames, dtype="<i2").reshape(-1, channels).astype(np.float32)
    return Waveform(samples=pcm.mean(axis=1) / 32768.0, sample_rate=rate)
