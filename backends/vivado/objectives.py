"""hls4ml-compatible Vivado estimators over the ``'vivado'`` resource models.

``VivadoDSPEstimator`` (``'dsp'``), ``VivadoFFEstimator`` (``'ff'``), ``VivadoBRAMEstimator``
(``'bram'``) and ``VivadoMultiObjectiveEstimator`` (``'dsp+bram'``, vector ``[DSP, BRAM]`` as in
hls4ml).  They find the resource model through the registry (``get_backend('vivado')``).

Target semantics: hls-opt's ``unrolled-rewrite`` pass turns every pruned layer with RF > 1 into
``ResourceUnrolled`` at the nearest reuse factor the unrolled strategy accepts, and a layer with
RF = 1 stays at RF 1 (Latency).  So the structures and per-group savings here are those of that
target: for RF > 1, PATTERN groups = reuse-group rows of that RF (one multiplier each; under
plain ``Resource`` hls4ml would save nothing, which is why the pass switches strategy); for
RF = 1, UNSTRUCTURED (each zero weight is a constant-folded multiplier).  ``layer_resources`` is
the unpruned layer under its *current* configuration.  See ``docs/resources.md``.
"""

from __future__ import annotations

import logging
from typing import Any

from hls_opt.backends.fpga import FPGABackend, MatMul, parse_strategy, resolve_matmul

from hls_opt.config import Strategy
from hls_opt.objectives import ObjectiveEstimator, _core
from hls_opt.resources import ceil_div, get_backend

logger = logging.getLogger(__name__)

BACKEND = "vivado"


def _backend() -> FPGABackend:
    return get_backend(BACKEND)  # type: ignore[return-value]


def target_reuse_factor(backend: FPGABackend, v: _core.LayerView) -> int:
    """The RF the unrolled rewrite gives the layer: 1 stays 1, else the nearest unrolled-valid RF
    (1 when the layer has none, e.g. a 1×1 multiply)."""
    rf = max(1, int(v.node.config.reuse_factor or 1))
    if rf == 1:
        return 1
    return int(backend.snap_reuse_factor(v.node, rf, strategy=Strategy.RESOURCE_UNROLLED))


def _matmul(backend: FPGABackend, v: _core.LayerView) -> MatMul:
    return resolve_matmul(backend, v.node, v.input_precision)


def multipliers_saved(v: _core.LayerView, st: _core.Structure, rf_target: int) -> int:
    """Multipliers one group of ``st`` removes under the target implementation at ``rf_target``."""
    if rf_target == 1:
        return _core.group_size(v, st)  # every zero weight is a folded constant multiply
    return _core.rows_covered(v, st, rf_target)


def _is_da(v: _core.LayerView) -> bool:
    return parse_strategy(v.node.config.strategy) is Strategy.DISTRIBUTED_ARITHMETIC


def _default_structure(v: _core.LayerView, rf_target: int, consecutive: int = 1) -> Any:
    if rf_target == 1:
        return _core.optimization_attributes("unstructured")
    return _core.optimization_attributes(
        "pattern", pattern_offset=v.n_weights // rf_target, consecutive=consecutive
    )


class VivadoDSPEstimator(ObjectiveEstimator):
    """DSP slices.  RF = 1: unstructured, a zero weight saves its multiplier's DSPs; RF > 1:
    pattern groups (``pattern_offset`` = n·/RF groups, one per multiplier), each saving the DSPs
    of one multiplier.  Products narrower than the backend's LUT threshold (default 9 bits) use
    no DSP: such layers are not optimizable for DSP."""

    @classmethod
    def is_layer_optimizable(cls, layer_attributes: Any) -> tuple[bool, Any]:
        v = _core.view(layer_attributes)
        if v is None or _is_da(v):
            return False, None
        be = _backend()
        mm = _matmul(be, v)
        if be.dsp_cost(mm.data, mm.weight) == 0:
            return False, None
        return True, _default_structure(v, target_reuse_factor(be, v))

    @classmethod
    def layer_resources(cls, layer_attributes: Any) -> list[int]:
        return _core.unpruned_resources(layer_attributes, BACKEND, "dsp")

    @classmethod
    def layer_savings(cls, layer_attributes: Any) -> list[int]:
        v = _core.view(layer_attributes)
        st = _core.structure(layer_attributes)
        if v is None or st is None or _is_da(v):
            return [0]
        be = _backend()
        mm = _matmul(be, v)
        return [multipliers_saved(v, st, target_reuse_factor(be, v)) * be.dsp_cost(mm.data, mm.weight)]


class VivadoFFEstimator(ObjectiveEstimator):
    """Flip-flops, same structures as :class:`VivadoDSPEstimator`; a group saves the product
    registers of the multipliers it removes (basis in :meth:`FPGABackend.fabric`)."""

    @classmethod
    def is_layer_optimizable(cls, layer_attributes: Any) -> tuple[bool, Any]:
        v = _core.view(layer_attributes)
        if v is None or _is_da(v):
            return False, None
        return True, _default_structure(v, target_reuse_factor(_backend(), v))

    @classmethod
    def layer_resources(cls, layer_attributes: Any) -> list[int]:
        return _core.unpruned_resources(layer_attributes, BACKEND, "ff")

    @classmethod
    def layer_savings(cls, layer_attributes: Any) -> list[int]:
        v = _core.view(layer_attributes)
        st = _core.structure(layer_attributes)
        if v is None or st is None or _is_da(v):
            return [0]
        be = _backend()
        mm = _matmul(be, v)
        return [multipliers_saved(v, st, target_reuse_factor(be, v)) * be.ff_per_multiplier(mm)]


# --------------------------------------------------------------------------------------------------
# BRAM


def _rom_geometry(be: FPGABackend, v: _core.LayerView, rf: int) -> tuple[int, int, int]:
    """``(stack, unit_width, weight_width)`` of the unpruned weight ROM at reuse factor ``rf``:
    the ROM is ``rf`` deep and ``(n/rf)·w`` wide; on the best aspect ``(depth_a, width_a)`` it is
    ``stack = ⌈rf/depth_a⌉`` blocks deep, so every ``width_a`` bits of width removed free ``stack``
    blocks."""
    w = _matmul(be, v).weight.width
    depth_a, width_a = be.memory.best_aspect(rf, (v.n_weights // rf) * w)
    return ceil_div(rf, depth_a), width_a, w


def bram_consecutive(be: FPGABackend, v: _core.LayerView, rf: int) -> int:
    """How many reuse rows (``w``-bit ROM slices) to merge into one group so that a group frees
    whole blocks: the smallest divisor ``c`` of the row count with ``c·w`` a multiple of the block
    width (exact savings); else the smallest one that wastes < 20 %; else all rows."""
    stack, width_a, w = _rom_geometry(be, v, rf)
    n_rows = v.n_weights // rf
    divisors = [c for c in range(1, n_rows + 1) if n_rows % c == 0]
    for c in divisors:
        if (c * w) % width_a == 0:
            return c
    for c in divisors:
        bits = c * w
        if bits >= width_a and (bits // width_a) * width_a >= 0.8 * bits:
            return c
    return n_rows


def bram_saved(be: FPGABackend, v: _core.LayerView, st: _core.Structure, rf: int) -> int:
    """Blocks one group frees: a lower bound, exact when its width is a multiple of the block width."""
    if rf <= 1:
        return 0
    stack, width_a, w = _rom_geometry(be, v, rf)
    rows = _core.rows_covered(v, st, rf)
    n_rows = v.n_weights // rf
    if rows >= n_rows:  # the whole ROM goes: every block is freed
        return be.memory.blocks(rf, n_rows * w)
    return stack * ((rows * w) // width_a)


def _resource_style(v: _core.LayerView) -> bool:
    """Weights in a BRAM ROM under the layer's implemented strategy and reuse factor."""
    return _matmul(_backend(), v).resource_style


class VivadoBRAMEstimator(ObjectiveEstimator):
    """18 Kb BRAMs holding the weights of Resource-style layers (RF > 1): pattern groups of
    ``consecutive_patterns`` reuse rows chosen to free whole blocks (:func:`bram_consecutive`).
    Latency and RF = 1 layers keep weights in logic: not optimizable for BRAM."""

    @classmethod
    def is_layer_optimizable(cls, layer_attributes: Any) -> tuple[bool, Any]:
        v = _core.view(layer_attributes)
        if v is None or not _resource_style(v):
            return False, None
        be = _backend()
        rf = target_reuse_factor(be, v)
        if rf <= 1:
            return False, None
        return True, _default_structure(v, rf, consecutive=bram_consecutive(be, v, rf))

    @classmethod
    def layer_resources(cls, layer_attributes: Any) -> list[int]:
        return _core.unpruned_resources(layer_attributes, BACKEND, "bram")

    @classmethod
    def layer_savings(cls, layer_attributes: Any) -> list[int]:
        v = _core.view(layer_attributes)
        st = _core.structure(layer_attributes)
        if v is None or st is None or not _resource_style(v):
            return [0]
        be = _backend()
        return [bram_saved(be, v, st, target_reuse_factor(be, v))]


class VivadoMultiObjectiveEstimator(ObjectiveEstimator):
    """``[DSP, BRAM]`` (hls4ml's order).  Resource-style layers with RF > 1: the BRAM estimator's
    pattern groups, each saving ``[c·DSP per multiplier, blocks freed]``; other layers: the DSP
    estimator's structure with a BRAM saving of 0."""

    @classmethod
    def is_layer_optimizable(cls, layer_attributes: Any) -> tuple[bool, Any]:
        bram_ok, bram_attrs = VivadoBRAMEstimator.is_layer_optimizable(layer_attributes)
        if bram_ok:
            return True, bram_attrs
        return VivadoDSPEstimator.is_layer_optimizable(layer_attributes)

    @classmethod
    def layer_resources(cls, layer_attributes: Any) -> list[int]:
        return _core.unpruned_resources(layer_attributes, BACKEND, "dsp", "bram")

    @classmethod
    def layer_savings(cls, layer_attributes: Any) -> list[int]:
        v = _core.view(layer_attributes)
        if v is None or _core.structure(layer_attributes) is None:
            return [0, 0]
        dsp = VivadoDSPEstimator.layer_savings(layer_attributes)[0]
        bram = VivadoBRAMEstimator.layer_savings(layer_attributes)[0]
        return [dsp, bram]


__all__ = [
    "VivadoBRAMEstimator",
    "VivadoDSPEstimator",
    "VivadoFFEstimator",
    "VivadoMultiObjectiveEstimator",
    "bram_consecutive",
    "target_reuse_factor",
]
