"""``sonovis ablate --strategies``: search strategies compared on one space at equal trial count.

Each strategy (searcher+scheduler: TPE or random sampling, with ASHA, HyperBand or without
early stopping) runs the same [search] settings through search.py's Tuner in a folder of its own
(its own Tune experiment and optuna.db; ``sonovis report`` works on each). Cost is counted in
trial-epochs: every epoch a trial trains and reports is one. Reports of concurrent trials are
put in wall-clock order, so "trial-epochs to target" is what the whole search had spent when
some trial first reached the target dev recall.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
from ray import tune

from sonovis.config import AblateConfig, ExperimentConfig, SearchConfig, to_dict
from sonovis.errors import ConfigError
from sonovis.runtime import connect
from sonovis.search import STUDY_FILE
from sonovis.search.clock import budget
from sonovis.search.tuner import (
    SAMPLERS,
    SCHEDULERS,
    concurrency,
    make_tuner,
    searches_grid,
    summarise,
    trainable,
    trial_data,
    warn_hyperband_at_once,
)
from sonovis.table import format_table
from sonovis.train.metrics import SEARCH_METRIC

REFERENCE = "random+fifo"  # the baseline every strategy is measured against
ORDER = ["wall_time", "trial_id", "training_iteration"]  # time first; the rest only breaks exact ties


def strategy_search(search: SearchConfig, strategy: str) -> SearchConfig:
    """``search`` with the strategy's searcher and scheduler; everything else (space, trials, seed) equal."""
    searcher, _, scheduler = strategy.partition("+")
    if searcher not in SAMPLERS or scheduler not in SCHEDULERS:  # tuner's registries
        raise ConfigError(f"ablate.strategies: {strategy!r} is not searcher+scheduler "
                          f"(searchers {', '.join(SAMPLERS)}; schedulers {', '.join(SCHEDULERS)})")
    storage = f"{search.storage_path.rstrip('/')}/{folder_name(strategy)}" if search.storage_path else ""
    return replace(search, searcher=searcher, scheduler=scheduler, storage_path=storage)


def folder_name(strategy: str) -> str:
    return strategy.replace("+", "-")


def reports_frame(results: tune.ResultGrid) -> pd.DataFrame:
    """Every epoch report of every trial, one row each: what the accounting counts."""
    frames = [r.metrics_dataframe for r in results if r.metrics_dataframe is not None and len(r.metrics_dataframe)]
    return pd.concat(frames, ignore_index=True)


def account(reports: pd.DataFrame, metric: str, target: float, max_epochs: int) -> dict[str, Any]:
    """Trial-epochs spent in all and until the first report with ``metric >= target`` (None: never),
    the best values reached, and how many trials ran and stopped early. Pure: reports in, numbers out."""
    ordered = reports.sort_values(ORDER, kind="stable")
    reached = np.flatnonzero(ordered[metric].to_numpy() >= target)
    epochs_run = ordered.groupby("trial_id")["training_iteration"].max()
    return {"trials": len(epochs_run), "stopped_early": int((epochs_run < max_epochs).sum()),
            "trial_epochs": len(ordered), "to_target": int(reached[0]) + 1 if len(reached) else None,
            f"best_{metric}": float(ordered[metric].max()),
            f"best_{SEARCH_METRIC}": float(ordered[SEARCH_METRIC].max())}


def against_random_without_stopping(rows: list[dict[str, Any]], reports: dict[str, pd.DataFrame],
                                    max_epochs: int) -> None:
    """Each strategy's trial-epochs to reach the best dev mean recall of random search without early
    stopping, as a share of what that random search spent: the search-efficiency figure."""
    if REFERENCE not in reports:
        return
    reference = next(r for r in rows if r["strategy"] == REFERENCE)
    for row in rows:
        spent = account(reports[row["strategy"]], SEARCH_METRIC, reference[f"best_{SEARCH_METRIC}"], max_epochs)
        row["to_reference"] = spent["to_target"]
        row["share_of_reference"] = None if spent["to_target"] is None else spent["to_target"] / reference["trial_epochs"]


def strategies_table(rows: list[dict[str, Any]], metric: str, target: float, trials: int,
                     max_epochs: int) -> dict[str, Any]:
    """The comparison as title, headers and rows: printed here, rendered by the report."""
    headers = ["strategy", "trials", "stopped early", "trial-epochs", f"trial-epochs to {metric} ≥ {target:g}",
               f"best {metric}", f"best {SEARCH_METRIC}", "minutes"]
    body = [[r["strategy"], r["trials"], r["stopped_early"], r["trial_epochs"],
             "not reached" if r["to_target"] is None else r["to_target"], r[f"best_{metric}"],
             r[f"best_{SEARCH_METRIC}"], r["minutes"]] for r in rows]
    if all("to_reference" in r for r in rows):
        headers.append(f"trial-epochs to {REFERENCE}'s best {SEARCH_METRIC} (share of its trial-epochs)")
        for line, r in zip(body, rows):
            line.append("not reached" if r["to_reference"] is None
                        else f"{r['to_reference']} ({100 * r['share_of_reference']:.0f} %)")
    return {"title": f"search strategies: {trials} trials of up to {max_epochs} epochs each, same space and seed",
            "headers": headers, "rows": body,
            "note": ("A trial-epoch is one epoch one trial trained and reported. Trial-epochs to target: "
                     "every trial's reports in wall-clock order, counted up to the first report whose dev "
                     f"{metric} reaches {target:g}. Best values are over every epoch of every trial; "
                     "minutes are wall-clock for the whole search.")}


def compare_strategies(ablate: AblateConfig, search: SearchConfig, base: ExperimentConfig, data_path: str | Path,
                       out: str | Path, address: str | None = None,
                       echo: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """One search per strategy under ``<out>/strategies/``; writes strategies.csv/json and prints the table."""
    out = Path(out).resolve()
    variants = {s: strategy_search(search, s) for s in ablate.strategies}
    folders = {s: out / "strategies" / folder_name(s) for s in variants}
    used = [str(f) for f in folders.values() if (f / STUDY_FILE).exists()]
    if used:  # the study would carry over old trials, and TPE would learn from them
        raise ConfigError(f"{', '.join(used)}: a comparison already ran here; give a new --out or remove them")
    connect(address)
    data = trial_data(data_path, base, with_grid=searches_grid(search, base))
    # one copy of the data in the object store for all; the strategies differ in searcher and scheduler only
    trial = trainable(data, memory_gb=search.trial_memory_gb, cpu_budget=budget(search))
    rows, all_reports = [], {}
    for i, (strategy, variant) in enumerate(variants.items(), 1):
        echo(f"[strategies] {i}/{len(variants)} {strategy}: {variant.trials} trials of up to "
             f"{variant.max_epochs} epochs, {concurrency(variant)} at once")
        warn_hyperband_at_once(variant, echo)
        folders[strategy].mkdir(parents=True, exist_ok=True)
        started = time.time()
        results = make_tuner(variant, base, trial, folders[strategy]).fit()
        summarise(results, variant, folders[strategy], echo)  # trials.csv, best.json, best/: what `report` reads
        reports = reports_frame(results)
        reports.to_csv(folders[strategy] / "reports.csv", index=False)  # the accounting's input, to check it by
        all_reports[strategy] = reports
        rows.append({"strategy": strategy, **account(reports, ablate.target_metric, ablate.target, variant.max_epochs),
                     "minutes": (time.time() - started) / 60})
    against_random_without_stopping(rows, all_reports, search.max_epochs)
    table = strategies_table(rows, ablate.target_metric, ablate.target, search.trials, search.max_epochs)
    pd.DataFrame(rows).to_csv(out / "strategies.csv", index=False)
    (out / "strategies.json").write_text(json.dumps(
        {"ablate": to_dict(ablate), "search": to_dict(search), "strategies": rows, "table": table}, indent=1))
    echo(format_table(table["headers"], table["rows"], title=table["title"]))
    return rows
