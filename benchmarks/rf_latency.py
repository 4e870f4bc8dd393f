"""Benchmark: reuse factors chosen under a latency budget vs the best uniform reuse factor.

For each model and latency budget, in the same run:

- **uniform**: the largest reuse factor ``r`` such that every weighted layer built ResourceUnrolled at
  ``r`` (snapped by hls4ml's rules) meets the budget, then today's flow (no budget: the configured
  RFs are kept) prunes under it;
- **fixed** (``rf_mode='fixed'``, the default with a budget): the exact cheapest RF assignment within
  the budget, then the same pruning under it;
- **joint** (``rf_mode='joint'``): RFs and groups chosen together at every step.

Every run: the same baseline, data, scheduler (Polynomial to 75 %), 5 epochs per step, rtol 0.975.
Reported: the final design's DSPs and latency (hls-opt's estimate and timing model of the emitted
config), validation and test accuracy, wall time.  Models: the digits MLP 64-64-32-10
(io_parallel) and a small Conv2D model on 8×8 digits (io_stream).

Usage::

    python benchmarks/rf_latency.py [--budgets 20,30,45] [--conv-budgets ...] [--out benchmarks/results/rf_latency]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent


def accuracy(model, X, y) -> float:
    y = np.argmax(y, 1) if y.ndim == 2 else y
    return float(np.mean(np.argmax(model.predict(X, verbose=0), 1) == y))


def conv_model(split, seed: int = 0):
    import keras

    keras.utils.set_random_seed(seed)
    inp = keras.Input((8, 8, 1), name="image")
    x = keras.layers.Conv2D(8, 3, activation="relu", name="conv1")(inp)
    x = keras.layers.Conv2D(16, 3, activation="relu", name="conv2")(x)
    x = keras.layers.Flatten(name="flat")(x)
    out = keras.layers.Dense(10, name="logits")(x)
    model = keras.Model(inp, out, name="digits_cnn")
    model.compile(
        optimizer=keras.optimizers.Adam(3e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    model.fit(split.X_train.reshape(-1, 8, 8, 1), split.y_train, epochs=30, batch_size=64, verbose=0)
    return model


def uniform_config(graph, cfg, backend, budget: int, io_type: str):
    """The largest uniform RF meeting ``budget`` with every weighted layer ResourceUnrolled at it
    (snapped per layer by the backend's rules); ``(rf, config)`` or ``(None, None)``."""
    import copy
    import dataclasses

    from hls_opt.config import Strategy
    from hls_opt.cost.tables import model_timing

    best = None
    candidates = sorted({1} | {r for node in graph.nodes() if node.has_kernel for r in backend.valid_reuse_factors(node, Strategy.RESOURCE_UNROLLED)})
    for rf in candidates:
        g = graph.copy()
        for node in list(g.nodes()):
            if node.has_kernel and node.config is not None:
                if rf == 1:  # every layer Latency at RF 1 (how hls4ml builds the fastest design)
                    config = dataclasses.replace(node.config, strategy=Strategy.LATENCY, reuse_factor=1)
                    g.replace(node.name, dataclasses.replace(node, config=config))
                    continue
                snapped = backend.snap_reuse_factor(node, rf, Strategy.RESOURCE_UNROLLED)
                built = backend.pruned_node(dataclasses.replace(node, config=dataclasses.replace(node.config, reuse_factor=snapped)))
                g.replace(node.name, built)
        t = model_timing(g, backend)
        if t.latency <= budget:
            best = rf
    if best is None:
        return None, None
    out = copy.deepcopy(cfg)
    out["Model"]["ReuseFactor"] = best
    out["Model"]["Strategy"] = "ResourceUnrolled" if best > 1 else "Latency"
    for entry in out.get("LayerName", {}).values():
        entry.pop("ReuseFactor", None)
        entry.pop("Strategy", None)
    out["IOType"] = io_type
    return best, out


def run_case(name, model, cfg, data, test, budgets, io_type, epochs, steps):
    from hls_opt.cost.feasibility import fastest_timing
    from hls_opt.cost.registry import get_backend
    from hls_opt.flow import run as flow
    from hls_opt.frontend.keras import from_keras
    from hls_opt.train.schedulers import PolynomialScheduler

    backend = get_backend("vivado")
    graph = from_keras(model, cfg)
    fastest = fastest_timing(graph, backend).latency
    print(f"{name}: fastest latency {fastest} cycles", flush=True)
    # "xF": F times the fastest latency the model can reach (every layer at RF 1)
    budgets = [int(fastest * float(b[1:])) if str(b).startswith("x") else int(b) for b in budgets]
    rows = []
    for budget in budgets:
        rf, ucfg = uniform_config(graph, cfg, backend, budget, io_type)
        runs = []
        if ucfg is not None:
            runs.append((f"uniform RF {rf}", dict(hls_config=ucfg)))
        runs.append(("fixed", dict(hls_config=cfg, latency_budget=budget, rf_mode="fixed")))
        runs.append(("joint", dict(hls_config=cfg, latency_budget=budget, rf_mode="joint")))
        for label, kw in runs:
            t0 = time.perf_counter()
            result = flow.convert_and_optimize(
                model, kw.pop("hls_config"), data=data, objective="dsp",
                scheduler=PolynomialScheduler(steps, final_sparsity=0.75), epochs=epochs, rtol=0.975, **kw,
            )
            seconds = time.perf_counter() - t0
            rep = result.report
            rfs = {layer["name"]: layer["reuse_factor"] for layer in rep["layers"] if layer["after"].get("params")}
            row = {
                "model": name,
                "budget": budget,
                "method": label,
                "dsp": rep["total"]["after"]["dsp"],
                "dsp_unpruned_rf": None,
                "latency": rep["timing"]["after"]["latency_cycles"],
                "ii": rep["timing"]["after"]["ii"],
                "val_acc": rep.get("final_metric"),
                "baseline_val_acc": rep.get("baseline_metric"),
                "test_acc": accuracy(result.model, *test),
                "seconds": round(seconds, 1),
                "rfs": rfs,
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
    return rows


def table(rows) -> str:
    out = ["| model | latency budget | method | DSP | latency | II | val acc (baseline) | test acc | time s | RFs |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        out.append(
            f"| {r['model']} | {r['budget']} | {r['method']} | {r['dsp']:.0f} | {r['latency']} | {r['ii']} | "
            f"{r['val_acc']:.3f} ({r['baseline_val_acc']:.3f}) | {r['test_acc']:.3f} | {r['seconds']} | "
            + ", ".join(f"{k} {v}" for k, v in r["rfs"].items()) + " |"
        )
    # the goal: the budget's best method vs the best uniform
    out.append("")
    out.append("| model | budget | best uniform DSP | fixed DSP | joint DSP | fixed vs uniform | joint vs uniform |")
    out.append("|---|---|---|---|---|---|---|")
    keys = sorted({(r["model"], r["budget"]) for r in rows})
    for model, budget in keys:
        by = {r["method"].split(" ")[0]: r for r in rows if r["model"] == model and r["budget"] == budget}
        u = by.get("uniform")
        cells = [model, str(budget), f"{u['dsp']:.0f}" if u else "none meets it"]
        for m in ("fixed", "joint"):
            cells.append(f"{by[m]['dsp']:.0f}" if m in by else "-")
        for m in ("fixed", "joint"):
            cells.append(f"{100 * (1 - by[m]['dsp'] / u['dsp']):.1f} %" if u and m in by and u["dsp"] else "-")
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budgets", default="x1.5,x2,x3", help="cycles, or xF: F × the fastest latency")
    ap.add_argument("--conv-budgets", default="x1.5,x2,x3")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--out", default=str(HERE / "results" / "rf_latency"))
    args = ap.parse_args(argv)

    from hls_opt.config import config_from_keras_model
    from hls_opt.data import digits_split
    from hls_opt.data.baseline import train_baseline

    split = digits_split(seed=0)
    rows = []
    mlp = train_baseline(split)
    cfg = config_from_keras_model(mlp, granularity="name", default_precision="ac_fixed<16,6>", default_reuse_factor=1)
    budgets = [b for b in args.budgets.split(",") if b]
    rows += run_case("digits MLP 64-64-32-10", mlp, cfg, split.training_data(), (split.X_test, split.y_test),
                     budgets, "io_parallel", args.epochs, args.steps)
    if args.conv_budgets:
        cnn = conv_model(split)
        ccfg = config_from_keras_model(cnn, granularity="name", default_precision="ac_fixed<16,6>", default_reuse_factor=1)
        ccfg["IOType"] = "io_stream"
        X = lambda a: a.reshape(-1, 8, 8, 1)  # noqa: E731
        data = (X(split.X_train), split.y_train, X(split.X_val), split.y_val)
        rows += run_case("digits CNN conv8-conv16-10 (io_stream)", cnn, ccfg, data, (X(split.X_test), split.y_test),
                         [b for b in args.conv_budgets.split(",") if b], "io_stream", args.epochs, args.steps)
    text = table(rows)
    print(text)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "rows.json").write_text(json.dumps(rows, indent=1) + "\n")
    (out / "table.md").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parent))
    raise SystemExit(main())
