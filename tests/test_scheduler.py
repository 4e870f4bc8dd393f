"""Sparsity schedulers (hls_opt/train/schedulers.py) against hls4ml's sequences.

Oracle: hls4ml/optimization/dsp_aware_pruning/scheduler.py; hls4ml's own vectors:
test/pytest/test_optimization/test_scheduler.py.
"""

import copy
import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest

from hls_opt.train.schedulers import (
    BinaryScheduler,
    ConstantScheduler,
    OptimizationScheduler,
    PolynomialScheduler,
)


def run_updates(scheduler, limit=1000):
    """All sparsities an all-success run tries after the first, and the state after the stop."""
    values = []
    for _ in range(limit):
        changed, s = scheduler.update_step()
        if not changed:
            return values, s
        values.append(s)
    raise AssertionError("scheduler never stopped")


def hls4ml_scheduler_module():
    """hls4ml's scheduler.py loaded on its own (the package __init__ needs keras-tuner, absent here)."""
    spec = importlib.util.find_spec("hls4ml")
    if spec is None or spec.origin is None:
        pytest.skip("hls4ml is not installed (the oracle for the scheduler sequences)")
    path = Path(spec.origin).parent / "optimization" / "dsp_aware_pruning" / "scheduler.py"
    if not path.exists():
        pytest.skip(f"hls4ml has no {path}")
    mod_spec = importlib.util.spec_from_file_location("_hls4ml_scheduler_oracle", path)
    module = importlib.util.module_from_spec(mod_spec)
    mod_spec.loader.exec_module(module)
    return module


# ---------------------------------------------------------------- ConstantScheduler


def test_constant_hls4ml_test_vector():
    # hls4ml test_scheduler.py: initial 0.25, step 0.1, final 0.25 + 2.5·0.1 = 0.5.
    # 0.25 → 0.35 (update) → 0.45 (repair also advances) → 0.55 > 0.5 refused.
    s = ConstantScheduler(initial_sparsity=0.25, final_sparsity=0.5, update_step=0.1)
    assert s.get_sparsity() == 0.25
    changed, v = s.update_step()
    assert changed and v == pytest.approx(0.35, abs=1e-15)
    changed, v = s.repair_step()
    assert changed and v == pytest.approx(0.45, abs=1e-15)
    assert s.update_step() == (False, v)
    assert s.get_sparsity() == v


def test_constant_exact_floats_where_hls4ml_sum_is_exact():
    # hls4ml's scheduler.py: ConstantScheduler(final_sparsity=0.5, update_step=0.1) gives these exact
    # floats (k·0.1 rounds the same way as the running sum for k ≤ 5), then stops.
    values, last = run_updates(ConstantScheduler(final_sparsity=0.5, update_step=0.1))
    assert values == [0.1, 0.2, 0.30000000000000004, 0.4, 0.5]
    assert last == 0.5


def test_constant_default_run_reaches_one():
    # hls4ml stops at 0.9500000000000003 (float accumulation); k·0.05 for k = 1..20 ends at 1.0.
    values, last = run_updates(ConstantScheduler())
    assert len(values) == 20
    assert values[-1] == 1.0 and last == 1.0
    for k, v in enumerate(values, start=1):
        assert v == pytest.approx(0.05 * k, abs=1e-12)


def test_constant_snaps_to_final_when_sum_overshoots_by_rounding():
    # 3·0.1 = 0.30000000000000004 > 0.3: hls4ml refuses it and stops at 0.2; we try 0.3 exactly.
    values, last = run_updates(ConstantScheduler(final_sparsity=0.3, update_step=0.1))
    assert values[:2] == [0.1, 0.2]
    assert values[2] == 0.3 and len(values) == 3 and last == 0.3


def test_constant_matches_hls4ml_up_to_rounding():
    oracle = hls4ml_scheduler_module()
    # (initial, final, step, how many more values ours tries). Same values up to accumulated rounding;
    # ours has one more only for 0.05 steps to 1.0, where hls4ml's running sum (scheduler.py,
    # ConstantScheduler.update_step) reaches 1.0000000000000002 > 1.0 and stops at 0.95, while
    # initial + k·step hits 1.0. In the other runs both stop before the final value (0.55 > 0.5,
    # 0.94 > 0.9) or both reach it exactly (5·0.1 = 0.5).
    for initial, final, step, extra in [
        (0, 1.0, 0.05, 1),
        (0.25, 0.5, 0.1, 0),
        (0.1, 0.9, 0.07, 0),
        (0, 0.5, 0.1, 0),
    ]:
        ours, _ = run_updates(ConstantScheduler(initial, final, step))
        theirs, _ = run_updates(oracle.ConstantScheduler(initial, final, step))
        assert len(ours) - len(theirs) == extra, (initial, final, step)
        np.testing.assert_allclose(ours[: len(theirs)], theirs, rtol=0, atol=1e-12)
    # The default run: hls4ml misses 1.0, we reach it.
    theirs, last = run_updates(oracle.ConstantScheduler())
    assert len(theirs) == 19 and last == 0.9500000000000003


def test_constant_initial_above_final_never_changes():
    s = ConstantScheduler(initial_sparsity=0.6, final_sparsity=0.5)
    # any step from 0.6 would pass the final 0.5: refused, the sparsity stays the initial 0.6
    assert s.update_step() == (False, 0.6)
    assert s.repair_step() == (False, 0.6)


# ---------------------------------------------------------------- BinaryScheduler


def test_binary_hls4ml_test_vector():
    # hls4ml test_scheduler.py: 0.25 → 0.5, threshold 0.05.
    s = BinaryScheduler(initial_sparsity=0.25, final_sparsity=0.5, threshold=0.05)
    assert s.get_sparsity() == 0.25
    assert s.update_step() == (True, 0.375)  # (0.25 + 0.5) / 2
    assert s.repair_step() == (True, 0.3125)  # (0.25 + 0.375) / 2
    assert s.update_step() == (True, 0.34375)  # (0.3125 + 0.375) / 2
    # 0.34375 − 0.3125 = 0.03125 < 0.05: no further repair.
    assert s.repair_step() == (False, 0.34375)
    assert s.get_sparsity() == 0.34375


def test_binary_all_success_sequence():
    # hls4ml's scheduler.py: 0.5, 0.75, …, 0.9921875 (1 − 2^-7); then 1 − 0.9921875 = 0.0078 < 0.01.
    values, last = run_updates(BinaryScheduler())
    assert values == [1 - 2.0**-k for k in range(1, 8)]
    assert values[-1] == 0.9921875 and last == 0.9921875


def test_binary_mixed_sequence():
    # hls4ml's scheduler.py: update 0.5, update 0.75, repair 0.625, update 0.6875, repair 0.65625.
    s = BinaryScheduler()
    assert s.update_step() == (True, 0.5)
    assert s.update_step() == (True, 0.75)
    assert s.repair_step() == (True, 0.625)
    assert s.update_step() == (True, 0.6875)
    assert s.repair_step() == (True, 0.65625)


def test_binary_failure_at_initial_stops():
    # s − lower = 0 < threshold: the first trial (at the initial sparsity) failing ends the search.
    s = BinaryScheduler(initial_sparsity=0.2)
    assert s.repair_step() == (False, 0.2)


def test_binary_matches_hls4ml_on_random_outcomes():
    oracle = hls4ml_scheduler_module()
    rng = np.random.default_rng(0)
    for _ in range(50):
        initial, final = sorted(rng.uniform(0, 1, size=2))
        threshold = float(rng.choice([0.01, 0.03, 0.1]))
        ours = BinaryScheduler(initial, final, threshold)
        theirs = oracle.BinaryScheduler(initial, final, threshold)
        for success in rng.integers(0, 2, size=30):
            step = "update_step" if success else "repair_step"
            assert getattr(ours, step)() == getattr(theirs, step)()


# ---------------------------------------------------------------- PolynomialScheduler


def test_polynomial_hls4ml_test_vector():
    # hls4ml test_scheduler.py: 2 steps, power 2, 0.25 → 0.5:
    # s1 = 0.5 + (0.25 − 0.5)·(1 − 1/2)² = 0.4375; s2 = 0.5 + (−0.25)·0² = 0.5; then stop.
    s = PolynomialScheduler(2, initial_sparsity=0.25, final_sparsity=0.5, decay_power=2)
    assert s.get_sparsity() == 0.25
    assert s.update_step() == (True, 0.4375)
    assert s.repair_step() == (True, 0.5)
    assert s.update_step() == (False, 0.5)
    assert s.get_sparsity() == 0.5


def test_polynomial_exact_floats():
    # hls4ml's scheduler.py: PolynomialScheduler(5, final_sparsity=0.5): 0.5 − 0.5·(1 − k/5)³.
    values, last = run_updates(PolynomialScheduler(5, final_sparsity=0.5))
    assert values == [0.24399999999999994, 0.392, 0.46799999999999997, 0.496, 0.5]
    assert last == 0.5


def test_polynomial_matches_hls4ml_exactly():
    oracle = hls4ml_scheduler_module()
    cases = [((5,), {}), ((7,), {"initial_sparsity": 0.1, "final_sparsity": 0.8, "decay_power": 2})]
    for args, kwargs in cases:
        assert run_updates(PolynomialScheduler(*args, **kwargs)) == run_updates(
            oracle.PolynomialScheduler(*args, **kwargs)
        )


# ---------------------------------------------------------------- common behaviour


@pytest.mark.parametrize(
    "make",
    [
        lambda: ConstantScheduler(0.1, 0.9, 0.2),
        lambda: BinaryScheduler(0.1, 0.9),
        lambda: PolynomialScheduler(4, 0.1, 0.9),
    ],
)
def test_deepcopy_is_independent(make):
    original = make()
    original.update_step()
    clone = copy.deepcopy(original)
    before = vars(original).copy()
    # Driving the copy to the end leaves the original where it was...
    run_updates(clone)
    assert vars(original) == before
    # ...and the original then produces the same continuation the copy did.
    fresh = copy.deepcopy(original)
    assert run_updates(original) == run_updates(fresh)


@pytest.mark.parametrize("cls", [ConstantScheduler, BinaryScheduler])
@pytest.mark.parametrize("bad", [-0.1, 1.5, math.nan, math.inf])
def test_sparsity_out_of_range_names_argument(cls, bad):
    with pytest.raises(ValueError, match="initial_sparsity"):
        cls(initial_sparsity=bad)
    with pytest.raises(ValueError, match="final_sparsity"):
        cls(final_sparsity=bad)


def test_polynomial_bad_arguments():
    with pytest.raises(ValueError, match="final_sparsity"):
        PolynomialScheduler(3, final_sparsity=2)
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="maximum_steps"):
            PolynomialScheduler(bad)
    with pytest.raises(ValueError, match="decay_power"):
        PolynomialScheduler(3, decay_power=0)
    # numpy integers are integers
    assert PolynomialScheduler(np.int64(2)).maximum_steps == 2


def test_step_and_threshold_must_be_positive():
    # A step of 0 would make the optimizer try the same sparsity forever.
    for bad in (0, -0.05):
        with pytest.raises(ValueError, match="update_step"):
            ConstantScheduler(update_step=bad)
        with pytest.raises(ValueError, match="threshold"):
            BinaryScheduler(threshold=bad)
    with pytest.raises(ValueError, match="initial_sparsity"):
        ConstantScheduler(initial_sparsity="0.1")


def test_base_class_is_abstract():
    with pytest.raises(TypeError):
        OptimizationScheduler()

    class Fixed(OptimizationScheduler):
        def update_step(self):
            return False, self.sparsity

        def repair_step(self):
            return False, self.sparsity

    s = Fixed(0.3, 0.7)
    # hls4ml's OptimizationScheduler: sparsity starts at the initial value, which is also the lower bound
    assert (s.get_sparsity(), s.lower_bound, s.upper_bound) == (0.3, 0.3, 0.7)
