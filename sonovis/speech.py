"""Speech behind one interface: pick a voice per utterance, get a waveform, cache it on disk.

Three engines share ``SpeechEngine``: espeak-ng (offline, ``sonovis.tts_espeak``), gTTS
(Google, ``sonovis.tts_gtts``) and the user's own recordings. Voices are drawn from a hash of
``(seed, utterance id, k)`` only, so every worker, rerun and ordering speaks a caption alike,
and the on-disk cache turns a rerun of a 35,000-caption corpus into file reads. With
``speech.holdout_voices`` the split also decides which voices are eligible (``sonovis.voices``).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import re
import tempfile
import wave
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import BinaryIO, Sequence, TypeVar

import numpy as np
import torchaudio

from sonovis.config import SpeechConfig
from sonovis.corpus import CaptionRow
from sonovis.errors import ConfigError, InputError
from sonovis.voices import check_patterns

T = TypeVar("T")
SYNTHESISERS = ("espeak", "flite", "pico", "rhvoice")  # engines whose voices have a name, a speed and a pitch


@dataclass(frozen=True)
class Voice:
    """Everything that shapes how a text sounds; also the cache key besides the text."""

    engine: str  # espeak | gtts | flite | pico | rhvoice | recordings
    name: str = ""  # espeak voice (en-gb, mb-us1), flite voice (slt), Pico language (en-GB) or RHVoice voice (alan)
    variant: str = ""  # espeak variant, e.g. f2 ("" = none)
    speed: int = 0  # espeak words per minute
    pitch: int = 0  # espeak pitch 0..99
    tld: str = ""  # gTTS Google domain, e.g. co.uk

    def label(self) -> str:
        """Short string for manifests and tables, e.g. ``espeak:en-gb+f2/s160/p40``."""
        if self.engine in SYNTHESISERS:
            return f"{self.engine}:{self.espeak_name}/s{self.speed}/p{self.pitch}"
        if self.engine == "gtts":
            return f"gtts:{self.tld}"
        return "recording"

    def group(self) -> str:
        """Voice family, so an evaluation can hold out whole accents rather than one speed."""
        if self.engine in SYNTHESISERS:
            return f"{self.engine}:{self.name}"
        return self.label()

    @property
    def espeak_name(self) -> str:
        return f"{self.name}+{self.variant}" if self.variant else self.name


@dataclass
class Waveform:
    samples: np.ndarray  # float32 mono in [-1, 1]
    sample_rate: int

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return len(self.samples) / self.sample_rate


class SpeechEngine(ABC):
    """Maps an utterance to a voice and a caption row to audio."""

    name: str

    def __init__(self, cfg: SpeechConfig):
        self.cfg = cfg

    @abstractmethod
    def voice_for(self, utterance_id: str, k: int = 0, split: str = "train") -> Voice:
        """The k-th voice of an utterance; depends on (cfg.seed, utterance_id, k, split) only.

        ``split`` matters only with ``speech.holdout_voices``: train never gets a held-out voice.
        """

    @abstractmethod
    def audio_for(self, row: CaptionRow, voice: Voice) -> Waveform:
        """The row's audio in ``voice``."""

    def _rng(self, *parts: object) -> random.Random:
        """A generator seeded by a stable hash (Python's ``hash`` differs per process)."""
        key = "\x1f".join(str(p) for p in (self.cfg.seed, *parts))
        return random.Random(int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big"))

    def _distinct(self, options: Sequence[T], utterance_id: str, k: int) -> T:
        """The k-th entry of a per-utterance shuffle: several voices of one caption differ."""
        if not options:
            raise ConfigError(f"speech: engine {self.name} has no voices to choose from")
        order = list(options)
        self._rng(utterance_id).shuffle(order)
        return order[k % len(order)]


class TextToSpeech(SpeechEngine):
    """An engine that speaks the caption text; its output is worth caching."""

    @abstractmethod
    def synthesize(self, text: str, voice: Voice) -> Waveform:
        """Speak ``text`` in ``voice``."""

    def audio_for(self, row: CaptionRow, voice: Voice) -> Waveform:
        if not row.caption.strip():
            raise InputError(f"{row.utterance_id}: empty caption, nothing to speak")
        return self.synthesize(row.caption, voice)


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


class RecordingsEngine(SpeechEngine):
    """The user's own audio: one recording per caption, read from ``row.audio_path``."""

    name = "recordings"

    def voice_for(self, utterance_id: str, k: int = 0, split: str = "train") -> Voice:
        return Voice(engine="recordings")

    def audio_for(self, row: CaptionRow, voice: Voice) -> Waveform:
        if not row.audio_path:
            raise InputError(f"{row.utterance_id}: recordings corpus row has no audio file")
        return load_audio(row.audio_path)


def decode_audio(source: str | Path | BinaryIO, name: str) -> Waveform:
    """Decode any ffmpeg-readable audio (wav, mp3, flac, ...) to mono; ``name`` goes in errors."""
    try:
        samples, sample_rate = torchaudio.load(source)
    except (RuntimeError, ValueError) as err:
        first_line = str(err).splitlines()[0] if str(err) else type(err).__name__
        reason = re.sub(r"^.*\.cpp:\d+,\s*", "", first_line).replace(str(name), "").strip(" :")
        raise InputError(f"{name}: cannot read audio ({reason})") from None
    if samples.numel() == 0:
        raise InputError(f"{name}: no audio samples")
    mono = samples.mean(dim=0).numpy().astype(np.float32, copy=False)
    return Waveform(samples=mono, sample_rate=int(sample_rate))


def load_audio(path: str | Path) -> Waveform:
    """A user's audio file as a mono waveform, with a one-line error naming the file."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: audio file not found")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: empty file, no audio")
    return decode_audio(path, str(path))


def read_wav(data: bytes | Path) -> Waveform:
    """16-bit PCM WAV via the stdlib: far cheaper than ffmpeg for espeak output and the cache."""
    with wave.open(io.BytesIO(data) if isinstance(data, bytes) else str(data), "rb") as wav:
        # espeak-ng --stdout writes a streaming header with a bogus frame count: read to the end.
        frames = wav.readframes(wav.getnframes())
        channels, rate = wav.getnchannels(), wav.getframerate()
    pcm = np.frombuffer(frames, dtype="<i2").reshape(-1, channels).astype(np.float32)
    return Waveform(samples=pcm.mean(axis=1) / 32768.0, sample_rate=rate)


class SpeechCache:
    """Synthesised audio on disk, addressed by sha256 of (engine, voice settings, text)."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def path_for(self, voice: Voice, text: str) -> Path:
        key = json.dumps({"voice": asdict(voice), "text": text}, sort_keys=True)
        digest = hashlib.sha256(key.encode()).hexdigest()
        return self.root / digest[:2] / f"{digest}.wav"

    def get(self, voice: Voice, text: str) -> Waveform | None:
        path = self.path_for(voice, text)
        try:
            return read_wav(path)
        except FileNotFoundError:
            return None
        except (wave.Error, EOFError, ValueError):
            return None  # damaged by something outside sonovis: a miss, and put() replaces it

    def put(self, voice: Voice, text: str, wave_: Waveform) -> None:
        """Write to a temp file and rename it in, so a killed worker never leaves half a file."""
        path = self.path_for(voice, text)
        path.parent.mkdir(parents=True, exist_ok=True)
        pcm = np.clip(np.round(wave_.samples * 32768.0), -32768, 32767).astype("<i2")  # inverse of read_wav
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle, wave.open(handle, "wb") as wav:
                wav.setnchannels(1)
                wav.setsampwidth(2)
                wav.setframerate(wave_.sample_rate)
                wav.writeframes(pcm.tobytes())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def speak(
    row: CaptionRow, engine: SpeechEngine, cache: SpeechCache | None, k: int = 0
) -> tuple[Voice, Waveform, bool]:
    """The k-th voice and audio of a row, and whether it came from the cache."""
    voice = engine.voice_for(row.utterance_id, k, row.split)
    if cache is None or not isinstance(engine, TextToSpeech):
        return voice, engine.audio_for(row, voice), False
    cached = cache.get(voice, row.caption)
    if cached is not None:
        return voice, cached, True
    audio = engine.audio_for(row, voice)
    cache.put(voice, row.caption, audio)
    return voice, audio, False


def make_engine(cfg: SpeechConfig) -> SpeechEngine:
    """The engine ``cfg.engine`` names; imported lazily so espeak runs never load gTTS/requests."""
    check_patterns(cfg.holdout_voices, "speech.holdout_voices")
    if "+" in cfg.engine:
        names = cfg.engine.split("+")
        engines = [make_engine(replace(cfg, engine=name)) for name in dict.fromkeys(names)]
        if len(engines) < len(names) or not all(isinstance(e, TextToSpeech) for e in engines):
            raise ConfigError(f"speech.engine {cfg.engine!r}: a mixture names each text-to-speech engine once")
        return MixedEngine(cfg, engines)
    if cfg.engine == "espeak":
        from sonovis.tts_espeak import EspeakEngine

        return EspeakEngine(cfg)
    if cfg.engine == "gtts":
        from sonovis.tts_gtts import GttsEngine

        return GttsEngine(cfg)
    if cfg.engine in ("flite", "pico", "rhvoice"):
        from sonovis.tts_local import FliteEngine, PicoEngine, RhvoiceEngine

        return {"flite": FliteEngine, "pico": PicoEngine, "rhvoice": RhvoiceEngine}[cfg.engine](cfg)
    if cfg.engine == "recordings":
        if cfg.holdout_voices:
            raise ConfigError("speech.holdout_voices: recordings are one voice to sonovis; hold speakers out "
                              "by splitting the recordings CSV instead")
        return RecordingsEngine(cfg)
    raise ConfigError(f"speech.engine: unknown engine {cfg.engine!r}; choose espeak, gtts, flite, pico, rhvoice, "
                      "a mixture such as espeak+flite, or recordings")


def default_cache_dir(cfg: SpeechConfig) -> Path:
    return Path(cfg.cache_dir).expanduser() if cfg.cache_dir else Path.home() / ".cache" / "sonovis" / "speech"
