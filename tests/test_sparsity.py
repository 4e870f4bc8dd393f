"""get_model_sparsity / get_last_layer_with_weights (hls_opt/train/utils.py) on hand-built models."""

import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import keras  # noqa: E402  (after the log level above)

from hls_opt.train.utils import get_last_layer_with_weights, get_model_sparsity  # noqa: E402


def planted_model():
    """Input(6,4) → Conv1D(3, k=2) → Flatten → Dense(5) → Dropout → Dense(2), with planted zeros."""
    inp = keras.Input((6, 4))
    x = keras.layers.Conv1D(3, 2, name="conv")(inp)  # kernel (2, 4, 3) = 24 weights
    x = keras.layers.Flatten(name="flat")(x)  # 5 positions · 3 = 15
    x = keras.layers.Dense(5, name="hidden")(x)  # kernel (15, 5) = 75 weights
    x = keras.layers.Dropout(0.1, name="drop")(x)
    out = keras.layers.Dense(2, name="out")(x)  # kernel (5, 2) = 10 weights
    model = keras.Model(inp, out)
    rng = np.random.default_rng(1)
    for layer in model.layers:
        w = layer.get_weights()
        if w:
            # Non-zero everywhere first (so only the planted zeros count), biases all zero
            # (they must be ignored).
            kernel = rng.uniform(0.5, 1.0, size=w[0].shape).astype("float32")
            layer.set_weights([kernel, np.zeros_like(w[1])])
    conv = model.get_layer("conv")
    k = conv.get_weights()[0]
    k[..., 0] = 0.0  # whole filter 0: 2·4 = 8 zeros of 24
    conv.set_weights([k, conv.get_weights()[1]])
    hidden = model.get_layer("hidden")
    k = hidden.get_weights()[0]
    k[:3, :] = 0.0  # 3 rows · 5 = 15 zeros
    k[10, 4] = 0.0  # +1 = 16 zeros of 75
    hidden.set_weights([k, hidden.get_weights()[1]])
    # "out" keeps 0 zeros of 10.
    return model


def test_planted_zeros_hand_counted():
    model = planted_model()
    overall, per_layer = get_model_sparsity(model)
    # Only the three kernels count (Flatten/Dropout have none; biases ignored although all zero).
    assert set(per_layer) == {"conv", "hidden", "out"}
    assert per_layer["conv"] == pytest.approx(8 / 24)
    assert per_layer["hidden"] == pytest.approx(16 / 75)
    assert per_layer["out"] == 0.0
    # Overall = (8 + 16 + 0) / (24 + 75 + 10) = 24 / 109 (weighted by size, not a mean of layers).
    assert overall == pytest.approx(24 / 109)


def test_model_without_prunable_layers():
    inp = keras.Input((4,))
    model = keras.Model(inp, keras.layers.ReLU()(inp))
    assert get_model_sparsity(model) == (0.0, {})
    # hls4ml's convention: no layer with a kernel → len(model.layers).
    assert get_last_layer_with_weights(model) == len(model.layers)


def test_sequential_and_subclass_layers_count():
    class MyDense(keras.layers.Dense):
        pass

    model = keras.Sequential([keras.Input((3,)), MyDense(2, name="mine"), keras.layers.Dense(1, name="last")])
    mine = model.get_layer("mine")
    mine.set_weights([np.array([[0, 1], [0, 2], [3, 0]], "float32"), np.ones(2, "float32")])
    last = model.get_layer("last")
    last.set_weights([np.array([[1], [1]], "float32"), np.zeros(1, "float32")])
    overall, per_layer = get_model_sparsity(model)
    # mine: 3 zeros of 6; last: 0 of 2 → overall 3/8.
    assert per_layer == {"mine": pytest.approx(0.5), "last": 0.0}
    assert overall == pytest.approx(3 / 8)


def test_last_layer_with_weights_index():
    model = planted_model()
    names = [layer.name for layer in model.layers]
    # Layers: input, conv, flat, hidden, drop, out → "out" is the last with a kernel.
    assert get_last_layer_with_weights(model) == names.index("out")
    seq = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2), keras.layers.Softmax()])
    # Sequential.layers excludes the Input: [Dense, Softmax] → index 0.
    assert get_last_layer_with_weights(seq) == 0


def test_model_untouched():
    model = planted_model()
    before = [w.copy() for w in model.get_weights()]
    get_model_sparsity(model)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_ir_graph_accepted():
    from hls_opt.frontend.keras import from_keras

    model = planted_model()
    assert get_model_sparsity(from_keras(model)) == get_model_sparsity(model)
