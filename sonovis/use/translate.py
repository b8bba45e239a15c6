"""Example-based translation: say (or play) a sentence and get back the images it describes.

The gallery is every image of the prepared split(s), embedded once by the checkpoint's
image tower and cached beside the checkpoint as ``gallery-<splits>.npz``. The cache is
keyed by the SHA-256 of the checkpoint and of the prepared manifest, so retraining into
the same file or re-preparing the data rebuilds it, and nothing else does.

Where captions and image files come from: captions from the prepared shards (exactly the
text the model was trained and scored on); image paths from the corpus the manifest names
(``load_corpus`` with the manifest's corpus config and the prepared folder as workdir, as
``prepare`` did), because the shards keep only image ids. Built-in scenes are re-rendered
there if they were deleted; a moved Flickr8k folder is reported by ``load_corpus``.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from sonovis.config import SPLITS, CorpusConfig, FeatureConfig, SpeechConfig, from_dict
from sonovis.data.audio import Waveform, load_audio
from sonovis.data.corpus.load import load_corpus
from sonovis.data.features import speech_features
from sonovis.data.shards import Prepared, file_sha256, load_prepared, read_manifest
from sonovis.data.speech.registry import make_engine, text_to_speech_names
from sonovis.errors import ConfigError, InputError
from sonovis.table import format_table
from sonovis.train.checkpoint import load_checkpoint
from sonovis.train.trainer import Trainer

SAY_VOICE_ID = "say"  # every --say query is spoken in the engine's voice for this fixed id
THUMBNAIL_PX = 160


@dataclass(frozen=True)
class Match:
    rank: int  # 1 = most similar
    image_id: str
    image_path: str
    similarity: float  # cosine similarity of the L2-normalised embeddings
    captions: tuple[str, ...]  # the image's English captions, in caption order


@dataclass
class Gallery:
    """The images a query is matched against, with what a person needs to judge a match."""

    key: str  # sha256 over (checkpoint, manifest, splits): the cache is valid only for this
    image_ids: np.ndarray  # [M] str
    image_paths: np.ndarray  # [M] str
    captions: list[tuple[str, ...]]  # per image
    embeddings: np.ndarray  # [M, D] float32, L2-normalised


def translate(checkpoint: str | Path, data_path: str | Path, audio: Path | None = None, say: str | None = None,
              tts: str = "espeak", k: int = 5, split: str = "dev") -> list[Match]:
    """The ``k`` gallery images closest to one spoken query (an audio file, or ``say`` synthesised)."""
    if (audio is None) == (say is None):
        raise InputError("translate: give either an audio file or a sentence to say, not both or neither")
    if k < 1:
        raise ConfigError(f"translate: k must be at least 1, got {k}")
    model_path = model_file(checkpoint)
    manifest = read_manifest(data_path)
    trainer = load_checkpoint(model_path, Prepared(root=str(Path(data_path).resolve()), manifest=manifest))
    gallery = load_gallery(model_path, data_path, split, trainer)
    if audio is not None:
        wave, name = load_audio(audio), str(audio)
    else:
        wave, name = synthesize(say, tts, manifest), f"--say {say!r}"
    features = from_dict(FeatureConfig, manifest["config"]["features"], where="manifest features")
    return nearest(gallery, embed_utterance(trainer, wave, features, name), k)


def nearest(gallery: Gallery, query: np.ndarray, k: int) -> list[Match]:
    """The ``k`` gallery images most similar to one embedded query, best first (ties by gallery order)."""
    similarity = gallery.embeddings @ query
    top = np.argsort(-similarity, kind="stable")[:k]
    return [Match(rank=r + 1, image_id=str(gallery.image_ids[i]), image_path=str(gallery.image_paths[i]),
                  similarity=float(similarity[i]), captions=gallery.captions[i]) for r, i in enumerate(top)]


def model_file(checkpoint: str | Path) -> Path:
    """A checkpoint given as a file or as the folder holding ``model.pt``."""
    path = Path(checkpoint)
    path = path / "model.pt" if path.is_dir() else path
    if not path.is_file():
        raise InputError(f"{path}: no checkpoint here")
    return path


def parse_splits(split: str) -> tuple[str, ...]:
    splits = tuple(s.strip() for s in split.split(",") if s.strip())
    unknown = [s for s in splits if s not in SPLITS]
    if not splits or unknown:
        raise ConfigError(f"split {split!r}: expected a comma-separated subset of {', '.join(SPLITS)}")
    return splits


def gallery_path(checkpoint: str | Path, split: str = "dev") -> Path:
    return model_file(checkpoint).parent / f"gallery-{'+'.join(parse_splits(split))}.npz"


def load_gallery(checkpoint: str | Path, data_path: str | Path, split: str = "dev",
                 trainer: Trainer | None = None) -> Gallery:
    """The cached gallery if its key still matches the checkpoint and manifest, else a rebuilt one."""
    model_path = model_file(checkpoint)
    splits = parse_splits(split)
    manifest_sha = file_sha256(Path(data_path) / "manifest.json")
    key = hashlib.sha256(f"{file_sha256(model_path)}:{manifest_sha}:{','.join(splits)}".encode()).hexdigest()
    cache = gallery_path(model_path, split)
    cached = _read_gallery(cache)
    if cached is not None and cached.key == key:
        return cached
    if trainer is None:
        manifest = read_manifest(data_path)
        trainer = load_checkpoint(model_path, Prepared(root=str(Path(data_path).resolve()), manifest=manifest))
    gallery = _build_gallery(key, trainer, data_path, splits)
    _write_gallery(cache, gallery)
    return gallery


def _build_gallery(key: str, trainer: Trainer, data_path: str | Path, splits: tuple[str, ...]) -> Gallery:
    data = load_prepared(data_path, splits=splits)
    corpus_cfg = from_dict(CorpusConfig, data.manifest["config"]["corpus"], where="manifest corpus")
    paths = {row.image_id: row.image_path for row in load_corpus(corpus_cfg, Path(data.root)).rows}
    ids, captions, pooled = [], [], []
    for name in splits:
        part = data.splits[name]
        for index, image_id in enumerate(part.image_ids):
            if image_id not in paths:
                raise InputError(f"{data.root}/manifest.json: image {image_id} is not in the corpus the manifest "
                                 f"names (was the dataset moved or changed?)")
            rows = np.flatnonzero(part.image_of_utterance == index)
            by_caption = {str(part.utterance_ids[r]).split("/")[0]: str(part.captions[r]) for r in rows}
            order = sorted(by_caption, key=lambda u: int(u.rsplit("#", 1)[1]))  # extra voices share a caption
            captions.append(tuple(by_caption[u] for u in order))
            ids.append(str(image_id))
        pooled.append(part.pooled)
    model = trainer.eval_model.eval()
    with torch.inference_mode():
        embeddings = model.encode_image(torch.from_numpy(np.concatenate(pooled))).numpy()
    return Gallery(key=key, image_ids=np.asarray(ids), image_paths=np.asarray([paths[i] for i in ids]),
                   captions=captions, embeddings=embeddings.astype(np.float32))


def _read_gallery(path: Path) -> Gallery | None:
    """The cached gallery, or None when absent or unreadable (then it is simply rebuilt)."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            return Gallery(key=str(npz["key"]), image_ids=npz["image_ids"], image_paths=npz["image_paths"],
                           captions=[tuple(c) for c in json.loads(str(npz["captions"]))],
                           embeddings=npz["embeddings"])
    except (OSError, ValueError, KeyError):
        return None


def _write_gallery(path: Path, gallery: Gallery) -> None:
    """Write then rename, so a concurrent reader never sees half a cache."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as f:
        np.savez(f, key=np.asarray(gallery.key), image_ids=gallery.image_ids, image_paths=gallery.image_paths,
                 captions=np.asarray(json.dumps(gallery.captions)), embeddings=gallery.embeddings)
    os.replace(tmp, path)


def synthesize(text: str, tts: str, manifest: dict) -> Waveform:
    """``text`` spoken by ``tts`` with the prepared data's voice settings, in one fixed voice."""
    if not text.strip():
        raise InputError("--say: empty text, nothing to speak")
    speech = from_dict(SpeechConfig, {**manifest["config"]["speech"], "engine": tts}, where="manifest speech")
    if tts not in text_to_speech_names():
        raise ConfigError(f"--tts {tts!r}: not a text-to-speech engine; use one of {', '.join(text_to_speech_names())}")
    engine = make_engine(speech)
    return engine.synthesize(text, engine.voice_for(SAY_VOICE_ID))


def embed_utterance(trainer: Trainer, wave: Waveform, features: FeatureConfig, name: str) -> np.ndarray:
    """One utterance through the same features as the prepared data, then the speech tower."""
    try:
        frames = speech_features(wave.samples, wave.sample_rate, features)
    except InputError as err:
        raise InputError(f"{name}: {err}") from None
    model = trainer.eval_model.eval()
    with torch.inference_mode():
        embedding = model.encode_speech(torch.from_numpy(frames)[None], torch.tensor([len(frames)]))
    return embedding[0].numpy()


# --- showing the matches ---------------------------------------------------------------------


def matches_table(matches: list[Match], query: str) -> str:
    rows = [[m.rank, f"{m.similarity:.3f}", m.image_id, m.captions[0] if m.captions else ""] for m in matches]
    return format_table(["rank", "similarity", "image", "first caption"], rows, title=f"query: {query}")


def thumbnail_uri(path: str | Path, size: int = THUMBNAIL_PX) -> str:
    """A small JPEG of the image as a data: URI, so a page needs no files beside it."""
    with Image.open(path) as image:
        thumb = image.convert("RGB")
        thumb.thumbnail((size, size))
    buffer = io.BytesIO()
    thumb.save(buffer, format="JPEG", quality=85)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()


def matches_html(matches: list[Match], correct: str = "") -> str:
    """A fragment: one card per match with its thumbnail and every caption; ``correct`` is outlined."""
    cards = []
    for m in matches:
        image = (f'<img src="{thumbnail_uri(m.image_path)}" alt="{html.escape(m.image_id)}">'
                 if Path(m.image_path).is_file() else '<div class="missing">image file not found</div>')
        captions = "".join(f"<li>{html.escape(c)}</li>" for c in m.captions)
        hit = " hit" if m.image_id == correct else ""
        cards.append(f'<div class="match{hit}">{image}<div><b>#{m.rank}</b> {m.similarity:.3f} '
                     f'<code>{html.escape(m.image_id)}</code><ul>{captions}</ul></div></div>')
    return f'<div class="matches">{"".join(cards)}</div>'


MATCH_CSS = """
.matches{display:flex;flex-wrap:wrap;gap:12px}
.match{display:flex;gap:8px;width:560px;border:1px solid #ccc;border-radius:6px;padding:8px;background:#fff}
.match.hit{border:3px solid #2a9d4b}
.match img{width:160px;height:160px;object-fit:cover}
.match ul{margin:4px 0;padding-left:18px;font-size:13px}
.missing{width:160px;height:160px;background:#eee;color:#666;font-size:12px;display:flex;align-items:center}
"""


def write_html(matches: list[Match], out: str | Path, query: str) -> Path:
    """A self-contained page: the query, then every match with its thumbnail and all its captions."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        "<!doctype html><html><head><meta charset='utf-8'><title>sonovis translate</title>"
        f"<style>body{{font-family:sans-serif;margin:24px;background:#f6f6f6}}{MATCH_CSS}</style></head><body>"
        f"<h1>sonovis translate</h1><p>Query: <b>{html.escape(query)}</b></p>{matches_html(matches)}</body></html>"
    )
    return out
