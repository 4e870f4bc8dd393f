"""0/1 knapsack solvers: exact, fast (numba), and free of OR-Tools.

Every pruning step keeps the weight structures whose importance is largest subject to a resource
budget::

    maximise  values @ x   subject to  weights @ x <= capacity,  x in {0, 1}^N

with ``values`` (N,) non-negative floats (importance), ``weights`` (M, N) non-negative integers
(resources each structure uses: DSPs, FFs, FLOPs, ...) and ``capacity`` (M,) the budget per
resource.

This replaces hls4ml's ``hls4ml/optimization/dsp_aware_pruning/knapsack.py``: its exact solver is
a pure-Python O(N·C) table, its multi-dimensional solvers need an OR-Tools API removed in 9.7
(``ortools.algorithms.pywrapknapsack_solver``) and its greedy solver (``__solve_knapsack_greedy``)
can return an infeasible item.  Here:

* ``'dynamic'``: exact dynamic programming, compiled with numba; for one constraint O(N·C) time
  with a one-bit-per-cell traceback (not an N×C float table); for M ≥ 2 constraints the same over
  the table of capacity vectors (O(N·∏C), used while that table is small).
* ``'branch_bound'``: exact depth-first branch and bound for any number of constraints, bounded by
  the LP bound (Dantzig, tightened to Martello-Toth U2) of a surrogate constraint, warm-started by
  greedy.
* ``'greedy'``: always feasible; for one constraint at least half of the optimum.
* ``'CBC_MIP'``: accepted for hls4ml compatibility and solved exactly, as ``'auto'`` without a
  time limit.
* ``'auto'`` (default): the fastest exact method for the instance: equal weights → the top
  values; a small table → DP; otherwise a branch-and-bound probe with a node budget worth a
  fraction of the DP, then reduced-cost fixing around the probe's solution and the same again on
  the remaining core, then the DP if its table fits; past that, branch and bound stops after
  ``AUTO_TIME_LIMIT_S`` (logged as a warning) with its best solution so far.

The numba kernels are compiled on the first call and cached on disk (``cache=True``: in
``__pycache__`` next to this file, numba's per-user cache when that is read-only, or
``NUMBA_CACHE_DIR``), so the compile time (about 2 s for all kernels) is paid once per
installation, not once per process; where none of these is writable they are compiled once per
process instead (:func:`hls_opt.solve.jit.cached_njit`).  Importing this module compiles nothing.

Conventions (all implementations):

* the returned selection is feasible and **maximal**: after solving, every unselected item that
  still fits is added (highest value first), so items that weigh nothing are always selected and
  "everything fits" returns every item, as hls4ml does;
* as hls4ml, ``selected`` is a Python ``list`` of ``int`` item indices (ascending here) and the
  returned value is the Python float ``float(values[selected].sum())``, so a selection compares
  equal to a list (``selected == [0, 2, 3]``);
* exact methods are optimal up to a relative tolerance of about 1e-12 of ``values.sum()`` (values
  are floats; nothing is scaled or truncated, unlike OR-Tools' 1e5 scaling in hls4ml).
"""

from __future__ import annotations

import logging
import math
import time
from enum import Enum
from typing import Any

import numpy as np

from hls_opt.core.enums import parse_enum
from hls_opt.solve.jit import cached_njit

__all__ = ["IMPLEMENTATIONS", "KnapsackMethod", "parse_knapsack_method", "solve_knapsack"]

logger = logging.getLogger(__name__)

class KnapsackMethod(str, Enum):
    """The knapsack solver (:func:`hls_opt.solve.knapsack.solve_knapsack`); hls4ml's spellings
    (``dynamic``, ``greedy``, ``branch_bound``, ``CBC_MIP``, ``hls4ml/optimization/dsp_aware_pruning/
    knapsack.py``) plus ``auto``."""

    AUTO = "auto"
    DYNAMIC = "dynamic"
    BRANCH_BOUND = "branch_bound"
    GREEDY = "greedy"
    CBC_MIP = "CBC_MIP"


#: The solvers' spellings (hls4ml's and ``auto``), in :class:`KnapsackMethod`'s order.
IMPLEMENTATIONS = tuple(m.value for m in KnapsackMethod)


def parse_knapsack_method(value: Any, key: str = "knapsack_solver") -> KnapsackMethod:
    """The solver a user names, as a member (here, not in the config layer: the knapsack starts
    without importing ``hls_opt.config``)."""
    return parse_enum(KnapsackMethod, value, key)

# 'auto' picks dynamic programming up to this many table cells (items × capacity after reduction)
# without trying anything else (about a millisecond); the traceback costs one bit per cell.
DP_DIRECT_CELLS = 1e6
# Largest DP 'auto' and 'dynamic' will run: 2.4e9 cells ≈ 300 MB of traceback bits.  Past it,
# branch and bound (exact, but time-limited under 'auto').
DP_MAX_CELLS = 2.4e9
# Largest value table the DP keeps (capacity + 1, or its product over the rows; 8 bytes each:
# 400 MB).
DP_MAX_CAPACITY = 50_000_000
# At most this many branch-and-bound nodes (and DP cells / 200) 'auto' spends before it turns to
# reduced-cost fixing and the DP.
AUTO_BB_PROBE_NODES = 2_000_000
# Seconds 'auto' spends in all on an instance the DP cannot take; past it the best branch-and-bound
# solution so far (never worse than greedy) is returned and a warning is logged.  Override with
# ``time_limit=``.
AUTO_TIME_LIMIT_S = 30.0
# Relative tolerance of the exact methods (fraction of values.sum()).
REL_TOL = 1e-12
# Branch-and-bound nodes per numba call between two checks of the time limit.
_BB_CHUNK_NODES = 1_000_000
# Items the surrogate-multiplier search looks at (a regular sample of larger instances).
_MULTIPLIER_SAMPLE = 200_000


# --------------------------------------------------------------------------------------------
# Public entry point
# --------------------------------------------------------------------------------------------


def solve_knapsack(
    values: Any,
    weights: Any,
    capacity: Any,
    implementation: KnapsackMethod | str = "auto",
    **kwargs: Any,
) -> tuple[float, list[int]]:
    """Solve the 0/1 (multi-dimensional) knapsack problem.

    Args:
        values: shape (N,), non-negative finite floats: the importance of each item.
        weights: shape (M, N), non-negative integers (integral floats are accepted): the resources
            (DSPs, FFs, FLOPs, ...) each item uses in each of the M constraints.  For a single
            constraint pass one row, ``weights[np.newaxis, :]``.
        capacity: shape (M,) (a scalar is accepted when M = 1), non-negative: the budget per
            constraint, in the units of the matching ``weights`` row.  A fractional capacity is
            rounded down (exact, since weights are integers); ``inf`` means unlimited.
        implementation: ``'auto'`` (default), ``'dynamic'``, ``'branch_bound'``, ``'greedy'`` or
            ``'CBC_MIP'`` (hls4ml's name; solved exactly here, without OR-Tools, like ``'auto'``
            with no time limit).  ``'dynamic'`` also accepts M ≥ 2 (hls4ml raises); when its table
            would exceed ``DP_MAX_CELLS`` / ``DP_MAX_CAPACITY`` it logs a warning and uses branch
            and bound.
        **kwargs: ``time_limit`` (seconds; branch and bound returns its best solution so far when
            it is exceeded and logs a warning; default unlimited, 30 s under ``'auto'``);
            ``scaling_factor`` (hls4ml's OR-Tools value scaling: accepted and ignored, values are
            not scaled here).

    Returns:
        ``(optimal_value, selected)`` as hls4ml: ``selected`` is an ascending Python ``list`` of
        ``int`` item indices, feasible and maximal (no unselected item still fits); ``optimal_value`` is
        ``float(values[selected].sum())``.

    Raises:
        ValueError: naming the argument at fault: ``values`` not 1-D, non-finite or negative;
            ``weights`` not 2-D, not matching ``values``, negative or non-integer; ``capacity``
            of the wrong shape, NaN or negative; unknown ``implementation``.
    """
    implementation = parse_enum(KnapsackMethod, implementation, "implementation", what="knapsack solver")
    time_limit = _parse_kwargs(kwargs)
    v, w, c = _validate(values, weights, capacity)
    start = time.perf_counter()
    n = v.shape[0]
    selected = np.zeros(n, dtype=np.bool_)
    if n > 0:
        method = _solve_into(v, w, c, implementation, time_limit, selected)
        # Maximal fill: anything that still fits is added (only zero-value items after an exact
        # solve), so free items are always kept and "all fit" returns every item.
        order = np.lexsort((np.arange(n), -v)).astype(np.int64)
        _fill_maximal(w, c, selected, order)
    else:
        method = "empty"
    indices = np.flatnonzero(selected).astype(np.int64)
    value = float(v[indices].sum())
    logger.debug(
        "knapsack: N=%d M=%d implementation=%s solved by %s in %.4f s, value %.6g, %d selected",
        n,
        w.shape[0],
        implementation.value,
        method,
        time.perf_counter() - start,
        value,
        indices.size,
    )
    return value, indices.tolist()


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------


def _parse_kwargs(kwargs: dict[str, Any]) -> float | None:
    time_limit = kwargs.pop("time_limit", None)
    if "scaling_factor" in kwargs:
        kwargs.pop("scaling_factor")
        logger.debug("knapsack: scaling_factor ignored (values are solved as floats, not scaled)")
    if kwargs:
        # hls4ml's 'dynamic' and 'greedy' ignore extra keyword arguments; so do we, but say so.
        logger.warning("knapsack: ignoring unknown keyword arguments %s", sorted(kwargs))
    if time_limit is not None:
        try:
            time_limit = float(time_limit)
        except (TypeError, ValueError):
            raise ValueError(f"time_limit: expected a number of seconds, got {time_limit!r}") from None
        if math.isnan(time_limit) or time_limit <= 0:
            raise ValueError(f"time_limit: must be a positive number of seconds, got {time_limit!r}")
        if math.isinf(time_limit) or time_limit >= 1e300:  # hls4ml passes sys.float_info.max
            time_limit = None
    return time_limit


def _numeric_array(x: Any, name: str) -> np.ndarray:
    try:
        arr = np.asarray(x)
    except Exception as exc:  # ragged lists and the like
        raise ValueError(f"{name}: cannot be read as a numeric array ({exc})") from None
    if arr.dtype == np.bool_:
        arr = arr.astype(np.int64)
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise ValueError(f"{name}: expected a numeric array, got dtype {arr.dtype}")
    return arr


def _validate(values: Any, weights: Any, capacity: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Check the inputs; return float64 values (N,), int64 weights (M, N), int64 capacity (M,).

    The capacity is clipped at each row's total weight (so it fits in int64 whatever was given).
    """
    v = _numeric_array(values, "values")
    if v.ndim != 1:
        raise ValueError(f"values: must be 1-dimensional with shape (N,), got shape {v.shape}")
    v = v.astype(np.float64)
    if not np.all(np.isfinite(v)):
        bad = int(np.flatnonzero(~np.isfinite(v))[0])
        raise ValueError(f"values: must be finite, values[{bad}] = {v[bad]}")
    if np.any(v < 0):
        bad = int(np.flatnonzero(v < 0)[0])
        raise ValueError(f"values: must be non-negative, values[{bad}] = {v[bad]}")

    a = _numeric_array(weights, "weights")
    if a.ndim != 2:
        raise ValueError(
            f"weights: must be 2-dimensional with shape (M, N), got shape {a.shape} "
            "(for one constraint pass weights[np.newaxis, :])"
        )
    if a.shape[1] != v.shape[0]:
        raise ValueError(f"weights: shape {a.shape} does not match values (N = {v.shape[0]} items)")
    if np.issubdtype(a.dtype, np.floating):
        if not np.all(np.isfinite(a)):
            raise ValueError("weights: must be finite integers, found NaN or inf")
        if np.any(a != np.floor(a)):
            raise ValueError("weights: must be integers, found a fractional weight")
    if np.any(a < 0):
        raise ValueError("weights: must be non-negative")
    if a.size and float(np.max(np.sum(a, axis=1, dtype=np.float64))) >= 2.0**62:
        raise ValueError("weights: row sums exceed 2**62 and cannot be added exactly")
    w = np.ascontiguousarray(a, dtype=np.int64)
    m = w.shape[0]

    cap = _numeric_array(capacity, "capacity")
    if cap.ndim == 0:
        cap = cap.reshape(1)
    if cap.ndim != 1 or cap.shape[0] != m:
        raise ValueError(
            f"capacity: must have shape (M,) = ({m},) to match weights {w.shape}, got shape {cap.shape}"
        )
    cap = cap.astype(np.float64)
    if np.any(np.isnan(cap)):
        raise ValueError("capacity: must not be NaN")
    if np.any(cap < 0):
        bad = int(np.flatnonzero(cap < 0)[0])
        raise ValueError(f"capacity: must be non-negative, capacity[{bad}] = {cap[bad]}")
    if np.any(np.isfinite(cap) & (cap != np.floor(cap))):
        # Integer weights: sum <= c is the same constraint as sum <= floor(c).
        logger.debug("knapsack: fractional capacity %s rounded down", cap)
    totals = np.sum(w, axis=1).astype(np.float64)
    c = np.floor(np.minimum(cap, totals)).astype(np.int64)
    return v, w, c


# --------------------------------------------------------------------------------------------
# Reduction and dispatch
# --------------------------------------------------------------------------------------------


def _solve_into(
    v: np.ndarray,
    w: np.ndarray,
    c: np.ndarray,
    implementation: KnapsackMethod,
    time_limit: float | None,
    selected: np.ndarray,
) -> str:
    """Mark an optimal (or, for 'greedy', a good) selection in ``selected``; return the method used.

    Reduction first: items that do not fit alone are dropped, items that weigh nothing are taken,
    zero-value items are left to the final fill, constraints that cannot bind are dropped.
    """
    fits_alone = np.all(w <= c[:, None], axis=0)
    free = np.all(w == 0, axis=0)
    selected[free] = True
    cand = np.flatnonzero(fits_alone & ~free & (v > 0))
    if cand.size == 0:
        return "reduction"
    wc = w[:, cand]
    binding = np.sum(wc, axis=1) > c
    if not np.any(binding):
        selected[cand] = True  # everything left fits at once
        return "all-fit"
    wr = wc[binding]
    # Items that weigh nothing in every binding row are free too (the other rows cannot overflow).
    free_here = np.all(wr == 0, axis=0)
    selected[cand[free_here]] = True
    cand = cand[~free_here]
    if cand.size == 0:
        return "reduction"
    wr = np.ascontiguousarray(wr[:, ~free_here])
    cr = c[binding].copy()
    vr = v[cand]

    # Equal weights in every binding row (pattern pruning: one DSP per group): the top values are
    # optimal (hls4ml's ``__solve_knapsack_equal_weights`` shortcut, applied before any implementation).
    if np.all(wr == wr[:, :1]):
        k = int(np.min(cr // wr[:, 0]))
        top = np.lexsort((np.arange(vr.size), -vr))[:k]
        selected[cand[top]] = True
        return "equal-weights"

    if implementation is KnapsackMethod.GREEDY:
        pick = _greedy_best(vr, wr, cr)
        selected[cand[pick]] = True
        return "greedy"

    if implementation is KnapsackMethod.CBC_MIP:
        logger.debug("knapsack: 'CBC_MIP' is solved exactly without OR-Tools, as 'auto' with no time limit")
    pick, method = _solve_exact(vr, wr, cr, implementation, time_limit)
    selected[cand[pick]] = True
    return method


def _dp_reduce(w: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Each row and its capacity divided by their gcd; returns (weights, capacity, states, cells).

    ``states`` is the size of the DP's value table (product of capacity + 1 over the rows) and
    ``cells`` the work and traceback bits: at most items × states, fewer because the kernels skip
    capacities that cannot reach the answer.
    """
    w2 = w.copy()
    c2 = c.copy()
    for k in range(w.shape[0]):
        g = math.gcd(int(np.gcd.reduce(w[k])), int(c[k]))
        if g > 1:
            w2[k] //= g
            c2[k] //= g
    states = float(np.prod(c2.astype(np.float64) + 1.0))
    # The cells the kernels actually visit (see _dp_kernel / _dp_kernel_multi).
    prefix = np.cumsum(w2, axis=1)
    rest = prefix[:, -1:] - prefix
    low = np.maximum(w2, c2[:, None] - rest)
    high = np.minimum(c2[:, None], prefix) if w.shape[0] == 1 else c2[:, None]
    lengths = np.maximum(high - low + 1, 0).astype(np.float64)
    return w2, c2, states, float(np.prod(lengths, axis=0).sum())


def _run_dp(v: np.ndarray, w: np.ndarray, c: np.ndarray) -> np.ndarray:
    if w.shape[0] == 1:
        return _solve_dp(v, w[0], int(c[0]))
    return np.flatnonzero(
        _dp_kernel_multi(np.ascontiguousarray(v), np.ascontiguousarray(w, dtype=np.int64), c.astype(np.int64))
    )


def _solve_exact(
    v: np.ndarray, w: np.ndarray, c: np.ndarray, implementation: KnapsackMethod, time_limit: float | None
) -> tuple[np.ndarray, str]:
    """Exact solve of a reduced instance (every item fits alone, every row binds, all values > 0)."""
    m = w.shape[0]
    wd, cd, states, cells = _dp_reduce(w, c)
    dp_fits = cells <= DP_MAX_CELLS and states <= DP_MAX_CAPACITY + 1
    name = "dynamic" if m == 1 else f"dynamic ({m}-D)"
    if implementation is KnapsackMethod.DYNAMIC:
        if dp_fits:
            return _run_dp(v, wd, cd), name
        logger.warning(
            "knapsack: 'dynamic' table of %d items × %.3g capacity states is too large (limits %.2g "
            "cells, %d states); solving with branch and bound instead",
            v.size,
            states,
            DP_MAX_CELLS,
            DP_MAX_CAPACITY,
        )
        return _branch_and_bound(v, w, c, time_limit)
    if implementation is KnapsackMethod.BRANCH_BOUND:
        return _branch_and_bound(v, w, c, time_limit)

    # 'auto' and 'CBC_MIP'.
    if dp_fits and cells <= DP_DIRECT_CELLS:
        return _run_dp(v, wd, cd), name
    if implementation is KnapsackMethod.AUTO and time_limit is None:
        time_limit = AUTO_TIME_LIMIT_S
    start = time.perf_counter()
    # Branch and bound often proves optimality in a millisecond; the probe's node budget is worth a
    # fraction of the DP's time (a node costs tens of nanoseconds, a DP cell one or two).
    budget = int(min(AUTO_BB_PROBE_NODES, cells // 200)) if dp_fits else AUTO_BB_PROBE_NODES
    pick, proven, mu = _solve_bb(v, w, c, None, budget)
    if proven:
        return pick, "branch_bound"
    # The probe's incumbent and the LP prices fix most items (reduced-cost fixing); the rest, the
    # core, is a much smaller knapsack on the capacity left.
    lower = float(v[pick].sum())
    fixed_in, core = _reduced_cost_fixing(v, w, c, mu, lower)
    if core.size < v.size:
        left = c - w[:, fixed_in].sum(axis=1)
        if np.any(left < 0):
            # The items every better solution must hold do not fit together: the incumbent is optimal.
            return pick, "branch_bound + reduced costs"
        remaining = None if time_limit is None else max(time_limit - (time.perf_counter() - start), 1e-3)
        core_selected = np.zeros(core.size, np.bool_)
        method = _solve_into(v[core], w[:, core], left, implementation, remaining, core_selected)
        better = np.concatenate((fixed_in, core[core_selected]))
        logger.debug(
            "knapsack: reduced costs fixed %d of %d items, core of %d solved by %s",
            v.size - core.size,
            v.size,
            core.size,
            method,
        )
        if float(v[better].sum()) > lower:
            return np.sort(better), f"reduced costs + {method}"
        return pick, f"reduced costs + {method} (incumbent kept)"
    if dp_fits:
        return _run_dp(v, wd, cd), name
    remaining = None if time_limit is None else max(time_limit - (time.perf_counter() - start), 1e-3)
    return _branch_and_bound(v, w, c, remaining)


def _branch_and_bound(
    v: np.ndarray, w: np.ndarray, c: np.ndarray, time_limit: float | None
) -> tuple[np.ndarray, str]:
    pick, proven, _ = _solve_bb(v, w, c, time_limit, None)
    if not proven:
        logger.warning(
            "knapsack: branch and bound stopped at the time limit of %.3g s on %d items × %d "
            "constraints; returning the best solution found (at least the greedy one), not proven optimal",
            time_limit,
            v.size,
            w.shape[0],
        )
        return pick, "branch_bound (time limit)"
    return pick, "branch_bound"


def _reduced_cost_fixing(
    v: np.ndarray, w: np.ndarray, c: np.ndarray, mu: np.ndarray, lower: float
) -> tuple[np.ndarray, np.ndarray]:
    """Items every solution worth more than ``lower`` must take / may choose: (fixed_in, core).

    For prices mu >= 0, L = mu·c + sum_j max(0, d_j) with d_j = v_j − mu·w_j bounds every solution
    (Lagrangian weak duality); a solution that goes against the sign of d_j is worth at most
    L − |d_j|.  So an item with |d_j| > L − lower is fixed in (d_j > 0) or out (d_j < 0) for any
    solution better than ``lower`` (Martello & Toth's reduction).  The slack keeps float rounding
    on the safe side (fewer items fixed).
    """
    d = v - mu @ w
    bound = float(mu @ c) + float(np.maximum(d, 0.0).sum())
    gap = bound - lower + 1e-9 * float(v.sum())
    fixed_in = np.flatnonzero(d > gap)
    core = np.flatnonzero(np.abs(d) <= gap)
    return fixed_in, core


# --------------------------------------------------------------------------------------------
# Dynamic programming (M = 1)
# --------------------------------------------------------------------------------------------


def _solve_dp(v: np.ndarray, w: np.ndarray, cap: int) -> np.ndarray:
    """Exact DP for one constraint (weights already divided by their gcd); returns item indices."""
    take = _dp_kernel(np.ascontiguousarray(v), np.ascontiguousarray(w, dtype=np.int64), np.int64(cap))
    return np.flatnonzero(take)


@cached_njit
def _dp_kernel(values, weights, capacity):  # pragma: no cover - compiled
    """best[w] = max value within capacity w over the items seen so far; one traceback bit per cell.

    Only capacities that can still matter are computed for item i: at most the weight of items
    0..i (beyond it everything fits), and at least capacity − (weight of items i+1..N−1) (the final
    answer at full capacity can only read those).  That halves the work when the capacity is about
    half the total weight, and the traceback rows are stored ragged, bit-packed.
    """
    n = values.shape[0]
    cap = capacity
    total = np.int64(0)
    for i in range(n):
        total += weights[i]
    lo = np.empty(n, np.int64)
    hi = np.empty(n, np.int64)
    prefix = np.empty(n, np.int64)
    offset = np.empty(n + 1, np.int64)
    offset[0] = 0
    run = np.int64(0)
    rest = total
    for i in range(n):
        wi = weights[i]
        run += wi
        rest -= wi
        prefix[i] = run
        h = min(cap, run)
        low = max(wi, cap - rest)
        lo[i] = low
        hi[i] = h
        length = h - low + 1
        if length < 0:
            length = 0
        # Rows start on a byte boundary so that the inner loop can write whole bytes.
        offset[i + 1] = offset[i] + ((length + 7) // 8) * 8
    bits = np.zeros(offset[n] // 8, np.uint8)
    best = np.zeros(cap + 1, np.float64)
    filled = np.int64(0)  # best[] is exact up to `filled`; above it equals best[filled]
    for i in range(n):
        wi = weights[i]
        vi = values[i]
        h = hi[i]
        low = lo[i]
        if h > filled:
            top = best[filled]
            for x in range(filled + 1, h + 1):
                best[x] = top
            filled = h
        if h < low:
            continue
        # Walk capacities downward (0/1 knapsack: best[x - wi] still holds the previous row), eight
        # at a time so that each traceback byte is written once.
        row = offset[i] // 8
        x = h
        byte_index = np.int64(0)
        while x >= low:
            mask = np.int64(0)
            stop = max(x - 7, low)
            bit = np.int64(0)
            for y in range(x, stop - 1, -1):
                cand = best[y - wi] + vi
                if cand > best[y]:
                    best[y] = cand
                    mask |= np.int64(1) << bit
                bit += 1
            bits[row + byte_index] = np.uint8(mask)
            byte_index += 1
            x = stop - 1
    # Traceback from the full capacity.
    take = np.zeros(n, np.bool_)
    x = cap
    for i in range(n - 1, -1, -1):
        if x >= prefix[i]:
            for k in range(i + 1):
                take[k] = True
            break
        if x >= lo[i]:
            k = hi[i] - x  # bit position within row i (rows are written from hi downward)
            if (bits[offset[i] // 8 + k // 8] >> (k % 8)) & 1:
                take[i] = True
                x -= weights[i]
    return take


@cached_njit
def _dp_kernel_multi(values, weights, capacity):  # pragma: no cover - compiled
    """Exact DP for M >= 2 constraints over the flattened table of capacity vectors.

    best[r] for every capacity vector r (row-major, last row fastest); one traceback bit per
    visited cell.  For item i only the box r_k >= max(w_ik, c_k - (weight of items i+1.. in row k))
    is updated: below w_ik the item cannot be taken (the entry stays), below c_k - rest the final
    answer can never read it.  Cells are visited in decreasing order, so best[r - w_i] still holds
    the previous item's value (0/1 knapsack).
    """
    n = values.shape[0]
    m = weights.shape[0]
    stride = np.empty(m, np.int64)
    stride[m - 1] = 1
    for k in range(m - 2, -1, -1):
        stride[k] = stride[k + 1] * (capacity[k + 1] + 1)
    n_states = stride[0] * (capacity[0] + 1)
    rest = np.zeros(m, np.int64)
    for i in range(n):
        for k in range(m):
            rest[k] += weights[k, i]
    lo = np.empty((n, m), np.int64)
    offset = np.empty(n + 1, np.int64)
    offset[0] = 0
    for i in range(n):
        volume = np.int64(1)
        for k in range(m):
            rest[k] -= weights[k, i]
            low = max(weights[k, i], capacity[k] - rest[k])
            lo[i, k] = low
            length = capacity[k] - low + 1
            if length < 0:
                length = 0
            if k == m - 1:
                length = ((length + 7) // 8) * 8  # each innermost run starts on a byte
            volume *= length
        offset[i + 1] = offset[i] + volume
    bits = np.zeros(offset[n] // 8, np.uint8)
    best = np.zeros(n_states, np.float64)
    r = np.empty(m, np.int64)
    last = m - 1
    for i in range(n):
        vi = values[i]
        empty = False
        shift = np.int64(0)
        for k in range(m):
            if lo[i, k] > capacity[k]:
                empty = True
            shift += weights[k, i] * stride[k]
            r[k] = capacity[k]
        if empty:
            continue
        pos = offset[i]
        low_last = lo[i, last]
        row_bits = ((capacity[last] - low_last + 1 + 7) // 8) * 8
        while True:
            # Innermost row: a contiguous run of the flattened table, walked downward.
            base = np.int64(0)
            for k in range(last):
                base += r[k] * stride[k]
            byte = pos >> 3
            y = capacity[last]
            while y >= low_last:
                mask = np.int64(0)
                stop = max(y - 7, low_last)
                bit = np.int64(0)
                for z in range(y, stop - 1, -1):
                    f = base + z
                    cand = best[f - shift] + vi
                    if cand > best[f]:
                        best[f] = cand
                        mask |= np.int64(1) << bit
                    bit += 1
                bits[byte] = np.uint8(mask)
                byte += 1
                y = stop - 1
            pos += row_bits
            # Odometer over the outer rows, downward.
            k = last - 1
            while k >= 0:
                if r[k] > lo[i, k]:
                    r[k] -= 1
                    break
                r[k] = capacity[k]
                k -= 1
            if k < 0:
                break
    # Traceback from the full capacity vector.
    take = np.zeros(n, np.bool_)
    for k in range(m):
        r[k] = capacity[k]
    for i in range(n - 1, -1, -1):
        inside = True
        for k in range(m):
            if r[k] < lo[i, k]:
                inside = False
                break
        if not inside:
            continue
        # Position of r in item i's visiting order (every row downward from its capacity; the
        # innermost runs padded to whole bytes).
        row_bits = ((capacity[last] - lo[i, last] + 1 + 7) // 8) * 8
        p = capacity[last] - r[last]
        box_stride = row_bits
        for k in range(last - 1, -1, -1):
            p += (capacity[k] - r[k]) * box_stride
            box_stride *= capacity[k] - lo[i, k] + 1
        q = offset[i] + p
        if (bits[q >> 3] >> (q & 7)) & 1:
            take[i] = True
            for k in range(m):
                r[k] -= weights[k, i]
    return take


# --------------------------------------------------------------------------------------------
# Greedy
# --------------------------------------------------------------------------------------------


@cached_njit
def _greedy_in_order(weights, capacity, order, take):  # pragma: no cover - compiled
    """Take items in ``order`` whenever they fit (skipping misfits, unlike hls4ml's greedy)."""
    m = weights.shape[0]
    rem = capacity.copy()
    for t in range(order.shape[0]):
        i = order[t]
        if take[i]:
            continue
        ok = True
        for k in range(m):
            if weights[k, i] > rem[k]:
                ok = False
                break
        if ok:
            take[i] = True
            for k in range(m):
                rem[k] -= weights[k, i]
    return rem


def _fill_maximal(w: np.ndarray, c: np.ndarray, selected: np.ndarray, order: np.ndarray) -> None:
    rem = c - w[:, selected].sum(axis=1)
    if np.any(rem < 0):  # pragma: no cover - would be a solver bug
        raise AssertionError("knapsack: infeasible selection")
    _greedy_in_order(w, rem, order, selected)


def _normalised_weight(w: np.ndarray, c: np.ndarray) -> np.ndarray:
    # Each row divided by its capacity, so no resource dominates by its unit (hls4ml divides by the
    # row maximum instead, in ``__solve_knapsack_greedy``); c > 0 for every binding row.
    return (w / c[:, None].astype(np.float64)).sum(axis=0)


def _greedy_best(v: np.ndarray, w: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Best of ratio-greedy (with skipping) and the best single item; item indices.

    For one constraint this is at least half the optimum: the greedy prefix plus the first item that
    does not fit is at least the LP optimum, and the best single item is at least that first item.
    """
    ratio = v / _normalised_weight(w, c)
    order = np.lexsort((np.arange(v.size), -ratio)).astype(np.int64)
    take = np.zeros(v.size, np.bool_)
    _greedy_in_order(w, c.copy(), order, take)
    best_single = int(np.argmax(v))  # every item fits alone after the reduction
    if v[best_single] > v[take].sum():
        return np.array([best_single])
    return np.flatnonzero(take)


# --------------------------------------------------------------------------------------------
# Branch and bound (M >= 1)
# --------------------------------------------------------------------------------------------


def _lp_bound(v: np.ndarray, s: np.ndarray, cap: float) -> float:
    """Dantzig (LP) bound of a single-constraint knapsack with float weights s > 0."""
    order = np.argsort(-(v / s), kind="stable")
    cs = np.cumsum(s[order])
    t = int(np.searchsorted(cs, cap, side="right"))
    vs = v[order]
    bound = float(vs[:t].sum())
    if t < v.size:
        used = cs[t - 1] if t > 0 else 0.0
        bound += (cap - used) * vs[t] / s[order][t]
    return bound


def _surrogate_multipliers(v: np.ndarray, a: np.ndarray) -> np.ndarray:
    """Multipliers u > 0 (on rows normalised to capacity 1) that make the surrogate LP bound small.

    Any positive u gives a valid bound (every feasible x satisfies the combined constraint), so the
    search only affects speed.  The surrogate dual is quasi-convex in u, hence a ternary search per
    coordinate on the simplex.
    """
    m = a.shape[0]
    u = np.full(m, 1.0 / m)
    if m == 1:
        return u
    cap = 1.0  # rows are normalised to capacity 1
    if v.size > _MULTIPLIER_SAMPLE:
        # Every k-th item with the capacity scaled alike: the search only needs the bound's shape.
        step = v.size // _MULTIPLIER_SAMPLE
        v = v[::step]
        cap = float(np.mean(a[:, ::step].sum(axis=1) / a.sum(axis=1)))
        a = a[:, ::step]

    def bound(uu: np.ndarray) -> float:
        uu = np.maximum(uu, 1e-9)
        return _lp_bound(v, uu @ a, cap * float(uu.sum()))

    for _ in range(2 if m > 2 else 1):
        for k in range(m if m > 2 else 1):
            others = u.copy()
            others[k] = 0.0
            scale = others.sum()
            if scale > 0:
                others /= scale

            def along(t: float, k: int = k, others: np.ndarray = others) -> np.ndarray:
                uu = others * (1.0 - t)
                uu[k] = t
                return uu

            lo_t, hi_t = 0.0, 1.0
            for _ in range(24):
                t1 = lo_t + (hi_t - lo_t) / 3.0
                t2 = hi_t - (hi_t - lo_t) / 3.0
                if bound(along(t1)) <= bound(along(t2)):
                    hi_t = t2
                else:
                    lo_t = t1
            u = along(0.5 * (lo_t + hi_t))
    return np.maximum(u, 1e-9)


def _solve_bb(
    v: np.ndarray, w: np.ndarray, c: np.ndarray, time_limit: float | None, node_limit: int | None
) -> tuple[np.ndarray, bool, np.ndarray]:
    """Depth-first branch and bound; returns (item indices, proven optimal, multipliers).

    The multipliers mu (M,) >= 0 price each unit of capacity per row: the surrogate multipliers
    times the critical efficiency of the root LP, i.e. the dual of the surrogate LP relaxation.
    """
    n = v.size
    m = w.shape[0]
    a = w / c[:, None].astype(np.float64)  # c > 0: every row binds
    if m == 1:
        # One row: the surrogate is the constraint itself, kept in integers (exact float sums up to
        # 2**53) so that an item filling the capacity exactly is never judged not to fit.
        us = np.ones(1)
        slack = 0.0
    else:
        us = _surrogate_multipliers(v, a) / c.astype(np.float64)  # multipliers on the raw rows
    s = us @ w.astype(np.float64)  # > 0: every item has a positive weight in some row
    # Decreasing surrogate efficiency, ties by index: the order of the Dantzig bound and of
    # branching (take first).
    order = np.lexsort((np.arange(n), -(v / s))).astype(np.int64)
    vs = np.ascontiguousarray(v[order])
    ws = np.ascontiguousarray(w[:, order])
    ss = s[order]
    eff = vs / ss
    pv = np.concatenate(([0.0], np.cumsum(vs)))
    ps = np.concatenate(([0.0], np.cumsum(ss)))
    if m > 1:
        # Float surrogate sums carry rounding; enlarging the surrogate capacity a little keeps the
        # bound valid (a relaxation of a relaxation) where an exact fit would round to a misfit.
        slack = 1e-9 * float(ps[-1])
    eps = REL_TOL * float(pv[-1])
    critical = int(np.searchsorted(ps, float(us @ c), side="right")) - 1
    mu = us * (float(eff[critical]) if critical < n else 0.0)

    # Warm start: greedy in this order (with skipping).
    best_x = np.zeros(n, np.int8)
    greedy = np.zeros(n, np.bool_)
    _greedy_in_order(ws, c.copy(), np.arange(n, dtype=np.int64), greedy)
    best_x[greedy] = 1
    x = np.zeros(n, np.int8)
    rem = c.astype(np.int64).copy()
    istate = np.zeros(3, np.int64)  # depth, mode (0 = evaluate node, 1 = backtrack), finished
    fstate = np.array([0.0, float(vs[greedy].sum())])  # current value, best value

    deadline = None if time_limit is None else time.perf_counter() + time_limit
    budget = node_limit
    while True:
        chunk = _BB_CHUNK_NODES if budget is None else min(_BB_CHUNK_NODES, budget)
        _bb_kernel(vs, ws, eff, pv, ps, us, slack, eps, x, rem, istate, fstate, best_x, chunk)
        if istate[2]:
            proven = True
            break
        if budget is not None:
            budget -= chunk
            if budget <= 0:
                proven = False
                break
        if deadline is not None and time.perf_counter() > deadline:
            proven = False
            break
    return np.sort(order[best_x.astype(np.bool_)]), proven, mu


@cached_njit
def _bb_kernel(  # pragma: no cover - compiled
    v, w, eff, pv, ps, u, slack, eps, x, rem, istate, fstate, best_x, max_nodes
):
    """Resumable depth-first branch and bound over items sorted by decreasing surrogate efficiency.

    Node at depth j: items < j decided (x), ``rem`` the capacity left per row.  Bound: the current
    value plus the Dantzig bound of items j.. on the surrogate constraint sum_k u_k·w_k ≤
    sum_k u_k·rem_k + slack (a relaxation of the M constraints), found by binary search on prefix
    sums.
    Take-branch first when the item fits.  State lives in the arrays so the caller can check a
    time limit between calls; istate[2] = 1 when the search space is exhausted (optimal).
    """
    n = v.shape[0]
    m = w.shape[0]
    j = istate[0]
    mode = istate[1]
    cur = fstate[0]
    best = fstate[1]
    nodes = 0
    while nodes < max_nodes:
        if mode == 0:
            nodes += 1
            if j == n:
                if cur > best:
                    best = cur
                    for k in range(n):
                        best_x[k] = x[k]
                mode = 1
                continue
            cap = 0.0
            for k in range(m):
                cap += u[k] * rem[k]
            target = ps[j] + cap + slack
            # largest t in [j, n] with ps[t] <= target
            a = j
            b = n
            while a < b:
                mid = (a + b + 1) // 2
                if ps[mid] <= target:
                    a = mid
                else:
                    b = mid - 1
            ub = cur + (pv[a] - pv[j])
            if a < n:
                # Martello-Toth bound U2 on the critical item a (left over capacity r): either a is
                # out (the rest is filled at the next efficiency) or a is in (room is made by
                # removing its excess at the previous efficiency).  Never above Dantzig's bound.
                r = target - ps[a]
                out = 0.0
                if a + 1 < n:
                    out = r * eff[a + 1]
                if a > j:
                    inside = v[a] - (ps[a + 1] - target) * eff[a - 1]
                    if inside > out:
                        out = inside
                ub += out
            if ub <= best + eps:
                mode = 1
                continue
            fits = True
            for k in range(m):
                if w[k, j] > rem[k]:
                    fits = False
                    break
            if fits:
                x[j] = 1
                for k in range(m):
                    rem[k] -= w[k, j]
                cur += v[j]
            else:
                x[j] = 0
            j += 1
        else:
            # Backtrack to the deepest item still in its take-branch and switch it to skip.
            j -= 1
            while j >= 0 and x[j] == 0:
                j -= 1
            if j < 0:
                istate[2] = 1
                break
            x[j] = 0
            for k in range(m):
                rem[k] += w[k, j]
            cur -= v[j]
            j += 1
            mode = 0
    istate[0] = j
    istate[1] = mode
    fstate[0] = cur
    fstate[1] = best
