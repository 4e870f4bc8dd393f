"""The demo: bundled digits → the demo baseline → optimize for DSPs → outputs and a before/after table.

``hls-opt demo`` and ``make demo`` call :func:`run_demo`.  Keras is imported inside it, so importing
this module stays cheap.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hls_opt.config import config_from_keras_model
from hls_opt.core import progress
from hls_opt.data import digits_split, train_baseline
from hls_opt.flow import run as flow
from hls_opt.flow.report import format_table, summary_text
from hls_opt.train.schedulers import PolynomialScheduler

#: Pruning schedule and settings of the demo's DSP optimization.
DEMO_STEPS, DEMO_FINAL_SPARSITY, DEMO_RTOL, DEMO_EPOCHS, DEMO_BATCH_SIZE = 5, 0.75, 0.975, 5, 64


def _accuracy(model: Any, X: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(np.argmax(model.predict(X, verbose=0), axis=-1) == y))


def run_demo(
    out: str | Path = "demo-output", *, epochs: int | None = None, baseline_epochs: int | None = None
) -> str:
    """The README's main job: digits → baseline → optimize for DSPs → outputs + a before/after table.

    Returns the text to print.  ``epochs`` (per pruning step, default 5) and ``baseline_epochs``
    (default: the baseline's 30) exist to make tests faster.
    """
    split = digits_split(seed=0)
    progress.status(f"demo: training the baseline on {len(split.X_train)} digits")
    with progress.progress("training the baseline"):
        model = (
            train_baseline(split)
            if baseline_epochs is None
            else train_baseline(split, epochs=baseline_epochs)
        )
    acc_before = _accuracy(model, split.X_test, split.y_test)
    cfg = config_from_keras_model(
        model, granularity="name", default_precision="ac_fixed<16,6>", default_reuse_factor=4
    )
    cfg["Model"]["Strategy"] = "Resource"
    progress.status(f"demo: baseline test accuracy {acc_before:.3f}; optimizing for DSPs")
    result = flow.convert_and_optimize(
        model,
        cfg,
        data=split.training_data(),
        objective="dsp",
        scheduler=PolynomialScheduler(DEMO_STEPS, final_sparsity=DEMO_FINAL_SPARSITY),
        rtol=DEMO_RTOL,
        epochs=epochs or DEMO_EPOCHS,
        batch_size=DEMO_BATCH_SIZE,
    )
    acc_after = _accuracy(result.model, split.X_test, split.y_test)
    result.report["test_accuracy"] = {"before": acc_before, "after": acc_after}
    written = result.save(out)
    lines = [
        format_table(result.report),
        summary_text(result.report),
        f"  test accuracy: {acc_before:.3f} → {acc_after:.3f}",
        f"wrote {', '.join(str(p) for p in written)}",
    ]
    return "\n".join(lines)
