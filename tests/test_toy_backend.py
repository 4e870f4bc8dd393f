"""A backend developer's view: register one cost model, get estimate, pruning and the report.

The toy accelerator below multiplies two consecutive weights of a neuron (hls4ml's transposed
order) on one multiplier slice, and skips a slice whose two weights are both zero; it costs one
DSP per slice still in use.  Nothing else is written for it — no estimator class, no structure,
no savings formula: hls-opt reads all of that off ``estimate``.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import hls_opt  # noqa: E402
from hls_opt.config import config_from_keras_model  # noqa: E402
from hls_opt.core.structures import StructureType, reuse_group_rows  # noqa: E402
from hls_opt.cost.backend import Backend
from hls_opt.cost.objective import parse_objective  # noqa: E402
from hls_opt.cost.registry import get_backend, register_backend, unregister_backend
from hls_opt.cost.vector import ResourceVector
from hls_opt.flow.report import estimate  # noqa: E402
from hls_opt.frontend.keras import from_keras  # noqa: E402
from hls_opt.ir import nodes as ir  # noqa: E402
from hls_opt.objectives.adapter import objective_for  # noqa: E402
from hls_opt.solve.pruning import build_problem, masked_estimate  # noqa: E402

NAME = "toy-accel"


class ToyBackend(Backend):
    name = NAME


@ToyBackend.model(ir.Dense)
def _dense(backend, node, kernel, input_precision):
    k = np.asarray(node.kernel if kernel is None else kernel)
    slices = reuse_group_rows(k != 0, 2)  # (n/2, 2): the two weights one slice multiplies
    return ResourceVector(dsp=int(slices.any(axis=1).sum()), params=int(np.count_nonzero(k)))


@pytest.fixture
def toy():
    register_backend(ToyBackend)
    yield get_backend(NAME)
    unregister_backend(NAME)


def model_and_config():
    keras.utils.set_random_seed(3)
    model = keras.Sequential(
        [keras.Input((8,)), keras.layers.Dense(4, activation="relu", name="hidden"), keras.layers.Dense(2, name="out")]
    )
    cfg = config_from_keras_model(model, granularity="name", default_reuse_factor=2)
    return model, cfg


def test_estimate_reads_the_registered_model(toy):
    model, cfg = model_and_config()
    report = estimate(from_keras(model, cfg), NAME)
    # hidden: 8·4 = 32 weights → 16 slices; out: 4·2 = 8 weights → 4 slices
    per_layer = {layer["name"]: layer["before"]["dsp"] for layer in report["layers"]}
    assert per_layer["hidden"] == 16 and per_layer["out"] == 4
    assert report["total"]["before"]["dsp"] == 20


def test_the_structure_and_savings_come_from_the_estimate(toy):
    model, cfg = model_and_config()
    problem = build_problem(from_keras(model, cfg), toy, parse_objective("dsp"))
    # One zero weight saves nothing (its slice partner still multiplies); a whole slice (the
    # reuse-factor-2 row) saves one DSP: the finest structure that saves something is PATTERN.
    assert {g.name: (g.structure, g.n_groups, g.savings.tolist()) for g in problem.groups} == {
        "hidden": (StructureType.PATTERN, 16, [1.0]),
        "out": (StructureType.PATTERN, 4, [1.0]),
    }
    assert problem.baseline.tolist() == [20.0]  # 16 + 4 slices, as in test_estimate_reads_the_registered_model


def test_one_shot_optimization_against_the_toy_backend(toy):
    model, cfg = model_and_config()
    result = hls_opt.convert_and_optimize(model, cfg, objective="dsp", backend=NAME, scheduler="polynomial:1:0.5")
    # 20 savable slices, keep ⌊0.5 · 20⌋ = 10: the report's DSPs after are exactly 10
    assert result.report["total"]["before"]["dsp"] == 20
    assert result.report["total"]["after"]["dsp"] == 10
    # the step's achieved DSPs are the backend's estimate of the masked graph
    assert result.report["steps"][0]["achieved"] == {"dsp": 10.0}
    kernel = result.graph.node("hidden").kernel
    assert set(reuse_group_rows(kernel != 0, 2).sum(axis=1)) <= {0, 2}  # whole slices only


@pytest.mark.slow
def test_fine_tuned_optimization_against_the_toy_backend(toy):
    model, cfg = model_and_config()
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 8)).astype("float32")
    y = (X[:, :2] > 0).astype("float32")
    result = hls_opt.convert_and_optimize(
        model,
        cfg,
        data=(X, y, X, y),
        objective="dsp",
        backend=NAME,
        scheduler="polynomial:2:0.5",
        loss="mse",
        epochs=2,
        batch_size=16,
        rtol=0.5,
    )
    graph = result.graph
    masks = {n: (graph.node(n).kernel != 0).astype("float32") for n in ("hidden", "out")}
    after = masked_estimate(graph, toy, parse_objective("dsp"), masks)
    assert result.report["total"]["after"]["dsp"] == int(after[0]) <= 20  # never above the 20-DSP baseline
    for step in result.report["steps"]:
        assert set(step["achieved"]) == {"dsp"}


def test_resource_labels_of_every_objective_name_their_resources():
    # The trainer used to recognise estimators by class-name strings: 'bram' and 'memory' steps
    # were labelled 'resource_0'.  The objective value carries its resources now.
    assert objective_for("bram").resources == ("bram",)
    assert objective_for("memory").resources == ("memory_bits",)
    assert objective_for("VivadoBRAMEstimator").resources == ("bram",)
    assert objective_for("MemoryEstimator").resources == ("memory_bits",)
    from hls_opt.keras.api import resource_names
    from hls_opt.objectives import get_objective

    assert resource_names(get_objective("bram"), 1) == ("bram",)
    assert resource_names(get_objective("memory"), 1) == ("memory_bits",)
    assert resource_names(get_objective("dsp+bram"), 2) == ("dsp", "bram")
