"""The TensorFlow backend's computations (``KERAS_BACKEND=tensorflow``, the default).

``tf.GradientTape`` on the model's live variables, ``tf.function`` for the forward pass and the
oracle (one trace each per run), ``tf.map_fn`` over the oracle's groups.  The interface is the one
:mod:`hls_opt.train.backends` documents; the other backends implement the same functions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import tensorflow as tf

from hls_opt.train.backends.common import cached, reduce_loss, training_for, variable_positions

#: ``model.compile(jit_compile=...)`` for the fine-tuning model: XLA off — the train function is
#: traced once per run and the masks change by ``assign`` inside it.
FIT_JIT_COMPILE = False
#: ``tf.function`` reads ``keras.Variable`` s (masks, regularisation strengths) by reference, so an
#: already traced train function sees every ``assign``.
TRAIN_FUNCTION_SEES_ASSIGNS = True
#: Batches of any size (the last one of an epoch may be short).
FULL_BATCHES = False
#: Train steps per call of the traced train function (:func:`steps_per_execution`).
STEPS_PER_EXECUTION = 32


def steps_per_execution() -> int:
    """``model.compile(steps_per_execution=...)`` for the fine-tuning model: Keras' TensorFlow trainer
    then runs up to :data:`STEPS_PER_EXECUTION` train steps per call of its traced function (a
    ``tf.while_loop`` in ``multi_step_on_iterator``, keras/src/backend/tensorflow/trainer.py) instead
    of one Python round trip per batch.  The same steps in the same order, so the same weights
    (``tests/test_training.py``); an epoch of 17 batches takes half the time (docs/scale.md).
    Batch-level callbacks would see every 32nd batch only, so the trainer asks for 1 when the caller
    passes callbacks.  1 under a ``tf.distribute`` strategy: Keras 3.15's multi-step loop fails to
    trace in a ``MirroredStrategy`` replica context (``while/cond/Placeholder``)."""
    return 1 if tf.distribute.has_strategy() else STEPS_PER_EXECUTION


#: How far each fine-tuning run under a strategy moves the collective keys of the strategies made after it.
COLLECTIVE_KEY_STRIDE = 100_000


def under_distribution() -> None:
    """Called when a fine-tuning run sets up: under a ``tf.distribute`` strategy, give every strategy
    created *after* this run collective keys of its own.

    Each ``MirroredStrategy`` numbers its all-reduces' collective group and instance keys from its
    class's ``_collective_key_base`` (``mirrored_strategy.py``, ``CollectiveKeys(group_key_start=1 +
    base)``), the same for every instance; TensorFlow's runtime keeps the shape of each (group,
    instance) it has seen, so a second strategy in one process training another model fails with
    "Shape mismatch in the collective instance 100" (tensorflow/tensorflow#62790, plain Keras too).
    TensorFlow's own test helpers raise the base before each new strategy
    (``_mirrored_strategy_with_collective_key_base`` in ``strategy_combinations.py``); this does the
    same after each run, so a strategy made for the next run — the user's or ``--devices N``'s — is
    unaffected by the last.  A private class attribute: skipped when a TensorFlow lacks it."""
    if not tf.distribute.has_strategy():
        return
    from tensorflow.python.distribute import collective_all_reduce_strategy, mirrored_strategy

    for cls in (
        getattr(mirrored_strategy, "MirroredStrategy", None),
        getattr(mirrored_strategy, "MirroredStrategyV1", None),
        getattr(collective_all_reduce_strategy, "CollectiveAllReduceStrategy", None),
        getattr(collective_all_reduce_strategy, "CollectiveAllReduceStrategyV1", None),
    ):
        if cls is not None and isinstance(getattr(cls, "_collective_key_base", None), int):
            cls._collective_key_base += COLLECTIVE_KEY_STRIDE


def predictor(model: Any) -> Callable[[np.ndarray], Any]:
    """``X ↦ model(X, training=False)`` through one ``tf.function`` per model (no retracing per batch
    size; it reads the model's variables, so it follows their updates)."""
    return cached(model, ("tf-forward",), lambda: tf.function(lambda x: model(x, training=False), reduce_retracing=True))


def value_and_gradients(model: Any, variables: list, loss: Any, X: Any, y: Any, kind: str) -> tuple[Any, list]:
    """The ``kind`` loss (:mod:`hls_opt.train.backends.common`) and its gradients w.r.t. ``variables``
    (None where it does not depend on one)."""
    with tf.GradientTape() as tape:
        pred = model(X, training=training_for(kind))
        value = reduce_loss(kind, loss(y, pred), model.losses if kind == "train" else [])
    return value, tape.gradient(value, [v.value for v in variables])


def hessian_vector_products(model: Any, variables: list, loss: Any, X: Any, y: Any, vectors: list) -> list:
    """``H·z`` of the ``"mean"`` loss w.r.t. ``variables``, one ``z`` per variable (nested tapes)."""
    values = [v.value for v in variables]
    zs = [tf.constant(z, dtype=v.dtype) for z, v in zip(vectors, values)]
    with tf.GradientTape() as outer:
        with tf.GradientTape() as inner:
            value = tf.reduce_mean(loss(y, model(X, training=False)))
        grads = inner.gradient(value, values)
        gz = tf.add_n([tf.reduce_sum(g * z) for g, z in zip(grads, zs) if g is not None])
    return outer.gradient(gz, values)


def oracle_losses(model: Any, var: Any, loss: Any, X: np.ndarray, y: np.ndarray) -> Callable[..., np.ndarray]:
    """``(members, delta_flat) ↦ losses``: for each row of ``members`` (indices into the flattened
    ``var``), the mean loss on ``(X, y)`` with ``var.flat[row] -= delta_flat[row]``.

    One ``tf.function`` per kernel for a whole run (cached on the model), ``tf.map_fn`` over the
    rows, each a ``model.stateless_call`` (the model's variables are never touched).
    """
    Xt, yt = tf.constant(X), tf.constant(y)
    fn = cached(model, ("tf-oracle", id(var), id(loss)), lambda: _oracle_function(model, var, loss, Xt, yt))
    return lambda members, delta_flat: np.asarray(
        fn(tf.constant(members), tf.constant(delta_flat, dtype=var.dtype), Xt, yt)
    )


def _oracle_function(model: Any, var: Any, loss: Any, Xt: Any, yt: Any) -> Any:
    trainable = list(model.trainable_variables)
    non_trainable = list(model.non_trainable_variables)
    (kernel_pos,) = variable_positions(model, [var])
    shape = tuple(var.shape)

    # a fixed signature (unknown chunk length, any batch) gives exactly one trace
    signature = [
        tf.TensorSpec((None, None), tf.int32),
        tf.TensorSpec((int(np.prod(shape)),), var.dtype),
        tf.TensorSpec((None, *Xt.shape[1:]), Xt.dtype),
        tf.TensorSpec((None, *yt.shape[1:]), yt.dtype),
    ]

    @tf.function(input_signature=signature)
    def losses(idx_chunk: Any, delta_flat: Any, Xt: Any, yt: Any) -> Any:
        flat = tf.reshape(trainable[kernel_pos].value, [-1])
        others = [v.value for v in trainable]
        fixed = [v.value for v in non_trainable]

        def one(idx: Any) -> Any:
            changed = tf.tensor_scatter_nd_sub(flat, idx[:, None], tf.gather(delta_flat, idx))
            tv = list(others)
            tv[kernel_pos] = tf.reshape(changed, shape)
            pred, _ = model.stateless_call(tv, fixed, Xt, training=False)
            return tf.reduce_mean(loss(yt, pred))

        return tf.map_fn(one, idx_chunk, fn_output_signature=tf.float32)

    return losses
