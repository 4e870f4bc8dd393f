"""``reduce``: remove neurons / filters whose weights were all pruned, resizing their neighbours.

The surgery itself is :func:`hls_opt.ir.reduce.reduce_graph`; this pass copies the reduced nodes
back into the graph and re-snaps the reuse factor of every resized layer whose strategy checks it
(Resource / ResourceUnrolled: hls4ml validates it, `fpga_backend.py` `_validate_reuse_factor`), because removing neurons changes ``n_in``/``n_out``.
It is not in the DSP flow: removing an input of a layer shifts its reuse groups, so whole-group
zeros chosen for the unrolled strategy would no longer line up (hls4ml also reduces only for the
FLOPs objective).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING, Any

from hls_opt.passes.registry import Pass, PassResult, register_pass

from hls_opt.config import Strategy
from hls_opt.cost.registry import get_backend
from hls_opt.ir.reduce import reduce_graph

if TYPE_CHECKING:
    from hls_opt.ir.graph import Graph


logger = logging.getLogger(__name__)


@register_pass
class Reduce(Pass):
    name = "reduce"

    def apply(self, graph: Graph) -> PassResult:
        reduced, removed = reduce_graph(graph)
        removed = {name: r for name, r in removed.items() if _count(r)}
        if not removed:
            return PassResult(False)
        backend = get_backend(self.context.backend)
        for node in reduced.nodes():
            old = graph.node(node.name)
            new = node
            resized = (
                node.has_kernel
                and old.weights.get("kernel") is not None
                and (old.weights["kernel"].shape != node.weights["kernel"].shape)
            )
            if (
                resized
                and node.config is not None
                and node.config.strategy
                in (
                    Strategy.RESOURCE,
                    Strategy.RESOURCE_UNROLLED,
                )
            ):
                rf = int(backend.snap_reuse_factor(node, node.config.reuse_factor, node.config.strategy))
                if rf != node.config.reuse_factor:
                    new = dataclasses.replace(node, config=dataclasses.replace(node.config, reuse_factor=rf))
            graph.replace(node.name, new)
        counts = {k: _count(v) for k, v in removed.items()}
        logger.info("reduce: removed %s", counts)
        return PassResult(True, tuple(f"{k}: {n} neurons/filters removed" for k, n in counts.items()))


def _count(removed: Any) -> int:
    try:
        return len(removed)
    except TypeError:
        return int(removed)
