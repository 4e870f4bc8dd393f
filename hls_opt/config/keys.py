"""The keys hls4ml reads in an hls4ml config, and the check that finds the ones it would ignore.

hls4ml ignores a key it does not know (``Modle:``, ``ReuseFactr:``) and a ``LayerName`` entry that
names no layer, silently; so did hls-opt.  :func:`config_key_problems` lists them, each with the
nearest known key (``difflib``); :func:`check_config_keys` warns once per key on the ``hls_opt``
logger (as the project warns elsewhere) or, with ``strict``, raises :class:`ConfigError` for the
first.  Keys are compared exactly (hls4ml's ``dict.get`` is case-sensitive); layer names ignoring
case, as hls4ml matches them (``resolve._matching_entries``).

The known keys are what hls4ml 1.3 accepts, not only what hls-opt uses (files in the hls4ml repository):

* top level of the bare config (``convert_from_keras_model(hls_config=...)``):
  ``converters/__init__.py`` ``_check_hls_config`` copies ``LayerName``, ``LayerType``, ``Flows``,
  ``Optimizers``, ``SkipOptimizers``; ``Model`` is read beside them; ``InputShape`` by the PyTorch
  converter (``converters/__init__.py``); ``IOType`` is hls-opt's (``docs/config.md``: written
  for the user, read from there by hls-opt); ``HLSConfig`` is the file layout's wrapper.
* ``Model``: ``model/graph.py`` ``HLSConfig._parse_hls_config`` (``Precision``, ``BramFactor``,
  ``ReuseFactor``, ``TargetCycles``, ``ConvImplementation``, ``Strategy``, ``Compression``,
  ``PipelineStyle``, ``PipelineInterval``); ``utils/config.py`` ``config_from_keras_model``
  (``TraceOutput``); ``model/optimizer/passes/convert_to_channels_last.py``
  (``ChannelsLastConversion``, ``TransposeOutputs``); ``model/optimizer/passes/bit_exact.py``
  and ``converters/__init__.py`` (``BitExact``, ``AllowDAFallback``, ``AllowV2Fallback``);
  ``HLSConfig.get_layer_config_value`` falls back to ``Model`` for any layer key, and the backends
  ask it for ``ParallelizationFactor`` and ``Implementation``.
* ``ClockPeriod``, ``Part`` (:data:`HLS_OPT_KEYS`): hls4ml reads them as converter arguments
  (``convert_from_keras_model(clock_period=, part=)``) or from its project file, where they sit
  beside ``HLSConfig`` (``backends/vivado/vivado_backend.py`` ``create_initial_config``,
  ``converters/__init__.py`` ``parse_yaml_config``); hls-opt reads them in the bare config too, for
  time budgets and the device (``docs/timing.md``), so they are known keys, not ignored ones.
* ``LayerName`` / ``LayerType`` entries (:data:`LAYER_KEYS`): ``HLSConfig.get_layer_config``
  (``model/graph.py``) hands the whole entry to the layer, which sets each key as an attribute
  (``model/layers.py`` ``Layer.__init__``); what is read of them is ``parse_name_config`` /
  ``parse_type_config`` (``Precision``, ``ReuseFactor``, ``TargetCycles``, ``Strategy``,
  ``ConvImplementation``, ``Compression``) and the layers' configurable attributes
  (``expected_attributes`` of ``model/layers.py`` and the backends' ``attribute_map``, by their
  ``config_name``).  Any other key is set on the layer and never read: ignored.  ``Precision``'s own
  keys name the layer's variables (an open set) and are not checked.  A ``LayerName`` key must name
  one of the layers hls4ml makes from the model (activations split off included,
  :func:`hls_opt.config.generate.hls4ml_layer_names`); a ``LayerType`` key an hls4ml layer class
  (:data:`HLS4ML_LAYER_CLASSES`, ``model/layers.py`` ``layer_map`` and the classes it maps to;
  names compared ignoring case, as ``parse_type_config`` lower-cases them).  ``tests/test_hostile_inputs.py`` checks both tables against the
  installed hls4ml.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from hls_opt.errors import ConfigError

log = logging.getLogger(__name__)

#: Keys of the bare hls4ml config (see the module docstring for where hls4ml reads each).
TOP_LEVEL_KEYS = (
    "Model", "LayerType", "LayerName", "Flows", "Optimizers", "SkipOptimizers", "InputShape", "IOType",
    "HLSConfig",
)  # fmt: skip

#: Top-level keys hls4ml reads beside ``HLSConfig`` (its project file) or as converter arguments, and
#: hls-opt reads in either layout: the clock for time budgets, the part for the device.
HLS_OPT_KEYS = ("ClockPeriod", "Part")

#: Keys of ``Model`` hls4ml reads.
MODEL_KEYS = (
    "Precision", "ReuseFactor", "Strategy", "BramFactor", "TraceOutput", "TargetCycles",
    "ConvImplementation", "Compression", "PipelineStyle", "PipelineInterval", "ChannelsLastConversion",
    "TransposeOutputs", "BitExact", "AllowDAFallback", "AllowV2Fallback", "ParallelizationFactor",
    "Implementation",
)  # fmt: skip

#: Keys of a ``LayerName`` / ``LayerType`` entry hls4ml reads (hls4ml 1.3): ``model/graph.py``
#: ``parse_name_config`` / ``parse_type_config``, then every configurable attribute's ``config_name``
#: (``model/layers.py`` ``expected_attributes``; ``backends/*`` ``attribute_map``).
LAYER_KEYS = (
    # model/graph.py HLSConfig.parse_name_config / parse_type_config
    "Precision", "ReuseFactor", "TargetCycles", "Strategy", "ConvImplementation", "Compression",
    # configurable attributes (model/layers.py, backends/fpga/fpga_backend.py & co.)
    "Trace", "ParallelizationFactor", "Implementation", "Algorithm", "Direction", "Skip", "Static",
    "TableSize", "TableRangePower2", "TimeStepLoopParallelism",
    "RecurrentReuseFactor", "DepthwiseReuseFactor", "PointwiseReuseFactor",
    "ForwardReuseFactor", "ForwardRecurrentReuseFactor", "BackwardReuseFactor", "BackwardRecurrentReuseFactor",
    # type attributes (``*_t``, read as ``*T``): what Precision.<variable> sets, also accepted directly
    "AccumT", "BiasT", "ResultT", "WeightT", "TableT", "ExpTableT", "InvTableT", "InvInpT", "ParamT",
    "ScaleT", "ShiftT", "SlopeT", "EmbeddingsT", "DwOutputT", "DepthwiseT", "PointwiseT",
    "DepthwiseAccumT", "DepthwiseResultT", "PointwiseAccumT", "RecurrentWeightT", "RecurrentBiasT",
    "ForwardWeightT", "ForwardBiasT", "ForwardRecurrentWeightT", "ForwardRecurrentBiasT",
    "BackwardWeightT", "BackwardBiasT", "BackwardRecurrentWeightT", "BackwardRecurrentBiasT",
)  # fmt: skip

#: The layer classes a ``LayerType`` key can name (hls4ml 1.3 ``model/layers.py``: the keys of
#: ``layer_map`` and the classes it maps to, whose ``class_name`` hls4ml matches).
HLS4ML_LAYER_CLASSES = (
    "Activation", "ApplyAlpha", "AveragePooling1D", "AveragePooling2D", "BatchNormOnnx", "BatchNormalization",
    "BatchNormalizationQuantizedTanh", "BiasAdd", "Bidirectional", "BinaryConv2D", "BinaryDense",
    "BipolarQuant", "Broadcast", "Clone", "Concatenate", "Constant", "Conv", "Conv1D", "Conv2D",
    "Conv2DBatchnorm", "Cropping1D", "Cropping2D", "DACombinational", "Dense", "DepthwiseConv1D",
    "DepthwiseConv2D", "Dot", "ELU", "Einsum", "EinsumDense", "Embedding", "FixedPointQuantizer", "GRU",
    "GarNet", "GarNetStack", "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalMaxPooling1D",
    "GlobalMaxPooling2D", "GlobalPooling1D", "GlobalPooling2D", "HGQ>FixedPointQuantizer", "HGQ>UnaryLUT",
    "HardActivation", "Input", "InputLayer", "IntQuant", "LSTM", "LayerGroup", "LayerNormalization",
    "LeakyReLU", "MatMul", "MaxPooling1D", "MaxPooling2D", "Merge", "PReLU", "ParametrizedActivation",
    "PointwiseConv1D", "PointwiseConv2D", "Pooling1D", "Pooling2D", "QActivation", "QBatchNormalization",
    "QConv1D", "QConv2D", "QConv2DBatchnorm", "QDense", "QDepthwiseConv2D", "QGRU", "QLSTM",
    "QSeparableConv1D", "QSeparableConv2D", "QSimpleRNN", "Quant", "Repack", "Reshape", "Resize",
    "SeparableConv1D", "SeparableConv2D", "SimpleRNN", "Softmax", "SymbolicExpression", "TernaryDense",
    "TernaryTanh", "ThresholdedReLU", "TimeDistributed", "Transpose", "UnaryLUT", "UpSampling1D",
    "UpSampling2D", "ZeroPadding1D", "ZeroPadding2D",
)  # fmt: skip


def _nearest(key: str, known: Iterable[str], fold: bool = False) -> str | None:
    known = list(known)
    if fold:  # layer names: compare lower-cased, suggest the name as spelt
        by_lower = {k.lower(): k for k in known}
        close = difflib.get_close_matches(key.lower(), list(by_lower), n=1, cutoff=0.6)
        return by_lower[close[0]] if close else None
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    if not close:  # a case slip ('reusefactor') is far for difflib; catch it here
        close = [k for k in known if k.lower() == key.lower()][:1]
    return close[0] if close else None


def _hint(nearest: str | None) -> str:
    return f" (did you mean {nearest!r}?)" if nearest else ""


def config_key_problems(
    config: Mapping[str, Any],
    *,
    layer_names: Iterable[str] | None = None,
    keys: bool = True,
) -> list[str]:
    """One message per key hls4ml would ignore in the bare config ``config`` (``HLSConfig`` already
    unwrapped): unknown top-level and ``Model`` keys, keys inside ``LayerName`` / ``LayerType``
    entries hls4ml does not read, ``LayerType`` keys naming no hls4ml layer class (``keys``) and, when ``layer_names`` is given, ``LayerName``
    entries naming none of them.  Each names the key path and the nearest known key."""
    problems = []
    top = TOP_LEVEL_KEYS + HLS_OPT_KEYS
    for key in config if keys else ():
        if str(key) not in top:
            problems.append(f"{key}: unknown top-level key{_hint(_nearest(str(key), top))}; hls4ml ignores it")
    model = config.get("Model")
    if keys and isinstance(model, Mapping):
        for key in model:
            if str(key) not in MODEL_KEYS:
                problems.append(
                    f"Model.{key}: unknown key in Model{_hint(_nearest(str(key), MODEL_KEYS))}; hls4ml ignores it"
                )
    if keys:
        classes = list(HLS4ML_LAYER_CLASSES)
        folded = {c.lower() for c in classes}
        for section in ("LayerType", "LayerName"):
            entries = config.get(section)
            if not isinstance(entries, Mapping):
                continue
            for entry, body in entries.items():
                if section == "LayerType" and str(entry).lower() not in folded:
                    nearest = _nearest(str(entry), classes, fold=True)
                    problems.append(
                        f"LayerType.{entry}: names no layer class hls4ml knows{_hint(nearest)}; hls4ml ignores it"
                    )
                for key in body if isinstance(body, Mapping) else ():
                    if str(key) not in LAYER_KEYS:
                        problems.append(
                            f"{section}.{entry}.{key}: unknown key in a layer entry"
                            f"{_hint(_nearest(str(key), LAYER_KEYS))}; hls4ml ignores it"
                        )
    names = config.get("LayerName")
    if layer_names is not None and isinstance(names, Mapping):
        layer_names = list(layer_names)
        lower = {n.lower() for n in layer_names}
        for key in names:
            if str(key).lower() not in lower:
                nearest = _nearest(str(key), layer_names, fold=True)
                problems.append(f"LayerName.{key}: names no layer of the model{_hint(nearest)}; hls4ml ignores it")
    return problems


def check_config_keys(
    config: Mapping[str, Any] | None,
    *,
    source: str | None = None,
    layer_names: Iterable[str] | None = None,
    keys: bool = True,
    strict: bool = False,
) -> list[str]:
    """Warn once per key hls4ml would ignore (:func:`config_key_problems`), or with ``strict``
    raise :class:`ConfigError` for the first; messages start with ``source`` (the file) when given.
    Returns the messages.  A flow that checks the keys before loading the model and the layer
    names after calls it twice, with ``keys=False`` the second time, so each key is reported once."""
    if not isinstance(config, Mapping):
        return []
    found = config_key_problems(config, layer_names=layer_names, keys=keys)
    problems = [f"{source}: {p}" if source else p for p in found]
    if strict and problems:
        raise ConfigError(problems[0])
    for problem in problems:
        log.warning("%s", problem)
    return problems


__all__ = [
    "HLS4ML_LAYER_CLASSES",
    "HLS_OPT_KEYS",
    "LAYER_KEYS",
    "MODEL_KEYS",
    "TOP_LEVEL_KEYS",
    "check_config_keys",
    "config_key_problems",
]
