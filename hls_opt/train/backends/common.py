"""What the per-backend modules (``tf``, ``jax``, ``torch``) share.

Each of them computes, with its own autodiff and compiler, the same few things (see
:mod:`hls_opt.train.backends`): a compiled forward pass, gradients of a loss, Hessian-vector
products and the batched "loss with this group changed" oracle.  The loss they differentiate is
defined once here, in ``keras.ops``, by its *kind*:

* ``"mean"``: ``mean(loss(y, model(X, training=False)))`` — ranking (saliency, hessian);
* ``"sum"``: ``sum(loss(y, model(X, training=True)))`` — hls4ml's ``get_model_gradients``
  (``tape.gradient`` of a per-sample loss is the gradient of its sum);
* ``"train"``: ``"sum"`` plus the model's regularisation losses — hls4ml's ``MaskedBackprop``.

JAX and PyTorch evaluate it through ``model.stateless_call`` (the Keras 3 functional entry point,
``keras/src/layers/layer.py``), so a compiled function takes the weights as arguments and the
model's variables are never assigned.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import keras

from hls_opt.errors import ModelError

KINDS = ("mean", "sum", "train")


def training_for(kind: str) -> bool:
    if kind not in KINDS:
        raise ValueError(f"loss kind {kind!r}: expected one of {KINDS}")
    return kind != "mean"


def reduce_loss(kind: str, value: Any, losses: list) -> Any:
    """The scalar of ``kind`` from the per-sample (or already reduced) loss and the model's losses."""
    ops = keras.ops
    if kind == "mean":
        return ops.mean(value)
    value = ops.sum(value)
    if kind == "train" and losses:
        value = value + ops.sum(ops.stack([ops.cast(v, value.dtype) for v in losses]))
    return value


def variable_positions(model: Any, variables: list) -> list[int]:
    """Where each of ``variables`` is in ``model.trainable_variables`` (identity, not name)."""
    trainable = list(model.trainable_variables)
    out = []
    for var in variables:
        pos = next((i for i, v in enumerate(trainable) if v is var), None)
        if pos is None:
            raise ModelError(f"model {model.name!r}: {var.path!r} is not trainable (only trainable kernels are ranked)")
        out.append(pos)
    return out


def stateless_loss(model: Any, variables: list, loss: Any, kind: str) -> Callable[..., Any]:
    """``f(values, trainable, non_trainable, X, y)``: the ``kind`` loss with ``variables`` set to
    ``values`` and every other weight taken from ``trainable`` / ``non_trainable`` (native tensors)."""
    positions = variable_positions(model, variables)
    training = training_for(kind)

    def f(values: list, trainable: list, non_trainable: list, X: Any, y: Any) -> Any:
        tv = list(trainable)
        for pos, value in zip(positions, values):
            tv[pos] = value
        pred, _, losses = model.stateless_call(tv, non_trainable, X, training=training, return_losses=True)
        return reduce_loss(kind, loss(y, pred), losses)

    return f


def state(model: Any) -> tuple[list, list]:
    """The model's current trainable and non-trainable values (native tensors)."""
    return [v.value for v in model.trainable_variables], [v.value for v in model.non_trainable_variables]


def forward(model: Any) -> Callable[[list, list, Any], Any]:
    """``(trainable, non_trainable, X) → model(X, training=False)`` through ``stateless_call``."""

    def f(trainable: list, non_trainable: list, X: Any) -> Any:
        return model.stateless_call(trainable, non_trainable, X, training=False)[0]

    return f


def cached(model: Any, key: tuple, build: Callable[[], Any]) -> Any:
    """A compiled function kept on the model (one trace per key for a whole run, not one per call)."""
    cache = model.__dict__.setdefault("_hls_opt_compiled", {})
    if key not in cache:
        cache[key] = build()
    return cache[key]


# --------------------------------------------------------------------------------------------
# Values a traced train step takes from its state argument
# --------------------------------------------------------------------------------------------

_TRACED: dict[int, Any] = {}


def current(variable: Any) -> Any:
    """What a computation inside the train step should read for ``variable``: while a backend traces
    its train step with ``variable``'s value taken from the step's state argument (JAX:
    :func:`hls_opt.train.backends.jax.read_from_optimizer_state`), that traced value; otherwise the
    variable itself (read live, as TensorFlow's ``tf.function`` and eager PyTorch do)."""
    return _TRACED.get(id(variable), variable)


@contextlib.contextmanager
def traced_values(values: dict[int, Any]) -> Iterator[None]:
    """:func:`current` answers ``values`` (``id(variable) → traced value``) inside the block."""
    saved = dict(_TRACED)
    _TRACED.update(values)
    try:
        yield
    finally:
        _TRACED.clear()
        _TRACED.update(saved)

