"""Ray Tune search on a real local Ray: ASHA stops trials, Optuna hears of every one, resume loses none."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
import weakref
from pathlib import Path

import optuna
import pandas as pd
import pytest

from sonovis.config import ExperimentConfig, ModelConfig, SearchConfig, TrainConfig, experiment_from_flat, flatten
from sonovis.config.schema import DEFAULT_SPACE
from sonovis.data.shards import load_prepared
from sonovis.errors import ConfigError, InputError
from sonovis.search import EXPERIMENT
from sonovis.search.tuner import (
    HYPERBAND_AT_ONCE,
    param_space,
    quiet_stop,
    run_search,
)
from sonovis.search.clock import check_clock
from sonovis.search.searcher import ORPHAN_REASON, PrunedAwareOptunaSearch
from sonovis.search.starting_points import base_point, starting_points
from sonovis.train.checkpoint import load_checkpoint
from sonovis.use.trials import read_trials

REPO = Path(__file__).resolve().parents[2]
RAY_CHATTER = ("Configuration for experiment", "TensorBoard", "View detailed results", "A new study created",
               "Traceback")  # Ray's and Optuna's own console lines, which TrialLog's one line per trial replaces
BASE = ExperimentConfig(model=ModelConfig(hidden_size=64, conv_channels=64, embed_dim=64),
                        train=TrainConfig(batch_size=32))
SPACE = {"train.lr": {"loguniform": [1e-4, 3e-3]}, "model.pooling": {"choice": ["attention", "mean"]}}
TUNE_FLAGS = ["--set", "model.hidden_size=64", "--set", "model.conv_channels=64", "--set", "model.embed_dim=64",
              "--set", "search.max_epochs=3", "--set", "search.grace_period=1", "--set", "search.reduction_factor=2",
              "--set", 'search.space={"train.lr" = {loguniform = [1e-4, 3e-3]}}']


def _study(runs: Path) -> optuna.Study:
    return optuna.load_study(study_name=EXPERIMENT, storage=f"sqlite:///{runs / 'optuna.db'}")


def test_search_stops_trials_early_and_optuna_hears_every_one(prepared_builtin: Path, tmp_path: Path,
                                                              ray_local) -> None:
    search = SearchConfig(trials=6, max_epochs=3, grace_period=1, reduction_factor=2, space=SPACE)
    outcome = run_search(search, BASE, prepared_builtin, tmp_path)
    table = pd.read_csv(tmp_path / "trials.csv")
    assert len(table) == 6 and table["trial_id"].is_unique
    curves = pd.read_csv(tmp_path / "curves.csv")  # every epoch of every trial, with its config
    assert len(curves) == table["training_iteration"].sum() and (curves["cpu_seconds"] > 0).all()
    assert curves.groupby("trial_id")["training_iteration"].max().to_dict() == \
        dict(zip(table["trial_id"], table["training_iteration"]))
    assert curves["config/train.lr"].nunique() == 6
    assert outcome.stopped_early >= 1 and (table["training_iteration"] < 3).sum() == outcome.stopped_early
    trials = _study(tmp_path).trials
    assert len(trials) == 6
    pruned = [t for t in trials if t.state == optuna.trial.TrialState.PRUNED]
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(pruned) == outcome.stopped_early and len(pruned) + len(complete) == 6
    for t in pruned:  # told as pruned at its rung, with every epoch it ran as an intermediate value
        assert t.user_attrs["stopped_at_epoch"] < 3 and len(t.intermediate_values) == t.user_attrs["stopped_at_epoch"]
    for t in complete:
        assert sorted(t.intermediate_values) == [1, 2, 3] and t.value == t.intermediate_values[3]
    best = json.loads((tmp_path / "best.json").read_text())
    assert best["best_metrics"]["search_recall"] == pytest.approx(table["best_search_recall"].max())
    data = load_prepared(prepared_builtin)
    scores = load_checkpoint(best["best_checkpoint"], data).evaluate("dev")
    assert scores["mean_recall"] == pytest.approx(best["best_metrics"]["mean_recall"], abs=1e-4)
    assert (tmp_path / EXPERIMENT).is_dir() and list((tmp_path / EXPERIMENT).glob("trial_*/events.out.tfevents*"))


def test_hyperband_with_trials_at_once_says_it_may_stop_none(prepared_builtin: Path, tmp_path: Path,
                                                             ray_local) -> None:
    """Two trials at once on the suite's 2-CPU Ray: the user is told before the search, and the summary counts what
    the scheduler in use stopped, under its own name."""
    said: list[str] = []
    search = SearchConfig(trials=2, max_epochs=2, reduction_factor=2, scheduler="hyperband", space=SPACE)
    outcome = run_search(search, BASE, prepared_builtin, tmp_path, echo=said.append)
    assert HYPERBAND_AT_ONCE.format(n=2) in said
    summary = said[-1]
    assert "stopped by HYPERBAND" in summary and "ASHA" not in summary
    assert outcome.trials == 2 and len(pd.read_csv(tmp_path / "trials.csv")) == 2


def test_killed_driver_resumes_with_every_trial_once(prepared_builtin: Path, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    cmd = [sys.executable, "-m", "sonovis.cli", "tune", "--data", str(prepared_builtin), "--out", str(runs),
           "--trials", "6", *TUNE_FLAGS]
    # neither a cluster address nor this process's choice of Tune's output engine: the CLI makes its own
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAY_AIR_NEW_OUTPUT")}
    proc = subprocess.Popen(cmd, start_new_session=True, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.time() + 400
    while time.time() < deadline and proc.poll() is None:
        progress = list((runs / EXPERIMENT).glob("trial_*/progress.csv")) if (runs / EXPERIMENT).exists() else []
        if len(progress) >= 3:  # trials under way: kill the driver mid-search
            break
        time.sleep(0.5)
    assert proc.poll() is None, proc.stdout.read().decode()[-3000:]
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (runs / "trials.csv").exists()
    resumed = subprocess.run(cmd + ["--resume"], env=env, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert "resuming" in resumed.stdout
    assert "[tune] trial 6/6 " in resumed.stdout  # the count goes on from the trials finished before the kill
    assert not [said for said in RAY_CHATTER if said in resumed.stdout + resumed.stderr], resumed.stdout[-3000:]
    table = pd.read_csv(runs / "trials.csv")
    assert len(table) == 6 and table["trial_id"].is_unique
    trials = _study(runs).trials
    told = [t for t in trials if t.state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)]
    assert len(told) == 6, [t.state for t in trials]
    for t in trials:  # the rest were asked for by the killed driver and never ran: failed, with the reason
        assert t in told or (t.state == optuna.trial.TrialState.FAIL and t.user_attrs["orphaned"] == ORPHAN_REASON)


def test_a_stopped_trials_exit_is_silent_and_other_lost_errors_are_not(monkeypatch, capsys) -> None:
    """Ray's SIGTERM handler raises SystemExit in a trial ASHA stopped; inside a weakref callback Python cannot
    raise it and hands it to ``sys.unraisablehook``, which trials set to ``quiet_stop``."""
    class Held:
        pass

    def dropped_while(error: BaseException) -> str:
        def callback(_: weakref.ref) -> None:
            raise error
        held = Held()
        watch = weakref.ref(held, callback)
        del held  # the callback runs here, and its exception goes to the hook
        assert watch() is None
        return capsys.readouterr().err

    monkeypatch.setattr(sys, "unraisablehook", quiet_stop)
    assert dropped_while(SystemExit(1)) == ""
    assert "ValueError: a real fault" in dropped_while(ValueError("a real fault"))


def test_ray_job_submit_runs_jobs_tune_to_succeeded(prepared_builtin: Path, tmp_path: Path, ray_head) -> None:
    """A real cluster from cluster/start-head.sh on 127.0.0.1 and a real `ray job submit` of jobs/tune.py."""
    url, env = ray_head
    runs = tmp_path / "runs"
    job = subprocess.run(
        [str(Path(sys.executable).parent / "ray"), "job", "submit", "--address", url, "--working-dir", str(REPO),
         "--", "python", "jobs/tune.py", "--data", str(prepared_builtin), "--out", str(runs), "--trials", "2",
         *TUNE_FLAGS],
        env=env, capture_output=True, text=True, timeout=600)
    assert job.returncode == 0 and "succeeded" in job.stdout, job.stdout[-3000:] + job.stderr[-3000:]
    assert len(pd.read_csv(runs / "trials.csv")) == 2


def test_restored_searcher_fails_orphans_and_does_not_retell_finished_trials(tmp_path: Path) -> None:
    """What a driver killed between two searcher saves leaves in the study, made deterministic."""
    def searcher() -> PrunedAwareOptunaSearch:
        return PrunedAwareOptunaSearch(
            space={"train.lr": optuna.distributions.FloatDistribution(1e-4, 1e-2, log=True)}, metric="mean_recall", mode="max", max_epochs=3,
            study_name=EXPERIMENT, storage=optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 'optuna.db'}"),
            sampler=optuna.samplers.TPESampler(seed=0))

    before = searcher()
    before.suggest("a"), before.suggest("b")
    before.save(str(tmp_path / "searcher.pkl"))  # Tune's periodic save
    before.on_trial_complete("a", {"mean_recall": 10.0, "training_iteration": 3})  # after the save
    before.suggest("c")  # asked for, then the driver dies before Tune records trial c
    after = searcher()
    after.restore(str(tmp_path / "searcher.pkl"))
    after.on_trial_complete("a", {"mean_recall": 10.0, "training_iteration": 3})  # Tune reruns a: no second tell
    after.on_trial_complete("b", {"mean_recall": 5.0, "training_iteration": 1})
    states = {t.number: (t.state.name, t.user_attrs.get("orphaned")) for t in _study(tmp_path).trials}
    assert states == {0: ("COMPLETE", None), 1: ("PRUNED", None), 2: ("FAIL", ORPHAN_REASON)}


def test_warm_start_runs_the_earlier_best_first_and_keeps_its_score(prepared_builtin: Path, tmp_path: Path,
                                                                    ray_local) -> None:
    """A FIFO search so no rung cuts a re-run short: the re-run of a config scores what it scored (seeded).
    The earlier search begins with the hand-set base configuration, before the sampler proposes anything."""
    earlier = SearchConfig(trials=3, max_epochs=1, scheduler="fifo", startup_trials=3, space=SPACE)
    run_search(earlier, BASE, prepared_builtin, tmp_path / "earlier")
    trials = sorted(_study(tmp_path / "earlier").trials, key=lambda t: t.number)
    assert trials[0].params == {"train.lr": BASE.train.lr, "model.pooling": BASE.model.pooling}
    assert len({json.dumps(t.params, sort_keys=True) for t in trials}) == 3  # then the sampler's own
    done = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    best_two = sorted(done, key=lambda t: t.value, reverse=True)[:2]
    warm = SearchConfig(trials=2, max_epochs=1, scheduler="fifo", space=SPACE, seed=1,
                        warm_start=str(tmp_path / "earlier"), warm_start_trials=2)
    outcome = run_search(warm, BASE, prepared_builtin, tmp_path / "warm")
    first = sorted(_study(tmp_path / "warm").trials, key=lambda t: t.number)[:2]
    assert [t.params for t in first] == [t.params for t in best_two]
    assert outcome.best_metrics["search_recall"] >= best_two[0].value - 1e-6
    with pytest.raises(InputError, match="no Optuna study here"):
        run_search(SearchConfig(trials=1, max_epochs=1, space=SPACE, warm_start=str(tmp_path / "nowhere")), BASE,
                   prepared_builtin, tmp_path / "bad")


def test_a_base_configuration_outside_the_space_is_not_queued() -> None:
    """A hand-set value the space cannot take would make Optuna sample outside its own domain."""
    base = flatten(ExperimentConfig(train=TrainConfig(lr=0.5)))
    search = SearchConfig(space=SPACE)
    space = param_space(search, ExperimentConfig(train=TrainConfig(lr=0.5)))
    assert base_point(base, space, SPACE) is None
    space = param_space(search, BASE)
    assert base_point(flatten(BASE), space, SPACE) == {"train.lr": BASE.train.lr, "model.pooling": "attention"}


def queued_first(search: SearchConfig) -> list[dict]:
    """The points a search on ``BASE`` queues before its sampler proposes any."""
    return starting_points(search, param_space(search, BASE), flatten(BASE), EXPERIMENT, print)


def test_tpe_start_up_after_the_base_is_a_latin_hypercube() -> None:
    """Seeded independent draws can leave an option untried in every search (seed 0 did: VTLP and the weight
    average off in all of TPE's start-up trials): the start-up deals every choice out and covers every range."""
    space = {**SPACE, "model.rnn_layers": {"choice": [1, 2]}, "model.n_cepstra": {"choice": [0, 5, 8]},
             "model.conv_layers": {"randint": [1, 4]}}
    search = SearchConfig(trials=20, startup_trials=10, space=space)
    first = queued_first(search)
    assert len(first) == 10 and first[0] == base_point(flatten(BASE), param_space(search, BASE), space)
    spread = first[1:]
    for key, shares in (("model.pooling", {4, 5}), ("model.rnn_layers", {4, 5}), ("model.n_cepstra", {3})):
        assert {sum(p[key] == c for p in spread) for c in space[key]["choice"]} == shares, key
    lo, hi = (math.log(x) for x in space["train.lr"]["loguniform"])
    assert sorted(int(9 * (math.log(p["train.lr"]) - lo) / (hi - lo)) for p in spread) == list(range(9))
    assert {p["model.conv_layers"] for p in spread} == {1, 2, 3}
    assert queued_first(SearchConfig(trials=20, searcher="random", space=space)) == first[:1]
    assert len(queued_first(SearchConfig(trials=3, startup_trials=10, space=space))) == 3
    default = queued_first(SearchConfig(space=DEFAULT_SPACE))[1:]
    assert {p["augment.vtlp"] for p in default} == {0.0, 0.1}
    assert {p["train.ema_decay"] for p in default} == {0.0, 0.999}
    assert {p["model.rnn"] for p in default} == {"gru", "lstm"}


def test_a_list_valued_choice_reaches_each_trial_as_its_tuple() -> None:
    """Optuna takes scalar categories only: a list choice (whether to skip the converted renditions) travels
    as a string and comes back into the trial's dataclass as the tuple it was, the empty one included."""
    search = SearchConfig(space={"train.skip_conditions": {"choice": [[], ["voice_conversion"], ["room", "codec"]]}})
    choice = param_space(search, BASE)["train.skip_conditions"]
    trials = [experiment_from_flat({**flatten(BASE), "train.skip_conditions": c}) for c in choice.categories]
    assert [t.train.skip_conditions for t in trials] == [(), ("voice_conversion",), ("room", "codec")]


def test_cpu_clock_ends_every_trial_within_its_cpu_budget(prepared_builtin: Path, tmp_path: Path, ray_local) -> None:
    """With search.clock = "cpu_minutes" a trial ends, whatever its epochs cost, before the epoch that would
    overrun its CPU budget (judged by its dearest epoch, the benchmarks' rule), and counts as finished
    (COMPLETE in the study), not as stopped early."""
    budget = 0.3  # 18 CPU-seconds: several epochs of the small model on the built-in corpus even on a slow machine
    search = SearchConfig(trials=2, max_epochs=50, scheduler="fifo", clock="cpu_minutes", max_cpu_minutes=budget,
                          space=SPACE)
    outcome = run_search(search, BASE, prepared_builtin, tmp_path)
    curves = pd.read_csv(tmp_path / "curves.csv")
    for _, trial in curves.groupby("trial_id"):
        trial = trial.sort_values("training_iteration")
        spent = trial["cpu_minutes"].tolist()
        dearest = (trial["cpu_seconds"] / 60).cummax().tolist()
        assert all(s + d <= budget for s, d in zip(spent[:-1], dearest[:-1])), (spent, dearest)
        assert spent[-1] + dearest[-1] > budget and 1 < len(spent) < 50, (spent, dearest)
        assert trial["budget_spent"].tolist() == [0.0] * (len(spent) - 1) + [1.0]
    assert outcome.stopped_early == 0
    assert {t.state for t in _study(tmp_path).trials} == {optuna.trial.TrialState.COMPLETE}
    assert {t.status for t in read_trials(tmp_path / EXPERIMENT)} == {"finished"}  # and so says the report


@pytest.mark.parametrize("settings, message", [
    ({"clock": "cpu_minutes"}, "needs search.max_cpu_minutes > 0"),
    ({"clock": "cpu_minutes", "max_cpu_minutes": 5.0, "scheduler": "hyperband"}, "counts epochs only"),
    ({"clock": "wall"}, "expected one of epochs, cpu_minutes"),
])
def test_an_impossible_clock_is_one_config_error(settings: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        check_clock(SearchConfig(**settings))
