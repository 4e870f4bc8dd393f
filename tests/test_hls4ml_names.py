"""hls4ml's optimization API under the ``hls_opt`` prefix (issue #11, section 1).

Each test is written from hls4ml 1.3's documented behaviour (``hls4ml/optimization/dsp_aware_pruning/``)
on small hand-computed cases; where hls-opt deliberately differs, ``docs/compat.md`` says so.
"""

from __future__ import annotations

import numpy as np
import pytest

# --------------------------------------------------------------------------------------------------
# knapsack.solve_knapsack: (optimal_value, selected) with selected a list of indices


@pytest.mark.parametrize("implementation", ["dynamic", "greedy", "branch_bound", "CBC_MIP"])
def test_solve_knapsack_returns_a_list_and_a_number(implementation):
    from hls_opt.knapsack import solve_knapsack

    # values 4 5 6 8 3, weights 2 5 3 2 5, capacity 8: items 0, 2, 3 (weight 7, value 18) is optimal.
    value, selected = solve_knapsack(np.array([4.0, 5, 6, 8, 3]), np.array([[2, 5, 3, 2, 5]]), np.array([8]), implementation)
    assert selected == [0, 2, 3]
    assert isinstance(selected, list) and all(type(i) is int for i in selected)
    assert value == 18 and isinstance(value, float)


def test_solve_knapsack_special_cases_as_hls4ml():
    from hls_opt.knapsack import solve_knapsack

    # empty problem: (0, [])
    assert solve_knapsack(np.zeros(0), np.zeros((1, 0), dtype=int), np.array([3])) == (0, [])
    # everything fits: every item, value the sum
    assert solve_knapsack(np.array([1.0, 2.0]), np.array([[1, 1]]), np.array([5])) == (3.0, [0, 1])
