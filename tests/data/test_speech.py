"""Speech engines with real audio: espeak-ng, gTTS against a local batchexecute server, files."""

from __future__ import annotations

import base64
import csv
import json
import shutil
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import numpy as np
import pytest

from sonovis.config import SpeechConfig
from sonovis.data.audio import Waveform, load_audio
from sonovis.data.corpus.rows import CaptionRow
from sonovis.data.speech import espeak as tts_espeak
from sonovis.data.speech.base import Voice
from sonovis.data.speech.cache import SpeechCache, default_cache_dir, speak
from sonovis.data.speech.espeak import (
    EspeakEngine,
    list_espeak_english_voices,
    list_espeak_variants,
)
from sonovis.data.speech.gtts import BATCHEXECUTE_PATH, GttsEngine
from sonovis.data.speech.recordings import RecordingsEngine
from sonovis.data.speech.registry import make_engine
from sonovis.data.voices import matches
from sonovis.errors import ConfigError, InputError, SonovisError


@pytest.fixture(scope="module")
def flickr8k() -> Path:
    return Path(__file__).resolve().parents[2].parent / "shared" / "data" / "flickr8k"


@pytest.fixture(scope="module")
def rows(flickr8k: Path) -> list[CaptionRow]:
    """The first 20 real Flickr8k captions (four images), as the corpus reader would give them."""
    with open(flickr8k / "captions.txt", newline="") as handle:
        records = list(csv.DictReader(handle))[:20]
    return [
        CaptionRow(r["image"], str(flickr8k / "images" / r["image"]), r["caption"], "train", i % 5)
        for i, r in enumerate(records)
    ]


@pytest.fixture(scope="module")
def espeak() -> EspeakEngine:
    return EspeakEngine(SpeechConfig())


def rms(wave: Waveform) -> float:
    return float(np.sqrt(np.mean(wave.samples.astype(np.float64) ** 2)))


def espeak_wav(path: Path, text: str = "A dog runs across the grass.") -> Path:
    subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(path), text], check=True)
    return path


def ffmpeg(src: Path, dst: Path, *args: str) -> Path:
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(src), *args, str(dst)], check=True)
    return dst


class CountingEspeak(EspeakEngine):
    """The real engine, counting how often it is actually asked to synthesise."""

    calls = 0

    def synthesize(self, text: str, voice: Voice) -> Waveform:
        self.calls += 1
        return super().synthesize(text, voice)


def test_espeak_speaks_audible_audio_of_plausible_length(espeak, rows):
    row = rows[0]
    voice = espeak.voice_for(row.utterance_id)
    wave = espeak.synthesize(row.caption, voice)
    words = len(row.caption.split())
    expected = words / voice.speed * 60
    assert wave.sample_rate == 22050
    assert wave.samples.dtype == np.float32 and wave.samples.ndim == 1
    assert np.abs(wave.samples).max() <= 1.0
    assert rms(wave) > 0.02
    assert 0.5 * expected < wave.duration < 2.5 * expected


def test_voices_vary_by_utterance_and_repeat_on_another_engine(espeak, rows):
    other = EspeakEngine(SpeechConfig())
    ids = [r.utterance_id for r in rows]
    voices = [espeak.voice_for(i) for i in ids]
    assert voices == [other.voice_for(i) for i in reversed(ids)][::-1]
    assert len({v.label() for v in voices}) > 15
    assert len({v.name for v in voices}) >= 4 and len({v.variant for v in voices}) >= 3
    cfg = SpeechConfig()
    assert all(cfg.speed[0] <= v.speed <= cfg.speed[1] and cfg.pitch[0] <= v.pitch <= cfg.pitch[1] for v in voices)
    several = [espeak.voice_for(ids[0], k).name for k in range(len(cfg.voices))]
    assert sorted(several) == sorted(cfg.voices)  # one caption's voices are all different accents
    assert EspeakEngine(SpeechConfig(seed=1)).voice_for(ids[0]) != voices[0]


def test_voice_label_and_group():
    voice = Voice("espeak", name="en-gb", variant="f2", speed=160, pitch=40)
    assert voice.label() == "espeak:en-gb+f2/s160/p40" and voice.group() == "espeak:en-gb"
    assert Voice("espeak", name="en-us", speed=150, pitch=50).label() == "espeak:en-us/s150/p50"
    assert Voice("gtts", tld="co.uk").label() == Voice("gtts", tld="co.uk").group() == "gtts:co.uk"
    assert Voice("recordings").label() == "recording"


def test_cache_is_hit_on_a_second_run_and_by_a_new_instance(rows, tmp_path):
    engine = CountingEspeak(SpeechConfig())
    first = [speak(r, engine, SpeechCache(tmp_path)) for r in rows[:3]]
    assert engine.calls == 3 and not any(hit for _, _, hit in first)
    cache = SpeechCache(tmp_path)
    second = [speak(r, engine, cache) for r in rows[:3]]
    assert engine.calls == 3 and all(hit for _, _, hit in second)
    for (voice_a, wave_a, _), (voice_b, wave_b, _) in zip(first, second):
        assert voice_a == voice_b and wave_a.sample_rate == wave_b.sample_rate
        np.testing.assert_array_equal(wave_a.samples, wave_b.samples)  # 16-bit espeak audio: lossless
    _, _, hit = speak(rows[0], engine, cache, k=1)  # another voice is another entry
    assert not hit and engine.calls == 4
    assert len(list(tmp_path.rglob("*.wav"))) == 4 and not list(tmp_path.rglob("*.tmp"))


def test_espeak_configuration_errors_are_clear(espeak):
    with pytest.raises(SonovisError, match="espeak:xx-nope/s150/p50: .*does not exist"):
        espeak.synthesize("A dog.", Voice("espeak", name="xx-nope", speed=150, pitch=50))
    with pytest.raises(ConfigError, match=r"no voice \['en-uk'\].*en-gb-scotland"):
        EspeakEngine(SpeechConfig(voices=("en-uk",)))  # mbrola-only voice
    with pytest.raises(ConfigError, match=r"no variant \['f9'\]"):
        EspeakEngine(SpeechConfig(variants=("", "f9")))
    with pytest.raises(ConfigError, match="speech.pitch"):
        EspeakEngine(SpeechConfig(pitch=(50, 120)))
    with pytest.raises(ConfigError, match="unknown engine 'festival'"):
        make_engine(SpeechConfig(engine="festival"))


def test_missing_espeak_names_the_install_command(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SonovisError, match="apt-get install espeak-ng"):
        EspeakEngine(SpeechConfig())


def test_english_voices_exclude_mbrola():
    voices = list_espeak_english_voices()
    assert {"en-gb", "en-us", "en-gb-scotland"} <= set(voices)
    assert set(SpeechConfig().voices) <= set(voices)
    assert not any(v.startswith("mb-") or v in ("en-uk", "variant") for v in voices)


def test_all_expands_to_every_english_voice_and_every_variant():
    engine = EspeakEngine(SpeechConfig(voices=("all",), variants=("", "all")))
    assert list(engine.voices) == list_espeak_english_voices()
    assert engine.variants[0] == "" and set(engine.variants[1:]) == set(list_espeak_variants())
    assert {"f2", "m3", "klatt", "whisper"} <= set(engine.variants) and len(engine.variants) > 50
    voices = {engine.voice_for(f"all#{i}").variant for i in range(200)}
    assert len(voices) > 40  # the draws really spread over the expanded list


def test_prep_time_holdout_keeps_held_out_voices_out_of_train():
    patterns = ("en-gb-scotland", "+f")
    engine = EspeakEngine(SpeechConfig(holdout_voices=patterns))
    ids = [f"img{i}.jpg#{i % 5}" for i in range(300)]
    train = [engine.voice_for(i, 0, "train") for i in ids]
    dev = [engine.voice_for(i, k, split) for i in ids for k in (0, 1) for split in ("dev", "test")]
    assert not any(matches(v.label(), patterns) for v in train)
    assert all(matches(v.label(), patterns) for v in dev)
    assert {v.name for v in train} == set(SpeechConfig().voices) - {"en-gb-scotland"}
    assert "en-gb-scotland" in {v.name for v in dev} and {v.variant for v in dev} >= {"f1", "f2", "f4", "m1"}
    again = EspeakEngine(SpeechConfig(holdout_voices=patterns))  # a pure function of (seed, id, k, split)
    assert [again.voice_for(i, 0, "train") for i in reversed(ids)][::-1] == train
    assert engine.voice_for(ids[0], 0, "dev").name != engine.voice_for(ids[0], 1, "dev").name
    plain = EspeakEngine(SpeechConfig())
    assert all(plain.voice_for(i, 0, "dev") == plain.voice_for(i, 0, "train") for i in ids)  # no holdout: no sides
    google = GttsEngine(SpeechConfig(holdout_voices=("gtts:co.uk",)))
    assert {google.voice_for(i, 0, "dev").tld for i in ids[:20]} == {"co.uk"}
    assert "co.uk" not in {google.voice_for(i, 0, "train").tld for i in ids[:50]}


def test_prep_time_holdout_refuses_an_empty_side():
    with pytest.raises(ConfigError, match="no voice/variant pair is left for train"):
        EspeakEngine(SpeechConfig(holdout_voices=("espeak:",)))
    with pytest.raises(ConfigError, match="no voice/variant pair is left for dev/test"):
        EspeakEngine(SpeechConfig(holdout_voices=("en-au",)))
    with pytest.raises(ConfigError, match="empty pattern"):
        make_engine(SpeechConfig(holdout_voices=("",)))
    with pytest.raises(ConfigError, match="recordings"):
        make_engine(SpeechConfig(engine="recordings", holdout_voices=("x",)))


def test_mbrola_voice_without_its_packages_is_refused_with_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr(tts_espeak, "MBROLA_DIR", tmp_path)  # as on a machine without Debian's mbrola-* packages
    with pytest.raises(ConfigError, match=r"mb-us1 is an mbrola voice.*install `mbrola` and `mbrola-us1`.*contrib"):
        EspeakEngine(SpeechConfig(voices=("en-us", "mb-us1")))
    with pytest.raises(ConfigError, match='"mbrola" found no English mbrola voice installed'):
        EspeakEngine(SpeechConfig(voices=("all", "mbrola")))


@pytest.mark.skipif(not tts_espeak.list_mbrola_english_voices(), reason="mbrola packages not installed (make setup)")
def test_mbrola_voices_are_a_second_engine_for_prep_and_holdout():
    """``"mbrola"`` adds every installed English mbrola voice; they take no variant, and can be held out as a group."""
    engine = EspeakEngine(SpeechConfig(voices=("all", "mbrola"), variants=("all",), holdout_voices=("mb-",)))
    mbrola = tts_espeak.list_mbrola_english_voices()
    assert {"mb-us1", "mb-en1"} <= set(mbrola) and set(engine.voices) == set(list_espeak_english_voices()) | set(mbrola)
    ids = [f"img{i}.jpg#0" for i in range(200)]
    train, dev = ([engine.voice_for(i, 0, split) for i in ids] for split in ("train", "dev"))
    assert not any(v.name.startswith("mb-") for v in train) and {v.variant for v in train} - {""}
    assert {v.name for v in dev} == set(mbrola) and {v.variant for v in dev} == {""}
    # Real diphone audio, at mbrola's own rate (features resample it), not espeak's formants at 22,050 Hz.
    audio = engine.synthesize("A dog runs through the grass.", Voice("espeak", name="mb-us1", speed=160, pitch=50))
    assert audio.sample_rate == 16_000 and 1.0 < audio.duration < 4.0 and np.abs(audio.samples).max() > 0.05


# --- flite, Pico and RHVoice: other offline synthesis methods ---------------------------------


def test_flite_speaks_its_voices_with_speed_as_duration_stretch():
    engine = make_engine(SpeechConfig(engine="flite", flite_voices=("slt", "awb")))
    voices = [engine.voice_for(f"img{i}.jpg#0") for i in range(40)]
    assert {v.name for v in voices} == {"slt", "awb"} and all(v.label().startswith("flite:") for v in voices)
    assert voices[0].group() == f"flite:{voices[0].name}"
    slow, fast = (engine.synthesize("-A dog runs through the grass.", Voice("flite", name="slt", speed=s, pitch=50))
                  for s in (120, 240))
    assert slow.sample_rate == fast.sample_rate == 16_000 and np.abs(fast.samples).max() > 0.05
    assert 1.6 < slow.duration / fast.duration < 2.4  # twice the words per minute, about half as long
    with pytest.raises(ConfigError, match=r"flite has no voice \['nope'\]"):
        make_engine(SpeechConfig(engine="flite", flite_voices=("slt", "nope")))


@pytest.mark.skipif(not shutil.which("pico2wave"), reason="libttspico-utils not installed (make setup)")
def test_pico_speaks_plain_text_through_its_markup_and_holds_out_a_language():
    engine = make_engine(SpeechConfig(engine="pico", holdout_voices=("pico:en-GB",)))
    ids = [f"img{i}.jpg#0" for i in range(40)]
    assert {engine.voice_for(i, 0, "train").name for i in ids} == {"en-US"}
    assert {engine.voice_for(i, 0, "dev").name for i in ids} == {"en-GB"}
    voice = Voice("pico", name="en-GB", speed=175, pitch=50)
    symbols = engine.synthesize("A dog & a <cat> run.", voice)
    words = engine.synthesize("A dog and a cat run.", voice)
    assert symbols.sample_rate == 16_000 and abs(symbols.duration - words.duration) < 0.3  # not "amp", not "lt"
    slow = engine.synthesize("A dog and a cat run.", Voice("pico", name="en-GB", speed=120, pitch=50))
    assert slow.duration > 1.25 * words.duration
    with pytest.raises(ConfigError, match="Pico has no English voice"):
        make_engine(SpeechConfig(engine="pico", pico_voices=("de-DE",)))


@pytest.mark.skipif(not shutil.which("RHVoice-test"), reason="rhvoice not installed (make setup)")
def test_rhvoice_reads_text_from_stdin_and_refuses_a_voice_it_lacks():
    engine = make_engine(SpeechConfig(engine="rhvoice", holdout_voices=("rhvoice:alan",)))
    ids = [f"img{i}.jpg#0" for i in range(60)]
    assert {engine.voice_for(i, 0, "dev").name for i in ids} == {"alan"}
    assert {engine.voice_for(i, 0, "train").name for i in ids} == {"bdl", "clb", "slt", "evgeniy-eng", "lyubov"}
    normal, fast = (engine.synthesize("-A dog runs through the grass.", Voice("rhvoice", name="slt", speed=s, pitch=50))
                    for s in (175, 350))
    assert normal.sample_rate == 24_000 and np.abs(normal.samples).max() > 0.05  # a leading "-" is text, not an option
    assert 1.6 < normal.duration / fast.duration < 2.4  # twice the words per minute, about half as long
    other = engine.synthesize("-A dog runs through the grass.", Voice("rhvoice", name="alan", speed=175, pitch=50))
    assert not np.array_equal(other.samples[:1000], normal.samples[:1000])  # a different speaker, really used
    with pytest.raises(ConfigError, match=r"has no voice \['nope'\]"):  # RHVoice itself would speak with slt
        make_engine(SpeechConfig(engine="rhvoice", rhvoice_voices=("slt", "nope")))


def test_missing_local_engine_names_its_debian_package(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SonovisError, match="flite not found; install it with: sudo apt-get install flite"):
        make_engine(SpeechConfig(engine="flite"))
    with pytest.raises(SonovisError, match="pico2wave not found.*libttspico-utils"):
        make_engine(SpeechConfig(engine="pico"))
    with pytest.raises(SonovisError, match="RHVoice-test not found.*rhvoice rhvoice-english"):
        make_engine(SpeechConfig(engine="rhvoice"))


def test_mixed_engine_draws_an_engine_per_utterance_and_speaks_with_it():
    engine = make_engine(SpeechConfig(engine="espeak+flite", voices=("en-us",), variants=("",)))
    ids = [f"img{i}.jpg#0" for i in range(200)]
    voices = [engine.voice_for(i) for i in ids]
    counts = {name: sum(v.engine == name for v in voices) for name in ("espeak", "flite")}
    assert min(counts.values()) > 70  # both engines, about half each
    assert voices == [make_engine(SpeechConfig(engine="espeak+flite", voices=("en-us",), variants=("",))).voice_for(i)
                      for i in ids]  # a pure function of (seed, utterance id, k)
    assert all(engine.voice_for(i, 0).engine != engine.voice_for(i, 1).engine for i in ids[:20])  # k-th voices differ
    flite = next(v for v in voices if v.engine == "flite")
    espeak = next(v for v in voices if v.engine == "espeak")
    assert engine.synthesize("A dog.", flite).sample_rate == 16_000  # each voice goes to its own engine
    assert engine.synthesize("A dog.", espeak).sample_rate == 22_050
    for bad in ("espeak+espeak", "espeak+recordings"):
        with pytest.raises(ConfigError, match="a mixture names each text-to-speech engine once"):
            make_engine(SpeechConfig(engine=bad))


# --- gTTS against a local server speaking Google's batchexecute format ----------------------


def batchexecute_body(mp3: bytes) -> bytes:
    audio = json.dumps([base64.b64encode(mp3).decode()])
    payload = json.dumps([["wrb.fr", "jQ1olc", audio, None, None, None, "generic"]], separators=(",", ":"))
    return f")]}}'\n\n{len(payload)}\n{payload}\n".encode()


class FakeGoogle(ThreadingHTTPServer):
    """Answers each POST with the next planned status (200 = the MP3), recording what it got."""

    def __init__(self, mp3: bytes, statuses: list[int]):
        super().__init__(("127.0.0.1", 0), BatchexecuteHandler)
        self.mp3, self.statuses, self.requests = mp3, statuses, []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class BatchexecuteHandler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        server: FakeGoogle = self.server
        server.requests.append((self.path, body))
        status = server.statuses.pop(0) if len(server.statuses) > 1 else server.statuses[0]
        reply = batchexecute_body(server.mp3) if status == 200 else b"busy"
        self.send_response(status)
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def mp3_speech(tmp_path_factory) -> tuple[bytes, float]:
    folder = tmp_path_factory.mktemp("mp3")
    wav = espeak_wav(folder / "speech.wav")
    return ffmpeg(wav, folder / "speech.mp3").read_bytes(), load_audio(wav).duration


@pytest.fixture
def google(mp3_speech, request):
    server = FakeGoogle(mp3_speech[0], list(request.param))
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("google", [[200]], indirect=True)
def test_gtts_decodes_the_mp3_from_a_batchexecute_reply(google, mp3_speech, rows):
    engine = GttsEngine(SpeechConfig(), base_url=google.url)
    voice, wave, hit = speak(rows[0], engine, None)
    assert voice.engine == "gtts" and voice.tld in SpeechConfig().gtts_tlds
    assert abs(wave.duration - mp3_speech[1]) < 0.2 and rms(wave) > 0.02
    path, body = google.requests[0]
    assert path == f"/{BATCHEXECUTE_PATH}" and not hit
    assert rows[0].caption.strip(" .") in json.loads(parse_qs(body)["f.req"][0])[0][0][1]


@pytest.mark.parametrize("google", [[429, 429, 200]], indirect=True)
def test_gtts_backs_off_through_throttling(google, mp3_speech):
    engine = GttsEngine(SpeechConfig(), base_url=google.url, max_retries=3, base_delay=0.001)
    wave = engine.synthesize("A dog runs across the grass.", engine.voice_for("x#0"))
    assert len(google.requests) == 3 and abs(wave.duration - mp3_speech[1]) < 0.2


@pytest.mark.parametrize("google", [[503]], indirect=True)
def test_gtts_gives_up_with_one_clear_line(google):
    engine = GttsEngine(SpeechConfig(), base_url=google.url, max_retries=2, base_delay=0.001)
    expected = r"cannot reach 127\.0\.0\.1:\d+ \(HTTP 503 .* 3 attempts\); use --tts espeak"
    with pytest.raises(SonovisError, match=expected) as err:
        engine.synthesize("A dog.", engine.voice_for("x#0"))
    assert len(google.requests) == 3 and "\n" not in str(err.value)


def test_gtts_unreachable_host_is_a_clear_error():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    engine = GttsEngine(SpeechConfig(), base_url=f"http://127.0.0.1:{port}", max_retries=1, base_delay=0.001)
    with pytest.raises(SonovisError, match="cannot reach .*connection failed"):
        engine.synthesize("A dog.", engine.voice_for("x#0"))


# --- the user's own audio ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "suffix, args, gain",
    [(".wav", (), 1.0), (".mp3", (), 1.0), (".flac", ("-af", "pan=stereo|c0=c0|c1=0*c0"), 0.5)],
)
def test_load_audio_reads_common_formats_as_mono(tmp_path, suffix, args, gain):
    source = espeak_wav(tmp_path / "source.wav")
    reference = load_audio(source)
    wave = load_audio(ffmpeg(source, tmp_path / f"speech{suffix}", *args))
    assert wave.samples.ndim == 1 and wave.samples.dtype == np.float32
    assert wave.sample_rate == 22050 and abs(wave.duration - reference.duration) < 0.1
    assert rms(wave) == pytest.approx(gain * rms(reference), rel=0.05)  # stereo: the channels' mean


def test_load_audio_errors_name_the_file(tmp_path):
    junk, empty = tmp_path / "notes.wav", tmp_path / "empty.flac"
    junk.write_text("these are not samples")
    empty.touch()
    with pytest.raises(InputError, match=rf"^{junk}: cannot read audio \(.+\)$"):
        load_audio(junk)
    with pytest.raises(InputError, match=rf"^{empty}: empty file"):
        load_audio(empty)
    with pytest.raises(InputError, match="not found"):
        load_audio(tmp_path / "missing.mp3")


HOUR_IN_MEMORY = """
import io, sys, threading, time
import psutil
from sonovis.data.audio import decode_audio
from sonovis.errors import InputError
data = open(sys.argv[1], "rb").read()
me = psutil.Process()

def rise(call):  # the most resident memory a call adds, sampled every 2 ms while it runs
    base, peak, done = me.memory_info().rss, [0], threading.Event()
    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], me.memory_info().rss - base)
            time.sleep(0.002)
    watcher = threading.Thread(target=sample)
    watcher.start()
    try:
        return call()
    finally:
        peak[0] = max(peak[0], me.memory_info().rss - base)
        done.set()
        watcher.join()
        print("MIB", peak[0] / 2**20)

decode_audio(io.BytesIO(data[:1000]), "warm-up", max_seconds=1)  # imports and ffmpeg's own buffers
try:
    rise(lambda: decode_audio(io.BytesIO(data), "long.webm", max_seconds=20))
except InputError as err:
    print("REFUSED", err)
whole = rise(lambda: decode_audio(io.BytesIO(data), "long.webm"))
print("SECONDS", whole.duration)
"""


def test_a_quarter_hour_of_opus_in_1_mb_is_refused_after_decoding_only_its_first_seconds(tmp_path):
    long = tmp_path / "long.webm"  # header without a duration, as a browser's MediaRecorder writes it
    subprocess.run(["ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i", "sine=frequency=300:duration=900",
                    "-c:a", "libopus", "-b:a", "6k", str(long)], check=True)
    assert long.stat().st_size < 2**20  # the upload cap is 10 MB: it could hold hours
    out = subprocess.run([sys.executable, "-c", HOUR_IN_MEMORY, str(long)], capture_output=True, text=True,
                         check=True).stdout
    assert "REFUSED long.webm: over 20 s of audio; at most 20 s" in out
    capped_mib, whole_mib = (float(line.split()[1]) for line in out.splitlines() if line.startswith("MIB "))
    assert float(out.split("SECONDS ", 1)[1]) == pytest.approx(900, abs=1)
    assert whole_mib > 150 and capped_mib < whole_mib / 10, out  # 900 s x 48 kHz float32 is 165 MiB


def test_recordings_engine_returns_the_file_and_bypasses_the_cache(rows, tmp_path):
    audio = ffmpeg(espeak_wav(tmp_path / "speech.wav"), tmp_path / "speech.flac")
    row = CaptionRow(rows[0].image_id, rows[0].image_path, rows[0].caption, "train", 0, audio_path=str(audio))
    engine = make_engine(SpeechConfig(engine="recordings"))
    cache = SpeechCache(tmp_path / "cache")
    voice, wave, hit = speak(row, engine, cache)
    assert isinstance(engine, RecordingsEngine) and voice.label() == voice.group() == "recording"
    np.testing.assert_array_equal(wave.samples, load_audio(audio).samples)
    assert not hit and not (tmp_path / "cache").exists()


def test_a_recording_whose_header_gives_no_length_is_refused_while_decoding(rows, tmp_path):
    long = tmp_path / "long.webm"  # WebM from ffmpeg's CLI, like a browser's, has no duration in its header
    subprocess.run(["ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i", "sine=frequency=300:duration=30",
                    "-c:a", "libopus", str(long)], check=True)
    row = CaptionRow(rows[0].image_id, rows[0].image_path, rows[0].caption, "train", 0, audio_path=str(long))
    engine = make_engine(SpeechConfig(engine="recordings", max_seconds=20))
    with pytest.raises(InputError, match=rf"^{long}: over 20 s of audio; at most 20 s$"):
        engine.audio_for(row, engine.voice_for(row.utterance_id))
    whole = make_engine(SpeechConfig(engine="recordings", max_seconds=60)).audio_for(row, engine.voice_for(row.utterance_id))
    assert whole.duration == pytest.approx(30, abs=0.1)


def test_default_cache_dir():
    assert default_cache_dir(SpeechConfig()) == Path.home() / ".cache" / "sonovis" / "speech"
    assert default_cache_dir(SpeechConfig(cache_dir="/data/speech")) == Path("/data/speech")
