"""``parse_enum``, the one way user text becomes an enum, and ``Step``, the one form of an optimization step.

Every enum read from user text is parsed by :func:`hls_opt.core.enums.parse_enum` where the options are
built; below that, code compares members.  These tests check every spelling of every such enum, the
folds each one allows (and the ones it does not: behaviour kept from before the enums), and the message
of a bad value (the key, the value, the spellings allowed).
"""

from __future__ import annotations

import json
from enum import Enum

import pytest

from hls_opt.config.precision_search import PrecisionMode, parse_precision_search
from hls_opt.config.values import (
    FineTune,
    IOType,
    OnReject,
    RankingMetric,
    Strategy,
    Target,
    Tuner,
    parse_io_type,
    parse_ranking,
    parse_strategy,
    parse_target,
    parse_tuner,
)
from hls_opt.core.enums import parse_enum
from hls_opt.core.precision import Rounding, Saturation, parse_precision
from hls_opt.errors import ConfigError, PrecisionError
from hls_opt.solve.front import pareto_front
from hls_opt.solve.knapsack import IMPLEMENTATIONS, KnapsackMethod, parse_knapsack_method, solve_knapsack
from hls_opt.solve.rf_dp import LatencyCombine, SolverMethod
from hls_opt.solve.rf_problem import RFMode
from hls_opt.solve.step import Step

ENUMS: list[type[Enum]] = [
    RankingMetric, Tuner, Target, KnapsackMethod, FineTune, OnReject, Strategy, IOType, RFMode,
    SolverMethod, LatencyCombine, PrecisionMode, Rounding, Saturation,
]  # fmt: skip


@pytest.mark.parametrize("cls", ENUMS, ids=lambda c: c.__name__)
def test_every_value_and_every_member_parses(cls):
    for member in cls:
        assert parse_enum(cls, member.value, "k") is member
        assert parse_enum(cls, f"  {member.value} ", "k") is member  # surrounding blanks are not a spelling
        assert parse_enum(cls, member, "k") is member


def test_the_spellings_each_parser_documents():
    # the user-facing spellings, by the parser each option is built with
    assert [parse_ranking(s) for s in ("l1", "l2", "saliency", "oracle", "hessian")] == list(RankingMetric)
    assert [parse_tuner(s) for s in (None, "Bayesian", "Hyperband", "Manual")] == [None, *Tuner]
    assert parse_target(None) is None and parse_target("max") is Target.MAX and parse_target(" MAX") is Target.MAX
    assert [parse_knapsack_method(s) for s in IMPLEMENTATIONS] == list(KnapsackMethod)
    assert IMPLEMENTATIONS == ("auto", "dynamic", "branch_bound", "greedy", "CBC_MIP")  # hls4ml's four + auto
    # Strategy: hls4ml's spellings fold underscores and case; 'Unrolled' and 'da' are aliases
    for text, member in [
        ("Latency", Strategy.LATENCY), ("latency", Strategy.LATENCY), ("RESOURCE", Strategy.RESOURCE),
        ("resource_unrolled", Strategy.RESOURCE_UNROLLED), ("Resource_Unrolled", Strategy.RESOURCE_UNROLLED),
        ("Unrolled", Strategy.RESOURCE_UNROLLED), ("distributed_arithmetic", Strategy.DISTRIBUTED_ARITHMETIC),
        ("DA", Strategy.DISTRIBUTED_ARITHMETIC),
    ]:  # fmt: skip
        assert parse_strategy(text, key="t") is member, text
    assert parse_io_type("IO_Stream") is IOType.STREAM
    assert RFMode.parse("JOINT") is RFMode.JOINT
    assert parse_precision_search("AUTO").mode is PrecisionMode.AUTO
    # rounding / saturation modes: hls4ml's AP_ / AC_ prefixes, any case
    p = parse_precision("ap_fixed<8,3,AP_RND_CONV,ac_sat_sym>")
    assert (p.rounding, p.saturation) == (Rounding.RND_CONV, Saturation.SAT_SYM)


@pytest.mark.parametrize(
    "parse, text",
    [
        (parse_ranking, "L1"),  # ranking names were and stay case-sensitive
        (parse_tuner, "bayesian"),  # so were hls4ml's tuner names
        (parse_knapsack_method, "cbc_mip"),
        (parse_strategy, "Resource Unrolled"),  # a blank is not an underscore
    ],
)
def test_folds_only_where_they_were(parse, text):
    with pytest.raises(ConfigError):
        parse(text)


def test_a_bad_value_names_the_key_the_value_and_every_spelling():
    with pytest.raises(ConfigError) as err:
        parse_ranking("l3")
    assert str(err.value) == "ranking_metric: expected one of 'l1', 'l2', 'saliency', 'oracle', 'hessian', got 'l3'"
    # a single spelling reads as itself
    with pytest.raises(ConfigError) as err:
        parse_target("min", "target")
    assert str(err.value) == "target: expected 'max', got 'min'"
    # with a noun: "unknown <noun>"; aliases are listed after the values
    with pytest.raises(ConfigError) as err:
        parse_strategy("Fast", key="LayerName.d.Strategy")
    assert str(err.value) == (
        "LayerName.d.Strategy: unknown strategy 'Fast' (expected one of 'Latency', 'Resource', "
        "'ResourceUnrolled', 'DistributedArithmetic', 'Unrolled', 'da')"
    )
    # not a string: shown as its repr
    with pytest.raises(ConfigError, match=r"^tuner: expected one of 'Bayesian', 'Hyperband', 'Manual', got 3$"):
        parse_tuner(3)
    # the knapsack's error is still a ValueError (hls4ml raised ValueError), naming the argument
    with pytest.raises(ValueError, match=r"^implementation: unknown knapsack solver 'dp' \(expected one of 'auto'"):
        solve_knapsack([1.0], [[1]], [1], implementation="dp")
    # a precision's mode keeps its own error (a PrecisionError naming the key)
    with pytest.raises(PrecisionError, match="unknown rounding mode 'FLOOR'"):
        parse_precision("ap_fixed<16,6,FLOOR>")


def test_options_hold_members_built_from_strings():
    from hls_opt.train.engine import FineTuneOptions, LoopPolicy

    options = FineTuneOptions(
        loss=None, ranking="saliency", tuner="Hyperband", knapsack_solver="CBC_MIP", target="max",
        policy=LoopPolicy(fine_tune="full", on_reject="restore"),
    )  # fmt: skip
    assert options.ranking is RankingMetric.SALIENCY and options.tuner is Tuner.HYPERBAND
    assert options.knapsack_solver is KnapsackMethod.CBC_MIP and options.target is Target.MAX
    assert options.policy.fine_tune is FineTune.FULL and options.policy.on_reject is OnReject.RESTORE
    defaults = FineTuneOptions(loss=None)
    assert (defaults.ranking, defaults.tuner, defaults.knapsack_solver, defaults.target) == (
        RankingMetric.L1, None, KnapsackMethod.AUTO, None,
    )  # fmt: skip
    with pytest.raises(ConfigError, match=r"^on_reject: expected one of 'restore', 'continue', got 'retry'$"):
        LoopPolicy(on_reject="retry")


def test_hls4ml_ranking_names_keep_hls4mls_meaning():
    from hls_opt.keras.api import hls4ml_ranking

    # hls4ml's 'saliency' is OBD (hls-opt's hessian), its 'oracle' |w·g| (hls-opt's saliency)
    assert hls4ml_ranking("saliency") is RankingMetric.HESSIAN
    assert hls4ml_ranking("oracle") is RankingMetric.SALIENCY
    assert [hls4ml_ranking(s) for s in ("l1", "l2", "hessian")] == [RankingMetric.L1, RankingMetric.L2, RankingMetric.HESSIAN]


# What the engine and the one-shot pass wrote as dicts before Step: report.json must not change.
FINE_TUNED = {"target": 0.5, "achieved": {"dsp": 12.0, "bram": 2.0}, "metric": 0.93, "accepted": True, "epochs": 3}
ONE_SHOT = {"target": 0.25, "achieved": {"params": 88.0}, "metric": None, "accepted": True}
PROBE = {"target": 0.8, "achieved": {"dsp": 4.0}, "metric": 0.5, "accepted": False, "epochs": 2, "probe": True}


@pytest.mark.parametrize("old", [FINE_TUNED, ONE_SHOT, PROBE], ids=["fine-tuned", "one-shot", "probe"])
def test_step_as_dict_is_the_old_dict_byte_for_byte(old):
    step = Step.from_mapping(old)
    assert json.dumps(step.as_dict()) == json.dumps(old)
    assert Step.from_mapping(json.loads(json.dumps(step.as_dict()))) == step  # report.json reloaded
    assert step["target"] == old["target"] and step["achieved"] == old["achieved"]
    assert ("epochs" in old) is (step.epochs is not None)


def test_step_is_frozen_and_typed():
    step = Step(target=1, achieved={"dsp": 3}, metric=0.9, accepted=1, epochs=2.0)
    assert (step.target, dict(step.achieved), step.accepted, step.epochs) == (1.0, {"dsp": 3.0}, True, 2)
    assert type(step.target) is float and type(step.epochs) is int
    with pytest.raises(AttributeError):
        step.metric = 0.1  # type: ignore[misc]
    with pytest.raises(TypeError):
        step.achieved["dsp"] = 0.0  # type: ignore[index]


def test_pareto_front_takes_steps_and_mappings_alike():
    # 500 DSP at 0.95 dominates 600 at 0.94; 400 at 0.80 is the cheapest; 800 at 0.96 the best metric
    trials = [
        {"target": 0.1, "achieved": {"dsp": 800.0}, "metric": 0.96, "accepted": True, "epochs": 1},
        {"target": 0.4, "achieved": {"dsp": 500.0}, "metric": 0.95, "accepted": True, "epochs": 1},
        {"target": 0.5, "achieved": {"dsp": 400.0}, "metric": 0.80, "accepted": False, "epochs": 1},
        {"target": 0.3, "achieved": {"dsp": 600.0}, "metric": 0.94, "accepted": True, "epochs": 1},
    ]
    from_steps = pareto_front([Step.from_mapping(t) for t in trials])
    assert from_steps == pareto_front(trials)
    assert [s["achieved"]["dsp"] for s in from_steps] == [400.0, 500.0, 800.0]
    assert all(type(s) is dict for s in from_steps)  # JSON-ready, as report.json writes the front
