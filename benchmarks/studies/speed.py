"""The speed tables: the memory of a training process (benchmarks/train_memory.py)."""

from __future__ import annotations

from studies.read import block, load, mean, spread

MEMORY = "speed/train-memory.json"


def train_memory(rel: str) -> str:
    """benchmarks/train_memory.py: one training process's unique memory before and with each of its measures."""
    d = load(rel)
    rows = []
    for variant in d["runs"][0]:
        runs = [pair[variant] for pair in d["runs"]]
        rows.append([variant, spread([r["loaded_mib"] for r in runs]),
                     spread([r["peak_mib"] - r["loaded_mib"] for r in runs]),
                     spread([r["after_epoch_mib"][-1] - r["loaded_mib"] for r in runs]),
                     spread([mean(r["epoch_cpu_s"]) for r in runs])])
    return block(["", "USS with the data loaded, MiB", "peak beyond that, MiB", "after the last epoch, beyond that, MiB",
                  "CPU s an epoch"], rows, [rel],
                 f"{len(d['runs'])} repeats of {d['epochs']} epochs of the default configuration on one thread, "
                 "each variant in a fresh process; means ± std over the repeats.")
