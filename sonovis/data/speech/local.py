"""flite, SVOX Pico and RHVoice: three more offline engines, each a different synthesiser from espeak-ng.

A model trained on one synthesiser was measured at chance on another, so the engines a model
never heard are the test that matters. espeak-ng (formants) and its mbrola voices (diphones)
train; flite (CMU's clustergen and diphone voices, Debian ``flite``), Pico (SVOX's HMM voices,
Debian non-free ``libttspico-utils``) and RHVoice (statistical parametric voices trained on
recorded speakers, Debian ``rhvoice rhvoice-english``) can train too, or be held back to score a
model on an engine it never heard. Each is one subprocess per caption writing a WAV file.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from abc import abstractmethod
from pathlib import Path

from sonovis.config import SpeechConfig
from sonovis.data.audio import Waveform, read_wav
from sonovis.data.speech.base import TextToSpeech, Voice
from sonovis.data.voices import matches, wants_held_out
from sonovis.errors import ConfigError, SonovisError

NORMAL_WPM = 175  # the speaking rate the engines use unscaled; speech.speed (words per minute) is relative to it


def percent_of_normal(voice: Voice) -> tuple[int, int]:
    """Speed and pitch as percent of the voice's own, for engines that take them so (Pico, RHVoice):
    words per minute against NORMAL_WPM, and espeak's pitch 0..99 onto 70..129 %."""
    return round(100 * voice.speed / NORMAL_WPM), round(70 + 0.6 * voice.pitch)


class SubprocessEngine(TextToSpeech):
    """Voice drawing and the subprocess round trip both engines share."""

    program: str  # the executable
    package: str  # the Debian package that provides it, for the error when it is missing

    def __init__(self, cfg: SpeechConfig):
        super().__init__(cfg)
        if not shutil.which(self.program):
            raise SonovisError(f"{self.program} not found; install it with: sudo apt-get install {self.package}")
        choices = self._checked_choices(cfg)
        self._sides = {held: [c for c in choices if matches(f"{self.name}:{c}", cfg.holdout_voices) == held]
                       for held in (False, True)}
        if cfg.holdout_voices and not (self._sides[False] and self._sides[True]):
            raise ConfigError(f"speech.holdout_voices {list(cfg.holdout_voices)}: leaves no {self.name} voice for "
                              f"{'train' if not self._sides[False] else 'dev/test'} (voices: {list(choices)})")

    def voice_for(self, utterance_id: str, k: int = 0, split: str = "train") -> Voice:
        rng = self._rng(utterance_id, k)
        name = self._distinct(self._sides[wants_held_out(split, self.cfg.holdout_voices)], utterance_id, k)
        return Voice(engine=self.name, name=name, speed=rng.randint(*self.cfg.speed), pitch=rng.randint(*self.cfg.pitch))

    def synthesize(self, text: str, voice: Voice) -> Waveform:
        with tempfile.TemporaryDirectory(prefix=f"sonovis-{self.name}-") as tmp:
            wav = Path(tmp) / "speech.wav"
            proc = subprocess.run(self._command(text, voice, wav), input=self._stdin(text), capture_output=True,
                                  check=False)
            if proc.returncode != 0 or not wav.is_file() or wav.stat().st_size <= 44:
                reason = proc.stderr.decode(errors="replace").strip().splitlines()
                raise SonovisError(f"{self.program} {voice.label()}: {reason[0] if reason else 'no audio produced'}")
            return read_wav(wav.read_bytes())

    @abstractmethod
    def _checked_choices(self, cfg: SpeechConfig) -> tuple[str, ...]:
        """The configured voices, refused in one line if the engine lacks any."""

    @abstractmethod
    def _command(self, text: str, voice: Voice, wav: Path) -> list[str]:
        """The command line that writes ``text`` in ``voice`` to ``wav``."""

    @staticmethod
    def _chosen(setting: str, configured: tuple[str, ...], known: list[str], owner: str,
                kind: str = "voice") -> tuple[str, ...]:
        """The configured voices, or one line naming those ``owner`` lacks and those it has."""
        unknown = [v for v in configured if v not in known]
        if unknown or not configured:
            raise ConfigError(f"speech.{setting}: {owner} has no {kind} {unknown or '(none given)'}; it has {known}")
        return tuple(configured)

    def _stdin(self, text: str) -> bytes | None:
        """What the program reads on standard input: nothing, unless it takes its text there."""
        return None
