"""Whole graphs priced by a backend: per-node estimates, the estimate table and report (what
``hls-opt estimate`` prints), stream packing and the model's timing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np

from hls_opt.cost.backend import Backend
from hls_opt.cost.registry import get_backend
from hls_opt.cost.timing import ModelTiming, Timing, compose
from hls_opt.cost.vector import FIELDS, ResourceVector, total
from hls_opt.errors import ModelError

if TYPE_CHECKING:
    from hls_opt.ir.graph import Graph
    from hls_opt.ir.nodes import Node


logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------------
# whole graphs


def input_precision_of(graph: Graph, node: Node) -> Any:
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


def estimate_graph(graph: Graph, backend: str | Backend = "vivado") -> dict[str, ResourceVector]:
    """``{node name: ResourceVector}`` for every node of ``graph`` in topological order.

    Each weighted node's input precision is its producer's result precision when known.
    """
    be = get_backend(backend)
    out: dict[str, ResourceVector] = {}
    for node in graph.nodes():
        out[node.name] = be.estimate(node, input_precision=input_precision_of(graph, node))
    return out


def _shape_list(shape: Any) -> list[int]:
    return [int(d) for d in shape] if shape is not None else []


def estimate_table(graph: Graph, backend: str | Backend = "vivado") -> list[dict[str, Any]]:
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


def _reuse_factors(backend: Backend, node: Node) -> dict[str, int | None]:
    """``reuse_factor``: the one hls4ml applies (and the numbers use); ``reuse_factor_given``: the
    configured one, only when hls4ml changes it (e.g. 10⁹, or one not in its valid list:
    ``FPGABackend.set_closest_reuse_factor`` in hls4ml/backends/fpga/fpga_backend.py)."""
    applied = backend.applied_reuse_factor(node)
    cfg = getattr(node, "config", None)
    out: dict[str, int | None] = {"reuse_factor": applied}
    if cfg is not None and applied is not None and int(cfg.reuse_factor) != applied:
        out["reuse_factor_given"] = int(cfg.reuse_factor)
    return out


def stream_pack(graph: Graph, node: Node) -> int | None:
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
    graph: Graph, backend: str | Backend = "vivado", timings: dict[str, Timing] | None = None
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


def estimate_report(graph: Graph, backend: str | Backend = "vivado") -> dict[str, Any]:
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
