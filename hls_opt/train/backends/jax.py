"""The JAX backend's computations (``KERAS_BACKEND=jax``); imports no TensorFlow.

Every function is a ``jax.jit`` of a pure function of the weights (``model.stateless_call``),
cached on the model, so one trace serves a whole run and the model's variables are never assigned:
``jax.value_and_grad`` for gradients, ``jax.jvp`` of ``jax.grad`` for Hessian-vector products
(forward-over-reverse, the JAX documentation's "Hessian-vector products" recipe), ``jax.lax.map``
over the oracle's groups (sequential like ``tf.map_fn``, so memory stays one forward pass).
The interface is the one :mod:`hls_opt.train.backends` documents.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from hls_opt.train.backends.common import (
    cached,
    forward,
    state,
    stateless_loss,
    traced_values,
    variable_positions,
)

#: The fine-tuning model is compiled with ``jit_compile=True``: un-jitted, Keras' JAX trainer runs
#: op by op.
FIT_JIT_COMPILE = True
#: A jitted train function reads a ``keras.Variable`` that is not model or optimizer state as a
#: constant frozen at trace time (``stateless_apply`` maps only the optimizer's and the trainable
#: variables, ``keras/src/optimizers/base_optimizer.py``).  So the fine-tuner keeps its masks and
#: regularisation strengths in the optimizer's variables (the train step's state argument:
#: :func:`~hls_opt.train.masking.masks_as_optimizer_state`,
#: :func:`~hls_opt.train.regularizers.strengths_as_optimizer_state`) and one trace serves the run;
#: any other such value that changes makes :func:`hls_opt.train.fit.fit` build a fresh train function.
TRAIN_FUNCTION_SEES_ASSIGNS = False
#: Every training batch has the same number of rows: each new batch shape is a new trace of the
#: jitted step, and a ``DataParallel`` distribution shards the batch evenly over its devices
#: (:class:`hls_opt.train.data.ShuffledBatches` and :class:`hls_opt.train.fit.ArrayBatches` complete
#: a short last batch).
FULL_BATCHES = True


def read_from_optimizer_state(model: Any, variables: list) -> None:
    """Make ``model``'s jitted train step read ``variables`` (optimizer variables, e.g. the
    regularisation strengths, which the *forward pass* reads through
    :func:`~hls_opt.train.backends.common.current`) from its state argument instead of freezing
    their values at trace time.

    Keras' JAX train step (``train_step(state, data)``, keras/src/backend/jax/trainer.py) receives
    ``(trainable, non_trainable, optimizer_variables, metrics)`` and maps only the model's own
    variables while computing the loss (``stateless_call``), so a regulariser's strength held
    elsewhere would be a constant of the trace.  The model's ``train_step`` (Keras' documented
    override point) is wrapped on this instance: while it is traced, :func:`current` answers each of
    ``variables`` with its traced slot of ``optimizer_variables``.  An ``assign`` between ``fit`` calls
    then reaches the compiled step like a mask does, with no new trace."""
    optimizer = model.optimizer
    original = model.train_step
    wanted = {id(v) for v in variables}

    def train_step(state: Any, data: Any) -> Any:
        optimizer_values = state[2]
        values = {
            id(v): value for v, value in zip(optimizer.variables, optimizer_values) if id(v) in wanted
        }
        with traced_values(values):
            return original(state, data)

    model.train_step = train_step


def under_distribution() -> None:
    """Nothing to prepare (:func:`hls_opt.train.backends.tf.under_distribution`)."""


def steps_per_execution() -> int:
    """One train step per call: a jitted JAX epoch of the digits MLPs is already ~20 ms, and several
    steps per call would need every batch of a user's ``PyDataset`` to have one shape."""
    return 1


def predictor(model: Any) -> Callable[[np.ndarray], Any]:
    """``X ↦ model(X, training=False)``: one ``jax.jit`` taking the current weights as arguments."""
    fn = cached(model, ("jax-forward",), lambda: jax.jit(forward(model)))

    def predict(X: np.ndarray) -> Any:
        trainable, non_trainable = state(model)
        return fn(trainable, non_trainable, X)

    return predict


def value_and_gradients(model: Any, variables: list, loss: Any, X: Any, y: Any, kind: str) -> tuple[Any, list]:
    """The ``kind`` loss (:mod:`hls_opt.train.backends.common`) and its gradients w.r.t. ``variables``."""
    key = ("jax-grad", tuple(id(v) for v in variables), id(loss), kind)
    fn = cached(model, key, lambda: jax.jit(jax.value_and_grad(stateless_loss(model, variables, loss, kind))))
    trainable, non_trainable = state(model)
    values = [trainable[p] for p in variable_positions(model, variables)]
    value, grads = fn(values, trainable, non_trainable, X, y)
    return value, list(grads)


def hessian_vector_products(model: Any, variables: list, loss: Any, X: Any, y: Any, vectors: list) -> list:
    """``H·z`` of the ``"mean"`` loss w.r.t. ``variables``, one ``z`` per variable."""
    key = ("jax-hvp", tuple(id(v) for v in variables), id(loss))

    def build() -> Any:
        grad = jax.grad(stateless_loss(model, variables, loss, "mean"))

        def hvp(values: list, zs: list, trainable: list, non_trainable: list, X: Any, y: Any) -> Any:
            return jax.jvp(lambda v: grad(v, trainable, non_trainable, X, y), (values,), (zs,))[1]

        return jax.jit(hvp)

    fn = cached(model, key, build)
    trainable, non_trainable = state(model)
    values = [trainable[p] for p in variable_positions(model, variables)]
    zs = [jnp.asarray(z, dtype=v.dtype) for z, v in zip(vectors, values)]
    return list(fn(values, zs, trainable, non_trainable, X, y))


def oracle_losses(model: Any, var: Any, loss: Any, X: np.ndarray, y: np.ndarray) -> Callable[..., np.ndarray]:
    """``(members, delta_flat) ↦ losses``: for each row of ``members`` (indices into the flattened
    ``var``), the mean loss on ``(X, y)`` with ``var.flat[row] -= delta_flat[row]``."""
    (pos,) = variable_positions(model, [var])
    shape = tuple(var.shape)

    def build() -> Any:
        f = stateless_loss(model, [var], loss, "mean")

        def losses(members: Any, delta_flat: Any, trainable: list, non_trainable: list, X: Any, y: Any) -> Any:
            flat = jnp.reshape(trainable[pos], (-1,))

            def one(idx: Any) -> Any:
                changed = flat.at[idx].add(-delta_flat[idx])
                return f([jnp.reshape(changed, shape)], trainable, non_trainable, X, y)

            return jax.lax.map(one, members)

        return jax.jit(losses)

    fn = cached(model, ("jax-oracle", id(var), id(loss)), build)
    Xj, yj = jnp.asarray(X), jnp.asarray(y)

    def run(members: np.ndarray, delta_flat: np.ndarray) -> np.ndarray:
        trainable, non_trainable = state(model)
        return np.asarray(fn(members, jnp.asarray(delta_flat, dtype=var.dtype), trainable, non_trainable, Xj, yj))

    return run
