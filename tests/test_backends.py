"""The trainer on the Keras backend this process runs (``KERAS_BACKEND``).

Marked ``backend``: ``make test`` runs them on TensorFlow, ``make test-jax`` on JAX (also from
``.ci/run``), ``make test-torch`` on PyTorch, together with the other ``backend`` tests
(``tests/test_ranking.py``: l1/l2/saliency/hessian/oracle against hand-computed values;
``tests/test_masking.py``: masks through ``fit``).  The same hand-computed numbers on every backend
are what "the same ordering as the TensorFlow implementation" means here.

``test_a_jax_run_needs_no_tensorflow`` (marked ``needs_jax``; ``make test-jax`` runs it) runs the
flow and the seed's ``optimize_model`` in a JAX subprocess in which ``import tensorflow`` fails, as
in an install without TensorFlow.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from hls_opt.core.structures import StructureType, group_ids, group_sizes  # noqa: E402
from hls_opt.solve.pruning import LayerGroups  # noqa: E402
from hls_opt.train.backends import native  # noqa: E402
from hls_opt.train.ranking import group_values, kernel_gradients  # noqa: E402

pytestmark = pytest.mark.backend

# A 2×2 Dense, y = x·W + b, under MSE (mean over the 3 samples and 2 outputs):
#   W = [[1, 2], [3, 4]], b = [0.5, −0.5]
#   x = (1, 0) → (1.5, 1.5);  x = (0, 1) → (3.5, 3.5);  x = (1, 1) → (4.5, 5.5)
#   targets (1, 1), (3, 3), (4, 6)  →  residuals r = (0.5, 0.5), (0.5, 0.5), (0.5, −0.5)
#   L = mean(r²) = 0.25;  ∂L/∂W = (2 / (3·2)) · Xᵀ r = (1/3) · [[1, 0], [1, 0]]
#   (row 0: Σ x_n0 r_n = (0.5 + 0.5, 0.5 − 0.5); row 1: Σ x_n1 r_n = the same)
#   saliency |W ⊙ ∂L/∂W| = [[1/3, 0], [1, 0]]: w10 first, then w00, then w01 and w11 (0).
W2 = np.array([[1.0, 2.0], [3.0, 4.0]], dtype="float32")
B2 = np.array([0.5, -0.5], dtype="float32")
X2 = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], dtype="float32")
T2 = np.array([[1.0, 1.0], [3.0, 3.0], [4.0, 6.0]], dtype="float32")
GRAD2 = np.array([[1.0, 0.0], [1.0, 0.0]]) / 3


def _dense_2x2() -> keras.Model:
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2, name="d")])
    model.get_layer("d").set_weights([W2, B2])
    return model


def _mse(W: np.ndarray) -> float:
    return float(np.mean((X2.astype(np.float64) @ W + B2 - T2) ** 2))


def _groups(model: keras.Model, name: str) -> LayerGroups:
    shape = tuple(model.get_layer(name).kernel.shape)
    ids, n = group_ids(shape, "unstructured")
    return LayerGroups(
        name, shape, StructureType.UNSTRUCTURED, ids, n, np.array([1.0]), np.array([float(n)]), True, False,
        group_sizes(ids, n),
    )


def test_the_backends_own_module_does_the_backend_specific_work():
    expected = {"tensorflow": "tf", "jax": "jax", "torch": "torch"}[keras.backend.backend()]
    assert native().__name__ == f"hls_opt.train.backends.{expected}"


def test_gradient_of_a_2x2_dense_is_the_analytic_one_and_the_finite_difference():
    model = _dense_2x2()
    grads = kernel_gradients(model, ["d"], (X2, T2), "mse")["d"]
    np.testing.assert_allclose(grads, GRAD2, rtol=1e-5, atol=1e-7)
    # central differences of the numpy loss (float64), independent of any backend
    eps = 1e-4
    fd = np.zeros((2, 2))
    for i in range(2):
        for j in range(2):
            step = np.zeros((2, 2))
            step[i, j] = eps
            fd[i, j] = (_mse(W2 + step) - _mse(W2 - step)) / (2 * eps)
    np.testing.assert_allclose(grads, fd, rtol=1e-4, atol=1e-6)
    # X2 @ W2 + B2 = [[1.5, 1.5], [3.5, 3.5], [4.5, 5.5]] against T2: every error ±0.5, so the mean square 0.25
    assert _mse(W2.astype(np.float64)) == pytest.approx(0.25)


def test_saliency_orders_the_2x2_weights_as_computed_by_hand():
    model = _dense_2x2()
    prune_v, _ = group_values(model, [_groups(model, "d")], "saliency", data=(X2, T2), loss_fn="mse")["d"]
    # groups are the weights in row-major order: w00, w01, w10, w11
    np.testing.assert_allclose(prune_v, [1 / 3, 0.0, 1.0, 0.0], rtol=1e-5, atol=1e-7)
    assert list(np.argsort(-prune_v, kind="stable")) == [2, 0, 1, 3]
    # l1 orders them by |w|: w11 (4), w10 (3), w01 (2), w00 (1)
    l1, _ = group_values(model, [_groups(model, "d")], "l1")["d"]
    assert list(np.argsort(-l1, kind="stable")) == [3, 2, 1, 0]


def test_hls4ml_get_model_gradients_and_masked_backprop_on_a_2x2_dense():
    from hls_opt.train.fit import MaskedBackprop
    from hls_opt.train.utils import get_model_gradients

    model = _dense_2x2()
    loss = keras.losses.MeanSquaredError()
    grads = get_model_gradients(model, loss, X2, T2)
    np.testing.assert_allclose(np.asarray(grads["d"]), GRAD2, rtol=1e-5, atol=1e-7)

    # one SGD step (learning rate 1) with w00 frozen: w ← w − ∂L/∂w elsewhere, w00 stays 1
    class Optimizable:
        optimizable = True

    model.compile(keras.optimizers.SGD(1.0), loss)
    step = MaskedBackprop(model, loss, {"d": Optimizable()})
    step.update_masks({"d": np.array([[0.0, 1.0], [1.0, 1.0]], dtype="float32")})
    value = step(X2, T2)
    # the loss at the weights before the step: every error ±0.5 (see the test above), mean square 0.25
    assert float(np.asarray(value)) == pytest.approx(0.25)
    np.testing.assert_allclose(
        model.get_layer("d").kernel.numpy(), [[1.0, 2.0], [3.0 - 1 / 3, 4.0]], rtol=1e-6, atol=1e-6
    )


def test_array_batches_cover_every_row_each_epoch_in_full_batches():
    from hls_opt.train.fit import ArrayBatches

    X = np.arange(10, dtype="float32")[:, None]
    batches = ArrayBatches(X, X[:, 0].copy(), batch_size=4, seed=0)
    assert len(batches) == 3  # ⌈10 / 4⌉
    for _ in range(2):
        rows = [batches[i][0][:, 0] for i in range(len(batches))]
        assert [len(r) for r in rows] == [4, 4, 4]  # the last completed from the epoch's first rows
        assert set(np.concatenate(rows).astype(int)) == set(range(10))
        batches.on_epoch_end()


@pytest.mark.slow
def test_fine_tuning_with_data_through_the_flow_keeps_the_masks():
    import hls_opt
    from hls_opt.config import config_from_keras_model
    from hls_opt.data import digits_split, train_baseline

    split = digits_split(seed=0)
    model = train_baseline(split, epochs=5, hidden=(16,))  # 64 → 16 → 10
    before = [w.copy() for w in model.get_weights()]
    cfg = config_from_keras_model(model, granularity="name", default_precision="ac_fixed<16,6>", default_reuse_factor=4)
    cfg["Model"]["Strategy"] = "Resource"
    result = hls_opt.convert_and_optimize(
        model,
        cfg,
        data=(split.X_train, split.y_train, split.X_val, split.y_val),
        objective="dsp",
        scheduler="polynomial:2:0.5",
        epochs=2,
        batch_size=64,
        rtol=0.9,
        optimize_kwargs={"tuner": "Manual", "regularization_range": [0.0]},
    )
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))  # the caller's model
    rep = result.report
    assert rep["mode"] == "fine-tuned"
    assert rep["total"]["after"]["dsp"] < rep["total"]["before"]["dsp"]
    assert rep["final_metric"] >= 0.9 * rep["baseline_metric"]
    # the emitted model carries the graph's pruned kernels: the zeros survived the fine-tuning
    zeros = 0
    for node in result.graph.weighted_nodes():
        kernel = result.model.get_layer(node.name).get_weights()[0]
        np.testing.assert_array_equal(kernel, node.kernel)
        zeros += int(np.sum(kernel == 0))
    assert zeros > 0


# ---------------------------------------------------------------------------------------------
# JAX without TensorFlow
# ---------------------------------------------------------------------------------------------

NO_TENSORFLOW_RUN = r"""
import json, sys, traceback

attempts = []

class NoTensorFlow:
    # an install without TensorFlow: every import of it fails; who tried is recorded
    def find_spec(self, name, path=None, target=None):
        if name == "tensorflow" or name.startswith("tensorflow."):
            frames = [
                f for f in traceback.extract_stack()[:-1]
                if not (f.filename.startswith("<frozen") or "/importlib/" in f.filename)
            ]
            attempts.append(f"{frames[-1].filename}:{frames[-1].lineno}")
            raise ModuleNotFoundError(f"No module named {name!r}")
        return None

sys.meta_path.insert(0, NoTensorFlow())

import keras
import numpy as np

import hls_opt
from hls_opt.attributes import get_attributes_from_keras_model
from hls_opt.data import digits_split, train_baseline
from hls_opt.keras import optimize_model
from hls_opt.objectives import ParameterEstimator
from hls_opt.train.schedulers import PolynomialScheduler

split = digits_split(seed=0)
model = train_baseline(split, epochs=3, hidden=(16,))
data = (split.X_train, split.y_train, split.X_val, split.y_val)
result = hls_opt.convert_and_optimize(
    model, None, data=data, objective="params", scheduler="constant:0.3:0.3", epochs=2, batch_size=64,
    rtol=0.8, ranking_metric="saliency", optimize_kwargs={"tuner": "Manual", "regularization_range": [0.0]},
)
optimized = optimize_model(
    model, get_attributes_from_keras_model(model), ParameterEstimator, PolynomialScheduler(2, final_sparsity=0.3),
    *data, 64, 2, keras.optimizers.Adam(), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    "accuracy", True, 0.8,
)
kernels = [layer.get_weights()[0] for layer in optimized.layers if layer.get_weights()]
print(json.dumps({
    "backend": keras.backend.backend(),
    "tensorflow_loaded": "tensorflow" in sys.modules,
    "attempts": sorted(set(attempts)),
    "flow_params": [result.report["total"]["before"]["params"], result.report["total"]["after"]["params"]],
    "seed_zeros": int(sum(int(np.sum(k == 0)) for k in kernels)),
}))
"""


@pytest.mark.needs_jax
@pytest.mark.slow
def test_a_jax_run_needs_no_tensorflow():
    pytest.importorskip("jax", reason="the jax extra is not installed (pip install 'hls-opt[jax]')")
    env = dict(os.environ, KERAS_BACKEND="jax", TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run(
        [sys.executable, "-c", NO_TENSORFLOW_RUN], capture_output=True, text=True, timeout=600, env=env
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["backend"] == "jax"
    assert out["tensorflow_loaded"] is False
    # Keras 3 itself probes for TensorFlow when serialising (keras/src/utils/module_utils.py, a lazy
    # module that treats the failed import as "not installed"); hls-opt never imports it
    assert all("keras/src/utils/module_utils.py" in a for a in out["attempts"]), out["attempts"]
    before, after = out["flow_params"]
    assert after < before
    assert out["seed_zeros"] > 0
