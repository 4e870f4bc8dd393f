"""Benchmark: the seed's three objectives on scikit-learn's digits, hls-opt vs hls4ml 1.3 (quoted).

Task (the same as the hls4ml reference run): digits 64-64-32-10 logits, seed 0, 60/20/20 split,
PolynomialScheduler(5, final_sparsity=0.5), 5 epochs per step, batch 64, rtol 0.975, Adam,
CategoricalCrossentropy(from_logits=True), CategoricalAccuracy; the DSP case with an hls4ml
config at ac_fixed<16,6>, ReuseFactor 4, Strategy Resource.

hls4ml's optimizer needs Keras 2 / TensorFlow ≤ 2.14 and cannot run in this environment, so its
numbers are printed as a quoted reference (measured by the project lead on the same task),
labelled as such.

Usage: ``python benchmarks/optimize_digits.py [--seeds N] [--ranking l1|l2|saliency|oracle|hessian]``
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

# hls4ml 1.3 on the same task (quoted, not measured here): seconds per objective, of which 60–65 %
# is its keras-tuner search; it reaches the 50 % cap with test accuracy 0.964 → 0.975.
HLS4ML_REFERENCE = {"params": 45.0, "flops": 40.0, "dsp": 46.0}
HLS4ML_ACCURACY = (0.964, 0.975)


def load_digits_split(seed: int = 0) -> dict[str, np.ndarray]:
    from hls_opt.data import __file__ as data_init

    data = np.load(os.path.join(os.path.dirname(data_init), "digits.npz"))
    X = (data["X"] / 16).astype("float32")
    y = np.eye(10, dtype="float32")[data["y"]]
    order = np.random.default_rng(seed).permutation(len(X))
    X, y = X[order], y[order]
    n_train, n_val = int(0.6 * len(X)), int(0.2 * len(X))
    return {
        "X_train": X[:n_train],
        "y_train": y[:n_train],
        "X_val": X[n_train : n_train + n_val],
        "y_val": y[n_train : n_train + n_val],
        "X_test": X[n_train + n_val :],
        "y_test": y[n_train + n_val :],
    }


def baseline_model(split: dict[str, np.ndarray], seed: int = 0, epochs: int = 30):
    import keras

    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(32, activation="relu"),
            keras.layers.Dense(10),
        ]
    )
    model.compile(keras.optimizers.Adam(), keras.losses.CategoricalCrossentropy(from_logits=True))
    model.fit(split["X_train"], split["y_train"], epochs=epochs, batch_size=64, verbose=0)
    return model


def accuracy(model, X, y) -> float:
    return float(np.mean(np.argmax(model.predict(X, verbose=0), 1) == np.argmax(y, 1)))


def measured_resource(name: str, model) -> float:
    """The resource of a returned model, measured from its weights (not the optimizer's estimate)."""
    from hls_opt.structures import zero_reuse_groups

    kernels = [layer.kernel.numpy() for layer in model.layers if hasattr(layer, "kernel")]
    if name == "params":  # non-zero kernel weights
        return float(sum(int(np.count_nonzero(k)) for k in kernels))
    if name == "flops":  # GPUFLOPEstimator's Dense formula 2·n_in·n_out + n_out on the (reduced) model
        return float(sum(2 * k.size + k.shape[-1] for k in kernels))
    # dsp: unrolled multipliers BF − Z at RF 4 (REFERENCE §5)
    return float(sum(k.size // 4 - zero_reuse_groups(k, 4) for k in kernels))


def run(objective_name: str, model, split, ranking: str, tuner: str | None = None):
    import keras

    from hls_opt.attributes import get_attributes_from_keras_model
    from hls_opt.config import config_from_keras_model
    from hls_opt.keras.optimize import attributes_for, run_optimization
    from hls_opt.objectives import ParameterEstimator
    from hls_opt.objectives.gpu_objectives import GPUFLOPEstimator
    from hls_opt.objectives.vivado_objectives import VivadoDSPEstimator
    from hls_opt.scheduler import PolynomialScheduler

    if objective_name == "dsp":
        cfg = config_from_keras_model(
            model, granularity="name", default_precision="ac_fixed<16,6>", default_reuse_factor=4
        )
        cfg["IOType"] = "io_parallel"
        cfg["Model"]["Strategy"] = "Resource"
        attrs, objective, cutoff = attributes_for(model, cfg), VivadoDSPEstimator, 3
    else:
        attrs = get_attributes_from_keras_model(model)
        objective = ParameterEstimator if objective_name == "params" else GPUFLOPEstimator
        cutoff = 1
    start = time.perf_counter()
    out = run_optimization(
        model,
        attrs,
        objective,
        PolynomialScheduler(5, final_sparsity=0.5),
        split["X_train"],
        split["y_train"],
        split["X_val"],
        split["y_val"],
        64,
        5,
        keras.optimizers.Adam(),
        keras.losses.CategoricalCrossentropy(from_logits=True),
        keras.metrics.CategoricalAccuracy(),
        True,
        0.975,
        cutoff_bad_trials=cutoff,
        ranking_metric=ranking,
        tuner=tuner,
    )
    wall = time.perf_counter() - start
    return out, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--seeds",
        type=int,
        default=1,
        help="seeds 0..N-1 (each a new split and baseline); accuracies averaged, median wall time",
    )
    parser.add_argument("--ranking", default="l1")
    parser.add_argument(
        "--tuner",
        default="builtin",
        choices=["builtin", "Bayesian"],
        help="regularisation search: hls-opt's built-in one (default) or keras-tuner's Bayesian",
    )
    args = parser.parse_args()
    tuner = None if args.tuner == "builtin" else args.tuner

    runs: dict[str, list[tuple]] = {"params": [], "flops": [], "dsp": []}
    for seed in range(args.seeds):
        split = load_digits_split(seed)
        model = baseline_model(split, seed)
        base_test = accuracy(model, split["X_test"], split["y_test"])
        for name in runs:
            out, wall = run(name, model, split, args.ranking, tuner)
            before, after = measured_resource(name, model), measured_resource(name, out.model)
            t = out.timings
            runs[name].append(
                (
                    base_test,
                    accuracy(out.model, split["X_test"], split["y_test"]),
                    before,
                    after,
                    wall,
                    t["training"],
                    t["regularisation"],
                    t["solving"],
                )
            )

    header = (
        f"{'objective':9} {'test acc base→opt':>18} {'resource before→after':>23} {'cut':>6} "
        f"{'wall s':>7} {'train':>6} {'reg':>6} {'solve':>6} {'hls4ml s (quoted)':>18} {'speed-up':>8}"
    )
    print(
        f"digits 64-64-32-10, PolynomialScheduler(5, 0.5), 5 epochs/step, batch 64, rtol 0.975, "
        f"ranking {args.ranking}, search {args.tuner}, seeds {args.seeds} (accuracy/resources: mean; times: median)"
    )
    print(header)
    print("-" * len(header))
    for name, rows in runs.items():
        arr = np.array(rows, dtype=float)
        b, o, r0, r1 = arr[:, :4].mean(axis=0)
        wall, tr, rg, sv = np.median(arr[:, 4:], axis=0)
        ref = HLS4ML_REFERENCE[name]
        print(
            f"{name:9} {b:>8.3f} → {o:<7.3f} {r0:>10.0f} → {r1:<10.0f} {1 - r1 / r0:>6.1%} {wall:>7.1f} {tr:>6.1f} "
            f"{rg:>6.1f} {sv:>6.2f} {ref:>18.0f} {ref / wall:>7.1f}×"
        )
    print(
        f"hls4ml 1.3 reference (quoted, cannot run here: Keras 2 only): params 45 s, FLOPs 40 s, DSP 46 s, "
        f"60–65 % in keras-tuner; test accuracy {HLS4ML_ACCURACY[0]} → {HLS4ML_ACCURACY[1]} at the 50 % cap."
    )
    print(
        "train = fine-tuning + rewinding + polish epochs; reg = regularisation search (its training included); "
        "solve = ranking + knapsack. Resources measured on the returned model: params = non-zero weights, "
        "flops = 2·n_in·n_out + n_out of the reduced model, dsp = unrolled multipliers BF − Z at RF 4."
    )


if __name__ == "__main__":
    main()
