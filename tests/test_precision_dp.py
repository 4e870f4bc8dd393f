"""The precision × RF solver (hls_opt/solve/precision_dp.py): by hand, and against brute force."""

import numpy as np
import pytest

from hls_opt.errors import ConfigError
from hls_opt.solve.precision_dp import (
    PrecisionLayer,
    PrecisionOption,
    brute_force_precision_choice,
    pareto_filter,
    solve_fit,
    solve_precision_choice,
)


def opt(label, src, dst, lat, cost, drop, ii=1):
    return PrecisionOption(label, src, dst, lat, ii, np.atleast_1d(np.asarray(cost, float)), float(drop))


def test_by_hand_chain():
    # Layer a: result 16 bits (state 0, drop 0) or 6 bits (state 1, drop 0.01).
    # Layer b reads it: at 16-bit input its product is a DSP (cost 10), at 6 bits LUTs (cost 3);
    # b's own weights: 16 bits (drop 0) or 4 bits (drop 0.02, cost −2 on either input).
    a = PrecisionLayer("a", (opt("a16", 0, 0, 2, 5, 0.0), opt("a6", 0, 1, 2, 4, 0.01)), n_out=2)
    b = PrecisionLayer("b", (
        opt("b16@16", 0, 0, 3, 10, 0.0), opt("b4@16", 0, 0, 3, 8, 0.02),
        opt("b16@6", 1, 0, 3, 3, 0.0), opt("b4@6", 1, 0, 3, 1, 0.02),
    ))
    # Budget 0.02: a6 + b4 would drop 0.03 (no); the cheapest within 0.02: a6 (4) + b16@6 (3) = 7
    # (a16 + b4@16 = 13 drops 0.02 too, dearer).
    sol = solve_precision_choice([a, b], 0.02, None, drop_unit=0.01)
    assert sol.labels == ("a6", "b16@6") and sol.score == 7 and sol.drop == pytest.approx(0.01)
    # Budget 0.03: a6 + b4@6 = 5.
    assert solve_precision_choice([a, b], 0.03, None, drop_unit=0.01).labels == ("a6", "b4@6")
    # Budget 0: a16 + b16@16 = 15.
    assert solve_precision_choice([a, b], 0.0, None).labels == ("a16", "b16@16")


def test_latency_and_ii_budgets():
    a = PrecisionLayer("a", (opt("fast", 0, 0, 2, 10, 0, ii=1), opt("slow", 0, 0, 9, 1, 0, ii=8)))
    assert solve_precision_choice([a], 0.0, 9).labels == ("slow",)
    assert solve_precision_choice([a], 0.0, 8).labels == ("fast",)
    assert solve_precision_choice([a], 0.0, None, ii_budget=4).labels == ("fast",)
    with pytest.raises(ConfigError, match="--latency-budget"):
        solve_precision_choice([a], 0.0, 1)
    with pytest.raises(ConfigError, match="--ii-budget"):
        solve_precision_choice([a], 0.0, None, ii_budget=0)


def test_infeasible_drop_names_the_least():
    a = PrecisionLayer("a", (opt("x", 0, 0, 1, 1, 0.5),))
    with pytest.raises(ConfigError, match="the least is 0.5"):
        solve_precision_choice([a], 0.1, None, drop_unit=0.1)


def _random_instance(rng, n_layers, n_states, n_opts, m=1):
    layers = []
    prev = 1
    unit = 0.01
    for li in range(n_layers):
        n_out = n_states if li < n_layers - 1 else 1
        opts = []
        for k in range(n_opts):
            opts.append(opt(
                (li, k), int(rng.integers(prev)), int(rng.integers(n_out)), int(rng.integers(1, 6)),
                rng.integers(0, 20, size=m), unit * int(rng.integers(0, 4)), ii=int(rng.integers(1, 5)),
            ))
        # every edge reachable at least once
        for s in range(prev):
            for d in range(n_out):
                opts.append(opt((li, "e", s, d), s, d, 5, rng.integers(10, 30, size=m), 0.0, ii=4))
        layers.append(PrecisionLayer(f"l{li}", tuple(opts), n_out=n_out))
        prev = n_out
    return layers, unit


@pytest.mark.parametrize("seed", range(40))
def test_against_brute_force(seed):
    rng = np.random.default_rng(seed)
    layers, unit = _random_instance(rng, int(rng.integers(1, 4)), int(rng.integers(1, 4)), int(rng.integers(1, 5)))
    drop_budget = unit * int(rng.integers(0, 6))
    fastest = sum(min(o.latency for o in layer.options) for layer in layers)
    latency = fastest + int(rng.integers(0, 8))
    ii = [None, 4, 3][seed % 3]
    ref = brute_force_precision_choice(layers, drop_budget, latency, ii_budget=ii)
    if ref is None:
        with pytest.raises(ConfigError):
            solve_precision_choice(layers, drop_budget, latency, ii_budget=ii, drop_unit=unit)
        return
    sol = solve_precision_choice(layers, drop_budget, latency, ii_budget=ii, drop_unit=unit)
    assert sol.score == pytest.approx(ref.score)
    assert sol.drop == pytest.approx(ref.drop) and sol.latency == ref.latency
    assert sol.drop <= drop_budget + 1e-12 and sol.latency <= latency and (ii is None or sol.ii <= ii)
    # The Pareto filter keeps an optimum.
    kept = [PrecisionLayer(layer.name, tuple(layer.options[k] for k in pareto_filter(layer.options, np.ones(1))), layer.n_out)
            for layer in layers]
    assert solve_precision_choice(kept, drop_budget, latency, ii_budget=ii, drop_unit=unit).score == pytest.approx(ref.score)


@pytest.mark.parametrize("seed", range(25))
def test_fit_equals_brute_force(seed):
    rng = np.random.default_rng(100 + seed)
    layers, unit = _random_instance(rng, int(rng.integers(1, 4)), 2, 3, m=2)
    cap = np.array([40.0, 25.0])
    ref = brute_force_precision_choice(layers, 0.03, None, capacity=cap)
    sol = solve_fit(layers, cap, 0.03, None, drop_unit=unit)
    assert sol.drop <= 0.03 + 1e-12
    assert float((sol.cost / cap).max()) == pytest.approx(sol.score)
    assert sol.score == pytest.approx(ref.score)
