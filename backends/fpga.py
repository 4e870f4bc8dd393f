"""What every hls4ml FPGA backend shares: how many multipliers and how much weight memory a
matrix-multiply layer instantiates, by strategy, reuse factor and zero pattern.

The counts follow hls4ml's code generation (hls4ml commit ef92ebd; files below are in
hls4ml/templates/vivado/nnet_utils/ and hls4ml/backends/):

* **Latency** (``nnet_dense_latency.h``, config ``core_templates.py``): weights are
  compile-time constants, products unrolled under ``PIPELINE II=RF`` with
  ``ALLOCATION mul limit = ⌈n_in·n_out/RF⌉ − ⌊nz/RF⌋`` (``nz`` = zero weights, C unsigned
  division).  Convolutions (``nnet_conv{1,2}d_latency.h``) put the same pragma on the whole
  function, so the cap is one kernel's worth whatever the ParallelizationFactor.
* **Resource** (``nnet_dense_resource.h``): RF > 1 → weights in a BRAM ROM reshaped by
  ``block_factor = ⌈n_in·n_out/RF⌉``; the unrolled MultLoop instantiates ``block_factor``
  multipliers whatever the weights (zeros save nothing).  RF = 1 → the weights are not put in
  BRAM and are constant-folded (``function_instantiate``), so each zero weight saves its
  multiplier, as in Latency.  io_parallel convolutions (``nnet_conv2d_resource.h``) unroll the
  pixel loop of one partition: ``ParallelizationFactor`` copies of the multipliers.
* **ResourceUnrolled** (``backends/vivado/passes/unrolled_codegen.py``): one multiply per non-zero
  weight, capped by ``ALLOCATION mul limit = ⌈n_in·n_out / min(n_in, RF)⌉ − Z`` where ``Z`` is the
  number of all-zero rows of the ``(n_in·n_out/RF, RF)`` reshape of the transposed kernel.  For
  RF ≤ n_in that is ``block_factor − Z``; for RF > n_in (RF a multiple of n_in) hls4ml writes
  ``n_out − Z``, which is what we report (it is the cap the generated code sets).  hls4ml
  falls back to Resource for RF = 1 and for io_parallel convolutions
  (``vivado_backend.py`` ``init_dense`` / ``init_conv1d`` / ``init_conv2d``); so do we.
* **DistributedArithmetic**: no multipliers (shift-and-add in LUTs); not modelled further.

Resource-style strategies with RF > 1 validate the reuse factor (hls4ml replaces an invalid one
by the nearest valid one); we evaluate at that snapped value.  Weight groups come from
:mod:`hls_opt.core.structures` (``zero_reuse_groups``), the one shared definition.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from hls_opt.backends.cycles import CYCLES, CycleConstants

from hls_opt.config import DEFAULT_LAYER_CONFIG, IOType, LayerConfig, Strategy
from hls_opt.core.precision import Precision
from hls_opt.core.structures import Grouping, StructureType, mult_shape, zero_reuse_groups
from hls_opt.cost.backend import Backend, closest_reuse_factor, hls4ml_valid_reuse_factors
from hls_opt.cost.timing import NO_HARDWARE, Schedule, Timing
from hls_opt.cost.vector import ResourceVector, ceil_div
from hls_opt.ir.nodes import (
    Activation,
    Add,
    BatchNormalization,
    Concatenate,
    ConvND,
    Dropout,
    Flatten,
    Input,
    Pooling,
    Reshape,
    WeightedNode,
)

if TYPE_CHECKING:
    from hls_opt.ir.graph import Graph
    from hls_opt.ir.nodes import Node, WeightedNode


logger = logging.getLogger(__name__)

#: hls4ml's default layer configuration (the config module's, for nodes without a config).
DEFAULT_CONFIG = DEFAULT_LAYER_CONFIG


def signed_width(p: Precision) -> int:
    """Bits a two's-complement multiplier port needs for ``p`` (an unsigned type needs one more)."""
    return p.width if p.signed else p.width + 1


@dataclass(frozen=True)
class MatMul:
    """Everything the hardware models need about one layer's matrix multiply, resolved once."""

    n_in: int
    n_out: int
    n_pixels: int  # output positions (1 for Dense)
    strategy: Strategy  # the strategy hls4ml will really implement (after its fallbacks)
    reuse_factor: int  # after hls4ml's snapping for resource-style strategies
    copies: int  # parallel copies of the multipliers (io_parallel conv Resource: ParallelizationFactor)
    weight: Precision
    data: Precision  # the other multiplier operand (the layer's input)
    accum: Precision
    result: Precision
    io_type: IOType
    is_conv: bool

    @property
    def n(self) -> int:
        return self.n_in * self.n_out

    @property
    def block_factor(self) -> int:
        return ceil_div(self.n, self.reuse_factor)

    @property
    def resource_style(self) -> bool:
        """Weights in a BRAM ROM read RF times (Resource / ResourceUnrolled with RF > 1)."""
        return self.strategy in (Strategy.RESOURCE, Strategy.RESOURCE_UNROLLED) and self.reuse_factor > 1


def resolve_matmul(backend: FPGABackend, node: WeightedNode, input_precision: Any = None) -> MatMul:
    """The implemented matrix multiply of ``node`` under hls4ml's rules (fallbacks, RF snapping)."""
    cfg: LayerConfig = node.config if getattr(node, "config", None) is not None else DEFAULT_CONFIG
    n_in, n_out = mult_shape(node.kernel.shape)
    is_conv = isinstance(node, ConvND)
    io_type = cfg.io_type
    rf = cfg.reuse_factor
    strategy = backend.implemented_strategy(cfg.strategy, rf, is_conv, io_type)
    if strategy in (Strategy.RESOURCE, Strategy.RESOURCE_UNROLLED):
        valid = hls4ml_valid_reuse_factors(n_in, n_out)
        if strategy is Strategy.RESOURCE_UNROLLED and len(valid) > 1:
            valid = valid[:-1]  # hls4ml: include_max_rf=False for the unrolled strategy
        snapped = closest_reuse_factor(valid, rf)
        if snapped != rf:
            logger.info("%s: reuse factor %d is not valid for hls4ml; it uses %d", node.name, rf, snapped)
        rf = snapped
        if strategy is Strategy.RESOURCE_UNROLLED and rf == 1:
            strategy = Strategy.RESOURCE
    n_pixels = int(node.n_pixels) if is_conv else 1
    copies = 1
    if is_conv and io_type is IOType.PARALLEL and strategy is Strategy.RESOURCE:
        # nnet_conv{1,2}d_resource.h: the pixel loop of a partition is unrolled; pixels per
        # partition = ParallelizationFactor (n_partitions = pixels / PF).  hls4ml first snaps PF
        # to the nearest divisor of the output pixels (vivado_backend.py init_conv1d/init_conv2d,
        # get_valid_conv_partition_splits + get_closest_reuse_factor).
        pf = max(1, int(getattr(cfg, "parallelization_factor", 1) or 1))
        pixels = max(1, n_pixels)
        copies = closest_reuse_factor([d for d in range(1, pixels + 1) if pixels % d == 0], pf)
    weight = cfg.weight
    result = cfg.result
    data = input_precision if input_precision is not None else result
    return MatMul(
        n_in=n_in,
        n_out=n_out,
        n_pixels=n_pixels,
        strategy=strategy,
        reuse_factor=rf,
        copies=copies,
        weight=weight,
        data=data,
        accum=cfg.accum,
        result=result,
        io_type=io_type,
        is_conv=is_conv,
    )


def multipliers(mm: MatMul, kernel: np.ndarray) -> int:
    """Multipliers hls4ml's generated code instantiates for this kernel (all copies)."""
    rf = mm.reuse_factor
    nz = int(np.count_nonzero(np.asarray(kernel) == 0))
    if mm.strategy is Strategy.DISTRIBUTED_ARITHMETIC:
        return 0
    if mm.strategy is Strategy.LATENCY or rf == 1:
        # Latency cap (core_templates.py): DIV_ROUNDUP(n, RF) - n_zeros / RF; Resource RF=1 folds
        # constant zeros the same way (RF = 1: one multiplier per non-zero weight), in each of the
        # io_parallel conv Resource kernel's unrolled pixel copies (copies is 1 for Latency).
        return max(0, ceil_div(mm.n, rf) - nz // rf) * mm.copies
    if mm.strategy is Strategy.RESOURCE:
        return mm.block_factor * mm.copies
    # ResourceUnrolled, RF > 1 (unrolled_codegen.py): ceil(n / min(n_in, RF)) - all-zero reuse groups.
    zeros = zero_reuse_groups(kernel, rf)
    return max(0, ceil_div(mm.n, min(mm.n_in, rf)) - zeros)


def kept_rows(mm: MatMul, kernel: np.ndarray) -> int:
    """Reuse-group rows (multiplier weight slices) still holding a non-zero weight."""
    return mm.block_factor - zero_reuse_groups(kernel, mm.reuse_factor)


def rom_width_bits(mm: MatMul, kernel: np.ndarray) -> int:
    """Width of the weight ROM word (bits), ``0`` when the weights are not in a ROM.

    ``ARRAY_RESHAPE block factor=BF`` makes a ROM ``RF`` words deep and ``BF·w`` bits wide; word
    ``j`` holds weight ``j`` of every reuse group, so group ``m`` is a ``w``-bit column slice.
    Under ResourceUnrolled the slices of all-zero groups are never read and synthesis trims them
    (the purpose of hls4ml's unrolled code, see its docstring); under Resource every slice is read.
    """
    if not mm.resource_style:
        return 0
    rows = mm.block_factor if mm.strategy is Strategy.RESOURCE else kept_rows(mm, kernel)
    return rows * mm.weight.width


def nonzero_outputs(kernel: np.ndarray) -> int:
    """Output neurons / filters whose kernel column still holds a non-zero weight."""
    k = np.asarray(kernel)
    return int(np.count_nonzero(k.reshape(-1, k.shape[-1]).any(axis=0)))


def weight_costs(node: Node, kernel: np.ndarray, input_precision: Precision | None = None) -> dict[str, int]:
    """The strategy-independent part of a Dense / Conv estimate, shared by every backend:
    ``flops`` of the outputs still fed (:func:`gpu_flops`), ``params`` (non-zero kernel weights),
    ``memory_bits`` (those weights at the weight precision) and ``ebops`` (:func:`ebops`)."""
    k = np.asarray(kernel)
    n_in, n_out = mult_shape(k.shape)
    cfg = node.config if node.config is not None else DEFAULT_CONFIG
    n_pixels = int(node.n_pixels) if isinstance(node, ConvND) else 1
    nnz = int(np.count_nonzero(k))
    data = input_precision if input_precision is not None else cfg.result
    has_bias = bool(getattr(node, "use_bias", False)) and getattr(node, "bias", None) is not None
    return {
        "flops": gpu_flops(n_in, nonzero_outputs(k), n_pixels),
        "params": nnz,
        "memory_bits": nnz * cfg.weight.width,
        "ebops": ebops(nnz, n_out, n_pixels, cfg.weight, data, cfg.bias if has_bias else None),
    }


def ebops(nonzero: int, n_out: int, n_pixels: int, weight: Precision, data: Precision, bias: Precision | None) -> int:
    """Effective bit operations of one matrix multiply, HGQ2's measure (``hgq/layers/core/dense.py``
    ``QDense._compute_ebops``, calad0i/HGQ2 commit 1045f23): the sum over every multiplication of
    its input bits × its weight bits, plus the bias bits once per output.  Here one precision per
    layer: ``nonzero · w_data · w_weight`` per output position (a zero weight is constant-folded by
    hls4ml, no multiplication: 0 bits, as HGQ2's 0-bit weights) plus ``n_out · w_bias`` per
    position; a convolution repeats the sum at each of its ``n_pixels`` output positions.  The
    reuse factor does not change it (HGQ2's EBOPs is a count of bit operations, not of hardware)."""
    per_position = int(nonzero) * int(data.width) * int(weight.width)
    if bias is not None:
        per_position += int(n_out) * int(bias.width)
    return per_position * int(n_pixels)


def gpu_flops(n_in: int, kept_outputs: int, n_pixels: int) -> int:
    """FLOPs of the kept outputs: ``(2·n_in + 1)`` per output per pixel.

    hls4ml's GPUFLOPEstimator convention (gpu_objectives.py): one multiply and one add per
    weight (``2·n_in`` per output) plus one bias add per output.  hls4ml adds a conv's bias once
    per filter instead of once per output pixel (``GPUFLOPEstimator.layer_resources`` in
    hls4ml/optimization/dsp_aware_pruning/objectives/gpu_objectives.py); we count it per pixel.
    """
    return (2 * int(n_in) + 1) * int(kept_outputs) * int(n_pixels)


@dataclass(frozen=True)
class MemoryBlock:
    """One embedded-memory primitive: its legal (depth, width) aspect ratios and its size."""

    name: str
    aspects: tuple[tuple[int, int], ...]  # (depth, width) configurations

    def blocks(self, depth: int, width: int) -> int:
        """Fewest blocks holding a ``depth × width``-bit memory (the best aspect ratio, tiled)."""
        if depth <= 0 or width <= 0:
            return 0
        return min(ceil_div(depth, d) * ceil_div(width, w) for d, w in self.aspects)

    def best_aspect(self, depth: int, width: int) -> tuple[int, int]:
        """The aspect ratio :meth:`blocks` picks (widest among ties)."""
        return min(self.aspects, key=lambda a: (ceil_div(depth, a[0]) * ceil_div(max(width, 1), a[1]), -a[1]))


#: AMD/Xilinx RAMB18E1/E2 (7-series UG473, UltraScale UG573): 18 Kb, 16K×1 … 1K×18 in true
#: dual-port mode and 512×36 in simple dual-port mode; ×9/×18/×36 include the parity bits.
BRAM18K = MemoryBlock("BRAM_18K", ((16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18), (512, 36)))
#: Intel M20K (Stratix 10 / Agilex): 20 Kb, 2K×10, 1K×20, 512×40 (also 16K×1 … 4K×5 without parity).
M20K = MemoryBlock("M20K", ((16384, 1), (8192, 2), (4096, 5), (2048, 10), (1024, 20), (512, 40)))


class FPGABackend(Backend):
    """Base of the hls4ml FPGA backends: multiplier/memory counting shared, DSP geometry per device.

    Subclasses implement :meth:`dsp_per_multiplier` (their DSP block) and set ``memory``.

    ``lut_threshold_bits``: a product whose narrower operand is narrower than this many bits is
    built from LUTs, not DSPs (default 9, hls4ml's ``VivadoDSPEstimator`` rule ``w < 9``; see
    ``docs/resources.md`` for why).
    """

    name = ""
    memory: MemoryBlock = BRAM18K

    def __init__(
        self, *, name: str | None = None, lut_threshold_bits: int = 9, cycles: CycleConstants = CYCLES
    ) -> None:
        if name is not None:
            self.name = name
        if lut_threshold_bits < 1:
            raise ValueError(f"lut_threshold_bits must be at least 1, got {lut_threshold_bits}")
        self.lut_threshold_bits = int(lut_threshold_bits)
        self.cycles = cycles

    def timing_schedule(self, graph: Graph) -> tuple[Schedule, int | None]:
        """hls4ml's ``PipelineStyle: auto`` (``backends/vivado/passes/pipeline_style.py``
        ``SetPipelineStyle``), first rule that applies: io_stream → dataflow; an io_parallel
        convolution with ``n_partitions != 1`` → dataflow; a layer configured ``Resource`` →
        dataflow; a layer configured ``ResourceUnrolled`` → pipeline with ``II`` = the largest
        reuse factor of any layer; io_parallel → pipeline (no II).  The writer puts it on the top
        function (``writer/vivado_writer.py``, ``#pragma HLS PIPELINE [II=…]`` / ``DATAFLOW``)."""
        nodes = list(graph.nodes())
        configs = [n.config for n in nodes if getattr(n, "config", None) is not None]
        if any(cfg.io_type is IOType.STREAM for cfg in configs):
            return Schedule.DATAFLOW, None
        for n in nodes:
            if isinstance(n, ConvND) and n.config is not None and conv_partitions(n, n.config) != 1:
                return Schedule.DATAFLOW, None
        if any(cfg.strategy is Strategy.RESOURCE for cfg in configs):
            return Schedule.DATAFLOW, None
        if any(cfg.strategy is Strategy.RESOURCE_UNROLLED for cfg in configs):
            rfs = [resolve_matmul(self, n).reuse_factor if n.has_kernel else n.config.reuse_factor
                   for n in nodes if getattr(n, "config", None) is not None]
            return Schedule.PIPELINE, max(rfs)
        return Schedule.PIPELINE, None

    # -- per-device --------------------------------------------------------------------------------

    def dsp_per_multiplier(self, data: Precision, weight: Precision) -> int:  # pragma: no cover
        raise NotImplementedError

    def uses_dsp(self, data: Precision, weight: Precision) -> bool:
        """Whether a ``data × weight`` product goes to DSP blocks (else to LUTs)."""
        return min(data.width, weight.width) >= self.lut_threshold_bits

    def dsp_total(self, mults: int, data: Precision, weight: Precision) -> int:
        """DSPs of ``mults`` multipliers of these operand types (devices whose blocks hold two
        small products override this)."""
        return int(mults) * self.dsp_cost(data, weight)

    def dsp_cost(self, data: Precision, weight: Precision) -> int:
        """DSPs one multiplier of these operand types costs (0 when it is built from LUTs)."""
        if not self.uses_dsp(data, weight):
            return 0
        return self.dsp_per_multiplier(data, weight)

    def implemented_strategy(
        self, strategy: Strategy, rf: int, is_conv: bool = False, io_type: IOType = IOType.STREAM
    ) -> Strategy:
        """The strategy hls4ml really implements for a layer configured with ``strategy``.

        Vivado/Vitis (``vivado_backend.py`` ``init_dense`` / ``init_conv*``): the unrolled strategy
        needs RF > 1 and, for convolutions, io_stream; otherwise it becomes Resource.
        """
        if strategy is Strategy.RESOURCE_UNROLLED and (rf == 1 or (is_conv and io_type is IOType.PARALLEL)):
            return Strategy.RESOURCE
        return strategy

    # -- reuse factors ---------------------------------------------------------------------------------

    def applied_reuse_factor(self, node: Node) -> int | None:
        """The reuse factor hls4ml builds ``node`` with: for the resource strategies the nearest valid
        one (``set_closest_reuse_factor``, hls4ml/backends/fpga/fpga_backend.py, called from
        ``init_dense``/``init_conv*`` in backends/vivado/vivado_backend.py); Latency keeps it."""
        if not getattr(node, "has_kernel", False) or getattr(node, "config", None) is None:
            return super().applied_reuse_factor(node)
        return int(resolve_matmul(self, node).reuse_factor)

    def valid_reuse_factors(self, node: Node, strategy: Any = None) -> list[int]:
        """hls4ml's valid reuse factors for ``node`` (``FPGABackend._validate_reuse_factor`` in
        hls4ml/backends/fpga/fpga_backend.py), for ``strategy``
        (default: the node's).  ResourceUnrolled drops hls4ml's maximum ``n_in·n_out`` (its
        ``include_max_rf=False``) and 1 (unrolled needs RF > 1; hls4ml would fall back to
        Resource); that list may be empty.  Latency does not constrain RF in hls4ml; the same
        list as Resource is returned (RFs that divide the work evenly)."""
        valid = super().valid_reuse_factors(node)
        if not getattr(node, "has_kernel", False):
            return valid
        if strategy is None:
            cfg = getattr(node, "config", None)
            strategy = cfg.strategy if cfg is not None else Strategy.LATENCY
        # (the strategy a layer gets at an RF > 1: the unrolled one where the backend has it)
        if self.implemented_strategy(strategy, 2) is Strategy.RESOURCE_UNROLLED:
            valid = [rf for rf in valid[:-1] if rf > 1]
        return valid

    # -- the hardware model ---------------------------------------------------------------------------

    def matmul_resources(self, node: WeightedNode, kernel: np.ndarray | None, input_precision: Any) -> ResourceVector:
        """ResourceVector of a Dense / Conv layer (see the module docstring and docs/resources.md)."""
        mm = resolve_matmul(self, node, input_precision)
        k = np.asarray(node.kernel if kernel is None else kernel)
        mults = multipliers(mm, k)
        lut_mult = not self.uses_dsp(mm.data, mm.weight)
        width = rom_width_bits(mm, k)
        bram = self.memory.blocks(mm.reuse_factor, width) if width else 0
        ff, lut = self.fabric(mm, mults, lut_mult)
        return ResourceVector(
            dsp=self.dsp_total(mults, mm.data, mm.weight),
            bram=bram,
            lut=lut,
            ff=ff,
            **weight_costs(node, k, mm.data),
        )

    # -- pruning ----------------------------------------------------------------------------------------

    def pruned_config(self, node: Node) -> Any:
        """The config a pruned layer gets so that hls4ml's generated code skips its zeros.

        - reuse factor > 1: ``ResourceUnrolled`` (``backends/vivado/passes/unrolled_codegen.py``
          emits no multiplier for an all-zero reuse group; ``Resource`` keeps every multiplier), at
          the reuse factor nearest the configured one that the unrolled strategy accepts;
        - reuse factor 1, or a layer with no unrolled-valid reuse factor > 1: ``Latency`` (hls4ml
          turns unrolled at RF 1 into Resource, which keeps every multiplier; Latency
          constant-folds each zero weight).

        A convolution built unrolled also needs ``io_stream`` (hls4ml falls back to Resource for
        io_parallel convolutions, ``vivado_backend.py`` ``init_conv1d`` / ``init_conv2d``); the IO
        type is model-wide, so the rewrite pass switches every layer when one needs it.
        """
        cfg = node.config if getattr(node, "config", None) is not None else DEFAULT_CONFIG
        rf = int(cfg.reuse_factor)
        latency = dataclasses.replace(cfg, strategy=Strategy.LATENCY, reuse_factor=1)
        if rf <= 1:
            return latency
        probe = dataclasses.replace(node, config=dataclasses.replace(cfg, strategy=Strategy.RESOURCE_UNROLLED))
        snapped = int(self.snap_reuse_factor(probe, rf, Strategy.RESOURCE_UNROLLED))
        if snapped <= 1:
            return latency
        if snapped != rf:
            logger.info("%s: reuse factor %d is not valid for the unrolled strategy; using %d", node.name, rf, snapped)
        io_type = IOType.STREAM if isinstance(node, ConvND) else cfg.io_type
        return dataclasses.replace(cfg, strategy=Strategy.RESOURCE_UNROLLED, reuse_factor=snapped, io_type=io_type)

    def grouping_candidates(self, node: Node, fields: tuple[str, ...]) -> list[Grouping]:
        """The generic candidates; for a BRAM objective on a layer whose weights sit in a ROM,
        first the reuse rows merged so that one group frees whole blocks (:meth:`bram_consecutive`)."""
        out = super().grouping_candidates(node, fields)
        if "bram" in fields:
            mm = resolve_matmul(self, node)
            if mm.resource_style:
                c = self.bram_consecutive(mm)
                out.insert(0, Grouping(StructureType.PATTERN, pattern_rf=mm.reuse_factor, consecutive=c))
        return out

    def bram_consecutive(self, mm: MatMul) -> int:
        """Reuse rows (``w``-bit ROM slices) merged into one group so that a group frees whole blocks.

        The ROM is ``RF`` deep and ``(n/RF)·w`` wide; on the best aspect ratio ``(depth_a, width_a)``
        removing ``width_a`` bits of width frees ``⌈RF/depth_a⌉`` blocks.  The smallest divisor ``c``
        of the row count with ``c·w`` a multiple of ``width_a`` (exact savings); else the smallest
        that wastes < 20 %; else all rows."""
        w = mm.weight.width
        n_rows = mm.n // mm.reuse_factor
        _, width_a = self.memory.best_aspect(mm.reuse_factor, n_rows * w)
        divisors = [c for c in range(1, n_rows + 1) if n_rows % c == 0]
        for c in divisors:
            if (c * w) % width_a == 0:
                return c
        for c in divisors:
            bits = c * w
            if bits >= width_a and (bits // width_a) * width_a >= 0.8 * bits:
                return c
        return n_rows

    def product_bits(self, mm: MatMul) -> int:
        """Width of one full-precision product (the register after each multiplier)."""
        return mm.data.width + mm.weight.width

    def lut_multiplier_cost(self, mm: MatMul) -> int:
        """LUTs of one LUT-built ``a × b`` multiplier: ``⌈a·b/2⌉`` (two partial-product bits per
        LUT6 with the carry chain; AMD UG901 / UG479 give this order of magnitude)."""
        return ceil_div(mm.data.width * mm.weight.width, 2)

    def fabric(self, mm: MatMul, mults: int, lut_mult: bool) -> tuple[int, int]:
        """``(ff, lut)`` of the layer's logic outside DSP and BRAM.  Basis (an estimate, not synthesis):

        * FF: one product-width register per multiplier (HLS registers each product before the
          accumulation), the ``n_out`` accumulators (accum width) of each copy, and under
          io_parallel the output register (``n_out`` · result width).
        * LUT: one accumulator adder per multiplier (a ripple-carry adder costs one LUT per
          accum bit) and, for products built from LUTs, :meth:`lut_multiplier_cost` each.
        """
        ff = mults * self.product_bits(mm) + mm.copies * mm.n_out * mm.accum.width
        if mm.io_type is IOType.PARALLEL:
            ff += mm.copies * mm.n_out * mm.result.width
        lut = mults * mm.accum.width
        if lut_mult:
            lut += mults * self.lut_multiplier_cost(mm)
        return ff, lut


@FPGABackend.model(WeightedNode)
def _weighted(
    backend: FPGABackend, node: Node, kernel: np.ndarray | None, input_precision: Any
) -> ResourceVector:
    # Dense, Conv1D, Conv2D: hls4ml implements each as an n_in × n_out matrix multiply
    # (get_layer_mult_size: Conv n_in = kh·kw·C, n_out = filters).
    return backend.matmul_resources(node, kernel, input_precision)


def with_config(node: Node, **changes: Any) -> Any:
    """A copy of ``node`` whose config has ``changes`` applied (the node itself is untouched)."""
    cfg = node.config if node.config is not None else DEFAULT_CONFIG
    return dataclasses.replace(node, config=dataclasses.replace(cfg, **changes))


def tiles(width: int, port: int) -> int:
    """Pieces a signed ``width``-bit operand splits into on a ``port``-bit signed multiplier input.

    The top piece keeps the sign (``port`` bits); lower pieces are unsigned and so carry
    ``port − 1`` bits each (the standard decomposition of a wide multiply into DSP tiles).
    """
    if width <= port:
        return 1
    return 1 + math.ceil((width - port) / (port - 1))


# --------------------------------------------------------------------------------------------------
# timing: II and latency in cycles (docs/timing.md).  Loop structure, trip counts and pipeline
# pragmas are hls4ml's (files cited per case, hls4ml/templates/vivado/nnet_utils/ unless said);
# per-operation cycles are backends/cycles.py's, the one place they live.


def kernel_cycles(cycles: CycleConstants, strategy: Strategy, rf: int, n_in: int, n_out: int) -> tuple[int, int]:
    """``(ii, latency)`` of one ``n_in × n_out`` matrix-multiply call at ``strategy`` / ``rf``
    (the strategy hls4ml implements and its snapped RF, :func:`resolve_matmul`).

    * Latency (``nnet_dense_latency.h``): the function body is ``#pragma HLS PIPELINE
      II=CONFIG_T::reuse_factor``; every product unrolled, ``ALLOCATION mul limit = ⌈n/RF⌉``, so the
      products spread over RF cycles; each output sums its bias and ``n_in`` products.
      II = RF; latency = (RF − 1) + mult + adder tree(n_in + 1) + cast.
      DistributedArithmetic (RF must be 1, ``vivado_backend.py`` ``init_dense``): the same.
    * ResourceUnrolled (``backends/vivado/passes/unrolled_codegen.py``): the generated class's
      function is ``#pragma HLS pipeline II=CONFIG_T::reuse_factor``; weights in a BRAM ROM.
      II = RF; latency = (RF − 1) + ROM read + mult + adder tree(n_in + 1) + cast.
    * Resource (``nnet_dense_resource.h``): ``ReuseLoop`` of RF trips under ``#pragma HLS PIPELINE
      II=1 rewind``; each trip reads the ROM, multiplies ``block_factor`` products and adds
      ``multscale`` of them (= ``⌈n/min(n_in,RF)⌉ / n_out``) into each accumulator.  The function
      also runs ``InitAccum`` and ``Result`` around the loop, so the loop is not rewound and the
      function is not pipelined: II = latency = call + (RF − 1) + [ROM read] + mult +
      adder tree(multscale + 1) + cast.
    """
    c = cycles
    rf = max(1, int(rf))
    if strategy is Strategy.RESOURCE:
        multscale = max(1, ceil_div(n_in * n_out, min(n_in, rf)) // max(1, n_out))
        depth = (c.rom_read if rf > 1 else 0) + c.mult + c.adder_tree(multscale + 1)
        latency = c.call + (rf - 1) + depth + c.cast
        return latency, latency
    rom = c.rom_read if strategy is Strategy.RESOURCE_UNROLLED else 0
    latency = (rf - 1) + rom + c.mult + c.adder_tree(n_in + 1) + c.cast
    return rf, latency


def _chain(first: Timing, second: Timing) -> Timing:
    """Two stages back to back (a layer and the activation hls4ml splits off it): II the larger;
    the second starts when the first's first output is out and ends no earlier than its drain
    after the first ends (``hls_opt.cost.timing.compose``, dataflow)."""
    end = max(first.fill + second.latency, first.latency + second.drain)
    return Timing(
        ii=max(first.ii, second.ii),
        latency=end,
        fill=first.fill + second.fill,
        drain=first.drain + second.drain,
    )


def elementwise_timing(cycles: CycleConstants, node: Node, op_cycles: int, shape: Any, input_pack: int | None) -> Timing:
    """An elementwise layer (activation, batch norm, merge) on a tensor of ``shape``.

    io_parallel (``nnet_activation.h``, ``nnet_batchnorm.h``, ``nnet_merge.h``): the function is
    ``#pragma HLS PIPELINE`` with every element unrolled: II 1, latency ``op_cycles``.
    io_stream (``nnet_activation_stream.h``, ``nnet_batchnorm_stream.h``, ``nnet_merge_stream.h``):
    a loop over the ``n_in / pack`` stream elements under ``#pragma HLS PIPELINE`` (II 1), read,
    compute, write: latency = trips − 1 + read + op + write, the function is not pipelined (II =
    latency); first and last outputs ``read + op + write`` after their inputs.
    """
    cfg = node.config if getattr(node, "config", None) is not None else DEFAULT_CONFIG
    if cfg.io_type is IOType.PARALLEL:
        return Timing(ii=1, latency=op_cycles)
    n = int(np.prod(shape)) if shape else 1
    pack = int(input_pack or (shape[-1] if shape else 1)) or 1
    trips = max(1, n // pack)
    depth = 2 * cycles.stream_io + op_cycles
    latency = trips - 1 + depth
    return Timing(ii=latency, latency=latency, fill=depth, drain=depth)


def activation_cycles(cycles: CycleConstants, name: str) -> int:
    """Cycles of one activation: softmax's four steps, else one (a comparison or a table lookup)."""
    return cycles.softmax if str(name).lower() == "softmax" else cycles.elementwise


def conv_partitions(node: Node, cfg: LayerConfig) -> int:
    """``n_partitions`` of an io_parallel convolution: output pixels / ParallelizationFactor, the PF
    snapped to the nearest divisor of the output pixels (``vivado_backend.py`` ``init_conv1d`` /
    ``init_conv2d``, ``get_valid_conv_partition_splits`` + ``get_closest_reuse_factor``)."""
    pixels = max(1, int(node.n_pixels))
    pf = closest_reuse_factor([d for d in range(1, pixels + 1) if pixels % d == 0], int(cfg.parallelization_factor))
    return pixels // pf


def _spatial(node: Node) -> tuple[int, ...]:
    shape = tuple(getattr(node, "input_shape", ()) or ())
    if not shape:
        return ()
    return shape[:-1] if getattr(node, "channels_last", True) else shape[1:]


def weighted_timing(backend: FPGABackend, node: Node, input_pack: int | None) -> Timing:
    """Dense / Conv1D / Conv2D (and the activation hls4ml splits off them)."""
    c = backend.cycles
    mm = resolve_matmul(backend, node)
    cfg = node.config if getattr(node, "config", None) is not None else DEFAULT_CONFIG
    k_ii, k_lat = kernel_cycles(c, mm.strategy, mm.reuse_factor, mm.n_in, mm.n_out)
    if not mm.is_conv:
        if mm.io_type is IOType.PARALLEL:
            t = Timing(ii=k_ii, latency=k_lat)
        else:
            # nnet_dense_stream.h: DataPrepare reads n_in / pack elements (PIPELINE, II 1), the
            # kernel runs (dense_wrapper: PIPELINE II=RF for Latency/DA), ResWrite writes one
            # n_out-wide element; the function itself is not pipelined: II = latency.
            pack = int(input_pack or mm.n_in) or mm.n_in
            reads = max(1, mm.n_in // pack) * c.stream_io
            latency = reads + k_lat + c.stream_io
            t = Timing(ii=latency, latency=latency)
    elif mm.io_type is IOType.PARALLEL:
        # nnet_conv{1,2}d_latency.h: PartitionLoop of n_partitions trips, PIPELINE II=RF rewind,
        # the pixels of a partition unrolled.  nnet_conv{1,2}d_resource.h: PartitionLoop not
        # pipelined, each trip a ReuseLoop (the Resource kernel above).
        parts = conv_partitions(node, cfg)
        if mm.strategy is Strategy.RESOURCE:
            latency = parts * k_lat
            t = Timing(ii=latency, latency=latency)
        else:
            t = Timing(ii=parts * k_ii, latency=(parts - 1) * k_ii + k_lat)
    else:
        # io_stream line buffer (nnet_conv1d_stream.h / nnet_conv2d_stream.h ``conv_*_buffer_cl``):
        # ReadInputHeight × ReadInputWidth over every input pixel (LOOP_FLATTEN).  Latency/DA:
        # ``PIPELINE II=CONFIG_T::reuse_factor`` on that loop, the kernel inlined into it.
        # Resource/ResourceUnrolled: no pipeline pragma; each trip calls compute_output_buffer_*
        # (INLINE OFF, nnet_conv_stream.h), which shifts the window and, once per output pixel,
        # runs the whole kernel.  The first output needs the window's last pixel, index
        # (kh − 1)·in_w + (kw − 1) in raster order.
        spatial = _spatial(node)
        in_pixels = int(np.prod(spatial)) if spatial else mm.n_pixels
        ks = tuple(getattr(node, "kernel_size", ()) or ())
        in_w = spatial[-1] if spatial else in_pixels
        first = (ks[0] - 1) * in_w + (ks[-1] - 1) if len(ks) == 2 else (ks[-1] - 1 if ks else 0)
        step = c.stream_io + c.call  # read one pixel, shift it into the window
        if mm.strategy in (Strategy.LATENCY, Strategy.DISTRIBUTED_ARITHMETIC):
            depth = step + k_lat + c.stream_io
            latency = (in_pixels - 1) * k_ii + depth
            t = Timing(ii=latency, latency=latency, fill=first * k_ii + depth, drain=depth)
        else:
            per_output = k_lat + c.stream_io
            latency = in_pixels * step + mm.n_pixels * per_output
            t = Timing(ii=latency, latency=latency, fill=(first + 1) * step + per_output, drain=step + per_output)
    activation = str(getattr(node, "activation", "linear") or "linear")
    if activation != "linear":
        shape = tuple(getattr(node, "output_shape", ()) or ())
        t = _chain(t, elementwise_timing(c, node, activation_cycles(c, activation), shape, None))
    return t


def pooling_timing(backend: FPGABackend, node: Node, input_pack: int | None) -> Timing:
    """Max/average pooling.  io_parallel (``nnet_pooling.h``): PIPELINE, all windows unrolled; each
    output reduces its window (a tree of pool-size terms): II 1, latency tree + cast.  io_stream
    (``nnet_pooling_stream.h`` ``pooling*_buffer_cl``): a loop over every input pixel under
    ``#pragma HLS PIPELINE`` (II 1), the function not pipelined: II = latency = input pixels − 1 +
    read + tree + write."""
    c = backend.cycles
    cfg = node.config if getattr(node, "config", None) is not None else DEFAULT_CONFIG
    spatial = _spatial(node)
    in_pixels = int(np.prod(spatial)) if spatial else 1
    if getattr(node, "global_", False):
        window = in_pixels
    else:
        pool = node.keras_config.get("pool_size", 2)
        window = int(np.prod(pool)) if isinstance(pool, (list, tuple)) else int(pool) ** max(1, len(spatial))
    tree = c.adder_tree(window) + c.cast
    if cfg.io_type is IOType.PARALLEL:
        return Timing(ii=1, latency=max(1, tree))
    depth = 2 * c.stream_io + tree
    latency = in_pixels - 1 + depth
    return Timing(ii=latency, latency=latency, fill=min(latency, window + depth), drain=depth)


def _activation_node_timing(backend: FPGABackend, node: Node, input_pack: int | None) -> Timing:
    shape = tuple(getattr(node, "output_shape", ()) or ())
    return elementwise_timing(backend.cycles, node, activation_cycles(backend.cycles, node.activation), shape, input_pack)


def _elementwise_node_timing(backend: FPGABackend, node: Node, input_pack: int | None) -> Timing:
    shape = tuple(getattr(node, "output_shape", ()) or ())
    return elementwise_timing(backend.cycles, node, backend.cycles.elementwise, shape, input_pack)


def _no_hardware(backend: FPGABackend, node: Node, input_pack: int | None) -> Timing:
    # Input: the top function's argument.  Flatten / Reshape: hls4ml removes a flatten or makes
    # it a type change (io_parallel arrays; io_stream: ReshapeStream in
    # backends/fpga/passes/repack_stream.py repacks only multi-axis reshapes, which we leave at 0
    # — a small undercount).  Dropout: removed at conversion (an identity at inference).
    return NO_HARDWARE


FPGABackend.timing_model(WeightedNode)(weighted_timing)
FPGABackend.timing_model(Pooling)(pooling_timing)
FPGABackend.timing_model(Activation)(_activation_node_timing)
FPGABackend.timing_model(BatchNormalization, Add, Concatenate)(_elementwise_node_timing)
FPGABackend.timing_model(Input, Flatten, Reshape, Dropout)(_no_hardware)
