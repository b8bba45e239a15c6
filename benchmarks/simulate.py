"""Search strategies compared at scale by replaying recorded learning curves through the real search code.

Every proposal of the project's own searchers (``tuner.make_searcher``: TPE or random sampling behind
``PrunedAwareOptunaSearch``) under its own schedulers (``tuner.make_scheduler``: ASHA, HyperBand, FIFO),
with metric and mode from ``tuner.tune_config``, is answered by a *replay* trial: it reports, epoch by
epoch, the curve recorded for the nearest configuration in ``benchmarks/results/curves/all.csv``
(benchmarks/curves.py), and that epoch's recorded CPU minutes as its simulated cost.

Why nearest recorded configuration and not a surrogate: per prepared-data folder the table holds
about a dozen distinct configurations (mostly one or two switches away from the default, several
with two to six seeds), far too few to fit a model of the curve over the space without inventing
curves where nothing was measured; and the seed-to-seed spread there is as large as most
differences between configurations, which a surrogate's mean would smooth away. Nearest-neighbour
replay reports only curves that really happened, seed noise included: a configuration recorded with
several seeds answers with one of them, drawn from the proposal and ``train.seed`` (so a paused and
resumed trial continues the same curve). Its failure mode is visible: many proposals share one
recorded curve (``distinct curves replayed`` in the output). The search space is the recorded one:
each configuration field that varies among the replayable runs, as a choice of its recorded values
(numbers with more than ``CONTINUOUS`` distinct values: a uniform or log-uniform range). Distance:
each numeric field scaled to [0, 1] over its recorded range (log scale for log ranges), others 0/1.

Events are sequential: one trial runs at a time (it asks for every CPU of the cluster; without HyperBand
``max_concurrent_trials`` is 1 too), so the order in which reports reach the searcher and scheduler is
exact and the simulated clock is the sum of the epochs trained so far. That leaves out what concurrency
changes: with N workers ASHA and TPE decide on fewer finished results, and synchronous HyperBand idles
workers while a rung fills.

    nice -n 10 .venv/bin/python benchmarks/simulate.py --data /work/prepared/paired --max-epochs 5 \\
        --out benchmarks/results/simulation/strategies.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from curves import CONFIG, OUT as CURVES  # benchmarks/ is on sys.path when run
from provenance import provenance
from ray import tune

from sonovis.config import FeatureConfig, SearchConfig, experiment_from_flat
from sonovis.runtime import cluster_cpus, connect
from sonovis.search.strategies import REFERENCE
from sonovis.search.tuner import make_scheduler, make_searcher, param_space, run_config, tune_config
from sonovis.train.metrics import MEAN_RECALL, SEARCH_METRIC

STRATEGIES = ("random+fifo", "random+asha", "random+hyperband", "tpe+fifo", "tpe+asha", "tpe+hyperband")
CONTINUOUS = 6  # a number with more distinct recorded values than this is searched as a range, not a choice
EFFECTIVE = {"model.n_cepstra": lambda v: v or FeatureConfig().n_mfcc}  # 0 means every prepared coefficient
# replicates: the seed decides which recorded curve, never a dimension; and how long a run was asked to train
# (`voices.py --epochs`) says where its curve ends, which the replay cuts at max_epochs anyway
NOT_SEARCHED = ("train.seed", "train.epochs")


@dataclass(frozen=True)
class Recorded:
    """The replayable curves of one data folder: configurations (dimension values) and each one's replicates."""

    dims: list[str]
    values: list[tuple[Any, ...]]  # per configuration, its value of each dimension (JSON-decoded)
    curves: list[list[dict[str, Any]]]  # per configuration, its replicates (one per seed): curve = reported rows
    labels: list[list[str]]  # per configuration and replicate, the recorded run it came from
    scale: dict[str, tuple[float, float, bool]]  # numeric dims: (lo, hi, log)


def cell(value: Any) -> Any:
    """A config cell of all.csv as its value: lists are kept as JSON text there."""
    if isinstance(value, str) and value[:1] == "[":
        return json.loads(value)
    return value.item() if isinstance(value, np.generic) else value


def decode(value: Any) -> Any:
    """A config cell as a searched value: a list becomes the "a,b" string Tune's choices use (tuner.param_space)."""
    value = cell(value)
    return ",".join(str(v) for v in value) if isinstance(value, list) else value


def recorded(table: pd.DataFrame, data: str, max_epochs: int) -> Recorded:
    """Runs of ``data`` with at least ``max_epochs`` epochs, cut there; one replicate per (configuration, seed)."""
    rows = table[table["data"] == data]
    clocks = rows["clock"].unique()
    if len(clocks) != 1:
        raise SystemExit(f"{data}: {len(rows)} rows on clocks {list(clocks)}; expected one clock")
    runs = [g.sort_values("epoch") for _, g in rows.groupby(["source", "run"], sort=True)
            if g["epoch"].max() >= max_epochs and list(g["epoch"])[:max_epochs] == list(range(1, max_epochs + 1))]
    if not runs:
        raise SystemExit(f"{data}: no recorded run has {max_epochs} epochs")
    config_cols = [c for c in rows.columns if c.startswith(CONFIG)]
    first = pd.DataFrame([r.iloc[0] for r in runs])
    dims = [c.removeprefix(CONFIG) for c in config_cols
            if first[c].astype(str).nunique() > 1 and c.removeprefix(CONFIG) not in NOT_SEARCHED]
    groups: dict[tuple, dict[Any, tuple[list[dict[str, Any]], str]]] = {}
    for run in runs:
        key = tuple(decode(run.iloc[0][CONFIG + d]) for d in dims)
        seed = run.iloc[0][CONFIG + "train.seed"]  # a seed recorded twice is the same curve (training is deterministic)
        metrics = [c for c in run.columns if not c.startswith(CONFIG) and c not in ("source", "run", "data", "clock")]
        curve = [{k: v for k, v in r.items() if v == v} for r in run[metrics].head(max_epochs).to_dict("records")]
        groups.setdefault(key, {}).setdefault(seed, (curve, f"{run.iloc[0]['source']}:{run.iloc[0]['run']}"))
    scale = {}
    for i, d in enumerate(dims):
        numbers = [EFFECTIVE.get(d, lambda v: v)(k[i]) for k in groups]
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in numbers):
            lo, hi = min(numbers), max(numbers)
            scale[d] = (lo, hi, lo > 0 and hi / lo >= 10 and len(set(numbers)) > CONTINUOUS)
    keys = sorted(groups, key=str)
    return Recorded(dims, keys, [[c for c, _ in groups[k].values()] for k in keys],
                    [[label for _, label in groups[k].values()] for k in keys], scale)


def base_config(table: pd.DataFrame, data: str) -> dict[str, Any]:
    """The flat config of the folder's first recorded run: what the searched dimensions are laid over."""
    first = table[table["data"] == data].iloc[0]
    return {k.removeprefix(CONFIG): cell(v) for k, v in first.items() if k.startswith(CONFIG)}


def space(rec: Recorded) -> dict[str, dict[str, list]]:
    """The recorded space in [search.space] form: a choice of recorded values, or a range for many numbers."""
    out = {}
    for i, d in enumerate(rec.dims):
        seen = sorted({k[i] for k in rec.values}, key=str)
        if d in rec.scale and len(seen) > CONTINUOUS:
            lo, hi, log = rec.scale[d]
            out[d] = {"loguniform" if log else "uniform": [lo, hi]}
        else:
            out[d] = {"choice": seen}
    return out


def position(rec: Recorded, dim: str, value: Any) -> float:
    lo, hi, log = rec.scale[dim]
    v = EFFECTIVE.get(dim, lambda x: x)(value)
    if log:
        v, lo, hi = math.log(v), math.log(lo), math.log(hi)
    return (v - lo) / (hi - lo) if hi > lo else 0.0


def nearest(rec: Recorded, proposal: dict[str, Any], rng: np.random.Generator) -> int:
    """Index of the recorded configuration nearest the proposal (ties: one of them at random)."""
    distances = []
    for key in rec.values:
        total = 0.0
        for i, d in enumerate(rec.dims):
            want = decode(proposal[d])
            total += (abs(position(rec, d, want) - position(rec, d, key[i])) if d in rec.scale
                      else float(str(want) != str(key[i])))
        distances.append(total)
    best = np.flatnonzero(np.isclose(distances, min(distances)))
    return int(rng.choice(best))


def replay_trial(config: dict[str, Any], rec: Recorded, pausable: bool) -> None:
    """A Tune trial that trains nothing: it reports the chosen recorded curve, one epoch per report
    (with a checkpoint of the epoch when the scheduler may pause it: HyperBand)."""
    logging.getLogger("ray.train").setLevel(logging.WARNING)  # not a line per checkpoint in the driver's log
    proposal = {d: config[d] for d in rec.dims}
    digest = hashlib.sha256(json.dumps([proposal, config["train.seed"]], sort_keys=True).encode()).digest()
    rng = np.random.default_rng(int.from_bytes(digest[:8], "little"))  # a resumed trial draws the same curve
    which = nearest(rec, proposal, rng)
    replicate = int(rng.integers(len(rec.curves[which])))
    start = 0
    if checkpoint := tune.get_checkpoint():  # HyperBand paused it: continue where it was
        with checkpoint.as_directory() as folder:
            start = int((Path(folder) / "epoch").read_text())
    for row in rec.curves[which][replicate][start:]:
        metrics = {**row, SEARCH_METRIC: row[MEAN_RECALL],  # what the searchers rank by: the recorded mean recall
                   "sim_cpu_min": row["epoch_cpu_min"], "recorded": rec.labels[which][replicate], "wall_time": time.time()}
        if not pausable:
            tune.report(metrics)
            continue
        with tempfile.TemporaryDirectory() as folder:
            (Path(folder) / "epoch").write_text(str(int(row["epoch"])))
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(folder))


def live_trials(search: SearchConfig) -> int:
    """Trials alive at once (one runs; the others wait or are paused). 1 keeps events strictly sequential;
    synchronous HyperBand needs its largest bracket alive at once, or a rung halves a single trial
    (Tune's concurrency limit counts paused trials) and it stops nothing."""
    if search.scheduler != "hyperband":
        return 1
    eta = search.reduction_factor
    s_max = int(np.round(np.log(search.max_epochs) / np.log(eta)))  # as ray.tune.schedulers.HyperBandScheduler
    return int(np.ceil((s_max + 1) / (s_max + 1) * eta**s_max))


class Reports(tune.Callback):
    """Every result in the order the driver handles it: the order the searcher and scheduler saw them."""

    KEPT = ("trial_id", "training_iteration", MEAN_RECALL, "sim_cpu_min", "recorded")

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        self.rows.append({k: result[k] for k in self.KEPT})


def run_strategy(search: SearchConfig, strategy: str, seed: int, rec: Recorded,
                 base_flat: dict[str, Any]) -> tuple[pd.DataFrame, float]:
    """One search of ``search.trials`` replay trials; its reports in the order they happened, and its wall seconds."""
    searcher, _, scheduler = strategy.partition("+")
    variant = replace(search, searcher=searcher, scheduler=scheduler, seed=seed)
    base = experiment_from_flat({**base_flat, "train.seed": seed})
    # Every CPU of the cluster for each trial: one runs at a time on any Ray, also under HyperBand, which keeps
    # several alive (paused). Two running at once break its bracket bookkeeping, which assumes one runs, and can
    # leave paused trials that nothing resumes.
    trial = tune.with_resources(tune.with_parameters(replay_trial, rec=rec, pausable=scheduler == "hyperband"),
                                {"cpu": cluster_cpus()})
    settings = tune_config(variant, search_alg=make_searcher(variant), scheduler=make_scheduler(variant),
                           num_samples=variant.trials, reuse_actors=True)
    reports = Reports()
    with tempfile.TemporaryDirectory() as runs:
        started = time.perf_counter()
        results = tune.Tuner(
            trial, param_space=param_space(variant, base),
            tune_config=replace(settings, max_concurrent_trials=live_trials(variant)),
            run_config=run_config(variant, Path(runs), "simulation", reports)).fit()
        wall = time.perf_counter() - started
    if errors := [r.error for r in results if r.error]:
        raise SystemExit(f"{strategy} seed {seed}: {len(errors)} replay trials failed, the first: {errors[0]}")
    return pd.DataFrame(reports.rows), wall


def spent(reports: pd.DataFrame, target: float) -> dict[str, Any]:
    """Simulated CPU minutes until the best-so-far reaches ``target`` (None: never), and in all."""
    clock = reports["sim_cpu_min"].cumsum().to_numpy()
    reached = np.flatnonzero(reports[MEAN_RECALL].cummax().to_numpy() >= target - 1e-9)
    epochs = reports.groupby("trial_id")["training_iteration"].max()
    return {"to_target": float(clock[reached[0]]) if len(reached) else None, "cpu_min": float(clock[-1]),
            "best": float(reports[MEAN_RECALL].max()), "trials": int(len(epochs)),
            "trial_epochs": int(len(reports)), "distinct_curves": int(reports["recorded"].nunique())}


def summarise(runs: list[dict[str, Any]], strategy: str) -> dict[str, Any]:
    """Median and spread over seeds of one strategy's compute to reach random search's best. A seed that
    never reached it counts as infinitely late, so a strategy failing in most seeds has no median
    (None: "never"); quartiles are observed values (no interpolation towards infinity)."""
    mine = [r for r in runs if r["strategy"] == strategy]
    spent = sorted(math.inf if r["to_target"] is None else r["to_target"] for r in mine)
    q1, q3 = np.quantile(spent, [0.25, 0.75], method="inverted_cdf")

    def finite(x: float) -> float | None:
        return None if math.isinf(x) else float(x)

    return {"strategy": strategy, "seeds": len(mine), "never": sum(map(math.isinf, spent)),
            "to_target_median": finite(statistics.median(spent)), "to_target_q1": finite(q1),
            "to_target_q3": finite(q3), "to_target_min": finite(spent[0]), "to_target_max": finite(spent[-1]),
            "cpu_min_median": statistics.median(r["cpu_min"] for r in mine),
            "best_median": statistics.median(r["best"] for r in mine),
            "trial_epochs_median": statistics.median(r["trial_epochs"] for r in mine),
            "distinct_curves_median": statistics.median(r["distinct_curves"] for r in mine),
            "wall_s_median": statistics.median(r["wall_s"] for r in mine)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--curves", type=Path, default=CURVES, help="the table benchmarks/curves.py writes")
    parser.add_argument("--data", required=True, help="the prepared folder whose curves are replayed (column data)")
    parser.add_argument("--max-epochs", type=int, default=5)
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--first-seed", type=int, default=0, help="seeds first-seed ... (to split seeds over processes)")
    parser.add_argument("--merge", type=Path, nargs="+", help="combine the runs of these earlier outputs into --out")
    parser.add_argument("--grace-period", type=int, default=1)
    parser.add_argument("--reduction-factor", type=int, default=2)
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    if args.merge:
        return merge(args.merge, args.out)
    table = pd.read_csv(args.curves)
    rec = recorded(table, args.data, args.max_epochs)
    strategies = args.strategies.split(",")
    if strategies[0] != REFERENCE:
        raise SystemExit(f"--strategies must start with {REFERENCE}: every strategy is measured against its best")
    search = SearchConfig(trials=args.trials, max_epochs=args.max_epochs, grace_period=args.grace_period,
                          reduction_factor=args.reduction_factor, space=space(rec), trial_memory_gb=0.0,
                          keep_checkpoints=args.max_epochs)  # fewer forced experiment snapshots
    base_flat = base_config(table, args.data)
    print(f"{args.data}: {len(rec.values)} recorded configurations, {sum(map(len, rec.curves))} curves; "
          f"space {search.space}", flush=True)
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")  # no per-trial JSON/CSV/TensorBoard files
    connect(num_cpus=1, dashboard=False)
    runs, targets = [], {}
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        for strategy in strategies:
            reports, wall = run_strategy(search, strategy, seed, rec, base_flat)
            if strategy == REFERENCE:
                targets[seed] = float(reports[MEAN_RECALL].max())
            runs.append({"strategy": strategy, "seed": seed, "target": targets[seed], "wall_s": wall,
                         **spent(reports, targets[seed])})
            print(json.dumps(runs[-1]), flush=True)
    summary = [summarise(runs, s) for s in strategies]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "study": "simulation", "data": args.data, "metric": MEAN_RECALL,
        "search": {"trials": args.trials, "seeds": args.seeds, "max_epochs": args.max_epochs,
                   "grace_period": args.grace_period, "reduction_factor": args.reduction_factor,
                   "startup_trials": search.startup_trials, "space": search.space},
        "recorded": {"configurations": [dict(zip(rec.dims, k)) | {"replicates": len(c)}
                                        for k, c in zip(rec.values, rec.curves)],
                     "curves": sum(map(len, rec.curves)), "clock": str(table[table["data"] == args.data]["clock"].iloc[0])},
        "target": "per seed: the best metric random+fifo reached with that seed", "runs": runs, "summary": summary,
        "provenance": provenance(sys.argv)}, indent=1))
    for row in summary:
        print(json.dumps(row))


def merge(parts: list[Path], out: Path) -> None:
    """One result from outputs that ran the same settings on different seeds."""
    loaded = [json.loads(p.read_text()) for p in parts]
    same = {k: loaded[0][k] for k in ("data", "metric", "recorded")}
    if any({k: d[k] for k in same} != same or {**d["search"], "seeds": 0} != {**loaded[0]["search"], "seeds": 0}
           for d in loaded):
        raise SystemExit(f"{', '.join(map(str, parts))}: not the same simulation settings")
    runs = [r for d in loaded for r in d["runs"]]
    strategies = list(dict.fromkeys(r["strategy"] for r in runs))
    merged = {**loaded[0], "search": {**loaded[0]["search"], "seeds": len({r["seed"] for r in runs})},
              "runs": runs, "summary": [summarise(runs, s) for s in strategies],
              "parts": [part for d in loaded for part in d.get("parts", [d["provenance"]])],  # an earlier merge's own
              "provenance": provenance(sys.argv)}
    out.write_text(json.dumps(merged, indent=1))


if __name__ == "__main__":
    main()
