"""hls4ml path ``dsp_aware_pruning.objectives.vivado_objectives``: re-exports the Vivado estimators."""

from hls_opt.backends.vivado.objectives import (
    VivadoBRAMEstimator,
    VivadoDSPEstimator,
    VivadoFFEstimator,
    VivadoMultiObjectiveEstimator,
)

__all__ = ["VivadoBRAMEstimator", "VivadoDSPEstimator", "VivadoFFEstimator", "VivadoMultiObjectiveEstimator"]
