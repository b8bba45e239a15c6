"""What a search's rungs and budgets count: epochs, or each trial's CPU minutes.

Counting epochs, an epoch four times dearer than another costs the search nothing and its user
four times as much: the first real Flickr8k search picked such a configuration, which then lost
at equal CPU (docs/results/search.md). With ``search.clock = "cpu_minutes"`` every trial reports
its cumulative training-and-evaluation CPU time, ASHA's rungs and ``max_t`` are in CPU minutes,
and a trial ends within ``search.max_cpu_minutes``, whatever its epochs cost, by the benchmarks'
rule (benchmarks/budget.py): an epoch that would overrun the budget, judged by the trial's longest
epoch so far, is not started. So a search ranks a configuration by what it reaches in the CPU a
retrain at that budget would give it, not by one epoch more.
"""

from __future__ import annotations

from typing import Any

from sonovis.config import SearchConfig
from sonovis.errors import ConfigError

CPU_MINUTES = "cpu_minutes"  # the trials' cumulative CPU, reported every epoch
BUDGET_SPENT = "budget_spent"  # reported 1.0 with a trial's last epoch: the next would overrun its CPU budget
TIME_ATTR = {"epochs": "training_iteration", CPU_MINUTES: CPU_MINUTES}


def check_clock(search: SearchConfig) -> None:
    if search.clock not in TIME_ATTR:
        raise ConfigError(f"search.clock = {search.clock!r}: expected one of {', '.join(TIME_ATTR)}")
    if search.clock == CPU_MINUTES:
        if search.max_cpu_minutes <= 0:
            raise ConfigError("search.clock = \"cpu_minutes\" needs search.max_cpu_minutes > 0 (each trial's budget)")
        if search.scheduler == "hyperband":
            raise ConfigError("search.scheduler = \"hyperband\" counts epochs only; use asha or fifo with cpu_minutes")


def budget(search: SearchConfig) -> float:
    """A trial's CPU-minute budget when the search counts CPU, else 0 (its epochs end it)."""
    return search.max_cpu_minutes if search.clock == CPU_MINUTES else 0.0


def rungs(search: SearchConfig) -> dict[str, Any]:
    """ASHA's ``time_attr``, ``max_t`` and ``grace_period`` in the search's clock (checked by ``check_clock``)."""
    if search.clock == CPU_MINUTES:
        return {"time_attr": TIME_ATTR[search.clock], "max_t": search.max_cpu_minutes,
                "grace_period": min(search.grace_cpu_minutes, search.max_cpu_minutes)}
    return {"time_attr": TIME_ATTR[search.clock], "max_t": search.max_epochs, "grace_period": search.grace_period}


def stop_rule(search: SearchConfig) -> dict[str, float] | None:
    """Tune's stopping criterion: the CPU budget, which FIFO would otherwise ignore (epochs end by ``train.epochs``)."""
    check_clock(search)
    return {CPU_MINUTES: budget(search)} if budget(search) else None


def budget_spent(spent: float, longest: float, limit: float) -> bool:
    """Whether a trial that has spent ``spent`` CPU minutes, its longest epoch ``longest``, stops within ``limit``."""
    return limit > 0 and spent + longest > limit


def completed(result: dict[str, Any], max_epochs: int, max_cpu_minutes: float = 0.0) -> bool:
    """Whether a trial ran its whole budget (epochs, or CPU minutes when that is the clock), not stopped early.

    A trial flags its own last epoch (``BUDGET_SPENT``), so a reader that does not know the budget
    (the report) passes ``max_cpu_minutes=0`` and still gets the answer."""
    spent_cpu = bool(result.get(BUDGET_SPENT, 0.0)) or (max_cpu_minutes > 0 and
                                                        result.get(CPU_MINUTES, 0.0) >= max_cpu_minutes)
    return result.get("training_iteration", 0) >= max_epochs or spent_cpu
