"""Passes: the registry, the frozen PruningPlan, unrolled-rewrite on hand-built graphs, and the
pruning / reduce passes on tiny Keras models."""

from __future__ import annotations

import numpy as np
import pytest
from hls_opt.passes import (
    Pass,
    PassContext,
    PassResult,
    PruningPlan,
    available_passes,
    default_flow,
    get_pass,
    register_pass,
    run_flow,
    unregister_pass,
)
from hls_opt.passes.dsp_aware_pruning import write_plan
from hls_opt.passes.plan import PLAN_KEY

from hls_opt.config import IOType, Strategy
from hls_opt.core.precision import parse_precision
from hls_opt.core.structures import group_ids, zero_reuse_groups
from hls_opt.cost.objective import parse_objective
from hls_opt.errors import ModelError, RegistryError
from hls_opt.ir import nodes as ir
from hls_opt.ir.graph import Graph

P16 = parse_precision("ap_fixed<16,6>")


# ----------------------------------------------------------------------------------------------
# registry


def test_builtin_passes_are_registered_under_kebab_case_names():
    assert {"dsp-aware-pruning", "unrolled-rewrite", "reduce"} <= set(available_passes())
    assert get_pass("unrolled-rewrite").name == "unrolled-rewrite"


def test_unknown_pass_name_lists_the_known_ones():
    with pytest.raises(RegistryError, match="unknown.*unrolled-rewrite"):
        get_pass("unroled-rewrite")


def test_registering_a_clashing_or_badly_named_pass_fails():
    class Clash(Pass):
        name = "reduce"

    with pytest.raises(RegistryError, match="already registered"):
        register_pass(Clash)

    class BadName(Pass):
        name = "Bad_Name"

    with pytest.raises(RegistryError, match="kebab-case"):
        register_pass(BadName)


def test_run_flow_checks_every_name_before_running_any_pass():
    calls = []

    @register_pass
    class Recorder(Pass):
        name = "test-recorder"

        def apply(self, graph):
            calls.append(graph)
            return PassResult(True, ("seen",))

    @register_pass
    class Boolean(Pass):
        name = "test-boolean"

        def apply(self, graph):
            return True  # not a PassResult

    try:
        with pytest.raises(RegistryError):
            run_flow("graph", ["test-recorder", "no-such-pass"], PassContext())
        assert calls == []  # the typo was caught before the first pass ran
        assert run_flow("graph", ["test-recorder", "test-recorder"], PassContext()) == [
            ("test-recorder", PassResult(True, ("seen",))),
            ("test-recorder", PassResult(True, ("seen",))),
        ]
        assert calls == ["graph", "graph"]
        with pytest.raises(TypeError, match="'test-boolean' returned bool, not a PassResult"):
            run_flow("graph", ["test-boolean"], PassContext())
    finally:
        unregister_pass("test-recorder")
        unregister_pass("test-boolean")


def test_default_flow_reduces_only_for_flops():
    assert default_flow("dsp") == ["dsp-aware-pruning", "unrolled-rewrite"]
    assert default_flow(["dsp", "bram"]) == ["dsp-aware-pruning", "unrolled-rewrite"]
    assert default_flow("flops")[-1] == "reduce"


# ----------------------------------------------------------------------------------------------
# PruningPlan


def test_pruning_plan_is_immutable_and_independent_of_its_inputs():
    mask = np.ones((4, 2), np.float32)
    mask[0, 0] = 0
    plan = PruningPlan(
        objective="dsp", mode="one-shot", target=0.5, masks={"fc": mask}, steps=[{"target": 0.5}]
    )
    mask[1, 1] = 0  # changing the producer's array afterwards must not change the plan
    assert plan.masks["fc"][1, 1] == 1
    with pytest.raises(ValueError):
        plan.masks["fc"][0, 1] = 0  # read-only array
    with pytest.raises(TypeError):
        plan.masks["other"] = mask  # read-only mapping
    with pytest.raises(AttributeError):
        plan.mode = "fine-tuned"  # frozen dataclass
    assert plan.pruned_layers() == ("fc",)
    assert plan.layer_sparsity("fc") == pytest.approx(1 / 8)  # one of 8 weights
    assert plan.layer_sparsity("missing") == 0.0


# ----------------------------------------------------------------------------------------------
# unrolled-rewrite


def pattern_mask(kernel_shape, rf, pruned_groups):
    ids, n = group_ids(kernel_shape, "pattern", reuse_factor=rf)
    keep = np.ones(n, np.float32)
    keep[list(pruned_groups)] = 0
    return keep[ids]


def planned(g, plan):
    """What dsp-aware-pruning leaves: the plan's weights written, the plan on the graph."""
    changed = write_plan(g, plan)
    g.annotations[PLAN_KEY] = plan
    return changed


def rewrite(g, plan=None):
    if plan is not None:
        planned(g, plan)
    return get_pass("unrolled-rewrite")(PassContext()).apply(g)


def test_unrolled_rewrite_zeroes_whole_reuse_groups_and_sets_resource_unrolled(dense_graph, layer_config):
    g = dense_graph(16, 8, rf=4)
    # Dense 16→8 at RF 4: 128/4 = 32 reuse groups (multipliers); prune the even ones (16 groups).
    mask = pattern_mask((16, 8), 4, range(0, 32, 2))
    plan = PruningPlan(objective="dsp", mode="one-shot", target=0.5, masks={"fc": mask})
    result = rewrite(g, plan)
    assert result.changed is True
    fc = g.node("fc")
    assert np.all(fc.kernel[mask == 0] == 0) and np.all(fc.kernel[mask == 1] != 0)
    assert zero_reuse_groups(fc.kernel, 4) == 16  # 32 − 16 multipliers left in hls4ml's unrolled code
    assert fc.config.strategy is Strategy.RESOURCE_UNROLLED and fc.config.reuse_factor == 4
    # 'out' had no mask: weights and config untouched, not rewritten.
    assert g.node("out").config == layer_config(4, Strategy.RESOURCE)
    assert result.notes == ("fc: 16 of 32 reuse groups all zero",)  # no convolution: no io_stream note
    assert all(n.config.io_type is not IOType.STREAM for n in g.nodes() if n.config is not None)


def test_unrolled_rewrite_keeps_latency_for_reuse_factor_one(dense_graph):
    # hls4ml turns unrolled with RF 1 into Resource (zeros save nothing); Latency folds zeros.
    g = dense_graph(16, 8, rf=1, strategy=Strategy.RESOURCE)
    mask = np.ones((16, 8), np.float32)
    mask[:3] = 0
    rewrite(g, PruningPlan(objective="dsp", mode="one-shot", target=0.2, masks={"fc": mask}))
    fc = g.node("fc")
    assert fc.config.strategy is Strategy.LATENCY and fc.config.reuse_factor == 1
    assert np.count_nonzero(fc.kernel) == 128 - 24  # 16·8 weights, the 3 masked rows × 8 = 24 zeroed


def test_unrolled_rewrite_snaps_an_invalid_reuse_factor(dense_graph):
    # Dense 16→8: valid RFs {1,2,4,8,16} ∪ {16·k : k | 8} = {1,2,4,8,16,32,64,128}; RF 5 → 4
    # (|4−5| = 1 < |8−5| = 3).
    g = dense_graph(16, 8, rf=5)
    mask = np.ones((16, 8), np.float32)
    mask[0] = 0
    rewrite(g, PruningPlan(objective="dsp", mode="one-shot", target=0.1, masks={"fc": mask}))
    cfg = g.node("fc").config
    assert cfg.strategy is Strategy.RESOURCE_UNROLLED and cfg.reuse_factor == 4


def test_the_plan_writes_fine_tuned_weights_to_every_layer_and_nothing_pruned_is_rewritten(dense_graph):
    g = dense_graph(16, 8, rf=4)
    configs = {n.name: n.config for n in g.nodes()}
    new_out = np.full((8, 4), 0.5, np.float32)
    plan = PruningPlan(
        objective="dsp", mode="fine-tuned", target=0.0, masks={}, weights={"out": {"kernel": new_out}}
    )
    assert planned(g, plan) is True
    assert np.array_equal(g.node("out").kernel, new_out)
    # weights changed but nothing pruned: the rewrite changes nothing, configs stay the user's
    assert rewrite(g).changed is False
    assert {n.name: n.config for n in g.nodes()} == configs


def test_unrolled_rewrite_writes_shared_weights_at_their_offset(dense_graph):
    # The plan's rule (MaskConstraint): kernel · mask + offset.  Neuron 0 of 'fc' is shared at
    # 0.25 (mask 0, offset 0.25); neuron 1 is pruned (mask 0, offset 0); the rest are kept.
    g = dense_graph(16, 8, rf=1)
    kept = g.node("fc").kernel.copy()
    mask = np.ones((16, 8), np.float32)
    mask[:, :2] = 0
    offset = np.zeros((16, 8), np.float32)
    offset[:, 0] = 0.25
    plan = PruningPlan(
        objective="dsp", mode="one-shot", target=0.1, masks={"fc": mask}, offsets={"fc": offset}
    )
    rewrite(g, plan)
    fc = g.node("fc").kernel
    np.testing.assert_array_equal(fc[:, 0], 0.25)
    np.testing.assert_array_equal(fc[:, 1], 0.0)
    np.testing.assert_array_equal(fc[:, 2:], kept[:, 2:])


def test_unrolled_rewrite_names_the_layer_of_a_mask_that_does_not_fit(dense_graph):
    g = dense_graph(16, 8, rf=4)
    plan = PruningPlan(objective="dsp", mode="one-shot", target=0.5, masks={"fc": np.ones((8, 16))})
    with pytest.raises(ModelError, match="fc: mask shape"):
        planned(g, plan)


def test_unrolled_rewrite_without_a_plan_changes_nothing(dense_graph):
    g = dense_graph()
    before = g.node("fc").kernel.copy()
    assert rewrite(g) == PassResult(False)
    assert np.array_equal(g.node("fc").kernel, before)


def test_unrolled_rewrite_switches_to_io_stream_for_a_rewritten_convolution(layer_config):
    rng = np.random.default_rng(1)
    g = Graph("conv")
    g.add(ir.Input("in", output_shape=(8, 8, 3)))
    kernel = rng.uniform(0.1, 1, size=(3, 3, 3, 4)).astype(np.float32)
    g.add(
        ir.Conv2D(
            "conv",
            inputs=["in"],
            input_shapes=[(8, 8, 3)],
            output_shape=(8, 8, 4),
            weights={"kernel": kernel, "bias": np.zeros(4, np.float32)},
            config=layer_config(9, Strategy.RESOURCE),
            filters=4,
            kernel_size=(3, 3),
            strides=(1, 1),
            padding="same",
        )
    )
    g.inputs, g.outputs = ["in"], ["conv"]
    # Conv2D 3×3×3→4 at RF 9: 108/9 = 12 reuse groups; prune 3 (hls4ml's pattern groups,
    # dsp_aware_pruning/keras/masking.py).
    mask = pattern_mask((3, 3, 3, 4), 9, [0, 5, 11])
    result = rewrite(g, PruningPlan(objective="dsp", mode="one-shot", target=0.25, masks={"conv": mask}))
    conv = g.node("conv")
    assert conv.config.strategy is Strategy.RESOURCE_UNROLLED and conv.config.reuse_factor == 9
    assert zero_reuse_groups(conv.kernel, 9) == 3
    assert "io_stream: a rewritten convolution needs it for the unrolled strategy" in result.notes
    assert conv.config.io_type is IOType.STREAM


# ----------------------------------------------------------------------------------------------
# dsp-aware-pruning and reduce on a tiny Keras model


def tiny_model():
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((16,)),
            keras.layers.Dense(8, activation="relu", name="fc"),
            keras.layers.Dense(4, name="out"),
        ]
    )
    return model


def resource_config(rf=4):
    return {
        "Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": rf, "Strategy": "Resource"},
        "LayerName": {"fc": {"ReuseFactor": rf}, "out": {"ReuseFactor": 2}},
    }


def test_dsp_aware_pruning_one_shot_produces_a_plan_of_whole_reuse_groups():
    from hls_opt.frontend.keras import from_keras

    model = tiny_model()
    cfg = resource_config()
    graph = from_keras(model, cfg)
    from hls_opt.train.schedulers import PolynomialScheduler

    ctx = PassContext(objective=parse_objective("dsp"), scheduler=PolynomialScheduler(2, final_sparsity=0.5))
    kernel_before = graph.node("fc").kernel.copy()
    result = get_pass("dsp-aware-pruning")(ctx).apply(graph)
    assert result.changed is True
    plan = graph.annotations[PLAN_KEY]
    # no data → one-shot straight to the scheduler's final sparsity 0.5, a single step
    assert plan.mode == "one-shot" and plan.target == 0.5 and len(plan.steps) == 1
    # the pass wrote the masked kernel (configs are the rewrite's business)
    np.testing.assert_array_equal(graph.node("fc").kernel, kernel_before * plan.masks["fc"])
    assert graph.node("fc").config.strategy is Strategy.RESOURCE
    # Every reuse group (RF 4 for fc) is entirely kept or entirely pruned.
    rows = (
        plan.masks["fc"].reshape(-1)[
            np.argsort(group_ids((16, 8), "pattern", reuse_factor=4)[0].reshape(-1), kind="stable")
        ]
    ).reshape(-1, 4)
    assert set(rows.sum(axis=1)) <= {0.0, 4.0}  # a row of RF 4 weights: all 4 kept or none


@pytest.mark.slow
def test_reduce_pass_removes_a_dead_neuron_and_keeps_reuse_factors_valid():
    from hls_opt.frontend.keras import from_keras

    model = tiny_model()
    weights = model.get_layer("fc").get_weights()
    weights[0][:, 3] = 0  # neuron 3 of fc never fires beyond its bias
    model.get_layer("fc").set_weights(weights)
    graph = from_keras(model, resource_config(rf=4))
    result = get_pass("reduce")(PassContext()).apply(graph)
    assert result.changed is True and result.notes == ("fc: 1 neurons/filters removed",)
    # fc 16→8 loses neuron 3: 16×7, and out (8→4) loses the matching input row: 7×4
    assert graph.node("fc").kernel.shape == (16, 7) and graph.node("out").kernel.shape == (7, 4)
    # fc: 16×7, RF 4 valid (4 | 16). out: 7×4 (Resource) at RF 2 is invalid. hls4ml's rule
    # (hls4ml/backends/fpga/fpga_backend.py, FPGABackend._validate_reuse_factor, applied to Resource
    # Dense layers by VivadoBackend.init_dense through set_closest_reuse_factor) gives the valid RFs of
    # n_in=7, n_out=4 as [1, 7, 14, 28]: RF 2 fails ceil(28/2)=14 % 4 == 0 with 2 < 7. The nearest is 1
    # (|1-2| = 1 < |7-2| = 5; get_closest_reuse_factor, ties to the smaller), so RF 1, not 7.
    assert graph.node("fc").config.reuse_factor == 4
    assert graph.node("out").config.reuse_factor == 1


def test_a_scheduler_without_final_sparsity_is_a_config_error():
    from hls_opt.passes.dsp_aware_pruning import final_sparsity

    from hls_opt.errors import ConfigError

    with pytest.raises(ConfigError, match="scheduler object: has no final_sparsity"):
        final_sparsity(object())


def test_objectives_resolve_from_names_lists_and_classes():
    from hls_opt.backends.vivado.objectives import VivadoDSPEstimator

    from hls_opt.cost.objective import BUILTIN_OBJECTIVES
    from hls_opt.objectives.adapter import EstimatorObjective, objective_for

    dsp = BUILTIN_OBJECTIVES["dsp"]
    # names, one-element lists, hls-opt's estimator classes and their class names: the native value
    assert objective_for("dsp") is dsp and objective_for(["dsp"]) is dsp
    assert objective_for(VivadoDSPEstimator) == dsp and objective_for("VivadoDSPEstimator") == dsp
    # Comma lists in either order name the registered combination.
    both = BUILTIN_OBJECTIVES["dsp+bram"]
    assert objective_for(["bram", "dsp"]) is both and objective_for("bram,dsp") is both
    assert both.resources == ("dsp", "bram") and both.label == "dsp+bram"
    with pytest.raises(RegistryError, match="dsp\\+ff"):
        objective_for(["dsp", "ff"])
    with pytest.raises(RegistryError, match="names"):
        objective_for([VivadoDSPEstimator, VivadoDSPEstimator])

    class Mine:  # a user's hls4ml-style estimator: adapted once, at the edge
        @classmethod
        def is_layer_optimizable(cls, a):
            return False, None

        @classmethod
        def layer_resources(cls, a):
            return [0]

        @classmethod
        def layer_savings(cls, a):
            return [0]

    adapted = objective_for(Mine)
    assert isinstance(adapted, EstimatorObjective) and adapted.label == "Mine"
