"""What a Flickr8k epoch costs now against the code when issue #25 was filed, at equal epochs.

Issue #25 asks for the Flickr8k epoch's CPU time against that day's (aim: 0.6 or less at equal
recall after the same number of epochs). Both versions of the code, each from its own git
checkout, prepare the same Flickr8k images with their own defaults and train their own default
configuration (what a user got then and gets now) on one thread; ``--cheaper`` adds a third side,
today's code with those settings (e.g. ``train.precision="bf16"``) on today's prep. The training
runs alternate, before / now / cheaper, once per seed (``--repeat`` seeds: 0, 1, ...), on the one
machine in one run. Each epoch's CPU seconds are the training loop's own (``cpu_seconds`` in
metrics.json, which both versions write), so the ratio holds however busy the machine is; dev
recall at each epoch, averaged over the seeds, says whether the cheaper epoch learns as much.
Preparation is not timed (it is once per dataset, not once per trial).

    .venv/bin/python benchmarks/epoch_cost.py --root ../shared/data/flickr8k --limit 1000 --epochs 6 \\
        --repeat 3 --cheaper 'train.precision="bf16"' --out benchmarks/results/speed/epoch-cost.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from provenance import REPO, provenance

FILED = "f8c7e47"  # the code when issue #25 was filed (its first commit whose epochs report their CPU seconds)
TARGET = 0.6  # issue #25: an epoch's CPU time, now / then
RECALLS = ("s2i_r10", "i2s_r10")


def sonovis(code: Path, *args: str) -> None:
    """One ``sonovis`` verb run from a checkout's code, in this environment; its output goes to ours."""
    env = {**os.environ, "PYTHONPATH": str(code)}
    done = subprocess.run([sys.executable, "-m", "sonovis.cli", *args], env=env, cwd=code)
    if done.returncode:
        raise SystemExit(f"sonovis {args[0]} from {code} failed (exit {done.returncode})")


def epochs_of(code: Path, prepared: Path, out: Path, epochs: int, settings: list[str]) -> list[dict[str, float]]:
    """Train the checkout's default configuration with ``settings``; each epoch's CPU seconds and dev recall."""
    overrides = [arg for setting in settings for arg in ("--set", setting)]
    sonovis(code, "train", "--data", str(prepared), "--out", str(out), "--epochs", str(epochs), *overrides)
    history = json.loads((out / "metrics.json").read_text())["epochs"]
    return [{"epoch": r["epoch"], "cpu_seconds": r["cpu_seconds"], **{k: r[k] for k in RECALLS}} for r in history]


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per seed, each side's mean epoch CPU / before's; per epoch, each side's CPU and recall, mean over seeds."""
    sides = list(dict.fromkeys(r["side"] for r in runs))
    def side(name: str) -> list[list[dict[str, float]]]:
        return [r["epochs"] for r in runs if r["side"] == name]
    def epoch_cpu(history: list[dict[str, float]]) -> float:
        return statistics.fmean(e["cpu_seconds"] for e in history)
    ratios = {name: [epoch_cpu(n) / epoch_cpu(b) for b, n in zip(side("before"), side(name))]
              for name in sides if name != "before"}
    per_epoch = [{"epoch": i + 1, **{f"{name}_{k}": statistics.fmean(h[i][k] for h in side(name))
                                     for name in sides for k in ("cpu_seconds", *RECALLS)}}
                 for i in range(len(side("before")[0]))]
    return {"sides": sides, "epoch_cpu_ratio": ratios, "per_epoch": per_epoch, "target": TARGET}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", required=True, help="the Flickr8k folder")
    parser.add_argument("--limit", type=int, default=1000, help="train and dev images each")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=2, help="seeds (0, 1, ...): one training run of each side each")
    parser.add_argument("--cheaper", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="a third side: today's code with this setting (repeatable)")
    parser.add_argument("--before", default=FILED, help="the commit to compare against")
    parser.add_argument("--work", type=Path, help="scratch folder (default: a temporary one)")
    parser.add_argument("--out", type=Path, help="a result JSON (benchmarks/results/speed/...) with its provenance")
    args = parser.parse_args()
    root = str(Path(args.root).resolve())
    with tempfile.TemporaryDirectory(prefix="epoch-cost-") as scratch:
        work = (args.work or Path(scratch)).resolve()
        work.mkdir(parents=True, exist_ok=True)
        old = work / "before-code"
        if not old.exists():
            subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(old), args.before], check=True)
        try:
            code = {"before": old, "now": REPO}
            for name, checkout in code.items():
                if not (work / f"{name}-prepared" / "manifest.json").exists():
                    sonovis(checkout, "prepare", "--corpus", "flickr8k", "--root", root, "--limit", str(args.limit),
                            "--out", str(work / f"{name}-prepared"))
            sides = {"before": (old, "before", []), "now": (REPO, "now", [])}
            if args.cheaper:
                sides["cheaper"] = (REPO, "now", args.cheaper)
            runs = [{"side": name, "seed": seed, "settings": settings,
                     "epochs": epochs_of(checkout, work / f"{prep}-prepared", work / f"{name}-seed{seed}",
                                         args.epochs, [f"train.seed={seed}", *settings])}
                    for seed in range(args.repeat) for name, (checkout, prep, settings) in sides.items()]
        finally:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(old)], check=False)
    result = summary(runs)
    for name, ratios in result["epoch_cpu_ratio"].items():
        print(f"epoch CPU, {name} / {args.before}, seed by seed: " + ", ".join(f"{r:.2f}" for r in ratios)
              + f"  (target <= {TARGET})")
    names = result["sides"]
    print("epoch  " + "  ".join(f"CPU s {n:>7}" for n in names) + "  " + "  ".join(f"s2i R@10 {n:>7}" for n in names))
    for e in result["per_epoch"]:
        print(f"{e['epoch']:>5}  " + "  ".join(f"{e[n + '_cpu_seconds']:>13.1f}" for n in names) + "  "
              + "  ".join(f"{e[n + '_s2i_r10']:>16.1f}" for n in names))
    if args.out:
        args.out.write_text(json.dumps({"before": args.before, "limit": args.limit, "epochs": args.epochs,
                                        "cheaper": args.cheaper, "runs": runs, **result,
                                        "provenance": provenance(sys.argv)}, indent=1))


if __name__ == "__main__":
    main()
