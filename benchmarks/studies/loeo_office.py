"""The leave-one-engine-out models heard in a room: each run's saved final models rescored on dev prepared
`--eval-condition office` (benchmarks/rescore.py --by-voice), against the methods heard and against clean."""

from __future__ import annotations

from typing import Any

from studies.loeo import (LOEO, LOEO_ENGINES, LOEO_SEEDS, RECIPE_TOML_GRU, loeo_file, loeo_rows, method_means,
                          seed_means, seed_number)
from studies.read import block, family, last, load, mean, num, spread

LOEO_RESCORED = {  # a seed's saved models (benchmarks/rescore.py --by-voice), clean and in the office; one file a batch
    "": [LOEO + "rescored-searched-ema.json", LOEO + "rescored-searched-ema-rooms.json",
         LOEO + "rescored-searched-ema-lstm-bf16-b32.json", LOEO + "rescored-searched-ema-lstm-bf16-rooms.json",
         LOEO + "rescored-searched-ema-lstm-bf16-rooms-quarter.json"],
    "-seed1": [LOEO + "rescored.json", LOEO + "rescored-searched-ema-seed1.json",
               LOEO + "rescored-searched-ema-lstm-bf16-b32-seed1.json",
               LOEO + "rescored-searched-ema-lstm-bf16-rooms-seed1.json",
               LOEO + "rescored-searched-ema-lstm-bf16-rooms-quarter-seed1.json"],
    "-seed2": [LOEO + "rescored-seed2.json", LOEO + "rescored-rooms-seed2.json",
               LOEO + "rescored-searched-ema-seed2.json", LOEO + "rescored-searched-ema-lstm-bf16-b32-seed2.json",
               LOEO + "rescored-searched-ema-lstm-bf16-rooms-seed2.json",
               LOEO + "rescored-searched-ema-lstm-bf16-rooms-quarter-seed2.json"]}
LOEO_RECIPE_TOML_OFFICE = {f"{RECIPE_TOML_GRU} (seed 0)": "searched-ema"}  # its only seed with every method held out


def loeo_rescores(seed: str) -> dict[str, Any]:
    """A seed's rescore files as one: every model's scores, and every folder they were heard in."""
    files = [load(rel) for rel in LOEO_RESCORED[seed]]
    return {"results": {k: v for f in files for k, v in f["results"].items()},
            "data": {k: v for f in files for k, v in f["data"].items()}}


def rescore_files(arms: dict[str, str], seed: str) -> list[str]:
    """The rescore files of a seed that hold models of these arms: a table's sources."""
    return [rel for rel in LOEO_RESCORED[seed]
            if any(model.startswith(f"{arm}-without-") for arm in arms.values() for model in load(rel)["results"])]


def loeo_rescored(arm: str, folder: str, seed: str = "-seed1") -> dict[str, tuple[float, float]]:
    """Per method held out: (its s→i R@10, the other four methods' R@10) of the saved model on one rescored folder."""
    rescored = loeo_rescores(seed)["results"]
    scores = {}
    for method, (name, pattern) in LOEO_ENGINES.items():
        by_voice = rescored[f"{arm}-without-{name}{seed}-baseline"][folder]["by_voice"]
        seen = [p for _, p in LOEO_ENGINES.values() if p != pattern]
        scores[method] = (family(by_voice, [pattern]), family(by_voice, seen))
    return scores


def loeo_rescored_ratios(arm: str, folder: str, seed: str = "-seed1") -> dict[str, float]:
    """Held-out ÷ seen s→i R@10 per method held out, both heard in one rescored folder's condition."""
    return {method: held / seen for method, (held, seen) in loeo_rescored(arm, folder, seed).items()}


def voices_leave_one_engine_out_rooms(arms: dict[str, str], seeds: tuple[str, ...] = ("-seed1",)) -> str:
    """Each method held out, heard clean and in the office: does what carries over between engines survive a room?
    With several seeds, each figure is its mean over the seeds' models."""
    rows = []
    for label, arm in arms.items():
        for folder, info in loeo_rescores(seeds[0])["data"].items():
            per_seed = [loeo_rescored(arm, folder, seed) for seed in seeds]
            held = {m: mean(scores[m][0] for scores in per_seed) for m in LOEO_ENGINES}
            seen = {m: mean(scores[m][1] for scores in per_seed) for m in LOEO_ENGINES}
            ratios = {m: mean(scores[m][0] / scores[m][1] for scores in per_seed) for m in LOEO_ENGINES}
            worst = min(ratios, key=ratios.get)
            rows.append([label, info["eval_condition"],
                         *(f"{num(held[m])} ({num(ratios[m], 2)})" for m in LOEO_ENGINES), num(mean(held.values())),
                         num(mean(seen.values())), num(mean(ratios.values()), 2), f"{num(ratios[worst], 2)} ({worst})"])
    models = (f"the seed-{seed_number(seeds[0])} models" if len(seeds) == 1 else
              f"means over the models of seeds {', '.join(seed_number(seed) for seed in seeds)}")
    return block(["arm", "heard", *(f"*{m}*" for m in LOEO_ENGINES), "held out, mean", "seen", "held-out ÷ seen",
                  "worst"], rows, [rel for seed in seeds for rel in rescore_files(arms, seed)],
                 "s→i R@10 on Flickr8k dev of the method held out (÷ the four heard, same condition), "
                 f"{models}; seen: the four heard methods' R@10, mean over the five models.")


def ratios_said(ratios: dict[str, float]) -> str:
    return f"{num(mean(ratios.values()), 2)} ({num(min(ratios.values()), 2)})"


def loeo_headline(arms: dict[str, str]) -> str:
    """README's cell: per arm the mean (worst) ratio and the mean held-out R@10; then the ratios in the office, for
    the arms whose seed-1 models were rescored there."""
    def said(arm: str) -> str:
        scored = loeo_rows(arm)
        return f"{ratios_said(method_means(scored, 'voice_ratio'))}; {num(mean(seed_means(scored, 'heldout_s2i_r10')))}"
    clean = "; ".join(f"{label} {said(arm)}" for label, arm in arms.items())
    office = "; ".join(f"{label} {ratios_said(loeo_rescored_ratios(arm, 'office'))}"
                       for label, arm in arms.items() if rescore_files({label: arm}, "-seed1"))
    return f"{clean}; heard in the office (seed 1's models): {office}"


def office_share(arm: str, seed: str) -> dict[str, float]:
    """Mean over the methods held out of one seed's final models: held-out and seen s→i R@10, clean (the run's last
    epoch) and in the office (the same model rescored)."""
    office = loeo_rescored(arm, "office", seed)
    clean = [last(loeo_file(arm, name, seed)) for name, _ in LOEO_ENGINES.values()]
    return {"held_clean": mean(r["heldout_s2i_r10"] for r in clean), "held_office": mean(h for h, _ in office.values()),
            "seen_clean": mean(r["seen_s2i_r10"] for r in clean), "seen_office": mean(s for _, s in office.values())}


def office_share_files(arms: dict[str, str], seed: str) -> list[str]:
    return [*(loeo_file(arm, name, seed) for arm in arms.values() for name, _ in LOEO_ENGINES.values()),
            *rescore_files(arms, seed)]


def voices_leave_one_engine_out_office_share(arms: dict[str, str], seed: str) -> str:
    """What each arm's final models keep in the office of their clean recall, on the method held out and on the four
    heard: the issue's room target (0.85) is on this share."""
    rows = []
    for label, arm in arms.items():
        x = office_share(arm, seed)
        rows.append([label, num(x["held_clean"]), num(x["held_office"]), num(x["held_office"] / x["held_clean"], 2),
                     num(x["seen_clean"]), num(x["seen_office"]), num(x["seen_office"] / x["seen_clean"], 2)])
    return block(["arm", "held out, clean", "held out, office", "office ÷ clean", "seen, clean", "seen, office",
                  "office ÷ clean"], rows, office_share_files(arms, seed),
                 "s→i R@10 on Flickr8k dev, mean over the five methods held out in turn, the "
                 f"seed-{seed_number(seed)} models after their whole budget; clean: the training run's last epoch, "
                 "office: the same model on dev prepared `--eval-condition office`.")


def voices_leave_one_engine_out_office_seeds(arms: dict[str, str]) -> str:
    """Each seed's final models clean and in the office, and the mean ± std over the seeds: the room target (0.85 of
    clean) on more than one seed."""
    rows, files = [], []
    for label, arm in arms.items():
        shares = []
        for seed in LOEO_SEEDS[arm]:
            x = office_share(arm, seed)
            shares.append({**x, "held": x["held_office"] / x["held_clean"], "seen": x["seen_office"] / x["seen_clean"]})
            files += office_share_files({label: arm}, seed)
        for seed, x in zip(LOEO_SEEDS[arm], shares):
            rows.append([label, seed_number(seed), num(x["held_clean"]), num(x["held_office"]), num(x["held"], 2),
                         num(x["seen_clean"]), num(x["seen_office"]), num(x["seen"], 2)])
        rows.append([f"**{label}, mean**", "", *(f"**{spread([x[k] for x in shares], d)}**" for k, d in (
            ("held_clean", 1), ("held_office", 1), ("held", 2), ("seen_clean", 1), ("seen_office", 1), ("seen", 2)))])
    return block(["arm", "seed", "held out, clean", "held out, office", "office ÷ clean", "seen, clean",
                  "seen, office", "office ÷ clean"], rows, files,
                 "s→i R@10 on Flickr8k dev, mean over the five methods held out in turn, each seed's final models "
                 "(whole budget); clean: the training run's last epoch, office: the same model on dev prepared "
                 "`--eval-condition office`; mean ± std over the seeds.")


def loeo_room_headline(arms: dict[str, str], seeds: tuple[str, ...] = ()) -> str:
    """README's cell: per arm, office ÷ clean held out / heard, and the held-out R@10 clean and in the office; means
    over ``seeds`` (every seed of the arm's if none are named)."""
    def said(arm: str) -> str:
        shares = [office_share(arm, seed) for seed in seeds or LOEO_SEEDS[arm]]
        held, seen = (mean(x[f"{k}_office"] / x[f"{k}_clean"] for x in shares) for k in ("held", "seen"))
        return (f"{num(held, 2)} / {num(seen, 2)} (held-out R@10 clean {num(mean(x['held_clean'] for x in shares))}, "
                f"office {num(mean(x['held_office'] for x in shares))})")
    return "; ".join(f"{label} {said(arm)}" for label, arm in arms.items())
