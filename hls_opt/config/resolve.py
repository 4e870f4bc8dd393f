"""Resolution of an hls4ml config dict into per-layer :class:`~hls_opt.config.values.LayerConfig`:
``LayerName > LayerType > Model`` as hls4ml's ``HLSConfig`` does it (``hls4ml/model/graph.py``),
and the check of every entry before any model is loaded.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from hls_opt.config.values import (
    IOType,
    LayerConfig,
    Strategy,
    _parse_positive_int,
    parse_io_type,
    parse_strategy,
)
from hls_opt.core.precision import (
    DEFAULT_PRECISION,
    AutoPrecision,
    Precision,
    parse_precision,
)
from hls_opt.errors import ConfigError

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------
# Resolution: LayerName > LayerType > Model (hls4ml/model/graph.py, HLSConfig)
# --------------------------------------------------------------------------------------------

_PRECISION_VARIABLES = ("weight", "bias", "result", "accum")


def unwrap_hls_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """Return the HLSConfig dict from either the bare dict or hls4ml's file layout.

    hls4ml's YAML files nest the dict under ``HLSConfig`` next to ``KerasModel``, ``OutputDir``,
    ``IOType``, ``ClockPeriod``, ``Part``, …; the bare form (what ``config_from_keras_model`` returns) has ``Model`` /
    ``LayerType`` / ``LayerName`` at the top.  A top-level ``IOType``, ``ClockPeriod`` or ``Part`` next to
    ``HLSConfig`` is copied into the result (hls-opt reads them there).  Returns a new dict.
    """
    if "HLSConfig" in config and "Model" not in config:
        inner = config["HLSConfig"]
        if not isinstance(inner, Mapping):
            raise ConfigError(f"HLSConfig: expected a mapping, got {type(inner).__name__}")
        result = dict(inner)
        # hls4ml's project file puts these beside HLSConfig (backends/vivado/vivado_backend.py
        # create_initial_config): IOType, and the ClockPeriod / Part hls-opt reads for time budgets
        # and the device (config/keys.py HLS_OPT_KEYS); carried in, never dropped.
        for key in ("IOType", "ClockPeriod", "Part"):
            if key in config and key not in result:
                result[key] = config[key]
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


def layer_precision(
    hls_config: Mapping[str, Any] | None, layer_name: str, layer_class: str, variable: str
) -> Precision | None:
    """The ``variable`` precision the config gives this layer by name or type (``LayerName`` >
    ``LayerType``, the variable before the entry's default, as :func:`resolve_layer_config`), or
    ``None`` when only ``Model`` (or nothing, or ``'auto'``) speaks for it.

    Used where a per-layer setting competes with a QKeras quantizer (``hls_opt.core.qkeras``).
    """
    if not hls_config:
        return None
    config = unwrap_hls_config(hls_config)
    type_entries = _matching_entries(_section(config, "LayerType"), "LayerType", layer_class)
    name_entries = _matching_entries(_section(config, "LayerName"), "LayerName", layer_name)
    for table in (_precision_table(name_entries), _precision_table(type_entries)):
        for var in (variable, "default"):
            if var in table:
                path, raw = table[var]
                value = parse_precision(raw, key=path)
                if not isinstance(value, AutoPrecision):
                    return value
    return None


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
