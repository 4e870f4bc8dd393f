"""A backend's cost model: the :class:`Backend` base, its per-node-type resource and timing models, and
hls4ml's reuse-factor rules.

A *backend* (``Backend`` subclass, e.g. ``hls_opt.backends.vivado.VivadoBackend``) holds one
resource model per IR node type, registered with the ``@Backend.model(NodeType)`` decorator.  A
model is a function ``(backend, node, kernel, input_precision) -> ResourceVector``; it reads the
zero pattern from ``kernel`` (the node's kernel with the caller's mask applied) and the hardware
settings from ``node.config`` (a :class:`~hls_opt.config.LayerConfig`).  Backends are found by name in
:mod:`hls_opt.cost.registry`.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from hls_opt.core.structures import Grouping, StructureType
from hls_opt.cost.timing import NOT_MODELLED, Schedule, Timing
from hls_opt.cost.vector import ResourceVector
from hls_opt.errors import RegistryError

if TYPE_CHECKING:
    from hls_opt.ir.graph import Graph
    from hls_opt.ir.nodes import Node, WeightedNode


logger = logging.getLogger(__name__)


#: A resource model: ``(backend, node, kernel, input_precision) -> ResourceVector``.
ResourceModel = Callable[["Backend", Any, "np.ndarray | None", Any], ResourceVector]
#: A timing model: ``(backend, node, input_pack) -> Timing`` (hls_opt.cost.timing), read off
#: ``node.config``; ``input_pack`` is how many values one element of the node's input stream
#: carries under io_stream (``None``: the last axis of its input shape).
TimingModel = Callable[["Backend", Any, "int | None"], Timing]


# --------------------------------------------------------------------------------------------------
# reuse factors (hls4ml's rule: hls4ml/backends/fpga/fpga_backend.py, FPGABackend._validate_reuse_factor)


def hls4ml_valid_reuse_factors(n_in: int, n_out: int) -> list[int]:
    """Reuse factors hls4ml accepts for an ``n_in × n_out`` matrix multiply, ascending.

    hls4ml (``FPGABackend.get_valid_reuse_factors``) tests every RF in ``1 … n_in·n_out`` with
    ``_validate_reuse_factor``; the closed form of that test is
    ``{d : d | n_in} ∪ {n_in·k : k | n_out}`` (both sets also divide ``n_in·n_out``).
    """
    n_in, n_out = int(n_in), int(n_out)
    if n_in < 1 or n_out < 1:
        raise ValueError(f"reuse factors: matrix multiply {n_in}x{n_out} must have positive sizes")
    small = {d for d in range(1, n_in + 1) if n_in % d == 0}
    large = {n_in * k for k in range(1, n_out + 1) if n_out % k == 0}
    return sorted(small | large)


def closest_reuse_factor(valid: list[int], requested: int) -> int:
    """The value of ``valid`` (ascending) nearest to ``requested``; ties go to the smaller one.

    Same rule as hls4ml's ``FPGABackend.get_closest_reuse_factor``.
    """
    if not valid:
        raise ValueError("reuse factors: no valid reuse factor to choose from")
    best = valid[0]
    for rf in valid:
        if abs(rf - requested) < abs(best - requested):
            best = rf
    return int(best)


# --------------------------------------------------------------------------------------------------
# backends


class Backend:
    """A hardware target: per-node-type resource models plus the target's reuse-factor rules.

    Subclasses set ``name`` and register models with ``@TheBackend.model(NodeType, ...)``.
    Models are inherited: a subclass uses its parents' models unless it registers its own for
    the same node type.  Looking a node up walks its class MRO, so a model registered for
    ``ConvND`` serves ``Conv1D`` and ``Conv2D``.
    """

    name: str = ""
    _models: ClassVar[dict[type, ResourceModel]] = {}
    _timing_models: ClassVar[dict[type, TimingModel]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._models = {}  # each class gets its own table; lookups walk the class MRO
        cls._timing_models = {}

    @classmethod
    def _registrar(cls, table_name: str, what: str, node_types: tuple[type, ...]) -> Callable[[Any], Any]:
        """The decorator behind :meth:`model` and :meth:`timing_model`: registers its function in the
        class's ``table_name`` for ``node_types``; a second one for the same (backend class, node
        type) is a RegistryError."""
        if not node_types:
            raise RegistryError(f"{cls.__name__}.{'model' if what == 'resource' else 'timing_model'}: give at least one node type")
        table = cls.__dict__[table_name]

        def decorate(fn: Any) -> Any:
            for node_type in node_types:
                if node_type in table:
                    raise RegistryError(
                        f"backend {cls.__name__}: a {what} model for {node_type.__name__} is already "
                        f"registered ({table[node_type].__name__})"
                    )
                table[node_type] = fn
            return fn

        return decorate

    @classmethod
    def model(cls, *node_types: type) -> Callable[[ResourceModel], ResourceModel]:
        """Decorator registering a resource model for ``node_types`` on this backend class.

        Registering a second model for the same (backend class, node type) is a RegistryError.
        """
        return cls._registrar("_models", "resource", node_types)

    @classmethod
    def timing_model(cls, *node_types: type) -> Callable[[TimingModel], TimingModel]:
        """Decorator registering a timing model ``(backend, node, input_pack) -> Timing`` for ``node_types``
        (same table rules as :meth:`model`: one per (backend class, node type), inherited)."""
        return cls._registrar("_timing_models", "timing", node_types)

    def find_model(self, node: Node, table_name: str = "_models") -> Any:
        """The model for ``node``'s type (nearest class in its MRO, nearest backend class), or None;
        ``table_name='_timing_models'`` looks a timing model up."""
        for node_type in type(node).__mro__:
            for backend_cls in type(self).__mro__:
                table = backend_cls.__dict__.get(table_name)
                if table and node_type in table:
                    return table[node_type]
        return None

    # -- the public interface -------------------------------------------------------------------

    def estimate(
        self, node: WeightedNode, kernel: np.ndarray | None = None, input_precision: Any = None
    ) -> ResourceVector:
        """Resources of ``node`` on this backend.

        ``kernel`` (optional) replaces ``node.kernel`` as the source of the zero pattern (same
        shape).  ``input_precision`` is the precision of the data the layer multiplies (the
        producer's result type); when ``None`` the node's own result type stands in for it.
        Node types without a model cost nothing (a zero vector, but for an ``Opaque`` node's
        ``params``: its ``param_count``); never raises for an unknown type.
        """
        model = self.find_model(node)
        if model is None:
            # nothing modelled; a layer hls-opt cannot model (Opaque) still counts its parameters
            return ResourceVector(params=int(getattr(node, "param_count", 0) or 0))
        if kernel is not None and getattr(node, "has_kernel", False):
            kernel = np.asarray(kernel)
            if kernel.shape != tuple(node.kernel.shape):
                raise ValueError(
                    f"{getattr(node, 'name', '?')}: kernel shape {kernel.shape} does not match the node's "
                    f"{tuple(node.kernel.shape)}"
                )
        if getattr(node, "weight_quantizer", None) is not None or getattr(node, "weight_bits", None) is not None:
            # A QKeras / HGQ2 layer: cost the weights as hls4ml writes them (quantized; ir.nodes.built_kernel).
            kernel = node.built_kernel(kernel)
        return model(self, node, kernel, input_precision)

    def timing(
        self,
        node: Node,
        *,
        strategy: Any = None,
        reuse_factor: int | None = None,
        input_pack: int | None = None,
    ) -> Timing:
        """II and latency (cycles) of ``node`` on this backend, as configured, or at ``strategy`` /
        ``reuse_factor`` when given (the node is not changed).  ``input_pack``: values per element
        of the input stream under io_stream (:func:`stream_pack`; default: the input's last axis).
        A node type without a timing model gets :data:`~hls_opt.cost.timing.NOT_MODELLED`; never raises
        for an unknown type."""
        model = self.find_model(node, "_timing_models")
        if model is None:
            return NOT_MODELLED
        cfg = getattr(node, "config", None)
        if cfg is not None and (strategy is not None or reuse_factor is not None):
            changes: dict[str, Any] = {}
            if strategy is not None:
                changes["strategy"] = strategy
            if reuse_factor is not None:
                changes["reuse_factor"] = int(reuse_factor)
            node = dataclasses.replace(node, config=dataclasses.replace(cfg, **changes))
        return model(self, node, input_pack)

    def timing_schedule(self, graph: Graph) -> tuple[Schedule, int | None]:
        """How the backend's top function runs the layers of ``graph`` and the II its pragma sets
        (``None``: none); default: one after the other."""
        return Schedule.SEQUENTIAL, None

    def valid_reuse_factors(self, node: WeightedNode, strategy: Any = None) -> list[int]:
        """Reuse factors this backend accepts for ``node`` (ascending); ``[1]`` for unweighted nodes."""
        if not getattr(node, "has_kernel", False):
            return [1]
        return hls4ml_valid_reuse_factors(node.n_in, node.n_out)

    def applied_reuse_factor(self, node: Node) -> int | None:
        """The reuse factor hls4ml will build ``node`` with, which the cost model uses (``None``
        without a config).  Default: the configured one; FPGA backends snap it as hls4ml does."""
        cfg = getattr(node, "config", None)
        return int(cfg.reuse_factor) if cfg is not None else None

    def snap_reuse_factor(self, node: Node, rf: int, strategy: Any = None) -> int:
        """The valid reuse factor nearest to ``rf`` (ties → the smaller, as hls4ml)."""
        valid = self.valid_reuse_factors(node, strategy)
        if not valid:
            return 1
        return closest_reuse_factor(valid, int(rf))

    # -- pruning: the same cost model, asked what one weight group costs ------------------------

    def pruned_config(self, node: Node) -> Any:
        """The config the layer should be built with once some of its weights are zero, so that
        the zeros really save resources (default: its own config).  FPGA backends switch to the
        strategy whose generated code skips zero weights (:meth:`FPGABackend.pruned_config`)."""
        return getattr(node, "config", None)

    def pruned_node(self, node: Node) -> Any:
        """``node`` with :meth:`pruned_config` (the node itself when that changes nothing)."""
        config = self.pruned_config(node)
        if config == getattr(node, "config", None):
            return node
        return dataclasses.replace(node, config=config)

    def grouping_candidates(self, node: WeightedNode, fields: tuple[str, ...]) -> list[Grouping]:
        """Weight structures the hardware may skip for ``node`` (already :meth:`pruned_node`),
        finest first: single weights, the rows of the node's reuse factor, whole neurons/filters.
        :meth:`pruning_grouping` takes the first one whose groups save something of ``fields``."""
        out = [Grouping(StructureType.UNSTRUCTURED)]
        config = getattr(node, "config", None)
        rf = int(getattr(config, "reuse_factor", 1) or 1)
        if rf > 1 and node.kernel.size % rf == 0:
            out.append(Grouping(StructureType.PATTERN, pattern_rf=rf))
        out.append(Grouping(StructureType.STRUCTURED))
        return out

    def group_savings(
        self,
        node: WeightedNode,
        grouping: Grouping,
        fields: tuple[str, ...],
        input_precision: Any = None,
        *,
        samples: int = 16,
    ) -> np.ndarray:
        """What zeroing one group of ``grouping`` saves, per field of ``fields`` (float64, ≥ 0).

        Read off :meth:`estimate` itself.  A knapsack counts every group alike, so the saving must
        not promise more than pruning groups really gives, one at a time or all together: per
        field, the smaller of (a) the least that zeroing one group saves, over up to ``samples``
        groups spread over the kernel, and (b) the mean saving when every group is zeroed, rounded
        down (memory blocks: 128 bits of a 36-bit-wide block row free 4 blocks alone but 3.56 on
        average).  A backend with a closed form may override this.
        """
        ids, n_groups = grouping.ids(tuple(node.kernel.shape))
        if n_groups == 0:
            return np.zeros(len(fields))
        ones = np.ones(node.kernel.shape, dtype=np.float32)
        base = self.estimate(node, ones, input_precision)
        empty = self.estimate(node, np.zeros_like(ones), input_precision)
        least = np.floor(np.array([base[f] - empty[f] for f in fields], dtype=np.float64) / n_groups)
        picks = np.unique(np.linspace(0, n_groups - 1, num=min(n_groups, int(samples))).astype(np.int64))
        for g in picks:
            kernel = ones.copy()
            kernel[ids == g] = 0.0
            after = self.estimate(node, kernel, input_precision)
            least = np.minimum(least, [base[f] - after[f] for f in fields])
        return np.maximum(least, 0.0)

    def pruning_grouping(
        self, node: Node, fields: tuple[str, ...], input_precision: Any = None
    ) -> tuple[Grouping, np.ndarray] | None:
        """``(grouping, saving per group)`` for ``node`` (already :meth:`pruned_node`): the first of
        :meth:`grouping_candidates` whose groups save something of ``fields``; None when no
        structure saves anything (e.g. a product built from LUTs under the DSP objective)."""
        if not getattr(node, "has_kernel", False) or node.weights.get("kernel") is None:
            return None
        for grouping in self.grouping_candidates(node, fields):
            try:
                savings = self.group_savings(node, grouping, fields, input_precision)
            except ValueError:  # a structure that does not tile this kernel
                continue
            if np.any(savings > 0):
                return grouping, savings
        return None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"
