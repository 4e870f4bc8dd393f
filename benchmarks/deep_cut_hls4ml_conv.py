"""hls4ml 1.3's side of benchmarks/deep_cut.py for the conv and big-MLP cases (run in hls4ml's Keras-2 venv).

Reuses ``../shared/bench/deep-cut/anchor_hls4ml.py`` (imported as a module: its data split, workarounds,
``run_case``) with two changes for these cases: the hls4ml config's IOType (io_stream for the
conv model) and the DSP count, which here covers Conv2D kernels too (same rule as deep_cut.py:
non-zero reuse groups of the kernel in hls4ml's transposed order, rows of RF).

Usage: ``$ANCHOR_VENV/bin/python benchmarks/deep_cut_hls4ml_conv.py CASE SEED OUT_DIR [SCHEDS]``
(CASE conv | big, SCHEDS a comma list of binary, poly8_0.9, poly5_0.75).  Writes
``OUT_DIR/hls4ml_CASE_seedSEED.json``.
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
CASE, SEED, OUT = sys.argv[1], int(sys.argv[2]), sys.argv[3]
SCHEDS = (sys.argv[4] if len(sys.argv) > 4 else "binary").split(",")
os.environ["DEEP_SEED"] = str(SEED)
ANCHOR = os.environ.get("ANCHOR_SCRIPT", "/work/shared/bench/deep-cut/anchor_hls4ml.py")
sys.path.insert(0, os.path.dirname(ANCHOR))

import importlib.util  # noqa: E402

import numpy as np  # noqa: E402

spec = importlib.util.spec_from_file_location("anchor", ANCHOR)
anchor = importlib.util.module_from_spec(spec)
spec.loader.exec_module(anchor)
tf = anchor.tf


def dsp_count(m, rf=4):
    per = {}
    for lyr in m.layers:
        if isinstance(lyr, (tf.keras.layers.Dense, tf.keras.layers.Conv2D)):
            k = lyr.get_weights()[0]
            flat = np.moveaxis(k, -1, 0).reshape(-1)
            per[lyr.name] = int(np.count_nonzero(np.any(flat.reshape(-1, rf) != 0, axis=1)))
    return {"total": int(sum(per.values())), "per_layer": per}


_make_cfg = anchor.make_hls_config


def make_hls_config(model, fix_auto=True):
    cfg = _make_cfg(model, fix_auto)
    cfg["IOType"] = "io_stream" if CASE == "conv" else "io_parallel"
    return cfg


anchor.dsp_count = dsp_count
anchor.make_hls_config = make_hls_config


def build(case):
    if case == "conv":
        return tf.keras.Sequential(
            [
                tf.keras.Input((8, 8, 1), name="x"),
                tf.keras.layers.Conv2D(8, 3, activation="relu", name="conv1"),
                tf.keras.layers.Conv2D(16, 3, activation="relu", name="conv2"),
                tf.keras.layers.Flatten(name="flat"),
                tf.keras.layers.Dense(10, name="logits"),
            ]
        )
    return anchor.build_mlp((256, 128))


def main():
    X_tr, y_tr, X_val, y_val, X_te, y_te = anchor.load_data()
    if CASE == "conv":
        X_tr, X_val, X_te = (x.reshape(-1, 8, 8, 1) for x in (X_tr, X_val, X_te))
    data = (X_tr, y_tr, X_val, y_val, X_te, y_te)
    anchor.seed_all()
    base = build(CASE)
    base.compile(tf.keras.optimizers.Adam(), tf.keras.losses.CategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    base.fit(X_tr, y_tr, validation_data=(X_val, y_val), epochs=anchor.EPOCHS_BASE, batch_size=anchor.BATCH, verbose=0)
    scheds = {
        "binary": lambda: anchor.BinaryScheduler(final_sparsity=0.95),
        "poly8_0.9": lambda: anchor.PolynomialScheduler(8, final_sparsity=0.9),
        "poly5_0.75": lambda: anchor.PolynomialScheduler(5, final_sparsity=0.75),
    }
    runs = []
    for name in SCHEDS:
        r = anchor.run_case(f"{CASE}_{name}", base, data, anchor.VivadoDSPEstimator, True, (CASE,), scheduler=scheds[name]())
        r.update(scheduler=name, seed=SEED, case=CASE)
        runs.append(r)
        print("[deep-result] " + json.dumps({k: r.get(k) for k in ("scheduler", "wall_s", "dsp_before", "dsp_after", "optimized_val_acc", "error")}, default=str), flush=True)
    with open(os.path.join(OUT, f"hls4ml_{CASE}_seed{SEED}.json"), "w") as f:
        json.dump({"runs": runs}, f, indent=1, default=str)


if __name__ == "__main__":
    main()
