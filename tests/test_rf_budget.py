"""Reuse factors under a budget, end to end: a latency / II budget chooses every layer's reuse factor with the pruning.

Parts: the :class:`~hls_opt.solve.rf_problem.JointChooser` on a hand-built graph with the real vivado
timing model against brute force; one-shot ``convert_and_optimize(latency_budget=…)`` in both
``rf_mode``s; infeasible budgets (before any training; CLI exit 2); slow: the CLI with data on an MLP
and an io_stream Conv2D model, and hls4ml converting the emitted config (its reuse factors and the
top function's II pragma against the report).

The vivado timing of the hand-built graph (tests/conftest.py ``dense_graph(8, 4)``: Input(8) → Dense
'fc' 8→4 → Dense 'out' 4→4, ap_fixed<16,6>, one DSP48E2 per multiplier), backends/fpga.py
``kernel_cycles`` with backends/cycles.py's constants (mult 1, ROM read 1, cast 1, 2 adder levels a
cycle):

* Latency RF 1: II 1, latency 0 + mult 1 + tree(n_in + 1 = 9 or 5 terms: 4 or 3 levels → 2) + cast 1 = 4;
* ResourceUnrolled RF r: II r, latency (r − 1) + ROM 1 + mult 1 + tree 2 + cast 1 = r + 4.

So (latency, unpruned DSPs): fc {RF1: (4, 32), 2: (6, 16), 4: (8, 8), 8: (12, 4), 16: (20, 4)};
out {RF1: (4, 16), 2: (6, 8), 4: (8, 4), 8: (12, 4)} (RF > n_in: hls4ml caps the multipliers at n_out,
``unrolled_codegen.py``); the Input node 0 cycles.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os

import numpy as np
import pytest
from hls_opt.passes.dsp_aware_pruning import joint_chooser

from hls_opt.config import Budgets, IOType, Strategy
from hls_opt.cost.objective import parse_objective
from hls_opt.cost.registry import get_backend
from hls_opt.cost.tables import input_precision_of, model_timing, stream_pack
from hls_opt.errors import InfeasibleBudget
from hls_opt.solve.rf_problem import rf_candidates

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

BACKEND = get_backend("vivado")
DSP = parse_objective("dsp")


# -- 1. the chooser against brute force -------------------------------------------------------------


def _timing(graph, node):
    return BACKEND.timing(node, input_pack=stream_pack(graph, node))


def _brute_force(graph, latency_budget, ii_budget=None):
    """Every combination of every node's ``rf_candidates``; the model latency the solver's way (the
    sum over the nodes) → (fewest unpruned DSPs within the budgets, fewest DSPs with every weight
    pruned: the estimate of an all-zero kernel, what hls4ml builds)."""
    per_node = [rf_candidates(BACKEND, n) for n in graph.nodes()]
    best, floor = None, None
    for combo in itertools.product(*per_node):
        times = [_timing(graph, n) for n in combo]
        if sum(t.latency for t in times) > latency_budget:
            continue
        if ii_budget is not None and max(t.ii for t in times) > ii_budget:
            continue
        base = sum(BACKEND.estimate(n, None, input_precision_of(graph, n)).dsp for n in combo)
        empty = sum(
            BACKEND.estimate(n, np.zeros_like(n.kernel) if n.has_kernel else None, input_precision_of(graph, n)).dsp
            for n in combo
        )
        best = base if best is None else min(best, base)
        floor = empty if floor is None else min(floor, empty)
    return best, floor


def _estimate(graph, configs, masks):
    """The vivado estimate (DSPs) of ``graph`` with ``configs`` and kernels ``kernel · mask`` — written
    out here, not through the chooser."""
    total = 0
    for node in graph.nodes():
        if node.name in configs:
            node = dataclasses.replace(node, config=configs[node.name])
        kernel = None
        if node.has_kernel and node.name in masks:
            kernel = np.asarray(node.kernel) * masks[node.name]
        total += BACKEND.estimate(node, kernel, input_precision_of(graph, node)).dsp
    return total


@pytest.mark.parametrize("latency,ii", [(12, None), (16, None), (16, 4), (20, None), (24, None), (24, 8)])
def test_chooser_baseline_and_floor_are_brute_force(dense_graph, latency, ii):
    graph = dense_graph(8, 4, rf=4)
    chooser = joint_chooser(graph, BACKEND, DSP, Budgets(latency_cycles=latency, ii_cycles=ii))
    best, floor = _brute_force(graph, latency, ii)
    assert chooser.baseline.tolist() == [best]
    # every budget here admits an option with RF ≤ n_in for both layers: pruned empty, 0 DSPs
    assert chooser.floor.tolist() == [floor] == [0]


def test_chooser_by_hand(dense_graph):
    graph = dense_graph(8, 4, rf=4)
    before = {n.name: (n.config, np.array(n.kernel)) for n in graph.nodes() if n.has_kernel}
    chooser = joint_chooser(graph, BACKEND, DSP, Budgets(latency_cycles=16))
    # Budget 16 cycles: (fc, out) pairs with latencies summing ≤ 16 — (RF8, RF1) 12 + 4: 4 + 16 = 20
    # DSPs; (RF4, RF4) 8 + 8: 8 + 4 = 12; (RF4, RF2) 8 + 6: 16; (RF2, RF4): 20; (RF1, RF8) 4 + 12: 36.
    # The cheapest unpruned assignment is (RF4, RF4), 12 DSPs.
    assert chooser.baseline.tolist() == [12.0]
    unpruned = chooser.choose({}, 0.0)
    assert {n: c.reuse_factor for n, c in unpruned.configs.items()} == {"fc": 4, "out": 4}
    assert chooser.achieved(unpruned, {}).tolist() == [12.0]

    # Sparsity 0.5: at most ⌊0.5 · 12⌋ = 6 DSPs.  Importance 1 per weight (each layer's shares would
    # weigh the layers; ones count kept weights): within 16 cycles and 6 DSPs the best is fc at RF 8
    # (4 DSPs, all 32 weights; 12 cycles) with out at Latency RF 1 keeping 2 single weights (2 DSPs;
    # 4 cycles): 34 weights.  (RF4, RF4) keeps 6 groups of 4 = 24; (RF2, RF2) 6 groups of 2 = 12.
    ones = {n: np.ones_like(k, dtype=np.float64) for n, (_, k) in before.items()}
    plan = chooser.choose(ones, 0.5)
    assert chooser.target(0.5).tolist() == [6.0]
    assert (plan.solution.value, plan.reuse_factors) == (34.0, {"fc": 8, "out": 1})
    assert {n: plan.configs[n].strategy for n in ("fc", "out")} == {"fc": Strategy.RESOURCE_UNROLLED, "out": Strategy.LATENCY}
    # the 34 kept weights of the comment above: fc at RF 8 keeps all 8·4 = 32, out keeps 2 single weights
    assert int(plan.masks["fc"].sum()) == 32 and int(plan.masks["out"].sum()) == 2
    # achieved = the backend's estimate of the chosen graph with the masks (computed here directly)
    assert chooser.achieved(plan).tolist() == [6.0] == [_estimate(graph, plan.configs, plan.masks)]
    # the solver's summed latency is the model timing the report shows: one pipeline (hls4ml's
    # SetPipelineStyle: a ResourceUnrolled layer, no Resource one → PIPELINE II = the largest RF)
    t = model_timing(chooser.chosen_graph(plan), BACKEND)
    # II = fc's RF 8; latency fc RF 8 (12) + out Latency (4) = 16 cycles (module docstring)
    assert (t.schedule.value, t.ii, t.latency) == ("pipeline", 8, 16)
    assert plan.solution.latency == 16
    # the caller's graph is untouched
    for name, (cfg, kernel) in before.items():
        assert graph.node(name).config == cfg and np.array_equal(graph.node(name).kernel, kernel)


@pytest.mark.parametrize("latency,expected", [(16, 4), (24, 8), (3, None)])
def test_uniform_configs_is_the_largest_single_rf_within_the_budget(dense_graph, latency, expected):
    # The latencies of test_chooser_by_hand: RF 4 for both layers is 8 + 8 = 16 cycles, RF 8 for both
    # 12 + 12 = 24.  So 16 cycles allow RF 4 at most and 24 cycles RF 8 (rf_mode='fixed' also prunes
    # under it, the design a user sweeping one RF would pick).  3 cycles: not even RF 1 (4 + 4).
    graph = dense_graph(8, 4, rf=4)
    chooser = joint_chooser(graph, BACKEND, DSP, Budgets(latency_cycles=max(latency, 16)))
    chooser.latency_budget = latency  # the uniform search alone, below what the chooser was built for
    configs = chooser.uniform_configs()
    if expected is None:
        assert configs is None
        return
    weighted = {n: c for n, c in configs.items() if graph.node(n).has_kernel}
    assert {n: c.reuse_factor for n, c in weighted.items()} == {"fc": expected, "out": expected}
    assert all(c.strategy is Strategy.RESOURCE_UNROLLED for c in weighted.values())
    assert sum(_timing(graph, dataclasses.replace(graph.node(n), config=c)).latency for n, c in weighted.items()) <= latency


@pytest.mark.parametrize("sparsity", [0.0, 0.25, 0.5, 0.75, 0.9, 1.0])
@pytest.mark.parametrize("latency,ii", [(12, None), (16, 4), (24, None)])
def test_choose_keeps_the_target_and_the_budgets(dense_graph, sparsity, latency, ii):
    graph = dense_graph(8, 4, rf=4, seed=3)
    chooser = joint_chooser(graph, BACKEND, DSP, Budgets(latency_cycles=latency, ii_cycles=ii))
    # per-weight importances |w|, each layer's scaled to sum to 1 (JointChooser.importances' rule)
    imp = {n: np.abs(np.asarray(graph.node(n).kernel, np.float64)) for n in ("fc", "out")}
    imp = {n: v / v.sum() for n, v in imp.items()}
    plan = chooser.choose(imp, sparsity)
    achieved = chooser.achieved(plan)
    limit = max(np.floor((1 - sparsity) * chooser.baseline[0] + 1e-9), chooser.floor[0])
    assert achieved[0] <= limit
    assert achieved[0] == _estimate(graph, plan.configs, plan.masks)
    # what the report will show meets the budgets: the model timing of the chosen graph
    t = model_timing(chooser.chosen_graph(plan), BACKEND)
    assert t.latency <= latency and t.latency == plan.solution.latency
    assert ii is None or t.ii <= ii


def _with_input_config(graph, layer_config, rf):
    """The Input node configured as hls4ml configures it: ``Model.ReuseFactor`` (here ``rf``)."""
    node = graph.node("in")
    graph.replace("in", dataclasses.replace(node, config=layer_config(rf, Strategy.LATENCY)))
    return graph


def test_model_reuse_factor_does_not_raise_the_ii(dense_graph, layer_config):
    # hls4ml pipelines the top function at II = the largest reuse_factor of *every* layer
    # (backends/vivado/passes/pipeline_style.py, _maybe_set_pipeline_resource_unrolled_strategy),
    # the Input included, which reads Model.ReuseFactor.  A user Model.ReuseFactor 16 with the chosen
    # RFs ≤ 4 made the model II 16 > the budget 4; under a budget the layers without weights are built
    # at RF 1 (rf_selection.rf_candidates), so the chosen graph's II is the weighted layers'.
    graph = _with_input_config(dense_graph(8, 4, rf=4), layer_config, 16)
    # the chosen RFs with the Input left at 16 (what the flow emitted before): II 16, as hls4ml builds it
    unrolled = graph.copy()
    for name in ("fc", "out"):
        node = unrolled.node(name)
        unrolled.replace(name, dataclasses.replace(node, config=layer_config(4, Strategy.RESOURCE_UNROLLED)))
    assert model_timing(unrolled, BACKEND).ii == 16
    chooser = joint_chooser(graph, BACKEND, DSP, Budgets(latency_cycles=16, ii_cycles=4))
    plan = chooser.choose({}, 0.0)
    assert plan.configs["in"].reuse_factor == 1
    t = model_timing(chooser.chosen_graph(plan), BACKEND)
    # within latency 16 and II 4 the cheapest is (RF4, RF4) (module docstring): II max(1, 4, 4) = 4,
    # latency 0 (Input) + 8 + 8 = 16, the top function pipelined
    assert (t.schedule.value, t.ii, t.latency) == ("pipeline", 4, 16)


def test_io_stream_solver_latency_is_an_upper_bound(dense_graph, layer_config):
    # io_stream: hls4ml's top is DATAFLOW (pipeline_style.py _maybe_set_dataflow_io_stream); a stage
    # starts once its producer's first output is out, so the model latency (hls_opt.cost.timing.compose) is
    # at most the sum of the stage latencies the solver budgets with: the budget is met, pessimistically.
    graph = dense_graph(8, 4, rf=4)
    for node in list(graph.nodes()):
        cfg = node.config if node.config is not None else layer_config(1, Strategy.LATENCY)
        graph.replace(node.name, dataclasses.replace(node, config=dataclasses.replace(cfg, io_type=IOType.STREAM)))
    for budget in (20, 30, 40):
        chooser = joint_chooser(graph, BACKEND, DSP, Budgets(latency_cycles=budget))
        plan = chooser.choose({}, 0.0)
        t = model_timing(chooser.chosen_graph(plan), BACKEND)
        assert t.schedule.value == "dataflow"
        assert t.latency <= plan.solution.latency <= budget
        assert all(c.io_type is IOType.STREAM for c in plan.configs.values())


# -- 2. one-shot convert_and_optimize with a budget -------------------------------------------------


@pytest.fixture(scope="module")
def mlp():
    keras = pytest.importorskip("keras")
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((16,)),
            keras.layers.Dense(16, activation="relu", name="fc1"),
            keras.layers.Dense(8, activation="relu", name="fc2"),
            keras.layers.Dense(4, activation="softmax", name="out"),
        ]
    )
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    return model


WEIGHTED = ("fc1", "fc2", "out")


def _layers(report):
    return {row["name"]: row for row in report["layers"]}


def _check_budget_result(result, latency=None, ii=None):
    report, emitted = result.report, result.hls_config
    rows = _layers(report)
    timing = report["timing"]["after"]
    for name in WEIGHTED:
        entry = emitted["LayerName"][name]
        rf = entry["ReuseFactor"]
        # ResourceUnrolled at RF > 1, Latency at RF 1 (hls4ml turns unrolled at RF 1 into Resource)
        assert entry["Strategy"] == ("ResourceUnrolled" if rf > 1 else "Latency"), name
        assert rows[name]["reuse_factor"] == rf and rows[name]["strategy"] == entry["Strategy"], name
        assert rows[name]["ii"] == rf  # both strategies are pipelined at II = RF (fpga.py kernel_cycles)
        assert rows[name]["latency_cycles"] > 0
    # io_parallel, one pipeline: the model latency is the chain's sum, the II the largest RF
    assert timing["schedule"] == "pipeline"
    assert timing["latency_cycles"] == sum(rows[n]["latency_cycles"] for n in rows)
    assert timing["ii"] == max(rows[n]["ii"] for n in WEIGHTED)
    assert emitted["Model"]["ReuseFactor"] == 1
    budgets = report["budgets"]
    assert budgets["met"] and all(budgets["met"].values())
    if latency is not None:
        assert timing["latency_cycles"] <= latency and budgets["met"]["latency_cycles"]
    if ii is not None:
        assert timing["ii"] <= ii and budgets["met"]["ii_cycles"]
    return rows


@pytest.mark.parametrize("rf_mode", ["fixed", "joint"])
def test_one_shot_budget_sets_every_layers_rf(mlp, rf_mode):
    from hls_opt import convert_and_optimize

    # The fastest model (every layer Latency RF 1): tree(17) 3 + 3 for fc1 and fc2 with relu (+1) …
    # read off the model: check_budgets' bound; 40 cycles is above it and below the all-RF-16 model.
    result = convert_and_optimize(mlp, None, latency_budget=40, rf_mode=rf_mode)
    rows = _check_budget_result(result, latency=40)
    assert result.report["timing"]["after"]["latency_cycles"] == 40  # the budget is used up: fewer DSPs
    assert any(rows[n]["reuse_factor"] > 1 for n in WEIGHTED)


def test_one_shot_ii_budget_with_a_large_model_reuse_factor(mlp):
    from hls_opt import convert_and_optimize

    # Model.ReuseFactor 16: hls4ml gives it to the Input and the split-off activations (fc1_relu …),
    # and pipelines the top at the largest RF of every layer; the emitted config sets it to 1.
    # Model.Strategy Resource: every weighted layer is chosen ResourceUnrolled here, which the emitted
    # Model.Strategy becomes; the Input has no entry of its own and follows it (a Resource input would
    # make hls4ml's top DATAFLOW, pipeline_style.py _maybe_set_dataflow_resource_strategy).
    cfg = {"Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 16, "Strategy": "Resource"}}
    result = convert_and_optimize(mlp, cfg, latency_budget=60, ii_budget=8)
    rows = _check_budget_result(result, latency=60, ii=8)
    assert max(rows[n]["reuse_factor"] for n in WEIGHTED) == 8
    assert result.hls_config["Model"]["Strategy"] == "ResourceUnrolled"
    assert set(result.hls_config["LayerName"]) == set(WEIGHTED)
    first = result.report["layers"][0]  # the Input (Keras numbers its name when others were built)
    assert first["type"] == "Input" and (first["reuse_factor"], first["strategy"]) == (1, "ResourceUnrolled")
    assert cfg["Model"]["ReuseFactor"] == 16  # the caller's config is not changed


def test_without_a_budget_the_users_rfs_are_kept(mlp):
    from hls_opt import convert_and_optimize

    cfg = {"Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 4, "Strategy": "Resource"}}
    result = convert_and_optimize(mlp, cfg)
    rows = _layers(result.report)
    assert {n: rows[n]["reuse_factor"] for n in WEIGHTED} == {n: 4 for n in WEIGHTED}
    assert result.hls_config["Model"]["ReuseFactor"] == 4  # cfg's Model.ReuseFactor, unchanged
    assert result.report.get("budgets") is None  # no budget: nothing chosen
    assert result.plan.configs == {}


# -- 3. infeasible budgets ----------------------------------------------------------------------------


def test_infeasible_budget_fails_before_any_training(mlp, monkeypatch):
    import keras

    from hls_opt import convert_and_optimize

    def no_fit(*args, **kwargs):  # pragma: no cover - reaching it is the failure
        raise AssertionError("fit called before the budget check")

    monkeypatch.setattr(keras.Model, "fit", no_fit)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(32, 16)).astype(np.float32), np.eye(4, dtype=np.float32)[rng.integers(0, 4, 32)]
    with pytest.raises(InfeasibleBudget) as err:
        convert_and_optimize(mlp, None, data=(x, y, x, y), latency_budget=5, epochs=2)
    text = str(err.value)
    # fastest: every layer at RF 1 (Latency) — the same numbers check_budgets' bounds give
    from hls_opt.cost.feasibility import model_bounds
    from hls_opt.frontend.keras import from_keras

    bounds = model_bounds(from_keras(mlp, None), "vivado")
    # three Dense layers at Latency RF 1, ≥ 4 cycles each (mult 1 + adder tree ≥ 1 + cast 1, module
    # docstring), already need ≥ 12 cycles: the budget of 5 cannot be met
    assert bounds.min_latency > 5
    assert f"below the smallest latency the model can reach, {bounds.min_latency} cycles" in text
    assert f"the smallest DSP count it can reach without pruning is {bounds.min_dsp}, every layer at its largest reuse factor" in text
    # A DSP budget on an objective that does not reduce DSPs: the unpruned bound (every layer at its
    # largest RF) is the limit.  (Under objective 'dsp' the budget is a target (docs/cli.md) and the
    # pre-training check is the all-pruned design, tests/test_budget_targets.py.)
    with pytest.raises(InfeasibleBudget, match=r"--dsp-budget: 1 DSPs is below"):
        convert_and_optimize(
            mlp, None, data=(x, y, x, y), objective="bram", ii_budget=1, latency_budget=1000, dsp_budget=1, epochs=2
        )


def test_cli_infeasible_budget_exits_2_with_one_line(mlp, tmp_path, capsys):
    from hls_opt.cli import main

    mlp.save(tmp_path / "model.keras")
    out = tmp_path / "out"
    assert main(["optimize", str(tmp_path / "model.keras"), "--latency-budget", "1", "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("hls-opt: error: --latency-budget: 1 cycles")
    assert "every layer at RF 1" in err[0] and "the smallest DSP count it can reach without pruning is 3," in err[0]
    assert not out.exists()


def test_cli_rf_mode_joint_one_shot_meets_the_budget(mlp, tmp_path):
    # --rf-mode joint without data: one-shot pruning with the RFs re-chosen with the groups; the report
    # says the budget is met and the emitted config carries every weighted layer's RF.
    from hls_opt.cli import main
    from hls_opt.config import load_config

    mlp.save(tmp_path / "model.keras")
    out = tmp_path / "out"
    argv = ["optimize", str(tmp_path / "model.keras"), "--latency-budget", "40", "--rf-mode", "joint", "-q", "-o", str(out)]
    assert main(argv) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["budgets"]["met"] == {"latency_cycles": True} and report["budgets"]["reuse_factors_chosen"]
    assert report["timing"]["after"]["latency_cycles"] <= 40  # the --latency-budget given above
    emitted = load_config(out / "hls_config.yml")
    dense = [row for row in report["layers"] if row["type"] == "Dense"]
    assert len(dense) == sum(1 for layer in mlp.layers if layer.weights)
    for row in dense:
        assert emitted["LayerName"][row["name"]]["ReuseFactor"] == row["reuse_factor"]
    # a mode hls-opt does not know is bad input
    assert main(["optimize", str(tmp_path / "model.keras"), "--rf-mode", "both", "-o", str(tmp_path / "o2")]) == 2


# -- 4./5. slow: the CLI with data, and hls4ml converting the emitted config ---------------------------


def _digits_like(n, shape, classes, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, *shape)).astype(np.float32)
    w = rng.normal(size=(int(np.prod(shape)), classes))
    y = np.eye(classes, dtype=np.float32)[np.argmax(x.reshape(n, -1) @ w, axis=1)]
    return x, y


def _files(root, model, cfg, shape, classes):
    from hls_opt.config import save_config

    model.save(root / "model.keras")
    save_config(cfg, root / "c.yml")
    x, y = _digits_like(256, shape, classes, 0)
    xv, yv = _digits_like(64, shape, classes, 1)
    np.savez(root / "d.npz", X_train=x, y_train=y, X_val=xv, y_val=yv)
    return root


def _cli_run(root, budget):
    from hls_opt.cli import main

    out = root / "out"
    argv = [
        "optimize", str(root / "model.keras"), "--config", str(root / "c.yml"), "--data", str(root / "d.npz"),
        "--optimize", "dsp", "--latency-budget", str(budget), "--epochs", "2", "--rtol", "0.5", "-q", "-o", str(out),
    ]
    assert main(argv) == 0
    report = json.loads((out / "report.json").read_text())
    rows = _layers(report)
    for row in report["layers"]:
        assert {"reuse_factor", "ii", "latency_cycles"} <= set(row), row["name"]
    after = report["timing"]["after"]
    assert isinstance(after["ii"], int) and isinstance(after["latency_cycles"], int)
    assert after["latency_cycles"] <= budget and report["budgets"]["met"]["latency_cycles"]
    return out, report, rows


@pytest.mark.slow
def test_cli_budget_mlp_and_hls4ml_reads_the_emitted_config(mlp, tmp_path):
    import keras

    from hls_opt.config import load_config

    keras.utils.set_random_seed(1)
    model = keras.models.clone_model(mlp)
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    model.fit(*_digits_like(256, (16,), 4, 0), epochs=3, verbose=0)
    cfg = {"Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 16, "Strategy": "Latency"}}
    out, report, rows = _cli_run(_files(tmp_path, model, cfg, (16,), 4), 40)
    assert report["timing"]["after"]["schedule"] == "pipeline"
    emitted = load_config(out / "hls_config.yml")
    for name in WEIGHTED:
        assert emitted["LayerName"][name]["ReuseFactor"] == rows[name]["reuse_factor"]
    _hls4ml_agrees(out, report, emitted, tmp_path / "prj")


@pytest.mark.slow
def test_cli_budget_conv2d_io_stream(tmp_path):
    keras = pytest.importorskip("keras")
    keras.utils.set_random_seed(2)
    model = keras.Sequential(
        [
            keras.Input((6, 6, 2)),
            keras.layers.Conv2D(4, 3, activation="relu", name="conv"),
            keras.layers.Flatten(name="flat"),
            keras.layers.Dense(3, activation="softmax", name="out"),
        ]
    )
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    model.fit(*_digits_like(256, (6, 6, 2), 3, 0), epochs=2, verbose=0)
    cfg = {"Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 1, "Strategy": "Latency"}, "IOType": "io_stream"}
    # io_stream, the vivado timing model per option (latency cycles, unpruned DSPs): conv (4×4 output
    # pixels, 18×4 kernel) Latency RF 1 (46, 72) — the line-buffer loop pipelined — or unrolled, whose
    # kernel runs once per output pixel with no pipeline pragma on the loop (backends/fpga.py
    # weighted_timing): RF 2 (203, 36), 3 (219, 24), 6 (267, 12), 9 (315, 8), …; out (64×3) Latency
    # (29, 192), RF r: (r + 29, 192 / r) for r = 2 … 64.  Budget 300 cycles (the solver sums the
    # stages): conv RF 3 + out RF 32 = 219 + 61 = 280 cycles, 24 + 6 = 30 DSPs, beats conv Latency +
    # out RF 64 (75 DSPs), conv RF 2 + out RF 64 (296 cycles, 39) and conv RF 6 + out RF 2 (298, 108).
    budget = 300
    out, report, rows = _cli_run(_files(tmp_path, model, cfg, (6, 6, 2), 3), budget)
    assert report["timing"]["after"]["schedule"] == "dataflow"
    assert (rows["conv"]["reuse_factor"], rows["out"]["reuse_factor"]) == (3, 32)
    # dataflow: the stages overlap, so the model latency is below the solver's sum of 280
    assert report["timing"]["after"]["latency_cycles"] <= 280
    from hls_opt.config import load_config

    emitted = load_config(out / "hls_config.yml")
    assert emitted["IOType"] == "io_stream"
    for name in ("conv", "out"):
        entry = emitted["LayerName"][name]
        assert entry["ReuseFactor"] == rows[name]["reuse_factor"]
        assert entry["Strategy"] == ("ResourceUnrolled" if entry["ReuseFactor"] > 1 else "Latency")
    _hls4ml_agrees(out, report, emitted, tmp_path / "prj")


def _hls4ml_agrees(out, report, emitted, project):
    """hls4ml (the real client) converts the emitted model + config: each layer's reuse factor in the
    generated project is the emitted one, and the top pragma's II the report's model II."""
    hls4ml = pytest.importorskip("hls4ml")
    import keras
    from hls4ml_project import layer_structs, top_pragma

    model = keras.models.load_model(out / "model.keras")
    hm = hls4ml.converters.convert_from_keras_model(
        model, hls_config=emitted, output_dir=str(project), backend="Vivado", io_type=emitted["IOType"]
    )
    hm.write()
    structs = layer_structs(project)
    rows = _layers(report)
    weighted = [name for name in rows if name in ("fc1", "fc2", "out", "conv")]
    assert weighted and set(weighted) <= set(structs)
    for name in weighted:
        fields = structs[name]
        rf = fields.get("reuse_factor", fields["mult"].get("reuse_factor"))
        assert rf == emitted["LayerName"][name]["ReuseFactor"] == rows[name]["reuse_factor"], name
    style, ii = top_pragma(project)
    after = report["timing"]["after"]
    assert style == after["schedule"]
    if style == "pipeline":
        assert ii == after["ii"]


@pytest.mark.slow
def test_fine_tuned_joint_mode_meets_the_budget(mlp):
    import keras

    from hls_opt import convert_and_optimize

    # rf_mode 'joint' with data: FineTuner re-picks the RFs with the groups at every step
    # (keras/optimize.py _select_jointly); whatever step is kept, its configs are emitted and the
    # report's model timing meets the budget.
    keras.utils.set_random_seed(3)
    model = keras.models.clone_model(mlp)
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    x, y = _digits_like(256, (16,), 4, 0)
    xv, yv = _digits_like(64, (16,), 4, 1)
    model.fit(x, y, epochs=3, verbose=0)
    result = convert_and_optimize(
        model, None, data=(x, y, xv, yv), latency_budget=40, rf_mode="joint", epochs=2, rtol=0.5,
        scheduler="constant:0.25:0.5",
    )
    _check_budget_result(result, latency=40)
    assert set(result.plan.configs) >= set(WEIGHTED)
    assert result.plan.mode == "fine-tuned" and len(result.plan.steps) >= 1
