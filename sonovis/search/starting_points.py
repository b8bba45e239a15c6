"""Where a search begins: an earlier study's best configurations, the hand-set base one, a Latin hypercube.

A search on the full data is dear; one on a subset, or an earlier run, has already told which
corners of the space pay. Its best trials' parameters are queued to run first (Optuna's
``enqueue_trial`` through OptunaSearch's ``points_to_evaluate``), so the new search starts from
them and TPE learns from their results *on this data*. Their old scores are not handed over as
results: a score on a subset or on other voices is not one on this data, and would mislead TPE.

The base configuration (``recipe.toml``'s, or whatever ``--config``/``--set`` give) is queued
next, so every search measures the hand-set recipe it was asked to beat, on its own data and
budget, and its best is never the sampler's luck against an unmeasured reference.

The rest of TPE's start-up trials are a Latin hypercube over the space, not independent draws:
every choice of every dimension is tried about equally often and every range is covered in strata.
Ten independent draws can miss an option altogether (a two-way choice with probability 1/512,
some option of some dimension far more often), and a seeded search then misses it every time:
with seed 0, Optuna's first ten draws had VTLP and the weight average off in all ten, in every
Flickr8k search recorded (docs/results/search.md).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import optuna
from ray.tune.search.sample import Categorical, Float, Integer

from sonovis.config import SearchConfig
from sonovis.errors import InputError
from sonovis.search import STUDY_FILE



def starting_points(search: SearchConfig, space: dict[str, Any], base: dict[str, Any], study_name: str,
                    echo: Callable[[str], None]) -> list[dict[str, Any]]:
    """The trials queued before the sampler proposes any, as points in Tune's ``space``: a warm start's best
    (from the study ``study_name``), the flat ``base`` configuration, then (for TPE) a Latin hypercube for the
    rest of its start-up trials."""
    first: list[dict[str, Any]] = []
    if search.warm_start:
        first = best_points(search.warm_start, study_name, space, search.warm_start_trials)
        echo(f"[tune] warm start: the {len(first)} best configurations of {study_path(search.warm_start)} run first")
    if search.base_first and search.space:
        point = base_point(base, space, search.space)
        if point is None:
            echo("[tune] the base configuration lies outside the search space: it is not queued as a trial")
        elif point not in first:
            first.append(point)
    spread = min(search.startup_trials, search.trials) - len(first)
    if search.searcher == "tpe" and search.space and spread > 0:
        first += latin_hypercube(space, search.space, spread, search.seed)
    return first


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


def latin_hypercube(space: dict[str, Any], searched: Iterable[str], count: int, seed: int) -> list[dict[str, Any]]:
    """``count`` points over the ``searched`` keys of ``space``: each choice dealt out in equal shares (to within
    one), each range cut into ``count`` strata with one point in each (log-scaled for loguniform), every
    dimension shuffled on its own."""
    rng = np.random.default_rng(seed)
    columns: dict[str, list[Any]] = {}
    for key in searched:
        domain = space[key]
        if isinstance(domain, Categorical):
            order = rng.permutation(len(domain.categories))  # which choices get the spare shares
            dealt = [domain.categories[order[i % len(order)]] for i in range(count)]
            columns[key] = [dealt[i] for i in rng.permutation(count)]
            continue
        log = isinstance(domain.get_sampler(), Float._LogUniform)
        lower, upper = (math.log(domain.lower), math.log(domain.upper)) if log else (domain.lower, domain.upper)
        values = [lower + u * (upper - lower) for u in ((rng.permutation(count) + rng.random(count)) / count)]
        if isinstance(domain, Integer):  # tune.randint: upper excluded
            columns[key] = [min(int(v), domain.upper - 1) for v in values]
        else:
            columns[key] = [math.exp(v) if log else float(v) for v in values]
    return [{key: column[i] for key, column in columns.items()} for i in range(count)]


def _admits(domain: Any, value: Any) -> bool:
    """Whether a Tune domain (choice, loguniform, uniform, randint) can produce ``value``."""
    categories = getattr(domain, "categories", None)
    if categories is not None:
        return value in categories
    lower, upper = getattr(domain, "lower", None), getattr(domain, "upper", None)
    return lower is not None and lower <= value <= upper
