"""Where a search begins: an earlier study's best configurations, then the hand-set base one.

A search on the full data is dear; one on a subset, or an earlier run, has already told which
corners of the space pay. Its best trials' parameters are queued to run first (Optuna's
``enqueue_trial`` through OptunaSearch's ``points_to_evaluate``), so the new search starts from
them and TPE learns from their results *on this data*. Their old scores are not handed over as
results: a score on a subset or on other voices is not one on this data, and would mislead TPE.

The base configuration (``recipe.toml``'s, or whatever ``--config``/``--set`` give) is queued
next, so every search measures the hand-set recipe it was asked to beat, on its own data and
budget, and its best is never the sampler's luck against an unmeasured reference.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Iterable

import optuna

from sonovis.errors import InputError

STUDY_FILE = "optuna.db"


def study_path(path: str | Path) -> Path:
    """An ``optuna.db`` itself, or the search folder (``sonovis tune --out``) that holds one."""
    path = Path(path)
    found = path / STUDY_FILE if path.is_dir() else path
    if not found.is_file():
        raise InputError(f"{path}: no Optuna study here (expected {STUDY_FILE} or a search folder holding one)")
    return found


def best_points(path: str | Path, study_name: str, space: dict[str, Any], count: int) -> list[dict[str, Any]]:
    """The ``count`` best finished trials of an earlier study, as points in this search's ``space``.

    Only the parameters this search still varies are kept (a dropped one takes its base value); a
    value the space can no longer take, e.g. a removed choice, leaves that point out.
    """
    db = study_path(path)
    try:
        study = optuna.load_study(study_name=study_name, storage=f"sqlite:///{db}")
    except (KeyError, ValueError, RuntimeError, optuna.exceptions.OptunaError) as err:
        raise InputError(f"{db}: not a sonovis search study ({type(err).__name__}: {str(err)[:120]})") from None
    finished = [t for t in study.get_trials(deepcopy=False, states=[optuna.trial.TrialState.COMPLETE])
                if t.value is not None and math.isfinite(t.value)]
    points: list[dict[str, Any]] = []
    for trial in sorted(finished, key=lambda t: t.value, reverse=True):
        point = {key: value for key, value in trial.params.items() if key in space}
        if point and all(_admits(space[key], value) for key, value in point.items()) and point not in points:
            points.append(point)
        if len(points) == count:
            break
    return points


def base_point(base: dict[str, Any], space: dict[str, Any], searched: Iterable[str]) -> dict[str, Any] | None:
    """The flat ``base`` configuration's value of every ``searched`` key, as a point in ``space``, or None
    when the space cannot take one of them (a hand-set value outside the searched range)."""
    point = {key: ",".join(base[key]) if isinstance(base[key], (list, tuple)) else base[key] for key in searched}
    return point if all(_admits(space[key], value) for key, value in point.items()) else None


def _admits(domain: Any, value: Any) -> bool:
    """Whether a Tune domain (choice, loguniform, uniform, randint) can produce ``value``."""
    categories = getattr(domain, "categories", None)
    if categories is not None:
        return value in categories
    lower, upper = getattr(domain, "lower", None), getattr(domain, "upper", None)
    return lower is not None and lower <= value <= upper
