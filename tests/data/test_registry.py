"""The engine registry is the one place engine names come from: adding an engine is a file and a line."""

from __future__ import annotations

import pytest

from sonovis.cli import build_parser
from sonovis.config import SpeechConfig
from sonovis.data.audio import Waveform
from sonovis.data.speech import registry
from sonovis.data.speech.base import TextToSpeech, Voice
from sonovis.errors import ConfigError


class ToneEngine(TextToSpeech):
    """A throwaway engine: one voice, a tone as long as the text."""

    name = "tone"

    def voice_for(self, utterance_id: str, k: int = 0, split: str = "train") -> Voice:
        return Voice(engine=self.name, name="a440", speed=175, pitch=50)

    def synthesize(self, text: str, voice: Voice) -> Waveform:
        import numpy as np

        t = np.arange(int(16000 * 0.05 * len(text))) / 16000
        return Waveform(samples=(0.1 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), sample_rate=16000)


@pytest.fixture
def tone_registered():
    registry.register("tone", f"{__name__}:ToneEngine")
    yield
    registry.ENGINES.pop("tone")


def test_unknown_engine_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown engine 'nope'; choose one of espeak, gtts, flite"):
        registry.check_engine_name("nope")
    with pytest.raises(ConfigError, match="unknown engine 'nope'"):
        registry.check_engine_name("espeak+nope")
    with pytest.raises(ConfigError, match="names each text-to-speech engine once"):
        registry.check_engine_name("espeak+espeak")
    with pytest.raises(ConfigError, match="names each text-to-speech engine once"):
        registry.check_engine_name("espeak+recordings")


def _help(verb: str, capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit):
        build_parser().parse_args([verb, "--help"])
    return capsys.readouterr().out


def test_a_registered_engine_reaches_validation_mixtures_and_help(tone_registered, capsys) -> None:
    registry.check_engine_name("tone")
    registry.check_engine_name("espeak+tone")
    assert "tone" in registry.text_to_speech_names()
    engine = registry.make_engine(SpeechConfig(engine="tone"))
    assert isinstance(engine, ToneEngine) and engine.voice_for("x#0").label() == "tone:a440/s175/p50"
    mixed = registry.make_engine(SpeechConfig(engine="espeak+tone"))
    assert {mixed.voice_for(f"img{i}.jpg#0").engine for i in range(20)} == {"espeak", "tone"}
    assert "tone" in _help("translate", capsys) and "tone" in _help("prepare", capsys)


def test_engines_are_imported_only_when_asked_for() -> None:
    import subprocess
    import sys

    code = ("import sys; from sonovis.data.speech.registry import make_engine; from sonovis.config import SpeechConfig; "
            "make_engine(SpeechConfig(engine='espeak')); print('gtts' in sys.modules, 'sonovis.data.speech.gtts' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"]
