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
from sonovis.errors import ConfigError, SonovisError
from sonovis.speech import TextToSpeech, Voice, Waveform, read_wav
from sonovis.voices import matches, wants_held_out

PICO_LANGUAGES = ("en-US", "en-GB")  # Pico's English voices
RHVOICE_VOICES = Path("/usr/share/RHVoice/voices")  # where Debian's rhvoice-* packages put their voices
NORMAL_WPM = 175  # the speaking rate the engines use unscaled; speech.speed (words per minute) is relative to it


def percent_of_normal(voice: Voice) -> tuple[int, int]:
    """Speed and pitch as percent of the voice's own, for engines that take them so (Pico, RHVoice):
    words per minute against NORMAL_WPM, and espeak's pitch 0..99 onto 70..129 %."""
    return round(100 * voice.speed / NORMAL_WPM), round(70 + 0.6 * voice.pitch)


class _SubprocessEngine(TextToSpeech):
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


class FliteEngine(_SubprocessEngine):
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


class PicoEngine(_SubprocessEngine):
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


class RhvoiceEngine(_SubprocessEngine):
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
