"""The speed tables: a training process's memory (train_memory.py), search throughput (search_speed.py), an epoch's CPU
then and now (epoch_cost.py) and the recurrent layer's kernels (recurrent_layer.py)."""

from __future__ import annotations

from studies.read import block, load, mean, num, spread

MEMORY = "speed/train-memory.json"


def train_memory(rel: str) -> str:
    """benchmarks/train_memory.py: one training process's unique memory before and with each of its measures."""
    d = load(rel)
    rows = []
    for variant in d["runs"][0]:
        runs = [pair[variant] for pair in d["runs"]]
        rows.append([variant, spread([r["loaded_mib"] for r in runs]),
                     spread([r["peak_mib"] - r["loaded_mib"] for r in runs]),
                     spread([r["after_epoch_mib"][-1] - r["loaded_mib"] for r in runs]),
                     spread([mean(r["epoch_cpu_s"]) for r in runs])])
    return block(["", "USS with the data loaded, MiB", "peak beyond that, MiB", "after the last epoch, beyond that, MiB",
                  "CPU s an epoch"], rows, [rel],
                 f"{len(d['runs'])} repeats of {d['epochs']} epochs of the default configuration on one thread, "
                 "each variant in a fresh process; means ± std over the repeats.")


SEARCH_SPEED = "speed/search.json"
SEARCH_SPEED_LONG = "speed/search-6-epochs.json"  # the same with trials three times as long: fixed costs thinner
SEARCH_SPEED_EPYC = "speed/search-epyc.json"  # the 2-epoch measurement again, on an AMD EPYC
SEARCH_SPEED_CEILING = "speed/search-ceiling.json"  # again, beside two bare training loops at once (the ceiling)
SEARCH_SPEED_BARE_APART = "speed/search-bare-apart.json"  # the same, the bare loops in fresh processes, not the driver


def machine(d: dict) -> str:
    """Which machine: its CPU where the result recorded it (provenance since 2026-12-07), and whether it does bf16
    natively (what the cheaper settings use); else the one of the time."""
    m = d["provenance"]["machine"]
    if not m.get("cpu"):
        return "this 2-core machine"
    return f"a 2-core {m['cpu']} machine" + (" with native bf16" if m.get("native_bf16") else "")


def search_speed(rel: str) -> str:
    """benchmarks/search_speed.py: two trials at once against one, a Tune trial against the bare loop, USS per trial;
    since the two bare loops were timed at once too (``ceiling``), what the cores allow and the trials' own share."""
    d = load(rel)
    split = "ceiling" in d["repeats"][0]["ratios"]  # the whole search, the trials alone, two bare loops
    rows = [[i + 1, num(r["ratios"]["concurrency"], 2),
             *([num(r["ratios"]["within_trials"], 2), num(r["ratios"]["ceiling"], 2)] if split else []),
             num(r["ratios"]["overhead"], 2), num(r["ratios"]["uss_gib"], 2)]
            for i, r in enumerate(d["repeats"])]
    t = d["targets"]
    rows.append(["target", f"≥ {t['concurrency']}", *(["", ""] if split else []), f"≤ {t['overhead']}",
                 f"≤ {t['uss_gib']}"])
    return block(["repeat", "trial-epochs a minute, 2 trials at once ÷ 1",
                  *(["the same within the trials", "two bare loops at once ÷ one"] if split else []),
                  "a Tune trial's time ÷ the bare loop's", "peak USS of a trial process, GiB"], rows, [rel],
                 f"{d['trials']} trials of {d['epochs']} epochs of the default configuration on "
                 f"{d['images']['train']} train images, on {machine(d)}; the prepared data "
                 f"({num(d['data_mib'], 0)} MiB) sit once in the object store, outside the trials' USS."
                 + (" Within the trials: 2 × a trial's own time alone ÷ at once, without the search's start-up and "
                    "scheduling; two bare loops: the same for two `fit()` loops in two processes, no Ray."
                    if split else ""))


EPOCH_COST = "speed/epoch-cost.json"
EPOCH_COST_EPYC = "speed/epoch-cost-epyc.json"  # the same sides again, 4 epochs, on an AMD EPYC
SIDE_LABELS = {"before": "then", "now": "now", "cheaper": "cheaper"}  # epoch_cost.py's sides as the tables name them


def epoch_cost(rel: str) -> str:
    """benchmarks/epoch_cost.py: an epoch's CPU time and dev recall now (and with ``--cheaper`` settings) and with the
    code when issue #25 was filed."""
    d = load(rel)
    sides = d["sides"]
    later = [name for name in sides if name != "before"]

    def per_side(e: dict, key: str) -> str:
        return " / ".join(num(e[f"{name}_{key}"]) for name in sides)
    rows = [[e["epoch"], *(num(e[f"{name}_cpu_seconds"]) for name in sides),
             *(num(e[f"{name}_cpu_seconds"] / e["before_cpu_seconds"], 2) for name in later),
             per_side(e, "s2i_r10"), per_side(e, "i2s_r10")] for e in d["per_epoch"]]
    names = " / ".join(SIDE_LABELS[name] for name in sides)
    header = ["epoch", f"CPU s, `{d['before']}`", *(f"CPU s, {SIDE_LABELS[name]}" for name in later),
              *(f"{SIDE_LABELS[name]} ÷ then" for name in later), f"s→i R@10, {names}", f"i→s R@10, {names}"]
    by_seed = "; ".join(f"{SIDE_LABELS[name]} ÷ then {', '.join(num(r, 2) for r in d['epoch_cpu_ratio'][name])}"
                        for name in later)
    cheaper = f" Cheaper: today's default with {', '.join(f'`{c}`' for c in d['cheaper'])}." if d["cheaper"] else ""
    return block(header, rows, [rel],
                 f"The default configuration of each version on {d['limit']:,} Flickr8k train images (dev: "
                 f"{d['limit']:,} images), one thread, seeds 0–{len(d['runs']) // len(sides) - 1}, one run of each "
                 f"side per seed, alternating, alone on {machine(d)}; means over the seeds.{cheaper} Epoch CPU seed "
                 f"by seed: {by_seed} (issue #25's aim: ≤ {num(d['target'], 1)}).")


RECURRENT_LAYER = "speed/recurrent-layer.json"


def recurrent_layer(rel: str) -> str:
    """benchmarks/recurrent_layer.py: the encoder's recurrent layer, forward and backward, GRU and LSTM, fp32 and bf16."""
    d = load(rel)
    rows = [[r["side"], num(r["median_ms"]), f"{num(r['min_ms'])}–{num(r['max_ms'])}", num(r["ratio"], 2)]
            for r in d["rows"]]
    shape = d["shape"]
    return block(["", "ms a step (median)", "range over repeats", "÷ the float32 GRU"], rows, [rel],
                 f"One bidirectional layer as the speech encoder runs it (`Recurrent`), a batch of {shape['batch']} "
                 f"utterances × {shape['frames']} time steps, {shape['size']} → {shape['size']}, forward and "
                 f"backward on one thread; {d['repeat']} repeats of {d['steps']} steps, the sides alternating; "
                 f"native bf16 on this CPU: {'yes' if d['bf16_native'] else 'no'}.")
