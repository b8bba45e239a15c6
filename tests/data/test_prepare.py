"""The Ray Data prepare pipeline: real local Ray, real espeak-ng audio, real Parquet."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from sonovis.config import CorpusConfig, PrepareConfig, SpeechConfig, from_dict
from sonovis.data.prepare import prepare
from sonovis.data.phonemes import EspeakPhonemiser
from sonovis.data.shards import caption_key, load_prepared, read_manifest
from sonovis.errors import InputError


def _shard_state(root: Path) -> dict[str, float]:
    return {str(p): p.stat().st_mtime_ns for p in sorted(root.glob("*/*.parquet"))}


def test_builtin_prep_schema_counts_and_features(prepared_builtin: Path) -> None:
    manifest = read_manifest(prepared_builtin)
    assert manifest["counts"]["train"] == {"images": 150, "captions": 750, "utterances": 750, "skipped_utterances": 0}
    assert manifest["counts"]["dev"]["utterances"] == 150
    assert manifest["accounted"]["complete"]
    assert manifest["versions"]["ray"] and manifest["config"]["features"]["n_mfcc"] == 40
    utt = pq.read_table(prepared_builtin / manifest["shards"]["utterances"][0]["path"])
    assert utt.schema.names == ["id", "image", "caption", "phonemes", "split", "engine", "voice", "voice_group",
                                "condition", "sample_rate", "duration", "n_frames", "features"]
    assert set(utt.column("condition").to_pylist()) == {""}  # no conditions asked for: every utterance clean
    assert manifest["conditions"] == {"kinds": [], "preset": "", "by_split": {"train": {"clean": 750},
                                                                             "dev": {"clean": 150}}}
    first = utt.slice(0, 1).to_pylist()[0]
    assert first["engine"] == "espeak" and first["sample_rate"] == 16000
    assert len(first["features"]) == first["n_frames"] and len(first["features"][0]) == 40
    assert abs(first["n_frames"] / 100 - first["duration"]) < 0.05  # 10 ms hop
    data = load_prepared(prepared_builtin, with_grid=True)
    train = data.splits["train"]
    assert train.pooled.shape == (150, 1280) and train.grid.shape == (150, 49, 1280)
    assert train.features.shape[1] == 40 and len(train.offsets) == 751
    assert np.abs(train.pooled[0] - train.pooled[1]).max() > 0.1  # different images, different features
    assert len(set(train.voices)) > 10  # voices vary per utterance
    assert {str(i) for i in train.utterance_ids} == {f"{img}#{k}" for img in train.image_ids for k in range(5)}


def test_every_utterance_stores_its_captions_phonemes(prepared_builtin: Path) -> None:
    """The CTC targets: espeak-ng's phones of each utterance's own caption, aligned row by row."""
    data = load_prepared(prepared_builtin)
    assert data.manifest["phonemes"] == [EspeakPhonemiser().source]
    for split in data.splits.values():
        assert len(split.phonemes) == len(split.captions) and all(split.phonemes)
        redone = EspeakPhonemiser()(list(split.captions[:50]))
        assert list(split.phonemes[:50]) == redone  # row i holds caption i's phones, not a neighbour's
    by_caption = dict(zip(data.splits["train"].captions, data.splits["train"].phonemes))
    red = next(c for c in by_caption if " red " in f" {c.lower()} ")
    assert "ɹ ɛ d" in by_caption[red]  # "red" in US English IPA, stress marks and word boundaries dropped
    assert "|" not in " ".join(by_caption.values())


def test_flickr8k_dev_prep_and_rerun_is_a_no_op(shared_flickr8k: Path, tmp_path: Path, ray_local,
                                                 speech_cache: Path, capfd: pytest.CaptureFixture[str]) -> None:
    cfg = PrepareConfig(out=str(tmp_path / "prep"), shard_rows=40,
                        corpus=CorpusConfig(kind="flickr8k", root=str(shared_flickr8k), splits=("dev",), limit=20),
                        speech=SpeechConfig(cache_dir=str(speech_cache)))
    manifest = prepare(cfg)
    said = capfd.readouterr()
    assert "[prepare] 1/4 shards" in said.out
    assert "streaming_executor" not in said.out + said.err  # Ray Data's INFO lines stay in its log file
    assert manifest["counts"]["dev"]["captions"] == 100 and manifest["counts"]["dev"]["utterances"] == 100
    data = load_prepared(cfg.out, splits=("dev",))
    assert data.splits["dev"].pooled.shape == (20, 1280)
    before = _shard_state(tmp_path / "prep")
    lines: list[str] = []
    again = prepare(cfg, echo=lines.append)
    assert any("0 to make" in line for line in lines)
    assert _shard_state(tmp_path / "prep") == before  # nothing rewritten
    assert again["shards"] == manifest["shards"]
    elsewhere = prepare(PrepareConfig(**{**cfg.__dict__, "out": str(tmp_path / "again")}), echo=lines.append)
    assert elsewhere["stats"]["cache_hits"] == 100 and elsewhere["stats"]["synthesised"] == 0  # no caption twice


def test_prep_time_holdout_keeps_dev_voices_out_of_train_and_accounts_for_every_voice(
        tmp_path: Path, ray_local, speech_cache: Path) -> None:
    held = ("en-gb-scotland", "en-029")
    cfg = PrepareConfig(out=str(tmp_path / "prep"), shard_rows=60,
                        corpus=CorpusConfig(kind="builtin", builtin_images=(12, 4, 0)),
                        speech=SpeechConfig(cache_dir=str(speech_cache), voices_per_caption=2, holdout_voices=held))
    manifest = prepare(cfg, echo=lambda line: None)
    assert manifest["accounted"]["complete"] and manifest["counts"]["train"]["utterances"] == 12 * 5 * 2
    voices = manifest["voices"]
    assert set(voices["dev"]) == {"espeak:en-gb-scotland", "espeak:en-029"}
    assert not set(voices["train"]) & set(voices["dev"])  # voice groups disjoint: dev is spoken by unheard voices
    assert manifest["holdout_voices"] == {"patterns": list(held), "by_split": {
        "train": {"heldout": 0, "seen": 120}, "dev": {"heldout": 40, "seen": 0}}}
    rows = [r for e in manifest["shards"]["utterances"]
            for r in pq.read_table(tmp_path / "prep" / e["path"], columns=["id", "split", "voice_group"]).to_pylist()]
    for split in ("train", "dev"):  # the manifest's counts are exactly the shards' voices
        groups = [r["voice_group"] for r in rows if r["split"] == split]
        assert voices[split] == {g: groups.count(g) for g in set(groups)}
        assert sum(voices[split].values()) == manifest["counts"][split]["utterances"]
    by_caption: dict[str, set[str]] = {}
    for r in rows:
        by_caption.setdefault(caption_key(r["id"]), set()).add(r["voice_group"])
    assert all(len(groups) == 2 for groups in by_caption.values())  # the two voices of a caption differ in accent


def test_bad_rows_are_counted_with_file_and_line(shared_flickr8k: Path, tmp_path: Path, ray_local,
                                                 speech_cache: Path) -> None:
    root = tmp_path / "broken"
    (root / "Images").mkdir(parents=True)
    lines = (shared_flickr8k / "captions.txt").read_text().splitlines()[1:11]  # two images, 5 captions each
    for name in {line.split(",")[0] for line in lines}:
        (root / "Images" / name).symlink_to(shared_flickr8k / "images" / name)
    lines.append("missing_image.jpg,a dog that is not there")
    (root / "captions.txt").write_text("image,caption\n" + "\n".join(lines) + "\n")
    manifest = prepare(PrepareConfig(out=str(tmp_path / "prep"), corpus=CorpusConfig(
        kind="flickr8k", root=str(root), splits=("train", "dev", "test")),
        speech=SpeechConfig(cache_dir=str(speech_cache))))
    assert manifest["accounted"]["complete"]
    bad = [s for s in manifest["skipped"] if "missing_image" in s["reason"] or "missing_image" in s["source"]
           or s["line"] == 12]
    assert len(bad) == 1 and bad[0]["source"].endswith("captions.txt") and bad[0]["line"] == 12
    assert sum(c["utterances"] for c in manifest["counts"].values()) == 10


def test_corrupt_shard_is_refused_then_redone(prepared_builtin: Path, tmp_path: Path, ray_local) -> None:
    import shutil

    copy = tmp_path / "prep"
    shutil.copytree(prepared_builtin, copy)
    manifest = read_manifest(copy)
    shard = copy / manifest["shards"]["utterances"][1]["path"]
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    with pytest.raises(InputError, match=shard.name):
        load_prepared(copy)
    lines: list[str] = []
    prepare(from_dict(PrepareConfig, {**manifest["config"], "out": str(copy)}), echo=lines.append)
    assert any("1 to make" in line for line in lines), lines
    assert len(load_prepared(copy).splits["train"].utterance_ids) == 750


KILL_SCRIPT = """
import sys
from sonovis.config import CorpusConfig, PrepareConfig, SpeechConfig
from sonovis.data.prepare import prepare
from sonovis.runtime import connect
connect(num_cpus=1, dashboard=False)
prepare(PrepareConfig(out=sys.argv[1], shard_rows=20, corpus=CorpusConfig(kind="builtin", builtin_images=(40, 0, 0),
        splits=("train",), seed=7), speech=SpeechConfig(cache_dir=sys.argv[2])))
"""


def test_sigkill_mid_run_then_rerun_gives_exact_counts(tmp_path: Path, ray_local) -> None:
    out, cache = tmp_path / "prep", tmp_path / "cache"  # a fresh cache: the killed run must really synthesise
    proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(out), str(cache)], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and not list((out / "utterances").glob("*.json")):
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = len(list(out.glob("*/*.json")))  # image and utterance shards finished before the kill
    assert 0 < done_before < 11, "the kill should land mid-run"
    assert not (out / "manifest.json").exists()
    lines: list[str] = []
    manifest = prepare(PrepareConfig(out=str(out), shard_rows=20, corpus=CorpusConfig(
        kind="builtin", builtin_images=(40, 0, 0), splits=("train",), seed=7),
        speech=SpeechConfig(cache_dir=str(cache))), echo=lines.append)
    assert any(f"{done_before} already finished" in line for line in lines), lines
    ids = load_prepared(out, splits=("train",)).splits["train"].utterance_ids
    assert len(ids) == 200 and len(set(ids)) == 200
    assert manifest["accounted"]["complete"]
    assert not [p for p in out.rglob(".*tmp*")]  # no half-written file left behind
    json.dumps(manifest)


def test_prepare_flags_override_the_toml_only_when_given(tmp_path: Path) -> None:
    """A TOML's [speech] engine survives `sonovis prepare --config` without --tts; --tts, when given, wins."""
    from sonovis.cli import build_parser, prepare_settings
    from sonovis.config import prepare_config
    from sonovis.data.conditions import check_conditions

    toml = tmp_path / "voices.toml"
    toml.write_text('[corpus]\nkind = "flickr8k"\n[speech]\nengine = "espeak+flite"\nvoices = ["all", "mbrola"]\n')
    parse = build_parser().parse_args
    settings = prepare_settings(parse(["prepare", "--config", str(toml), "--out", str(tmp_path / "p")]))
    assert settings["speech"]["engine"] == "espeak+flite" and settings["corpus"]["kind"] == "flickr8k"
    assert settings["prepare"]["out"] == str(tmp_path / "p")
    settings = prepare_settings(parse(["prepare", "--config", str(toml), "--out", "p", "--tts", "pico"]))
    assert settings["speech"]["engine"] == "pico" and settings["speech"]["voices"] == ["all", "mbrola"]
    settings = prepare_settings(parse(["prepare", "--out", "p", "--corpus", "recordings", "--tts", "pico"]))
    assert settings["speech"]["engine"] == "recordings"
    recipe = ["prepare", "--config", str(ROOT / "recipe.toml"), "--out", "p"]  # its prep puts a share in rooms
    assert prepare_settings(parse(recipe))["speech"]["conditions"]["share"] == 0.5
    clean = prepare_config(prepare_settings(parse([*recipe, "--conditions", "none", "--splits", "dev"])))
    check_conditions(clean.speech, clean.corpus.splits)  # dev alone, clean: nothing for the conditions to refuse
    assert clean.speech.conditions.kinds == () and clean.speech.voices_per_caption == 2


ROOT = Path(__file__).parents[2]


@pytest.mark.parametrize("recipe", [ROOT / "recipe.toml", *sorted((ROOT / "benchmarks").glob("*.toml"))],
                         ids=lambda path: path.name)
def test_shipped_recipes_build_every_config_they_feed(recipe: Path) -> None:
    """A shipped TOML (the recipe, benchmarks/) that no longer matches the dataclasses would fail only hours into a run."""
    from sonovis.config import (
        ablate_config,
        experiment_config,
        load_settings,
        prepare_config,
        search_config,
    )
    from sonovis.train.augment import check_config

    settings = load_settings(recipe)
    assert settings, f"{recipe.name} is empty"
    # Unknown keys raise while building.
    prepared, experiment, _, _ = (build(settings) for build in (prepare_config, experiment_config, search_config,
                                                                ablate_config))
    if recipe.name == "recipe.toml":  # the recommended recipe: two voices a caption, 5 cepstra, VTLP, EMA, the
        # engine-held-out search's shape (caption text as a third modality, mean pooling, a 512-d space), an LSTM
        assert prepared.speech.voices_per_caption == 2 and experiment.model.n_cepstra == 5
        assert experiment.augment.vtlp == 0.1 and experiment.train.ema_decay == 0.999
        assert "speech-text" in experiment.model.pairs and experiment.model.pooling == "mean"
        assert experiment.model.embed_dim == 512 and experiment.train.batch_size == 16
        assert experiment.model.rnn == "lstm" and experiment.train.precision == "auto"  # the cheaper, better epoch
        assert prepared.speech.conditions.kinds == ("room", "microphone", "noise", "codec")  # a quarter of the
        assert prepared.speech.conditions.per_caption == 1 and prepared.speech.conditions.share == 0.5  # renditions
        check_config(experiment.augment, prepared.features)  # VTLP needs the invertible 40/40 DCT it gets


def _files(root: Path, *inside: Path) -> set[Path]:
    """Every file under ``root`` but outside the folders ``inside``."""
    return {p for p in root.rglob("*") if p.is_file() and not any(p.is_relative_to(f) for f in inside)}


def test_hostile_captions_cost_only_their_lines(shared_flickr8k: Path, tmp_path: Path, ray_local,
                                                speech_cache: Path) -> None:
    root = tmp_path / "hostile"
    (root / "Images").mkdir(parents=True)
    good = (shared_flickr8k / "captions.txt").read_text().splitlines()[1:11]  # two images, 5 captions each
    dog = good[0].split(",")[0]
    for name in {line.split(",")[0] for line in good}:
        (root / "Images" / name).symlink_to(shared_flickr8k / "images" / name)
    lines = [b"image,caption"] + [line.encode() for line in good[:5]]
    lines += [f"{dog},Un chien caf\xe9".encode("latin-1"),  # 7
              f"{dog},A dog\x00 and the words after the NUL".encode(),  # 8
              f"{dog},{' '.join(['dog'] * 4000)}".encode()]  # 9
    lines += [line.encode() for line in good[5:]]
    (root / "captions.txt").write_bytes(b"\n".join(lines) + b"\n")
    manifest = prepare(PrepareConfig(out=str(tmp_path / "prep"), corpus=CorpusConfig(
        kind="flickr8k", root=str(root), splits=("train", "dev", "test")),
        speech=SpeechConfig(cache_dir=str(speech_cache))), echo=lambda line: None)
    assert manifest["accounted"]["complete"]
    assert sum(c["utterances"] for c in manifest["counts"].values()) == 10
    skipped = {s["line"]: s for s in manifest["skipped"]}
    assert set(skipped) == {7, 8, 9} and {s["source"] for s in skipped.values()} == {str(root / "captions.txt")}
    assert skipped[7]["reason"].startswith("not UTF-8 text")
    assert skipped[8]["reason"].startswith("control character U+0000")
    assert skipped[9]["reason"] == "caption of 4000 words, over corpus.max_caption_words = 50"
    sizes = [e["bytes"] for e in manifest["shards"]["utterances"]]
    assert max(sizes) < 2_000_000  # no 12 MB shard of one runaway caption


def test_hostile_recordings_are_skipped_at_their_csv_line_and_write_nowhere_else(
        shared_flickr8k: Path, tmp_path: Path, ray_local) -> None:
    import wave

    root = tmp_path / "mine"
    (root / "photos").mkdir(parents=True)
    dog, cat = sorted(p.name for p in (shared_flickr8k / "images").iterdir())[:2]
    for name in (dog, cat):
        (root / "photos" / name).symlink_to(shared_flickr8k / "images" / name)
    (tmp_path / "outside.jpg").symlink_to(shared_flickr8k / "images" / cat)
    for k in range(2):
        subprocess.run(["espeak-ng", "-w", str(root / f"{k}.wav"), f"a dog running number {k}"], check=True)

    def write_wav(name: str, samples: np.ndarray, rate: int = 8000) -> None:
        with wave.open(str(root / name), "wb") as w:
            w.setnchannels(1), w.setsampwidth(2), w.setframerate(rate)
            w.writeframes(samples.astype("<i2").tobytes())

    t = np.arange(600 * 8000) / 8000
    write_wav("ten-minutes.wav", 8000 * np.sin(2 * np.pi * 220 * t))
    write_wav("silent.wav", np.zeros(2 * 8000))
    (root / "recordings.csv").write_text(
        "audio,image,caption,split\n"
        f"0.wav,photos/{dog},A dog running,train\n"  # 2
        f"ten-minutes.wav,photos/{dog},A very long talk,train\n"  # 3
        f"silent.wav,photos/{cat},A silent cat,train\n"  # 4
        "1.wav,../outside.jpg,A cat from outside the folder,train\n"  # 5
        f"1.wav,photos/{cat},A cat,train\n"  # 6
    )
    before = _files(tmp_path)
    cfg = PrepareConfig(out=str(tmp_path / "prep"), corpus=CorpusConfig(
        kind="recordings", root=str(root), splits=("train",)), speech=SpeechConfig(engine="recordings"))
    manifest = prepare(cfg, echo=lambda line: None)
    csv_file = str(root / "recordings.csv")
    skipped = {s["line"]: s for s in manifest["skipped"]}
    assert set(skipped) == {3, 4, 5} and {s["source"] for s in skipped.values()} == {csv_file}
    assert "600.0 s long, over speech.max_seconds = 20" in skipped[3]["reason"]
    assert "silent audio" in skipped[4]["reason"] and skipped[4]["id"] == f"photos%2F{cat}#0"
    assert "leaves the CSV's folder" in skipped[5]["reason"]
    assert manifest["accounted"]["complete"] and manifest["counts"]["train"]["utterances"] == 2
    assert _files(tmp_path, tmp_path / "prep") == before  # nothing written outside the prepared folder
    ids = pq.read_table(tmp_path / "prep" / manifest["shards"]["utterances"][0]["path"]).column("id").to_pylist()
    assert sorted(ids) == sorted([f"photos%2F{dog}#0", f"photos%2F{cat}#1"])
