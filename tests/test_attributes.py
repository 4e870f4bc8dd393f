"""hls4ml-compatible attributes (``hls_opt.attributes``), built from the IR."""

from __future__ import annotations

import os

import numpy as np
import pytest

from hls_opt.attributes import (
    SUPPORTED_STRUCTURES,
    LayerAttributes,
    OptimizationAttributes,
    get_attributes_from_keras_model,
    get_attributes_from_keras_model_and_hls4ml_config,
    hls4mlAttributes,
)
from hls_opt.config import config_from_keras_model, save_config
from hls_opt.core.precision import parse_precision
from hls_opt.core.structures import StructureType
from hls_opt.errors import ConfigError
from hls_opt.ir import Conv2D, Dense

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import keras  # noqa: E402  (after the log level above)

P16 = parse_precision("ap_fixed<16,6>")

# -- the value classes (no Keras) ---------------------------------------------------------------


def test_hls4ml_attributes_fields_and_spellings():
    a = hls4mlAttributes(16, 8, "io_parallel", "latency", P16, "ap_fixed<8,3>", 4)
    assert (a.n_in, a.n_out, a.io_type, a.strategy, a.reuse_factor, a.parallelization_factor) == (
        16,
        8,
        "io_parallel",
        "Latency",
        4,
        1,
    )
    assert a.weight_precision.width == 16 and a.output_precision.width == 8
    # Strategies hls4ml's own class rejects (``hls4mlAttributes`` allows only Latency/latency/
    # Resource/resource) are accepted, stored in hls4ml's spelling.
    for spelling, stored in [
        ("Resource", "Resource"),
        ("resource", "Resource"),
        ("ResourceUnrolled", "ResourceUnrolled"),
        ("resource_unrolled", "ResourceUnrolled"),
        ("Unrolled", "ResourceUnrolled"),
        ("RESOURCE", "Resource"),
    ]:
        assert hls4mlAttributes(4, 4, "io_stream", spelling, P16, P16, 2).strategy == stored
    # hls4ml's estimators call strategy.lower() == 'resource' / 'latency'.
    assert hls4mlAttributes(4, 4, "io_stream", "resource", P16, P16, 2).strategy.lower() == "resource"


def test_hls4ml_attributes_accept_hls4ml_precision_objects():
    types = pytest.importorskip("hls4ml.model.types", reason="hls4ml's precision classes as input")
    weight, output = types.FixedPrecisionType(8, 3), types.IntegerPrecisionType(5)
    a = hls4mlAttributes(4, 2, "io_parallel", "Latency", weight, output, 1)
    assert (a.weight_precision.width, a.output_precision.width) == (8, 5)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"strategy": "Fastest"}, "strategy"),
        ({"io_type": "io_serial"}, "io_type"),
        ({"weight_precision": "auto"}, "weight_precision"),
        ({"output_precision": 16}, "output_precision"),
        ({"reuse_factor": 0}, "reuse_factor"),
        ({"n_in": 0}, "n_in"),
    ],
)
def test_hls4ml_attributes_reject_bad_values_naming_the_field(kwargs, field):
    args = dict(
        n_in=4,
        n_out=2,
        io_type="io_parallel",
        strategy="Latency",
        weight_precision=P16,
        output_precision=P16,
        reuse_factor=1,
    )
    args.update(kwargs)
    with pytest.raises(ConfigError, match=field):
        hls4mlAttributes(**args)


def test_optimization_attributes():
    default = OptimizationAttributes()
    assert default.structure_type is StructureType.UNSTRUCTURED and not default.pruning
    assert (default.block_shape, default.pattern_offset, default.consecutive_patterns) == ((1, 1), 1, 1)
    # Enum (under hls4ml's name) or its string value.
    assert SUPPORTED_STRUCTURES is StructureType
    assert OptimizationAttributes(SUPPORTED_STRUCTURES.PATTERN).structure_type is StructureType.PATTERN
    assert OptimizationAttributes("block", True, block_shape=[2, 4]).block_shape == (2, 4)
    with pytest.raises(ConfigError, match="structure_type"):
        OptimizationAttributes("diagonal")
    with pytest.raises(ConfigError, match="block_shape"):
        OptimizationAttributes(block_shape=(1, 2, 3))


def test_layer_attributes_update_args_and_str():
    dense_class = type("Dense", (), {})
    la = LayerAttributes("fc", dense_class, ["x"], (4, 2), (4,), (2,), False, OptimizationAttributes(), {})
    la.update_args({"hls4ml_attributes": 1})
    la.update_args({"other": 2})
    assert la.args == {"hls4ml_attributes": 1, "other": 2} and la.node is None
    text = str(la)
    assert "name: fc" in text and "layer_type: Dense" in text and "weight_shape: (4, 2)" in text


# -- from Keras models --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mlp():
    return keras.Sequential(
        [
            keras.Input((16,), name="x"),
            keras.layers.Dense(8, activation="relu", name="fc1"),
            keras.layers.Dense(4, name="fc2"),
            keras.layers.Activation("softmax", name="act"),
        ],
        name="mlp",
    )


@pytest.fixture(scope="module")
def cnn():
    inp = keras.Input((8, 8, 3), name="img")
    x = keras.layers.Conv2D(6, (3, 3), padding="same", name="conv")(inp)
    x = keras.layers.Flatten(name="flat")(x)
    x = keras.layers.Dense(2, name="fc")(x)
    return keras.Model(inp, x, name="cnn")


def _hls(attrs: LayerAttributes) -> hls4mlAttributes:
    return attrs.args["hls4ml_attributes"]


def test_dense_attributes_with_hls4ml_defaults(mlp):
    attrs = get_attributes_from_keras_model(mlp)
    # hls4ml iterates model.layers: a Sequential does not list its InputLayer.
    assert list(attrs) == ["fc1", "fc2", "act"]
    fc1 = attrs["fc1"]
    # Dense(8) on 16 inputs: kernel (16, 8) → an n_in = 16 by n_out = 8 multiply.
    assert fc1.layer_type.__name__ == "Dense" and fc1.name == "fc1"
    assert (fc1.weight_shape, fc1.input_shape, fc1.output_shape) == ((16, 8), (16,), (8,))
    assert fc1.inbound_layers == ["x"] and attrs["fc2"].inbound_layers == ["fc1"]
    assert fc1.optimizable is False
    assert fc1.optimization_attributes.structure_type is StructureType.UNSTRUCTURED
    h = _hls(fc1)
    # hls4ml's defaults (config_from_keras_model, converter io_type): RF 1, Latency, ap_fixed<16,6>
    # weights and outputs, io_parallel.
    assert (h.n_in, h.n_out, h.reuse_factor, h.strategy, h.io_type) == (16, 8, 1, "Latency", "io_parallel")
    assert (h.weight_precision.width, h.output_precision.width) == (16, 16)
    assert (_hls(attrs["fc2"]).n_in, _hls(attrs["fc2"]).n_out) == (8, 4)
    # Layers without a matrix multiply get no hls4ml attributes (as in hls4ml) and no weights.
    assert attrs["act"].args == {} and attrs["act"].weight_shape == ()
    # hls-opt's IR node rides along with its resolved config.
    assert isinstance(fc1.node, Dense) and fc1.node.config.reuse_factor == 1


def test_conv2d_attributes_count_the_channels(cnn):
    attrs = get_attributes_from_keras_model(cnn)
    # A functional model lists its InputLayer in model.layers, so hls4ml (and we) include it.
    assert list(attrs) == ["img", "conv", "flat", "fc"]
    conv = attrs["conv"]
    # Conv2D(6, 3×3, same) on 8×8×3: kernel (3, 3, 3, 6); n_in = kh·kw·C = 3·3·3 = 27 (hls4ml says
    # 9: ``__get_layer_mult_size`` in its attributes.py omits C), n_out = 6 filters; output 8×8×6.
    assert conv.weight_shape == (3, 3, 3, 6)
    assert (conv.input_shape, conv.output_shape) == ((8, 8, 3), (8, 8, 6))
    assert (_hls(conv).n_in, _hls(conv).n_out) == (27, 6)
    assert isinstance(conv.node, Conv2D) and conv.node.n_pixels == 64
    # Flatten: 8·8·6 = 384 features into fc.
    assert (_hls(attrs["fc"]).n_in, _hls(attrs["fc"]).n_out) == (384, 2)
    assert attrs["img"].inbound_layers == [] and attrs["flat"].inbound_layers == ["conv"]


def test_config_with_model_granularity(mlp):
    # hls-opt's config_from_keras_model: Model.Precision is a dict {'default': ...}, no IOType key.
    cfg = config_from_keras_model(
        mlp, granularity="model", default_precision="ap_fixed<10,4>", default_reuse_factor=4
    )
    attrs = get_attributes_from_keras_model_and_hls4ml_config(mlp, cfg)
    h = _hls(attrs["fc1"])
    assert (h.reuse_factor, h.strategy, h.io_type, h.weight_precision.width, h.output_precision.width) == (
        4,
        "Latency",
        "io_parallel",
        10,
        10,
    )


def test_config_with_type_granularity(mlp):
    cfg = {
        "Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 1, "Strategy": "Latency"},
        "LayerType": {
            "Dense": {"ReuseFactor": 8, "Strategy": "Resource", "Precision": {"weight": "ap_fixed<6,2>"}}
        },
        "IOType": "io_stream",
    }
    attrs = get_attributes_from_keras_model_and_hls4ml_config(mlp, cfg)
    for name in ("fc1", "fc2"):
        h = _hls(attrs[name])
        # weight from LayerType, result falls back to the Model's 16 bits.
        assert (h.reuse_factor, h.strategy, h.io_type) == (8, "Resource", "io_stream")
        assert (h.weight_precision.width, h.output_precision.width) == (6, 16)


def test_config_with_name_granularity_dict_precisions_and_auto(mlp, tmp_path):
    cfg = config_from_keras_model(mlp, granularity="name")  # every per-layer precision is 'auto'
    cfg["LayerName"]["fc2"]["ReuseFactor"] = 2
    cfg["LayerName"]["fc2"]["Strategy"] = "ResourceUnrolled"
    cfg["LayerName"]["fc2"]["Precision"]["weight"] = "ap_fixed<8,3>"
    attrs = get_attributes_from_keras_model_and_hls4ml_config(mlp, cfg)
    # fc1: 'auto' everywhere → Model default fixed<16,6>; hls4ml would raise here
    # ('auto' → UnspecifiedPrecisionType, which ``hls4mlAttributes`` rejects).
    assert (_hls(attrs["fc1"]).weight_precision.width, _hls(attrs["fc1"]).reuse_factor) == (16, 1)
    h2 = _hls(attrs["fc2"])
    assert (h2.weight_precision.width, h2.output_precision.width, h2.reuse_factor, h2.strategy) == (
        8,
        16,
        2,
        "ResourceUnrolled",
    )
    assert attrs["fc2"].node.config.reuse_factor == 2
    # The same config from a YAML file gives the same attributes.
    path = tmp_path / "hls.yml"
    save_config(cfg, path)
    from_file = get_attributes_from_keras_model_and_hls4ml_config(mlp, str(path))
    assert _hls(from_file["fc2"]).reuse_factor == 2 and _hls(from_file["fc2"]).weight_precision.width == 8


def test_conv_config_by_name(cnn):
    cfg = {
        "Model": {"Precision": "ap_fixed<12,4>", "ReuseFactor": 1},
        "LayerName": {"conv": {"ReuseFactor": 9}},
    }
    attrs = get_attributes_from_keras_model_and_hls4ml_config(cnn, cfg)
    conv = _hls(attrs["conv"])
    # n_in = kh·kw·C = 3·3·3 = 27, 6 filters; RF 9 from LayerName.conv; 12 bits from Model's ap_fixed<12,4>
    assert (conv.n_in, conv.n_out, conv.reuse_factor, conv.weight_precision.width) == (27, 6, 9, 12)
    assert _hls(attrs["fc"]).reuse_factor == 1


def test_bad_config_values_name_the_key(mlp):
    with pytest.raises(ConfigError, match="fc1"):
        get_attributes_from_keras_model_and_hls4ml_config(mlp, {"LayerName": {"fc1": {"ReuseFactor": 0}}})
    with pytest.raises(TypeError):
        get_attributes_from_keras_model_and_hls4ml_config(mlp, 42)


def test_an_hls4ml_style_estimator_reads_our_attributes(cnn):
    """The fields hls4ml's VivadoDSPEstimator reads (vivado_objectives.py) have its meaning.

    hls4ml's Latency, RF 1, unstructured resources: one DSP per weight when the weight width is
    ≥ 9 bits, i.e. ∏ weight_shape.  Conv 3·3·3·6 = 162, fc 384·2 = 768.
    """

    def dsp_resources(la):
        h = la.args["hls4ml_attributes"]
        if not la.weight_shape or h.weight_precision.width < 9:
            return [0]
        if h.strategy.lower() == "latency" and h.reuse_factor == 1:
            return [int(np.prod(la.weight_shape))]
        return [int(np.prod(la.weight_shape)) // h.reuse_factor]

    attrs = get_attributes_from_keras_model(cnn)
    optimizable = [
        a for a in attrs.values() if "Dense" in a.layer_type.__name__ or "Conv2D" in a.layer_type.__name__
    ]
    assert [dsp_resources(a) for a in optimizable] == [[162], [768]]


def test_node_config_follows_edits_of_the_hls4ml_attributes(mlp):
    from hls_opt.config import IOType, Strategy

    attrs = get_attributes_from_keras_model(mlp)
    fc1 = attrs["fc1"]
    # hls4ml-style code replaces the hls4ml attributes (e.g. after choosing a reuse factor) …
    replacement = hls4mlAttributes(16, 8, "io_stream", "Resource", "ap_fixed<8,3>", P16, 4)
    fc1.update_args({"hls4ml_attributes": replacement})
    cfg = fc1.node.config
    assert (cfg.reuse_factor, cfg.strategy, cfg.io_type, cfg.weight.width, cfg.result.width) == (
        4,
        Strategy.RESOURCE,
        IOType.STREAM,
        8,
        16,
    )
    # … or edits a field in place; the node (what hls-opt's estimators read) follows either way.
    fc1.args["hls4ml_attributes"].reuse_factor = 2
    assert fc1.node.config.reuse_factor == 2
    # Other layers are untouched.
    assert attrs["fc2"].node.config.reuse_factor == 1


def test_reading_node_does_not_change_a_node_the_caller_passed_in():
    # A hand-built LayerAttributes may wrap the caller's own node (e.g. graph.node('d')); syncing
    # it with args['hls4ml_attributes'] (RF 4 here, the node says 1) must give the attributes a
    # changed copy, not rewrite the caller's node.
    from hls_opt.config import DEFAULT_LAYER_CONFIG

    node = Dense(name="d", weights={"kernel": np.ones((4, 2), np.float32)}, config=DEFAULT_LAYER_CONFIG)
    hls = hls4mlAttributes(4, 2, "io_parallel", "Resource", P16, P16, 4)
    la = LayerAttributes(
        "d", Dense, [], (4, 2), (4,), (2,), False, None, {"hls4ml_attributes": hls}, node=node
    )
    assert la.node.config.reuse_factor == 4 and la.node.config.strategy.value == "Resource"
    assert node.config is DEFAULT_LAYER_CONFIG and node.config.reuse_factor == 1


def test_a_split_activations_result_type_is_the_next_layers_input(mlp):
    # hls4ml splits Dense(activation='relu') 'fc1' into fc1 and fc1_relu, and fc2 multiplies
    # fc1_relu's output.  With fc1_relu's result ap_ufixed<6,0> (7 bits on a signed multiplier
    # port, below the 9-bit DSP threshold) fc2's 8·4 = 32 products are built from LUTs: 0 DSPs,
    # and the DSP objective cannot shrink it.  fc1 reads the 16-bit input: 16·8 = 128 products,
    # one DSP48E2 each.  (fc1's own result, the pre-activation type, stays ap_fixed<16,6>.)
    from hls_opt.cost.tables import estimate_graph
    from hls_opt.frontend import from_keras
    from hls_opt.objectives import get_objective

    config = {
        "Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 1, "Strategy": "Latency"},
        "LayerName": {"fc1_relu": {"Precision": {"result": "ap_ufixed<6,0>"}}},
    }
    est = estimate_graph(from_keras(mlp, config))
    assert (est["fc1"].dsp, est["fc2"].dsp) == (128, 0)
    attrs = get_attributes_from_keras_model_and_hls4ml_config(mlp, config)
    dsp = get_objective("dsp")
    assert dsp.layer_resources(attrs["fc1"]) == [128] and dsp.layer_resources(attrs["fc2"]) == [0]
    assert dsp.is_layer_optimizable(attrs["fc2"])[0] is False


def test_attributes_are_independent_of_the_model(mlp):
    before = [w.copy() for w in mlp.get_weights()]
    config = mlp.get_config()
    attrs = get_attributes_from_keras_model(mlp)
    attrs["fc1"].node.weights["kernel"][:] = 0.0
    attrs["fc1"].optimization_attributes.pruning = True
    assert all(np.array_equal(a, b) for a, b in zip(before, mlp.get_weights()))
    assert mlp.get_config() == config
    again = get_attributes_from_keras_model(mlp)
    assert again["fc1"].optimization_attributes.pruning is False
    assert again["fc1"].node is not attrs["fc1"].node


def test_not_a_keras_model_is_a_type_error():
    with pytest.raises(TypeError):
        get_attributes_from_keras_model("model.h5")
    with pytest.raises(TypeError):
        get_attributes_from_keras_model_and_hls4ml_config(object(), None)


def test_hls4mls_own_structure_enum_is_accepted():
    from enum import Enum

    class HLS4MLStructures(Enum):  # shaped like hls4ml's dsp_aware_pruning.config.SUPPORTED_STRUCTURES
        UNSTRUCTURED = "unstructured"
        PATTERN = "pattern"

    assert OptimizationAttributes(HLS4MLStructures.PATTERN).structure_type is StructureType.PATTERN


def _load_hls4ml_vivado_objectives(monkeypatch):
    """hls4ml's own VivadoDSPEstimator source, run against hls-opt's attribute classes.

    hls4ml's ``dsp_aware_pruning`` package imports keras-tuner and QKeras, so the two estimator
    modules are loaded from their files with their three imports pointing at hls-opt
    (``attributes``, ``config.SUPPORTED_STRUCTURES``) and at hls4ml's own ``objectives`` base.
    """
    import importlib.util
    import sys
    import types

    hls4ml = pytest.importorskip("hls4ml", reason="hls4ml's estimator source is the oracle")
    from pathlib import Path

    import hls_opt.attributes as ours

    root = Path(hls4ml.__file__).parent / "optimization" / "dsp_aware_pruning"
    if not (root / "objectives" / "vivado_objectives.py").exists():
        pytest.skip("this hls4ml has no dsp_aware_pruning objectives")
    pkg = "hls4ml.optimization.dsp_aware_pruning"
    config = types.ModuleType(pkg + ".config")
    config.SUPPORTED_STRUCTURES = ours.SUPPORTED_STRUCTURES
    stubs = [(pkg, types.ModuleType(pkg)), (pkg + ".attributes", ours), (pkg + ".config", config)]
    for name, module in stubs:
        monkeypatch.setitem(sys.modules, name, module)

    def load(name, path):
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        monkeypatch.setitem(sys.modules, name, module)
        spec.loader.exec_module(module)
        return module

    load(pkg + ".objectives", root / "objectives" / "__init__.py")
    return load(pkg + ".objectives.vivado_objectives", root / "objectives" / "vivado_objectives.py")


def test_hls4mls_vivado_dsp_estimator_runs_on_our_attributes(monkeypatch, cnn):
    viv = _load_hls4ml_vivado_objectives(monkeypatch)
    est = viv.VivadoDSPEstimator
    attrs = get_attributes_from_keras_model(cnn)
    conv, fc = attrs["conv"], attrs["fc"]
    # Defaults (Latency, RF 1, 16-bit): optimizable, unstructured pruning, one DSP per weight:
    # conv 3·3·3·6 = 162, fc 384·2 = 768; saving one DSP per pruned weight.
    ok, opt = est.is_layer_optimizable(conv)
    assert ok and opt.structure_type is StructureType.UNSTRUCTURED and opt.pruning
    assert [int(v) for v in est.layer_resources(conv)] == [162]
    assert [int(v) for v in est.layer_resources(fc)] == [768]
    fc.optimization_attributes = opt
    assert est.layer_savings(fc) == [1]
    # Resource, RF 9 on the conv: pattern groups of 162 / 9 = 18 weights, 18 DSPs.
    cfg = {
        "Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 1, "Strategy": "Resource"},
        "LayerName": {"conv": {"ReuseFactor": 9}},
    }
    conv = get_attributes_from_keras_model_and_hls4ml_config(cnn, cfg)["conv"]
    ok, opt = est.is_layer_optimizable(conv)
    assert ok and opt.structure_type is StructureType.PATTERN and opt.pattern_offset == 18
    assert [int(v) for v in est.layer_resources(conv)] == [18]
    conv.optimization_attributes = opt
    # 162 / 18 = 9 patterns = RF → each pruned pattern saves consecutive_patterns = 1 DSP.
    assert [int(v) for v in est.layer_savings(conv)] == [1]
    # 8-bit weights are below the DSP threshold (< 9 bits): not optimizable, no DSPs.
    cfg8 = {"Model": {"Precision": "ap_fixed<8,3>", "ReuseFactor": 1}}
    conv8 = get_attributes_from_keras_model_and_hls4ml_config(cnn, cfg8)["conv"]
    assert est.is_layer_optimizable(conv8) == (False, None)
