"""README's headline table: one line per study, each figure drawn from the result files its study's page uses."""

from __future__ import annotations

from studies.loeo import LOEO_HEADLINE, LOEO_ROOMS_HEADLINE, LOEO_SEEDS, loeo_files, seeds_said
from studies.loeo_office import LOEO_RESCORED, loeo_headline, loeo_room_headline, office_share_files
from studies.read import block, last, load, mean, num, spread
from studies.search import (ENGINE_HELD_OUT_ARMS, ENGINE_HELD_OUT_LHS, FULL_SCALE_ARMS, FULL_SCALE_KEYS,
                            FULL_SCALE_OFFICE, FULL_SCALE_ROOMS, LONGEST, RECIPE_TOML_RUNS, RETRAINED, SEARCH_ARMS,
                            SEARCHED, SIMULATED, WARM, arm_runs, at_common_epoch, office_rescore, office_shares,
                            search_recall, strategy_name)
from studies.speed import (EPOCH_COST, EPOCH_COST_EPYC, MEMORY, SEARCH_SPEED, SEARCH_SPEED_CEILING, SEARCH_SPEED_EPYC,
                           SEARCH_SPEED_LONG, SIDE_LABELS, machine)
from studies.voices import NO_MEASURES, PAIRED, RECIPE


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
    speed_long, speed_epyc, ceiling = load(SEARCH_SPEED_LONG), load(SEARCH_SPEED_EPYC), load(SEARCH_SPEED_CEILING)
    cost, cost_epyc = load(EPOCH_COST), load(EPOCH_COST_EPYC)
    epyc = cost_epyc["epoch_cpu_ratio"]["cheaper"]
    engine = load(SEARCHED + ENGINE_HELD_OUT_LHS)
    engine_retrained = arm_runs(ENGINE_HELD_OUT_ARMS)
    full_scale = arm_runs(FULL_SCALE_ARMS)
    ours = [last(rel) for rel in RECIPE_TOML_RUNS]
    def span(ratio: str, *runs: dict) -> str:  # lowest–highest over the search_speed.py repeats of these runs
        values = [r["ratios"][ratio] for run in runs or (speed, speed_long, speed_epyc, ceiling)
                  for r in run["repeats"]]
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
        ["rooms in training at the scale of use (all 6,000 train images, 3 seeds, 4 epochs): clean s→i R@10 seen / "
         "Scottish accent / Pico and RHVoice (engines never heard), mean over seeds; in the office ÷ clean, seen / "
         "Pico / RHVoice", "; ".join(
             f"{label} " + " / ".join(num(mean(r[key] for r in runs)) for key in FULL_SCALE_KEYS) + "; office "
             + " / ".join(num(share, 2) for key, share in office_shares(FULL_SCALE_OFFICE[label]).items()
                          if key != "held out") for label, runs in at_common_epoch(FULL_SCALE_ROOMS).items()),
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
         f"{span('concurrency', speed_epyc)}× on {machine(speed_epyc)} ({speed_epyc['epochs']}-epoch), "
         f"{span('concurrency', ceiling)}× there again, where the trials' own time gave "
         f"{span('within_trials', ceiling)}× and two bare training loops at once {span('ceiling', ceiling)}× "
         f"(the cores' ceiling); over all four: overhead {span('overhead')}×, USS {span('uss_gib')} GiB",
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
             SEARCH_SPEED_EPYC, SEARCH_SPEED_CEILING, EPOCH_COST, EPOCH_COST_EPYC,
             SEARCHED + RETRAINED, SEARCHED + LONGEST, SEARCHED + WARM, SEARCHED + ENGINE_HELD_OUT_LHS,
             *(rel for arms in (SEARCH_ARMS, ENGINE_HELD_OUT_ARMS, FULL_SCALE_ARMS) for rels in arms.values()
               for rel in rels),
             *(rel for arm in LOEO_HEADLINE.values() for rel in loeo_files(arm)), *LOEO_RESCORED["-seed1"],
             *(rel for label, arm in LOEO_ROOMS_HEADLINE.items() for seed in LOEO_SEEDS[arm]
               for rel in office_share_files({label: arm}, seed)),
             *(rel for rels in FULL_SCALE_ROOMS.values() for rel in rels),
             *(r for runs in FULL_SCALE_OFFICE.values() for run in runs for r in (run, office_rescore(run)))]
    return block(["what", "measured", "details"], rows, files,
                 "Recipe and no-measures figures are means over the seeds' files (four and two). `recipe.toml` "
                 "outside the rooms rows: its settings on its prep before 2026-12-07, every utterance clean.",
                 compact_sources=True)


# ---------------------------------------------------------------- the registry
