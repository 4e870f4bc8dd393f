"""The one demo baseline of the project: a 64-64-32-10 MLP (logits) for the bundled digits.

The demo, the benchmarks and the tests build and train it here.  The recipe is the one hls4ml's
optimizer is measured with in ``benchmarks/optimize_digits.py --with-hls4ml``: Adam (learning rate
1e-3), batch 64, 30 epochs, a fixed seed.  Keras is imported inside the functions, so importing this
module (and ``hls_opt.data``) does not load TensorFlow.
"""

from __future__ import annotations

import os
import random
from collections.abc import Sequence
from typing import Any

import numpy as np

#: Hidden layer widths of the demo MLP (64 inputs → 64 → 32 → 10 logits).
DEMO_HIDDEN = (64, 32)
BASELINE_EPOCHS = 30
BASELINE_BATCH_SIZE = 64
BASELINE_LEARNING_RATE = 1e-3


def _keras() -> Any:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    return keras


def demo_model(
    hidden: Sequence[int] = DEMO_HIDDEN,
    n_inputs: int = 64,
    n_classes: int = 10,
    name: str = "digits_mlp",
    seed: int | None = None,
) -> Any:
    """An uncompiled MLP ``n_inputs → hidden… → n_classes`` logits; layers ``fc1, fc2, …, logits``.

    ``seed``: each kernel's Glorot-uniform initializer gets its own seed (``seed + layer index``),
    so the weights do not depend on Keras' global random state; None: Keras' default initializer."""
    keras = _keras()

    def init(i: int) -> Any:
        return "glorot_uniform" if seed is None else keras.initializers.GlorotUniform(seed=seed + i)

    layers = [keras.Input((n_inputs,), name="pixels")]
    for i, units in enumerate(hidden):
        layers.append(keras.layers.Dense(units, activation="relu", name=f"fc{i + 1}", kernel_initializer=init(i)))
    layers.append(keras.layers.Dense(n_classes, name="logits", kernel_initializer=init(len(hidden))))
    return keras.Sequential(layers, name=name)


def train_baseline(
    split: Any,
    *,
    epochs: int = BASELINE_EPOCHS,
    seed: int = 0,
    hidden: Sequence[int] = DEMO_HIDDEN,
    batch_size: int = BASELINE_BATCH_SIZE,
    learning_rate: float = BASELINE_LEARNING_RATE,
) -> Any:
    """:func:`demo_model` compiled and trained on ``split.X_train`` / ``split.y_train`` with a fixed seed.

    ``split`` is a :class:`~hls_opt.data.DigitsSplit` (or anything with ``X_train``/``y_train``).
    The loss follows the label layout: class ids → ``SparseCategoricalCrossentropy``, one-hot →
    ``CategoricalCrossentropy`` (both from logits); metric ``accuracy``.  ``epochs=0`` returns the
    compiled, untrained model.
    """
    keras = _keras()
    if keras.backend.backend() == "tensorflow":
        keras.utils.set_random_seed(seed)
        model = demo_model(hidden, n_inputs=split.X_train.shape[1], n_classes=10)
    else:
        # keras.utils.set_random_seed imports TensorFlow to seed it whenever it is installed, whatever
        # the backend (keras/src/utils/rng_utils.py); a JAX / PyTorch run seeds NumPy (fit's
        # shuffling), Python and torch itself and gives the initializers their own seeds instead.
        random.seed(seed)
        np.random.seed(seed)
        if keras.backend.backend() == "torch":
            import torch

            torch.manual_seed(seed)
        model = demo_model(hidden, n_inputs=split.X_train.shape[1], n_classes=10, seed=seed)
    one_hot = split.y_train.ndim == 2
    loss = (
        keras.losses.CategoricalCrossentropy(from_logits=True)
        if one_hot
        else keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss, metrics=["accuracy"])
    if epochs > 0:
        model.fit(split.X_train, split.y_train, epochs=epochs, batch_size=batch_size, verbose=0)
    return model
