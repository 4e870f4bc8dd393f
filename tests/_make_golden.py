"""Regenerate tests/golden/*.json from hls4ml's own ``config_from_keras_model``.

Run with the project's venv (needs hls4ml installed):

    TF_CPP_MIN_LOG_LEVEL=2 .venv/bin/python tests/_make_golden.py

The tiny Keras models are defined here and imported by tests/test_config.py, so the test rebuilds
exactly the models the goldens were made from and checks that hls-opt's
``config_from_keras_model`` returns the same dict (keys, values and key order).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

GOLDEN_DIR = Path(__file__).resolve().parent / "golden"


def build_mlp():
    """Sequential MLP: Dense with a split relu, Dropout (hls4ml: linear Activation), softmax Activation."""
    import keras

    layers = keras.layers
    return keras.Sequential(
        [
            keras.Input((16,), name="features"),
            layers.Dense(8, activation="relu", name="dense_1"),
            layers.Dropout(0.25, name="dropout"),
            layers.Dense(4, name="dense_2"),
            layers.Activation("softmax", name="probabilities"),
        ],
        name="mlp",
    )


def build_cnn2d():
    """Functional 2-D CNN: Conv2D, BatchNormalization, pooling, Flatten, Add, Concatenate, ReLU, Softmax."""
    import keras

    layers = keras.layers
    inputs = keras.Input((8, 8, 3), name="image")
    x = layers.Conv2D(4, 3, activation="relu", name="conv")(inputs)
    x = layers.BatchNormalization(name="bn")(x)
    x = layers.MaxPooling2D(name="max_pool")(x)
    x = layers.AveragePooling2D(1, name="avg_pool")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dropout(0.1, name="drop")(x)
    a = layers.Dense(8, name="branch_a")(x)
    b = layers.Dense(8, activation="softmax", name="branch_b")(x)
    x = layers.Add(name="add")([a, b])
    x = layers.Concatenate(name="concat")([x, a])
    x = layers.ReLU(name="relu")(x)
    x = layers.Activation("tanh", name="tanh")(x)
    x = layers.Softmax(name="softmax")(x)
    return keras.Model(inputs, x, name="cnn2d")


def build_cnn1d():
    """Functional 1-D CNN: Conv1D with a split tanh, 1-D and global pooling, LeakyReLU, ELU, sigmoid."""
    import keras

    layers = keras.layers
    inputs = keras.Input((16, 2), name="signal")
    x = layers.Conv1D(4, 3, activation="tanh", name="conv1d")(inputs)
    x = layers.MaxPooling1D(name="mp1")(x)
    x = layers.AveragePooling1D(2, name="ap1")(x)
    x = layers.GlobalAveragePooling1D(name="gap")(x)
    x = layers.Dense(6, activation="sigmoid", name="hidden")(x)
    x = layers.LeakyReLU(name="leaky")(x)
    x = layers.ELU(name="elu")(x)
    x = layers.Dense(3, activation="softmax", name="out")(x)
    return keras.Model(inputs, x, name="cnn1d")


def build_int_input():
    """An integer input (hls4ml 1.3's Keras 3 path gives it 'auto' like any other input)."""
    import keras

    inputs = keras.Input((4,), dtype="int8", name="codes")
    x = keras.layers.Dense(2, use_bias=False, name="dense")(inputs)
    return keras.Model(inputs, x, name="int_input")


def build_rnn():
    """Recurrent layers (their internal tanh is not split off) and a Bidirectional LSTM."""
    import keras

    layers = keras.layers
    inputs = keras.Input((5, 3), name="sequence")
    x = layers.LSTM(4, return_sequences=True, name="lstm")(inputs)
    x = layers.GRU(4, return_sequences=True, name="gru")(x)
    x = layers.Bidirectional(layers.LSTM(2, return_sequences=True), name="bidir")(x)
    x = layers.SimpleRNN(3, name="rnn")(x)
    x = layers.EinsumDense("ab,bc->ac", output_shape=2, bias_axes="c", activation="relu", name="einsum")(x)
    return keras.Model(inputs, x, name="rnn")


def build_misc():
    """Less common layers: depthwise conv, padding, upsampling, Permute, PReLU, typed activations."""
    import keras

    layers = keras.layers
    inputs = keras.Input((6, 6, 2), name="grid")
    x = layers.ZeroPadding2D(1, name="pad")(inputs)
    x = layers.DepthwiseConv2D(3, activation="softmax", name="depthwise")(x)
    x = layers.UpSampling2D(2, name="up")(x)
    x = layers.GlobalMaxPooling2D(name="gmp")(x)
    x = layers.Dense(4, activation="elu", name="dense_elu")(x)
    x = layers.Dense(4, activation="hard_sigmoid", name="dense_hs")(x)
    x = layers.PReLU(name="prelu")(x)
    x = layers.LeakyReLU(0.2, name="leaky")(x)
    x = layers.Activation("hard_sigmoid", name="act_hs")(x)
    x = layers.Activation("leaky_relu", name="act_leaky")(x)
    x = layers.Activation("elu", name="act_elu")(x)
    x = layers.Reshape((4, 1), name="reshape")(x)
    x = layers.Permute((2, 1), name="permute")(x)
    x = layers.UpSampling1D(2, name="up1d")(x)
    x = layers.ZeroPadding1D(1, name="pad1d")(x)
    x = layers.DepthwiseConv1D(2, name="depthwise1d")(x)
    x = layers.GlobalMaxPooling1D(name="gmp1d")(x)
    return keras.Model(inputs, x, name="misc")


def build_embedding():
    """Embedding on an integer input, Subtract / Multiply / Average / Maximum / Minimum merges."""
    import keras

    layers = keras.layers
    inputs = keras.Input((4,), dtype="int32", name="tokens")
    e = layers.Flatten(name="flat")(layers.Embedding(10, 2, name="embed")(inputs))
    a = layers.Dense(8, name="a")(e)
    b = layers.Dense(8, name="b")(e)
    merged = [
        layers.Subtract(name="sub")([a, b]),
        layers.Multiply(name="mul")([a, b]),
        layers.Average(name="avg")([a, b]),
        layers.Maximum(name="max")([a, b]),
        layers.Minimum(name="min")([a, b]),
    ]
    x = layers.Concatenate(name="cat")(merged)
    return keras.Model(inputs, x, name="embedding")


MODELS = {
    "mlp": build_mlp,
    "cnn2d": build_cnn2d,
    "cnn1d": build_cnn1d,
    "int_input": build_int_input,
    "rnn": build_rnn,
    "misc": build_misc,
    "embedding": build_embedding,
}

# (golden name, model, keyword arguments to config_from_keras_model)
CASES: list[tuple[str, str, dict]] = []
for _model in MODELS:
    for _granularity in ("model", "type", "name"):
        for _backend in (None, "Vivado"):
            CASES.append(
                (
                    f"{_model}__{_granularity}__{(_backend or 'none').lower()}",
                    _model,
                    {"granularity": _granularity, "backend": _backend},
                )
            )
CASES.append(
    (
        "mlp__name__vivado_custom",
        "mlp",
        {
            "granularity": "name",
            "backend": "Vivado",
            "default_precision": "ap_fixed<8,3>",
            "default_reuse_factor": 4,
            "max_precision": "fixed<24,12>",
        },
    )
)
CASES.append(
    ("rnn__name__vivado_rf3", "rnn", {"granularity": "name", "backend": "vivado", "default_reuse_factor": 3})
)
CASES.append(("cnn2d__Type__vitis", "cnn2d", {"granularity": "Type", "backend": "Vitis"}))


def golden_path(name: str) -> Path:
    return GOLDEN_DIR / f"{name}.json"


def main() -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import hls4ml
    from hls4ml.utils.config import config_from_keras_model

    GOLDEN_DIR.mkdir(exist_ok=True)
    models = {name: build() for name, build in MODELS.items()}
    for name, model_name, kwargs in CASES:
        config = config_from_keras_model(models[model_name], **kwargs)
        golden_path(name).write_text(json.dumps(config, indent=1) + "\n")
        print(f"wrote {golden_path(name).name}")
    (GOLDEN_DIR / "VERSION").write_text(f"hls4ml {hls4ml.__version__}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
