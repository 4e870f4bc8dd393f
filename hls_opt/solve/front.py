"""The accuracy–resource front of a set of trials: the ones no other beats on both axes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from hls_opt.solve.step import Step


def pareto_front(steps: Sequence[Step | Mapping[str, Any]], increasing: bool = True) -> list[dict[str, Any]]:
    """The trials no other trial beats on both axes (less of the first resource, better metric),
    accepted or not, ordered by resource, as ``report.json`` writes steps (:meth:`Step.as_dict`);
    ``steps``: an optimization outcome's :class:`Step` s or a reloaded report's mappings (with
    ``metric`` and ``achieved``: resource name -> amount, the first one counts).
    ``increasing``: a larger metric is better (accuracy); False for a loss."""
    steps = [s.as_dict() if isinstance(s, Step) else dict(s) for s in steps]
    steps = [s for s in steps if s.get("metric") is not None and s.get("achieved")]
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
