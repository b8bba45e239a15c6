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

import pandas as pd

from provenance import provenance
from sonovis.train.metrics import SEARCH_METRIC

RESULTS = Path(__file__).resolve().parent / "results" / "search"
KEPT = ("optuna.db", "trials.csv", "curves.csv")  # best.json's content goes into search.json, with provenance


def summary(folder: Path) -> dict:
    trials, curves = pd.read_csv(folder / "trials.csv"), pd.read_csv(folder / "curves.csv")
    best = json.loads((folder / "best.json").read_text())
    started = curves["timestamp"] - curves["time_total_s"]  # each report's trial start
    config_keys = [c for c in curves.columns if c.startswith("config/")]
    by_trial = curves.groupby("trial_id")
    base_id = curves.loc[started.idxmin(), "trial_id"]  # search.base_first: the first trial started
    base = by_trial.get_group(base_id).iloc[0]
    best_row = by_trial.get_group(trials.iloc[0]["trial_id"]).iloc[0]
    changed = {k.removeprefix("config/"): best_row[k] for k in config_keys
               if str(best_row[k]) != str(base[k]) and k != "config/train.seed"}
    return {
        "metric": SEARCH_METRIC, "trials": int(len(trials)), "stopped_early": int(trials["stopped_early"].sum()),
        "trial_epochs": int(len(curves)), "trial_cpu_min": float(curves["cpu_seconds"].sum() / 60),
        "wall_min": float((curves["timestamp"].max() - started.min()) / 60),
        "best": {"trial_id": best_row["trial_id"], SEARCH_METRIC: float(trials.iloc[0][f"best_{SEARCH_METRIC}"]),
                 "epoch": int(trials.iloc[0]["best_epoch"]), "changed_from_base": changed,
                 "config": best["best_config"]},
        "base": {"trial_id": base_id, SEARCH_METRIC: float(by_trial.get_group(base_id)[SEARCH_METRIC].max()),
                 "epochs": int(len(by_trial.get_group(base_id)))},
    }


def summarise_stopped(folder: Path, max_epochs: int) -> None:
    """Write trials.csv, curves.csv and best.json for a search stopped before its last trial, from Tune's
    experiment folder (trials still running count with the epochs they reported)."""
    from ray import tune

    from sonovis.config import SearchConfig
    from sonovis.search.tuner import EXPERIMENT, summarise

    analysis = tune.ExperimentAnalysis(str(folder / EXPERIMENT), default_metric=SEARCH_METRIC, default_mode="max")
    results = tune.ResultGrid(analysis)
    summarise(results, SearchConfig(max_epochs=max_epochs), folder, print)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="the search folder (sonovis tune --out)")
    parser.add_argument("--name", required=True, help="benchmarks/results/search/NAME/")
    parser.add_argument("--command", required=True, help="the command line that ran the search")
    parser.add_argument("--commit", help="the commit the search ran (default: HEAD now)")
    parser.add_argument("--stopped", type=int, metavar="MAX_EPOCHS",
                        help="the search was stopped early: summarise it from Tune's folder first (its max_epochs)")
    args = parser.parse_args()
    if args.stopped:
        summarise_stopped(args.folder, args.stopped)
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
