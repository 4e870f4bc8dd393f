"""Scale benchmark: hls-opt's whole optimization against plain ``model.fit``, per
sample count, objective and Keras backend, with the peak memory of each run.

Tasks:

* **jet** (the classic hls4ml jet tagger's shape): 16 features, 5 classes, samples from scikit-learn's
  ``make_classification`` (``n_informative=12``, one cluster per class, ``class_sep=1.0``, seeded),
  80 / 20 % training / validation, written as ``X_train.npy``, ``y_train.npy``, ``X_val.npy``,
  ``y_val.npy`` in a folder (chunk by chunk through ``np.lib.format.open_memmap``) and given to
  ``convert_and_optimize(data=FOLDER)``, hls-opt's memory-mapped folder form (``docs/data.md``);
  model 16-64-32-32-5 (ReLU, softmax).
* **conv**: synthetic 32×32×3 images (per class a smooth random template, plus noise), 5 classes, the
  same folder form; model Conv2D(8, 3×3) → MaxPool 2 → Conv2D(16, 3×3) → MaxPool 2 → Flatten → Dense(5).

Each baseline is trained briefly (5 epochs, the first 5000 training samples) in this process and
saved as ``.keras``.  Then each measured run is a fresh process (``KERAS_BACKEND`` set) that runs
``convert_and_optimize(model, None, data=FOLDER, objective=OBJ, scheduler='polynomial:2:0.5',
epochs=E, batch_size=B)`` (hls4ml's default config: ReuseFactor 1, Latency), reads its peak resident
set (``VmHWM`` of ``/proc/self/status``, as ``stream_memory.py``), then runs plain ``model.fit`` of a
fresh copy of the baseline (compiled as the user's: Adam, sparse categorical cross-entropy) for the
**same number of epochs** hls-opt trained (``report['epochs_trained']``: the regularisation search,
the steps, the rewinding, the polish), on the same data through the same input pipeline
(``hls_opt.train.data.fit_input`` of the folder: a ``PyDataset`` reading one batch at a time), so the
ratio is the loop's own overhead: validation passes, ranking and knapsack, tracing, ``fit`` calls.
Plain fit is timed twice where the compile differs: as Keras' default compile (one train step per
call) and as hls-opt compiles its working copy (``steps_per_execution()``: 32 under TensorFlow).
``report['seconds']`` gives the split (setup, regularisation, training, polish, solving, evaluation).

    python benchmarks/scale.py                                  # the default table (~10 min here)
    python benchmarks/scale.py --backends jax --samples 10000 --objectives dsp
    python benchmarks/scale.py --samples 10000 100000 1000000 --all-objectives-up-to 1000000
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

import numpy as np

FEATURES, CLASSES, CHUNK, IMAGE = 16, 5, 100_000, (32, 32, 3)


def peak_mib() -> float:
    """This process's peak resident set (VmHWM; not ru_maxrss, which Linux carries across exec)."""
    return next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:")) / 1024


def split_sizes(n: int) -> tuple[int, int]:
    """(training, validation) sample counts: 80 / 20 %."""
    return n - n // 5, n // 5


def _write_split(folder: Path, split: str, x_shape: tuple, chunks) -> None:
    X = np.lib.format.open_memmap(folder / f"X_{split}.npy", mode="w+", dtype=np.float32, shape=x_shape)
    y = np.lib.format.open_memmap(folder / f"y_{split}.npy", mode="w+", dtype=np.int64, shape=(x_shape[0],))
    start = 0
    for xc, yc in chunks:
        X[start : start + len(xc)], y[start : start + len(xc)] = xc, yc
        start += len(xc)
    assert start == x_shape[0], (start, x_shape)
    X.flush(), y.flush()
    del X, y


def write_jet(folder: Path, n: int, seed: int = 0) -> None:
    """``n`` samples of the jet-shaped task from one ``make_classification`` call (in this parent
    process, which is not measured: 10⁶ × 16 float64 is 128 MB), the first 80 % for training."""
    from sklearn.datasets import make_classification

    folder.mkdir(parents=True, exist_ok=True)
    X, y = make_classification(
        n_samples=n, n_features=FEATURES, n_informative=12, n_redundant=2, n_classes=CLASSES,
        n_clusters_per_class=1, class_sep=1.0, flip_y=0.02, random_state=seed,
    )  # fmt: skip
    n_train, n_val = split_sizes(n)

    def chunks(lo: int, hi: int):
        for start in range(lo, hi, CHUNK):
            stop = min(start + CHUNK, hi)
            yield X[start:stop].astype(np.float32), y[start:stop]

    _write_split(folder, "train", (n_train, FEATURES), chunks(0, n_train))
    _write_split(folder, "val", (n_val, FEATURES), chunks(n_train, n))


def write_conv(folder: Path, n: int, seed: int = 0) -> None:
    """``n`` 32×32×3 images: class template (smooth: 4×4 random blocks upsampled ×8) plus noise."""
    folder.mkdir(parents=True, exist_ok=True)
    templates = np.random.default_rng(seed).normal(size=(CLASSES, 4, 4, 3)).repeat(8, axis=1).repeat(8, axis=2)
    n_train, n_val = split_sizes(n)

    def chunks(count: int, offset: int):
        rng = np.random.default_rng((seed, offset))
        for start in range(0, count, 2000):
            m = min(2000, count - start)
            y = rng.integers(0, CLASSES, size=m)
            yield (0.15 * templates[y] + rng.normal(size=(m, *IMAGE))).astype(np.float32), y

    _write_split(folder, "train", (n_train, *IMAGE), chunks(n_train, 0))
    _write_split(folder, "val", (n_val, *IMAGE), chunks(n_val, 1))


def build_model(task: str):
    import keras

    if task == "jet":
        layers = [keras.Input((FEATURES,))]
        layers += [keras.layers.Dense(u, activation="relu", name=f"fc{i + 1}") for i, u in enumerate((64, 32, 32))]
    else:
        layers = [
            keras.Input(IMAGE),
            keras.layers.Conv2D(8, 3, activation="relu", name="conv1"),
            keras.layers.MaxPooling2D(2),
            keras.layers.Conv2D(16, 3, activation="relu", name="conv2"),
            keras.layers.MaxPooling2D(2),
            keras.layers.Flatten(),
        ]
    layers.append(keras.layers.Dense(CLASSES, activation="softmax", name="out"))
    return keras.Sequential(layers, name=f"{task}_model")


def write_model(task: str, folder: Path, path: Path) -> None:
    import keras

    keras.utils.set_random_seed(0)
    X = np.load(folder / "X_train.npy", mmap_mode="r")[:5000]
    y = np.load(folder / "y_train.npy", mmap_mode="r")[:5000]
    model = build_model(task)
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(np.asarray(X), np.asarray(y), epochs=5, batch_size=128, verbose=0)
    model.save(path)


def child(model: str, data: str, objective: str, epochs: int, batch_size: int) -> None:
    """The measured process: hls-opt's optimization, its peak RSS, then plain fit for as many epochs."""
    import keras

    from hls_opt import convert_and_optimize
    from hls_opt.data import load_data
    from hls_opt.train.backends import native
    from hls_opt.train.data import fit_input

    start = time.perf_counter()
    result = convert_and_optimize(
        model, None, data=data, objective=objective, scheduler="polynomial:2:0.5", epochs=epochs,
        batch_size=batch_size,
    )  # fmt: skip
    wall = time.perf_counter() - start
    peak = peak_mib()
    report = result.report
    n_epochs = int(report.get("epochs_trained", 0))
    plain = keras.models.load_model(model)
    plain.compile("adam", "sparse_categorical_crossentropy")
    streams = load_data(data)
    start = time.perf_counter()
    plain.fit(fit_input(streams.train, batch_size), epochs=n_epochs, verbose=0, shuffle=False)
    fit_s = time.perf_counter() - start
    # the same, compiled as hls-opt compiles its working copy (TensorFlow: 32 steps per call)
    steps = native().steps_per_execution()
    same_s = fit_s
    if steps != 1:
        plain = keras.models.load_model(model)
        plain.compile("adam", "sparse_categorical_crossentropy", steps_per_execution=steps)
        start = time.perf_counter()
        plain.fit(fit_input(streams.train, batch_size), epochs=n_epochs, verbose=0, shuffle=False)
        same_s = time.perf_counter() - start
    total = report.get("total", {})
    out = {
        "wall_s": wall,
        "fit_s": fit_s,
        "fit_same_compile_s": same_s,
        "epochs": n_epochs,
        "peak_mib": peak,
        "seconds": report.get("seconds", {}),
        "metric": [report.get("baseline_metric"), report.get("final_metric")],
        "resource": [total.get("before", {}).get(objective), total.get("after", {}).get(objective)],
        "steps": len(report.get("steps", [])),
        "backend": keras.backend.backend(),
        "tensorflow_imported": "tensorflow" in sys.modules,
    }
    print(json.dumps(out))


def run_child(backend: str, model: Path, folder: Path, objective: str, epochs: int, batch_size: int) -> dict:
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="2")
    cmd = [sys.executable, __file__, "--child", str(model), str(folder), objective, str(epochs), str(batch_size)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    last = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    if proc.returncode or not last.startswith("{"):
        sys.exit(f"{backend} {folder.name} {objective}: the run failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(last)


def table(rows: list[dict]) -> str:
    head = (
        "| backend | task | samples | objective | resource before → after | metric base → final | "
        "hls-opt s | epochs | plain fit s | overhead | plain fit, hls-opt's compile s | overhead | peak RSS MiB | setup | regularisation | training | polish | solving | evaluation |\n"
        "|---|---|---:|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    )
    lines = [head]
    for r in rows:
        s = r["seconds"]
        res, met = r["resource"], r["metric"]
        same = r.get("fit_same_compile_s", r["fit_s"])
        lines.append(
            f"| {r['backend']} | {r['task']} | {r['samples']:,} | {r['objective']} | {res[0]:.0f} → {res[1]:.0f} | "
            f"{met[0]:.3f} → {met[1]:.3f} | {r['wall_s']:.1f} | {r['epochs']} | {r['fit_s']:.1f} | "
            f"{r['wall_s'] / r['fit_s']:.2f}× | {same:.1f} | {r['wall_s'] / same:.2f}× | {r['peak_mib']:.0f} | "
            + " | ".join(f"{s.get(k, 0.0):.1f}" for k in ("setup", "regularisation", "training", "polish", "solving", "evaluation"))
            + " |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", default=["tensorflow", "jax"])
    parser.add_argument("--samples", type=int, nargs="+", default=[10_000, 100_000, 1_000_000], help="jet task sizes")
    parser.add_argument("--conv-samples", type=int, nargs="*", default=[4_000], help="conv task sizes")
    parser.add_argument("--objectives", nargs="+", default=["dsp", "params"])
    parser.add_argument(
        "--all-objectives-up-to", type=int, default=100_000,
        help="larger jet sizes run the first objective only (default 100000: 10^6 runs dsp only)",
    )  # fmt: skip
    parser.add_argument("--epochs", type=int, default=2, help="convert_and_optimize(epochs=): 1 masked epoch + 1 rewinding per step")
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        m, d, o, e, b = args.child
        child(m, d, o, int(e), int(b))
        return
    rows = []
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="hls_opt_scale_") as tmp:
        root = Path(tmp)
        plan = [("jet", n) for n in args.samples] + [("conv", n) for n in args.conv_samples]
        for task, n in plan:
            folder = root / f"{task}_{n}"
            (write_jet if task == "jet" else write_conv)(folder, n)
            model = root / f"{task}_{n}.keras"
            write_model(task, folder, model)
            objectives = args.objectives if (task == "conv" or n <= args.all_objectives_up_to) else args.objectives[:1]
            for backend in args.backends:
                for objective in objectives:
                    r = run_child(backend, model, folder, objective, args.epochs, args.batch_size)
                    r.update(task=task, samples=n, objective=objective)
                    rows.append(r)
                    print(
                        f"# {backend} {task} N={n} {objective}: hls-opt {r['wall_s']:.1f} s, plain fit "
                        f"{r['fit_s']:.1f} s for {r['epochs']} epochs ({r['wall_s'] / r['fit_s']:.2f}×), peak "
                        f"{r['peak_mib']:.0f} MiB; {json.dumps({k: round(v, 1) for k, v in r['seconds'].items()})}",
                        flush=True,
                    )
            for f in folder.iterdir():
                f.unlink()
    print()
    print(
        f"scheduler polynomial:2:0.5, epochs {args.epochs}, batch {args.batch_size}; {os.cpu_count()} CPUs; "
        f"whole run {time.perf_counter() - began:.0f} s"
    )
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
