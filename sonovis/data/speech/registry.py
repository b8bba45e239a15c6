"""The one place that knows the speech engines' names: name -> "module:Class", imported on first use.

The CLI's choices, config validation, mixtures (``speech.engine = "espeak+flite"``) and ``--help``
all read ``ENGINES``. Classes are resolved lazily, so a run with espeak-ng never imports gTTS and its
HTTP stack. Adding an engine is one file beside this one and one line here (or ``register`` at run time).
"""

from __future__ import annotations

import importlib
from dataclasses import replace

from sonovis.config import SpeechConfig
from sonovis.data.speech.base import SpeechEngine
from sonovis.data.speech.mixture import MixedEngine
from sonovis.data.voices import check_patterns
from sonovis.errors import ConfigError

ENGINES: dict[str, str] = {
    "espeak": "sonovis.data.speech.espeak:EspeakEngine",  # offline formant voices, and mbrola's diphones
    "gtts": "sonovis.data.speech.gtts:GttsEngine",  # Google's voices, online
    "flite": "sonovis.data.speech.flite:FliteEngine",
    "pico": "sonovis.data.speech.pico:PicoEngine",
    "rhvoice": "sonovis.data.speech.rhvoice:RhvoiceEngine",
    "recordings": "sonovis.data.speech.recordings:RecordingsEngine",  # the user's own audio, not text-to-speech
}
NOT_TEXT_TO_SPEECH = {"recordings"}  # engines that read audio instead of speaking a caption
MIXTURE = "+"  # "espeak+flite": an engine drawn per utterance


def register(name: str, target: str, speaks_text: bool = True) -> None:
    """Add an engine (``"package.module:Class"``) under ``name``, e.g. from a plug-in or a test."""
    if not name.isidentifier() or MIXTURE in name:
        raise ConfigError(f"speech engine name {name!r}: use a plain identifier")
    ENGINES[name] = target
    if not speaks_text:
        NOT_TEXT_TO_SPEECH.add(name)


def text_to_speech_names() -> list[str]:
    """Engines that speak a text: what ``--tts`` and a mixture may name."""
    return [name for name in ENGINES if name not in NOT_TEXT_TO_SPEECH]


def engine_class(name: str) -> type[SpeechEngine]:
    if name not in ENGINES:
        raise ConfigError(f"speech.engine: unknown engine {name!r}; choose one of {', '.join(ENGINES)} "
                          f"or a mixture such as espeak+flite")
    module, _, cls = ENGINES[name].partition(":")
    return getattr(importlib.import_module(module), cls)


def check_engine_name(value: str, setting: str = "speech.engine") -> None:
    """Refuse an unknown engine (or a mixture naming one) without building anything."""
    names = value.split(MIXTURE)
    unknown = [n for n in names if n not in ENGINES]
    if unknown:
        raise ConfigError(f"{setting}: unknown engine {unknown[0]!r}; choose one of {', '.join(ENGINES)} "
                          f"or a mixture such as espeak+flite")
    if len(names) > 1 and (len(set(names)) < len(names) or set(names) & NOT_TEXT_TO_SPEECH):
        raise ConfigError(f"{setting} {value!r}: a mixture names each text-to-speech engine once")


def make_engine(cfg: SpeechConfig) -> SpeechEngine:
    """The engine ``cfg.engine`` names, built and checked (voices exist, held-out patterns leave voices)."""
    check_patterns(cfg.holdout_voices, "speech.holdout_voices")
    check_engine_name(cfg.engine)
    if MIXTURE in cfg.engine:
        engines = [make_engine(replace(cfg, engine=name)) for name in cfg.engine.split(MIXTURE)]
        return MixedEngine(cfg, engines)
    return engine_class(cfg.engine)(cfg)
