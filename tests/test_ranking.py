"""Ranking metrics on hand-made cases whose answers are computed by hand (or in closed form)."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from hls_opt.core.structures import StructureType, group_ids, group_sizes  # noqa: E402
from hls_opt.solve.pruning import LayerGroups  # noqa: E402
from hls_opt.train.ranking import group_values  # noqa: E402

# backend-agnostic: `make test-jax` / `make test-torch` run these hand-computed cases on JAX / PyTorch
pytestmark = pytest.mark.backend


def _linear(kernel: np.ndarray, name: str = "lin") -> keras.Model:
    """y = x · W, no bias: every metric has a closed form for it under MSE."""
    model = keras.Sequential(
        [keras.Input((kernel.shape[0],)), keras.layers.Dense(kernel.shape[1], use_bias=False, name=name)]
    )
    model.get_layer(name).kernel.assign(kernel.astype("float32"))
    return model


def _groups(
    model: keras.Model, name: str, structure: str = "unstructured", sharing: bool = False
) -> LayerGroups:
    shape = tuple(model.get_layer(name).kernel.shape)
    ids, n = group_ids(shape, structure)
    return LayerGroups(
        name,
        shape,
        StructureType.parse(structure),
        ids,
        n,
        np.array([1.0]),
        np.array([float(n)]),
        True,
        sharing,
        group_sizes(ids, n),
    )


# Kernel 3 inputs → 2 outputs.  Input 2 is always zero in the data, so its (large) weights do
# not matter to the loss: magnitude ranks them high, every loss-based metric ranks them 0.
W = np.array([[0.5, -0.2], [0.1, 0.3], [2.0, -3.0]])
X = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1.0, 1.0, 0.0], [2.0, -1.0, 0.0]], dtype="float32")


def test_l1_and_l2_per_structure():
    model = _linear(W)
    g = _groups(model, "lin", "structured")  # one group per output column
    l1 = group_values(model, [g], "l1")["lin"][0]
    l2 = group_values(model, [g], "l2")["lin"][0]
    # column 0: |0.5|+|0.1|+|2.0| = 2.6; column 1: 0.2+0.3+3.0 = 3.5
    np.testing.assert_allclose(l1, [2.6, 3.5])
    # column 0: √(0.25+0.01+4) = √4.26; column 1: √(0.04+0.09+9) = √9.13
    np.testing.assert_allclose(l2, [np.sqrt(4.26), np.sqrt(9.13)])


def test_share_values_measure_distance_to_the_group_mean():
    model = _linear(np.array([[1.0, 4.0], [3.0, 4.0]]))
    g = _groups(model, "lin", "structured", sharing=True)
    prune_v, share_v = group_values(model, [g], "l1")["lin"]
    # column 0 = (1, 3): mean 2, Σ|w − 2| = 2; column 1 = (4, 4): already shared, 0
    np.testing.assert_allclose(prune_v, [4.0, 8.0])
    np.testing.assert_allclose(share_v, [2.0, 0.0])


def test_saliency_is_first_order_taylor_and_ignores_dead_inputs():
    # Targets from a different kernel so the gradient is non-zero.
    target_W = W + np.array([[0.3, 0.0], [0.0, -0.1], [0.0, 0.0]])
    y = X @ target_W
    model = _linear(W)
    g = _groups(model, "lin")
    sal = group_values(model, [g], "saliency", data=(X, y), loss_fn="mse")["lin"][0].reshape(3, 2)
    # MSE over 2 outputs: dL/dW = (2 / (N·2)) · Xᵀ (XW − y); saliency = |W ⊙ dL/dW|
    grad = 2.0 / (len(X) * 2) * X.T.astype(np.float64) @ (X @ W - y)
    np.testing.assert_allclose(sal, np.abs(W * grad), rtol=1e-4, atol=1e-7)
    assert np.all(sal[2] == 0)  # the large weights of the dead input
    assert group_values(model, [g], "l1")["lin"][0].reshape(3, 2)[2].min() > 1.0  # ... which l1 keeps


def test_oracle_is_the_measured_loss_increase():
    # At the optimum (y = XW exactly) removing w_ij raises the MSE by mean_n (x_ni · w_ij)² / 2.
    y = X @ W
    model = _linear(W)
    g = _groups(model, "lin")
    oracle = group_values(model, [g], "oracle", data=(X, y), loss_fn="mse")["lin"][0].reshape(3, 2)
    expected = (X.astype(np.float64) ** 2).mean(axis=0)[:, None] * W**2 / 2
    np.testing.assert_allclose(oracle, expected, rtol=1e-4, atol=1e-7)
    assert np.all(oracle[2] == 0)
    # ordering differs from l1: w_00 = 0.5 matters more than w_10 = 0.1 here, and the dead input least
    order = np.argsort(-oracle.reshape(-1))
    assert set(order[-2:]) == {4, 5}


def test_hessian_diagonal_is_obd_with_the_exact_diagonal():
    # Orthogonal input columns (mean x_i x_k = 0 for i ≠ k) make the MSE Hessian diagonal, so the
    # Hutchinson estimate is exact: h_ij = 2 · mean(x_i²) / n_out; OBD value = ½ h w².
    Xo = np.array([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 0.0]], dtype="float32")
    y = Xo @ W
    model = _linear(W)
    g = _groups(model, "lin")
    obd = group_values(model, [g], "hessian", data=(Xo, y), loss_fn="mse")["lin"][0].reshape(3, 2)
    h = 2.0 * (Xo.astype(np.float64) ** 2).mean(axis=0)[:, None] / 2 * np.ones((1, 2))
    np.testing.assert_allclose(obd, 0.5 * h * W**2, rtol=1e-4, atol=1e-7)


def test_global_normalisation_puts_layers_on_one_scale():
    # Two layers with the same relative pattern, one 10× larger: after normalisation by the
    # layer's mean group value they rank identically, for every structure.
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(4, name="a", use_bias=False),
            keras.layers.Dense(4, name="b", use_bias=False),
        ]
    )
    base = np.arange(1.0, 17.0).reshape(4, 4)
    model.get_layer("a").kernel.assign(base.astype("float32"))
    model.get_layer("b").kernel.assign((10 * base).astype("float32"))
    for structure in ("unstructured", "structured"):
        ga, gb = _groups(model, "a", structure), _groups(model, "b", structure)
        values = group_values(model, [ga, gb], "l1", normalise=True)
        np.testing.assert_allclose(values["a"][0], values["b"][0], rtol=1e-6)
        assert values["a"][0].mean() == pytest.approx(1.0)
