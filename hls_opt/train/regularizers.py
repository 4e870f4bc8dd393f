"""Regularisation before pruning: group lasso per structure and a weight-sharing (variance) penalty.

``GroupRegularizer`` penalises ``alpha · Σ_g √|g| · ‖w_g‖₂ + beta · Σ_g Var(w_g)`` over the
weight groups of :func:`hls_opt.core.structures.group_ids` — the same groups the knapsack prunes, so
the penalty drives exactly those groups towards zero (group lasso, Yuan & Lin 2006; √|g| keeps
groups of different sizes on one scale; for one-weight groups it is plain L1).  The variance term
pulls each group towards a single value, what weight sharing needs.  hls4ml's equivalent is
``DenseRegularizer`` / ``Conv2DRegularizer`` (hls4ml/optimization/dsp_aware_pruning/keras/regularizers.py,
set on the layers by ``build_optimizable_model`` in keras/builder.py).

:class:`DenseRegularizer` and :class:`Conv2DRegularizer` take hls4ml's constructor arguments
and ``get_config`` over the same penalty (:func:`group_penalty`); the groups follow from the
kernel's shape when they are first called.

The strengths are ``keras.Variable`` so the search below changes them without re-tracing the
train function: TensorFlow's ``tf.function`` and eager PyTorch read them live; under JAX they are
moved into the optimizer's variables and read from the jitted step's state
(:func:`strengths_as_optimizer_state`).
"""

from __future__ import annotations

import logging
from typing import Any

import keras
import numpy as np

from hls_opt.core.structures import Grouping, StructureType, group_sizes
from hls_opt.errors import ConfigError
from hls_opt.train.backends import native
from hls_opt.train.backends.common import current

logger = logging.getLogger(__name__)


def group_penalty(
    w: Any, flat_ids: Any, n_groups: int, sizes: Any, sqrt_sizes: Any, alpha: Any, beta: Any, norm: int = 1
) -> Any:
    """``alpha · ‖(√|g| · ‖w_g‖₂)_g‖_norm + beta · ‖(Var(w_g))_g‖_norm`` (norm 1: plain sums)."""
    ops = keras.ops
    flat = ops.reshape(ops.cast(w, "float32"), (-1,))
    if n_groups == int(np.prod(w.shape)):
        # one weight per group (unstructured; RF 1): the same sums without the segment sums, which cost
        # XLA ~0.5 s of compile per kernel (measured, JAX CPU) — ‖w_g‖₂ = |w|, √|g| = 1, Var = 0
        sq = flat * flat
        lasso_terms = ops.sqrt(sq + 1e-12)
        var = ops.zeros_like(sq)
    else:
        sq = ops.segment_sum(flat * flat, flat_ids, num_segments=n_groups)
        # +1e-12 keeps the gradient of ‖·‖₂ finite at an all-zero group
        lasso_terms = sqrt_sizes * ops.sqrt(sq + 1e-12)
        mean = ops.segment_sum(flat, flat_ids, num_segments=n_groups) / sizes
        var = sq / sizes - mean * mean
    if norm == 2:
        return alpha * ops.sqrt(ops.sum(lasso_terms * lasso_terms)) + beta * ops.sqrt(ops.sum(var * var) + 1e-24)
    return alpha * ops.sum(lasso_terms) + beta * ops.sum(var)


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
        alpha, beta = current(self.alpha), current(self.beta)  # the traced values inside a JAX train step
        return group_penalty(w, self._flat_ids, self.n_groups, self._sizes, self._sqrt_sizes, alpha, beta)

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


class _StructureRegularizer(keras.regularizers.Regularizer):
    """hls4ml's regularizer arguments over :func:`group_penalty`; the groups come from the kernel's
    shape at the first call (one grouping per shape, cached)."""

    _BLOCK = True

    def __init__(
        self,
        alpha: float,
        beta: float = 0,
        norm: int = 1,
        structure_type: Any = StructureType.UNSTRUCTURED,
        block_shape: tuple[int, int] = (1, 1),
        pattern_offset: int = 1,
        consecutive_patterns: int = 1,
    ) -> None:
        name = type(self).__name__
        if norm not in (1, 2):
            raise ConfigError(f"{name}: norm {norm!r}: only l1 (1) and l2 (2) regularization are supported")
        try:
            structure_type = StructureType.parse(getattr(structure_type, "value", structure_type))
        except ValueError as exc:
            raise ConfigError(f"{name}: {exc}") from None
        if structure_type is StructureType.BLOCK and not self._BLOCK:
            raise ConfigError(f"{name}: block regularization needs a 2-dimensional weight matrix")
        self.alpha = alpha
        self.beta = beta
        self.norm = norm
        self.structure_type = structure_type
        self.block_shape = block_shape
        self.pattern_offset = pattern_offset
        self.consecutive_patterns = consecutive_patterns
        self._groups: dict[tuple[int, ...], tuple[np.ndarray, int, np.ndarray, np.ndarray]] = {}

    def _grouping(self, shape: tuple[int, ...]) -> Grouping:
        if self.structure_type is StructureType.PATTERN:
            if self.pattern_offset % self.consecutive_patterns:
                raise ConfigError(
                    f"{type(self).__name__}: consecutive_patterns {self.consecutive_patterns} does not divide "
                    f"pattern_offset {self.pattern_offset}"
                )
        return Grouping.from_hls4ml(
            shape,
            self.structure_type,
            pattern_offset=self.pattern_offset,
            consecutive=self.consecutive_patterns,
            block_shape=self.block_shape,
        )

    def __call__(self, weights: Any) -> Any:
        shape = tuple(int(d) for d in weights.shape)
        if shape not in self._groups:
            try:
                ids, n = self._grouping(shape).ids(shape)
            except ValueError as exc:
                raise ConfigError(f"{type(self).__name__}: {exc}") from None
            sizes = np.maximum(group_sizes(ids, n).astype("float32"), 1.0)
            # numpy here, tensors per call: a tensor made while tracing belongs to that graph only
            self._groups[shape] = (ids.reshape(-1).astype("int32"), n, sizes, np.sqrt(sizes))
        flat_ids, n, sizes, sqrt_sizes = self._groups[shape]
        convert = keras.ops.convert_to_tensor
        return group_penalty(
            weights, convert(flat_ids), n, convert(sizes), convert(sqrt_sizes), self.alpha, self.beta, self.norm
        )


@keras.saving.register_keras_serializable(package="hls_opt")
class DenseRegularizer(_StructureRegularizer):
    """hls4ml's ``DenseRegularizer`` (hls4ml/optimization/dsp_aware_pruning/keras/regularizers.py):
    ``alpha`` (sparsity penalty), ``beta`` (within-group variance penalty, for weight sharing),
    ``norm`` (1 or 2: how the group terms are combined), ``structure_type`` (unstructured,
    structured = neurons, pattern = ``pattern_offset`` groups of weights sharing a multiplier,
    ``consecutive_patterns`` of them together, block = ``block_shape`` tiles); same
    ``get_config``.

    The penalty is hls-opt's group lasso over the same groups the masks use:
    ``alpha · ‖(√|g| · ‖w_g‖₂)_g‖_norm + beta · ‖(Var(w_g))_g‖_norm`` (``docs/compat.md``).
    """

    def get_config(self) -> dict[str, Any]:
        return {
            "alpha": self.alpha,
            "beta": self.beta,
            "norm": self.norm,
            "structure_type": self.structure_type,
            "block_shape": self.block_shape,
            "pattern_offset": self.pattern_offset,
            "consecutive_patterns": self.consecutive_patterns,
        }


@keras.saving.register_keras_serializable(package="hls_opt")
class Conv2DRegularizer(_StructureRegularizer):
    """hls4ml's ``Conv2DRegularizer``: :class:`DenseRegularizer`'s arguments without ``block_shape``
    (block regularization is refused, as in hls4ml); structured = filters; the kernel must be 4-D."""

    _BLOCK = False

    def __init__(
        self,
        alpha: float,
        beta: float = 0,
        norm: int = 1,
        structure_type: Any = StructureType.UNSTRUCTURED,
        pattern_offset: int = 1,
        consecutive_patterns: int = 1,
    ) -> None:
        super().__init__(
            alpha,
            beta,
            norm,
            structure_type,
            pattern_offset=pattern_offset,
            consecutive_patterns=consecutive_patterns,
        )

    def __call__(self, weights: Any) -> Any:
        if len(weights.shape) != 4:
            raise ConfigError(
                f"Conv2DRegularizer regularizes Conv2D kernels; got a {len(weights.shape)}-dimensional weight"
            )
        return super().__call__(weights)

    def get_config(self) -> dict[str, Any]:
        return {
            "alpha": self.alpha,
            "beta": self.beta,
            "norm": self.norm,
            "structure_type": self.structure_type,
            "pattern_offset": self.pattern_offset,
            "consecutive_patterns": self.consecutive_patterns,
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


def strengths_as_optimizer_state(model: Any, regularizers: dict[str, GroupRegularizer]) -> list:
    """Move each regulariser's ``alpha`` and ``beta`` into ``model.optimizer``'s variables (public
    ``add_variable``; scalars, so replicated under any distribution) with their current values, and
    make the jitted train step read them from its state
    (:func:`hls_opt.train.backends.jax.read_from_optimizer_state`): a strength assigned between
    ``fit`` calls — the search's candidates, the switch back to 0 — then reaches the compiled step
    without a new trace.  Named ``hls_opt_*`` (kept by a moment reset).  Returns the new variables."""
    optimizer = model.optimizer
    moved = []
    for name, reg in regularizers.items():
        for attr in ("alpha", "beta"):
            old = getattr(reg, attr)
            new = optimizer.add_variable((), dtype="float32", name=f"hls_opt_{attr}_{name}")
            new.assign(old.numpy())
            setattr(reg, attr, new)
            moved.append(new)
    native().read_from_optimizer_state(model, moved)
    return moved


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
