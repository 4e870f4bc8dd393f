"""hls4ml-style configuration: typed strategies, IO types and resolved per-layer configs."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from hls_opt.precision import Precision


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

    Precedence when resolving: LayerName > LayerType > Model.
    """

    weight: Precision
    bias: Precision
    result: Precision
    accum: Precision
    reuse_factor: int = 1
    strategy: Strategy = Strategy.LATENCY
    io_type: IOType = IOType.PARALLEL
    parallelization_factor: int = 1
