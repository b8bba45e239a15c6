"""Training on real prepared data (the built-in corpus): it learns, it is deterministic, it resumes exactly."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sonovis.config import ExperimentConfig, ModelConfig, TrainConfig
from sonovis.shards import load_prepared
from sonovis.train import fit, load_checkpoint, read_checkpoint

SMALL = ExperimentConfig(model=ModelConfig(hidden_size=128, conv_channels=96, embed_dim=128),
                         train=TrainConfig(epochs=2, batch_size=32, lr=1e-3))


@pytest.fixture(scope="module")
def data(prepared_builtin: Path):
    return load_prepared(prepared_builtin)


def _run(cfg: ExperimentConfig, data, resume=None) -> list[dict[str, float]]:
    return [r.metrics for r in fit(cfg, data, resume)]


def test_training_learns_far_above_chance(data) -> None:
    """30 unseen dev scenes x 5 captions: chance R@5 is 16.7 %; twelve epochs must reach 35 % (seen: 47 %)."""
    cfg = ExperimentConfig(model=SMALL.model, train=TrainConfig(epochs=12, batch_size=32, lr=1e-3))
    history = _run(cfg, data)
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert max(h["s2i_r5"] for h in history) >= 35.0, [round(h["s2i_r5"], 1) for h in history]
    assert max(h["i2s_r5"] for h in history) >= 30.0, [round(h["i2s_r5"], 1) for h in history]


def test_same_seed_same_metrics_and_resume_is_exact(data, tmp_path: Path) -> None:
    straight = _run(SMALL, data)
    again = _run(SMALL, data)
    assert [m["mean_recall"] for m in straight] == [m["mean_recall"] for m in again]
    assert [m["train_loss"] for m in straight] == [m["train_loss"] for m in again]
    one = ExperimentConfig(model=SMALL.model, train=TrainConfig(**{**SMALL.train.__dict__, "epochs": 1}))
    first = next(iter(fit(one, data)))
    first.trainer.save(tmp_path / "model.pt")
    resumed = _run(SMALL, data, read_checkpoint(tmp_path / "model.pt"))
    assert len(resumed) == 1  # only epoch 2 was left to do
    assert resumed[0]["train_loss"] == straight[1]["train_loss"]
    assert resumed[0]["mean_recall"] == straight[1]["mean_recall"]


def test_checkpoint_round_trip_gives_identical_scores(data, tmp_path: Path) -> None:
    result = list(fit(SMALL, data))[-1]
    result.trainer.save(tmp_path / "model.pt")
    loaded = load_checkpoint(tmp_path / "model.pt", data)
    assert loaded.evaluate("dev") == result.trainer.evaluate("dev")


def test_cli_train_then_evaluate_json(prepared_builtin: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    sonovis = [sys.executable, "-m", "sonovis.cli"]
    subprocess.run(sonovis + ["train", "--data", str(prepared_builtin), "--out", str(out), "--epochs", "1",
                              "--set", "model.hidden_size=64"], check=True, capture_output=True, text=True)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["config"]["model"]["hidden_size"] == 64 and len(metrics["epochs"]) == 1
    shown = subprocess.run(sonovis + ["evaluate", str(out / "model.pt"), "--data", str(prepared_builtin),
                                      "--split", "dev", "--json"], check=True, capture_output=True, text=True)
    result = json.loads(shown.stdout)
    assert set(result["s2i"]) == {"r1", "r5", "r10", "medr"} and set(result["i2s"]) == {"r1", "r5", "r10", "medr"}
    assert result["s2i"]["r10"] == pytest.approx(metrics["epochs"][0]["s2i_r10"], abs=1e-3)


def test_bad_setting_is_one_clear_line(prepared_builtin: Path, tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "sonovis.cli", "train", "--data", str(prepared_builtin), "--out",
                           str(tmp_path), "--set", "model.hiden_size=64"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "hiden_size" in proc.stderr
