"""Typed values of an hls4ml configuration: :class:`Strategy`, :class:`IOType`, the frozen
:class:`LayerConfig` (validates itself), and the parsers that turn hls4ml's spellings into them.
"""

from __future__ import annotations

import logging
import numbers
import re
from dataclasses import dataclass
from enum import Enum
from typing import Any

from hls_opt.core.enums import parse_enum
from hls_opt.core.precision import (
    DEFAULT_PRECISION,
    Precision,
)
from hls_opt.errors import ConfigError

log = logging.getLogger(__name__)


class Strategy(str, Enum):
    """hls4ml's dense/conv implementation strategies, by the spelling hls4ml accepts on input.

    ``RESOURCE_UNROLLED`` is hls4ml's unrolled strategy (``ResourceUnrolled``); the seed's
    ``Unrolled`` is accepted as an alias on input but never written (hls4ml would read it as Latency).
    """

    LATENCY = "Latency"
    RESOURCE = "Resource"
    RESOURCE_UNROLLED = "ResourceUnrolled"
    DISTRIBUTED_ARITHMETIC = "DistributedArithmetic"


class IOType(str, Enum):
    PARALLEL = "io_parallel"
    STREAM = "io_stream"


@dataclass(frozen=True)
class LayerConfig:
    """Everything hls-opt needs to know about one layer's hls4ml configuration, resolved once.

    Precedence when resolving: LayerName > LayerType > Model.  Precisions are concrete (``auto``
    has been replaced by the next level's value).  ``reuse_factor`` and ``parallelization_factor``
    are positive integers.  ``activation_result`` is the result type of the activation hls4ml
    splits off this layer (``Dense(activation='relu')`` named ``d`` → hls4ml layer ``d_relu``),
    i.e. what the next layer reads; ``None`` when the layer has no split-off activation.
    """

    weight: Precision
    bias: Precision
    result: Precision
    accum: Precision
    reuse_factor: int = 1
    strategy: Strategy = Strategy.LATENCY
    io_type: IOType = IOType.PARALLEL
    parallelization_factor: int = 1
    activation_result: Precision | None = None

    def __post_init__(self) -> None:
        # Parse once, at the edge: whoever builds a LayerConfig hands over typed values, and a
        # wrong one is caught here, naming the field, not deep inside a resource model.
        for name in ("weight", "bias", "result", "accum"):
            if not isinstance(getattr(self, name), Precision):
                raise ConfigError(f"LayerConfig.{name}: expected a concrete Precision, got {getattr(self, name)!r}")
        if self.activation_result is not None and not isinstance(self.activation_result, Precision):
            raise ConfigError(f"LayerConfig.activation_result: expected a Precision, got {self.activation_result!r}")
        if not isinstance(self.strategy, Strategy):
            raise ConfigError(f"LayerConfig.strategy: expected a Strategy, got {self.strategy!r}")
        if not isinstance(self.io_type, IOType):
            raise ConfigError(f"LayerConfig.io_type: expected an IOType, got {self.io_type!r}")
        for name in ("reuse_factor", "parallelization_factor"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or int(value) < 1:
                raise ConfigError(f"LayerConfig.{name}: expected a positive integer, got {value!r}")
            object.__setattr__(self, name, int(value))

    @property
    def output(self) -> Precision:
        """The type of what the next layer reads: the split-off activation's result, else ``result``."""
        return self.activation_result if self.activation_result is not None else self.result


#: hls4ml's settings for a layer no config mentions: ``fixed<16,6>`` everywhere, reuse factor 1,
#: Latency (hls4ml's ``config_from_keras_model`` defaults, hls4ml/utils/config.py), io_parallel (the
#: default ``io_type`` of hls4ml's converters); docs/config.md §3.
DEFAULT_LAYER_CONFIG = LayerConfig(
    weight=DEFAULT_PRECISION, bias=DEFAULT_PRECISION, result=DEFAULT_PRECISION, accum=DEFAULT_PRECISION
)


# --------------------------------------------------------------------------------------------
# Strategy and IO type
# --------------------------------------------------------------------------------------------

# hls4ml normalises with convert_to_snake_case (hls4ml/utils/string_utils.py) and then compares to
# 'latency', 'resource', 'resource_unrolled', 'distributed_arithmetic' / 'da' (vivado_backend.py);
# anything else silently becomes Latency.  We accept every spelling that folds (underscores removed,
# lower case) to those, plus the seed's 'Unrolled'.
_STRATEGY_ALIASES: dict[str, Strategy] = {
    "Unrolled": Strategy.RESOURCE_UNROLLED,
    "da": Strategy.DISTRIBUTED_ARITHMETIC,
}


def _fold_strategy(text: str) -> str:
    return text.replace("_", "").lower()


# What hls4ml's convert_to_snake_case must produce for hls4ml to honour the strategy.
_HLS4ML_UNDERSTANDS = {"latency", "resource", "resource_unrolled", "distributed_arithmetic", "da"}
_ALREADY_LOGGED: set[tuple[str, str]] = set()


def _hls4ml_snake_case(text: str) -> str:
    # Same transformation as hls4ml.utils.string_utils.convert_to_snake_case (reimplemented).
    snake = re.sub(r"(?<!^)(?=[A-Z])", "_", text).lower()
    return re.sub(r"_{2,}", "_", snake)


def parse_strategy(text: str | Strategy, *, key: str = "Strategy") -> Strategy:
    """Parse an hls4ml ``Strategy`` value into a :class:`Strategy`.

    Accepts every spelling hls4ml maps (``Latency``, ``latency``, ``Resource``, ``ResourceUnrolled``,
    ``resource_unrolled``, ``Resource_Unrolled``, ``DistributedArithmetic``, ``da``, …), any letter
    case (``RESOURCE``), and ``Unrolled`` as an alias of ``ResourceUnrolled``.  Spellings that
    hls4ml itself would silently read as Latency are logged at WARNING (they mean something else to
    hls4ml than to us).  Unknown values raise :class:`ConfigError` naming ``key``.
    """
    strategy = parse_enum(Strategy, text, key, aliases=_STRATEGY_ALIASES, fold=_fold_strategy, what="strategy")
    if isinstance(text, Strategy):
        return text
    stripped = text.strip()
    if (key, stripped) in _ALREADY_LOGGED:
        return strategy  # say it once per key and spelling, not once per layer
    _ALREADY_LOGGED.add((key, stripped))
    if stripped.replace("_", "").lower() == "unrolled":
        log.info(
            "%s: 'Unrolled' read as ResourceUnrolled (it is written back as 'ResourceUnrolled', "
            "the spelling hls4ml understands)",
            key,
        )
    elif strategy is not Strategy.LATENCY and _hls4ml_snake_case(stripped) not in _HLS4ML_UNDERSTANDS:
        log.warning(
            "%s: '%s' read as %s; hls4ml itself would silently treat this spelling as Latency - write '%s'",
            key,
            text,
            strategy.value,
            strategy.value,
        )
    return strategy


def parse_io_type(text: str | IOType, *, key: str = "IOType") -> IOType:
    """Parse ``io_parallel`` / ``io_stream`` (any letter case) into an :class:`IOType`."""
    return parse_enum(IOType, text, key, fold=str.lower, what="IO type")


def _parse_positive_int(value: Any, key: str) -> int:
    # YAML yields ints; also accept numpy integers (numbers.Integral), an integral float (4.0) or
    # a digit string ("4"), never a bool.
    if isinstance(value, bool):
        number = None
    elif isinstance(value, numbers.Integral):
        number = int(value)
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and re.fullmatch(r"[0-9]{1,18}", value.strip()):
        # ASCII digits only ('²'.isdigit() is true, int() refuses it) and at most 18 of them
        # (int() refuses over 4300; no reuse factor needs more than a few)
        number = int(value.strip())
    else:
        number = None
    if number is None or number < 1:
        shown = repr(value) if len(repr(value)) <= 40 else f"{repr(value)[:30]}... ({len(str(value))} characters)"
        raise ConfigError(f"{key}: expected a positive integer, got {shown}")
    return number


# --------------------------------------------------------------------------------------------
# The optimizer's settings: parsed once where the options are built (parse_enum), compared as
# members below.  Kept here, Keras-free, so the flow checks a value before anything is loaded.
# --------------------------------------------------------------------------------------------


class RankingMetric(str, Enum):
    """How weights are ranked for pruning (the trainer's ``ranking``, ``ranking_metric=``): hls4ml's
    l1, l2, saliency, oracle (``hls4ml/optimization/dsp_aware_pruning/keras/masking.py``) and
    hls-opt's hessian (:mod:`hls_opt.train.ranking`)."""

    L1 = "l1"
    L2 = "l2"
    SALIENCY = "saliency"
    ORACLE = "oracle"
    HESSIAN = "hessian"

    @property
    def magnitude(self) -> bool:
        """A norm of the weights (l1, l2), not a loss estimate."""
        return self in (RankingMetric.L1, RankingMetric.L2)


#: The ranking metrics' spellings, in :class:`RankingMetric`'s order.
RANKING_METRICS = tuple(m.value for m in RankingMetric)


class Tuner(str, Enum):
    """The regularisation-strength search (hls4ml's ``tuner=``); ``None`` (no member) is hls-opt's
    built-in search."""

    BAYESIAN = "Bayesian"
    HYPERBAND = "Hyperband"
    MANUAL = "Manual"


class Target(str, Enum):
    """``target='max'``: search for the deepest cut within ``rtol`` instead of following the scheduler."""

    MAX = "max"


class FineTune(str, Enum):
    """``LoopPolicy.fine_tune``: ``full`` trains every step its epochs (hls4ml); ``recover`` stops once
    the validation metric is back to the baseline."""

    FULL = "full"
    RECOVER = "recover"


class OnReject(str, Enum):
    """``LoopPolicy.on_reject``: ``restore`` the last accepted state, or ``continue`` from the rejected
    step's fine-tuned weights (hls4ml)."""

    RESTORE = "restore"
    CONTINUE = "continue"


def parse_ranking(value: Any, key: str = "ranking_metric") -> RankingMetric:
    return parse_enum(RankingMetric, value, key)


def parse_tuner(value: Any, key: str = "tuner") -> Tuner | None:
    """``None`` stays ``None`` (the built-in search)."""
    return None if value is None else parse_enum(Tuner, value, key)


def parse_target(value: Any, key: str = "target") -> Target | None:
    """``None`` stays ``None`` (follow the scheduler)."""
    return None if value is None else parse_enum(Target, value, key, fold=str.lower)
