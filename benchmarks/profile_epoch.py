"""Where one training epoch's CPU time goes, on one thread: the model's arithmetic against everything else.

Runs one epoch and one dev evaluation of a configuration (the default, plus ``--set``) under
cProfile and sums each function's own time into a few groups: the backward pass, the forward
pass's convolutions, recurrent layers and other tensor operations, the optimizer, batching, and
the rest (Python in between). Issue #25 asked to cut what is not the model's own arithmetic; this
says how much of an epoch that is.

    .venv/bin/python benchmarks/profile_epoch.py --data runs/f8k-1000 [--set model.rnn=none]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time

import torch

from sonovis.config import experiment_config, load_settings
from sonovis.data.shards import load_prepared
from sonovis.table import format_table
from sonovis.train.trainer import Trainer, needs_grid

GROUPS = {  # a function whose name holds one of these -> its group (first match wins)
    "backward pass": ("run_backward",),
    "convolutions": ("conv1d",),
    "recurrent layers": ("torch.gru", "torch.lstm"),
    "optimizer": ("adam", "addcdiv_", "lerp_", "sqrt", "mul_", "zero_grad"),
    "batching": ("batches.py", "make_batch", "pad_", "bucketed_order", "unique"),
    "other tensor operations": ("torch.", "{method", "{built-in method torch"),
}


def group_of(location: str) -> str:
    return next((group for group, keys in GROUPS.items() if any(k in location for k in keys)), "Python in between")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="a prepared folder")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE")
    args = parser.parse_args()
    torch.set_num_threads(1)
    cfg = experiment_config(load_settings(None, args.set))
    trainer = Trainer(cfg, load_prepared(args.data, splits=("train", cfg.train.eval_split), with_grid=needs_grid(cfg)))
    profile, cpu = cProfile.Profile(), {}
    phases = (("training", trainer.train_epoch), ("evaluation", lambda: trainer.evaluate(cfg.train.eval_split)))
    for phase, work in phases:
        start = time.process_time()
        profile.enable()
        work()
        profile.disable()
        cpu[phase] = time.process_time() - start
    totals: dict[str, float] = {}
    for (filename, line, name), (_, _, own, _, _) in pstats.Stats(profile).stats.items():  # type: ignore[attr-defined]
        group = group_of(f"{filename}:{line}({name})")
        totals[group] = totals.get(group, 0.0) + own
    whole = sum(totals.values())
    print(format_table(["where", "CPU s", "share"],
                       [[group, f"{seconds:.1f}", f"{seconds / whole:.0%}"]
                        for group, seconds in sorted(totals.items(), key=lambda kv: -kv[1])],
                       title=f"one epoch ({cpu['training']:.1f} CPU s) and one evaluation ({cpu['evaluation']:.1f})"))


if __name__ == "__main__":
    main()
