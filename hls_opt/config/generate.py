"""``config_from_keras_model``: the same dict hls4ml's function of that name builds (hls4ml 1.3,
``hls4ml/utils/config.py``), and the Keras-class → hls4ml-class mapping it needs.
"""

from __future__ import annotations

import logging
from typing import Any

from hls_opt.config.values import (
    _parse_positive_int,
)
from hls_opt.core.precision import (
    DEFAULT_PRECISION,
    AutoPrecision,
    parse_precision,
)
from hls_opt.core.qkeras import (
    QKERAS_LAYERS,
    UnsupportedQuantizer,
    activation_precision,
    quantizer_name,
    weight_precision,
)
from hls_opt.errors import ConfigError, ModelError

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------
# config_from_keras_model: the dict hls4ml 1.3's function of that name builds
# (hls4ml/utils/config.py; layer splitting from hls4ml/converters/keras_v3/*.py)
# --------------------------------------------------------------------------------------------

_GRANULARITIES = ("model", "type", "name")
# Backends whose layer classes add the attributes tabulated below (hls4ml 1.3: Vitis == Vivado).
_FPGA_BACKENDS = ("vivado", "vitis")
_TABLE_PRECISION = "fixed<18,8,TRN,WRAP,0>"  # hls4ml's activation-table default (Vivado backend)
_SOFTMAX_PRECISION = "fixed<18,8,RND,SAT,0>"

# hls4ml class -> its configurable precision variables besides 'result', without a backend.
_LAYER_PRECISIONS: dict[str, tuple[str, ...]] = {
    "Dense": ("weight", "bias"),
    "Conv1D": ("weight", "bias"),
    "Conv2D": ("weight", "bias"),
    "DepthwiseConv1D": ("weight", "bias"),
    "DepthwiseConv2D": ("weight", "bias"),
    "SeparableConv1D": ("depthwise", "pointwise", "bias"),
    "SeparableConv2D": ("depthwise", "pointwise", "bias"),
    "BatchNormalization": ("scale", "bias"),
    "ThresholdedReLU": ("param",),
    "LeakyReLU": ("param",),
    "ELU": ("param",),
    "PReLU": ("param",),
    "HardActivation": ("slope", "shift"),
    "Embedding": ("embeddings",),
    "EinsumDense": ("weight", "bias", "accum"),  # accum even without a backend (hls4ml 1.3)
    "LSTM": ("weight", "bias", "recurrent_weight", "recurrent_bias"),
    "GRU": ("weight", "bias", "recurrent_weight", "recurrent_bias"),
    "SimpleRNN": ("weight", "bias", "recurrent_weight"),
    "Bidirectional": tuple(
        f"{direction}_{variable}"
        for direction in ("forward", "backward")
        for variable in ("weight", "bias", "recurrent_weight", "recurrent_bias")
    ),
}
_RNN_CLASSES = {"LSTM", "GRU", "SimpleRNN", "Bidirectional"}
_CONV_CLASSES = {"Conv1D", "Conv2D", "DepthwiseConv1D", "DepthwiseConv2D"}
_WEIGHTED_CLASSES = _CONV_CLASSES | {"Dense"}
_TABLE_ACTIVATIONS = {"Activation", "ThresholdedReLU", "LeakyReLU", "ELU", "PReLU", "HardActivation"}
_POOLING_CLASSES = {"MaxPooling1D", "MaxPooling2D", "AveragePooling1D", "AveragePooling2D"}
_GLOBAL_POOLING_CLASSES = {
    "GlobalMaxPooling1D",
    "GlobalMaxPooling2D",
    "GlobalAveragePooling1D",
    "GlobalAveragePooling2D",
}
_PLAIN_CLASSES = {  # hls4ml classes that take nothing beyond Trace and result precision
    "InputLayer",
    "Reshape",
    "Transpose",
    "ZeroPadding1D",
    "ZeroPadding2D",
    "UpSampling1D",
    "UpSampling2D",
}

# Keras class -> hls4ml class, where they differ (hls4ml/converters/keras_v3/core.py, merge.py, and
# the Keras v2 handlers hls4ml falls back to, e.g. Dropout -> a linear Activation).
_KERAS_TO_HLS4ML = {
    "Flatten": "Reshape",
    "Reshape": "Reshape",
    "Permute": "Transpose",
    "Dropout": "Activation",
    "Add": "Merge",
    "Subtract": "Merge",
    "Multiply": "Merge",
    "Average": "Merge",
    "Maximum": "Merge",
    "Minimum": "Merge",
    **QKERAS_LAYERS,
}
_KNOWN_SAME_NAME = (
    {"InputLayer", "Dense", "BatchNormalization", "Concatenate", "Dot", "Softmax", "ELU", "PReLU"}
    | {"Embedding"}
    | _CONV_CLASSES
    | {"SeparableConv1D", "SeparableConv2D", "ZeroPadding1D", "ZeroPadding2D", "UpSampling1D", "UpSampling2D"}
    | _POOLING_CLASSES
    | _GLOBAL_POOLING_CLASSES
    | _RNN_CLASSES
    | {"EinsumDense"}
)
# Layers whose activation argument hls4ml's Keras 3 handlers split off with a typed class
# (softmax -> Softmax, …); other layers fall back to the Keras 2 handlers, which always say 'Activation'.
_V3_SPLIT_ACTIVATION = {"Dense", "EinsumDense"} | _CONV_CLASSES
# Activation-like layers: their 'activation' attribute is the layer itself, never split off.
_ACTIVATION_LAYERS = {"Activation", "ReLU", "LeakyReLU", "PReLU", "Softmax", "ELU"}
# Layers whose 'activation' is internal to the layer (recurrent cells): never split off either.
_UNSPLIT_LAYERS = _ACTIVATION_LAYERS | _RNN_CLASSES


def _activation_class(function: Any) -> str:
    """hls4ml's class for a Keras activation function (keras_v3/_base.py maybe_get_activation_config)."""
    import keras

    activations = keras.activations
    if function is activations.softmax:
        return "Softmax"
    if function is activations.hard_sigmoid:
        return "HardActivation"
    if function is activations.leaky_relu:
        return "LeakyReLU"
    if function is activations.elu:
        return "ELU"
    return "Activation"


def hls4ml_layers(layer: Any) -> list[tuple[str, str]]:
    """The ``(name, hls4ml class)`` entries hls4ml 1.3 makes from one Keras 3 layer, in order.

    A layer with a non-linear ``activation`` argument becomes two entries, the second named
    ``<layer>_<activation>`` (e.g. ``Dense(activation='relu')`` named ``d`` → ``[('d', 'Dense'),
    ('d_relu', 'Activation')]``).  Layers hls4ml has no converter for keep their Keras class name.
    """
    import keras

    name, cls = layer.name, type(layer).__name__
    if cls == "Activation":
        return [(name, _activation_class(layer.activation))]
    if cls in ("ReLU", "LeakyReLU"):
        # keras_v3/core.py ReLUHandler: a zero slope ends up ThresholdedReLU (also for plain ReLU).
        slope = float(getattr(layer, "negative_slope", 0.0))
        return [(name, "LeakyReLU" if slope != 0.0 else "ThresholdedReLU")]
    if cls == "QActivation":
        return [(name, _qactivation_class(layer.activation))]
    hls_class = _KERAS_TO_HLS4ML.get(cls, cls)
    entries = [(name, hls_class)]
    activation = getattr(layer, "activation", None)
    if cls in QKERAS_LAYERS and activation is not None and _is_quantizer(activation):
        # A quantizer as a QDense/QConv activation: the Keras 2 parser hls4ml falls back to for
        # QKeras splits it off as a QActivation named '<layer>_<quantizer class>'
        # (hls4ml/converters/keras_v2_to_hls.py, "Workaround for QKeras activations passed as an argument").
        entries.append((f"{name}_{type(activation).__name__}", _qactivation_class(activation)))
        return entries
    if cls not in _UNSPLIT_LAYERS and activation is not None and activation is not keras.activations.linear:
        act_name = getattr(activation, "__name__", str(activation))
        act_class = _activation_class(activation) if cls in _V3_SPLIT_ACTIVATION else "Activation"
        entries.append((f"{name}_{act_name}", act_class))
    return entries


def hls4ml_layer_names(model: Any) -> list[str]:
    """The names of the layers hls4ml makes from ``model`` (the ``LayerName`` keys of
    ``config_from_keras_model(model, granularity='name')``, activations split off included), in order."""
    return [name for layer in _model_layers(model) for name, _ in hls4ml_layers(layer)]


def _is_quantizer(activation: Any) -> bool:
    """A QKeras quantizer object (not a plain Keras activation function)."""
    return hasattr(activation, "get_config") and not isinstance(activation, type)


def _qactivation_class(activation: Any) -> str:
    """hls4ml's class for a QActivation (``get_activation_quantizer`` in
    ``hls4ml/converters/keras/qkeras.py``): a leaky ``quantized_relu`` is a LeakyReLU, a
    ``quantized_tanh`` / ``quantized_sigmoid`` without the real function a HardActivation,
    ternary a TernaryTanh; every other quantizer an Activation."""
    if not _is_quantizer(activation):
        return "Activation"
    name = type(activation).__name__
    cfg = activation.get_config()
    if name == "quantized_relu" and float(cfg.get("negative_slope", 0.0) or 0.0) != 0.0:
        return "LeakyReLU"
    if (name == "quantized_sigmoid" and not cfg.get("use_real_sigmoid", False)) or (
        name == "quantized_tanh" and not cfg.get("use_real_tanh", False)
    ):
        return "HardActivation"
    if "ternary" in name:
        return "TernaryTanh"
    return "Activation"


def hls4ml_layer_class(layer: Any) -> str:
    """hls4ml's class name for a Keras 3 layer (the class ``LayerType`` entries are keyed by)."""
    return hls4ml_layers(layer)[0][1]


def _layer_template(hls_class: str, backend: str | None, reuse_factor: int) -> dict[str, Any]:
    """One layer's entry: hls4ml's configurable attributes of ``hls_class`` (and the backend's)."""
    precision = {"result": "auto"}
    for variable in _LAYER_PRECISIONS.get(hls_class, ()):
        precision[variable] = "auto"
    entry: dict[str, Any] = {"Trace": False, "Precision": precision}
    extra: dict[str, Any] = {}
    if hls_class == "SimpleRNN":
        extra["Direction"] = "forward"
    if backend is not None:
        if hls_class in _WEIGHTED_CLASSES:
            precision["accum"] = "auto"
            extra["ReuseFactor"] = reuse_factor
            if hls_class in _CONV_CLASSES:
                extra["ParallelizationFactor"] = 1
                extra["ConvImplementation"] = "LineBuffer"
        elif hls_class in _TABLE_ACTIVATIONS:
            precision["table"] = _TABLE_PRECISION
            extra.update(ReuseFactor=reuse_factor, TableSize=1024)
        elif hls_class == "Softmax":
            precision["table"] = _TABLE_PRECISION
            for variable in ("exp_table", "inv_table", "inv_inp", "accum"):
                precision[variable] = _SOFTMAX_PRECISION
            extra.update(ReuseFactor=reuse_factor, TableSize=1024, Implementation="stable", Skip=False)
        elif hls_class in _POOLING_CLASSES:
            precision["accum"] = "auto"
            extra.update(ReuseFactor=reuse_factor, ConvImplementation="LineBuffer")
        elif hls_class in _GLOBAL_POOLING_CLASSES or hls_class == "Dot":
            precision["accum"] = "auto"
            extra["ReuseFactor"] = reuse_factor
        elif hls_class in ("BatchNormalization", "Merge", "Concatenate", "Embedding"):
            extra["ReuseFactor"] = reuse_factor
        elif hls_class in _RNN_CLASSES:
            precision["accum"] = "auto"
            precision["table"] = _TABLE_PRECISION
            extra["ReuseFactor"] = reuse_factor
            # the other reuse factors are attribute defaults (1), not default_reuse_factor
            if hls_class == "Bidirectional":
                for part in ("Forward", "Backward", "ForwardRecurrent", "BackwardRecurrent"):
                    extra[f"{part}ReuseFactor"] = 1
            else:
                extra["RecurrentReuseFactor"] = 1
            extra.update(Static=True, TableSize=1024)
        elif hls_class in ("SeparableConv1D", "SeparableConv2D"):
            for variable in ("depthwise_accum", "pointwise_accum", "depthwise_result"):
                precision[variable] = "auto"
            # hls4ml's attribute defaults, not default_reuse_factor (only 'reuse_factor' takes that)
            extra.update(DepthwiseReuseFactor=1, PointwiseReuseFactor=1, ConvImplementation="LineBuffer")
    if hls_class in ("UpSampling1D", "UpSampling2D"):
        extra["Algorithm"] = "nearest"
    entry.update(extra)
    return entry


def _model_layers(model: Any) -> list[Any]:
    # hls4ml parses a Sequential through its functional twin, which includes the InputLayer.
    functional = getattr(model, "_functional", None)
    return list((functional if functional is not None else model).layers)


def config_from_keras_model(
    model: Any,
    granularity: str = "model",
    backend: str | None = None,
    default_precision: str = "fixed<16,6>",
    default_reuse_factor: int = 1,
    max_precision: str | None = None,
) -> dict[str, Any]:
    """hls4ml's ``config_from_keras_model`` for Keras 3 models, without needing hls4ml.

    Returns the same dict as ``hls4ml.utils.config.config_from_keras_model`` (hls4ml 1.3): a
    ``Model`` section (``Precision: {default[, maximum]}``, ``ReuseFactor``, ``Strategy: Latency``,
    ``BramFactor``, ``TraceOutput``) plus, for ``granularity='type'``, ``LayerType`` (first layer of
    each hls4ml class) or, for ``'name'``, ``LayerName`` (every hls4ml layer, activations split
    off).  ``backend`` ``'Vivado'``/``'Vitis'`` (any case) adds the backend's attributes
    (``accum`` precision, ``ReuseFactor``, tables, …); other backends raise :class:`ConfigError`.
    Layers hls4ml cannot convert get a minimal entry and a warning instead of an exception.
    ``IOType`` is not included (as in hls4ml).
    """
    if not isinstance(granularity, str) or granularity.lower() not in _GRANULARITIES:
        raise ConfigError(f"granularity: expected 'model', 'type' or 'name', got {granularity!r}")
    granularity = granularity.lower()
    if backend is not None:
        if not isinstance(backend, str) or backend.lower() not in _FPGA_BACKENDS:
            raise ConfigError(
                f"backend: {backend!r} is not supported by hls-opt's config_from_keras_model "
                "(supported: None, 'Vivado', 'Vitis')"
            )
    parsed = parse_precision(default_precision, key="default_precision")
    if isinstance(parsed, AutoPrecision):
        raise ConfigError(
            "default_precision: 'auto' is not allowed; give a concrete type such as fixed<16,6>"
        )
    if max_precision is not None:
        parse_precision(max_precision, key="max_precision")
    reuse_factor = _parse_positive_int(default_reuse_factor, "default_reuse_factor")

    import keras

    if not isinstance(model, keras.Model):
        raise TypeError(f"model: expected a keras.Model, got {type(model).__name__}")
    if not model.built:
        raise ModelError(f"model {model.name!r}: not built; call it on data or give it an Input first")

    precision: dict[str, Any] = {"default": default_precision}
    if max_precision is not None:
        precision["maximum"] = max_precision
    config: dict[str, Any] = {
        "Model": {
            "Precision": precision,
            "ReuseFactor": reuse_factor,
            "Strategy": "Latency",
            "BramFactor": 1_000_000_000,
            "TraceOutput": False,
        }
    }
    if granularity == "model":
        return config

    entries: list[tuple[str, str]] = []
    typed: dict[str, dict[str, str]] = {}
    for layer in _model_layers(model):
        typed.update(_quantizer_precisions(layer))
        cls = type(layer).__name__
        known = (
            cls in _KNOWN_SAME_NAME or cls in _KERAS_TO_HLS4ML or cls in _ACTIVATION_LAYERS
        ) and not isinstance(layer, keras.Model)
        if not known:
            log.warning(
                "layer %r (%s): hls4ml has no Keras converter for this class; giving it a minimal "
                "config entry",
                layer.name,
                cls,
            )
        entries.extend(hls4ml_layers(layer))

    backend_key = backend.lower() if backend is not None else None
    def template(name: str, hls_class: str) -> dict[str, Any]:
        entry = _layer_template(hls_class, backend_key, reuse_factor)
        entry["Precision"].update(typed.get(name, {}))
        return entry

    if granularity == "type":
        section: dict[str, Any] = {}
        for name, hls_class in entries:
            if hls_class not in section:
                section[hls_class] = template(name, hls_class)
        config["LayerType"] = section
    else:
        config["LayerName"] = {name: template(name, hls_class) for name, hls_class in entries}
    return config


# QBatchNormalization's quantizers, in hls4ml's order (parse_qbatchnorm_layer, converters/keras/qkeras.py).
_QBN_QUANTIZERS = ("mean", "variance", "beta", "gamma")


def _quantizer_precisions(layer: Any) -> dict[str, dict[str, str]]:
    """``{hls4ml layer name: {precision variable: type}}`` that hls4ml's ``config_from_keras_model``
    writes for a QKeras layer's quantizers (``make_layer_config`` in ``hls4ml/utils/config.py``:
    every quantizer that is set, ``<variable>_quantizer`` → ``<variable>``, ``activation`` →
    ``result``; the types from :mod:`hls_opt.core.qkeras`)."""
    cls = type(layer).__name__
    if cls not in QKERAS_LAYERS or not type(layer).__module__.startswith("qkeras"):
        return {}
    cfg = layer.get_config()
    entries = hls4ml_layers(layer)
    out: dict[str, dict[str, str]] = {}
    if cls == "QActivation":
        result = activation_precision(cfg.get("activation"))
        return {entries[0][0]: {"result": str(result)}} if result is not None else {}
    if cls == "QBatchNormalization":
        # hls4ml wraps each in QKerasQuantizer, which types only quantized_bits / binary / ternary
        # and gives everything else (QKeras' default po2 quantizers) fixed<16,6>.
        for variable in _QBN_QUANTIZERS:
            quantizer = cfg.get(f"{variable}_quantizer")
            if quantizer is not None:
                name = quantizer_name(quantizer) or ""
                precision = DEFAULT_PRECISION if "po2" in name else weight_precision(quantizer)
                out.setdefault(entries[0][0], {})[variable] = str(precision)
        return out
    for variable in ("weight", "bias"):
        quantizer = cfg.get("kernel_quantizer" if variable == "weight" else "bias_quantizer")
        if quantizer is None:
            continue
        try:
            out.setdefault(entries[0][0], {})[variable] = str(weight_precision(quantizer))
        except UnsupportedQuantizer:  # po2 weights: hls4ml's exponent type, not modelled here
            log.warning("layer %r: %s; its %s precision is left 'auto'", layer.name, quantizer_name(quantizer), variable)
    if len(entries) > 1:
        result = activation_precision(cfg.get("activation"))
        if result is not None:
            out[entries[1][0]] = {"result": str(result)}
    return out
