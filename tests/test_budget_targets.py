"""Resource budgets as targets: the cut a budget needs, the schedule that reaches
it, the report's line when it cannot, and the CLI's exit 3 on the digits MLP."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hls_opt.config import Budgets, parse_budgets
from hls_opt.core.structures import Grouping, StructureType
from hls_opt.cost.objective import find_objective
from hls_opt.cost.registry import get_backend
from hls_opt.errors import InfeasibleBudget
from hls_opt.flow.report import budget_report
from hls_opt.solve.budget_cut import required_cut, resource_limits
from hls_opt.solve.pruning import PruningProblem, layer_groups, problem_for
from hls_opt.train.schedulers import BudgetScheduler, PolynomialScheduler

# -- the cut ---------------------------------------------------------------------------------------


def test_required_cut_on_the_dense_graph_by_hand(dense_graph):
    # fc 16→8 and out 8→4 at RF 4 (Resource → ResourceUnrolled when pruned): one DSP per pattern
    # group of 4 weights, 128/4 = 32 and 32/4 = 8 groups: baseline 40 DSPs, every one savable (floor 0).
    problem = problem_for(dense_graph(), get_backend("vivado"), find_objective("dsp"))
    cut = required_cut(problem, {"dsp": 20})
    assert cut.baseline == (40.0,) and cut.floor == (0.0,)
    # keep ≤ 20 of the 40 savable DSPs: s = 1 − 20/40 = 0.5 (a hair less: the knapsack's ⌊(1 − s)·40⌋ is 20)
    assert cut.sparsity == pytest.approx(0.5, abs=1e-6) and cut.sparsity <= 0.5
    assert np.floor((1 - cut.sparsity) * 40) == 20
    assert required_cut(problem, {"dsp": 40}).sparsity == 0.0  # fits unpruned
    assert required_cut(problem, {"bram": 0}) is None  # the objective does not count BRAM


def _hand_problem():
    # one layer of 5 groups saving 2 DSPs each (S = 10) on a baseline of 16: 6 DSPs stay whatever is
    # pruned (the floor)
    g = layer_groups("fc", (5, 1), Grouping(StructureType.PATTERN, 1), [2.0], [16.0])
    return PruningProblem("dsp", ("dsp",), (g,), np.array([16.0]), lambda masks: np.array([16.0]))


@pytest.mark.parametrize(
    "limit, sparsity",
    [
        (16, 0.0),  # fits unpruned
        (11, 0.5),  # keep ≤ 11 − 6 = 5 of the 10 savable: s = 1 − 5/10
        (6, 1.0),  # everything savable goes
    ],
)
def test_required_cut_above_the_floor(limit, sparsity):
    assert required_cut(_hand_problem(), {"dsp": limit}).sparsity == pytest.approx(sparsity, abs=1e-6)


def test_a_budget_below_the_all_pruned_design_is_infeasible():
    budgets = parse_budgets(dsp=5)
    with pytest.raises(InfeasibleBudget, match=r"--dsp-budget: 5 DSPs is below .* every prunable group pruned, 6"):
        required_cut(_hand_problem(), resource_limits(budgets), budgets)


def test_resource_limits_read_every_field_generically():
    assert resource_limits(Budgets(dsp=3, bram=4)) == {"dsp": 3, "bram": 4}
    # a device stands in for a missing budget (its counts), an explicit one wins
    b = parse_budgets(dsp=10, device="xcvu9p")
    limits = resource_limits(b)
    assert limits["dsp"] == 10 and limits["bram"] == b.device.bram
    assert resource_limits(None) == {}


# -- the schedule ----------------------------------------------------------------------------------


def _run(scheduler, outcomes):
    seq = [round(scheduler.get_sparsity(), 4)]
    for ok in outcomes:
        go, s = scheduler.update_step() if ok else scheduler.repair_step()
        if not go:
            return seq, round(s, 4)
        seq.append(round(s, 4))
    return seq, None


def test_budget_scheduler_climbs_to_the_cut_in_equal_steps_and_stops():
    # cut 0.6 at most 0.25 a step: ⌈0.6/0.25⌉ = 3 steps of 0.2; all pass → stop at 0.6 (fits)
    seq, end = _run(BudgetScheduler({"dsp": 1}).for_sparsity(0.6), [True] * 5)
    assert seq == [0.2, 0.4, 0.6] and end == 0.6


def test_budget_scheduler_bisects_after_a_failure():
    # pass 0.2, fail 0.4 → bisect [0.2, 0.4]: 0.3 passes, 0.35 fails, 0.325 passes, 0.3375 fails,
    # 0.3312 passes (gap 0.0063 < 0.01) → one retry at the smallest failure 0.3375, which fails → end
    # at the deepest success 0.3312
    seq, end = _run(BudgetScheduler({"dsp": 1}).for_sparsity(0.6), [True, False, True, False, True, False, True, False])
    assert seq == [0.2, 0.4, 0.3, 0.35, 0.325, 0.3375, 0.3312, 0.3375]
    assert end == 0.3312


def test_budget_scheduler_keeps_the_users_schedule_when_nothing_needs_cutting(dense_graph):
    from hls_opt.passes.dsp_aware_pruning import budget_resolved

    users = PolynomialScheduler(3, final_sparsity=0.3)
    problem = problem_for(dense_graph(), get_backend("vivado"), find_objective("dsp"))
    assert budget_resolved(BudgetScheduler({"dsp": 40}, fallback=users), problem) is users
    aimed = budget_resolved(BudgetScheduler({"dsp": 10}, fallback=users), problem)
    assert aimed.final_sparsity == pytest.approx(0.75, abs=1e-6)  # 1 − 10/40


# -- the report's line -----------------------------------------------------------------------------


def _report(final_dsp, steps, baseline=0.95, final=0.94, rtol=0.975):
    return {
        "mode": "fine-tuned",
        "baseline_metric": baseline,
        "final_metric": final,
        "rtol": rtol,
        "increasing": True,
        "acceptance_limit": baseline * rtol,
        "total": {"after": {"dsp": final_dsp, "bram": 0}},
        "timing": {"after": {"latency_cycles": 30, "ii": 4}},
        "steps": steps,
    }


def test_budget_report_names_the_budget_what_was_reached_and_the_cost():
    steps = [
        {"achieved": {"dsp": 400.0}, "metric": 0.94, "accepted": True},
        {"achieved": {"dsp": 240.0}, "metric": 0.80, "accepted": False},
        {"achieved": {"dsp": 250.0}, "metric": 0.85, "accepted": False, "probe": True},
    ]
    out = budget_report(Budgets(dsp=250), _report(400, steps))
    assert out["met"] == {"dsp": False} and out["all_met"] is False
    line = out["not_met"]
    assert "--dsp-budget 250 DSPs: reached 400 DSPs" in line
    assert "metric 0.9400 (baseline 0.9500" in line
    # the best trial within the budget (0.85 of the two that fit), against the limit 0.95 · 0.975
    assert "best trial within the budget has metric 0.8500" in line and "0.9262" in line


def test_budget_report_on_a_field_outside_the_objective_says_so():
    steps = [{"achieved": {"dsp": 300.0}, "metric": 0.94, "accepted": True}]
    report = _report(300, steps)
    report["total"]["after"]["bram"] = 12
    line = budget_report(Budgets(bram=4), report)["not_met"]
    assert line.startswith("budget not met: --bram-budget 4 BRAMs: reached 12 BRAMs")
    assert line.endswith("the objective does not reduce BRAMs (add it to --optimize)")


def test_budget_report_met():
    out = budget_report(Budgets(dsp=500, latency_cycles=40), _report(400, []))
    assert out["all_met"] is True and "not_met" not in out
    assert out["met"] == {"latency_cycles": True, "dsp": True}


# -- the flow, one-shot (no data: the cut is the budget's) -----------------------------------------


@pytest.fixture(scope="module")
def mlp():
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((16,)),
            keras.layers.Dense(16, activation="relu", name="fc1"),
            keras.layers.Dense(8, activation="relu", name="fc2"),
            keras.layers.Dense(4, activation="softmax", name="out"),
        ]
    )
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    return model


def _rf4(model):
    from hls_opt.config import config_from_keras_model

    cfg = config_from_keras_model(model, granularity="name", default_precision="ap_fixed<16,6>", default_reuse_factor=4)
    cfg["Model"]["Strategy"] = "Resource"
    return cfg


def test_one_shot_cuts_to_the_dsp_budget(mlp):
    from hls_opt.flow.run import convert_and_optimize

    # RF 4: fc1 16·16/4 = 64, fc2 16·8/4 = 32, out 8·4/4 = 8 → 104 DSPs; the default schedule's 50 %
    # would leave 52; the budget asks for 30, which the one-shot cut reaches exactly (1-DSP groups)
    result = convert_and_optimize(mlp, _rf4(mlp), objective="dsp", dsp_budget=30)
    budgets = result.report["budgets"]
    assert result.report["total"]["before"]["dsp"] == 104
    assert budgets["reached"]["dsp"] == 30 and budgets["all_met"] is True


def test_an_all_pruned_design_over_the_budget_fails_before_training(mlp, monkeypatch):
    from hls_opt.flow.run import convert_and_optimize
    from hls_opt.train import engine

    def no_training(*args, **kwargs):  # pragma: no cover - reaching it is the failure
        raise AssertionError("trained although the budget is infeasible")

    monkeypatch.setattr(engine.FineTuner, "__init__", no_training)
    x = np.random.default_rng(0).normal(size=(32, 16)).astype(np.float32)
    y = np.eye(4, dtype=np.float32)[np.arange(32) % 4]
    # dsp+bram: pruning saves no BRAM here, so every BRAM the RF-4 design uses stays (its floor)
    with pytest.raises(InfeasibleBudget, match=r"--bram-budget: 0 BRAMs is below what the design reaches"):
        convert_and_optimize(mlp, _rf4(mlp), data=(x, y, x, y), objective="dsp+bram", bram_budget=0, epochs=2)


# -- the CLI on the digits MLP, --dsp-budget 250 ------------------------------------------------------


@pytest.mark.slow
def test_cli_dsp_budget_250_on_digits_fits_or_exits_3_with_the_line(tmp_path, capsys):
    import keras

    from hls_opt.cli import main
    from hls_opt.config import config_from_keras_model, save_config
    from hls_opt.data import digits_split, train_baseline

    split = digits_split(0)
    model = train_baseline(split)
    keras.utils.set_random_seed(0)
    model.save(tmp_path / "model.keras")
    cfg = config_from_keras_model(model, granularity="name", default_precision="ap_fixed<16,6>", default_reuse_factor=4)
    cfg["Model"]["Strategy"] = "Resource"
    save_config(cfg, tmp_path / "r4.yml")
    np.savez(tmp_path / "d.npz", X_train=split.X_train, y_train=split.y_train, X_val=split.X_val, y_val=split.y_val)
    out = tmp_path / "out"
    argv = [
        "optimize", str(tmp_path / "model.keras"), "--config", str(tmp_path / "r4.yml"), "--data",
        str(tmp_path / "d.npz"), "--optimize", "dsp", "--dsp-budget", "250", "--epochs", "3", "-q", "-o", str(out),
    ]
    capsys.readouterr()
    code = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    report = json.loads((out / "report.json").read_text())  # written either way
    assert (out / "model.keras").exists() and (out / "hls_config.yml").exists()
    budgets = report["budgets"]
    limit = report["acceptance_limit"]
    if code == 0:
        assert budgets["all_met"] and budgets["reached"]["dsp"] <= 250 and report["final_metric"] >= limit
        assert err == []
    else:
        assert code == 3
        assert budgets["met"]["dsp"] is False and budgets["all_met"] is False
        assert len(err) == 1 and err[0] == f"hls-opt: {budgets['not_met']}"
        assert err[0].startswith("hls-opt: budget not met: --dsp-budget 250 DSPs: reached ")
        assert f"reached {budgets['reached']['dsp']:.0f} DSPs" in err[0]
        # the design found is within rtol, and some trial within the budget says what fitting costs
        assert report["final_metric"] >= limit and budgets["reached"]["dsp"] > 250
        fitting = [s for s in report["steps"] if s["achieved"]["dsp"] <= 250]
        assert fitting and all(s["metric"] < limit for s in fitting)
        assert f"{max(s['metric'] for s in fitting):.4f}" in err[0]
