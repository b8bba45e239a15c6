"""Voice conversion: resynthesise an utterance through the WORLD vocoder with a new pitch and vocal tract.

No speech engine here uses WORLD, so a model trained partly on WORLD resynthesis can no longer
tell captions apart by the synthesiser's excitation and spectral fingerprint (issue #26). WORLD
splits speech into F0, a smooth spectral envelope (CheapTrick) and aperiodicity (D4C) and builds
the waveform anew from pulses and noise, so nothing of the engine's own excitation survives; the
F0 is scaled, and the envelope's frequency axis is warped as a longer or shorter vocal tract would.

F0 comes from DIO refined by StoneMask rather than Harvest. Measured on espeak-ng captions at
16 and 22.05 kHz, DIO + StoneMask costs 0.02 CPU-seconds per second of audio against Harvest's
0.22 (the whole conversion then costs 0.07 rather than 0.3), their median F0 agree within 3 %, and
Harvest called 95 % of a female voice's frames voiced against DIO's 67 %: it voices fricatives
and pauses, which would put a buzz where the input had none.

Degenerate input is refused with an InputError rather than passed through: a pass-through
would be recorded as a conversion that never happened. Prepare refuses silent audio before any
condition, and turns an InputError into a counted skip, so a refusal never passes unseen.
"""

from __future__ import annotations

import numpy as np
import pyworld

from sonovis.data.audio import Waveform, loudest_frame_dbfs
from sonovis.errors import InputError

F0_FLOOR_HZ = pyworld.default_f0_floor  # 71 Hz, WORLD's own: under espeak-ng's male voices (about 100 Hz)
FRAME_PERIOD_MS = 5.0  # WORLD's default: fine enough for the fastest pitch movements of speech
MIN_SECONDS = 3.0 / F0_FLOOR_HZ  # CheapTrick's window, three periods of the floor: shorter has no envelope
SILENCE_DBFS = -90.0  # no 25 ms frame above the last bits of 16-bit PCM: no voice to find, no loudness to keep
PEAK_LIMIT = 0.999  # a louder resynthesis is scaled down to this peak rather than clipped


def convert_voice(samples: np.ndarray, sample_rate: int, rng: np.random.Generator,
                  f0_range: tuple[float, float],
                  envelope_range: tuple[float, float]) -> tuple[np.ndarray, dict[str, float]]:
    """Resynthesise float32 mono ``samples`` with a drawn F0 scale and envelope warp; same length out.

    Each factor is drawn log-uniformly from its range (a scale and its inverse equally likely):
    ``f0_scale`` multiplies every voiced frame's F0 (unvoiced frames stay unvoiced), and
    ``envelope_warp`` > 1 moves the envelope's formants up by that factor, as a shorter vocal tract
    does. The output keeps the input's RMS loudness (lower only if its peak would pass full scale).
    Returns the waveform and the drawn ``{"f0_scale": ..., "envelope_warp": ...}``. The ranges are
    checked where they are read (``speech.conditions.f0_scale`` and ``envelope_warp``: positive, low first).
    """
    signal = _checked_signal(samples, sample_rate)
    f0_scale = _draw_log_uniform(rng, f0_range)
    envelope_warp = _draw_log_uniform(rng, envelope_range)

    rough_f0, times = pyworld.dio(signal, sample_rate, f0_floor=F0_FLOOR_HZ, frame_period=FRAME_PERIOD_MS)
    f0 = pyworld.stonemask(signal, rough_f0, times, sample_rate)
    envelope = pyworld.cheaptrick(signal, f0, times, sample_rate, f0_floor=F0_FLOOR_HZ)
    aperiodicity = pyworld.d4c(signal, f0, times, sample_rate)
    resynthesis = pyworld.synthesize(f0 * f0_scale, warp_envelope(envelope, envelope_warp), aperiodicity,
                                     sample_rate, frame_period=FRAME_PERIOD_MS)
    out = _same_loudness(_same_length(resynthesis, len(signal)), signal)
    return out.astype(np.float32), {"f0_scale": f0_scale, "envelope_warp": envelope_warp}


def warp_envelope(envelope: np.ndarray, warp: float) -> np.ndarray:
    """Stretch each frame's envelope along frequency: what sat at f moves to ``warp`` x f.

    Linear in frequency, as a uniformly shorter (warp > 1) or longer tube scales every resonance
    alike. Read-out positions beyond Nyquist (warp < 1) repeat the top bin, whose energy is small.
    """
    bins = envelope.shape[1]
    source = np.minimum(np.arange(bins) / warp, bins - 1)
    below = np.floor(source).astype(int)
    above = np.minimum(below + 1, bins - 1)
    share = source - below
    warped = envelope[:, below] * (1 - share) + envelope[:, above] * share
    return np.ascontiguousarray(warped)  # column indexing leaves Fortran order, which WORLD refuses


def _checked_signal(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """The samples as float64 for WORLD, after refusing what has no voice to convert."""
    if samples.ndim != 1:
        raise InputError(f"voice conversion: expected mono samples [time], got shape {samples.shape}")
    seconds = len(samples) / sample_rate
    if seconds < MIN_SECONDS:
        raise InputError(f"voice conversion: {seconds * 1000:.0f} ms of audio, under the "
                         f"{MIN_SECONDS * 1000:.0f} ms WORLD needs for one spectral envelope")
    loudest = loudest_frame_dbfs(Waveform(samples=samples, sample_rate=sample_rate))
    if loudest < SILENCE_DBFS:
        raise InputError(f"voice conversion: silent audio (loudest frame {loudest:.0f} dBFS, "
                         f"under {SILENCE_DBFS:.0f}): no voice to convert")
    return samples.astype(np.float64)


def _draw_log_uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    """A factor between the bounds, uniform in its logarithm."""
    return float(np.exp(rng.uniform(np.log(bounds[0]), np.log(bounds[1]))))


def _same_length(resynthesis: np.ndarray, length: int) -> np.ndarray:
    """WORLD rounds up to whole frames: cut its tail, or pad with silence if it fell short."""
    return np.pad(resynthesis[:length], (0, max(0, length - len(resynthesis))))


def _same_loudness(resynthesis: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Scale to the reference's RMS, then down to PEAK_LIMIT if that would pass full scale."""
    level = np.sqrt(np.mean(np.square(resynthesis)))
    gain = np.sqrt(np.mean(np.square(reference))) / level if level > 0 else 0.0
    peak = np.max(np.abs(resynthesis)) * gain
    return resynthesis * (gain if peak <= PEAK_LIMIT else PEAK_LIMIT / np.max(np.abs(resynthesis)))
