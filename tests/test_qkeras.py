"""QKeras models (``qkeras-v3``): quantizer types, the DSP model at the quantizers' widths, pruning
that keeps the quantizers, and the real client (hls4ml 1.3) on what comes out.

hls4ml facts used here (paths inside ``github:fastmachinelearning/hls4ml``, v1.3):

* weights: ``QKerasQuantizer._get_type`` (``hls4ml/model/quantizers.py``): ``quantized_bits(b, i)``
  → ``fixed<b, i+1>``; the quantizer's type replaces the config's (``Layer.add_weights_variable``,
  ``hls4ml/model/layers.py``);
* activations: ``_get_precision_from_quantizer`` (``hls4ml/utils/config.py``);
* hls4ml 1.3 reads Keras-3 QKeras layers through its Keras-2 handlers (``v2_call`` in
  ``hls4ml/converters/keras_v3_to_hls.py``), which requires a layer's ``activation`` to be a Python
  function: a QActivation (its activation is a quantizer object) cannot be converted.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

qkeras = pytest.importorskip("qkeras", reason="QKeras is not installed (pip install --no-deps qkeras-v3)")

import keras  # noqa: E402
from qkeras import QActivation, QBatchNormalization, QConv2D, QDense, quantized_bits, quantized_relu  # noqa: E402

from hls_opt.core.precision import Precision, Rounding, Saturation, parse_fixed_precision  # noqa: E402
from hls_opt.core.qkeras import (  # noqa: E402
    UnsupportedQuantizer,
    activation_precision,
    quantized_zeros,
    weight_precision,
)
from hls_opt.cost.tables import estimate_graph  # noqa: E402
from hls_opt.errors import ModelError  # noqa: E402
from hls_opt.frontend.keras import from_keras  # noqa: E402
from hls_opt.ir import nodes as ir  # noqa: E402


def qb(bits, integer=0, **config):
    """A serialized quantized_bits config (what a QDense's get_config() holds)."""
    return {"class_name": "quantized_bits", "config": {"bits": bits, "integer": integer, **config}}


def fx(text):
    return parse_fixed_precision(text)


# --------------------------------------------------------------------------------------------
# quantizer → precision, hand-computed


@pytest.mark.parametrize(
    "quantizer, expected",
    [
        # quantized_bits(6, 0): 6 bits, 0 integer bits + the sign → fixed<6,1>
        (qb(6, 0), "fixed<6,1>"),
        # quantized_bits(8, 3): 3 integer bits + sign → fixed<8,4>
        (qb(8, 3), "fixed<8,4>"),
        # keep_negative=False does not change hls4ml's type (it ignores the field)
        (qb(8, 3, keep_negative=False), "fixed<8,4>"),
        # bits == integer: an integer type of that width
        (qb(4, 4), "int<4>"),
        # 1 bit, 1 integer: hls4ml's XNOR type, an unsigned 1-bit integer
        (qb(1, 1), "uint<1>"),
        ({"class_name": "ternary", "config": {}}, "int<2>"),
        ({"class_name": "binary", "config": {}}, "uint<1>"),
        # a class hls4ml does not know: it prints 'Unsupported quantizer' and uses fixed<16,6>
        ({"class_name": "quantized_ulaw", "config": {"bits": 8}}, "fixed<16,6>"),
    ],
)
def test_weight_precision_by_hand(quantizer, expected):
    assert weight_precision(quantizer) == fx(expected)


def test_weight_precision_of_po2_and_none():
    assert weight_precision(None) is None  # no quantizer: the config's type applies
    with pytest.raises(UnsupportedQuantizer, match="power-of-two"):
        weight_precision({"class_name": "quantized_po2", "config": {"bits": 4}})


@pytest.mark.parametrize(
    "quantizer, expected",
    [
        # quantized_relu(6, 2): integer 2+1 = 3, unsigned (no slope) drops the sign bit → ufixed<6,2>
        ({"class_name": "quantized_relu", "config": {"bits": 6, "integer": 2, "negative_slope": 0.0}},
         Precision(6, 2, signed=False, rounding=Rounding.RND_CONV, saturation=Saturation.SAT)),
        # a leaky quantized_relu keeps the sign: fixed<6,3>
        ({"class_name": "quantized_relu", "config": {"bits": 6, "integer": 2, "negative_slope": 0.25}},
         Precision(6, 3, signed=True, rounding=Rounding.RND_CONV, saturation=Saturation.SAT)),
        # quantized_bits(8, 3) as an activation: fixed<8,4,RND_CONV,SAT>
        (qb(8, 3), Precision(8, 4, rounding=Rounding.RND_CONV, saturation=Saturation.SAT)),
        # quantized_tanh: always 1 integer bit; symmetric → SAT_SYM
        ({"class_name": "quantized_tanh", "config": {"bits": 4, "symmetric": True}},
         Precision(4, 1, rounding=Rounding.RND_CONV, saturation=Saturation.SAT_SYM)),
        # quantized_sigmoid(6): 0 integer bits, unsigned
        ({"class_name": "quantized_sigmoid", "config": {"bits": 6}},
         Precision(6, 0, signed=False, rounding=Rounding.RND_CONV, saturation=Saturation.SAT)),
        # quantized_relu(4, 4): integer 4+1−1 = 4 = bits → no fraction left → uint<4>
        ({"class_name": "quantized_relu", "config": {"bits": 4, "integer": 4, "negative_slope": 0.0}},
         Precision(4, 4, signed=False, is_integer=True)),
        # a plain function (keras relu): no quantizer type, the config decides
        ({"class_name": "relu", "config": {}}, None),
    ],
)
def test_activation_precision_by_hand(quantizer, expected):
    assert activation_precision(quantizer) == expected


def test_quantizer_types_equal_hls4mls_own_functions():
    """The real client as the oracle: hls4ml's own mapping over a grid of quantizers."""
    hls4ml = pytest.importorskip("hls4ml", reason="the hls4ml extra is not installed")
    from hls4ml.model.quantizers import QKerasQuantizer
    from hls4ml.utils.config import _get_precision_from_quantizer

    checked = 0
    for bits in (2, 4, 6, 8, 12, 18):
        for integer in range(0, bits + 1, 2):
            q = quantized_bits(bits, integer, alpha=1)
            cfg = {"class_name": "quantized_bits", "config": q.get_config()}
            theirs = QKerasQuantizer(cfg).hls_type
            assert weight_precision(q) == parse_fixed_precision(str(theirs)), (bits, integer)
            act = _get_precision_from_quantizer(cfg)
            assert activation_precision(q) == parse_fixed_precision(str(act)), (bits, integer)
            relu = quantized_relu(bits, integer)
            act = _get_precision_from_quantizer({"class_name": "quantized_relu", "config": relu.get_config()})
            assert activation_precision(relu) == parse_fixed_precision(str(act)), (bits, integer)
            checked += 1
    assert checked == 31 and hls4ml is not None  # 2+3+4+5+7+10 (bits, integer) pairs


def test_quantized_zeros_follow_qkeras():
    """Which weights the quantizer rounds to 0, against QKeras itself.

    quantized_bits(6, 0): p = x · 2^5 / 2^0 = 32x, rounded half to even → 0 for |x| ≤ 1/64.
    """
    k = np.array([[0.0, 0.015, -0.015625, 0.016], [0.02, -0.05, 0.5, -1e-4]], dtype=np.float32)
    zeros = quantized_zeros(k, qb(6, 0, alpha=None, keep_negative=True))
    # 0.015·32 = 0.48 → 0; −0.015625·32 = −0.5 → −0 (half to even); 0.016·32 = 0.512 → 1; 0.02·32 = 0.64 → 1
    assert zeros.tolist() == [[True, True, True, False], [False, False, False, True]]
    rng = np.random.default_rng(0)
    for bits, integer, keep_negative in [(6, 0, True), (4, 1, True), (8, 2, False), (1, 0, True)]:
        q = quantized_bits(bits, integer, keep_negative=keep_negative, alpha=1)
        w = rng.normal(scale=0.2, size=(40, 9)).astype(np.float32)
        truth = np.asarray(q(w)) == 0
        assert np.array_equal(quantized_zeros(w, q), truth), (bits, integer, keep_negative)
    # alpha='auto' (per-channel scales) is not modelled: the float zeros count
    assert quantized_zeros(k, qb(6, 0, alpha="auto")) is None


# --------------------------------------------------------------------------------------------
# the frontend


def small_qmodel():
    inp = keras.Input((8,), name="x")
    x = QDense(4, kernel_quantizer=quantized_bits(6, 0, alpha=1), bias_quantizer=quantized_bits(6, 0, alpha=1), name="qd1")(inp)
    x = QActivation(quantized_relu(6, 2), name="qa1")(x)
    x = QDense(3, kernel_quantizer=quantized_bits(18, 5, alpha=1), activation=quantized_relu(10, 1), name="qd2")(x)
    x = QBatchNormalization(name="qbn")(x)
    x = QDense(2, kernel_quantizer="quantized_bits(12,3)", name="qd3")(x)
    return keras.Model(inp, x)


def test_frontend_types_from_quantizers_and_config():
    model = small_qmodel()
    cfg = {
        "Model": {"Precision": "fixed<16,6>"},
        # a configured weight type loses to the quantizer (hls4ml add_weights_variable) ...
        "LayerName": {"qd1": {"Precision": {"weight": "fixed<18,8>"}}, "qd3": {"Precision": {"result": "fixed<20,8>"}}},
        # ... LayerType 'Dense' reaches QDense (hls4ml builds it as a Dense)
        "LayerType": {"Dense": {"Precision": {"accum": "fixed<24,10>"}}},
    }
    g = from_keras(model, cfg)
    qd1, qa1, qd2, qbn, qd3 = (g.node(n) for n in ("qd1", "qa1", "qd2", "qbn", "qd3"))
    assert isinstance(qd1, ir.Dense) and isinstance(qa1, ir.Activation) and isinstance(qbn, ir.BatchNormalization)
    assert qd1.config.weight == fx("fixed<6,1>") and qd1.config.bias == fx("fixed<6,1>")
    assert qd1.config.accum == fx("fixed<24,10>")
    assert qa1.activation == "relu"
    assert qa1.config.result == Precision(6, 2, signed=False, rounding=Rounding.RND_CONV, saturation=Saturation.SAT)
    # quantized_bits(18, 5) → fixed<18,6>; no bias quantizer → the config's (Model default)
    assert qd2.config.weight == fx("fixed<18,6>") and qd2.config.bias == fx("fixed<16,6>")
    # its quantized_relu(10, 1) activation: ufixed<10,1> is what the next layer reads
    assert qd2.config.output == Precision(10, 1, signed=False, rounding=Rounding.RND_CONV, saturation=Saturation.SAT)
    # a string quantizer: quantized_bits(12,3) → fixed<12,4>; result from LayerName
    assert qd3.config.weight == fx("fixed<12,4>") and qd3.config.result == fx("fixed<20,8>")
    # a LayerName result for the QActivation beats its quantizer
    g2 = from_keras(model, {"LayerName": {"qa1": {"Precision": {"result": "fixed<9,3>"}}}})
    assert g2.node("qa1").config.result == fx("fixed<9,3>")


def test_po2_weights_stay_opaque_with_a_warning(caplog):
    inp = keras.Input((4,))
    out = QDense(2, kernel_quantizer="quantized_po2(4)", name="p")(inp)
    g = from_keras(keras.Model(inp, out))
    assert isinstance(g.node("p"), ir.Opaque)
    assert "power-of-two" in caplog.text


def test_emitted_model_keeps_quantizers_and_computes_the_same():
    from hls_opt.emit.keras_model import to_keras_model

    model = small_qmodel()
    g = from_keras(model)
    rebuilt = to_keras_model(g)
    for layer in model.layers[1:]:
        twin = rebuilt.get_layer(layer.name)
        assert type(twin) is type(layer)
        for key in ("kernel_quantizer", "bias_quantizer"):
            assert twin.get_config().get(key) == layer.get_config().get(key)
    assert rebuilt.get_layer("qa1").get_config()["activation"].get_config() == quantized_relu(6, 2).get_config()
    x = np.random.default_rng(1).normal(size=(16, 8)).astype("float32")
    np.testing.assert_array_equal(np.asarray(model(x)), np.asarray(rebuilt(x)))


# --------------------------------------------------------------------------------------------
# the DSP model at the quantizers' widths


def qdense_graph(bits, kernel):
    inp = keras.Input((kernel.shape[0],))
    out = QDense(kernel.shape[1], kernel_quantizer=quantized_bits(bits, 0, alpha=1), use_bias=False, name="q")(inp)
    model = keras.Model(inp, out)
    model.get_layer("q").set_weights([kernel])
    return from_keras(model)


def test_dsp_of_a_qdense_at_6_18_and_28_bits():
    """QDense 8 → 4, Latency, RF 1, input fixed<16,6> (hls4ml's default), no zero weights: 32 multipliers.

    * 6-bit weights: the narrower operand has 6 < 9 bits → LUT multipliers, 0 DSP
      (hls4ml's VivadoDSPEstimator rule, docs/resources.md);
    * 18-bit weights: 16 × 18 fits one DSP48E2 (27 × 18) → 32 DSP;
    * 28-bit weights: 16 × 28 needs two DSP48E2 either way round (28 > 27 and 28 > 18) → 64 DSP.
    """
    kernel = np.full((8, 4), 0.25, dtype=np.float32)  # 0.25 is on every grid here: no quantized zeros
    assert estimate_graph(qdense_graph(6, kernel))["q"].dsp == 0
    assert estimate_graph(qdense_graph(6, kernel))["q"].lut > 0  # the multipliers are LUTs
    assert estimate_graph(qdense_graph(18, kernel))["q"].dsp == 32
    assert estimate_graph(qdense_graph(28, kernel))["q"].dsp == 64


def test_weights_the_quantizer_zeroes_cost_nothing():
    """18-bit quantized_bits(18, 0): p = 2^17·x, so |x| ≤ 2^-18 rounds to 0; hls4ml writes those
    weights as 0 and its Latency code folds them.  8 of the 32 weights are 1e-7 → 32 − 8 = 24 DSP."""
    kernel = np.full((8, 4), 0.25, dtype=np.float32)
    kernel[:2, :] = 1e-7
    assert estimate_graph(qdense_graph(18, kernel))["q"].dsp == 24


def test_hls_opt_estimate_on_a_qkeras_file(tmp_path, capsys):
    from hls_opt.cli import main

    model = small_qmodel()
    model.save(tmp_path / "q.keras")
    assert main(["estimate", str(tmp_path / "q.keras"), "--json", "-q"]) == 0
    report = json.loads(capsys.readouterr().out)
    layers = {layer["name"]: layer for layer in report["layers"]}
    # qd1: 6-bit weights → LUTs; qd2: 18-bit weights × qa1's 6-bit ufixed → LUTs;
    # qd3: 12-bit weights × qbn's fixed<16,6>: 3·2 = 6 multipliers, one DSP48E2 each.
    dsp = {n: layers[n]["before"]["dsp"] for n in ("qd1", "qd2", "qd3")}
    assert dsp == {"qd1": 0, "qd2": 0, "qd3": 6}


def test_a_qkeras_file_without_qkeras_is_a_model_error(tmp_path, monkeypatch):
    import builtins

    from hls_opt.flow.inputs import load_model

    small_qmodel().save(tmp_path / "q.keras")
    real_import = builtins.__import__

    def no_qkeras(name, *args, **kwargs):
        if name == "qkeras" or name.startswith("qkeras."):
            raise ImportError("no qkeras")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_qkeras)
    with pytest.raises(ModelError, match="QKeras layers; install QKeras"):
        load_model(str(tmp_path / "q.keras"))


def test_mask_constraint_keeps_the_qkeras_clip():
    from hls_opt.train.masking import MaskConstraint, attach_mask_constraints

    inp = keras.Input((1,))
    out = QDense(2, kernel_quantizer=quantized_bits(6, 0, alpha=1), name="q")(inp)
    model = keras.Model(inp, out)
    clip = model.get_layer("q").kernel.constraint
    assert clip is not None  # QKeras clips the kernel to the quantizer's range, [-1, 1] here
    constraint = attach_mask_constraints(model, ["q"])["q"]
    assert isinstance(model.get_layer("q").kernel.constraint, MaskConstraint) and constraint.inner is clip
    constraint.assign(np.array([[1.0, 0.0]], dtype=np.float32))
    # clip first (2 → 1), then mask (−3 → −1 → 0)
    w = np.asarray(constraint(keras.ops.convert_to_tensor(np.array([[2.0, -3.0]], dtype=np.float32))))
    assert w.tolist() == [[1.0, 0.0]]
    again = MaskConstraint.from_config(constraint.get_config())
    assert type(again.inner) is type(clip)


# --------------------------------------------------------------------------------------------
# pruning keeps the quantizers; the real client


def quantizer_configs(model):
    """``{layer: (class, its quantizer configs)}`` of a model's QKeras layers."""
    out = {}
    for layer in model.layers:
        cfg = layer.get_config()
        qs = {k: v for k, v in cfg.items() if k.endswith("_quantizer")}
        if type(layer).__name__ == "QActivation":
            qs["activation"] = cfg["activation"].get_config()
        if type(layer).__module__.startswith("qkeras"):
            out[layer.name] = (type(layer).__name__, qs)
    return out


def test_one_shot_convert_and_optimize_on_a_qkeras_file_keeps_every_quantizer(tmp_path):
    """No data: one-shot pruning (no training) of a model with QDense, QActivation and
    QBatchNormalization, given as a file path; the output is the same QKeras architecture."""
    import hls_opt

    model = small_qmodel()
    rng = np.random.default_rng(2)
    for name in ("qd1", "qd2", "qd3"):
        layer = model.get_layer(name)
        layer.set_weights([rng.uniform(-0.9, 0.9, size=w.shape).astype("float32") for w in layer.get_weights()])
    model.save(tmp_path / "q.keras")
    cfg = {"Model": {"Precision": "ap_fixed<16,6>", "Strategy": "Resource"}, "LayerName": {"qd3": {"ReuseFactor": 3}}}
    result = hls_opt.convert_and_optimize(str(tmp_path / "q.keras"), cfg, objective="dsp")
    # only qd3 (12-bit weights × 16-bit data) has DSPs: Resource at RF 3, block factor 3·2/3 = 2
    layers = {layer["name"]: layer for layer in result.report["layers"]}
    assert [layers[n]["before"]["dsp"] for n in ("qd1", "qd2", "qd3")] == [0, 0, 2]
    assert layers["qd3"]["after"]["dsp"] < 2
    assert quantizer_configs(result.model) == quantizer_configs(model)
    result.save(tmp_path / "out")
    again = keras.saving.load_model(tmp_path / "out" / "model.keras")
    assert quantizer_configs(again) == quantizer_configs(model)
    x = rng.normal(size=(8, 8)).astype("float32")
    np.testing.assert_allclose(np.asarray(again(x)), np.asarray(result.model(x)), rtol=0, atol=0)


def test_hls4ml_13_cannot_convert_a_qactivation(tmp_path):
    """hls4ml 1.3's Keras-3 converter hands QKeras layers to its Keras-2 handlers (``v2_call`` in
    hls4ml/converters/keras_v3_to_hls.py), which asserts that ``layer.activation`` is a Python
    function; a QActivation's activation is a quantizer object.  (docs/compat.md; if this starts to
    pass, hls4ml fixed it and the docs must say so.)"""
    hls4ml = pytest.importorskip("hls4ml", reason="the hls4ml extra is not installed")
    inp = keras.Input((4,))
    out = QActivation(quantized_relu(6, 2), name="qa")(QDense(3, kernel_quantizer=quantized_bits(8, 2), name="qd")(inp))
    with pytest.raises(AssertionError, match="qa is not a function"):
        hls4ml.converters.convert_from_keras_model(
            keras.Model(inp, out), output_dir=str(tmp_path / "prj"), backend="Vivado"
        )


@pytest.mark.slow
def test_optimize_a_qkeras_file_and_hls4ml_builds_what_we_estimate(tmp_path):
    """``hls-opt optimize`` on a trained QKeras MLP (12-bit quantized_bits(12, 2) weights) →
    files → hls4ml 1.3: the output keeps its quantizers, and hls4ml's unrolled kernels have exactly
    the multipliers we report (16-bit data × 12-bit weights: one DSP48E2 per multiplier).  The
    config asks for ap_fixed<18,8> weights in qd1: hls4ml (and our estimate) use the quantizer's
    fixed<12,3>."""
    hls4ml = pytest.importorskip("hls4ml", reason="the hls4ml extra is not installed")
    from hls4ml_project import unrolled_kernels

    from hls_opt.cli import main
    from hls_opt.config import load_config, save_config
    from hls_opt.data import digits_split

    split = digits_split(seed=0)
    keras.utils.set_random_seed(0)

    def q():
        return quantized_bits(12, 2, alpha=1)

    model = keras.Sequential(
        [
            keras.Input((64,)),
            QDense(16, kernel_quantizer=q(), bias_quantizer=q(), name="qd1"),
            keras.layers.Activation("relu", name="r1"),
            QDense(10, kernel_quantizer=q(), bias_quantizer=q(), name="qd2"),
            keras.layers.Activation("softmax", name="sm"),
        ]
    )
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(split.X_train, split.y_train, epochs=15, batch_size=32, verbose=0)
    model.save(tmp_path / "m.keras")
    cfg = {
        "Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 4, "Strategy": "Resource"},
        "LayerName": {"qd1": {"Precision": {"weight": "ap_fixed<18,8>"}}},
    }
    save_config(cfg, tmp_path / "c.yml")
    np.savez(tmp_path / "d.npz", X_train=split.X_train, y_train=split.y_train, X_val=split.X_val, y_val=split.y_val)
    out = tmp_path / "out"
    args = ["optimize", str(tmp_path / "m.keras"), "--config", str(tmp_path / "c.yml"), "--data", str(tmp_path / "d.npz")]
    args += ["--optimize", "dsp", "--scheduler", "polynomial:2:0.5", "--epochs", "2", "--rtol", "0.95"]
    assert main([*args, "-o", str(out), "-q", "--no-plots"]) == 0

    report = json.loads((out / "report.json").read_text())
    layers = {layer["name"]: layer for layer in report["layers"]}
    # before: Resource RF 4, block factor n_in·n_out/4: qd1 64·16/4 = 256, qd2 16·10/4 = 40
    assert (layers["qd1"]["before"]["dsp"], layers["qd2"]["before"]["dsp"]) == (256, 40)
    assert report["total"]["after"]["dsp"] < report["total"]["before"]["dsp"]
    assert report["final_metric"] >= 0.95 * report["baseline_metric"]
    pruned = keras.saving.load_model(out / "model.keras")
    assert quantizer_configs(pruned) == quantizer_configs(model)
    assert all(isinstance(pruned.get_layer(n), QDense) for n in ("qd1", "qd2"))

    emitted = load_config(out / "hls_config.yml")
    project = tmp_path / "prj"
    hls_model = hls4ml.converters.convert_from_keras_model(
        pruned, hls_config=emitted, io_type=emitted["IOType"], output_dir=str(project), backend="Vivado"
    )
    hls_model.write()
    names = {layer.index: layer.name for layer in hls_model.get_layers()}
    kernels = {names[i]: v for i, v in unrolled_kernels(project).items()}
    for name in ("qd1", "qd2"):
        assert layers[name]["strategy"] == "ResourceUnrolled"
        limit, products = kernels[name]
        assert limit == layers[name]["after"]["dsp"], (name, limit, layers[name]["after"])
        # one product statement per weight hls4ml keeps (quantized non-zero) = our params figure
        assert products == layers[name]["after"]["params"]
        weight_type = str(hls_model.graph[name].weights["weight"].type.precision)
        assert parse_fixed_precision(weight_type) == fx("fixed<12,3>")
    print(f"\nqkeras: hls4ml mul limits { {n: kernels[n][0] for n in ('qd1', 'qd2')} }; report {report['total']}")


def test_hls4ml_counts_the_same_quantized_zeros_for_qconv2d_and_qdense(tmp_path):
    """QConv2D (3×3, 2 → 3 channels) and QDense (48 → 5) with 10-bit quantized_bits(10, 0) weights
    drawn with σ = 0.004: p = 2^9·x rounds to 0 for |x| ≤ 2^-10 ≈ 0.00098, about a fifth of the
    weights, none of which is a float zero.  hls4ml (Latency, RF 1, io_parallel) writes
    ``n_zeros`` into each layer's config struct (firmware/parameters.h) from the quantized weights;
    its multiplier cap is n − n_zeros, and our DSP figure (16-bit data × 10-bit weights: one DSP48E2
    each) must be the same."""
    hls4ml = pytest.importorskip("hls4ml", reason="the hls4ml extra is not installed")
    import re

    rng = np.random.default_rng(0)
    inp = keras.Input((6, 6, 2))
    x = QConv2D(3, (3, 3), kernel_quantizer=quantized_bits(10, 0, alpha=1), name="qc")(inp)
    x = keras.layers.Flatten(name="f")(x)
    out = QDense(5, kernel_quantizer=quantized_bits(10, 0, alpha=1), name="qd")(x)
    model = keras.Model(inp, out)
    for name in ("qc", "qd"):
        layer = model.get_layer(name)
        kernel, bias = layer.get_weights()
        layer.set_weights([rng.normal(scale=0.004, size=kernel.shape).astype("float32"), bias])
    cfg = {"Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 1, "Strategy": "Latency"}}
    hls_model = hls4ml.converters.convert_from_keras_model(
        model, hls_config=cfg, output_dir=str(tmp_path / "prj"), backend="Vivado", io_type="io_parallel"
    )
    hls_model.write()
    text = (tmp_path / "prj" / "firmware" / "parameters.h").read_text()
    structs = {
        m.group(1): dict((k, int(v)) for k, v in re.findall(r"static const unsigned (\w+) = (\d+);", m.group(2)))
        for m in re.finditer(r"struct (config\w+) : nnet::\w+ \{(.*?)\n\};", text, re.S)
    }
    graph = from_keras(model, cfg)
    ours = estimate_graph(graph)
    for name, struct in (("qc", "mult"), ("qd", "")):
        index = hls_model.graph[name].index
        fields = structs[f"config{index}_mult" if struct else f"config{index}"]
        node = graph.node(name)
        assert (fields["n_in"], fields["n_out"]) == (node.n_in, node.n_out)
        assert np.count_nonzero(node.kernel == 0) == 0 < fields["n_zeros"]  # zeros only after quantizing
        assert fields["n_zeros"] == np.count_nonzero(node.built_kernel() == 0)
        assert ours[name].dsp == fields["n_in"] * fields["n_out"] - fields["n_zeros"], name


def test_qconv1d_and_qconv2d_are_convolution_nodes_typed_by_their_quantizers():
    from qkeras import QConv1D

    inp = keras.Input((8, 2))
    out = QConv1D(4, 3, kernel_quantizer=quantized_bits(8, 1, alpha=1), bias_quantizer=quantized_bits(6, 2), name="c1")(inp)
    node = from_keras(keras.Model(inp, out)).node("c1")
    # quantized_bits(8, 1) → fixed<8,2>; quantized_bits(6, 2) → fixed<6,3>; n_in = 3·2, 6 output positions
    assert isinstance(node, ir.Conv1D) and (node.n_in, node.n_out, node.n_pixels) == (6, 4, 6)
    assert (node.config.weight, node.config.bias) == (fx("fixed<8,2>"), fx("fixed<6,3>"))
    inp = keras.Input((5, 5, 3))
    out = QConv2D(2, (2, 2), kernel_quantizer=quantized_bits(4, 0, alpha=1), name="c2")(inp)
    node = from_keras(keras.Model(inp, out)).node("c2")
    # quantized_bits(4, 0) → fixed<4,1> (the sign bit is the integer bit); n_in = 2·2 kernel · 3 channels = 12
    assert isinstance(node, ir.Conv2D) and node.config.weight == fx("fixed<4,1>") and node.n_in == 12


def qkeras_cnn():
    inp = keras.Input((6, 6, 2))
    x = QConv2D(3, (3, 3), kernel_quantizer=quantized_bits(10, 0, alpha=1), bias_quantizer=quantized_bits(8, 2), name="qc")(inp)
    x = keras.layers.Flatten(name="f")(x)
    x = QDense(5, kernel_quantizer=quantized_bits(10, 0, alpha=1), activation="relu", name="qd")(x)
    return keras.Model(inp, QBatchNormalization(name="qbn")(x))


@pytest.mark.parametrize("backend", [None, "Vivado"])
def test_config_from_keras_model_writes_the_quantizer_types_as_hls4ml(backend):
    """Granularity 'name': the same dict as hls4ml's (quantizer types for weight/bias, and
    QBatchNormalization's po2 quantizers → hls4ml's 'Unsupported quantizer' fixed<16,6>).
    Granularity 'type': the same entries, keyed by the class hls4ml reads (``Dense``, not ``QDense``:
    see the next test)."""
    hls4ml = pytest.importorskip("hls4ml", reason="the hls4ml extra is not installed")
    from hls_opt.config import config_from_keras_model

    model = qkeras_cnn()
    ours = config_from_keras_model(model, granularity="name", backend=backend)
    assert ours == hls4ml.utils.config_from_keras_model(model, granularity="name", backend=backend)
    assert ours["LayerName"]["qc"]["Precision"]["weight"] == "fixed<10,1,TRN,WRAP,0>"
    theirs = hls4ml.utils.config_from_keras_model(model, granularity="type", backend=backend)
    renamed = {"QConv2D": "Conv2D", "QDense": "Dense", "QBatchNormalization": "BatchNormalization"}
    theirs["LayerType"] = {renamed.get(k, k): v for k, v in theirs["LayerType"].items()}
    assert config_from_keras_model(model, granularity="type", backend=backend) == theirs


def test_hls4ml_reads_layertype_dense_not_qdense(tmp_path):
    """hls4ml's HLSConfig looks LayerType up by its layer class (``Dense`` for a QDense,
    hls4ml/model/graph.py ``get_reuse_factor`` / ``get_precision``); a ``QDense`` entry — which
    hls4ml's own config_from_keras_model(granularity='type') writes — is never read.  Our
    resolution does the same."""
    hls4ml = pytest.importorskip("hls4ml", reason="the hls4ml extra is not installed")
    inp = keras.Input((8,))
    model = keras.Model(inp, QDense(4, kernel_quantizer=quantized_bits(10, 0, alpha=1), name="qd")(inp))
    for key, rf, result in (("QDense", 1, "fixed<16,6>"), ("Dense", 4, "fixed<20,8>")):
        cfg = {
            "Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 1, "Strategy": "Resource"},
            "LayerType": {key: {"ReuseFactor": 4, "Precision": {"result": "ap_fixed<20,8>"}}},
        }
        hls_model = hls4ml.converters.convert_from_keras_model(
            model, hls_config=cfg, output_dir=str(tmp_path / key), backend="Vivado"
        )
        layer = hls_model.graph["qd"]
        assert layer.get_attr("reuse_factor") == rf
        assert parse_fixed_precision(str(layer.get_output_variable().type.precision)) == fx(result)
        node = from_keras(model, cfg).node("qd")
        assert (node.config.reuse_factor, node.config.result) == (rf, fx(result))
