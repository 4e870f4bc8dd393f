"""Latency / II / resource budgets, parsed once at the edge into a frozen :class:`Budgets`.

``--latency-budget`` and ``--ii-budget`` take cycles (``200``) or a time (``200ns``, ``1.5us``);
a time becomes cycles with the clock period (``--clock-period 5ns``, else the config's
``ClockPeriod`` — hls4ml's key, in ns, default 5: ``vivado_backend.py`` /
``oneapi_backend.py`` ``create_initial_config``).  A time converts to ``⌊time / period⌋`` cycles:
the budget is an upper bound, and ``⌊t/T⌋`` is the most whole cycles that fit in ``t`` (rounding
up would let the design exceed the time asked for).  Exact arithmetic (:class:`fractions.Fraction`),
so ``200ns / 5ns`` is 40, not 39.999….
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from hls_opt.config.devices import Device, parse_device
from hls_opt.errors import ConfigError

#: hls4ml's default ``ClockPeriod`` (ns).
DEFAULT_CLOCK_PERIOD_NS = Fraction(5)
_UNITS_NS = {"ps": Fraction(1, 1000), "ns": Fraction(1), "us": Fraction(1000), "µs": Fraction(1000),
             "ms": Fraction(10**6), "s": Fraction(10**9)}
_NUMBER = re.compile(r"^\s*([+-]?[0-9]+(?:\.[0-9]*)?|[+-]?\.[0-9]+)(?:[eE]([+-]?[0-9]+))?\s*([a-zµ]*)\s*$", re.IGNORECASE)


_TIME_OR_CYCLES = "cycles like 200 or a time like 200ns, 1.5us"

# Bounds on every number a user gives (``1e999999999`` hung in ``Fraction(10) ** exp``).
# They are checked on the text before any arithmetic, so a hostile value costs microseconds.
#: At most this many characters in a number as written (``1.5e3us`` is 7).
MAX_NUMBER_TEXT = 64
#: At most this decimal exponent (either sign): nothing hls-opt counts needs more.
MAX_EXPONENT = 30
#: The largest cycle budget (10¹² cycles: over an hour at 5 ns).
MAX_CYCLES = 10**12
#: The largest resource count (the largest FPGAs hold ~10⁴ DSPs, ~10⁵ BRAMs).
MAX_COUNT = 10**9
#: A time budget of at most 10¹⁵ ns (about 11.6 days).
MAX_TIME_NS = Fraction(10**15)
#: The clock period lies in [1 ps, 1 s].
CLOCK_PERIOD_RANGE_NS = (Fraction(1, 1000), Fraction(10**9))


def _parse_quantity(value: Any, key: str, expected: str = _TIME_OR_CYCLES) -> tuple[Fraction, str]:
    if isinstance(value, bool):
        raise ConfigError(f"{key}: expected a number, got {value!r}")
    if isinstance(value, int):
        if value.bit_length() > 128:  # far beyond every range below; don't print 10⁵ digits
            raise ConfigError(f"{key}: {value.bit_length()}-bit number is out of range")
        return Fraction(value), ""
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ConfigError(f"{key}: expected a finite number, got {value!r}")
        return Fraction(str(value)), ""  # the decimal the user wrote: 0.1 is 1/10 (exponent <= 308)
    if not isinstance(value, str):
        raise ConfigError(f"{key}: cannot read {value!r} (expected {expected})")
    if len(value) > MAX_NUMBER_TEXT:
        raise ConfigError(f"{key}: cannot read {value[:20]!r}... ({len(value)} characters; at most {MAX_NUMBER_TEXT})")
    m = _NUMBER.match(value)
    if m is None:
        raise ConfigError(f"{key}: cannot read {value!r} (expected {expected})")
    number = Fraction(m.group(1))
    if m.group(2):
        exponent = int(m.group(2))  # at most MAX_NUMBER_TEXT digits: cheap
        if abs(exponent) > MAX_EXPONENT:
            raise ConfigError(f"{key}: exponent {exponent} in {value!r} is out of range (at most ±{MAX_EXPONENT})")
        number *= Fraction(10) ** exponent
    return number, m.group(3).lower()


def _check_range(number: Fraction, low: Fraction, high: Fraction, key: str, value: Any, unit: str = "") -> None:
    if not low <= number <= high:
        shown = value if not isinstance(value, int) or value.bit_length() <= 128 else f"a {value.bit_length()}-bit int"
        raise ConfigError(f"{key}: {shown!r} is out of range ({float(low):g} to {float(high):g}{unit})")


def parse_time_ns(value: Any, *, key: str = "--clock-period") -> Fraction:
    """A clock period in ns: ``5``/``5.0`` (ns, hls4ml's ClockPeriod unit), ``5ns``, ``0.005us``,
    ``5000ps``; between 1 ps and 1 s (:data:`CLOCK_PERIOD_RANGE_NS`)."""
    number, unit = _parse_quantity(value, key, "a time like 5ns, or ns as a number")
    if unit and unit not in _UNITS_NS:
        raise ConfigError(f"{key}: unknown time unit '{unit}' in {value!r} (use ps, ns, us, ms or s)")
    ns = number * _UNITS_NS.get(unit or "ns")
    if ns <= 0:
        raise ConfigError(f"{key}: must be positive, got {value!r}")
    _check_range(ns, *CLOCK_PERIOD_RANGE_NS, key, value, " ns")
    return ns


def parse_cycles(value: Any, *, key: str, clock_period_ns: Fraction | None = None) -> int:
    """A budget in cycles: a positive integer (``200``, cycles) or a time (``200ns``, ``1.5us``),
    which becomes ``⌊time / clock_period⌋`` (``clock_period_ns`` default: hls4ml's 5 ns); at most
    :data:`MAX_CYCLES` cycles, a time at most :data:`MAX_TIME_NS`."""
    number, unit = _parse_quantity(value, key)
    if unit in ("", "cycle", "cycles", "c"):
        if number.denominator != 1 or number < 1:
            raise ConfigError(f"{key}: expected a positive whole number of cycles, got {value!r}")
        _check_range(number, Fraction(1), Fraction(MAX_CYCLES), key, value, " cycles")
        return int(number)
    if unit not in _UNITS_NS:
        raise ConfigError(f"{key}: unknown unit '{unit}' in {value!r} (cycles, or a time in ps, ns, us, ms, s)")
    period = clock_period_ns if clock_period_ns is not None else DEFAULT_CLOCK_PERIOD_NS
    ns = number * _UNITS_NS[unit]
    _check_range(ns, Fraction(0), MAX_TIME_NS, key, value, " ns")
    cycles = math.floor(ns / period)
    if cycles < 1:
        raise ConfigError(f"{key}: {value!r} is less than one clock cycle of {float(period):g} ns")
    _check_range(Fraction(cycles), Fraction(1), Fraction(MAX_CYCLES), key, value, " cycles")
    return int(cycles)


def parse_count(value: Any, *, key: str) -> int:
    """A non-negative whole resource count (``--dsp-budget 500``), at most :data:`MAX_COUNT`."""
    number, unit = _parse_quantity(value, key, "a whole number")
    if unit or number.denominator != 1 or number < 0:
        raise ConfigError(f"{key}: expected a non-negative whole number, got {value!r}")
    _check_range(number, Fraction(0), Fraction(MAX_COUNT), key, value)
    return int(number)


@dataclass(frozen=True)
class Budgets:
    """What the design may use: ``latency_cycles``, ``ii_cycles``, ``dsp``, ``bram``, ``lut`` (None: no
    budget), the ``device`` (its counts stand in for a missing ``dsp``/``bram``/``lut`` budget) and the
    ``clock_period_ns`` the cycles were counted at."""

    latency_cycles: int | None = None
    ii_cycles: int | None = None
    dsp: int | None = None
    bram: int | None = None
    device: Device | None = None
    clock_period_ns: Fraction = DEFAULT_CLOCK_PERIOD_NS
    lut: int | None = None

    def __post_init__(self) -> None:
        for name in ("latency_cycles", "ii_cycles", "dsp", "bram", "lut"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise ConfigError(f"Budgets.{name}: expected a non-negative int or None, got {value!r}")
        if self.device is not None and not isinstance(self.device, Device):
            raise ConfigError(f"Budgets.device: expected a Device, got {self.device!r}")

    @property
    def dsp_limit(self) -> int | None:
        """The DSP budget: the explicit one, else the device's DSP count."""
        return self.dsp if self.dsp is not None else (self.device.dsp if self.device else None)

    @property
    def bram_limit(self) -> int | None:
        """The BRAM budget: the explicit one, else the device's 18 Kb block count."""
        return self.bram if self.bram is not None else (self.device.bram if self.device else None)

    @property
    def lut_limit(self) -> int | None:
        """The LUT budget: the explicit one (``--lut-budget``), else the device's LUT count."""
        return self.lut if self.lut is not None else (self.device.lut if self.device else None)

    def ns(self, cycles: int) -> float:
        """``cycles`` at the clock period, in ns."""
        return float(cycles * self.clock_period_ns)


def clock_period_from_config(config: Any, source: str | None = None) -> Fraction | None:
    """The ``ClockPeriod`` of an hls4ml config (ns), or None when it has none; errors name
    ``source`` (the file) in front of the key."""
    if isinstance(config, Mapping) and config.get("ClockPeriod") is not None:
        return parse_time_ns(config["ClockPeriod"], key=f"{source}: ClockPeriod" if source else "ClockPeriod")
    return None


def parse_budgets(
    *,
    latency: Any = None,
    ii: Any = None,
    dsp: Any = None,
    bram: Any = None,
    device: Any = None,
    clock_period: Any = None,
    hls_config: Any = None,
    config_source: str | None = None,
    lut: Any = None,
) -> Budgets:
    """:class:`Budgets` from the CLI's strings (or API values): ``--latency-budget``,
    ``--ii-budget``, ``--dsp-budget``, ``--bram-budget``, ``--lut-budget``, ``--device``, ``--clock-period``;
    the clock falls back to the config's ``ClockPeriod`` (errors name ``config_source``), then hls4ml's 5 ns."""
    period = (
        parse_time_ns(clock_period, key="--clock-period")
        if clock_period is not None
        else clock_period_from_config(hls_config, config_source) or DEFAULT_CLOCK_PERIOD_NS
    )
    return Budgets(
        latency_cycles=None if latency is None else parse_cycles(latency, key="--latency-budget", clock_period_ns=period),
        ii_cycles=None if ii is None else parse_cycles(ii, key="--ii-budget", clock_period_ns=period),
        dsp=None if dsp is None else parse_count(dsp, key="--dsp-budget"),
        bram=None if bram is None else parse_count(bram, key="--bram-budget"),
        device=None if device is None else parse_device(device, key="--device"),
        clock_period_ns=period,
        lut=None if lut is None else parse_count(lut, key="--lut-budget"),
    )


__all__ = [
    "DEFAULT_CLOCK_PERIOD_NS",
    "Budgets",
    "clock_period_from_config",
    "parse_budgets",
    "parse_count",
    "parse_cycles",
    "parse_time_ns",
]
