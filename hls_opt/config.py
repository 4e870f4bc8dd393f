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
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from hls_opt.errors import ConfigError
from hls_opt.precision import (
    DEFAULT_PRECISION,
    AutoPrecision,
    Precision,
    parse_precision,
)

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_PRECISION",
    "IOType",
    "LayerConfig",
    "Strategy",
    "dump_config_yaml",
    "load_config",
    "parse_io_type",
    "parse_strategy",
    "resolve_layer_config",
    "save_config",
    "unwrap_hls_config",
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
    are positive integers.
    """

    weight: Precision
    bias: Precision
    result: Precision
    accum: Precision
    reuse_factor: int = 1
    strategy: Strategy = Strategy.LATENCY
    io_type: IOType = IOType.PARALLEL
    parallelization_factor: int = 1


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
        raise ConfigError(f"{key}: unknown strategy '{text}' (expected one of {names}; 'Unrolled' is accepted)")
    if (key, stripped) in _ALREADY_LOGGED:
        return strategy  # say it once per key and spelling, not once per layer
    _ALREADY_LOGGED.add((key, stripped))
    if stripped.replace("_", "").lower() == "unrolled":
        log.info("%s: 'Unrolled' read as ResourceUnrolled (it is written back as 'ResourceUnrolled', "
                 "the spelling hls4ml understands)", key)
    elif strategy is not Strategy.LATENCY and _hls4ml_snake_case(stripped) not in _HLS4ML_UNDERSTANDS:
        log.warning("%s: '%s' read as %s; hls4ml itself would silently treat this spelling as Latency "
                    "- write '%s'", key, text, strategy.value, strategy.value)
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
    # YAML yields ints; also accept an integral float (4.0) or a digit string ("4"), never a bool.
    if isinstance(value, bool):
        number = None
    elif isinstance(value, int):
        number = value
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


def _matching_entries(section: Mapping[str, Any], section_name: str, wanted: str) -> list[tuple[str, Mapping]]:
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
            log.debug("%s: %s precision 'auto' at %s resolved to %s from %s",
                      layer_name, variable, ", ".join(skipped), value, path)
        return value
    log.debug("%s: no concrete %s precision configured%s; using hls4ml's default %s", layer_name, variable,
              f" ('auto' at {', '.join(skipped)})" if skipped else "", DEFAULT_PRECISION)
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
    * ``ReuseFactor``, ``Strategy``, ``ParallelizationFactor``: LayerName → LayerType → Model
      (defaults 1, Latency, 1).
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

    def first(field: str) -> tuple[str, Any] | None:
        for entries in (name_entries, type_entries, model_entries):
            found = _last_value(entries, field)
            if found is not None:
                return found
        return None

    found = first("ReuseFactor")
    reuse_factor = _parse_positive_int(found[1], found[0]) if found else 1
    found = first("Strategy")
    strategy = parse_strategy(found[1], key=found[0]) if found else Strategy.LATENCY
    found = first("ParallelizationFactor")
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
    from hls_opt.fileio import atomic_write_text

    file = Path(path)
    if file.suffix.lower() == ".json":
        text = json.dumps(_plain(config), indent=2) + "\n"
    else:
        text = dump_config_yaml(config)
    atomic_write_text(file, text)
