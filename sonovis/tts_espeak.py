"""espeak-ng, the offline engine: one subprocess per caption, 16-bit WAV on stdout at 22,050 Hz.

Voices and variants are checked once, when the engine is built, because espeak-ng silently
ignores an unknown variant and would otherwise speak 35,000 captions in the wrong voice.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass

from sonovis.config import SpeechConfig
from sonovis.errors import ConfigError, SonovisError
from sonovis.speech import TextToSpeech, Voice, Waveform, read_wav

ESPEAK = "espeak-ng"
MBROLA_PREFIX = "mb/"  # mbrola voices need Debian mbrola packages, which sonovis does not assume
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


class EspeakEngine(TextToSpeech):
    """Accent, variant, speed and pitch drawn per utterance, so no model learns one synthesiser."""

    name = "espeak"

    def __init__(self, cfg: SpeechConfig):
        super().__init__(cfg)
        _check_range("speech.speed", cfg.speed, 80, 450)
        _check_range("speech.pitch", cfg.pitch, 0, 99)
        self._check_voices(cfg.voices, cfg.variants)

    def voice_for(self, utterance_id: str, k: int = 0) -> Voice:
        rng = self._rng(utterance_id, k)
        return Voice(
            engine=self.name,
            name=self._distinct(self.cfg.voices, utterance_id, k),
            variant=rng.choice(self.cfg.variants) if self.cfg.variants else "",
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
        entries = [e for e in list_espeak_voices() if not e.file.startswith(MBROLA_PREFIX)]
        known = {key for e in entries for key in (e.language, e.name, e.file)}
        unknown = [v for v in voices if v not in known]
        if not voices or unknown:
            raise ConfigError(
                f"speech.voices: espeak-ng has no voice {unknown or '(none given)'} (mbrola voices are not "
                f"supported); English voices here: {', '.join(list_espeak_english_voices())}"
            )
        known_variants = {e.file.removeprefix("!v/") for e in list_espeak_voices("variant")}
        unknown = [v for v in variants if v and v not in known_variants]
        if unknown:
            raise ConfigError(
                f"speech.variants: espeak-ng has no variant {unknown}; see `espeak-ng --voices=variant` "
                f"(use the file name after !v/, e.g. f2, m3)"
            )


def _check_range(key: str, bounds: tuple[int, int], low: int, high: int) -> None:
    if len(bounds) != 2 or not low <= bounds[0] <= bounds[1] <= high:
        raise ConfigError(f"{key}: expected [min, max] within {low}..{high}, got {list(bounds)}")
