"""Prepare speed, measured side by side in one run on the same captions.

  (a) TTS alone: espeak-ng synthesis of every caption in one process (the floor);
  (b) a sequential loop like the original plan: synthesise + MFCC + write, one caption at a time;
  (c) the Ray Data pipeline (sonovis prepare) on every CPU of a local Ray.

Each run synthesises for real (a fresh speech cache each time). Images are not part of
this comparison: they are computed once per image, not per caption.

    .venv/bin/python benchmarks/prepare_speed.py --captions 400
"""

from __future__ import annotations

import argparse
import atexit
import shutil
import tempfile
import time
from pathlib import Path

from sonovis.config import CorpusConfig, PrepareConfig, SpeechConfig
from sonovis.data.corpus.load import load_corpus
from sonovis.data.extract import Extractor, UtteranceTask
from sonovis.data.prepare import prepare
from sonovis.data.shards import write_shard
from sonovis.data.speech.registry import make_engine
from sonovis.runtime import cluster_cpus, connect
from sonovis.table import format_table

FLICKR8K = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "flickr8k"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--captions", type=int, default=400)
    parser.add_argument("--root", default=str(FLICKR8K))
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="sonovis-bench-"))
    atexit.register(shutil.rmtree, work, True)  # its shards and audio are only measured, never kept
    corpus_cfg = CorpusConfig(kind="flickr8k", root=args.root, splits=("dev",), limit=args.captions // 5)
    rows = load_corpus(corpus_cfg, work).rows[: args.captions]
    n = len(rows)

    def config(name: str) -> PrepareConfig:
        return PrepareConfig(out=str(work / name), corpus=corpus_cfg, shard_rows=50,
                             speech=SpeechConfig(cache_dir=str(work / f"cache-{name}")))

    engine = make_engine(config("tts").speech)
    t0 = time.perf_counter()
    for row in rows:
        engine.synthesize(row.caption, engine.voice_for(row.utterance_id))
    tts = time.perf_counter() - t0

    cfg = config("loop")
    extractor = Extractor(cfg)
    t0 = time.perf_counter()
    for i, row in enumerate(rows):  # one caption at a time, as the plan did (but keeping all five)
        result = extractor.utterances([UtteranceTask(row, 0)])
        write_shard(work / "loop" / f"utt-{i:05d}.parquet", result.table, {"fingerprint": "loop", "skipped": []})
    loop = time.perf_counter() - t0

    connect()
    cfg = config("ray")
    prepare(cfg, echo=lambda _: None)  # warm-up: makes the image shards, which are not compared here
    for f in list((work / "ray" / "utterances").glob("*")) + list((work / "cache-ray").rglob("*.wav")):
        f.unlink()  # so the timed run synthesises and featurises every caption again
    t0 = time.perf_counter()
    prepare(cfg, echo=lambda _: None)
    ray_wall = time.perf_counter() - t0
    cpus = cluster_cpus()
    print(format_table(
        ["run", "seconds", "ms / caption", "vs TTS alone", "speed-up vs loop"],
        [["(a) TTS alone, 1 process", tts, 1000 * tts / n, 1.0, "-"],
         ["(b) sequential loop (plan)", loop, 1000 * loop / n, loop / tts, 1.0],
         [f"(c) Ray Data, {cpus} CPUs", ray_wall, 1000 * ray_wall / n, ray_wall / tts, loop / ray_wall]],
        title=f"prepare speed: {n} Flickr8k dev captions, espeak-ng, 40 MFCC"))
    print(f"targets: (c) >= 1.8x faster than (b): {loop / ray_wall:.2f}x;  "
          f"(c) per caption <= 1.25x TTS alone: {ray_wall / tts:.2f}x")


if __name__ == "__main__":
    main()
