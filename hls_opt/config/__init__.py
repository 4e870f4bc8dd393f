"""hls4ml-style configuration: typed strategies, IO types and resolved per-layer configs.

Everything here parses hls4ml's loosely typed dicts once, at the edge, into frozen values:

* :mod:`~hls_opt.config.values` — :class:`Strategy`, :class:`IOType`, :class:`LayerConfig`;
  :func:`parse_strategy`, :func:`parse_io_type` (every spelling hls4ml maps, plus the seed's ``Unrolled``);
* :mod:`~hls_opt.config.resolve` — :func:`resolve_layer_config` (``LayerName > LayerType > Model``,
  the way hls4ml's ``HLSConfig`` does it, ``hls4ml/model/graph.py``) and :func:`validate_config`;
* :mod:`~hls_opt.config.generate` — :func:`config_from_keras_model`, the dict hls4ml's function of
  that name builds;
* :mod:`~hls_opt.config.keys` — :func:`check_config_keys`: the keys hls4ml would ignore
  (misspelt, unknown, ``LayerName`` entries naming no layer), warned or, with ``strict``, refused;
* :mod:`~hls_opt.config.files` — :func:`load_config` / :func:`save_config` / :func:`dump_config_yaml`;
* :mod:`~hls_opt.config.devices` — :class:`Device`, :func:`parse_device` (hls4ml ``Part`` names);
* :mod:`~hls_opt.config.budgets` — :class:`Budgets`, :func:`parse_budgets` (cycles or times);
* ``SUPPORTED_STRUCTURES`` — hls4ml's name for :class:`hls_opt.core.structures.StructureType`, where
  hls4ml keeps it (``hls4ml.optimization.dsp_aware_pruning.config``).

The rules, and where they differ from hls4ml, are in ``docs/config.md``.
"""

from __future__ import annotations

from hls_opt.config.budgets import Budgets, parse_budgets, parse_cycles, parse_time_ns
from hls_opt.config.devices import DEVICES, Device, device_fraction, device_from_config, parse_device
from hls_opt.config.files import dump_config_yaml, load_config, save_config
from hls_opt.config.generate import (
    config_from_keras_model,
    hls4ml_layer_class,
    hls4ml_layer_names,
    hls4ml_layers,
)
from hls_opt.config.keys import check_config_keys, config_key_problems
from hls_opt.config.resolve import layer_precision, resolve_layer_config, unwrap_hls_config, validate_config
from hls_opt.config.values import (
    DEFAULT_LAYER_CONFIG,
    IOType,
    LayerConfig,
    Strategy,
    parse_io_type,
    parse_strategy,
)
from hls_opt.core.precision import DEFAULT_PRECISION
from hls_opt.core.structures import StructureType

#: hls4ml's structure enum (``hls4ml/optimization/dsp_aware_pruning/config.py``): the same members
#: and values (``UNSTRUCTURED`` 'unstructured', ``STRUCTURED``, ``PATTERN``, ``BLOCK``).
SUPPORTED_STRUCTURES = StructureType

__all__ = [
    "Budgets",
    "DEVICES",
    "Device",
    "device_fraction",
    "device_from_config",
    "parse_budgets",
    "parse_cycles",
    "parse_device",
    "parse_time_ns",
    "DEFAULT_LAYER_CONFIG",
    "DEFAULT_PRECISION",
    "IOType",
    "LayerConfig",
    "SUPPORTED_STRUCTURES",
    "Strategy",
    "check_config_keys",
    "config_from_keras_model",
    "config_key_problems",
    "dump_config_yaml",
    "hls4ml_layer_class",
    "hls4ml_layer_names",
    "hls4ml_layers",
    "layer_precision",
    "load_config",
    "parse_io_type",
    "parse_strategy",
    "resolve_layer_config",
    "save_config",
    "unwrap_hls_config",
    "validate_config",
]
