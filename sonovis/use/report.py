"""``sonovis report``: one self-contained HTML page about a search, finished or still running.

It reads only files: each Tune trial folder under ``<runs>/search`` (params.json, and the
result.json line Tune appends every epoch), ``best.json``, an optional ``test_metrics.json``
and the Optuna study in ``optuna.db``; so it works on a copy, during a search, without Ray.
Plots are matplotlib Figures (no pyplot: no global state; PNG through Agg) embedded as
base64, so the page is one file with no scripts and no external styles.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any, Callable

import numpy as np
import optuna
import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from sonovis.errors import SonovisError
from sonovis.search import STUDY_FILE
from sonovis.train.metrics import SEARCH_METRIC
from sonovis.use.translate import (
    MATCH_CSS,
    load_gallery,
    matches_html,
    thumbnail_uri,
    translate,
)
from sonovis.use.trials import Trial, load_study, read_json, read_trials, searched_parameters

TOP_TRIALS = 20  # leaderboard rows
LEGEND_TRIALS = 8  # learning curves named in the legend: the best ones
EXAMPLES = 3  # translate examples, when the prepared data is given
MIN_IMPORTANCE_TRIALS = 4  # finished trials before parameter importance means anything
ABLATE_TABLES = ("ablation", "strategies")  # <name>.json files `sonovis ablate` writes, each with a table
STATUS_COLOURS = {"finished": "tab:green", "stopped early": "tab:orange", "running": "tab:blue", "errored": "tab:red"}


def write_report(run_dir: Path, out: Path | None = None, data_path: Path | None = None,
                 ablation_dir: Path | None = None) -> Path:
    """Write ``out`` (default ``<run_dir>/report.html``) and return its path; the tables of
    ``sonovis ablate`` are added from ``ablation_dir`` (default ``run_dir``) when it holds them."""
    run_dir = Path(run_dir)
    out = Path(out) if out else run_dir / "report.html"
    best = read_json(run_dir / "best.json")
    trials = read_trials(run_dir / "search", search_over=best is not None)
    study = load_study(run_dir / STUDY_FILE)
    saved = [(key, doc) for key in ABLATE_TABLES if (doc := read_json(Path(ablation_dir or run_dir) / f"{key}.json"))]
    searched = not saved or (run_dir / "search").is_dir()  # else an ablate folder alone: just its tables
    sections = [] if not searched else [
        ("leaderboard", "Leaderboard", _leaderboard(trials)),
        ("curves", "Learning curves", _figure_or_note(trials, _curves_figure)),
        ("importance", "Parameter importance", _importance(study)),
        ("parameters", "Recall against each searched parameter", _figure_or_note(
            trials, lambda t: _parameters_figure(t, searched_parameters(trials, study)))),
        ("timeline", "Trials per node and over time", _figure_or_note(trials, _timeline_figure)),
        ("best", "Best model", _best_model(best, read_json(run_dir / "test_metrics.json"))),
    ]
    sections += [(key, doc["table"]["title"], _saved_table(doc["table"])) for key, doc in saved]
    if data_path is not None:
        sections.append(("examples", "Translate examples (dev captions spoken by espeak-ng)",
                         _examples(run_dir, Path(data_path))))
    body = "".join(f'<section id="{key}"><h2>{title}</h2>{content}</section>' for key, title, content in sections)
    state = ("search finished" if best is not None else "search running (or stopped before the end)"
             if searched else "ablation tables")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(f"<!doctype html><html><head><meta charset='utf-8'><title>sonovis search report</title>"
                   f"<style>{PAGE_CSS}{MATCH_CSS}</style></head><body><h1>sonovis search report</h1>"
                   f"<p class='meta'>{html.escape(str(run_dir.resolve()))} &middot; {len(trials)} trials "
                   f"&middot; {state}</p>{body}</body></html>")
    return out


# --- sections --------------------------------------------------------------------------------


def _leaderboard(trials: list[Trial]) -> str:
    if not trials:
        return _note("No trial has reported an epoch yet.")
    varying = list(searched_parameters(trials, None))
    rows = [{"trial": t.trial_id, "node": t.node, **{k: _short(t.config.get(k)) for k in varying},
             "best search recall": t.best[SEARCH_METRIC], "s2i R@10": t.best["s2i_r10"], "i2s R@10": t.best["i2s_r10"],
             "epochs": len(t.history), "status": t.status} for t in trials]
    table = pd.DataFrame(rows).sort_values("best search recall", ascending=False).head(TOP_TRIALS)
    shown = f"top {len(table)} of {len(trials)} trials" if len(trials) > len(table) else f"{len(trials)} trials"
    board = table.to_html(index=False, float_format=lambda v: f"{v:.3g}", border=0, classes="board")
    return f'<p>{shown}, by best dev {SEARCH_METRIC} over their epochs</p><div class="wide">{board}</div>'


def _short(value: Any) -> Any:
    return ",".join(map(str, value)) if isinstance(value, list) else value


def _curves_figure(trials: list[Trial]) -> Figure:
    fig = Figure(figsize=(12, 4.2))
    axes = fig.subplots(1, 2)
    ranked = sorted(trials, key=lambda t: -t.best[SEARCH_METRIC])
    stopped = [t for t in trials if t.status == "stopped early"]
    for ax, column in zip(axes, (SEARCH_METRIC, "train_loss")):
        for i, t in enumerate(ranked):
            ax.plot(t.history["training_iteration"], t.history[column], marker=".", alpha=0.8,
                    label=t.trial_id if i < LEGEND_TRIALS else None)
        if stopped:  # where ASHA ended a trial: its last reported epoch
            ax.scatter([t.history["training_iteration"].iloc[-1] for t in stopped],
                       [t.history[column].iloc[-1] for t in stopped], marker="x", color="red", s=90, linewidths=2,
                       zorder=3, label="stopped by ASHA")
    axes[0].legend(fontsize=8, loc="best")
    for ax, label in zip(axes, (f"dev {SEARCH_METRIC} (%)", "training loss")):
        ax.set(xlabel="epoch", ylabel=label, title=f"{label} per trial")
        ax.grid(alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
    return fig


def _importance(study: optuna.Study | None) -> str:
    if study is None:
        return _note("No Optuna study (optuna.db) in this runs folder.")
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if len(complete) < MIN_IMPORTANCE_TRIALS:  # Optuna answers anyway, with equal or arbitrary shares
        return _note(f"Parameter importance needs at least {MIN_IMPORTANCE_TRIALS} trials that ran to the end; "
                     f"{len(complete)} so far.")
    try:
        importances = optuna.importance.get_param_importances(study)
    except (ValueError, RuntimeError) as err:
        return _note(f"Optuna could not estimate importance: {str(err).splitlines()[0]}")
    names = list(importances)[::-1]
    fig = Figure(figsize=(8, 0.35 * len(names) + 1.2))
    ax = fig.subplots()
    ax.barh(names, [importances[n] for n in names], color="tab:purple")
    ax.set(xlabel="importance (Optuna's PED-ANOVA)", title=f"from {len(complete)} finished trials")
    return (f"<p>Over the trials that ran to the end; ASHA-stopped trials are recorded as pruned and "
            f"left out.</p>{_png(fig)}")


def _parameters_figure(trials: list[Trial], kinds: dict[str, str]) -> Figure:
    if not kinds:
        raise SonovisError("every trial has the same configuration: nothing was searched")
    cols = min(3, len(kinds))
    rows = -(-len(kinds) // cols)
    fig = Figure(figsize=(4.3 * cols, 3.2 * rows))
    axes = fig.subplots(rows, cols, squeeze=False)
    recall = [t.best[SEARCH_METRIC] for t in trials]
    colours = [STATUS_COLOURS[t.status] for t in trials]
    for ax, (name, kind) in zip(axes.flat, kinds.items()):
        values = [_short(t.config.get(name)) for t in trials]
        if kind == "choice":  # categories side by side, a little jitter so equal points stay visible
            labels = sorted({str(v) for v in values}, key=lambda v: (len(v), v))
            jitter = np.random.default_rng(0).uniform(-0.12, 0.12, len(values))
            ax.scatter([labels.index(str(v)) + j for v, j in zip(values, jitter)], recall, c=colours, alpha=0.8)
            ax.set_xticks(range(len(labels)), [label[:18] for label in labels], fontsize=8)
        else:
            ax.scatter(values, recall, c=colours, alpha=0.8)
            ax.set_xscale("log" if kind == "log" else "linear")
            ax.tick_params(axis="x", which="both", labelsize=7, labelrotation=30)
        ax.set(title=name, ylabel=f"best {SEARCH_METRIC}")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(kinds):]:
        ax.axis("off")
    handles = [Line2D([], [], marker="o", ls="", color=c, label=s) for s, c in STATUS_COLOURS.items()]
    fig.tight_layout()
    fig.legend(handles=handles, loc="upper center", ncol=4, bbox_to_anchor=(0.5, 0.0))  # below: clear of titles
    return fig


def _timeline_figure(trials: list[Trial]) -> Figure:
    nodes = sorted({t.node for t in trials})
    origin = min(t.span[0] for t in trials)
    ordered = sorted(trials, key=lambda t: (t.node, t.span[0]))
    fig = Figure(figsize=(12, 0.32 * len(trials) + 1.8))
    counts, gantt = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 3]})
    colours = {node: colormaps["tab10"](i % 10) for i, node in enumerate(nodes)}
    counts.barh(nodes, [sum(t.node == n for t in trials) for n in nodes], color=[colours[n] for n in nodes])
    counts.set(xlabel="trials", title="trials per node")
    for y, t in enumerate(ordered):
        start, end = ((s - origin) / 60 for s in t.span)
        gantt.barh(y, max(end - start, 0.05), left=start, color=colours[t.node],
                   hatch="//" if t.status == "stopped early" else None, edgecolor="black", linewidth=0.5)
        gantt.text(end, y, f" {len(t.history)} ep, {t.status}", va="center", fontsize=7)
    gantt.set_yticks(range(len(ordered)), [f"{t.trial_id} @ {t.node}" for t in ordered], fontsize=7)
    gantt.invert_yaxis()
    gantt.set(xlabel="minutes since the first trial started", title="trials over time (hatched: stopped by ASHA)")
    gantt.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


def _best_model(best: dict[str, Any] | None, test: dict[str, Any] | None) -> str:
    if best is None:
        return _note("No best.json yet: the search has not finished.")
    metrics = best.get("best_metrics", {})
    rows = {f"dev (epoch {metrics.get('epoch', '?')})": _recalls(metrics)}
    if test is not None:
        rows[f"{test.get('split', 'held-out')} split (test_metrics.json)"] = _recalls(test)
    table = pd.DataFrame(rows).T.to_html(float_format=lambda v: f"{v:.1f}", border=0, classes="board")
    extra = "" if test is not None else _note("No test_metrics.json: the held-out split has not been scored.")
    return f"<p>Checkpoint: <code>{html.escape(str(best.get('best_checkpoint', '')))}</code></p>{table}{extra}"


def _recalls(metrics: dict[str, Any]) -> dict[str, float]:
    """R@1/5/10 and median rank both ways, from flat (``s2i_r1``, best.json) or nested
    (``{"s2i": {"r1": ..}}``, as ``evaluate_checkpoint`` returns) metrics."""
    row = {}
    for way in ("s2i", "i2s"):
        nested = metrics[way] if isinstance(metrics.get(way), dict) else {}
        for key, label in (("r1", "R@1"), ("r5", "R@5"), ("r10", "R@10"), ("medr", "medr")):
            row[f"{way} {label}"] = float(nested.get(key, metrics.get(f"{way}_{key}", np.nan)))
    return row


def _examples(run_dir: Path, data_path: Path) -> str:
    checkpoint = run_dir / "best" / "model.pt"  # not best.json's path: the runs folder may have been copied
    if not checkpoint.exists():
        return _note("No best checkpoint yet, so no translate examples.")
    try:
        gallery = load_gallery(checkpoint, data_path, "dev")
        parts = []
        for i in sorted({round(x) for x in np.linspace(0, len(gallery.image_ids) - 1, EXAMPLES)}):
            caption, target = gallery.captions[i][0], str(gallery.image_ids[i])
            matches = translate(checkpoint, data_path, say=caption, k=3, split="dev")
            rank = next((m.rank for m in matches if m.image_id == target), None)
            found = f"found at rank {rank}, outlined" if rank else "not in the top 3"
            path = Path(str(gallery.image_paths[i]))
            shown = f'<img src="{thumbnail_uri(path, 96)}" alt="{html.escape(target)}">' if path.is_file() else ""
            parts.append(f"<h3>{shown}&ldquo;{html.escape(caption)}&rdquo; <small>(its image {html.escape(target)}: "
                         f"{found})</small></h3>{matches_html(matches, correct=target)}")
    except (SonovisError, RuntimeError) as err:  # RuntimeError: a checkpoint older than the model code
        return _note(f"Translate examples unavailable: {str(err).splitlines()[0]}")
    return (f"<p>Each query is a dev caption spoken by espeak-ng and matched against all "
            f"{len(gallery.image_ids)} dev images.</p>" + "".join(parts))


def _saved_table(table: dict[str, Any]) -> str:
    """A table ``sonovis ablate`` saved (headers, rows, note), as it printed it."""
    board = pd.DataFrame(table["rows"], columns=table["headers"]).to_html(
        index=False, float_format=lambda v: f"{v:.1f}", border=0, classes="board")
    return f'<p>{html.escape(table["note"])}</p><div class="wide">{board}</div>'


def _figure_or_note(trials: list[Trial], make: Callable[[list[Trial]], Figure]) -> str:
    if not trials:
        return _note("No trial has reported an epoch yet.")
    try:
        return _png(make(trials))
    except SonovisError as err:
        return _note(str(err))


def _png(fig: Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    return f'<img class="plot" src="data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()}">'


def _note(text: str) -> str:
    return f'<p class="note">{html.escape(text)}</p>'


PAGE_CSS = """body{font-family:sans-serif;margin:24px;background:#f6f6f6;color:#222}.meta{color:#555}
section{background:#fff;border-radius:8px;padding:8px 20px 16px;margin-bottom:20px}.wide{overflow-x:auto}
.note{color:#8a5a00;background:#fff4dc;padding:6px 10px;border-radius:4px}img.plot{max-width:100%}
h3 img{width:64px;height:64px;vertical-align:middle;margin-right:10px}
table.board{border-collapse:collapse;font-size:13px}table.board th{max-width:110px;word-break:break-word}
table.board th,table.board td{padding:3px 8px;border-bottom:1px solid #ddd;text-align:right}"""
