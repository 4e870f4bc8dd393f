"""``precision-search``: with ``--precision auto``, choose every weighted layer's weight and result
precision (and, under a latency / II budget, its reuse factor) within the accuracy tolerance, and
write them into the graph's configs with the quantization-aware fine-tuned weights
(:mod:`hls_opt.train.precision_search`, ``docs/precision.md``).  What it did goes to
``graph.annotations["precision_plan"]`` (the report's ``precision`` section).  Without
``--precision auto`` it does nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hls_opt.passes.registry import Pass, PassResult, register_pass

from hls_opt.cost.registry import get_backend
from hls_opt.cost.tables import stream_pack
from hls_opt.errors import ConfigError

if TYPE_CHECKING:
    from hls_opt.ir.graph import Graph
    from hls_opt.ir.nodes import Node


#: ``graph.annotations`` key of the :class:`~hls_opt.train.precision_search.PrecisionOutcome`.
PRECISION_KEY = "precision_plan"

#: the device fields the ``fit`` objective balances
FIT_FIELDS = ("dsp", "lut", "ff", "bram")


@register_pass
class PrecisionSearch(Pass):
    name = "precision-search"

    def apply(self, graph: Graph) -> PassResult:
        ctx = self.context
        search = getattr(ctx, "precision", None)
        if search is None or not search.auto:
            return PassResult(False)
        if ctx.data is None:
            raise ConfigError("--precision auto: choosing precisions within the tolerance needs data (none given)")
        from hls_opt.train.precision_search import search_precision, write_outcome

        backend = get_backend(ctx.backend)
        fit_device = getattr(ctx, "fit_device", None)
        if fit_device is not None:
            fields, capacity = FIT_FIELDS, [fit_device.available()[f] for f in FIT_FIELDS]
        else:
            fields, capacity = tuple(ctx.objective.resources), None

        def timing(node: Node) -> tuple[int, int]:
            t = backend.timing(node, input_pack=stream_pack(graph, node))
            return int(t.ii), int(t.latency)

        outcome = search_precision(
            graph, backend, fields, ctx.data, ctx.training, search, budgets=ctx.budgets, capacity=capacity, timing=timing,
        )
        graph.annotations[PRECISION_KEY] = outcome
        if outcome.configs is None:
            return PassResult(False, (f"precision-search: no assignment met the tolerance in {len(outcome.rounds)} rounds; "
                                      "the configured precisions are kept",))
        new = write_outcome(graph, outcome)
        for node in new.nodes():
            graph.replace(node.name, node)
        note = (f"precision-search: {outcome.probes} probes, predicted drop {outcome.predicted_drop:.4g} "
                f"(budget {outcome.drop_budget:.4g}), measured {outcome.metric:.4g} after fine-tuning")
        return PassResult(True, (note,))


@register_pass
class PrecisionVerify(Pass):
    """``precision-verify`` (last, with ``--precision auto``): the final graph's validation metric in its
    chosen types; outside the tolerance, quantization-aware fine-tuning with the pruned weights kept
    at zero (:func:`hls_opt.train.precision_search.verify_final`).  Recorded on the search's outcome
    (the report's ``precision.final_quantized_metric``)."""

    name = "precision-verify"

    def apply(self, graph: Graph) -> PassResult:
        outcome = graph.annotations.get(PRECISION_KEY)
        ctx = self.context
        if outcome is None or outcome.configs is None or ctx.data is None:
            return PassResult(False)
        from hls_opt.train.precision_search import verify_final

        final = verify_final(graph, ctx.data, ctx.training, outcome)
        outcome.final = final
        note = f"precision-verify: the final model in its types: {final['final_quantized_metric']:.4g}"
        if final["final_fine_tuned"]:
            note += f" (after quantization-aware fine-tuning; {final['final_quantized_metric_before_fine_tuning']:.4g} before)"
        if final.get("final_pruning_undone"):
            note += (f"; the pruned design measured {final['final_quantized_metric_pruned']:.4g}, outside the tolerance: "
                     "the pruning is undone and the search's unpruned design at the chosen types is kept")
        return PassResult(bool(final["final_fine_tuned"]), (note,))
