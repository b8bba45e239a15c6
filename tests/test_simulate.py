"""The strategy simulator replays only recorded curves, through the real searchers and schedulers."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

import simulate  # noqa: E402
from curves import OUT as CURVES, gather  # noqa: E402
from ray import cloudpickle  # noqa: E402
from simulate import base_config, nearest, recorded, run_strategy, space, spent  # noqa: E402

from sonovis.config import SearchConfig  # noqa: E402

PAIRED = "/work/prepared/paired"  # the richest data folder of the recorded table


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return pd.read_csv(CURVES)


def test_the_curves_table_is_every_recorded_result_read_afresh(table: pd.DataFrame) -> None:
    """benchmarks/curves.py reads every result file (a new kind of file must not break it), and the committed
    table is what it gives: the simulator replays the record, not an older copy. (A local runs/ folder may add
    rows of its own; only the results' rows are compared.)"""
    fresh = gather()
    fresh = fresh[fresh["source"].str.startswith("benchmarks/")]
    key = ["source", "run", "epoch"]
    assert sorted(map(tuple, fresh[key].astype(str).values)) == sorted(map(tuple, table[key].astype(str).values))


def test_recorded_keeps_runs_long_enough_and_one_curve_per_seed(table: pd.DataFrame) -> None:
    rec = recorded(table, PAIRED, max_epochs=5)
    # the voice measures' runs vary four dimensions; the searched shape with the weight average (one seed reached
    # 5 epochs) adds seven more, and the same with an LSTM in bf16 (one seed too) two, each with two recorded values;
    # that LSTM at batch 32 (three seeds of 7 epochs) is one configuration more in the same dimensions
    searched = {"model.pairs", "model.pooling", "model.embed_dim", "model.dropout", "train.batch_size", "train.lr",
                "train.weight_decay", "model.rnn", "train.precision"}
    assert set(rec.dims) == {"model.n_cepstra", "augment.vtlp", "train.ema_decay", "model.voice_adversary_weight",
                             *searched}
    assert len(rec.values) == len(set(rec.values)) == 14
    assert all(len(space(rec)[d]["choice"]) == 2 for d in searched)
    for curves, labels in zip(rec.curves, rec.labels):
        assert all([row["epoch"] for row in c] == [1, 2, 3, 4, 5] for c in curves)
        assert len(set(labels)) == len(labels)
    # every replicate is a different curve: the same seed twice (a rerun, a longer budget) is kept once
    for curves in rec.curves:
        finals = [c[-1]["mean_recall"] for c in curves]
        assert len(set(finals)) == len(finals)
    assert space(rec)["model.n_cepstra"] == {"choice": [0, 13, 20, 3, 5, 8]}


def test_nearest_finds_a_recorded_configuration_itself_and_reads_0_cepstra_as_all(table: pd.DataFrame) -> None:
    rec = recorded(table, PAIRED, max_epochs=5)
    rng = np.random.default_rng(0)
    for i, values in enumerate(rec.values):
        assert nearest(rec, dict(zip(rec.dims, values)), rng) == i
    # all 40 coefficients (0) lie next to 20, not next to 3: n_cepstra = 0 means every prepared one
    base = base_config(table, PAIRED)
    plain = {**{d: base[d] for d in rec.dims}, "augment.vtlp": 0.0, "model.voice_adversary_weight": 0.0,
             "train.ema_decay": 0.0}
    found = rec.values[nearest(rec, {**plain, "model.n_cepstra": 0}, rng)]
    assert dict(zip(rec.dims, found))["model.n_cepstra"] == 0
    assert rec.scale["model.n_cepstra"] == (3, 40, False)


def test_spent_counts_simulated_minutes_until_the_best_so_far_reaches_the_target() -> None:
    reports = pd.DataFrame({"trial_id": ["a", "a", "b", "b", "c"], "training_iteration": [1, 2, 1, 2, 1],
                            "mean_recall": [5.0, 9.0, 7.0, 12.0, 11.0], "sim_cpu_min": [3.0, 3.0, 4.0, 4.0, 2.0],
                            "recorded": ["x", "x", "y", "y", "x"]})
    assert spent(reports, 12.0) == {"to_target": 14.0, "cpu_min": 16.0, "best": 12.0, "trials": 3,
                                    "trial_epochs": 5, "distinct_curves": 2}
    assert spent(reports, 12.5)["to_target"] is None


def test_replayed_hyperband_search_reports_recorded_curves_and_stops_some(table: pd.DataFrame, ray_local) -> None:
    cloudpickle.register_pickle_by_value(simulate)  # the suite's Ray workers cannot import benchmarks/ by name
    rec = recorded(table, PAIRED, max_epochs=5)
    search = SearchConfig(trials=10, max_epochs=5, reduction_factor=2, space=space(rec), trial_memory_gb=0.0,
                          keep_checkpoints=5)
    reports, _ = run_strategy(search, "tpe+hyperband", 0, rec, base_config(table, PAIRED))
    epochs = reports.groupby("trial_id")["training_iteration"].max()
    assert len(epochs) == 10 and (epochs < 5).any() and (epochs == 5).any()  # HyperBand stopped some, not all
    assert len(reports) == epochs.sum()  # a paused and resumed trial continued, it did not start over
    recorded_values = {round(r["mean_recall"], 6) for curves in rec.curves for c in curves for r in c}
    assert set(reports["mean_recall"].round(6)) <= recorded_values
