"""Lossy codecs: an utterance encoded as MP3 or Opus by ffmpeg (torchcodec's AudioEncoder) and decoded back.

Decoding goes through ``sonovis.data.audio.decode_audio``, the path every user recording takes, and the
result is resampled to the input's rate (Opus always decodes at 48 kHz), so the round trip changes the
samples but not the rate, and the length only by what a codec frame rounds to.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from sonovis.config.schema import ConditionsConfig
from sonovis.data.audio import decode_audio
from sonovis.data.conditions.draws import choice
from sonovis.errors import ConfigError

# The rates each encoder takes (MPEG-1/2/2.5 layer III; libopus); the audio is encoded at the lowest
# at or above its own rate, so nothing is lost to resampling before the codec has its say.
ENCODER_RATES = {
    "mp3": (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000),
    "opus": (8000, 12000, 16000, 24000, 48000),
}


def check_codecs(cfg: ConditionsConfig, where: str) -> None:
    unknown = [c for c in cfg.codecs if c not in ENCODER_RATES]
    if unknown or not cfg.codecs:
        raise ConfigError(f"{where}.codecs = {list(cfg.codecs)}: expected some of {list(ENCODER_RATES)}")


def bitrate_range(cfg: ConditionsConfig, codec: str) -> tuple[int, int]:
    """The configured kbps range of one codec."""
    return cfg.mp3_kbps if codec == "mp3" else cfg.opus_kbps


def encoder_rate(codec: str, sample_rate: int) -> int:
    """The lowest rate the encoder takes at or above ``sample_rate`` (its highest if none is)."""
    rates = ENCODER_RATES[codec]
    return next((r for r in rates if r >= sample_rate), rates[-1])


def round_trip(samples: np.ndarray, sample_rate: int, rng: np.random.Generator,
               cfg: ConditionsConfig) -> tuple[np.ndarray, dict[str, Any]]:
    """Encode with a drawn codec and bitrate, decode, and return the audio at its own rate again."""
    import torch
    import torchaudio
    from torchcodec.encoders import AudioEncoder

    codec = choice(rng, cfg.codecs)
    low, high = bitrate_range(cfg, codec)
    kbps = int(rng.integers(low, high + 1))
    rate = encoder_rate(codec, sample_rate)
    encoder = AudioEncoder(torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32))[None],
                           sample_rate=sample_rate)
    encoded = encoder.to_tensor(codec, bit_rate=kbps * 1000, sample_rate=rate).numpy().tobytes()
    decoded = decode_audio(io.BytesIO(encoded), f"{codec} round trip")
    out = torch.from_numpy(decoded.samples)
    if decoded.sample_rate != sample_rate:
        out = torchaudio.functional.resample(out, decoded.sample_rate, sample_rate)
    return out.numpy().astype(np.float32), {"codec": codec, "kbps": kbps, "encoded_hz": rate,
                                            "bytes": len(encoded)}
