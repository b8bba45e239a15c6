"""``sonovis prepare``: corpus -> speech -> features as resumable Parquet shards, in parallel with Ray Data.

The work is cut into shards fixed by the corpus and the settings. Each Ray Data
task makes one whole shard and writes it atomically; a rerun skips every shard
whose checksum and settings fingerprint still match, so nothing finished is
redone, and a crash (even SIGKILL) costs only the shards in flight.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
import platform
import shutil
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Callable

import numpy as np
import ray
import torch

from sonovis import __version__
from sonovis.config import ConditionsConfig, PrepareConfig, from_dict, to_dict
from sonovis.data.conditions import PRESETS, check_conditions, condition_counts
from sonovis.data.corpus.load import load_corpus
from sonovis.data.corpus.rows import CaptionRow, Corpus
from sonovis.data.extract import Extractor, UtteranceTask
from sonovis.data.shards import finished_shard, write_atomic_bytes, write_shard
from sonovis.data.voices import split_voice_counts
from sonovis.runtime import cluster_cpus, connect
from sonovis.table import format_table

IMAGE_SHARD_ROWS = 256  # ~35 MB of grids a shard; a backbone pass over it takes ~15 s on one CPU
LIBRARIES = ("torch", "torchaudio", "timm", "ray", "pyarrow", "gTTS", "numpy")


@dataclass
class ShardPlan:
    kind: str  # utterances | images
    path: Path
    fingerprint: str  # settings + exact contents: a changed corpus or setting means a new shard
    payload: list[Any]

    def item(self) -> dict[str, Any]:
        return {"kind": self.kind, "path": str(self.path), "fingerprint": self.fingerprint,
                "payload": json.dumps(self.payload)}


def _digest(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def plan_shards(cfg: PrepareConfig, corpus: Corpus, out: Path) -> list[ShardPlan]:
    """Every shard of the output, in a deterministic order (images first: they are the slow ones)."""
    # holdout_voices and the conditions only when set: folders prepared before those fields existed stay finished.
    when_set = {"holdout_voices": cfg.speech.holdout_voices, "conditions": cfg.speech.conditions.kinds,
                "eval_condition": cfg.speech.eval_condition}
    speech = {k: v for k, v in to_dict(cfg.speech).items() if k != "cache_dir" and when_set.get(k, True)}
    if "conditions" in speech:
        speech["conditions"] = _conditions_settings(cfg.speech.conditions)
    if cfg.speech.eval_condition:  # the preset's values, not only its name: a preset changed is redone
        speech["eval_condition"] = _conditions_settings(PRESETS[cfg.speech.eval_condition])
    utt_settings = _digest(speech, to_dict(cfg.features), "utterances-v2")  # v2: phonemes
    img_settings = _digest(cfg.features.backbone, "images-v1")
    rows = sorted(corpus.rows, key=lambda r: (r.split, r.image_id, r.caption_index))
    images = sorted({(r.split, r.image_id, r.image_path) for r in rows})
    plans = []
    for n, start in enumerate(range(0, len(images), IMAGE_SHARD_ROWS)):
        chunk = [(image, split, path) for split, image, path in images[start : start + IMAGE_SHARD_ROWS]]
        identity = [(image, split) for image, split, _ in chunk]  # not paths: a moved dataset is still done
        plans.append(ShardPlan("images", out / "images" / f"img-{n:05d}.parquet",
                               _digest(img_settings, identity), chunk))
    tasks = [(r, k) for r in rows for k in range(voices_per_caption(cfg))]
    for n, start in enumerate(range(0, len(tasks), cfg.shard_rows)):
        chunk = [[_row_dict(r), k] for r, k in tasks[start : start + cfg.shard_rows]]
        identity = [(r.utterance_id, r.caption, r.split, k) for r, k in tasks[start : start + cfg.shard_rows]]
        plans.append(ShardPlan("utterances", out / "utterances" / f"utt-{n:05d}.parquet",
                               _digest(utt_settings, identity), chunk))
    return plans


def _conditions_settings(conditions: ConditionsConfig) -> dict[str, Any]:
    """The conditions' fields for a shard's fingerprint; ``share`` only when below 1, as it came later."""
    settings = to_dict(conditions)
    if conditions.share == 1:
        del settings["share"]
    return settings


def voices_per_caption(cfg: PrepareConfig) -> int:
    """A recording is one voice whatever the setting; synthesis can speak a caption K times."""
    return 1 if cfg.speech.engine == "recordings" else cfg.speech.voices_per_caption


def _row_dict(row: CaptionRow) -> dict[str, Any]:
    return dataclasses.asdict(row)


def make_shards(batch: dict[str, np.ndarray], cfg: str) -> dict[str, np.ndarray]:
    """A Ray Data task: makes whole shards with this worker process's extractor."""
    extractor = _extractor(cfg)
    sidecars = [
        json.dumps(make_shard(extractor, kind, Path(path), fingerprint, json.loads(payload)))
        for kind, path, fingerprint, payload in zip(batch["kind"], batch["path"], batch["fingerprint"], batch["payload"])
    ]
    return {"sidecar": np.array(sidecars, dtype=object)}


@functools.lru_cache(maxsize=1)
def _extractor(cfg: str) -> Extractor:
    """One engine and backbone per worker process, kept between tasks and between prepare runs.

    Tasks rather than actors: Ray reuses its task workers, so a second run (or the image and
    utterance shards of one run) does not pay the ~5 s of starting processes and importing torch.
    """
    torch.set_num_threads(1)  # one CPU per task; more threads would only fight
    return Extractor(from_dict(PrepareConfig, json.loads(cfg)))


def make_shard(extractor: Extractor, kind: str, path: Path, fingerprint: str, payload: list) -> dict[str, Any]:
    t0 = time.perf_counter()
    if kind == "images":
        result = extractor.images([tuple(r) for r in payload])
    else:
        result = extractor.utterances([UtteranceTask(CaptionRow(**row), k) for row, k in payload])
    sidecar = {"kind": kind, "fingerprint": fingerprint, "expected": len(payload), "skipped": result.skipped,
               "stats": {**result.stats, "seconds": time.perf_counter() - t0}, "phonemes": result.phonemes}
    return write_shard(path, result.table, sidecar)


def prepare(cfg: PrepareConfig, address: str | None = None, echo: Callable[[str], None] = print) -> dict[str, Any]:
    """Make (or finish) the prepared folder ``cfg.out`` and return its manifest."""
    check_conditions(cfg.speech, cfg.corpus.splits)  # before any folder, scene or worker: an impossible room is one line
    out = Path(cfg.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    corpus = load_corpus(cfg.corpus, out)
    echo(f"[prepare] corpus {cfg.corpus.kind}: {len(corpus.rows)} captions, {len(corpus.skipped)} bad rows skipped")
    plans = plan_shards(cfg, corpus, out)
    _remove_stale(out, plans)
    done = {p.path: s for p in plans if (s := finished_shard(p.path, p.fingerprint))}
    pending = [p for p in plans if p.path not in done]
    echo(f"[prepare] {len(plans)} shards: {len(done)} already finished, {len(pending)} to make")
    if pending:
        done.update(_run_pending(cfg, pending, address, echo))
    _remove_half_written(out)
    manifest = build_manifest(cfg, corpus, plans, done, out, time.time() - started)
    write_atomic_bytes(out / "manifest.json", json.dumps(manifest, indent=1).encode())
    echo(summary_table(manifest))
    return manifest


def _run_pending(cfg: PrepareConfig, pending: list[ShardPlan], address: str | None,
                 echo: Callable[[str], None]) -> dict[Path, dict[str, Any]]:
    connect(address)
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False  # our own one-line-per-shard progress reads better in logs
    _quiet_ray_data_console()
    workers = min(cfg.num_cpus or cluster_cpus(), len(pending))
    ds = ray.data.from_items([p.item() for p in pending], override_num_blocks=len(pending)).map_batches(
        make_shards, batch_size=1, compute=ray.data.TaskPoolStrategy(size=workers), num_cpus=1,
        fn_kwargs={"cfg": json.dumps(to_dict(cfg), sort_keys=True)}, batch_format="numpy",
    )
    finished: dict[Path, dict[str, Any]] = {}
    t0 = time.time()
    total_rows = sum(len(p.payload) for p in pending)
    rows_done = 0
    for row in ds.iter_rows():
        sidecar = json.loads(row["sidecar"])
        path = next(p.path for p in pending if p.fingerprint == sidecar["fingerprint"])
        finished[path] = sidecar
        rows_done += sidecar["expected"]
        elapsed = time.time() - t0
        eta = elapsed / rows_done * (total_rows - rows_done)
        echo(f"[prepare] {len(finished)}/{len(pending)} shards  {path.name}  "
             f"{rows_done}/{total_rows} rows  {elapsed:.0f}s elapsed, ~{eta:.0f}s left  ({workers} workers)")
    return finished


def _quiet_ray_data_console() -> None:
    """Ray Data's console down to warnings: its INFO lines (an execution plan per dataset) and its notice
    that the progress bars are off would sit between our progress lines. Its log file keeps the INFO."""
    for handler in logging.getLogger("ray.data").handlers:
        if isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler):
            handler.setLevel(logging.WARNING)
    logging.getLogger("ray.data._internal.progress").setLevel(logging.ERROR)


def _shard_folder_entries(out: Path, pattern: str = "*") -> list[Path]:
    """Everything in the two shard folders matching ``pattern``: what the sweeps below look at."""
    return [f for folder in (out / "images", out / "utterances") if folder.exists() for f in folder.glob(pattern)]


def _remove_stale(out: Path, plans: list[ShardPlan]) -> None:
    """Shards from other settings or an older corpus would be read as data: delete them and temp files."""
    wanted = {p.path for p in plans} | {p.path.with_suffix(".json") for p in plans}
    for f in _shard_folder_entries(out):
        if f not in wanted:
            shutil.rmtree(f) if f.is_dir() else f.unlink()


def _remove_half_written(out: Path) -> None:
    """Temp files left once every shard is whole: a killed run's Ray workers can outlive its driver for a
    moment and die mid-write after this run's start swept the folder. Each shard was rewritten whole."""
    for f in _shard_folder_entries(out, ".*.tmp-*"):
        f.unlink(missing_ok=True)


def build_manifest(cfg: PrepareConfig, corpus: Corpus, plans: list[ShardPlan], done: dict[Path, dict],
                   out: Path, seconds: float) -> dict[str, Any]:
    """Everything needed to trust the folder: settings, versions, counts, and every skipped row."""
    skipped = [{"source": s.source, "line": s.line, "reason": s.reason} for s in corpus.skipped]
    shards: dict[str, list] = {"images": [], "utterances": []}
    stats: dict[str, float] = {}
    for plan in plans:
        side = done[plan.path]
        skipped += side["skipped"]
        shards[plan.kind].append({"path": str(plan.path.relative_to(out)), "rows": side["rows"],
                                  "sha256": side["sha256"], "bytes": side["bytes"]})
        for k, v in side["stats"].items():
            stats[k] = stats.get(k, 0) + v
    counts = corpus.split_counts()
    voices: dict[str, dict[str, int]] = {}
    import pyarrow.parquet as pq  # only the small voice columns, to account for every voice

    utt_splits, utt_voices, utt_conditions = [], [], []
    for entry in shards["utterances"]:
        path = out / entry["path"]
        has_condition = "condition" in pq.read_schema(path).names  # shards made before conditions: all clean
        table = pq.read_table(path, columns=["split", "voice", "voice_group"] + ["condition"] * has_condition)
        utt_splits += table.column("split").to_pylist()
        utt_voices += table.column("voice").to_pylist()
        utt_conditions += table.column("condition").to_pylist() if has_condition else [""] * table.num_rows
        for split, group in zip(table.column("split").to_pylist(), table.column("voice_group").to_pylist()):
            voices.setdefault(split, {}).setdefault(group, 0)
            voices[split][group] += 1
    for split in counts:
        counts[split]["utterances"] = sum(voices.get(split, {}).values())
        counts[split]["skipped_utterances"] = sum(1 for s in skipped if s.get("split") == split)
    expected = len(corpus.rows) * voices_per_caption(cfg)
    made = sum(e["rows"] for e in shards["utterances"])
    synth_skips = sum(1 for s in skipped if "id" in s)
    return {
        "sonovis_version": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "config": to_dict(cfg),
        "versions": {"python": platform.python_version(), **{n: metadata.version(n) for n in LIBRARIES}},
        "counts": counts,
        "accounted": {"caption_rows": len(corpus.rows), "expected_utterances": expected,
                      "utterances": made, "skipped_utterances": synth_skips,
                      "complete": made + synth_skips == expected},
        "skipped": skipped,
        "voices": voices,
        # what made the CTC targets, per worker: training refuses a folder that mixes phones and letters
        "phonemes": sorted({done[p.path].get("phonemes", "") for p in plans if p.kind == "utterances"} - {""}),
        "holdout_voices": split_voice_counts(utt_splits, utt_voices, cfg.speech.holdout_voices),
        "conditions": condition_counts(utt_splits, utt_conditions, cfg.speech),
        "shards": shards,
        "stats": {**{k: round(v, 2) for k, v in stats.items()}, "wall_seconds": round(seconds, 1)},
    }


def summary_table(manifest: dict[str, Any]) -> str:
    rows = [[split, c["images"], c["captions"], c["utterances"], c["skipped_utterances"],
             len(manifest["voices"].get(split, {}))] for split, c in manifest["counts"].items()]
    acc = manifest["accounted"]
    stats = manifest["stats"]
    table = format_table(["split", "images", "captions", "utterances", "skipped", "voice groups"], rows,
                         title="prepared")
    holdout, notes = manifest["holdout_voices"], ""
    if holdout["patterns"]:
        sides = ", ".join(f"{split} {c['heldout']} held out / {c['seen']} other"
                          for split, c in holdout["by_split"].items())
        notes = f"\nutterances in held-out voices {holdout['patterns']}: {sides}"
    conditions = manifest.get("conditions", {"kinds": []})  # manifests made before conditions have none
    if conditions["kinds"]:
        preset = f" (preset {conditions['preset']})" if conditions["preset"] else ""
        sides = "; ".join(f"{split} " + ", ".join(f"{n} {kind}" for kind, n in c.items())
                          for split, c in conditions["by_split"].items())
        notes += f"\nutterances per condition{preset}: {sides}"
    return (f"{table}\nbad corpus rows: {len(manifest['skipped']) - acc['skipped_utterances']}   "
            f"synthesised: {int(stats.get('synthesised', 0))}   from cache: {int(stats.get('cache_hits', 0))}   "
            f"every row accounted for: {'yes' if acc['complete'] else 'NO'}   wall: {stats['wall_seconds']}s{notes}")
