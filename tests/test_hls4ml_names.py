"""hls4ml's optimization API under the ``hls_opt`` prefix.

Each test is written from hls4ml 1.3's documented behaviour (``hls4ml/optimization/dsp_aware_pruning/``)
on small hand-computed cases; where hls-opt deliberately differs, ``docs/compat.md`` says so.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest

# --------------------------------------------------------------------------------------------------
# knapsack.solve_knapsack: (optimal_value, selected) with selected a list of indices


@pytest.mark.parametrize("implementation", ["dynamic", "greedy", "branch_bound", "CBC_MIP"])
def test_solve_knapsack_returns_a_list_and_a_number(implementation):
    from hls_opt.knapsack import solve_knapsack

    # values 4 5 6 8 3, weights 2 5 3 2 5, capacity 8: items 0, 2, 3 (weight 7, value 18) is optimal.
    value, selected = solve_knapsack(np.array([4.0, 5, 6, 8, 3]), np.array([[2, 5, 3, 2, 5]]), np.array([8]), implementation)
    assert selected == [0, 2, 3]
    assert isinstance(selected, list) and all(type(i) is int for i in selected)
    assert value == 18 and isinstance(value, float)


def test_solve_knapsack_special_cases_as_hls4ml():
    from hls_opt.knapsack import solve_knapsack

    # empty problem: (0, [])
    assert solve_knapsack(np.zeros(0), np.zeros((1, 0), dtype=int), np.array([3])) == (0, [])
    # everything fits: every item, value the sum
    assert solve_knapsack(np.array([1.0, 2.0]), np.array([[1, 1]]), np.array([5])) == (3.0, [0, 1])


# --------------------------------------------------------------------------------------------------
# keras.masking.get_model_masks: the caller's attributes, as set


class _TwoNumbers:
    """A hand-written estimator with only what get_model_masks uses: one unit saved per group."""

    def __init__(self, groups: int) -> None:
        self.groups = groups

    def layer_savings(self, attributes):
        return [1]

    def layer_resources(self, attributes):
        return [self.groups]


def _two_dense(kernel):
    import keras

    x = keras.Input((4,))
    h = keras.layers.Dense(3, name="d1", use_bias=False)(x)
    y = keras.layers.Dense(2, name="d2", use_bias=False)(h)
    model = keras.Model(x, y)
    model.get_layer("d1").set_weights([np.asarray(kernel, dtype="float32")])
    model.get_layer("d2").set_weights([np.ones((3, 2), "float32")])
    return model


def _attributes(model, d1, d2_optimizable=False):
    from hls_opt.attributes import LayerAttributes, OptimizationAttributes

    out = {}
    for layer in model.layers:
        shape = tuple(layer.get_weights()[0].shape) if layer.get_weights() else ()
        out[layer.name] = LayerAttributes(layer.name, type(layer), [], shape, None, None, False, None, {})
    out["d1"].optimizable, out["d1"].optimization_attributes = True, d1
    out["d2"].optimizable = d2_optimizable
    out["d2"].optimization_attributes = OptimizationAttributes("structured", pruning=True)
    return out


# column L1 norms 2.2, 26, 30
KERNEL = np.arange(1, 13, dtype="float32").reshape(4, 3) * np.array([0.1, -1, 1], dtype="float32")


def test_get_model_masks_structured_respects_the_optimizable_flag():
    from hls_opt.attributes import OptimizationAttributes
    from hls_opt.keras.masking import get_model_masks

    model = _two_dense(KERNEL)
    attrs = _attributes(model, OptimizationAttributes("structured", pruning=True))
    masks, offsets = get_model_masks(model, attrs, 1 / 3, _TwoNumbers(3))
    assert sorted(masks) == sorted(offsets) == ["d1"]  # d2 is not optimizable: left alone
    np.testing.assert_array_equal(masks["d1"], np.tile([0.0, 1.0, 1.0], (4, 1)))  # the weakest neuron goes
    np.testing.assert_array_equal(offsets["d1"], np.zeros((4, 3)))
    assert masks["d1"].shape == KERNEL.shape


def test_get_model_masks_does_not_protect_an_output_layer_the_caller_made_optimizable():
    from hls_opt.attributes import OptimizationAttributes
    from hls_opt.keras.masking import get_model_masks

    model = _two_dense(KERNEL)
    model.get_layer("d2").set_weights([np.array([[1, 1], [1, 1], [1, 0.5]], "float32") * [[1, 0.1]]])
    attrs = _attributes(model, OptimizationAttributes("structured", pruning=False), d2_optimizable=True)
    masks, _ = get_model_masks(model, attrs, 0.5, _TwoNumbers(2), local=True)
    np.testing.assert_array_equal(masks["d2"], np.tile([1.0, 0.0], (3, 1)))  # output neuron 1 pruned


def test_get_model_masks_pattern_offset_as_given():
    # Checked against hls4ml 1.3's get_model_masks on this case: pattern_offset 6 on a 4x3 kernel
    # (RF 2) makes groups of two consecutive weights of the transposed kernel; half of them are kept.
    from hls_opt.attributes import OptimizationAttributes
    from hls_opt.keras.masking import get_model_masks

    model = _two_dense(KERNEL)
    attrs = _attributes(model, OptimizationAttributes("pattern", pruning=True, pattern_offset=6))
    masks, offsets = get_model_masks(model, attrs, 0.5, _TwoNumbers(6), local=True)
    expected = [[0, 0, 1], [0, 0, 1], [0, 1, 1], [0, 1, 1]]
    np.testing.assert_array_equal(masks["d1"], expected)
    assert not np.any(offsets["d1"])


def test_get_model_masks_weight_sharing_sets_the_offset_to_the_group_mean():
    from hls_opt.attributes import OptimizationAttributes
    from hls_opt.keras.masking import get_model_masks

    kernel = np.array([[2, 1, 0], [2, 2, 0], [2, 3, 0], [2, 4, 6]], dtype="float32")
    model = _two_dense(kernel)
    attrs = _attributes(model, OptimizationAttributes("structured", pruning=False, weight_sharing=True))
    masks, offsets = get_model_masks(model, attrs, 1 / 3, _TwoNumbers(3))
    # neuron 0 is constant: sharing it at its mean (2) loses nothing
    np.testing.assert_array_equal(masks["d1"], np.tile([0.0, 1.0, 1.0], (4, 1)))
    np.testing.assert_array_equal(offsets["d1"], np.tile([2.0, 0.0, 0.0], (4, 1)))


def test_get_model_masks_oracle_uses_the_given_gradients():
    from hls_opt.attributes import OptimizationAttributes
    from hls_opt.keras.masking import get_model_masks

    model = _two_dense(KERNEL)
    attrs = _attributes(model, OptimizationAttributes("unstructured", pruning=True))
    with pytest.raises(Exception, match="gradients"):
        get_model_masks(model, attrs, 1 / 3, _TwoNumbers(12), metric="oracle")
    gradients = {"d1": np.tile([1.0, 1.0, 0.0], (4, 1)), "d2": np.ones((3, 2))}
    # |w · g| is 0 on the largest weights (column 2): they are the ones pruned
    masks, _ = get_model_masks(model, attrs, 1 / 3, _TwoNumbers(12), metric="oracle", gradients=gradients)
    np.testing.assert_array_equal(masks["d1"], np.tile([1.0, 1.0, 0.0], (4, 1)))
    masks, _ = get_model_masks(model, attrs, 1 / 3, _TwoNumbers(12), metric="l1")
    np.testing.assert_array_equal(masks["d1"], np.tile([0.0, 1.0, 1.0], (4, 1)))


def test_get_model_masks_saliency_uses_the_given_hessians():
    from hls_opt.attributes import OptimizationAttributes
    from hls_opt.keras.masking import get_model_masks

    model = _two_dense(KERNEL)
    attrs = _attributes(model, OptimizationAttributes("unstructured", pruning=True))
    with pytest.raises(Exception, match="hessians"):
        get_model_masks(model, attrs, 1 / 3, _TwoNumbers(12), metric="saliency")
    hessians = {"d1": np.tile([1.0, 0.0, 1.0], (4, 1))}
    masks, _ = get_model_masks(model, attrs, 1 / 3, _TwoNumbers(12), metric="saliency", hessians=hessians)
    np.testing.assert_array_equal(masks["d1"], np.tile([1.0, 0.0, 1.0], (4, 1)))
    with pytest.raises(Exception, match="metric"):
        get_model_masks(model, attrs, 1 / 3, _TwoNumbers(12), metric="l3")


def test_get_model_masks_ignores_weight_sharing_when_unstructured(caplog):
    from hls_opt.attributes import OptimizationAttributes
    from hls_opt.keras.masking import get_model_masks

    # the CLI sets the 'hls_opt' logger's level for its process (-q: errors only); a test that ran
    # it earlier must not hide this warning
    caplog.set_level(logging.WARNING, logger="hls_opt.keras.api")
    model = _two_dense(KERNEL)
    attrs = _attributes(model, OptimizationAttributes("unstructured", pruning=True, weight_sharing=True))
    masks, offsets = get_model_masks(model, attrs, 1 / 3, _TwoNumbers(12))
    np.testing.assert_array_equal(masks["d1"], np.tile([0.0, 1.0, 1.0], (4, 1)))
    assert not np.any(offsets["d1"])
    assert "weight sharing" in caplog.text


# --------------------------------------------------------------------------------------------------
# config.SUPPORTED_STRUCTURES, keras.config.SUPPORTED_LAYERS / SUPPORTED_METRICS / TMP_DIRECTORY


def test_supported_structures_is_hls4mls_enum():
    from hls_opt.config import SUPPORTED_STRUCTURES
    from hls_opt.core.structures import StructureType

    assert SUPPORTED_STRUCTURES is StructureType
    assert {s.name: s.value for s in SUPPORTED_STRUCTURES} == {
        "UNSTRUCTURED": "unstructured",
        "STRUCTURED": "structured",
        "PATTERN": "pattern",
        "BLOCK": "block",
    }
    assert SUPPORTED_STRUCTURES("pattern") is SUPPORTED_STRUCTURES.PATTERN


def test_keras_config_constants():
    import keras

    from hls_opt.keras.config import SUPPORTED_LAYERS, SUPPORTED_METRICS, TMP_DIRECTORY

    assert SUPPORTED_METRICS == ("l1", "l2", "oracle", "saliency")
    assert TMP_DIRECTORY == "hls4ml-optimization-keras"
    assert isinstance(keras.layers.Dense(2), SUPPORTED_LAYERS)
    assert isinstance(keras.layers.Conv2D(2, 3), SUPPORTED_LAYERS)
    assert not isinstance(keras.layers.BatchNormalization(), SUPPORTED_LAYERS)


# --------------------------------------------------------------------------------------------------
# keras.utils: get_model_gradients, get_model_hessians (plus the sparsity helpers)


def _linear_model():
    import keras

    x = keras.Input((2,))
    y = keras.layers.Dense(1, use_bias=False, name="lin")(x)
    h = keras.layers.BatchNormalization(name="bn")(y)
    model = keras.Model(x, h)
    model.get_layer("lin").set_weights([np.array([[1.0], [2.0]], "float32")])
    return model


def test_get_model_gradients_and_hessians_by_hand():
    import keras

    from hls_opt.keras.utils import get_model_gradients, get_model_hessians

    x = keras.Input((2,))
    model = keras.Model(x, keras.layers.Dense(1, use_bias=False, name="lin")(x))
    model.get_layer("lin").set_weights([np.array([[1.0], [2.0]], "float32")])
    # L = mean((x·w − y)²) on X = I, y = 0: L = (w0² + w1²)/2, ∂L/∂w = w, ∂²L/∂w² = diag(1, 1)
    X, y = np.eye(2, dtype="float32"), np.zeros((2, 1), "float32")
    loss = keras.losses.MeanSquaredError()
    grads = get_model_gradients(model, loss, X, y)
    assert sorted(grads) == ["lin"]
    np.testing.assert_allclose(np.asarray(grads["lin"]), [[1.0], [2.0]], rtol=1e-6)
    hessians = get_model_hessians(model, loss, X, y)
    np.testing.assert_allclose(np.asarray(hessians["lin"]), [[1.0], [1.0]], rtol=1e-6)


def test_get_model_gradients_skips_layers_without_a_kernel():
    import keras

    from hls_opt.keras.utils import get_model_gradients

    model = _linear_model()
    grads = get_model_gradients(model, keras.losses.MeanSquaredError(), np.eye(2, dtype="float32"), np.zeros((2, 1)))
    assert sorted(grads) == ["lin"]


def test_get_model_sparsity_and_last_layer_as_hls4ml():
    from hls_opt.keras.utils import get_last_layer_with_weights, get_model_sparsity

    model = _two_dense(np.array([[0, 1, 0], [1, 1, 1], [0, 0, 0], [1, 1, 1]]))
    sparsity, layers = get_model_sparsity(model)
    # kernel zeros / kernel size (hls4ml's keras/utils.py): d1 has 2 + 0 + 3 + 0 = 5 zeros of 4·3 = 12,
    # d2 is all ones (0 of 6); the model: 5 zeros of 12 + 6 = 18 weights
    assert layers == {"d1": 5 / 12, "d2": 0.0}
    assert sparsity == pytest.approx(5 / 18)
    assert get_last_layer_with_weights(model) == 2  # Input, d1, d2


# --------------------------------------------------------------------------------------------------
# keras.regularizers.DenseRegularizer / Conv2DRegularizer: hls4ml's arguments and get_config


def _penalty(reg, w):
    return float(np.asarray(reg(np.asarray(w, dtype="float32"))))


def test_dense_regularizer_penalties_by_hand():
    from hls_opt.keras.regularizers import DenseRegularizer

    w = [[3.0, 0.0], [4.0, 0.0]]
    # unstructured: alpha · ‖w‖₁ or ‖w‖₂ (as hls4ml)
    assert _penalty(DenseRegularizer(0.5), w) == pytest.approx(3.5)
    assert _penalty(DenseRegularizer(0.5, norm=2), w) == pytest.approx(2.5)
    # structured (neurons = columns): group lasso √|g|·‖column‖₂, plus beta · Σ column variances
    assert _penalty(DenseRegularizer(1.0, structure_type="structured"), w) == pytest.approx(5 * np.sqrt(2), rel=1e-5)
    reg = DenseRegularizer(0.0, beta=1.0, structure_type="structured")
    assert _penalty(reg, w) == pytest.approx(0.25, rel=1e-5)
    # block (2, 1): the same two groups
    assert _penalty(DenseRegularizer(1.0, structure_type="block", block_shape=(2, 1)), w) == pytest.approx(
        5 * np.sqrt(2), rel=1e-5
    )


def test_dense_regularizer_pattern_groups_as_the_masks():
    from hls_opt.keras.regularizers import DenseRegularizer

    # pattern_offset 6 on 4x3: pairs of consecutive weights of the transposed kernel
    pairs = KERNEL.T.reshape(6, 2)
    expected = np.sqrt(2) * np.linalg.norm(pairs, axis=1).sum()
    reg = DenseRegularizer(1.0, structure_type="pattern", pattern_offset=6)
    assert _penalty(reg, KERNEL) == pytest.approx(expected, rel=1e-5)
    with pytest.raises(Exception, match="pattern_offset"):
        DenseRegularizer(1.0, structure_type="pattern", pattern_offset=5)(KERNEL)


def test_regularizers_get_config_round_trip():
    import json

    import keras

    from hls_opt.config import SUPPORTED_STRUCTURES
    from hls_opt.keras.regularizers import Conv2DRegularizer, DenseRegularizer

    reg = DenseRegularizer(1e-3, beta=1e-4, norm=2, structure_type=SUPPORTED_STRUCTURES.BLOCK, block_shape=(2, 2))
    config = reg.get_config()
    assert config == {
        "alpha": 1e-3,
        "beta": 1e-4,
        "norm": 2,
        "structure_type": SUPPORTED_STRUCTURES.BLOCK,
        "block_shape": (2, 2),
        "pattern_offset": 1,
        "consecutive_patterns": 1,
    }
    json.dumps(config)  # the structure enum serialises as its value
    again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(reg))
    assert isinstance(again, DenseRegularizer) and again.get_config()["structure_type"] is SUPPORTED_STRUCTURES.BLOCK
    conv = Conv2DRegularizer(1e-3, structure_type="pattern", pattern_offset=4, consecutive_patterns=2)
    assert conv.get_config() == {
        "alpha": 1e-3,
        "beta": 0,
        "norm": 1,
        "structure_type": SUPPORTED_STRUCTURES.PATTERN,
        "pattern_offset": 4,
        "consecutive_patterns": 2,
    }


def test_regularizers_refuse_what_hls4ml_refuses():
    from hls_opt.keras.regularizers import Conv2DRegularizer, DenseRegularizer

    with pytest.raises(Exception, match="norm"):
        DenseRegularizer(1.0, norm=3)
    with pytest.raises(Exception, match="structure"):
        DenseRegularizer(1.0, structure_type="diagonal")
    with pytest.raises(Exception, match="block"):
        Conv2DRegularizer(1.0, structure_type="block")
    with pytest.raises(Exception, match="Conv2D"):
        Conv2DRegularizer(1.0)(np.ones((2, 2), "float32"))


def test_conv2d_regularizer_filters_by_hand_and_in_a_model():
    import keras

    from hls_opt.keras.regularizers import Conv2DRegularizer

    w = np.zeros((1, 1, 2, 2), "float32")
    w[0, 0, :, 0] = [3.0, 4.0]
    assert _penalty(Conv2DRegularizer(1.0, structure_type="structured"), w) == pytest.approx(5 * np.sqrt(2), rel=1e-5)
    x = keras.Input((4, 4, 2))
    layer = keras.layers.Conv2D(2, 1, use_bias=False, kernel_regularizer=Conv2DRegularizer(1.0, structure_type="structured"))
    model = keras.Model(x, layer(x))
    layer.set_weights([w])
    model(np.zeros((1, 4, 4, 2), "float32"))
    assert float(np.asarray(model.losses[0])) == pytest.approx(5 * np.sqrt(2), rel=1e-5)


def test_dense_regularizer_in_fit_and_eagerly_after():
    import keras

    from hls_opt.keras.regularizers import DenseRegularizer

    keras.utils.set_random_seed(0)
    x = keras.Input((4,))
    reg = DenseRegularizer(1e-2, structure_type="structured")
    model = keras.Model(x, keras.layers.Dense(3, kernel_regularizer=reg)(x))
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
    X = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
    history = model.fit(X, X[:, :3] * [1.0, 1.0, 0.0], epochs=3, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    eager = float(np.asarray(reg(model.layers[-1].kernel)))  # called again outside the traced step
    assert eager > 0


# --------------------------------------------------------------------------------------------------
# keras.builder: build_optimizable_model, remove_custom_regularizers, HyperOptimizationModel, co


def _builder_case():
    import keras

    from hls_opt.attributes import OptimizationAttributes

    model = _two_dense(KERNEL)
    model.get_layer("d2").kernel_regularizer = None
    attrs = _attributes(model, OptimizationAttributes("structured", pruning=True))
    X = np.random.default_rng(0).normal(size=(32, 4)).astype("float32")
    y = model.predict(X, verbose=0)
    return model, attrs, (X, y), keras


def test_build_optimizable_model_manual_sets_hls4mls_regularizers():
    from hls_opt.keras.builder import build_optimizable_model, default_regularization_range
    from hls_opt.keras.regularizers import DenseRegularizer

    assert default_regularization_range == pytest.approx(np.logspace(-6, -2, num=16).tolist())
    model, attrs, data, keras = _builder_case()
    built = build_optimizable_model(
        model, attrs, "adam", "mse", "mse", False, data, data, 8, 1, tuner="Manual", regularization_range=[1e-3, 1e-2]
    )
    reg = built.get_layer("d1").kernel_regularizer
    assert isinstance(reg, DenseRegularizer)
    # hls4ml's 'Manual' tuner (keras/builder.py): alpha = regularization_range[0] = 1e-3 when pruning,
    # beta = 0 without weight sharing, norm 1; the structure is _builder_case's attributes'
    assert (reg.alpha, reg.beta, reg.norm, reg.structure_type.value) == (1e-3, 0, 1, "structured")
    assert built.get_layer("d2").kernel_regularizer is None  # not optimizable
    assert model.get_layer("d1").kernel_regularizer is None  # the caller's model is untouched
    for a, b in zip(built.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    built(data[0][:1])
    # 1e-3 · Σ over the neurons of √4 · ‖column‖₂
    expected = 1e-3 * 2 * np.linalg.norm(KERNEL, axis=0).sum()
    assert float(np.asarray(keras.ops.sum(built.losses))) == pytest.approx(expected, rel=1e-5)
    assert built.optimizer is not None  # compiled
    built.fit(*data, epochs=1, verbose=0)


def test_build_optimizable_model_search_without_keras_tuner(monkeypatch):
    from hls_opt.keras import builder

    monkeypatch.setattr(builder, "_kt", None)
    model, attrs, data, _ = _builder_case()
    built = builder.build_optimizable_model(
        model, attrs, "adam", "mse", "mse", False, data, data, 8, 1, regularization_range=[1e-4, 1e-3]
    )
    assert isinstance(built.get_layer("d1").kernel_regularizer, builder.DenseRegularizer)
    with pytest.raises(Exception, match="tuner"):
        builder.build_optimizable_model(model, attrs, "adam", "mse", "mse", False, data, data, 8, 1, tuner="Random")


def test_hyper_optimization_model_builds_per_layer_choices():
    from hls_opt.keras.builder import HyperOptimizationModel

    kt = pytest.importorskip("keras_tuner")
    model, attrs, data, _ = _builder_case()
    hp = kt.HyperParameters()
    built = HyperOptimizationModel(model, attrs, "adam", "mse", "mse", [1e-5, 1e-4, 1e-3]).build(hp)
    assert set(hp.values) == {"d1_alpha"}  # d1 prunes (no beta: no sharing); d2 is not optimizable
    assert hp.values["d1_alpha"] == 1e-4  # the middle of the range by default
    assert built.get_layer("d1").kernel_regularizer.alpha == 1e-4


def test_remove_custom_regularizers_keeps_weights_and_other_regularizers():
    import keras

    from hls_opt.keras.builder import co, remove_custom_regularizers
    from hls_opt.keras.regularizers import Conv2DRegularizer, DenseRegularizer

    assert co["DenseRegularizer"] is DenseRegularizer and co["Conv2DRegularizer"] is Conv2DRegularizer
    x = keras.Input((4,))
    h = keras.layers.Dense(3, name="d1", kernel_regularizer=DenseRegularizer(1e-3, structure_type="structured"))(x)
    y = keras.layers.Dense(2, name="d2", kernel_regularizer=keras.regularizers.L2(1e-2))(h)
    model = keras.Model(x, y)
    clean = remove_custom_regularizers(model)
    assert clean.get_layer("d1").kernel_regularizer is None
    assert isinstance(clean.get_layer("d2").kernel_regularizer, keras.regularizers.L2)
    for a, b in zip(clean.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    clean(np.zeros((1, 4), "float32"))
    assert len(clean.losses) == 1  # only the L2 term is left
    assert "DenseRegularizer" not in clean.to_json()


def test_build_optimizable_model_with_keras_tuner(tmp_path):
    pytest.importorskip("keras_tuner")
    from hls_opt.keras.builder import DenseRegularizer, build_optimizable_model

    model, attrs, data, _ = _builder_case()
    built = build_optimizable_model(
        model, attrs, "adam", "mse", "mse", False, data, data, 8, 1,
        directory=str(tmp_path), tuner="Hyperband", regularization_range=[1e-4, 1e-3],
    )
    assert isinstance(built.get_layer("d1").kernel_regularizer, DenseRegularizer)
    assert (tmp_path / "tuning").is_dir()


# --------------------------------------------------------------------------------------------------
# the packages' other names: default_regularization_range, keras.MaskedBackprop


def test_default_regularization_range_where_hls4ml_has_it():
    import hls_opt
    import hls_opt.keras

    expected = np.logspace(-6, -2, num=16).tolist()
    assert hls_opt.default_regularization_range == expected
    assert hls_opt.keras.default_regularization_range == expected


def test_masked_backprop_freezes_masked_kernel_weights():
    import keras

    from hls_opt.attributes import OptimizationAttributes
    from hls_opt.keras import MaskedBackprop

    model = _two_dense(KERNEL)
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    attrs = _attributes(model, OptimizationAttributes("structured", pruning=True))
    step = MaskedBackprop(model, keras.losses.MeanSquaredError(), attrs)
    mask = np.tile([0.0, 1.0, 1.0], (4, 1)).astype("float32")
    step.update_masks({"d1": mask, "d2": np.zeros((3, 2), "float32")})  # d2 is not optimizable: not masked
    X = np.random.default_rng(0).normal(size=(8, 4)).astype("float32")
    before = [np.asarray(w).copy() for w in model.get_weights()]
    loss = step(X, np.zeros((8, 2), "float32"), 0.5)
    assert float(np.asarray(loss)) > 0
    d1, d2 = (np.asarray(w) for w in model.get_weights())
    np.testing.assert_array_equal(d1[:, 0], before[0][:, 0])  # masked neuron frozen
    assert np.all(d1[:, 1:] != before[0][:, 1:])  # the others trained
    assert np.any(d2 != before[1])
