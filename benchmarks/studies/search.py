"""The search tables: strategies compared (run and simulated), a recorded search and its configurations retrained."""

from __future__ import annotations

from typing import Any

from studies.loeo import (RECIPE_TOML_CLEAN, RECIPE_TOML_GRU, RECIPE_TOML_ROOMS, RECIPE_TOML_ROOMS_QUARTER,
                          at_common_epochs, loeo_file)
from studies.read import ENGINE_NAMES, block, family, last, load, mean, num, rescored_r10, saved_model, spread

SIMULATED = "simulation/strategies.json"
SEARCHED = "search/"
SEARCHES = {  # the recorded Flickr8k searches: their clock, and what else the cores ran (docs/results/search.md)
    "epochs": "flickr8k/search.json",
    "CPU-minutes, beside other work": "flickr8k-cpu/search.json",
    "CPU-minutes, idle machine": "flickr8k-cpu24/search.json",
    "CPU-minutes, all 6,000 images, warm-started from the 20-trial study": "flickr8k-warm/search.json",
    "CPU-minutes, five synthesis methods, mbrola held out, beside other work": "loeo-mbrola/search.json",
    "the same, 24 trials, TPE's start-up a Latin hypercube, resumed once": "loeo-mbrola-lhs/search.json",
}
RETRAINED = SEARCHES["CPU-minutes, beside other work"]  # the 20-trial search whose best SEARCH_ARMS retrains first
LONGEST = SEARCHES["CPU-minutes, idle machine"]  # the one search that ran all of its 24 trials, retrained second
WARM = SEARCHES["CPU-minutes, all 6,000 images, warm-started from the 20-trial study"]  # its trials are full-split runs
ENGINE_HELD_OUT_LHS = SEARCHES["the same, 24 trials, TPE's start-up a Latin hypercube, resumed once"]
SEEDS = (0, 1, 2)  # of the retrains under load and of the full-scale check
RETRAIN_SEEDS = (0, 1, 2, 3)
RETRAINS = SEARCHED + "flickr8k-retrains/"
SEARCH_ARMS = {  # retrained two at a time on the two cores, nothing else running (docs/results/search.md)
    "the 20-trial search's best": [f"{RETRAINS}searched-seed{i}.json" for i in RETRAIN_SEEDS],
    "the 24-trial search's best": [f"{RETRAINS}searched24-seed{i}.json" for i in RETRAIN_SEEDS],
    "default (every search's first trial)": [f"{RETRAINS}default-seed{i}.json" for i in RETRAIN_SEEDS],
    "voice recipe's model settings": [f"{RETRAINS}recipe-seed{i}.json" for i in RETRAIN_SEEDS],
}
RESCORED = (  # SEARCH_ARMS' saved models on dev in a room (benchmarks/rescore.py), one file per batch of saved models
    RETRAINS + "rescored.json", RETRAINS + "rescored24.json", RETRAINS + "rescored-seed3.json")
SEARCH_ARMS_UNDER_LOAD = {  # the first retrains, beside searches, benchmarks and tests on the same cores
    "the 20-trial search's best": [f"{SEARCHED}flickr8k-cpu/searched-seed{i}.json" for i in SEEDS],
    "the epoch-clock search's best": [f"{SEARCHED}flickr8k/searched-seed0.json"],
    "default (every search's first trial)": [f"{SEARCHED}flickr8k/default-seed{i}.json" for i in SEEDS],
    "voice recipe's model settings": [f"{SEARCHED}flickr8k/recipe-seed{i}.json" for i in SEEDS],
}
ENGINE_HELD_OUT_ARMS = {  # mbrola held out, 3 seeds, the engine-held-out search's budget
    "the Latin-hypercube search's best": [loeo_file("searched", "mbrola", s) for s in ("", "-seed1", "-seed2")],
    # seed 0 ran on a machine as fast as the search's (its epochs match the search's base trial to the digit); seeds
    # 1 and 2 of the loeo table ran on faster ones, so they were run again beside the searched configuration's
    "the voice recipe (5 MFCC, VTLP ±10 %, weight average)": [loeo_file("recipe", "mbrola", ""),
                                         *(loeo_file("recipe-rerun", "mbrola", f"-seed{i}") for i in (1, 2))],
    "default (no measures)": [loeo_file("plain", "mbrola", s) for s in ("", "-seed1", "-seed2")],  # seed 1: faster
}
FULL_SCALE = SEARCHED + "flickr8k-full24/"
RECIPE_TOML_RUNS = [f"{FULL_SCALE}searched-ema-lstm-bf16-seed{i}.json" for i in SEEDS]  # recipe.toml's configuration
FULL_SCALE_ARMS = {  # the engine-held-out search's best at the scale, beside the recipe, same machine and run
    "the engine-held-out search's best": [f"{FULL_SCALE}searched-seed{i}.json" for i in SEEDS],
    # the same with the recipe's weight average (train.ema_decay 0.999): recipe.toml from when it won here
    f"the search's best with the weight average ({RECIPE_TOML_GRU})": [
        f"{FULL_SCALE}searched-ema-seed{i}.json" for i in SEEDS],
    # and with an LSTM trained in bf16 (model.rnn, train.precision): recipe.toml since it won here, 2026-12-07
    "the same with an LSTM trained in bf16 (`recipe.toml`)": RECIPE_TOML_RUNS,
    # and at batch 32, the learning rate unchanged: 0.62 of the epoch's CPU. Seeds 0 and 1 at the budget, two at a
    # time (7 epochs each); seed 2 on a faster CPU, so it trained those 7 epochs (--epochs 7) beside a rerun of seed 0
    # there (searched-ema-lstm-bf16-b32-seed0-rerun.json) that gave seed 0's recorded curve again
    "the same at batch 32": [f"{FULL_SCALE}searched-ema-lstm-bf16-b32-seed{i}.json" for i in SEEDS],
    "the voice recipe (5 MFCC, VTLP ±10 %, weight average)": [f"{FULL_SCALE}recipe-seed{i}.json" for i in SEEDS],
}
# recipe.toml's settings on the clean prep, with each caption's first rendition through a random room, microphone,
# noise and codec, and with half the captions' (--conditions-share 0.5: recipe.toml's prep since 2026-12-07); the
# room arms on a faster CPU, 4 epochs each (voices.py --epochs 4), what the clean runs had in the budget (seed 2: 5).
# Their files are named like the leave-one-engine-out arms': <arm>-seed<i>.json
FULL_SCALE_ROOMS = {RECIPE_TOML_CLEAN: RECIPE_TOML_RUNS, **{
    label: [f"{FULL_SCALE}{arm}-seed{i}.json" for i in SEEDS]
    for label, arm in {**RECIPE_TOML_ROOMS, **RECIPE_TOML_ROOMS_QUARTER}.items()}}
# The same at 4 epochs with their models kept, each rescored on the full dev prepared --eval-condition office (the
# voices of recipe.toml, Pico and RHVoice): the clean runs again (the first ones kept no model; each gave its curve
# again to the digit)
FULL_SCALE_OFFICE = {**FULL_SCALE_ROOMS,
                     RECIPE_TOML_CLEAN: [f"{FULL_SCALE}searched-ema-lstm-bf16-seed{i}-rerun.json" for i in SEEDS]}
HOLDOUT_ACCENT = "en-gb-scotland"
FULL_SCALE_KEYS = ("seen_s2i_r10", "heldout_s2i_r10", "unheard_pico_s2i_r10", "unheard_rhvoice_s2i_r10")
FULL_SPLIT = ("Flickr8k dev (1,000 images, 5,000 utterances), {training} on one thread, all 6,000 train images; "
              "held out: the Scottish accent, never heard in training.")
ENGINE_HELD_OUT_DATA = ("Flickr8k dev (1,000 images, 10,000 utterances by five synthesis methods), {training} on "
                        "one thread, the first 2,000 train images; held out: mbrola, never heard in training; seen: "
                        "the other four methods.")
FULL_SCALE_DATA = ("Flickr8k dev (1,000 images, 10,000 utterances: each caption spoken by espeak-ng or mbrola and by "
                   "flite, as `recipe.toml` prepares them), {training} on one thread, all 6,000 train images; held "
                   "out: the Scottish accent, never heard in training.")
UNHEARD_ENGINES = ("pico", "rhvoice")  # dev re-spoken by engines no retrain heard (--unheard)
OFFICE = "(a 0.42 s room at arm's length, a laptop's 150 Hz–6 kHz band, a fan 20 dB down, Opus at 24 kbps)"
CONDITION_NAMES = {"clean": "clean", "office": "in the office", "phone": "on the phone"}
STRATEGY_NAMES = {"tpe": "TPE", "random": "random", "asha": "ASHA", "hyperband": "HyperBand", "fifo": "no early stopping"}


def cpu_minutes(minutes: float) -> str:
    return f"{num(minutes, 0)} training CPU-minutes"


def strategy_name(strategy: str) -> str:
    searcher, scheduler = strategy.split("+")
    return STRATEGY_NAMES[searcher] + (", " if scheduler == "fifo" else " + ") + STRATEGY_NAMES[scheduler]


def strategies(rel: str) -> str:
    d = load(rel)
    target = f"{d['ablate']['target_metric']} ≥ {num(d['ablate']['target'], 0)}"
    rows = []
    for s in d["strategies"]:
        name = strategy_name(s["strategy"])
        reached = "not reached" if s["to_target"] is None else s["to_target"]
        rows.append([name, f"{s['trials']} ({s['stopped_early']})", s["trial_epochs"], reached, num(s["best_s2i_r10"]),
                     num(s.get("best_search_recall", s.get("best_mean_recall"))),  # files before held-out voices counted
                     f"{s['to_reference']} ({s['share_of_reference']:.0%})", num(s["minutes"])])
    headers = ["strategy", "trials (stopped early)", "trial-epochs", f"trial-epochs to {target}", "best dev s→i R@10",
               "best search recall", "trial-epochs to random, no early stopping's best (share of its trial-epochs)",
               "wall min"]
    return block(headers, rows, [rel])


def simulated_strategies(rel: str) -> str:
    """benchmarks/simulate.py: each strategy's simulated CPU to reach random search's best, over seeds."""
    d = load(rel)
    reference = next(s for s in d["summary"] if s["strategy"] == "random+fifo")
    rows = []
    def minutes(x: float | None) -> str:
        return "never" if x is None else num(x, 0)

    for s in d["summary"]:
        spent = (f"{minutes(s['to_target_median'])} ({minutes(s['to_target_q1'])}–{minutes(s['to_target_q3'])}; "
                 f"{minutes(s['to_target_min'])}–{minutes(s['to_target_max'])})")
        rows.append([strategy_name(s["strategy"]), f"{s['seeds'] - s['never']} of {s['seeds']}", spent,
                     f"{s['to_target_median'] / reference['cpu_min_median']:.0%}" if s["to_target_median"] else "—",
                     num(s["cpu_min_median"], 0), num(s["trial_epochs_median"], 0), num(s["best_median"], 2),
                     num(s["distinct_curves_median"], 0)])
    search = d["search"]
    headers = ["strategy", "seeds reaching random's best", "simulated CPU-min to it: median (quartiles; min–max)",
               "median as share of random search's whole budget", "simulated CPU-min in all", "trial-epochs",
               f"best dev {d['metric'].replace('_', ' ')}", "recorded curves replayed"]
    note = (f"{search['trials']} trials of up to {search['max_epochs']} epochs, {search['seeds']} seeds, replaying "
            f"{d['recorded']['curves']} recorded curves of {len(d['recorded']['configurations'])} configurations of "
            f"`{d['data']}`; ASHA grace {search['grace_period']}, reduction factor {search['reduction_factor']} "
            f"(HyperBand too); TPE's first {search['startup_trials']} trials random. Random's best: per seed, the best "
            "value random search without early stopping reached with that seed. Medians over seeds; quartiles and "
            "min–max over all seeds, a seed that never reached it counting as infinitely late.")
    return block(headers, rows, [rel], note)


def search_recall(row: dict[str, Any]) -> float:
    """sonovis' search metric of a voices.py epoch with held-out voices (metrics.SEARCH_METRIC)."""
    return (row["seen_mean_recall"] + row["heldout_mean_recall"]) / 2


def unheard(runs: list[dict[str, Any]], engine: str) -> str:
    """s→i R@10 on dev spoken by an engine no arm trained on (voices.py --unheard), over the seeds."""
    return spread([r[f"unheard_{engine}_s2i_r10"] for r in runs])


def epochs(runs: list[dict[str, Any]]) -> str:
    """Epochs the budget bought, as a range when the seeds differ (an epoch's CPU cost varies between runs)."""
    low, high = min(r["epoch"] for r in runs), max(r["epoch"] for r in runs)
    return str(low) if low == high else f"{low}–{high}"


def rescored_header(heard: dict[str, str]) -> str:
    """A rescore.py folder's column: its engine, and the condition its dev was heard in."""
    engine = ENGINE_NAMES.get(heard["engine"], heard["engine"])
    return f"*{engine}, {CONDITION_NAMES.get(heard['eval_condition'], heard['eval_condition'])}* s→i R@10"


def merged_rescores(files: tuple[str, ...]) -> dict[str, Any] | None:
    """rescore.py files of batches of saved models, as one; they must have heard the same folders."""
    if not files:
        return None
    first, *rest = (load(f) for f in files)
    heard = lambda r: [(d["engine"], d["eval_condition"]) for d in r["data"].values()]  # noqa: E731
    for other, name in zip(rest, files[1:]):
        if heard(other) != heard(first):
            raise ValueError(f"{name} scored other folders than {files[0]}")
    return {**first, "results": {k: v for r in (first, *rest) for k, v in r["results"].items()}}


def arm_runs(arms: dict[str, list[str]]) -> dict[str, list[dict[str, Any]]]:
    """Each arm's runs: the last epoch of each of its result files."""
    return {label: [last(rel) for rel in rels] for label, rels in arms.items()}


def search_retrains(groups: dict[str, list[str]], rescored: tuple[str, ...] = (), data: str = FULL_SPLIT) -> str:
    """Each configuration retrained at one CPU budget, over seeds (result files, on the ``data`` said):
    seen and held-out voices, R@1 / R@5 / R@10 both ways (means; ± std over seeds on R@10); where the runs
    scored them, an engine never heard and (``rescored``) dev in a room through a laptop."""
    runs_of = arm_runs(groups)
    engines = [e for e in UNHEARD_ENGINES if all(f"unheard_{e}_s2i_r10" in r for runs in runs_of.values() for r in runs)]
    extra = merged_rescores(rescored)
    rows = []
    for label, runs in runs_of.items():
        def cell(voices: str, way: str) -> str:
            means = " / ".join(num(mean(r[f"{voices}_{way}_r{k}"] for r in runs)) for k in (1, 5))
            return f"{means} / {spread([r[f'{voices}_{way}_r10'] for r in runs])}"
        in_folders = [spread([rescored_r10(extra, n, folder) for n in groups[label]]) for folder in extra["data"]] if extra else []
        rows.append([label, len(runs), epochs(runs), cell("seen", "s2i"), cell("seen", "i2s"),
                     cell("heldout", "s2i"), cell("heldout", "i2s"), spread([search_recall(r) for r in runs]),
                     *(unheard(runs, engine) for engine in engines), *in_folders])
    minutes = load(next(iter(groups.values()))[0])["minutes"]
    headers = ["configuration", "seeds", "epochs", "seen s→i R@1 / 5 / 10", "seen i→s", "*held out* s→i", "*held out* i→s",
               "search recall", *(f"*{ENGINE_NAMES[e]}, never heard* s→i R@10" for e in engines),
               *(rescored_header(heard) for heard in (extra["data"].values() if extra else []))]
    files = [rel for rels in groups.values() for rel in rels] + list(rescored)
    never_heard = (f" {', '.join(ENGINE_NAMES[e] for e in engines)}: the same dev captions spoken by an engine no "
                   "arm trained on (`voices.py --unheard`)." if engines else "")
    in_room = (f" *In the office*: dev re-prepared with `--eval-condition office` {OFFICE}, each seed's saved model "
               "scored by `benchmarks/rescore.py`; every dev voice." if extra else "")
    return block(headers, rows, files,
                 data.format(training=cpu_minutes(minutes)) + " Epochs differ because the budget is what is equal. "
                 "Search recall is the mean of the seen and held-out voices' mean recall, what the search ranked by."
                 + never_heard + in_room)


def search_summary(searches: dict[str, str]) -> str:
    """What each recorded search (benchmarks/search_record.py) cost and found, a row per search."""
    def value(v: Any) -> str:
        return f"{v:.3g}" if isinstance(v, float) else str(v)
    def spent(trial: dict[str, Any]) -> str:
        return f"{trial['epochs']} epochs, {num(trial['cpu_min'])} CPU-min"
    rows = []
    for label, rel in searches.items():
        d = load(SEARCHED + rel)
        best, base = d["best"], d["base"]
        changed = ", ".join(f"`{k}` {value(v)}" for k, v in sorted(best["changed_from_base"].items())) or "nothing"
        rows.append([label, d["trials"], d["stopped_early"], d["trial_epochs"], num(d["trial_cpu_min"], 0),
                     num(d["wall_min"], 0), f"{num(base[d['metric']])} ({spent(base)})",
                     f"{num(best[d['metric']])} (epoch {best['epoch']} of {spent(best)})", changed])
    headers = ["search", "trials", "stopped early", "trial-epochs", "trial CPU-min", "wall min", "base (first trial)",
               "best", "the best trial's changes to the base"]
    return block(headers, rows, [SEARCHED + rel for rel in searches.values()],
                 "Search recall on the search's own data (dev, seen and held-out voices).")


def at_common_epoch(arms: dict[str, list[str]]) -> dict[str, list[dict[str, Any]]]:
    """Each arm's runs, each at the last epoch every run of every arm reached: equal training, whatever the CPU."""
    rows = iter(at_common_epochs([rel for rels in arms.values() for rel in rels]))
    return {label: [next(rows) for _ in rels] for label, rels in arms.items()}


def full_scale_side_by_side(arms: dict[str, list[str]]) -> str:
    """Arms at the full scale at equal epochs: the voices heard, the accent held out and the engines never heard,
    s→i R@10, and i→s on the voices heard; mean ± std over the seeds."""
    rows = [[label, len(runs), runs[0]["epoch"],
             *(spread([r[key] for r in runs]) for key in (*FULL_SCALE_KEYS, "seen_i2s_r10"))]
            for label, runs in at_common_epoch(arms).items()]
    headers = ["configuration", "seeds", "epochs", "seen s→i R@10", "*held out* s→i R@10",
               *(f"*{ENGINE_NAMES[e]}, never heard* s→i R@10" for e in UNHEARD_ENGINES), "seen i→s R@10"]
    first = next(iter(arms.values()))[0]
    return block(headers, rows, [rel for rels in arms.values() for rel in rels],
                 FULL_SCALE_DATA.format(training=cpu_minutes(load(first)["minutes"])) + " The first arm's budget; "
                 "every run is compared at the last epoch all of them reached.")


def office_rescore(run: str) -> str:
    """The rescore file of a full-scale run's saved model heard in the office (benchmarks/rescore.py --by-voice)."""
    folder, _, name = run.rpartition("/")
    return f"{folder}/rescored-office-{name}"


def office_and_clean(run: str) -> dict[str, tuple[float, float]]:
    """Per voice family: (s→i R@10 in the office, the same model's clean R@10 at its last epoch)."""
    rescored, clean = load(office_rescore(run)), last(run)
    model = rescored["results"][saved_model(run)]
    office = model["office"]["by_voice"]
    return {"heard": (family(office, [""], [HOLDOUT_ACCENT]), family(clean["by_voice"], [""], [HOLDOUT_ACCENT])),
            "held out": (family(office, [HOLDOUT_ACCENT]), family(clean["by_voice"], [HOLDOUT_ACCENT])),
            **{e: (model[f"{e}-office"]["s2i"]["r10"], clean[f"unheard_{e}_s2i_r10"]) for e in UNHEARD_ENGINES}}


OFFICE_FAMILIES = ("heard", "held out", *UNHEARD_ENGINES)


def office_shares(runs: list[str]) -> dict[str, float]:
    """Per voice family, the office's share of clean s→i R@10, mean over the runs' models."""
    scores = [office_and_clean(run) for run in runs]
    return {key: mean(s[key][0] / s[key][1] for s in scores) for key in OFFICE_FAMILIES}


def full_scale_office(arms: dict[str, list[str]]) -> str:
    """Full-scale models heard in the office: s→i R@10 there, and its share of the same model's clean R@10."""
    rows = []
    for label, runs in arms.items():
        scores = [office_and_clean(run) for run in runs]
        rows.append([label, len(runs), last(runs[0])["epoch"], *(
            f"{spread([s[key][0] for s in scores])} ({spread([s[key][0] / s[key][1] for s in scores], 2)})"
            for key in OFFICE_FAMILIES)])
    headers = ["configuration", "seeds", "epochs", "seen", "*held out*",
               *(f"*{ENGINE_NAMES[e]}, never heard*" for e in UNHEARD_ENGINES)]
    runs = [run for rels in arms.values() for run in rels]
    return block(headers, rows, [r for run in runs for r in (run, office_rescore(run))],
                 "s→i R@10 in the office (÷ the same model's clean R@10, its last epoch), mean ± std over the "
                 "seeds. " + FULL_SCALE_DATA.format(training=f"{last(runs[0])['epoch']} epochs") + " *In the office*: "
                 f"the same dev, Pico's and RHVoice's dev prepared `--eval-condition office` {OFFICE}, each saved "
                 "model scored by `benchmarks/rescore.py --by-voice`.")
