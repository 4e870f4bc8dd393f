"""Benchmark: the joint reuse-factor × pruning solver (hls_opt/solve/rf_dp.py), exact vs fallback vs brute force.

    .venv/bin/python benchmarks/rf_solver.py            # the table below (about a minute on one core)
    .venv/bin/python benchmarks/rf_solver.py --quick    # fewer budgets

Models (hand-built IR graphs, ap_fixed<16,6>: one DSP48E2 per multiplier on the vivado backend; the
problem comes from :func:`hls_opt.solve.rf_problem.build_joint_problem`, so every option is a real RF the
backend accepts: Latency at RF 1, ResourceUnrolled at every unrolled-valid RF):

* digits MLP 64-64-32-10 (Dense 64→64, 64→32, 32→10), DSP objective;
* 16-64-32-32-5 (Dense 16→64, 64→32, 32→32, 32→5).

Timing is synthetic (no timing model yet): a Dense at RF r has II r and latency r + 3 cycles
(Latency at RF 1: 4 cycles).  Importance: |w| of seeded random kernels.  Resource targets: a fraction
of the all-Latency DSP count.  Each line is solved exactly (``method='exact'``) and by the fallback
(``method='coarse'`` with ``max_work`` 1e6: the grids are coarsened until the work fits), both timed
in the same run after one warm-up solve (numba compiles once per installation, cached on disk).  Brute
force (every assignment × every kept subset) is only possible on small random instances: the last
section times it against the exact solver there.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from hls_opt.config import LayerConfig, Strategy
from hls_opt.core.precision import parse_precision
from hls_opt.cost.objective import parse_objective
from hls_opt.cost.registry import get_backend
from hls_opt.ir import nodes as ir
from hls_opt.ir.graph import Graph
from hls_opt.solve.rf_dp import JointLayer, brute_force_rf_choice, make_option, solve_rf_choice
from hls_opt.solve.rf_problem import build_joint_problem

P16 = parse_precision("ap_fixed<16,6>")
LAT_CONST = 3
#: The fallback column is forced to coarsen until its work is at most this (the exact DP here takes 1e5–3e8).
FALLBACK_WORK = 1e6


def mlp(sizes: list[int], seed: int = 0) -> Graph:
    rng = np.random.default_rng(seed)
    g = Graph("bench")
    g.add(ir.Input("in", output_shape=(sizes[0],)))
    prev = "in"
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        cfg = LayerConfig(weight=P16, bias=P16, result=P16, accum=P16, reuse_factor=1, strategy=Strategy.LATENCY)
        name = f"d{i}"
        g.add(
            ir.Dense(
                name,
                inputs=[prev],
                input_shapes=[(a,)],
                output_shape=(b,),
                weights={"kernel": rng.normal(size=(a, b)).astype(np.float32), "bias": np.zeros(b, np.float32)},
                config=cfg,
                units=b,
            )
        )
        prev = name
    g.inputs, g.outputs = ["in"], [prev]
    return g


def timing(node):
    if not getattr(node, "has_kernel", False):
        return (1, 0)
    rf = node.config.reuse_factor
    return (rf, rf + LAT_CONST)


def run_model(label: str, sizes: list[int], budgets: list[int], fractions: list[float]) -> None:
    backend = get_backend("vivado")
    problem = build_joint_problem(mlp(sizes), backend, parse_objective("dsp"), timing)
    n_opts = [len(lay.options) for lay in problem.layers if lay.name != "in"]
    groups = [max(o.n_groups for o in lay.options) for lay in problem.layers if lay.name != "in"]
    full = sum(int(lay.options[0].base[0]) for lay in problem.layers)
    print(f"\n## {label}: options per layer {n_opts}, most groups per layer {groups}, all-Latency DSPs {full}\n")
    print("| budget (cycles) | target DSP | exact s | exact work | exact value | DSP | latency | RFs | fallback s | fallback value | bound | gap % | steps |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for frac in fractions:
        target = int(full * frac)
        for budget in budgets:
            t0 = time.perf_counter()
            ex = solve_rf_choice(problem.layers, [target], budget, method="exact")
            t_ex = time.perf_counter() - t0
            t0 = time.perf_counter()
            try:
                fb = solve_rf_choice(problem.layers, [target], budget, method="coarse", max_work=FALLBACK_WORK)
                t_fb = time.perf_counter() - t0
                fb_txt = (
                    f"{t_fb:.3f} | {fb.value:.2f} | {fb.upper_bound:.2f} | "
                    f"{100 * fb.gap / max(fb.upper_bound, 1e-12):.2f} | {fb.coarsening[0]}, {list(fb.coarsening[1])}"
                )
            except Exception as exc:  # the rounded-up grid can be infeasible: say so in the table
                fb_txt = f"{time.perf_counter() - t0:.3f} | — | — | — | {type(exc).__name__}"
            rfs = "-".join(str(lab[1]) for lab in ex.labels if lab is not None)
            print(
                f"| {budget} | {target} | {t_ex:.3f} | {ex.work:.1e} | {ex.value:.2f} | {int(ex.resources[0])} | {ex.latency:.0f} | "
                f"{rfs} | {fb_txt} |"
            )


def random_small(rng: np.random.Generator, n_layers: int, n_opts: int, n_groups: int) -> list[JointLayer]:
    layers = []
    for li in range(n_layers):
        opts = []
        for k in range(n_opts):
            s = rng.integers(1, 3, 1)
            opts.append(make_option(k, int(rng.integers(1, 10)), 1, s * n_groups + 2, rng.uniform(0, 1, n_groups), s))
        layers.append(JointLayer(f"l{li}", tuple(opts)))
    return layers


def run_brute(repeats: int) -> None:
    print("\n## small random instances: exact vs brute force (mean of the instances)\n")
    print("| layers × options × groups | instances | exact s | brute force s | same optimum |")
    print("|---|---|---|---|---|")
    rng = np.random.default_rng(0)
    for n_layers, n_opts, n_groups in [(2, 3, 6), (3, 3, 4), (3, 3, 6)]:
        t_ex = t_bf = 0.0
        same = 0
        for _ in range(repeats):
            layers = random_small(rng, n_layers, n_opts, n_groups)
            most = sum(int(lay.options[0].base[0]) for lay in layers)
            target, budget = [most // 2], 12 * n_layers // 2
            t0 = time.perf_counter()
            bf = brute_force_rf_choice(layers, target, budget)
            t_bf += time.perf_counter() - t0
            if bf is None:
                continue
            t0 = time.perf_counter()
            ex = solve_rf_choice(layers, target, budget)
            t_ex += time.perf_counter() - t0
            same += abs(ex.value - bf.value) <= 1e-9 * max(1.0, bf.value)
        print(f"| {n_layers} × {n_opts} × {n_groups} | {repeats} | {t_ex / repeats:.4f} | {t_bf / repeats:.4f} | {same}/{repeats} |")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    budgets = [20, 50, 100, 200] if args.quick else [20, 30, 50, 100, 150, 200]
    fractions = [0.02, 0.25] if args.quick else [0.02, 0.1, 0.25, 0.5]
    t0 = time.perf_counter()
    warm = [JointLayer("w", (make_option(0, 1, 1, [4], [1.0, 2.0], [1]),))]
    solve_rf_choice(warm, [2], 1)  # numba: load (or compile) the kernels once
    print(f"warm-up (numba load/compile): {time.perf_counter() - t0:.2f} s")
    run_model("digits MLP 64-64-32-10", [64, 64, 32, 10], budgets, fractions)
    run_model("16-64-32-32-5", [16, 64, 32, 32, 5], budgets, fractions)
    run_brute(3 if args.quick else 5)


if __name__ == "__main__":
    main()
