"""Unique memory of one training process, with and without this project's memory measures, side by side.

Each variant runs in its own fresh process, one after the other, on the same prepared data and
configuration: ``fit()`` for a few epochs, its USS sampled every 50 ms. "before" undoes the
measures in that process: ``sonovis.train.heap``'s trims become no-ops, the evaluation encodes 256
utterances at once, as it did, and oneDNN caches a convolution kernel per input shape (its
default, 1,024). "trims" keeps the first two measures and oneDNN's cache; "now" is the library as
it is (``sonovis/model/__init__.py`` turns the cache off). The data are loaded into the process
here; in a Tune trial they sit in the node's object store, shared, so the figures beyond the
loaded data are what a trial process adds.

    .venv/bin/python benchmarks/train_memory.py --data PREP [--epochs 2] [--repeat 3] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from provenance import provenance
from sonovis.model import KERNEL_CACHE_VARIABLE
from sonovis.table import format_table

ONEDNN_DEFAULT = {KERNEL_CACHE_VARIABLE: "1024"}
VARIANTS = {"before": ONEDNN_DEFAULT, "trims": ONEDNN_DEFAULT, "now": {}}  # each one's environment

CHILD = r"""
import json, sys, threading, time, psutil
from sonovis.config import ExperimentConfig, TrainConfig
from sonovis.data.shards import load_prepared
import sonovis.train.evaluation as evaluation, sonovis.train.trainer as trainer
variant, data_path, epochs = sys.argv[1], sys.argv[2], int(sys.argv[3])
if variant == "before":
    evaluation.release_free_heap = trainer.release_free_heap = lambda: None
    evaluation.EVAL_CHUNK = 256
proc, peak = psutil.Process(), [0]
def watch():
    while True:
        peak[0] = max(peak[0], proc.memory_full_info().uss); time.sleep(0.05)
data = load_prepared(data_path, splits=("train", "dev"))
loaded = proc.memory_full_info().uss
threading.Thread(target=watch, daemon=True).start()
after, cpu = [], []
for result in trainer.fit(ExperimentConfig(train=TrainConfig(epochs=epochs)), data):
    after.append(proc.memory_full_info().uss / 2**20)
    cpu.append(result.metrics["cpu_seconds"])
print(json.dumps({"loaded_mib": loaded / 2**20, "peak_mib": peak[0] / 2**20, "after_epoch_mib": after, "epoch_cpu_s": cpu}))
"""


def run(variant: str, data: str, epochs: int) -> dict:
    env = {**{k: v for k, v in os.environ.items() if k != KERNEL_CACHE_VARIABLE}, **VARIANTS[variant]}
    done = subprocess.run([sys.executable, "-c", CHILD, variant, data, str(epochs)], capture_output=True, text=True,
                          check=True, env=env)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, help="a result JSON (benchmarks/results/speed/...) with its provenance")
    args = parser.parse_args()
    runs = []
    for i in range(args.repeat):
        pair = {v: run(v, args.data, args.epochs) for v in VARIANTS}
        runs.append(pair)
        rows = [[v, r["loaded_mib"], r["peak_mib"] - r["loaded_mib"], r["after_epoch_mib"][-1] - r["loaded_mib"],
                 sum(r["epoch_cpu_s"]) / len(r["epoch_cpu_s"])] for v, r in pair.items()]
        print(format_table(["variant", "USS with the data loaded MiB", "peak beyond it MiB",
                            "after the last epoch, beyond it MiB", "CPU s an epoch"], rows,
                           title=f"repeat {i + 1} of {args.repeat}: {args.epochs} epochs of the default config"),
              flush=True)
    beyond = lambda r: r["peak_mib"] - r["loaded_mib"]  # noqa: E731
    for variant in ("trims", "now"):
        ratios = ", ".join(f"{beyond(p[variant]) / beyond(p['before']):.2f}" for p in runs)
        print(f"peak beyond the loaded data, {variant} / before: {ratios}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"data": args.data, "epochs": args.epochs, "runs": runs,
                                        "provenance": provenance(sys.argv)}, indent=1))


if __name__ == "__main__":
    main()
