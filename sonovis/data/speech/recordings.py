"""The user's own recordings, behind the same interface as the synthesisers."""

from __future__ import annotations

from sonovis.config import SpeechConfig
from sonovis.data.audio import Waveform, load_audio
from sonovis.data.corpus.rows import CaptionRow
from sonovis.data.speech.base import SpeechEngine, Voice
from sonovis.errors import ConfigError, InputError


class RecordingsEngine(SpeechEngine):
    """The user's own audio: one recording per caption, read from ``row.audio_path``."""

    name = "recordings"

    def __init__(self, cfg: SpeechConfig):
        super().__init__(cfg)
        if cfg.holdout_voices:
            raise ConfigError("speech.holdout_voices: recordings are one voice to sonovis; hold speakers out "
                              "by splitting the recordings CSV instead")

    def voice_for(self, utterance_id: str, k: int = 0, split: str = "train") -> Voice:
        return Voice(engine="recordings")

    def audio_for(self, row: CaptionRow, voice: Voice) -> Waveform:
        if not row.audio_path:
            raise InputError(f"{row.utterance_id}: recordings corpus row has no audio file")
        # capped while decoding: a recording whose header gives no length (a browser's WebM) could be hours
        return load_audio(row.audio_path, self.cfg.max_seconds or None)
