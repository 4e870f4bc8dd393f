"""hls4ml-compatible Vivado estimators over the ``'vivado'`` backend's cost model.

``VivadoDSPEstimator`` (``'dsp'``), ``VivadoFFEstimator`` (``'ff'``), ``VivadoBRAMEstimator``
(``'bram'``) and ``VivadoMultiObjectiveEstimator`` (``'dsp+bram'``, vector ``[DSP, BRAM]`` as in
hls4ml) are :class:`~hls_opt.objectives._core.BackendEstimator` adapters: structures and savings
are those of the layer as hls-opt's rewrite builds it once pruned
(:meth:`hls_opt.backends.fpga.FPGABackend.pruned_config`: ``ResourceUnrolled`` at an RF the
unrolled strategy accepts, or Latency at RF 1), because under plain ``Resource`` hls4ml's code
saves nothing from zeros.  ``layer_resources`` is the unpruned layer under its *current*
configuration.  See ``docs/resources.md``.
"""

from __future__ import annotations

from hls_opt.backends.fpga import FPGABackend

from hls_opt.objectives import ObjectiveEstimator, _core

BACKEND = "vivado"


def target_reuse_factor(backend: FPGABackend, v: _core.LayerView) -> int:
    """The RF the unrolled rewrite gives the layer (:meth:`FPGABackend.pruned_config`)."""
    return int(backend.pruned_config(v.node).reuse_factor)


class VivadoDSPEstimator(_core.BackendEstimator, ObjectiveEstimator):
    """DSP slices.  RF = 1: unstructured, a zero weight saves its multiplier's DSPs; RF > 1:
    pattern groups (one per multiplier of the unrolled kernel), each saving one multiplier's
    DSPs.  Products narrower than the backend's LUT threshold (default 9 bits) use no DSP: such
    layers are not optimizable for DSP."""

    backend = BACKEND
    objective = "dsp"


class VivadoFFEstimator(_core.BackendEstimator, ObjectiveEstimator):
    """Flip-flops, same structures as :class:`VivadoDSPEstimator`; a group saves the product
    registers of the multipliers it removes (basis in :meth:`FPGABackend.fabric`)."""

    backend = BACKEND
    objective = "ff"


class VivadoBRAMEstimator(_core.BackendEstimator, ObjectiveEstimator):
    """18 Kb BRAMs holding the weights of Resource-style layers (RF > 1): pattern groups of
    ``consecutive_patterns`` reuse rows chosen to free whole blocks
    (:meth:`FPGABackend.bram_consecutive`).  Layers built as Latency keep weights in logic: not
    optimizable for BRAM."""

    backend = BACKEND
    objective = "bram"


class VivadoMultiObjectiveEstimator(_core.BackendEstimator, ObjectiveEstimator):
    """``[DSP, BRAM]`` (hls4ml's order).  Resource-style layers with RF > 1: the BRAM estimator's
    pattern groups, each saving ``[c·DSP per multiplier, blocks freed]``; other layers: the DSP
    estimator's structure with a BRAM saving of 0."""

    backend = BACKEND
    objective = "dsp+bram"



__all__ = [
    "VivadoBRAMEstimator",
    "VivadoDSPEstimator",
    "VivadoFFEstimator",
    "VivadoMultiObjectiveEstimator",
    "target_reuse_factor",
]
