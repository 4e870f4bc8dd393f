"""``unrolled-rewrite``: apply a :class:`~hls_opt.passes.plan.PruningPlan` to the graph.

For every node: the plan's fine-tuned weights (if any) are written; for every layer with a mask the
kernel becomes ``kernel · mask + offset`` so pruned weights are exactly zero.  A layer whose mask
prunes something is *rewritten*:

- reuse factor > 1: ``Strategy ResourceUnrolled`` (hls4ml's unrolled code emits no multiplier for a
  reuse group that is all zero, REFERENCE §5; Resource would keep every multiplier), with the reuse
  factor snapped by the backend to a value hls4ml accepts for that layer under the unrolled
  strategy (> 1).  Convolutions rewritten this way need ``io_stream`` (with io_parallel hls4ml falls
  back to Resource, REFERENCE §4.6), which is model-wide: every node's IO type is switched.
- reuse factor 1: ``Strategy Latency``.  hls4ml turns unrolled with RF = 1 into Resource, which
  keeps every multiplier; Latency constant-folds each zero weight (multiplier cap = non-zeros).

Masks are applied as they are: with pattern pruning they zero whole reuse groups already; a group
that a mask only partly prunes (other structures) is left partly non-zero rather than zeroing
weights that fine-tuning never saw removed.  Each rewritten layer's count of all-zero reuse groups
(= multipliers saved) is recorded in ``context.notes`` via the report.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import numpy as np
from hls_opt.passes.registry import Pass, register_pass

from hls_opt.config import IOType, Strategy
from hls_opt.errors import ModelError

logger = logging.getLogger(__name__)


def _is_conv(node: Any) -> bool:
    from hls_opt.ir.nodes import ConvND

    return isinstance(node, ConvND)


def rewritten_config(node: Any, backend: Any) -> Any:
    """The LayerConfig of a pruned layer under the unrolled rewrite (see the module docstring)."""
    cfg = node.config
    rf = int(cfg.reuse_factor)
    if rf <= 1:
        return dataclasses.replace(cfg, strategy=Strategy.LATENCY, reuse_factor=1)
    probe = dataclasses.replace(node, config=dataclasses.replace(cfg, strategy=Strategy.RESOURCE_UNROLLED))
    snapped = int(backend.snap_reuse_factor(probe, rf, Strategy.RESOURCE_UNROLLED))
    if snapped <= 1:
        # No valid RF > 1 for this layer: Latency is the strategy under which zeros still save multipliers.
        return dataclasses.replace(cfg, strategy=Strategy.LATENCY, reuse_factor=1)
    if snapped != rf:
        logger.warning(
            "%s: reuse factor %d is not valid for the unrolled strategy; using %d", node.name, rf, snapped
        )
    return dataclasses.replace(cfg, strategy=Strategy.RESOURCE_UNROLLED, reuse_factor=snapped)


@register_pass
class UnrolledRewrite(Pass):
    name = "unrolled-rewrite"

    def apply(self, graph: Any) -> bool:
        from hls_opt.resources import get_backend
        from hls_opt.structures import zero_reuse_groups

        ctx = self.context
        plan = ctx.plan
        if plan is None:
            logger.info("unrolled-rewrite: no pruning plan in the context; nothing to do")
            return False
        backend = get_backend(ctx.backend)
        changed = False
        needs_stream = False
        for node in list(graph.nodes()):
            weights = {k: np.array(v, copy=True) for k, v in node.weights.items()}
            tuned = plan.weights.get(node.name)
            if tuned:
                for key, value in tuned.items():
                    if key in weights and weights[key].shape != value.shape:
                        raise ModelError(
                            f"{node.name}: plan weight {key} has shape {value.shape}, graph has {weights[key].shape}"
                        )
                    weights[key] = np.array(value, copy=True)
            new_config = node.config
            mask = plan.masks.get(node.name)
            if mask is not None and node.has_kernel:
                kernel = weights["kernel"]
                if mask.shape != kernel.shape:
                    raise ModelError(
                        f"{node.name}: mask shape {mask.shape} does not match kernel {kernel.shape}"
                    )
                offset = plan.offsets.get(node.name)
                # the same rule as MaskConstraint: pruned weights 0, shared ones (mask 0) at the offset
                kernel = kernel * mask.astype(kernel.dtype)
                if offset is not None:
                    kernel = kernel + np.broadcast_to(offset, kernel.shape).astype(kernel.dtype)
                weights["kernel"] = kernel
                if np.any(mask == 0) and node.config is not None:
                    new_config = rewritten_config(node, backend)
                    ctx.rewritten.add(node.name)
                    if new_config.strategy is Strategy.RESOURCE_UNROLLED:
                        zeros = zero_reuse_groups(kernel, new_config.reuse_factor)
                        ctx.notes.append(
                            f"{node.name}: {zeros} of {kernel.size // new_config.reuse_factor} reuse groups all zero"
                        )
                        needs_stream |= _is_conv(node)
            weights_changed = any(
                not np.array_equal(weights[k], node.weights[k]) for k in weights if k in node.weights
            )
            if weights_changed or new_config != node.config:
                graph.replace(node.name, dataclasses.replace(node, weights=weights, config=new_config))
                changed = True
        if needs_stream:
            ctx.io_type = IOType.STREAM.value
            ctx.notes.append("io_stream: a rewritten convolution needs it for the unrolled strategy")
            for node in list(graph.nodes()):
                if node.config is not None and node.config.io_type is not IOType.STREAM:
                    graph.replace(
                        node.name,
                        dataclasses.replace(
                            node, config=dataclasses.replace(node.config, io_type=IOType.STREAM)
                        ),
                    )
        return changed
