"""The quality and ablation tables: recall of benchmarks/quality.py runs and of an ablation's arms over seeds."""

from __future__ import annotations

import json
from pathlib import Path

from studies.read import block, load, num


def quality(files: list[str]) -> str:
    rows = []
    for rel in files:
        d, e = load(rel), load(rel)["epochs"][-1]
        q = "t" if d["query"] == "text" else "s"
        rows.append([f"{d['description']} (`{Path(rel).name}`)", e["epoch"], num(e["cpu_min"]),
                     f"{q}→i " + " / ".join(num(e[f"q2i_r{k}"]) for k in (1, 5, 10)), num(e["q2i_medr"], 0),
                     f"i→{q} " + " / ".join(num(e[f"i2q_r{k}"]) for k in (1, 5, 10))])
    headers = ["run", "epochs", "training CPU-min", "R@1 / R@5 / R@10", "medr", "R@1 / R@5 / R@10 (other way)"]
    return block(headers, rows, files, "The last epoch of each run; dev split, chance R@10 = 1.0.")


def ablations(rel: str) -> str:
    d = load(rel)
    arms = d["ablate"]["arms"]
    has_epoch_cpu = all("epoch_cpu_seconds" in s for s in d["summary"])  # recorded since sonovis ablate measured it
    rows = []
    for s in d["summary"]:
        what = ", ".join(f"`{k} = {json.dumps(v)}`" for k, v in arms[s["arm"]].items()) or "the base config"
        pm = [f"{num(s[f'{k}_mean'])} ± {num(s[f'{k}_std'])}" for k in ("s2i_r1", "s2i_r10", "i2s_r1", "i2s_r10")]
        delta = ["—", "—"] if s["arm"] == "baseline" else [f"{s[f'{k}_delta']:+.1f}" for k in ("s2i_r10", "i2s_r10")]
        epoch_cpu = [f"{num(s['epoch_cpu_seconds'])} ({num(s['epoch_cpu_ratio'], 2)})"] if has_epoch_cpu else []
        rows.append([f"`{s['arm']}`: {what}", s["seeds"], *pm, *delta, num(s["minutes"]), *epoch_cpu])
    headers = ["arm", "seeds", "s→i R@1", "s→i R@10", "i→s R@1", "i→s R@10", "Δ s→i R@10", "Δ i→s R@10", "min/trial",
               *(["CPU s an epoch (÷ baseline)"] if has_epoch_cpu else [])]
    return block(headers, rows, [rel], f"Dev recall at the final epoch ({d['ablate']['epochs']}), mean ± sample std over seeds.")
