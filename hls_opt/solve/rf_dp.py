"""Choosing each layer's reuse factor jointly with the pruning under latency / II budgets: the problem and its solver.

Pure numpy + numba; nothing here knows about Keras, the IR or a backend (the bridge from a graph is
:mod:`hls_opt.solve.rf_problem`).  The formulation, complexity, exactness and the fallback are written up
in ``docs/rf_choice.md``; in short:

* layer ``l`` (in order) has options ``o`` (an RF, or Latency at RF 1), each with a latency and an II
  in cycles, an unpruned resource cost ``base`` (``M`` integers, the objective's fields) and a grouping:
  ``n`` groups with an importance ``values[g] ≥ 0`` and the integer resources ``savings[g]`` pruning
  that group frees;
* choose one option per layer and the groups to keep in it so as to **maximise the kept importance**
  subject to ``Σ_l kept resource ≤ target`` (every field), the model latency ``≤ latency_budget``
  (``'sum'`` of the layer latencies: io_parallel, and io_stream's sum of stage latencies; ``'max'``;
  or a callable on the vector of layer latencies) and the model II (max of the layer IIs)
  ``≤ ii_budget`` (which only removes options).  Ties: fewer resources, then lower latency.

:func:`solve_rf_choice` is exact (a numba dynamic program over layers whose state is the latency
used and the resources used, each option's groups entering as a concave curve when their savings
are uniform) while its table and work fit ``max_cells`` / ``max_work``; past that it coarsens the
latency grid (then, if need be, the resource grid) and solves twice, once with every cost rounded up
(a solution that is feasible for the true costs) and once rounded down (a relaxation whose optimum
bounds the true optimum from above), and reports both numbers and their gap.  :func:`brute_force_rf_choice` enumerates everything (the
tests' oracle; tiny instances only).
"""

from __future__ import annotations

import itertools
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import numpy as np

from hls_opt.core.enums import parse_enum
from hls_opt.errors import ConfigError
from hls_opt.solve.jit import cached_njit

__all__ = [
    "JointLayer",
    "JointSolution",
    "LatencyCombine",
    "RFOption",
    "SolverMethod",
    "brute_force_rf_choice",
    "make_option",
    "model_latency",
    "solve_rf_choice",
]

logger = logging.getLogger(__name__)

#: Largest DP table (latency states × resource states × (layers + 1) float64 cells) the exact method
#: builds: 6e7 cells = 480 MB.  Past it, ``'auto'`` coarsens (see the module docstring).
MAX_CELLS = 60_000_000
#: Largest work (inner-loop steps, about 2–5 ns each in numba) the exact method does under ``'auto'``.
MAX_WORK = 2_000_000_000
#: Most RF assignments a callable latency combiner is enumerated over.
MAX_ASSIGNMENTS = 100_000
#: Relative tolerance on importance sums when deciding ties (fraction of the largest possible total).
REL_TOL = 1e-9



class LatencyCombine(str, Enum):
    """How layer latencies make the model's: their sum (io_parallel; io_stream's stages in a row) or
    their max.  A callable ``f(latencies) -> cycles`` may be given instead."""

    SUM = "sum"
    MAX = "max"


class SolverMethod(str, Enum):
    """``AUTO``: exact within the size bounds, else the coarsened fallback; ``EXACT``; ``COARSE``."""

    AUTO = "auto"
    EXACT = "exact"
    COARSE = "coarse"


LatencyCombiner = LatencyCombine | str | Callable[[np.ndarray], float]


# --------------------------------------------------------------------------------------------
# The problem


@dataclass(frozen=True)
class RFOption:
    """One way to build one layer: its timing, its unpruned cost and its weight groups at that RF.

    ``values`` (n,) ≥ 0: each group's importance; ``savings`` (M,) (every group saves the same) or
    (n, M): integer resources pruning each group frees; ``base`` (M,): the layer's resources with
    every group kept.  ``label`` is whatever the caller uses to name the option (e.g. ``(strategy,
    rf)``); ``latency``/``ii`` are non-negative integer cycles.
    """

    label: Any
    latency: int
    ii: int
    base: np.ndarray
    values: np.ndarray
    savings: np.ndarray

    @property
    def n_groups(self) -> int:
        return int(self.values.shape[0])

    @property
    def uniform(self) -> bool:
        return self.savings.ndim == 1

    def saving_matrix(self) -> np.ndarray:
        """``(n, M)`` savings of every group (uniform savings repeated)."""
        if self.uniform:
            return np.repeat(self.savings[None, :], self.n_groups, axis=0)
        return self.savings


def _int_array(x: Any, where: str, shape_hint: str) -> np.ndarray:
    a = np.asarray(x)
    if a.dtype == np.bool_ or not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
        raise ConfigError(f"{where}: expected {shape_hint} integers, got {a.dtype}")
    if np.issubdtype(a.dtype, np.floating):
        if not np.all(np.isfinite(a)) or np.any(a != np.floor(a)):
            raise ConfigError(f"{where}: expected {shape_hint} integers, got {a}")
    if np.any(a < 0):
        raise ConfigError(f"{where}: must be non-negative, got {a}")
    return a.astype(np.int64)


def make_option(label: Any, latency: Any, ii: Any, base: Any, values: Any, savings: Any, *, where: str = "") -> RFOption:
    """A validated :class:`RFOption` (:class:`~hls_opt.errors.ConfigError` naming ``where`` and the field)."""
    where = where or f"option {label!r}"
    lat = _int_array(latency, f"{where}: latency", "non-negative")
    ii_ = _int_array(ii, f"{where}: ii", "non-negative")
    if lat.ndim or ii_.ndim:
        raise ConfigError(f"{where}: latency and ii must be scalars")
    b = np.atleast_1d(_int_array(base, f"{where}: base", "(M,)"))
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    if not np.all(np.isfinite(v)) or np.any(v < 0):
        raise ConfigError(f"{where}: group values must be finite and ≥ 0")
    s = _int_array(savings, f"{where}: savings", "(M,) or (n, M)")
    if s.ndim == 0:
        s = s.reshape(1)
    if s.ndim == 1 and s.shape[0] != b.shape[0]:
        raise ConfigError(f"{where}: savings {s.shape} must have M = {b.shape[0]} entries like base")
    if s.ndim == 2 and s.shape != (v.shape[0], b.shape[0]):
        raise ConfigError(f"{where}: savings {s.shape} must be (n groups, M) = {(v.shape[0], b.shape[0])}")
    if s.ndim > 2:
        raise ConfigError(f"{where}: savings must be (M,) or (n, M), got shape {s.shape}")
    total = s * v.shape[0] if s.ndim == 1 else s.sum(axis=0)
    if np.any(total > b):
        raise ConfigError(f"{where}: pruning every group would save {total.tolist()}, more than the base cost {b.tolist()}")
    return RFOption(label, int(lat), int(ii_), b, v, s)


@dataclass(frozen=True)
class JointLayer:
    """One layer of the joint problem: its name and its options (at least one)."""

    name: str
    options: tuple[RFOption, ...]

    def __post_init__(self) -> None:
        if not self.options:
            raise ConfigError(f"layer {self.name}: no reuse-factor option")
        m = {o.base.shape[0] for o in self.options}
        if len(m) != 1:
            raise ConfigError(f"layer {self.name}: options disagree on the number of resources {sorted(m)}")


@dataclass(frozen=True)
class JointSolution:
    """The solver's answer.

    ``choice[l]``: the option index chosen for layer ``l`` (into the layer's ``options``); ``keep[l]``:
    bool per group of that option; ``value``: the kept importance; ``resources`` (M,) the kept
    resources (true units); ``latency`` / ``ii``: the model's (with the combiner).  ``method``:
    ``'exact'``, ``'enumerate'`` (callable combiner, exact) or ``'coarse'`` (the fallback);
    ``upper_bound`` ≥ the true optimum (equal to ``value`` for exact methods) and ``gap =
    upper_bound − value``; ``coarsening = (latency step, resource steps)`` the fallback used.
    """

    choice: tuple[int, ...]
    keep: tuple[np.ndarray, ...]
    value: float
    resources: np.ndarray
    latency: float
    ii: int
    method: str
    upper_bound: float
    seconds: float = 0.0
    work: float = 0.0
    coarsening: tuple[int, tuple[int, ...]] = (1, ())
    labels: tuple[Any, ...] = field(default_factory=tuple)

    @property
    def gap(self) -> float:
        return float(self.upper_bound - self.value)


def parse_combiner(combiner: Any) -> LatencyCombine | Callable[[np.ndarray], float]:
    """A :class:`LatencyCombine` from its name, or the callable itself (ConfigError otherwise)."""
    if isinstance(combiner, (str, LatencyCombine)):
        return parse_enum(LatencyCombine, combiner, "latency combiner ('sum', 'max' or a callable)")
    if not callable(combiner):
        raise ConfigError(f"latency combiner: expected 'sum', 'max' or a callable, got {combiner!r}")
    return combiner


def model_latency(latencies: Sequence[int] | np.ndarray, combiner: LatencyCombiner = LatencyCombine.SUM) -> float:
    """The model latency of per-layer latencies under ``combiner`` ('sum', 'max' or a callable)."""
    lat = np.asarray(latencies, dtype=np.int64)
    combiner = parse_combiner(combiner)
    if combiner is LatencyCombine.SUM:
        return float(lat.sum())
    if combiner is LatencyCombine.MAX:
        return float(lat.max()) if lat.size else 0.0
    return float(combiner(lat))


def _score_weights(target: np.ndarray) -> np.ndarray:
    # "fewer resources" over several fields: the sum of each field relative to its target (the
    # normalisation hls_opt.solve.knapsack's greedy uses), so no field dominates by its unit.
    return 1.0 / np.maximum(target.astype(np.float64), 1.0)


def _tolerance(layers: Sequence[JointLayer]) -> float:
    top = sum(max(float(o.values.sum()) for o in layer.options) for layer in layers)
    return REL_TOL * max(1.0, top)


def _validate(
    layers: Sequence[JointLayer], target: Any, latency_budget: Any, ii_budget: Any
) -> tuple[list[JointLayer], np.ndarray, float, float | None]:
    layers = list(layers)
    if not layers:
        raise ConfigError("joint RF problem: no layer")
    for layer in layers:
        if not isinstance(layer, JointLayer):
            raise ConfigError(f"joint RF problem: expected JointLayer, got {type(layer).__name__}")
    m = layers[0].options[0].base.shape[0]
    for layer in layers:
        if layer.options[0].base.shape[0] != m:
            raise ConfigError(f"layer {layer.name}: {layer.options[0].base.shape[0]} resources, the first layer has {m}")
    tgt = np.atleast_1d(np.asarray(target, dtype=np.float64))
    if tgt.shape != (m,) or np.any(np.isnan(tgt)) or np.any(tgt < 0):
        raise ConfigError(f"resource target: expected {m} non-negative number(s), got {target!r}")
    tgt = np.floor(np.minimum(tgt, 2.0**52))
    try:
        budget = float(latency_budget)
    except (TypeError, ValueError):
        raise ConfigError(f"latency budget: expected a number of cycles, got {latency_budget!r}") from None
    if math.isnan(budget) or budget < 0:
        raise ConfigError(f"latency budget: expected a non-negative number of cycles, got {latency_budget!r}")
    ii = None
    if ii_budget is not None:
        try:
            ii = float(ii_budget)
        except (TypeError, ValueError):
            raise ConfigError(f"II budget: expected a number of cycles, got {ii_budget!r}") from None
        if math.isnan(ii) or ii < 0:
            raise ConfigError(f"II budget: expected a non-negative number of cycles, got {ii_budget!r}")
    return layers, tgt.astype(np.int64), budget, ii


def _allowed(layers: list[JointLayer], budget: float, ii: float | None, combiner: Any) -> list[list[int]]:
    """Per layer, the option indices that pass the II budget (and, for 'max', the latency budget)."""
    allowed = []
    for layer in layers:
        ok = [k for k, o in enumerate(layer.options) if ii is None or o.ii <= ii]
        if not ok:
            fastest = min(o.ii for o in layer.options)
            raise ConfigError(f"layer {layer.name}: no reuse-factor option meets the II budget {ii:g} (its least II is {fastest})")
        if combiner is LatencyCombine.MAX:
            ok2 = [k for k in ok if layer.options[k].latency <= budget]
            if not ok2:
                fastest = min(layer.options[k].latency for k in ok)
                raise ConfigError(
                    f"latency budget {budget:g} cycles is below layer {layer.name}'s fastest option ({fastest} cycles)"
                )
            ok = ok2
        allowed.append(ok)
    if combiner is LatencyCombine.SUM:
        least = sum(min(layer.options[k].latency for k in ok) for layer, ok in zip(layers, allowed))
        if least > budget:
            detail = ", ".join(
                f"{layer.name}: {min(layer.options[k].latency for k in ok)}" for layer, ok in zip(layers, allowed)
            )
            raise ConfigError(
                f"latency budget {budget:g} cycles is below the fastest assignment's {least} cycles ({detail})"
            )
    return allowed


# --------------------------------------------------------------------------------------------
# The integer problem the DP solves (latency extra over each layer's fastest option, resources over
# each layer's cheapest fully-pruned option, both divided by their gcd)


@dataclass
class _IntOption:
    lat: int  # extra latency (DP units)
    b0: np.ndarray  # (M,) resources with every group pruned (DP units, shifted)
    s: np.ndarray  # (M,) uniform or (n, M) per group (DP units)
    prefix: np.ndarray  # uniform: (n+1,) best kept value with j groups kept; per-item: (n,) values
    order: np.ndarray  # uniform: groups by decreasing value (the j kept are order[:j])
    uniform: bool
    bundle: int = 1  # uniform on a coarsened grid: groups per DP step (see _int_option)


@dataclass
class _IntProblem:
    options: list[list[_IntOption]]  # per layer, for the allowed options (in their order)
    T: int  # latency states 0..T
    C: np.ndarray  # (M,) resource states 0..C_k
    unit: np.ndarray  # (M,) true resources per DP unit (the gcd, or the coarsening step)

    @property
    def cells(self) -> int:
        return int(np.prod(self.C + 1))


def _int_option(o: RFOption, lat: int, b0: np.ndarray, s: np.ndarray, bundle: int = 1, round_up: bool = True) -> _IntOption:
    """The DP's view of one option.  ``bundle`` k > 1 (uniform savings on a coarsened resource grid):
    kept counts in steps of k groups, ``s`` being the saving of k groups; rounded up (a restriction)
    the j-th state keeps k·j groups, worth P[k·j]; rounded down (a relaxation) it stands for every
    count in [k·j, k·j + k − 1] and is worth the best of them, P[min(n, k·j + k − 1)]."""
    v = o.values
    if s.ndim == 1:
        n = v.shape[0]
        if not np.any(s > 0):
            # Groups that save nothing of the objective are always kept: one state, everything kept.
            order = np.arange(n, dtype=np.int64)
            return _IntOption(lat, b0 + 0, np.zeros_like(s), np.array([float(v.sum())]), order, True)
        order = np.lexsort((np.arange(n), -v)).astype(np.int64)
        prefix = np.concatenate(([0.0], np.cumsum(v[order])))
        if bundle > 1:
            states = np.arange(n // bundle + 1)
            prefix = prefix[states * bundle] if round_up else prefix[np.minimum(n, states * bundle + bundle - 1)]
        return _IntOption(lat, b0, s, np.ascontiguousarray(prefix), order, True, bundle)
    return _IntOption(lat, b0, s, v.astype(np.float64), np.arange(v.shape[0], dtype=np.int64), False)


def _bundle(s: np.ndarray, unit: np.ndarray) -> int:
    """The fewest groups k whose saving k·s is a whole number of ``unit`` in every field (uniform s)."""
    k = 1
    for sd, ud in zip(s.tolist(), unit.tolist()):
        if sd > 0:
            need = ud // math.gcd(sd, ud)
            k = k * need // math.gcd(k, need)
    return k


def _true_costs(layers: list[JointLayer], allowed: list[list[int]]) -> tuple[list, list, list]:
    """Per layer / allowed option: latency, fully-pruned resources b0 (M,), savings."""
    lats, b0s, ss = [], [], []
    for layer, ok in zip(layers, allowed):
        lats.append([layer.options[k].latency for k in ok])
        b0s.append([layer.options[k].base - layer.options[k].saving_matrix().sum(axis=0) for k in ok])
        ss.append([layer.options[k].savings for k in ok])
    return lats, b0s, ss


def _int_problem(
    layers: list[JointLayer],
    allowed: list[list[int]],
    target: np.ndarray,
    budget: float,
    *,
    use_latency: bool,
    lat_step: int = 1,
    res_step: np.ndarray | None = None,
    round_up: bool = True,
) -> _IntProblem | None:
    """The DP's integer problem; ``None`` when even the cheapest choice exceeds the resource target.

    Exact transformations: each layer's fastest latency and cheapest fully-pruned cost are subtracted
    (from the budgets too), then every latency / resource field is divided by the gcd of its numbers.
    With ``lat_step`` > 1 / ``res_step`` given, the shifted numbers are divided by the step and rounded
    up (``round_up``: every solution of the result is feasible for the true costs, since each true
    cost is at most step × its rounded-up cost) or down (a relaxation: every truly feasible solution
    is feasible for the result, since Σ⌊x/δ⌋ ≤ ⌊Σx/δ⌋); the budgets are rounded down in both.
    """
    lats, b0s, ss = _true_costs(layers, allowed)
    m = target.shape[0]
    if use_latency:
        lat_min = [min(x) for x in lats]
        t_budget = int(math.floor(budget)) - sum(lat_min)
        extra = [[x - mn for x in row] for row, mn in zip(lats, lat_min)]
    else:
        t_budget = 0
        extra = [[0 for _ in row] for row in lats]
    if t_budget < 0:
        return None
    b0_min = [np.min(np.stack(row), axis=0) for row in b0s]
    cap = target - np.sum(np.stack(b0_min), axis=0)
    if np.any(cap < 0):
        return None
    b0x = [[b - mn for b in row] for row, mn in zip(b0s, b0_min)]

    def shrink(x: Any, step: Any) -> Any:
        return -(-x // step) if round_up else x // step

    if lat_step == 1:
        g = 0
        for row in extra:
            for x in row:
                g = math.gcd(g, int(x))
        if g == 0:  # every option as fast as the fastest: the latency cannot bind
            t_budget = 0
            g = 1
        extra = [[x // g for x in row] for row in extra]
        t_budget //= g
    else:
        extra = [[int(shrink(x, lat_step)) for x in row] for row in extra]
        t_budget //= lat_step
    # Latency past the slowest options' sum is never used.
    t_budget = min(t_budget, sum(max(row) for row in extra))
    if res_step is None:
        unit = np.zeros(m, np.int64)
        for row_b, row_s in zip(b0x, ss):
            for b, s in zip(row_b, row_s):
                unit = np.gcd(unit, b)
                if s.size:
                    unit = np.gcd(unit, np.gcd.reduce(s.reshape(-1, m), axis=0))
        unit = np.where(unit == 0, 1, unit)
        b0x = [[b // unit for b in row] for row in b0x]
        ss = [[s // unit for s in row] for row in ss]
        bundles = [[1 for _ in row] for row in ss]
    else:
        # Uniform savings: bundle k groups so that k·s is whole steps (exact), only the floor cost is
        # rounded; per-group savings: each rounded.
        unit = np.asarray(res_step, np.int64)
        b0x = [[shrink(b, unit) for b in row] for row in b0x]
        # (a bundle larger than the option's group count would keep none of them: each saving is
        # rounded then, as for per-group savings)
        bundles = [[_bundle(s, unit) if s.ndim == 1 else 1 for s in row] for row in ss]
        bundles = [[k if k <= layer.options[i].n_groups else 1 for k, i in zip(row_k, ok)]
                   for row_k, layer, ok in zip(bundles, layers, allowed)]
        ss = [[(s * k) // unit if k > 1 else shrink(s, unit) for s, k in zip(row, row_k)]
              for row, row_k in zip(ss, bundles)]
    cap = cap // unit
    opts = []
    for layer, ok, row_l, row_b, row_s, row_k in zip(layers, allowed, extra, b0x, ss, bundles):
        opts.append([_int_option(layer.options[k], lt, b.astype(np.int64), s.astype(np.int64), bk, round_up)
                     for k, lt, b, s, bk in zip(ok, row_l, row_b, row_s, row_k)])
    # Resources past what every layer's costliest option needs (in these units) are never used.
    most = np.zeros(m, np.int64)
    for row in opts:
        full = [o.b0 + (o.s * (o.prefix.shape[0] - 1) if o.uniform else o.s.sum(axis=0)) for o in row]
        most += np.max(np.stack(full), axis=0)
    cap = np.minimum(cap, most)
    return _IntProblem(opts, int(t_budget), cap.astype(np.int64), unit)


def _log2(x: int) -> float:
    return math.log2(max(x, 2))


def _trivial(layer: list[_IntOption]) -> bool:
    o = layer[0]
    return len(layer) == 1 and o.lat == 0 and o.uniform and o.prefix.shape[0] == 1 and not np.any(o.b0)


def _work(p: _IntProblem) -> tuple[float, float]:
    """(table cells over all layers, inner-loop steps) of the exact DP on ``p``."""
    cells = float(p.cells)
    table = (sum(not _trivial(layer) for layer in p.options) + 1) * (p.T + 1) * cells
    work = 0.0
    for layer in p.options:
        for o in layer:
            t_states = max(p.T + 1 - o.lat, 0)
            if o.uniform:
                n = o.prefix.shape[0] - 1
                per = cells * min(n + 1, 2.0 * (_log2(int(cells)) + 1))
            else:
                per = cells * (o.prefix.shape[0] + 1)
                # the traceback re-runs one such option with a full table of (groups + 1) rows
                table = max(table, (len(p.options) + 1) * (p.T + 1) * cells + (o.prefix.shape[0] + 1) * cells)
            work += t_states * per
    return table, work


# --------------------------------------------------------------------------------------------
# numba kernels


@cached_njit
def _conv_line(a, prefix, n, out, len_t):  # pragma: no cover - compiled
    """``out[i] = max_{m ∈ [max(0, i−n), i]} a[m] + prefix[i−m]`` for ``i < len_t``.

    ``prefix`` is concave (sums of values sorted decreasingly), so the largest maximising ``m`` is
    non-decreasing in ``i`` (the argument in docs/rf_choice.md); divide and conquer on ``i`` with the
    ``m`` range split at the middle row's argmax: O(len · log len).  Short prefixes: direct scan.
    """
    if len_t <= 0:
        return
    if n + 1 <= 8:
        for i in range(len_t):
            best = -np.inf
            lo = i - n
            if lo < 0:
                lo = 0
            for m in range(lo, i + 1):
                v = a[m] + prefix[i - m]
                if v > best:
                    best = v
            out[i] = best
        return
    stack = np.empty((64, 4), np.int64)
    top = 0
    stack[0, 0] = 0
    stack[0, 1] = len_t - 1
    stack[0, 2] = 0
    stack[0, 3] = len_t - 1
    top = 1
    while top > 0:
        top -= 1
        ilo = stack[top, 0]
        ihi = stack[top, 1]
        mlo = stack[top, 2]
        mhi = stack[top, 3]
        if ilo > ihi:
            continue
        mid = (ilo + ihi) // 2
        lo = mid - n
        if lo < mlo:
            lo = mlo
        hi = mid
        if hi > mhi:
            hi = mhi
        best = -np.inf
        arg = hi
        for m in range(lo, hi + 1):
            v = a[m] + prefix[mid - m]
            if v >= best and v > -np.inf:
                best = v
                arg = m
        out[mid] = best
        if top + 2 > stack.shape[0]:
            grown = np.empty((stack.shape[0] * 2, 4), np.int64)
            grown[:top] = stack[:top]
            stack = grown
        stack[top, 0] = ilo
        stack[top, 1] = mid - 1
        stack[top, 2] = mlo
        stack[top, 3] = arg
        top += 1
        stack[top, 0] = mid + 1
        stack[top, 1] = ihi
        stack[top, 2] = arg
        stack[top, 3] = mhi
        top += 1


@cached_njit
def _layer_uniform(fprev, fcur, lat, starts, lens, lens_t, step, shift, prefix):  # pragma: no cover
    """Option with uniform savings: ``fcur[t] = max(fcur[t], conv(fprev[t − lat]))`` along every line.

    A line is the source cells ``q0 + m·step`` (``lens`` of them); its targets are ``q0 + shift +
    i·step`` (``lens_t``); the target of keeping ``j`` groups from source ``m`` is ``i = m + j``.
    """
    n = prefix.shape[0] - 1
    t_states = fprev.shape[0]
    longest = 1
    for k in range(lens.shape[0]):
        if lens[k] > longest:
            longest = lens[k]
    a = np.empty(longest, np.float64)
    out = np.empty(longest, np.float64)
    for t in range(lat, t_states):
        src = fprev[t - lat]
        dst = fcur[t]
        for k in range(starts.shape[0]):
            lt = lens_t[k]
            if lt <= 0:
                continue
            q0 = starts[k]
            for m in range(lt):  # sources past the last target are never read (i ≥ m)
                a[m] = src[q0 + m * step]
            _conv_line(a, prefix, n, out, lt)
            base = q0 + shift
            for i in range(lt):
                c = base + i * step
                if out[i] > dst[c]:
                    dst[c] = out[i]


@cached_njit
def _layer_items(fprev, fcur, lat, comps, cap, b0, s, sflat, b0flat, values):  # pragma: no cover
    """Option with per-group savings: a 0/1 knapsack over its groups on top of ``fprev[t − lat]``."""
    cells = fprev.shape[1]
    m_dims = comps.shape[1]
    n = values.shape[0]
    g = np.empty(cells, np.float64)
    for t in range(lat, fprev.shape[0]):
        src = fprev[t - lat]
        for r in range(cells):
            ok = True
            for d in range(m_dims):
                if comps[r, d] < b0[d]:
                    ok = False
                    break
            g[r] = src[r - b0flat] if ok else -np.inf
        for it in range(n):
            v = values[it]
            for r in range(cells - 1, -1, -1):
                ok = True
                for d in range(m_dims):
                    if comps[r, d] < s[it, d]:
                        ok = False
                        break
                if ok:
                    c = g[r - sflat[it]] + v
                    if c > g[r]:
                        g[r] = c
        dst = fcur[t]
        for r in range(cells):
            if g[r] > dst[r]:
                dst[r] = g[r]


@cached_njit
def _items_trace(src, r_end, comps, b0, s, sflat, b0flat, values, target):  # pragma: no cover
    """The kept groups (bool per group) reaching ``target`` at cell ``r_end`` on top of ``src``, with
    a full table per group (one option, traceback only); ``ok[0]`` False when ``target`` is not reached."""
    cells = src.shape[0]
    m_dims = comps.shape[1]
    n = values.shape[0]
    tab = np.empty((n + 1, cells), np.float64)
    for r in range(cells):
        ok = True
        for d in range(m_dims):
            if comps[r, d] < b0[d]:
                ok = False
                break
        tab[0, r] = src[r - b0flat] if ok else -np.inf
    for it in range(n):
        v = values[it]
        for r in range(cells):
            best = tab[it, r]
            ok = True
            for d in range(m_dims):
                if comps[r, d] < s[it, d]:
                    ok = False
                    break
            if ok:
                c = tab[it, r - sflat[it]] + v
                if c > best:
                    best = c
            tab[it + 1, r] = best
    keep = np.zeros(n, np.bool_)
    found = np.zeros(2, np.int64)
    if tab[n, r_end] != target:
        return keep, found
    r = r_end
    for it in range(n - 1, -1, -1):
        if tab[it + 1, r] != tab[it, r]:
            keep[it] = True
            r -= sflat[it]
    found[0] = 1
    found[1] = r - b0flat  # the source cell
    return keep, found


# --------------------------------------------------------------------------------------------
# The exact DP


def _strides(C: np.ndarray) -> np.ndarray:
    dims = C + 1
    st = np.ones(C.shape[0], np.int64)
    for k in range(C.shape[0] - 2, -1, -1):
        st[k] = st[k + 1] * dims[k + 1]
    return st


def _lines(C: np.ndarray, comps: np.ndarray, s: np.ndarray, b0: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Start cells, source lengths and target lengths of the lines of direction ``s`` (see
    :func:`_layer_uniform`)."""
    pos = s > 0
    if not np.any(pos):
        starts = np.arange(comps.shape[0], dtype=np.int64)
        lens = np.ones(starts.shape[0], np.int64)
    else:
        start_mask = np.any(comps[:, pos] < s[pos], axis=1)
        starts = np.flatnonzero(start_mask).astype(np.int64)
        q = comps[starts]
        lens = np.min((C[pos] - q[:, pos]) // s[pos], axis=1) + 1
    q = comps[starts]
    inside = np.all(q + b0 <= C, axis=1)
    if np.any(pos):
        lens_t = np.min((C[pos] - b0[pos] - q[:, pos]) // s[pos], axis=1) + 1
    else:
        lens_t = np.ones(starts.shape[0], np.int64)
    lens_t = np.where(inside, np.minimum(lens_t, lens), 0).astype(np.int64)
    return starts, lens.astype(np.int64), lens_t


def _solve_int(p: _IntProblem, score_w: np.ndarray, tol: float) -> tuple[float, list[int], list[np.ndarray]] | None:
    """Exact DP on the integer problem: (value, option position per layer, keep per layer), or None
    when nothing is feasible.  Ties: the least resource score, then the least latency."""
    C = p.C
    m = C.shape[0]
    cells = p.cells
    st = _strides(C)
    comps = np.stack(np.unravel_index(np.arange(cells), tuple(int(c) + 1 for c in C)), axis=1).astype(np.int64)
    n_layers = len(p.options)
    tables = [np.zeros((p.T + 1, cells), np.float64)]
    for layer in p.options:
        fprev = tables[-1]
        if _trivial(layer):
            # One option, no extra latency or resources, nothing to prune (a layer without weights):
            # the table only gains the option's constant value; no copy when that is 0.
            tables.append(fprev if layer[0].prefix[0] == 0 else fprev + layer[0].prefix[0])
            continue
        fcur = np.full((p.T + 1, cells), -np.inf)
        for o in layer:
            if o.lat > p.T or np.any(o.b0 > C):
                continue
            if o.uniform:
                starts, lens, lens_t = _lines(C, comps, o.s, o.b0)
                _layer_uniform(
                    fprev, fcur, int(o.lat), starts, lens, lens_t, int(o.s @ st), int(o.b0 @ st), o.prefix
                )
            else:
                s = np.ascontiguousarray(o.s.reshape(-1, m))
                _layer_items(fprev, fcur, int(o.lat), comps, C, o.b0, s, (s @ st).astype(np.int64),
                             int(o.b0 @ st), o.prefix)
        tables.append(fcur)
    final = tables[-1]
    best = float(final[p.T, cells - 1])
    if not np.isfinite(best):
        return None
    good = np.flatnonzero(final[p.T] >= best - tol)
    scores = comps[good] @ (score_w * p.unit)
    r = int(good[np.lexsort((good, scores))[0]])  # least score; ties: the lowest cell
    t = int(np.flatnonzero(final[:, r] >= best - tol)[0])
    # Traceback: at each layer find an (option, kept set) whose value is exactly the table entry.
    choice: list[int] = [0] * n_layers
    keeps: list[np.ndarray] = [np.zeros(0, bool)] * n_layers
    for li in range(n_layers - 1, -1, -1):
        want = tables[li + 1][t, r]
        prev = tables[li]
        found = False
        for pos_o, o in enumerate(p.options[li]):
            if o.lat > t or np.any(o.b0 > comps[r]):
                continue
            src = prev[t - o.lat]
            if o.uniform:
                n = o.prefix.shape[0] - 1
                js = np.arange(n + 1)
                qj = (comps[r] - o.b0)[None, :] - js[:, None] * o.s[None, :]
                js = js[np.all(qj >= 0, axis=1)]
                cells_j = qj[js] @ st
                hit = np.flatnonzero(src[cells_j] + o.prefix[js] == want)
                if hit.size:
                    j = int(js[hit[0]])
                    keep = np.zeros(o.order.shape[0], bool)
                    keep[o.order[: j * o.bundle] if o.s.any() else slice(None)] = True
                    choice[li], keeps[li] = pos_o, keep
                    t, r, found = t - o.lat, int(cells_j[hit[0]]), True
            else:
                s = np.ascontiguousarray(o.s.reshape(-1, m))
                keep, info = _items_trace(src, r, comps, o.b0, s, (s @ st).astype(np.int64), int(o.b0 @ st),
                                          o.prefix, want)
                if info[0]:
                    choice[li], keeps[li] = pos_o, keep
                    t, r, found = t - o.lat, int(info[1]), True
            if found:
                break
        if not found:  # pragma: no cover - would be a solver bug
            raise AssertionError(f"rf_choice: traceback failed at layer {li}")
    return best, choice, keeps


# --------------------------------------------------------------------------------------------
# Public entry points


def _evaluate(layers: list[JointLayer], choice: Sequence[int], keep: Sequence[np.ndarray], combiner: Any) -> tuple[float, np.ndarray, float, int]:
    value = 0.0
    res = np.zeros(layers[0].options[0].base.shape[0], np.int64)
    lats, iis = [], []
    for layer, k, kp in zip(layers, choice, keep):
        o = layer.options[k]
        value += float(o.values[kp].sum())
        res += o.base - o.saving_matrix()[~kp].sum(axis=0)
        lats.append(o.latency)
        iis.append(o.ii)
    return value, res, model_latency(lats, combiner), int(max(iis))


def _solution(layers, allowed, pos, keeps, combiner, method, upper, start, work, coarse=(1, ())):
    # ``method``: the SolverMethod that ran (its value is the solution's label), or another exact
    # method's label ('enumerate'); only the coarse fallback's bound exceeds the value it found.
    choice = tuple(allowed[li][k] for li, k in enumerate(pos))
    value, res, lat, ii = _evaluate(layers, choice, keeps, combiner)
    return JointSolution(
        choice=choice,
        keep=tuple(np.asarray(k, bool) for k in keeps),
        value=value,
        resources=res,
        latency=lat,
        ii=ii,
        method=method.value if isinstance(method, SolverMethod) else method,
        upper_bound=float(upper) if method is SolverMethod.COARSE else max(float(upper), value),
        seconds=time.perf_counter() - start,
        work=work,
        coarsening=coarse,
        labels=tuple(layer.options[k].label for layer, k in zip(layers, choice)),
    )


def _infeasible(target: np.ndarray, budget: float) -> ConfigError:
    return ConfigError(
        f"no reuse-factor assignment and pruning meets both the resource target {target.tolist()} "
        f"and the latency budget {budget:g} cycles (even with every prunable group pruned)"
    )


def solve_rf_choice(
    layers: Sequence[JointLayer],
    target: Any,
    latency_budget: Any,
    *,
    ii_budget: Any = None,
    combiner: LatencyCombiner = LatencyCombine.SUM,
    method: SolverMethod | str = SolverMethod.AUTO,
    max_cells: float = MAX_CELLS,
    max_work: float = MAX_WORK,
) -> JointSolution:
    """Choose one option per layer and the groups to keep (see the module docstring).

    ``target``: (M,) the kept-resource budget in the options' units; ``latency_budget`` /
    ``ii_budget``: cycles; ``combiner``: ``'sum'`` (default), ``'max'`` or a callable
    ``f(latencies) -> cycles``.  ``method``: ``'auto'`` (exact while the table fits ``max_cells`` and
    the work ``max_work``, else the coarsened fallback), ``'exact'`` (no size check) or ``'coarse'``
    (the fallback, coarsening just enough to fit).  A callable combiner is solved exactly by
    enumerating the RF assignments (at most ``MAX_ASSIGNMENTS``).

    Raises :class:`~hls_opt.errors.ConfigError` for malformed input, a budget below the fastest
    assignment (naming each layer's fastest latency), an II budget no option of a layer meets, and a
    problem with no feasible solution.
    """
    method = parse_enum(SolverMethod, method, "rf solver method")
    combiner = parse_combiner(combiner)
    start = time.perf_counter()
    layers, tgt, budget, ii = _validate(layers, target, latency_budget, ii_budget)
    allowed = _allowed(layers, budget, ii, combiner)
    score_w = _score_weights(tgt)
    tol = _tolerance(layers)

    if not isinstance(combiner, LatencyCombine):
        return _solve_enumerate(layers, allowed, tgt, budget, combiner, score_w, tol, start)

    use_latency = combiner is LatencyCombine.SUM
    p = _int_problem(layers, allowed, tgt, budget, use_latency=use_latency)
    if p is None:
        raise _infeasible(tgt, budget)
    table, work = _work(p)
    if method is SolverMethod.AUTO and not (table <= max_cells and work <= max_work):
        logger.info(
            "rf_choice: the exact DP needs %.3g table cells and %.3g steps (limits %.3g, %.3g); coarsening",
            table, work, max_cells, max_work,
        )
    if method is SolverMethod.EXACT or (method is SolverMethod.AUTO and table <= max_cells and work <= max_work):
        out = _solve_int(p, score_w, tol)
        if out is None:
            raise _infeasible(tgt, budget)
        value, pos, keeps = out
        return _solution(layers, allowed, pos, keeps, combiner, SolverMethod.EXACT, value, start, work)
    return _solve_coarse(layers, allowed, tgt, budget, use_latency, score_w, tol, start, max_cells, max_work, combiner)


def _solve_coarse(layers, allowed, tgt, budget, use_latency, score_w, tol, start, max_cells, max_work, combiner):
    """The fallback: the smallest latency step, then resource step (doubled) whose problems fit the bounds; solved with costs rounded up (a feasible solution) and down (an upper
    bound on the optimum)."""
    m = tgt.shape[0]
    lat_step, res_step = 1, None
    while True:
        p_up = _int_problem(layers, allowed, tgt, budget, use_latency=use_latency, lat_step=lat_step,
                            res_step=res_step, round_up=True)
        p_dn = _int_problem(layers, allowed, tgt, budget, use_latency=use_latency, lat_step=lat_step,
                            res_step=res_step, round_up=False)
        if p_dn is None:
            raise _infeasible(tgt, budget)
        sizes = [_work(p_dn)] + ([_work(p_up)] if p_up is not None else [])
        if all(tb <= max_cells and wk <= max_work for tb, wk in sizes):
            break
        lat_states, res_states = p_dn.T + 1, int(np.max(p_dn.C)) + 1
        # The latency grid first (rounding a latency costs at most one step per layer); the resource
        # grid only when the latency grid cannot shrink further (rounding a group's saving up to a
        # whole step can cost far more).
        if use_latency and lat_states > 2:
            lat_step *= 2
        elif res_states > 2:
            res_step = (p_dn.unit if res_step is None else res_step) * 2
        else:  # pragma: no cover - a table of 2 states per dimension always fits the defaults
            break
    upper = _solve_int(p_dn, score_w, tol)
    if upper is None:
        raise _infeasible(tgt, budget)
    lower = _solve_int(p_up, score_w, tol) if p_up is not None else None
    work = sum(wk for _, wk in sizes)
    steps = tuple(int(x) for x in (np.ones(m, np.int64) if res_step is None else res_step))
    if lower is None:
        raise ConfigError(
            f"the coarsened problem (latency step {lat_step}, resource step {list(steps)}) has no feasible "
            f"solution though the true problem may (its optimum is at most {upper[0]:.6g}); "
            f"raise max_cells/max_work or use method='exact'"
        )
    _, pos, keeps = lower
    sol = _solution(layers, allowed, pos, keeps, combiner, SolverMethod.COARSE, upper[0], start, work, (lat_step, steps))
    logger.info(
        "rf_choice: coarsened (latency step %d, resource step %s): value %.6g, upper bound %.6g, gap %.3g",
        lat_step, list(steps), sol.value, sol.upper_bound, sol.gap,
    )
    # The rounding is safe by construction; checked all the same.
    if np.any(sol.resources > tgt) or (use_latency and sol.latency > budget):  # pragma: no cover
        raise AssertionError("rf_choice: the coarsened solution violates a budget")
    return sol


def _solve_enumerate(layers, allowed, tgt, budget, combiner, score_w, tol, start):
    """A callable latency combiner: every RF assignment it accepts, each a resource-only DP."""
    count = 1
    for ok in allowed:
        count *= len(ok)
    if count > MAX_ASSIGNMENTS:
        raise ConfigError(
            f"latency combiner: a callable is solved by enumerating the {count} reuse-factor assignments, "
            f"more than {MAX_ASSIGNMENTS}; use 'sum' or 'max'"
        )
    best = None
    work = 0.0
    for combo in itertools.product(*allowed):
        lats = [layers[li].options[k].latency for li, k in enumerate(combo)]
        if model_latency(lats, combiner) > budget:
            continue
        sub = [[k] for k in combo]
        p = _int_problem(layers, sub, tgt, budget, use_latency=False)
        if p is None:
            continue
        work += _work(p)[1]
        out = _solve_int(p, score_w, tol)
        if out is None:
            continue
        value, _, keeps = out
        _, res, lat, _ = _evaluate(layers, combo, keeps, combiner)
        key = (-value, float(res @ score_w), lat)
        if best is None or key[0] < best[0][0] - tol or (
            abs(key[0] - best[0][0]) <= tol and key[1:] < best[0][1:]
        ):
            best = (key, combo, keeps)
    if best is None:
        raise _infeasible(tgt, budget)
    _, combo, keeps = best
    pos = [allowed[li].index(k) for li, k in enumerate(combo)]
    return _solution(layers, allowed, pos, keeps, combiner, "enumerate", -best[0][0], start, work)


def brute_force_rf_choice(
    layers: Sequence[JointLayer],
    target: Any,
    latency_budget: Any,
    *,
    ii_budget: Any = None,
    combiner: LatencyCombiner = LatencyCombine.SUM,
) -> JointSolution | None:
    """Every RF assignment × every kept subset (numpy, exponential: the tests' oracle).  ``None`` when
    nothing is feasible.  Same tie rule as :func:`solve_rf_choice`; shares none of its solving code."""
    start = time.perf_counter()
    combiner = parse_combiner(combiner)
    layers, tgt, budget, ii = _validate(layers, target, latency_budget, ii_budget)
    score_w = _score_weights(tgt)
    tol = _tolerance(layers)
    best = None
    per_option: dict[tuple[int, int], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    for li, layer in enumerate(layers):
        for k, o in enumerate(layer.options):
            n = o.n_groups
            masks = ((np.arange(2**n)[:, None] >> np.arange(n)[None, :]) & 1).astype(bool)  # (2^n, n) kept
            vals = masks.astype(np.float64) @ o.values
            res = o.base[None, :] - (~masks).astype(np.int64) @ o.saving_matrix()
            per_option[(li, k)] = (masks, vals, res)
    for combo in itertools.product(*[range(len(layer.options)) for layer in layers]):
        opts = [layers[li].options[k] for li, k in enumerate(combo)]
        if ii is not None and max(o.ii for o in opts) > ii:
            continue
        lat = model_latency([o.latency for o in opts], combiner)
        if lat > budget:
            continue
        vals = np.zeros(1)
        res = np.zeros((1, tgt.shape[0]), np.int64)
        for li, k in enumerate(combo):
            _, v, r = per_option[(li, k)]
            vals = (vals[:, None] + v[None, :]).reshape(-1)
            res = (res[:, None, :] + r[None, :, :]).reshape(-1, tgt.shape[0])
        ok = np.all(res <= tgt, axis=1)
        if not np.any(ok):
            continue
        idx = np.flatnonzero(ok)
        top = float(vals[idx].max())
        cand = idx[vals[idx] >= top - tol]
        scores = res[cand] @ score_w
        pick = int(cand[np.argmin(scores)])
        key = (top, float(res[pick] @ score_w), lat)
        if best is None or key[0] > best[0][0] + tol or (abs(key[0] - best[0][0]) <= tol and key[1:] < best[0][1:]):
            best = (key, combo, pick)
    if best is None:
        return None
    _, combo, pick = best
    keeps = []
    rem = pick
    sizes = [2 ** layers[li].options[k].n_groups for li, k in enumerate(combo)]
    for li in range(len(combo) - 1, -1, -1):
        rem, idx = divmod(rem, sizes[li])
        keeps.append(per_option[(li, combo[li])][0][idx])
    keeps.reverse()
    value, res, lat, ii_v = _evaluate(layers, combo, keeps, combiner)
    return JointSolution(
        choice=tuple(combo), keep=tuple(keeps), value=value, resources=res, latency=lat, ii=ii_v,
        method="brute-force", upper_bound=value, seconds=time.perf_counter() - start,
        labels=tuple(layers[li].options[k].label for li, k in enumerate(combo)),
    )
