"""Training helpers: copies of the caller's objects, the validation metric, fast evaluation, ``fit``.

Nothing here touches the caller's objects: optimizers are rebuilt from class + config, metrics
are cloned, schedulers deep-copied, models cloned.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable
from typing import Any

import keras
import numpy as np

from hls_opt.core.tf_probe import without_tensorflow_probe
from hls_opt.errors import ConfigError, DataError, ModelError
from hls_opt.train.backends import native

logger = logging.getLogger(__name__)

PREDICT_CHUNK = 4096


# --------------------------------------------------------------------------------------------
# Copies of the caller's objects
# --------------------------------------------------------------------------------------------


def fresh_optimizer(optimizer: Any) -> Any:
    """A new optimizer with the given one's class and config (strings resolved by Keras)."""
    if optimizer is None:
        return keras.optimizers.Adam()
    if isinstance(optimizer, str):
        try:
            return keras.optimizers.get(optimizer)
        except ValueError:
            raise ConfigError(f"optimizer {optimizer!r}: not a Keras optimizer name") from None
    try:
        return type(optimizer).from_config(optimizer.get_config())
    except Exception as exc:  # a hand-written optimizer without a round-trippable config
        raise ModelError(
            f"optimizer {type(optimizer).__name__}: cannot be rebuilt from its config ({exc})"
        ) from None


def fresh_loss(loss_fn: Any) -> Any:
    """The loss as a callable; Keras loss objects are rebuilt from their config (they are stateless).
    A list or dict (one loss per output, as Keras' ``compile`` takes it) gives the same structure."""
    if isinstance(loss_fn, (list, tuple)):
        return [fresh_loss(one) for one in loss_fn]
    if isinstance(loss_fn, dict):
        return {name: fresh_loss(one) for name, one in loss_fn.items()}
    if isinstance(loss_fn, str):
        try:
            return keras.losses.get(loss_fn)
        except ValueError:
            raise ConfigError(f"loss_fn {loss_fn!r}: not a Keras loss name") from None
    if isinstance(loss_fn, keras.losses.Loss):
        try:
            return type(loss_fn).from_config(loss_fn.get_config())
        except Exception:  # custom Loss subclass without from_config: it is stateless, share it
            return loss_fn
    if callable(loss_fn):
        return loss_fn
    raise DataError(f"loss_fn {loss_fn!r}: expected a Keras loss, its name, or a callable")


def clone_model(model: Any) -> Any:
    """A structural copy of ``model`` with its current weights (the caller's model is untouched).

    Under a JAX ``ModelParallel`` distribution every variable of the copy is laid out as the
    caller's is (:func:`_same_layouts`), whatever its path."""
    try:
        with without_tensorflow_probe():  # cloning serialises every layer's config
            new = keras.models.clone_model(model)
            layouts = _same_layouts(model, new)
            if layouts is not None:
                with layouts.scope():
                    new = keras.models.clone_model(model)
    except Exception as exc:
        raise ModelError(f"model {getattr(model, 'name', '?')}: cannot be cloned ({exc})") from None
    new.set_weights(model.get_weights())
    return new


def _same_layouts(model: Any, new: Any) -> Any:
    """None, or a ``ModelParallel`` distribution that gives ``new``'s variables (by their paths) the
    layouts the caller's ``model``'s variables have.

    A ``LayoutMap`` matches variable *paths* (``re.fullmatch``, keras/src/distribution/distribution_lib.py),
    and a copy's paths need not be the original's: a model loaded from a file has ``hidden/kernel``,
    its ``clone_model`` copy ``sequential/hidden/kernel``; the user's layout map, written for their
    model, would leave the copy's kernels unsharded.  Only under JAX, a ``ModelParallel`` distribution,
    and when some variable of the caller's is sharded on its mesh differently from the copy's."""
    if keras.backend.backend() != "jax":
        return None
    dist = keras.distribution.distribution()
    if not isinstance(dist, keras.distribution.ModelParallel):
        return None
    mesh = dist.device_mesh
    layout_map = keras.distribution.LayoutMap(mesh)
    differs = False
    for old_var, new_var in zip(model.variables, new.variables):
        sharding = getattr(old_var.value, "sharding", None)
        spec = getattr(sharding, "spec", None)
        if spec is None or getattr(sharding, "mesh", None) != mesh.backend_mesh:
            continue  # not laid out on this distribution's mesh (made before it was set): its own rule
        axes = tuple(spec) + (None,) * (len(old_var.shape) - len(spec))
        layout_map[new_var.path] = keras.distribution.TensorLayout(axes, mesh)
        new_spec = getattr(getattr(new_var.value, "sharding", None), "spec", None)
        differs |= new_spec is None or tuple(new_spec) + (None,) * (len(axes) - len(new_spec)) != axes
    if not differs:
        return None
    return keras.distribution.ModelParallel(layout_map=layout_map, batch_dim_name=dist.batch_dim_name)


# --------------------------------------------------------------------------------------------
# The validation metric
# --------------------------------------------------------------------------------------------


class ValidationMetric:
    """Computes the validation metric from ``(y_true, y_pred)`` numpy arrays; returns a float.
    Called once on whole arrays, or streamed block by block (:meth:`start`, :meth:`update`, :meth:`result`).

    Accepts a Keras metric object (cloned, never updated), a Keras metric name (``'accuracy'``
    is resolved from the label shape as Keras' ``compile`` does) or a callable
    ``(y_true, y_pred) -> float``.
    """

    def __init__(self, metric: Any, y_example: np.ndarray) -> None:
        self.name = "metric"
        self._metric: Any = None
        self._fn: Callable[[np.ndarray, np.ndarray], Any] | None = None
        self._given_name: str | None = metric if isinstance(metric, str) else None
        if isinstance(metric, str):
            self.name = metric
            if metric.lower() in ("accuracy", "acc"):
                self._fn = _accuracy_for(np.asarray(y_example))
            else:
                try:
                    resolved = keras.metrics.get(metric)
                except ValueError:
                    raise ConfigError(f"validation_metric {metric!r}: not a Keras metric name") from None
                if isinstance(resolved, keras.metrics.Metric):
                    self._metric = type(resolved).from_config(resolved.get_config())
                else:
                    self._fn = _mean_of(resolved)
        elif isinstance(metric, keras.metrics.Metric):
            self.name = metric.name
            try:
                self._metric = type(metric).from_config(metric.get_config())
            except Exception:  # custom metric without from_config: copy it (state reset below)
                self._metric = copy.deepcopy(metric)
        elif callable(metric):
            self.name = getattr(metric, "__name__", "metric")
            self._fn = _mean_of(metric)
        else:
            raise DataError(f"validation_metric {metric!r}: expected a Keras metric, its name, or a callable")

    def __call__(self, y_true: np.ndarray, y_pred: np.ndarray) -> float:
        """The metric of one set of targets and predictions."""
        state = self.start()
        self.update(state, y_true, y_pred)
        return self.result(state)

    # Streamed: start → update per block → result (hls_opt/train/data.py ``evaluate``).  A Keras metric
    # object accumulates its own state; a function's per-sample values are summed in float64 and divided
    # by the sample count at the end (a function returning one number per block is weighted by the
    # block's size).  Accuracy counts correct samples, so its value is exact whatever the blocks.

    def start(self) -> dict[str, Any]:
        if self._metric is not None:
            self._metric.reset_state()
        return {"total": 0.0, "count": 0, "blocks": 0, "last": 0.0}

    def update(self, state: dict[str, Any], y_true: np.ndarray, y_pred: np.ndarray) -> None:
        if self._metric is not None:
            self._metric.update_state(y_true, y_pred)
            return
        values = np.asarray(self._fn(y_true, y_pred), dtype=np.float64)
        n = len(y_true) if values.ndim == 0 else values.size
        state["last"] = float(values) if values.ndim == 0 else None
        state["total"] += float(values) * n if values.ndim == 0 else float(np.sum(values))
        state["count"] += n
        state["blocks"] += 1

    def result(self, state: dict[str, Any]) -> float:
        if self._metric is not None:
            value = float(keras.ops.convert_to_numpy(self._metric.result()))
            self._metric.reset_state()
            return value
        if state["blocks"] == 1 and state["last"] is not None:
            return state["last"]  # a function's own number for the only block, as it returned it
        return state["total"] / max(state["count"], 1)

    def keras_metric(self) -> Any:
        """A fresh Keras metric for ``compile`` on the returned model, or None for a plain callable."""
        if self._metric is not None:
            return type(self._metric).from_config(self._metric.get_config())
        return self._given_name


def _mean_of(fn: Callable[[Any, Any], Any]) -> Callable[[np.ndarray, np.ndarray], Any]:
    """``fn``'s values as numpy: one per sample (Keras' metric functions) or one number."""
    return lambda t, p: keras.ops.convert_to_numpy(fn(t, p))


def _accuracy_for(y: np.ndarray) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """Keras' 'accuracy' resolution: one-hot → categorical, integer labels → sparse, one column → binary.
    Returns 1.0 / 0.0 per sample (right / wrong)."""
    if y.ndim >= 2 and y.shape[-1] > 1:
        return lambda t, p: (np.argmax(t, axis=-1) == np.argmax(p, axis=-1)).astype(np.float64)

    def sparse_or_binary(t: np.ndarray, p: np.ndarray) -> np.ndarray:
        t = np.asarray(t).reshape(len(t), -1)
        p = np.asarray(p).reshape(len(p), -1)
        if p.shape[-1] > 1:
            return (t[:, 0].astype(np.int64) == np.argmax(p, axis=-1)).astype(np.float64)
        return ((p[:, 0] > 0.5) == (t[:, 0] > 0.5)).astype(np.float64)

    return sparse_or_binary


def meets(value: float, baseline: float, rtol: float, increasing: bool) -> bool:
    """hls4ml's acceptance test (``__compare__``, keras/__init__.py L344-353)."""
    return value >= rtol * baseline if increasing else value <= rtol * baseline


def at_least_as_good(value: float, reference: float, increasing: bool) -> bool:
    return value >= reference if increasing else value <= reference


# --------------------------------------------------------------------------------------------
# Prediction, data, fit
# --------------------------------------------------------------------------------------------


class Predictor:
    """``model(X, training=False)`` through the backend's compiled forward pass (one trace, reused
    across every evaluation; :func:`hls_opt.train.backends.native`)."""

    def __init__(self, model: Any) -> None:
        self._fn = native().predictor(model)

    def __call__(self, X: np.ndarray) -> np.ndarray:
        parts = [np.asarray(self._fn(X[i : i + PREDICT_CHUNK])) for i in range(0, len(X), PREDICT_CHUNK)]
        return np.concatenate(parts, axis=0) if parts else np.zeros((0,))


def fit(model: Any, data: Any, **kwargs: Any) -> Any:
    """``model.fit(data, **kwargs)`` (default ``verbose=0``, ``shuffle=False``) with a train function that sees the
    masks and regularisation strengths assigned since the last ``fit``.

    Under JAX a traced train function holds every ``keras.Variable`` that is neither model nor
    optimizer state (a mask not moved by :func:`~hls_opt.train.masking.masks_as_optimizer_state`,
    a regulariser's strength) as a constant of its trace (``TRAIN_FUNCTION_SEES_ASSIGNS``,
    :mod:`hls_opt.train.backends.jax`), so when one of them changed a fresh train function is made
    (Keras' public ``make_train_function(force=True)``: one new trace)."""
    if not native().TRAIN_FUNCTION_SEES_ASSIGNS:
        key = _frozen_by_trace(model)
        if model.__dict__.get("_hls_opt_traced_with") != key:
            model.make_train_function(force=True)
            model.__dict__["_hls_opt_traced_with"] = key
    kwargs.setdefault("verbose", 0)
    kwargs.setdefault("shuffle", False)
    return model.fit(data, **kwargs)


def _frozen_by_trace(model: Any) -> tuple:
    """The values of the variables the trainable weights' constraints and regularizers read that
    are not model or optimizer state (what a JAX trace would freeze)."""
    state = {id(v) for v in model.variables}
    optimizer = getattr(model, "optimizer", None)
    state |= {id(v) for v in getattr(optimizer, "variables", [])}
    out = []
    for var in model.trainable_variables:
        for owner in (getattr(var, "constraint", None), getattr(var, "regularizer", None)):
            for value in vars(owner).values() if owner is not None else ():
                if isinstance(value, keras.Variable) and id(value) not in state:
                    out.append((id(value), np.asarray(value.numpy()).tobytes()))
    return tuple(out)


class ArrayBatches(keras.utils.PyDataset):
    """Shuffled batches of in-memory arrays, for the backends without ``tf.data`` (JAX, PyTorch):
    a new seeded permutation every epoch, like ``tf.data``'s ``reshuffle_each_iteration``.

    Every batch has ``batch_size`` rows: the last one of an epoch is completed with the epoch's
    first rows (when there are enough), so JAX compiles one train step per ``fit``, not a second
    one for a smaller last batch."""

    def __init__(self, X: Any, y: Any, batch_size: int, seed: int = 0) -> None:
        super().__init__()
        self.X, self.y, self.batch_size = X, y, int(batch_size)
        self._rng = np.random.default_rng(seed)
        self._order = self._rng.permutation(len(X))

    def __len__(self) -> int:
        return -(-len(self.X) // self.batch_size)

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        b = self.batch_size
        rows = self._order[index * b : (index + 1) * b]
        if len(rows) < b <= len(self._order):
            rows = np.concatenate([rows, self._order[: b - len(rows)]])
        rows = np.sort(rows)
        return self.X[rows], self.y[rows]

    def on_epoch_end(self) -> None:
        self._order = self._rng.permutation(len(self.X))


def train_dataset(X: Any, y: Any, batch_size: int, seed: int = 0) -> Any:
    """A shuffled, batched ``tf.data`` pipeline built once and reused by every ``fit`` (under the
    other backends, :class:`ArrayBatches`: no TensorFlow)."""
    if keras.backend.backend() != "tensorflow":
        return ArrayBatches(X, y, batch_size, seed)
    import tensorflow as tf

    n = len(X)
    ds = tf.data.Dataset.from_tensor_slices((X, y))
    return (
        ds.shuffle(min(n, 10_000), seed=seed, reshuffle_each_iteration=True)
        .batch(int(batch_size))
        .prefetch(2)
    )


class StopWhenRecovered(keras.callbacks.Callback):
    """Ends ``fit`` as soon as the validation metric is back to ``target`` (no wasted epochs)."""

    def __init__(self, evaluate: Callable[[], float], target: float, increasing: bool) -> None:
        super().__init__()
        self.evaluate = evaluate
        self.target = target
        self.increasing = increasing
        self.last: float | None = None
        self.epochs_run = 0

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.epochs_run = epoch + 1
        self.last = self.evaluate()
        if at_least_as_good(self.last, self.target, self.increasing):
            self.model.stop_training = True


class KeepBest(keras.callbacks.Callback):
    """Evaluates after every epoch and remembers the weights with the best validation metric."""

    def __init__(
        self, evaluate: Callable[[], float], start_value: float, start_weights: list, increasing: bool
    ) -> None:
        super().__init__()
        self.evaluate = evaluate
        self.increasing = increasing
        self.best_value = start_value
        self.best_weights = start_weights
        self.best_epoch = 0

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        value = self.evaluate()
        # ties go to the later epoch: more training on the same mask at equal validation score
        if at_least_as_good(value, self.best_value, self.increasing):
            self.best_value = value
            self.best_weights = self.model.get_weights()
            self.best_epoch = epoch + 1


class Timer:
    """Accumulates wall time per named phase (``totals``) and named counts (``counts``)."""

    def __init__(self) -> None:
        self.totals: dict[str, float] = {}
        self.counts: dict[str, int] = {}

    def count(self, name: str, n: int) -> None:
        self.counts[name] = self.counts.get(name, 0) + int(n)

    def phase(self, name: str) -> _Phase:
        return _Phase(self, name)


class _Phase:
    def __init__(self, timer: Timer, name: str) -> None:
        self.timer, self.name = timer, name

    def __enter__(self) -> _Phase:
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.timer.totals[self.name] = (
            self.timer.totals.get(self.name, 0.0) + time.perf_counter() - self.start
        )


class MaskedBackprop:
    """hls4ml's masked training step (``MaskedBackprop`` in
    hls4ml/optimization/dsp_aware_pruning/keras/__init__.py): one optimizer step on ``(X, y)`` in
    which the kernel gradients of the optimizable layers are multiplied by their masks (0 =
    frozen), so masked weights keep their values.

    ``model`` must be compiled (its optimizer takes the step); ``attributes`` are the model
    attributes (a layer is masked when it is ``optimizable`` and has a mask);
    :meth:`update_masks` sets ``{layer: kernel-shaped mask}``.  ``__call__(X, y, s)`` returns the
    loss (``loss_fn(y, model(X))`` plus the model's regularisation losses); ``s`` (the sparsity)
    is accepted as in hls4ml, where it only served to re-trace its ``tf.function``.  hls-opt's own
    loop freezes weights with :class:`hls_opt.train.masking.MaskConstraint` instead.
    """

    def __init__(self, model: Any, loss_fn: Any, attributes: dict[str, Any]) -> None:
        self.model = model
        self.loss_fn = loss_fn
        self.attributes = attributes
        self.masks: dict[str, Any] = {}

    def update_masks(self, masks: dict[str, Any]) -> None:
        self.masks = masks

    def __call__(self, X: Any, y: Any, s: Any = None) -> Any:
        variables = list(self.model.trainable_variables)
        masked: dict[int, Any] = {}
        for layer in self.model.layers:
            a = self.attributes.get(layer.name)
            kernel = getattr(layer, "kernel", None)
            if a is not None and getattr(a, "optimizable", False) and layer.name in self.masks and kernel is not None:
                masked[id(kernel)] = self.masks[layer.name]
        # the backend's gradient of loss_fn(y, model(X, training=True)) + Σ model.losses
        loss, grads = native().value_and_gradients(self.model, variables, self.loss_fn, X, y, "train")
        grads = [
            g * keras.ops.cast(masked[id(v)], g.dtype) if (g is not None and id(v) in masked) else g
            for g, v in zip(grads, variables)
        ]
        self.model.optimizer.apply_gradients(
            [(g, v) for g, v in zip(grads, variables) if g is not None]
        )
        return loss
