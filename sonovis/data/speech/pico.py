"""SVOX Pico (Debian non-free ``libttspico-utils``): HMM voices in two English languages."""

from __future__ import annotations

from pathlib import Path

from sonovis.config import SpeechConfig
from sonovis.data.speech.base import Voice
from sonovis.data.speech.local import SubprocessEngine, percent_of_normal

PICO_LANGUAGES = ("en-US", "en-GB")  # Pico's English voices


class PicoEngine(SubprocessEngine):
    """SVOX Pico: language drawn per utterance; speed and pitch through Pico's own markup."""

    name = "pico"
    program = "pico2wave"
    package = "libttspico-utils (Debian non-free)"

    def _checked_choices(self, cfg: SpeechConfig) -> tuple[str, ...]:
        return self._chosen("pico_voices", cfg.pico_voices, list(PICO_LANGUAGES), "Pico", "English voice")

    def _command(self, text: str, voice: Voice, wav: Path) -> list[str]:
        speed, pitch = percent_of_normal(voice)
        # Pico reads entities such as &amp; aloud, so markup characters are replaced, not escaped.
        plain = text.replace("&", " and ").replace("<", " ").replace(">", " ")
        markup = f"<speed level='{speed}'><pitch level='{pitch}'>{plain}</pitch></speed>"
        return ["pico2wave", "-l", voice.name, "-w", str(wav), "--", markup]
