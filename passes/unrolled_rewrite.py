"""``unrolled-rewrite``: give every pruned layer the configuration under which its zeros save hardware.

For every layer whose mask in the graph's :class:`~hls_opt.passes.plan.PruningPlan`
(``graph.annotations["pruning_plan"]``, written by ``dsp-aware-pruning``, which also wrote the
masked weights) prunes something, the backend says how hls4ml must build it
(:meth:`hls_opt.cost.backend.Backend.pruned_config`; for the FPGA backends:

- reuse factor > 1: ``Strategy ResourceUnrolled`` (hls4ml's unrolled code emits no multiplier for a
  reuse group that is all zero, ``backends/vivado/passes/unrolled_codegen.py``; Resource would keep
  every multiplier), at a reuse factor hls4ml accepts for that layer under the unrolled strategy;
  convolutions built so need ``io_stream``, which is model-wide: every node's IO type is switched;
- reuse factor 1: ``Strategy Latency`` (hls4ml turns unrolled with RF = 1 into Resource, which
  keeps every multiplier; Latency constant-folds each zero weight)).

Each rewritten layer's count of all-zero reuse groups (= multipliers saved) goes to the notes.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING, Any

import numpy as np
from hls_opt.passes.plan import PLAN_KEY
from hls_opt.passes.registry import Pass, PassResult, register_pass

from hls_opt.config import IOType, Strategy
from hls_opt.core.structures import zero_reuse_groups
from hls_opt.cost.registry import get_backend

if TYPE_CHECKING:
    from hls_opt.ir.graph import Graph


logger = logging.getLogger(__name__)


@register_pass
class UnrolledRewrite(Pass):
    name = "unrolled-rewrite"

    def apply(self, graph: Graph) -> PassResult:
        plan = graph.annotations.get(PLAN_KEY)
        if plan is None:
            logger.info("unrolled-rewrite: the graph has no pruning plan; nothing to do")
            return PassResult(False)
        backend = get_backend(self.context.backend)
        notes: list[str] = []
        changed = False
        needs_stream = False
        for node in list(graph.nodes()):
            chosen = plan.configs.get(node.name)
            if chosen is not None:  # a latency/II budget: the optimizer chose this layer's config
                needs_stream |= chosen.io_type is IOType.STREAM and node.config.io_type is not IOType.STREAM
                if chosen != node.config:
                    graph.replace(node.name, dataclasses.replace(node, config=chosen))
                    changed = True
                    notes.append(f"{node.name}: {chosen.strategy.value} at reuse factor {chosen.reuse_factor} (budget)")
                continue
            mask = plan.masks.get(node.name)
            if mask is None or not node.has_kernel or node.config is None or not np.any(mask == 0):
                continue
            config = backend.pruned_config(node)
            if config.strategy is Strategy.RESOURCE_UNROLLED:
                kernel = node.weights["kernel"]
                zeros = zero_reuse_groups(kernel, config.reuse_factor)
                notes.append(f"{node.name}: {zeros} of {kernel.size // config.reuse_factor} reuse groups all zero")
            needs_stream |= config.io_type is IOType.STREAM and node.config.io_type is not IOType.STREAM
            if config != node.config:
                graph.replace(node.name, dataclasses.replace(node, config=config))
                changed = True
        if needs_stream:
            notes.append("io_stream: a rewritten convolution needs it for the unrolled strategy")
            for node in list(graph.nodes()):
                if node.config is not None and node.config.io_type is not IOType.STREAM:
                    graph.replace(
                        node.name,
                        dataclasses.replace(node, config=dataclasses.replace(node.config, io_type=IOType.STREAM)),
                    )
        return PassResult(changed, tuple(notes))
