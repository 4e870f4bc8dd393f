"""Write chosen precisions into an emitted hls4ml config (``--precision auto``).

For every layer whose types the optimizer chose: ``LayerName.<layer>.Precision`` gets ``weight``,
``bias``, ``result`` and ``accum`` (a layer without weights, e.g. the Input: ``result``), and the
activation hls4ml splits off a Dense/Conv (``<layer>_<activation>``, hls4ml's name for it, e.g.
``fc1_relu``) gets ``Precision.result`` = the chosen ``activation_result``.  Entries are matched
case-insensitively (hls4ml's rule) and updated in place; nothing else of the config is touched.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hls_opt.ir.graph import Graph



def _entry(layer_names: MutableMapping[str, Any], name: str) -> MutableMapping[str, Any]:
    for key, value in layer_names.items():
        if str(key).lower() == name.lower() and isinstance(value, MutableMapping):
            return value
    return layer_names.setdefault(name, {})


def write_precisions(config: MutableMapping[str, Any], graph: Graph, names: Any) -> None:
    """Give each named node of ``graph`` its config's types in ``config`` (see the module docstring)."""
    layer_names = config.setdefault("LayerName", {})
    for name in names:
        node = graph.node(name)
        cfg = node.config
        if cfg is None:
            continue
        entry = _entry(layer_names, name)
        table = entry.get("Precision")
        if not isinstance(table, MutableMapping):
            table = entry["Precision"] = {}
        if getattr(node, "has_kernel", False):
            for key in ("weight", "bias", "result", "accum"):
                table[key] = getattr(cfg, key).to_ap_string()
        else:
            table["result"] = cfg.result.to_ap_string()
        activation = str(getattr(node, "activation", "linear") or "linear")
        if cfg.activation_result is not None and activation != "linear":
            act = _entry(layer_names, f"{name}_{activation}")
            act_table = act.get("Precision")
            if not isinstance(act_table, MutableMapping):
                act_table = act["Precision"] = {}
            act_table["result"] = cfg.activation_result.to_ap_string()


def chosen_names(outcome: Any) -> list[str]:
    configs: Mapping[str, Any] | None = getattr(outcome, "configs", None)
    return sorted(configs) if configs else []


__all__ = ["chosen_names", "write_precisions"]
