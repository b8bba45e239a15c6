"""The leave-one-engine-out tables: each synthesis method held out of training in turn (benchmarks/voices.py
runs), its recall against the methods heard on clean dev; the same models heard in a room are loeo_office.py's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from studies.read import block, family, italic, last, load, mean, num, spread

LOEO = "voices/leave-one-engine-out/"
LOEO_ENGINES = {  # a synthesis method -> its file-name part and the dev voice pattern that is it
    "espeak-ng formants": ("espeak-formants", "espeak:en"), "mbrola": ("mbrola", "mb-"), "flite": ("flite", "flite:"),
    "Pico": ("pico", "pico:"), "RHVoice": ("rhvoice", "rhvoice:")}
LOEO_ARMS = {"no measures (40 MFCC)": "plain", "the recipe (5 MFCC, VTLP ±10 %, weight average)": "recipe"}
# recipe.toml until 2026-12-07 (the recipe with the searched shape, a GRU in float32), and since: the same with an
# LSTM trained in bf16 (model.rnn = "lstm", train.precision = "auto", which is bf16 on the CPU every run had)
RECIPE_TOML_GRU = "`recipe.toml` with a GRU"
LOEO_RECIPE_TOML_SEEDS = {f"{RECIPE_TOML_GRU} (the recipe with the searched shape)": "searched-ema"}
# recipe.toml's configuration at batch 32 (train.batch_size = 32: fewer, cheaper steps an epoch; see LOEO_SEEDS)
RECIPE_TOML_B32 = {"`recipe.toml` at batch 32": "searched-ema-lstm-bf16-b32"}
# the headline table: every arm with every method held out on several seeds
LOEO_SUMMARY = {**LOEO_ARMS, **LOEO_RECIPE_TOML_SEEDS,
                "`recipe.toml` (the same with an LSTM trained in bf16)": "searched-ema-lstm-bf16", **RECIPE_TOML_B32}
# README's short names for the same arms ("the recipe" of docs/results/voices.md is README's voice measures)
LOEO_HEADLINE = {"`recipe.toml`": "searched-ema-lstm-bf16", RECIPE_TOML_GRU: "searched-ema",
                 "the voice measures": "recipe", "no measures": "plain"}
LOEO_CONVERSION = {  # the recipe on the clean prep, and on one where each caption's first rendition went through WORLD
    "the recipe": "recipe", "the recipe, half the renditions converted": "recipe-vc"}
LOEO_ROOMS = {  # the recipe on the clean prep, and on one where each caption's first rendition went through a random
    # room, microphone, noise and codec
    "the recipe": "recipe", "the recipe, half the renditions through a room": "recipe-rooms"}
LOEO_SEARCHED = {  # the recipe, and the engine-held-out search's best (docs/results/search.md), seed 0
    "the recipe": "recipe", "the search's best (mbrola held out while searching)": "searched"}
LOEO_RECIPE_TOML = {  # the same two, and the search's best with the recipe's weight average: recipe.toml (with a GRU)
    # since #25's full-scale retrains (docs/results/search.md), seed 0
    "the voice recipe": "recipe", "the search's best": "searched",
    f"with the weight average ({RECIPE_TOML_GRU})": "searched-ema"}
LOEO_RECIPE_TOML_ROOMS = {  # recipe.toml on the clean prep, and on the prep where each caption's first rendition went
    # through a random room, microphone, noise and codec (the voice recipe's measure above, now on recipe.toml), seed 0
    RECIPE_TOML_GRU: "searched-ema", f"{RECIPE_TOML_GRU}, half the renditions through a room": "searched-ema-rooms"}
LOEO_LOGMEL = {  # recipe.toml on the clean prep's MFCC (it reads the first 5), and on the same speech prepared as 40
    # log-mel energies (features.kind = "logmel", all 40 read; per-utterance normalised like every input), seed 0
    f"{RECIPE_TOML_GRU} (5 of 40 MFCC)": "searched-ema", "the same on 40 log-mel energies": "searched-ema-logmel"}
LOEO_LSTM = {  # recipe.toml as it was (a GRU in float32), and with an LSTM trained in bf16 (model.rnn = "lstm",
    # train.precision = "bf16": three quarters of an epoch's CPU, docs/results/speed.md), the same budget; the paired
    # tables show seed 0, the summaries every seed in LOEO_SEEDS
    f"{RECIPE_TOML_GRU} (float32)": "searched-ema",
    "`recipe.toml` now: an LSTM trained in bf16": "searched-ema-lstm-bf16"}
LOEO_BATCH = {  # recipe.toml's configuration at batch 16 and at 32, three seeds each
    "`recipe.toml` at batch 16": "searched-ema-lstm-bf16", "the same at batch 32": "searched-ema-lstm-bf16-b32"}
# recipe.toml on the prep where each caption's first rendition went through a random room, microphone, noise and codec
RECIPE_TOML_ROOMS = {"`recipe.toml`'s settings, half the renditions through a room": "searched-ema-lstm-bf16-rooms"}
RECIPE_TOML_CLEAN = "`recipe.toml`'s settings, clean prep"  # recipe.toml's prep until 2026-12-07
LOEO_LSTM_ROOMS = {RECIPE_TOML_CLEAN: "searched-ema-lstm-bf16", **RECIPE_TOML_ROOMS}
# and on the prep where half the captions' first rendition went through them (--conditions-share 0.5): recipe.toml's
# prep since 2026-12-07; three seeds
RECIPE_TOML_ROOMS_QUARTER = {"`recipe.toml` (a quarter of the renditions through a room)":
                             "searched-ema-lstm-bf16-rooms-quarter"}
LOEO_ROOM_SHARES = {**LOEO_LSTM_ROOMS, **RECIPE_TOML_ROOMS_QUARTER}
# README's room row: recipe.toml trained clean (batch 16's models were not kept, batch 32's stand in) and with rooms
LOEO_ROOMS_HEADLINE = {"`recipe.toml`'s settings trained clean (the batch-32 models)": "searched-ema-lstm-bf16-b32",
                       **RECIPE_TOML_ROOMS}
LOEO_BATCH_OFFICE = {  # every seed's final models rescored in the office: recipe.toml with a GRU, and at batch 32
    f"{RECIPE_TOML_GRU} (batch 16)": "searched-ema", **RECIPE_TOML_B32}
LOEO_SEEDS = {"plain": ["", "-seed1"], "recipe": ["", "-seed1", "-seed2"],  # per arm, each seed's file-name suffix
              "searched-ema": ["", "-seed1", "-seed2"], "searched-ema-lstm-bf16": ["", "-seed1", "-seed2"],
              "searched-ema-lstm-bf16-b32": ["", "-seed1", "-seed2"],
              "searched-ema-lstm-bf16-rooms": ["", "-seed1", "-seed2"],
              "searched-ema-lstm-bf16-rooms-quarter": ["", "-seed1", "-seed2"]}
# plain and recipe: seeds 1 and 2 ran on machines where an epoch cost 0.7-0.9 and 0.9-1.1 CPU-minutes against seed
# 0's 1.2-1.5, so the same budget gave them 10-14 and 8-11 epochs against 6-8. searched-ema: all three on one machine,
# 4-7 epochs; searched-ema-lstm-bf16: all three on one machine (seed 0 a day before seeds 1 and 2), 7-8 epochs.
# Every epoch is scored, so the seeds are compared at the last epoch all of them reached. searched-ema-lstm-bf16-b32:
# 12 epochs each (voices.py --epochs 12) on a faster CPU, where a CPU-minute buys more: on the machine of the batch-16
# runs their epochs cost 1.1-1.5 CPU-minutes at this scale and batch 32's 0.62 of batch 16's (full scale, 3.1 against
# 5.0), so 10 CPU-minutes bought batch 32 10-12 epochs (espeak-ng formants, mbrola) or 12-14 (the other three).
# searched-ema-lstm-bf16-rooms: on that faster CPU too, each run as many epochs as searched-ema-lstm-bf16's run of the
# same method and seed (voices.py --epochs), so the two compare at equal training whatever the CPU; so did
# searched-ema-lstm-bf16-rooms-quarter, two at a time on that CPU.


def seed_number(seed: str) -> str:
    """A seed's file-name suffix ("", "-seed1", ...) as the seed it names: "" is seed 0."""
    return seed.removeprefix("-seed") or "0"


def loeo_file(arm: str, name: str, seed: str) -> str:
    """One leave-one-engine-out run's result file: its arm, the method held out (file-name part), its seed suffix."""
    return f"{LOEO}{arm}-without-{name}{seed}.json"


def loeo_runs(arm: str) -> list[tuple[str, str, list[str]]]:
    """(held-out method, its dev pattern, one result file per seed) for every method held out in turn."""
    return [(method, pattern, [loeo_file(arm, name, seed) for seed in LOEO_SEEDS[arm]])
            for method, (name, pattern) in LOEO_ENGINES.items()]


def loeo_files(arm: str) -> list[str]:
    return [rel for _, _, rels in loeo_runs(arm) for rel in rels]


def at_common_epochs(rels: list[str], whole_budget: bool = False) -> list[dict[str, Any]]:
    """Each seed's row at the last epoch every seed's run reached, so seeds on busier or slower machines (fewer
    epochs in the same CPU budget) are compared at equal training, not at unequal ends; or, ``whole_budget``, each
    seed's last epoch (for seeds that ran on one machine, where the budget is what is equal)."""
    if whole_budget:
        return [last(rel) for rel in rels]
    epochs = min(last(rel)["epoch"] for rel in rels)
    return [load(rel)["results"]["baseline"][epochs - 1] for rel in rels]


def loeo_rows(arm: str, whole_budget: bool = False) -> dict[str, list[dict[str, Any]]]:
    """Per method held out, each seed's scored row (see ``at_common_epochs``): what every summary is worked out from."""
    return {method: at_common_epochs(rels, whole_budget) for method, _, rels in loeo_runs(arm)}


def method_means(rows: dict[str, list[dict[str, Any]]], key: str) -> dict[str, float]:
    """Per method held out, one figure's mean over the seeds (for "voice_ratio": the figure the issue's targets are
    on)."""
    return {method: mean(r[key] for r in runs) for method, runs in rows.items()}


def seed_means(rows: dict[str, list[dict[str, Any]]], key: str) -> list[float]:
    """Per seed, one figure's mean over the methods held out: its spread is the seeds'."""
    return [mean(seeds) for seeds in zip(*([r[key] for r in runs] for runs in rows.values()))]


def seeds_said(arms: dict[str, str]) -> str:
    """How many seeds each arm's means are over, e.g. "2 and 3 seeds"."""
    counts = " and ".join(dict.fromkeys(str(len(LOEO_SEEDS[arm])) for arm in arms.values()))
    return f"{counts} seeds"


def voices_leave_one_engine_out(arms: dict[str, str]) -> str:
    """One row per arm, method held out and seed (its last epoch): s2i R@10 per method, italic the held-out one."""
    rows = []
    for label, arm in arms.items():
        for method, _, rels in loeo_runs(arm):
            for seed, rel in enumerate(rels):
                r = last(rel)
                cells = [italic(num(family(r["by_voice"], [p])), m == method) for m, (_, p) in LOEO_ENGINES.items()]
                rows.append([f"{label}, {method} held out" if seed == 0 else "", seed, r["epoch"], *cells,
                             num(r["seen_s2i_r10"]), num(r["voice_ratio"], 2)])
    return block(["arm, method never heard", "seed", "epochs", *LOEO_ENGINES, "seen", "held-out ÷ seen"], rows,
                 [rel for arm in arms.values() for rel in loeo_files(arm)],
                 "s→i R@10 on Flickr8k dev after the whole budget; *italic*: the method held out of training.")


def voices_leave_one_engine_out_summary(arms: dict[str, str], whole_budget: bool = False) -> str:
    """The issue's headline: the mean held-out ÷ seen ratio over the methods held out in turn, and the worst."""
    rows = []
    for label, arm in arms.items():
        scored = loeo_rows(arm, whole_budget)
        ratios = method_means(scored, "voice_ratio")
        worst = min(ratios, key=ratios.get)
        epochs = [r["epoch"] for runs in scored.values() for r in runs]
        low, high = min(epochs), max(epochs)
        rows.append([label, len(ratios), len(LOEO_SEEDS[arm]), f"{low}–{high}" if low != high else low,
                     *(spread(seed_means(scored, key)) for key in ("heldout_s2i_r10", "seen_s2i_r10")),
                     spread(seed_means(scored, "voice_ratio"), 2), f"{num(ratios[worst], 2)} ({worst})"])
    when = ("after each run's whole budget of training CPU-minutes" if whole_budget else
            "at the last epoch every seed reached")
    return block(["arm", "methods held out", "seeds", "epochs", "held-out s→i R@10", "seen s→i R@10",
                  "held-out ÷ seen", "worst"],
                 rows, [rel for arm in arms.values() for rel in loeo_files(arm)],
                 f"Means over the methods held out in turn, mean ± std over the seeds {when}; the worst method's "
                 "ratio is its mean over the seeds.")


LOEO_SPLIT = {  # the recipe taken apart, on the method it serves worst; all seed 1, on one machine
    "no measures (40 MFCC)": "plain", "5 MFCC alone": "cepstra5", "VTLP ±10 % and weight average, 40 MFCC": "vtlp-ema",
    "the recipe (all three)": "recipe"}


def voices_leave_one_engine_out_measures(arms: dict[str, str], held_out: str) -> str:
    """Which of the recipe's measures carry a method never heard: each part alone, at the whole budget."""
    name, pattern = LOEO_ENGINES[held_out]
    rows, files = [], []
    for label, arm in arms.items():
        rel = loeo_file(arm, name, "-seed1")
        r = last(rel)
        rows.append([f"{label} (`{Path(rel).name}`)", r["epoch"], italic(num(family(r["by_voice"], [pattern])), True),
                     num(r["seen_s2i_r10"]), num(r["voice_ratio"], 2)])
        files.append(rel)
    return block(["arm", "epochs", f"*{held_out}*", "seen", "held-out ÷ seen"], rows, files,
                 f"s→i R@10 on Flickr8k dev, {held_out} held out of training, seed 1, 10 training CPU-minutes.")


def loeo_side_by_side(arms: dict[str, str], name: str, seed: str, whole_budget: bool) -> list[dict[str, Any]]:
    """Each arm's row for one method held out: at the last epoch every arm reached (two runs with one seed then
    differ only in their arm, whatever the machine's speed), or each at its whole budget (for arms whose epochs
    cost differently, as a searched configuration's do: the budget is what is equal)."""
    rels = [loeo_file(arm, name, seed) for arm in arms.values()]
    if whole_budget:
        return [last(rel) for rel in rels]
    epochs = min(last(rel)["epoch"] for rel in rels)
    return [load(rel)["results"]["baseline"][epochs - 1] for rel in rels]


def voices_leave_one_engine_out_paired(arms: dict[str, str], seed: str, whole_budget: bool = False,
                                       methods: tuple[str, ...] = tuple(LOEO_ENGINES)) -> str:
    """Arms trained from one seed on each method held out in turn (or those of ``methods``), side by side, and their
    means."""
    engines = {method: LOEO_ENGINES[method] for method in methods}
    rows, per_arm = [], {label: [] for label in arms}
    for method, (name, _) in engines.items():
        runs = loeo_side_by_side(arms, name, seed, whole_budget)
        cells = []
        for label, r in zip(arms, runs):
            per_arm[label].append(r)
            cells += [f"{num(r['heldout_s2i_r10'])} ({num(r['voice_ratio'], 2)})", num(r["seen_s2i_r10"])]
            cells += [r["epoch"]] if whole_budget else []
        rows.append([f"*{method}*", *([] if whole_budget else [runs[0]["epoch"]]), *cells])
    means = []
    for runs in per_arm.values():
        ratios = {method: r["voice_ratio"] for method, r in zip(engines, runs)}
        worst = min(ratios, key=ratios.get)
        means += [f"**{num(mean(r['heldout_s2i_r10'] for r in runs))} ({num(mean(ratios.values()), 2)}; worst "
                  f"{num(ratios[worst], 2)}, {worst})**", f"**{num(mean(r['seen_s2i_r10'] for r in runs))}**"]
        means += [""] if whole_budget else []
    if len(engines) > 1:
        rows.append(["**mean**", *([] if whole_budget else [""]), *means])
    headers = ["method held out"] + ([] if whole_budget else ["epochs"])
    for label in arms:
        headers += [f"{label}: held out (÷ seen)", "seen"] + (["epochs"] if whole_budget else [])
    files = [loeo_file(arm, name, seed) for arm in arms.values() for name, _ in engines.values()]
    compared = ("each run after its whole budget of training CPU-minutes" if whole_budget else
                "each pair of runs compared at the last epoch both reached in the budget")
    return block(headers, rows, files, "s→i R@10 on Flickr8k dev (1,000 images, 10,000 utterances) of the method "
                 f"held out, and of the four heard; {compared}.")
