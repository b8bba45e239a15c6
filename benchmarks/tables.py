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

from studies.headline import headline
from studies.loeo import (LOEO_ARMS, LOEO_BATCH, LOEO_BATCH_OFFICE, LOEO_CONVERSION, LOEO_LOGMEL, LOEO_LSTM,
                          LOEO_LSTM_ROOMS, LOEO_RECIPE_TOML, LOEO_RECIPE_TOML_ROOMS, LOEO_RECIPE_TOML_SEEDS,
                          LOEO_ROOM_SHARES, LOEO_ROOMS, LOEO_SEARCHED, LOEO_SPLIT, LOEO_SUMMARY, RECIPE_TOML_B32,
                          RECIPE_TOML_ROOMS, RECIPE_TOML_ROOMS_QUARTER, voices_leave_one_engine_out,
                          voices_leave_one_engine_out_measures, voices_leave_one_engine_out_paired,
                          voices_leave_one_engine_out_summary)
from studies.loeo_office import (LOEO_RECIPE_TOML_OFFICE, voices_leave_one_engine_out_office_seeds,
                                 voices_leave_one_engine_out_office_share, voices_leave_one_engine_out_rooms)
from studies.quality import ablations, quality
from studies.read import REPO
from studies.search import (ENGINE_HELD_OUT_ARMS, ENGINE_HELD_OUT_DATA, FULL_SCALE_ARMS, FULL_SCALE_DATA,
                            FULL_SCALE_OFFICE, FULL_SCALE_ROOMS, RESCORED, SEARCH_ARMS, SEARCH_ARMS_UNDER_LOAD,
                            SEARCHES, SIMULATED, full_scale_office, full_scale_side_by_side, search_retrains,
                            search_summary, simulated_strategies, strategies)
from studies.speed import (EPOCH_COST, EPOCH_COST_EPYC, MEMORY, RECURRENT_LAYER, SEARCH_SPEED,
                           SEARCH_SPEED_BARE_APART, SEARCH_SPEED_CEILING, SEARCH_SPEED_EPYC, SEARCH_SPEED_LONG,
                           epoch_cost, recurrent_layer, search_speed, train_memory)
from studies.voices import (ACCENTS, CONDITION_ARMS, ENGINES, FOUR, MBROLA_HELD, NO_MEASURES, RECIPE, voices_accents,
                            voices_conditions, voices_families, voices_paired, voices_paired_means, voices_rhvoice)

PAGES = [REPO / "README.md", *sorted((REPO / "docs" / "results").glob("*.md"))]
MARKER = re.compile(r"(<!-- table:([\w-]+) -->\n)(.*?)(<!-- /table -->)", re.DOTALL)

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
    **{f"voices-leave-one-engine-out-room-shares{seed}": partial(voices_leave_one_engine_out_paired, LOEO_ROOM_SHARES,
                                                                 seed) for seed in ("", "-seed1")},
    **{f"voices-leave-one-engine-out-room-shares-office{seed}": partial(voices_leave_one_engine_out_office_share, {
        **RECIPE_TOML_B32, **RECIPE_TOML_ROOMS, **RECIPE_TOML_ROOMS_QUARTER}, seed) for seed in ("", "-seed1")},
    "voices-leave-one-engine-out-room-shares-summary": partial(voices_leave_one_engine_out_summary, LOEO_ROOM_SHARES),
    "voices-leave-one-engine-out-room-shares-office-seeds": partial(voices_leave_one_engine_out_office_seeds, {
        **RECIPE_TOML_B32, **RECIPE_TOML_ROOMS, **RECIPE_TOML_ROOMS_QUARTER}),
    "voices-leave-one-engine-out-room-training": partial(voices_leave_one_engine_out_paired, LOEO_ROOMS, "-seed2"),
    "voices-leave-one-engine-out-room-training-office": partial(voices_leave_one_engine_out_rooms, LOEO_ROOMS,
                                                                ("-seed2",)),
    "voices-leave-one-engine-out-room-training-share": partial(voices_leave_one_engine_out_office_share, LOEO_ROOMS,
                                                               "-seed2"),
    "voices-full-scale-room-training": partial(full_scale_side_by_side, FULL_SCALE_ROOMS),
    "voices-full-scale-office": partial(full_scale_office, FULL_SCALE_OFFICE),
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
    "speed-search-ceiling": partial(search_speed, SEARCH_SPEED_CEILING),
    "speed-search-bare-apart": partial(search_speed, SEARCH_SPEED_BARE_APART),
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
