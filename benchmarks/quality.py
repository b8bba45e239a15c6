"""Learning curve of one configuration under a CPU-time budget: does it reach the quality target?

Trains on a prepared folder's train split on one thread, evaluates on its dev split after
every epoch, and stops at ``train.epochs`` or before an epoch that would overrun the
budget. The budget counts training CPU time only (``time.process_time`` of this process
around ``Trainer.train_epoch``); loading data and evaluating are reported, not counted.

    python benchmarks/quality.py /work/prepared/flickr8k --minutes 20 \\
        --out benchmarks/results/quality/default.json
    python benchmarks/quality.py /work/prepared/flickr8k --minutes 10 --set 'model.pairs=["text-image"]' \\
        --out benchmarks/results/quality/text-ceiling.json

With ``model.pairs = ["text-image"]`` the run is the text->image ceiling: the speech encoder
is never trained, so its numbers are dropped and the table shows the caption-text ones
(Trainer.evaluate's ``text_*`` metrics) as t2i / i2t.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from provenance import provenance  # benchmarks/ is on sys.path when run

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from budget import epochs_within_budget  # noqa: E402  (benchmarks/ is on sys.path when run)

from sonovis.config import apply_overrides, experiment_config, to_dict  # noqa: E402
from sonovis.data.shards import load_prepared
from sonovis.table import format_table  # noqa: E402
from sonovis.train.trainer import Trainer, needs_grid

TARGET_R10 = 25.0  # the bar: speech->image R@10 on Flickr8k dev


def learning_curve(trainer: Trainer, budget_s: float, prefix: str, title: str) -> list[dict[str, Any]]:
    """Epoch by epoch until train.epochs or the CPU budget; ``prefix`` "text_" reads the ceiling's metrics."""
    rows: list[dict[str, Any]] = []
    for train_cpu, loss, metrics, _ in epochs_within_budget(trainer, budget_s):
        row = {"epoch": trainer.epoch, "cpu_min": train_cpu / 60, "train_loss": loss}
        for ours, theirs in (("q2i", "s2i"), ("i2q", "i2s")):
            row.update({f"{ours}_{k}": metrics[f"{prefix}{theirs}_{k}"] for k in ("r1", "r5", "r10", "medr")})
        rows.append(row)
        lines = format_table(*table(rows, prefix), title=title).splitlines()
        print("\n".join(lines if len(rows) == 1 else lines[-1:]), flush=True)
    return rows


def table(rows: list[dict[str, Any]], prefix: str) -> tuple[list[str], list[list[Any]]]:
    q = "t" if prefix else "s"
    headers = ["epoch", "CPU min", "train loss", f"{q}2i R@1", f"{q}2i R@5", f"{q}2i R@10",
               f"i2{q} R@1", f"i2{q} R@5", f"i2{q} R@10", f"{q}2i medr"]
    keys = ["epoch", "cpu_min", "train_loss", "q2i_r1", "q2i_r5", "q2i_r10", "i2q_r1", "i2q_r5", "i2q_r10", "q2i_medr"]
    return headers, [[row[k] for k in keys] for row in rows]


def plot(rows: list[dict[str, Any]], prefix: str, title: str, path: Path) -> None:
    q = "t" if prefix else "s"
    minutes = [r["cpu_min"] for r in rows]
    fig, (recall, loss) = plt.subplots(1, 2, figsize=(11, 4))
    for key, label in (("q2i_r10", f"{q}2i R@10"), ("i2q_r10", f"i2{q} R@10"),
                       ("q2i_r1", f"{q}2i R@1"), ("i2q_r1", f"i2{q} R@1")):
        recall.plot(minutes, [r[key] for r in rows], marker="o", label=label)
    recall.axhline(TARGET_R10, color="grey", linestyle="--", label=f"target {q}2i R@10")
    recall.set(xlabel="training CPU minutes (1 thread)", ylabel="recall (%)", title="dev recall")
    recall.legend()
    loss.plot(minutes, [r["train_loss"] for r in rows], marker="o")
    loss.set(xlabel="training CPU minutes (1 thread)", ylabel="InfoNCE", title="train loss")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("prepared", help="prepared folder (manifest.json, shards)")
    parser.add_argument("--minutes", type=float, default=20.0, help="training CPU-time budget")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="section.key=value")
    parser.add_argument("--out", type=Path, required=True, help="JSON output; the PNG goes next to it")
    args = parser.parse_args()

    cfg = experiment_config(apply_overrides({"train": {"threads": 1}}, args.overrides))
    ceiling = not any("speech" in pair for pair in cfg.model.pairs)
    prefix = "text_" if ceiling else ""
    start = time.process_time()
    data = load_prepared(args.prepared, splits=("train", cfg.train.eval_split), with_grid=needs_grid(cfg))
    trainer = Trainer(cfg, data)
    print(f"loaded {args.prepared} in {time.process_time() - start:.0f} CPU s; "
          f"{len(data.splits['train'].lengths)} train utterances; budget {args.minutes} CPU min", flush=True)
    title = f"{'text->image ceiling' if ceiling else 'speech->image'}: {' '.join(args.overrides) or 'defaults'}"
    rows = learning_curve(trainer, args.minutes * 60, prefix, title)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"prepared": str(args.prepared), "minutes": args.minutes,
                                    "overrides": args.overrides, "query": "text" if ceiling else "speech",
                                    "config": to_dict(cfg), "epochs": rows,
                                    "provenance": provenance(sys.argv)}, indent=1))
    plot(rows, prefix, title, args.out.with_suffix(".png"))
    print(format_table(*table(rows, prefix), title=title))
    print(f"wrote {args.out} and {args.out.with_suffix('.png')}")


if __name__ == "__main__":
    main()
