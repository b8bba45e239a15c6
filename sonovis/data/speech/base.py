"""The speech interface every engine implements: a voice per utterance, and a caption row's audio in it.

Voices are drawn from a hash of ``(seed, utterance id, k)`` only, so every worker, rerun and ordering
speaks a caption alike. With ``speech.holdout_voices`` the split also decides which voices are
eligible (``sonovis.data.voices``).
"""

from __future__ import annotations

import hashlib
import random
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Sequence, TypeVar

from sonovis.config import SpeechConfig
from sonovis.data.audio import Waveform
from sonovis.data.corpus.checks import text_problem
from sonovis.data.corpus.rows import CaptionRow
from sonovis.errors import ConfigError, InputError

T = TypeVar("T")


@dataclass(frozen=True)
class Voice:
    """Everything that shapes how a text sounds; also the cache key besides the text."""

    engine: str  # espeak | gtts | flite | pico | rhvoice | recordings
    name: str = ""  # espeak voice (en-gb, mb-us1), flite voice (slt), Pico language (en-GB) or RHVoice voice (alan)
    variant: str = ""  # espeak variant, e.g. f2 ("" = none)
    speed: int = 0  # espeak words per minute
    pitch: int = 0  # espeak pitch 0..99
    tld: str = ""  # gTTS Google domain, e.g. co.uk

    def label(self) -> str:
        """Short string for manifests and tables, e.g. ``espeak:en-gb+f2/s160/p40``."""
        if self.engine == "recordings":
            return "recording"
        if self.tld:  # gTTS: an accent is a Google domain, with no speed or pitch
            return f"{self.engine}:{self.tld}"
        return f"{self.engine}:{self.espeak_name}/s{self.speed}/p{self.pitch}"

    def group(self) -> str:
        """Voice family, so an evaluation can hold out whole accents rather than one speed."""
        if self.engine == "recordings" or self.tld:
            return self.label()
        return f"{self.engine}:{self.name}"

    @property
    def espeak_name(self) -> str:
        return f"{self.name}+{self.variant}" if self.variant else self.name


class SpeechEngine(ABC):
    """Maps an utterance to a voice and a caption row to audio."""

    name: str

    def __init__(self, cfg: SpeechConfig):
        self.cfg = cfg

    @abstractmethod
    def voice_for(self, utterance_id: str, k: int = 0, split: str = "train") -> Voice:
        """The k-th voice of an utterance; depends on (cfg.seed, utterance_id, k, split) only.

        ``split`` matters only with ``speech.holdout_voices``: train never gets a held-out voice.
        """

    @abstractmethod
    def audio_for(self, row: CaptionRow, voice: Voice) -> Waveform:
        """The row's audio in ``voice``."""

    def _rng(self, *parts: object) -> random.Random:
        """A generator seeded by a stable hash (Python's ``hash`` differs per process)."""
        key = "\x1f".join(str(p) for p in (self.cfg.seed, *parts))
        return random.Random(int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big"))

    def _distinct(self, options: Sequence[T], utterance_id: str, k: int) -> T:
        """The k-th entry of a per-utterance shuffle: several voices of one caption differ."""
        if not options:
            raise ConfigError(f"speech: engine {self.name} has no voices to choose from")
        order = list(options)
        self._rng(utterance_id).shuffle(order)
        return order[k % len(order)]


class TextToSpeech(SpeechEngine):
    """An engine that speaks the caption text; its output is worth caching."""

    @abstractmethod
    def synthesize(self, text: str, voice: Voice) -> Waveform:
        """Speak ``text`` in ``voice``."""

    def audio_for(self, row: CaptionRow, voice: Voice) -> Waveform:
        """The caption spoken, refused unless it is plain printable text.

        The corpus readers already skip such rows; this is the last guard, since a synthesiser
        fed a NUL speaks only the text before it while the stored caption keeps the rest.
        """
        if not row.caption.strip():
            raise InputError(f"{row.utterance_id}: empty caption, nothing to speak")
        problem = text_problem(row.caption)
        if problem:
            raise InputError(f"{row.utterance_id}: caption not spoken: {problem}")
        return self.synthesize(row.caption, voice)
