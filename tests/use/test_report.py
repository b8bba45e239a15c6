"""The search report: a real (tiny) Ray Tune search, a real HTML page, rendered by headless Chromium."""

from __future__ import annotations

import base64
import io
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import optuna
import pytest
from PIL import Image

from sonovis.config import ExperimentConfig, ModelConfig, SearchConfig, TrainConfig
from sonovis.search import EXPERIMENT
from sonovis.search.tuner import run_search
from sonovis.train.evaluate import evaluate_checkpoint
from sonovis.use.report import MIN_IMPORTANCE_TRIALS, write_report
from sonovis.use.trials import read_trials

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")  # Ubuntu: CHROMIUM=/snap/bin/chromium
SECTIONS = ("leaderboard", "curves", "importance", "parameters", "timeline", "best", "examples")
BASE = ExperimentConfig(model=ModelConfig(hidden_size=64, conv_channels=64, embed_dim=64),
                        train=TrainConfig(batch_size=32))
SPACE = {"train.lr": {"loguniform": [1e-4, 3e-3]}, "model.pooling": {"choice": ["attention", "mean"]}}


@pytest.fixture(scope="module")
def runs(prepared_builtin: Path, tmp_path_factory: pytest.TempPathFactory, ray_local) -> Path:
    """Three trials of two epochs: the smallest search that still has ASHA rungs and several trials."""
    folder = tmp_path_factory.mktemp("report-runs")
    run_search(SearchConfig(trials=3, max_epochs=2, grace_period=1, reduction_factor=2, space=SPACE),
               BASE, prepared_builtin, folder)
    return folder


def _chromium(page: Path, profile: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={profile}", *args, page.resolve().as_uri()],
        capture_output=True, text=True, timeout=120)


def _pngs(page: str) -> list[Image.Image]:
    return [Image.open(io.BytesIO(base64.b64decode(data)))
            for data in re.findall(r'src="data:image/png;base64,([^"]+)"', page)]


def test_finished_search_report_is_one_self_contained_page(runs: Path, prepared_builtin: Path,
                                                           tmp_path: Path) -> None:
    out = write_report(runs, tmp_path / "report.html", data_path=prepared_builtin)
    page = out.read_text()
    for section in SECTIONS:
        assert f'<section id="{section}">' in page
    assert "<script" not in page and "<link" not in page
    assert not re.findall(r'(?:src|href)="(?!data:)', page)  # every image is embedded
    plots = _pngs(page)
    assert len(plots) >= 3 and all(p.width > 300 and p.height > 150 for p in plots)
    trial_ids = {t.trial_id for t in read_trials(runs / EXPERIMENT)}
    assert len(trial_ids) == 3 and all(t in page for t in trial_ids)
    best = json.loads((runs / "best.json").read_text())
    assert f"{best['best_metrics']['s2i_r10']:.1f}" in page
    examples = page[page.index('<section id="examples">'):]
    assert examples.count("data:image/jpeg;base64,") == 3 * (1 + 3)  # three queries: its image, the top three
    assert examples.count("found at rank") + examples.count("not in the top 3") == 3


def test_report_renders_in_headless_chromium(runs: Path, prepared_builtin: Path, tmp_path: Path) -> None:
    out = write_report(runs, tmp_path / "report.html", data_path=prepared_builtin)
    shot = tmp_path / "report.png"
    rendered = _chromium(out, tmp_path / "profile", "--enable-logging=stderr", "--v=0",
                         f"--screenshot={shot}", "--window-size=1280,2000")
    assert shot.exists(), rendered.stderr[-2000:]
    assert "Uncaught" not in rendered.stderr and "Failed to load resource" not in rendered.stderr
    image = Image.open(shot).convert("RGB")
    assert image.size == (1280, 2000)
    colours = image.getcolors(maxcolors=1 << 20)
    ink = sum(count for count, rgb in colours if min(rgb) < 240)  # the page and plot backgrounds are near white
    assert len(colours) > 500 and ink > 0.03 * image.width * image.height
    dom = _chromium(out, tmp_path / "profile", "--dump-dom").stdout
    for heading in ("Leaderboard", "Learning curves", "Parameter importance", "Trials per node", "Best model"):
        assert f"<h2>{heading}" in dom


def test_running_search_report_shows_what_exists_and_notes_the_rest(runs: Path, tmp_path: Path) -> None:
    running = Path(shutil.copytree(runs, tmp_path / "runs"))
    for name in ("best.json", "trials.csv", "optuna.db"):
        (running / name).unlink()
    shutil.rmtree(running / "best")
    for state in (running / EXPERIMENT).glob("experiment_state-*.json"):
        state.unlink()
    trial = sorted((running / EXPERIMENT).glob("*/result.json"))[0]
    first = trial.read_text().splitlines()[0]
    trial.write_text(first + "\n" + first[: len(first) // 2])  # one epoch, then the line Tune is writing
    fresh = running / EXPERIMENT / "trial_just_started"
    fresh.mkdir()
    (fresh / "params.json").write_text("{}")  # started, nothing reported yet: not a row
    page = write_report(running).read_text()
    assert (running / "report.html").exists()
    assert "No best.json yet" in page and "No Optuna study" in page
    trials = read_trials(running / EXPERIMENT, search_over=False)
    assert len(trials) == 3 and len(_pngs(page)) >= 3
    truncated = next(t for t in trials if t.trial_id == json.loads(first)["trial_id"])
    assert len(truncated.history) == 1 and truncated.status == "running"
    assert "<td>running</td>" in page


def test_held_out_numbers_and_too_few_trials_for_importance(runs: Path, prepared_builtin: Path,
                                                            tmp_path: Path) -> None:
    copy = Path(shutil.copytree(runs, tmp_path / "runs"))
    best = json.loads((copy / "best.json").read_text())
    held_out = evaluate_checkpoint(best["best_checkpoint"], prepared_builtin, "dev")
    (copy / "test_metrics.json").write_text(json.dumps(held_out))
    complete = [t for t in optuna.load_study(study_name="search", storage=f"sqlite:///{copy / 'optuna.db'}").trials
                if t.state == optuna.trial.TrialState.COMPLETE]
    page = write_report(copy).read_text()
    best_section = page[page.index('<section id="best">'):]
    assert "dev split (test_metrics.json)" in best_section
    assert f"{held_out['s2i']['r10']:.1f}" in best_section and f"{held_out['i2s']['r1']:.1f}" in best_section
    assert len(complete) < MIN_IMPORTANCE_TRIALS  # three trials: too few, said in a note instead of a chart
    assert f"needs at least {MIN_IMPORTANCE_TRIALS} trials" in page

    study = optuna.load_study(study_name="search", storage=f"sqlite:///{copy / 'optuna.db'}")
    template = study.trials[0]
    for lr, value in ((1e-4, 5.0), (3e-4, 9.0), (1e-3, 14.0), (3e-3, 11.0)):  # as if more trials had finished
        study.add_trial(optuna.trial.create_trial(params={**template.params, "train.lr": lr},
                                                  distributions=template.distributions, value=value))
    importance = write_report(copy).read_text().split('<section id="importance">')[1].split("</section>")[0]
    assert "needs at least" not in importance and len(_pngs(importance)) == 1
