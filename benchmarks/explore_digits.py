"""Benchmark: ``hls-opt explore`` on the digits MLP over 6 latency budgets, on 2 local
processes and on a local Ray cluster, in the same run; the two fronts must hold the same designs with
the same numbers.

The project's digits baseline (``hls_opt.data.train_baseline``, 64-64-32-10, 30 epochs, seed 0) with
``ap_fixed<16,6>``, Latency at RF 1 (fastest latency 19 cycles); ``--optimize dsp``, budgets
28,30,38,43,57,60 cycles, Polynomial to 75 % in 3 steps, 3 epochs per step, rtol 0.975, seed 0.

Usage::

    python benchmarks/explore_digits.py [--budgets 28,30,38,43,57,60] [--engines local,ray,dask] \
        [--out benchmarks/results/explore]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent


def inputs(root: Path) -> Path:
    from hls_opt.config import config_from_keras_model, save_config
    from hls_opt.data import digits_split, train_baseline

    split = digits_split(0)
    model = train_baseline(split)
    model.save(root / "model.keras")
    cfg = config_from_keras_model(model, granularity="name", default_precision="ap_fixed<16,6>", default_reuse_factor=1)
    cfg["Model"]["Strategy"] = "Latency"
    save_config(cfg, root / "c.yml")
    np.savez(root / "d.npz", X_train=split.X_train, y_train=split.y_train, X_val=split.X_val, y_val=split.y_val)
    return root


def run(root: Path, out: Path, budgets: str, engine: list[str]) -> tuple[int, float]:
    from hls_opt.cli import main

    argv = [
        "explore", str(root / "model.keras"), "--config", str(root / "c.yml"), "--data", str(root / "d.npz"),
        "--optimize", "dsp", "--latency-budget", budgets, "--scheduler", "polynomial:3:0.75", "--epochs", "3",
        "--rtol", "0.975", *engine, "-o", str(out),
    ]
    start = time.perf_counter()
    code = main(argv)
    return code, time.perf_counter() - start


def numbers(front: dict) -> list[tuple]:
    return [(d["id"], d["dsp"], d["lut"], d["latency_cycles"], d["ii"], d["accuracy"], d["front"]) for d in front["designs"]]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--budgets", default="28,30,38,43,57,60")
    parser.add_argument("--engines", default="local,ray")
    parser.add_argument("--out", default=str(HERE / "results" / "explore"))
    args = parser.parse_args()
    out = Path(args.out)
    work = out / "work"
    work.mkdir(parents=True, exist_ok=True)
    root = inputs(work)
    fronts, seconds = {}, {}
    for engine in args.engines.split(","):
        target = work / engine
        if engine == "local":
            code, secs = run(root, target, args.budgets, ["--jobs", "2"])
        elif engine == "ray":
            import ray

            ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
            try:
                code, secs = run(root, target, args.budgets, ["--ray", "auto"])
            finally:
                ray.shutdown()
        elif engine == "dask":
            from distributed import LocalCluster

            with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
                code, secs = run(root, target, args.budgets, ["--dask", cluster.scheduler_address])
        else:
            raise SystemExit(f"unknown engine {engine}")
        fronts[engine] = json.loads((target / "front.json").read_text())
        seconds[engine] = (code, secs)
    first = next(iter(fronts))
    lines = [
        "| engine | exit | wall s | designs | on the front | same numbers as " + first + " |",
        "|---|---|---|---|---|---|",
    ]
    for engine, front in fronts.items():
        code, secs = seconds[engine]
        same = numbers(front) == numbers(fronts[first])
        lines.append(
            f"| {engine} | {code} | {secs:.0f} | {len(front['designs'])} | "
            f"{sum(d['front'] for d in front['designs'])} | {'yes' if same else 'NO'} |"
        )
    lines += ["", "| point | DSP | LUT | latency | II | val accuracy | front | RFs |", "|---|---|---|---|---|---|---|---|"]
    for d in fronts[first]["designs"]:
        rfs = ", ".join(f"{k} {v}" for k, v in d["reuse_factors"].items() if k in ("fc1", "fc2", "logits"))
        lines.append(
            f"| {d['id']} | {d['dsp']} | {d['lut']} | {d['latency_cycles']} | {d['ii']} | {d['accuracy']:.4f} | "
            f"{'yes' if d['front'] else ''} | {rfs} |"
        )
    for f in fronts[first]["failed"]:
        lines.append(f"| {f['id']} | failed: {f['message'][:80]} |")
    text = "\n".join(lines) + "\n"
    (out / "table.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
