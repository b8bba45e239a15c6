"""Rebuild the tables of numbers in docs/results/*.md (and README's headline table) from the result files.

Every table sits between two markers, and only this script writes what is between them:

    <!-- table:voices-leave-one-method-out -->
    ...generated...
    <!-- /table -->

    python benchmarks/tables.py            # rewrite every page in place
    python benchmarks/tables.py --check    # exit 1, naming the pages, if any page is out of date
                                           # (either way: exit 1 if a table in TABLES is on no page)

Each table ends with a line naming its source files (under benchmarks/results/) and the commit
each one's provenance records. Standard library only. One function per kind of table, in
benchmarks/studies/ (a module per study, reading result files through studies/read.py); TABLES
maps a table's name to the call that builds it.
"""

from __future__ import annotations

import argparse
import re
import sys
from functools import partial
from pathlib import Path
from typing import Callable

from studies.loeo import (LOEO_ARMS, LOEO_BATCH, LOEO_BATCH_OFFICE, LOEO_CONVERSION, LOEO_HEADLINE, LOEO_LOGMEL,
                          LOEO_LSTM, LOEO_LSTM_ROOMS, LOEO_RECIPE_TOML, LOEO_RECIPE_TOML_ROOMS, LOEO_RECIPE_TOML_SEEDS,
                          LOEO_ROOMS, LOEO_ROOMS_HEADLINE, LOEO_SEARCHED, LOEO_SEEDS, LOEO_SPLIT, LOEO_SUMMARY,
                          RECIPE_TOML_B32, RECIPE_TOML_ROOMS, loeo_files, seeds_said, voices_leave_one_engine_out,
                          voices_leave_one_engine_out_measures, voices_leave_one_engine_out_paired,
                          voices_leave_one_engine_out_summary)
from studies.loeo_office import (LOEO_RECIPE_TOML_OFFICE, LOEO_RESCORED, loeo_headline, loeo_room_headline,
                                 office_share_files, voices_leave_one_engine_out_office_seeds,
                                 voices_leave_one_engine_out_office_share, voices_leave_one_engine_out_rooms)
from studies.quality import ablations, quality
from studies.read import REPO, block, last, load, mean, num, spread
from studies.search import (ENGINE_HELD_OUT_ARMS, ENGINE_HELD_OUT_DATA, ENGINE_HELD_OUT_LHS, FULL_SCALE_ARMS,
                            FULL_SCALE_DATA, FULL_SCALE_KEYS, FULL_SCALE_ROOMS, LONGEST, RECIPE_TOML_RUNS, RESCORED,
                            RETRAINED, SEARCH_ARMS, SEARCH_ARMS_UNDER_LOAD, SEARCHED, SEARCHES, SIMULATED, WARM,
                            arm_runs, at_common_epoch, full_scale_side_by_side, search_recall, search_retrains,
                            search_summary, simulated_strategies, strategies, strategy_name)
from studies.speed import (EPOCH_COST, EPOCH_COST_EPYC, MEMORY, RECURRENT_LAYER, SEARCH_SPEED, SEARCH_SPEED_EPYC,
                           SEARCH_SPEED_LONG, SIDE_LABELS, epoch_cost, machine, recurrent_layer, search_speed,
                           train_memory)
from studies.voices import (ACCENTS, CONDITION_ARMS, ENGINES, FOUR, MBROLA_HELD, NO_MEASURES, PAIRED, RECIPE,
                            voices_accents, voices_conditions, voices_families, voices_paired, voices_paired_means,
                            voices_rhvoice)

PAGES = [REPO / "README.md", *sorted((REPO / "docs" / "results").glob("*.md"))]
MARKER = re.compile(r"(<!-- table:([\w-]+) -->\n)(.*?)(<!-- /table -->)", re.DOTALL)


def headline() -> str:
    """README's figures: one line per study, each linking to its page."""
    q, t = load("quality/default.json")["epochs"][-1], load("quality/text-ceiling.json")["epochs"][-1]
    recipe = [last(PAIRED + n + ".json") for n in RECIPE]
    plain = [last(PAIRED + n + ".json") for n in NO_MEASURES]
    pico = lambda rows: mean(r["unheard_pico_s2i_r10"] / r["seen_s2i_r10"] for r in rows)  # noqa: E731
    rhv = lambda rows: mean(r["unheard_rhvoice_s2i_r10"] / r["seen_s2i_r10"] for r in rows)  # noqa: E731
    tri = next(s for s in load("ablations/flickr8k.json")["summary"] if s["arm"] == "tri_modal")
    tpe = next(s for s in load("strategies/builtin.json")["strategies"] if s["strategy"] == "tpe+asha")
    simulated, memory, search = load(SIMULATED), load(MEMORY), load(SEARCHED + RETRAINED)
    speed, longest, warm = load(SEARCH_SPEED), load(SEARCHED + LONGEST), load(SEARCHED + WARM)
    speed_long, speed_epyc = load(SEARCH_SPEED_LONG), load(SEARCH_SPEED_EPYC)
    cost, cost_epyc = load(EPOCH_COST), load(EPOCH_COST_EPYC)
    epyc = cost_epyc["epoch_cpu_ratio"]["cheaper"]
    engine = load(SEARCHED + ENGINE_HELD_OUT_LHS)
    engine_retrained = arm_runs(ENGINE_HELD_OUT_ARMS)
    full_scale = arm_runs(FULL_SCALE_ARMS)
    ours = [last(rel) for rel in RECIPE_TOML_RUNS]
    def span(ratio: str, *runs: dict) -> str:  # lowest–highest over the search_speed.py repeats of these runs
        values = [r["ratios"][ratio] for run in runs or (speed, speed_long, speed_epyc) for r in run["repeats"]]
        return f"{num(min(values), 2)}–{num(max(values), 2)}"
    retrained = arm_runs(SEARCH_ARMS)
    rows = [
        ["Flickr8k dev s→i R@10, speech, default config", f"{num(q['q2i_r10'])} after {num(q['cpu_min'], 0)} CPU-min "
         f"(caption-text ceiling {num(t['q2i_r10'])})", "[quality](docs/results/quality.md)"],
        ["a TTS engine never heard (Pico) ÷ voices heard, s→i R@10", f"{num(pico(recipe), 2)} with the voice "
         f"measures (5 MFCC, VTLP ±10 %, weight average), {num(pico(plain), 2)} without them; {num(pico(ours), 2)} "
         "with `recipe.toml` (the measures, the searched shape, an LSTM in bf16; 3 seeds)",
         "[voices](docs/results/voices.md)"],
        ["a second engine never heard (RHVoice) ÷ voices heard", f"{num(rhv(recipe), 2)} with the voice measures; "
         f"{num(rhv(ours), 2)} with `recipe.toml`", "[voices](docs/results/voices.md)"],
        ["every synthesis method held out of training in turn (5 methods, 2,000 train images, 10 CPU-min, mean of "
         f"{seeds_said(LOEO_HEADLINE)} at equal epochs): held-out ÷ seen s→i R@10, mean (worst); held-out R@10, mean",
         loeo_headline(LOEO_HEADLINE),
         "[voices](docs/results/voices.md#every-synthesis-method-held-out-in-turn)"],
        ["each caption heard once clean and once through a random room, microphone, noise and codec, every method "
         "held out in turn (2,000 train images, 3 seeds; each rooms run as many epochs as the clean run of its method "
         "and seed): office ÷ clean s→i R@10, held out / heard", loeo_room_headline(LOEO_ROOMS_HEADLINE),
         "[voices](docs/results/voices.md#rooms-in-training-on-recipetoml-every-method-held-out-three-seeds)"],
        ["what the rooms cost on clean speech at the scale of use (all 6,000 train images, 3 seeds, equal epochs): "
         "s→i R@10 seen / Scottish accent / Pico and RHVoice (engines never heard), mean over seeds",
         "; ".join(f"{label} " + " / ".join(num(mean(r[key] for r in runs)) for key in FULL_SCALE_KEYS)
                   for label, runs in at_common_epoch(FULL_SCALE_ROOMS).items()),
         "[voices](docs/results/voices.md#rooms-in-training-on-recipetoml-at-the-scale-of-use-three-seeds)"],
        ["caption text as a third modality (MCN), Δ s→i R@10 after one epoch",
         f"{tri['s2i_r10_delta']:+.1f} ± {num(tri['s2i_r10_std'])}", "[ablations](docs/results/ablations.md)"],
        ["TPE + ASHA: trial-epochs to the best of random search without early stopping",
         f"{tpe['share_of_reference']:.0%} of that search's (built-in corpus, 12 trials)",
         "[strategies](docs/results/strategies.md)"],
        [f"real Flickr8k searches ({search['trials']} and {longest['trials']} trials on a 1,500-image subset, rungs in "
         f"CPU-minutes, {num(search['trial_cpu_min'], 0)} and {num(longest['trial_cpu_min'], 0)} trial CPU-min), each "
         "best retrained beside the hand-set configurations at 12 CPU-min: dev search "
         "recall (seen and held-out voices; s→i R@10 seen / held out / Pico, an engine never heard), mean ± std over seeds",
         "; ".join(f"{label} {spread([search_recall(r) for r in runs])} ({num(mean(r['seen_s2i_r10'] for r in runs))} / "
                   f"{num(mean(r['heldout_s2i_r10'] for r in runs))} / {num(mean(r['unheard_pico_s2i_r10'] for r in runs))})"
                   for label, runs in retrained.items()),
         "[search](docs/results/search.md)"],
        [f"a {longest['trials']}-trial Flickr8k search on an idle 2-core machine (same subset and rungs)",
         f"{num(longest['wall_min'], 0)} min, {longest['stopped_early']} stopped by ASHA; best search recall "
         f"{num(longest['best']['search_recall'])} against the base's {num(longest['base']['search_recall'])}",
         "[search](docs/results/search.md#the-searches)"],
        [f"a search of {warm['trials']} trials on all 6,000 train images at 12 CPU-min each, warm-started from the "
         "20-trial study", f"{num(warm['wall_min'], 0)} min, {warm['stopped_early']} stopped by ASHA; best search recall "
         f"{num(warm['best']['search_recall'])}, its first trial (the warm start's best); no proposal beat it",
         "[search](docs/results/search.md#a-search-on-the-full-split-warm-started)"],
        [f"a {engine['trials']}-trial search with a whole synthesis method (mbrola) held out of every trial (five "
         "methods, 2,000 train images, 10 CPU-min a trial, the recipe as base, TPE's start-up a Latin hypercube), its "
         "best retrained at the same budget: search recall, s→i R@10 on mbrola (never heard) / the four heard, mean ± "
         "std over seeds", f"{num(engine['wall_min'], 0)} min, {engine['stopped_early']} stopped by ASHA; "
         + "; ".join(f"{label} {spread([search_recall(r) for r in runs])} "
                     f"({spread([r['heldout_s2i_r10'] for r in runs])} / {spread([r['seen_s2i_r10'] for r in runs])})"
                     for label, runs in engine_retrained.items()),
         "[search](docs/results/search.md#the-engine-held-out-search-again-with-a-latin-hypercube-start-up)"],
        ["the same search's best, without and with the weight average, with an LSTM in bf16 too (at batch 16, "
         "`recipe.toml`, and 32), and the recipe it started from, at the scale of "
         "use (all 6,000 train images, 24 CPU-min, the Scottish accent held out): s→i R@10 seen / Scottish accent / "
         "Pico and RHVoice (engines never heard), mean ± std over seeds",
         "; ".join(f"{label} " + " / ".join(spread([r[key] for r in runs]) for key in FULL_SCALE_KEYS)
                   for label, runs in full_scale.items()),
         "[search](docs/results/search.md#at-the-scale-of-use-6000-images-24-cpu-minutes)"],
        ["unique memory of a training process beyond its data, peak (after an epoch)",
         f"{num(mean(r['now']['peak_mib'] - r['now']['loaded_mib'] for r in memory['runs']), 0)} MiB "
         f"({num(mean(r['now']['after_epoch_mib'][-1] - r['now']['loaded_mib'] for r in memory['runs']), 0)}), "
         f"was {num(mean(r['before']['peak_mib'] - r['before']['loaded_mib'] for r in memory['runs']), 0)} "
         f"({num(mean(r['before']['after_epoch_mib'][-1] - r['before']['loaded_mib'] for r in memory['runs']), 0)})",
         "[speed](docs/results/speed.md#memory-of-a-training-process)"],
        ["a search's trials on 2 cores, 600 Flickr8k images: throughput of 2 at once ÷ 1, a Tune trial ÷ "
         "the bare loop, peak USS a trial",
         f"concurrency {span('concurrency', speed)}× ({speed['epochs']}-epoch trials), "
         f"{span('concurrency', speed_long)}× ({speed_long['epochs']}-epoch), "
         f"{span('concurrency', speed_epyc)}× on {machine(speed_epyc)} ({speed_epyc['epochs']}-epoch); "
         f"over all three: overhead {span('overhead')}×, USS {span('uss_gib')} GiB",
         "[speed](docs/results/speed.md#search-throughput-and-memory-per-trial)"],
        [f"CPU time of a Flickr8k epoch ÷ the code when issue #25 was filed (`{cost['before']}`; "
         f"{cost['limit']:,} images, one thread, {len(cost['runs']) // len(cost['sides'])} seeds, alternating): "
         "today's default, and the cheaper settings; dev s→i R@10 at equal epochs",
         "; ".join(f"{'default' if name == 'now' else ', '.join(f'`{c}`' for c in cost['cheaper'])} "
                   f"{num(mean(r), 2)} ({num(min(r), 2)}–{num(max(r), 2)})"
                   for name, r in cost["epoch_cpu_ratio"].items())
         + f"; the cheaper settings on {machine(cost_epyc)} {num(mean(epyc), 2)} "
         + f"({num(min(epyc), 2)}–{num(max(epyc), 2)})"
         + f"; aim ≤ {num(cost['target'], 1)}. R@10 after {cost['epochs']} epochs, "
         + f"{' / '.join(SIDE_LABELS[name] for name in cost['sides'])}: "
         + " / ".join(num(cost["per_epoch"][-1][f"{name}_s2i_r10"]) for name in cost["sides"]),
         "[speed](docs/results/speed.md#an-epochs-cpu-time-then-and-now)"],
        ["simulated searches of 200 trials, replaying recorded Flickr8k curves: seeds in which each strategy "
         "reaches random search's best", "; ".join(f"{strategy_name(x['strategy'])} {x['seeds'] - x['never']} of "
                                                    f"{x['seeds']}" for x in simulated["summary"]),
         "[strategies](docs/results/strategies.md#strategies-compared-by-simulation)"],
    ]
    files = ["quality/default.json", "quality/text-ceiling.json", *(PAIRED + n + ".json" for n in RECIPE + NO_MEASURES),
             "ablations/flickr8k.json", "strategies/builtin.json", SIMULATED, MEMORY, SEARCH_SPEED, SEARCH_SPEED_LONG,
             SEARCH_SPEED_EPYC, EPOCH_COST, EPOCH_COST_EPYC,
             SEARCHED + RETRAINED, SEARCHED + LONGEST, SEARCHED + WARM, SEARCHED + ENGINE_HELD_OUT_LHS,
             *(rel for arms in (SEARCH_ARMS, ENGINE_HELD_OUT_ARMS, FULL_SCALE_ARMS) for rels in arms.values()
               for rel in rels),
             *(rel for arm in LOEO_HEADLINE.values() for rel in loeo_files(arm)), *LOEO_RESCORED["-seed1"],
             *(rel for label, arm in LOEO_ROOMS_HEADLINE.items() for seed in LOEO_SEEDS[arm]
               for rel in office_share_files({label: arm}, seed)),
             *(rel for rels in FULL_SCALE_ROOMS.values() for rel in rels)]
    return block(["what", "measured", "details"], rows, files,
                 "Recipe and no-measures figures are means over the seeds' files (four and two).", compact_sources=True)


# ---------------------------------------------------------------- the registry

TABLES: dict[str, Callable[[], str]] = {
    "headline": headline,
    "quality-flickr8k": partial(quality, ["quality/default.json", "quality/text-ceiling.json"]),
    "voices-engines": partial(
        voices_families,
        [(ENGINES + "espeak-only.json", "baseline"), (ENGINES + "espeak-only.json", "augmented"),
         (ENGINES + "espeak-mbrola.json", "baseline"), (ENGINES + "espeak-mbrola.json", "augmented")],
        {"espeak-ng, 7 accents": (["espeak:en"], ["en-gb-scotland"]), "espeak-ng Scottish": (["en-gb-scotland"], []),
         "mbrola us3 + fr4-en": (MBROLA_HELD, []), "6 other mbrola": (["mb-"], MBROLA_HELD)},
        ["flite", "pico"]),
    "voices-leave-one-method-out": partial(
        voices_families,
        [(FOUR + f"without-{m}.json", "baseline") for m in ("pico", "flite", "mbrola", "espeak-formants")],
        {"espeak-ng formants": (["espeak:en"], []), "mbrola": (["mb-"], []), "flite": (["flite:"], []),
         "Pico": (["pico:"], [])},
        [], ratio=True),
    "voices-leave-one-engine-out": partial(voices_leave_one_engine_out, LOEO_ARMS),
    "voices-leave-one-engine-out-summary": partial(voices_leave_one_engine_out_summary, LOEO_SUMMARY),
    "voices-leave-one-engine-out-recipe-toml-seeds": partial(voices_leave_one_engine_out, LOEO_RECIPE_TOML_SEEDS),
    "voices-leave-one-engine-out-recipe-toml-office-seeds": partial(voices_leave_one_engine_out_office_seeds,
                                                                    LOEO_RECIPE_TOML_SEEDS),
    "voices-leave-one-engine-out-rooms": partial(voices_leave_one_engine_out_rooms, LOEO_ARMS),
    "voices-leave-one-engine-out-measures": partial(voices_leave_one_engine_out_measures, LOEO_SPLIT, "mbrola"),
    "voices-leave-one-engine-out-conversion": partial(voices_leave_one_engine_out_paired, LOEO_CONVERSION, "-seed2"),
    "voices-leave-one-engine-out-conversion-seed1": partial(voices_leave_one_engine_out_paired, LOEO_CONVERSION,
                                                            "-seed1", methods=("mbrola",)),
    "voices-leave-one-engine-out-conversion-rooms": partial(voices_leave_one_engine_out_rooms, LOEO_CONVERSION,
                                                            ("-seed2",)),
    "voices-leave-one-engine-out-searched": partial(voices_leave_one_engine_out_paired, LOEO_SEARCHED, "",
                                                    whole_budget=True),
    "voices-leave-one-engine-out-recipe-toml": partial(voices_leave_one_engine_out_paired, LOEO_RECIPE_TOML, "",
                                                       whole_budget=True),
    "voices-leave-one-engine-out-recipe-toml-office": partial(voices_leave_one_engine_out_office_share,
                                                              LOEO_RECIPE_TOML_OFFICE, ""),
    "voices-leave-one-engine-out-recipe-toml-room-training": partial(voices_leave_one_engine_out_paired,
                                                                     LOEO_RECIPE_TOML_ROOMS, ""),
    "voices-leave-one-engine-out-recipe-toml-room-training-office": partial(voices_leave_one_engine_out_rooms,
                                                                            LOEO_RECIPE_TOML_ROOMS, ("",)),
    "voices-leave-one-engine-out-recipe-toml-room-training-share": partial(voices_leave_one_engine_out_office_share,
                                                                           LOEO_RECIPE_TOML_ROOMS, ""),
    "voices-leave-one-engine-out-logmel": partial(voices_leave_one_engine_out_paired, LOEO_LOGMEL, ""),
    "voices-leave-one-engine-out-logmel-budget": partial(voices_leave_one_engine_out_paired, LOEO_LOGMEL, "",
                                                         whole_budget=True),
    "voices-leave-one-engine-out-lstm": partial(voices_leave_one_engine_out_paired, LOEO_LSTM, ""),
    "voices-leave-one-engine-out-lstm-budget": partial(voices_leave_one_engine_out_paired, LOEO_LSTM, "",
                                                       whole_budget=True),
    "voices-leave-one-engine-out-lstm-seeds": partial(voices_leave_one_engine_out_summary, LOEO_LSTM),
    "voices-leave-one-engine-out-lstm-seeds-budget": partial(voices_leave_one_engine_out_summary, LOEO_LSTM,
                                                             whole_budget=True),
    "voices-leave-one-engine-out-batch-32": partial(voices_leave_one_engine_out, RECIPE_TOML_B32),
    "voices-leave-one-engine-out-batch-32-summary": partial(voices_leave_one_engine_out_summary, LOEO_BATCH,
                                                            whole_budget=True),
    "voices-leave-one-engine-out-batch-32-office": partial(voices_leave_one_engine_out_office_seeds, LOEO_BATCH_OFFICE),
    "voices-leave-one-engine-out-lstm-room-training": partial(voices_leave_one_engine_out, RECIPE_TOML_ROOMS),
    "voices-leave-one-engine-out-lstm-room-training-summary": partial(voices_leave_one_engine_out_summary,
                                                                      LOEO_LSTM_ROOMS),
    "voices-leave-one-engine-out-lstm-room-training-office": partial(voices_leave_one_engine_out_office_seeds,
                                                                     {**LOEO_BATCH_OFFICE, **RECIPE_TOML_ROOMS}),
    "voices-leave-one-engine-out-lstm-room-training-methods": partial(voices_leave_one_engine_out_rooms,
                                                                      {**RECIPE_TOML_B32, **RECIPE_TOML_ROOMS},
                                                                      ("", "-seed1", "-seed2")),
    "voices-leave-one-engine-out-room-training": partial(voices_leave_one_engine_out_paired, LOEO_ROOMS, "-seed2"),
    "voices-leave-one-engine-out-room-training-office": partial(voices_leave_one_engine_out_rooms, LOEO_ROOMS,
                                                                ("-seed2",)),
    "voices-leave-one-engine-out-room-training-share": partial(voices_leave_one_engine_out_office_share, LOEO_ROOMS,
                                                               "-seed2"),
    "voices-full-scale-room-training": partial(full_scale_side_by_side, FULL_SCALE_ROOMS),
    "voices-paired-budget": partial(voices_paired, ["k1", "k2", "k2-augmented", "k2-pair-loss", "k2-pair-loss-b16",
                                                    "k1-24min", "k2-24min", "k2-24min-seed1"]),
    "voices-paired-cepstra": partial(voices_paired, [
        "k2-24min-cepstra20", "k2-24min-cepstra13", "k2-24min-cepstra8", "k2-24min-cepstra8-seed1", "k2-24min-cepstra5",
        "k2-24min-cepstra5-seed1", "k2-24min-cepstra5-rerun", "k2-24min-cepstra3", "k2-24min-adversary",
        "k1-24min-cepstra8"]),
    "voices-paired-recipe": partial(voices_paired, [
        "k2-24min-cepstra5-vtlp10", "k2-24min-cepstra5-vtlp10-seed1", "k2-24min-cepstra5-vtlp10-seed2",
        "k2-24min-cepstra5-vtlp10-seed3", *RECIPE, "k2-24min-cepstra5-vtlp10-ema999-seed4",
        "k2-24min-cepstra5-vtlp10-ema999-seed5", "k2-24min-ema999", "k2-24min-ema999-seed1",
        "k2-24min-cepstra5-vtlp20", "k2-24min-cepstra5-vtlp20-seed1", "k2-24min-cepstra5-vtlp20-seed2",
        "k2-48min-cepstra5", "k2-48min-cepstra5-vtlp10"]),
    "voices-paired-phonetic": partial(voices_paired, ["k2-24min-cepstra5-vtlp10-ema999", "recipe-ctc03"]),
    "voices-conditions": partial(voices_conditions, CONDITION_ARMS),
    "voices-paired-means": partial(voices_paired_means, {
        "all 40 MFCC, no measures": NO_MEASURES,
        "first 8 MFCC": ["k2-24min-cepstra8", "k2-24min-cepstra8-seed1"],
        "first 5 MFCC": ["k2-24min-cepstra5", "k2-24min-cepstra5-seed1"],
        "5 MFCC, VTLP ±10 %": ["k2-24min-cepstra5-vtlp10", *(f"k2-24min-cepstra5-vtlp10-seed{i}" for i in (1, 2, 3))],
        "5 MFCC, VTLP ±20 %": ["k2-24min-cepstra5-vtlp20", "k2-24min-cepstra5-vtlp20-seed1", "k2-24min-cepstra5-vtlp20-seed2"],
        "all 40 MFCC, moving average of the weights": ["k2-24min-ema999", "k2-24min-ema999-seed1"],
        "the recipe: 5 MFCC, VTLP ±10 %, moving average of the weights (seeds 0–3)": RECIPE,
        "the recipe (seeds 0–5)": [*RECIPE, "k2-24min-cepstra5-vtlp10-ema999-seed4", "k2-24min-cepstra5-vtlp10-ema999-seed5"],
    }),
    "voices-rhvoice": partial(voices_rhvoice, {
        "all 40 MFCC, no measures (`k2-24min`)": ["k2-24min"],
        "first 5 MFCC (`k2-24min-cepstra5-rerun`)": ["k2-24min-cepstra5-rerun"],
        "5 MFCC, VTLP ±10 % (`k2-24min-cepstra5-vtlp10`, `-seed1`, `-seed2`)":
            ["k2-24min-cepstra5-vtlp10", "k2-24min-cepstra5-vtlp10-seed1", "k2-24min-cepstra5-vtlp10-seed2"],
        "the recipe (`k2-24min-cepstra5-vtlp10-ema999`, `-seed1` … `-seed3`)": RECIPE,
        "the recipe, seeds 4 and 5 (`-ema999-seed4`, `-seed5`)":
            ["k2-24min-cepstra5-vtlp10-ema999-seed4", "k2-24min-cepstra5-vtlp10-ema999-seed5"],
        "5 MFCC, VTLP ±20 % (`-vtlp20-seed1`, `-seed2`)": ["k2-24min-cepstra5-vtlp20-seed1", "k2-24min-cepstra5-vtlp20-seed2"],
        "all 40 MFCC, moving average of the weights (`k2-24min-ema999`, `-seed1`)": ["k2-24min-ema999", "k2-24min-ema999-seed1"],
    }),
    "voices-accents": partial(
        voices_accents,
        [(ACCENTS + "default-voices.json", "baseline"), (ACCENTS + "default-voices-light.json", "augmented"),
         (ACCENTS + "default-voices.json", "augmented"), (ACCENTS + "all-variants.json", "baseline"),
         (ACCENTS + "all-variants.json", "augmented"), (ACCENTS + "all-variants-measures.json", "augmented"),
         *((ACCENTS + "all-variants-measures.json", f"only {m}") for m in ("time_masks", "speed", "vtlp")),
         (ACCENTS + "all-variants-regularised.json", "baseline"), (ACCENTS + "all-variants-regularised.json", "augmented")],
        (ACCENTS + "default-voices.json", "baseline")),
    "ablations-flickr8k": partial(ablations, "ablations/flickr8k.json"),
    "speed-cheaper-epochs": partial(ablations, "ablations/epoch-cost.json"),
    "strategies-builtin": partial(strategies, "strategies/builtin.json"),
    "strategies-flickr8k": partial(strategies, "strategies/flickr8k.json"),
    "strategies-simulated": partial(simulated_strategies, SIMULATED),
    "search-summary": partial(search_summary, SEARCHES),
    "search-retrains": partial(search_retrains, SEARCH_ARMS, RESCORED),
    "search-retrains-under-load": partial(search_retrains, SEARCH_ARMS_UNDER_LOAD),
    "search-retrains-engine-held-out": partial(search_retrains, ENGINE_HELD_OUT_ARMS, data=ENGINE_HELD_OUT_DATA),
    "search-retrains-full-scale": partial(search_retrains, FULL_SCALE_ARMS, data=FULL_SCALE_DATA),
    "speed-train-memory": partial(train_memory, MEMORY),
    "speed-search": partial(search_speed, SEARCH_SPEED),
    "speed-search-6-epochs": partial(search_speed, SEARCH_SPEED_LONG),
    "speed-search-epyc": partial(search_speed, SEARCH_SPEED_EPYC),
    "speed-epoch-cost-epyc": partial(epoch_cost, EPOCH_COST_EPYC),
    "speed-epoch-cost": partial(epoch_cost, EPOCH_COST),
    "speed-recurrent-layer": partial(recurrent_layer, RECURRENT_LAYER),
}

# ---------------------------------------------------------------- rewriting pages


def render(text: str, page: Path) -> str:
    def one(m: re.Match[str]) -> str:
        name = m.group(2)
        if name not in TABLES:
            raise SystemExit(f"{page.relative_to(REPO)}: no table named {name!r} (known: {', '.join(TABLES)})")
        return m.group(1) + TABLES[name]() + m.group(4)
    return MARKER.sub(one, text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="rewrite nothing; exit 1 if any page is out of date")
    args = parser.parse_args(argv)
    stale, shown = [], set()
    for page in PAGES:
        text = page.read_text()
        shown |= {m.group(2) for m in MARKER.finditer(text)}
        new = render(text, page)
        if new != text:
            stale.append(page.relative_to(REPO))
            if not args.check:
                page.write_text(new)
    unshown = sorted(set(TABLES) - shown)  # a table no page shows is dead code
    for name in unshown:
        print(f"no page shows the table {name!r}: add its marker to a page or drop it from TABLES")
    for page in stale:
        print(f"out of date: {page} (run python benchmarks/tables.py)" if args.check else f"rewrote {page}")
    return 1 if unshown or (args.check and stale) else 0


if __name__ == "__main__":
    sys.exit(main())
