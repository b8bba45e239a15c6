"""Prepared data on disk: the Parquet shard schema, atomic shard writes, and loading for training.

Layout of a prepared folder::

    manifest.json                   configuration, versions, counts, every skipped row
    utterances/utt-00000.parquet    one row per spoken caption (schema below)
    utterances/utt-00000.json       sidecar: sha256, rows, skips — written after the shard
    images/img-00000.parquet        one row per image: pooled vector and 7x7 grid
    images/img-00000.json

A shard counts as finished only when its sidecar exists and the shard's SHA-256
matches it, so a half-written or corrupted shard is redone, never read as data.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from sonovis.errors import InputError

GRID_CELLS = 49  # 7x7 last feature map of the backbone
EXTRA_VOICE = "/v"  # a caption's k-th voice (k >= 1) is the utterance "<caption id>/v<k>"


def rendition_id(caption_id: str, k: int) -> str:
    """The utterance id of a caption's k-th voice; the first keeps the caption's own id."""
    return caption_id + (f"{EXTRA_VOICE}{k}" if k else "")


def caption_key(utterance_id: str) -> str:
    """The caption an utterance speaks: the inverse of ``rendition_id``."""
    head, sep, k = utterance_id.rpartition(EXTRA_VOICE)
    return head if sep and k.isdigit() else utterance_id


def utterance_schema(feat_dim: int) -> pa.Schema:
    """Utterance rows. ``features`` is the [frames, feat_dim] MFCC (or log-mel) matrix, time-major."""
    return pa.schema([
        ("id", pa.string()),  # "<image>#<caption index>" (+ "/v<k>" for extra voices)
        ("image", pa.string()),
        ("caption", pa.string()),
        ("phonemes", pa.string()),  # the caption's phones, space-separated (sonovis.data.phonemes): CTC targets
        ("split", pa.string()),
        ("engine", pa.string()),
        ("voice", pa.string()),  # full voice settings label
        ("voice_group", pa.string()),  # voice family, for leave-voices-out evaluation
        ("condition", pa.string()),  # JSON of kind -> drawn values (sonovis.data.conditions); "" = clean
        ("sample_rate", pa.int32()),  # rate the features were computed at
        ("duration", pa.float32()),  # seconds of audio
        ("n_frames", pa.int32()),
        ("features", pa.list_(pa.list_(pa.float32(), feat_dim))),
    ])


def image_schema(pooled_dim: int, grid_dim: int) -> pa.Schema:
    """Image rows. The grid is float16: it is only used by the denoising loss and is 49x larger."""
    return pa.schema([
        ("image", pa.string()),
        ("split", pa.string()),
        ("backbone", pa.string()),
        ("pooled", pa.list_(pa.float32(), pooled_dim)),
        ("grid", pa.list_(pa.list_(pa.float16(), grid_dim), GRID_CELLS)),
    ])


def frames_array(matrices: list[np.ndarray], feat_dim: int) -> pa.Array:
    """Variable-length [T_i, F] matrices as one Arrow list<fixed_size_list> column, without copies per row."""
    lengths = np.array([len(m) for m in matrices], dtype=np.int32)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
    flat = np.concatenate(matrices).astype(np.float32).ravel() if matrices else np.zeros(0, np.float32)
    inner = pa.FixedSizeListArray.from_arrays(pa.array(flat), feat_dim)
    return pa.ListArray.from_arrays(pa.array(offsets), inner)


def grid_array(grids: np.ndarray) -> pa.Array:
    """[N, 49, D] -> nested fixed-size lists of float16."""
    n, cells, dim = grids.shape
    inner = pa.FixedSizeListArray.from_arrays(pa.array(grids.astype(np.float16).ravel()), dim)
    return pa.FixedSizeListArray.from_arrays(inner, cells)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_atomic_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def write_shard(path: Path, table: pa.Table, sidecar: dict[str, Any]) -> dict[str, Any]:
    """Write a shard then its sidecar, each atomically: a crash leaves either nothing or a whole shard."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    pq.write_table(table, tmp, compression="zstd")
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)
    sidecar = {**sidecar, "rows": table.num_rows, "sha256": file_sha256(path), "bytes": path.stat().st_size}
    write_atomic_bytes(path.with_suffix(".json"), json.dumps(sidecar, indent=1).encode())
    return sidecar


def finished_shard(path: Path, fingerprint: str) -> dict[str, Any] | None:
    """The sidecar of a complete, intact shard made with the same settings; None means redo it."""
    sidecar_path = path.with_suffix(".json")
    if not (path.exists() and sidecar_path.exists()):
        return None
    try:
        sidecar = json.loads(sidecar_path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    if sidecar.get("fingerprint") != fingerprint or sidecar.get("sha256") != file_sha256(path):
        return None
    return sidecar


@dataclass
class SplitData:
    """One split held as flat arrays: cheap to put in Ray's object store and to share between trials."""

    utterance_ids: np.ndarray  # [N] str
    captions: np.ndarray  # [N] str
    voices: np.ndarray  # [N] str
    voice_groups: np.ndarray  # [N] str
    image_of_utterance: np.ndarray  # [N] int64, row into image_ids / pooled
    features: np.ndarray  # [sum of frames, F] float32, all utterances back to back
    offsets: np.ndarray  # [N + 1] int64: utterance i is features[offsets[i]:offsets[i + 1]]
    image_ids: np.ndarray  # [M] str
    pooled: np.ndarray  # [M, D] float32
    grid: np.ndarray | None = None  # [M, 49, Dg] float16, loaded only when asked for
    phonemes: np.ndarray | None = None  # [N] str, space-separated phones; None for folders made before them
    # [N] str: the condition kinds an utterance went through, "+"-joined in the chain's order ("" = clean);
    # None for a folder prepared without conditions, where every utterance is clean
    conditions: np.ndarray | None = None

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def frames(self, i: int) -> np.ndarray:
        return self.features[self.offsets[i] : self.offsets[i + 1]]

    def went_through(self, kinds: Sequence[str]) -> np.ndarray:
        """[N] bool: the utterances rendered through any of ``kinds`` at prep time; all false for a clean folder."""
        if self.conditions is None or not kinds:
            return np.zeros(len(self.utterance_ids), dtype=bool)
        wanted = set(kinds)
        return np.array([bool(wanted.intersection(c.split("+"))) for c in self.conditions], dtype=bool)


@dataclass
class Prepared:
    root: str
    manifest: dict[str, Any]
    splits: dict[str, SplitData] = field(default_factory=dict)

    @property
    def feat_dim(self) -> int:
        return int(next(iter(self.splits.values())).features.shape[1])

    @property
    def image_dim(self) -> int:
        return int(next(iter(self.splits.values())).pooled.shape[1])

    @property
    def grid_dim(self) -> int:
        grid = next(iter(self.splits.values())).grid
        return 0 if grid is None else int(grid.shape[2])


RERUN = "rerun `sonovis prepare` for this folder"


def read_manifest(root: str | Path) -> dict[str, Any]:
    """The folder's manifest, checked to hold what loading needs: the shard lists and the prepare config."""
    path = Path(root) / "manifest.json"
    if not path.exists():
        raise InputError(f"{path}: no manifest; run `sonovis prepare --out {root}` first")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        reason = err.strerror if isinstance(err, OSError) else "truncated or not JSON"
        raise InputError(f"{path}: unreadable manifest ({reason}); {RERUN}") from None
    problem = _manifest_problem(manifest)
    if problem:
        raise InputError(f"{path}: damaged manifest ({problem}); {RERUN}")
    return manifest


def _manifest_problem(manifest: Any) -> str:
    """What is missing or malformed in a parsed manifest, or "" if loading can rely on it."""
    if not isinstance(manifest, dict):
        return "not a JSON object"
    config, shards = manifest.get("config"), manifest.get("shards")
    if not isinstance(config, dict):
        return "no config"
    missing = [k for k in ("corpus", "speech", "features") if not isinstance(config.get(k), dict)]
    if missing:
        return f"no config.{missing[0]}"
    if not isinstance(shards, dict):
        return "no shards"
    for kind in ("images", "utterances"):
        entries = shards.get(kind)
        if not isinstance(entries, list):
            return f"no shards.{kind} list"
        for i, entry in enumerate(entries):
            if not (isinstance(entry, dict) and isinstance(entry.get("path"), str)
                    and isinstance(entry.get("sha256"), str)):
                return f"shards.{kind}[{i}] lacks a path and sha256"
            if Path(entry["path"]).is_absolute() or ".." in Path(entry["path"]).parts:
                return f"shards.{kind}[{i}] path {entry['path']!r} leaves the folder"
    return ""


def _verified_tables(root: Path, entries: list[dict[str, Any]], columns: list[str]) -> pa.Table:
    tables = []
    for entry in entries:
        path = root / entry["path"]
        if not path.is_file():
            raise InputError(f"{path}: shard missing; {RERUN}")
        if file_sha256(path) != entry["sha256"]:
            raise InputError(f"{path}: shard corrupt (its checksum differs from the manifest's); {RERUN}")
        try:
            tables.append(pq.read_table(path, columns=columns))
        except (pa.ArrowException, OSError, KeyError) as err:  # checksum right but not a shard of this schema
            reason = str(err).strip().splitlines()[0][:160] if str(err).strip() else type(err).__name__
            raise InputError(f"{path}: not a prepared shard ({reason}); {RERUN}") from None
    try:
        return pa.concat_tables(tables) if tables else pa.table({c: [] for c in columns})
    except pa.ArrowException:
        raise InputError(f"{root}: shards of different schemas; {RERUN}") from None


def load_prepared(root: str | Path, splits: tuple[str, ...] = ("train", "dev"), with_grid: bool = False) -> Prepared:
    """Read the shards a manifest lists, checking each checksum, into per-split arrays."""
    root = Path(root).resolve()
    manifest = read_manifest(root)
    img_cols = ["image", "split", "pooled"] + (["grid"] if with_grid else [])
    images = _verified_tables(root, manifest["shards"]["images"], img_cols)
    utt_cols = ["id", "image", "caption", "split", "voice", "voice_group", "features"]
    utt_cols += ["phonemes"] if manifest.get("phonemes") else []  # folders made before phonemes have none
    utt_cols += ["condition"] if manifest.get("conditions", {}).get("kinds") else []  # only a conditioned prep has any
    utts = _verified_tables(root, manifest["shards"]["utterances"], utt_cols)
    prepared = Prepared(root=str(root), manifest=manifest)
    img_split = np.asarray(images.column("split").to_pylist())
    utt_split = np.asarray(utts.column("split").to_pylist())
    for split in splits:
        img_rows = np.flatnonzero(img_split == split)
        utt_rows = np.flatnonzero(utt_split == split)
        if len(utt_rows) == 0:
            raise InputError(f"{root}: split {split!r} has no utterances (prepared: {sorted(set(utt_split))})")
        prepared.splits[split] = _split_arrays(images.take(img_rows), utts.take(utt_rows), with_grid, root, split)
    del images, utts
    pa.default_memory_pool().release_unused()  # the tables' copies: ~3x the arrays' size in RSS otherwise
    return prepared


def _split_arrays(images: pa.Table, utts: pa.Table, with_grid: bool, root: Path, split: str) -> SplitData:
    image_ids = np.asarray(images.column("image").to_pylist())
    index = {image: i for i, image in enumerate(image_ids)}
    utt_images = utts.column("image").to_pylist()
    missing = sorted(set(utt_images) - set(index))
    if missing:
        raise InputError(f"{root}: {len(missing)} {split} utterance image(s) have no image features, e.g. {missing[0]}")
    feats = utts.column("features").combine_chunks()
    feat_dim = feats.type.value_type.list_size
    pooled = images.column("pooled").combine_chunks()
    grid = None
    if with_grid:
        g = images.column("grid").combine_chunks()
        grid_dim = g.type.value_type.list_size
        grid = g.flatten().flatten().to_numpy(zero_copy_only=False).reshape(len(image_ids), GRID_CELLS, grid_dim)
    return SplitData(
        utterance_ids=np.asarray(utts.column("id").to_pylist()),
        captions=np.asarray(utts.column("caption").to_pylist()),
        voices=np.asarray(utts.column("voice").to_pylist()),
        voice_groups=np.asarray(utts.column("voice_group").to_pylist()),
        image_of_utterance=np.array([index[i] for i in utt_images], dtype=np.int64),
        features=feats.flatten().flatten().to_numpy(zero_copy_only=False).reshape(-1, feat_dim),
        offsets=(feats.offsets.to_numpy() - feats.offsets[0].as_py()).astype(np.int64),
        image_ids=image_ids,
        pooled=pooled.flatten().to_numpy(zero_copy_only=False).reshape(len(image_ids), -1),
        grid=grid,
        phonemes=np.asarray(utts.column("phonemes").to_pylist()) if "phonemes" in utts.column_names else None,
        conditions=_condition_kinds(utts, f"{root} ({split})") if "condition" in utts.column_names else None,
    )


def _condition_kinds(utts: pa.Table, where: str) -> np.ndarray:
    """Each utterance's condition record (JSON of kind -> drawn values) cut to its kinds, "+"-joined: what
    training selects on, at a fraction of the record's size in memory."""
    kinds = []
    for utterance, record in zip(utts.column("id").to_pylist(), utts.column("condition").to_pylist()):
        try:
            drawn = json.loads(record) if record else {}
        except json.JSONDecodeError:
            drawn = None
        if not isinstance(drawn, dict):
            raise InputError(f"{where}: utterance {utterance}: its condition is not a JSON object; {RERUN}")
        kinds.append("+".join(drawn))
    return np.asarray(kinds)
