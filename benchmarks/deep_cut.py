"""Benchmark: how deep hls-opt cuts DSPs at a given tolerance, against hls4ml 1.3 in the same table.

Task (the same as ``../shared/bench/deep-cut/``): scikit-learn's digits, 60/20/20 split
(``train_test_split(..., random_state=0, stratify=...)``, the split hls4ml's side writes to
``digits_split_seed0.npz``), baseline trained 30 epochs with Adam (batch 64, seed = run seed);
hls4ml config ``ac_fixed<16, 6>``, reuse factor 4, Strategy Resource, ``VivadoDSPEstimator``;
5 epochs per step, batch 64, rtol 0.975, Adam, CategoricalCrossentropy(from_logits=True),
CategoricalAccuracy, Bayesian tuner, dynamic knapsack.

DSPs are counted from the weights, the same way for both tools: a reuse group (row ``m`` of the
kernel transposed to hls4ml's ``(n_out, n_in)`` order and reshaped to ``(-1, RF)``) with any
non-zero weight is one multiplier (``dsp_count`` below).

Cases (``--case``): ``digits`` = 64-64-32-10 MLP, io_parallel (hls4ml's side: the anchor's deep
mode); ``big`` = 64-256-128-10 MLP, io_parallel; ``conv`` = Conv2D(8,3)-Conv2D(16,3)-Dense(10) on
the 8×8 images, io_stream.  The anchor script has no mode for ``big`` / ``conv``; their hls4ml
side is ``benchmarks/deep_cut_hls4ml_conv.py`` (the anchor imported as a module, with io_stream
and a DSP count that includes Conv2D).

hls4ml's side (``--with-hls4ml``) runs ``../shared/bench/deep-cut/anchor_hls4ml.py`` in hls4ml's
Keras-2 venv (``$ANCHOR_VENV``, default ``/tmp/anchor/venv``) once per seed and caches its JSON
in ``--hls4ml-dir``; without the flag, cached results there are shown when present.

Results of docs/deep_cut.md: ``benchmarks/results/deep_cut/`` (hls-opt rows, ``--render``) and
``benchmarks/results/deep_cut_hls4ml/`` (hls4ml's JSON, the default ``--hls4ml-dir``).

Usage::

    python benchmarks/deep_cut.py [--case digits] [--seeds 0 1 2] [--scheds poly5_0.75,poly8_0.9,binary]
        [--with-hls4ml] [--hls4ml-dir DIR] [--target max]
        [--fine-tune full|recover] [--on-reject restore|continue] [--keep-regulariser 0|1]
        [--normalise mean|max|none] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ANCHOR_SCRIPT = os.path.normpath(os.path.join(HERE, "..", "..", "shared", "bench", "deep-cut", "anchor_hls4ml.py"))
if not os.path.exists(ANCHOR_SCRIPT):
    ANCHOR_SCRIPT = "/work/shared/bench/deep-cut/anchor_hls4ml.py"
SPLIT_FILE = "digits_split_seed0.npz"
RF, BATCH, BASE_EPOCHS, OPT_EPOCHS, RTOL = 4, 64, 30, 5, 0.975
SCHEDULERS = ("poly5_0.75", "poly8_0.9", "binary")


def make_scheduler(name: str):
    from hls_opt.train.schedulers import BinaryScheduler, MaxCutScheduler, PolynomialScheduler

    return {
        "binary": lambda: BinaryScheduler(final_sparsity=0.95),
        "poly8_0.9": lambda: PolynomialScheduler(8, final_sparsity=0.9),
        "poly5_0.75": lambda: PolynomialScheduler(5, final_sparsity=0.75),
        "max": lambda: MaxCutScheduler(),
    }[name]()


# ------------------------------------------------------------------------------------------------
# Data, models, DSP count
# ------------------------------------------------------------------------------------------------


def digits_split(cache_dir: str) -> dict[str, np.ndarray]:
    """The split hls4ml's side writes (read from its file when present, else made the same way)."""
    path = os.path.join(cache_dir, SPLIT_FILE)
    if os.path.exists(path):
        d = np.load(path)
        return {k: d[k] for k in ("X_tr", "y_tr", "X_val", "y_val", "X_te", "y_te")}
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    X = (d.data / 16.0).astype("float32")
    y = np.eye(10, dtype="float32")[d.target]
    X_tr, X_tmp, y_tr, y_tmp, _, t_tmp = train_test_split(
        X, y, d.target, test_size=0.4, random_state=0, stratify=d.target
    )
    X_val, X_te, y_val, y_te = train_test_split(X_tmp, y_tmp, test_size=0.5, random_state=0, stratify=t_tmp)
    return {"X_tr": X_tr, "y_tr": y_tr, "X_val": X_val, "y_val": y_val, "X_te": X_te, "y_te": y_te}


def build_model(case: str):
    import keras

    if case == "conv":
        return keras.Sequential(
            [
                keras.Input((8, 8, 1), name="x"),
                keras.layers.Conv2D(8, 3, activation="relu", name="conv1"),
                keras.layers.Conv2D(16, 3, activation="relu", name="conv2"),
                keras.layers.Flatten(name="flat"),
                keras.layers.Dense(10, name="logits"),
            ],
            name="conv_8_16_10",
        )
    hidden = (64, 32) if case == "digits" else (256, 128)
    layers = [keras.Input((64,), name="x")]
    layers += [keras.layers.Dense(h, activation="relu", name=f"fc{i + 1}") for i, h in enumerate(hidden)]
    layers.append(keras.layers.Dense(10, name="logits"))
    return keras.Sequential(layers, name="mlp_" + "_".join(map(str, hidden)))


def inputs(case: str, X: np.ndarray) -> np.ndarray:
    return X.reshape(-1, 8, 8, 1) if case == "conv" else X


def dsp_count(model, rf: int = RF) -> dict:
    """Multipliers per layer: reuse groups (hls4ml's transposed kernel, rows of RF) holding a non-zero."""
    per = {}
    for layer in model.layers:
        if getattr(layer, "kernel", None) is None:
            continue
        k = np.asarray(layer.get_weights()[0])
        flat = np.moveaxis(k, -1, 0).reshape(-1)
        if flat.size % rf:
            flat = np.concatenate([flat, np.zeros(rf - flat.size % rf, dtype=flat.dtype)])
        per[layer.name] = int(np.count_nonzero(np.any(flat.reshape(-1, rf) != 0, axis=1)))
    return {"total": int(sum(per.values())), "per_layer": per}


def accuracy(model, X: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(np.argmax(model.predict(X, verbose=0), 1) == np.argmax(y, 1)))


def hls_config(model, case: str) -> dict:
    from hls_opt.config import config_from_keras_model

    cfg = config_from_keras_model(
        model, granularity="name", default_precision="ac_fixed<16, 6>", default_reuse_factor=RF
    )
    cfg["IOType"] = "io_stream" if case == "conv" else "io_parallel"
    cfg["Model"]["Strategy"] = "Resource"
    for layer_cfg in cfg.get("LayerName", {}).values():
        for key, value in layer_cfg.get("Precision", {}).items():
            if value == "auto":
                layer_cfg["Precision"][key] = "ac_fixed<16, 6>"
    return cfg


# ------------------------------------------------------------------------------------------------
# hls-opt's side
# ------------------------------------------------------------------------------------------------


def run_hlsopt(case: str, seed: int, scheds: list[str], data: dict, policy, log) -> list[dict]:
    import keras

    from hls_opt.keras.api import attributes_for, run_optimization
    from hls_opt.objectives.vivado_objectives import VivadoDSPEstimator

    X_tr, X_val, X_te = (inputs(case, data[k]) for k in ("X_tr", "X_val", "X_te"))
    y_tr, y_val, y_te = data["y_tr"], data["y_val"], data["y_te"]
    keras.utils.set_random_seed(seed)
    base = build_model(case)
    base.compile(keras.optimizers.Adam(), keras.losses.CategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    base.fit(X_tr, y_tr, validation_data=(X_val, y_val), epochs=BASE_EPOCHS, batch_size=BATCH, verbose=0)
    before = dsp_count(base)
    base_val, base_test = accuracy(base, X_val, y_val), accuracy(base, X_te, y_te)
    runs = []
    for name in scheds:
        keras.utils.set_random_seed(seed)
        attrs = attributes_for(base, hls_config(base, case))
        t0 = time.perf_counter()
        out = run_optimization(
            base, attrs, VivadoDSPEstimator, make_scheduler(name), X_tr, y_tr, X_val, y_val, BATCH, OPT_EPOCHS,
            keras.optimizers.Adam(), keras.losses.CategoricalCrossentropy(from_logits=True),
            keras.metrics.CategoricalAccuracy(), True, RTOL, tuner="Bayesian", knapsack_solver="dynamic",
            cutoff_bad_trials=3, policy=policy,
        )
        wall = time.perf_counter() - t0
        after = dsp_count(out.model)
        r = {
            "tool": "hls-opt", "case": case, "scheduler": name, "seed": seed, "wall_s": round(wall, 2),
            "dsp_before": before, "dsp_after": after,
            "cut_pct": round(100 * (1 - after["total"] / before["total"]), 2),
            "baseline_val_acc": base_val, "optimized_val_acc": accuracy(out.model, X_val, y_val),
            "baseline_test_acc": base_test, "optimized_test_acc": accuracy(out.model, X_te, y_te),
            "steps": [s.as_dict() for s in out.steps], "timings": {k: round(v, 2) for k, v in out.timings.items()},
        }
        r["val_within_rtol"] = r["optimized_val_acc"] >= RTOL * base_val
        log(f"hls-opt {case} {name} seed {seed}: cut {r['cut_pct']}% "
            f"val {base_val:.3f}->{r['optimized_val_acc']:.3f} {wall:.1f}s per-layer {after['per_layer']}")
        runs.append(r)
    return runs


# ------------------------------------------------------------------------------------------------
# hls4ml's side
# ------------------------------------------------------------------------------------------------


def hls4ml_json(cache_dir: str, seed: int) -> str:
    return os.path.join(cache_dir, f"anchor_hls4ml_results_deep_seed{seed}.json")


def run_hls4ml(case: str, cache_dir: str, seed: int, scheds: list[str], log) -> None:
    venv = os.environ.get("ANCHOR_VENV", "/tmp/anchor/venv")
    python = os.path.join(venv, "bin", "python")
    env = dict(os.environ, ANCHOR_ONLY="deep", DEEP_SEED=str(seed), DEEP_DIR=cache_dir, DEEP_SCHEDS=",".join(scheds))
    if case == "digits":
        cmd = [python, ANCHOR_SCRIPT]
    else:
        cmd = [python, os.path.join(HERE, "deep_cut_hls4ml_conv.py"), case, str(seed), cache_dir, ",".join(scheds)]
    log(f"hls4ml {case} seed {seed}: running {' '.join(cmd)} (≈60 s per scheduler unloaded)")
    with open(os.path.join(cache_dir, f"hls4ml_{case}_seed{seed}.log"), "w") as f:
        subprocess.run(cmd, env=env, stdout=f, stderr=subprocess.STDOUT, check=True)


def load_hls4ml(case: str, cache_dir: str, seed: int) -> list[dict]:
    path = hls4ml_json(cache_dir, seed) if case == "digits" else os.path.join(cache_dir, f"hls4ml_{case}_seed{seed}.json")
    if not os.path.exists(path):
        return []
    runs = []
    for r in json.load(open(path)).get("runs", []):
        if "error" in r or "dsp_after" not in r:
            continue
        before, after = r["dsp_before"]["total"], r["dsp_after"]["total"]
        runs.append({
            "tool": "hls4ml", "case": case, "scheduler": r["scheduler"], "seed": seed, "wall_s": r["wall_s"],
            "cut_pct": round(100 * (1 - after / before), 2), "dsp_before": r["dsp_before"], "dsp_after": r["dsp_after"],
            "baseline_val_acc": r["baseline_val_acc"], "optimized_val_acc": r["optimized_val_acc"],
            "baseline_test_acc": r["baseline_test_acc"], "optimized_test_acc": r["optimized_test_acc"],
        })
    return runs


# ------------------------------------------------------------------------------------------------


def table(rows: list[dict]) -> str:
    out = ["| case | scheduler | seed | tool | cut % | DSP | val acc | test acc | time s | per layer |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        out.append(
            f"| {r['case']} | {r['scheduler']} | {r['seed']} | {r['tool']} | {r['cut_pct']:.1f} | "
            f"{r['dsp_before']['total']}→{r['dsp_after']['total']} | "
            f"{r['baseline_val_acc']:.3f}→{r['optimized_val_acc']:.3f} | "
            f"{r['baseline_test_acc']:.3f}→{r['optimized_test_acc']:.3f} | {r['wall_s']:.1f} | "
            + " ".join(f"{k} {v}" for k, v in r["dsp_after"]["per_layer"].items()) + " |"
        )
    return "\n".join(out)


def summary(rows: list[dict]) -> str:
    """Per (case, scheduler): mean cut and time of each tool, and hls-opt's worst margin to hls4ml."""
    lines = ["| case | scheduler (max: vs hls4ml's binary) | hls-opt cut % (mean, min) | hls4ml cut % (mean) | worst Δ per seed | "
             "hls-opt val in rtol | time ratio |", "|---|---|---|---|---|---|---|"]
    keys = sorted({(r["case"], r["scheduler"]) for r in rows if r["tool"] == "hls-opt"})
    for case, sched in keys:
        ours = {r["seed"]: r for r in rows if r["tool"] == "hls-opt" and (r["case"], r["scheduler"]) == (case, sched)}
        ref_sched = "binary" if sched == "max" else sched  # the deepest-cut search against hls4ml's Binary
        ref = {r["seed"]: r for r in rows if r["tool"] == "hls4ml" and (r["case"], r["scheduler"]) == (case, ref_sched)}
        cuts = [r["cut_pct"] for r in ours.values()]
        both = sorted(set(ours) & set(ref))
        delta = min((ours[s]["cut_pct"] - ref[s]["cut_pct"] for s in both), default=None)
        ratio = (sum(ours[s]["wall_s"] for s in both) / sum(ref[s]["wall_s"] for s in both)) if both else None
        lines.append(
            f"| {case} | {sched} | {np.mean(cuts):.1f}, {min(cuts):.1f} | "
            + (f"{np.mean([ref[s]['cut_pct'] for s in both]):.1f}" if both else "–") + " | "
            + (f"{delta:+.1f}" if delta is not None else "–") + " | "
            + f"{sum(r['val_within_rtol'] for r in ours.values())}/{len(ours)} | "
            + (f"{ratio:.2f}" if ratio is not None else "–") + " |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--case", nargs="+", default=["digits"], choices=["digits", "big", "conv"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--scheds", default=",".join(SCHEDULERS), help="comma list of " + ", ".join(SCHEDULERS))
    p.add_argument("--target", choices=["max"], help="also run the deepest-cut search (scheduler 'max')")
    p.add_argument("--with-hls4ml", action="store_true", help="run hls4ml's side now (else: cached results)")
    p.add_argument("--hls4ml-dir", default=os.path.join(HERE, "results", "deep_cut_hls4ml"))
    p.add_argument("--fine-tune", choices=["full", "recover"])
    p.add_argument("--on-reject", choices=["restore", "continue"])
    p.add_argument("--keep-regulariser", type=int, choices=[0, 1])
    p.add_argument("--normalise", choices=["mean", "max", "none"])
    p.add_argument("--json", help="write every row here")
    p.add_argument("--render", nargs="+", metavar="JSON",
                   help="no run: print the tables of hls-opt rows saved by --json, with hls4ml's cached rows")
    args = p.parse_args(argv)
    if args.render:
        rows = [r for f in args.render for r in json.load(open(f))["rows"] if r["tool"] == "hls-opt"]
        for case, seed in sorted({(r["case"], r["seed"]) for r in rows}):
            scheds = {r["scheduler"] for r in rows if (r["case"], r["seed"]) == (case, seed)}
            scheds = {"binary"} | scheds if "max" in scheds else scheds
            rows += [r for r in load_hls4ml(case, args.hls4ml_dir, seed) if r["scheduler"] in scheds]
        rows.sort(key=lambda r: (r["case"], r["scheduler"], r["seed"], r["tool"]))
        print(table(rows) + "\n\n" + summary(rows))
        return 0

    import dataclasses

    from hls_opt.train.engine import LoopPolicy

    changes = {k: v for k, v in (("fine_tune", args.fine_tune), ("on_reject", args.on_reject),
                                 ("normalise", args.normalise)) if v is not None}
    if args.keep_regulariser is not None:
        changes["keep_regulariser"] = bool(args.keep_regulariser)
    policy = dataclasses.replace(LoopPolicy(), **changes)

    def log(msg: str) -> None:
        print("[deep-cut] " + msg, file=sys.stderr, flush=True)

    log(f"policy {policy}")
    os.makedirs(args.hls4ml_dir, exist_ok=True)
    scheds = [s for s in args.scheds.split(",") if s]
    hls4ml_scheds = [s for s in scheds if s in SCHEDULERS]
    rows: list[dict] = []
    for seed in args.seeds:
        for case in args.case:
            if args.with_hls4ml:
                run_hls4ml(case, args.hls4ml_dir, seed, hls4ml_scheds or ["binary"], log)
        data = digits_split(args.hls4ml_dir)
        for case in args.case:
            ours = scheds + (["max"] if args.target == "max" else [])
            rows += run_hlsopt(case, seed, ours, data, policy, log)
            # hls4ml's rows for the schedulers asked for (with --target max: its Binary, the reference)
            rows += [r for r in load_hls4ml(case, args.hls4ml_dir, seed) if r["scheduler"] in (hls4ml_scheds or ["binary"])]
    rows.sort(key=lambda r: (r["case"], r["scheduler"], r["seed"], r["tool"]))
    print(f"policy: {policy}\n")
    print(table(rows))
    print()
    print(summary(rows))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"policy": dataclasses.asdict(policy), "rows": rows}, f, indent=1, default=str)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
