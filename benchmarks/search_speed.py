"""Search throughput, overhead and memory, measured side by side in one run.

  1. concurrency: trial-epochs per minute with 2 concurrent single-CPU trials vs 1;
  2. overhead: one Tune trial vs the bare training loop, same config and epochs;
  3. memory: unique resident memory (USS) of each trial process with 1 and 2 trials at once,
     against the size of the prepared data, which the object store holds once per node.

    .venv/bin/python benchmarks/search_speed.py --data PREP [--epochs 3]
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

import psutil

from sonovis.config import ExperimentConfig, ModelConfig, SearchConfig, TrainConfig
from sonovis.data.shards import load_prepared
from sonovis.runtime import connect
from sonovis.search.tuner import run_search
from sonovis.table import format_table
from sonovis.train.trainer import fit


class TrialMemory(threading.Thread):
    """Samples the largest USS of each running trial process (Ray names them ray::ImplicitFunc.train)."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak: dict[int, float] = {}
        self.running = True

    def run(self) -> None:
        while self.running:
            for proc in psutil.process_iter(["pid", "cmdline"]):
                try:
                    if any(part.startswith("ray::ImplicitFunc") for part in proc.info["cmdline"] or []):  # a Tune trial
                        uss = proc.memory_full_info().uss / 2**20
                        self.peak[proc.pid] = max(self.peak.get(proc.pid, 0.0), uss)
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    pass
            time.sleep(0.5)


def search(data: str, base: ExperimentConfig, epochs: int, trials: int, reserved: int) -> tuple[float, float, float]:
    """Wall seconds, mean trial seconds, and mean peak USS (MiB) of a FIFO search of identical trials."""
    memory = TrialMemory()
    memory.start()
    runs = Path(tempfile.mkdtemp(prefix="sonovis-bench-"))
    cfg = SearchConfig(trials=trials, max_epochs=epochs, scheduler="fifo", reserved_cpus=reserved,
                       space={"train.seed": {"choice": [0]}})  # the same training in every trial
    t0 = time.perf_counter()
    run_search(cfg, base, data, runs, echo=lambda _: None)
    wall = time.perf_counter() - t0
    memory.running = False
    import pandas as pd

    table = pd.read_csv(runs / "trials.csv")
    uss = sum(memory.peak.values()) / max(len(memory.peak), 1)
    return wall, float(table["time_total_s"].mean()), uss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--trials", type=int, default=4)
    args = parser.parse_args()
    base = ExperimentConfig(model=ModelConfig(hidden_size=128, conv_channels=96),
                            train=TrainConfig(epochs=args.epochs))
    data = load_prepared(args.data)
    data_mib = sum(a.nbytes for s in data.splits.values() for a in (s.features, s.pooled)) / 2**20

    t0 = time.perf_counter()
    for _ in fit(base, data):
        pass
    bare = time.perf_counter() - t0

    connect(num_cpus=2)
    one_wall, one_trial, one_uss = search(args.data, base, args.epochs, args.trials, reserved=1)
    two_wall, two_trial, two_uss = search(args.data, base, args.epochs, args.trials, reserved=0)
    epochs = args.trials * args.epochs
    print(format_table(
        ["run", "wall s", "trial-epochs/min", "s per trial", "USS per trial MiB"],
        [["bare fit() loop, 1 thread", bare, 60 * args.epochs / bare, bare, "-"],
         [f"{args.trials} trials, 1 at a time", one_wall, 60 * epochs / one_wall, one_trial, one_uss],
         [f"{args.trials} trials, 2 at a time", two_wall, 60 * epochs / two_wall, two_trial, two_uss]],
        title=f"search speed: {args.epochs} epochs a trial, prepared data {data_mib:.0f} MiB"))
    print(f"concurrency 2 vs 1: {one_wall / two_wall:.2f}x (target >= 1.9x);  "
          f"Tune trial vs bare loop: {one_trial / bare:.3f}x (target <= 1.05x);  "
          f"USS per trial 1 vs 2 at once: {one_uss:.0f} vs {two_uss:.0f} MiB, data {data_mib:.0f} MiB held once per node")


if __name__ == "__main__":
    main()
