"""Knapsack solvers (hls_opt/solve/knapsack.py): brute force is the oracle.

Every exact implementation must reach the brute-force optimum; every implementation must return a
feasible, maximal selection with ascending indices and the value equal to the sum of the selected
values.  hls4ml's own test vectors (hls4ml's test/pytest/test_optimization/test_knapsack.py) and the
cases where its greedy solver is infeasible or poor (``__solve_knapsack_greedy`` in
hls4ml/optimization/dsp_aware_pruning/knapsack.py: stops at the first misfit, and its last
feasibility test is mis-parenthesised) are checked by hand.
"""

from __future__ import annotations

import importlib.util
import logging
import pathlib
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hls_opt.solve import knapsack
from hls_opt.solve.knapsack import solve_knapsack

EXACT = ["auto", "dynamic", "branch_bound", "CBC_MIP"]
ALL = [*EXACT, "greedy"]


def brute_force(values: np.ndarray, weights: np.ndarray, capacity: np.ndarray) -> float:
    """Optimum by enumerating all 2**N subsets (vectorised; N <= 18)."""
    n = values.size
    masks = ((np.arange(1 << n)[:, None] >> np.arange(n)) & 1).astype(np.int64)  # (2**N, N)
    feasible = np.all(masks @ weights.T <= capacity, axis=1)
    return float(np.max((masks @ values)[feasible]))  # the empty set is always feasible


def check_selection(values, weights, capacity, value, selected) -> None:
    """The contract every implementation keeps, whatever its optimality."""
    values = np.asarray(values, dtype=float)
    weights = np.asarray(weights)
    capacity = np.asarray(capacity)
    assert isinstance(value, float)
    # hls4ml's return types: a Python list of Python ints (compares equal to a list), a Python float.
    assert isinstance(selected, list) and all(type(i) is int for i in selected)
    assert np.all(np.diff(selected) > 0), "indices ascending and unique"
    assert len(selected) == 0 or (selected[0] >= 0 and selected[-1] < values.size)
    used = weights[:, selected].sum(axis=1)
    assert np.all(used <= capacity), "feasible"
    assert value == float(values[selected].sum())
    # Maximal: no unselected item still fits in what is left.
    rest = np.setdiff1d(np.arange(values.size), selected)
    left = capacity - used
    assert not np.any(np.all(weights[:, rest] <= left[:, None], axis=0)), "maximal"


def assert_optimal(value: float, optimum: float) -> None:
    assert value == pytest.approx(optimum, rel=1e-9, abs=1e-12)


# --- hls4ml's own test vectors (test/pytest/test_optimization/test_knapsack.py) ----------------


@pytest.mark.parametrize("implementation", ALL)
def test_hls4ml_1d_vector(implementation):
    # Capacity 8: items 0, 2, 3 weigh 2 + 3 + 2 = 7 and are worth 4 + 6 + 8 = 18; adding item 1 or 4
    # (weight 5) overflows, and any set with item 1 or 4 leaves room for at most weight 3 more.
    values = np.array([4, 5, 6, 8, 3])
    weights = np.array([[2, 5, 3, 2, 5]])
    capacity = np.array([8])
    value, selected = solve_knapsack(values, weights, capacity, implementation=implementation)
    assert value == 18.0
    assert selected == [0, 2, 3]
    check_selection(values, weights, capacity, value, selected)


@pytest.mark.parametrize("implementation", ALL)
def test_hls4ml_2d_vector(implementation):
    # Items 0 and 3 use (3+5, 3+1) = (8, 4) <= (8, 7) and are worth 22; 'dynamic' solves the two
    # constraints with a 2-D table (hls4ml raises instead).
    values = np.array([10, 2, 6, 12, 3])
    weights = np.array([[3, 1, 4, 5, 5], [3, 2, 4, 1, 2]])
    capacity = np.array([8, 7])
    value, selected = solve_knapsack(values, weights, capacity, implementation=implementation)
    assert value == 22.0
    assert selected == [0, 3]
    check_selection(values, weights, capacity, value, selected)


@pytest.mark.parametrize("implementation", ALL)
def test_hls4ml_equal_weights(implementation):
    # Every item weighs (2, 3): at most min(7 // 2, 7 // 3) = 2 items, so the two largest values,
    # 10 (item 0) and 8 (item 3).
    values = np.array([10, 2, 6, 8, 3])
    weights = np.array([[2, 2, 2, 2, 2], [3, 3, 3, 3, 3]])
    capacity = np.array([7, 7])
    value, selected = solve_knapsack(values, weights, capacity, implementation=implementation)
    assert value == 18.0
    assert selected == [0, 3]


@pytest.mark.parametrize("implementation", ALL)
def test_hls4ml_all_fit_returns_all(implementation):
    # Row sums (18, 12) are within (19, 12): every item, worth 10+2+6+12+3 = 33.
    values = np.array([10, 2, 6, 12, 3])
    weights = np.array([[3, 1, 4, 5, 5], [3, 2, 4, 1, 2]])
    capacity = np.array([19, 12])
    value, selected = solve_knapsack(values, weights, capacity, implementation=implementation)
    assert value == 33.0
    assert selected == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("implementation", ALL)
def test_hls4ml_greedy_infeasible_case(implementation):
    # hls4ml's greedy returns (100, [1]) here although item 1 weighs 50 > 10 (its
    # ``np.all(weights[:, i]) <= capacity`` in knapsack.py ``__solve_knapsack_greedy`` is mis-parenthesised).
    # Item 1 can never fit, so the only non-empty choice is item 0.
    values, weights, capacity = np.array([1.0, 100.0]), np.array([[1, 50]]), np.array([10])
    value, selected = solve_knapsack(values, weights, capacity, implementation)
    assert value == 1.0
    assert selected == [0]


@pytest.mark.parametrize("implementation", ALL)
def test_hls4ml_greedy_poor_case(implementation):
    # hls4ml's greedy takes item 0 (ratio 2) and stops at item 1 (ratio 1.2, does not fit): 10.
    # Items 0 and 2 weigh 5 + 1 = 6 <= 9 and are worth 11, the optimum; our greedy skips the misfit.
    values, weights, capacity = np.array([10.0, 6.0, 1.0]), np.array([[5, 5, 1]]), np.array([9])
    value, selected = solve_knapsack(values, weights, capacity, implementation)
    assert value == 11.0
    assert selected == [0, 2]


# --- brute force on hundreds of random small instances -----------------------------------------


def random_instance(rng: np.random.Generator):
    n = int(rng.integers(0, 15)) if rng.random() < 0.9 else int(rng.integers(15, 19))
    m = int(rng.integers(1, 4))
    kind = rng.integers(0, 3)
    if kind == 0:  # small integers: many ties, zero values
        values = rng.integers(0, 5, n).astype(float)
    elif kind == 1:
        values = rng.random(n) * 10.0
    else:  # correlated with the first row, the hard kind for bounds
        values = np.zeros(n)
    weights = rng.integers(0, 10, (m, n))
    weights[:, rng.random(n) < 0.1] = 0  # some items weigh nothing at all
    if kind == 2:
        values = weights[0] + rng.random(n)
    totals = weights.sum(axis=1)
    # From 0 (only free items fit) to beyond the total (everything fits).
    capacity = np.array([int(rng.integers(0, t + 3)) for t in totals])
    return values, weights, capacity


@pytest.mark.parametrize("seed", range(12))
def test_random_instances_against_brute_force(seed):
    rng = np.random.default_rng(1000 + seed)
    for _ in range(30):  # 12 × 30 = 360 instances
        values, weights, capacity = random_instance(rng)
        optimum = brute_force(values, weights, capacity) if values.size else 0.0
        for implementation in ALL:
            value, selected = solve_knapsack(values, weights, capacity, implementation)
            check_selection(values, weights, capacity, value, selected)
            if implementation == "greedy":
                assert value <= optimum * (1 + 1e-12) + 1e-12
                if weights.shape[0] == 1:
                    assert value >= 0.5 * optimum - 1e-12
            else:
                assert_optimal(value, optimum)


@st.composite
def instances(draw):
    n = draw(st.integers(0, 12))
    m = draw(st.integers(1, 3))
    values = np.array(
        draw(st.lists(st.one_of(st.integers(0, 6).map(float), st.floats(0, 100)), min_size=n, max_size=n)),
        dtype=float,
    )
    weights = np.array(
        draw(st.lists(st.lists(st.integers(0, 12), min_size=n, max_size=n), min_size=m, max_size=m)),
        dtype=np.int64,
    ).reshape(m, n)
    capacity = np.array(draw(st.lists(st.integers(0, 40), min_size=m, max_size=m)), dtype=np.int64)
    return values, weights, capacity


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances(), st.sampled_from(ALL))
def test_property_feasible_optimal_ordered(instance, implementation):
    values, weights, capacity = instance
    value, selected = solve_knapsack(values, weights, capacity, implementation)
    check_selection(values, weights, capacity, value, selected)
    optimum = brute_force(values, weights, capacity) if values.size else 0.0
    if implementation == "greedy":
        assert value <= optimum * (1 + 1e-12) + 1e-12
        if weights.shape[0] == 1:
            assert value >= 0.5 * optimum - 1e-12
    else:
        assert_optimal(value, optimum)


# --- larger instances: the two exact methods against each other and a plain DP -------------------


def reference_dp_value(values: np.ndarray, weights: np.ndarray, capacity: int) -> float:
    """Value-only 0/1 knapsack DP in numpy (one row per item, no traceback): an independent oracle."""
    best = np.zeros(capacity + 1)
    for v, w in zip(values, weights):
        if w <= capacity:
            best[w:] = np.maximum(best[w:], best[: capacity + 1 - w] + v)
    return float(best[-1])


@pytest.mark.parametrize("seed", range(4))
def test_dynamic_and_branch_bound_match_plain_dp(seed):
    rng = np.random.default_rng(seed)
    n = 150
    # Weights share a factor 7 (the gcd reduction divides it out); values correlated with weights.
    weights = 7 * rng.integers(1, 60, (1, n))
    values = weights[0] * (1.0 + 0.1 * rng.random(n))
    capacity = np.array([int(weights.sum() * 0.4) + 3])
    optimum = reference_dp_value(values, weights[0], int(capacity[0]))
    for implementation in EXACT:
        value, selected = solve_knapsack(values, weights, capacity, implementation)
        check_selection(values, weights, capacity, value, selected)
        assert_optimal(value, optimum)


def test_branch_bound_300_items_two_constraints_matches_dynamic_on_a_projection():
    # N = 300, M = 2 where the second row never binds except through the first: the 2-row problem
    # then has the same optimum as the 1-row DP on row 0 (row 1 = row 0 // 2, capacity likewise
    # halved and rounded up, so any set within row 0's capacity is within row 1's).
    rng = np.random.default_rng(7)
    row0 = rng.integers(1, 100, 300)
    weights = np.vstack([row0, row0 // 2])
    values = rng.random(300) * 50
    capacity = np.array([int(row0.sum() // 3), int(row0.sum() // 3) // 2 + 1])
    optimum = reference_dp_value(values, row0, int(capacity[0]))
    value, selected = solve_knapsack(values, weights, capacity, "branch_bound")
    check_selection(values, weights, capacity, value, selected)
    assert_optimal(value, optimum)


@pytest.mark.slow
def test_dynamic_20000_items_capacity_100000():
    # The size target for the DP: 20 000 items, capacity 100 000 ≈ half the total weight
    # (2e9 table cells, a bit each).  Branch and bound (an independent exact method) must agree.
    rng = np.random.default_rng(3)
    weights = rng.integers(1, 20, (1, 20_000))
    values = rng.random(20_000) * 100
    capacity = np.array([100_000])
    value_dp, selected_dp = solve_knapsack(values, weights, capacity, "dynamic")
    value_bb, _ = solve_knapsack(values, weights, capacity, "branch_bound")
    check_selection(values, weights, capacity, value_dp, selected_dp)
    assert_optimal(value_dp, value_bb)


def test_dynamic_traceback_on_a_capacity_window():
    # Capacity about half the total weight: the DP computes only capacities that can still reach
    # the answer (see _dp_kernel); the traceback must still land on an optimal feasible set.
    rng = np.random.default_rng(11)
    weights = rng.integers(1, 30, (1, 400))
    values = rng.random(400)
    capacity = np.array([int(weights.sum()) // 2])
    value, selected = solve_knapsack(values, weights, capacity, "dynamic")
    check_selection(values, weights, capacity, value, selected)
    assert_optimal(value, reference_dp_value(values, weights[0], int(capacity[0])))


# --- edge cases ---------------------------------------------------------------------------------


@pytest.mark.parametrize("implementation", ALL)
def test_empty_problem(implementation):
    value, selected = solve_knapsack(np.zeros(0), np.zeros((1, 0), dtype=int), np.array([5]), implementation)
    assert value == 0.0 and isinstance(value, float)
    assert selected == []


@pytest.mark.parametrize("implementation", ALL)
def test_zero_capacity_takes_exactly_the_free_items(implementation):
    # Items 1 and 3 weigh nothing (item 3 is also worth nothing): both are kept, being free.
    values = np.array([5.0, 2.0, 7.0, 0.0])
    weights = np.array([[1, 0, 3, 0], [2, 0, 0, 0]])
    value, selected = solve_knapsack(values, weights, np.array([0, 0]), implementation)
    assert selected == [1, 3]
    assert value == 2.0


@pytest.mark.parametrize("implementation", ALL)
def test_zero_value_items_fill_the_leftover_capacity(implementation):
    # Optimum 9 = items 0 + 1 (weight 4 of 6); item 2 (value 0, weight 2) still fits and is added,
    # item 3 (value 0, weight 3) then does not.
    values = np.array([4.0, 5.0, 0.0, 0.0])
    weights = np.array([[2, 2, 2, 3]])
    value, selected = solve_knapsack(values, weights, np.array([6]), implementation)
    assert value == 9.0
    assert selected == [0, 1, 2]


def test_lists_scalar_capacity_and_fractional_capacity():
    # Same as hls4ml's 1-D vector; a scalar capacity of 8.9 means 8 with integer weights.
    value, selected = solve_knapsack([4, 5, 6, 8, 3], [[2, 5, 3, 2, 5]], 8.9)
    assert value == 18.0 and selected == [0, 2, 3]


def test_infinite_capacity_and_integral_float_weights():
    value, selected = solve_knapsack(np.array([1.0, 2.0]), np.array([[3.0, 4.0]]), np.array([np.inf]))
    # an infinite capacity holds both items: 1 + 2 = 3
    assert value == 3.0 and selected == [0, 1]


def test_arguments_are_not_modified():
    values = np.array([4.0, 5.0, 6.0, 8.0, 3.0])
    weights = np.array([[2, 5, 3, 2, 5]])
    capacity = np.array([8])
    copies = (values.copy(), weights.copy(), capacity.copy())
    solve_knapsack(values, weights, capacity, "branch_bound", time_limit=10, scaling_factor=1e5)
    assert all(np.array_equal(a, b) for a, b in zip((values, weights, capacity), copies))


def test_float_ties_do_not_break_optimality():
    # 0.1 + 0.2 != 0.3 in floats: either {0, 1} or {2} is optimal (0.3 up to rounding); both methods
    # must find a value equal to the brute-force optimum within 1e-9.
    values = np.array([0.1, 0.2, 0.3, 0.3 - 1e-17])
    weights = np.array([[1, 1, 2, 2]])
    for implementation in EXACT:
        value, selected = solve_knapsack(values, weights, np.array([2]), implementation)
        assert_optimal(value, brute_force(values, weights, np.array([2])))


@pytest.mark.parametrize("implementation", EXACT)
def test_items_that_fill_the_capacity_exactly(implementation):
    # Regression (found by a random stress run): with surrogate weights w/7 in floats, item 2
    # (weight 5) "did not fit" the remaining 5/7 after rounding and branch and bound pruned the
    # optimum.  Optimum {2, 3, 4}: weight 5+1+1 = 7, value 5.13+1.66+1.61 = 8.40 > {0, 1} = 8.13.
    values = np.array([4.28, 3.85, 5.13, 1.66, 1.61])
    value, selected = solve_knapsack(values, np.array([[4, 3, 5, 1, 1]]), np.array([7]), implementation)
    assert selected == [2, 3, 4]
    assert_optimal(value, 5.13 + 1.66 + 1.61)
    # Same with a free item (1) and capacity 14 = 5 + 9 exactly: {0, 4} + free item 1 = 2.5.
    values = np.array([0.7, 0.9, 0.6, 0.6, 0.9])
    value, selected = solve_knapsack(values, np.array([[5, 0, 3, 8, 9]]), np.array([14]), implementation)
    assert selected == [0, 1, 4]
    assert_optimal(value, 2.5)


@pytest.mark.parametrize("seed", range(6))
def test_branch_bound_matches_dynamic_on_medium_instances(seed):
    # Beyond brute force (N = 25..60): the two exact methods are independent algorithms.  Small
    # integer weights make exact fits frequent (the case that once broke the bound).
    rng = np.random.default_rng(500 + seed)
    for _ in range(40):
        n = int(rng.integers(25, 61))
        m = int(rng.integers(1, 3))
        weights = rng.integers(0, 13, (m, n))
        values = rng.random(n) if rng.random() < 0.5 else np.round(rng.random(n), 1)
        capacity = weights.sum(axis=1) // int(rng.integers(2, 5))
        value_dp, _ = solve_knapsack(values, weights, capacity, "dynamic")
        value_bb, selected = solve_knapsack(values, weights, capacity, "branch_bound")
        check_selection(values, weights, capacity, value_bb, selected)
        assert_optimal(value_bb, value_dp)


# --- bad input: ValueError naming the argument ----------------------------------------------------

GOOD_V = np.array([1.0, 2.0])
GOOD_W = np.array([[1, 2]])
GOOD_C = np.array([2])


@pytest.mark.parametrize(
    ("values", "weights", "capacity", "implementation", "name"),
    [
        (np.ones((2, 2)), GOOD_W, GOOD_C, "auto", "values"),
        (np.array([1.0, np.nan]), GOOD_W, GOOD_C, "auto", "values"),
        (np.array([1.0, np.inf]), GOOD_W, GOOD_C, "auto", "values"),
        (np.array([1.0, -2.0]), GOOD_W, GOOD_C, "auto", "values"),
        (np.array(["a", "b"]), GOOD_W, GOOD_C, "auto", "values"),
        (GOOD_V, np.array([1, 2]), GOOD_C, "auto", "weights"),
        (GOOD_V, np.array([[1, 2, 3]]), GOOD_C, "auto", "weights"),
        (GOOD_V, np.array([[1, -2]]), GOOD_C, "auto", "weights"),
        (GOOD_V, np.array([[1.5, 2.0]]), GOOD_C, "auto", "weights"),
        (GOOD_V, np.array([[1.0, np.nan]]), GOOD_C, "auto", "weights"),
        (GOOD_V, GOOD_W, np.array([-1]), "auto", "capacity"),
        (GOOD_V, GOOD_W, np.array([np.nan]), "auto", "capacity"),
        (GOOD_V, GOOD_W, np.array([2, 2]), "auto", "capacity"),
        (GOOD_V, GOOD_W, GOOD_C, "simplex", "implementation"),
        (GOOD_V, GOOD_W, GOOD_C, None, "implementation"),
    ],
)
def test_bad_input_raises_value_error_naming_the_argument(values, weights, capacity, implementation, name):
    with pytest.raises(ValueError, match=rf"^{name}:"):
        solve_knapsack(values, weights, capacity, implementation)


def test_bad_time_limit():
    with pytest.raises(ValueError, match="^time_limit:"):
        solve_knapsack(GOOD_V, GOOD_W, GOOD_C, "branch_bound", time_limit=-1)


# --- limits: a time-limited branch and bound still returns a feasible, greedy-or-better answer -----


def hard_instance():
    # Values strongly correlated with row 0 (v = w0 + 10 + noise), row 1 independent: the LP bound
    # is tight everywhere, so depth-first branch and bound needs millions of nodes.
    rng = np.random.default_rng(1)
    weights = rng.integers(1, 42, (2, 300))
    values = weights[0] + 10 + rng.random(300)
    capacity = weights.sum(axis=1) // 2
    return values, weights, capacity


def test_branch_bound_node_budget_reports_unproven():
    values, weights, capacity = hard_instance()
    picked, proven, _ = knapsack._solve_bb(values, weights, capacity, None, 1000)
    assert not proven
    assert np.all(weights[:, picked].sum(axis=1) <= capacity)
    # The incumbent starts from greedy in surrogate-efficiency order: about half the items fit.
    assert picked.size > 100


def test_time_limit_returns_feasible_and_logs(monkeypatch, caplog):
    values, weights, capacity = hard_instance()
    monkeypatch.setattr(knapsack, "_BB_CHUNK_NODES", 500)
    with caplog.at_level(logging.WARNING, logger="hls_opt.solve.knapsack"):
        value, selected = solve_knapsack(values, weights, capacity, "branch_bound", time_limit=1e-6)
    check_selection(values, weights, capacity, value, selected)
    assert any("time limit" in r.getMessage() for r in caplog.records)


def test_auto_falls_back_past_the_size_limit_and_logs(monkeypatch, caplog):
    # With the DP ruled out by its size limit, 'auto' runs branch and bound under AUTO_TIME_LIMIT_S
    # and says so when it stops early.
    values, weights, capacity = hard_instance()
    monkeypatch.setattr(knapsack, "DP_MAX_CELLS", 0)
    monkeypatch.setattr(knapsack, "AUTO_TIME_LIMIT_S", 1e-6)
    monkeypatch.setattr(knapsack, "_BB_CHUNK_NODES", 500)
    with caplog.at_level(logging.WARNING, logger="hls_opt.solve.knapsack"):
        value, selected = solve_knapsack(values, weights, capacity, "auto")
    check_selection(values, weights, capacity, value, selected)
    assert any("time limit" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("m", [1, 2])
def test_auto_reduced_cost_fixing_stays_exact(monkeypatch, caplog, m):
    # Few distinct weights and random values (structured pruning): with the DP ruled out and a
    # tiny branch-and-bound probe, 'auto' fixes items by reduced costs and solves the core.  The
    # optimum comes from 'dynamic' before the limits are lowered.
    rng = np.random.default_rng(8 + m)
    weights = rng.choice([3, 5, 8, 16], (m, 120))
    values = np.abs(rng.normal(size=120))
    capacity = weights.sum(axis=1) // 2
    optimum, _ = solve_knapsack(values, weights, capacity, "dynamic")
    monkeypatch.setattr(knapsack, "DP_MAX_CELLS", 0)
    monkeypatch.setattr(knapsack, "AUTO_BB_PROBE_NODES", 1)
    with caplog.at_level(logging.DEBUG, logger="hls_opt.solve.knapsack"):
        value, selected = solve_knapsack(values, weights, capacity, "auto")
    check_selection(values, weights, capacity, value, selected)
    assert_optimal(value, optimum)
    assert any("reduced costs fixed" in r.getMessage() for r in caplog.records)


def test_reduced_cost_fixing_by_hand():
    # One row, capacity 4, prices mu = 1 per unit: reduced costs d = v - w = (5-2, 1-2, 2.5-2) =
    # (3, -1, 0.5); bound L = 4 + 3 + 0.5 = 7.5.  With a known solution worth 7 ({0, 2}, weight 4)
    # the gap is 0.5: item 0 (d = 3 > 0.5) is fixed in, item 1 (d = -1) fixed out, item 2 stays.
    fixed_in, core = knapsack._reduced_cost_fixing(
        np.array([5.0, 1.0, 2.5]), np.array([[2, 2, 2]]), np.array([4]), np.array([1.0]), 7.0
    )
    assert fixed_in.tolist() == [0]
    assert core.tolist() == [2]


def reference_dp2_value(values, weights, capacity) -> float:
    """Value-only two-constraint DP in numpy: an independent oracle for the 2-D 'dynamic'."""
    best = np.zeros((capacity[0] + 1, capacity[1] + 1))
    for v, (a, b) in zip(values, weights.T):
        if a <= capacity[0] and b <= capacity[1]:
            best[a:, b:] = np.maximum(best[a:, b:], best[: capacity[0] + 1 - a, : capacity[1] + 1 - b] + v)
    return float(best[-1, -1])


@pytest.mark.parametrize("seed", range(3))
def test_two_constraint_dp_on_the_hard_class(seed):
    # Values strongly correlated with one row (the class branch and bound finds hard): the 2-D DP
    # ('dynamic', and 'auto' after its branch-and-bound probe) must match a plain numpy 2-D DP.
    rng = np.random.default_rng(seed)
    weights = rng.integers(1, 15, (2, 60))
    values = weights[0] + 10 + rng.random(60)
    capacity = weights.sum(axis=1) // 2
    optimum = reference_dp2_value(values, weights, capacity)
    for implementation in EXACT:
        value, selected = solve_knapsack(values, weights, capacity, implementation)
        check_selection(values, weights, capacity, value, selected)
        assert_optimal(value, optimum)


def test_three_constraint_dp_matches_branch_and_bound():
    rng = np.random.default_rng(4)
    weights = rng.integers(0, 9, (3, 40)) * np.array([[1], [2], [3]])  # rows 2 and 3 share a gcd
    values = rng.random(40)
    capacity = weights.sum(axis=1) // 3
    value_dp, selected = solve_knapsack(values, weights, capacity, "dynamic")
    value_bb, _ = solve_knapsack(values, weights, capacity, "branch_bound")
    check_selection(values, weights, capacity, value_dp, selected)
    assert_optimal(value_dp, value_bb)


# --- hls4ml's own pure-Python DP as a second oracle (values only) ---------------------------------


def load_hls4ml_knapsack():
    pytest.importorskip("hls4ml", reason="hls4ml not installed: its knapsack is an optional oracle")
    import hls4ml

    path = pathlib.Path(hls4ml.__file__).parent / "optimization" / "dsp_aware_pruning" / "knapsack.py"
    if not path.exists():
        pytest.skip(f"hls4ml has no {path}")
    # Loaded by path: importing hls4ml.optimization would pull TensorFlow and QKeras.
    spec = importlib.util.spec_from_file_location("_hls4ml_knapsack", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.hls4ml
def test_dynamic_matches_hls4ml_dynamic_values(capsys):
    theirs = load_hls4ml_knapsack()
    rng = np.random.default_rng(5)
    for _ in range(20):
        n = 30
        weights = rng.integers(1, 20, (1, n))
        # Integer values: with arbitrary floats hls4ml's traceback (exact float equality in
        # knapsack.py ``__solve_1d_knapsack_dp``) leaves a rounding residue and runs off the table with an
        # IndexError.
        values = rng.integers(0, 100, n).astype(float)
        capacity = np.array([int(weights.sum()) // 3])
        their_value, _ = theirs.solve_knapsack(values, weights, capacity, implementation="dynamic")
        value, _ = solve_knapsack(values, weights, capacity, "dynamic")
        assert_optimal(value, float(their_value))
    capsys.readouterr()  # hls4ml prints progress lines


def test_import_is_cheap_and_compiles_nothing():
    # Importing the module must not pull TensorFlow/Keras nor compile a numba kernel (compilation
    # happens on the first call, and is cached on disk).
    code = (
        "import sys, hls_opt.solve.knapsack as k; "
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules; "
        "assert not k._dp_kernel.signatures and not k._bb_kernel.signatures; print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
