"""Example-based translation: real espeak-ng speech, a really trained model, real images and caches."""

from __future__ import annotations

import html
import json
import shutil
import wave
from pathlib import Path

import numpy as np
import pytest

from sonovis.config import (
    ExperimentConfig,
    ModelConfig,
    SpeechConfig,
    TrainConfig,
    from_dict,
)
from sonovis.data.audio import Waveform
from sonovis.data.shards import Prepared, load_prepared, read_manifest
from sonovis.data.speech.registry import make_engine
from sonovis.errors import InputError
from sonovis.train.checkpoint import read_checkpoint
from sonovis.train.trainer import fit
from sonovis.use.translate import (
    gallery_path,
    load_gallery,
    matches_table,
    translate,
    write_html,
)

EPOCHS = 20  # by then the 30-image gallery is learnt: every query below hit its image (top 5) when written


def _config(epochs: int) -> ExperimentConfig:
    return ExperimentConfig(model=ModelConfig(rnn="gru", hidden_size=128),
                            train=TrainConfig(epochs=epochs, lr=1e-3, batch_size=16))


@pytest.fixture(scope="module")
def dev_data(prepared_builtin: Path) -> Prepared:
    """The dev split in the trainer's "train" slot too: the model learns the very gallery it is queried on.

    Translate's job is to find the image a model associates with an utterance; a model that has
    learnt the gallery makes that checkable in a minute of CPU. Generalisation is the search's business.
    """
    data = load_prepared(prepared_builtin, splits=("dev",))
    dev = data.splits["dev"]
    return Prepared(root=data.root, manifest=data.manifest, splits={"train": dev, "dev": dev})


@pytest.fixture(scope="module")
def checkpoint(dev_data: Prepared, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("translate-model") / "model.pt"
    for result in fit(_config(EPOCHS), dev_data):
        pass
    result.trainer.save(path)
    return path


def _own(tmp_path: Path, checkpoint: Path) -> Path:
    """A private copy of the checkpoint, so a test's cache files and retraining touch no other test."""
    folder = tmp_path / "model"
    folder.mkdir()
    return Path(shutil.copy(checkpoint, folder / "model.pt"))


def _write_wav(path: Path, wave_: Waveform) -> Path:
    pcm = np.clip(np.round(wave_.samples * 32768.0), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(wave_.sample_rate)
        out.writeframes(pcm.tobytes())
    return path


def test_spoken_captions_find_their_images(prepared_builtin: Path, dev_data: Prepared, checkpoint: Path,
                                           tmp_path: Path) -> None:
    """One caption of every dev image, spoken by espeak-ng in the voice prepare gave it, saved as a WAV."""
    model = _own(tmp_path, checkpoint)
    dev = dev_data.splits["dev"]
    engine = make_engine(from_dict(SpeechConfig, dev_data.manifest["config"]["speech"]))
    hits = 0
    for index, image_id in enumerate(dev.image_ids):
        utterance = int(np.flatnonzero(dev.image_of_utterance == index)[index % 5])  # vary which caption
        utterance_id = str(dev.utterance_ids[utterance])
        audio = engine.synthesize(str(dev.captions[utterance]), engine.voice_for(utterance_id))
        matches = translate(model, prepared_builtin, audio=_write_wav(tmp_path / f"{index}.wav", audio), k=5)
        assert [m.rank for m in matches] == [1, 2, 3, 4, 5]
        assert all(a.similarity >= b.similarity for a, b in zip(matches, matches[1:]))
        hits += any(m.image_id == image_id for m in matches)
    rate = hits / len(dev.image_ids)
    assert rate >= 0.6, f"top-5 rate {rate:.2f}; chance is {5 / len(dev.image_ids):.2f}"


def test_say_synthesises_and_matches_carry_paths_and_captions(prepared_builtin: Path, checkpoint: Path,
                                                              tmp_path: Path) -> None:
    model = _own(tmp_path, checkpoint)
    gallery = load_gallery(model, prepared_builtin, "dev")
    matches = translate(model, prepared_builtin, say=gallery.captions[0][0], k=3)
    assert len(matches) == 3 and len({m.image_id for m in matches}) == 3
    for m in matches:
        assert Path(m.image_path).is_file() and Path(m.image_path).name == m.image_id
        assert len(m.captions) == 5 and len(set(m.captions)) == 5
        assert -1.0 <= m.similarity <= 1.0
    table = matches_table(matches, "the query")
    assert table.splitlines()[0] == "query: the query" and matches[0].image_id in table
    page = write_html(matches, tmp_path / "out" / "matches.html", "the query").read_text()
    assert page.count("data:image/jpeg;base64,") == 3
    assert all(html.escape(c) in page for m in matches for c in m.captions)


def test_gallery_spans_several_splits(prepared_builtin: Path, checkpoint: Path, tmp_path: Path) -> None:
    model = _own(tmp_path, checkpoint)
    gallery = load_gallery(model, prepared_builtin, "train,dev")
    counts = read_manifest(prepared_builtin)["counts"]
    images = counts["train"]["images"] + counts["dev"]["images"]
    assert len(gallery.image_ids) == images and gallery.embeddings.shape[0] == images
    assert np.allclose(np.linalg.norm(gallery.embeddings, axis=1), 1.0, atol=1e-5)
    assert gallery_path(model, "train,dev").name == "gallery-train+dev.npz"


def test_gallery_cache_is_reused_then_rebuilt_when_checkpoint_or_manifest_change(
        prepared_builtin: Path, dev_data: Prepared, checkpoint: Path, tmp_path: Path) -> None:
    model = _own(tmp_path, checkpoint)
    first = load_gallery(model, prepared_builtin)
    cache = gallery_path(model)
    written = cache.stat().st_mtime_ns
    again = load_gallery(model, prepared_builtin)
    assert cache.stat().st_mtime_ns == written and again.key == first.key
    assert np.array_equal(again.embeddings, first.embeddings)

    for result in fit(_config(EPOCHS + 1), dev_data, resume=read_checkpoint(model)):  # one more epoch
        result.trainer.save(model)
    retrained = load_gallery(model, prepared_builtin)
    assert retrained.key != first.key and cache.stat().st_mtime_ns != written
    assert not np.allclose(retrained.embeddings, first.embeddings)

    moved = Path(shutil.copytree(prepared_builtin, tmp_path / "prepared"))
    manifest = json.loads((moved / "manifest.json").read_text())
    (moved / "manifest.json").write_text(json.dumps({**manifest, "note": "re-prepared"}))
    rebuilt = load_gallery(model, moved)
    assert rebuilt.key != retrained.key
    assert all(Path(p).is_relative_to(moved) for p in rebuilt.image_paths)  # paths follow the prepared folder


def test_bad_audio_is_one_clear_error_naming_the_file(prepared_builtin: Path, checkpoint: Path,
                                                      tmp_path: Path) -> None:
    model = _own(tmp_path, checkpoint)
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    text = tmp_path / "notes.wav"
    text.write_text("this is not audio\n")
    silent = _write_wav(tmp_path / "no-samples.wav", Waveform(np.zeros(0, np.float32), 16000))
    blip = _write_wav(tmp_path / "blip.wav", Waveform(np.zeros(40, np.float32), 16000))
    for path in (empty, text, silent, blip, tmp_path / "missing.wav"):
        with pytest.raises(InputError) as err:
            translate(model, prepared_builtin, audio=path)
        assert str(path) in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(InputError, match="empty text"):
        translate(model, prepared_builtin, say="   ")
    with pytest.raises(InputError, match="not both"):
        translate(model, prepared_builtin, audio=blip, say="a red ball")
