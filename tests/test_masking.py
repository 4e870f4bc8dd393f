"""Masks: the constraint keeps them through ``fit``, the knapsack selection, pattern groups, sharing."""

from __future__ import annotations

import itertools
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from hls_opt.attributes import OptimizationAttributes, get_attributes_from_keras_model  # noqa: E402
from hls_opt.core.structures import StructureType, group_ids, group_sizes, zero_reuse_groups  # noqa: E402
from hls_opt.keras.api import build_layer_groups, compute_masks, prepare_attributes  # noqa: E402
from hls_opt.solve.pruning import LayerGroups, select_groups  # noqa: E402
from hls_opt.train.fit import fit  # noqa: E402
from hls_opt.train.masking import MaskConstraint, apply_masks, attach_mask_constraints  # noqa: E402


def _mlp(seed: int = 0, sizes: tuple[int, ...] = (8, 6, 4), activation: str = "relu") -> keras.Model:
    keras.utils.set_random_seed(seed)
    layers = [keras.Input((sizes[0],))]
    layers += [keras.layers.Dense(n, activation=activation, name=f"d{i}") for i, n in enumerate(sizes[1:-1])]
    layers.append(keras.layers.Dense(sizes[-1], name="out"))
    return keras.Sequential(layers)


def _data(n: int = 64, n_in: int = 8, n_out: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, n_in)).astype("float32"), rng.normal(size=(n, n_out)).astype("float32")


class _Objective:
    """A hand-made objective: every Dense layer optimizable with the given structure; saving per group."""

    def __init__(
        self,
        structure: str = "unstructured",
        saving: int = 1,
        sharing: bool = False,
        pruning: bool = True,
        rf: int = 1,
        skip: tuple[str, ...] = (),
    ) -> None:
        self.structure, self.saving, self.sharing, self.pruning, self.rf, self.skip = (
            structure,
            saving,
            sharing,
            pruning,
            rf,
            skip,
        )

    def is_layer_optimizable(self, a):
        if not a.weight_shape or a.name in self.skip:
            return False, None
        size = int(np.prod(a.weight_shape))
        return True, OptimizationAttributes(
            self.structure, pruning=self.pruning, weight_sharing=self.sharing, pattern_offset=size // self.rf
        )

    def layer_resources(self, a):
        return [int(np.prod(a.weight_shape))] if a.weight_shape else [0]

    def layer_savings(self, a):
        return [self.saving]


# ---------------------------------------------------------------------------------------------
# MaskConstraint in fit
# ---------------------------------------------------------------------------------------------


@pytest.mark.backend
@pytest.mark.slow
def test_masked_weights_stay_exactly_zero_through_fit_and_take_new_masks_by_assign():
    # linear hidden layer: a zeroed ReLU neuron with zero bias would be dead and could not regrow
    model = _mlp(activation="linear")
    X, y = _data()
    constraints = attach_mask_constraints(model, ["d0"])
    model.compile(keras.optimizers.Adam(0.05), "mse")
    kernel0 = model.get_layer("d0").kernel.numpy().copy()
    mask = np.ones_like(kernel0)
    mask[:, :3] = 0  # first three neurons frozen
    apply_masks(model, {"d0": mask}, {"d0": np.zeros_like(mask)})
    constraints["d0"].assign(mask)
    # hls-opt's fit: under JAX a traced train function would keep the mask of its trace
    fit(model, X, y=y, epochs=3, batch_size=16)
    kernel = model.get_layer("d0").kernel.numpy()
    assert np.all(kernel[:, :3] == 0)
    assert not np.allclose(kernel[:, 3:], kernel0[:, 3:])  # the rest did train
    # a new mask, assigned between fits without recompiling, is honoured too
    mask2 = np.ones_like(mask)
    mask2[0, :] = 0
    apply_masks(model, {"d0": mask2}, {"d0": np.zeros_like(mask2)})
    constraints["d0"].assign(mask2)
    fit(model, X, y=y, epochs=2, batch_size=16)
    kernel = model.get_layer("d0").kernel.numpy()
    assert np.all(kernel[0, :] == 0)
    assert np.any(kernel[1:, :3] != 0)  # released weights train again


@pytest.mark.backend
@pytest.mark.slow
def test_shared_weights_stay_at_their_offset_through_fit():
    model = _mlp()
    X, y = _data()
    constraints = attach_mask_constraints(model, ["d0"])
    model.compile(keras.optimizers.Adam(0.05), "mse")
    mask = np.ones((8, 6), dtype="float32")
    mask[:, 0] = 0
    offset = np.zeros_like(mask)
    offset[:, 0] = 0.25  # neuron 0 shares one weight value
    apply_masks(model, {"d0": mask}, {"d0": offset})
    constraints["d0"].assign(mask, offset)
    fit(model, X, y=y, epochs=2, batch_size=16)
    assert np.all(model.get_layer("d0").kernel.numpy()[:, 0] == np.float32(0.25))


def test_mask_constraint_round_trips_through_config():
    c = MaskConstraint(np.array([[1.0, 0.0]]), np.array([[0.0, 0.5]]))
    c2 = MaskConstraint.from_config(c.get_config())
    np.testing.assert_array_equal(c2.mask.numpy(), [[1.0, 0.0]])
    np.testing.assert_array_equal(np.asarray(c2(keras.ops.ones((1, 2)))), [[1.0, 0.5]])


# ---------------------------------------------------------------------------------------------
# Attributes
# ---------------------------------------------------------------------------------------------


def test_prepare_attributes_copies_and_protects_output_neurons():
    model = _mlp()
    attrs = get_attributes_from_keras_model(model)
    before = {n: (a.optimizable, repr(a.optimization_attributes)) for n, a in attrs.items()}
    prepared = prepare_attributes(model, attrs, _Objective("structured"))
    # the caller's dict is untouched
    assert {n: (a.optimizable, repr(a.optimization_attributes)) for n, a in attrs.items()} == before
    assert prepared["d0"].optimizable and prepared["d0"].optimization_attributes.pruning
    # structured pruning would remove output labels: off for the last weighted layer
    assert not prepared["out"].optimizable
    assert not prepared["out"].optimization_attributes.pruning
    # ... unless the layer can share weights instead
    shared = prepare_attributes(model, attrs, _Objective("structured", sharing=True))
    assert shared["out"].optimizable and not shared["out"].optimization_attributes.pruning


def test_non_optimizable_layers_are_skipped():
    model = _mlp()
    attrs = get_attributes_from_keras_model(model)
    objective = _Objective(skip=("out",))
    groups = build_layer_groups(model, prepare_attributes(model, attrs, objective), objective)
    assert [g.name for g in groups] == ["d0"]


# ---------------------------------------------------------------------------------------------
# Selection
# ---------------------------------------------------------------------------------------------


def _groups(name: str, values: np.ndarray, saving: int, pruning: bool = True, sharing: bool = False):
    n = len(values)
    ids = np.arange(n).reshape(n, 1)
    g = LayerGroups(
        name,
        (n, 1),
        StructureType.UNSTRUCTURED,
        ids,
        n,
        np.array([float(saving)]),
        np.array([float(n * saving)]),
        pruning,
        sharing,
        group_sizes(ids, n),
    )
    return g


def test_local_selection_keeps_the_top_groups_within_the_budget():
    # As hls4ml's ``__get_masks_local`` (keras/masking.py): 6 weights, saving 1 each, s = 0.33 →
    # capacity ⌊0.67·6⌋ = 4: keep 4, prune 2
    values = np.array([0.5, 0.1, 0.9, 0.3, 0.05, 0.7])
    g = _groups("a", values, 1)
    sel = select_groups([g], {"a": (values, None)}, 0.33, local=True)
    np.testing.assert_array_equal(sel.keep["a"], [True, False, True, True, False, True])


def test_global_selection_with_unequal_savings_is_the_knapsack_optimum():
    # two layers, savings 1 and 3 per group; brute force over all 2^7 keep-sets is the oracle
    va = np.array([0.9, 0.2, 0.4, 0.1])
    vb = np.array([1.0, 0.5, 2.0])
    ga, gb = _groups("a", va, 1), _groups("b", vb, 3)
    s = 0.5
    capacity = int(np.floor(0.5 * (4 * 1 + 3 * 3)))  # = 6 of 13 savable units
    sel = select_groups([ga, gb], {"a": (va, None), "b": (vb, None)}, s, local=False)
    kept_value = va[sel.keep["a"]].sum() + vb[sel.keep["b"]].sum()
    kept_weight = sel.keep["a"].sum() + 3 * sel.keep["b"].sum()
    assert kept_weight <= capacity
    best = 0.0
    w = np.array([1, 1, 1, 1, 3, 3, 3])
    v = np.concatenate([va, vb])
    for bits in itertools.product([0, 1], repeat=7):
        x = np.array(bits, dtype=bool)
        if w[x].sum() <= capacity:
            best = max(best, v[x].sum())
    assert kept_value == pytest.approx(best)


def test_unsavable_layers_do_not_enlarge_the_budget():
    # layer "z" saves nothing per group: kept whole, and the 50 % cut falls on layer "a" alone
    va = np.arange(1.0, 9.0)
    ga, gz = _groups("a", va, 1), _groups("z", np.ones(8), 0)
    sel = select_groups([ga, gz], {"a": (va, None), "z": (np.ones(8), None)}, 0.5)
    assert sel.keep["z"].all()
    # "a": 8 groups saving 1 each, 50 % of its 8 → keep 4, the most important (values 5..8, indices 4..7)
    assert sel.keep["a"].sum() == 4 and sel.keep["a"][4:].all()


def test_non_finite_ranking_values_name_the_layer():
    # diverged weights (NaN) in layer 'b' only: the error says which layer
    from hls_opt.errors import DataError

    a, b = _groups("a", np.zeros(2), 1), _groups("b", np.zeros(2), 1)
    values = {"a": (np.array([1.0, 2.0]), None), "b": (np.array([np.nan, 1.0]), None)}
    with pytest.raises(DataError, match="layer b: the ranking gave 1 non-finite value"):
        select_groups([a, b], values, 0.5)


def test_sharing_chosen_when_it_loses_less_than_pruning():
    # group 0: prune loses 1.0, share loses 0.1 → shared; group 1: prune 0.2, share 0.5 → pruned
    g = _groups("a", np.zeros(3), 1, pruning=True, sharing=True)
    prune_v, share_v = np.array([1.0, 0.2, 5.0]), np.array([0.1, 0.5, 4.0])
    sel = select_groups([g], {"a": (prune_v, share_v)}, 0.6)  # capacity ⌊0.4·3⌋ = 1: keep group 2
    np.testing.assert_array_equal(sel.keep["a"], [False, False, True])
    np.testing.assert_array_equal(sel.shared["a"], [True, False, False])


def test_pattern_masks_zero_whole_reuse_groups_of_the_shared_definition():
    # Dense 16→8 at RF 4: 32 multipliers (block factor, hls4ml's nnet_dense_resource.h); at s = 0.5
    # 16 whole rows are zeroed, so structures.zero_reuse_groups (the resource models' count) sees 16
    # removed multipliers.
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((16,)), keras.layers.Dense(8, name="out")])
    attrs = get_attributes_from_keras_model(model)
    masks, offsets = compute_masks(model, attrs, 0.5, _Objective("pattern", rf=4))
    kernel = model.get_layer("out").kernel.numpy() * masks["out"]
    assert zero_reuse_groups(kernel, 4) == 16
    assert int((masks["out"] == 0).sum()) == 64  # 16 zeroed rows × RF 4 weights each = half of 16·8
    ids, n = group_ids((16, 8), "pattern", reuse_factor=4)
    # every group is all-in or all-out
    per_group = np.bincount(ids.reshape(-1), weights=masks["out"].reshape(-1), minlength=n)
    assert set(per_group.tolist()) <= {0.0, 4.0}
    assert not np.any(offsets["out"])


def test_compute_masks_leaves_model_and_attributes_unchanged():
    model = _mlp()
    attrs = get_attributes_from_keras_model(model)
    weights = [w.copy() for w in model.get_weights()]
    masks, _ = compute_masks(model, attrs, 0.5, _Objective(), ranking_metric="l2")
    assert all(np.array_equal(a, b) for a, b in zip(weights, model.get_weights()))
    assert not any(a.optimizable for a in attrs.values())
    total = sum(m.size for m in masks.values())
    assert sum(int((m == 0).sum()) for m in masks.values()) == total - int(np.floor(0.5 * total + 1e-9))


def test_compute_masks_with_data_free_metric_and_registered_objective_name():
    model = _mlp()
    attrs = get_attributes_from_keras_model(model)
    masks, _ = compute_masks(model, attrs, 0.25, "params")  # ParameterEstimator: unstructured, saving 1
    n = sum(m.size for m in masks.values())
    assert sum(int((m == 0).sum()) for m in masks.values()) == n - int(np.floor(0.75 * n + 1e-9))


def test_saliency_without_data_is_a_data_error():
    from hls_opt.errors import DataError

    model = _mlp()
    with pytest.raises(DataError):
        compute_masks(
            model, get_attributes_from_keras_model(model), 0.5, _Objective(), ranking_metric="saliency"
        )


def test_local_masks_cut_every_layer_by_the_same_fraction():
    # local=True: one knapsack per layer, each keeps ⌊(1 − s)·n⌋ of its n weights
    # (d0: 8·6 = 48 → keep ⌊0.6·48⌋ = 28; out: 6·4 = 24 → keep ⌊0.6·24⌋ = 14)
    model = _mlp()
    masks, _ = compute_masks(model, get_attributes_from_keras_model(model), 0.4, _Objective(), local=True)
    assert {n: int(m.sum()) for n, m in masks.items()} == {"d0": 28, "out": 14}
