"""Hardware cost of a layer: :class:`ResourceVector`, the backend registry and its discovery.

A *backend* (``Backend`` subclass, e.g. ``hls_opt.backends.vivado.VivadoBackend``) holds one
resource model per IR node type, registered with the ``@Backend.model(NodeType)`` decorator.  A
model is a function ``(backend, node, kernel, input_precision) -> ResourceVector``; it reads the
zero pattern from ``kernel`` (the node's kernel with the caller's mask applied) and the hardware
settings from ``node.config`` (a :class:`~hls_opt.config.LayerConfig`).

Backends are found by name through :func:`get_backend`, never by importing a backend module:
the built-in ones (``vivado``, ``gpu``) are imported on first use, and every entry point of the
group ``hls_opt.estimators`` is loaded once, on the first lookup.  An entry point may name

* a callable taking no argument (``register()``), which registers what it likes
  (backends through :func:`register_backend`, objectives through
  ``hls_opt.objectives.register_objective``);
* a :class:`Backend` subclass or instance, registered under its ``name``;
* an ``ObjectiveEstimator`` subclass, registered as an objective under the entry point's name.

Registering a name twice is a :class:`~hls_opt.errors.RegistryError`.

Units of :class:`ResourceVector`: ``dsp`` DSP slices (DSP48 on AMD, variable-precision DSP
blocks on Intel), ``bram`` 18 Kb block RAMs (Intel: 20 Kb M20K), ``lut`` look-up tables (Intel:
ALMs), ``ff`` flip-flops, ``flops`` floating-point operations per sample, ``params`` non-zero
kernel weights, ``memory_bits`` bits to store them.  See ``docs/resources.md``.
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from typing import Any, ClassVar

import numpy as np

from hls_opt.core.structures import Grouping, StructureType
from hls_opt.cost.timing import NOT_MODELLED, ModelTiming, Schedule, Timing, compose
from hls_opt.errors import ModelError, RegistryError

logger = logging.getLogger(__name__)

#: Entry-point group through which third parties add backends and objectives.
ENTRY_POINT_GROUP = "hls_opt.estimators"


@dataclass(frozen=True)
class ResourceVector:
    """What one layer (or a whole model) costs; every field an ``int`` in the unit named above."""

    dsp: int = 0
    bram: int = 0
    lut: int = 0
    ff: int = 0
    flops: int = 0
    params: int = 0
    memory_bits: int = 0

    FIELDS: ClassVar[tuple[str, ...]] = ("dsp", "bram", "lut", "ff", "flops", "params", "memory_bits")

    def __post_init__(self) -> None:
        for name in self.FIELDS:
            value = getattr(self, name)
            if isinstance(value, (bool, float)) or not isinstance(value, (int, np.integer)):
                raise TypeError(f"ResourceVector.{name}: expected an int, got {value!r}")
            object.__setattr__(self, name, int(value))

    def __add__(self, other: ResourceVector) -> ResourceVector:
        if not isinstance(other, ResourceVector):
            return NotImplemented
        return ResourceVector(**{f: getattr(self, f) + getattr(other, f) for f in self.FIELDS})

    def __sub__(self, other: ResourceVector) -> ResourceVector:
        if not isinstance(other, ResourceVector):
            return NotImplemented
        return ResourceVector(**{f: getattr(self, f) - getattr(other, f) for f in self.FIELDS})

    def __radd__(self, other: Any) -> ResourceVector:
        # Lets ``sum(vectors)`` work (it starts from 0).
        if other == 0:
            return self
        return NotImplemented

    def scaled(self, factor: int) -> ResourceVector:
        """Every field multiplied by the integer ``factor`` (e.g. parallel copies of a kernel)."""
        return ResourceVector(**{f: getattr(self, f) * int(factor) for f in self.FIELDS})

    def as_dict(self) -> dict[str, int]:
        """``{field: value}`` in :data:`FIELDS` order."""
        return {f: getattr(self, f) for f in self.FIELDS}

    def __getitem__(self, name: str) -> int:
        if name not in self.FIELDS:
            raise KeyError(f"ResourceVector has no field {name!r} (fields: {', '.join(self.FIELDS)})")
        return getattr(self, name)


FIELDS: tuple[str, ...] = ResourceVector.FIELDS
assert FIELDS == tuple(f.name for f in fields(ResourceVector))

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

    def find_model(self, node: Any, table_name: str = "_models") -> Any:
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
        self, node: Any, kernel: np.ndarray | None = None, input_precision: Any = None
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
        if getattr(node, "weight_quantizer", None) is not None:
            # A QKeras layer: cost the weights as hls4ml writes them (quantized; ir.nodes.built_kernel).
            kernel = node.built_kernel(kernel)
        return model(self, node, kernel, input_precision)

    def timing(
        self,
        node: Any,
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

    def timing_schedule(self, graph: Any) -> tuple[Schedule, int | None]:
        """How the backend's top function runs the layers of ``graph`` and the II its pragma sets
        (``None``: none); default: one after the other."""
        return Schedule.SEQUENTIAL, None

    def valid_reuse_factors(self, node: Any, strategy: Any = None) -> list[int]:
        """Reuse factors this backend accepts for ``node`` (ascending); ``[1]`` for unweighted nodes."""
        if not getattr(node, "has_kernel", False):
            return [1]
        return hls4ml_valid_reuse_factors(node.n_in, node.n_out)

    def applied_reuse_factor(self, node: Any) -> int | None:
        """The reuse factor hls4ml will build ``node`` with, which the cost model uses (``None``
        without a config).  Default: the configured one; FPGA backends snap it as hls4ml does."""
        cfg = getattr(node, "config", None)
        return int(cfg.reuse_factor) if cfg is not None else None

    def snap_reuse_factor(self, node: Any, rf: int, strategy: Any = None) -> int:
        """The valid reuse factor nearest to ``rf`` (ties → the smaller, as hls4ml)."""
        valid = self.valid_reuse_factors(node, strategy)
        if not valid:
            return 1
        return closest_reuse_factor(valid, int(rf))

    # -- pruning: the same cost model, asked what one weight group costs ------------------------

    def pruned_config(self, node: Any) -> Any:
        """The config the layer should be built with once some of its weights are zero, so that
        the zeros really save resources (default: its own config).  FPGA backends switch to the
        strategy whose generated code skips zero weights (:meth:`FPGABackend.pruned_config`)."""
        return getattr(node, "config", None)

    def pruned_node(self, node: Any) -> Any:
        """``node`` with :meth:`pruned_config` (the node itself when that changes nothing)."""
        config = self.pruned_config(node)
        if config == getattr(node, "config", None):
            return node
        return dataclasses.replace(node, config=config)

    def grouping_candidates(self, node: Any, fields: tuple[str, ...]) -> list[Grouping]:
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
        node: Any,
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
        self, node: Any, fields: tuple[str, ...], input_precision: Any = None
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


# --------------------------------------------------------------------------------------------------
# registry

_BACKENDS: dict[str, Backend] = {}
#: Built-in backends, imported on first lookup: name -> "module:attribute" of the backend class.
_BUILTINS: dict[str, str] = {
    "vivado": "hls_opt.backends.vivado:VivadoBackend",
    "gpu": "hls_opt.backends.gpu:GPUBackend",
}
_LOCK = threading.RLock()
_ENTRY_POINTS_LOADED = False
_BUILTINS_LOADED = False


def register_backend(backend: Backend | type[Backend]) -> Backend:
    """Register ``backend`` (an instance, or a class instantiated without arguments) by its ``name``.

    Raises RegistryError when the name is empty or already taken.  Returns the instance.
    """
    if isinstance(backend, type):
        backend = backend()
    if not isinstance(backend, Backend):
        raise RegistryError(f"register_backend: expected a Backend, got {type(backend).__name__}")
    name = str(backend.name)
    if not name:
        raise RegistryError(f"register_backend: {type(backend).__name__} has no name")
    with _LOCK:
        if name in _BACKENDS:
            raise RegistryError(
                f"backend {name!r} is already registered ({type(_BACKENDS[name]).__name__}); "
                f"cannot register {type(backend).__name__} under the same name"
            )
        _BACKENDS[name] = backend
    logger.debug("registered backend %r (%s)", name, type(backend).__name__)
    return backend


def unregister_backend(name: str) -> None:
    """Remove a backend (for tests and plugins that replace one deliberately)."""
    with _LOCK:
        _BACKENDS.pop(name, None)


def _load_builtins() -> None:
    global _BUILTINS_LOADED
    with _LOCK:
        if _BUILTINS_LOADED:
            return
        _BUILTINS_LOADED = True
        for name, target in _BUILTINS.items():
            if name in _BACKENDS:
                continue
            module_name, attr = target.split(":")
            cls = getattr(importlib.import_module(module_name), attr)
            register_backend(cls())


def _entry_points() -> Iterable[Any]:
    from importlib.metadata import entry_points

    return entry_points(group=ENTRY_POINT_GROUP)


def load_entry_points(force: bool = False) -> list[str]:
    """Load every entry point of the group ``hls_opt.estimators`` once; returns their names.

    A plugin that fails to import is logged and skipped (one broken plugin must not take the
    built-in backends down); a plugin that registers a name already taken raises RegistryError.
    """
    global _ENTRY_POINTS_LOADED
    with _LOCK:
        if _ENTRY_POINTS_LOADED and not force:
            return []
        _ENTRY_POINTS_LOADED = True
        loaded = []
        for ep in _entry_points():
            try:
                target = ep.load()
            except Exception as exc:  # a third-party import error: report, keep going
                if ep.value.startswith("hls_opt."):
                    raise  # one of ours (the oneAPI backend): a bug to see, not a plugin to skip
                logger.warning(
                    "entry point %s = %s (group %s) failed to load: %s",
                    ep.name,
                    ep.value,
                    ENTRY_POINT_GROUP,
                    exc,
                )
                continue
            _apply_entry_point(ep.name, ep.value, target)
            loaded.append(ep.name)
        return loaded


#: hls4ml's estimator interface: an entry point whose target has these is an objective.
ESTIMATOR_METHODS = ("is_layer_optimizable", "layer_resources", "layer_savings")
#: Estimator classes found through entry points, by entry-point name, until the objective
#: registry (:mod:`hls_opt.objectives`, a layer above this one) takes them.
_PENDING_OBJECTIVES: dict[str, tuple[str, Any]] = {}


def is_estimator(obj: Any) -> bool:
    """Whether ``obj`` has hls4ml's three estimator methods (it need not subclass anything)."""
    return all(callable(getattr(obj, m, None)) for m in ESTIMATOR_METHODS)


def take_pending_objectives() -> dict[str, tuple[str, Any]]:
    """``{entry point name: (its value, estimator)}`` found since the last call; the registry of
    objective names registers them."""
    with _LOCK:
        pending = dict(_PENDING_OBJECTIVES)
        _PENDING_OBJECTIVES.clear()
    return pending


def _apply_entry_point(name: str, value: str, target: Any) -> None:
    try:
        if isinstance(target, Backend) or (isinstance(target, type) and issubclass(target, Backend)):
            register_backend(target)
        elif is_estimator(target):  # also one written for hls4ml without our base class
            _PENDING_OBJECTIVES[name] = (value, target)
        elif callable(target):
            target()
        else:
            kind = type(target).__name__
            raise RegistryError(f"it is a {kind}, not a register function, Backend or estimator")
    except RegistryError as exc:
        raise RegistryError(f"entry point {name} = {value} (group {ENTRY_POINT_GROUP}): {exc}") from None


def get_backend(name: str | Backend) -> Backend:
    """The registered backend called ``name`` (a Backend instance is returned unchanged).

    The first lookup imports the built-in backends and loads the ``hls_opt.estimators`` entry
    points.  Unknown names raise RegistryError listing the known ones.
    """
    if isinstance(name, Backend):
        return name
    _load_builtins()
    load_entry_points()
    key = str(name)
    with _LOCK:
        if key in _BACKENDS:
            return _BACKENDS[key]
        lowered = {k.lower(): k for k in _BACKENDS}
        if key.lower() in lowered:  # 'Vivado' (hls4ml's spelling) finds 'vivado'
            return _BACKENDS[lowered[key.lower()]]
        known = ", ".join(sorted(_BACKENDS))
    raise RegistryError(f"backend: unknown backend {name!r} (known: {known})")


def available_backends() -> list[str]:
    """Names of every registered backend (built-ins and entry points), sorted."""
    _load_builtins()
    load_entry_points()
    with _LOCK:
        return sorted(_BACKENDS)


# --------------------------------------------------------------------------------------------------
# whole graphs


def input_precision_of(graph: Any, node: Any) -> Any:
    """The type of the data ``node`` multiplies: its first producer's output type (the result of
    the activation hls4ml splits off the producer, if any, else its result), when the graph knows it."""
    inputs = getattr(node, "inputs", None) or []
    if not inputs:
        return None
    try:
        producer = graph.node(inputs[0])
    except ModelError:  # a producer the graph does not hold
        return None
    cfg = getattr(producer, "config", None)
    result = getattr(cfg, "output", None)
    return result if hasattr(result, "width") else None


def estimate_graph(graph: Any, backend: str | Backend = "vivado") -> dict[str, ResourceVector]:
    """``{node name: ResourceVector}`` for every node of ``graph`` in topological order.

    Each weighted node's input precision is its producer's result precision when known.
    """
    be = get_backend(backend)
    out: dict[str, ResourceVector] = {}
    for node in graph.nodes():
        out[node.name] = be.estimate(node, input_precision=input_precision_of(graph, node))
    return out


def total(vectors: Iterable[ResourceVector]) -> ResourceVector:
    """Field-wise sum."""
    acc = ResourceVector()
    for v in vectors:
        acc = acc + v
    return acc


def _shape_list(shape: Any) -> list[int]:
    return [int(d) for d in shape] if shape is not None else []


def estimate_table(graph: Any, backend: str | Backend = "vivado") -> list[dict[str, Any]]:
    """Per-layer rows for ``hls-opt estimate``, in topological order.

    Each row has ``name, type, input_shape, output_shape, params, precision`` (the weight type in
    hls4ml's ap_ spelling, ``""`` without a config), ``reuse_factor``, ``strategy`` (hls4ml's
    spelling) and every :data:`FIELDS` value.  ``params`` is the resource vector's count of
    non-zero kernel weights (what the optimizer removes); ``weights`` is every stored array
    element (kernel + bias + …).  :func:`table_total` sums the rows.
    """
    be = get_backend(backend)
    estimates = estimate_graph(graph, be)
    timing = model_timing(graph, be)
    rows: list[dict[str, Any]] = []
    for node in graph.nodes():
        vec = estimates[node.name]
        cfg = getattr(node, "config", None)
        weights = getattr(node, "weights", {}) or {}
        weight_precision = getattr(cfg, "weight", None)
        row: dict[str, Any] = {
            "name": node.name,
            "type": getattr(node, "kind", type(node).__name__),
            "input_shape": _shape_list(getattr(node, "input_shape", ())),
            "output_shape": _shape_list(getattr(node, "output_shape", ())),
            "weights": int(sum(int(np.asarray(w).size) for w in weights.values())),
            "precision": (
                weight_precision.to_ap_string()
                if hasattr(weight_precision, "to_ap_string")
                else ("" if weight_precision is None else str(weight_precision))
            ),
            **_reuse_factors(be, node),
            "strategy": _strategy_str(cfg.strategy) if cfg is not None else "",
            "modelled": bool(getattr(node, "modelled", True)),
        }
        row.update(_timing_fields(timing.layers[node.name]))
        row.update(vec.as_dict())
        rows.append(row)
    return rows


def _reuse_factors(backend: Backend, node: Any) -> dict[str, int | None]:
    """``reuse_factor``: the one hls4ml applies (and the numbers use); ``reuse_factor_given``: the
    configured one, only when hls4ml changes it (e.g. 10⁹, or one not in its valid list:
    ``FPGABackend.set_closest_reuse_factor`` in hls4ml/backends/fpga/fpga_backend.py)."""
    applied = backend.applied_reuse_factor(node)
    cfg = getattr(node, "config", None)
    out: dict[str, int | None] = {"reuse_factor": applied}
    if cfg is not None and applied is not None and int(cfg.reuse_factor) != applied:
        out["reuse_factor_given"] = int(cfg.reuse_factor)
    return out


def stream_pack(graph: Any, node: Any) -> int | None:
    """Values per element of ``node``'s input stream under io_stream: the last axis of the tensor
    its producer writes, looking through Flatten (hls4ml repacks the stream for a Reshape with a
    multi-axis output but not for a flatten: ``ReshapeStream.match`` in
    hls4ml/backends/fpga/passes/repack_stream.py), so a Dense after Conv→Flatten reads
    channel-wide packs.  ``None`` when the graph does not say."""
    inputs = getattr(node, "inputs", None) or []
    shape = getattr(node, "input_shape", ()) or ()
    seen = 0
    while inputs and seen < 64:
        try:
            producer = graph.node(inputs[0])
        except ModelError:
            break
        if type(producer).__name__ != "Flatten":
            break
        shape, inputs, seen = getattr(producer, "input_shape", ()) or (), producer.inputs, seen + 1
    return int(shape[-1]) if shape else None


def model_timing(
    graph: Any, backend: str | Backend = "vivado", timings: dict[str, Timing] | None = None
) -> ModelTiming:
    """The model's II and latency (cycles) on ``backend``: each node's :meth:`Backend.timing`
    (or ``timings``, e.g. a solver's candidate per layer), composed along the graph's edges as the
    backend's top function schedules the layers (:meth:`Backend.timing_schedule`, read off the
    graph's configs; :func:`hls_opt.cost.timing.compose`)."""
    be = get_backend(backend)
    layers = {
        node.name: (timings or {}).get(node.name) or be.timing(node, input_pack=stream_pack(graph, node))
        for node in graph.nodes()
    }
    schedule, pipeline_ii = be.timing_schedule(graph)
    producers = {node.name: list(getattr(node, "inputs", None) or []) for node in graph.nodes()}
    return compose(layers, schedule, pipeline_ii=pipeline_ii, producers=producers)


def table_total(rows: Iterable[dict[str, Any]]) -> dict[str, int]:
    """Sum of every :data:`FIELDS` column of :func:`estimate_table` rows."""
    rows = list(rows)
    return {f: int(sum(int(r.get(f, 0)) for r in rows)) for f in FIELDS}


def _timing_fields(t: Timing) -> dict[str, Any]:
    """``{"ii", "latency_cycles"}`` of a layer (``None`` for a layer without a timing model)."""
    if not t.modelled:
        return {"ii": None, "latency_cycles": None}
    return {"ii": t.ii, "latency_cycles": t.latency}


def _strategy_str(strategy: Any) -> str:
    if strategy is None:
        return ""
    return str(getattr(strategy, "value", strategy))


def estimate_report(graph: Any, backend: str | Backend = "vivado") -> dict[str, Any]:
    """JSON for ``hls-opt estimate --json`` (the ``report.json`` schema, docs/flow.md "Report").

    ``{"backend": name, "layers": [{"name", "type", "strategy", "reuse_factor"[, "reuse_factor_given"],
    "modelled", "before": {FIELDS}}], "total": {"before": {FIELDS}}}``; layers without a config report
    ``strategy: null``.  ``reuse_factor`` is the one hls4ml applies, ``reuse_factor_given`` the
    configured one when hls4ml changes it; ``modelled`` is false for layers hls-opt has no
    resource model for (``Opaque``: only their ``params`` are counted).
    Per layer also ``ii``/``latency_cycles`` (``null`` without a timing model, listed in
    ``timing.not_modelled``); ``timing``: the model's ``{ii, latency_cycles, schedule, not_modelled}``.
    """
    be = get_backend(backend)
    estimates = estimate_graph(graph, be)
    timing = model_timing(graph, be)
    layers = []
    for node in graph.nodes():
        cfg = getattr(node, "config", None)
        layers.append(
            {
                "name": node.name,
                "type": getattr(node, "kind", type(node).__name__),
                "strategy": _strategy_str(cfg.strategy) if cfg is not None else None,
                **_reuse_factors(be, node),
                "modelled": bool(getattr(node, "modelled", True)),
                **_timing_fields(timing.layers[node.name]),
                "before": estimates[node.name].as_dict(),
            }
        )
    return {
        "backend": be.name,
        "layers": layers,
        "total": {"before": total(estimates.values()).as_dict()},
        "timing": timing.as_dict(),
    }


def ceil_div(a: int, b: int) -> int:
    """⌈a / b⌉ for non-negative integers (C's DIV_ROUNDUP)."""
    return -(-int(a) // int(b))


__all__ = [
    "ENTRY_POINT_GROUP",
    "FIELDS",
    "Backend",
    "ResourceVector",
    "available_backends",
    "ceil_div",
    "closest_reuse_factor",
    "estimate_graph",
    "estimate_report",
    "estimate_table",
    "table_total",
    "get_backend",
    "hls4ml_valid_reuse_factors",
    "input_precision_of",
    "load_entry_points",
    "model_timing",
    "stream_pack",
    "register_backend",
    "total",
    "unregister_backend",
]
