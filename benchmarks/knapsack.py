"""Benchmark: hls_opt.solve.knapsack against hls4ml's knapsack and brute force, measured in the same run.

    .venv/bin/python benchmarks/knapsack.py            # full table (about a minute)
    .venv/bin/python benchmarks/knapsack.py --quick    # skips the 20 000- and 100 000-item instances

hls4ml's ``dsp_aware_pruning/knapsack.py`` is loaded by file path from the installed hls4ml
(importing ``hls4ml.optimization`` would pull TensorFlow and QKeras).  If that fails, a faithful
pure-Python copy of its DP below is used instead and the output says so.  Its 'branch_bound' and
'CBC_MIP' need OR-Tools ≤ 9.6 (``ortools.algorithms.pywrapknapsack_solver``, gone in 9.7) and are not measured.

Every exact instance is also solved by ``scipy.optimize.milp`` (HiGHS), once with a zero gap (proven
optimal) and once with HiGHS's default relative gap 1e-4, each stopped after ``HIGHS_TIME_LIMIT_S``;
section 5 solves the problems the optimizer itself produces (``OPTIMIZER_SHAPES``).

Compile time (numba, first call) is measured separately in fresh subprocesses: once with an empty
numba cache directory (the one-off cost per installation) and once reusing it (every later process).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import logging
import os
import pathlib
import platform
import subprocess
import sys
import tempfile
import time

import numpy as np

from hls_opt.solve.knapsack import solve_knapsack

# --------------------------------------------------------------------------------------------
# References
# --------------------------------------------------------------------------------------------


def load_hls4ml_knapsack():
    """hls4ml's knapsack module loaded by path, or None (and the reason)."""
    try:
        spec = importlib.util.find_spec("hls4ml")  # locates the package without importing it
        if spec is None or spec.origin is None:
            return None, "hls4ml is not installed"
        path = pathlib.Path(spec.origin).parent / "optimization" / "dsp_aware_pruning" / "knapsack.py"
        module_spec = importlib.util.spec_from_file_location("_hls4ml_knapsack", path)
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
        return module, str(path)
    except Exception as exc:  # any failure: fall back, and say so
        return None, f"loading hls4ml's knapsack failed ({exc!r})"


def fallback_dp(values, weights, capacity):
    """hls4ml's '__solve_1d_knapsack_dp' re-typed faithfully: Python lists, O(N·C), value only."""
    values = values.tolist()
    weights = weights[0].tolist()
    capacity = int(capacity[0])
    n = len(values)
    table = [[0 for _ in range(capacity + 1)] for _ in range(n + 1)]
    for i in range(1, n + 1):
        for w in range(1, capacity + 1):
            if weights[i - 1] <= w:
                table[i][w] = max(values[i - 1] + table[i - 1][w - weights[i - 1]], table[i - 1][w])
            else:
                table[i][w] = table[i - 1][w]
    return table[n][capacity]


def brute_force(values, weights, capacity):
    n = values.size
    best = 0.0
    for chunk_start in range(0, 1 << n, 1 << 16):
        masks = np.arange(chunk_start, min(chunk_start + (1 << 16), 1 << n))
        bits = ((masks[:, None] >> np.arange(n)) & 1).astype(np.int64)
        ok = np.all(bits @ weights.T <= capacity, axis=1)
        if np.any(ok):
            best = max(best, float(np.max((bits @ values)[ok])))
    return best


HIGHS_TIME_LIMIT_S = 60.0


def highs(values, weights, capacity, mip_rel_gap=0.0, time_limit=HIGHS_TIME_LIMIT_S):
    """``scipy.optimize.milp`` (HiGHS): returns (value, proven optimal?) of its rounded, checked solution.

    ``mip_rel_gap=0`` asks HiGHS for a proven optimum (its default, 1e-4, stops within 0.01 %).
    """
    from scipy.optimize import Bounds, LinearConstraint, milp

    n = values.size
    result = milp(
        -np.asarray(values, dtype=float),
        integrality=np.ones(n),
        bounds=Bounds(0, 1),
        constraints=LinearConstraint(weights, -np.inf, capacity),
        options={"mip_rel_gap": mip_rel_gap, "time_limit": time_limit},
    )
    if result.x is None:
        return float("nan"), False
    x = np.round(result.x) > 0.5
    if not np.all(weights[:, x].sum(axis=1) <= capacity):
        raise AssertionError("HiGHS returned an infeasible selection")
    return float(values[x].sum()), result.status == 0


def highs_rows(label, values, weights, capacity, optimum, repeats=1):
    """Rows for HiGHS with a zero gap (exact) and with its default gap, against a known optimum."""
    out = []
    for gap, name in ((0.0, "scipy milp (HiGHS, gap 0)"), (1e-4, "scipy milp (HiGHS, default gap 1e-4)")):
        (value, proven), t = best_of(repeats, highs, values, weights, capacity, gap)
        if not proven:
            note = f"stopped at time_limit={HIGHS_TIME_LIMIT_S:g} s: {value / optimum:.4%} of optimum"
        elif abs(value - optimum) <= 1e-9 * optimum:
            note = "optimal"
        else:
            note = f"{value / optimum:.6%} of optimum"
        out.append((label, name, t, value, note))
    return out


def layered(rng, layers, m):
    """A knapsack as ``hls_opt.train.masking.select_groups`` builds it for one global problem.

    ``layers`` = [(groups, n_in)]: every group of a layer has the same saving vector (the
    objective's ``layer_savings``): M = 1 the FLOPs of a neuron, ``2·n_in + 1``; M = 2 a
    (DSP, BRAM)-like pair ``(⌈n_in/4⌉, 1 + n_in // 16)``.  Values are L1-like group norms
    ``|N(0, 1)|`` divided by their layer's mean (the global normalisation of the l1 ranking);
    the capacity is half of every row (sparsity 0.5).
    """
    values, weights = [], []
    for groups, n_in in layers:
        v = np.abs(rng.normal(size=groups))
        values.append(v / v.mean())
        saving = [2 * n_in + 1] if m == 1 else [-(-n_in // 4), 1 + n_in // 16]
        weights.append(np.repeat(np.array(saving)[:, None], groups, axis=1))
    w = np.concatenate(weights, axis=1).astype(np.int64)
    return np.concatenate(values), w, w.sum(axis=1) // 2


# The global problems hls-opt's optimizer hands the knapsack (select_groups, local=False):
# (name, [(groups, n_in) per layer]).
OPTIMIZER_SHAPES = [
    ("neurons of 64-64-32-10", [(64, 64), (32, 64)]),
    ("neurons of 64-256-128-10", [(256, 64), (128, 256)]),
    ("neurons of a 6-layer CNN", [(64, 27), (64, 576), (128, 576), (128, 1152), (256, 1152), (256, 2304)]),
    ("1616 groups, 3 layers", [(1024, 64), (512, 64), (80, 32)]),
    ("3000 groups, 5 layers", [(1000, 7), (800, 13), (600, 5), (400, 30), (200, 9)]),
]


# --------------------------------------------------------------------------------------------
# Measurement helpers
# --------------------------------------------------------------------------------------------


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def best_of(repeats, fn, *args, **kwargs):
    times = []
    for _ in range(repeats):
        out, t = timed(fn, *args, **kwargs)
        times.append(t)
    return out, min(times)


MEMORY_SNIPPET = """
import pathlib, sys, numpy as np
from hls_opt.solve.knapsack import solve_knapsack
def status(field):
    for line in pathlib.Path('/proc/self/status').read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1]) / 1024
solve_knapsack(np.array([4., 5, 6, 8, 3]), np.array([[2, 5, 3, 2, 5]]), np.array([8]), 'dynamic')
data = np.load(sys.argv[1])
before = status('VmHWM:')
solve_knapsack(data['v'], data['w'], data['c'], 'dynamic')
print(status('VmHWM:') - before)
"""


def dp_peak_memory(values, weights, capacity):
    """Peak RSS growth (MiB) of one 'dynamic' solve, in a fresh process (Linux /proc only)."""
    if not pathlib.Path("/proc/self/status").exists():
        return float("nan")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "instance.npz")
        np.savez(path, v=values, w=weights, c=capacity)
        command = [sys.executable, "-c", MEMORY_SNIPPET, path]
        out = subprocess.run(command, capture_output=True, text=True, check=True)
    return float(out.stdout.split()[-1])


COMPILE_SNIPPET = """
import time, numpy as np
t0 = time.perf_counter()
from hls_opt.solve.knapsack import solve_knapsack
t1 = time.perf_counter()
solve_knapsack(np.array([4., 5, 6, 8, 3]), np.array([[2, 5, 3, 2, 5]]), np.array([8]), 'dynamic')
t2 = time.perf_counter()
solve_knapsack(np.array([10., 2, 6, 12, 3]), np.array([[3, 1, 4, 5, 5], [3, 2, 4, 1, 2]]),
               np.array([8, 7]), 'branch_bound')
t3 = time.perf_counter()
solve_knapsack(np.array([10., 2, 6, 12, 3]), np.array([[3, 1, 4, 5, 5], [3, 2, 4, 1, 2]]),
               np.array([8, 7]), 'dynamic')
t4 = time.perf_counter()
print(t1 - t0, t2 - t1, t3 - t2, t4 - t3)
"""


def compile_times():
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        rows = []
        for label in ("empty numba cache (first process after install)", "cache reused (any later process)"):
            out = subprocess.run(
                [sys.executable, "-c", COMPILE_SNIPPET], env=env, capture_output=True, text=True, check=True
            )
            rows.append((label, *(float(x) for x in out.stdout.split())))
        return rows


# --------------------------------------------------------------------------------------------
# Instances
# --------------------------------------------------------------------------------------------


def one_row(rng, n, capacity, integer_values):
    # Mean weight 2·capacity/n, so the capacity is about half the total weight (the hard middle).
    weights = rng.integers(1, max(2, 4 * capacity // n), (1, n))
    values = rng.integers(1, 1000, n).astype(float) if integer_values else rng.random(n) * 1000
    return values, weights, np.array([capacity])


def two_rows(rng, n, kind):
    weights = rng.integers(1, 42, (2, n))
    if kind == "random":
        values = rng.random(n) * 100
    elif kind == "sum":  # values ≈ total weight: correlated with both constraints
        values = weights.sum(axis=0) + rng.random(n) * 20
    else:  # values ≈ first row only (+10): strongly correlated with one constraint, the hard class
        values = weights[0] + 10 + rng.random(n)
    return values, weights, weights.sum(axis=1) // 2


class _Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


BB_TIME_LIMIT_S = 10.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the 20 000- and 100 000-item instances")
    args = parser.parse_args()
    rng = np.random.default_rng(2026)
    hls4ml_module, hls4ml_source = load_hls4ml_knapsack()

    machine = platform.processor() or platform.machine()
    print(f"# knapsack benchmark — {machine}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    if hls4ml_module is not None:
        print(f"# reference: hls4ml's knapsack loaded from {hls4ml_source}")
    else:
        print(f"# reference: {hls4ml_source}; using the faithful pure-Python DP in this script instead")
    print()

    # Warm-up: compile or load every kernel before timing anything.
    for impl in ("dynamic", "branch_bound", "greedy"):
        solve_knapsack(*two_rows(rng, 20, False), implementation=impl)
        solve_knapsack(*one_row(rng, 50, 100, False), implementation=impl)

    rows = []  # instance, method, seconds, value, note

    def ref_dp(values, weights, capacity):
        if hls4ml_module is not None:
            with contextlib.redirect_stdout(io.StringIO()):  # hls4ml prints progress
                result = hls4ml_module.solve_knapsack(values, weights, capacity, implementation="dynamic")
                return float(result[0])
        return float(fallback_dp(values, weights, capacity))

    ref_name = "hls4ml 'dynamic'" if hls4ml_module is not None else "pure-Python DP (fallback)"

    # 1. The ≥100× target: 2000 items, C = 10 000.  Integer-valued values: with general floats
    # hls4ml's traceback (exact float equality) can run off its table (its ``__solve_1d_knapsack_dp``).
    values, weights, capacity = one_row(rng, 2000, 10_000, integer_values=True)
    label = "N=2000, M=1, C=10 000"
    ref_value, ref_t = timed(ref_dp, values, weights, capacity)
    rows.append((label, ref_name, ref_t, ref_value, "reference"))
    target = None
    for impl in ("dynamic", "auto", "branch_bound", "greedy"):
        (value, _), t = best_of(5, solve_knapsack, values, weights, capacity, impl)
        same = abs(value - ref_value) <= 1e-9 * ref_value
        if impl == "greedy":
            note = f"{ref_t / t:,.0f}× faster, {value / ref_value:.4%} of optimum"
        else:
            verdict = "same optimum" if same else f"DIFFERENT ({value - ref_value:+.3g})"
            note = f"{ref_t / t:,.0f}× faster, {verdict}"
        rows.append((label, f"hls_opt '{impl}'", t, value, note))
        if impl == "dynamic":
            target = (ref_t / t, same)
    rows += highs_rows(label, values, weights, capacity, ref_value)

    # 2. The DP at size: 20 000 items, C = 100 000 (2e9 cells).
    if not args.quick:
        values, weights, capacity = one_row(rng, 20_000, 100_000, integer_values=False)
        label = "N=20 000, M=1, C=100 000"
        (value_dp, _), t_dp = timed(solve_knapsack, values, weights, capacity, "dynamic")
        mem = dp_peak_memory(values, weights, capacity)
        (value_bb, _), t_bb = best_of(3, solve_knapsack, values, weights, capacity, "branch_bound")
        (value_auto, _), t_auto = best_of(3, solve_knapsack, values, weights, capacity, "auto")
        agree = abs(value_dp - value_bb) <= 1e-9 * value_bb
        nan = float("nan")
        rows.append((label, "hls4ml 'dynamic'", nan, nan, "not run: a 2e9-cell table of Python lists"))
        rows.append((label, "hls_opt 'dynamic'", t_dp, value_dp, f"peak memory +{mem:,.0f} MiB"))
        note = "agrees with DP" if agree else "DISAGREES"
        rows.append((label, "hls_opt 'branch_bound'", t_bb, value_bb, note))
        rows.append((label, "hls_opt 'auto'", t_auto, value_auto, ""))

    # 3. Two constraints, N = 300 (hls4ml: OR-Tools only, unavailable on current Pythons).
    records = _Records()
    logging.getLogger("hls_opt.solve.knapsack").addHandler(records)
    kinds = {
        "random": "random values",
        "sum": "values ≈ w1 + w2",
        "row0": "values ≈ w1 + 10 (hard)",
    }
    cases = [("random", 0), ("sum", 0), ("row0", 1), ("row0", 2), ("row0", 3)]
    for kind, seed in cases:
        title = kinds[kind]
        values, weights, capacity = two_rows(np.random.default_rng(seed), 300, kind)
        label = f"N=300, M=2, {title}" + (f" #{seed}" if kind == "row0" else "")
        repeats = 1 if kind == "row0" else 3
        nan = float("nan")
        rows.append((label, "hls4ml 'branch_bound'", nan, nan, "needs OR-Tools ≤ 9.6"))
        results = {}
        for impl in ("branch_bound", "dynamic", "auto"):
            records.messages.clear()
            kwargs = {"time_limit": BB_TIME_LIMIT_S} if impl == "branch_bound" else {}
            (value, _), t = best_of(repeats, solve_knapsack, values, weights, capacity, impl, **kwargs)
            stopped = any("time limit" in msg for msg in records.messages)
            results[impl] = (value, t, stopped)
        optimum = results["dynamic"][0]  # the 2-D table: exact, whatever branch and bound managed
        for impl, (value, t, stopped) in results.items():
            if stopped:
                note = f"stopped at time_limit={BB_TIME_LIMIT_S:g} s: {value / optimum:.4%} of optimum"
            elif abs(value - optimum) <= 1e-9 * optimum:
                note = "optimal" + (" (search exhausted)" if impl == "branch_bound" else "")
            else:
                note = f"DIFFERENT from the DP ({value - optimum:+.3g})"
            rows.append((label, f"hls_opt '{impl}'", t, value, note))
        (value_g, _), t_g = best_of(3, solve_knapsack, values, weights, capacity, "greedy")
        rows.append((label, "hls_opt 'greedy'", t_g, value_g, f"{value_g / optimum:.4%} of optimum"))
        rows += highs_rows(label, values, weights, capacity, optimum)
        if hls4ml_module is not None:
            with contextlib.redirect_stdout(io.StringIO()):
                (hv, hsel), ht = timed(
                    hls4ml_module.solve_knapsack, values, weights, capacity, implementation="greedy"
                )
            feasible = bool(np.all(weights[:, list(hsel)].sum(axis=1) <= capacity))
            note = f"{float(hv) / optimum:.4%} of optimum{'' if feasible else ', INFEASIBLE'}"
            rows.append((label, "hls4ml 'greedy'", ht, float(hv), note))
    # 3b. Structured-pruning-like: many items, few distinct costs, random importances.
    if not args.quick:
        rng_big = np.random.default_rng(0)  # an instance where plain branch and bound stalls
        weights = rng_big.choice([3, 5, 8, 16], (1, 100_000))
        values = np.abs(rng_big.normal(size=100_000))
        capacity = weights.sum(axis=1) // 2
        label = "N=100 000, M=1, weights ∈ {3,5,8,16}"
        records.messages.clear()
        knapsack_logger = logging.getLogger("hls_opt.solve.knapsack")
        old_level = knapsack_logger.level
        knapsack_logger.setLevel(logging.DEBUG)  # to see how 'auto' solved it
        records.setLevel(logging.DEBUG)
        (value_auto, _), t_auto = timed(solve_knapsack, values, weights, capacity, "auto")
        knapsack_logger.setLevel(old_level)
        records.setLevel(logging.WARNING)
        auto_stopped = any("time limit" in msg for msg in records.messages)
        fixed = [msg for msg in records.messages if "reduced costs fixed" in msg]
        records.messages.clear()
        (value_bb, _), t_bb = timed(
            solve_knapsack, values, weights, capacity, "branch_bound", time_limit=BB_TIME_LIMIT_S
        )
        bb_stopped = any("time limit" in msg for msg in records.messages)
        how = f"exact ({fixed[-1].removeprefix('knapsack: ')})" if fixed else "exact"
        rows.append(
            (
                label,
                "hls_opt 'auto'",
                t_auto,
                value_auto,
                "stopped at the time limit" if auto_stopped else how,
            )
        )
        rows.append(
            (
                label,
                "hls_opt 'branch_bound'",
                t_bb,
                value_bb,
                f"stopped at time_limit={BB_TIME_LIMIT_S:g} s: {value_bb / value_auto:.6%} of 'auto'"
                if bb_stopped
                else "search exhausted",
            )
        )
        (value_g, _), t_g = timed(solve_knapsack, values, weights, capacity, "greedy")
        rows.append((label, "hls_opt 'greedy'", t_g, value_g, f"{value_g / value_auto:.6%} of 'auto'"))
        cells = weights.shape[1] * (float(capacity[0]) + 1)
        rows.append(
            (
                label,
                "hls_opt 'dynamic'",
                float("nan"),
                float("nan"),
                f"not run: table of {cells:.1e} cells, over DP_MAX_CELLS",
            )
        )

    # 4. Brute force where it is possible: N = 20, M = 2 and M = 3.
    for m in (2, 3):
        weights = rng.integers(0, 30, (m, 20))
        values = rng.random(20) * 10
        capacity = weights.sum(axis=1) // 2
        label = f"N=20, M={m}"
        opt, t_brute = timed(brute_force, values, weights, capacity)
        rows.append((label, "brute force (numpy)", t_brute, opt, "oracle"))
        for impl in ("auto", "branch_bound", "greedy"):
            (value, _), t = best_of(5, solve_knapsack, values, weights, capacity, impl)
            ok = "= oracle" if abs(value - opt) <= 1e-9 * opt else f"{value / opt:.4%} of oracle"
            rows.append((label, f"hls_opt '{impl}'", t, value, ok))
        rows += highs_rows(label, values, weights, capacity, opt, repeats=3)

    # 5. The sizes the optimizer produces: one global problem, a few hundred to a few thousand
    # groups, few distinct saving vectors (one per layer), M = 1 or 2.
    for m in (1, 2):
        for name, layers in OPTIMIZER_SHAPES:
            values, weights, capacity = layered(np.random.default_rng(7), layers, m)
            label = f"optimizer: {name}, N={values.size}, M={m}"
            records.messages.clear()
            (value, _), t = best_of(3, solve_knapsack, values, weights, capacity, "auto")
            stopped = any("time limit" in msg for msg in records.messages)
            rows.append(
                (label, "hls_opt 'auto'", t, value, "stopped at the time limit" if stopped else "exact")
            )
            rows += highs_rows(label, values, weights, capacity, value)

    logging.getLogger("hls_opt.solve.knapsack").removeHandler(records)
    print("| instance | method | solve time (s) | value | note |")
    print("|---|---|---:|---:|---|")
    for label, method, t, value, note in rows:
        ts = "—" if np.isnan(t) else f"{t:.4g}"
        vs = "—" if np.isnan(value) else f"{value:,.6g}"
        print(f"| {label} | {method} | {ts} | {vs} | {note} |")
    print()

    print(
        "| numba compile (fresh process) | import (s) | first 'dynamic' M=1 call (s) | "
        "first 'branch_bound' call (s) | first 'dynamic' M=2 call (s) |"
    )
    print("|---|---:|---:|---:|---:|")
    for label, imp, dp, bb, dp2 in compile_times():
        print(f"| {label} | {imp:.3f} | {dp:.3f} | {bb:.3f} | {dp2:.3f} |")
    print()
    if target is not None:
        speedup, same = target
        verdict = "met" if speedup >= 100 and same else "NOT met"
        print(
            f"Target ≥ 100× vs {ref_name} at N=2000, C=10 000 with the same optimum: "
            f"{speedup:,.0f}× — {verdict}."
        )


if __name__ == "__main__":
    main()
