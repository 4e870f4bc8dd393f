"""Sparsity schedulers: which target sparsity the optimizer tries next.

Drop-in for ``hls4ml.optimization.dsp_aware_pruning.scheduler`` (same class names, constructor
arguments, attributes and sparsity sequences; hls4ml/optimization/dsp_aware_pruning/scheduler.py; tests/test_scheduler.py checks the sequences).  The optimizer asks
``get_sparsity()`` for the first trial, then calls ``update_step()`` after a trial that met the
accuracy target and ``repair_step()`` after one that did not.  Both return
``(changed, sparsity)``; ``changed=False`` tells the optimizer to stop.

Sparsities are fractions in ``[0, 1]`` (not percent) of the *objective* (e.g. 0.5 of the DSPs).

Differences from hls4ml, all deliberate:

* ``ConstantScheduler`` computes step ``k`` as ``initial + k·step`` and compares with the final
  sparsity under a small tolerance (``TOLERANCE``), snapping to the final value when within it.
  hls4ml accumulates ``s += step`` and compares exactly, so its default run
  (``update_step=0.05``) ends at ``0.9500000000000003`` and never tries 1.0, and
  ``ConstantScheduler(final_sparsity=0.3, update_step=0.1)`` stops at 0.2 because
  ``0.1+0.1+0.1 > 0.3``.  Here both reach their final sparsity.  Where hls4ml's accumulated sum
  happens to be exact the floats are identical (``0.1, 0.2, 0.30000000000000004, 0.4, 0.5``);
  elsewhere they differ by a few ulps.
* ``BinaryScheduler`` compares its gaps with ``threshold`` under the same tolerance, so a gap that
  equals the threshold in exact arithmetic counts as ``>=`` (as written) despite rounding.
* Arguments that would make the optimizer loop forever or crash (a step or threshold ``<= 0``,
  ``maximum_steps < 1``, ``decay_power <= 0``) raise ``ValueError``; hls4ml accepts them.
  Out-of-range sparsities raise ``ValueError`` naming the argument (hls4ml: bare ``Exception``).

Kept from hls4ml on purpose (hls4ml's ``ConstantScheduler`` / ``PolynomialScheduler`` in dsp_aware_pruning/scheduler.py): ``repair_step()`` of the constant and
polynomial schedulers is the same as ``update_step()`` -- after a failed trial they move on to a
*higher* sparsity (a model can recover at a higher sparsity after fine-tuning; the optimizer's
``cutoff_bad_trials`` ends the run).  ``BinaryScheduler`` is the only one that backs off.

Schedulers hold only plain numbers, so ``copy.deepcopy`` gives an independent scheduler; the
optimizer copies the caller's scheduler so that a scheduler object can be reused across calls.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from numbers import Integral, Real

from hls_opt.errors import ConfigError

__all__ = [
    "OptimizationScheduler",
    "ConstantScheduler",
    "BinaryScheduler",
    "PolynomialScheduler",
    "MaxCutScheduler",
    "TOLERANCE",
    "default_scheduler",
]

#: Absolute tolerance used when comparing sparsities (far below any meaningful sparsity step,
#: far above the rounding error of summing a few hundred steps).
TOLERANCE = 1e-9


def _number(name: str, value: object) -> float:
    """``value`` as a finite float; ``ConfigError`` (a ``ValueError``) naming ``name`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ConfigError(f"{name} must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ConfigError(f"{name} must be finite, got {value!r}")
    return value


def _fraction(name: str, value: object) -> float:
    value = _number(name, value)
    if not 0.0 <= value <= 1.0:
        raise ConfigError(f"{name} must be between 0.0 and 1.0 (a fraction, not a percentage), got {value!r}")
    return value


class OptimizationScheduler(ABC):
    """Base class: holds the current target sparsity and its bounds.

    Attributes (hls4ml's names): ``sparsity`` (current target), ``lower_bound`` (starts at
    ``initial_sparsity``), ``upper_bound`` (starts at ``final_sparsity``).  ``initial_sparsity``
    and ``final_sparsity`` keep the constructor values.
    """

    def __init__(self, initial_sparsity: float = 0, final_sparsity: float = 1) -> None:
        self.initial_sparsity = _fraction("initial_sparsity", initial_sparsity)
        self.final_sparsity = _fraction("final_sparsity", final_sparsity)
        self.sparsity = self.initial_sparsity
        self.lower_bound = self.initial_sparsity
        self.upper_bound = self.final_sparsity

    def get_sparsity(self) -> float:
        """The current target sparsity (fraction of the objective to remove)."""
        return self.sparsity

    @abstractmethod
    def update_step(self) -> tuple[bool, float]:
        """Next sparsity after a trial that met the accuracy target: ``(changed, sparsity)``."""

    @abstractmethod
    def repair_step(self) -> tuple[bool, float]:
        """Next sparsity after a trial that missed the accuracy target: ``(changed, sparsity)``."""

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({fields})"


class ConstantScheduler(OptimizationScheduler):
    """Sparsity grows by a constant ``update_step`` until it would pass ``final_sparsity``.

    Sequence: ``initial + k·update_step`` for k = 1, 2, …, as long as it is ``<= final_sparsity``
    (within ``TOLERANCE``; a value within it is replaced by ``final_sparsity`` itself).  The
    default run tries 0.05, 0.1, …, 0.95, 1.0.  ``repair_step() == update_step()`` (hls4ml).
    """

    def __init__(
        self, initial_sparsity: float = 0, final_sparsity: float = 1.0, update_step: float = 0.05
    ) -> None:
        super().__init__(initial_sparsity, final_sparsity)
        step = _number("update_step", update_step)
        if step <= 0:
            raise ConfigError(f"update_step must be > 0, got {update_step!r}")
        self.increment = step  # hls4ml's attribute name
        self.steps_taken = 0

    def update_step(self) -> tuple[bool, float]:
        # initial + k·step instead of repeated addition: no drift, so the final value is reached.
        candidate = self.lower_bound + (self.steps_taken + 1) * self.increment
        if candidate > self.upper_bound + TOLERANCE:
            return False, self.sparsity
        if candidate > self.upper_bound - TOLERANCE:
            candidate = self.upper_bound
        self.steps_taken += 1
        self.sparsity = candidate
        return True, self.sparsity

    def repair_step(self) -> tuple[bool, float]:
        # hls4ml: a failure also moves on to the next (higher) sparsity.
        return self.update_step()


class BinaryScheduler(OptimizationScheduler):
    """Bisection between the last success (``lower_bound``) and the last failure (``upper_bound``).

    ``update_step``: if ``upper − s >= threshold`` then ``lower = s; s = (lower+upper)/2``, else
    stop (``lower = s``).  ``repair_step``: if ``s − lower >= threshold`` then
    ``upper = s; s = (lower+upper)/2``, else stop (``upper = s``).  Default run with every trial
    succeeding: 0.5, 0.75, …, 0.9921875, then stop.  A failure at the initial sparsity stops at once.
    """

    def __init__(
        self, initial_sparsity: float = 0, final_sparsity: float = 1.0, threshold: float = 0.01
    ) -> None:
        super().__init__(initial_sparsity, final_sparsity)
        thr = _number("threshold", threshold)
        if thr <= 0:
            raise ConfigError(f"threshold must be > 0, got {threshold!r}")
        self.threshold = thr

    def update_step(self) -> tuple[bool, float]:
        if self.upper_bound - self.sparsity >= self.threshold - TOLERANCE:
            self.lower_bound = self.sparsity
            self.sparsity = 0.5 * (self.lower_bound + self.upper_bound)
            return True, self.sparsity
        self.lower_bound = self.sparsity
        return False, self.sparsity

    def repair_step(self) -> tuple[bool, float]:
        if self.sparsity - self.lower_bound >= self.threshold - TOLERANCE:
            self.upper_bound = self.sparsity
            self.sparsity = 0.5 * (self.lower_bound + self.upper_bound)
            return True, self.sparsity
        self.upper_bound = self.sparsity
        return False, self.sparsity


class PolynomialScheduler(OptimizationScheduler):
    """Polynomial decay towards ``final_sparsity`` (Zhu & Gupta 2017, "To prune, or not to prune").

    Step k = 1 … ``maximum_steps``:
    ``s_k = final + (initial − final)·(1 − k/maximum_steps)^decay_power``
    (hls4ml's formula, same floats); the last step is exactly ``final_sparsity``; after it,
    ``(False, s)``.  ``repair_step() == update_step()`` (hls4ml).
    """

    def __init__(
        self,
        maximum_steps: int,
        initial_sparsity: float = 0,
        final_sparsity: float = 1.0,
        decay_power: float = 3,
    ) -> None:
        super().__init__(initial_sparsity, final_sparsity)
        if isinstance(maximum_steps, bool) or not isinstance(maximum_steps, Integral) or maximum_steps < 1:
            raise ConfigError(f"maximum_steps must be an integer >= 1, got {maximum_steps!r}")
        power = _number("decay_power", decay_power)
        if power <= 0:
            raise ConfigError(f"decay_power must be > 0, got {decay_power!r}")
        self.maximum_steps = int(maximum_steps)
        self.decay_power = decay_power  # kept as given: an int power gives hls4ml's exact floats
        self.current_step = 0

    def update_step(self) -> tuple[bool, float]:
        if self.current_step >= self.maximum_steps:
            return False, self.sparsity
        self.current_step += 1
        remaining = 1 - self.current_step / self.maximum_steps
        self.sparsity = self.upper_bound + (self.lower_bound - self.upper_bound) * remaining**self.decay_power
        return True, self.sparsity

    def repair_step(self) -> tuple[bool, float]:
        # hls4ml: a failure also moves on to the next (higher) sparsity.
        return self.update_step()


class MaxCutScheduler(OptimizationScheduler):
    """The deepest cut within the tolerance: climb until a trial fails, then bisect (``target='max'``).

    While no trial has failed, the next target closes ``climb`` of the gap between the last
    success (``lower_bound``) and ``final_sparsity``: with the defaults 1/3, 5/9, 19/27, …
    (each trial is one cheap step from the last fine-tuned state, so the climb may be long; on
    the 64-256-128-10 digits MLP, climb 1/2 jumped 0.75 → 0.875 and failed there, where
    BinaryScheduler's smaller steps passed 0.94 — docs/deep_cut.md).
    After the first failure (``upper_bound`` = the smallest failed target) every step bisects
    ``[lower_bound, upper_bound]``.  When that interval is narrower than ``threshold`` the search
    retries the smallest failed target once more (``retries`` times in all) from the state the
    bisection left, which is better adapted than the one that failed there (conv model, digits:
    0.704 failed after a jump from 0.556 and 0.694 passed by bisection); a passing retry resumes
    the climb, a failing one ends the search at the deepest success.  ``self_terminating``: the optimizer lets it run past ``cutoff_bad_trials``,
    since a bisection is made of failures.  ``repair_step`` never ends a search whose interval
    is still wide, so a first-trial failure backs off to ``climb · (first − initial)`` etc.
    """

    self_terminating = True

    def __init__(
        self,
        initial_sparsity: float = 0,
        final_sparsity: float = 1.0,
        climb: float = 1 / 3,
        threshold: float = 0.01,
        retries: int = 1,
    ) -> None:
        super().__init__(initial_sparsity, final_sparsity)
        climb = _number("climb", climb)
        if not 0 < climb <= 1:
            raise ConfigError(f"climb must be in (0, 1], got {climb!r}")
        thr = _number("threshold", threshold)
        if thr <= 0:
            raise ConfigError(f"threshold must be > 0, got {threshold!r}")
        if isinstance(retries, bool) or not isinstance(retries, Integral) or retries < 0:
            raise ConfigError(f"retries must be an integer >= 0, got {retries!r}")
        self.climb = climb
        self.threshold = thr
        self.retries = int(retries)
        self.failed = False  # has any trial failed (upper_bound is then a failed target)
        self.retrying = False  # is the current trial a retry of the smallest failed target
        self.sparsity = self.lower_bound + climb * (self.upper_bound - self.lower_bound)

    def _next(self, after_success: bool) -> tuple[bool, float]:
        gap = self.upper_bound - self.lower_bound
        if gap < self.threshold - TOLERANCE:
            # a retry only after a success: right after a failure the state is the failed one
            if self.failed and self.retries > 0 and after_success:
                self.retries -= 1
                self.retrying = True
                self.sparsity = self.upper_bound
                return True, self.sparsity
            return False, self.lower_bound
        step = 0.5 if self.failed else self.climb
        self.sparsity = self.lower_bound + step * gap
        return True, self.sparsity

    def update_step(self) -> tuple[bool, float]:
        self.lower_bound = self.sparsity
        if self.retrying:  # the retry passed: climb again from here
            self.retrying, self.failed = False, False
            self.upper_bound = self.final_sparsity
        if not self.failed and self.upper_bound - self.lower_bound < self.threshold - TOLERANCE:
            return False, self.sparsity  # reached final_sparsity
        return self._next(after_success=True)

    def repair_step(self) -> tuple[bool, float]:
        self.upper_bound = self.sparsity
        self.failed = True
        if self.retrying:  # the retry failed too: the deepest success stands
            self.retrying = False
            return False, self.lower_bound
        return self._next(after_success=False)


def default_scheduler() -> PolynomialScheduler:
    """hls-opt's default schedule: 5 polynomial steps up to 50 % of the objective's resources."""
    return PolynomialScheduler(5, final_sparsity=0.5)


class BudgetScheduler(MaxCutScheduler):
    """Cut until the design fits its resource budgets, within the tolerance.

    Built unresolved from the budgets' ``limits`` (``{field: count}``, the objective's fields only;
    ``budgets``: the :class:`~hls_opt.config.Budgets` they came from, for messages; ``fallback``:
    the user's schedule, followed unchanged when the unpruned design already fits); the loop resolves it against
    its problem (:meth:`for_sparsity`, with the cut :func:`hls_opt.solve.budget_cut.required_cut`
    computes), which sets ``final_sparsity`` to the cut that fits.  Then as
    :class:`MaxCutScheduler`, except the climb reaches the cut in ``ceil(cut / max_step)`` equal
    steps (``max_step`` 0.25: each step one short fine-tune from the last state) instead of closing
    a third of the gap each time, and it stops there: a design that fits is the goal, a deeper cut
    only costs accuracy.  A failed step bisects towards the deepest cut within the tolerance (the
    best design found, kept and reported when the budget cannot be met).
    """

    def __init__(
        self,
        limits: object = None,
        max_step: float = 0.25,
        threshold: float = 0.01,
        retries: int = 1,
        budgets: object = None,
        fallback: object = None,
    ) -> None:
        super().__init__(0.0, 1.0, threshold=threshold, retries=retries)
        self.budgets = budgets  # the typed Budgets the limits came from (messages name their flags)
        self.fallback = fallback  # the schedule to follow when the unpruned design already fits
        step = _number("max_step", max_step)
        if not 0 < step <= 1:
            raise ConfigError(f"max_step must be in (0, 1], got {max_step!r}")
        self.limits = dict(limits or {})
        self.max_step = step
        self.resolved = False
        self._left = 1

    def for_sparsity(self, cut: float) -> BudgetScheduler:
        """A fresh copy aimed at ``cut`` (the sparsity at which the design fits)."""
        out = BudgetScheduler(self.limits, self.max_step, self.threshold, self.retries, self.budgets, self.fallback)
        out.upper_bound = out.final_sparsity = _fraction("final_sparsity", float(cut))
        out.resolved = True
        out._left = max(1, math.ceil(out.final_sparsity / out.max_step - TOLERANCE))
        out.sparsity = out.final_sparsity / out._left
        return out

    def _next(self, after_success: bool) -> tuple[bool, float]:
        if self.failed:
            return super()._next(after_success)
        gap = self.upper_bound - self.lower_bound
        if gap < self.threshold - TOLERANCE:
            return False, self.lower_bound
        self._left = max(1, self._left - 1) if after_success else max(1, math.ceil(gap / self.max_step - TOLERANCE))
        self.sparsity = self.lower_bound + gap / self._left
        return True, self.sparsity

    def update_step(self) -> tuple[bool, float]:
        if self.retrying:  # the retry passed: climb again towards the cut
            self.lower_bound = self.sparsity
            self.retrying, self.failed = False, False
            self.upper_bound = self.final_sparsity
            self._left = max(1, math.ceil((self.upper_bound - self.lower_bound) / self.max_step - TOLERANCE)) + 1
            if self.upper_bound - self.lower_bound < self.threshold - TOLERANCE:
                return False, self.sparsity
            return self._next(after_success=True)
        return super().update_step()
