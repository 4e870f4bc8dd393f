"""hls4ml's ``hls4ml.optimization.dsp_aware_pruning.knapsack`` path: the solver lives in
:mod:`hls_opt.solve.knapsack`."""

from hls_opt.solve.knapsack import solve_knapsack

__all__ = ["solve_knapsack"]
