"""Shared machinery of the estimators: the layer a ``LayerAttributes`` describes, its structure,
and how many weights / reuse-group rows / output channels one group of a structure covers.

Group layouts are those of :mod:`hls_opt.structures` (the one shared definition): PATTERN groups
are ``n/P`` consecutive weights of the transposed kernel (times ``consecutive_patterns``),
STRUCTURED groups one output neuron / filter (``n_in`` consecutive transposed weights), BLOCK
groups ``(bh, bw)`` tiles of a 2-D kernel.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from hls_opt.structures import StructureType

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LayerView:
    """The node an estimator evaluates and what it needs about it."""

    node: Any  # an IR WeightedNode whose config is resolved
    input_precision: Any  # the multiplier's data operand, or None (node's result type stands in)

    @property
    def n_weights(self) -> int:
        return int(self.node.kernel.size)

    @property
    def n_in(self) -> int:
        return self.node.n_in  # the matrix-multiply view, hls_opt.structures.mult_shape

    @property
    def n_out(self) -> int:
        return self.node.n_out

    @property
    def dense_kernel(self) -> np.ndarray:
        """An all-non-zero kernel of the layer's shape: 'the unpruned layer'."""
        return np.ones(self.node.kernel.shape, dtype=np.float32)


@dataclass(frozen=True)
class Structure:
    type: StructureType
    pruning: bool
    weight_sharing: bool
    block_shape: tuple[int, int]
    pattern_offset: int
    consecutive: int


def _structure_type(value: Any) -> StructureType:
    return StructureType.parse(getattr(value, "value", value))


def structure(attrs: Any) -> Structure | None:
    """The structure stored in ``attrs.optimization_attributes``, or None (with a log line) when
    it is not pruning (weight sharing saves no resource in these models, as in hls4ml)."""
    oa = getattr(attrs, "optimization_attributes", None)
    if oa is None:
        return None
    st = Structure(
        type=_structure_type(getattr(oa, "structure_type", StructureType.UNSTRUCTURED)),
        pruning=bool(getattr(oa, "pruning", False)),
        weight_sharing=bool(getattr(oa, "weight_sharing", False)),
        block_shape=tuple(int(b) for b in getattr(oa, "block_shape", (1, 1))),
        pattern_offset=int(getattr(oa, "pattern_offset", 1)),
        consecutive=int(getattr(oa, "consecutive_patterns", 1)),
    )
    if st.weight_sharing or not st.pruning:
        logger.debug("%s: savings are 0 when the structure is not pruned", getattr(attrs, "name", "?"))
        return None
    return st


def optimization_attributes(structure_type: str, *, pattern_offset: int = 1, consecutive: int = 1) -> Any:
    """An ``OptimizationAttributes`` with pruning on (hls_opt.attributes, imported lazily)."""
    from hls_opt.attributes import OptimizationAttributes

    return OptimizationAttributes(
        structure_type=StructureType(structure_type),
        pruning=True,
        weight_sharing=False,
        pattern_offset=int(pattern_offset),
        consecutive_patterns=int(consecutive),
    )


# --------------------------------------------------------------------------------------------------
# the node behind a LayerAttributes

_KINDS = ("Conv2D", "Conv1D", "Dense")


def _kind(attrs: Any) -> str | None:
    layer_type = getattr(attrs, "layer_type", None)
    name = getattr(layer_type, "__name__", str(layer_type) if layer_type is not None else "")
    for kind in _KINDS:
        if kind in name:  # QDense / QConv2D as in hls4ml
            return kind
    return None


def _config_from_hls4ml_attributes(h: Any) -> Any:
    from hls_opt.backends.fpga import as_precision, parse_strategy
    from hls_opt.config import DEFAULT_LAYER_CONFIG, IOType, LayerConfig

    if h is None:
        return DEFAULT_LAYER_CONFIG
    weight = as_precision(getattr(h, "weight_precision", None))
    result = as_precision(getattr(h, "output_precision", None))
    io = str(getattr(h, "io_type", "io_parallel") or "io_parallel")
    return LayerConfig(
        weight=weight,
        bias=weight,
        result=result,
        accum=DEFAULT_LAYER_CONFIG.accum,
        reuse_factor=max(1, int(getattr(h, "reuse_factor", 1) or 1)),
        strategy=parse_strategy(getattr(h, "strategy", "Latency")),
        io_type=IOType.STREAM if io.lower() == "io_stream" else IOType.PARALLEL,
        parallelization_factor=max(1, int(getattr(h, "parallelization_factor", 1) or 1)),
    )


def _node_from_attributes(attrs: Any) -> Any:
    """A node rebuilt from hand-made hls4ml attributes (no ``.node``)."""
    from hls_opt.ir import nodes as ir

    kind = _kind(attrs)
    shape = tuple(int(d) for d in (getattr(attrs, "weight_shape", ()) or ()))
    if kind is None or len(shape) < 2:
        return None
    args = getattr(attrs, "args", None) or {}
    cfg = _config_from_hls4ml_attributes(args.get("hls4ml_attributes"))
    out_shape = tuple(int(d) for d in (getattr(attrs, "output_shape", ()) or ()) if d is not None)
    in_shape = tuple(int(d) for d in (getattr(attrs, "input_shape", ()) or ()) if d is not None)
    cls = {"Dense": ir.Dense, "Conv1D": ir.Conv1D, "Conv2D": ir.Conv2D}[kind]
    return cls(
        name=str(getattr(attrs, "name", "layer")),
        input_shapes=[in_shape],
        output_shape=out_shape,
        weights={"kernel": np.ones(shape, dtype=np.float32)},
        config=cfg,
    )


def view(attrs: Any) -> LayerView | None:
    """The layer behind ``attrs`` (``attrs.node`` when present), or None for layers without a kernel."""
    node = getattr(attrs, "node", None)
    if node is None or not getattr(node, "has_kernel", False):
        node = _node_from_attributes(attrs) if node is None else None
    if node is None or not getattr(node, "has_kernel", False) or node.weights.get("kernel") is None:
        return None
    if node.config is None:
        from hls_opt.backends.fpga import with_config

        node = with_config(node)
    args = getattr(attrs, "args", None) or {}
    return LayerView(node=node, input_precision=args.get("input_precision"))


def unpruned_resources(attrs: Any, backend: str, *fields: str) -> list[int]:
    """``[estimate.<field> …]`` of the unpruned layer from backend ``backend``'s resource model
    (zeros, one per field, for a layer without a kernel): every estimator's ``layer_resources``."""
    v = view(attrs)
    if v is None:
        return [0] * len(fields)
    from hls_opt.resources import get_backend

    estimate = get_backend(backend).estimate(v.node, v.dense_kernel, v.input_precision)
    return [int(getattr(estimate, f)) for f in fields]


# --------------------------------------------------------------------------------------------------
# what one group covers


def _pattern_group_size(v: LayerView, st: Structure) -> int:
    p = max(1, st.pattern_offset)
    return (v.n_weights // p) * max(1, st.consecutive)


def group_size(v: LayerView, st: Structure) -> int:
    """Weights in one group of ``st``."""
    if st.type is StructureType.UNSTRUCTURED:
        return 1
    if st.type is StructureType.STRUCTURED:
        return v.n_in
    if st.type is StructureType.PATTERN:
        return _pattern_group_size(v, st)
    return int(st.block_shape[0]) * int(st.block_shape[1])


def min_full_rows(length: int, start_step: int, rf: int) -> int:
    """Fewest whole reuse rows ``[k·rf, (k+1)·rf)`` inside an interval ``[s, s + length)`` of the
    flattened transposed kernel, over every start ``s`` that is a multiple of ``start_step``.

    The start's offset to the next row boundary, ``(−s) mod rf``, takes every multiple of
    ``gcd(start_step, rf)`` below ``rf``; the worst is ``rf − gcd``.
    """
    if rf <= 1:
        return max(0, int(length))
    worst = rf - math.gcd(int(start_step), int(rf))
    return max(0, (int(length) - worst) // int(rf))


def rows_covered(v: LayerView, st: Structure, rf: int) -> int:
    """Whole reuse-group rows (multipliers of the unrolled kernel) one group of ``st`` empties."""
    if st.type is StructureType.UNSTRUCTURED:
        return 1 if rf == 1 else 0
    if st.type is StructureType.STRUCTURED:
        # one output neuron/filter = transposed positions [o·n_in, (o+1)·n_in)
        return min_full_rows(v.n_in, v.n_in, rf)
    if st.type is StructureType.PATTERN:
        g = _pattern_group_size(v, st)
        return min_full_rows(g, g, rf)
    bh, bw = (int(b) for b in st.block_shape)
    # a (bh, bw) tile of the (n_in, n_out) kernel = bw transposed rows of bh consecutive inputs
    return bw * min_full_rows(bh, math.gcd(v.n_in, bh), rf)


def neurons_covered(v: LayerView, st: Structure) -> int:
    """Whole output neurons / filters one group of ``st`` empties."""
    if st.type is StructureType.STRUCTURED:
        return 1
    if st.type is StructureType.UNSTRUCTURED:
        return 1 if v.n_in == 1 else 0
    if st.type is StructureType.PATTERN:
        g = _pattern_group_size(v, st)
        return g // v.n_in if g % v.n_in == 0 else 0
    bh, bw = (int(b) for b in st.block_shape)
    return bw if bh == v.n_in else 0
