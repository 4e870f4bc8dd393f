"""quantized_copy: the fake-quantized copy computes what quantize_array says hls4ml's C++ computes,
trains (straight-through gradient) on every Keras backend, keeps masked weights at exactly 0 and
never touches the caller's model."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from hls_opt.config.values import LayerConfig
from hls_opt.core.precision import parse_fixed_precision, quantize_array
from hls_opt.errors import ConfigError
from hls_opt.train.masking import MaskConstraint
from hls_opt.train.quantize import QuantizedDense, quantize_weights, quantized_copy, set_precisions

P = parse_fixed_precision


def cfg(weight="ap_fixed<8,2>", bias="ap_fixed<8,2>", result="ap_fixed<10,4>", accum="ap_fixed<24,10>", act=None):
    return LayerConfig(weight=P(weight), bias=P(bias), result=P(result), accum=P(accum),
                       activation_result=None if act is None else P(act))


def mlp(seed=0):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([
        keras.Input((6,), name="x"),
        keras.layers.Dense(5, activation="relu", name="d1"),
        keras.layers.Dense(3, name="d2"),
    ])


def reference_dense(h, layer, c):
    """hls4ml's dense_latency in numpy: per-product accum, bias in accum, accum, result, activation."""
    k, b = (np.asarray(w, np.float64) for w in layer.get_weights())
    k = quantize_array(k, c.weight)
    b = quantize_array(quantize_array(b, c.bias), c.accum)
    y = quantize_array(quantize_array(h[:, :, None] * k[None], c.accum).sum(axis=1) + b, c.accum)
    y = quantize_array(y, c.result)
    if layer.activation is keras.activations.relu:
        y = quantize_array(np.maximum(y, 0), c.output)
    return y


CONFIG_SETS = {
    # accum holds every product exactly (10,4 inputs × 8,2 weights: 12 fraction bits ≤ 14)
    "exact accum": {"x": cfg(result="ap_fixed<10,4>"), "d1": cfg(act="ap_fixed<10,4>"), "d2": cfg()},
    # accum narrower than a product (12 fraction bits > 6): each product is truncated, as in hls4ml
    "narrow accum, RND/SAT results": {
        "x": cfg(result="ap_fixed<10,4>"),
        "d1": cfg(accum="ap_fixed<12,6>", result="ap_fixed<8,3,RND,SAT>", act="ap_ufixed<6,3,RND_CONV,SAT>"),
        "d2": cfg(weight="ap_fixed<6,1,RND>", accum="ap_fixed<12,6>", result="ap_fixed<7,3,TRN,SAT_SYM>"),
    },
}


@pytest.mark.backend
@pytest.mark.parametrize("case", sorted(CONFIG_SETS))
def test_forward_equals_the_numpy_reference(case):
    configs = CONFIG_SETS[case]
    model = mlp()
    # wide inputs: overflow (WRAP and SAT) happens in both configurations
    x = np.random.default_rng(1).uniform(-6, 6, (64, 6)).astype(np.float32)
    q = quantized_copy(model, configs)
    h = quantize_array(x, configs["x"].result)
    for layer in model.layers:
        h = reference_dense(h, layer, configs[layer.name])
    got = np.asarray(q.predict(x, verbose=0), np.float64)
    np.testing.assert_array_equal(got, h)
    # the float model computes something else (the test can fail)
    assert not np.array_equal(np.asarray(model.predict(x, verbose=0), np.float64), h)


@pytest.mark.backend
def test_conv2d_forward_equals_the_numpy_reference():
    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.Input((5, 5, 2), name="img"),
                              keras.layers.Conv2D(3, 3, activation="relu", name="c"),
                              keras.layers.Flatten(name="f"), keras.layers.Dense(2, name="d")])
    configs = {"img": cfg(result="ap_fixed<8,3>"), "c": cfg(act="ap_ufixed<8,3>"), "d": cfg(accum="ap_fixed<26,12>")}
    x = np.random.default_rng(2).uniform(-2, 2, (8, 5, 5, 2)).astype(np.float32)
    got = np.asarray(quantized_copy(model, configs).predict(x, verbose=0), np.float64)
    conv, _, dense = model.layers
    k, b = (np.asarray(w, np.float64) for w in conv.get_weights())
    c = configs["c"]
    xq = quantize_array(x, configs["img"].result)
    kq = quantize_array(k, c.weight)
    y = np.zeros((8, 3, 3, 3))
    for i in range(3):
        for j in range(3):
            y[:, i, j, :] = np.einsum("nabc,abcd->nd", xq[:, i:i + 3, j:j + 3, :], kq)
    y = quantize_array(quantize_array(y + quantize_array(quantize_array(b, c.bias), c.accum), c.accum), c.result)
    y = quantize_array(np.maximum(y, 0), c.output).reshape(8, -1)
    expected = reference_dense(y, dense, configs["d"])
    np.testing.assert_array_equal(got, expected)


@pytest.mark.backend
def test_trains_straight_through_and_masks_stay_zero():
    model = mlp()
    before = [w.copy() for w in model.get_weights()]
    mask = np.ones((6, 5), np.float32)
    mask[:, :2] = 0.0  # two neurons pruned
    kernel = model.layers[0].kernel
    kernel.assign(np.asarray(kernel.numpy()) * mask)
    model.layers[0].kernel_constraint = MaskConstraint(mask)
    configs = CONFIG_SETS["exact accum"]
    q = quantized_copy(model, configs)
    q.compile(optimizer=keras.optimizers.SGD(0.1), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(0)
    x, y = rng.uniform(0, 1, (64, 6)).astype(np.float32), rng.integers(0, 3, 64)
    q.fit(x, y, epochs=2, batch_size=16, verbose=0)
    trained = q.get_weights()
    # a straight-through gradient: every unmasked kernel entry moved (rounding alone has gradient 0)
    assert np.all(trained[0][:, 2:] != before[0][:, 2:] * mask[:, 2:])
    # (d2's rows 0 and 1 read the pruned neurons, always 0: no gradient there)
    assert np.all(trained[2][2:] != before[2][2:])
    np.testing.assert_array_equal(trained[2][:2], before[2][:2])
    # pruned weights are exactly 0, and so are their quantized values
    assert np.all(trained[0][:, :2] == 0.0)
    assert np.all(quantize_weights(q)[0][:, :2] == 0.0)
    # the caller's model is untouched: same layers, same weights
    assert [type(layer) for layer in model.layers] == [keras.layers.Dense, keras.layers.Dense]
    np.testing.assert_array_equal(model.get_weights()[2], before[2])


def test_quantized_weights_are_the_hardware_values():
    model = mlp()
    q = quantized_copy(model, CONFIG_SETS["exact accum"])
    w = quantize_weights(q)
    np.testing.assert_array_equal(w[0], quantize_array(model.get_weights()[0], P("ap_fixed<8,2>")))
    assert len(w) == len(model.get_weights())  # the copy adds no weights of its own


def test_set_precisions_changes_widths_in_place():
    model = mlp()
    x = np.random.default_rng(0).uniform(0, 1, (16, 6)).astype(np.float32)
    q = quantized_copy(model, CONFIG_SETS["exact accum"])
    q.predict(x, verbose=0)
    narrower = dict(CONFIG_SETS["exact accum"], d2=cfg(weight="ap_fixed<3,1>"))
    set_precisions(q, narrower)
    fresh = quantized_copy(model, narrower)
    np.testing.assert_array_equal(q.predict(x, verbose=0), fresh.predict(x, verbose=0))
    with pytest.raises(ConfigError, match="d2.weight"):
        set_precisions(q, dict(narrower, d2=cfg(weight="ap_fixed<3,1,RND>")))


def test_saves_and_loads(tmp_path):
    q = quantized_copy(mlp(), CONFIG_SETS["narrow accum, RND/SAT results"])
    x = np.random.default_rng(0).uniform(-3, 3, (16, 6)).astype(np.float32)
    q.save(tmp_path / "q.keras")
    loaded = keras.models.load_model(tmp_path / "q.keras")
    assert isinstance(loaded.layers[0], QuantizedDense)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), q.predict(x, verbose=0))


def test_types_the_quantizers_cannot_reproduce_are_refused_naming_the_field():
    bad = dict(CONFIG_SETS["exact accum"], d1=cfg(result="ap_fixed<10,4,TRN,SAT_ZERO>"))
    with pytest.raises(ConfigError, match="d1.result"):
        quantized_copy(mlp(), bad).predict(np.zeros((1, 6), np.float32), verbose=0)
    with pytest.raises(ConfigError, match="configs\\['d1'\\]"):
        quantized_copy(mlp(), {"d1": "ap_fixed<8,2>"})
