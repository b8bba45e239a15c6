"""The voices tables: recall per voice, family and engine, seen and never heard, of benchmarks/voices.py runs."""

from __future__ import annotations

from pathlib import Path

from studies.read import ENGINE_NAMES, block, family, italic, last, load, mean, never_heard, num, rescored_r10

ACCENTS = "voices/accents/"
ENGINES = "voices/engines/"
FOUR = "voices/four-methods/"
PAIRED = "voices/paired/"
MBROLA_HELD = ["mb-us3", "mb-fr4-en"]
RECIPE = ["k2-24min-cepstra5-vtlp10-ema999", *(f"k2-24min-cepstra5-vtlp10-ema999-seed{i}" for i in (1, 2, 3))]
NO_MEASURES = ["k2-24min", "k2-24min-seed1"]
PREPARED_VOICES = {"/work/prepared/flickr8k": "8 × 6", "/work/prepared/flickr8k-allvariants": "8 × 101, wider speed and pitch"}


def arm_label(rel: str, arm: str) -> str:
    """What an arm of a voices.py run trained with: its augmentation and the run's --set overrides."""
    d = load(rel)
    parts = [f"`{a}`" for a in d["arms"][arm]] + [f"`{o}`" for o in d["overrides"]]
    return ("no augmentation" if arm == "baseline" else arm) + (": " + " ".join(parts) if parts else "")


def voices_accents(rows_spec: list[tuple[str, str]], reference: tuple[str, str]) -> str:
    ref_seen = last(*reference)["seen_s2i_r10"]
    rows = []
    for rel, arm in rows_spec:
        r = last(rel, arm)
        delta = "—" if (rel, arm) == reference else f"{r['seen_s2i_r10'] - ref_seen:+.1f}"
        rows.append([f"{arm_label(rel, arm)} (`{Path(rel).name}`)", PREPARED_VOICES.get(load(rel)["prepared"], "?"),
                     r["epoch"], num(r["seen_s2i_r10"]), num(r["heldout_s2i_r10"]), num(r["voice_ratio"], 2), delta])
    headers = ["arm", "prepared voices", "epochs", "seen s→i R@10", "held-out s→i R@10", "held-out ÷ seen",
               f"seen vs `{Path(reference[0]).name}` {reference[1]}"]
    return block(headers, rows, [rel for rel, _ in rows_spec])


def voices_families(rows_spec: list[tuple[str, str]], families: dict[str, tuple[list[str], list[str]]],
                    unheard: list[str], ratio: bool = False) -> str:
    """s2i R@10 per family of dev voices (and per engine scored as never heard), italic where never heard."""
    rows = []
    for rel, arm in rows_spec:
        r = last(rel, arm)
        cells = [italic(num(family(r["by_voice"], pats, excl)), never_heard(rel, pats, excl)) for pats, excl in families.values()]
        cells += [italic(num(r.get(f"unheard_{e}_s2i_r10")), True) for e in unheard]
        label = load(rel)["description"] + ("" if arm == "baseline" else f", {arm_label(rel, arm)}")
        rows.append([f"{label} (`{Path(rel).name}`)", r["epoch"], *cells] + ([num(r["voice_ratio"], 2)] if ratio else []))
    headers = ["trained on", "epochs", *families, *unheard] + (["held-out ÷ seen"] if ratio else [])
    return block(headers, rows, [rel for rel, _ in rows_spec], "s→i R@10 on Flickr8k dev; *italic*: never heard in training.")


PAIRED_FAMILIES = {"espeak-ng, 7 accents": (["espeak:"], ["en-gb-scotland", "mb-"]), "mbrola": (["mb-"], []),
                   "flite": (["flite:"], [])}
PAIRED_HEADERS = ["CPU-min", "epochs", "seen", *PAIRED_FAMILIES, "*Scottish*", "*Pico*", "Pico ÷ seen", "Scottish ÷ seen"]


def paired_values(name: str) -> list[float]:
    """One voices/paired run's last epoch: budget, epochs, seen, families, Scottish, Pico and the two ratios."""
    d, r = load(PAIRED + name + ".json"), last(PAIRED + name + ".json")
    seen, pico = r["seen_s2i_r10"], r["unheard_pico_s2i_r10"]
    return [d["minutes"], r["epoch"], seen, *(family(r["by_voice"], p, x) for p, x in PAIRED_FAMILIES.values()),
            r["heldout_s2i_r10"], pico, pico / seen, r["voice_ratio"]]


def paired_cells(values: list[float]) -> list[str]:
    budget, epochs, *recall = values
    return [num(budget, 0), num(epochs, 0), *(num(v) for v in recall[:-2]), *(num(v, 2) for v in recall[-2:])]


def voices_paired(names: list[str]) -> str:
    rows = [[f"{load(PAIRED + n + '.json')['description']} (`{n}`)", *paired_cells(paired_values(n))] for n in names]
    return block(["arm", *PAIRED_HEADERS], rows, [PAIRED + n + ".json" for n in names],
                 "s→i R@10 on Flickr8k dev after the last epoch that fitted the budget; Scottish and Pico never heard.")


def voices_paired_means(groups: dict[str, list[str]]) -> str:
    """Mean over seeds of each paired-run column (ratios: the mean of the per-seed ratios)."""
    rows = []
    for label, names in groups.items():
        values = [paired_values(n) for n in names]
        rows.append([label, len(names), *paired_cells([mean(col) for col in zip(*values)])])
    files = [PAIRED + n + ".json" for names in groups.values() for n in names]
    return block(["arm (mean over seeds)", "seeds", *PAIRED_HEADERS], rows, files,
                 "Each cell is the mean over the seeds' files; epochs is the mean epoch count.")


def voices_rhvoice(groups: dict[str, list[str]]) -> str:
    rows = []
    for label, names in groups.items():
        lasts = [last(PAIRED + n + ".json") for n in names]
        ratios = [r["unheard_rhvoice_s2i_r10"] / r["seen_s2i_r10"] for r in lasts]
        each = f" ({', '.join(num(x, 2) for x in ratios)})" if len(ratios) > 1 else ""
        rows.append([label, len(names), num(mean(r["epoch"] for r in lasts), 0), num(mean(r["seen_s2i_r10"] for r in lasts)),
                     italic(num(mean(r["unheard_rhvoice_s2i_r10"] for r in lasts)), True), num(mean(ratios), 2) + each])
    files = [PAIRED + n + ".json" for names in groups.values() for n in names]
    return block(["arm", "seeds", "epochs", "seen", "*RHVoice*", "RHVoice ÷ seen (per seed)"], rows, files,
                 "s→i R@10 on Flickr8k dev, means over the seeds' files; RHVoice never heard.")


CONDITIONS = "voices/conditions/"
CONDITION_ARMS = {  # the same 1,500 train images and voices, prepared clean and through random conditions
    "clean training speech": "clean-1500",
    "every training utterance through a random room, microphone, noise and codec": "rooms-1500",
}


def voices_conditions(arms: dict[str, str]) -> str:
    """Models trained clean and through random conditions, scored (benchmarks/rescore.py) on dev clean and in
    the office, in espeak-ng's voices and in Pico's: does a room in training carry over to a room at use?"""
    rescored = load(CONDITIONS + "rescored.json")
    folders = list(rescored["data"])
    rows = []
    for label, name in arms.items():
        scores = {folder: rescored_r10(rescored, name, folder) for folder in folders}
        run = last(CONDITIONS + name + ".json")
        rows.append([f"{label} (`{name}`)", run["epoch"], *(num(scores[f]) for f in folders),
                     num(scores["office"] / scores["clean"], 2), num(scores["pico-office"] / scores["pico"], 2)])
    headers = ["arm", "epochs", *(f"{italic(ENGINE_NAMES[d['engine']], d['engine'] == 'pico')}, {d['eval_condition']}"
                                  for d in rescored["data"].values()), "office ÷ clean", "*Pico* office ÷ clean"]
    minutes = load(CONDITIONS + next(iter(arms.values())) + ".json")["minutes"]
    return block(headers, rows, [CONDITIONS + n + ".json" for n in arms.values()] + [CONDITIONS + "rescored.json"],
                 f"s→i R@10 on Flickr8k dev (1,000 images, every voice), one seed, {num(minutes, 0)} training "
                 "CPU-minutes on the first 1,500 train images, the Scottish accent left out; Pico never heard.")
