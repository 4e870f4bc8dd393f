"""``--precision auto``: choose every weighted layer's weight and result precision (with its reuse
factor under a latency / II budget) within the accuracy tolerance (``docs/precision.md``).

1. **Calibrate**: the largest ``|w|`` / ``|b|`` of each layer, the range of each layer's output before
   and after its activation, and of the model input, on a sample of the training data → the
   candidates (:mod:`hls_opt.solve.precision_problem`).
2. **Probe**: the validation metric with one layer's weights (or one layer's result, or the input) at
   one candidate and everything else at the user's precision (``quantized_copy``, ``hls_opt.train.quantize``);
   its drop against the model at the user's precision is that candidate's predicted cost in
   accuracy.  Widths are probed from the narrowest up until one drops nothing (the wider ones are
   taken to drop nothing); a width that drops more than the whole budget is left out.
3. **Solve**: the cheapest assignment of (RF, weight, result) whose summed predicted drop fits the
   budget (``rtol`` · baseline, the float model's validation metric) — :mod:`hls_opt.solve.precision_dp`.
4. **Verify**: quantization-aware fine-tuning of the chosen assignment, then its validation metric.
   Outside the tolerance: halve the drop budget and go back to 3 (``MAX_ROUNDS``); if no round meets
   it, the user's precisions are kept and the report says so.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import keras
import numpy as np

from hls_opt.config import LayerConfig
from hls_opt.cost.tables import input_precision_of
from hls_opt.emit.keras_model import to_keras_model
from hls_opt.errors import ConfigError
from hls_opt.solve.precision_problem import (
    LayerCandidates,
    apply_configs,
    build_precision_problem,
    exact_accum,
    result_candidates,
    weight_candidates,
)
from hls_opt.solve.precision_problem import solve_precision_problem as solve_problem
from hls_opt.train.data import fit_input
from hls_opt.train.fit import ValidationMetric, fit, fresh_optimizer, meets
from hls_opt.train.masking import attach_mask_constraints
from hls_opt.train.quantize import quantize_weights, quantized_copy, set_precisions

if TYPE_CHECKING:
    from hls_opt.ir.graph import Graph
    from hls_opt.ir.nodes import Node, WeightedNode


logger = logging.getLogger(__name__)

#: Training samples the ranges are measured on.
CALIBRATION_SAMPLES = 4096
#: Validation samples the probes and the check read (the first ones).
MAX_VALIDATION_SAMPLES = 100_000
#: Verify-and-back-off rounds (each halves the drop budget).
MAX_ROUNDS = 4


@dataclass
class PrecisionOutcome:
    """What the search did: the chosen ``configs`` (None: the user's kept), the ``weights`` to write
    (fine-tuned, on the chosen weight grid), the numbers behind it, and one line per round."""

    configs: dict[str, LayerConfig] | None
    weights: dict[str, dict[str, np.ndarray]]
    baseline: float
    user_metric: float
    metric: float | None
    predicted_drop: float
    drop_budget: float
    probes: int
    rounds: list[dict[str, Any]] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    final: dict[str, Any] = field(default_factory=dict)


def _quantized_copy(model: Any, configs: Mapping[str, LayerConfig]) -> Any:

    return quantized_copy(model, configs)


class _Prober:
    """The validation metric with one layer's types changed and every other layer at the user's.

    When the candidates' rounding / overflow modes are the user's, one quantized copy is built and
    each probe changes one layer's widths in place (``set_precisions``) and puts them back: the next
    layer keeps reading its input at the user's type, which only matters for a result with more
    fraction bits than the user's (such results drop nothing anyway).  Otherwise, and for the model
    input (whose type every consumer reads), each probe builds its own copy."""

    def __init__(self, model: Any, users: Mapping[str, LayerConfig], search: Any, metric: Any, x: np.ndarray, y: np.ndarray) -> None:
        self.model, self.users, self.metric, self.x, self.y = model, dict(users), metric, x, y
        modes = {(p.rounding, p.saturation) for c in users.values()
                 for p in (c.weight, c.bias, c.result, c.activation_result) if p is not None}
        self.shared = _quantized_copy(model, users) if modes <= {(search.rounding, search.saturation)} else None
        self.count = 0

    def __call__(self, name: str, cfg: LayerConfig) -> float:
        self.count += 1
        if self.shared is not None and any(layer.name == name and hasattr(layer, "set_precision") for layer in self.shared.layers):
            set_precisions(self.shared, {name: cfg})
            try:
                return _metric_of(self.shared, self.metric, self.x, self.y)
            finally:
                set_precisions(self.shared, {name: self.users[name]})
        return _metric_of(_quantized_copy(self.model, {**self.users, name: cfg}), self.metric, self.x, self.y)


def _probe_ascending(n: int, drop: Any, budget: float) -> list[float]:
    """Drops of candidates ``0 … n−1`` (ascending width), probed from the narrowest up until one drops
    nothing; the wider ones are taken to drop nothing either (a wider type holds every value of a
    narrower one with the same integer bits, so its rounding error is no larger).  A candidate
    dropping more than the whole ``budget`` is marked ``inf`` (left out)."""
    out = [0.0] * n
    for k in range(n):
        d = float(drop(k))
        out[k] = d if d <= budget else np.inf
        if d <= 0.0:
            break
    return out


def _metric_of(model: Any, metric: ValidationMetric, x: np.ndarray, y: np.ndarray) -> float:
    # an eager call: the probes build many small models, each evaluated once (a trace each would cost more)
    pred = np.concatenate([np.asarray(model(x[i : i + 4096], training=False)) for i in range(0, len(x), 4096)])
    return float(metric(y, pred))


def calibrate(model: Any, graph: Graph, x: np.ndarray) -> dict[str, tuple]:
    """``{name: (max|w|, max|b|, (pre min, pre max), (post min, post max) or None)}`` per weighted
    layer, and ``{input name: (None, None, (min, max), None)}`` for the model input."""
    weighted = [n for n in graph.nodes() if getattr(n, "has_kernel", False)]
    layers = [model.get_layer(n.name) for n in weighted]
    probe = keras.Model(model.inputs, [t for layer in layers for t in (layer.input, layer.output)])
    outs = probe(x, training=False)
    out = {}
    for i, (node, layer) in enumerate(zip(weighted, layers)):
        inp, post = np.asarray(outs[2 * i]), np.asarray(outs[2 * i + 1])
        act = str(getattr(node, "activation", "linear") or "linear")
        if act != "linear":
            lin = type(layer).from_config({**layer.get_config(), "activation": "linear", "name": f"{layer.name}_calibration"})
            lin.build(inp.shape)
            lin.set_weights(layer.get_weights())
            pre = np.asarray(lin(inp))
            post_range = (float(post.min()), float(post.max()))
        else:
            pre, post_range = post, None
        bias = node.bias
        out[node.name] = (
            float(np.max(np.abs(node.kernel))) if node.kernel.size else 0.0,
            float(np.max(np.abs(bias))) if bias is not None and bias.size else None,
            (float(pre.min()), float(pre.max())),
            post_range,
        )
    for name in getattr(graph, "inputs", []) or []:
        out[name] = (None, None, (float(np.min(x)), float(np.max(x))), None)
    return out


def user_configs(graph: Graph) -> dict[str, LayerConfig]:
    return {n.name: n.config for n in graph.nodes() if getattr(n, "config", None) is not None}


def _with_weight(cfg: LayerConfig, weight: Any, bias: Any, node: WeightedNode, data: Any) -> LayerConfig:
    accum = exact_accum(weight, data, node.n_in, bias if node.bias is not None else None, cfg.accum)
    return dataclasses.replace(cfg, weight=weight, bias=bias, accum=accum)


def search_precision(
    graph: Graph,
    backend: Any,
    fields: tuple[str, ...],
    data: Any,
    training: Any,
    search: Any,
    *,
    budgets: Any = None,
    capacity: Any = None,
    timing: Any = None,
) -> PrecisionOutcome:
    """The search of the module docstring on ``graph`` (not changed); ``training``: the run's
    :class:`~hls_opt.train.engine.FineTuneOptions` (loss, optimizer, metric, rtol, epochs,
    batch size); ``search``: the :class:`~hls_opt.config.precision_search.PrecisionSearch`."""

    t0 = time.perf_counter()
    seconds: dict[str, float] = {}
    model = to_keras_model(graph)
    x_cal = data.train.first(CALIBRATION_SAMPLES)[0]
    x_val, y_val = data.val.first(MAX_VALIDATION_SAMPLES)
    metric = ValidationMetric(training.metric, y_val)
    increasing = bool(training.increasing)
    rtol = float(training.rtol)
    ranges = calibrate(model, graph, x_cal)
    widths = search.widths()
    cands: dict[str, LayerCandidates] = {}
    for name, (wmax, bmax, pre, post) in ranges.items():
        results = result_candidates(pre, post, widths, search.rounding, search.saturation, unsigned_ok=wmax is None)
        if wmax is None:
            cands[name] = LayerCandidates(name, (), (), results)
        else:
            ws, bs = weight_candidates(wmax, bmax, widths, search.rounding, search.saturation)
            cands[name] = LayerCandidates(name, ws, bs, results)
    seconds["calibration"] = time.perf_counter() - t0

    # Baselines: the float model (the tolerance's reference) and the model at the user's precisions.
    t1 = time.perf_counter()
    baseline = _metric_of(model, metric, x_val, y_val)
    users = user_configs(graph)
    user_metric = _metric_of(_quantized_copy(model, users), metric, x_val, y_val)
    limit = rtol * baseline
    budget = (user_metric - limit) if increasing else (limit - user_metric)
    if budget < 0:
        raise ConfigError(
            f"--precision auto: the model at the configured precision already misses the tolerance "
            f"({user_metric:.4g} against {limit:.4g}); widen the configured precision or loosen --rtol"
        )

    def drop_of(value: float) -> float:
        return max(0.0, (user_metric - value) if increasing else (value - user_metric))

    prober = _Prober(model, users, search, metric, x_val, y_val)
    for name, cand in list(cands.items()):
        node = graph.node(name)
        def weight_drop(k: int, node: Node = node, cand: LayerCandidates = cand, name: str = name) -> float:
            data = input_precision_of(graph, node) or node.config.result
            return drop_of(prober(name, _with_weight(node.config, cand.weights[k], cand.biases[k], node, data)))

        w_drops = _probe_ascending(len(cand.weights), weight_drop, budget)
        def result_drop(k: int, node: Node = node, cand: LayerCandidates = cand, name: str = name) -> float:
            rc = cand.results[k]
            keep_act = node.config.activation_result is not None or rc.activation_result is not None
            cfg = dataclasses.replace(node.config, result=rc.result, activation_result=rc.activation_result if keep_act else None)
            return drop_of(prober(name, cfg))

        r_drops = _probe_ascending(len(cand.results), result_drop, budget)
        keep_w = [k for k, d in enumerate(w_drops) if np.isfinite(d)]
        keep_r = [k for k, d in enumerate(r_drops) if np.isfinite(d)]
        cands[name] = LayerCandidates(
            name,
            tuple(cand.weights[k] for k in keep_w),
            tuple(cand.biases[k] for k in keep_w),
            tuple(cand.results[k] for k in keep_r),
            weight_drops=tuple(w_drops[k] for k in keep_w),
            result_drops=tuple(r_drops[k] for k in keep_r),
        )
    seconds["probes"] = time.perf_counter() - t1
    probes = prober.count

    rf_choice = budgets is not None and (budgets.latency_cycles is not None or budgets.ii_cycles is not None)
    if timing is None:
        def timing(node: Node) -> tuple[int, int]:
            t = backend.timing(node)
            return int(t.ii), int(t.latency)
    weights = None
    if capacity is None:
        # Ties on the objective (e.g. several designs with 0 DSPs) go to the fewest EBOPs (LUTs when the
        # objective is EBOPs): a secondary field weighted below one unit of the objective in total.
        secondary = "lut" if "ebops" in fields else "ebops"
        fields = (*fields, secondary)
    problem = build_precision_problem(graph, backend, fields, timing, cands, rf_choice=rf_choice)
    if capacity is None:
        bound = sum(max(float(o.cost[-1]) for o in layer.options) for layer in problem.layers) + float(problem.fixed_cost[-1])
        weights = np.array([1.0] * (len(fields) - 1) + [1.0 / (bound + 1.0)])
    rounds: list[dict[str, Any]] = []
    drop_budget = budget
    t2 = time.perf_counter()
    for _ in range(MAX_ROUNDS):
        sol, configs = solve_problem(
            problem, drop_budget,
            latency_budget=getattr(budgets, "latency_cycles", None), ii_budget=getattr(budgets, "ii_cycles", None),
            capacity=capacity, weights=weights,
        )
        chosen = {**users, **configs}
        work = _quantized_copy(model, chosen)
        work.compile(optimizer=fresh_optimizer(training.optimizer), loss=training.loss)
        epochs = max(1, int(training.epochs) - int(getattr(training, "rewinding_epochs", 1) or 0))
        fit(work, fit_input(data.train, int(training.batch_size)), epochs=epochs)
        value = _metric_of(work, metric, x_val, y_val)
        ok = meets(value, baseline, rtol, increasing)
        rounds.append({
            "drop_budget": drop_budget, "predicted_drop": sol.drop, "metric": value, "accepted": ok,
            "cost": dict(zip(fields, sol.cost.tolist())), "latency_cycles": sol.latency,
        })
        logger.info("precision: drop budget %.4g → predicted %.4g, measured %.4g (%s)", drop_budget, sol.drop, value,
                    "accepted" if ok else "outside the tolerance")
        if ok:
            weights = _weights_on_grid(work, graph, configs)
            seconds["solve_and_fine_tune"] = time.perf_counter() - t2
            return PrecisionOutcome(configs, weights, baseline, user_metric, value, sol.drop, drop_budget, probes, rounds, seconds)
        drop_budget *= 0.5
    seconds["solve_and_fine_tune"] = time.perf_counter() - t2
    return PrecisionOutcome(None, {}, baseline, user_metric, None, 0.0, budget, probes, rounds, seconds)


def _weights_on_grid(work: Any, graph: Graph, configs: Mapping[str, LayerConfig]) -> dict[str, dict[str, np.ndarray]]:
    """The fine-tuned weights of every weighted layer as the hardware stores them (kernels and
    biases on their chosen precision's grid, ``quantize_weights``): the emitted Keras model then
    computes with the numbers hls4ml writes."""

    values = quantize_weights(work)
    out, i = {}, 0
    for layer in work.layers:
        n = len(layer.weights)
        if layer.name in configs and layer.name in graph and getattr(graph.node(layer.name), "has_kernel", False):
            node = graph.node(layer.name)
            arrays = values[i : i + n]
            out[layer.name] = {key: np.asarray(a, dtype=old.dtype) for (key, old), a in zip(node.weights.items(), arrays)}
        i += n
    return out


def write_outcome(graph: Graph, outcome: PrecisionOutcome) -> Any:
    """``graph`` with the chosen configs and weights (a copy; the argument is not changed)."""
    if outcome.configs is None:
        return graph
    out = apply_configs(graph, outcome.configs)
    for name, weights in outcome.weights.items():
        node = out.node(name)
        out.replace(name, dataclasses.replace(node, weights={**node.weights, **weights}))
    return out


__all__ = ["PrecisionOutcome", "calibrate", "search_precision", "verify_final", "write_outcome"]


def verify_final(graph: Graph, data: Any, training: Any, outcome: PrecisionOutcome) -> dict[str, Any]:
    """After the passes that ran on the chosen types (pruning fine-tunes in float): the validation
    metric of the final graph computed in its types (``quantized_copy``).  Outside ``rtol`` · the float
    baseline: quantization-aware fine-tuning with every zero weight kept at zero (a
    :class:`~hls_opt.train.masking.MaskConstraint` per kernel), then measured again; the weights are
    written back on their grid when that helped.  Returns what it did (the report's ``final_*`` keys)."""

    model = to_keras_model(graph)
    configs = user_configs(graph)
    x_val, y_val = data.val.first(MAX_VALIDATION_SAMPLES)
    metric = ValidationMetric(training.metric, y_val)
    increasing, rtol = bool(training.increasing), float(training.rtol)
    work = _quantized_copy(model, configs)
    before = _metric_of(work, metric, x_val, y_val)
    out: dict[str, Any] = {"final_quantized_metric": before, "final_fine_tuned": False}
    if meets(before, outcome.baseline, rtol, increasing):
        return out
    weighted = [n.name for n in graph.nodes() if getattr(n, "has_kernel", False)]
    constraints = attach_mask_constraints(work, weighted)
    for name, c in constraints.items():
        c.assign((np.asarray(graph.node(name).kernel) != 0).astype("float32"))
    work.compile(optimizer=fresh_optimizer(training.optimizer), loss=training.loss)
    epochs = max(1, int(training.epochs) - int(getattr(training, "rewinding_epochs", 1) or 0))
    fit(work, fit_input(data.train, int(training.batch_size)), epochs=epochs)
    after = _metric_of(work, metric, x_val, y_val)
    out.update({"final_quantized_metric_before_fine_tuning": before, "final_quantized_metric": after, "final_fine_tuned": True})
    if (after >= before) if increasing else (after <= before):
        for name, weights in _weights_on_grid(work, graph, configs).items():
            node = graph.node(name)
            graph.replace(name, dataclasses.replace(node, weights={**node.weights, **weights}))
    else:
        out["final_quantized_metric"] = before
    if not meets(out["final_quantized_metric"], outcome.baseline, rtol, increasing) and _restorable(graph, outcome):
        # The pruned design is outside the tolerance even in its types after fine-tuning: keep the
        # search's own design instead (the chosen types, unpruned weights, measured within the
        # tolerance by the search), never a design outside what the user accepted.
        for name, weights in outcome.weights.items():
            node = graph.node(name)
            graph.replace(name, dataclasses.replace(node, weights={**node.weights, **weights}))
        out.update({"final_pruning_undone": True, "final_quantized_metric_pruned": out["final_quantized_metric"],
                    "final_quantized_metric": outcome.metric})
    return out


def _restorable(graph: Graph, outcome: PrecisionOutcome) -> bool:
    """Whether the search's weights still fit the graph (no pass removed units since) and were measured."""
    if outcome.metric is None or not outcome.weights:
        return False
    for name, weights in outcome.weights.items():
        if name not in graph:
            return False
        node = graph.node(name)
        for key, value in weights.items():
            if key not in node.weights or np.shape(node.weights[key]) != np.shape(value):
                return False
    return True
