"""Ablations and the search-strategy comparison on a real local Ray and real prepared data."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pandas as pd
import pytest
from ray.tune.schedulers import HyperBandScheduler

from sonovis.cli import main
from sonovis.config import (
    AblateConfig,
    ExperimentConfig,
    ModelConfig,
    SearchConfig,
    TrainConfig,
)
from sonovis.data.shards import load_prepared
from sonovis.errors import ConfigError
from sonovis.search.strategies import account, compare_strategies, strategy_search
from sonovis.search.tuner import make_scheduler
from sonovis.train.checkpoint import read_checkpoint
from sonovis.train.trainer import Trainer
from sonovis.use.report import write_report
from sonovis.use.trials import read_trials

TINY = ["--set", "model.hidden_size=64", "--set", "model.conv_channels=64", "--set", "model.embed_dim=64"]
ARMS = {"baseline": {}, "learnable_temperature": {"model.learnable_temperature": True},
        "crops": {"model.crop_frames": 100}}
BASE = ExperimentConfig(model=ModelConfig(hidden_size=64, conv_channels=64, embed_dim=64), train=TrainConfig())
SPACE = {"train.lr": {"loguniform": [1e-4, 3e-3]}, "model.pooling": {"choice": ["attention", "mean"]}}


def test_ablation_grid_gives_every_arm_and_seed(prepared_builtin: Path, tmp_path: Path, ray_local,
                                                 capsys: pytest.CaptureFixture) -> None:
    arms = "{" + ", ".join(f"{name} = {{{', '.join(f'{json.dumps(k)} = {json.dumps(v)}' for k, v in o.items())}}}"
                           for name, o in ARMS.items()) + "}"
    code = main(["ablate", "--data", str(prepared_builtin), "--out", str(tmp_path), "--seeds", "3", "--epochs", "1",
                 *TINY, "--set", f"ablate.arms={arms}"])
    assert code == 0
    trials = pd.read_csv(tmp_path / "ablation.csv", keep_default_na=False)
    assert sorted(zip(trials["arm"], trials["seed"])) == sorted(itertools.product(ARMS, [0, 1, 2]))
    assert (trials["epochs"] == 1).all() and (trials["error"] == "").all() and trials["trial_id"].is_unique
    saved = json.loads((tmp_path / "ablation.json").read_text())
    summary = {row["arm"]: row for row in saved["summary"]}
    assert list(summary) == list(ARMS) and all(row["seeds"] == 3 for row in summary.values())
    for arm, row in summary.items():  # the summary is the mean and spread of exactly that arm's trials
        mine = trials[trials["arm"] == arm]
        assert row["s2i_r10_mean"] == pytest.approx(mine["s2i_r10"].mean())
        assert row["i2s_r1_std"] == pytest.approx(mine["i2s_r1"].std(ddof=1))
        assert row["s2i_r1_delta"] == pytest.approx(mine["s2i_r1"].mean() - summary["baseline"]["s2i_r1_mean"])
    assert summary["baseline"]["i2s_r10_delta"] == 0.0
    for arm, row in summary.items():  # an arm's cost: its trials' CPU an epoch, against the baseline's
        assert row["epoch_cpu_seconds"] == pytest.approx(trials[trials["arm"] == arm]["epoch_cpu_seconds"].mean())
        assert row["epoch_cpu_ratio"] == pytest.approx(row["epoch_cpu_seconds"] / summary["baseline"]["epoch_cpu_seconds"])
    assert summary["baseline"]["epoch_cpu_ratio"] == 1.0
    assert [r[0] for r in saved["table"]["rows"]] == list(ARMS) and saved["table"]["title"] in capsys.readouterr().out
    for folder in (tmp_path / "ablation").glob("trial_*"):  # each trial trained with its arm's overrides and seed
        params = json.loads((folder / "params.json").read_text())
        cfg = read_checkpoint(next(folder.glob("checkpoint_*")))["config"]
        assert cfg["train"]["seed"] == params["train.seed"] and cfg["train"]["epochs"] == 1
        assert cfg["model"]["learnable_temperature"] == (params["arm"]["name"] == "learnable_temperature")
        assert cfg["model"]["crop_frames"] == (100 if params["arm"]["name"] == "crops" else 0)
        progress = pd.read_csv(folder / "progress.csv")  # its CPU an epoch is what its epochs reported
        trial = trials[trials["trial_id"] == progress["trial_id"].iloc[0]]
        assert trial["epoch_cpu_seconds"].item() == pytest.approx(progress["cpu_seconds"].mean())
        assert progress["cpu_seconds"].min() > 0
    page = write_report(tmp_path).read_text()
    assert 'id="ablation"' in page and "learnable_temperature" in page and 'id="leaderboard"' not in page


def test_accounting_counts_reports_in_wall_clock_order() -> None:
    reports = pd.DataFrame([  # two concurrent trials, interleaved in time, given out of order
        {"trial_id": "b", "training_iteration": 2, "wall_time": 4.0, "s2i_r10": 8.0, "search_recall": 5.0},
        {"trial_id": "a", "training_iteration": 1, "wall_time": 1.0, "s2i_r10": 1.0, "search_recall": 1.0},
        {"trial_id": "a", "training_iteration": 3, "wall_time": 5.0, "s2i_r10": 9.0, "search_recall": 6.0},
        {"trial_id": "b", "training_iteration": 1, "wall_time": 2.0, "s2i_r10": 3.0, "search_recall": 2.0},
        {"trial_id": "a", "training_iteration": 2, "wall_time": 3.0, "s2i_r10": 2.0, "search_recall": 3.0},
    ])
    reached = account(reports, "s2i_r10", 8.0, max_epochs=3)
    assert reached == {"trials": 2, "stopped_early": 1, "trial_epochs": 5, "to_target": 4,
                       "best_s2i_r10": 9.0, "best_search_recall": 6.0}
    assert account(reports, "s2i_r10", 2.5, max_epochs=3)["to_target"] == 2  # b's first epoch came second
    assert account(reports, "s2i_r10", 9.5, max_epochs=3)["to_target"] is None


@pytest.mark.parametrize("strategies", [("tpe+asha", "random+fifo"),  # one with early stopping, one without
                                        pytest.param(AblateConfig().strategies, marks=pytest.mark.slow)])
def test_strategy_comparison_accounts_trial_epochs_of_the_trials(strategies: tuple[str, ...], prepared_builtin: Path,
                                                                 tmp_path: Path, ray_local) -> None:
    search = SearchConfig(trials=3, max_epochs=2, grace_period=1, reduction_factor=2, startup_trials=1, space=SPACE)
    ablate = AblateConfig(strategies=strategies, target_metric="s2i_r10", target=40.0)  # chance R@10 (30 images): 33
    lines: list[str] = []
    rows = {r["strategy"]: r for r in compare_strategies(ablate, search, BASE, prepared_builtin, tmp_path,
                                                         echo=lines.append)}
    assert list(rows) == list(ablate.strategies)
    for strategy, row in rows.items():
        runs = tmp_path / "strategies" / strategy.replace("+", "-")
        trials = pd.read_csv(runs / "trials.csv")  # each trial's last report, as the search summarised it
        assert row["trials"] == len(trials) == 3
        assert row["trial_epochs"] == trials["training_iteration"].sum()
        assert row["stopped_early"] == trials["stopped_early"].sum()
        if strategy.endswith("fifo"):
            assert row["trial_epochs"] == 3 * 2 and row["stopped_early"] == 0
        # Recount from the files every trial wrote: epochs reported no later than the first report on target.
        history = pd.concat([t.history for t in read_trials(runs / "search")])
        assert len(history) == row["trial_epochs"] and row["best_s2i_r10"] == history["s2i_r10"].max()
        on_target = history[history["s2i_r10"] >= ablate.target]
        expected = (history["wall_time"] <= on_target["wall_time"].min()).sum() if len(on_target) else None
        assert row["to_target"] == expected
    reference = rows["random+fifo"]  # every strategy measured against random search without early stopping
    assert reference["to_reference"] <= reference["trial_epochs"]  # it reaches its own best, at the latest last
    for row in rows.values():
        if row["to_reference"] is not None:
            assert row["share_of_reference"] == pytest.approx(row["to_reference"] / reference["trial_epochs"])
    saved = json.loads((tmp_path / "strategies.json").read_text())
    assert [r[0] for r in saved["table"]["rows"]] == list(ablate.strategies)
    assert any(saved["table"]["title"] in line for line in lines)  # the table was printed


def test_ablate_refuses_a_bad_setup_before_any_work(prepared_builtin: Path, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture) -> None:
    common = ["ablate", "--data", str(prepared_builtin), "--out", str(tmp_path / "out")]
    assert main([*common, "--set", 'ablate.arms={cmd = {"model.cmd_weight" = 0.5}}']) == 2
    assert main([*common, "--set", 'ablate.arms={baseline = {}, long = {"train.epochs" = 9}}']) == 2
    assert main([*common, "--strategies", "--set", 'ablate.strategies=["tpe+bohb"]']) == 2
    # only sonovis' own lines: a Ray worker left by an earlier test may print to this process' stderr too
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("sonovis ablate:")]
    assert len(errors) == 3
    assert "needs a 'baseline' arm" in errors[0] and "['train.epochs']" in errors[1] and "tpe+bohb" in errors[2]
    assert not (tmp_path / "out").exists()


def test_hyperband_is_a_strategy_and_unknown_schedulers_are_refused() -> None:
    search = strategy_search(SearchConfig(max_epochs=9, reduction_factor=3), "tpe+hyperband")
    scheduler = make_scheduler(search)
    assert isinstance(scheduler, HyperBandScheduler)
    # brackets of max_t 9 and eta 3: the most aggressive starts 9 trials at 1 epoch, the safest 3 at 9
    assert scheduler._s_max_1 == 3 and scheduler._get_n0(2) == 9 and scheduler._get_r0(2) == 1
    assert scheduler._get_r0(0) == 9
    with pytest.raises(ConfigError, match=r"search.scheduler = 'bohb'"):
        make_scheduler(SearchConfig(scheduler="bohb"))


def test_limit_images_trains_on_every_caption_of_the_first_images_only(prepared_builtin: Path) -> None:
    data = load_prepared(prepared_builtin)
    trainer = Trainer(ExperimentConfig(model=BASE.model, train=TrainConfig(limit_images=20)), data)
    images = data.splits["train"].image_of_utterance[trainer.train_rows]
    assert sorted(set(images)) == list(range(20)) and len(images) == 20 * 5  # the built-in corpus: 5 captions each
    assert len(data.splits["train"].utterance_ids) == 150 * 5 and len(data.splits["dev"].utterance_ids) == 30 * 5
