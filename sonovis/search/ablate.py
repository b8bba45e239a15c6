"""``sonovis ablate``: what each paper's idea is worth here, measured as one Ray Tune grid.

Every arm (the baseline, and each idea switched on alone) trains for the same number of
epochs with several seeds. A trial is the search's own trial (``search.train_trial``) with
the arm's overrides applied to the base config; FIFO and no search algorithm, so every trial
runs to the end. Recalls are read at each trial's *final* epoch: picking each trial's best
epoch on dev would flatter the noisier arms. The table gives mean ± std over seeds and the
difference of means to the baseline.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Callable

import pandas as pd
from ray import tune
from ray.tune.schedulers import FIFOScheduler

from sonovis.config import (
    AblateConfig,
    ExperimentConfig,
    SearchConfig,
    experiment_from_flat,
    flatten,
    to_dict,
)
from sonovis.data.shards import Prepared
from sonovis.errors import ConfigError
from sonovis.runtime import connect
from sonovis.search.tuner import (
    TrialLog,
    concurrency,
    run_config,
    train_trial,
    trainable,
    trial_data,
    tune_config,
)
from sonovis.table import format_table
from sonovis.train.metrics import SEARCH_METRIC
from sonovis.train.trainer import needs_grid

EXPERIMENT = "ablation"  # Tune's folder under --out
ARM = "arm"  # the trial config key carrying its arm: {"name": ..., "overrides": {...}}
BASELINE = "baseline"
FIXED = ("train.epochs", "train.seed")  # the grid sets these; an arm changing them would break equal budgets
RECALLS = {"s2i_r1": "s2i R@1", "s2i_r10": "s2i R@10", "i2s_r1": "i2s R@1", "i2s_r10": "i2s R@10"}
KEPT = [f"{way}_r{k}" for way in ("s2i", "i2s") for k in (1, 5, 10)] + [SEARCH_METRIC]  # ablation.csv columns


def arm_configs(ablate: AblateConfig, base: ExperimentConfig) -> dict[str, ExperimentConfig]:
    """Each arm's config, checked before any trial starts: a typo fails here, not in every trial."""
    if BASELINE not in ablate.arms:
        raise ConfigError(f"ablate.arms: needs a {BASELINE!r} arm to compare against; got {sorted(ablate.arms)}")
    if ablate.seeds < 2 or ablate.epochs < 1:
        raise ConfigError("ablate.seeds must be >= 2 (a spread needs two runs) and ablate.epochs >= 1")
    flat = flatten(base)
    configs = {}
    for name, overrides in ablate.arms.items():
        wrong = sorted(k for k in overrides if k not in flat or k in FIXED)
        if wrong:
            raise ConfigError(f"ablate.arms.{name}: {wrong} are not config fields an arm may change "
                              f"(fields: {sorted(set(flat) - set(FIXED))})")
        configs[name] = experiment_from_flat({**flat, **overrides})
    return configs


def arm_trial(config: dict[str, Any], data: Prepared) -> None:
    """One ablation trial: the search's trial on the base config with its arm's overrides applied."""
    train_trial({k: v for k, v in config.items() if k != ARM} | config[ARM]["overrides"], data)


def make_grid(ablate: AblateConfig, search: SearchConfig, base: ExperimentConfig, trial: Any,
              out: Path) -> tune.Tuner:
    """arms x seeds as one grid of single-CPU trials; ``search`` gives only how trials run (CPUs, retries)."""
    space = flatten(base) | {
        "train.epochs": ablate.epochs,
        ARM: tune.grid_search([{"name": n, "overrides": o} for n, o in ablate.arms.items()]),
        "train.seed": tune.grid_search([base.train.seed + i for i in range(ablate.seeds)]),
    }
    total = len(ablate.arms) * ablate.seeds
    return tune.Tuner(trial, param_space=space, tune_config=tune_config(search, scheduler=FIFOScheduler()),
                      run_config=run_config(search, out, EXPERIMENT, TrialLog(total, ablate.epochs)))


def trial_rows(results: tune.ResultGrid) -> pd.DataFrame:
    """One row per trial: its arm, seed, epochs run, final-epoch recalls, minutes and CPU seconds an epoch
    (the training loop's own, so the arms' cost compares however busy the machine was; every trial, errored too)."""
    rows = []
    for result in results:
        last = result.metrics or {}
        history = result.metrics_dataframe
        epoch_cpu = (float(history["cpu_seconds"].mean())
                     if history is not None and "cpu_seconds" in history else math.nan)
        rows.append({"arm": result.config[ARM]["name"], "seed": result.config["train.seed"],
                     "trial_id": last.get("trial_id", Path(result.path).name),
                     "epochs": last.get("training_iteration", 0),
                     **{k: last.get(k, math.nan) for k in KEPT}, "minutes": last.get("time_total_s", math.nan) / 60,
                     "epoch_cpu_seconds": epoch_cpu, "error": str(result.error).splitlines()[0] if result.error else ""})
    return pd.DataFrame(rows).sort_values(["arm", "seed"], kind="stable").reset_index(drop=True)


def summarise_arms(trials: pd.DataFrame, arms: list[str], epochs: int) -> list[dict[str, Any]]:
    """Per arm (in ``arms`` order): seeds that ran all ``epochs``, mean and sample std of each recall,
    the difference of means to the baseline, minutes per trial and CPU seconds an epoch (÷ the baseline's)."""
    done = trials[(trials["epochs"] == epochs) & (trials["error"] == "")]
    base = done[done["arm"] == BASELINE]
    summary = []
    for arm in arms:
        runs = done[done["arm"] == arm]
        row: dict[str, Any] = {"arm": arm, "seeds": len(runs), "minutes": float(runs["minutes"].mean()),
                               "epoch_cpu_seconds": float(runs["epoch_cpu_seconds"].mean())}
        row["epoch_cpu_ratio"] = row["epoch_cpu_seconds"] / float(base["epoch_cpu_seconds"].mean())
        for key in RECALLS:
            row[f"{key}_mean"] = float(runs[key].mean())
            row[f"{key}_std"] = float(runs[key].std(ddof=1))
            row[f"{key}_delta"] = row[f"{key}_mean"] - float(base[key].mean())
        summary.append(row)
    return summary


def arms_table(summary: list[dict[str, Any]], epochs: int) -> dict[str, Any]:
    """The ablation table as title, headers and rows: printed here, rendered by the report."""
    headers = ["arm", "seeds", *RECALLS.values(), *(f"Δ {label}" for label in RECALLS.values()), "min/trial",
               "CPU s/epoch", "÷ baseline"]
    rows = [[r["arm"], r["seeds"], *(_spread(r[f"{k}_mean"], r[f"{k}_std"]) for k in RECALLS),
             *(f"{r[f'{k}_delta']:+.1f}" for k in RECALLS), r["minutes"],
             r["epoch_cpu_seconds"], f"{r['epoch_cpu_ratio']:.2f}"] for r in summary]
    return {"title": f"ablation: dev recall (%) at the final epoch ({epochs}), mean ± std over seeds",
            "headers": headers, "rows": rows,
            "note": ("Each arm switches one idea on over the baseline; every trial trains the same epochs. "
                     "Recalls at each trial's final epoch (not its best: that would flatter noisy arms); "
                     "± is the sample standard deviation over seeds; Δ is the arm's mean minus the baseline's; "
                     "min/trial is training plus evaluation per trial, on one CPU; CPU s/epoch is the training loop's "
                     "own CPU time an epoch (training and the epoch's evaluation), whatever else shares the machine.")}


def _spread(mean: float, std: float) -> str:
    return f"{mean:.1f} ± {std:.1f}"


def run_ablation(ablate: AblateConfig, search: SearchConfig, base: ExperimentConfig, data_path: str | Path,
                 out: str | Path, address: str | None = None, echo: Callable[[str], None] = print) -> list[dict]:
    """Run the grid, write ablation.csv (every trial) and ablation.json (the summary), print the table."""
    configs = arm_configs(ablate, base)
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    dashboard = connect(address) or "none"
    data = trial_data(data_path, base, with_grid=any(needs_grid(c) for c in configs.values()))
    echo(f"[ablate] {len(configs)} arms x {ablate.seeds} seeds = {len(configs) * ablate.seeds} trials of "
         f"{ablate.epochs} epochs, {concurrency(search)} at once; dashboard: {dashboard}")
    results = make_grid(ablate, search, base, trainable(data, arm_trial, memory_gb=search.trial_memory_gb), out).fit()
    trials = trial_rows(results)
    trials.to_csv(out / "ablation.csv", index=False)
    summary = summarise_arms(trials, list(configs), ablate.epochs)
    table = arms_table(summary, ablate.epochs)
    (out / "ablation.json").write_text(json.dumps(
        {"ablate": to_dict(ablate), "base": flatten(base), "summary": summary, "table": table,
         "errored": trials.loc[trials["error"] != "", ["arm", "seed", "error"]].to_dict("records")},
        indent=1, default=str))
    echo(format_table(table["headers"], table["rows"], title=table["title"]))
    return summary
