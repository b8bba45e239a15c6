"""Search throughput, overhead and memory, measured side by side in one run, repeated.

Each repeat measures, in this order on the same prepared data and configuration:
  1. the bare training loop: ``fit()`` in this process, one thread, no Ray, timed after loading the data
     as every loop here is (in the first repeat before Ray starts, so that its start-up does not share
     the cores; before 2026-12-07 its time included loading, about 1 s);
  2. a FIFO search of identical trials, one at a time: Tune's cost per trial against (1);
  3. the same search, two trials at a time: trial-epochs per minute against (2), for the whole search
     and within the trials (their own time, without the search's fixed cost of starting up);
  4. two bare loops at once, each in a fresh process started with the other: what the cores allow two
     trainings (the ceiling), against (1);
while every trial process's unique resident memory (USS) is sampled, against the size of the
prepared data, which the node's object store holds once for all trials. USS counts the pages no other
process maps: (1) runs the training code here, so the library pages every trial on a node shares are
not one trial's own (with the bare loops elsewhere, a lone trial's USS read 0.1 GiB higher).

    .venv/bin/python benchmarks/search_speed.py --data PREP [--epochs 3] [--repeat 3] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import psutil

from provenance import provenance
from sonovis.config import ExperimentConfig, SearchConfig, TrainConfig
from sonovis.data.shards import load_prepared
from sonovis.runtime import connect
from sonovis.search.tuner import run_search
from sonovis.table import format_table
from sonovis.train.trainer import fit

TARGETS = {"concurrency": 1.9, "overhead": 1.05, "uss_gib": 0.7}  # issue #25: >= 1.9x, <= 1.05x, <= 0.7 GiB


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


@dataclass
class Search:
    wall_s: float  # the whole search, first trial start to last trial end
    trial_s: float  # mean of the trials' own time_total_s
    uss_mib: float  # mean over trial processes of each one's peak USS


@dataclass
class Repeat:
    bare_s: float
    bare_pair_s: list[float]  # the two loops' own times when run at once
    one: Search
    two: Search

    def ratios(self) -> dict[str, float]:
        return {"concurrency": self.one.wall_s / self.two.wall_s, "overhead": self.one.trial_s / self.bare_s,
                "uss_gib": max(self.one.uss_mib, self.two.uss_mib) / 1024,
                "within_trials": 2 * self.one.trial_s / self.two.trial_s,
                "ceiling": 2 * self.bare_s / (sum(self.bare_pair_s) / 2)}


def time_fit(base: ExperimentConfig, prepared: Any) -> float:
    """Wall seconds of the bare training loop, ``fit()`` to its last epoch, on data already loaded."""
    t0 = time.perf_counter()
    for _ in fit(base, prepared):
        pass
    return time.perf_counter() - t0


def bare_loop(data: str, base: ExperimentConfig, start: Any, times: Any) -> None:
    """One bare training loop in its own process: load, wait for the others, then time ``fit()``."""
    prepared = load_prepared(data)
    start.wait()
    times.put(time_fit(base, prepared))


def bare_loops(data: str, base: ExperimentConfig, count: int) -> list[float]:
    """``count`` bare loops started at the same moment, each in a fresh process: their own times."""
    context = multiprocessing.get_context("spawn")
    start, times = context.Barrier(count), context.Queue()
    loops = [context.Process(target=bare_loop, args=(data, base, start, times)) for _ in range(count)]
    for loop in loops:
        loop.start()
    result = [times.get() for _ in loops]
    for loop in loops:
        loop.join()
    return result


def search(data: str, base: ExperimentConfig, epochs: int, trials: int, reserved: int) -> Search:
    memory = TrialMemory()
    memory.start()
    cfg = SearchConfig(trials=trials, max_epochs=epochs, scheduler="fifo", reserved_cpus=reserved,
                       space={"train.seed": {"choice": [0]}})  # the same training in every trial
    with tempfile.TemporaryDirectory(prefix="sonovis-bench-", ignore_cleanup_errors=True) as runs:  # 130 MB a search
        t0 = time.perf_counter()
        run_search(cfg, base, data, runs, echo=lambda _: None)
        wall = time.perf_counter() - t0
        memory.running = False
        table = pd.read_csv(Path(runs) / "trials.csv")
    return Search(wall, float(table["time_total_s"].mean()), sum(memory.peak.values()) / max(len(memory.peak), 1))


def measure(data: str, base: ExperimentConfig, epochs: int, trials: int) -> Repeat:
    bare = time_fit(base, load_prepared(data))
    connect(num_cpus=2)  # once: later repeats find it running
    one = search(data, base, epochs, trials, reserved=1)
    two = search(data, base, epochs, trials, reserved=0)
    return Repeat(bare, bare_loops(data, base, 2), one, two)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--trials", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3, help="the whole measurement, this many times in a row")
    parser.add_argument("--out", type=Path, help="a result JSON (benchmarks/results/speed/...) with its provenance")
    args = parser.parse_args()
    base = ExperimentConfig(train=TrainConfig(epochs=args.epochs))  # the default model, as a search's base
    data = load_prepared(args.data)
    data_mib = sum(a.nbytes for s in data.splits.values() for a in (s.features, s.pooled)) / 2**20
    images = {name: len(s.pooled) for name, s in data.splits.items()}
    utterances = {name: len(s.utterance_ids) for name, s in data.splits.items()}
    del data

    repeats = []
    for i in range(args.repeat):
        r = measure(args.data, base, args.epochs, args.trials)
        repeats.append(r)
        epochs = args.trials * args.epochs
        print(format_table(
            ["run", "wall s", "trial-epochs/min", "s per trial", "USS per trial MiB"],
            [["bare fit() loop, 1 thread", r.bare_s, 60 * args.epochs / r.bare_s, r.bare_s, "-"],
             ["2 bare loops at once", max(r.bare_pair_s), 120 * args.epochs / max(r.bare_pair_s),
              sum(r.bare_pair_s) / 2, "-"],
             [f"{args.trials} trials, 1 at a time", r.one.wall_s, 60 * epochs / r.one.wall_s, r.one.trial_s, r.one.uss_mib],
             [f"{args.trials} trials, 2 at a time", r.two.wall_s, 60 * epochs / r.two.wall_s, r.two.trial_s, r.two.uss_mib]],
            title=f"repeat {i + 1} of {args.repeat}: {args.epochs} epochs a trial, prepared data {data_mib:.0f} MiB"),
            flush=True)
    ratios = [r.ratios() for r in repeats]
    print(format_table(["repeat", "concurrency 2 vs 1", "within trials", "bare loops (ceiling)",
                        "Tune trial ÷ bare loop", "USS per trial GiB"],
                       [[i + 1, x["concurrency"], x["within_trials"], x["ceiling"], x["overhead"], x["uss_gib"]]
                        for i, x in enumerate(ratios)],
                       title=f"targets: concurrency >= {TARGETS['concurrency']}x, Tune trial <= {TARGETS['overhead']}x "
                             f"the bare loop, USS <= {TARGETS['uss_gib']} GiB beyond the shared data "
                             f"({data_mib:.0f} MiB, held once per node)"))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({
            "data": args.data, "images": images, "utterances": utterances, "data_mib": data_mib,
            "epochs": args.epochs, "trials": args.trials, "targets": TARGETS,
            "repeats": [{**asdict(r), "ratios": x} for r, x in zip(repeats, ratios)],
            "provenance": provenance(sys.argv)}, indent=1))


if __name__ == "__main__":
    main()
