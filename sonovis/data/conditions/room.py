"""Rooms: an utterance as a microphone across a simulated room hears it (pyroomacoustics' image sources).

A room is a shoebox with one absorption for every wall, chosen by ``inverse_sabine`` to give the drawn
RT60, and a talker and a microphone at the drawn distance. Sabine's formula assumes a diffuse field,
which a shoebox of image sources is not: its response decays slower (a median 1.4x, 1.0-1.8x, over 20
rooms of 3.5-8 m), so each utterance records the drawn RT60 and the one measured on the response
(pyroomacoustics' ``measure_rt60``: Schroeder integration).

Computing a room's response is the expensive part (0.09 s CPU on average over the default ranges,
~1 s at RT60 0.7: image sources grow with RT60 cubed) and convolving an utterance with it is cheap
(4 ms), so each run draws ``speech.conditions.rooms`` rooms once and every utterance picks one of
them: each worker computes a room the first time it needs it and keeps it.

The rooms themselves depend on their index and the configured ranges only, not on speech.seed, so a
fixed evaluation room (a preset with ``rooms = 1``) is the same room in every prepared folder; the seed
decides which room each utterance is spoken in.
"""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from sonovis.config.schema import ConditionsConfig
from sonovis.data.conditions.draws import keyed_rng, rounded, uniform
from sonovis.errors import ConfigError

WALL_MARGIN_M = 0.5  # talker and microphone keep this far from every wall, so neither sits inside one
MOUTH_HEIGHT_M = (1.0, 1.6)  # seated to standing; the microphone sits at the same height
PEAK_LIMIT = 0.999  # a reverberant rendition louder than full scale is scaled down to this peak


@dataclass(frozen=True)
class Room:
    """One simulated room: what its impulse response depends on, and what the manifest records."""

    size_m: tuple[float, float, float]  # length, width, height
    rt60_s: float
    distance_m: float  # talker to microphone, both at height_m
    talker_m: tuple[float, float, float]
    microphone_m: tuple[float, float, float]


def draw_room(cfg: ConditionsConfig, index: int) -> Room:
    """Room ``index`` of the run's set: a floor, a ceiling, an RT60 and a talker-microphone pair inside it.

    The pair is centred on a random point with the segment at a random angle; ``check_rooms`` made sure
    the longest distance fits the smallest room, so no draw is ever refused.
    """
    rng = keyed_rng("room-set", index)
    length, width = uniform(rng, cfg.room_size_m), uniform(rng, cfg.room_size_m)
    height = uniform(rng, cfg.room_height_m)
    rt60, distance = uniform(rng, cfg.rt60_s), uniform(rng, cfg.distance_m)
    angle = rng.uniform(0.0, 2 * math.pi)
    half = (0.5 * distance * math.cos(angle), 0.5 * distance * math.sin(angle))
    centre = [rng.uniform(WALL_MARGIN_M + abs(h), side - WALL_MARGIN_M - abs(h))
              for h, side in zip(half, (length, width))]
    level = rng.uniform(MOUTH_HEIGHT_M[0], min(MOUTH_HEIGHT_M[1], height - WALL_MARGIN_M))
    talker = (centre[0] - half[0], centre[1] - half[1], level)
    microphone = (centre[0] + half[0], centre[1] + half[1], level)
    return Room(size_m=(length, width, height), rt60_s=rt60, distance_m=distance,
                talker_m=talker, microphone_m=microphone)


def check_rooms(cfg: ConditionsConfig, where: str) -> None:
    """Refuse ranges no shoebox can meet: a distance longer than the smallest room, or an RT60 too short.

    ``inverse_sabine`` needs an absorption of at most 1: a big room cannot be as dry as a small one.
    """
    import pyroomacoustics as pra  # here and below: 1.3 s of imports that only rooms need

    smallest = cfg.room_size_m[0] - 2 * WALL_MARGIN_M
    if cfg.distance_m[1] > smallest:
        raise ConfigError(f"{where}.distance_m = {list(cfg.distance_m)}: {cfg.distance_m[1]:g} m does not fit "
                          f"the smallest room ({cfg.room_size_m[0]:g} m, {WALL_MARGIN_M:g} m from each wall); "
                          f"at most {smallest:g}")
    lowest = MOUTH_HEIGHT_M[0] + WALL_MARGIN_M
    if cfg.room_height_m[0] < lowest:
        raise ConfigError(f"{where}.room_height_m = {list(cfg.room_height_m)}: at least {lowest:g} m, so a "
                          f"seated talker's mouth is {WALL_MARGIN_M:g} m below the ceiling")
    largest = [cfg.room_size_m[1], cfg.room_size_m[1], cfg.room_height_m[1]]
    try:
        pra.inverse_sabine(cfg.rt60_s[0], largest)
    except ValueError:
        raise ConfigError(f"{where}.rt60_s = {list(cfg.rt60_s)}: {cfg.rt60_s[0]:g} s is shorter than a "
                          f"{' x '.join(f'{s:g}' for s in largest)} m room can be; raise it or shrink "
                          f"room_size_m") from None


@functools.lru_cache(maxsize=256)
def impulse_response(room: Room, sample_rate: int) -> tuple[np.ndarray, float]:
    """The room's impulse response from talker to microphone (float64) and its measured RT60 in seconds.

    Computed once per worker and room: the measurement costs a fraction of the image sources.
    """
    import pyroomacoustics as pra

    absorption, max_order = pra.inverse_sabine(room.rt60_s, list(room.size_m))
    shoebox = pra.ShoeBox(list(room.size_m), fs=sample_rate, materials=pra.Material(absorption),
                          max_order=max_order)
    shoebox.add_source(list(room.talker_m))
    shoebox.add_microphone(list(room.microphone_m))
    shoebox.compute_rir()
    response = np.asarray(shoebox.rir[0][0], dtype=np.float64)
    return response, float(pra.experimental.measure_rt60(response, fs=sample_rate))


def reverberate(samples: np.ndarray, sample_rate: int, rng: np.random.Generator,
                cfg: ConditionsConfig) -> tuple[np.ndarray, dict[str, Any]]:
    """The utterance spoken in one of the run's rooms: same length, same loudness, the direct sound in place.

    The convolution is read from the direct path's arrival on, so the words keep their timing; the
    tail after the last sample is cut, as a recording that stops with the talker.
    """
    from scipy.signal import fftconvolve

    index = int(rng.integers(cfg.rooms))
    room = draw_room(cfg, index)
    response, measured_rt60 = impulse_response(room, sample_rate)
    onset = int(np.argmax(np.abs(response)))  # the direct path: nearer and unreflected, the strongest tap
    wet = fftconvolve(samples.astype(np.float64), response)[onset : onset + len(samples)]
    out = _same_loudness(wet, samples)
    return out.astype(np.float32), {"index": index, **rounded({**asdict(room), "measured_rt60_s": measured_rt60})}


def _same_loudness(wet: np.ndarray, dry: np.ndarray) -> np.ndarray:
    """Scale to the dry signal's RMS (a room is no gain stage), down to PEAK_LIMIT if that would clip."""
    wet_rms, dry_rms = np.sqrt(np.mean(np.square(wet))), np.sqrt(np.mean(np.square(dry)))
    gain = dry_rms / wet_rms if wet_rms > 0 else 0.0
    peak = float(np.max(np.abs(wet))) * gain
    return wet * (gain if peak <= PEAK_LIMIT else PEAK_LIMIT / peak * gain)
