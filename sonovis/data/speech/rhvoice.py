"""RHVoice (Debian non-free ``rhvoice rhvoice-english``): statistical parametric voices of recorded speakers."""

from __future__ import annotations

from pathlib import Path

from sonovis.config import SpeechConfig
from sonovis.data.speech.base import Voice
from sonovis.data.speech.local import SubprocessEngine, percent_of_normal

RHVOICE_VOICES = Path("/usr/share/RHVoice/voices")  # where Debian's rhvoice-* packages put their voices


class RhvoiceEngine(SubprocessEngine):
    """RHVoice: voice drawn per utterance; text on standard input, speed and pitch in percent of normal."""

    name = "rhvoice"
    program = "RHVoice-test"
    package = "rhvoice rhvoice-english"

    def _checked_choices(self, cfg: SpeechConfig) -> tuple[str, ...]:
        # RHVoice quietly speaks with its default voice when asked for one it lacks, so ask the disk.
        known = sorted(p.name for p in RHVOICE_VOICES.iterdir()) if RHVOICE_VOICES.is_dir() else []
        return self._chosen("rhvoice_voices", cfg.rhvoice_voices, known, str(RHVOICE_VOICES))

    def _command(self, text: str, voice: Voice, wav: Path) -> list[str]:
        rate, pitch = percent_of_normal(voice)
        return ["RHVoice-test", "-p", voice.name, "-r", str(rate), "-t", str(pitch), "-o", str(wav)]

    def _stdin(self, text: str) -> bytes:
        return text.encode()
