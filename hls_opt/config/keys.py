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
* ``LayerName`` / ``LayerType`` entries hold layer attributes, an open set (``get_layer_config``
  hands the whole entry to the layer), so their inner keys are not checked; a ``LayerName`` key
  must name one of the layers hls4ml makes from the model (activations split off included,
  :func:`hls_opt.config.generate.hls4ml_layer_names`).
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

#: Keys of ``Model`` hls4ml reads.
MODEL_KEYS = (
    "Precision", "ReuseFactor", "Strategy", "BramFactor", "TraceOutput", "TargetCycles",
    "ConvImplementation", "Compression", "PipelineStyle", "PipelineInterval", "ChannelsLastConversion",
    "TransposeOutputs", "BitExact", "AllowDAFallback", "AllowV2Fallback", "ParallelizationFactor",
    "Implementation",
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
    config: Mapping[str, Any], *, layer_names: Iterable[str] | None = None, keys: bool = True
) -> list[str]:
    """One message per key hls4ml would ignore in the bare config ``config`` (``HLSConfig`` already
    unwrapped): unknown top-level keys and unknown ``Model`` keys (``keys``) and, when
    ``layer_names`` is given, ``LayerName`` entries naming none of them.  Each names the key path
    and the nearest known key."""
    problems = []
    for key in config if keys else ():
        if str(key) not in TOP_LEVEL_KEYS:
            problems.append(f"{key}: unknown top-level key{_hint(_nearest(str(key), TOP_LEVEL_KEYS))}; hls4ml ignores it")
    model = config.get("Model")
    if keys and isinstance(model, Mapping):
        for key in model:
            if str(key) not in MODEL_KEYS:
                problems.append(
                    f"Model.{key}: unknown key in Model{_hint(_nearest(str(key), MODEL_KEYS))}; hls4ml ignores it"
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


__all__ = ["MODEL_KEYS", "TOP_LEVEL_KEYS", "check_config_keys", "config_key_problems"]
