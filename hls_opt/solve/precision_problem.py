"""The precision × reuse-factor problem of an IR graph, and its answer as layer configs.

Candidates (:func:`weight_candidates`, :func:`result_candidates`) come from ranges the caller
measured (the trained weights; each layer's output on a calibration sample): integer bits from the
range, fraction bits so that the width is each candidate width.  :func:`build_precision_problem`
prices every (RF, weight precision, result precision) of every weighted node, given each possible
input precision (the producer's chosen result), with the backend's one ``estimate`` and timing;
:func:`solve_precision_problem` solves it (:mod:`hls_opt.solve.precision_dp`) and returns the chosen
configs; :func:`apply_configs` writes them into a copy of the graph (``dataclasses.replace`` of each
node's :class:`~hls_opt.config.LayerConfig`).  Nothing here imports Keras.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from hls_opt.config import IOType, LayerConfig
from hls_opt.core.precision import Precision, Rounding, Saturation
from hls_opt.cost.backend import Backend
from hls_opt.cost.tables import input_precision_of
from hls_opt.errors import ConfigError
from hls_opt.ir.nodes import Dropout, Flatten, Reshape
from hls_opt.solve.precision_dp import (
    PrecisionLayer,
    PrecisionOption,
    PrecisionSolution,
    pareto_filter,
    solve_fit,
    solve_precision_choice,
)
from hls_opt.solve.rf_problem import model_io_type, rf_candidates

if TYPE_CHECKING:
    from hls_opt.ir.graph import Graph
    from hls_opt.ir.nodes import Node


__all__ = [
    "LayerCandidates",
    "PrecisionProblem",
    "ResultCandidate",
    "apply_configs",
    "build_precision_problem",
    "integer_bits",
    "result_candidates",
    "solve_precision_problem",
    "weight_candidates",
]

#: Nodes hls4ml removes or that only retype a tensor: a weighted layer behind them reads its
#: producer's result as if directly.
TRANSPARENT = (Flatten, Reshape, Dropout)


def integer_bits(max_abs: float, signed: bool = True) -> int:
    """Integer bits (sign included when ``signed``) that hold ``[−max_abs, max_abs]`` in ap_fixed:
    the range of ``ap_fixed<W, I>`` is ``[−2^(I−1), 2^(I−1))``, of ``ap_ufixed<W, I>`` ``[0, 2^I)``;
    so ``I = ⌊log2 max⌋ + 1`` (+1 for the sign).  At least 1 bit signed, 0 unsigned (a negative
    ``I`` is legal ap_fixed but not every HLS tool takes it)."""
    if not math.isfinite(max_abs):
        raise ConfigError(f"calibration: a non-finite value ({max_abs}) in the layer's range")
    if max_abs <= 0:
        return 1 if signed else 0
    i = math.floor(math.log2(max_abs)) + 1
    return max(i + 1, 1) if signed else max(i, 0)


@dataclass(frozen=True)
class ResultCandidate:
    """A result precision: ``result`` (the layer's own output, before a split-off activation) and
    ``activation_result`` (the activation's, None without one).  ``output`` is what the next layer reads."""

    result: Precision
    activation_result: Precision | None = None

    @property
    def output(self) -> Precision:
        return self.activation_result if self.activation_result is not None else self.result


@dataclass(frozen=True)
class LayerCandidates:
    """One weighted layer's candidates; ``weight_drops`` / ``result_drops`` the predicted accuracy drop of
    each (≥ 0, the metric's units; additive: a (w, r) pair is predicted to drop their sum)."""

    name: str
    weights: tuple[Precision, ...]
    biases: tuple[Precision, ...]
    results: tuple[ResultCandidate, ...]
    weight_drops: tuple[float, ...] = ()
    result_drops: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if not self.results or len(self.biases) != len(self.weights):
            raise ConfigError(f"layer {self.name}: no precision candidate (check --min-bits/--max-bits)")
        if self.weight_drops and len(self.weight_drops) != len(self.weights):
            raise ConfigError(f"layer {self.name}: {len(self.weight_drops)} weight drops for {len(self.weights)} candidates")
        if self.result_drops and len(self.result_drops) != len(self.results):
            raise ConfigError(f"layer {self.name}: {len(self.result_drops)} result drops for {len(self.results)} candidates")


def _fixed(width: int, integer: int, signed: bool, rounding: Rounding, saturation: Saturation) -> Precision:
    return Precision(width=int(width), integer=int(integer), signed=signed, rounding=rounding, saturation=saturation)


def weight_candidates(
    max_abs_weight: float, max_abs_bias: float | None, widths: Sequence[int], rounding: Rounding, saturation: Saturation
) -> tuple[tuple[Precision, ...], tuple[Precision, ...]]:
    """Weight precisions ``ap_fixed<W, I>`` for every width ``W ≥ I`` (``I`` from the largest
    ``|w|``, :func:`integer_bits`), and the bias precision of each: its own integer bits, the same
    fraction bits.  A width below ``I`` cannot hold the weights' range and is left out."""
    iw = integer_bits(max_abs_weight)
    ib = integer_bits(max_abs_bias or 0.0)
    ws, bs = [], []
    for w in sorted(set(int(x) for x in widths)):
        if w < iw:
            continue
        frac = w - iw
        ws.append(_fixed(w, iw, True, rounding, saturation))
        bs.append(_fixed(max(ib + frac, 1), ib, True, rounding, saturation))
    return tuple(ws), tuple(bs)


def result_candidates(
    pre_range: tuple[float, float],
    post_range: tuple[float, float] | None,
    widths: Sequence[int],
    rounding: Rounding,
    saturation: Saturation,
    *,
    unsigned_ok: bool = False,
) -> tuple[ResultCandidate, ...]:
    """Result precisions from the observed ranges on a calibration sample: ``pre_range`` (min, max)
    of the layer's output before its split-off activation, ``post_range`` after it (None: no split-off
    activation).  The width is the width of what the next layer reads (``output``): unsigned when the
    observed output is never negative (a ReLU's), its integer bits from its largest value; the
    pre-activation result keeps the same fraction bits with its own integer bits (signed).
    ``unsigned_ok`` (the model input, whose range is the data's): an output that is never negative is
    unsigned even without an activation (a layer's own result stays signed: calibration does not
    bound the validation data's sign)."""
    lo, hi = pre_range
    i_pre = integer_bits(max(abs(lo), abs(hi)))
    out = []
    for w in sorted(set(int(x) for x in widths)):
        if post_range is None:
            if unsigned_ok and lo >= 0:
                i_u = integer_bits(hi, signed=False)
                if w >= max(i_u, 1):
                    out.append(ResultCandidate(_fixed(w, i_u, False, rounding, saturation)))
                continue
            if w < i_pre:
                continue
            out.append(ResultCandidate(_fixed(w, i_pre, True, rounding, saturation)))
            continue
        plo, phi = post_range
        signed = plo < 0
        i_post = integer_bits(max(abs(plo), abs(phi)), signed)
        if w < max(i_post, 1):
            continue
        frac = w - i_post
        pre = _fixed(max(i_pre + frac, 1), i_pre, True, rounding, saturation)
        out.append(ResultCandidate(pre, _fixed(w, i_post, signed, rounding, saturation)))
    return tuple(out)


def exact_accum(weight: Precision, data: Precision, n_in: int, bias: Precision | None, user: Precision) -> Precision:
    """The accumulator: wide enough to hold the sum of ``n_in`` products and the bias exactly
    (fraction bits ``F_w + F_in``, integer bits ``I_w + I_in + ⌈log2(n_in + 1)⌉``, one more for an
    unsigned input on a signed product) when that is no wider than the user's accumulator, else the
    user's (a narrower exact accumulator is both cheaper — one LUT per accumulator bit per
    multiplier — and bit-exact)."""
    frac = weight.fractional + data.fractional
    if bias is not None:
        frac = max(frac, bias.fractional)
    integer = weight.integer + data.integer + (0 if data.signed else 1) + math.ceil(math.log2(n_in + 1))
    if bias is not None:
        integer = max(integer, bias.integer) + 1
    width = integer + frac
    if width <= user.width and width >= 1:
        return Precision(width=width, integer=integer, signed=True, rounding=user.rounding, saturation=user.saturation)
    return user


@dataclass(frozen=True)
class PrecisionProblem:
    """``layers`` (the weighted nodes in topological order); per layer and option, the built node
    (``nodes[name][k]``: its config carries the option's RF, strategy and precisions) and the input
    precision it was priced at; ``fields``: the cost fields; ``fixed_cost`` / ``fixed_latency``: the
    nodes without weights (their cost and latency do not depend on the choice)."""

    layers: tuple[PrecisionLayer, ...]
    nodes: Mapping[str, tuple[Any, ...]]
    fields: tuple[str, ...]
    fixed_cost: np.ndarray
    fixed_latency: int


def _producer(graph: Graph, node: Node) -> Any:
    """The node whose result ``node`` reads, through transparent nodes (None: a model input or several)."""
    preds = graph.predecessors(node)
    while len(preds) == 1 and isinstance(preds[0], TRANSPARENT):
        preds = graph.predecessors(preds[0])
    return preds[0] if len(preds) == 1 else None


def _consumers(graph: Graph, node: Node) -> list[Any]:
    out, todo = [], list(graph.successors(node))
    while todo:
        n = todo.pop()
        if isinstance(n, TRANSPARENT):
            todo.extend(graph.successors(n))
        else:
            out.append(n)
    return out


def build_precision_problem(
    graph: Graph,
    backend: Backend,
    fields: Sequence[str],
    timing: Callable[[Any], tuple[int, int]],
    candidates: Mapping[str, LayerCandidates],
    *,
    io_type: IOType | None = None,
    rf_choice: bool = True,
) -> PrecisionProblem:
    """The problem of ``graph`` (module docstring).  A weighted layer without candidates keeps its
    configured precisions (one candidate); a layer whose result feeds anything but the next weighted
    layer alone (a branch) keeps its result precision, so that the chain the DP follows is exact.
    ``rf_choice`` False: each layer keeps its configured RF and strategy (no latency budget)."""
    fields = tuple(fields)
    if io_type is None:
        io_type = model_io_type(graph)
    weighted = [n for n in graph.nodes() if getattr(n, "has_kernel", False) and getattr(n, "config", None) is not None]
    feeder = _producer(graph, weighted[0]) if weighted else None
    unknown = sorted(set(candidates) - {n.name for n in weighted} - ({feeder.name} if feeder is not None else set()))
    if unknown:
        raise ConfigError(f"precision candidates: no weighted layer named {', '.join(unknown)}")
    fixed_cost = np.zeros(len(fields))
    fixed_latency = 0
    names = {n.name for n in weighted}
    for node in graph.nodes():
        if node.name not in names:
            est = backend.estimate(node, input_precision=input_precision_of(graph, node))
            fixed_cost += np.array([est[f] for f in fields], np.float64)
            fixed_latency += int(timing(node)[1])
    layers, nodes = [], {}
    prev_outputs: list[Precision] | None = None
    prev_name = None
    first = _producer(graph, weighted[0]) if weighted else None
    if first is not None and not first.has_kernel and first.name in candidates and first.config is not None:
        # The model input (or whatever feeds the first weighted layer): its result is a choice too,
        # free in hardware (no option costs anything) but not in accuracy.
        cand = candidates[first.name]
        drops = cand.result_drops or (0.0,) * len(cand.results)
        opts = tuple(
            PrecisionOption(("input", rc.output.to_ap_string()), 0, ri, 0, 0, np.zeros(len(fields)), float(drops[ri]))
            for ri, rc in enumerate(cand.results)
        )
        layers.append(PrecisionLayer(first.name, opts, n_out=len(cand.results)))
        nodes[first.name] = tuple(
            dataclasses.replace(first, config=dataclasses.replace(first.config, result=rc.result, activation_result=rc.activation_result))
            for rc in cand.results
        )
        prev_outputs = [rc.output for rc in cand.results]
        prev_name = first.name
        names.add(first.name)
    for i, node in enumerate(weighted):
        cfg: LayerConfig = node.config
        cand = candidates.get(node.name)
        nxt = weighted[i + 1] if i + 1 < len(weighted) else None
        feeds_next_only = nxt is not None and [c.name for c in _consumers(graph, node)] == [nxt.name] and _producer(graph, nxt) is node
        if cand is None:
            cand = LayerCandidates(node.name, (cfg.weight,), (cfg.bias,), (ResultCandidate(cfg.result, cfg.activation_result),))
        results = cand.results
        r_drops = cand.result_drops or (0.0,) * len(results)
        if nxt is not None and not feeds_next_only:
            # keep the configured result (the chain is broken): its drop is the configured one's, 0
            results, r_drops = (ResultCandidate(cfg.result, cfg.activation_result),), (0.0,)
        w_drops = cand.weight_drops or (0.0,) * len(cand.weights)
        producer = _producer(graph, node)
        chained = prev_outputs is not None and producer is not None and producer.name == prev_name
        if chained:
            inputs = list(enumerate(prev_outputs))
        else:
            fixed_in = input_precision_of(graph, node)
            n_src = len(prev_outputs) if prev_outputs is not None else 1
            inputs = [(s, fixed_in) for s in range(n_src)]
        options, built_nodes = [], []
        builds = rf_candidates(backend, node, io_type) if rf_choice else [node]
        for built in builds:
            ii, lat = timing(built)
            for wi, (wp, bp) in enumerate(zip(cand.weights, cand.biases)):
                for ri, rc in enumerate(results):
                    for s, data in inputs:
                        data_p = data if data is not None else rc.result
                        accum = exact_accum(wp, data_p, node.n_in, bp if node.bias is not None else None, cfg.accum)
                        new_cfg = dataclasses.replace(
                            built.config, weight=wp, bias=bp, result=rc.result, accum=accum,
                            activation_result=rc.activation_result if cfg.activation_result is not None or rc.activation_result is not None else None,
                        )
                        b = dataclasses.replace(built, config=new_cfg)
                        est = backend.estimate(b, input_precision=data)
                        cost = np.array([est[f] for f in fields], np.float64)
                        label = (new_cfg.strategy.value, int(new_cfg.reuse_factor), str(wp.to_ap_string()), str(rc.output.to_ap_string()), s)
                        options.append(PrecisionOption(label, s, ri, int(lat), int(ii), cost, float(w_drops[wi] + r_drops[ri])))
                        built_nodes.append(b)
        layers.append(PrecisionLayer(node.name, tuple(options), n_out=len(results)))
        nodes[node.name] = tuple(built_nodes)
        prev_outputs = [rc.output for rc in results]
        prev_name = node.name
    return PrecisionProblem(tuple(layers), nodes, fields, fixed_cost, fixed_latency)


def solve_precision_problem(
    problem: PrecisionProblem,
    drop_budget: float,
    *,
    latency_budget: int | None = None,
    ii_budget: int | None = None,
    weights: Any = None,
    capacity: Any = None,
) -> tuple[PrecisionSolution, dict[str, LayerConfig]]:
    """Solve (``capacity`` given: the ``fit`` objective over ``problem.fields``; else the weighted sum
    ``weights``, default 1 per field) and return the solution (its cost and latency include the nodes
    without weights) and each weighted layer's chosen config."""
    lat = None if latency_budget is None else int(latency_budget) - problem.fixed_latency
    if lat is not None and lat < 0:
        raise ConfigError(
            f"--latency-budget: {latency_budget} cycles is below the {problem.fixed_latency} cycles of the layers without weights"
        )
    w = np.ones(len(problem.fields)) if weights is None else np.asarray(weights, np.float64)
    if capacity is None:
        kept = [pareto_filter(layer.options, w) for layer in problem.layers]
        layers = [PrecisionLayer(layer.name, tuple(layer.options[k] for k in ks), layer.n_out)
                  for layer, ks in zip(problem.layers, kept)]
        sol = solve_precision_choice(layers, drop_budget, lat, weights=w, ii_budget=ii_budget)
        full_choice = [ks[k] for ks, k in zip(kept, sol.choice)]
    else:
        # (no Pareto filter: dominance in a weighted sum says nothing about a max of ratios; the
        # label search keeps what is non-dominated in every field itself)
        cap = np.asarray(capacity, np.float64)
        # the nodes without weights use the device too: the layers fit into what they leave
        sol = solve_fit(list(problem.layers), np.maximum(cap - problem.fixed_cost, 1e-9), drop_budget, lat, ii_budget=ii_budget)
        full_choice = list(sol.choice)
    configs = {layer.name: problem.nodes[layer.name][k].config for layer, k in zip(problem.layers, full_choice)}
    cost = sol.cost + problem.fixed_cost
    score = float((cost / np.asarray(capacity, np.float64)).max()) if capacity is not None else float(cost @ w)
    out = PrecisionSolution(tuple(full_choice), cost, sol.drop, sol.latency + problem.fixed_latency, sol.ii, score, sol.labels)
    return out, configs


def apply_configs(graph: Graph, configs: Mapping[str, LayerConfig]) -> Any:
    """A copy of ``graph`` whose named nodes carry ``configs``; a transparent node between a layer and
    the next (Flatten, Dropout…) takes the layer's output precision as its result, so that the next
    layer reads it (:func:`hls_opt.cost.tables.input_precision_of`)."""
    out = graph.copy()
    for name, cfg in configs.items():
        out.replace(name, dataclasses.replace(out.node(name), config=cfg))
        todo = list(out.successors(name))
        while todo:
            n = todo.pop()
            if isinstance(n, TRANSPARENT) and n.config is not None:
                out.replace(n.name, dataclasses.replace(n, config=dataclasses.replace(n.config, result=cfg.output, activation_result=None)))
                todo.extend(out.successors(n.name))
    return out


def narrowest_graph(graph: Graph, search: Any) -> Any:
    """A copy of ``graph`` with every weighted layer, and the model input, at the narrowest candidate
    width ``search.min_bits`` (weights, biases, results; the accumulator exact for them, when no wider
    than the user's): the cheapest the precision search can make each layer, for the budget check
    before any training (:func:`hls_opt.cost.feasibility.check_budgets`)."""
    bits = int(search.min_bits)
    p = Precision(width=bits, integer=1, signed=True, rounding=search.rounding, saturation=search.saturation)
    out = graph.copy()
    for name in getattr(graph, "inputs", []) or []:
        node = out.node(name)
        if node.config is not None:
            out.replace(name, dataclasses.replace(node, config=dataclasses.replace(node.config, result=p)))
    for node in list(out.nodes()):
        if not getattr(node, "has_kernel", False) or node.config is None:
            continue
        cfg = node.config
        accum = exact_accum(p, p, node.n_in, p if node.bias is not None else None, cfg.accum)
        act = p if cfg.activation_result is not None else None
        out.replace(node.name, dataclasses.replace(node, config=dataclasses.replace(
            cfg, weight=p, bias=p, result=p, accum=accum, activation_result=act)))
    return out
