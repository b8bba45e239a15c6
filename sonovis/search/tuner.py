"""``sonovis tune``: an OptunaSearch (TPE) + ASHA search of single-CPU trials with Ray Tune.

The trainable only glues library calls together: flat config -> dataclasses ->
``train.fit`` -> ``tune.report`` with a checkpoint every epoch. The prepared data
reaches trials through ``tune.with_parameters``, so each node holds one copy in its
object store however many trials it runs.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import optuna
import pandas as pd
import ray
from ray import tune
from ray.tune.experiment import Trial
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, HyperBandScheduler, TrialScheduler

from sonovis.config import ExperimentConfig, SearchConfig, experiment_from_flat, flatten
from sonovis.data.shards import Prepared, load_prepared
from sonovis.errors import ConfigError
from sonovis.runtime import cluster_cpus, connect
from sonovis.search import EXPERIMENT, STUDY_FILE
from sonovis.search.clock import (BUDGET_SPENT, CPU_MINUTES, budget, budget_spent, check_clock, completed, rungs,
                                  stop_rule)
from sonovis.search.searcher import PrunedAwareOptunaSearch
from sonovis.search.starting_points import starting_points
from sonovis.table import format_table
from sonovis.train.checkpoint import read_checkpoint
from sonovis.train.metrics import SEARCH_METRIC
from sonovis.train.trainer import fit, needs_grid

# Tune's console is TrialLog's line per trial and the summary's table. Ray's newer output engine prints its
# own header box and a TensorBoard hint even at verbose=0; the older one, which this selects, prints nothing
# there. Tune reads it whenever a Tuner runs (a restored one too, which no RunConfig of ours reaches); a user
# who sets RAY_AIR_NEW_OUTPUT=1 keeps Tune's own output.
os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")

CLOCK_FILE = "clock.json"  # beside model.pt in a trial's checkpoint: the CPU minutes it had spent
DOMAINS = {"loguniform": tune.loguniform, "uniform": tune.uniform, "randint": tune.randint}


def param_space(search: SearchConfig, base: ExperimentConfig) -> dict[str, Any]:
    """The base config, flat, with the searched keys replaced by Tune domains."""
    space = flatten(base)
    space["train.epochs"] = search.max_epochs
    for key, spec in search.space.items():
        if key not in space:
            raise ConfigError(f"search.space: {key!r} is not a config field; fields: {sorted(space)}")
        if len(spec) != 1:
            raise ConfigError(f"search.space.{key}: give one of choice/{'/'.join(DOMAINS)}, got {spec}")
        (kind, args), = spec.items()
        if kind == "choice":  # Optuna's categories must be scalars: lists travel as "a,b" strings
            space[key] = tune.choice([",".join(a) if isinstance(a, list) else a for a in args])
        elif kind in DOMAINS:
            space[key] = DOMAINS[kind](*args)
        else:
            raise ConfigError(f"search.space.{key}: unknown kind {kind!r}")
    return space


def train_trial(config: dict[str, Any], data: Prepared, cpu_budget: float = 0.0) -> None:
    """One Tune trial: train, and report dev recall plus a checkpoint every epoch; with a ``cpu_budget``
    (minutes; search.clock = "cpu_minutes") the trial ends before an epoch that would overrun it."""
    logging.getLogger("ray.train").setLevel(logging.WARNING)  # not a line per checkpoint in the driver's log
    sys.unraisablehook = quiet_stop
    cfg = experiment_from_flat(config)
    resume = None
    spent, longest = 0.0, 0.0  # CPU minutes so far (kept with each checkpoint) and of the dearest epoch
    if checkpoint := tune.get_checkpoint():
        with checkpoint.as_directory() as folder:
            resume = read_checkpoint(Path(folder) / "model.pt")
            if (Path(folder) / CLOCK_FILE).is_file():  # a checkpoint written before the CPU clock has none
                spent = json.loads((Path(folder) / CLOCK_FILE).read_text())[CPU_MINUTES]
    where = {"node_id": ray.get_runtime_context().get_node_id(), "hostname": socket.gethostname(),
             "resumed_from_epoch": resume["epoch"] if resume else 0}  # >0: restarted after a failure
    for result in fit(cfg, data, resume):  # wall_time: orders concurrent trials' epochs (Tune's timestamp is whole s)
        spent += result.metrics["cpu_seconds"] / 60
        longest = max(longest, result.metrics["cpu_seconds"] / 60)  # after a resume: of the epochs since
        last = budget_spent(spent, longest, cpu_budget)
        with tempfile.TemporaryDirectory() as folder:
            result.trainer.save(Path(folder) / "model.pt")
            (Path(folder) / CLOCK_FILE).write_text(json.dumps({CPU_MINUTES: spent}))
            tune.report({**result.metrics, "epoch": result.epoch, CPU_MINUTES: spent, BUDGET_SPENT: float(last),
                         "wall_time": time.time(), **where}, checkpoint=tune.Checkpoint.from_directory(folder))
        if last:
            return


def quiet_stop(unraisable: Any) -> None:
    """A trial's process hook for exceptions Python cannot raise: silent for the ``SystemExit`` of a stop.

    Tune ends a trial that the scheduler stopped by signalling its process, and Ray's handler raises
    ``SystemExit`` wherever the trial is. Inside a weakref callback Python cannot raise it and prints
    it with a traceback instead, which reached the driver's console as an error. The stop was asked
    for; anything else is printed as before.
    """
    if not isinstance(unraisable.exc_value, SystemExit):
        sys.__unraisablehook__(unraisable)


class TrialLog(tune.Callback):
    """One line per finished trial, so a long search shows where it is without Tune's full tables."""

    def __init__(self, total: int, max_epochs: int, scheduler: str = "fifo", max_cpu_minutes: float = 0.0):
        # no callables kept: Tune pickles callbacks
        self.total, self.max_epochs, self.scheduler, self.t0 = total, max_epochs, scheduler, time.time()
        self.max_cpu_minutes = max_cpu_minutes

    def on_trial_complete(self, iteration: int, trials: list[Trial], trial: Trial, **info: Any) -> None:
        # counted from Tune's trials, not kept here: after --resume the trials finished before count too
        done = 1 + sum(t.status in (Trial.TERMINATED, Trial.ERROR) for t in trials if t is not trial)
        last = trial.last_result or {}
        epochs = last.get("training_iteration", 0)
        how = ("finished" if completed(last, self.max_epochs, self.max_cpu_minutes)
               else f"stopped by {self.scheduler.upper()} after epoch {epochs}")
        print(f"[tune] trial {done}/{self.total} {trial.trial_id} {how}: "
                  f"{SEARCH_METRIC} {last.get(SEARCH_METRIC, float('nan')):.1f}, "
                  f"s2i R@10 {last.get('s2i_r10', float('nan')):.1f}  ({time.time() - self.t0:.0f}s)", flush=True)


def make_tuner(search: SearchConfig, base: ExperimentConfig, trial: Any, runs: Path,
               first: list[dict[str, Any]] = ()) -> tune.Tuner:
    """The search's Tuner; ``trial`` comes from ``trainable``, built once so the data enters the object store once;
    the points in ``first`` (a warm start) run before the sampler proposes any."""
    return tune.Tuner(
        trial,
        param_space=param_space(search, base),
        tune_config=tune_config(search, search_alg=make_searcher(search, f"sqlite:///{runs / STUDY_FILE}", first),
                                scheduler=make_scheduler(search), num_samples=search.trials),
        run_config=run_config(search, runs, EXPERIMENT, TrialLog(search.trials, search.max_epochs, search.scheduler,
                                                                 budget(search))),
    )


SAMPLERS: dict[str, Callable[[SearchConfig], optuna.samplers.BaseSampler]] = {
    "tpe": lambda s: optuna.samplers.TPESampler(seed=s.seed, n_startup_trials=s.startup_trials),
    "random": lambda s: optuna.samplers.RandomSampler(seed=s.seed),
}
# Ray's synchronous HyperBand halves a rung among the bracket's trials that exist, and Tune asks the searcher for
# trials only as the concurrency limit allows: measured on 2 CPUs, 10 trials of up to 4 epochs, none stopped
# (docs/results/strategies.md). Raising the limit would run two at once, which its bookkeeping does not expect.
HYPERBAND_AT_ONCE = ("[tune] warning: search.scheduler = \"hyperband\" with {n} trials at once: Ray's synchronous "
                     "HyperBand halves each rung among the {n} trials Tune has asked for, so it may stop none; "
                     "\"asha\" stops trials without waiting for a rung to fill")
SCHEDULERS: dict[str, Callable[[SearchConfig], TrialScheduler]] = {
    "asha": lambda s: ASHAScheduler(**rungs(s), reduction_factor=s.reduction_factor),  # in epochs or CPU minutes
    "fifo": lambda s: FIFOScheduler(),  # no early stopping
    # Synchronous HyperBand: brackets of several grace periods, trials paused (checkpointed) at each
    # rung until the rung is full; grace_period does not apply (each bracket sets its own).
    "hyperband": lambda s: HyperBandScheduler(time_attr="training_iteration", max_t=s.max_epochs,
                                              reduction_factor=s.reduction_factor),
}


def make_searcher(search: SearchConfig, storage: str | None = None,
                  first: list[dict[str, Any]] = ()) -> PrunedAwareOptunaSearch:
    """``search.searcher``'s sampler behind Tune; the study in ``storage`` (an SQLite URL: optuna-dashboard
    reads it, and it outlives the driver) or in memory when None."""
    if search.searcher not in SAMPLERS:
        raise ConfigError(f"search.searcher = {search.searcher!r}: expected one of {', '.join(SAMPLERS)}")
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # not a line per study and trial between TrialLog's
    return PrunedAwareOptunaSearch(
        sampler=SAMPLERS[search.searcher](search), seed=search.seed, max_epochs=search.max_epochs,
        max_cpu_minutes=budget(search),
        study_name=EXPERIMENT, points_to_evaluate=list(first) or None,
        storage=optuna.storages.RDBStorage(storage) if storage else None,
    )


def warn_hyperband_at_once(search: SearchConfig, echo: Callable[[str], None]) -> None:
    """Say so before a search whose HyperBand may stop nothing (HYPERBAND_AT_ONCE): searches and comparisons alike."""
    if search.scheduler == "hyperband" and (at_once := concurrency(search)) > 1:
        echo(HYPERBAND_AT_ONCE.format(n=at_once))


def make_scheduler(search: SearchConfig) -> TrialScheduler:
    """``search.scheduler``: what stops (or pauses) trials early."""
    if search.scheduler not in SCHEDULERS:
        raise ConfigError(f"search.scheduler = {search.scheduler!r}: expected one of {', '.join(SCHEDULERS)}")
    check_clock(search)
    return SCHEDULERS[search.scheduler](search)


def tune_config(search: SearchConfig, **kwargs: Any) -> tune.TuneConfig:
    """The one place the metric and its mode are declared, for searches and ablation grids alike.

    Every trial starts in a fresh process. Reusing a finished trial's (``reuse_actors``) saved 1.3-3.3 s a
    trial, but a process that ran four trials in a row peaked at 0.85 GiB of unique memory against 0.65 for
    fresh ones, over issue #25's 0.7 (docs/results/speed.md).
    """
    return tune.TuneConfig(metric=SEARCH_METRIC, mode="max", max_concurrent_trials=concurrency(search),
                           trial_dirname_creator=trial_folder, **kwargs)


def run_config(search: SearchConfig, runs: Path, name: str, log: tune.Callback) -> tune.RunConfig:
    """Where Tune writes experiment ``name``, which checkpoints it keeps and how often a trial may fail;
    Tune's console output off (``verbose=0``, with the output engine chosen at the top of this module)."""
    return tune.RunConfig(
        name=name, storage_path=search.storage_path or str(runs), verbose=0,
        checkpoint_config=tune.CheckpointConfig(num_to_keep=search.keep_checkpoints,
                                                checkpoint_score_attribute=SEARCH_METRIC,
                                                checkpoint_score_order="max"),
        failure_config=tune.FailureConfig(max_failures=search.max_failures),
        callbacks=[log], stop=stop_rule(search),
    )


def concurrency(search: SearchConfig) -> int:
    """Trials at once: one per CPU of the cluster, less the CPUs kept free."""
    return max(1, cluster_cpus() - search.reserved_cpus)


def trial_folder(trial: Any) -> str:
    """Short trial folder names: Tune's default spells out every parameter and overflows paths."""
    return f"trial_{trial.trial_id}"


def trainable(data: Prepared, run: Callable[..., None] = train_trial, memory_gb: float = 0.0,
              cpu_budget: float = 0.0) -> Any:
    """``run(config, data)`` as a one-CPU Tune trainable, the data shared through the object store.

    ``memory_gb`` (search.trial_memory_gb) is reserved per trial, so Ray packs trials by what
    each node offers and never places one on a node with less memory than that. A ``cpu_budget``
    (``clock.budget``) reaches ``run`` as its keyword, for trials that keep to one.
    """
    resources = {"cpu": 1, "memory": int(memory_gb * 2**30)} if memory_gb > 0 else {"cpu": 1}
    extra = {"cpu_budget": cpu_budget} if cpu_budget else {}
    return tune.with_resources(tune.with_parameters(run, data=data, **extra), resources)


def trial_data(data_path: str | Path, base: ExperimentConfig, with_grid: bool) -> Prepared:
    """What trials read: the train split and the split they are scored on (the image grid only for CMD)."""
    return load_prepared(data_path, splits=("train", base.train.eval_split), with_grid=with_grid)


@dataclass
class SearchOutcome:
    best_config: dict[str, Any]
    best_metrics: dict[str, float]
    best_checkpoint: str  # a copy under the runs folder, kept whatever Tune prunes later
    trials: int
    stopped_early: int
    table_path: str


def run_search(search: SearchConfig, base: ExperimentConfig, data_path: str | Path, runs: str | Path,
               resume: bool = False, address: str | None = None,
               echo: Callable[[str], None] = print) -> SearchOutcome:
    runs = Path(runs).resolve()
    runs.mkdir(parents=True, exist_ok=True)
    dashboard = connect(address) or "none"
    data = trial_data(data_path, base, with_grid=searches_grid(search, base))
    trial = trainable(data, memory_gb=search.trial_memory_gb, cpu_budget=budget(search))
    experiment = f"{(search.storage_path or str(runs)).rstrip('/')}/{EXPERIMENT}"
    if resume and tune.Tuner.can_restore(experiment):
        echo(f"[tune] resuming {experiment}")
        tuner = tune.Tuner.restore(experiment, trainable=trial, resume_errored=True)
    else:
        if resume:
            echo(f"[tune] nothing to resume at {experiment}; starting a new search")
        first = starting_points(search, param_space(search, base), flatten(base), EXPERIMENT, echo)
        tuner = make_tuner(search, base, trial, runs, first)
    spend = f" or {search.max_cpu_minutes:g} CPU-min" if budget(search) else ""
    echo(f"[tune] {search.trials} trials, up to {search.max_epochs} epochs{spend} each, "
         f"{concurrency(search)} at once; dashboard: {dashboard}")
    warn_hyperband_at_once(search, echo)
    results = tuner.fit()
    return summarise(results, search, runs, echo)


def searches_grid(search: SearchConfig, base: ExperimentConfig) -> bool:
    """Whether some trial may train with CMD, so the image grid must be loaded."""
    return needs_grid(base) or "model.cmd_weight" in search.space


def learning_curves(results: tune.ResultGrid) -> pd.DataFrame:
    """Every epoch every trial reported (dev metrics, wall and CPU seconds) beside its flat config:
    the record that strategy comparisons by replay are built from."""
    frames = []
    for result in results:
        if result.metrics_dataframe is None or result.metrics_dataframe.empty:
            continue
        config = {f"config/{k}": v if isinstance(v, (int, float, str, bool)) else json.dumps(v)
                  for k, v in result.config.items()}  # a list would be read as one value per row
        frames.append(result.metrics_dataframe.assign(**config))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def summarise(results: tune.ResultGrid, search: SearchConfig, runs: Path, echo: Callable[[str], None]) -> SearchOutcome:
    last = results.get_dataframe()  # each trial's last report: how far it got
    best_of = results.get_dataframe(filter_metric=SEARCH_METRIC, filter_mode="max")
    table = last.merge(best_of[["trial_id", SEARCH_METRIC, "training_iteration"]].rename(
        columns={SEARCH_METRIC: f"best_{SEARCH_METRIC}", "training_iteration": "best_epoch"}), on="trial_id")
    table["stopped_early"] = [not completed(row, search.max_epochs, budget(search)) for row in table.to_dict("records")]
    table = table.sort_values(f"best_{SEARCH_METRIC}", ascending=False)
    table.to_csv(runs / "trials.csv", index=False)
    learning_curves(results).to_csv(runs / "curves.csv", index=False)
    best = results.get_best_result(metric=SEARCH_METRIC, mode="max", scope="all")
    checkpoint = best.get_best_checkpoint(SEARCH_METRIC, "max")
    best_dir = runs / "best"
    if best_dir.exists():
        shutil.rmtree(best_dir)
    with checkpoint.as_directory() as folder:
        shutil.copytree(folder, best_dir)
    best_epoch = max(best.metrics_dataframe.to_dict("records"), key=lambda r: r[SEARCH_METRIC])
    outcome = SearchOutcome(
        best_config=flatten(experiment_from_flat(best.config)),
        best_metrics={k: v for k, v in best_epoch.items() if isinstance(v, (int, float))},
        best_checkpoint=str(best_dir / "model.pt"), trials=len(table),
        stopped_early=int(table["stopped_early"].sum()), table_path=str(runs / "trials.csv"),
    )
    (runs / "best.json").write_text(json.dumps(outcome.__dict__, indent=1, default=str))
    errored = sum(1 for r in results if r.error)
    echo(format_table(
        ["trials", "finished", f"stopped by {search.scheduler.upper()}", "errored", "best " + SEARCH_METRIC,
         "best s2i R@10"],
        [[len(table), len(table) - outcome.stopped_early - errored, outcome.stopped_early, errored,
          outcome.best_metrics.get(SEARCH_METRIC, 0.0), outcome.best_metrics.get("s2i_r10", 0.0)]],
        title="search"))
    return outcome
