"""Training settings the flow reads from a compiled Keras model, and the metric heuristics.

``loss`` / ``optimizer`` / ``metric`` default to the model's compile config; without a metric the
flow scores classification by accuracy and anything else by its loss; whether higher is better is
judged from the metric's name and class.  Keras is imported inside the functions that need it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from hls_opt.core.tf_probe import without_tensorflow_probe

logger = logging.getLogger(__name__)


def _first_metric(metrics: Any) -> Any:
    if not metrics:
        return None
    if isinstance(metrics, Mapping):  # per-output metrics: take the first output's
        metrics = next(iter(metrics.values()))
    if isinstance(metrics, (list, tuple)):
        return metrics[0] if metrics else None
    return metrics


def training_settings_from_model(model: Any) -> dict[str, Any]:
    """``{loss, optimizer, metric}`` from a model's compile config (empty dict when uncompiled).

    Loss and optimizer are rebuilt from their configs, so the caller's objects are never shared.
    """
    import keras

    try:
        with without_tensorflow_probe():  # a JAX / PyTorch run need not import TensorFlow here
            cc = model.get_compile_config() or {}
    except Exception:  # models built without compile() have none
        cc = {}
    settings: dict[str, Any] = {}
    if cc.get("loss") is not None:  # one loss, or one per output (a list or a dict by output name)
        settings["loss"] = _per_output(cc["loss"], keras.losses.deserialize)
    if cc.get("optimizer") is not None:
        opt = cc["optimizer"]
        settings["optimizer"] = opt if isinstance(opt, str) else keras.optimizers.deserialize(opt)
    metric = _first_metric(cc.get("metrics"))
    if metric is not None:
        settings["metric"] = metric if isinstance(metric, str) else keras.metrics.deserialize(metric)
    return settings


def _per_output(value: Any, deserialize: Any) -> Any:
    """``value`` (a name, a serialized object, or a list / dict of them, one per output) deserialized."""
    if isinstance(value, str) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_per_output(v, deserialize) for v in value]
    if isinstance(value, Mapping) and "class_name" not in value:
        return {k: _per_output(v, deserialize) for k, v in value.items()}
    return deserialize(value)


def compile_like(model: Any, source: Any) -> None:
    """Compile ``model`` as ``source`` is compiled (its compile config, deserialized afresh: per-output
    losses and metrics included, no object shared with ``source``)."""
    with without_tensorflow_probe():
        config = source.get_compile_config()
    model.compile_from_config(config)


def _metric_name(metric: Any) -> str:
    if isinstance(metric, str):
        return metric
    return str(getattr(metric, "name", None) or getattr(metric, "__name__", "") or type(metric).__name__)


#: Name fragments of lower-is-better metrics (Keras' names and aliases, and their class names).
_LOWER_IS_BETTER = (
    "loss", "error", "crossentropy", "hinge", "mse", "mae", "mape", "msle",
    "divergence", "kld", "poisson", "logcosh", "false_neg", "false_pos", "falseneg", "falsepos",
)  # fmt: skip


def metric_increasing(metric: Any) -> bool:
    """Whether higher is better for a metric: accuracy-, AUC-, precision/recall-like → True;
    loss/error/divergence-like and false-positive/negative counts → False; unknown → True.
    A Keras metric object is also judged by its class, so a renamed ``MeanSquaredError`` stays lower-is-better."""
    names = [_metric_name(metric).lower()]
    if not isinstance(metric, str) and hasattr(metric, "name"):  # Keras metric / loss objects
        names.append(type(metric).__name__.lower())
    return not any(word in name for name in names for word in _LOWER_IS_BETTER)


def default_metric(loss: Any) -> tuple[Any, bool]:
    """``(metric, lower_is_better)`` when neither the caller nor the model names a metric:
    ``'accuracy'`` for a classification loss (cross-entropy, hinge), else the loss itself (so a
    regression model is not scored by thresholding its outputs at 0.5)."""
    name = _metric_name(loss).lower() if loss is not None else ""
    if loss is None or any(word in name for word in ("crossentropy", "hinge")):
        return "accuracy", False
    return loss, True


def compile_for_keras(model: Any, loss: Any, optimizer: Any, metric: Any) -> None:
    """Compile a (new) model with fresh copies of the training settings so it saves with them.

    The metric goes in by its Keras name; one Keras does not know (a plain callable) is left out.
    """
    import keras

    from hls_opt.train.fit import fresh_loss, fresh_optimizer  # imports Keras

    metrics = []
    if metric:
        try:
            metrics = [metric if isinstance(metric, str) else keras.metrics.get(_metric_name(metric))]
        except ValueError:
            logger.info("metric %s: not a Keras metric; the returned model is compiled without it", metric)
    try:
        model.compile(optimizer=fresh_optimizer(optimizer), loss=fresh_loss(loss), metrics=metrics)
    except (ValueError, TypeError):
        model.compile(optimizer=fresh_optimizer(optimizer), loss=fresh_loss(loss))
