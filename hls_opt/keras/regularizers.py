"""Regularisation before pruning: group lasso per structure and a weight-sharing (variance) penalty.

``GroupRegularizer`` penalises ``alpha · Σ_g √|g| · ‖w_g‖₂ + beta · Σ_g Var(w_g)`` over the
weight groups of :func:`hls_opt.structures.group_ids` — the same groups the knapsack prunes, so
the penalty drives exactly those groups towards zero (group lasso, Yuan & Lin 2006; √|g| keeps
groups of different sizes on one scale; for one-weight groups it is plain L1).  The variance term
pulls each group towards a single value, what weight sharing needs.  hls4ml's equivalent is
``DenseRegularizer`` / ``Conv2DRegularizer`` (hls4ml/optimization/dsp_aware_pruning/keras/regularizers.py,
set on the layers by ``build_optimizable_model`` in keras/builder.py).

The strengths are ``keras.Variable`` so the search below changes them without re-tracing the
train function.
"""

from __future__ import annotations

import logging
from typing import Any

import keras
import numpy as np

from hls_opt.structures import group_sizes

logger = logging.getLogger(__name__)


@keras.saving.register_keras_serializable(package="hls_opt")
class GroupRegularizer(keras.regularizers.Regularizer):
    """Group-lasso (``alpha``) plus within-group variance (``beta``) penalty on one kernel."""

    def __init__(self, ids: Any, n_groups: int, alpha: float = 0.0, beta: float = 0.0) -> None:
        self.ids = np.asarray(ids, dtype=np.int32)
        self.n_groups = int(n_groups)
        sizes = group_sizes(self.ids, self.n_groups).astype("float32")
        self._flat_ids = keras.ops.convert_to_tensor(self.ids.reshape(-1))
        self._sizes = keras.ops.convert_to_tensor(np.maximum(sizes, 1.0))
        self._sqrt_sizes = keras.ops.convert_to_tensor(np.sqrt(np.maximum(sizes, 1.0)))
        self.alpha = keras.Variable(float(alpha), trainable=False, dtype="float32", name="hls_opt_alpha")
        self.beta = keras.Variable(float(beta), trainable=False, dtype="float32", name="hls_opt_beta")

    def __call__(self, w: Any) -> Any:
        ops = keras.ops
        flat = ops.reshape(ops.cast(w, "float32"), (-1,))
        sq = ops.segment_sum(flat * flat, self._flat_ids, num_segments=self.n_groups)
        # +1e-12 keeps the gradient of ‖·‖₂ finite at an all-zero group
        lasso = ops.sum(self._sqrt_sizes * ops.sqrt(sq + 1e-12))
        mean = ops.segment_sum(flat, self._flat_ids, num_segments=self.n_groups) / self._sizes
        var = sq / self._sizes - mean * mean
        return self.alpha * lasso + self.beta * ops.sum(var)

    def set_strength(self, alpha: float, beta: float = 0.0) -> None:
        self.alpha.assign(float(alpha))
        self.beta.assign(float(beta))

    def get_config(self) -> dict[str, Any]:
        return {
            "ids": self.ids.tolist(),
            "n_groups": self.n_groups,
            "alpha": float(self.alpha.numpy()),
            "beta": float(self.beta.numpy()),
        }


def attach_regularizers(model: Any, layer_groups: list[Any]) -> dict[str, GroupRegularizer]:
    """Put a zero-strength :class:`GroupRegularizer` on each optimizable kernel; returns them by name.

    Pruning layers get the lasso term, weight-sharing layers the variance term (strengths set
    later with :func:`set_strength`).  Set on the variable, which is what ``Layer.losses`` reads.
    """
    regs = {}
    for g in layer_groups:
        layer = model.get_layer(g.name)
        reg = GroupRegularizer(g.ids, g.n_groups)
        reg.pruning, reg.sharing = g.pruning, g.sharing  # which term this layer may use
        layer.kernel.regularizer = reg
        if hasattr(layer, "kernel_regularizer"):
            layer.kernel_regularizer = reg
        regs[g.name] = reg
    return regs


def set_strength(regularizers: dict[str, GroupRegularizer], strength: float) -> None:
    """One strength for every layer: lasso where the layer prunes, variance where it shares."""
    for reg in regularizers.values():
        reg.set_strength(
            strength if getattr(reg, "pruning", True) else 0.0,
            strength if getattr(reg, "sharing", False) else 0.0,
        )


def candidate_strengths(regularization_range: Any, n: int = 2) -> list[float]:
    """Zero plus ``n`` strengths from the upper half of ``regularization_range`` (spread evenly).

    The upper half because a fine-tuning budget of one or two epochs only moves weights at
    strengths that matter; the lower half of hls4ml's default 1e-6…1e-2 range changes nothing in
    that time.  Zero costs no training at all (the model is already converged).
    """
    values = sorted(float(v) for v in np.atleast_1d(np.asarray(regularization_range, dtype=float)) if v > 0)
    if not values:
        return [0.0]
    upper = values[len(values) // 2 :]
    picks = np.unique(np.round(np.linspace(0, len(upper) - 1, num=min(n, len(upper)))).astype(int))
    return [0.0] + [upper[i] for i in picks]
