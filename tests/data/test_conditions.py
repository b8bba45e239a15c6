"""Rooms, microphones, noise and codecs on real espeak-ng audio, and a real prepare that records them."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pyroomacoustics as pra
import pytest

from sonovis.config import CorpusConfig, PrepareConfig, SpeechConfig, load_settings, prepare_config
from sonovis.config.schema import ConditionsConfig
from sonovis.data.audio import Waveform, read_wav
from sonovis.data.conditions import CLEAN, PRESETS, check_conditions, conditions_for, render
from sonovis.data.conditions.channel import add_noise, microphone
from sonovis.data.conditions.codec import round_trip
from sonovis.data.conditions.draws import keyed_rng
from sonovis.data.conditions.room import Room, impulse_response, reverberate
from sonovis.data.prepare import prepare
from sonovis.data.shards import EXTRA_VOICE, read_manifest
from sonovis.errors import ConfigError

EVERY_KIND = ("room", "microphone", "noise", "codec")
CHEAP_ROOMS = {"rooms": 3, "rt60_s": (0.2, 0.3)}  # a few short rooms: seconds, not minutes, to compute


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> Waveform:
    """A real espeak-ng caption at its own 22.05 kHz."""
    path = tmp_path_factory.mktemp("espeak") / "caption.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(path), "a man rides a red bike past the park"], check=True)
    return read_wav(path)


def fixed(**values: object) -> ConditionsConfig:
    """Conditions whose ranges are single values, so a test knows what was drawn."""
    return dataclasses.replace(ConditionsConfig(), **values)


def band_energy(samples: np.ndarray, sample_rate: int, low: float, high: float) -> float:
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64))) ** 2
    freqs = np.fft.rfftfreq(len(samples), 1 / sample_rate)
    return float(spectrum[(freqs >= low) & (freqs < high)].sum())


def db(ratio: float) -> float:
    return 10 * float(np.log10(ratio))


def test_a_longer_rt60_measurably_lengthens_the_decay() -> None:
    """pyroomacoustics' own RT60 measurement, on the room's response and on an impulse rendered through it."""
    rooms = [Room(size_m=(5.0, 4.0, 2.8), rt60_s=rt60, distance_m=1.5, talker_m=(1.5, 2.0, 1.4),
                  microphone_m=(3.0, 2.0, 1.4)) for rt60 in (0.25, 0.6)]
    measured = [impulse_response(room, 16000)[1] for room in rooms]
    assert measured[1] > 1.8 * measured[0]
    for room, rt60 in zip(rooms, measured):
        assert abs(rt60 - room.rt60_s) < 0.35 * room.rt60_s  # Sabine's estimate, within what shoeboxes give

    impulse = np.zeros(32000, np.float32)
    impulse[100] = 0.5
    rendered = [reverberate(impulse, 16000, keyed_rng("t"), fixed(rooms=1, rt60_s=(rt60, rt60), distance_m=(1.5, 1.5)))
                for rt60 in (0.25, 0.6)]
    decays = [pra.experimental.measure_rt60(out[100:], fs=16000) for out, _ in rendered]
    assert decays[1] > 1.8 * decays[0]
    assert [params["rt60_s"] for _, params in rendered] == [0.25, 0.6]
    assert int(np.argmax(np.abs(rendered[0][0]))) == 100  # the direct sound stays where the sample was


def test_a_room_keeps_length_and_loudness_and_adds_a_tail(speech: Waveform) -> None:
    out, params = reverberate(speech.samples, speech.sample_rate, keyed_rng("r"), fixed(rooms=2, rt60_s=(0.5, 0.5)))
    assert len(out) == len(speech.samples) and out.dtype == np.float32
    rms = [float(np.sqrt(np.mean(np.square(x)))) for x in (speech.samples, out)]
    assert abs(db(rms[1] / rms[0])) < 0.1
    assert params["rt60_s"] == 0.5 and params["index"] in (0, 1)
    assert abs(np.linalg.norm(np.subtract(params["talker_m"], params["microphone_m"])) - params["distance_m"]) < 1e-3
    quiet = np.abs(speech.samples) < 1e-4  # espeak's pauses are digital silence; the room fills them
    assert quiet.sum() > 1000 and np.abs(out[quiet]).mean() > 1e-3


@pytest.mark.parametrize("codec", ["mp3", "opus"])
def test_a_codec_round_trip_changes_the_samples_but_keeps_the_duration(speech: Waveform, codec: str) -> None:
    cfg = fixed(codecs=(codec,), mp3_kbps=(32, 32), opus_kbps=(16, 16))
    out, params = round_trip(speech.samples, speech.sample_rate, keyed_rng("c"), cfg)
    frame = 1152 if codec == "mp3" else speech.sample_rate // 50  # one MP3 frame; Opus' 20 ms
    assert abs(len(out) - len(speech.samples)) <= frame
    assert params == {"codec": codec, "kbps": 32 if codec == "mp3" else 16,
                      "encoded_hz": 22050 if codec == "mp3" else 24000, "bytes": params["bytes"]}
    assert 0 < params["bytes"] < speech.samples.size * 2 / 5  # lossy: far under 16-bit PCM
    n = min(len(out), len(speech.samples))
    pcm = [np.round(x[:n] * 32767).astype("<i2").tobytes() for x in (speech.samples, out)]
    assert pcm[0] != pcm[1]
    lag = int(np.argmax(np.correlate(out[2000:6000], speech.samples[2000:6000], "full"))) - 3999
    assert abs(lag) < 50  # no shift worth a frame of features
    assert np.corrcoef(out[:n], speech.samples[:n])[0, 1] > 0.8  # the same words


def test_the_microphone_removes_energy_above_its_cut_off(speech: Waveform) -> None:
    cfg = fixed(highpass_hz=(200.0, 200.0), lowpass_hz=(4000.0, 4000.0), gain_db=(0.0, 0.0))
    out, params = microphone(speech.samples, speech.sample_rate, keyed_rng("m"), cfg)
    assert params == {"highpass_hz": 200.0, "lowpass_hz": 4000.0, "gain_db": 0.0, "clipped": 0.0}
    rate = speech.sample_rate
    above = db(band_energy(out, rate, 5000, rate / 2) / band_energy(speech.samples, rate, 5000, rate / 2))
    below = db(band_energy(out, rate, 0, 100) / band_energy(speech.samples, rate, 0, 100))
    kept = db(band_energy(out, rate, 500, 3000) / band_energy(speech.samples, rate, 500, 3000))
    assert above < -25 and below < -10 and abs(kept) < 1.0


def test_gain_scales_the_level_and_clips_what_passes_full_scale(speech: Waveform) -> None:
    def level(gain: float) -> tuple[np.ndarray, dict]:
        return microphone(speech.samples, speech.sample_rate, keyed_rng("g"), fixed(gain_db=(gain, gain)))

    (quiet, _), (plain, _), (loud, loud_params) = level(-6.0), level(0.0), level(20.0)
    assert abs(db(np.mean(quiet ** 2) / np.mean(plain ** 2)) + 6.0) < 1e-3
    assert np.abs(loud).max() <= 1.0 and loud_params["clipped"] > 0.01


@pytest.mark.parametrize("colour", ["white", "brown"])
def test_noise_lands_at_the_drawn_snr(speech: Waveform, colour: str) -> None:
    cfg = fixed(snr_db=(5.0, 25.0), noise_colours=(colour,))
    out, params = add_noise(speech.samples, speech.sample_rate, keyed_rng("n", colour), cfg)
    noise = out.astype(np.float64) - speech.samples
    assert params["colour"] == colour and 5.0 <= params["snr_db"] <= 25.0
    assert abs(db(np.mean(speech.samples.astype(np.float64) ** 2) / np.mean(noise ** 2)) - params["snr_db"]) < 1.0
    low_share = band_energy(noise, speech.sample_rate, 0, 500) / band_energy(noise, speech.sample_rate, 0, 11025)
    assert (low_share > 0.5) if colour == "brown" else (low_share < 0.1)  # rumble low, hiss flat


def test_draws_depend_only_on_seed_and_utterance_id(speech: Waveform) -> None:
    cfg = fixed(kinds=EVERY_KIND, **CHEAP_ROOMS)

    def run(seed: int, uid: str, kinds: tuple[str, ...] = EVERY_KIND):
        return render(speech.samples, speech.sample_rate, dataclasses.replace(cfg, kinds=kinds), seed, uid)

    (a, rec_a), (b, rec_b), (c, rec_c), (d, rec_d) = run(0, "x#0"), run(0, "x#0"), run(0, "x#0/v1"), run(1, "x#0")
    np.testing.assert_array_equal(a, b)
    assert rec_a == rec_b and list(rec_a) == list(EVERY_KIND)
    assert rec_c != rec_a and rec_d != rec_a
    assert not np.array_equal(a[:len(c)], c[:len(a)]) and not np.array_equal(a[:len(d)], d[:len(a)])
    _, room_only = run(0, "x#0", ("room",))
    assert room_only["room"] == rec_a["room"]  # another kind switched off leaves this kind's draws alone


def test_voice_conversion_is_a_kind_of_the_chain_and_comes_first(speech: Waveform) -> None:
    cfg = fixed(kinds=("noise", "voice_conversion"), f0_scale=(1.2, 1.2), envelope_warp=(0.95, 0.95))
    out, record = render(speech.samples, speech.sample_rate, cfg, 0, "x#0")
    assert list(record) == ["voice_conversion", "noise"]  # physical order, whatever the config's order
    assert record["voice_conversion"] == {"f0_scale": 1.2, "envelope_warp": 0.95}
    assert len(out) == len(speech.samples) and not np.allclose(out, speech.samples, atol=1e-2)


def test_renditions_go_through_conditions_as_configured() -> None:
    speech = SpeechConfig(voices_per_caption=3, conditions=fixed(kinds=("noise",), per_caption=2))
    assert [conditions_for(speech, "c", k, "train") is not None for k in range(3)] == [True, True, False]
    # training's measure only
    assert conditions_for(speech, "c", 0, "dev") is conditions_for(speech, "c", 0, "test") is None
    everywhere = dataclasses.replace(speech, conditions=fixed(kinds=("noise",), splits=("train", "dev")))
    assert conditions_for(everywhere, "c", 0, "dev") is not None
    assert conditions_for(everywhere, "c", 0, "test") is None
    assert conditions_for(SpeechConfig(), "c", 0, "train") is None
    office = SpeechConfig(voices_per_caption=2, eval_condition="office")
    assert conditions_for(office, "c", 0, "dev") is conditions_for(office, "c", 1, "train") is PRESETS["office"]
    for name in PRESETS:
        check_conditions(SpeechConfig(eval_condition=name))
    check_conditions(SpeechConfig(conditions=fixed(kinds=("voice_conversion", *EVERY_KIND))))  # the defaults fit


def test_a_share_of_the_captions_goes_through_them_every_rendition_alike() -> None:
    """share draws per caption from (seed, caption id): about that share of captions, all their renditions."""
    half = SpeechConfig(voices_per_caption=2, conditions=fixed(kinds=("noise",), per_caption=2, share=0.5))
    captions = [f"img{i}.jpg#{i % 5}" for i in range(2000)]
    chosen = [conditions_for(half, c, 0, "train") is not None for c in captions]
    assert 0.45 < float(np.mean(chosen)) < 0.55
    assert chosen == [conditions_for(half, c, 1, "train") is not None for c in captions]  # every rendition alike
    reseeded = dataclasses.replace(half, seed=1)
    assert chosen != [conditions_for(reseeded, c, 0, "train") is not None for c in captions]
    every = dataclasses.replace(half, conditions=fixed(kinds=("noise",), per_caption=2))
    assert all(conditions_for(every, c, 1, "train") is not None for c in captions)
    office = dataclasses.replace(half, eval_condition="office", conditions=ConditionsConfig())
    assert all(conditions_for(office, c, 0, "dev") is PRESETS["office"] for c in captions)  # a preset is whole


@pytest.mark.parametrize(("overrides", "message"), [
    (["speech.conditions.kinds=room,attic"], "unknown kind 'attic'"),
    (["speech.conditions.kinds=noise,noise"], "each kind once"),
    (["speech.conditions.kinds=noise", "speech.conditions.splits=train,valid"], "unknown split 'valid'"),
    (["corpus.splits=dev", "speech.conditions.kinds=noise"], "conditions none of the splits prepared here (dev)"),
    (["speech.eval_condition=attic"], "speech.eval_condition = 'attic': expected one of office, phone"),
    (["speech.eval_condition=office", "speech.conditions.kinds=room"], "leave speech.conditions.kinds"),
    (["speech.conditions.kinds=noise", "speech.conditions.per_caption=2"], "must not exceed speech.voices_per_caption"),
    (["speech.conditions.kinds=noise", "speech.conditions.share=0"], "speech.conditions.share = 0"),
    (["speech.conditions.kinds=room", "speech.conditions.distance_m=[1, 5]"], "does not fit the smallest room"),
    (["speech.conditions.kinds=room", "speech.conditions.rt60_s=[0.05, 0.3]"], "shorter than a 8 x 8 x 3.2 m room"),
    (["speech.conditions.kinds=microphone", "speech.conditions.highpass_hz=[100, 4000]"], "must stay below"),
    (["speech.conditions.kinds=noise", "speech.conditions.noise_colours=pink"], "noise_colours = ['pink']"),
    (["speech.conditions.kinds=codec", "speech.conditions.codecs=aac"], "codecs = ['aac']: expected some of"),
])
def test_impossible_conditions_are_one_line_naming_the_field(overrides: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)) as err:
        cfg = prepare_config(load_settings(None, overrides))
        check_conditions(cfg.speech, cfg.corpus.splits)
    assert "\n" not in str(err.value)


def test_prepare_records_each_utterances_condition_and_counts_them(tmp_path: Path, ray_local,
                                                                    speech_cache: Path) -> None:
    """Two voices a caption, the first through every kind: half the training utterances clean, dev all clean
    (conditions are training's measure), and the manifest says so; conditioned dev when asked."""
    corpus = CorpusConfig(kind="builtin", builtin_images=(6, 3, 0))
    speech = SpeechConfig(cache_dir=str(speech_cache), voices_per_caption=2,
                          conditions=fixed(kinds=EVERY_KIND, per_caption=1, **CHEAP_ROOMS))
    cfg = PrepareConfig(out=str(tmp_path / "rooms"), shard_rows=30, corpus=corpus, speech=speech)
    lines: list[str] = []
    manifest = prepare(cfg, echo=lines.append)
    assert manifest["accounted"]["complete"]
    rows = [r for e in manifest["shards"]["utterances"]
            for r in pq.read_table(tmp_path / "rooms" / e["path"], columns=["id", "split", "condition"]).to_pylist()]
    assert len(rows) == 90
    for row in rows:
        if EXTRA_VOICE in row["id"] or row["split"] == "dev":
            assert row["condition"] == ""
        else:
            record = json.loads(row["condition"])
            assert list(record) == list(EVERY_KIND) and 0.2 <= record["room"]["rt60_s"] <= 0.3
            assert 10 <= record["noise"]["snr_db"] <= 30 and record["codec"]["codec"] in ("mp3", "opus")
    by_split = read_manifest(tmp_path / "rooms")["conditions"]["by_split"]
    assert by_split == {"train": {CLEAN: 30, **{kind: 30 for kind in EVERY_KIND}}, "dev": {CLEAN: 30}}
    assert any("train 30 clean, 30 room, 30 microphone, 30 noise, 30 codec" in line and "dev 30 clean" in line
               for line in lines)
    both = dataclasses.replace(cfg, out=str(tmp_path / "both"), speech=dataclasses.replace(
        speech, conditions=dataclasses.replace(speech.conditions, splits=("train", "dev"))))
    assert prepare(both, echo=lines.append)["conditions"]["by_split"]["dev"] == {
        CLEAN: 15, **{kind: 15 for kind in EVERY_KIND}}
    half = dataclasses.replace(cfg, out=str(tmp_path / "half"), speech=dataclasses.replace(
        speech, conditions=dataclasses.replace(speech.conditions, share=0.5)))
    train = prepare(half, echo=lines.append)["conditions"]["by_split"]["train"]
    assert 0 < train["room"] < 30 and train[CLEAN] == 60 - train["room"]  # some of the 30 captions' first renditions

    # A dev folder "in the office": every utterance in the preset's one room; a folder without
    # conditions leaves them out of its fingerprint, so settings that only matter when on redo nothing.
    office = PrepareConfig(out=str(tmp_path / "office"), shard_rows=30,
                           corpus=dataclasses.replace(corpus, splits=("dev",)),
                           speech=SpeechConfig(cache_dir=str(speech_cache), eval_condition="office"))
    counts = prepare(office, echo=lines.append)["conditions"]
    assert counts == {"kinds": list(EVERY_KIND), "preset": "office", "by_split": {"dev": {CLEAN: 0, **{
        kind: 15 for kind in EVERY_KIND}}}}
    table = pq.read_table(tmp_path / "office" / read_manifest(tmp_path / "office")["shards"]["utterances"][0]["path"])
    rooms = {json.dumps(json.loads(c)["room"]) for c in table.column("condition").to_pylist()}
    room = json.loads(rooms.pop())
    assert len(rooms) == 0 and room["rt60_s"] == 0.42 and abs(room["measured_rt60_s"] - 0.5) < 0.05

    clean = dataclasses.replace(office, out=str(tmp_path / "clean"), speech=SpeechConfig(cache_dir=str(speech_cache)))
    prepare(clean, echo=lines.append)
    unchanged = dataclasses.replace(clean, speech=dataclasses.replace(
        clean.speech, conditions=fixed(per_caption=3, snr_db=(0.0, 1.0))))
    prepare(unchanged, echo=lines.append)
    assert "[prepare] 2 shards: 2 already finished, 0 to make" in lines
