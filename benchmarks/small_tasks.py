"""Benchmark: hls-opt's fixed costs on hls4ml's own small DSP tasks, against hls4ml in the same run.

Tasks: ``../shared/bench/anchor_hls4ml.py``'s DSP cases on the bundled digits (``digits_split(seed)``,
60/20/20, one-hot), ``ac_fixed<16,6>``, ReuseFactor 4, Strategy Resource, PolynomialScheduler(5, 0.5),
5 epochs per step, batch 64, rtol 0.975, Adam, CategoricalCrossentropy(from_logits=True),
CategoricalAccuracy:

* ``c``: 64-64-32-10 (anchor run ``c_vivado_dsp``);
* ``d``: 64-256-128-10 (anchor run ``d_vivado_dsp_large``).

hls-opt runs the drop-in ``optimize_keras_model_for_hls4ml`` exactly as ``optimize_digits.py`` does;
hls4ml 1.3 runs in its Keras-2 environment (``$ANCHOR_VENV``, default ``/tmp/anchor/venv``) through
``benchmarks/hls4ml_side.py`` on the same split, and trains its own baselines with the same recipe and
seed.  Both returned models are measured by the same code (DSP = reuse groups with a non-zero weight
at RF 4; test accuracy).  For hls-opt the optimize call's wall time is split into the outcome's
``timings`` (setup = clone + compile + baseline evaluation; the regularisation search; the steps'
training; the polish; solving = ranking + knapsack; evaluation, which overlaps the others) plus the
number of ``model.fit`` calls and epochs, and the time outside the engine (the hls4ml-surface
adapters: attributes, estimator, building the problem).

    python benchmarks/small_tasks.py [--cases c,d] [--repeats 1] [--no-hls4ml]
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
sys.path.insert(0, str(HERE))

from optimize_digits import accuracy, anchor_paths, kernels_of, measured_resource  # noqa: E402

CASES = {"c": ((64, 32), "c_vivado_dsp"), "d": ((256, 128), "d_vivado_dsp_large")}


def run_hls_opt(model, split: dict) -> tuple[object, float, dict]:
    """The drop-in DSP call; (optimized model, wall seconds, the engine's split)."""
    import keras

    from hls_opt import optimize_keras_model_for_hls4ml
    from hls_opt.config import config_from_keras_model
    from hls_opt.keras import api
    from hls_opt.objectives.vivado_objectives import VivadoDSPEstimator
    from hls_opt.train import engine as optimize
    from hls_opt.train.schedulers import PolynomialScheduler

    seen: dict = {"fits": []}
    engine, data_fit = api.prune_with_fine_tuning, optimize._data_fit

    def engine_timed(*args, **kwargs):
        start = time.perf_counter()
        outcome = engine(*args, **kwargs)
        seen["engine"] = time.perf_counter() - start
        seen["outcome"] = outcome
        return outcome

    def fit_timed(*args, **kwargs):
        start = time.perf_counter()
        history = data_fit(*args, **kwargs)
        seen["fits"].append((len(history.epoch), time.perf_counter() - start))
        return history

    api.prune_with_fine_tuning, optimize._data_fit = engine_timed, fit_timed
    try:
        cfg = config_from_keras_model(model, granularity="name", default_precision="ac_fixed<16,6>", default_reuse_factor=4)
        cfg["IOType"] = "io_parallel"
        cfg["Model"]["Strategy"] = "Resource"
        start = time.perf_counter()
        out = optimize_keras_model_for_hls4ml(
            model, cfg, VivadoDSPEstimator,
            scheduler=PolynomialScheduler(5, final_sparsity=0.5),
            X_train=split["X_train"], y_train=split["y_train"], X_val=split["X_val"], y_val=split["y_val"],
            batch_size=64, epochs=5, optimizer=keras.optimizers.Adam(),
            loss_fn=keras.losses.CategoricalCrossentropy(from_logits=True),
            validation_metric=keras.metrics.CategoricalAccuracy(), increasing=True, rtol=0.975,
            tuner=None,
        )  # fmt: skip
        wall = time.perf_counter() - start
    finally:
        api.prune_with_fine_tuning, optimize._data_fit = engine, data_fit
    outcome = seen["outcome"]
    split_s = {k: round(v, 2) for k, v in outcome.timings.items()}
    split_s["outside the engine"] = round(wall - seen["engine"], 2)
    fits = seen["fits"]
    split_s["fit calls"] = len(fits)
    split_s["epochs"] = sum(e for e, _ in fits)
    split_s["first fit (1st train trace)"] = round(fits[0][1], 2) if fits else 0.0
    split_s["fit calls s"] = round(sum(t for _, t in fits), 2)
    split_s["steps"] = len(outcome.steps)
    return out, wall, split_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default="c,d")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=1, help="hls-opt runs per case (median wall time)")
    parser.add_argument("--no-hls4ml", action="store_true", help="hls-opt only")
    args = parser.parse_args()
    cases = [c for c in args.cases.split(",") if c]
    if any(c not in CASES for c in cases):
        parser.error(f"--cases: choose from {', '.join(CASES)}")
    anchor = None if args.no_hls4ml else anchor_paths()

    from hls_opt.data import digits_split, train_baseline

    digits = digits_split(args.seed).one_hot()
    split = digits.as_dict()
    rows = []
    for case in cases:
        hidden, tag = CASES[case]
        model = train_baseline(digits, seed=args.seed, hidden=hidden)
        base = accuracy(model, split["X_test"], split["y_test"])
        r0 = measured_resource("dsp", kernels_of(model))
        runs = []
        for _ in range(args.repeats):
            out, wall, split_s = run_hls_opt(model, split)
            runs.append((wall, accuracy(out, split["X_test"], split["y_test"]), measured_resource("dsp", kernels_of(out)), split_s))
            print(f"# hls-opt {case}: {wall:.1f} s, DSP {r0:.0f} → {runs[-1][2]:.0f}, acc {base:.3f} → {runs[-1][1]:.3f}; {split_s}", flush=True)
        runs.sort(key=lambda r: r[0])
        wall, acc, r1, split_s = runs[len(runs) // 2]
        row = {"case": case, "model": "64-" + "-".join(map(str, hidden)) + "-10", "hls_opt": {
            "wall_s": round(wall, 2), "walls_s": [round(r[0], 2) for r in runs], "acc": [base, acc], "dsp": [r0, r1], "split_s": split_s,
        }}  # fmt: skip
        rows.append(row)
    if anchor is not None:
        import subprocess
        import tempfile

        only = ",".join(case for case in cases)
        with tempfile.TemporaryDirectory() as tmp:
            split_path, kernels_path = Path(tmp) / "split.npz", Path(tmp) / "kernels.npz"
            np.savez(split_path, **split)
            env = dict(os.environ, ANCHOR_ONLY=only, PYTHONHASHSEED="0", TF_CPP_MIN_LOG_LEVEL="3")
            proc = subprocess.run(
                [str(anchor[0]), str(HERE / "hls4ml_side.py"), str(anchor[1]), str(split_path), str(args.seed), str(kernels_path)],
                env=env, capture_output=True, text=True, check=False,
            )  # fmt: skip
            lines = proc.stdout.strip().splitlines()
            if proc.returncode or not lines or not lines[-1].startswith("{"):
                sys.exit(f"hls4ml run failed ({proc.returncode}): {proc.stderr[-2000:]}")
            results = json.loads(lines[-1])
            with np.load(kernels_path) as npz:
                saved = {k: npz[k] for k in npz.files}
        for row in rows:
            tag = CASES[row["case"]][1]
            run = next(r for r in results["runs"] if r["run"] == tag)
            after = [saved[f"{tag}/{i}"] for i in range(sum(k.startswith(tag + "/") for k in saved))]
            before_key = "baseline_small" if row["case"] == "c" else "baseline_large"
            row["hls4ml"] = {
                "wall_s": run["wall_s"],
                "acc": [results[before_key]["test_acc"], run["optimized_test_acc"]],
                "dsp": [row["hls_opt"]["dsp"][0], measured_resource("dsp", after)],
                "split_s": run["time_split_s"],
            }
            print(f"# hls4ml {row['case']}: {run['wall_s']:.1f} s, {row['hls4ml']}", flush=True)

    print()
    print("| case | tool | test acc base → opt | DSP before → after | wall s | hls-opt / hls4ml |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        for tool in ("hls4ml", "hls_opt"):
            if tool not in row:
                continue
            r = row[tool]
            ratio = f"{row['hls_opt']['wall_s'] / row['hls4ml']['wall_s']:.3f}" if tool == "hls_opt" and "hls4ml" in row else ""
            print(f"| {row['case']} {row['model']} | {tool.replace('_', '-')} | {r['acc'][0]:.3f} → {r['acc'][1]:.3f} | "
                  f"{r['dsp'][0]:.0f} → {r['dsp'][1]:.0f} | {r['wall_s']:.1f} | {ratio} |")  # fmt: skip
    print()
    for row in rows:
        print(f"hls-opt {row['case']} split (s): {row['hls_opt']['split_s']}")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
