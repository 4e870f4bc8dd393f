"""Model reduction (hls_opt/ir/reduce.py, hls_opt/train/reduction.py): smaller layers, same predictions.

Every model is tiny and hand-built; zeros are planted in whole kernel columns / filters with
non-zero biases, so a removal that dropped the bias (as hls4ml's keras-surgeon reduction does)
would change the predictions and fail the equality checks.
"""

import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import keras  # noqa: E402  (after the log level above)

from hls_opt.frontend.keras import from_keras  # noqa: E402
from hls_opt.ir.reduce import activation_function, reduce_graph, removable_units  # noqa: E402
from hls_opt.train.reduction import reduce_model  # noqa: E402

ATOL = 1e-5


def fill(model, seed=0):
    """Random non-zero weights everywhere (BN: realistic statistics), so only planted zeros count."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        new = []
        for w in layer.get_weights():
            values = rng.uniform(0.2, 1.0, size=w.shape) * rng.choice([-1.0, 1.0], size=w.shape)
            new.append(values.astype("float32"))
        if isinstance(layer, keras.layers.BatchNormalization):
            gamma, beta, mean, var = new
            new = [gamma, beta, mean, np.abs(var) + 0.5]
        if new:
            layer.set_weights(new)
    return model


def plant(model, layer_name, units, biases=None):
    """Zero whole output units (Dense columns / conv filters) of a layer; optionally set their biases."""
    layer = model.get_layer(layer_name)
    weights = layer.get_weights()
    weights[0][..., list(units)] = 0.0
    if biases is not None:
        for u, b in zip(units, biases):
            weights[1][u] = b
    layer.set_weights(weights)


def predict(model, x):
    return np.asarray(model(x, training=False))


def kernel_shapes(model):
    return {layer.name: tuple(layer.kernel.shape) for layer in model.layers if hasattr(layer, "kernel")}


def snapshot(model):
    return [w.copy() for w in model.get_weights()], [layer.name for layer in model.layers]


def assert_unchanged(model, snap):
    weights, names = snap
    assert [layer.name for layer in model.layers] == names
    for a, b in zip(weights, model.get_weights()):
        np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------- Dense


def mlp():
    model = keras.Sequential(
        [
            keras.Input((6,)),
            keras.layers.Dense(8, activation="relu", name="d1"),
            keras.layers.Dense(6, activation="sigmoid", name="d2"),
            keras.layers.Dropout(0.5, name="drop"),
            keras.layers.Dense(3, name="out"),
        ]
    )
    fill(model)
    # d1: columns 1, 4, 6 zero; biases +0.7 (relu → 0.7 flows on), −0.3 (relu → 0), +0.2.
    plant(model, "d1", [1, 4, 6], [0.7, -0.3, 0.2])
    # d2: column 2 zero with bias 0.0 → sigmoid(0) = 0.5 is still fed to "out" (must be folded).
    plant(model, "d2", [2], [0.0])
    # out: column 0 zero, but it is the last weighted layer → never reduced.
    plant(model, "out", [0])
    return model


def test_dense_mlp_smaller_and_equal():
    model = mlp()
    snap = snapshot(model)
    x = np.random.default_rng(1).normal(size=(32, 6)).astype("float32")
    expected = predict(model, x)

    reduced = reduce_model(model)

    # d1: 8 − 3 = 5 units; d2 loses 1 unit (6 → 5) and its kernel 3 input rows (8 → 5); "out" keeps
    # its 3 outputs and loses 1 input row (6 → 5).
    assert kernel_shapes(reduced) == {"d1": (6, 5), "d2": (5, 5), "out": (5, 3)}
    assert reduced.get_layer("d1").get_config()["units"] == 5
    assert reduced.get_layer("d2").get_config()["units"] == 5
    assert isinstance(reduced, keras.Sequential)
    np.testing.assert_allclose(predict(reduced, x), expected, atol=ATOL)
    assert_unchanged(model, snap)


def test_dense_fold_is_needed():
    # The same removal without folding the constants (hls4ml/keras-surgeon behaviour) changes the
    # outputs: check that this test set-up would catch a dropped bias.
    graph = from_keras(mlp())
    reduced, removed = reduce_graph(graph)
    assert removed == {"d1": 3, "d2": 1}
    d2_bias_folded = reduced.node("d2").weights["bias"]
    kept_d2 = [0, 1, 3, 4, 5]
    original_d2_bias = graph.node("d2").weights["bias"]
    # d2's bias changed by 0.7·W[1, :] + 0·W[4, :] + 0.2·W[6, :] (the d1 constants after relu).
    w2 = graph.node("d2").kernel
    expected_d2_bias = (original_d2_bias + 0.7 * w2[1] + 0.2 * w2[6])[kept_d2]
    np.testing.assert_allclose(d2_bias_folded, expected_d2_bias, atol=1e-6)
    # out's bias absorbed sigmoid(0) = 0.5 times the removed row.
    w_out = graph.node("out").kernel
    np.testing.assert_allclose(
        reduced.node("out").weights["bias"], graph.node("out").weights["bias"] + 0.5 * w_out[2], atol=1e-6
    )
    assert np.abs(0.5 * w_out[2]).max() > 0.1  # so dropping it would be visible in predictions


def test_input_graph_not_modified():
    graph = from_keras(mlp())
    before = {n.name: {k: v.copy() for k, v in n.weights.items()} for n in graph.nodes()}
    shapes = {n.name: n.output_shape for n in graph.nodes()}
    reduce_graph(graph)
    for n in graph.nodes():
        assert n.output_shape == shapes[n.name]
        for k, v in n.weights.items():
            np.testing.assert_array_equal(v, before[n.name][k])
    assert graph.node("d1").keras_config["units"] == 8  # mlp()'s Dense(8), not the reduced 5


def test_reduced_graph_metadata():
    reduced, _ = reduce_graph(from_keras(mlp()))
    d1 = reduced.node("d1")
    # mlp(): d1 8 − 3 planted columns = 5 units, which d2 (and the Dropout between d2 and out: d2's own
    # 6 − 1 = 5 units) now read; out keeps its 3 outputs (the last weighted layer is never reduced)
    assert d1.units == 5 and d1.keras_config["units"] == 5 and d1.output_shape == (5,)
    assert reduced.node("d2").input_shapes == [(5,)]
    assert reduced.node("drop").output_shape == (5,) and reduced.node("drop").input_shapes == [(5,)]
    assert reduced.node("out").output_shape == (3,)


def test_nothing_removable_keeps_sizes():
    model = fill(
        keras.Sequential(
            [keras.Input((4,)), keras.layers.Dense(5, activation="relu"), keras.layers.Dense(2)]
        ),
        seed=3,
    )
    x = np.random.default_rng(2).normal(size=(8, 4)).astype("float32")
    reduced_graph, removed = reduce_graph(from_keras(model))
    assert removed == {}
    reduced = reduce_model(model)
    assert kernel_shapes(reduced) == kernel_shapes(model)
    np.testing.assert_allclose(predict(reduced, x), predict(model, x), atol=ATOL)


def test_last_layer_never_reduced_even_through_activation():
    inp = keras.Input((4,))
    x = keras.layers.Dense(3, name="last")(inp)
    out = keras.layers.Activation("relu", name="act")(x)
    model = fill(keras.Model(inp, out))
    plant(model, "last", [0, 2])
    _, removed = reduce_graph(from_keras(model))
    assert removed == {}
    assert kernel_shapes(reduce_model(model)) == {"last": (4, 3)}  # Dense(3) on 4 inputs, as built


def test_cascade_unit_fed_only_by_removed_units():
    # d1 unit 0 is all-zero (bias 0.4 after relu); d2 column 1 reads only d1 unit 0 → after the
    # fold it is all-zero too, with a new constant bias, so it is removed as well.
    model = keras.Sequential(
        [
            keras.Input((3,)),
            keras.layers.Dense(4, activation="relu", name="d1"),
            keras.layers.Dense(3, activation="tanh", name="d2"),
            keras.layers.Dense(2, name="out"),
        ]
    )
    fill(model, seed=5)
    plant(model, "d1", [0], [0.4])
    d2 = model.get_layer("d2")
    k, b = d2.get_weights()
    k[1:, 1] = 0.0  # column 1 only reads row 0 (= d1 unit 0)
    d2.set_weights([k, b])
    x = np.random.default_rng(0).normal(size=(16, 3)).astype("float32")
    _, removed = reduce_graph(from_keras(model))
    assert removed == {"d1": 1, "d2": 1}
    reduced = reduce_model(model)
    # d1 4 → 3 units, d2 3 → 2 (3 input rows), out reads d2's 2 outputs
    assert kernel_shapes(reduced) == {"d1": (3, 3), "d2": (3, 2), "out": (2, 2)}
    np.testing.assert_allclose(predict(reduced, x), predict(model, x), atol=ATOL)


def test_consumer_without_bias_gets_one():
    model = keras.Sequential(
        [
            keras.Input((3,)),
            keras.layers.Dense(4, activation="sigmoid", name="d1"),
            keras.layers.Dense(2, use_bias=False, name="out"),
        ]
    )
    fill(model, seed=7)
    plant(model, "d1", [3], [0.0])  # sigmoid(0) = 0.5 reaches "out", which has no bias
    x = np.random.default_rng(0).normal(size=(8, 3)).astype("float32")
    reduced = reduce_model(model)
    out = reduced.get_layer("out")
    assert out.get_config()["use_bias"] and len(out.get_weights()) == 2
    # d1 loses the planted unit 3 (4 → 3 units); out reads 3 inputs and gains a bias for the folded 0.5
    assert kernel_shapes(reduced) == {"d1": (3, 3), "out": (3, 2)}
    np.testing.assert_allclose(predict(reduced, x), predict(model, x), atol=ATOL)


def test_all_units_zero_keeps_one():
    model = keras.Sequential(
        [
            keras.Input((3,)),
            keras.layers.Dense(3, activation="relu", name="d1"),
            keras.layers.Dense(2, name="out"),
        ]
    )
    fill(model, seed=2)
    plant(model, "d1", [0, 1, 2], [0.3, -0.2, 0.1])
    x = np.random.default_rng(0).normal(size=(4, 3)).astype("float32")
    reduced = reduce_model(model)
    # all 3 units of d1 are constants: one is kept (a layer of width 0 cannot be built), out reads it
    assert kernel_shapes(reduced) == {"d1": (3, 1), "out": (1, 2)}
    np.testing.assert_allclose(predict(reduced, x), predict(model, x), atol=ATOL)


# ---------------------------------------------------------------- convolutions


def cnn():
    inp = keras.Input((6, 6, 2))
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(inp)  # → (4, 4, 4)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.Flatten(name="flat")(x)  # 4·4·4 = 64 features, index p·4 + c
    x = keras.layers.Dense(5, activation="relu", name="hidden")(x)
    out = keras.layers.Dense(2, name="out")(x)
    model = fill(keras.Model(inp, out), seed=11)
    # Filters 1 and 3 zero; biases 0.6 (relu → 0.6, then BN of a constant) and −0.5 (relu → 0).
    plant(model, "conv", [1, 3], [0.6, -0.5])
    return model


def test_conv2d_bn_flatten_dense():
    model = cnn()
    snap = snapshot(model)
    x = np.random.default_rng(3).normal(size=(8, 6, 6, 2)).astype("float32")
    expected = predict(model, x)
    graph_before = from_keras(model)
    reduced_graph, removed = reduce_graph(graph_before)
    assert removed == {"conv": 2}  # cnn()'s planted filters 1 and 3
    reduced = reduce_model(model)
    # conv 4 → 2 filters; hidden's 64 rows → 4·4·2 = 32 (rows p·4 + 1 and p·4 + 3 gone).
    assert kernel_shapes(reduced) == {"conv": (3, 3, 2, 2), "hidden": (32, 5), "out": (5, 2)}
    assert [w.shape for w in reduced.get_layer("bn").get_weights()] == [(2,)] * 4
    # The kept hidden rows are exactly the original rows of channels 0 and 2, in order.
    kept_rows = [p * 4 + c for p in range(16) for c in (0, 2)]
    np.testing.assert_array_equal(
        reduced.get_layer("hidden").get_weights()[0], model.get_layer("hidden").get_weights()[0][kept_rows]
    )
    assert reduced_graph.node("flat").output_shape == (32,)  # 4·4 positions × 2 filters left
    np.testing.assert_allclose(predict(reduced, x), expected, atol=ATOL)
    assert_unchanged(model, snap)


def test_conv_into_same_padded_conv_removes_only_zero_constants():
    inp = keras.Input((5, 5, 1))
    x = keras.layers.Conv2D(3, 2, activation="relu", name="c1")(inp)  # → (4, 4, 3)
    x = keras.layers.Conv2D(2, 3, padding="same", name="c2")(x)  # zero-padded borders
    x = keras.layers.MaxPooling2D(2, name="pool")(x)
    x = keras.layers.Flatten(name="flat")(x)
    out = keras.layers.Dense(2, name="out")(x)
    model = fill(keras.Model(inp, out), seed=4)
    # Filter 0: bias −0.4 → relu → 0: removable. Filter 2: bias 0.5 → constant 0.5, which a 'same'
    # convolution sees less of at the borders: it must stay.
    plant(model, "c1", [0, 2], [-0.4, 0.5])
    x_in = np.random.default_rng(0).normal(size=(4, 5, 5, 1)).astype("float32")
    _, removed = reduce_graph(from_keras(model))
    assert removed == {"c1": 1}
    reduced = reduce_model(model)
    # c1 3 → 2 filters, c2 reads 2 channels; out still reads pool's 2·2 positions × c2's 2 filters = 8
    assert kernel_shapes(reduced) == {"c1": (2, 2, 1, 2), "c2": (3, 3, 2, 2), "out": (8, 2)}
    np.testing.assert_allclose(predict(reduced, x_in), predict(model, x_in), atol=ATOL)


def test_conv1d_into_valid_conv1d_and_global_pooling():
    inp = keras.Input((10, 3))
    x = keras.layers.Conv1D(5, 3, activation="elu", name="c1")(inp)  # → (8, 5)
    x = keras.layers.Conv1D(4, 3, name="c2")(x)  # valid: the constant folds into c2's bias
    x = keras.layers.GlobalAveragePooling1D(name="gap")(x)
    out = keras.layers.Dense(2, name="out")(x)
    model = fill(keras.Model(inp, out), seed=9)
    plant(model, "c1", [1, 4], [0.3, -0.6])  # elu(−0.6) = e^−0.6 − 1 ≠ 0: folded too
    plant(model, "c2", [3], [0.25])  # c2 filter 3 → gap → out (Dense): removable
    x_in = np.random.default_rng(0).normal(size=(6, 10, 3)).astype("float32")
    _, removed = reduce_graph(from_keras(model))
    assert removed == {"c1": 2, "c2": 1}
    reduced = reduce_model(model)
    # c1 5 − 2 = 3 filters; c2 reads 3 channels, 4 − 1 = 3 filters; out reads gap's 3 channels
    assert kernel_shapes(reduced) == {"c1": (3, 3, 3), "c2": (3, 3, 3), "out": (3, 2)}
    np.testing.assert_allclose(predict(reduced, x_in), predict(model, x_in), atol=ATOL)


# ---------------------------------------------------------------- what blocks a removal


def test_add_blocks_removal():
    inp = keras.Input((4,))
    a = keras.layers.Dense(3, name="a")(inp)
    b = keras.layers.Dense(3, name="b")(inp)
    s = keras.layers.Add(name="add")([a, b])
    out = keras.layers.Dense(2, name="out")(s)
    model = fill(keras.Model(inp, out))
    plant(model, "a", [0])
    graph = from_keras(model)
    assert removable_units(graph, graph.node("a")).size == 0
    assert reduce_graph(graph)[1] == {}


def test_softmax_blocks_but_elementwise_activation_passes():
    def build(act_layer):
        inp = keras.Input((4,))
        x = keras.layers.Dense(3, name="d")(inp)
        x = act_layer(x)
        out = keras.layers.Dense(2, name="out")(x)
        model = fill(keras.Model(inp, out), seed=1)
        plant(model, "d", [1], [0.8])
        return model

    # Softmax mixes the channels: removing one changes the others.
    assert reduce_graph(from_keras(build(keras.layers.Softmax(name="sm"))))[1] == {}
    for layer in (keras.layers.LeakyReLU(0.1, name="lr"), keras.layers.ReLU(max_value=0.5, name="relu")):
        model = build(layer)
        x = np.random.default_rng(0).normal(size=(5, 4)).astype("float32")
        reduced = reduce_model(model)
        assert kernel_shapes(reduced) == {"d": (4, 2), "out": (2, 2)}  # d's planted unit 1 gone: 3 → 2
        np.testing.assert_allclose(predict(reduced, x), predict(model, x), atol=ATOL)


ELEMENTWISE = ["linear", "relu", "relu6", "sigmoid", "hard_sigmoid", "tanh", "softplus", "softsign"]
ELEMENTWISE += ["elu", "selu", "exponential", "silu", "swish", "hard_silu", "gelu", "mish", "leaky_relu"]


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_numpy_activations_match_keras(name):
    x = np.linspace(-4, 4, 41)
    ours = activation_function(name)(x)
    theirs = np.asarray(keras.activations.get(name)(x.astype("float32")))
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


def test_unknown_activation_is_none():
    assert activation_function("softmax") is None
    assert activation_function("no_such_activation") is None


def test_dense_on_sequence_then_flatten_bn_dense():
    # Dense on a (T, C) input acts per position (a 1×1 convolution); its zero units are channels
    # of a (T, U) map, flattened to rows t·U + u; a BatchNormalization on the flat features sits
    # between Flatten and the consumer, so the folded constant differs per row.
    inp = keras.Input((4, 3))
    x = keras.layers.Conv1D(3, 2, activation="relu", name="c")(inp)  # → (3, 3)
    x = keras.layers.Dense(4, activation="sigmoid", use_bias=False, name="pw")(x)  # → (3, 4)
    x = keras.layers.Flatten(name="flat")(x)  # 12 features, index t·4 + u
    x = keras.layers.BatchNormalization(name="bn")(x)
    out = keras.layers.Dense(2, name="out")(x)
    model = fill(keras.Model(inp, out), seed=21)
    plant(model, "pw", [0, 2])  # no bias: each outputs sigmoid(0) = 0.5 everywhere
    plant(model, "c", [1], [0.9])  # relu(0.9) = 0.9 folded into pw's missing bias
    x_in = np.random.default_rng(0).normal(size=(5, 4, 3)).astype("float32")
    reduced_graph, removed = reduce_graph(from_keras(model))
    assert removed == {"c": 1, "pw": 2}
    assert reduced_graph.node("flat").output_shape == (6,)  # 3 positions · 2 units
    reduced = reduce_model(model)
    assert kernel_shapes(reduced) == {"c": (2, 3, 2), "pw": (2, 2), "out": (6, 2)}
    assert [w.shape for w in reduced.get_layer("bn").get_weights()] == [(6,)] * 4
    assert reduced.get_layer("pw").get_config()["use_bias"]  # gained the folded c-constant
    np.testing.assert_allclose(predict(reduced, x_in), predict(model, x_in), atol=ATOL)


def test_branches_all_resized_or_none():
    # "h" feeds two heads: its zero unit is removed from both consumers' inputs.
    inp = keras.Input((4,))
    h = keras.layers.Dense(5, activation="tanh", name="h")(inp)
    a = keras.layers.Dense(2, name="head_a")(h)
    b = keras.layers.Dense(3, name="head_b")(keras.layers.Dropout(0.2, name="drop")(h))
    model = fill(keras.Model(inp, [a, b]), seed=13)
    plant(model, "h", [2], [0.5])
    x = np.random.default_rng(0).normal(size=(6, 4)).astype("float32")
    reduced = reduce_model(model)
    # h's planted unit 2 goes (5 → 4) from both branches at once; the heads keep their 2 and 3 outputs
    assert kernel_shapes(reduced) == {"h": (4, 4), "head_a": (4, 2), "head_b": (4, 3)}
    for got, want in zip(reduced(x, training=False), model(x, training=False)):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), atol=ATOL)
    # If "h" is also a model output, its width is part of the interface: nothing is removed.
    model2 = fill(keras.Model(inp, [a, h]), seed=13)
    plant(model2, "h", [2], [0.5])
    assert reduce_graph(from_keras(model2))[1] == {}
