"""Resource budgets as targets: the cut a budget asks for, and whether a design fits.

A DSP / BRAM / LUT budget (``--dsp-budget``, ``--bram-budget``, ``--lut-budget``, or the counts of
``--device``) is read generically from the typed :class:`~hls_opt.config.Budgets`: the limit of a
resource field ``f`` is ``budgets.<f>_limit`` (``dsp_limit``, ``bram_limit``, …; a field the
``Budgets`` value has no ``<f>_limit`` for has no budget).  Only the fields of the objective are
*targets* — the pruning reduces those; a budget on another field is checked and reported.

The sparsity ``s`` the pruning loop asks for is a fraction of the **savable** resources
(:func:`hls_opt.solve.pruning.select_groups` keeps ``Σ savings(kept) ≤ ⌊(1 − s) · S⌋``, ``S`` = what
pruning every group saves) or, with a reuse-factor budget, ``(1 − s) · baseline`` clamped to the
chooser's ``floor`` (:class:`~hls_opt.solve.rf_problem.JointChooser.target`).  So the design fits a
limit ``L`` on field ``f`` from the sparsity

    s_f = 1 − (L − U) / S          U = baseline − S (what no pruning removes: the all-pruned design)
    s_f = 1 − L / baseline         (joint: target = (1 − s) · baseline, clamped to the floor)

and the loop's target is ``max_f s_f``.  ``L < U`` (``L < floor``): even the all-pruned design does not
fit — :class:`~hls_opt.errors.InfeasibleBudget` before any fine-tuning (the CLI's exit 2).
Nothing here imports Keras.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hls_opt.cost.vector import FIELDS
from hls_opt.errors import InfeasibleBudget

# Field → the flag that sets its budget (for messages); a device count stands in for a missing one.
_FLAGS = {"dsp": "--dsp-budget", "bram": "--bram-budget", "lut": "--lut-budget"}
# The capacity the knapsack gets is ⌊(1 − s) · S⌋: aim a hair above the limit so that rounding the
# float product down never lands one unit below it (integer resources still end ≤ the limit).
_MARGIN = 1e-6
_UNITS = {"dsp": "DSPs", "bram": "BRAMs", "lut": "LUTs", "ff": "FFs"}


def resource_limits(budgets: Any) -> dict[str, int]:
    """``{field: limit}`` of every resource field the budgets limit (explicit or the device's)."""
    if budgets is None:
        return {}
    out = {}
    for f in FIELDS:
        value = getattr(budgets, f"{f}_limit", None)
        if value is not None:
            out[f] = value
    return out


def budget_flag(budgets: Any, field: str) -> str:
    """The flag a field's limit came from: ``--dsp-budget`` or ``--device (NAME)``."""
    if getattr(budgets, field, None) is not None:
        return _FLAGS.get(field, f"--{field}-budget")
    device = getattr(budgets, "device", None)
    return f"--device ({device.name})" if device is not None else _FLAGS.get(field, f"--{field}-budget")


def unit(field: str) -> str:
    return _UNITS.get(field, field)


@dataclass(frozen=True)
class BudgetCut:
    """What a problem needs to fit its limits: ``sparsity`` (the loop's target), per target field
    the ``limit``, the ``baseline`` (unpruned) and the ``floor`` (all-pruned)."""

    sparsity: float
    fields: tuple[str, ...]
    limits: tuple[float, ...]
    baseline: tuple[float, ...]
    floor: tuple[float, ...]

    def fits(self, achieved: Sequence[float] | Mapping[str, float], names: Sequence[str] | None = None) -> bool:
        """Whether ``achieved`` (a vector aligned with ``names``, or ``{field: value}``) is within
        every limit (a relative 1e-9 for float estimates)."""
        values = achieved if isinstance(achieved, Mapping) else dict(zip(names or self.fields, achieved))
        return all(float(values[f]) <= lim + 1e-9 * max(1.0, abs(lim)) for f, lim in zip(self.fields, self.limits))


def required_cut(problem: Any, limits: Mapping[str, float], budgets: Any = None) -> BudgetCut | None:
    """The :class:`BudgetCut` of ``problem`` (a :class:`~hls_opt.solve.pruning.PruningProblem`) for
    ``limits`` (only the fields the problem counts; None when it counts none of them).  Raises
    :class:`InfeasibleBudget` when the all-pruned design exceeds a limit (message naming the flag,
    the limit and the floor)."""
    names = tuple(problem.resource_names)
    fields = tuple(f for f in names if f in limits)
    if not fields:
        return None
    idx = [names.index(f) for f in fields]
    joint = getattr(problem, "joint", None)
    if joint is not None:
        baseline = np.asarray(joint.baseline, dtype=np.float64)
        floor = np.asarray(joint.floor, dtype=np.float64)
    else:
        baseline = np.asarray(problem.baseline, dtype=np.float64)
        savable = np.zeros(len(names))
        for g in problem.groups:
            if g.pruning and np.any(np.asarray(g.savings) > 0):
                savable += np.asarray(g.savings, dtype=np.float64) * g.n_groups
        floor = baseline - savable
    problems, needed = [], [0.0]
    for f, i in zip(fields, idx):
        lim = float(limits[f])
        if floor[i] > lim + 1e-9 * max(1.0, lim):
            flag = budget_flag(budgets, f) if budgets is not None else _FLAGS.get(f, f)
            problems.append(
                f"{flag}: {lim:g} {unit(f)} is below what the design reaches with every prunable group "
                f"pruned, {floor[i]:g} (unpruned {baseline[i]:g})"
            )
            continue
        if baseline[i] <= lim:
            continue
        if joint is not None:
            needed.append(1.0 - (lim + _MARGIN) / baseline[i])
        else:
            span = baseline[i] - floor[i]
            needed.append(1.0 - (lim - floor[i] + _MARGIN) / span if span > 0 else 0.0)
    if problems:
        raise InfeasibleBudget("; ".join(problems))
    return BudgetCut(
        sparsity=float(min(1.0, max(0.0, *needed))),
        fields=fields,
        limits=tuple(float(limits[f]) for f in fields),
        baseline=tuple(float(baseline[i]) for i in idx),
        floor=tuple(float(floor[i]) for i in idx),
    )


__all__ = ["BudgetCut", "budget_flag", "required_cut", "resource_limits", "unit"]
