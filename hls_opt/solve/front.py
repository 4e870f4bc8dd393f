"""The accuracy–resource front of a set of trials: the ones no other beats on both axes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np


def pareto_front(steps: Sequence[Mapping[str, Any]], increasing: bool = True) -> list[dict[str, Any]]:
    """The trials no other trial beats on both axes (less of the first resource, better metric),
    accepted or not, ordered by resource; ``steps`` as in a report's (or an optimization outcome's):
    mappings with ``metric`` and ``achieved`` (resource name -> amount, the first one counts).
    ``increasing``: a larger metric is better (accuracy); False for a loss."""
    steps = [dict(s) for s in steps if s.get("metric") is not None and s.get("achieved")]
    if not steps:
        return []
    name = next(iter(steps[0]["achieved"]))
    sign = 1.0 if increasing else -1.0
    ordered = sorted(steps, key=lambda st: (st["achieved"][name], -sign * st["metric"]))
    front, best = [], -np.inf
    for st in ordered:
        if sign * st["metric"] > best:
            front.append(st)
            best = sign * st["metric"]
    return front


__all__ = ["pareto_front"]
