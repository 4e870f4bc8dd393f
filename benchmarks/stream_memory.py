"""Peak memory of an optimization on memory-mapped data, against the sample count.

For each sample count N (default 10⁴, 10⁵, 10⁶) this writes a 16-feature, 5-class task as a folder of
``X_train.npy``, ``y_train.npy``, ``X_val.npy``, ``y_val.npy`` (80 / 20 %, written in chunks through
``np.lib.format.open_memmap``, so the writer never holds the data either), and runs
``hls-opt optimize MODEL --data FOLDER`` on a 16-64-32-32-5 model in a fresh process, which prints its
peak resident set (``VmHWM`` of ``/proc/self/status``; ``ru_maxrss`` would include the parent's peak,
which Linux carries across ``exec``) and the sample count.
The model is trained once, briefly, on 5000 samples of the same task, so every run starts alike.

    python benchmarks/stream_memory.py                       # 1e4 1e5 1e6
    python benchmarks/stream_memory.py --samples 10000 100000 --epochs 2

A flat peak is the goal: batches are streamed and each read maps, copies and unmaps (``NpyFile``),
and nothing stays mapped; the training epoch's plan is one entry per batch, sharing one small tuple per window of 64 chunks.
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

FEATURES, CLASSES, CHUNK = 16, 5, 100_000


def teacher(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(FEATURES, CLASSES))


def write_task(folder: Path, n: int, seed: int = 1) -> None:
    """``n`` samples (80 % training, 20 % validation) written chunk by chunk."""
    folder.mkdir(parents=True, exist_ok=True)
    w, rng = teacher(), np.random.default_rng(seed)
    n_val = n // 5
    for split, count in (("train", n - n_val), ("val", n_val)):
        X = np.lib.format.open_memmap(folder / f"X_{split}.npy", mode="w+", dtype=np.float32, shape=(count, FEATURES))
        y = np.lib.format.open_memmap(folder / f"y_{split}.npy", mode="w+", dtype=np.int64, shape=(count,))
        for start in range(0, count, CHUNK):
            stop = min(start + CHUNK, count)
            x = rng.normal(size=(stop - start, FEATURES)).astype(np.float32)
            X[start:stop] = x
            y[start:stop] = np.argmax(x @ w + 0.3 * rng.normal(size=(stop - start, CLASSES)), axis=1)
        X.flush()
        y.flush()
        del X, y


def write_model(path: Path) -> None:
    import keras

    keras.utils.set_random_seed(0)
    rng, w = np.random.default_rng(2), teacher()
    x = rng.normal(size=(5000, FEATURES)).astype(np.float32)
    y = np.argmax(x @ w, axis=1)
    model = keras.Sequential(
        [
            keras.Input((FEATURES,)),
            keras.layers.Dense(64, activation="relu", name="fc1"),
            keras.layers.Dense(32, activation="relu", name="fc2"),
            keras.layers.Dense(32, activation="relu", name="fc3"),
            keras.layers.Dense(CLASSES, activation="softmax", name="out"),
        ]
    )
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=10, batch_size=128, verbose=0)
    model.save(path)


def child(model: str, data: str, out: str, epochs: str, batch_size: str) -> None:
    """Runs in the measured process: the CLI's optimize, then one JSON line with the peak RSS."""
    from hls_opt.cli import main

    start = time.perf_counter()
    code = main(
        [
            "-q", "optimize", model, "--data", data, "-o", out, "--no-plots",
            "--scheduler", "polynomial:2:0.5", "--epochs", epochs, "--batch-size", batch_size,
            "--optimize", "params",
        ]
    )  # fmt: skip
    # VmHWM: this process's peak resident set.  Not ru_maxrss: Linux carries the forking parent's peak
    # across exec into it (the parent here has imported Keras to write the model).
    peak_kib = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
    print(json.dumps({"exit": code, "peak_mib": peak_kib / 1024, "seconds": time.perf_counter() - start}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--epochs", default="2")
    parser.add_argument("--batch-size", default="1024")
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    with tempfile.TemporaryDirectory(prefix="hls_opt_stream_memory_") as tmp:
        root = Path(tmp)
        write_model(root / "model.keras")
        rows = []
        for n in args.samples:
            folder = root / f"data_{n}"
            write_task(folder, n)
            size_mib = sum(f.stat().st_size for f in folder.iterdir()) / 2**20
            env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
            proc = subprocess.run(
                [sys.executable, __file__, "--child", str(root / "model.keras"), str(folder), str(root / f"out_{n}"),
                 args.epochs, args.batch_size],
                capture_output=True, text=True, env=env, check=False,
            )  # fmt: skip
            last = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
            if proc.returncode or not last.startswith("{"):
                sys.exit(f"N={n}: the run failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
            result = json.loads(last)
            rows.append({"samples": n, "data_mib": size_mib, **result})
            print(f"N={n:>9}: data {size_mib:8.1f} MiB on disk, peak RSS {result['peak_mib']:7.1f} MiB, "
                  f"{result['seconds']:6.1f} s (exit {result['exit']})", flush=True)  # fmt: skip
            for f in folder.iterdir():
                f.unlink()
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
