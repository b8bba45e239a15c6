"""espeak-ng, the offline engine: one subprocess per caption, 16-bit WAV on stdout at 22,050 Hz.

Voices and variants are checked once, when the engine is built, because espeak-ng silently
ignores an unknown variant and would otherwise speak 35,000 captions in the wrong voice.
``"all"`` is resolved there too, and so are the voice/variant pairs each split may use when
voices are held out at prep time.
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from sonovis.config import SpeechConfig
from sonovis.data.audio import Waveform, read_wav
from sonovis.data.speech.base import TextToSpeech, Voice
from sonovis.data.voices import matches, wants_held_out
from sonovis.errors import ConfigError, SonovisError

ESPEAK = "espeak-ng"
MBROLA_PREFIX = "mb/"  # mbrola voices need Debian's mbrola packages (contrib/non-free), checked per voice
MBROLA_DIR = Path("/usr/share/mbrola")  # where Debian's mbrola-<db> packages put their databases
ALL = "all"  # speech.voices / speech.variants entry meaning every one espeak-ng has
ALL_MBROLA = "mbrola"  # speech.voices entry meaning every English mbrola voice whose database is installed
# One row of `espeak-ng --voices`: Pty Language Age/Gender VoiceName File (Other Languages)
_VOICE_ROW = re.compile(r"^\s*\d+\s+(?P<language>\S+)\s+\S+\s+(?P<name>\S+)\s+(?P<file>.*?)\s*(?:\(.*)?$")


@dataclass(frozen=True)
class EspeakVoiceEntry:
    language: str  # what `-v` takes, e.g. en-gb-scotland
    name: str  # e.g. English_(Scotland)
    file: str  # e.g. gmw/en-GB-scotland, mb/mb-us1, !v/f2


def _run(args: list[str], text: str | None = None) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(
            [ESPEAK, *args], input=text.encode() if text is not None else None, capture_output=True, check=False
        )
    except FileNotFoundError:
        raise SonovisError(f"{ESPEAK} not found; install it with: sudo apt-get install espeak-ng") from None


def list_espeak_voices(selector: str = "") -> list[EspeakVoiceEntry]:
    """Parse ``espeak-ng --voices[=selector]``; ``selector`` is a language prefix or ``variant``."""
    proc = _run([f"--voices={selector}" if selector else "--voices"])
    entries = []
    for line in proc.stdout.decode(errors="replace").splitlines()[1:]:
        match = _VOICE_ROW.match(line)
        if match:
            entries.append(EspeakVoiceEntry(match["language"], match["name"], match["file"]))
    return entries


def list_espeak_english_voices() -> list[str]:
    """English voices usable without mbrola, in espeak-ng's priority order (e.g. en-gb, en-us)."""
    languages = [
        e.language
        for e in list_espeak_voices("en")
        if e.language != "variant" and not e.file.startswith(MBROLA_PREFIX)
    ]
    return list(dict.fromkeys(languages))


def list_mbrola_english_voices() -> list[str]:
    """English-speaking mbrola voices whose database is installed, as ``-v`` takes them (mb-us1, mb-de1-en).

    A second synthesis method (diphone concatenation, not espeak's formants): the closest thing
    to another engine that installs offline. Voices such as mb-de1-en speak English with a
    German diphone set, i.e. with a foreign accent.
    """
    if not shutil.which("mbrola"):
        return []
    entries = [e for e in list_espeak_voices("mb") if e.language.startswith("en") and e.file.startswith(MBROLA_PREFIX)]
    return [e.file.removeprefix(MBROLA_PREFIX) for e in entries if (MBROLA_DIR / _mbrola_database(e)).exists()]


def is_mbrola(voice: str) -> bool:
    """mbrola voices are named after their file, mb-<database>[-<language>]."""
    return voice.startswith("mb-")


def list_espeak_variants() -> list[str]:
    """Every variant, as ``+variant`` takes it (the file name after ``!v/``, e.g. f2, klatt)."""
    return [e.file.removeprefix("!v/") for e in list_espeak_voices("variant")]


class EspeakEngine(TextToSpeech):
    """Accent, variant, speed and pitch drawn per utterance, so no model learns one synthesiser."""

    name = "espeak"

    def __init__(self, cfg: SpeechConfig):
        super().__init__(cfg)
        _check_range("speech.speed", cfg.speed, 80, 450)
        _check_range("speech.pitch", cfg.pitch, 0, 99)
        self.voices = _expand(cfg.voices, {ALL: list_espeak_english_voices, ALL_MBROLA: _installed_mbrola_voices})
        self.variants = _expand(cfg.variants, {ALL: list_espeak_variants})
        self._check_voices(self.voices, self.variants)
        # Per side (held out or not), each accent with the variants it may be spoken in.
        self._pairs = {side: self._pairs_for(side) for side in (False, True)}
        if cfg.holdout_voices and not (self._pairs[False] and self._pairs[True]):
            side = "train" if not self._pairs[False] else "dev/test"
            raise ConfigError(
                f"speech.holdout_voices {list(cfg.holdout_voices)}: no voice/variant pair is left for {side} "
                f"(pairs look like {self.pair_label(self.voices[0], (self.variants or ('',))[-1])!r})"
            )

    def pair_label(self, name: str, variant: str) -> str:
        """What prep-time holdout patterns are matched against: the voice label without speed and pitch."""
        return f"{self.name}:{Voice(self.name, name, variant).espeak_name}"

    def _pairs_for(self, held_out: bool) -> dict[str, tuple[str, ...]]:
        patterns = self.cfg.holdout_voices
        pairs = {name: tuple(v for v in self._variants_of(name)
                             if matches(self.pair_label(name, v), patterns) == held_out) for name in self.voices}
        return {name: variants for name, variants in pairs.items() if variants}

    def _variants_of(self, name: str) -> tuple[str, ...]:
        """mbrola voices take no espeak variant: with one, espeak-ng silently speaks with its own formants."""
        return ("",) if is_mbrola(name) or not self.variants else self.variants

    def voice_for(self, utterance_id: str, k: int = 0, split: str = "train") -> Voice:
        rng = self._rng(utterance_id, k)
        pairs = self._pairs[wants_held_out(split, self.cfg.holdout_voices)]
        name = self._distinct(list(pairs), utterance_id, k)
        return Voice(
            engine=self.name,
            name=name,
            variant=rng.choice(pairs[name]) if self.variants else "",
            speed=rng.randint(*self.cfg.speed),
            pitch=rng.randint(*self.cfg.pitch),
        )

    def synthesize(self, text: str, voice: Voice) -> Waveform:
        # Text goes in on stdin, so a caption starting with "-" is never taken for an option.
        args = ["--stdout", "-b", "1", "-v", voice.espeak_name, "-s", str(voice.speed), "-p", str(voice.pitch)]
        proc = _run(args, text)
        if proc.returncode != 0 or not proc.stdout:
            reason = proc.stderr.decode(errors="replace").strip().splitlines()
            raise SonovisError(f"espeak-ng {voice.label()}: {reason[0] if reason else 'no audio produced'}")
        return read_wav(proc.stdout)

    @staticmethod
    def _check_voices(voices: tuple[str, ...], variants: tuple[str, ...]) -> None:
        entries = list_espeak_voices() + list_espeak_voices("mb")  # plain --voices leaves mbrola ones out
        known = {key for e in entries if not e.file.startswith(MBROLA_PREFIX) for key in (e.language, e.name, e.file)}
        mbrola = {key: e for e in entries if e.file.startswith(MBROLA_PREFIX)
                  for key in (e.name, e.file, e.file.removeprefix(MBROLA_PREFIX))}
        for voice in voices:
            if voice not in known and voice in mbrola:
                _check_mbrola(voice, mbrola[voice])
        unknown = [v for v in voices if v not in known and v not in mbrola]
        if not voices or unknown:
            raise ConfigError(
                f"speech.voices: espeak-ng has no voice {unknown or '(none given)'} (mbrola voices go by their "
                f"file, e.g. mb-us1); English voices here: {', '.join(list_espeak_english_voices())}"
            )
        known_variants = set(list_espeak_variants())
        unknown = [v for v in variants if v and v not in known_variants]
        if unknown:
            raise ConfigError(
                f"speech.variants: espeak-ng has no variant {unknown}; see `espeak-ng --voices=variant` "
                f"(use the file name after !v/, e.g. f2, m3)"
            )


def _check_range(key: str, bounds: tuple[int, int], low: int, high: int) -> None:
    if len(bounds) != 2 or not low <= bounds[0] <= bounds[1] <= high:
        raise ConfigError(f"{key}: expected [min, max] within {low}..{high}, got {list(bounds)}")


def _expand(names: tuple[str, ...], keywords: dict[str, Callable[[], list[str]]]) -> tuple[str, ...]:
    """Each keyword (``"all"``, ``"mbrola"``) replaced by the names it stands for, in order; duplicates dropped."""
    expanded = [n for name in names for n in (keywords[name]() if name in keywords else [name])]
    return tuple(dict.fromkeys(expanded))


def _installed_mbrola_voices() -> list[str]:
    """``"mbrola"`` with nothing installed is refused rather than silently meaning no voice at all."""
    voices = list_mbrola_english_voices()
    if not voices:
        raise ConfigError(
            'speech.voices: "mbrola" found no English mbrola voice installed; install `mbrola` and e.g. '
            "`mbrola-us1` from Debian contrib/non-free (see README, Voices the model never heard)"
        )
    return voices


def _check_mbrola(voice: str, entry: EspeakVoiceEntry) -> None:
    """espeak-ng drives mbrola voices natively, but only with the mbrola binary and the voice's database."""
    database = _mbrola_database(entry)
    missing = [] if shutil.which("mbrola") else ["the mbrola program"]
    if not (MBROLA_DIR / database).exists():
        missing.append(str(MBROLA_DIR / database))
    if missing:
        raise ConfigError(
            f"speech.voices: {voice} is an mbrola voice, but {' and '.join(missing)} "
            f"{'are' if len(missing) > 1 else 'is'} missing; install `mbrola` and `mbrola-{database}` from Debian "
            f"contrib/non-free (add those components to the apt sources, then sudo apt-get install mbrola "
            f"mbrola-{database})"
        )


@functools.lru_cache(maxsize=1)
def _espeak_data_dir() -> Path:
    """Where espeak-ng keeps its voice files, asked once per process (not once per mbrola voice)."""
    data = re.search(r"Data at:\s*(\S+)", _run(["--version"]).stdout.decode(errors="replace"))
    return Path(data[1] if data else "")


def _mbrola_database(entry: EspeakVoiceEntry) -> str:
    """The database an mbrola voice file names (``mbrola us1 us_phtrans`` -> us1)."""
    path = _espeak_data_dir() / "voices" / entry.file
    for line in path.read_text(errors="replace").splitlines() if path.is_file() else []:
        fields = line.split()
        if len(fields) >= 2 and fields[0] == "mbrola":
            return fields[1]
    return entry.file.removeprefix(MBROLA_PREFIX).removeprefix("mb-")
