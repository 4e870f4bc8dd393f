"""hls4ml-style configuration: typed strategies, IO types and resolved per-layer configs.

Everything here parses hls4ml's loosely typed dicts once, at the edge, into frozen values:

* :func:`parse_strategy`, :func:`parse_io_type` - strings to enums (every spelling hls4ml maps,
  plus the seed's ``Unrolled``);
* :func:`resolve_layer_config` - ``LayerName > LayerType > Model`` resolution the way hls4ml's
  ``HLSConfig`` does it (``hls4ml/model/graph.py``), into a :class:`LayerConfig`;
* :func:`config_from_keras_model` - the same dict hls4ml's function of that name builds;
* :func:`load_config` / :func:`save_config` / :func:`dump_config_yaml` - YAML/JSON files.

The rules, and where they differ from hls4ml, are in ``docs/config.md``.
"""

from __future__ import annotations

import json
import logging
import numbers
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from hls_opt.errors import ConfigError, ModelError
from hls_opt.fileio import atomic_write_text
from hls_opt.precision import (
    DEFAULT_PRECISION,
    AutoPrecision,
    Precision,
    parse_precision,
)

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_LAYER_CONFIG",
    "DEFAULT_PRECISION",
    "IOType",
    "LayerConfig",
    "Strategy",
    "config_from_keras_model",
    "dump_config_yaml",
    "hls4ml_layer_class",
    "hls4ml_layers",
    "load_config",
    "parse_io_type",
    "parse_strategy",
    "resolve_layer_config",
    "save_config",
    "unwrap_hls_config",
    "validate_config",
]


class Strategy(str, Enum):
    """hls4ml's dense/conv implementation strategies, by the spelling hls4ml accepts on input.

    ``RESOURCE_UNROLLED`` is hls4ml's unrolled strategy (``ResourceUnrolled``); the seed's
    ``Unrolled`` is accepted as an alias on input but never written (hls4ml would read it as Latency).
    """

    LATENCY = "Latency"
    RESOURCE = "Resource"
    RESOURCE_UNROLLED = "ResourceUnrolled"
    DISTRIBUTED_ARITHMETIC = "DistributedArithmetic"


class IOType(str, Enum):
    PARALLEL = "io_parallel"
    STREAM = "io_stream"


@dataclass(frozen=True)
class LayerConfig:
    """Everything hls-opt needs to know about one layer's hls4ml configuration, resolved once.

    Precedence when resolving: LayerName > LayerType > Model.  Precisions are concrete (``auto``
    has been replaced by the next level's value).  ``reuse_factor`` and ``parallelization_factor``
    are positive integers.  ``activation_result`` is the result type of the activation hls4ml
    splits off this layer (``Dense(activation='relu')`` named ``d`` → hls4ml layer ``d_relu``),
    i.e. what the next layer reads; ``None`` when the layer has no split-off activation.
    """

    weight: Precision
    bias: Precision
    result: Precision
    accum: Precision
    reuse_factor: int = 1
    strategy: Strategy = Strategy.LATENCY
    io_type: IOType = IOType.PARALLEL
    parallelization_factor: int = 1
    activation_result: Precision | None = None

    def __post_init__(self) -> None:
        # Parse once, at the edge: whoever builds a LayerConfig hands over typed values, and a
        # wrong one is caught here, naming the field, not deep inside a resource model.
        for name in ("weight", "bias", "result", "accum"):
            if not isinstance(getattr(self, name), Precision):
                raise ConfigError(f"LayerConfig.{name}: expected a concrete Precision, got {getattr(self, name)!r}")
        if self.activation_result is not None and not isinstance(self.activation_result, Precision):
            raise ConfigError(f"LayerConfig.activation_result: expected a Precision, got {self.activation_result!r}")
        if not isinstance(self.strategy, Strategy):
            raise ConfigError(f"LayerConfig.strategy: expected a Strategy, got {self.strategy!r}")
        if not isinstance(self.io_type, IOType):
            raise ConfigError(f"LayerConfig.io_type: expected an IOType, got {self.io_type!r}")
        for name in ("reuse_factor", "parallelization_factor"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or int(value) < 1:
                raise ConfigError(f"LayerConfig.{name}: expected a positive integer, got {value!r}")
            object.__setattr__(self, name, int(value))

    @property
    def output(self) -> Precision:
        """The type of what the next layer reads: the split-off activation's result, else ``result``."""
        return self.activation_result if self.activation_result is not None else self.result


#: hls4ml's settings for a layer no config mentions: ``fixed<16,6>`` everywhere, reuse factor 1,
#: Latency, io_parallel (``config_from_keras_model`` defaults, API.md §1).
DEFAULT_LAYER_CONFIG = LayerConfig(
    weight=DEFAULT_PRECISION, bias=DEFAULT_PRECISION, result=DEFAULT_PRECISION, accum=DEFAULT_PRECISION
)


# --------------------------------------------------------------------------------------------
# Strategy and IO type
# --------------------------------------------------------------------------------------------

# Keys are spellings with underscores removed and lower-cased.  hls4ml itself normalises with
# convert_to_snake_case (hls4ml/utils/string_utils.py) and then compares to 'latency', 'resource',
# 'resource_unrolled', 'distributed_arithmetic' / 'da' (vivado_backend.py); anything else silently
# becomes Latency.  We accept every spelling that normalises to those, case-insensitively, plus
# the seed's 'Unrolled'.
_STRATEGY_SPELLINGS: dict[str, Strategy] = {
    "latency": Strategy.LATENCY,
    "resource": Strategy.RESOURCE,
    "resourceunrolled": Strategy.RESOURCE_UNROLLED,
    "unrolled": Strategy.RESOURCE_UNROLLED,
    "distributedarithmetic": Strategy.DISTRIBUTED_ARITHMETIC,
    "da": Strategy.DISTRIBUTED_ARITHMETIC,
}
# What hls4ml's convert_to_snake_case must produce for hls4ml to honour the strategy.
_HLS4ML_UNDERSTANDS = {"latency", "resource", "resource_unrolled", "distributed_arithmetic", "da"}
_ALREADY_LOGGED: set[tuple[str, str]] = set()


def _hls4ml_snake_case(text: str) -> str:
    # Same transformation as hls4ml.utils.string_utils.convert_to_snake_case (reimplemented).
    snake = re.sub(r"(?<!^)(?=[A-Z])", "_", text).lower()
    return re.sub(r"_{2,}", "_", snake)


def parse_strategy(text: str | Strategy, *, key: str = "Strategy") -> Strategy:
    """Parse an hls4ml ``Strategy`` value into a :class:`Strategy`.

    Accepts every spelling hls4ml maps (``Latency``, ``latency``, ``Resource``, ``ResourceUnrolled``,
    ``resource_unrolled``, ``Resource_Unrolled``, ``DistributedArithmetic``, ``da``, …), any letter
    case (``RESOURCE``), and ``Unrolled`` as an alias of ``ResourceUnrolled``.  Spellings that
    hls4ml itself would silently read as Latency are logged at WARNING (they mean something else to
    hls4ml than to us).  Unknown values raise :class:`ConfigError` naming ``key``.
    """
    if isinstance(text, Strategy):
        return text
    if not isinstance(text, str):
        raise ConfigError(f"{key}: expected a strategy name, got {text!r}")
    stripped = text.strip()
    strategy = _STRATEGY_SPELLINGS.get(stripped.replace("_", "").lower())
    if strategy is None:
        names = ", ".join(s.value for s in Strategy)
        raise ConfigError(
            f"{key}: unknown strategy '{text}' (expected one of {names}; 'Unrolled' is accepted)"
        )
    if (key, stripped) in _ALREADY_LOGGED:
        return strategy  # say it once per key and spelling, not once per layer
    _ALREADY_LOGGED.add((key, stripped))
    if stripped.replace("_", "").lower() == "unrolled":
        log.info(
            "%s: 'Unrolled' read as ResourceUnrolled (it is written back as 'ResourceUnrolled', "
            "the spelling hls4ml understands)",
            key,
        )
    elif strategy is not Strategy.LATENCY and _hls4ml_snake_case(stripped) not in _HLS4ML_UNDERSTANDS:
        log.warning(
            "%s: '%s' read as %s; hls4ml itself would silently treat this spelling as Latency - write '%s'",
            key,
            text,
            strategy.value,
            strategy.value,
        )
    return strategy


def parse_io_type(text: str | IOType, *, key: str = "IOType") -> IOType:
    """Parse ``io_parallel`` / ``io_stream`` (any letter case) into an :class:`IOType`."""
    if isinstance(text, IOType):
        return text
    if isinstance(text, str):
        try:
            return IOType(text.strip().lower())
        except ValueError:
            pass
    raise ConfigError(f"{key}: unknown IO type '{text}' (expected io_parallel or io_stream)")


def _parse_positive_int(value: Any, key: str) -> int:
    # YAML yields ints; also accept numpy integers (numbers.Integral), an integral float (4.0) or
    # a digit string ("4"), never a bool.
    if isinstance(value, bool):
        number = None
    elif isinstance(value, numbers.Integral):
        number = int(value)
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())
    else:
        number = None
    if number is None or number < 1:
        raise ConfigError(f"{key}: expected a positive integer, got {value!r}")
    return number


# --------------------------------------------------------------------------------------------
# Resolution: LayerName > LayerType > Model (hls4ml/model/graph.py, HLSConfig)
# --------------------------------------------------------------------------------------------

_PRECISION_VARIABLES = ("weight", "bias", "result", "accum")


def unwrap_hls_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """Return the HLSConfig dict from either the bare dict or hls4ml's file layout.

    hls4ml's YAML files nest the dict under ``HLSConfig`` next to ``KerasModel``, ``OutputDir``,
    ``IOType``, …; the bare form (what ``config_from_keras_model`` returns) has ``Model`` /
    ``LayerType`` / ``LayerName`` at the top.  A top-level ``IOType`` next to ``HLSConfig`` is
    copied into the result (the optimizer reads ``hls_config['IOType']``).  Returns a new dict.
    """
    if "HLSConfig" in config and "Model" not in config:
        inner = config["HLSConfig"]
        if not isinstance(inner, Mapping):
            raise ConfigError(f"HLSConfig: expected a mapping, got {type(inner).__name__}")
        result = dict(inner)
        if "IOType" in config and "IOType" not in result:
            result["IOType"] = config["IOType"]
        return result
    return dict(config)


def _section(config: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = config.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{key}: expected a mapping, got {type(value).__name__}")
    return value


def _matching_entries(
    section: Mapping[str, Any], section_name: str, wanted: str
) -> list[tuple[str, Mapping]]:
    """Entries of ``LayerName``/``LayerType`` whose key equals ``wanted`` ignoring case, in order.

    hls4ml lower-cases both sides (graph.py ``layer.name.lower()``); entries that differ only in
    case are merged, later ones winning, as in hls4ml's flat per-variable dicts.
    """
    found = []
    for name, entry in section.items():
        if str(name).lower() != wanted.lower():
            continue
        path = f"{section_name}.{name}"
        if entry is None:
            continue
        if not isinstance(entry, Mapping):
            raise ConfigError(f"{path}: expected a mapping, got {type(entry).__name__}")
        found.append((path, entry))
    return found


def _precision_table(entries: list[tuple[str, Mapping]]) -> dict[str, tuple[str, Any]]:
    """Flatten the ``Precision`` values of ``entries`` to ``{variable: (key path, raw value)}``.

    A plain string is the ``default`` variable (hls4ml: ``layer_name_precision[name + '_default']``).
    """
    table: dict[str, tuple[str, Any]] = {}
    for path, entry in entries:
        precision = entry.get("Precision")
        if precision is None:
            continue
        if isinstance(precision, Mapping):
            for variable, value in precision.items():
                table[str(variable)] = (f"{path}.Precision.{variable}", value)
        else:
            table["default"] = (f"{path}.Precision", precision)
    return table


def _last_value(entries: list[tuple[str, Mapping]], field: str) -> tuple[str, Any] | None:
    found = None
    for path, entry in entries:
        if entry.get(field) is not None:
            found = (f"{path}.{field}", entry[field])
    return found


def _resolve_precision(
    variable: str,
    levels: list[dict[str, tuple[str, Any]]],
    layer_name: str,
) -> Precision:
    # hls4ml's order (graph.py get_precision): name[v], name[default], type[v], type[default],
    # model[v], model[default].  'auto' falls through to the next candidate (documented choice).
    candidates = []
    for table in levels:
        for var in (variable, "default"):
            if var in table:
                candidates.append(table[var])
    skipped = []
    for path, raw in candidates:
        value = parse_precision(raw, key=path)
        if isinstance(value, AutoPrecision):
            skipped.append(path)
            continue
        if skipped:
            log.debug(
                "%s: %s precision 'auto' at %s resolved to %s from %s",
                layer_name,
                variable,
                ", ".join(skipped),
                value,
                path,
            )
        return value
    log.debug(
        "%s: no concrete %s precision configured%s; using hls4ml's default %s",
        layer_name,
        variable,
        f" ('auto' at {', '.join(skipped)})" if skipped else "",
        DEFAULT_PRECISION,
    )
    return DEFAULT_PRECISION


def resolve_layer_config(
    hls_config: Mapping[str, Any] | None,
    layer_name: str,
    layer_class: str,
) -> LayerConfig:
    """Resolve one layer's settings from an hls4ml config dict, the way hls4ml does.

    ``layer_class`` is hls4ml's class name for the layer (``Dense``, ``Conv2D``, ``Activation``,
    …; see :func:`hls4ml_layer_class`).  Names and classes are matched ignoring case.

    * Precision of ``weight``/``bias``/``result``/``accum``: ``LayerName[v]`` → ``LayerName``
      default (``Precision`` given as a string or its ``default`` entry) → ``LayerType[v]`` →
      ``LayerType`` default → ``Model[v]`` → ``Model`` default → hls4ml's ``fixed<16,6>``.
      ``auto`` moves on to the next candidate (hls4ml would infer the type instead).
    * ``ReuseFactor``, ``Strategy``: LayerName → LayerType → Model (defaults 1, Latency);
      ``ParallelizationFactor``: LayerName → LayerType (default 1; hls4ml has no model-level one).
    * ``IOType``: top-level ``hls_config['IOType']`` (default io_parallel).

    ``hls_config=None`` gives hls4ml's defaults.  The ``HLSConfig``-wrapped file layout is accepted.
    Raises :class:`ConfigError` (or :class:`PrecisionError`) naming the key path of a bad value,
    e.g. ``LayerName.dense_1.Precision.weight: cannot parse 'ap_fixed<abc>' (…)``.
    """
    if hls_config is None:
        hls_config = {}
    if not isinstance(hls_config, Mapping):
        raise ConfigError(f"hls_config: expected a mapping or None, got {type(hls_config).__name__}")
    config = unwrap_hls_config(hls_config)

    model = _section(config, "Model")
    model_entries = [("Model", model)] if model else []
    type_entries = _matching_entries(_section(config, "LayerType"), "LayerType", layer_class)
    name_entries = _matching_entries(_section(config, "LayerName"), "LayerName", layer_name)

    levels = [_precision_table(name_entries), _precision_table(type_entries), _precision_table(model_entries)]
    precisions = {v: _resolve_precision(v, levels, layer_name) for v in _PRECISION_VARIABLES}

    def first(field: str, with_model: bool = True) -> tuple[str, Any] | None:
        for entries in (name_entries, type_entries, model_entries if with_model else []):
            found = _last_value(entries, field)
            if found is not None:
                return found
        return None

    found = first("ReuseFactor")
    reuse_factor = _parse_positive_int(found[1], found[0]) if found else 1
    found = first("Strategy")
    strategy = parse_strategy(found[1], key=found[0]) if found else Strategy.LATENCY
    # hls4ml reads ParallelizationFactor from the layer's own entries only (graph.py get_layer_config).
    found = first("ParallelizationFactor", with_model=False)
    parallelization_factor = _parse_positive_int(found[1], found[0]) if found else 1
    io_type = parse_io_type(config["IOType"]) if config.get("IOType") is not None else IOType.PARALLEL

    return LayerConfig(
        weight=precisions["weight"],
        bias=precisions["bias"],
        result=precisions["result"],
        accum=precisions["accum"],
        reuse_factor=reuse_factor,
        strategy=strategy,
        io_type=io_type,
        parallelization_factor=parallelization_factor,
    )


def validate_config(hls_config: Mapping[str, Any] | None, *, source: str | None = None) -> None:
    """Check every value hls-opt reads, in every entry, without a model (fail fast, e.g. in the CLI).

    Checks the layout (``Model``/``LayerType``/``LayerName`` and their entries are mappings), the
    ``weight``/``bias``/``result``/``accum``/``default`` precisions (other precision variables, such
    as activation tables, may be any string hls4ml accepts, floats included), ``ReuseFactor``,
    ``ParallelizationFactor``, ``Strategy`` and ``IOType``.  Raises :class:`ConfigError` naming the key
    path, prefixed with ``source`` (e.g. the file name) when given.
    """
    try:
        if hls_config is None:
            return
        if not isinstance(hls_config, Mapping):
            raise ConfigError(f"hls_config: expected a mapping or None, got {type(hls_config).__name__}")
        config = unwrap_hls_config(hls_config)
        entries: list[tuple[str, Mapping]] = []
        model = _section(config, "Model")
        if model:
            entries.append(("Model", model))
        for section_name in ("LayerType", "LayerName"):
            for name, entry in _section(config, section_name).items():
                entries.extend(_matching_entries({name: entry}, section_name, str(name)))
        for path, entry in entries:
            for variable, (key, raw) in _precision_table([(path, entry)]).items():
                if variable in ("default", *_PRECISION_VARIABLES):
                    parse_precision(raw, key=key)
                elif not isinstance(raw, str):
                    raise ConfigError(f"{key}: expected a precision string, got {raw!r}")
            for field in ("ReuseFactor", "ParallelizationFactor"):
                if entry.get(field) is not None:
                    _parse_positive_int(entry[field], f"{path}.{field}")
            if entry.get("Strategy") is not None:
                parse_strategy(entry["Strategy"], key=f"{path}.Strategy")
        if config.get("IOType") is not None:
            parse_io_type(config["IOType"])
    except ConfigError as exc:
        if source is None:
            raise
        raise type(exc)(f"{source}: {exc}") from None


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
    hls_class = _KERAS_TO_HLS4ML.get(cls, cls)
    entries = [(name, hls_class)]
    activation = getattr(layer, "activation", None)
    if cls not in _UNSPLIT_LAYERS and activation is not None and activation is not keras.activations.linear:
        act_name = getattr(activation, "__name__", str(activation))
        act_class = _activation_class(activation) if cls in _V3_SPLIT_ACTIVATION else "Activation"
        entries.append((f"{name}_{act_name}", act_class))
    return entries


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
    for layer in _model_layers(model):
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
    if granularity == "type":
        section: dict[str, Any] = {}
        for _, hls_class in entries:
            if hls_class not in section:
                section[hls_class] = _layer_template(hls_class, backend_key, reuse_factor)
        config["LayerType"] = section
    else:
        config["LayerName"] = {
            name: _layer_template(hls_class, backend_key, reuse_factor) for name, hls_class in entries
        }
    return config


# --------------------------------------------------------------------------------------------
# Files: YAML / JSON
# --------------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """Plain YAML/JSON data: mappings to dicts, enums to their value, precisions to strings."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (Precision, AutoPrecision)):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    # numpy scalars and the like
    item = getattr(value, "item", None)
    if callable(item):
        return _plain(item())
    raise ConfigError(f"config: cannot write a value of type {type(value).__name__} ({value!r})")


def dump_config_yaml(config: Mapping[str, Any]) -> str:
    """The config as block-style YAML text, keys in their given order."""
    import yaml

    return yaml.safe_dump(_plain(config), sort_keys=False, default_flow_style=False)


def load_config(path: str | Path) -> dict[str, Any]:
    """Read an hls4ml config from a YAML or JSON file and return the bare HLSConfig dict.

    Both layouts are accepted: the bare dict (``Model`` / ``LayerType`` / ``LayerName`` / ``IOType``
    at the top, as ``config_from_keras_model`` returns and :func:`save_config` writes) and hls4ml's
    project-file layout, where it sits under ``HLSConfig`` next to ``KerasModel``, ``OutputDir``,
    ``IOType``… (the sibling ``IOType`` is carried into the result; the other siblings are dropped).
    ``.json`` files are read as JSON, anything else as YAML.  Problems raise a one-line
    :class:`ConfigError` naming the file.
    """
    import yaml

    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{file}: no such file") from None
    except IsADirectoryError:
        raise ConfigError(f"{file}: is a directory, expected a YAML or JSON file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{file}: cannot read ({exc.__class__.__name__}: {exc})") from None
    if file.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{file}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
    else:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"line {mark.line + 1}: " if mark is not None else ""
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise ConfigError(f"{file}: not valid YAML ({where}{problem})") from None
    if not isinstance(data, Mapping):
        kind = "an empty file" if data is None else type(data).__name__
        raise ConfigError(f"{file}: expected a mapping of hls4ml settings at the top level, got {kind}")
    return unwrap_hls_config(data)


def save_config(config: Mapping[str, Any], path: str | Path) -> None:
    """Write ``config`` atomically as YAML (or JSON when ``path`` ends in ``.json``).

    ``load_config(path)`` gives back an equal dict.  Enum and precision values are written as
    hls4ml's strings.
    """
    file = Path(path)
    if file.suffix.lower() == ".json":
        text = json.dumps(_plain(config), indent=2) + "\n"
    else:
        text = dump_config_yaml(config)
    atomic_write_text(file, text)
