"""CMU flite (Debian ``flite``): clustergen and diphone voices, another synthesis method than espeak-ng."""

from __future__ import annotations

import subprocess
from pathlib import Path

from sonovis.config import SpeechConfig
from sonovis.data.speech.base import Voice
from sonovis.data.speech.local import NORMAL_WPM, SubprocessEngine


class FliteEngine(SubprocessEngine):
    """CMU flite: voice drawn per utterance; speed becomes flite's duration stretch."""

    name = "flite"
    program = "flite"
    package = "flite"

    def _checked_choices(self, cfg: SpeechConfig) -> tuple[str, ...]:
        proc = subprocess.run(["flite", "-lv"], capture_output=True, check=False)
        known = proc.stdout.decode(errors="replace").split(":", 1)[-1].split()  # "Voices available: kal awb ..."
        return self._chosen("flite_voices", cfg.flite_voices, known, "flite")

    def _command(self, text: str, voice: Voice, wav: Path) -> list[str]:
        stretch = NORMAL_WPM / voice.speed
        # -t takes the text as an option value, so a caption starting with "-" is never an option.
        return ["flite", "-voice", voice.name, "--setf", f"duration_stretch={stretch:.3f}", "-t", text, "-o", str(wav)]
