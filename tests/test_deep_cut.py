"""The deepest cut within the tolerance: the deepest-cut scheduler, the loop policy, the per-layer
normalisation of group values and the accuracy–resource front.  docs/deep_cut.md has the numbers."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from hls_opt.core.structures import StructureType, group_ids, group_sizes  # noqa: E402
from hls_opt.errors import ConfigError  # noqa: E402
from hls_opt.solve.front import pareto_front  # noqa: E402
from hls_opt.solve.pruning import LayerGroups, select_groups  # noqa: E402
from hls_opt.train.engine import LoopPolicy  # noqa: E402
from hls_opt.train.ranking import group_values  # noqa: E402
from hls_opt.train.schedulers import MaxCutScheduler  # noqa: E402


def _walk(scheduler, outcomes):
    """Feed accept (True) / reject (False) outcomes; the targets tried and how it ended."""
    tried = [scheduler.get_sparsity()]
    for ok in outcomes:
        go, s = scheduler.update_step() if ok else scheduler.repair_step()
        if not go:
            return tried, s
        tried.append(s)
    return tried, None


def test_maxcut_climbs_then_bisects_and_ends_at_the_last_success():
    # climb 0.5 towards 1.0: 0.5, 0.75, 0.875; 0.875 fails -> bisect [0.75, 0.875]: 0.8125 ok,
    # 0.84375 fails, 0.828125 fails -> [0.8125, 0.828125] is 0.0156 wide, still ≥ 0.01: 0.8203125;
    # it succeeds -> [0.8203125, 0.828125] < 0.01: stop at 0.8203125.
    tried, end = _walk(MaxCutScheduler(climb=0.5, retries=0), [True, True, False, True, False, False, True])
    np.testing.assert_allclose(tried, [0.5, 0.75, 0.875, 0.8125, 0.84375, 0.828125, 0.8203125])
    assert end == pytest.approx(0.8203125)


def test_maxcut_retries_the_smallest_failure_once_after_converging():
    # as above, then the interval [0.8203125, 0.828125] is closed: retry 0.828125 once.
    outcomes = [True, True, False, True, False, False, True]
    # the retry fails: the search ends at the deepest success
    tried, end = _walk(MaxCutScheduler(climb=0.5), outcomes + [False])
    assert tried[-1] == pytest.approx(0.828125) and end == pytest.approx(0.8203125)
    # the retry passes: the climb resumes from 0.828125 towards 1.0 (half the gap: 0.9140625)
    tried, end = _walk(MaxCutScheduler(climb=0.5), outcomes + [True])
    np.testing.assert_allclose(tried[-2:], [0.828125, 0.9140625])
    assert end is None


def test_maxcut_backs_off_after_a_first_failure_and_keeps_searching():
    # 0.5 fails -> [0, 0.5]: 0.25 ok, 0.375 fails, 0.3125 fails, 0.28125 ok, 0.296875 ...
    tried, end = _walk(MaxCutScheduler(climb=0.5, retries=0), [False, True, False, False, True])
    np.testing.assert_allclose(tried, [0.5, 0.25, 0.375, 0.3125, 0.28125, 0.296875])
    assert end is None
    assert MaxCutScheduler.self_terminating  # the loop does not cut a bisection short


def test_maxcut_climb_reaches_final_sparsity_when_everything_passes():
    s = MaxCutScheduler(final_sparsity=0.9, climb=0.5, threshold=0.05)  # no failure: no retry
    tried, end = _walk(s, [True] * 20)
    # gaps to 0.9 halve: 0.45, 0.675, 0.7875, 0.84375, 0.871875 (gap 0.028 < 0.05: stop there)
    np.testing.assert_allclose(tried, [0.45, 0.675, 0.7875, 0.84375, 0.871875])
    assert end == pytest.approx(0.871875)


def test_maxcut_default_climb_is_a_third_of_the_remaining_gap():
    tried, _ = _walk(MaxCutScheduler(), [True, True, True])
    np.testing.assert_allclose(tried, [1 / 3, 5 / 9, 19 / 27, 65 / 81])


def test_maxcut_rejects_bad_arguments():
    with pytest.raises(ConfigError):
        MaxCutScheduler(climb=0)
    with pytest.raises(ConfigError):
        MaxCutScheduler(threshold=0)
    with pytest.raises(ConfigError):
        MaxCutScheduler(retries=-1)


def test_loop_policy_validates_its_choices():
    with pytest.raises(ConfigError):
        LoopPolicy(fine_tune="sometimes")
    with pytest.raises(ConfigError):
        LoopPolicy(normalise="median")


def test_pareto_front_keeps_the_non_dominated_trials():
    steps = [
        {"achieved": {"dsp": 800.0}, "metric": 0.96, "accepted": True},
        {"achieved": {"dsp": 500.0}, "metric": 0.95, "accepted": True},
        {"achieved": {"dsp": 400.0}, "metric": 0.80, "accepted": False},
        {"achieved": {"dsp": 600.0}, "metric": 0.94, "accepted": True},  # dominated by the 500 one
        {"achieved": {"dsp": 450.0}, "metric": 0.70, "accepted": False},  # dominated by the 400 one
    ]
    front = pareto_front(steps)
    assert [s["achieved"]["dsp"] for s in front] == [400.0, 500.0, 800.0]


def _two_layer_model(big_scale, small_scale):
    """A wide layer with large weights feeding a small output layer with small weights."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((16,)), keras.layers.Dense(32, name="wide"), keras.layers.Dense(4, name="out")]
    )
    rng = np.random.default_rng(0)
    w = model.get_layer("wide")
    w.set_weights([big_scale * rng.uniform(0.5, 1.5, (16, 32)).astype("float32"), np.zeros(32, "float32")])
    o = model.get_layer("out")
    o.set_weights([small_scale * rng.uniform(0.5, 1.5, (32, 4)).astype("float32"), np.zeros(4, "float32")])
    return model


def _pattern_groups(model, rf=4):
    groups = []
    for name in ("wide", "out"):
        shape = tuple(model.get_layer(name).kernel.shape)
        ids, n = group_ids(shape, "pattern", reuse_factor=rf)
        groups.append(
            LayerGroups(
                name=name, kernel_shape=shape, structure=StructureType.PATTERN, ids=ids, n_groups=n,
                savings=np.ones(1), resources=np.array([float(n)]), pruning=True, sharing=False,
                sizes=group_sizes(ids, n),
            )
        )
    return groups


@pytest.mark.parametrize("mode", ["mean", "max", "none", True, False])
def test_normalisation_modes(mode):
    model = _two_layer_model(1.0, 0.1)
    vals = group_values(model, _pattern_groups(model), "l1", normalise=mode)
    wide, out = vals["wide"][0], vals["out"][0]
    if mode in ("mean", True):
        assert np.mean(wide) == pytest.approx(1.0) and np.mean(out) == pytest.approx(1.0)
    elif mode == "max":
        assert np.max(wide) == pytest.approx(1.0) and np.max(out) == pytest.approx(1.0)
    else:  # raw norms: the small-weight output layer ranks below the wide one
        assert np.max(out) < np.min(wide)


def test_normalisation_mode_decides_which_layer_loses_its_groups():
    """With per-layer normalisation the output layer loses a share of its groups like any
    other layer; the policy's choice must not strip the output layer first."""
    model = _two_layer_model(1.0, 1.0)
    groups = _pattern_groups(model)
    policy = LoopPolicy()
    values = group_values(model, groups, "l1", normalise=policy.normalise)
    sel = select_groups(groups, values, 0.5, local=False, knapsack_solver="dynamic")
    kept = {n: float(np.mean(sel.keep[n])) for n in sel.keep}
    assert kept["out"] >= 0.3, kept


# ------------------------------------------------------------------------------------------------
# End to end on the bundled digits: the output layer keeps its share, the deep step is accepted
# ------------------------------------------------------------------------------------------------


def _digits_run(policy):
    from hls_opt.config import config_from_keras_model
    from hls_opt.data import __file__ as data_init
    from hls_opt.keras.api import attributes_for, run_optimization
    from hls_opt.objectives.vivado_objectives import VivadoDSPEstimator
    from hls_opt.train.schedulers import PolynomialScheduler

    d = np.load(os.path.join(os.path.dirname(data_init), "digits.npz"))
    X = (d["X"] / 16).astype("float32")
    y = np.eye(10, dtype="float32")[d["y"]]
    order = np.random.default_rng(0).permutation(len(X))
    X, y = X[order], y[order]
    Xtr, ytr, Xva, yva = X[:1000], y[:1000], X[1000:1400], y[1000:1400]
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((64,)), keras.layers.Dense(32, activation="relu", name="fc1"), keras.layers.Dense(10, name="logits")]
    )
    model.compile(keras.optimizers.Adam(), keras.losses.CategoricalCrossentropy(from_logits=True))
    model.fit(Xtr, ytr, epochs=20, batch_size=64, verbose=0)
    cfg = config_from_keras_model(model, granularity="name", default_precision="ac_fixed<16, 6>", default_reuse_factor=4)
    cfg["Model"]["Strategy"] = "Resource"
    for layer_cfg in cfg.get("LayerName", {}).values():
        for key, value in layer_cfg.get("Precision", {}).items():
            if value == "auto":
                layer_cfg["Precision"][key] = "ac_fixed<16, 6>"
    return run_optimization(
        model, attributes_for(model, cfg), VivadoDSPEstimator, PolynomialScheduler(4, final_sparsity=0.8),
        Xtr, ytr, Xva, yva, 64, 4, keras.optimizers.Adam(), keras.losses.CategoricalCrossentropy(from_logits=True),
        keras.metrics.CategoricalAccuracy(), True, 0.97, tuner=None, cutoff_bad_trials=3, policy=policy,
    )


@pytest.mark.slow
def test_default_loop_keeps_the_output_layer_and_accepts_a_deep_step():
    out = _digits_run(None)
    kept = {n: float(np.mean(m.reshape(-1) != 0)) for n, m in out.masks.items()}
    # the small output layer must not carry the cut: it keeps at least the hidden layer's share
    assert kept["logits"] >= kept["fc1"], kept
    # the 0.7 step (third of PolynomialScheduler(4, 0.8)) is accepted after fine-tuning; with the
    # old loop (layer-mean normalisation, restart from the last accepted state) no step past 0 was
    assert max(s["target"] for s in out.steps if s["accepted"]) >= 0.7 - 1e-9, out.steps
