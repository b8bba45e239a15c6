"""What a search wrote, read back from files alone: each Tune trial's configuration and epochs, its state,
and the Optuna study. ``sonovis report`` draws the page from these; reading them needs no Ray, so a copy of a
runs folder, or one a search is still writing, reads the same."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import pandas as pd

from sonovis.search import EXPERIMENT
from sonovis.search.clock import completed
from sonovis.train.metrics import SEARCH_METRIC

RUNNING_STATES = {"RUNNING", "PENDING", "PAUSED"}  # Tune's trial states for a trial not yet over


@dataclass
class Trial:
    trial_id: str
    config: dict[str, Any]  # Tune's flat config: {"train.lr": ..., ...}
    history: pd.DataFrame  # one row per reported epoch, as Tune wrote them
    status: str  # finished, stopped early, running or errored

    @property
    def best(self) -> pd.Series:
        return self.history.loc[self.history[SEARCH_METRIC].idxmax()]

    @property
    def node(self) -> str:
        last = self.history.iloc[-1]
        return f"{last.get('hostname', '?')} ({str(last.get('node_id', ''))[:6]})"

    @property
    def span(self) -> tuple[float, float]:
        """Unix seconds the trial started and last reported."""
        first, last = self.history.iloc[0], self.history.iloc[-1]
        return float(first["timestamp"] - first["time_total_s"]), float(last["timestamp"])


def read_trials(search_dir: Path, search_over: bool = True) -> list[Trial]:
    """Every trial that has reported at least one epoch; a half-written last line is skipped."""
    states = _tune_states(search_dir)
    trials = []
    for params in sorted(search_dir.glob("*/params.json")):
        folder, rows = params.parent, []
        for line in (folder / "result.json").read_text().splitlines() if (folder / "result.json").exists() else []:
            try:
                rows.append({k: v for k, v in json.loads(line).items() if k != "config"})
            except json.JSONDecodeError:
                break  # the line Tune is writing right now
        if not rows:
            continue
        config, history = json.loads(params.read_text()), pd.DataFrame(rows)
        trial_id = str(history["trial_id"].iloc[-1])
        state = states.get(trial_id, "")
        if state == "ERROR" or (folder / "error.txt").exists():
            status = "errored"
        elif completed({**rows[-1], "training_iteration": len(rows)}, int(config.get("train.epochs", 0))):
            status = "finished"
        elif state in RUNNING_STATES or (not state and not search_over):
            status = "running"
        else:
            status = "stopped early"
        trials.append(Trial(trial_id, config, history, status))
    return trials


def _tune_states(search_dir: Path) -> dict[str, str]:
    """Trial id -> Tune's status, from its newest experiment state file (JSON); {} if none yet."""
    files = sorted(search_dir.glob("experiment_state-*.json"))
    try:
        entries = json.loads(files[-1].read_text())["trial_data"] if files else []
        return {t["trial_id"]: t["status"] for t in (json.loads(entry[0]) for entry in entries)}
    except (OSError, json.JSONDecodeError, KeyError, TypeError, IndexError):  # another Tune version's layout
        return {}


def read_json(path: Path) -> dict[str, Any] | None:
    """The file's JSON, or None when it is not (yet) there."""
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def load_study(path: Path) -> optuna.Study | None:
    try:
        return optuna.load_study(study_name=EXPERIMENT, storage=f"sqlite:///{path.resolve()}") if path.exists() else None
    except (KeyError, ValueError, RuntimeError):  # no study of that name, or not an Optuna database
        return None


def searched_parameters(trials: list[Trial], study: optuna.Study | None) -> dict[str, str]:
    """Parameter -> axis kind (log | linear | choice): from the study's distributions when there is
    one, else the config keys that differ between trials, judged by their values."""
    kinds: dict[str, str] = {}
    for trial in study.trials if study is not None else []:
        for name, dist in trial.distributions.items():
            kinds[name] = ("choice" if isinstance(dist, optuna.distributions.CategoricalDistribution)
                           else "log" if getattr(dist, "log", False) else "linear")
    if kinds:
        return dict(sorted(kinds.items()))
    for name in sorted({k for t in trials for k in t.config}):
        values = list({json.dumps(t.config.get(name), sort_keys=True): t.config.get(name) for t in trials}.values())
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
        if len(values) > 1:  # a handful of distinct numbers is a choice too (batch size, layers)
            spread = numeric and len(values) > 4 and min(values) > 0 and max(values) / min(values) >= 100
            kinds[name] = "log" if spread else "linear" if numeric and len(values) > 4 else "choice"
    return kinds
