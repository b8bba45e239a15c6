"""A caption's phonemes, made at prep time: free supervision, since every utterance speaks a known caption.

espeak-ng's phonemiser (through the ``phonemizer`` package, which loads libespeak-ng) turns a caption
into IPA phones, always in US English whatever voice speaks it: the target is the words' sounds,
not a voice's accent. Where libespeak-ng cannot be loaded (a recordings-only machine without
espeak-ng), the caption's letters stand in. Which of the two made a folder is recorded in its
manifest, and training refuses a folder that mixes them.
"""

from __future__ import annotations

import functools
import logging
import re
from typing import Protocol

PHONE_SEPARATOR = " "  # phones are stored as one space-separated string per utterance
_LETTERS = re.compile(r"[a-z']")
_WORD = "|"  # phonemizer's word boundary, dropped: speech has no sound for it


class Phonemiser(Protocol):
    source: str  # what made the phones, e.g. "espeak-ng en-us (phonemizer 3.4.0)"

    def __call__(self, captions: list[str]) -> list[str]: ...


class EspeakPhonemiser:
    """IPA phones without stress marks or word boundaries: what CTC can align to sound."""

    def __init__(self) -> None:
        from importlib.metadata import version

        from phonemizer.backend import EspeakBackend
        from phonemizer.separator import Separator

        quiet = logging.getLogger("sonovis.phonemes")
        quiet.setLevel(logging.ERROR)  # its "words count mismatch" warnings say nothing a user can act on
        self._backend = EspeakBackend("en-us", preserve_punctuation=False, with_stress=False, logger=quiet)
        self._separator = Separator(phone=PHONE_SEPARATOR, word=f"{PHONE_SEPARATOR}{_WORD}{PHONE_SEPARATOR}", syllable="")
        self.source = f"espeak-ng en-us (phonemizer {version('phonemizer')})"

    def __call__(self, captions: list[str]) -> list[str]:
        phones = self._backend.phonemize(captions, separator=self._separator, strip=True, njobs=1)
        return [PHONE_SEPARATOR.join(t for t in p.split() if t != _WORD) for p in phones]


class LetterPhonemiser:
    """The fallback: a caption's letters (and apostrophes), a coarser but still content-only target."""

    source = "letters"

    def __call__(self, captions: list[str]) -> list[str]:
        return [PHONE_SEPARATOR.join(_LETTERS.findall(c.lower())) for c in captions]


@functools.lru_cache(maxsize=1)
def phonemiser() -> Phonemiser:
    """espeak-ng's phonemiser if libespeak-ng loads here, else letters (one per worker process)."""
    try:
        return EspeakPhonemiser()
    except (ImportError, RuntimeError, OSError):  # phonemizer raises RuntimeError when libespeak-ng is absent
        return LetterPhonemiser()


def phone_inventory(phonemes: list[str]) -> list[str]:
    """Every distinct phone, sorted: the CTC head's classes (after its blank), fixed by the training set."""
    return sorted({p for utterance in phonemes for p in utterance.split(PHONE_SEPARATOR) if p})
