"""The joint RF × pruning problem of an IR graph (hls_opt/solve/rf_problem.py).

A hand-built graph (tests/conftest.py ``dense_graph``): Input(8) → Dense 'fc' 8→4 → Dense 'out' 4→4,
ap_fixed<16,6> everywhere (16-bit operands: one DSP48E2 per multiplier on the vivado backend).  The
fake timing: a weighted layer at RF r has II = r and latency r + 2 cycles; the input node II 1,
latency 0.

The options the vivado cost model gives (hls4ml's rules, backends/fpga.py):
* RF 1 → Latency (hls4ml turns unrolled at RF 1 into Resource, which keeps every multiplier):
  one multiplier per weight, single weights as groups (fc 32 DSPs / 32 groups, out 16 / 16);
* RF r > 1 → ResourceUnrolled (valid unrolled RFs of 8×4: 2, 4, 8, 16; of 4×4: 2, 4, 8 —
  hls4ml's ``include_max_rf=False``): ``n/r`` multipliers, the reuse-group rows as groups, one DSP
  each (``unrolled_codegen.py``); for r > n_in hls4ml caps at ``n_out − Z``: fc at RF 16 has 4 DSPs
  for 2 groups of 16 weights, each saving 1.
"""

from __future__ import annotations

import numpy as np
import pytest

from hls_opt.config import IOType, Strategy
from hls_opt.cost.objective import parse_objective
from hls_opt.cost.registry import get_backend
from hls_opt.cost.tables import input_precision_of
from hls_opt.errors import ConfigError
from hls_opt.ir import nodes as ir
from hls_opt.ir.graph import Graph
from hls_opt.solve.rf_problem import build_joint_problem, rf_candidates, solve_joint_problem


def timing(node):
    if not getattr(node, "has_kernel", False):
        return (1, 0)
    rf = node.config.reuse_factor
    return (rf, rf + 2)


@pytest.fixture
def problem_parts(dense_graph):
    return dense_graph(8, 4, rf=4), get_backend("vivado"), parse_objective("dsp")


def test_options_read_off_the_cost_model(problem_parts):
    graph, backend, objective = problem_parts
    problem = build_joint_problem(graph, backend, objective, timing)
    summary = {
        lay.name: [(o.label, o.latency, o.ii, int(o.base[0]), o.n_groups, int(o.savings[0])) for o in lay.options]
        for lay in problem.layers
    }
    # (label, latency, II, DSPs, groups, DSPs a group saves), from the module docstring's rules and the
    # fake timing (II r, latency r + 2; the Input II 1, latency 0): Latency RF 1 has one DSP and one
    # group per weight (fc 8·4 = 32, out 4·4 = 16); ResourceUnrolled RF r has n/r DSPs and n/r
    # reuse-row groups (fc 32/r, out 16/r) until r > n_in, where hls4ml caps the DSPs at n_out = 4
    # (fc RF 16: 32/16 = 2 groups; out RF 8: 16/8 = 2 groups); each group is one multiplier.
    assert summary == {
        "in": [(None, 0, 1, 0, 0, 0)],
        "fc": [
            (("Latency", 1), 3, 1, 32, 32, 1),
            (("ResourceUnrolled", 2), 4, 2, 16, 16, 1),
            (("ResourceUnrolled", 4), 6, 4, 8, 8, 1),
            (("ResourceUnrolled", 8), 10, 8, 4, 4, 1),
            (("ResourceUnrolled", 16), 18, 16, 4, 2, 1),
        ],
        "out": [
            (("Latency", 1), 3, 1, 16, 16, 1),
            (("ResourceUnrolled", 2), 4, 2, 8, 8, 1),
            (("ResourceUnrolled", 4), 6, 4, 4, 4, 1),
            (("ResourceUnrolled", 8), 10, 8, 4, 2, 1),
        ],
    }
    # RF 1 (Latency) and the valid unrolled RFs of an 8×4 kernel (module docstring)
    assert [n.config.reuse_factor for n in rf_candidates(backend, graph.node("fc"))] == [1, 2, 4, 8, 16]


def test_hand_computed_choice_and_masks(problem_parts):
    graph, backend, objective = problem_parts
    before = {n.name: (n.config, np.array(n.kernel)) for n in graph.nodes() if getattr(n, "has_kernel", False)}
    # Importance 1 per weight: a group is worth its size, so the kept importance counts kept weights
    # (48 in all).  Budget 12 cycles allows the pairs (fc, out) of latencies ≤ 12: at most RF 4 + RF 4
    # (6 + 6), RF 8 only with a 2-cycle partner (none).  Target 10 DSPs:
    #   (RF4, RF4): 8 + 4 = 12 DSPs, drop 2 groups of 4 weights → 40 kept  ← optimum
    #   (RF4, RF2): 8 + 8 = 16, drop 6 of out's 2-weight groups → 36;  (RF2, RF4): 16 + 4, drop 10 → 28
    #   (Latency, RF4): 32 + 4 = 36, drop 26 single weights → 22 (the rest are worse still)
    ones = {n: np.ones_like(k) for n, (_, k) in before.items()}
    problem = build_joint_problem(graph, backend, objective, timing, ones)
    plan = solve_joint_problem(problem, [10], 12)
    sol = plan.solution
    assert sol.method == "exact"
    assert (sol.value, sol.resources.tolist(), sol.latency) == (40.0, [10], 12.0)
    assert plan.reuse_factors == {"fc": 4, "out": 4}  # the optimum (RF4, RF4) worked above
    assert {n: c.strategy.value for n, c in plan.configs.items() if n != "in"} == {"fc": "ResourceUnrolled", "out": "ResourceUnrolled"}
    assert sum(int(m.sum()) for m in plan.masks.values()) == 40  # 48 weights − 2 dropped groups of 4
    # The masks zero whole reuse groups, and the backend's estimate of the masked layers is the
    # resource count the solver optimised (one cost model).
    dsp = 0
    for name, mask in plan.masks.items():
        node = problem.nodes[name][sol.choice[[lay.name for lay in problem.layers].index(name)]]
        assert node.config.reuse_factor == 4
        rows = mask.reshape(-1)[np.argsort(plan.groups[name].ids.reshape(-1), kind="stable")].reshape(-1, 4)
        assert np.all(rows.min(axis=1) == rows.max(axis=1))
        dsp += backend.estimate(node, before[name][1] * mask, input_precision_of(graph, node)).dsp
    assert dsp == 10  # (8 + 4) DSPs − 2 dropped one-DSP groups = the target 10
    # Target 20: everything fits; the least resources with all 48 weights kept is 12 DSPs (RF 4 + RF 4;
    # RF 8 + RF 2 also makes 12 but takes 14 cycles).
    plan20 = solve_joint_problem(problem, [20], 12)
    assert (plan20.solution.value, plan20.solution.resources.tolist()) == (48.0, [12])
    # The caller's graph is untouched.
    for name, (cfg, kernel) in before.items():
        assert graph.node(name).config == cfg and np.array_equal(graph.node(name).kernel, kernel)


def test_budget_below_the_fastest_and_bad_timing(problem_parts):
    graph, backend, objective = problem_parts
    problem = build_joint_problem(graph, backend, objective, timing)
    # Fastest: Latency at RF 1 for both, 3 + 3 cycles (the input's 0).
    with pytest.raises(ConfigError, match=r"below the fastest assignment's 6 cycles \(in: 0, fc: 3, out: 3\)"):
        solve_joint_problem(problem, [10], 5)
    with pytest.raises(ConfigError, match=r"layer fc: timing latency must be a non-negative whole number"):
        build_joint_problem(graph, backend, objective, lambda n: (1, -1 if n.name == "fc" else 0))
    with pytest.raises(ConfigError, match=r"importances\['fc'\]"):
        build_joint_problem(graph, backend, objective, timing, {"fc": np.ones(3)})
    with pytest.raises(ConfigError, match=r"importances: no weighted layer named 'fc2'"):
        build_joint_problem(graph, backend, objective, timing, {"fc2": np.ones((8, 4))})


def conv_graph(layer_config):
    # Conv2D 3×3×3 → 4 filters on 8×8×3 ("same"): hls4ml's matrix multiply is n_in = 27, n_out = 4
    # (108 weights), configured Resource at RF 9, io_parallel.
    rng = np.random.default_rng(1)
    g = Graph("conv")
    g.add(ir.Input("in", output_shape=(8, 8, 3)))
    g.add(
        ir.Conv2D(
            "conv",
            inputs=["in"],
            input_shapes=[(8, 8, 3)],
            output_shape=(8, 8, 4),
            weights={"kernel": rng.uniform(0.1, 1, (3, 3, 3, 4)).astype(np.float32), "bias": np.zeros(4, np.float32)},
            config=layer_config(9, Strategy.RESOURCE),
            filters=4,
            kernel_size=(3, 3),
            strides=(1, 1),
            padding="same",
        )
    )
    g.inputs, g.outputs = ["in"], ["conv"]
    return g


def conv_timing(node):
    # fake: a 64-pixel image, RF r cycles per pixel plus 5
    if not getattr(node, "has_kernel", False):
        return (1, 0)
    return (node.config.reuse_factor, 64 * node.config.reuse_factor + 5)


def test_convolution_two_resources_and_the_model_io_type(layer_config):
    graph = conv_graph(layer_config)
    backend, objective = get_backend("vivado"), parse_objective("dsp+bram")
    # io_parallel (the graph's): hls4ml builds an io_parallel convolution unrolled only as Resource
    # (vivado_backend.py init_conv2d), which keeps every multiplier: only Latency at RF 1 is left.
    parallel = build_joint_problem(graph, backend, objective, conv_timing)
    assert [o.label for o in parallel.layers[1].options] == [("Latency", 1)]
    # io_stream: unrolled RFs of 27×4 are {3, 9, 27} ∪ {27·k : k | 4} without 1 and 108 → 3, 9, 27, 54.
    problem = build_joint_problem(graph, backend, objective, conv_timing, io_type=IOType.STREAM)
    conv = problem.layers[1]
    assert [o.label for o in conv.options] == [
        ("Latency", 1), ("ResourceUnrolled", 3), ("ResourceUnrolled", 9), ("ResourceUnrolled", 27), ("ResourceUnrolled", 54)
    ]
    assert all(n.config.io_type is IOType.STREAM for n in problem.nodes["conv"])
    # (base DSP, base BRAM, groups, saving per group) from the vivado model:
    #   Latency RF 1: 108 multipliers, no ROM; single weights, 1 DSP each;
    #   RF 3: 36 multipliers; ROM 3 deep × 36·16 = 576 bits wide: 512×36 BRAM18s, ⌈576/36⌉ = 16;
    #         the BRAM grouping (fpga.py bram_consecutive) merges 9 rows (9·16 = 144 bits = 4 × 36):
    #         4 groups of 9 rows × 3 weights, each freeing 9 DSPs and 4 BRAMs;
    #   RF 9: 12 multipliers; ROM 9 deep × 192 bits: ⌈192/36⌉ = 6 BRAMs; no divisor c of the 12 rows
    #         makes 16c bits whole 36-bit columns (or wastes < 20 %) but all 12: one group, (12, 6).
    summary = [(int(o.base[0]), int(o.base[1]), o.n_groups, o.savings.tolist()) for o in conv.options[:3]]
    assert summary == [(108, 0, 108, [1, 0]), (36, 16, 4, [9, 4]), (12, 6, 1, [12, 6])]
    ones = {"conv": np.ones((3, 3, 3, 4), np.float32)}
    problem = build_joint_problem(graph, backend, objective, conv_timing, ones, io_type=IOType.STREAM)
    # Target (12 DSP, 6 BRAM), importance 1 per weight:
    #   RF 9 (581 cycles) keeps all 108 weights in exactly (12, 6);
    #   RF 3 (197 cycles) keeps one 27-weight group, (9, 4); Latency (69 cycles) keeps 12 weights.
    plan = solve_joint_problem(problem, [12, 6], 600)
    assert (plan.solution.value, plan.reuse_factors["conv"], plan.solution.resources.tolist()) == (108.0, 9, [12, 6])
    plan = solve_joint_problem(problem, [12, 6], 500)
    assert (plan.solution.value, plan.reuse_factors["conv"], plan.solution.resources.tolist()) == (27.0, 3, [9, 4])
    assert int(plan.masks["conv"].sum()) == 27
