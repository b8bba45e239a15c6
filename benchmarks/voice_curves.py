"""Learning curves of runs of benchmarks/voices.py side by side: does training longer help the voices never heard?

One panel per measure (seen voices, held-out voices, each ``--unheard`` engine), one line per run
(its first arm, or ``--arm``): s2i R@10 on the eval split after every epoch, against training
CPU-minutes. A run that scored an unheard engine only after its last epoch shows as one point.

    python benchmarks/voice_curves.py benchmarks/results/voices/paired/k2-24min.json \\
        benchmarks/results/voices/paired/k2-24min-cepstra5-vtlp10.json \\
        benchmarks/results/voices/paired/k2-24min-cepstra5-vtlp10-ema999.json --out benchmarks/results/voices/paired/voice-curves.png
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from voices import UNHEARD_PREFIX, UNHEARD_SUFFIX  # noqa: E402  (benchmarks/ is on sys.path when run)

VOICE_SIDES = {"seen_s2i_r10": "voices heard in training", "heldout_s2i_r10": "held-out voices of the training engines"}


def panels(runs: dict[str, list[dict[str, Any]]]) -> dict[str, str]:
    """Result key -> panel title, for every measure any run has."""
    keys = dict(VOICE_SIDES)
    for rows in runs.values():
        for key in (k for row in rows for k in row if k.startswith(UNHEARD_PREFIX)):
            keys[key] = f"{key.removeprefix(UNHEARD_PREFIX).removesuffix(UNHEARD_SUFFIX)}: an engine never heard"
    return {key: title for key, title in keys.items() if any(key in row for rows in runs.values() for row in rows)}


def plot(runs: dict[str, list[dict[str, Any]]], out: Path) -> None:
    titles = panels(runs)
    fig, axes = plt.subplots(1, len(titles), figsize=(4.2 * len(titles), 3.8), sharey=True, squeeze=False)
    for ax, (key, title) in zip(axes[0], titles.items()):
        for label, rows in runs.items():
            points = [(row["cpu_min"], row[key]) for row in rows if key in row]
            ax.plot(*zip(*points), marker="o", markersize=3, label=label)
        ax.set(title=title, xlabel="training CPU-minutes")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("s2i R@10 on dev (%)")
    axes[0][-1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=90)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+", type=Path, help="JSON files written by benchmarks/voices.py")
    parser.add_argument("--arm", help="the arm to draw from each file (default: its first)")
    parser.add_argument("--out", type=Path, required=True, help="PNG output")
    args = parser.parse_args()

    stems = [path.stem for path in args.results]
    common = os.path.commonprefix(stems) if len(stems) > 1 else ""
    runs = {}
    for path, stem in zip(args.results, stems):
        results = json.loads(path.read_text())["results"]
        if args.arm is not None and args.arm not in results:
            raise SystemExit(f"{path}: no arm {args.arm!r}; it has {list(results)}")
        runs[stem.removeprefix(common).strip("-") or stem] = results[args.arm or next(iter(results))]
    plot(runs, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
