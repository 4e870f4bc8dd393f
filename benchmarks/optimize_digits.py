"""Benchmark: the seed's three objectives on the bundled digits, hls-opt (and, opt-in, hls4ml 1.3 in the same run).

Task: digits 64-64-32-10 logits (``hls_opt.data.train_baseline``: Adam, 30 epochs, batch 64), the
project's split ``hls_opt.data.digits_split(seed)`` (60/20/20) with one-hot labels,
PolynomialScheduler(5, final_sparsity=0.5), 5 epochs per step, batch 64, rtol 0.975, Adam,
CategoricalCrossentropy(from_logits=True), CategoricalAccuracy, through the drop-in entry points
``optimize_model`` (params, FLOPs) and ``optimize_keras_model_for_hls4ml`` (DSP: hls4ml config at
``ac_fixed<16,6>``, ReuseFactor 4, Strategy Resource), with their defaults otherwise.

``--with-hls4ml`` also runs hls4ml 1.3's own optimizer on the same split and settings, in its
Keras-2 environment (``$ANCHOR_VENV``, default ``/tmp/anchor/venv``, built by
``../shared/bench/make_anchor_venv.sh``; the FLOPs run needs hls4ml's keras-surgeon fork in it),
through ``../shared/bench/anchor_hls4ml.py`` (``$ANCHOR_SCRIPT``) and ``benchmarks/hls4ml_side.py``.
hls4ml trains its own baseline (TensorFlow 2.14) with the same recipe and seed.  Both tools' returned
models are measured by the same code here.

Usage::

    python benchmarks/optimize_digits.py [--seeds N] [--ranking l1|l2|saliency|oracle|hessian]
        [--tuner builtin|Bayesian] [--polish-factor K] [--with-hls4ml]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
DEFAULT_ANCHOR_VENV = "/tmp/anchor/venv"
DEFAULT_ANCHOR_SCRIPT = HERE.parent.parent / "shared" / "bench" / "anchor_hls4ml.py"
OBJECTIVES = ("params", "flops", "dsp")
# anchor_hls4ml.py's run names and ANCHOR_ONLY letters for our objectives
HLS4ML_RUNS = {"params": ("a", "a_params"), "flops": ("b", "b_gpu_flops"), "dsp": ("c", "c_vivado_dsp")}
RF = 4


def accuracy(model, X, y) -> float:
    return float(np.mean(np.argmax(model.predict(X, verbose=0), 1) == np.argmax(y, 1)))


def kernels_of(model) -> list[np.ndarray]:
    return [layer.get_weights()[0] for layer in model.layers if layer.get_weights()]


def measured_resource(name: str, kernels: list[np.ndarray]) -> float:
    """The resource of a returned model, measured from its kernels (not an optimizer's estimate)."""
    from hls_opt.core.structures import zero_reuse_groups

    if name == "params":  # non-zero kernel weights
        return float(sum(int(np.count_nonzero(k)) for k in kernels))
    if name == "flops":  # GPUFLOPEstimator's Dense formula 2·n_in·n_out + n_out on the (reduced) model
        return float(sum(2 * k.size + k.shape[-1] for k in kernels))
    # dsp: multipliers of hls4ml's unrolled kernel at RF 4: reuse groups with a non-zero weight
    return float(sum(k.size // RF - zero_reuse_groups(k, RF) for k in kernels))


def run_hls_opt(objective_name: str, model, split: dict, ranking: str, tuner: str | None):
    """One drop-in call; returns (optimized model, wall seconds)."""
    import keras

    from hls_opt import optimize_keras_model_for_hls4ml
    from hls_opt.attributes import get_attributes_from_keras_model
    from hls_opt.config import config_from_keras_model
    from hls_opt.keras import optimize_model
    from hls_opt.objectives import ParameterEstimator
    from hls_opt.objectives.gpu_objectives import GPUFLOPEstimator
    from hls_opt.objectives.vivado_objectives import VivadoDSPEstimator
    from hls_opt.train.schedulers import PolynomialScheduler

    common = dict(
        scheduler=PolynomialScheduler(5, final_sparsity=0.5),
        X_train=split["X_train"],
        y_train=split["y_train"],
        X_val=split["X_val"],
        y_val=split["y_val"],
        batch_size=64,
        epochs=5,
        optimizer=keras.optimizers.Adam(),
        loss_fn=keras.losses.CategoricalCrossentropy(from_logits=True),
        validation_metric=keras.metrics.CategoricalAccuracy(),
        increasing=True,
        rtol=0.975,
        ranking_metric=ranking,
        tuner=tuner,
    )
    with tempfile.TemporaryDirectory() as workdir:
        start = time.perf_counter()
        if objective_name == "dsp":
            cfg = config_from_keras_model(
                model, granularity="name", default_precision="ac_fixed<16,6>", default_reuse_factor=RF
            )
            cfg["IOType"] = "io_parallel"
            cfg["Model"]["Strategy"] = "Resource"
            out = optimize_keras_model_for_hls4ml(model, cfg, VivadoDSPEstimator, directory=workdir, **common)
        else:
            objective = ParameterEstimator if objective_name == "params" else GPUFLOPEstimator
            attrs = get_attributes_from_keras_model(model)
            out = optimize_model(model, attrs, objective, directory=workdir, **common)
        return out, time.perf_counter() - start


def anchor_paths() -> tuple[Path, Path]:
    venv = Path(os.environ.get("ANCHOR_VENV", DEFAULT_ANCHOR_VENV))
    script = Path(os.environ.get("ANCHOR_SCRIPT", DEFAULT_ANCHOR_SCRIPT))
    python = venv / "bin" / "python"
    if not python.exists() or not script.exists():
        missing = python if not python.exists() else script
        print(
            f"optimize_digits.py: --with-hls4ml: {missing} not found.\n"
            "  hls4ml's optimizer needs its own Keras-2 environment; build it with\n"
            f"    ../shared/bench/make_anchor_venv.sh {venv}\n"
            "  (set KS_GITDIR to a git directory of github.com/fastmachinelearning/keras-surgeon for the\n"
            "  FLOPs run), or point $ANCHOR_VENV at an existing one and $ANCHOR_SCRIPT at\n"
            "  ../shared/bench/anchor_hls4ml.py.",
            file=sys.stderr,
        )
        sys.exit(2)
    return python, script


def run_hls4ml(python: Path, script: Path, split: dict, seed: int, objectives) -> dict:
    """hls4ml's runs for one seed: {objective: (base acc, opt acc, kernels before, after, wall) or error}."""
    only = ",".join(HLS4ML_RUNS[o][0] for o in objectives)
    with tempfile.TemporaryDirectory() as tmp:
        split_path, kernels_path = Path(tmp) / "split.npz", Path(tmp) / "kernels.npz"
        np.savez(split_path, **split)
        env = dict(os.environ, ANCHOR_ONLY=only, PYTHONHASHSEED="0", TF_CPP_MIN_LOG_LEVEL="3")
        proc = subprocess.run(
            [
                str(python),
                str(HERE / "hls4ml_side.py"),
                str(script),
                str(split_path),
                str(seed),
                str(kernels_path),
            ],
            env=env,
            capture_output=True,
            text=True,
        )
        lines = proc.stdout.strip().splitlines()
        if proc.returncode != 0 or not lines or not lines[-1].startswith("{"):
            tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise RuntimeError(f"hls4ml run failed (exit {proc.returncode}): {tail}")
        results = json.loads(lines[-1])
        with np.load(kernels_path) as npz:
            saved = {k: npz[k] for k in npz.files}
    out = {}
    for name in objectives:
        tag = HLS4ML_RUNS[name][1]
        run = next((r for r in results["runs"] if r["run"] == tag), None)
        if run is None or "error" in run:
            last = run["error"].strip().splitlines()[-1] if run else "not run"
            out[name] = {"error": last}
            continue
        after = [saved[f"{tag}/{i}"] for i in range(sum(k.startswith(tag + "/") for k in saved))]
        out[name] = {
            "base": run["baseline_test_acc"],
            "opt": run["optimized_test_acc"],
            "kernels_after": after,
            "wall": run["wall_s"],
            "tuner": next(iter(run["time_split_s"].values())),
        }
    out["versions"] = {k: results["versions"].get(k) for k in ("hls4ml", "tensorflow", "keras-tuner")}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--seeds",
        type=int,
        default=1,
        help="seeds 0..N-1 (each a new split and baseline); accuracies/resources averaged, median wall time",
    )
    parser.add_argument("--ranking", default="l1")
    parser.add_argument(
        "--tuner",
        default="builtin",
        choices=["builtin", "Bayesian"],
        help="hls-opt's regularisation search: its built-in one (default) or keras-tuner's Bayesian",
    )
    parser.add_argument(
        "--polish-factor",
        type=int,
        default=None,
        help="set hls_opt.train.engine.POLISH_EPOCHS_FACTOR (epochs × K of polish of the returned model)",
    )
    parser.add_argument(
        "--with-hls4ml",
        action="store_true",
        help="also run hls4ml 1.3's optimizer on the same split and settings ($ANCHOR_VENV)",
    )
    parser.add_argument("--objectives", default=",".join(OBJECTIVES), help="comma list of params,flops,dsp")
    args = parser.parse_args()
    objectives = [o for o in args.objectives.split(",") if o]
    if not objectives or any(o not in OBJECTIVES for o in objectives):
        parser.error(f"--objectives: choose from {', '.join(OBJECTIVES)}")
    tuner = None if args.tuner == "builtin" else args.tuner
    anchor = anchor_paths() if args.with_hls4ml else None

    if args.polish_factor is not None:
        from hls_opt.train import engine as optimize_module

        if not hasattr(optimize_module, "POLISH_EPOCHS_FACTOR"):
            parser.error("--polish-factor: hls_opt.train.engine has no POLISH_EPOCHS_FACTOR any more")
        optimize_module.POLISH_EPOCHS_FACTOR = args.polish_factor

    from hls_opt.data import digits_split, train_baseline

    rows: dict[tuple[str, str], list] = {}
    errors: dict[tuple[str, str], str] = {}
    versions = None
    for seed in range(args.seeds):
        digits = digits_split(seed).one_hot()
        split = digits.as_dict()
        model = train_baseline(digits, seed=seed)
        base_test = accuracy(model, split["X_test"], split["y_test"])
        before = kernels_of(model)
        for name in objectives:
            out, wall = run_hls_opt(name, model, split, args.ranking, tuner)
            r0, r1 = measured_resource(name, before), measured_resource(name, kernels_of(out))
            opt = accuracy(out, split["X_test"], split["y_test"])
            rows.setdefault(("hls-opt", name), []).append((base_test, opt, r0, r1, wall))
            print(
                f"# seed {seed} hls-opt {name}: {wall:.1f} s, {r0:.0f} → {r1:.0f}, {base_test:.3f} → {opt:.3f}"
            )
        if anchor is not None:
            ref = run_hls4ml(*anchor, split, seed, objectives)
            versions = ref.pop("versions")
            for name in objectives:
                r = ref[name]
                if "error" in r:
                    errors[("hls4ml", name)] = r["error"]
                    print(f"# seed {seed} hls4ml {name}: failed: {r['error']}")
                    continue
                r0, r1 = measured_resource(name, before), measured_resource(name, r["kernels_after"])
                rows.setdefault(("hls4ml", name), []).append((r["base"], r["opt"], r0, r1, r["wall"]))
                print(
                    f"# seed {seed} hls4ml {name}: {r['wall']:.1f} s (keras-tuner {r['tuner']:.1f} s), "
                    f"{r0:.0f} → {r1:.0f}, {r['base']:.3f} → {r['opt']:.3f}"
                )
        sys.stdout.flush()

    print()
    print(
        f"digits 64-64-32-10, digits_split(seed), PolynomialScheduler(5, 0.5), 5 epochs/step, batch 64, "
        f"rtol 0.975; hls-opt: ranking {args.ranking}, search {args.tuner}"
        + (f", polish ×{args.polish_factor}" if args.polish_factor is not None else "")
        + (
            f"; hls4ml {versions['hls4ml']} (TensorFlow {versions['tensorflow']}, keras-tuner "
            f"{versions['keras-tuner']}): its defaults, tuner Bayesian, knapsack dynamic"
            if versions
            else ""
        )
        + f"; seeds {args.seeds} (accuracy, resources: mean; wall time: median)"
    )
    print()
    print("| objective | tool | test acc base → opt | resource before → after | cut | wall s |")
    print("|---|---|---|---|---|---|")
    walls: dict[tuple[str, str], float] = {}
    for name in objectives:
        for tool in ("hls4ml", "hls-opt"):
            key = (tool, name)
            if key in errors and key not in rows:
                print(f"| {name} | {tool} | failed: {errors[key]} | | | |")
                continue
            if key not in rows:
                continue
            arr = np.array(rows[key], dtype=float)
            b, o, r0, r1 = arr[:, :4].mean(axis=0)
            walls[key] = wall = float(np.median(arr[:, 4]))
            n = f" ({len(arr)} of {args.seeds} seeds)" if len(arr) != args.seeds else ""
            print(
                f"| {name} | {tool}{n} | {b:.3f} → {o:.3f} | {r0:.0f} → {r1:.0f} | {1 - r1 / r0:.1%} | {wall:.1f} |"
            )
    ratios = [
        f"{name} {walls[('hls4ml', name)] / walls[('hls-opt', name)]:.0f}×"
        for name in objectives
        if ("hls4ml", name) in walls and ("hls-opt", name) in walls
    ]
    if ratios:
        print()
        print("hls4ml wall time / hls-opt wall time (medians, measured above): " + ", ".join(ratios))
    print()
    print(
        "Resources measured on the returned models by this script: params = non-zero kernel weights; "
        "flops = 2·n_in·n_out + n_out of the (reduced) model; dsp = reuse groups with a non-zero weight at RF 4 "
        "(multipliers of hls4ml's unrolled kernel). Each tool trains its own baseline (same recipe and seed)."
    )


if __name__ == "__main__":
    main()
