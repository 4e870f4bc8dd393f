"""``--precision auto`` on the bundled digits MLP 64-64-32-10 (docs/precision.md).

Rows: the objective (dsp, lut, ebops, fit on xcvu9p) at RF 1 (II 1, no budget: the configured RF 1)
and under the latency of uniform RF 4 (every layer ResourceUnrolled at RF 4, unpruned: its latency
from the timing model is the budget; the solver chooses each layer's RF with its precisions).  Each
row: the report's DSP / LUT / FF / EBOPs after, the validation accuracy of the model computed in the
chosen types (``quantized_copy`` of the emitted model), its test accuracy, the float baseline, the
wall time of ``convert_and_optimize``.  One process, seed 0, 4 fine-tuning epochs.

    .venv/bin/python benchmarks/precision.py [--seed 0] [--objectives dsp,lut,ebops,fit]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

import numpy as np


def uniform_rf_latency(model, rf):
    from hls_opt.config import Strategy, config_from_keras_model
    from hls_opt.cost.tables import model_timing
    from hls_opt.frontend.keras import from_keras

    g = from_keras(model, config_from_keras_model(model, granularity="name"))
    for n in g.weighted_nodes():
        g.replace(n.name, dataclasses.replace(n, config=dataclasses.replace(n.config, strategy=Strategy.RESOURCE_UNROLLED, reuse_factor=rf)))
    return model_timing(g, "vivado").latency


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--objectives", default="dsp,lut,ebops,fit")
    ap.add_argument("--epochs", type=int, default=4)
    args = ap.parse_args()

    from hls_opt import convert_and_optimize
    from hls_opt.data import digits_split, train_baseline
    from hls_opt.train.fit import ValidationMetric
    from hls_opt.train.quantize import quantized_copy

    split = digits_split(seed=args.seed)
    model = train_baseline(split, seed=args.seed)
    data = (split.X_train, split.y_train, split.X_val, split.y_val)
    acc = ValidationMetric("accuracy", split.y_val)
    float_val = acc(split.y_val, np.asarray(model(split.X_val)))
    float_test = acc(split.y_test, np.asarray(model(split.X_test)))
    lat4 = uniform_rf_latency(model, 4)
    rows = []
    for budget_name, budget in (("RF 1 (II 1)", None), (f"uniform RF 4 latency ({lat4} cycles)", lat4)):
        for objective in args.objectives.split(","):
            kwargs = dict(device="xcvu9p") if objective == "fit" else {}
            t = time.perf_counter()
            res = convert_and_optimize(model, data=data, precision="auto", objective=objective, epochs=args.epochs,
                                       scheduler="constant:0.5:0.5", latency_budget=budget, **kwargs)
            seconds = time.perf_counter() - t
            configs = {n.name: n.config for n in res.graph.nodes() if n.config is not None}
            q = quantized_copy(res.model, configs)
            qv = acc(split.y_val, np.asarray(q(split.X_val, training=False)))
            qt = acc(split.y_test, np.asarray(q(split.X_test, training=False)))
            tot = res.report["total"]["after"]
            timing = res.report["timing"]["after"]
            layers = {r["name"]: r for r in res.report["layers"]}
            bits = {n: f"{(layers[n]['precision']['after'] or {}).get('weight', '')}→"
                       f"{(layers[n]['precision']['after'] or {}).get('activation_result') or (layers[n]['precision']['after'] or {}).get('result', '')}"
                    for n in ("pixels", "fc1", "fc2", "logits") if n in layers}
            rfs = {n: layers[n]["reuse_factor"] for n in ("fc1", "fc2", "logits")}
            fit = res.report.get("device", {}) or {}
            rows.append({
                "budget": budget_name, "objective": objective, "dsp": tot["dsp"], "lut": tot["lut"], "ff": tot["ff"],
                "ebops": tot["ebops"], "latency": timing.get("latency_cycles"), "ii": timing.get("ii"),
                "val_q": round(qv, 4), "test_q": round(qt, 4), "val_float": round(float_val, 4), "test_float": round(float_test, 4),
                "seconds": round(seconds, 1), "rfs": rfs, "types": bits, "device": fit,
            })
            print(json.dumps(rows[-1], default=str), flush=True)
    print("| budget | objective | DSP | LUT | FF | EBOPs | latency | II | val acc (q) | test acc (q) | time s | RFs |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['budget']} | {r['objective']} | {r['dsp']} | {r['lut']} | {r['ff']} | {r['ebops']} | {r['latency']} | {r['ii']} | "
              f"{r['val_q']} ({r['val_float']}) | {r['test_q']} ({r['test_float']}) | {r['seconds']} | "
              f"{'-'.join(str(v) for v in r['rfs'].values())} |")


if __name__ == "__main__":
    main()
