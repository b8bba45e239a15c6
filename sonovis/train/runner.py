"""``sonovis train``: fit one configuration into a folder, a line an epoch and a summary table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

from sonovis.config import ExperimentConfig, to_dict
from sonovis.train.metrics import SEARCH_METRIC
from sonovis.train.trainer import EpochResult, fit, needs_grid


def metrics_record(result: EpochResult) -> dict[str, Any]:
    return {"epoch": result.epoch, **{k: round(v, 4) for k, v in result.metrics.items()}}


def train_to_folder(cfg: ExperimentConfig, data_path: str | Path, out: str | Path,
                    echo: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """``sonovis train``: fit, print a line an epoch, keep the best model and write metrics.json."""
    from sonovis.data.shards import load_prepared
    from sonovis.table import format_table

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    data = load_prepared(data_path, splits=("train", cfg.train.eval_split), with_grid=needs_grid(cfg))
    history: list[dict[str, Any]] = []
    best = -1.0
    for result in fit(cfg, data):
        record = metrics_record(result)
        history.append(record)
        voices = (f"  held-out/seen s2i R@10 {record.get('heldout_s2i_r10', float('nan')):.1f}/"
                  f"{record.get('seen_s2i_r10', float('nan')):.1f} ({int(record['train_dropped'])} train "
                  f"utterances dropped)") if cfg.train.holdout_voices else ""
        if cfg.train.skip_conditions:
            kinds = "/".join(cfg.train.skip_conditions)
            voices += f"  ({int(record['train_skipped'])} train utterances through {kinds} left out)"
        echo(f"[train] epoch {result.epoch}/{cfg.train.epochs}  loss {record['train_loss']:.3f}  "
             f"s2i R@10 {record['s2i_r10']:.1f}  i2s R@10 {record['i2s_r10']:.1f}  {record['seconds']:.0f}s{voices}")
        if record[SEARCH_METRIC] > best:
            best = record[SEARCH_METRIC]
            result.trainer.save(out / "model.pt")
        (out / "metrics.json").write_text(json.dumps({"config": to_dict(cfg), "epochs": history}, indent=1))
    top = max(history, key=lambda r: r[SEARCH_METRIC])
    echo(format_table(["best epoch", "s2i R@1", "s2i R@5", "s2i R@10", "s2i medr", "i2s R@10", "minutes"],
                      [[top["epoch"], top["s2i_r1"], top["s2i_r5"], top["s2i_r10"], top["s2i_medr"],
                        top["i2s_r10"], sum(r["seconds"] for r in history) / 60]],
                      title=f"trained: {out / 'model.pt'}"))
    return history
