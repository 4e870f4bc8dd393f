"""The precision × RF problem of a graph (hls_opt/solve/precision_problem.py): candidates, costs from
the backend's one estimate, the chain of result → input widths, and the answer written back."""

import dataclasses

import numpy as np
import pytest

from hls_opt.config import Strategy
from hls_opt.core.precision import Rounding, Saturation
from hls_opt.core.precision import parse_fixed_precision as prec
from hls_opt.cost.registry import get_backend
from hls_opt.cost.tables import estimate_graph, input_precision_of
from hls_opt.errors import ConfigError
from hls_opt.solve.precision_problem import (
    LayerCandidates,
    ResultCandidate,
    apply_configs,
    build_precision_problem,
    integer_bits,
    result_candidates,
    solve_precision_problem,
    weight_candidates,
)


def timing(node):
    if not getattr(node, "has_kernel", False):
        return (1, 0)
    rf = node.config.reuse_factor
    return (rf, rf + 2)


def test_integer_bits_by_hand():
    # ap_fixed<W,I> holds [−2^(I−1), 2^(I−1)): 0.7 → I = 1 ([−1, 1)); 1.0 → 2; 1.5 → 2; 5 → 4 ([−8, 8))
    assert [integer_bits(x) for x in (0.7, 1.0, 1.5, 5.0)] == [1, 2, 2, 4]
    # ap_ufixed<W,I> holds [0, 2^I): 0.7 → 0; 1.0 → 1; 5 → 3; 0 → 0 (unsigned) / 1 (signed)
    assert [integer_bits(x, signed=False) for x in (0.7, 1.0, 5.0, 0.0)] == [0, 1, 3, 0]
    assert integer_bits(0.0) == 1


def test_candidates_from_ranges():
    ws, bs = weight_candidates(0.9, 3.0, (2, 4, 8), Rounding.TRN, Saturation.WRAP)
    assert [w.to_ap_string() for w in ws] == ["ap_fixed<2,1>", "ap_fixed<4,1>", "ap_fixed<8,1>"]
    # bias: |b| ≤ 3 → I = 3, the weight's fraction bits (1, 3, 7)
    assert [b.to_ap_string() for b in bs] == ["ap_fixed<4,3>", "ap_fixed<6,3>", "ap_fixed<10,3>"]
    rs = result_candidates((-6.0, 5.0), (0.0, 5.0), (2, 4, 8), Rounding.RND, Saturation.SAT)
    # ReLU output [0, 5] → ap_ufixed<W,3>; W = 2 cannot hold it; the pre-activation [−6, 5] → I = 4
    assert [r.output.to_ap_string() for r in rs] == ["ap_ufixed<4,3,RND,SAT>", "ap_ufixed<8,3,RND,SAT>"]
    assert [r.result.to_ap_string() for r in rs] == ["ap_fixed<5,4,RND,SAT>", "ap_fixed<9,4,RND,SAT>"]
    # the model input, [0, 1]: unsigned, I = 1 ([0, 2)); a layer's own result stays signed (I = 2)
    x = result_candidates((0.0, 1.0), None, (4, 5), Rounding.TRN, Saturation.WRAP, unsigned_ok=True)
    assert [r.output.to_ap_string() for r in x] == ["ap_ufixed<4,1>", "ap_ufixed<5,1>"]
    y = result_candidates((0.0, 1.0), None, (4,), Rounding.TRN, Saturation.WRAP)
    assert [r.output.to_ap_string() for r in y] == ["ap_fixed<4,2>"]


@pytest.fixture
def graph(dense_graph):
    g = dense_graph(n_in=8, n_out=4, rf=1, strategy=Strategy.LATENCY)
    node = g.node("fc")
    # the input layer's type (hls4ml gives it one): 16 bits
    g.replace("in", dataclasses.replace(g.node("in"), config=node.config))
    return g


def candidates(fc_results=("ap_fixed<8,2>", "ap_fixed<16,2>")):
    w6, w18 = prec("ap_fixed<6,1>"), prec("ap_fixed<18,1>")
    return {
        "fc": LayerCandidates("fc", (w6, w18), (w6, w18), tuple(ResultCandidate(prec(r)) for r in fc_results),
                              weight_drops=(0.02, 0.0), result_drops=(0.01, 0.0)),
        "out": LayerCandidates("out", (w6, w18), (w6, w18), (ResultCandidate(prec("ap_fixed<16,6>")),),
                               weight_drops=(0.02, 0.0), result_drops=(0.0,)),
    }


def test_dsp_choice_by_hand(graph):
    be = get_backend("vivado")
    problem = build_precision_problem(graph, be, ("dsp",), timing, candidates(), rf_choice=False)
    # fc: 32 multipliers on a 16-bit input: 6-bit weights → LUTs (0 DSP), 18-bit → 32 DSPs.
    # out: 16 multipliers on fc's result: 8 bits → LUTs whatever the weight; 16 bits × 18 → 16 DSPs.
    # Drop budget 0.02: fc w6 (0.02) + r16 (0) + out w18 (0) = 16 DSPs is the cheapest
    # (fc w18 r8 + out w18 = 32, fc w18 r16 + out w6 = 32; w6 r8 drops 0.03).
    sol, configs = solve_precision_problem(problem, 0.02)
    assert sol.cost.tolist() == [16.0] and sol.drop == pytest.approx(0.02)
    assert configs["fc"].weight.to_ap_string() == "ap_fixed<6,1>" and configs["fc"].result.to_ap_string() == "ap_fixed<16,2>"
    assert configs["out"].weight.to_ap_string() == "ap_fixed<18,1>"
    # Budget 0.03: fc w6 r8 → everything from LUTs, 0 DSPs.
    sol, configs = solve_precision_problem(problem, 0.03)
    assert sol.cost.tolist() == [0.0]
    assert configs["fc"].result.to_ap_string() == "ap_fixed<8,2>"
    # Budget 0: every layer at its widest: 32 + 16.
    assert solve_precision_problem(problem, 0.0)[0].cost.tolist() == [48.0]


@pytest.mark.parametrize("fields", [("lut",), ("ebops",), ("dsp", "lut", "ff")])
def test_solver_cost_is_the_estimate_of_the_chosen_graph(graph, fields):
    be = get_backend("vivado")
    problem = build_precision_problem(graph, be, fields, timing, candidates(), rf_choice=True)
    sol, configs = solve_precision_problem(problem, 0.025, latency_budget=40)
    chosen = apply_configs(graph, configs)
    est = estimate_graph(chosen, be)
    assert sol.cost.tolist() == [float(sum(v[f] for v in est.values())) for f in fields]
    # the next layer reads the chosen result
    assert input_precision_of(chosen, chosen.node("out")) == configs["fc"].output
    assert sol.latency <= 40
    # the original graph is unchanged
    assert graph.node("fc").config.weight.width == 16


def test_fit_needs_capacities_and_balances_fields(graph):
    be = get_backend("vivado")
    problem = build_precision_problem(graph, be, ("dsp", "lut"), timing, candidates(), rf_choice=False)
    sol, _ = solve_precision_problem(problem, 0.03, capacity=[10, 100000])
    # 0 DSPs fits best when LUTs are plentiful
    assert sol.cost[0] == 0
    with pytest.raises(ConfigError, match="candidates"):
        build_precision_problem(graph, be, ("dsp",), timing, {"nope": candidates()["fc"]})


def test_input_precision_is_a_choice(graph):
    be = get_backend("vivado")
    cands = candidates()
    cands["in"] = LayerCandidates("in", (), (), (ResultCandidate(prec("ap_ufixed<5,1>")), ResultCandidate(prec("ap_fixed<16,6>"))),
                                  result_drops=(0.0, 0.0))
    problem = build_precision_problem(graph, be, ("dsp",), timing, cands, rf_choice=False)
    sol, configs = solve_precision_problem(problem, 0.0)
    # a 5-bit input makes fc's products LUTs even at 18-bit weights: 0 + 16 (out, 16 × 18)
    assert sol.cost.tolist() == [16.0] and configs["in"].result.to_ap_string() == "ap_ufixed<5,1>"
    assert np.isclose(sol.drop, 0.0)
