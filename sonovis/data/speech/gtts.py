"""gTTS, the online engine: Google Translate's voices, one accent per Google domain (tld).

Google throttles bulk use with HTTP 429 and has the odd 5xx, so requests are retried with
exponential backoff and full jitter (workers that were throttled together do not retry
together). When Google stays unreachable, the error says so in one line and names the
offline alternative.
"""

from __future__ import annotations

import io
import random
import time
from urllib.parse import urlsplit

from gtts import gTTS
from gtts.tts import gTTSError

from sonovis.config import SpeechConfig
from sonovis.data.audio import Waveform, decode_audio
from sonovis.data.speech.base import TextToSpeech, Voice
from sonovis.data.voices import matches, wants_held_out
from sonovis.errors import ConfigError, SonovisError

BATCHEXECUTE_PATH = "_/TranslateWebserverUi/data/batchexecute"
MAX_BACKOFF_S = 60.0  # one wait never exceeds this, however many retries are allowed


class MirroredGTTS(gTTS):
    """gTTS that posts to ``base_url`` (a mirror, or a local test server) instead of Google.

    gTTS builds each request's URL from ``tld`` inside ``_prepare_requests``; re-pointing the
    prepared requests keeps its body, headers and response parsing exactly as upstream.
    """

    def __init__(self, text: str, base_url: str = "", **kwargs):
        super().__init__(text, **kwargs)
        self.base_url = base_url.rstrip("/")

    def _prepare_requests(self):
        prepared = super()._prepare_requests()
        if self.base_url:
            for request in prepared:
                request.prepare_url(f"{self.base_url}/{BATCHEXECUTE_PATH}", None)
        return prepared


class GttsEngine(TextToSpeech):
    """Google voices through the real gTTS library; needs internet (or ``base_url``)."""

    name = "gtts"

    def __init__(
        self,
        cfg: SpeechConfig,
        base_url: str = "",
        max_retries: int = 5,
        base_delay: float = 1.0,
        timeout: float = 15.0,
    ):
        super().__init__(cfg)
        self.base_url = base_url
        self.max_retries = max_retries
        self.base_delay = base_delay
        self.timeout = timeout
        self._jitter = random.Random()  # unseeded on purpose: workers must not wait in lockstep

    def voice_for(self, utterance_id: str, k: int = 0, split: str = "train") -> Voice:
        patterns = self.cfg.holdout_voices
        held_out = wants_held_out(split, patterns)
        tlds = [t for t in self.cfg.gtts_tlds if matches(Voice(self.name, tld=t).label(), patterns) == held_out]
        if not tlds:
            raise ConfigError(f"speech.holdout_voices {list(patterns)}: no gtts_tlds voice is left for {split}")
        return Voice(engine=self.name, tld=self._distinct(tlds, utterance_id, k))

    def synthesize(self, text: str, voice: Voice) -> Waveform:
        mp3 = self._fetch_mp3(text, voice.tld)
        # MP3 bytes are decoded as MP3 (ffmpeg sniffs the stream), never passed off as WAV.
        return decode_audio(io.BytesIO(mp3), f"gTTS {voice.label()} audio for {text!r}")

    def _fetch_mp3(self, text: str, tld: str) -> bytes:
        host = urlsplit(self.base_url).netloc if self.base_url else f"translate.google.{tld}"
        for attempt in range(self.max_retries + 1):
            tts = MirroredGTTS(
                text, base_url=self.base_url, tld=tld, lang="en", lang_check=False, timeout=self.timeout
            )
            try:
                mp3 = b"".join(tts.stream())
            except gTTSError as err:
                failure, transient = _describe(err)
                if not transient:
                    raise SonovisError(f"gTTS: {host} refused {text!r} ({failure})") from None
            else:
                if not mp3:
                    raise SonovisError(f"gTTS: {host} sent no audio for {text!r}")
                return mp3
            if attempt < self.max_retries:
                time.sleep(self._jitter.uniform(0.0, min(MAX_BACKOFF_S, self.base_delay * 2**attempt)))
        raise SonovisError(
            f"gTTS: cannot reach {host} ({failure} after {self.max_retries + 1} attempts); "
            "use --tts espeak offline"
        )


def _describe(err: gTTSError) -> tuple[str, bool]:
    """A short reason, and whether trying again may help (throttling, server errors, network)."""
    if err.rsp is None:
        return "connection failed or timed out", True
    status = err.rsp.status_code
    if status < 400:
        return "no audio in the response", False
    return f"HTTP {status} {err.rsp.reason}", status == 429 or status >= 500
