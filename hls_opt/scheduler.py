"""hls4ml's ``hls4ml.optimization.dsp_aware_pruning.scheduler`` path: the schedulers live in
:mod:`hls_opt.train.schedulers` (with hls-opt's ``MaxCutScheduler`` and ``default_scheduler``)."""

from hls_opt.train.schedulers import (
    BinaryScheduler,
    ConstantScheduler,
    MaxCutScheduler,
    OptimizationScheduler,
    PolynomialScheduler,
    default_scheduler,
)

__all__ = [
    "BinaryScheduler",
    "ConstantScheduler",
    "MaxCutScheduler",
    "OptimizationScheduler",
    "PolynomialScheduler",
    "default_scheduler",
]
