"""Keep a finished search as a result: its study, trial table and curves, and a summary with provenance.

`sonovis tune` leaves a search folder under runs/ (not committed); this copies what the record
needs into benchmarks/results/search/<name>/ — ``optuna.db`` (the study: a later search can
``--warm-start`` from it), ``trials.csv`` and ``curves.csv`` (every epoch of every trial, which
benchmarks/curves.py gathers) — and writes ``search.json``: what it cost
(trials, stopped early, trial-epochs, trial CPU minutes, wall minutes), the best trial and how
its configuration differs from the base, and the provenance of the command that ran the search
(``--command``, e.g. the ``ray job submit`` line), not of this copy.

    .venv/bin/python benchmarks/search_record.py runs/search --name flickr8k \\
        --command "ray job submit ... -- python jobs/tune.py ..." --base-trial 0
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from provenance import provenance
from sonovis.train.metrics import SEARCH_METRIC

RESULTS = Path(__file__).resolve().parent / "results" / "search"
KEPT = ("optuna.db", "trials.csv", "curves.csv")  # best.json's content goes into search.json, with provenance


def same(recorded: Any, proposed: Any) -> bool:
    """A Tune config cell against an Optuna parameter (categoricals are stored as strings, lists joined by commas)."""
    if isinstance(proposed, float) or isinstance(recorded, float):
        return abs(float(recorded) - float(proposed)) <= 1e-9 * max(1.0, abs(float(proposed)))
    return str(recorded).replace("[", "").replace("]", "").replace("'", "").replace(" ", "") == str(proposed)


def base_trial(folder: Path, curves: pd.DataFrame) -> str:
    """search.base_first: the study's first trial (Optuna's number 0) is the base; the Tune trial that ran its
    parameters. (Which trial *started* first is no guide: two start together.)"""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name=None, storage=f"sqlite:///{folder / 'optuna.db'}")
    params = min(study.trials, key=lambda t: t.number).params
    for trial_id, row in curves.groupby("trial_id").first().iterrows():
        if all(same(row[f"config/{k}"], v) for k, v in params.items()):
            return str(trial_id)
    raise SystemExit(f"{folder}: no trial ran the study's first parameters {params}")


def summary(folder: Path) -> dict:
    trials, curves = pd.read_csv(folder / "trials.csv"), pd.read_csv(folder / "curves.csv")
    best = json.loads((folder / "best.json").read_text())
    started = curves["timestamp"] - curves["time_total_s"]  # each report's trial start
    config_keys = [c for c in curves.columns if c.startswith("config/")]
    by_trial = curves.groupby("trial_id")
    base_id = base_trial(folder, curves)
    base = by_trial.get_group(base_id).iloc[0]
    best_id = trials.iloc[0]["trial_id"]
    best_row = by_trial.get_group(best_id).iloc[0]
    cpu_min = lambda trial_id: float(by_trial.get_group(trial_id)["cpu_seconds"].sum() / 60)  # noqa: E731
    changed = {k.removeprefix("config/"): best_row[k] for k in config_keys
               if str(best_row[k]) != str(base[k]) and k != "config/train.seed"}
    return {
        "metric": SEARCH_METRIC, "trials": int(len(trials)), "stopped_early": int(trials["stopped_early"].sum()),
        "trial_epochs": int(len(curves)), "trial_cpu_min": float(curves["cpu_seconds"].sum() / 60),
        "wall_min": float((curves["timestamp"].max() - started.min()) / 60),
        "best": {"trial_id": best_row["trial_id"], SEARCH_METRIC: float(trials.iloc[0][f"best_{SEARCH_METRIC}"]),
                 "epoch": int(trials.iloc[0]["best_epoch"]), "epochs": int(len(by_trial.get_group(best_id))),
                 "cpu_min": cpu_min(best_id), "changed_from_base": changed,
                 "config": best["best_config"]},
        "base": {"trial_id": base_id, SEARCH_METRIC: float(by_trial.get_group(base_id)[SEARCH_METRIC].max()),
                 "epochs": int(len(by_trial.get_group(base_id))), "cpu_min": cpu_min(base_id)},
    }


def summarise_stopped(folder: Path, max_epochs: int, max_cpu_minutes: float = 0.0) -> None:
    """Write trials.csv, curves.csv and best.json for a search stopped before its last trial, from Tune's
    experiment folder (trials still running count with the epochs they reported); ``max_cpu_minutes``:
    its trials' budget, when it counted CPU minutes."""
    from ray import tune

    from sonovis.config import SearchConfig
    from sonovis.search.clock import CPU_MINUTES
    from sonovis.search import EXPERIMENT
    from sonovis.search.tuner import summarise

    analysis = tune.ExperimentAnalysis(str(folder / EXPERIMENT), default_metric=SEARCH_METRIC, default_mode="max")
    results = tune.ResultGrid(analysis)
    clock = {"clock": CPU_MINUTES, "max_cpu_minutes": max_cpu_minutes} if max_cpu_minutes else {}
    summarise(results, SearchConfig(max_epochs=max_epochs, **clock), folder, print)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="the search folder (sonovis tune --out)")
    parser.add_argument("--name", required=True, help="benchmarks/results/search/NAME/")
    parser.add_argument("--command", required=True, help="the command line that ran the search")
    parser.add_argument("--commit", help="the commit the search ran (default: HEAD now)")
    parser.add_argument("--stopped", type=int, metavar="MAX_EPOCHS",
                        help="the search was stopped early: summarise it from Tune's folder first (its max_epochs)")
    parser.add_argument("--max-cpu-minutes", type=float, default=0.0,
                        help="with --stopped, for a search that counted CPU minutes: its trials' budget")
    args = parser.parse_args()
    if args.stopped:
        summarise_stopped(args.folder, args.stopped, args.max_cpu_minutes)
    out = RESULTS / args.name
    out.mkdir(parents=True, exist_ok=True)
    for name in KEPT:
        shutil.copy2(args.folder / name, out / name)
    record = {"search": str(args.folder), **summary(args.folder),
              "provenance": {**provenance(sys.argv), "command": args.command,
                             "recorded_by": shlex.join(["python", *sys.argv])}}
    if args.commit:
        record["provenance"].update(commit=args.commit, dirty=False)
    (out / "search.json").write_text(json.dumps(record, indent=1, default=str))
    print(json.dumps({k: v for k, v in record.items() if k != "provenance"}, indent=1, default=str))


if __name__ == "__main__":
    main()
