"""hls4ml-compatible layer attributes, built from the IR.

Same classes, field names and functions as ``hls4ml.optimization.dsp_aware_pruning.attributes``
(hls4ml/optimization/dsp_aware_pruning/attributes.py) so that estimators written for hls4ml keep
working, with these differences (all more permissive or more correct):

* convolution ``n_in`` is ``kh·kw·C`` (hls4ml omits the channels in that file's
  ``__get_layer_mult_size``), Dense ``n_in`` is the kernel's first dimension (hls4ml's
  ``∏input_shape``, same function, is wrong on rank-3 inputs);
* ``inbound_layers`` is a list of producer *names* (hls4ml stores layer objects or, for functional
  models, a generator, in ``get_attributes_from_keras_model``);
* strategies are accepted in every spelling hls4ml understands (and ``Unrolled``), precisions as our
  :class:`~hls_opt.core.precision.Precision`, hls4ml precision objects or strings, structure types as the
  enum or its string value;
* the hls4ml config may use any granularity, dict-valued or ``auto`` precisions, and may omit
  ``IOType`` (hls4ml's ``get_attributes_from_keras_model_and_hls4ml_config`` crashes on each);
* Dense / Conv1D / Conv2D all get ``hls4ml_attributes`` (hls4ml: Dense and Conv2D only);
* every ``LayerAttributes`` also carries the IR node (``.node``) with its resolved ``LayerConfig``,
  which hls-opt's own estimators use.

Nothing here imports Keras at module import time, and the model is never modified.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np

from hls_opt.config import (
    DEFAULT_LAYER_CONFIG,
    IOType,
    LayerConfig,
    Strategy,
    load_config,
    parse_io_type,
    parse_strategy,
)
from hls_opt.core.precision import as_precision
from hls_opt.core.structures import StructureType
from hls_opt.cost.tables import input_precision_of
from hls_opt.errors import ConfigError
from hls_opt.frontend.keras import from_keras
from hls_opt.ir import nodes as ir
from hls_opt.ir.graph import Graph

__all__ = [
    "SUPPORTED_STRUCTURES",
    "LayerAttributes",
    "OptimizationAttributes",
    "attributes_from_graph",
    "get_attributes_from_keras_model",
    "get_attributes_from_keras_model_and_hls4ml_config",
    "hls4mlAttributes",
]

#: hls4ml's name for the structure enum (``dsp_aware_pruning.config.SUPPORTED_STRUCTURES``).
SUPPORTED_STRUCTURES = StructureType


def _as_precision(value: Any, what: str) -> Any:
    """A string becomes our Precision; a Precision or an hls4ml precision object (e.g.
    FixedPrecisionType) is kept as given, once :func:`~hls_opt.core.precision.as_precision` reads it."""
    checked = as_precision(value, key=what)
    return checked if isinstance(value, str) else value


def _positive_int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or int(value) < 1:
        raise ConfigError(f"{what}: expected a positive integer, got {value!r}")
    return int(value)


class hls4mlAttributes:  # noqa: N801 - hls4ml's class name
    """hls4ml's settings of one layer, as hls4ml's estimators read them.

    ``n_in`` × ``n_out`` is the layer's matrix multiply (Dense: inputs × units; convolution:
    kh·kw·C × filters).  ``strategy`` is stored as hls4ml's spelling (``'Latency'``, ``'Resource'``,
    ``'ResourceUnrolled'``, ``'DistributedArithmetic'``) and ``io_type`` as ``'io_parallel'`` /
    ``'io_stream'``; ``weight_precision`` / ``output_precision`` have a ``.width`` in bits.
    """

    def __init__(
        self,
        n_in: int,
        n_out: int,
        io_type: str | IOType,
        strategy: str | Strategy,
        weight_precision: Any,
        output_precision: Any,
        reuse_factor: int,
        parallelization_factor: int = 1,
    ) -> None:
        self.n_in = _positive_int(n_in, "n_in")
        self.n_out = _positive_int(n_out, "n_out")
        self.io_type = parse_io_type(io_type, key="io_type").value
        self.strategy = parse_strategy(strategy, key="strategy").value
        self.weight_precision = _as_precision(weight_precision, "weight_precision")
        self.output_precision = _as_precision(output_precision, "output_precision")
        self.reuse_factor = _positive_int(reuse_factor, "reuse_factor")
        self.parallelization_factor = _positive_int(parallelization_factor, "parallelization_factor")

    @classmethod
    def from_layer_config(cls, n_in: int, n_out: int, config: LayerConfig) -> hls4mlAttributes:
        """The attributes of an ``n_in × n_out`` multiply under a resolved :class:`LayerConfig`."""
        return cls(
            n_in,
            n_out,
            config.io_type,
            config.strategy,
            config.weight,
            config.result,
            config.reuse_factor,
            config.parallelization_factor,
        )

    def __repr__(self) -> str:
        return (
            f"hls4mlAttributes(n_in={self.n_in}, n_out={self.n_out}, io_type={self.io_type!r}, "
            f"strategy={self.strategy!r}, weight_precision={self.weight_precision}, "
            f"output_precision={self.output_precision}, reuse_factor={self.reuse_factor}, "
            f"parallelization_factor={self.parallelization_factor})"
        )


class OptimizationAttributes:
    """How a layer is optimized: the weight structure, pruning / weight sharing, group shapes.

    ``pattern_offset`` is the number of weights processed in parallel (``n_in·n_out / RF``);
    ``consecutive_patterns`` how many adjacent pattern groups form one prunable unit.
    """

    def __init__(
        self,
        structure_type: StructureType | str = StructureType.UNSTRUCTURED,
        pruning: bool = False,
        weight_sharing: bool = False,
        block_shape: tuple[int, int] = (1, 1),
        pattern_offset: int = 1,
        consecutive_patterns: int = 1,
    ) -> None:
        if isinstance(structure_type, Enum) and not isinstance(structure_type, StructureType):
            structure_type = structure_type.value  # hls4ml's own SUPPORTED_STRUCTURES member
        try:
            self.structure_type = StructureType.parse(structure_type)
        except ValueError as exc:
            raise ConfigError(f"structure_type: {exc}") from None
        self.pruning = bool(pruning)
        self.weight_sharing = bool(weight_sharing)
        shape = tuple(block_shape)
        if len(shape) != 2:
            raise ConfigError(f"block_shape: expected two sizes, got {block_shape!r}")
        self.block_shape = (
            _positive_int(shape[0], "block_shape[0]"),
            _positive_int(shape[1], "block_shape[1]"),
        )
        self.pattern_offset = _positive_int(pattern_offset, "pattern_offset")
        self.consecutive_patterns = _positive_int(consecutive_patterns, "consecutive_patterns")

    def __repr__(self) -> str:
        return (
            f"OptimizationAttributes(structure_type={self.structure_type.value!r}, pruning={self.pruning}, "
            f"weight_sharing={self.weight_sharing}, block_shape={self.block_shape}, "
            f"pattern_offset={self.pattern_offset}, consecutive_patterns={self.consecutive_patterns})"
        )


class LayerAttributes:
    """One layer as hls4ml's optimizer sees it.

    ``layer_type`` is the Keras layer class (hls4ml's estimators test ``layer_type.__name__``),
    ``inbound_layers`` the producer names in call order, shapes exclude the batch dimension
    (``input_shape`` is a list of shapes for a layer with several inputs), ``weight_shape`` is the
    shape of the layer's first weight (its kernel) or ``()``.  ``args['hls4ml_attributes']`` holds
    an :class:`hls4mlAttributes` for Dense / Conv1D / Conv2D.  ``node`` is hls-opt's IR node.
    """

    def __init__(
        self,
        name: str,
        layer_type: Any,
        inbound_layers: list[str],
        weight_shape: tuple[int, ...],
        input_shape: Any,
        output_shape: tuple[int, ...],
        optimizable: bool,
        optimization_attributes: OptimizationAttributes | None,
        args: dict[str, Any],
        node: ir.Node | None = None,
    ) -> None:
        self.name = name
        self.layer_type = layer_type
        self.inbound_layers = inbound_layers
        self.weight_shape = weight_shape
        self.input_shape = input_shape
        self.output_shape = output_shape
        self.optimizable = optimizable
        self.optimization_attributes = optimization_attributes
        self.args = args
        self.node = node

    @property
    def node(self) -> ir.Node | None:
        """hls-opt's IR node of the layer, its ``config`` kept in step with ``args['hls4ml_attributes']``.

        hls4ml-style code changes a layer's settings by replacing or editing the
        ``hls4mlAttributes`` in ``args``; the node's resolved ``LayerConfig`` follows it (reuse
        factor, strategy, IO type, weight and result precision, parallelization factor), so
        estimators reading the node see the same settings as those reading ``args``.
        """
        node = self._node
        hls = self.args.get("hls4ml_attributes") if isinstance(self.args, Mapping) else None
        if node is not None and node.config is not None and hls is not None:
            synced = _config_following(node.config, hls)
            if synced != node.config:
                # A new node object: the one passed in may be the caller's (a graph's node).
                node = self._node = dataclasses.replace(node, config=synced)
        return node

    @node.setter
    def node(self, value: ir.Node | None) -> None:
        self._node = value

    def update_args(self, updates: Mapping[str, Any]) -> None:
        self.args.update(updates)

    def __str__(self) -> str:
        type_name = getattr(self.layer_type, "__name__", self.layer_type)
        return (
            f"name: {self.name}, layer_type: {type_name}, inbound_layers: {self.inbound_layers}, "
            f"weight_shape: {self.weight_shape}, input_shape: {self.input_shape}, "
            f"output_shape: {self.output_shape}, optimizable: {self.optimizable}, "
            f"optimization_attributes: {self.optimization_attributes}, args: {self.args}"
        )

    __repr__ = __str__


def _config_following(config: LayerConfig, hls: Any) -> LayerConfig:
    """``config`` with the settings an ``hls4mlAttributes`` (or look-alike) states."""
    changes: dict[str, Any] = {}
    if getattr(hls, "reuse_factor", None) is not None:
        changes["reuse_factor"] = _positive_int(hls.reuse_factor, "hls4ml_attributes.reuse_factor")
    if getattr(hls, "parallelization_factor", None) is not None:
        changes["parallelization_factor"] = _positive_int(
            hls.parallelization_factor, "hls4ml_attributes.parallelization_factor"
        )
    if getattr(hls, "strategy", None) is not None:
        changes["strategy"] = parse_strategy(hls.strategy, key="hls4ml_attributes.strategy")
    if getattr(hls, "io_type", None) is not None:
        changes["io_type"] = parse_io_type(hls.io_type, key="hls4ml_attributes.io_type")
    if getattr(hls, "weight_precision", None) is not None:
        changes["weight"] = as_precision(
            hls.weight_precision, key="hls4ml_attributes.weight_precision", fallback=config.weight
        )
    if getattr(hls, "output_precision", None) is not None:
        changes["result"] = as_precision(
            hls.output_precision, key="hls4ml_attributes.output_precision", fallback=config.result
        )
    return dataclasses.replace(config, **changes)


def config_from_hls4ml_attributes(hls: Any) -> LayerConfig:
    """The :class:`LayerConfig` an ``hls4mlAttributes`` (or look-alike) states, over hls4ml's
    defaults; a value hls-opt cannot read is a ConfigError naming the field."""
    return _config_following(DEFAULT_LAYER_CONFIG, hls) if hls is not None else DEFAULT_LAYER_CONFIG


def _layer_type(node: ir.Node) -> Any:
    if node.keras_type is not None:
        return node.keras_type
    # A node made by a pass without a class: a stand-in type with the Keras class name.
    return type(node.keras_class or node.kind, (), {})


def attributes_from_graph(graph: Graph, names: list[str] | None = None) -> dict[str, LayerAttributes]:
    """``LayerAttributes`` for the nodes ``names`` of ``graph`` (default: every non-Input node).

    Dense / Conv1D / Conv2D nodes get ``args['hls4ml_attributes']`` from their resolved
    ``LayerConfig`` (hls4ml's defaults when the node has none).  Attributes hold copies of the
    graph's nodes, so editing them never changes the graph.
    """
    if names is None:
        names = [n.name for n in graph.nodes() if not isinstance(n, ir.Input)]
    result: dict[str, LayerAttributes] = {}
    for name in names:
        node = copy.deepcopy(graph.node(name))
        weight_shape = tuple(next(iter(node.weights.values())).shape) if node.weights else ()
        if len(node.input_shapes) == 1:
            input_shape: Any = tuple(node.input_shapes[0])
        else:
            input_shape = [tuple(s) for s in node.input_shapes]
        args: dict[str, Any] = {}
        if isinstance(node, (ir.Dense, ir.Conv1D, ir.Conv2D)):
            config = node.config if node.config is not None else DEFAULT_LAYER_CONFIG
            args["hls4ml_attributes"] = hls4mlAttributes.from_layer_config(node.n_in, node.n_out, config)
            # what the layer multiplies (the producer's output type), read by hls-opt's estimators
            args["input_precision"] = input_precision_of(graph, node)
        result[name] = LayerAttributes(
            name,
            _layer_type(node),
            list(node.inputs),
            weight_shape,
            input_shape,
            tuple(node.output_shape),
            False,
            OptimizationAttributes(),
            args,
            node=node,
        )
    return result


def _model_layer_names(model: Any) -> list[str]:
    # hls4ml iterates model.layers: a functional model lists its InputLayers, a Sequential does not.
    return [layer.name for layer in model.layers]


def get_attributes_from_keras_model(model: Any) -> dict[str, LayerAttributes]:
    """``{layer name: LayerAttributes}`` for every layer in ``model.layers``, with hls4ml's defaults.

    Dense / Conv1D / Conv2D carry ``args['hls4ml_attributes']`` for reuse factor 1, ``Latency``,
    ``ap_fixed<16,6>`` weights and outputs, ``io_parallel`` (the settings hls4ml itself uses when
    no config is given), so hardware-aware estimators work without a config.
    Raises ``TypeError`` when ``model`` is not a Keras model.
    """
    graph = from_keras(model, None)
    return attributes_from_graph(graph, [n for n in _model_layer_names(model) if n in graph])


def get_attributes_from_keras_model_and_hls4ml_config(
    model: Any, config: Mapping[str, Any] | str | Path | None
) -> dict[str, LayerAttributes]:
    """Like :func:`get_attributes_from_keras_model`, with each layer's settings resolved from an
    hls4ml config (a dict of any granularity, a YAML/JSON path, or ``None`` for the defaults).

    Resolution is LayerName > LayerType > Model; ``auto`` and missing precisions fall back to the
    next level and finally to ``fixed<16,6>``; a missing ``IOType`` means ``io_parallel``.
    Raises ``TypeError`` for a non-Keras model and ``ConfigError`` naming the key of a bad value.
    """
    if isinstance(config, (str, Path)):
        config = load_config(config)
    elif config is not None and not isinstance(config, Mapping):
        raise TypeError(
            f"config: expected an hls4ml config dict, a file path or None, got {type(config).__name__}"
        )
    graph = from_keras(model, config)
    return attributes_from_graph(graph, [n for n in _model_layer_names(model) if n in graph])
