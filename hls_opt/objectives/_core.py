"""The hls4ml-compatible estimator classes as adapters over a backend's one cost model.

An estimator (hls4ml's three classmethods) answers from the IR node a ``LayerAttributes`` carries
(or one rebuilt from hand-made hls4ml attributes) by asking the registered backend:

* ``is_layer_optimizable`` — :func:`hls_opt.solve.pruning.node_groups`: the structure whose groups the
  pruned hardware skips (:meth:`Backend.pruning_grouping`), as an ``OptimizationAttributes``;
* ``layer_resources`` — :meth:`Backend.estimate` of the unpruned layer;
* ``layer_savings`` — :meth:`Backend.group_savings` of one group of the stored structure, on the
  layer as it is built once pruned (:meth:`Backend.pruned_node`).

So what ``hls-opt estimate`` reports, what the optimizer prunes and what these classes say are
the same numbers.  :class:`BackendEstimator` is the base; a subclass names a backend and an
objective.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from hls_opt.attributes import OptimizationAttributes, config_from_hls4ml_attributes
from hls_opt.backends.fpga import with_config
from hls_opt.core.precision import as_precision
from hls_opt.core.structures import Grouping, StructureType
from hls_opt.cost.objective import Objective, parse_objective
from hls_opt.cost.registry import get_backend
from hls_opt.ir import nodes as ir
from hls_opt.solve.pruning import node_groups

if TYPE_CHECKING:
    from hls_opt.ir.nodes import WeightedNode


logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LayerView:
    """The node an estimator evaluates and what it needs about it."""

    node: WeightedNode  # an IR node whose config is resolved
    input_precision: Any  # the multiplier's data operand, or None (node's result type stands in)

    @property
    def n_weights(self) -> int:
        return int(self.node.kernel.size)

    @property
    def n_in(self) -> int:
        return self.node.n_in  # the matrix-multiply view, hls_opt.core.structures.mult_shape

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


def grouping_of(st: Structure, kernel_shape: tuple[int, ...]) -> Grouping:
    """The :class:`~hls_opt.core.structures.Grouping` an hls4ml structure describes for this kernel."""
    return Grouping.from_hls4ml(
        kernel_shape, st.type, pattern_offset=st.pattern_offset, consecutive=st.consecutive, block_shape=st.block_shape
    )


def optimization_attributes(grouping: Grouping, kernel_shape: tuple[int, ...]) -> Any:
    """hls4ml's ``OptimizationAttributes`` (pruning on) for a grouping of this kernel."""
    size = int(np.prod(kernel_shape))
    return OptimizationAttributes(
        structure_type=grouping.structure,
        pruning=True,
        weight_sharing=False,
        pattern_offset=size // grouping.pattern_rf if grouping.structure is StructureType.PATTERN else 1,
        consecutive_patterns=int(grouping.consecutive),
        block_shape=tuple(grouping.block_shape),
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


def _node_from_attributes(attrs: Any) -> Any:
    """A node rebuilt from hand-made hls4ml attributes (no ``.node``)."""
    kind = _kind(attrs)
    shape = tuple(int(d) for d in (getattr(attrs, "weight_shape", ()) or ()))
    if kind is None or len(shape) < 2:
        return None
    args = getattr(attrs, "args", None) or {}
    cfg = config_from_hls4ml_attributes(args.get("hls4ml_attributes"))
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
        node = with_config(node)
    args = getattr(attrs, "args", None) or {}
    ip = args.get("input_precision")
    return LayerView(node=node, input_precision=None if ip is None else as_precision(ip, key="input_precision"))


class BackendEstimator:
    """hls4ml's estimator interface over backend ``backend``'s cost model for ``objective``.

    Subclasses set the two class attributes; the three methods are classmethods, as hls4ml's
    optimizer calls them on the class.
    """

    backend: ClassVar[str] = "vivado"
    objective: ClassVar[str] = "dsp"

    @classmethod
    def native_objective(cls) -> Objective:
        return parse_objective(cls.objective)

    @classmethod
    def is_layer_optimizable(cls, layer_attributes: Any) -> tuple[bool, Any]:
        v = view(layer_attributes)
        if v is None:
            return False, None
        groups = node_groups(get_backend(cls.backend), v.node, cls.native_objective(), v.input_precision)
        if groups is None:
            return False, None
        return True, optimization_attributes(groups.grouping, tuple(v.node.kernel.shape))

    @classmethod
    def layer_resources(cls, layer_attributes: Any) -> list[int]:
        fields = cls.native_objective().resources
        v = view(layer_attributes)
        if v is None:
            return [0] * len(fields)
        estimate = get_backend(cls.backend).estimate(v.node, v.dense_kernel, v.input_precision)
        return [int(estimate[f]) for f in fields]

    @classmethod
    def layer_savings(cls, layer_attributes: Any) -> list[int]:
        fields = cls.native_objective().resources
        v = view(layer_attributes)
        st = structure(layer_attributes)
        if v is None or st is None:
            return [0] * len(fields)
        backend = get_backend(cls.backend)
        shape = tuple(v.node.kernel.shape)
        try:
            grouping = grouping_of(st, shape)
            savings = backend.group_savings(backend.pruned_node(v.node), grouping, fields, v.input_precision)
        except ValueError as exc:  # a structure that does not tile this kernel
            logger.warning("%s: %s; it saves nothing", getattr(layer_attributes, "name", "?"), exc)
            return [0] * len(fields)
        return [int(x) for x in savings]
