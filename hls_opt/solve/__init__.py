"""Solvers and the problems they are given: the numba knapsack (:mod:`~hls_opt.solve.knapsack`), the pruning
problem read off a graph (:mod:`~hls_opt.solve.pruning`), the joint reuse-factor × pruning DP
(:mod:`~hls_opt.solve.rf_dp`) and its problem from a graph (:mod:`~hls_opt.solve.rf_problem`)."""
