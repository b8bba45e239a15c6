"""``sonovis demo``: the product's main job, end to end on the built-in corpus, sized for a 2-core machine.

prepare (Ray Data) -> search (Ray Tune: TPE + ASHA) -> the best model scored on the
held-out test split -> HTML report -> summary table. Every stage is the same library call the
individual verbs make; only the sizes below are the demo's own.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable

from sonovis.config import (
    CorpusConfig,
    ExperimentConfig,
    ModelConfig,
    PrepareConfig,
    SearchConfig,
    TrainConfig,
)
from sonovis.data.prepare import prepare
from sonovis.search.tuner import run_search
from sonovis.table import format_table
from sonovis.train.evaluate import evaluate_checkpoint, metrics_text
from sonovis.use.report import write_report

DEMO_IMAGES = (300, 100, 100)  # train/dev/test scenes: 2,500 spoken captions, sized for 10 minutes on 2 cores
DEMO_EPOCHS = 4  # ASHA rungs at 1 and 2 epochs with reduction factor 2
# The demo searches a smaller space than the default: what moves recall most in a few epochs.
DEMO_SPACE = {
    "train.lr": {"loguniform": [1e-4, 3e-3]},
    "model.embed_dim": {"choice": [128, 256]},
    "train.batch_size": {"choice": [16, 32]},
    "model.pooling": {"choice": ["attention", "mean"]},
    "model.dropout": {"uniform": [0.0, 0.3]},
    "model.learnable_temperature": {"choice": [False, True]},
}


def run_demo(out: Path, trials: int = 12, address: str | None = None, echo: Callable[[str], None] = print) -> dict:
    started = time.time()
    prepared = out / "prepared"
    prepare(PrepareConfig(out=str(prepared), corpus=CorpusConfig(
        kind="builtin", splits=("train", "dev", "test"), builtin_images=DEMO_IMAGES)), address=address, echo=echo)
    # Two convolutions, not the default three: the built-in captions last ~2 s, and keep more frames.
    base = ExperimentConfig(model=ModelConfig(rnn="gru", hidden_size=128, conv_channels=96, conv_layers=2),
                            train=TrainConfig(epochs=DEMO_EPOCHS))
    search = SearchConfig(trials=trials, max_epochs=DEMO_EPOCHS, grace_period=1, reduction_factor=2,
                          startup_trials=4, space=DEMO_SPACE)  # TPE models from the 5th of 12 trials on
    outcome = run_search(search, base, prepared, out / "runs", address=address, echo=echo)
    test = evaluate_checkpoint(outcome.best_checkpoint, prepared, "test")
    (out / "runs" / "test_metrics.json").write_text(json.dumps(test, indent=1))
    echo(metrics_text(test))
    report = write_report(out / "runs", data_path=prepared)
    echo(format_table(
        ["stage", "result"],
        [["prepared", str(prepared)], ["trials (stopped early)", f"{outcome.trials} ({outcome.stopped_early})"],
         ["best dev s2i R@10", outcome.best_metrics.get("s2i_r10", 0.0)],
         ["test s2i R@10 / i2s R@10", f"{test['s2i']['r10']:.1f} / {test['i2s']['r10']:.1f}"],
         ["best checkpoint", outcome.best_checkpoint], ["report", str(report)],
         ["minutes", (time.time() - started) / 60]],
        title="sonovis demo"))
    echo(f"to try the best model in a browser: sonovis serve {outcome.best_checkpoint} --data {prepared}")
    echo("on Flickr8k, with the recommended recipe (recipe.toml, at the project's root; README, Using it):\n"
         "  sonovis prepare --corpus flickr8k --root PATH/flickr8k --config recipe.toml --out runs/f8k\n"
         "  sonovis tune --data runs/f8k --config recipe.toml --out runs/search\n"
         "  a quarter of its renditions go through a room and a microphone, as people's speech does; for clean\n"
         "  recordings only, add --conditions none to prepare (README, \"Rooms, microphones and codecs\")")
    return test
