"""Graph + the user's hls4ml config → the hls4ml config to convert the optimized model with.

Rules (docs/flow.md, "Emitted config"):

- The user's config is deep-copied; every key we do not own (precisions, BramFactor, Trace,
  LayerType entries, …) is kept as written.
- Every ``Strategy`` value is written in the spelling hls4ml understands: the seed's ``Unrolled``
  (which hls4ml silently reads as Latency: the ``else`` branch of ``init_dense`` / ``init_conv2d``
  in hls4ml/backends/vivado/vivado_backend.py) becomes ``ResourceUnrolled``; other
  values are canonicalised (``resource`` → ``Resource``).  ``Unrolled`` is never emitted.
- Each *rewritten* layer gets a ``LayerName`` entry with its new ``Strategy`` and ``ReuseFactor``
  (an existing entry is updated in place, matched case-insensitively as hls4ml does).
- ``Model.Strategy`` becomes the strategy shared by every layer with weights, when they all share
  one (so hls4ml's pipeline-style choice sees a consistent model); otherwise the user's is kept.
  Since the shared value is then every weighted layer's effective strategy, no untouched layer
  changes.
- The result type of every activation a QKeras quantizer typed (QActivation, a quantizer as a
  layer's ``activation``) is written under ``LayerName.<layer>.Precision.result`` unless the user
  gave one: what hls-opt estimated the next layer with (``_quantizer_results``).
- Under a latency / II budget (the optimizer chose every layer's RF): every layer it chose for gets
  its ``LayerName`` entry and ``Model.ReuseFactor`` is 1 — hls4ml pipelines the top function at the
  largest ``reuse_factor`` of *any* layer (``backends/vivado/passes/pipeline_style.py``), and the
  activations it splits off a Dense read ``Model.ReuseFactor``.
- ``IOType`` (top level, as hls4ml's optimizer and docs put it; pass it to
  ``convert_from_keras_model(io_type=…)``) is ``io_stream`` when a rewritten convolution needs it,
  else the user's value, else ``io_parallel``.
"""

from __future__ import annotations

import copy
import logging
from typing import TYPE_CHECKING, Any

from hls_opt.config import IOType, Strategy, parse_io_type, parse_strategy
from hls_opt.core.qkeras import QKERAS_LAYERS, quantizer_name
from hls_opt.errors import ConfigError
from hls_opt.ir.nodes import Activation, Input, Opaque

if TYPE_CHECKING:
    from hls_opt.ir.graph import Graph
    from hls_opt.ir.nodes import Node


if TYPE_CHECKING:
    from hls_opt.ir.graph import Graph
    from hls_opt.ir.nodes import Node


logger = logging.getLogger(__name__)


def _canonical_strategy(value: Any) -> Any:
    """hls4ml's spelling for a strategy value; values hls-opt does not parse are returned unchanged."""
    try:
        return parse_strategy(value).value
    except (ConfigError, ValueError, TypeError):
        return value


def canonicalise_strategies(cfg: dict) -> None:
    """Rewrite every ``Strategy`` value of an hls4ml config (Model, LayerType.*, LayerName.*) in place."""
    model = cfg.get("Model")
    if isinstance(model, dict) and "Strategy" in model:
        model["Strategy"] = _canonical_strategy(model["Strategy"])
    for section in ("LayerType", "LayerName"):
        entries = cfg.get(section)
        if isinstance(entries, dict):
            for entry in entries.values():
                if isinstance(entry, dict) and "Strategy" in entry:
                    entry["Strategy"] = _canonical_strategy(entry["Strategy"])


def _layer_entry(layer_names: dict, name: str) -> dict:
    for key, entry in layer_names.items():
        if str(key).lower() == name.lower() and isinstance(entry, dict):
            return entry
    entry: dict = {}
    layer_names[name] = entry
    return entry


def emit_hls_config(
    graph: Graph,
    user_config: dict | None,
    rewritten: set[str] | frozenset[str] = frozenset(),
    io_type: str | IOType | None = None,
    model_reuse_factor: int | None = None,
    precisions: bool = False,
) -> dict:
    """The hls4ml config dict for ``graph`` (see the module docstring for the rules).

    ``rewritten`` names the layers whose strategy / reuse factor come from the graph;
    ``io_type`` overrides the model-wide IO type (``'io_stream'`` after a convolution rewrite).
    ``model_reuse_factor``: written as ``Model.ReuseFactor`` when given (a latency / II budget
    chose the RFs: 1, so the layers hls4ml reads it for — the input, activations it splits off a
    Dense — do not raise the top function's pipeline II, ``pipeline_style.py``).
    ``precisions``: write every layer's types from the graph (:func:`write_precisions`), so hls4ml
    builds exactly what a quantized copy of the model computes (docs/precision.md, "bit-exact").
    The user's dict is not modified.
    """
    cfg = copy.deepcopy(user_config) if user_config else {}
    model_cfg = cfg.setdefault("Model", {})
    canonicalise_strategies(cfg)
    if model_reuse_factor is not None:
        model_cfg["ReuseFactor"] = int(model_reuse_factor)

    nodes = list(graph.nodes())
    if rewritten:
        layer_names = cfg.setdefault("LayerName", {})
        for node in nodes:
            if node.name not in rewritten or node.config is None:
                continue
            entry = _layer_entry(layer_names, node.name)
            entry["Strategy"] = node.config.strategy.value
            entry["ReuseFactor"] = int(node.config.reuse_factor)

    quantized = [entry for node in nodes for entry in _quantizer_results(node)]
    if quantized:
        layer_names = cfg.setdefault("LayerName", {})
        for name, precision in quantized:
            entry = _layer_entry(layer_names, name)
            table = entry.setdefault("Precision", {})
            if isinstance(table, dict) and str(table.get("result", "auto")).strip().lower() == "auto":
                table["result"] = str(precision)

    if precisions:
        write_precisions(cfg, graph)

    # Every node whose hls4ml implementation depends on Strategy: matrix-multiply layers and
    # opaque layers that carry weights (depthwise/separable convs read it too).
    strategic = [n for n in nodes if n.config is not None and (n.has_kernel or (n.weights and _is_opaque(n)))]
    strategies = {n.config.strategy for n in strategic}
    if rewritten and len(strategies) == 1:
        model_cfg["Strategy"] = next(iter(strategies)).value
    elif "Strategy" not in model_cfg:
        model_cfg["Strategy"] = Strategy.LATENCY.value

    cfg["IOType"] = parse_io_type(
        io_type if io_type is not None else cfg.get("IOType", IOType.PARALLEL)
    ).value
    return cfg


def precision_entries(graph: Graph) -> list[tuple[str, dict[str, str]]]:
    """``(hls4ml layer name, {type: precision string})`` of every typed layer of ``graph``, from its config.

    The Input's ``result``; a Dense/Conv's ``weight``, ``bias``, ``result`` and ``accum`` and, when it
    has a non-linear activation, the result of hls4ml's split-off ``<layer>_<activation>`` layer
    (``LayerConfig.output``: hls4ml would otherwise give it ``Model.Precision``); an Activation's
    ``result``.  QKeras layers are left out: their quantizers set their types in hls4ml.
    """
    entries: list[tuple[str, dict[str, str]]] = []
    for node in graph.nodes():
        cfg = getattr(node, "config", None)
        if cfg is None or node.keras_class in QKERAS_LAYERS or node.keras_class == "QActivation":
            continue
        if isinstance(node, Input):
            entries.append((node.name, {"result": str(cfg.result)}))
        elif node.has_kernel:
            entries.append((node.name, {k: str(getattr(cfg, k)) for k in ("weight", "bias", "result", "accum")}))
            activation = getattr(node, "activation", None)
            if activation not in (None, "linear"):
                entries.append((f"{node.name}_{activation}", {"result": str(cfg.output)}))
        elif isinstance(node, Activation):
            entries.append((node.name, {"result": str(cfg.result)}))
    return entries


def write_precisions(cfg: dict, graph: Graph) -> None:
    """Write :func:`precision_entries` under ``LayerName.<layer>.Precision`` (replacing those keys)."""
    layer_names = cfg.setdefault("LayerName", {})
    for name, types in precision_entries(graph):
        entry = _layer_entry(layer_names, name)
        table = entry.get("Precision")
        if not isinstance(table, dict):
            # a bare string is hls4ml's shorthand for every type of the layer; spell them all out
            table = {} if table is None else {k: table for k in types}
            entry["Precision"] = table
        table.update(types)


def _quantizer_results(node: Node) -> list[tuple[str, Any]]:
    """``(hls4ml layer name, result precision)`` of the activations a QKeras quantizer typed.

    hls4ml takes a QActivation's result type from the config only (the quantizer reaches it through
    ``config_from_keras_model``, ``hls4ml/utils/config.py``); hls-opt estimated the next layer with
    the quantizer's type where the user's config did not name the layer (``frontend.keras``), so the
    emitted config writes it, for hls4ml to build what was estimated."""
    cfg = getattr(node, "config", None)
    if cfg is None:
        return []
    if node.keras_class == "QActivation":
        return [(node.name, cfg.result)]
    if node.keras_class in QKERAS_LAYERS and cfg.activation_result is not None:
        name = quantizer_name(node.keras_config.get("activation"))
        if name not in (None, "linear"):
            return [(f"{node.name}_{name}", cfg.activation_result)]
    return []


def _is_opaque(node: Node) -> bool:
    return isinstance(node, Opaque)
