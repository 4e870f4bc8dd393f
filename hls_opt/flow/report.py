"""Reports: ``report.json`` (schema: docs/flow.md "Report"), the terminal tables and the optional PNG plots.

The per-layer numbers come from the backend's resource models through
:func:`hls_opt.cost.tables.estimate_report`; this module only merges a *before* and an *after* graph,
adds the optimization steps, and renders.  matplotlib is imported lazily and only for plots; when
it is missing, plots are skipped without a word (it is the ``plots`` extra).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hls_opt.config.devices import Device, device_fraction
from hls_opt.cost.registry import get_backend
from hls_opt.cost.tables import estimate_report
from hls_opt.solve.budget_cut import budget_flag, resource_limits, unit
from hls_opt.solve.front import pareto_front

if TYPE_CHECKING:
    from hls_opt.ir.graph import Graph
    from hls_opt.ir.nodes import Node


logger = logging.getLogger(__name__)

#: Preferred column order; DSP is always the first resource column.
RESOURCE_ORDER = ("dsp", "bram", "lut", "ff", "ebops", "flops", "params", "memory_bits")
RESOURCE_TITLES = {
    "dsp": "DSP",
    "bram": "BRAM",
    "lut": "LUT",
    "ff": "FF",
    "flops": "FLOPs",
    "params": "params",
    "memory_bits": "mem bits",
    "ebops": "EBOPs",
}


def precision_fields(node: Node) -> dict[str, str] | None:
    """A node's types in hls4ml's ap_ spelling: ``weight``, ``bias``, ``result``, ``accum`` and, when
    hls4ml splits an activation off it, ``activation_result``; None without a config."""
    cfg = getattr(node, "config", None)
    if cfg is None:
        return None
    out = {}
    for key in ("weight", "bias", "result", "accum", "activation_result"):
        value = getattr(cfg, key, None)
        if value is not None:
            out[key] = value.to_ap_string()
    if not getattr(node, "has_kernel", False):
        out = {k: v for k, v in out.items() if k in ("result", "activation_result")}
    return out


def jsonable(value: Any) -> Any:
    """``value`` with numpy scalars/arrays, tuples, enums and NaN made JSON-friendly."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (float, np.floating)):
        f = float(value)
        return None if math.isnan(f) or math.isinf(f) else f
    if hasattr(value, "value") and hasattr(value, "name") and not isinstance(value, (str, int)):
        return jsonable(value.value)  # enums
    if hasattr(value, "as_dict"):
        return jsonable(value.as_dict())
    return value


def resource_keys(*dicts: Mapping[str, Any]) -> list[str]:
    """The resource names present in any of ``dicts``, DSP first, known names in their usual order."""
    present: list[str] = []
    for d in dicts:
        for k in d or {}:
            if k not in present:
                present.append(k)
    ordered = [k for k in RESOURCE_ORDER if k in present]
    return ordered + [k for k in present if k not in ordered]


def kernel_sparsity(node: Node) -> float:
    """Fraction of zero weights in a node's kernel (0.0 for nodes without one)."""
    if not getattr(node, "has_kernel", False):
        return 0.0
    kernel = np.asarray(node.weights.get("kernel"))
    return float(np.mean(kernel == 0)) if kernel.size else 0.0


def _config_fields(node: Node) -> tuple[str | None, int | None]:
    cfg = getattr(node, "config", None)
    if cfg is None:
        return None, None
    return cfg.strategy.value, int(cfg.reuse_factor)


def estimate(graph: Graph, backend: str = "vivado", device: Device | None = None) -> dict:
    """The ``hls-opt estimate`` report of one graph (``report.json`` schema, no ``after``, no ``steps``);
    with ``device``, ``"device": {"name", "before": {field: {"used", "available", "fraction"}}}``."""
    report = estimate_report(graph, get_backend(backend))
    if device is not None:
        report["device"] = {"name": device.name, "before": device_fraction(report["total"]["before"], device)}
    return jsonable(report)


def build_report(
    before_graph: Any,
    after_graph: Any,
    backend: str = "vivado",
    *,
    plan: Any = None,
    objective: str | None = None,
    rewritten: Sequence[str] = (),
    io_type: str | None = None,
    notes: Sequence[str] = (),
    extra: Mapping[str, Any] | None = None,
    increasing: bool = True,
    rtol: float | None = None,
    device: Device | None = None,
    budgets: Any = None,
) -> dict:
    """The optimization report (docs/flow.md "Report"): per layer, every resource before and after, sparsity,
    reuse factor and strategy (after; ``*_before`` keys hold the user's), ``ii`` / ``latency_cycles`` of the
    final config (``*_before``: the user's), the model's ``timing`` before/after, the ``device`` fraction
    used when a device is known, and the loop's steps.

    ``mode`` is ``"one-shot"`` (post-training pruning, no fine-tuning), ``"fine-tuned"``, or
    ``"unchanged"`` (no layer's objective resource shrinks when its weights are zeroed: nothing to prune);
    ``baseline_metric``/``final_metric`` are the validation metric before/after when data were given.
    """
    before = estimate(before_graph, backend)
    after = estimate(after_graph, backend)
    after_layers = {layer["name"]: layer for layer in after.get("layers", [])}
    layers = []
    for layer in before.get("layers", []):
        name = layer["name"]
        res_before = layer.get("before", {})
        res_after = after_layers.get(name, {}).get("before", res_before)
        try:
            node_after = after_graph.node(name)
            node_before = before_graph.node(name)
        except (KeyError, ValueError):  # a layer the after graph no longer has
            node_after = node_before = None
        strategy, rf = _config_fields(node_after)
        strategy_before, rf_before = _config_fields(node_before)
        entry = dict(layer)  # modelled stays
        timed_after = after_layers.get(name, layer)
        # reuse_factor_given: the configured RF where hls4ml builds another, of the final config (issue
        # #20: the input's stayed beside an RF a budget rewrite had replaced); the input's: *_before
        entry.pop("reuse_factor_given", None)
        if timed_after.get("reuse_factor_given") is not None:
            entry["reuse_factor_given"] = timed_after["reuse_factor_given"]
        if layer.get("reuse_factor_given") is not None:
            entry["reuse_factor_given_before"] = layer["reuse_factor_given"]
        entry.update(
            {
                "ii": timed_after.get("ii"),
                "latency_cycles": timed_after.get("latency_cycles"),
                "ii_before": layer.get("ii"),
                "latency_cycles_before": layer.get("latency_cycles"),
                "strategy": strategy if strategy is not None else layer.get("strategy"),
                # the reuse factors hls4ml applies (what the numbers use), after and before the run
                "reuse_factor": after_layers.get(name, {}).get("reuse_factor", layer.get("reuse_factor")),
                "strategy_before": strategy_before,
                "reuse_factor_before": layer.get("reuse_factor"),
                "before": res_before,
                "after": res_after,
                "sparsity": kernel_sparsity(node_after) if node_after is not None else 0.0,
                "rewritten": name in set(rewritten),
                # the types before (the user's) and after (chosen with --precision auto)
                "precision": {"before": precision_fields(node_before), "after": precision_fields(node_after)},
                "ebops": res_after.get("ebops"),
            }
        )
        layers.append(entry)

    total_before = before.get("total", {}).get("before", {})
    total_after = after.get("total", {}).get("before", {})
    objective_name = objective or (plan.objective if plan is not None else None)
    # each step's "achieved" is the backend's estimate of the masked graph, from the pass
    steps = [step.as_dict() for step in (plan.steps if plan is not None else ())]

    report = {
        "backend": backend,
        "objective": objective_name,
        "mode": plan.mode if plan is not None else "estimate",
        "target": plan.target if plan is not None else None,
        "baseline_metric": plan.baseline_metric if plan is not None else None,
        "final_metric": plan.final_metric if plan is not None else None,
        # the acceptance test: a step passes when its metric is on the right side of the limit
        "rtol": rtol,
        "increasing": bool(increasing),
        "acceptance_limit": acceptance_limit(plan.baseline_metric if plan is not None else None, rtol, increasing),
        "io_type": io_type,
        "layers": layers,
        "total": {"before": total_before, "after": total_after},
        "timing": {"before": before.get("timing"), "after": after.get("timing")},
        "steps": steps,
        # the trials no other trial beats on both resource and metric (target='max' reads it)
        "front": pareto_front(steps, increasing),
        "notes": list(notes),
    }
    if plan is not None and plan.mode == "one-shot":
        report["notes"].insert(0, "one-shot: post-training pruning without fine-tuning (no data given)")
    if plan is not None:
        # Say it plainly when nothing was cut, why, and what the returned weights are.
        report["pruned"] = bool(plan.pruned_layers())
        if not report["pruned"] and plan.mode == "fine-tuned":
            trained = any(s.get("accepted") for s in steps)
            report["weights"] = "baseline, fine-tuned unpruned" if trained else "baseline"
            report["notes"].insert(
                0,
                "nothing could be pruned within the tolerance; the returned weights are the baseline's"
                + (" (fine-tuned, unpruned)" if trained else ""),
            )
        elif not report["pruned"] and plan.mode == "one-shot":
            report["weights"] = "baseline"
            report["notes"].insert(
                0, "nothing was pruned: the one-shot selection zeroed no weight; the returned weights are the baseline's"
            )
        elif not report["pruned"]:  # "unchanged": the pass's note says why (nothing to prune)
            report["weights"] = "baseline"
    if plan is not None and getattr(plan, "seconds", None):
        # where the fine-tuned optimization's wall time went (OptimizationOutcome.timings)
        report["seconds"] = dict(plan.seconds)
        report["epochs_trained"] = int(getattr(plan, "epochs_trained", 0))
    if device is not None:
        report["device"] = {
            "name": device.name,
            "before": device_fraction(total_before, device),
            "after": device_fraction(total_after, device),
        }
    if budgets is not None:
        report["budgets"] = budget_report(budgets, report, plan)
    if extra:
        report.update(extra)
    return jsonable(report)


#: The flag that sets each budget of ``report.json``'s ``budgets`` (its ``met`` keys).
_BUDGET_FLAGS = {
    "latency_cycles": "--latency-budget",
    "ii_cycles": "--ii-budget",
    "dsp": "--dsp-budget",
    "bram": "--bram-budget",
    "lut": "--lut-budget",
}
_BUDGET_TITLES = {"latency_cycles": "latency", "ii_cycles": "II", "dsp": "DSP", "bram": "BRAM", "lut": "LUT"}


def budget_report(budgets: Any, report: Mapping[str, Any], plan: Any = None) -> dict | None:
    """``report.json``'s ``budgets``: each budget given (cycles, counts), whether the final design
    meets it (``met``: per budget; ``all_met``: every one), and whether the optimizer chose the reuse
    factors (``reuse_factors_chosen``: with a latency or II budget, ``docs/rf_choice.md``).  A resource
    budget that is not met adds ``not_met``: one line naming the budget, what was reached and the
    accuracy fitting it would have cost (:func:`budget_miss_line`).  None when no budget was given.

    Resource budgets are read generically: every field ``f`` of the resource vector whose
    ``budgets.<f>_limit`` is set (``dsp_limit``, ``bram_limit``, ``lut_limit`` …)."""
    limits: dict[str, Any] = {"latency_cycles": budgets.latency_cycles, "ii_cycles": budgets.ii_cycles}
    limits.update(resource_limits(budgets))
    if all(v is None for v in limits.values()):
        return None
    timing = (report.get("timing") or {}).get("after") or {}
    total = (report.get("total") or {}).get("after") or {}
    reached = {"latency_cycles": timing.get("latency_cycles"), "ii_cycles": timing.get("ii")}
    reached.update({k: total.get(k) for k in limits if k not in reached})
    met: dict[str, bool | None] = {
        k: (reached[k] is not None and reached[k] <= v) for k, v in limits.items() if v is not None
    }
    # A layer without a timing model counts 0 in the model's latency / II, a lower bound: under the
    # budget proves nothing, so such a budget is unchecked (None), never met.
    unchecked = {}
    if timing.get("not_modelled"):
        for k in ("latency_cycles", "ii_cycles"):
            if met.get(k) is True:
                met[k] = None
                unchecked[k] = f"no timing model for {', '.join(timing['not_modelled'])}"
    out = {
        **{k: v for k, v in limits.items() if v is not None},
        "clock_period_ns": float(budgets.clock_period_ns),
        "reached": {k: reached[k] for k in met},
        "met": met,
        # which flag set each budget (a resource budget without its flag is the --device's count)
        "set_by": {
            k: (
                _BUDGET_FLAGS.get(k, f"--{k}-budget")
                if k in ("latency_cycles", "ii_cycles") or getattr(budgets, k, None) is not None
                else "--device"
            )
            for k in met
        },
        **({"unchecked": unchecked} if unchecked else {}),
        "all_met": all(v is True for v in met.values()),
        "reuse_factors_chosen": bool(plan is not None and getattr(plan, "configs", None)),
    }
    missed = [k for k, ok in met.items() if not ok and k not in ("latency_cycles", "ii_cycles")]
    if missed:
        out["not_met"] = budget_miss_line(budgets, report, {k: limits[k] for k in missed}, reached)
    return out


def budget_miss_line(budgets: Any, report: Mapping[str, Any], limits: Mapping[str, Any], reached: Mapping[str, Any]) -> str:
    """One line for resource budgets the design does not meet: each budget (its flag), what the
    design reaches, its metric and the cost of fitting — the best metric of a trial that fit (a
    rejected step or the loop's probe at the cut that fits), or that no trial reached it."""
    parts = [
        f"{budget_flag(budgets, f)} {float(lim):g} {unit(f)}: reached {_fmt(reached.get(f))} {unit(f)}" for f, lim in limits.items()
    ]
    base, final, rtol = report.get("baseline_metric"), report.get("final_metric"), report.get("rtol")
    increasing = bool(report.get("increasing", True))
    text = "budget not met: " + "; ".join(parts)
    if final is not None:
        text += f" with metric {final:.4f} (baseline {base:.4f}, rtol {rtol:g})" if base is not None and rtol else f" with metric {final:.4f}"
    fitting = [
        s for s in report.get("steps") or ()
        if s.get("metric") is not None
        and all((s.get("achieved") or {}).get(f) is not None and s["achieved"][f] <= lim for f, lim in limits.items())
    ]
    if fitting:
        best = max(fitting, key=lambda s: s["metric"] if increasing else -s["metric"])
        text += (
            f"; fitting would cost accuracy: the best trial within the budget has metric {best['metric']:.4f}"
            + (f", beyond the acceptance limit {report.get('acceptance_limit'):.4f}" if report.get("acceptance_limit") is not None else "")
        )
    elif any(all(f not in (st.get("achieved") or {}) for st in report.get("steps") or ()) for f in limits) and report.get("steps"):
        outside = [f for f in limits if all(f not in (st.get("achieved") or {}) for st in report["steps"])]
        text += f"; the objective does not reduce {', '.join(unit(f) for f in outside)} (add it to --optimize)"
    elif report.get("mode") == "fine-tuned":
        text += "; no trial reached the budget"
    return text


def precision_report(outcome: Any, search: Any, fit_objective: bool = False) -> dict:
    """``report.json``'s ``precision`` section: the search's settings and what it did (the
    float baseline, the metric at the user's precisions, the drop budget and the predicted drop, the
    metric after quantization-aware fine-tuning, each verify round, probes, seconds); ``{}`` when the
    precisions were not searched.  With the ``fit`` objective also ``objective: 'fit'``."""
    if search is None or not getattr(search, "auto", False):
        return {"objective": "fit"} if fit_objective else {}
    section: dict[str, Any] = {
        "mode": "auto",
        "min_bits": search.min_bits,
        "max_bits": search.max_bits,
        "rounding": f"AP_{search.rounding.value}",
        "saturation": f"AP_{search.saturation.value}",
    }
    if outcome is not None:
        section.update({
            "chosen": outcome.configs is not None,
            "float_baseline_metric": outcome.baseline,
            "configured_precision_metric": outcome.user_metric,
            "quantized_metric": outcome.metric,
            "drop_budget": outcome.drop_budget,
            "predicted_drop": outcome.predicted_drop,
            "probes": outcome.probes,
            "rounds": list(outcome.rounds),
            "seconds": dict(outcome.seconds),
            **dict(getattr(outcome, "final", {}) or {}),
        })
    out: dict[str, Any] = {"precision": section}
    if fit_objective:
        out["objective"] = "fit"
    return out


def report_json(report: Mapping[str, Any]) -> str:
    return json.dumps(jsonable(report), indent=2, sort_keys=False) + "\n"


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:.3g}"
    return str(int(value)) if isinstance(value, (int, float)) else str(value)


def _cell(before: Any, after: Any, show_after: bool) -> str:
    if not show_after or after == before:
        return _fmt(before)
    return f"{_fmt(before)}→{_fmt(after)}"


def format_table(report: Mapping[str, Any], *, before_after: bool | None = None) -> str:
    """A fixed-width table: one row per layer and a total row; resource columns start with DSP.

    With ``before_after`` (default: when the report has ``after`` figures that differ) each cell
    reads ``before→after``.
    """
    layers = list(report.get("layers", []))
    total = report.get("total", {})
    keys = resource_keys(total.get("before", {}), *[layer.get("before", {}) for layer in layers])
    if before_after is None:
        before_after = (
            any(layer.get("after") not in (None, layer.get("before")) for layer in layers)
            or total.get("after") not in (None, total.get("before"))
            or any(
                f"{t}_before" in layer and layer[f"{t}_before"] != layer.get(t)
                for layer in layers
                for t in ("ii", "latency_cycles")
            )
        )
    # "RF" is the reuse factor hls4ml applies; "RF given" the configured one where hls4ml changes it
    given = any(
        layer.get(k) is not None for layer in layers for k in ("reuse_factor_given", "reuse_factor_given_before")
    )
    left = ["layer", "type", "strategy", "RF"] + (["RF given"] if given else [])
    # "bits" = weight width / width of what the next layer reads, before→after, when chosen
    bits = any((layer.get("precision") or {}).get("before") != (layer.get("precision") or {}).get("after") for layer in layers)
    left = left + (["bits w/out"] if bits else [])
    header = left + [RESOURCE_TITLES.get(k, k) for k in keys]
    timed = any("ii" in layer for layer in layers)
    if timed:
        header += ["II", "latency"]
    if before_after:
        header.append("sparsity")
    rows = []
    for layer in layers:
        b, a = layer.get("before", {}), layer.get("after") or layer.get("before", {})
        strategy = layer.get("strategy") or "-"
        rf = layer.get("reuse_factor")
        if before_after and layer.get("strategy_before") and layer.get("strategy_before") != strategy:
            strategy = f"{layer['strategy_before']}→{strategy}"
        rf_text = _fmt(rf)
        if before_after and layer.get("reuse_factor_before") not in (None, rf):
            rf_text = f"{_fmt(layer['reuse_factor_before'])}→{rf_text}"
        rf_given = _fmt(layer["reuse_factor_given"]) if layer.get("reuse_factor_given") is not None else ""
        given_before = layer.get("reuse_factor_given_before")
        if before_after and given_before is not None and given_before != layer.get("reuse_factor_given"):
            rf_given = f"{_fmt(given_before)}→{rf_given or '-'}"
        if layer.get("modelled") is False:
            strategy, rf_text, rf_given = "not modelled", "", ""  # only its params are counted
        elif not any(b.get(k) for k in keys) and not any(a.get(k) for k in keys):
            strategy, rf_text, rf_given = "", "", ""  # Input, activations…: strategy/RF mean nothing there
        row = [str(layer.get("name")), str(layer.get("type", "")), strategy, rf_text] + ([rf_given] if given else [])
        if bits:
            prec = layer.get("precision") or {}
            pb, pa = _bits_text(prec.get("before")), _bits_text(prec.get("after"))
            row.append(pa if pb == pa else f"{pb}→{pa}")
        row += [_cell(b.get(k), a.get(k), before_after) for k in keys]
        if timed:
            row += [
                _cell(layer.get(f"{t}_before", layer.get(t)), layer.get(t), before_after)
                if before_after
                else _fmt(layer.get(t))
                for t in ("ii", "latency_cycles")
            ]
        if before_after:
            row.append(f"{100 * float(layer.get('sparsity') or 0):.0f}%")
        rows.append(row)
    tb, ta = total.get("before", {}), total.get("after") or total.get("before", {})
    total_row = ["total"] + [""] * (len(left) - 1) + [_cell(tb.get(k), ta.get(k), before_after) for k in keys]
    if timed:
        timing = report.get("timing") or {}
        t_before = timing.get("before", timing) or {}
        t_after = timing.get("after") or t_before
        total_row += [
            _cell(t_before.get(t), t_after.get(t), before_after) if before_after else _fmt(t_after.get(t))
            for t in ("ii", "latency_cycles")
        ]
    if before_after:
        total_row.append("")
    widths = [max(len(r[i]) for r in [header, *rows, total_row]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.ljust(w) if i < len(left) else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))
        ).rstrip()

    rule = "-" * len(line(header))
    return "\n".join([line(header), rule, *[line(r) for r in rows], rule, line(total_row)])


def _bits_text(types: Mapping[str, str] | None) -> str:
    """``"6/5"``: the weight width / the output width (activation result, else result); ``"5"`` without weights."""
    if not types:
        return ""

    def width(text: str | None) -> str:
        if not text or "<" not in text:
            return ""
        return text.split("<", 1)[1].split(",")[0].rstrip(">")

    out = width(types.get("activation_result") or types.get("result"))
    return f"{width(types['weight'])}/{out}" if "weight" in types else out


def footer_text(report: Mapping[str, Any]) -> str:
    """The lines under the table: the model's II and latency (and the layers without a timing
    model) and, when a device is known, the fraction of it the (final) design uses."""
    return "\n".join(_timing_lines(report) + _device_lines(report))


def _timing_lines(report: Mapping[str, Any]) -> list[str]:
    """``model: II … cycles, latency … cycles (schedule)`` and the layers without a timing model."""
    timing = report.get("timing") or {}
    t = timing.get("after") or timing.get("before") or (timing if "ii" in timing else None)
    if not t:
        return []
    if t.get("ii") is None and t.get("latency_cycles") is None:  # no layer has a timing model (gpu)
        return ["model: II unknown, latency unknown (the backend has no timing model)"]
    out = [f"model: II {_fmt(t.get('ii'))} cycles, latency {_fmt(t.get('latency_cycles'))} cycles ({t.get('schedule')})"]
    if t.get("not_modelled"):
        out.append(f"  no timing model (left out of the totals): {', '.join(t['not_modelled'])}")
    return out


def _device_lines(report: Mapping[str, Any]) -> list[str]:
    """``device xcvu9p: DSP 12/6840 (0.2%), …`` of the final design."""
    device = report.get("device")
    if not device:
        return []
    used = device.get("after") or device.get("before") or {}
    parts = [
        f"{RESOURCE_TITLES.get(k, k)} {_fmt(v['used'])}/{_fmt(v['available'])} ({100 * float(v['fraction']):.1f}%)"
        for k, v in used.items()
    ]
    return [f"device {device.get('name')}: " + ", ".join(parts)]


def summary_text(report: Mapping[str, Any]) -> str:
    """A few lines for the terminal: mode, objective, total change of the objective resources, metric."""
    total = report.get("total", {})
    tb, ta = total.get("before", {}), total.get("after", {})
    lines = [
        f"mode: {report.get('mode')}  objective: {report.get('objective')}  backend: {report.get('backend')}"
    ]
    for k in resource_keys(tb):
        if tb.get(k) != ta.get(k) and tb.get(k):
            change = 100.0 * (float(ta.get(k) or 0) / float(tb[k]) - 1)
            sign = "−" if change < 0 else "+"
            lines.append(
                f"  {RESOURCE_TITLES.get(k, k)}: {_fmt(tb[k])} → {_fmt(ta.get(k))} ({sign}{abs(change):.1f}%)"
            )
    if report.get("baseline_metric") is not None:
        lines.append(
            f"  validation metric: {_fmt(report['baseline_metric'])} → {_fmt(report.get('final_metric'))}"
        )
    steps = report.get("steps") or []
    if steps:
        accepted = sum(1 for s in steps if s.get("accepted"))
        lines.append(f"  steps: {len(steps)} ({accepted} accepted)")
    lines += ["  " + text for text in _timing_lines(report) + _device_lines(report)]
    lines += ["  " + text for text in missed_budgets(report)]
    if report.get("pruned") is False:  # the last line, said plainly
        said = [n for n in report.get("notes", []) if n.startswith("nothing")]
        lines += ["  " + said[0]] if said else []
    return "\n".join(lines)


def missed_budgets(report: Mapping[str, Any]) -> list[str]:
    """One line per budget that could not be checked (``budget unchecked: latency (no timing model for
    …)``) and per budget the final design does not meet (``budget missed: DSP 808 > 100 (--dsp-budget)``);
    budgets are checked for feasibility before the run but, until they are targets, a run may end
    over one (it used to end in silence, exit 0)."""
    budgets = report.get("budgets") or {}
    out = [
        f"budget unchecked: {_BUDGET_TITLES.get(k, k)} ({why}; the reached value is a lower bound)"
        for k, why in (budgets.get("unchecked") or {}).items()
    ]
    for key, met in (budgets.get("met") or {}).items():
        if met is False:
            reached = (budgets.get("reached") or {}).get(key)
            flag = (budgets.get("set_by") or {}).get(key, _BUDGET_FLAGS.get(key, key))
            out.append(
                f"budget missed: {_BUDGET_TITLES.get(key, key)} {_fmt(reached) if reached is not None else 'unknown'} "
                f"> {_fmt(budgets.get(key))} ({flag})"
            )
    return out


def _pyplot() -> Any:
    """matplotlib's pyplot on the Agg backend, or ``None`` without matplotlib (the ``plots`` extra)."""
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def acceptance_limit(baseline: float | None, rtol: float | None, increasing: bool = True) -> float | None:
    """The worst validation metric a step may reach and be accepted: ``baseline · rtol`` when higher
    is better, ``baseline / rtol`` when lower is better (the flow's ``rtol`` is a ratio in (0, 1];
    the loop applies it as hls4ml's factor, ``keras/training.py`` ``meets``)."""
    if baseline is None or rtol is None:
        return None
    return float(baseline) * float(rtol) if increasing else float(baseline) / float(rtol)


def steps_figure(report: Mapping[str, Any]) -> Any:
    """The figure of ``steps.png``, or ``None`` (no steps with a metric, or no matplotlib): each
    step's validation metric against the objective's first resource, green accepted / red
    rejected, numbered in the order they ran; the baseline, the acceptance limit
    (``acceptance_limit``, with ≥ or ≤ for the direction) and, for ``target='max'``, the front."""
    steps = [s for s in report.get("steps") or [] if s.get("metric") is not None and s.get("achieved")]
    plt = _pyplot() if steps else None
    if plt is None:
        return None
    key = next(iter(steps[0]["achieved"]))
    fig, ax = plt.subplots(figsize=(5, 3.5))
    xs = [s["achieved"].get(key) for s in steps]
    ys = [s["metric"] for s in steps]
    ax.plot(xs, ys, "-", color="0.6", zorder=1)
    for number, (x, y, s) in enumerate(zip(xs, ys, steps), start=1):
        ax.scatter([x], [y], color="tab:green" if s.get("accepted") else "tab:red", zorder=2)
        ax.annotate(str(number), (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
    front = [s for s in report.get("front") or [] if s.get("achieved", {}).get(key) is not None]
    if len(front) > 1:
        ax.step(
            [s["achieved"][key] for s in front],
            [s["metric"] for s in front],
            where="post",
            color="tab:blue",
            lw=1,
            zorder=1,
            label="front",
        )
    baseline = report.get("baseline_metric")
    if baseline is not None:
        ax.axhline(baseline, color="0.3", ls="--", lw=1, label="baseline")
    increasing = report.get("increasing", True) is not False
    limit = report.get("acceptance_limit")
    if limit is None:
        limit = acceptance_limit(baseline, report.get("rtol"), increasing)
    if limit is not None:
        ax.axhline(
            limit, color="tab:orange", ls=":", lw=1.2, label=f"acceptance limit ({'≥' if increasing else '≤'} {limit:.3g})"
        )
    if baseline is not None or limit is not None or len(front) > 1:
        ax.legend(fontsize=8)
    ax.set_xlabel(f"{RESOURCE_TITLES.get(key, key)} (estimated)")
    ax.set_ylabel("validation metric")
    ax.set_title("Optimization steps, in order (green: accepted)")
    fig.tight_layout()
    return fig


def layers_figure(report: Mapping[str, Any]) -> Any:
    """The figure of ``layers.png``, or ``None``: per-layer resources before/after, one panel per
    resource; layers hls-opt does not model are labelled "(not modelled)" (only their params count)."""
    layers = report.get("layers") or []
    total = report.get("total", {})
    keys = [k for k in resource_keys(total.get("before", {})) if total.get("before", {}).get(k)]
    # Only layers that cost something (inputs, activations, reshapes would be empty bars).
    layers = [layer for layer in layers if any((layer.get("before") or {}).get(k) for k in keys)]
    plt = _pyplot() if layers and keys else None
    if plt is None:
        return None
    n_cols = min(4, len(keys))
    n_rows = -(-len(keys) // n_cols)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(3.2 * n_cols, 3.0 * n_rows), squeeze=False)
    names = [layer["name"] + (" (not modelled)" if layer.get("modelled") is False else "") for layer in layers]
    idx = np.arange(len(names))
    for ax in axes.flat[len(keys) :]:
        ax.axis("off")
    for ax, k in zip(axes.flat, keys):
        ax.bar(idx - 0.2, [layer.get("before", {}).get(k, 0) or 0 for layer in layers], 0.4, label="before")
        ax.bar(idx + 0.2, [(layer.get("after") or {}).get(k, 0) or 0 for layer in layers], 0.4, label="after")
        ax.set_title(RESOURCE_TITLES.get(k, k))
        ax.set_xticks(idx, names, rotation=60, ha="right", fontsize=7)
    axes.flat[0].legend(fontsize=7)
    fig.suptitle("Per-layer resources (estimated)")
    fig.tight_layout()
    return fig


def write_plots(report: Mapping[str, Any], directory: str | Path) -> list[Path]:
    """PNG plots into ``directory``: ``steps.png`` (:func:`steps_figure`, when there are metrics) and
    ``layers.png`` (:func:`layers_figure`).  Returns the written paths; ``[]`` without matplotlib."""
    plt = _pyplot()
    if plt is None:
        return []
    written: list[Path] = []
    for name, make in (("steps.png", steps_figure), ("layers.png", layers_figure)):
        fig = make(report)
        if fig is None:
            continue
        path = Path(directory) / name
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)
    return written
