"""The recording channel: a microphone's band and level, and the noise of the place it records in.

The filters are scipy.signal's Butterworth designs run causally (``sosfilt``), as an analogue
capsule and a converter's anti-alias filter are: a gentle 12 dB/octave low cut and a steep
48 dB/octave top, so the band edge is where the drawn cut-off says.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sonovis.config.schema import ConditionsConfig
from sonovis.data.conditions.draws import choice, rounded, uniform
from sonovis.errors import ConfigError, InputError

HIGHPASS_ORDER = 2  # 12 dB/octave: the low roll-off of small capsules
LOWPASS_ORDER = 8  # 48 dB/octave: an anti-alias filter, steep enough to end the band at its cut-off
NYQUIST_SHARE = 0.9  # a cut-off above this share of Nyquist is lowered to it (a filter needs room to fall)
BROWN_POLE = 0.99  # leaky integrator: -6 dB/octave above ~sample_rate/600 (35 Hz at 22 kHz), no DC drift
NOISE_COLOURS = ("white", "brown")


def check_channel(cfg: ConditionsConfig, where: str) -> None:
    """The band must be a band, and noise colours ones this module makes."""
    if cfg.highpass_hz[1] >= cfg.lowpass_hz[0]:
        raise ConfigError(f"{where}.highpass_hz = {list(cfg.highpass_hz)}: must stay below "
                          f"{where}.lowpass_hz = {list(cfg.lowpass_hz)}, or no band is left")
    unknown = [c for c in cfg.noise_colours if c not in NOISE_COLOURS]
    if unknown or not cfg.noise_colours:
        raise ConfigError(f"{where}.noise_colours = {list(cfg.noise_colours)}: expected some of "
                          f"{list(NOISE_COLOURS)}")


def microphone(samples: np.ndarray, sample_rate: int, rng: np.random.Generator,
               cfg: ConditionsConfig) -> tuple[np.ndarray, dict[str, Any]]:
    """Band-limit to a drawn low and high cut-off, then a drawn gain; what passes full scale clips.

    The high cut-off is lowered to NYQUIST_SHARE of Nyquist when the audio's rate is too low for it
    (an 8 kHz voice), and the value used is what is recorded.
    """
    from scipy.signal import butter, sosfilt  # here: scipy's import is only paid by runs with conditions

    low_cut = uniform(rng, cfg.highpass_hz)
    high_cut = min(uniform(rng, cfg.lowpass_hz), NYQUIST_SHARE * sample_rate / 2)
    gain_db = uniform(rng, cfg.gain_db)
    sections = np.vstack([butter(HIGHPASS_ORDER, low_cut, "highpass", fs=sample_rate, output="sos"),
                          butter(LOWPASS_ORDER, high_cut, "lowpass", fs=sample_rate, output="sos")])
    banded = sosfilt(sections, samples.astype(np.float64)) * 10 ** (gain_db / 20)
    clipped = float(np.mean(np.abs(banded) > 1.0))
    out = np.clip(banded, -1.0, 1.0).astype(np.float32)
    return out, rounded({"highpass_hz": low_cut, "lowpass_hz": high_cut, "gain_db": gain_db, "clipped": clipped})


def add_noise(samples: np.ndarray, sample_rate: int, rng: np.random.Generator,
              cfg: ConditionsConfig) -> tuple[np.ndarray, dict[str, Any]]:
    """Add white or brown noise at a drawn SNR against the utterance's mean power (pauses included)."""
    from scipy.signal import lfilter

    colour = choice(rng, cfg.noise_colours)
    snr_db = uniform(rng, cfg.snr_db)
    signal_power = float(np.mean(np.square(samples, dtype=np.float64)))
    if signal_power == 0:
        raise InputError("noise: digital silence has no level to set an SNR against")
    noise = rng.standard_normal(len(samples))
    if colour == "brown":
        noise = lfilter([1.0], [1.0, -BROWN_POLE], noise)
    noise *= np.sqrt(signal_power / (np.mean(np.square(noise)) * 10 ** (snr_db / 10)))
    return (samples + noise).astype(np.float32), rounded({"colour": colour, "snr_db": snr_db})
