"""Speech features: a waveform becomes time-major MFCC (or log-mel) frames at a fixed rate.

Every utterance goes through here once at prepare time, 35,000 times per worker for
Flickr8k, so the filterbank, window and resampling kernel are built once per setting
and reused. Resampling first means the features mean the same thing whatever rate the
synthesiser or the user's recordings came at.
"""

from __future__ import annotations

import functools
from typing import Callable

import numpy as np
import torch
import torchaudio

from sonovis.config import FeatureConfig
from sonovis.errors import ConfigError, InputError

FEATURE_KINDS = ("mfcc", "logmel")
LOG_MEL_FLOOR = 1e-6  # keeps log() finite in digital silence, far below any speech energy


def feature_dim(cfg: FeatureConfig) -> int:
    """Columns of :func:`speech_features`' output: what the speech encoder's input layer needs."""
    _check(cfg)
    return cfg.n_mfcc if cfg.kind == "mfcc" else cfg.n_mels


def speech_features(samples: np.ndarray, sample_rate: int, cfg: FeatureConfig) -> np.ndarray:
    """Float32 ``[frames, feature_dim(cfg)]`` for one utterance.

    ``samples`` is mono ``[time]`` or ``[channels, time]`` (as ``torchaudio.load`` returns;
    channels are averaged). Frames are centred, so there are ``1 + time // hop`` of them.
    """
    _check(cfg)
    waveform = torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32))
    if waveform.dim() not in (1, 2):
        raise InputError(f"audio samples: expected [time] or [channels, time], got shape {tuple(waveform.shape)}")
    if waveform.dim() == 2:
        waveform = waveform.mean(dim=0)
    with torch.inference_mode():
        if sample_rate != cfg.sample_rate:
            waveform = _resampler(sample_rate, cfg.sample_rate)(waveform)
        window = _window_samples(cfg.win_ms, cfg.sample_rate)
        if waveform.numel() <= _fft_size(window) // 2:
            raise InputError(
                f"audio samples: {waveform.numel()} samples at {cfg.sample_rate} Hz is shorter than "
                f"half an analysis window ({_fft_size(window) // 2 + 1} needed)"
            )
        extract = _extractor(cfg.kind, cfg.sample_rate, cfg.n_mfcc, cfg.n_mels, cfg.win_ms, cfg.hop_ms)
        features = extract(waveform)  # [feature_dim, frames]
        return features.transpose(0, 1).contiguous().numpy()


def _check(cfg: FeatureConfig) -> None:
    if cfg.kind not in FEATURE_KINDS:
        raise ConfigError(f"features.kind: {cfg.kind!r} is not one of {list(FEATURE_KINDS)}")
    if cfg.kind == "mfcc" and cfg.n_mfcc > cfg.n_mels:
        raise ConfigError(f"features.n_mfcc ({cfg.n_mfcc}) cannot exceed features.n_mels ({cfg.n_mels})")


def _window_samples(win_ms: float, sample_rate: int) -> int:
    return round(win_ms * sample_rate / 1000)


def _fft_size(window: int) -> int:
    """The next power of two at or above the window: fast FFT, and the window is zero-padded to it."""
    return 1 << (window - 1).bit_length()


@functools.lru_cache(maxsize=8)
def _resampler(orig_rate: int, new_rate: int) -> torchaudio.transforms.Resample:
    """``torchaudio.functional.resample``'s sinc kernel, built once per rate pair instead of per call."""
    return torchaudio.transforms.Resample(orig_rate, new_rate)


@functools.lru_cache(maxsize=8)
def _extractor(
    kind: str, sample_rate: int, n_mfcc: int, n_mels: int, win_ms: float, hop_ms: float
) -> Callable[[torch.Tensor], torch.Tensor]:
    """The transform for one setting; keyed on plain values because FeatureConfig is not hashable."""
    window = _window_samples(win_ms, sample_rate)
    mel_kwargs = {
        "n_fft": _fft_size(window),
        "win_length": window,
        "hop_length": round(hop_ms * sample_rate / 1000),
        "n_mels": n_mels,
    }
    if kind == "mfcc":
        return torchaudio.transforms.MFCC(sample_rate=sample_rate, n_mfcc=n_mfcc, melkwargs=mel_kwargs)
    mel = torchaudio.transforms.MelSpectrogram(sample_rate=sample_rate, **mel_kwargs)
    return lambda waveform: torch.log(mel(waveform) + LOG_MEL_FLOOR)
