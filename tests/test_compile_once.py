"""One trace of the fine-tuning train step per run, on TensorFlow and JAX.

The masks and the regularisation strengths are state the traced step reads, not constants of its
trace: TensorFlow's ``tf.function`` reads ``keras.Variable``\\ s live; under JAX both live in the
optimizer's variables, which Keras passes to the jitted step as its state
(``masks_as_optimizer_state``, ``strengths_as_optimizer_state``).  Each backend's trace runs the
Python body of ``Model.train_step`` once, a compiled call never does, so counting those calls
counts traces.  The run below tries two non-zero strengths in the search, assigns a new mask per
step, unmasks for rewinding and polishes: before this change JAX traced three times (one per strength
and once more when the strength went back to 0), TensorFlow once.

Each backend runs in a subprocess (``KERAS_BACKEND`` is read when Keras is imported).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

CHILD = r"""
import json
import keras
import numpy as np

traces = []
original = keras.Model.train_step

def counting(self, *args, **kwargs):   # runs only while a backend traces the step
    traces.append(self.name)
    return original(self, *args, **kwargs)

keras.Model.train_step = counting

import hls_opt
from hls_opt.data import digits_split, train_baseline
from hls_opt.train import regularizers

strengths = []
set_strength = regularizers.set_strength
def recording(regs, strength):
    strengths.append(float(strength))
    set_strength(regs, strength)
regularizers.set_strength = recording
import hls_opt.train.engine as engine
engine.set_strength = recording

split = digits_split(seed=0)
model = train_baseline(split, epochs=3, hidden=(16,))
before = len(traces)
result = hls_opt.convert_and_optimize(
    model, None, data=(split.X_train, split.y_train, split.X_val, split.y_val), objective="dsp",
    scheduler="polynomial:3:0.6", epochs=2, batch_size=64,
)
rep = result.report
print(json.dumps({
    "backend": keras.backend.backend(),
    "traces": len(traces) - before,
    "traced": sorted(set(traces[before:])),
    "strengths": strengths,
    "steps": len(rep.get("steps", [])),
    "epochs": rep.get("epochs_trained"),
    "dsp": [rep["total"]["before"]["dsp"], rep["total"]["after"]["dsp"]],
}))
"""


def _run(backend: str) -> dict:
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=900, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _check(out: dict) -> None:
    # the search tried 0 and two non-zero strengths and switched back to 0 for the steps, there were
    # several masked steps with rewinding and a polish: many `fit` calls, many assigns
    nonzero = {s for s in out["strengths"] if s > 0}
    assert len(nonzero) == 2 and out["strengths"][-1] == 0.0, out
    assert out["steps"] >= 2 and out["epochs"] >= 10, out
    assert out["dsp"][1] < out["dsp"][0], out
    # ... and the working model's train step was traced once for all of it
    assert out["traces"] == 1, out


@pytest.mark.slow
def test_tensorflow_traces_the_train_step_once_per_run():
    out = _run("tensorflow")
    assert out["backend"] == "tensorflow"
    _check(out)


@pytest.mark.needs_jax
@pytest.mark.slow
def test_jax_traces_the_train_step_once_per_run():
    pytest.importorskip("jax", reason="the jax extra is not installed (pip install 'hls-opt[jax]')")
    out = _run("jax")
    assert out["backend"] == "jax"
    _check(out)


# ---------------------------------------------------------------------------------------------
# In process, on the backend this process runs (marked `backend`: `make test-jax` runs it on JAX)
# ---------------------------------------------------------------------------------------------


@pytest.mark.backend
def test_a_strength_assigned_after_the_trace_reaches_the_compiled_step(monkeypatch):
    """One SGD step on a 1×2 Dense with unstructured (one-weight) groups, whose penalty is
    α·Σ√(w²+1e-12) ≈ α·Σ|w|, so its gradient is α·sign(w).  From the same weights, the step with
    strength α minus the step with strength 0 is −η·α·sign(w) — hand-computed, whatever the data
    loss does.  The strength is assigned between two `fit` calls of one traced step; a strength
    frozen into the trace would give a difference of 0."""
    import keras
    import numpy as np

    from hls_opt.core.structures import group_ids
    from hls_opt.train.backends import native
    from hls_opt.train.fit import fit
    from hls_opt.train.regularizers import GroupRegularizer, strengths_as_optimizer_state

    traces = []
    original = keras.Model.train_step

    def counting(self, *args, **kwargs):  # runs only while the step is traced
        traces.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "train_step", counting)
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(2, name="d")])
    w0 = np.array([[0.5, -2.0]], dtype="float32")
    b0 = np.zeros(2, dtype="float32")
    model.get_layer("d").set_weights([w0, b0])
    ids, n = group_ids((1, 2), "unstructured")
    reg = GroupRegularizer(ids, n)
    model.get_layer("d").kernel.regularizer = reg
    lr, alpha = 0.1, 0.3
    model.compile(keras.optimizers.SGD(lr), "mse", jit_compile=native().FIT_JIT_COMPILE)
    model.optimizer.build(model.trainable_variables)
    if not native().TRAIN_FUNCTION_SEES_ASSIGNS:
        strengths_as_optimizer_state(model, {"d": reg})
    X = np.ones((4, 1), dtype="float32")
    y = np.zeros((4, 2), dtype="float32")

    def one_step(strength: float) -> np.ndarray:
        model.get_layer("d").set_weights([w0, b0])
        reg.set_strength(strength)
        fit(model, X, y=y, epochs=1, batch_size=4)
        return model.get_layer("d").get_weights()[0]

    plain = one_step(0.0)
    penalised = one_step(alpha)
    again = one_step(0.0)
    np.testing.assert_allclose(penalised - plain, -lr * alpha * np.sign(w0), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(again, plain, rtol=1e-6, atol=1e-7)  # and back to 0 with no new trace
    # the data loss alone: mse over 2 outputs of (w + b)·1 → ∂/∂w = 2·(w + b)/2 = w; w − η·w
    np.testing.assert_allclose(plain, w0 - lr * w0, rtol=1e-5)
    assert len(traces) == 1  # three fits, two strengths, one trace
