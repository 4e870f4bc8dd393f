"""Devices, budgets and the feasibility check (#12 part 1), numbers worked out by hand."""

from __future__ import annotations

import dataclasses
import json
from fractions import Fraction

import pytest

from hls_opt.config import Budgets, Strategy, parse_budgets, parse_cycles, parse_device, parse_time_ns
from hls_opt.config.devices import DEVICES, device_fraction, device_from_config
from hls_opt.cost.feasibility import (
    check_budgets,
    fastest_timing,
    fewest_dsp_config,
    model_bounds,
    rf_timings,
)
from hls_opt.cost.registry import get_backend
from hls_opt.errors import ConfigError, InfeasibleBudget
from hls_opt.flow.report import build_report, footer_text, format_table, summary_text

# -- devices -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, name",
    [
        ("xcvu9p", "xcvu9p"),
        ("xcvu9p-flga2104-2L-e", "xcvu9p"),  # hls4ml's Part spelling
        ("XCVU13P-FLGA2577-2-E", "xcvu13p"),  # hls4ml's default part, any case
        ("xcku115-flvb2104-2-i", "xcku115"),
        ("xczu9eg-ffvb1156-2-e", "xczu9eg"),
        ("xc7z020clg400-1", "xc7z020"),  # the package glued to the name
        ("AGFB014R24A2E2V", "agfb014"),
        ("1SG280LU2F50E2VG", "1sg280"),
    ],
)
def test_part_names_users_write_find_the_device(text, name):
    assert parse_device(text).name == name


def test_device_counts_are_the_vendor_tables():
    vu9p = DEVICES["xcvu9p"]
    # DS890: 6,840 DSP, 2,160 RAMB36 = 4,320 BRAM18, 1,182,240 LUT, 2,364,480 FF
    assert (vu9p.dsp, vu9p.bram, vu9p.lut, vu9p.ff) == (6840, 4320, 1182240, 2364480)
    z020 = DEVICES["xc7z020"]
    assert (z020.dsp, z020.bram, z020.lut, z020.ff) == (220, 280, 53200, 106400)
    assert {d.vendor for d in DEVICES.values()} == {"AMD", "Intel"}


def test_unknown_part_names_the_flag_and_the_closest_part():
    with pytest.raises(ConfigError, match=r"--device: unknown part 'xcvu99p' \(closest known: xcvu9p"):
        parse_device("xcvu99p")
    with pytest.raises(ConfigError, match="Part: 'Agilex7' names a device family"):
        parse_device("Agilex7", key="Part")
    # a config's Part hls-opt does not know is not the user's error: no device, no fraction
    assert device_from_config({"Part": "Agilex7"}) is None
    assert device_from_config({"Part": "xcvu13p-flga2577-2-e"}).name == "xcvu13p"


def test_device_fraction():
    used = {"dsp": 684, "bram": 0, "ff": 23644, "lut": 1}
    frac = device_fraction(used, DEVICES["xcvu9p"])
    # xcvu9p: 6840 DSP48E2, 2 364 480 FF (hls_opt/config/devices.py, AMD's UltraScale+ table):
    # 684 / 6840 = 0.1 and 23644 / 2364480 = 0.0099996… ≈ 0.01
    assert frac["dsp"] == {"used": 684, "available": 6840, "fraction": 0.1}
    assert frac["ff"]["fraction"] == pytest.approx(0.01, rel=1e-4)


# -- budgets -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, period, cycles",
    [
        ("200", None, 200),  # cycles
        (200, None, 200),
        ("200ns", None, 40),  # 200 / 5 (hls4ml's default ClockPeriod)
        ("1.5us", None, 300),  # 1500 / 5
        ("1.5 us", Fraction(4), 375),
        ("7ns", None, 1),  # ⌊7/5⌋: a budget is an upper bound, 2 cycles would be 10 ns
        ("1e3ns", Fraction(3), 333),  # ⌊333.3⌋
        ("200ns", Fraction(10, 3), 60),  # exact: 200 / (10/3) = 60, not 59.999…
    ],
)
def test_budget_cycles_or_time(text, period, cycles):
    assert parse_cycles(text, key="--latency-budget", clock_period_ns=period) == cycles


@pytest.mark.parametrize(
    "text, message",
    [
        ("1.5", "--ii-budget: expected a positive whole number of cycles"),
        ("0", "--ii-budget: expected a positive whole number of cycles"),
        ("3ns", "--ii-budget: '3ns' is less than one clock cycle of 5 ns"),
        ("200MHz", "--ii-budget: unknown unit 'mhz'"),
        ("fast", "--ii-budget: cannot read 'fast'"),
    ],
)
def test_bad_budgets_name_the_flag(text, message):
    with pytest.raises(ConfigError, match=message):
        parse_cycles(text, key="--ii-budget")


def test_clock_period_from_the_flag_or_the_config():
    # nanoseconds, exact: "5ns" → 5, 2.5 → 5/2 (a Fraction, no float rounding), 4000 ps / 1000 = 4
    assert parse_time_ns("5ns") == 5 and parse_time_ns(2.5) == Fraction(5, 2) and parse_time_ns("4000ps") == 4
    with pytest.raises(ConfigError, match="--clock-period: must be positive"):
        parse_time_ns("0ns")
    # the config's ClockPeriod (hls4ml's key, ns) when the flag is absent; the flag wins
    assert parse_budgets(latency="200ns", hls_config={"ClockPeriod": 2.5}).latency_cycles == 80
    assert parse_budgets(latency="200ns", clock_period="10ns", hls_config={"ClockPeriod": 2.5}).latency_cycles == 20
    with pytest.raises(ConfigError, match="ClockPeriod: cannot read 'soon'"):
        parse_budgets(latency="200ns", hls_config={"ClockPeriod": "soon"})


def test_budgets_take_the_devices_counts_when_not_given():
    b = parse_budgets(device="xc7z020clg400-1", bram="10")
    # DSP not given: the xc7z020's 220 DSP48E1 (hls_opt/config/devices.py); BRAM as given
    assert (b.dsp_limit, b.bram_limit) == (220, 10)
    assert Budgets().dsp_limit is None
    with pytest.raises(ConfigError, match="--dsp-budget: expected a non-negative whole number"):
        parse_budgets(dsp="-3")


# -- feasibility on the two-Dense graph (fc 16→8, out 8→4, ap_fixed<16,6>: 1 DSP48E2 per product) --


def test_bounds_by_hand(dense_graph):
    g = dense_graph(16, 8, rf=4, strategy=Strategy.RESOURCE)
    # fastest: both at Latency RF 1 (pipelined top): 5 + 4 = 9 cycles, II 1 (tests/test_timing.py)
    fast = fastest_timing(g, "vivado")
    assert (fast.ii, fast.latency) == (1, 9)
    assert g.node("fc").config.strategy is Strategy.RESOURCE  # the graph is not changed
    # fewest DSPs: fc 16x8: unrolled at its largest RF 64 keeps ⌈128/min(16,64)⌉ = 8 multipliers;
    # Resource at RF 128 has block_factor 1: 1 multiplier.  out 8x4: unrolled RF 16 → 4, Resource
    # RF 32 → 1.  Total 2.
    be = get_backend("vivado")
    assert fewest_dsp_config(be, g.node("fc"), None) == (Strategy.RESOURCE, 128, 1)
    bounds = model_bounds(g, "vivado")
    assert (bounds.min_latency, bounds.min_ii, bounds.min_dsp, bounds.min_bram) == (9, 1, 2, 0)


def test_infeasible_budgets_say_what_the_model_can_reach(dense_graph):
    g = dense_graph(16, 8, rf=4, strategy=Strategy.RESOURCE)
    with pytest.raises(InfeasibleBudget) as err:
        check_budgets(g, "vivado", parse_budgets(latency="40ns", dsp="1"))
    text = str(err.value)
    assert "--latency-budget: 8 cycles (40 ns at 5 ns) is below the smallest latency the model can reach, " \
        "9 cycles (45 ns at 5 ns)" in text
    assert "--dsp-budget: 1 DSPs is below the smallest DSP count the model can reach without pruning, 2" in text
    assert isinstance(err.value, ConfigError)
    # 45 ns and 2 DSPs are reachable (each alone)
    assert check_budgets(g, "vivado", parse_budgets(latency="45ns", dsp="2", ii="1")).min_dsp == 2


def test_the_devices_dsp_count_is_the_budget_when_none_is_given(dense_graph):
    g = dense_graph(64, 64, rf=1, strategy=Strategy.LATENCY)  # fc 64x64 and out 64x4
    # fewest: fc Resource RF 4096 → 1; out Resource RF 256 → 1 → 2 DSPs; a part with 1 DSP is too small
    tiny = dataclasses.replace(DEVICES["xc7z020"], name="tiny", dsp=1)
    with pytest.raises(InfeasibleBudget, match=r"--device \(tiny\): 1 DSPs is below .* 2"):
        check_budgets(g, "vivado", Budgets(device=tiny))


def test_rf_timings_for_the_solver(dense_graph):
    g = dense_graph(16, 8, rf=4, strategy=Strategy.RESOURCE)
    table = rf_timings("vivado", g.node("fc"))
    # the unrolled strategy's RFs for 16x8 (hls4ml's list without 1 and 128); pipelined at II = RF
    assert list(table) == [2, 4, 8, 16, 32, 64]
    assert all(t.ii == rf for rf, t in table.items())
    # latency = (RF − 1) + ROM 1 + mult 1 + tree(17) 3 + cast 1
    assert [t.latency for t in table.values()] == [rf + 5 for rf in table]


# -- the report ---------------------------------------------------------------------------------------


def test_optimize_report_has_timing_and_device_fraction(dense_graph):
    before = dense_graph(16, 8, rf=4, strategy=Strategy.RESOURCE)
    after = dense_graph(16, 8, rf=4, strategy=Strategy.RESOURCE_UNROLLED)
    report = build_report(before, after, "vivado", device=parse_device("xcvu9p"))
    fc = next(layer for layer in report["layers"] if layer["name"] == "fc")
    # fc: Resource RF 4 (II 9, 9 cycles) → ResourceUnrolled RF 4 (II 4, 9 cycles)
    assert (fc["ii_before"], fc["latency_cycles_before"], fc["ii"], fc["latency_cycles"]) == (9, 9, 4, 9)
    assert report["timing"]["before"]["ii"] == 9 and report["timing"]["after"]["ii"] == 4
    assert report["timing"]["after"]["latency_cycles"] == 17 and report["timing"]["after"]["schedule"] == "pipeline"
    # DSP after: fc 128/4 = 32 multipliers, out 32/4 = 8 → 40 of 6,840
    assert report["device"]["after"]["dsp"] == {"used": 40, "available": 6840, "fraction": 40 / 6840}
    json.dumps(report)  # JSON-ready
    fc_row = next(line for line in format_table(report).splitlines() if line.startswith("fc "))
    assert "9→4" in fc_row.split()  # fc's II before→after
    text = footer_text(report)
    assert "model: II 4 cycles, latency 17 cycles (pipeline)" in text
    assert "device xcvu9p: DSP 40/6840 (0.6%)" in text
    assert "device xcvu9p: DSP 40/6840 (0.6%)" in summary_text(report)
