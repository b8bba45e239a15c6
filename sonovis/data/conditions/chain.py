"""The condition kinds, their physical order, which renditions go through them, and what is recorded.

Each kind is a function ``(samples float32 mono, sample_rate, rng, cfg) -> (samples, params)``;
``params`` are its drawn values, which the shard's ``condition`` column and the manifest keep. The
registry's order is the order sound meets them: a voice, a room, a microphone, noise on the line,
then the codec that stores or sends it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Sequence

import numpy as np

from sonovis.config.schema import SPLITS, ConditionsConfig, SpeechConfig
from sonovis.data.conditions.channel import add_noise, check_channel, microphone
from sonovis.data.conditions.codec import check_codecs, round_trip
from sonovis.data.conditions.draws import keyed_rng, rounded
from sonovis.data.conditions.presets import PRESETS
from sonovis.data.conditions.room import check_rooms, reverberate
from sonovis.errors import ConfigError

Condition = Callable[[np.ndarray, int, np.random.Generator, ConditionsConfig], tuple[np.ndarray, dict[str, Any]]]
CLEAN = "clean"  # the manifest's count of utterances that went through no condition


def voice_conversion(samples: np.ndarray, sample_rate: int, rng: np.random.Generator,
                     cfg: ConditionsConfig) -> tuple[np.ndarray, dict[str, Any]]:
    """WORLD resynthesis with a drawn F0 scale and envelope warp (``conversion.py``)."""
    from sonovis.data.conditions.conversion import convert_voice  # pyworld: only runs that convert import it

    out, params = convert_voice(samples, sample_rate, rng, cfg.f0_scale, cfg.envelope_warp)
    return out, rounded(params)


KINDS: dict[str, Condition] = {  # in physical order: the chain applies them in this order whatever the config says
    "voice_conversion": voice_conversion,
    "room": reverberate,
    "microphone": microphone,
    "noise": add_noise,
    "codec": round_trip,
}
CHECKS: dict[str, Callable[[ConditionsConfig, str], None]] = {
    "room": check_rooms, "microphone": check_channel, "noise": check_channel, "codec": check_codecs,
}


def check_conditions(speech: SpeechConfig, prepared: Sequence[str] = SPLITS) -> None:
    """Refuse unknown kinds, presets or splits, a preset together with kinds, kinds that no ``prepared``
    split would go through, and ranges no condition can meet."""
    cfg, where = speech.conditions, "speech.conditions"
    if speech.eval_condition:
        if speech.eval_condition not in PRESETS:
            raise ConfigError(f"speech.eval_condition = {speech.eval_condition!r}: expected one of "
                              f"{', '.join(PRESETS)} (or \"\" for none)")
        if cfg.kinds:
            raise ConfigError(f"speech.eval_condition = {speech.eval_condition!r} fixes every utterance's "
                              f"conditions; leave {where}.kinds = {list(cfg.kinds)} empty (--conditions none)")
        cfg, where = PRESETS[speech.eval_condition], f"preset {speech.eval_condition!r}"
    unknown = [k for k in cfg.kinds if k not in KINDS]
    if unknown:
        raise ConfigError(f"{where}.kinds: unknown kind {unknown[0]!r}; known kinds: {', '.join(KINDS)}")
    if len(set(cfg.kinds)) != len(cfg.kinds):
        raise ConfigError(f"{where}.kinds = {list(cfg.kinds)}: each kind once (they apply in a fixed order)")
    if not speech.eval_condition and (unknown := [s for s in cfg.splits if s not in SPLITS]):
        raise ConfigError(f"{where}.splits: unknown split {unknown[0]!r}; expected some of {', '.join(SPLITS)}")
    if cfg.kinds and not speech.eval_condition and not set(prepared) & set(cfg.splits):
        raise ConfigError(f"{where}.splits = {list(cfg.splits)} conditions none of the splits prepared here "
                          f"({', '.join(prepared)}): add them (--condition-splits) or prepare without them "
                          "(--conditions none; --eval-condition for a fixed room)")
    if cfg.kinds and cfg.per_caption > speech.voices_per_caption and not speech.eval_condition:
        raise ConfigError(f"{where}.per_caption = {cfg.per_caption}: must not exceed speech.voices_per_caption "
                          f"= {speech.voices_per_caption} (the first K renditions of a caption go through them)")
    for kind in cfg.kinds:
        if kind in CHECKS:
            CHECKS[kind](cfg, where)


def conditions_for(speech: SpeechConfig, caption_id: str, k: int, split: str) -> ConditionsConfig | None:
    """The conditions a caption's k-th rendition in ``split`` goes through, or None: it stays clean.

    A preset conditions every rendition of every split; configured kinds condition the first
    ``per_caption`` of a caption in ``speech.conditions.splits``, for the ``share`` of captions drawn
    from (seed, caption id) alone, so every rendition of a caption agrees and no order matters.
    """
    if speech.eval_condition:
        return PRESETS[speech.eval_condition]
    cfg = speech.conditions
    if not (cfg.kinds and split in cfg.splits and k < cfg.per_caption):
        return None
    if cfg.share < 1 and keyed_rng(speech.seed, caption_id, "share").random() >= cfg.share:
        return None
    return cfg


def render(samples: np.ndarray, sample_rate: int, cfg: ConditionsConfig, seed: int,
           utterance_id: str) -> tuple[np.ndarray, dict[str, dict[str, Any]]]:
    """The utterance through every configured kind in physical order, and each kind's drawn values.

    Each kind draws from its own generator keyed by (seed, utterance id, kind), so turning one kind
    on or off leaves the others' draws as they were.
    """
    record: dict[str, dict[str, Any]] = {}
    for kind, condition in KINDS.items():
        if kind in cfg.kinds:
            samples, record[kind] = condition(samples, sample_rate, keyed_rng(seed, utterance_id, kind), cfg)
    return samples, record


def condition_text(record: dict[str, dict[str, Any]]) -> str:
    """The shard's ``condition`` column: JSON of kind -> params, "" for a clean utterance."""
    return json.dumps(record) if record else ""


def condition_counts(splits: Sequence[str], conditions: Sequence[str], speech: SpeechConfig) -> dict[str, Any]:
    """The manifest's record: per split, how many utterances went through each kind, and how many stayed clean."""
    by_split: dict[str, dict[str, int]] = {}
    for split, text in zip(splits, conditions):
        counts = by_split.setdefault(split, {CLEAN: 0})
        for kind in json.loads(text) if text else [CLEAN]:
            counts[kind] = counts.get(kind, 0) + 1
    cfg = PRESETS.get(speech.eval_condition, speech.conditions)
    return {"kinds": list(cfg.kinds), "preset": speech.eval_condition, "by_split": by_split}
