"""The PyTorch backend's computations (``KERAS_BACKEND=torch``); imports no TensorFlow.

Keras' torch variables are ``torch.nn.Parameter`` s, so gradients are ``torch.autograd.grad`` on the
live model (as the TensorFlow module's tape), Hessian-vector products differentiate the gradient
again (``create_graph=True``), and the forward pass and the oracle run under ``torch.no_grad``; the
oracle loops over the groups in Python, each a ``model.stateless_call`` (the model's variables are
never touched).  The interface is the one :mod:`hls_opt.train.backends` documents.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from hls_opt.train.backends.common import reduce_loss, state, stateless_loss, training_for, variable_positions

#: Keras' torch trainer runs eagerly unless asked for ``torch.compile``, which costs more than the
#: small models hls-opt fine-tunes gain from it.
FIT_JIT_COMPILE = False
#: Eager: every step reads the masks and strengths as they are now.
TRAIN_FUNCTION_SEES_ASSIGNS = True
#: Batches of any size (the last one of an epoch may be short).
FULL_BATCHES = False
def under_distribution() -> None:
    """Nothing to prepare (:func:`hls_opt.train.backends.tf.under_distribution`)."""


def steps_per_execution() -> int:
    """Eager steps: nothing to batch up."""
    return 1


def predictor(model: Any) -> Callable[[np.ndarray], Any]:
    """``X ↦ model(X, training=False)`` without building an autograd graph."""

    def predict(X: np.ndarray) -> Any:
        with torch.no_grad():
            return model(X, training=False).detach().cpu()

    return predict


def value_and_gradients(model: Any, variables: list, loss: Any, X: Any, y: Any, kind: str) -> tuple[Any, list]:
    """The ``kind`` loss (:mod:`hls_opt.train.backends.common`) and its gradients w.r.t. ``variables``
    (None where it does not depend on one)."""
    pred = model(X, training=training_for(kind))
    value = reduce_loss(kind, loss(y, pred), model.losses if kind == "train" else [])
    grads = torch.autograd.grad(value, [v.value for v in variables], allow_unused=True)
    return value.detach(), [None if g is None else g.detach() for g in grads]


def hessian_vector_products(model: Any, variables: list, loss: Any, X: Any, y: Any, vectors: list) -> list:
    """``H·z`` of the ``"mean"`` loss w.r.t. ``variables``, one ``z`` per variable."""
    params = [v.value for v in variables]
    value = reduce_loss("mean", loss(y, model(X, training=False)), [])
    grads = torch.autograd.grad(value, params, create_graph=True, allow_unused=True)
    zs = [torch.as_tensor(z, dtype=p.dtype, device=p.device) for z, p in zip(vectors, params)]
    gz = sum((g * z).sum() for g, z in zip(grads, zs) if g is not None)
    hz = torch.autograd.grad(gz, params, allow_unused=True)
    return [None if h is None else h.detach() for h in hz]


def oracle_losses(model: Any, var: Any, loss: Any, X: np.ndarray, y: np.ndarray) -> Callable[..., np.ndarray]:
    """``(members, delta_flat) ↦ losses``: for each row of ``members`` (indices into the flattened
    ``var``), the mean loss on ``(X, y)`` with ``var.flat[row] -= delta_flat[row]``."""
    (pos,) = variable_positions(model, [var])
    shape = tuple(var.shape)
    f = stateless_loss(model, [var], loss, "mean")

    def run(members: np.ndarray, delta_flat: np.ndarray) -> np.ndarray:
        trainable, non_trainable = state(model)
        flat = trainable[pos].detach().reshape(-1)
        delta = torch.as_tensor(delta_flat, dtype=flat.dtype, device=flat.device)
        Xt = torch.as_tensor(X, device=flat.device)
        yt = torch.as_tensor(y, device=flat.device)
        out = np.empty(len(members), dtype=np.float32)
        with torch.no_grad():
            for i, row in enumerate(members):
                idx = torch.as_tensor(row, dtype=torch.long, device=flat.device)
                changed = flat.clone()
                changed[idx] -= delta[idx]
                out[i] = float(f([changed.reshape(shape)], trainable, non_trainable, Xt, yt))
        return out

    return run
