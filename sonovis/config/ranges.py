"""Declared ranges: each numeric field says, beside its default, which values mean something.

``schema`` writes ``epochs: int = ranged(20, "[1, inf)")``; ``loading`` checks every built
dataclass against these declarations, so a range lives in one place, next to the field it limits.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

_INTERVAL = re.compile(r"^([\[(])\s*(-inf|[-+0-9.e]+)\s*,\s*(inf|[-+0-9.e]+)\s*([\])])$")


@dataclass(frozen=True)
class Interval:
    """A closed, open or half-open interval of finite numbers, written as in maths: "[0, 1)", "(0, inf)"."""

    text: str
    low: float
    high: float
    low_closed: bool
    high_closed: bool

    @classmethod
    def parse(cls, text: str) -> "Interval":
        match = _INTERVAL.match(text)
        if not match:
            raise ValueError(f"interval {text!r}: write it as [low, high], (low, high), [low, inf) ...")
        left, low, high, right = match.groups()
        return cls(text, float(low), float(high), left == "[", right == "]")

    def holds(self, value: float) -> bool:
        """True for a finite number inside the interval; nan and +-inf are never a setting."""
        if not math.isfinite(value):
            return False
        above = value >= self.low if self.low_closed else value > self.low
        below = value <= self.high if self.high_closed else value < self.high
        return above and below


def ranged(default: Any, interval: str, *, pair: bool = False, at_most: str = "") -> Any:
    """A dataclass field whose number (or every number of its tuple) lies in ``interval``.

    ``pair``: the tuple is a ``(low, high)`` range itself, so low must not exceed high (an empty
    tuple still means off). ``at_most``: the value must not exceed that sibling field's.
    """
    return field(default=default, metadata={"range": Interval.parse(interval), "pair": pair, "at_most": at_most})
