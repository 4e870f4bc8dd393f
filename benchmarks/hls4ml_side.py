"""hls4ml 1.3's own optimizer on hls-opt's digits split: the hls4ml half of ``optimize_digits.py --with-hls4ml``.

Run by ``optimize_digits.py`` with the Python of hls4ml's Keras-2 environment (built by
``../shared/bench/make_anchor_venv.sh``), not by hand and not with hls-opt's Python::

    $ANCHOR_VENV/bin/python benchmarks/hls4ml_side.py ANCHOR_SCRIPT SPLIT.npz SEED KERNELS_OUT.npz

``ANCHOR_SCRIPT`` is ``../shared/bench/anchor_hls4ml.py``, which runs hls4ml's
``optimize_model`` / ``optimize_keras_model_for_hls4ml`` (``hls4ml/optimization/dsp_aware_pruning/keras/__init__.py``,
``hls4ml/optimization/dsp_aware_pruning/__init__.py``) on the digits 64-64-32-10 task; ``ANCHOR_ONLY``
(environment) picks its runs.  This script only replaces three of its module-level names before
calling its ``main()``: ``load_data`` returns hls-opt's split from ``SPLIT.npz`` (so both tools see
the same samples), ``SEED`` is ``SEED`` (the anchor seeds its baseline training with it) and
``HERE`` is a temporary directory (the anchor writes a copy of its JSON beside itself).  It also
saves the kernels of every model hls4ml returns to ``KERNELS_OUT.npz`` (keys ``RUN/INDEX``), so
that both tools' results are measured by the same code.  The anchor's last stdout line is its JSON.
Nothing here imports hls-opt (not installed in that environment).
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
import tempfile

import numpy as np


def main() -> None:
    script, split_path, seed, kernels_out = sys.argv[1:5]
    spec = importlib.util.spec_from_file_location("anchor_hls4ml", script)
    anchor = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(anchor)

    with np.load(split_path) as d:
        data = tuple(d[k] for k in ("X_train", "y_train", "X_val", "y_val", "X_test", "y_test"))
    anchor.load_data = lambda: data
    anchor.SEED = int(seed)
    anchor.HERE = tempfile.mkdtemp(prefix="hls4ml_side_")

    kernels: dict[str, np.ndarray] = {}
    current = {"run": None}
    run_case = anchor.run_case

    def tagged_run_case(tag, *args, **kwargs):
        current["run"] = tag
        return run_case(tag, *args, **kwargs)

    def keeping(optimize):
        def wrapper(*args, **kwargs):
            model = optimize(*args, **kwargs)
            weighted = [layer.get_weights()[0] for layer in model.layers if layer.get_weights()]
            for i, kernel in enumerate(weighted):
                kernels[f"{current['run']}/{i}"] = kernel
            return model

        return wrapper

    anchor.run_case = tagged_run_case
    anchor.optimize_model = keeping(anchor.optimize_model)
    anchor.optimize_keras_model_for_hls4ml = keeping(anchor.optimize_keras_model_for_hls4ml)
    try:
        anchor.main()
    finally:
        np.savez(kernels_out, **kernels)
        shutil.rmtree(anchor.HERE, ignore_errors=True)


if __name__ == "__main__":
    main()
