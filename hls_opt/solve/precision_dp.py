"""Choosing every layer's reuse factor, weight precision and result precision together.

Pure numpy; nothing here knows about Keras, the IR or a backend (the graph side is
:mod:`hls_opt.solve.precision_problem`).  ``docs/precision.md`` writes it up; in short:

* layer ``l`` (in order) has options ``o``: a way to build it — an RF (with its strategy), a weight
  precision and a result precision — given the precision of its input.  The result precision of
  layer ``l`` is the input width of layer ``l + 1``, so an option names the input *state* it reads
  (``src``: an index into the previous layer's result candidates) and the state it produces
  (``dst``).  Each option has a latency and an II (cycles), a cost vector (the objective's fields,
  from the backend's ``estimate`` at that precision and input width) and a predicted accuracy
  ``drop`` (≥ 0, in the metric's units);
* choose one option per layer, chained (``src`` of layer ``l + 1`` = ``dst`` of layer ``l``), to
  **minimise the cost** subject to ``Σ drop ≤ drop_budget``, ``Σ latency ≤ latency_budget`` and
  ``max II ≤ ii_budget`` (only removes options).  Ties: the smaller predicted drop, then the lower
  latency, then the lowest option indices.

:func:`solve_precision_choice` is an exact dynamic program over layers whose state is (result
state, latency used, drop used); drops are counted in whole units of ``drop_unit``, each rounded
**up** (so the answer's true predicted drop never exceeds the budget; with drops that are multiples
of the unit it is exact), latencies after subtracting each layer's fastest option and dividing by the
gcd (exact).  The cost is a weighted sum of the fields (``weights``); the ``fit`` objective (the
largest fraction of a device's DSP/LUT/FF/BRAM) is not a sum: :func:`solve_fit` is an exact
label-setting search over the non-dominated partial assignments instead.
:func:`brute_force_precision_choice` enumerates every chain (the tests' oracle).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hls_opt.errors import ConfigError

__all__ = [
    "PrecisionLayer",
    "PrecisionOption",
    "PrecisionSolution",
    "brute_force_precision_choice",
    "pareto_filter",
    "solve_fit",
    "solve_precision_choice",
]

#: Relative tolerance on cost sums when deciding ties.
REL_TOL = 1e-9
#: Largest DP table (result states × latency states × drop states) per layer.
MAX_STATES = 20_000_000


@dataclass(frozen=True)
class PrecisionOption:
    """One way to build one layer: ``label`` (the caller's name for it), ``src`` / ``dst`` (input and
    result state), ``latency`` / ``ii`` (cycles), ``cost`` (M,) ≥ 0 and the predicted ``drop`` ≥ 0."""

    label: Any
    src: int
    dst: int
    latency: int
    ii: int
    cost: np.ndarray
    drop: float


@dataclass(frozen=True)
class PrecisionLayer:
    """A layer: its ``name``, ``options`` and how many result states it produces (``n_out``)."""

    name: str
    options: tuple[PrecisionOption, ...]
    n_out: int = 1

    def __post_init__(self) -> None:
        if not self.options:
            raise ConfigError(f"layer {self.name}: no precision option")
        for o in self.options:
            if not (0 <= o.dst < self.n_out) or o.src < 0:
                raise ConfigError(f"layer {self.name}: option {o.label!r} has states {o.src}->{o.dst} outside 0..{self.n_out - 1}")
            if o.latency < 0 or o.ii < 0 or not math.isfinite(o.drop) or o.drop < 0 or np.any(np.asarray(o.cost) < 0):
                raise ConfigError(f"layer {self.name}: option {o.label!r} has a negative latency, II, cost or drop")


@dataclass(frozen=True)
class PrecisionSolution:
    """``choice[l]``: the option index of layer ``l``; ``cost`` (M,), ``drop``, ``latency`` (the
    sum), ``ii`` (the max) of that choice; ``score`` the minimised weighted cost."""

    choice: tuple[int, ...]
    cost: np.ndarray
    drop: float
    latency: int
    ii: int
    score: float
    labels: tuple[Any, ...] = ()


def pareto_filter(options: Sequence[PrecisionOption], weights: np.ndarray) -> list[int]:
    """Indices of the options not dominated by another with the same (src, dst): one is dominated
    when another has a cost score, drop, latency and II each no larger (and is not the same point
    with a lower index).  Removing them changes no optimum of :func:`solve_precision_choice`."""
    keep = []
    by_edge: dict[tuple[int, int], list[int]] = {}
    for k, o in enumerate(options):
        by_edge.setdefault((o.src, o.dst), []).append(k)
    for ks in by_edge.values():
        pts = np.array([[float(np.dot(options[k].cost, weights)), options[k].drop, options[k].latency, options[k].ii] for k in ks])
        order = np.lexsort(pts.T[::-1])  # by score, then drop, latency, II
        kept_pts: list[np.ndarray] = []
        for i in order:
            p = pts[i]
            if any(np.all(q <= p) for q in kept_pts):
                continue
            kept_pts.append(p)
            keep.append(ks[i])
    return sorted(keep)


def _chain_ok(layers: Sequence[PrecisionLayer]) -> None:
    for prev, layer in zip(layers, layers[1:]):
        for o in layer.options:
            if o.src >= prev.n_out:
                raise ConfigError(f"layer {layer.name}: option {o.label!r} reads state {o.src}, layer {prev.name} has {prev.n_out}")
    for o in layers[0].options:
        if o.src != 0:
            raise ConfigError(f"layer {layers[0].name}: the first layer's options read state 0 (the model input)")


def solve_precision_choice(
    layers: Sequence[PrecisionLayer],
    drop_budget: float,
    latency_budget: float | None,
    *,
    weights: Any = None,
    ii_budget: float | None = None,
    drop_unit: float | None = None,
) -> PrecisionSolution:
    """The cheapest chained assignment (module docstring).  ``weights`` (M,): the cost is
    ``cost @ weights`` (default all 1).  ``drop_unit``: default ``drop_budget / 200`` (a budget of 0
    allows only zero-drop options).  ``latency_budget`` None: no latency constraint.

    ConfigError when nothing is feasible, naming the budget that fails alone."""
    layers = list(layers)
    if not layers:
        raise ConfigError("precision problem: no layer")
    _chain_ok(layers)
    m = np.asarray(layers[0].options[0].cost).shape[0]
    w = np.ones(m) if weights is None else np.asarray(weights, dtype=np.float64).reshape(-1)
    if w.shape != (m,) or np.any(w < 0) or not np.all(np.isfinite(w)):
        raise ConfigError(f"precision problem: weights must be {m} finite numbers ≥ 0, got {weights!r}")
    if not math.isfinite(drop_budget) or drop_budget < 0:
        raise ConfigError(f"precision problem: the accuracy-drop budget must be ≥ 0, got {drop_budget!r}")
    unit = float(drop_unit) if drop_unit else (drop_budget / 200.0 if drop_budget > 0 else 1.0)

    # Options allowed by the II budget; drops in whole units (rounded up: never below the truth).
    allowed = []
    for layer in layers:
        ok = [k for k, o in enumerate(layer.options) if ii_budget is None or o.ii <= ii_budget]
        if not ok:
            raise ConfigError(
                f"--ii-budget: {ii_budget:g} cycles is below layer {layer.name}'s least II "
                f"{min(o.ii for o in layer.options)} at every precision"
            )
        allowed.append(ok)
    d_units = [[_units(layer.options[k].drop, unit) for k in ok] for layer, ok in zip(layers, allowed)]
    D = int(math.floor(drop_budget / unit + 1e-9)) if drop_budget > 0 else 0
    lat_min = [min(layer.options[k].latency for k in ok) for layer, ok in zip(layers, allowed)]
    extra = [[layer.options[k].latency - mn for k in ok] for layer, ok, mn in zip(layers, allowed, lat_min)]
    if latency_budget is None:
        T, g = 0, 1
        extra = [[0] * len(row) for row in extra]
    else:
        T = int(math.floor(latency_budget)) - sum(lat_min)
        if T < 0:
            detail = ", ".join(f"{layer.name}: {mn}" for layer, mn in zip(layers, lat_min))
            raise ConfigError(f"--latency-budget: {latency_budget:g} cycles is below the fastest assignment's {sum(lat_min)} cycles ({detail})")
        g = 0
        for row in extra:
            for x in row:
                g = math.gcd(g, x)
        g = g or 1
        extra = [[x // g for x in row] for row in extra]
        T = min(T // g, sum(max(row) for row in extra))
    least_drop = sum(min(row) for row in d_units)
    if least_drop > D:
        raise ConfigError(
            f"precision: no assignment keeps the predicted accuracy drop within {drop_budget:.4g} "
            f"(the least is {least_drop * unit:.4g}, every layer at its most accurate candidate)"
        )
    D = min(D, sum(max(row) for row in d_units))
    n_states = max(layer.n_out for layer in layers)
    if n_states * (T + 1) * (D + 1) > MAX_STATES:
        raise ConfigError(
            f"precision problem too large for the exact DP ({n_states}×{T + 1}×{D + 1} states); "
            "give fewer candidates (--min-bits/--max-bits) or a coarser latency budget"
        )

    # F[s, t, d]: the least cost of layers 1..l with result state s, extra latency ≤ t, drop ≤ d.
    F = np.full((1, T + 1, D + 1), 0.0)
    args = []
    for layer, ok, lat_row, d_row in zip(layers, allowed, extra, d_units):
        G = np.full((layer.n_out, T + 1, D + 1), np.inf)
        A = np.full((layer.n_out, T + 1, D + 1), -1, np.int64)
        for pos, (k, lt, dd) in enumerate(zip(ok, lat_row, d_row)):
            o = layer.options[k]
            if o.src >= F.shape[0] or lt > T or dd > D:
                continue
            c = float(np.dot(o.cost, w))
            cand = np.full((T + 1, D + 1), np.inf)
            cand[lt:, dd:] = F[o.src, : T + 1 - lt, : D + 1 - dd] + c
            better = cand < G[o.dst]
            G[o.dst][better] = cand[better]
            A[o.dst][better] = pos
        F = G
        args.append(A)
    best = float(np.min(F[:, T, D]))
    if not math.isfinite(best):
        raise ConfigError(
            f"precision: no assignment meets the latency budget {latency_budget} cycles with a predicted "
            f"accuracy drop ≤ {drop_budget:.4g}"
        )
    tol = REL_TOL * max(1.0, abs(best))
    # Ties: the least drop, then the least latency, then the lowest state.
    cells = [(d, t, s) for s in range(F.shape[0]) for d in range(D + 1) for t in range(T + 1) if F[s, t, d] <= best + tol]
    d, t, s = min(cells)
    choice = [0] * len(layers)
    for li in range(len(layers) - 1, -1, -1):
        pos = int(args[li][s, t, d])
        k = allowed[li][pos]
        choice[li] = k
        o = layers[li].options[k]
        t -= extra[li][pos]
        d -= d_units[li][pos]
        s = o.src
    return _solution(layers, choice, w)


def _units(drop: float, unit: float) -> int:
    q = drop / unit
    r = round(q)
    return int(r) if abs(q - r) <= 1e-9 * max(1.0, q) else int(math.ceil(q))


def _solution(layers: Sequence[PrecisionLayer], choice: Sequence[int], w: np.ndarray) -> PrecisionSolution:
    opts = [layer.options[k] for layer, k in zip(layers, choice)]
    cost = np.sum([np.asarray(o.cost, np.float64) for o in opts], axis=0)
    return PrecisionSolution(
        choice=tuple(int(k) for k in choice),
        cost=cost,
        drop=float(sum(o.drop for o in opts)),
        latency=int(sum(o.latency for o in opts)),
        ii=int(max(o.ii for o in opts)),
        score=float(cost @ w),
        labels=tuple(o.label for o in opts),
    )


def _nondominated(points: np.ndarray) -> np.ndarray:
    """Boolean mask of the rows no other row is ≤ in every column (duplicates: the first kept)."""
    n = points.shape[0]
    order = np.lexsort(points.T[::-1])
    keep = np.zeros(n, bool)
    kept = np.empty((0, points.shape[1]))
    for i in order:
        p = points[i]
        if kept.shape[0] and np.any(np.all(kept <= p, axis=1)):
            continue
        kept = np.vstack([kept, p])
        keep[i] = True
    return keep


#: Most labels (non-dominated partial assignments) per state the exact ``fit`` search keeps.
MAX_LABELS = 20_000


def solve_fit(
    layers: Sequence[PrecisionLayer],
    capacity: Any,
    drop_budget: float,
    latency_budget: float | None,
    *,
    ii_budget: float | None = None,
    drop_unit: float | None = None,
    max_labels: int = MAX_LABELS,
) -> PrecisionSolution:
    """The ``fit`` objective: minimise ``max_k cost_k / capacity_k`` (the largest utilisation).  Not a
    sum, so not the DP's objective: a label-setting search over the layers keeps, per result state,
    every partial assignment not dominated in (cost fields, drop, latency) — the optimum of a
    monotone objective extends a non-dominated prefix, so this is exact — and picks the least
    largest utilisation (ties: the least utilisation sum, drop, latency).  Drops are compared as
    given (no rounding).  Past ``max_labels`` labels at a state it falls back to re-weighted sums
    solved by :func:`solve_precision_choice` (feasible, not proved optimal; logged)."""
    layers = list(layers)
    _chain_ok(layers)
    cap = np.asarray(capacity, dtype=np.float64).reshape(-1)
    if np.any(cap <= 0):
        raise ConfigError(f"fit: device capacities must be positive, got {cap.tolist()}")
    m = cap.shape[0]
    rest = [0] * (len(layers) + 1)  # fastest latency of layers l.. (for pruning partial labels)
    for li in range(len(layers) - 1, -1, -1):
        ok = [o.latency for o in layers[li].options if ii_budget is None or o.ii <= ii_budget]
        if not ok:
            raise ConfigError(f"--ii-budget: {ii_budget:g} cycles is below layer {layers[li].name}'s least II at every precision")
        rest[li] = rest[li + 1] + min(ok)
    budget = math.inf if latency_budget is None else float(latency_budget)
    # labels[s] = (points (n, m + 2): cost…, drop, latency; back (n, 2): option index, parent label)
    labels = {0: (np.zeros((1, m + 2)), np.full((1, 2), -1, np.int64))}
    history = []
    for li, layer in enumerate(layers):
        new: dict[int, list] = {}
        for k, o in enumerate(layer.options):
            if ii_budget is not None and o.ii > ii_budget or o.src not in labels:
                continue
            pts, _ = labels[o.src]
            add = np.concatenate([np.asarray(o.cost, np.float64), [o.drop, o.latency]])
            cand = pts + add
            ok = (cand[:, m] <= drop_budget + 1e-12) & (cand[:, m + 1] + rest[li + 1] <= budget)
            idx = np.flatnonzero(ok)
            if idx.size:
                new.setdefault(o.dst, []).append((cand[idx], np.stack([np.full(idx.size, k), idx], axis=1)))
        labels = {}
        for s, parts in new.items():
            pts = np.vstack([p for p, _ in parts])
            back = np.vstack([b for _, b in parts])
            if pts.shape[0] > max_labels * 4:
                return _fit_by_weights(layers, cap, drop_budget, latency_budget, ii_budget, drop_unit)
            keep = _nondominated(pts)
            if keep.sum() > max_labels:
                return _fit_by_weights(layers, cap, drop_budget, latency_budget, ii_budget, drop_unit)
            labels[s] = (pts[keep], back[keep])
        history.append(labels)
        if not labels:
            raise ConfigError(
                f"precision: no assignment meets the latency budget {latency_budget} cycles with a predicted "
                f"accuracy drop ≤ {drop_budget:.4g}"
            )
    best_key, best_at = None, None
    for s, (pts, _) in labels.items():
        util = pts[:, :m] / cap
        for i in range(pts.shape[0]):
            key = (round(float(util[i].max()), 12), round(float(util[i].sum()), 12), round(float(pts[i, m]), 12), pts[i, m + 1])
            if best_key is None or key < best_key:
                best_key, best_at = key, (s, i)
    choice = [0] * len(layers)
    s, i = best_at
    for li in range(len(layers) - 1, -1, -1):
        k, parent = history[li][s][1][i]
        choice[li] = int(k)
        s, i = layers[li].options[int(k)].src, int(parent)
    sol = _solution(layers, choice, 1.0 / cap)
    return PrecisionSolution(sol.choice, sol.cost, sol.drop, sol.latency, sol.ii, float((sol.cost / cap).max()), sol.labels)


def _fit_by_weights(layers, cap, drop_budget, latency_budget, ii_budget, drop_unit, rounds: int = 12) -> PrecisionSolution:
    """The fallback for large ``fit`` searches: the DP on ``Σ_k u_k cost_k / cap_k``, the binding
    field's weight doubled after each round; the best largest utilisation seen."""
    import logging

    logging.getLogger(__name__).warning("fit: too many non-dominated assignments; re-weighted sums (not proved optimal)")
    u = np.ones_like(cap)
    best, best_key, seen = None, None, set()
    for _ in range(rounds):
        sol = solve_precision_choice(layers, drop_budget, latency_budget, weights=u / cap, ii_budget=ii_budget, drop_unit=drop_unit)
        util = sol.cost / cap
        key = (float(util.max()), float(util.sum()), sol.drop, sol.latency)
        if best_key is None or key < best_key:
            best, best_key = sol, key
        if sol.choice in seen:
            break
        seen.add(sol.choice)
        u = u * np.where(util >= util.max() - 1e-12, 2.0, 1.0)
    return PrecisionSolution(best.choice, best.cost, best.drop, best.latency, best.ii, float(best_key[0]), best.labels)


def brute_force_precision_choice(
    layers: Sequence[PrecisionLayer],
    drop_budget: float,
    latency_budget: float | None,
    *,
    weights: Any = None,
    capacity: Any = None,
    ii_budget: float | None = None,
) -> PrecisionSolution | None:
    """Every chained assignment (exponential; the tests' oracle).  Minimises ``cost @ weights``, or with
    ``capacity`` the largest ``cost_k / capacity_k``; ties as :func:`solve_precision_choice`.  Drops are
    compared as given (the DP rounds them up to its unit: equal when they are multiples of it)."""
    m = np.asarray(layers[0].options[0].cost).shape[0]
    w = np.ones(m) if weights is None else np.asarray(weights, np.float64)
    best, best_key = None, None
    for combo in itertools.product(*[range(len(layer.options)) for layer in layers]):
        opts = [layer.options[k] for layer, k in zip(layers, combo)]
        if opts[0].src != 0 or any(b.src != a.dst for a, b in zip(opts, opts[1:])):
            continue
        if ii_budget is not None and max(o.ii for o in opts) > ii_budget:
            continue
        lat = sum(o.latency for o in opts)
        if latency_budget is not None and lat > latency_budget:
            continue
        drop = sum(o.drop for o in opts)
        if drop > drop_budget + 1e-12:
            continue
        cost = np.sum([np.asarray(o.cost, np.float64) for o in opts], axis=0)
        score = float((cost / np.asarray(capacity, np.float64)).max()) if capacity is not None else float(cost @ w)
        key = (round(score, 9), round(drop, 12), lat)
        if best_key is None or key < best_key:
            best, best_key = combo, key
    if best is None:
        return None
    sol = _solution(layers, best, w)
    if capacity is not None:
        sol = PrecisionSolution(sol.choice, sol.cost, sol.drop, sol.latency, sol.ii, float(best_key[0]), sol.labels)
    return sol
