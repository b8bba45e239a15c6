"""Do the voices generalise? Seen vs held-out voice recall, without and with augmentation, at one CPU budget.

Every arm trains the default configuration (plus ``--set`` overrides) on one thread with
``train.holdout_voices`` set to ``--holdout``: train utterances in those voices are dropped,
and dev recall is measured separately over dev utterances in held-out and in seen voices.
Arm (a) has no augmentation, arm (b) the ``--augment`` set; ``--measures`` adds one arm per
switch of that set, alone, so each switch's contribution shows. As in quality.py, the budget
counts training CPU time only, and an epoch that would overrun it is not started.

    python benchmarks/voices.py /work/prepared/flickr8k --holdout en-gb-scotland,en-029 --minutes 20 \\
        --measures --out benchmarks/results/voices/accents/default-voices.json
    python benchmarks/voices.py PREP --holdout en-gb-scotland --minutes 0.5 --out /tmp/voices.json  # smoke check

The table reports each arm's last epoch: seen and held-out s2i R@10, their ratio, and the
change against the baseline (a negative seen change is what the augmentation cost on voices
the model did hear). ``--family NAME=PATTERN|PATTERN`` (repeatable) adds a second table: s2i
R@10 per family of dev voice groups (a group joins the first family with a matching pattern,
the rest form "other"), so runs with different ``--holdout`` sets compare on the same voices.
``--unheard NAME=PREP`` (repeatable) also scores every arm, after every epoch, on the eval
split of another prepared folder of the same images, e.g. spoken by flite or Pico: engines the
model never heard; ``--save DIR`` keeps every arm's last model, to score it later with ``sonovis evaluate``
on an engine prepared after the run. ``--epochs N`` trains every arm exactly N epochs instead of a CPU budget: CPU time per epoch
varies between runs on a shared VM, and equal epochs keep two runs comparable.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from provenance import provenance  # benchmarks/ is on sys.path when run

import torch
from budget import epochs_within_budget  # benchmarks/ is on sys.path when run

from sonovis.config import apply_overrides, experiment_config, to_dict
from sonovis.data.shards import load_prepared
from sonovis.data.voices import matches
from sonovis.table import format_table
from sonovis.train.metrics import retrieval_metrics
from sonovis.train.trainer import Trainer, needs_grid
from sonovis.train.voice_metrics import by_voice_group

DEFAULT_AUGMENT = ["time_masks=2", "freq_masks=2", "speed=0.1", "vtlp=0.1", "noise_snr_db=[10.0, 30.0]"]
SWITCHES = ("time_masks", "freq_masks", "speed", "vtlp", "noise_snr_db", "gain_db")  # each is one measure
UNHEARD_PREFIX, UNHEARD_SUFFIX = "unheard_", "_s2i_r10"  # result key of --unheard NAME: unheard_NAME_s2i_r10
WIDTHS = {"time_masks": "time_mask_width", "freq_masks": "freq_mask_width"}  # ride along with their switch


def arms(augment: list[str], measures: bool, baseline_only: bool = False) -> dict[str, list[str]]:
    """Arm name -> ``augment.*`` overrides: the baseline, the whole set, and optionally each switch alone."""
    if baseline_only:
        return {"baseline": []}
    keys = [item.split("=", 1)[0].strip() for item in augment]
    out = {"baseline": [], "augmented": augment}
    if measures:
        for switch in (k for k in keys if k in SWITCHES):
            out[f"only {switch}"] = [item for item, key in zip(augment, keys) if key in (switch, WIDTHS.get(switch))]
    return out


def run_arm(data: Any, settings: dict[str, Any], budget_s: float, name: str,
            unheard: dict[str, Any], save: Path | None = None) -> list[dict[str, Any]]:
    """Train one arm epoch by epoch until train.epochs or the CPU budget; a row of dev metrics per epoch.
    ``save``: where to keep the last model, so ``sonovis evaluate`` can score it on engines added later."""
    trainer = Trainer(experiment_config(settings), data)
    rows: list[dict[str, float]] = []
    for train_cpu, loss, metrics, embeddings in epochs_within_budget(trainer, budget_s):
        rows.append({"epoch": trainer.epoch, "cpu_min": train_cpu / 60, "train_loss": loss,
                     "train_dropped": trainer.dropped, **metrics})
        for engine, other in unheard.items():  # every epoch: does longer training help the engines never heard?
            rows[-1][f"{UNHEARD_PREFIX}{engine}{UNHEARD_SUFFIX}"] = unheard_recall(trainer, other)
        never_heard = "".join(f", {engine} R@10 {rows[-1][f'{UNHEARD_PREFIX}{engine}{UNHEARD_SUFFIX}']:.1f}"
                              for engine in unheard)
        print(f"  [{name}] epoch {trainer.epoch}: {train_cpu / 60:.1f} CPU min, loss {loss:.3f}, seen R@10 "
              f"{metrics.get('seen_s2i_r10', float('nan')):.1f}, held-out R@10 "
              f"{metrics.get('heldout_s2i_r10', float('nan')):.1f}{never_heard}", flush=True)
    rows[-1]["by_voice"] = recall_by_voice(trainer, embeddings)
    if save is not None:
        trainer.save(save)
    return rows


def unheard_recall(trainer: Trainer, other: Any) -> float:
    """s2i R@10 on another prepared folder's eval split: the same images, spoken by an engine never heard."""
    mine, theirs = (d.manifest["config"]["features"] for d in (trainer.data, other))
    if mine != theirs:  # same images and backbone, same speech features, or the numbers mean nothing
        raise SystemExit(f"{other.root}: features {theirs} differ from the training data's {mine}")
    split = other.splits[trainer.cfg.train.eval_split]
    emb = trainer.embed(split)
    return retrieval_metrics(emb["speech"], emb["image"], split.image_of_utterance)["s2i"]["r10"]


def recall_by_voice(trainer: Trainer, emb: dict[str, torch.Tensor]) -> dict[str, dict[str, Any]]:
    """Speech->image recall per dev voice group from that split's embeddings, for ``--family`` comparisons."""
    split = trainer.data.splits[trainer.cfg.train.eval_split]
    return by_voice_group(emb["speech"], emb["image"], split.image_of_utterance, split.voice_groups)


def family_recall(by_voice: dict[str, dict[str, Any]], families: dict[str, list[str]]) -> dict[str, float]:
    """R@10 over each family's utterances: the utterance-weighted mean of its groups' R@10 (each
    utterance is ranked against every image, so recall over a union is that weighted mean)."""
    hits: dict[str, float] = {}
    counts: dict[str, int] = {}
    for group, metrics in by_voice.items():
        family = next((name for name, patterns in families.items() if matches(group, patterns)), "other")
        hits[family] = hits.get(family, 0.0) + metrics["r10"] * metrics["utterances"]
        counts[family] = counts.get(family, 0) + metrics["utterances"]
    return {family: hits[family] / counts[family] for family in [*families, "other"] if counts.get(family)}


def family_table(results: dict[str, list[dict[str, Any]]], families: dict[str, list[str]]) -> tuple[list[str], list[list[Any]]]:
    recall = {name: family_recall(rows[-1]["by_voice"], families) for name, rows in results.items()}
    columns = list(dict.fromkeys(family for by_family in recall.values() for family in by_family))
    return ["arm", *columns], [[name, *(r.get(f, float("nan")) for f in columns)] for name, r in recall.items()]


def exit_with_parent(parent: int, every_s: float = 5.0) -> None:
    """End this arm's process once the benchmark that started it is gone. A spawned worker outlives a
    killed parent and would go on training, taking the cores and memory from whatever runs next."""
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(every_s)
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="exit-with-parent").start()


def load_and_run_arm(name: str, prepared: str, settings: dict[str, Any], budget_s: float,
                     unheard: dict[str, str], save: Path | None) -> list[dict[str, Any]]:
    """One arm in its own process: load the data (not counted), then train within the budget."""
    exit_with_parent(os.getppid())
    cfg = experiment_config(settings)
    start = time.process_time()
    data = load_prepared(prepared, splits=("train", cfg.train.eval_split), with_grid=needs_grid(cfg))
    others = {engine: load_prepared(path, splits=(cfg.train.eval_split,)) for engine, path in unheard.items()}
    print(f"[{name}] {' '.join(f'{k}={v}' for k, v in settings.get('augment', {}).items()) or 'no augmentation'}"
          f" (data loaded in {time.process_time() - start:.0f} CPU s)", flush=True)
    return run_arm(data, settings, budget_s, name, others, save)


def reused_baseline(path: Path, prepared: str, holdout: list[str], minutes: float | None,
                    overrides: list[str]) -> list[dict[str, float]]:
    """The baseline rows of an earlier run, refused unless it measured the very same thing."""
    earlier = json.loads(path.read_text())
    same = {"prepared": prepared, "holdout": holdout, "minutes": minutes, "overrides": overrides}
    differs = {k: earlier.get(k) for k, v in same.items() if earlier.get(k) != v}
    if differs:
        raise SystemExit(f"{path}: its baseline was measured with other settings: {differs}")
    return earlier["results"]["baseline"]


def saved_model(folder: Path | None, out: Path, arm: str) -> Path | None:
    """Where ``--save`` keeps an arm's model: named after the JSON, so the two stay together."""
    if folder is None:
        return None
    folder.mkdir(parents=True, exist_ok=True)
    return folder.resolve() / f"{out.stem}-{arm.replace(' ', '-')}.pt"


def summary(results: dict[str, list[dict[str, float]]]) -> tuple[list[str], list[list[Any]]]:
    unheard = [key for key in results["baseline"][-1] if key.startswith(UNHEARD_PREFIX)]
    headers = ["arm", "epochs", "CPU min", "train loss", "seen R@10", "held-out R@10", "ratio",
               "seen Δ", "held-out Δ"] + [f"{key.removeprefix(UNHEARD_PREFIX).removesuffix(UNHEARD_SUFFIX)} R@10"
                                          for key in unheard]
    nan = float("nan")
    base = results["baseline"][-1]  # the first epoch always runs, so every arm has a last row
    table = []
    for name, rows in results.items():
        last = rows[-1]
        seen, held = last.get("seen_s2i_r10", nan), last.get("heldout_s2i_r10", nan)
        deltas = ["-", "-"] if name == "baseline" else [
            seen - base.get("seen_s2i_r10", nan), held - base.get("heldout_s2i_r10", nan)]
        table.append([name, last["epoch"], last["cpu_min"], last["train_loss"], seen, held,
                      last.get("voice_ratio", float("nan"))] + deltas + [last.get(key, nan) for key in unheard])
    return headers, table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("prepared", help="prepared folder (manifest.json, shards)")
    parser.add_argument("--holdout", required=True, help="comma-separated voice patterns, e.g. en-gb-scotland,+f")
    parser.add_argument("--minutes", type=float, default=20.0, help="training CPU-time budget per arm")
    parser.add_argument("--augment", action="append", default=None, metavar="KEY=VALUE",
                        help=f"augmentation of arm (b), repeatable (default: {' '.join(DEFAULT_AUGMENT)})")
    parser.add_argument("--measures", action="store_true", help="also one arm per augmentation switch, alone")
    parser.add_argument("--baseline-only", action="store_true", help="only the arm without augmentation")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="section.key=value, every arm")
    parser.add_argument("--out", type=Path, required=True, help="JSON output")
    parser.add_argument("--baseline", type=Path, help="reuse the baseline arm of an earlier run's JSON "
                        "(same data, holdout, budget and --set), instead of training it again")
    parser.add_argument("--workers", type=int, default=1, help="arms trained at once, one process and thread each")
    parser.add_argument("--epochs", type=int, help="train every arm exactly this many epochs (no CPU budget)")
    parser.add_argument("--unheard", action="append", default=[], metavar="NAME=PREP",
                        help="also score on this prepared folder's eval split (same images, another engine)")
    parser.add_argument("--save", type=Path, metavar="DIR", help="keep each arm's last model as DIR/<out>-<arm>.pt")
    parser.add_argument("--family", action="append", default=[], metavar="NAME=PATTERN|PATTERN",
                        help="a family of dev voice groups for the per-family R@10 table, repeatable")
    args = parser.parse_args()

    holdout = [p for p in args.holdout.split(",") if p]
    families = {name: patterns.split("|") for name, patterns in (f.split("=", 1) for f in args.family)}
    unheard = dict(u.split("=", 1) for u in args.unheard)
    if args.epochs:
        args.overrides.append(f"train.epochs={args.epochs}")
        args.minutes = None  # no budget: the JSON records the epochs instead
    base = apply_overrides({"train": {"threads": 1, "holdout_voices": holdout}}, args.overrides)
    cfg = experiment_config(base)
    budget = f"{args.epochs} epochs" if args.epochs else f"{args.minutes} CPU min"
    budget_s = args.minutes * 60 if args.minutes else float("inf")
    print(f"holding out {holdout}; {budget} per arm; {args.workers} arm(s) at once", flush=True)
    plan = arms(args.augment or DEFAULT_AUGMENT, args.measures, args.baseline_only)
    jobs = {name: (args.prepared, apply_overrides(json.loads(json.dumps(base)), [f"augment.{item}" for item in augment]),
                   budget_s, unheard, saved_model(args.save, args.out, name)) for name, augment in plan.items()}
    results: dict[str, list[dict[str, float]]] = {}
    if args.baseline:
        results["baseline"] = reused_baseline(args.baseline, str(args.prepared), holdout, args.minutes, args.overrides)
        del jobs["baseline"]
    with ProcessPoolExecutor(args.workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {name: pool.submit(load_and_run_arm, name, *job) for name, job in jobs.items()}
        results.update({name: future.result() for name, future in futures.items()})
    title = f"held-out voices {holdout}: s2i R@10 on {cfg.train.eval_split}, {budget} per arm"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"prepared": str(args.prepared), "holdout": holdout, "minutes": args.minutes,
                                    "overrides": args.overrides, "arms": plan, "config": to_dict(cfg),
                                    "results": results, "provenance": provenance(sys.argv)}, indent=1))
    print(format_table(*summary(results), title=title))
    if families:
        print(format_table(*family_table(results, families), title=f"s2i R@10 on {cfg.train.eval_split} by voice family"))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
