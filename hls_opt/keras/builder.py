"""hls4ml's model builder (``hls4ml/optimization/dsp_aware_pruning/keras/builder.py``).

:func:`build_optimizable_model` puts hls4ml's regularizers (:class:`DenseRegularizer` on Dense and
Conv1D kernels, :class:`Conv2DRegularizer` on Conv2D kernels) on the layers the caller's
attributes make optimizable, with each layer's structure, pattern offset, consecutive patterns
and block shape; ``alpha`` where the layer prunes, ``beta`` where it shares weights.  The
strengths come from ``regularization_range``: its first value (``tuner='Manual'``), or a search
(``'Bayesian'`` / ``'Hyperband'``: keras-tuner over per-layer choices, as hls4ml, when keras-tuner
is installed; otherwise the built-in search over one strength for every layer).
:func:`remove_custom_regularizers` takes them off again.

hls-opt's own loop (:func:`hls_opt.train.engine.prune_with_fine_tuning`) does not use this
module: it sets :class:`~hls_opt.train.regularizers.GroupRegularizer` strengths in place.
"""

from __future__ import annotations

import importlib.util
import logging
import re
from typing import Any

import keras

from hls_opt.config.values import Tuner
from hls_opt.core.enums import parse_enum
from hls_opt.errors import ConfigError
from hls_opt.keras.config import SUPPORTED_LAYERS, TMP_DIRECTORY
from hls_opt.train.engine import DEFAULT_REGULARIZATION_RANGE
from hls_opt.train.regularizers import (
    Conv2DRegularizer,
    DenseRegularizer,
    GroupRegularizer,
    candidate_strengths,
)

__all__ = [
    "HyperOptimizationModel",
    "build_optimizable_model",
    "co",
    "default_regularization_range",
    "remove_custom_regularizers",
]

logger = logging.getLogger(__name__)

#: Custom objects for rebuilding a model that carries these regularizers (hls4ml's ``co``).
co: dict[str, Any] = {"DenseRegularizer": DenseRegularizer, "Conv2DRegularizer": Conv2DRegularizer}
try:  # QKeras layers and quantizers, when installed (hls4ml: qkeras.utils._add_supported_quantized_objects)
    from qkeras.utils import _add_supported_quantized_objects

    _add_supported_quantized_objects(co)
except ImportError:
    pass

default_regularization_range = list(DEFAULT_REGULARIZATION_RANGE)

try:
    import keras_tuner as _kt

    _HyperModel: type = _kt.HyperModel
except ImportError:  # keras-tuner is optional (pip install 'hls-opt[tuner]')
    _kt = None
    _HyperModel = object


def _regularizer(layer: Any, attributes: Any, alpha: float, beta: float) -> Any:
    oa = attributes.optimization_attributes
    common = {
        "norm": 1,
        "structure_type": oa.structure_type,
        "pattern_offset": oa.pattern_offset,
        "consecutive_patterns": oa.consecutive_patterns,
    }
    if isinstance(layer, keras.layers.Conv2D):
        return Conv2DRegularizer(alpha, beta, **common)
    return DenseRegularizer(alpha, beta, block_shape=tuple(oa.block_shape), **common)


def _optimizable(layer: Any, attributes: dict[str, Any]) -> Any:
    a = attributes.get(layer.name)
    if (
        isinstance(layer, SUPPORTED_LAYERS)
        and a is not None
        and getattr(a, "optimizable", False)
        and a.optimization_attributes is not None
    ):
        return a
    return None


def _rebuilt(model: Any, weights: list, strengths: Any) -> Any:
    """A copy of ``model`` whose optimizable kernels carry the regularizers ``strengths(layer, attrs)``
    gives (None: none), with ``weights``."""
    with keras.saving.custom_object_scope(co):
        clone = keras.models.clone_model(model)
    for layer in clone.layers:
        if hasattr(layer, "kernel_regularizer"):
            reg = strengths(layer)
            layer.kernel_regularizer = reg
            kernel = getattr(layer, "kernel", None)
            if kernel is not None:
                kernel.regularizer = reg  # what Layer.losses reads in Keras 3
    clone.set_weights(weights)
    return clone


def _with_regularizers(model: Any, attributes: dict[str, Any], alpha_beta: Any) -> Any:
    def strengths(layer: Any) -> Any:
        a = _optimizable(layer, attributes)
        if a is None:
            return layer.kernel_regularizer
        alpha, beta = alpha_beta(layer.name, a.optimization_attributes)
        return _regularizer(layer, a, alpha, beta)

    return _rebuilt(model, model.get_weights(), strengths)


class HyperOptimizationModel(_HyperModel):
    """hls4ml's keras-tuner hypermodel: per optimizable layer, ``<layer>_alpha`` (pruning) and
    ``<layer>_beta`` (weight sharing) chosen from ``regularization_range`` (default: its middle
    value); ``build(hp)`` returns the regularised, compiled model."""

    def __init__(
        self, model: Any, attributes: dict[str, Any], optimizer: Any, loss_fn: Any, validation_metric: Any,
        regularization_range: Any,
    ) -> None:
        if _HyperModel is not object:
            super().__init__()
        self.model = model
        self.attributes = attributes
        self.optimizer = optimizer
        self.loss_fn = loss_fn
        self.validation_metric = validation_metric
        self.regularization_range = list(regularization_range)

    def build(self, hp: Any) -> Any:
        rrange = self.regularization_range
        default = rrange[len(rrange) // 2]

        def alpha_beta(name: str, oa: Any) -> tuple[float, float]:
            alpha = hp.Choice(f"{name}_alpha", values=rrange, default=default) if oa.pruning else 0
            beta = hp.Choice(f"{name}_beta", values=rrange, default=default) if oa.weight_sharing else 0
            return alpha, beta

        model = _with_regularizers(self.model, self.attributes, alpha_beta)
        model.compile(optimizer=_fresh(self.optimizer), loss=self.loss_fn, metrics=[self.validation_metric])
        return model


def _fresh(optimizer: Any) -> Any:
    """A new optimizer like ``optimizer`` (a Keras 3 optimizer is bound to one model's variables)."""
    if isinstance(optimizer, keras.optimizers.Optimizer):
        return type(optimizer).from_config(optimizer.get_config())
    return optimizer


def _metric_name(validation_metric: Any) -> str:
    if isinstance(validation_metric, str):
        return validation_metric
    name = getattr(validation_metric, "name", None)
    if isinstance(name, str):
        return name
    return re.sub(r"(?<!^)(?=[A-Z])", "_", type(validation_metric).__name__).lower()


def build_optimizable_model(
    model: Any,
    attributes: dict[str, Any],
    optimizer: Any,
    loss_fn: Any,
    validation_metric: Any,
    increasing: bool,
    train_dataset: Any,
    validation_dataset: Any,
    batch_size: int,
    epochs: int,
    verbose: bool = False,
    directory: str = TMP_DIRECTORY,
    tuner: Tuner | str = Tuner.BAYESIAN,
    regularization_range: Any = default_regularization_range,
) -> Any:
    """A compiled copy of ``model`` with hls4ml's regularizers on the optimizable layers
    (hls4ml's function of that name; ``model`` is not modified).

    ``tuner='Manual'``: every optimizable layer gets ``regularization_range[0]`` as ``alpha``
    (pruning) and ``beta`` (weight sharing); nothing is trained.  ``'Bayesian'`` (10 trials) or
    ``'Hyperband'``: with keras-tuner, hls4ml's search over per-layer strengths, training on
    ``train_dataset`` for up to ``epochs`` epochs and keeping the model with the best
    ``validation_metric`` **on ``validation_dataset``** (hls4ml's objective names the training
    metric; ``docs/compat.md``), in ``directory``/tuning; without keras-tuner, each of zero and
    two strengths from the upper half of the range (one for every layer) is trained the same way
    and the best on ``validation_dataset`` is returned (``increasing``: higher is better).
    The datasets are what ``model.fit`` takes (a ``tf.data.Dataset`` of ``(x, y)`` batches, or
    an ``(x, y)`` tuple, then batched by ``batch_size``).
    """
    tuner = parse_enum(Tuner, tuner, "tuner")  # hls4ml's spelling, parsed once
    rrange = [float(v) for v in regularization_range]
    if not rrange:
        raise ConfigError("regularization_range: needs at least one value")
    if tuner is Tuner.MANUAL:

        def manual(name: str, oa: Any) -> tuple[float, float]:
            return (rrange[0] if oa.pruning else 0), (rrange[0] if oa.weight_sharing else 0)

        built = _with_regularizers(model, attributes, manual)
        built.compile(optimizer=_fresh(optimizer), loss=loss_fn, metrics=[validation_metric])
        return built

    fit_data, fit_kwargs = _fit_arguments(train_dataset, batch_size)
    val_data = validation_dataset if not isinstance(validation_dataset, (tuple, list)) else tuple(validation_dataset)
    if _kt is not None:
        try:
            return _keras_tuner(
                model, attributes, optimizer, loss_fn, validation_metric, increasing, fit_data, fit_kwargs,
                val_data, epochs, verbose, directory, tuner, rrange,
            )
        except ImportError:  # BayesianOptimization without scipy / scikit-learn
            logger.info("keras-tuner's %s is unavailable here; using the built-in search", tuner.value)

    best, best_value = None, None
    for strength in candidate_strengths(rrange):

        def uniform(name: str, oa: Any, s: float = strength) -> tuple[float, float]:
            return (s if oa.pruning else 0), (s if oa.weight_sharing else 0)

        candidate = _with_regularizers(model, attributes, uniform)
        candidate.compile(optimizer=_fresh(optimizer), loss=loss_fn, metrics=[validation_metric])
        candidate.fit(fit_data, epochs=epochs, verbose=int(bool(verbose)), **fit_kwargs)
        value = _evaluate(candidate, val_data, batch_size)
        if best is None or (value > best_value if increasing else value < best_value):
            best, best_value = candidate, value
    return best


def _fit_arguments(data: Any, batch_size: int) -> tuple[Any, dict[str, Any]]:
    if isinstance(data, (tuple, list)) and len(data) == 2:
        return data[0], {"y": data[1], "batch_size": batch_size}
    return data, {}


def _evaluate(model: Any, data: Any, batch_size: int) -> float:
    if isinstance(data, tuple) and len(data) == 2:
        result = model.evaluate(data[0], data[1], batch_size=batch_size, verbose=0, return_dict=True)
    else:
        result = model.evaluate(data, verbose=0, return_dict=True)
    metrics = [v for k, v in result.items() if k != "loss"]
    return float(metrics[0] if metrics else result["loss"])


def _keras_tuner(
    model: Any, attributes: dict[str, Any], optimizer: Any, loss_fn: Any, validation_metric: Any,
    increasing: bool, fit_data: Any, fit_kwargs: dict[str, Any], val_data: Any, epochs: int, verbose: bool,
    directory: str, tuner: Tuner, rrange: list[float],
) -> Any:
    kt = _kt
    hypermodel = HyperOptimizationModel(model, attributes, optimizer, loss_fn, validation_metric, rrange)
    objective = kt.Objective("val_" + _metric_name(validation_metric), "max" if increasing else "min")
    base = kt.BayesianOptimization if tuner is Tuner.BAYESIAN else kt.Hyperband

    class Search(base):  # type: ignore[misc, valid-type]
        def _configure_tensorboard_dir(self, callbacks: Any, trial: Any, execution: int = 0) -> None:
            # keras-tuner 1.4 imports tensorboard here under the TensorFlow backend even without a
            # TensorBoard callback; only such a callback needs it.
            if importlib.util.find_spec("tensorboard") is not None:
                super()._configure_tensorboard_dir(callbacks, trial, execution)

    if tuner is Tuner.BAYESIAN:
        search = Search(
            hypermodel=hypermodel, objective=objective, max_trials=10, overwrite=True, directory=directory + "/tuning"
        )
    else:
        search = Search(
            hypermodel=hypermodel, objective=objective, max_epochs=epochs, factor=3, hyperband_iterations=1,
            overwrite=True, directory=directory + "/tuning",
        )
    if verbose:
        search.search_space_summary()
    search.search(
        fit_data,
        epochs=epochs,
        validation_data=val_data,
        callbacks=[keras.callbacks.EarlyStopping(monitor="val_loss", patience=1)],
        verbose=int(bool(verbose)),
        **fit_kwargs,
    )
    if verbose:
        search.results_summary()
    return search.get_best_models(num_models=1)[0]


def remove_custom_regularizers(model: Any) -> Any:
    """A copy of ``model`` with the same weights and no hls4ml / hls-opt regularizers
    (:class:`DenseRegularizer`, :class:`Conv2DRegularizer`, :class:`GroupRegularizer`), so it loads
    where hls-opt is not installed; other regularizers stay."""
    ours = (DenseRegularizer, Conv2DRegularizer, GroupRegularizer)

    def strengths(layer: Any) -> Any:
        reg = layer.kernel_regularizer
        return None if isinstance(reg, ours) else reg

    return _rebuilt(model, model.get_weights(), strengths)

