"""Every recorded learning curve in one table: the record strategy replays (benchmarks/simulate.py) are built from.

One row per epoch of every recorded run: where it came from, the data it trained on, its whole
configuration as the search's flat keys (``config/model.hidden_size``, ...), the epoch, what that
epoch cost and the dev metrics measured after it. Written to ``benchmarks/results/curves/all.csv``.

What feeds it, and how each file's clock is read (column ``clock``):

* ``benchmarks/results/voices/**/*.json`` (benchmarks/voices.py): every arm's per-epoch ``results``;
  the arm's config is the file's ``config`` with the arm's ``augment.*`` overrides. ``cpu_min`` there is
  cumulative *training* CPU (evaluation not counted): clock ``train-cpu``.
* ``benchmarks/results/quality/*.json`` (benchmarks/quality.py): the speech runs' ``epochs``
  (``q2i``/``i2q`` are s2i/i2s); clock ``train-cpu``. The text-ceiling run is left out: its speech
  encoder never trains, so it is no trial of the speech search.
* ``benchmarks/results/ablations/*.json`` + ``.csv`` (sonovis ablate): one row per trial, its final (and
  only recorded) epoch; config = base + arm overrides + seed. Only wall minutes of training plus
  evaluation on one CPU were kept: clock ``wall``.
* ``benchmarks/results/search/*/*.json`` (benchmarks/voices.py retrains of a search's candidates): as voices;
  not a search's ``search.json`` summary nor, here or under voices/, ``rescored*.json`` (saved models scored once,
  benchmarks/rescore.py).
* ``runs/*/curves.csv``, ``runs/*/strategies/*/curves.csv`` and the recorded searches'
  ``benchmarks/results/search/*/curves.csv`` (``sonovis tune`` / ``ablate --strategies``,
  ``tuner.learning_curves``): every epoch of every trial, ``cpu_seconds`` per epoch (training plus
  evaluation): clock ``trial-cpu``. None existed when this table was first built.

``benchmarks/results/strategies/*.json`` hold only each search's summary (best values, trial-epochs),
no per-epoch curve, so they contribute nothing. ``epoch_cpu_min`` is what that one epoch cost on
the row's clock; runs compare only within one ``data`` folder (recalls on different dev sets do not).

    .venv/bin/python benchmarks/curves.py            # rewrite benchmarks/results/curves/all.csv
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Iterator

import pandas as pd

from sonovis.config import apply_overrides, experiment_config, flatten, unflatten
from sonovis.train.metrics import MEAN_RECALL, SEARCH_METRIC, flat_metrics

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
NO_CURVE = ("search.json", "rescored*.json")  # JSON under results/voices/ and search/ with no per-epoch curve
OUT = RESULTS / "curves" / "all.csv"
CONFIG = "config/"  # prefix of the flat config columns, as tuner.learning_curves writes them
RECALLS = [f"{d}_{k}" for d in ("s2i", "i2s") for k in ("r1", "r5", "r10", "medr")]


def flat_config(nested: dict[str, Any], overrides: list[str] = ()) -> dict[str, Any]:
    """A recorded config (perhaps older than today's fields: they take their defaults, which were the old
    behaviour) as ``config/<flat key>`` columns; lists as JSON text so one value sits in one cell."""
    cfg = experiment_config(apply_overrides(json.loads(json.dumps(nested)), list(overrides)))
    return {CONFIG + k: json.dumps(v) if isinstance(v, list) else v for k, v in flatten(cfg).items()}


def with_mean_recall(metrics: dict[str, Any]) -> dict[str, Any]:
    """The mean recall where a file predates it, by the one definition (metrics.flat_metrics)."""
    if MEAN_RECALL in metrics or not all(f"{d}_r{k}" in metrics for d in ("s2i", "i2s") for k in (1, 5, 10)):
        return metrics
    nested = {d: {k.split("_", 1)[1]: metrics[k] for k in metrics if k.startswith(d + "_") and
                  k.split("_", 1)[1] in ("r1", "r5", "r10")} for d in ("s2i", "i2s")}
    return {**metrics, MEAN_RECALL: flat_metrics(nested)[MEAN_RECALL]}


def cumulative_rows(source: str, run: str, data: str, config: dict[str, Any], epochs: list[dict[str, Any]],
                    clock: str) -> Iterator[dict[str, Any]]:
    """Rows of one run whose ``cpu_min`` is cumulative: each epoch's own cost is the difference."""
    previous = 0.0
    for epoch in epochs:
        metrics = {k: v for k, v in epoch.items() if isinstance(v, (int, float)) and k not in ("epoch", "cpu_min")}
        yield {"source": source, "run": run, "data": data, "clock": clock, "epoch": int(epoch["epoch"]),
               "epoch_cpu_min": epoch["cpu_min"] - previous, "cpu_min": epoch["cpu_min"],
               **with_mean_recall(metrics), **config}
        previous = epoch["cpu_min"]


def voices_rows(path: Path) -> Iterator[dict[str, Any]]:
    d = json.loads(path.read_text())
    for arm, epochs in d["results"].items():
        overrides = [f"augment.{item}" for item in d.get("arms", {}).get(arm, [])]
        yield from cumulative_rows(rel(path), arm, d["prepared"], flat_config(d["config"], overrides), epochs, "train-cpu")


def quality_rows(path: Path) -> Iterator[dict[str, Any]]:
    d = json.loads(path.read_text())
    if d["query"] != "speech":
        return
    renamed = [{k.replace("q2i", "s2i").replace("i2q", "i2s"): v for k, v in e.items()} for e in d["epochs"]]
    yield from cumulative_rows(rel(path), "default", d["prepared"], flat_config(d["config"]), renamed, "train-cpu")


def ablation_rows(path: Path) -> Iterator[dict[str, Any]]:
    d = json.loads(path.read_text())
    data = d["provenance"]["command"].split("--data ", 1)[1].split()[0]
    for trial in pd.read_csv(path.with_suffix(".csv")).to_dict("records"):
        if trial["error"] == trial["error"] and trial["error"]:  # errored trials recorded no curve
            continue
        overrides = {**d["ablate"]["arms"][trial["arm"]], "train.seed": trial["seed"]}
        config = flat_config(unflatten({**d["base"], **overrides}))
        metrics = {k: trial[k] for k in trial if k in RECALLS or k == MEAN_RECALL}
        yield {"source": rel(path), "run": f"{trial['arm']}/seed{trial['seed']}", "data": data, "clock": "wall",
               "epoch": int(trial["epochs"]), "epoch_cpu_min": trial["minutes"] / trial["epochs"],
               "cpu_min": trial["minutes"], **metrics, **config}


def search_rows(path: Path) -> Iterator[dict[str, Any]]:
    frame = pd.read_csv(path)
    for trial_id, trial in frame.groupby("trial_id", sort=False):
        trial = trial.sort_values("training_iteration")
        spent = trial["cpu_seconds"].cumsum() / 60
        for (_, row), total in zip(trial.iterrows(), spent):
            config = {k: v for k, v in row.items() if k.startswith(CONFIG)}
            metrics = {k: row[k] for k in row.index if not k.startswith(CONFIG) and
                       (k in RECALLS or k in (MEAN_RECALL, SEARCH_METRIC) or k.startswith(("heldout_", "seen_")))}
            yield {"source": rel(path), "run": trial_id, "data": rel(path.parent), "clock": "trial-cpu",
                   "epoch": int(row["training_iteration"]), "epoch_cpu_min": row["cpu_seconds"] / 60,
                   "cpu_min": total, **metrics, **config}


def rel(path: Path) -> str:
    return str(path.resolve().relative_to(REPO))


def gather() -> pd.DataFrame:
    """Every recorded epoch of every run, one row each (see the module docstring for the sources)."""
    rows: list[dict[str, Any]] = []
    runs = [p for folder in ("voices", "search") for p in (RESULTS / folder).rglob("*.json")
            if not any(p.match(pattern) for pattern in NO_CURVE)]
    for path in sorted(runs):
        rows += voices_rows(path)
    for path in sorted((RESULTS / "quality").glob("*.json")):
        rows += quality_rows(path)
    for path in sorted((RESULTS / "ablations").glob("*.json")):
        rows += ablation_rows(path)
    for path in sorted([*(REPO / "runs").glob("*/curves.csv"), *(REPO / "runs").glob("*/strategies/*/curves.csv"),
                        *(RESULTS / "search").glob("*/curves.csv")]):
        rows += search_rows(path)
    frame = pd.DataFrame(rows)
    first = ["source", "run", "data", "clock", "epoch", "epoch_cpu_min", "cpu_min"]
    config = sorted(c for c in frame.columns if c.startswith(CONFIG))
    metrics = sorted(set(frame.columns) - set(first) - set(config))
    return frame[first + metrics + config]


def main() -> None:
    frame = gather()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(OUT, index=False)
    runs = frame.groupby(["source", "run"]).ngroups
    print(f"wrote {rel(OUT)}: {len(frame)} epochs of {runs} runs from {frame['source'].nunique()} files", file=sys.stderr)


if __name__ == "__main__":
    main()
