"""Several synthesisers in one corpus, an engine drawn per utterance like its voice."""

from __future__ import annotations

from typing import Sequence

from sonovis.config import SpeechConfig
from sonovis.data.audio import Waveform
from sonovis.data.speech.base import TextToSpeech, Voice


class MixedEngine(TextToSpeech):
    """Several engines in one corpus (``speech.engine = "espeak+flite+pico"``): each utterance's engine is
    drawn like its voice, so no model learns one synthesiser, and one engine can be held out at training
    time (``train.holdout_voices = ["pico:"]``) to score the model on a synthesis method it never heard."""

    def __init__(self, cfg: SpeechConfig, engines: Sequence[TextToSpeech]):
        super().__init__(cfg)
        self.name = cfg.engine
        self.engines = {engine.name: engine for engine in engines}

    def voice_for(self, utterance_id: str, k: int = 0, split: str = "train") -> Voice:
        order = list(self.engines)
        self._rng("engine", utterance_id).shuffle(order)  # its own stream: independent of the voice draw
        return self.engines[order[k % len(order)]].voice_for(utterance_id, k, split)

    def synthesize(self, text: str, voice: Voice) -> Waveform:
        return self.engines[voice.engine].synthesize(text, voice)
