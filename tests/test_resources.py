"""Resource models and the backend registry: hand-computed numbers, reasoning beside each row.

No Keras, no hls4ml.  hls4ml itself is the oracle in ``test_hls4ml_crosscheck.py``.
"""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap
from dataclasses import FrozenInstanceError

import numpy as np
import pytest

from hls_opt.config import IOType, LayerConfig, Strategy
from hls_opt.core.precision import parse_fixed_precision
from hls_opt.core.structures import group_ids
from hls_opt.cost.backend import Backend, hls4ml_valid_reuse_factors
from hls_opt.cost.registry import (
    available_backends,
    get_backend,
    load_entry_points,
    register_backend,
    unregister_backend,
)
from hls_opt.cost.tables import estimate_graph, estimate_report, estimate_table, table_total
from hls_opt.cost.vector import FIELDS, ResourceVector
from hls_opt.errors import RegistryError
from hls_opt.ir.graph import Graph
from hls_opt.ir.nodes import Activation, Conv1D, Conv2D, Dense, Input, Opaque

R, L, RU = Strategy.RESOURCE, Strategy.LATENCY, Strategy.RESOURCE_UNROLLED


def prec(text):
    return parse_fixed_precision(text)


P16 = prec("ap_fixed<16,6>")


def cfg(w="ap_fixed<16,6>", rf=1, strategy=L, io=IOType.PARALLEL, pf=1, result="ap_fixed<16,6>"):
    weight = prec(w)
    res = prec(result)
    return LayerConfig(
        weight=weight,
        bias=weight,
        result=res,
        accum=P16,
        reuse_factor=rf,
        strategy=strategy,
        io_type=io,
        parallelization_factor=pf,
    )


def dense(kernel, **kw):
    kernel = np.asarray(kernel, dtype=np.float32)
    return Dense(name="d", weights={"kernel": kernel}, config=cfg(**kw), output_shape=(kernel.shape[1],))


def conv2d(kernel, out_hw, **kw):
    kernel = np.asarray(kernel, dtype=np.float32)
    return Conv2D(
        name="c", weights={"kernel": kernel}, config=cfg(**kw), output_shape=(*out_hw, kernel.shape[-1])
    )


def ones(*shape):
    return np.ones(shape, dtype=np.float32)


def zero_rows(shape, rf, rows):
    """A kernel whose reuse-group rows ``rows`` (at ``rf``) are all zero, every other weight 1."""
    ids, _ = group_ids(shape, "pattern", reuse_factor=rf)
    k = ones(*shape)
    k[np.isin(ids, rows)] = 0
    return k


def vivado(node, input_precision=P16):
    return get_backend("vivado").estimate(node, input_precision=input_precision)


# --------------------------------------------------------------------------------------------------
# ResourceVector


def test_resource_vector_is_frozen_with_named_int_fields():
    v = ResourceVector(dsp=3, bram=1)
    assert FIELDS == ("dsp", "bram", "lut", "ff", "flops", "params", "memory_bits", "ebops") == ResourceVector.FIELDS
    # the two fields given, every other field 0
    assert v.as_dict() == {"dsp": 3, "bram": 1, "lut": 0, "ff": 0, "flops": 0, "params": 0, "memory_bits": 0, "ebops": 0}
    with pytest.raises(FrozenInstanceError):
        v.dsp = 4
    assert v + ResourceVector(dsp=1, ff=2) == ResourceVector(dsp=4, bram=1, ff=2)
    assert v - ResourceVector(dsp=1) == ResourceVector(dsp=2, bram=1)
    assert sum([v, v]) == ResourceVector(dsp=6, bram=2)
    assert type(ResourceVector(dsp=np.int64(2)).dsp) is int
    with pytest.raises(TypeError):
        ResourceVector(dsp=1.5)


# --------------------------------------------------------------------------------------------------
# Vivado DSP counts (DSP48E2, inputs ap_fixed<16,6> unless stated)

DSP_TABLE = [
    # (node, expected DSPs, reasoning)
    (
        dense(ones(16, 8), rf=4, strategy=R),
        32,
        "Resource RF 4: block factor ⌈128/4⌉ = 32 multipliers; 16×16 fits one 27×18 slice",
    ),
    (
        dense(ones(16, 8), w="ap_fixed<8,3>", rf=4, strategy=R),
        0,
        "8-bit weights < 9-bit threshold: products go to LUTs",
    ),
    (
        dense(ones(16, 8), w="ap_fixed<32,16>", rf=4, strategy=R),
        64,
        "32-bit weight: 32 = 27 + 5 → 2 tiles on the 27-bit port (16 on 18: 1) → 2 slices × 32",
    ),
    (dense(ones(16, 8), w="ap_fixed<26,6>", rf=4, strategy=R), 32, "26×16 fits 27×18: 1 slice each"),
    (dense(ones(16, 8), rf=1, strategy=L), 128, "Latency RF 1: one multiplier per non-zero weight"),
    (
        dense(np.where(np.arange(128).reshape(16, 8) < 40, 0, 1), rf=1, strategy=L),
        88,
        "Latency RF 1 with 40 zeros: 128 − 40",
    ),
    (
        dense(np.where(np.arange(128).reshape(16, 8) < 10, 0, 1), rf=4, strategy=L),
        30,
        "Latency RF 4: ⌈128/4⌉ − ⌊10/4⌋ = 32 − 2",
    ),
    (
        dense(zero_rows((16, 8), 4, list(range(16))), rf=4, strategy=R),
        32,
        "Resource RF 4, half the reuse rows zero: zeros save nothing",
    ),
    (
        dense(zero_rows((16, 8), 4, list(range(0, 32, 2))), rf=4, strategy=RU),
        16,
        "ResourceUnrolled RF 4, 16 of 32 rows zero: 32 − 16 (hls4ml unrolled_codegen.py mul limit)",
    ),
    (
        dense(np.tile([[0, 1], [1, 0]], (8, 4)), rf=4, strategy=RU),
        32,
        "ResourceUnrolled, 64 zeros scattered so no row of 4 is empty: no saving",
    ),
    (
        dense(zero_rows((4, 8), 8, [1]), rf=8, strategy=RU),
        7,
        "RF 8 > n_in 4: hls4ml's cap ⌈32/min(4,8)⌉ − Z = 8 − 1 (not BF − Z = 3)",
    ),
    (
        dense(np.where(np.arange(128).reshape(16, 8) < 9, 0, 1), rf=1, strategy=RU),
        119,
        "unrolled with RF 1 falls back to Resource RF 1: constants folded, 128 − 9",
    ),
    (
        dense(ones(16, 8), rf=5, strategy=RU),
        32,
        "RF 5 invalid: unrolled-valid {2,4,8,16,32,64}, nearest 4 → 32 multipliers",
    ),
    (
        dense(ones(16, 8), rf=6, strategy=R),
        32,
        "RF 6: 4 and 8 equally near → the smaller, 4 (hls4ml's tie rule)",
    ),
    (
        dense(ones(16, 8), rf=4, strategy=Strategy.DISTRIBUTED_ARITHMETIC),
        0,
        "distributed arithmetic: shift-and-add, no multiplier",
    ),
    (
        conv2d(ones(3, 3, 3, 4), (8, 8), rf=9, strategy=R),
        12,
        "Conv2D as matmul n_in = 3·3·3 = 27, n_out 4: ⌈108/9⌉ = 12 (one copy, PF 1)",
    ),
    (
        conv2d(ones(3, 3, 3, 4), (8, 8), rf=9, strategy=R, pf=4),
        48,
        "io_parallel Resource, ParallelizationFactor 4: the pixel loop of a partition is unrolled → 4 × 12",
    ),
    (
        conv2d(ones(3, 3, 3, 4), (8, 8), rf=1, strategy=R, pf=4),
        432,
        "io_parallel Resource at RF 1, PF 4: nnet_conv2d_resource.h unrolls the 4 pixels of a "
        "partition over the block_factor = 108 products (no ALLOCATION cap) → 4 × 108",
    ),
    (
        conv2d(ones(3, 3, 3, 4), (8, 8), rf=9, strategy=R, pf=3),
        24,
        "PF 3 does not divide the 64 pixels; hls4ml (vivado_backend.py init_conv2d) snaps it to the "
        "nearest divisor of 64, 2 or 4 tied → the smaller, 2 → 2 × 12",
    ),
    (
        conv2d(ones(3, 3, 3, 4), (2, 2), rf=9, strategy=R, pf=8),
        48,
        "PF 8 > 4 pixels: hls4ml snaps it to the largest divisor, 4 → 4 × 12",
    ),
    (
        conv2d(zero_rows((3, 3, 3, 4), 9, [0, 1, 2, 3, 4, 5]), (8, 8), rf=9, strategy=RU),
        12,
        "unrolled conv under io_parallel falls back to Resource: zero rows save nothing",
    ),
    (
        conv2d(zero_rows((3, 3, 3, 4), 9, [0, 1, 2, 3, 4, 5]), (8, 8), rf=9, strategy=RU, io=IOType.STREAM),
        6,
        "io_stream unrolled conv, one kernel instance: 12 − 6 zero rows",
    ),
    (
        conv2d(ones(3, 3, 3, 4), (8, 8), rf=3, strategy=L, pf=4),
        36,
        "Latency conv: ALLOCATION covers the whole function, one kernel's cap ⌈108/3⌉ whatever the PF",
    ),
]


@pytest.mark.parametrize("node,expected,why", DSP_TABLE, ids=[row[2][:40] for row in DSP_TABLE])
def test_vivado_dsp_table(node, expected, why):
    assert vivado(node).dsp == expected, why


def test_unsigned_input_needs_one_more_bit_on_the_slice():
    node = dense(ones(4, 4), w="ap_fixed<20,6>", rf=1)
    # signed 18-bit input × 20-bit weight: 20 on the 27-bit port, 18 on the 18-bit port → 1 slice
    assert vivado(node, prec("ap_fixed<18,8>")).dsp == 16
    # unsigned 18-bit input needs 19 signed bits: 19 > 18 and 20 > 18 → one operand tiles → 2 slices
    assert vivado(node, prec("ap_ufixed<18,8>")).dsp == 32


def test_dsp48e1_tiles_more_than_dsp48e2():
    from hls_opt.backends.vivado import DSP48E1, VivadoBackend

    node = dense(ones(4, 4), w="ap_fixed<26,6>", rf=1)
    # E2 27×18: 26×16 → 1;  E1 25×18: 26 > 25 and 26 > 18 → 2 tiles either way → 2
    assert VivadoBackend().estimate(node, input_precision=P16).dsp == 16
    assert VivadoBackend(dsp=DSP48E1, name="e1").estimate(node, input_precision=P16).dsp == 32
    assert DSP48E1.per_product(35, 25) == 2  # UG479's classic examples
    assert DSP48E1.per_product(35, 35) == 4


def test_lut_threshold_is_a_backend_parameter():
    from hls_opt.backends.vivado import VivadoBackend

    node = dense(ones(16, 8), w="ap_fixed<8,3>", rf=4, strategy=R)
    assert VivadoBackend().estimate(node, input_precision=P16).dsp == 0
    # 8-bit weights ≥ a 6-bit threshold now go to DSPs: 16·8 products / RF 4 = 32 multipliers
    assert VivadoBackend(lut_threshold_bits=6).estimate(node, input_precision=P16).dsp == 32
    # narrow *input* too: a 6-bit activation × 16-bit weight is a LUT multiplier
    assert vivado(dense(ones(16, 8), rf=4, strategy=R), prec("ap_fixed<6,2>")).dsp == 0


def test_input_precision_defaults_to_the_layers_result_type():
    node = dense(ones(4, 4), rf=1, result="ap_fixed<8,3>")
    assert get_backend("vivado").estimate(node).dsp == 0  # 8-bit stand-in input → LUTs
    assert get_backend("vivado").estimate(node, input_precision=P16).dsp == 16


# --------------------------------------------------------------------------------------------------
# BRAM (18 Kb blocks)

BRAM_TABLE = [
    (
        dense(ones(16, 8), rf=4, strategy=R),
        15,
        "ROM 4 deep × 32·16 = 512 bits wide → 512×36 aspect: ⌈512/36⌉ = 15 (hls4ml's multi estimator too)",
    ),
    (dense(ones(16, 8), w="ap_fixed<8,3>", rf=4, strategy=R), 8, "width 32·8 = 256 → ⌈256/36⌉ = 8"),
    (dense(ones(16, 8), w="ap_fixed<18,8>", rf=4, strategy=R), 16, "width 32·18 = 576 = 16·36 exactly"),
    (
        dense(zero_rows((16, 8), 4, list(range(16))), rf=4, strategy=RU),
        8,
        "unrolled: 16 zero rows never read → width 16·16 = 256 → 8 blocks",
    ),
    (dense(zero_rows((16, 8), 4, list(range(16))), rf=4, strategy=R), 15, "Resource reads every slice: 15"),
    (dense(ones(16, 8), rf=1, strategy=R), 0, "RF 1: weights in logic, no BRAM"),
    (dense(ones(16, 8), rf=4, strategy=L), 0, "Latency: weights are constants, no BRAM"),
    (
        dense(ones(64, 32), rf=1024, strategy=R),
        2,
        "RF 1024 (= 64·16): ROM 1024 × 2·16 = 32 bits → 1K×18 ×2 or 512×36 ×2 stacked → 2",
    ),
    (dense(ones(16, 8), rf=64, strategy=R), 1, "ROM 64 × 32 bits → one 512×36 block"),
]


@pytest.mark.parametrize("node,expected,why", BRAM_TABLE, ids=[row[2][:40] for row in BRAM_TABLE])
def test_vivado_bram_table(node, expected, why):
    assert vivado(node).bram == expected, why


def test_memory_block_aspects_brute_force():
    from hls_opt.backends.fpga import BRAM18K

    # Oracle: every legal aspect, tiled; capacity never exceeds 18 Kb per block (×9/×18/×36 with parity).
    for depth in (1, 4, 100, 512, 513, 2048, 5000):
        for width in (1, 9, 16, 36, 37, 512):
            best = min(math.ceil(depth / d) * math.ceil(width / w) for d, w in BRAM18K.aspects)
            assert BRAM18K.blocks(depth, width) == best
            assert BRAM18K.blocks(depth, width) * 18 * 1024 >= depth * width
    assert BRAM18K.blocks(0, 10) == 0


# --------------------------------------------------------------------------------------------------
# FF / LUT (stated basis: docs/resources.md)


def test_ff_lut_basis():
    # Resource RF 4, 32 multipliers, 16-bit data and weights, 16-bit accum/result, io_parallel:
    # FF = 32 product registers × 32 bits + 8 accumulators × 16 + 8 outputs × 16 = 1024 + 128 + 128
    # LUT = 32 accumulator adders × 16 bits
    v = vivado(dense(ones(16, 8), rf=4, strategy=R))
    assert (v.ff, v.lut) == (1280, 512)
    # 8-bit weights: LUT multipliers, each ⌈16·8/2⌉ = 64 LUTs on top: 32·16 + 32·64
    v8 = vivado(dense(ones(16, 8), w="ap_fixed<8,3>", rf=4, strategy=R))
    assert v8.lut == 32 * 16 + 32 * 64
    assert v8.ff == 32 * 24 + 128 + 128
    # io_stream has no output register
    vs = vivado(dense(ones(16, 8), rf=4, strategy=R, io=IOType.STREAM))
    assert vs.ff == 1280 - 128


# --------------------------------------------------------------------------------------------------
# FLOPs / params / memory (every backend fills them; the GPU backend only them)


def test_flops_params_memory():
    k = ones(16, 8)
    k[:, [0, 3, 5]] = 0  # three neurons removed
    k[0, 1] = 0  # and one stray zero (a GPU still computes it)
    g = get_backend("gpu").estimate(dense(k))
    # (2·16 + 1) FLOPs per kept neuron: 5 · 33 = 165; params = non-zero weights = 128 − 48 − 1
    # EBOPs (HGQ2's): 79 multiplications of a 16-bit input by a 16-bit weight, no bias array here
    assert g == ResourceVector(flops=165, params=79, memory_bits=79 * 16, ebops=79 * 16 * 16)
    assert vivado(dense(k)).flops == 165
    # hls4ml's worked example A: Dense 16→8 unpruned → 2·128 + 8 = 264
    assert get_backend("gpu").estimate(dense(ones(16, 8))).flops == 264


def test_conv_flops_count_bias_per_pixel():
    # Conv2D (3,3,3,4), output 8×8×4: (2·27 + 1)·4·64 = 14080.  hls4ml counts the bias once per
    # filter: 2·108·64 + 4 = 13828 (``GPUFLOPEstimator.layer_resources``, hls4ml's
    # objectives/gpu_objectives.py) — 252 bias additions short.
    node = conv2d(ones(3, 3, 3, 4), (8, 8))
    assert get_backend("gpu").estimate(node).flops == 14080
    c1 = Conv1D(name="c1", weights={"kernel": ones(3, 4, 6)}, config=cfg(), output_shape=(8, 6))
    assert get_backend("gpu").estimate(c1).flops == (2 * 12 + 1) * 6 * 8


# --------------------------------------------------------------------------------------------------
# oneAPI (entry point) geometry


def test_oneapi_dsp_geometry():
    be = get_backend("oneapi")
    # 16×16 fits an 18×19 half block: two multipliers per block → 32 multipliers in 16 blocks
    assert be.estimate(dense(ones(16, 8), rf=4, strategy=R), input_precision=P16).dsp == 16
    # 24×16: too wide for 18×19, fits 27×27 → one block each
    assert be.estimate(dense(ones(16, 8), w="ap_fixed<24,8>", rf=4, strategy=R), None, P16).dsp == 32
    # 32×16: 32 > 27 → two 27×27 tiles
    assert be.estimate(dense(ones(16, 8), w="ap_fixed<32,8>", rf=4, strategy=R), None, P16).dsp == 64
    # M20K: ROM 4 deep × 512 bits → 512×40 aspect: ⌈512/40⌉ = 13
    assert be.estimate(dense(ones(16, 8), rf=4, strategy=R), input_precision=P16).bram == 13


def test_oneapi_implements_every_dense_as_resource():
    # hls4ml's oneAPI backend (oneapi_backend.py init_dense / init_conv1d / init_conv2d) sets
    # strategy 'resource' whatever the config says and snaps RF with the maximum included;
    # the unrolled code generator is a Vivado/Vitis pass.  So Latency and ResourceUnrolled cost
    # what Resource costs: Dense 16→8 at RF 4 → BF = 128/4 = 32 multipliers (zeros save none),
    # 16×16 products two per block → 16 blocks.
    be = get_backend("oneapi")
    half_zero = zero_rows((16, 8), 4, list(range(16)))  # 16 of the 32 reuse rows all zero
    for strategy in (L, R, RU):
        node = dense(half_zero, rf=4, strategy=strategy)
        assert be.estimate(node, input_precision=P16).dsp == 16, strategy
    # RF = 128 = n_in·n_out is valid for Resource (include_max_rf) but not for the unrolled strategy:
    # oneAPI keeps 128 → BF 1 → one multiplier; 24-bit weights need a whole 27×27 block → 1
    # (the unrolled rule would snap to 64 → 2 multipliers → 2 blocks).
    node = dense(ones(16, 8), w="ap_fixed<24,8>", rf=128, strategy=RU)
    assert be.estimate(node, input_precision=P16).dsp == 1
    assert be.valid_reuse_factors(dense(ones(16, 8), rf=128, strategy=RU))[-1] == 128
    # The Vivado model keeps hls4ml's Vivado rules: Latency folds ⌊64/4⌋ = 16 of 32, unrolled drops
    # the 16 empty rows.
    assert vivado(dense(half_zero, rf=4, strategy=L)).dsp == 16
    assert vivado(dense(half_zero, rf=4, strategy=RU)).dsp == 16


# --------------------------------------------------------------------------------------------------
# reuse factors


def _hls4ml_rule(n_in, n_out, rf):
    # hls4ml fpga_backend._validate_reuse_factor, transcribed as the oracle
    mult_limit = math.ceil(n_in * n_out / min(n_in, rf))
    ok = (mult_limit % n_out == 0) or rf >= n_in
    ok = ok and (rf % n_in == 0 or rf < n_in)
    return ok and (n_in * n_out) % rf == 0


@pytest.mark.parametrize("n_in,n_out", [(16, 8), (27, 4), (10, 6), (7, 5), (1, 3), (12, 12), (64, 10)])
def test_valid_reuse_factors_equal_hls4ml_rule(n_in, n_out):
    brute = [rf for rf in range(1, n_in * n_out + 1) if _hls4ml_rule(n_in, n_out, rf)]
    assert hls4ml_valid_reuse_factors(n_in, n_out) == brute


def test_valid_and_snapped_reuse_factors_per_node():
    be = get_backend("vivado")
    d = dense(ones(16, 8), rf=4, strategy=R)
    assert be.valid_reuse_factors(d) == [1, 2, 4, 8, 16, 32, 64, 128]  # hls4ml fpga_backend.py
    assert be.valid_reuse_factors(d, strategy=RU) == [2, 4, 8, 16, 32, 64]  # no max, no 1
    c = conv2d(ones(3, 3, 3, 4), (8, 8), rf=9, strategy=R)
    assert be.valid_reuse_factors(c) == [1, 3, 9, 27, 54, 108]  # n_in = 27, not 9
    assert be.snap_reuse_factor(d, 5) == 4
    assert be.snap_reuse_factor(d, 6) == 4  # tie → smaller
    assert be.snap_reuse_factor(d, 7) == 8
    assert be.snap_reuse_factor(d, 1000) == 128
    assert be.snap_reuse_factor(d, 128, strategy=RU) == 64
    assert be.snap_reuse_factor(c, 20) == 27
    one = dense(ones(1, 1), rf=1)
    assert be.valid_reuse_factors(one, strategy=RU) == []
    assert be.snap_reuse_factor(one, 4, strategy=RU) == 1
    assert be.valid_reuse_factors(Activation(name="a")) == [1]


# --------------------------------------------------------------------------------------------------
# nodes without a model, kernels from the caller


def test_unknown_and_unweighted_nodes_cost_nothing():
    class Exotic:  # not even an IR node
        name = "x"

    for node in (Activation(name="a"), Opaque(name="o"), Input(name="i"), Exotic()):
        assert vivado(node) == ResourceVector()
        assert get_backend("gpu").estimate(node) == ResourceVector()


def test_kernel_argument_overrides_the_nodes_zero_pattern():
    node = dense(ones(16, 8), rf=4, strategy=RU)
    masked = zero_rows((16, 8), 4, [0, 1, 2])
    # ResourceUnrolled RF 4: 16·8/4 = 32 reuse rows, one multiplier each; 3 all-zero rows → 32 − 3 = 29
    assert get_backend("vivado").estimate(node, masked, P16).dsp == 29
    assert vivado(node).dsp == 32  # the node itself is untouched
    with pytest.raises(ValueError, match="kernel shape"):
        get_backend("vivado").estimate(node, ones(8, 16))


def test_node_without_config_uses_hls4ml_defaults():
    node = Dense(name="d", weights={"kernel": ones(16, 8)})  # Latency, RF 1, ap_fixed<16,6>
    assert get_backend("vivado").estimate(node).dsp == 128


# --------------------------------------------------------------------------------------------------
# registry


def test_registry_lookup_duplicates_and_unknown_names():
    assert {"vivado", "gpu", "oneapi"} <= set(available_backends())
    assert get_backend("Vivado") is get_backend("vivado")
    with pytest.raises(RegistryError, match="already registered"):
        register_backend(type(get_backend("vivado"))())
    with pytest.raises(RegistryError, match=r"unknown backend 'nope'.*gpu.*oneapi.*vivado"):
        get_backend("nope")


def test_duplicate_model_registration_is_an_error():
    class MyBackend(Backend):
        name = "mine"

    @MyBackend.model(Dense)
    def first(backend, node, kernel, input_precision):
        return ResourceVector(dsp=1)

    with pytest.raises(RegistryError, match="already registered"):

        @MyBackend.model(Dense)
        def second(backend, node, kernel, input_precision):
            return ResourceVector()

    assert MyBackend().estimate(dense(ones(2, 2))) == ResourceVector(dsp=1)
    assert MyBackend().estimate(conv2d(ones(1, 1, 2, 2), (1, 1))) == ResourceVector()  # no model


def test_third_party_backend_via_a_fake_entry_point(monkeypatch):
    import hls_opt.cost.registry as res

    class ThirdParty(Backend):
        name = "third-party-test"

    @ThirdParty.model(Dense)
    def _m(backend, node, kernel, input_precision):
        return ResourceVector(lut=int(np.count_nonzero(kernel if kernel is not None else node.kernel)))

    class EP:
        name, value = "third", "somewhere:ThirdParty"

        def load(self):
            return ThirdParty

    available_backends()  # the real entry points first, so the patched loader only adds ours
    monkeypatch.setattr(res, "_entry_points", lambda: [EP()])
    try:
        assert load_entry_points(force=True) == ["third"]
        assert get_backend("third-party-test").estimate(dense(ones(3, 2))).lut == 6
        # the same entry point loaded again clashes with itself: a name clash is an error
        with pytest.raises(RegistryError, match="entry point third"):
            load_entry_points(force=True)
    finally:
        unregister_backend("third-party-test")


def test_oneapi_is_discovered_through_its_entry_point_only(tmp_path):
    """Fresh interpreter: nothing imports hls_opt.backends.oneapi until the registry loads the
    entry point declared in pyproject.toml; a plugin from a separate distribution on sys.path
    (installed nowhere, just a dist-info folder) is found the same way."""
    plugin = tmp_path / "plugin"
    (plugin / "myplug").mkdir(parents=True)
    (plugin / "myplug" / "__init__.py").write_text(
        textwrap.dedent(
            """
            from hls_opt.ir.nodes import Dense
            from hls_opt.cost import Backend, ResourceVector

            class PlugBackend(Backend):
                name = "plug"

            @PlugBackend.model(Dense)
            def _dense(backend, node, kernel, input_precision):
                return ResourceVector(dsp=42)
            """
        )
    )
    dist = plugin / "myplug-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: myplug\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[hls_opt.estimators]\nplug = myplug:PlugBackend\n")
    code = textwrap.dedent(
        """
        import sys
        import numpy as np
        import hls_opt.cost.registry as r
        from hls_opt.ir.nodes import Dense
        assert "hls_opt.backends.oneapi" not in sys.modules
        assert "myplug" not in sys.modules
        be = r.get_backend("oneapi")
        assert type(be).__module__ == "hls_opt.backends.oneapi", type(be)
        assert "hls_opt.backends.oneapi" in sys.modules
        node = Dense(name="d", weights={"kernel": np.ones((2, 2))})
        assert r.get_backend("plug").estimate(node).dsp == 42
        print(",".join(r.available_backends()))
        """
    )
    env_path = f"{plugin}"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": env_path, "PATH": ""},
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "gpu,oneapi,plug,vivado"


def test_resources_module_does_not_import_heavy_or_backend_modules():
    code = (
        "import sys, hls_opt.cost.registry, hls_opt.objectives; "
        "bad = [m for m in ('tensorflow', 'keras', 'hls_opt.backends.vivado', 'hls_opt.backends.oneapi') "
        "if m in sys.modules]; print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "[]", out.stderr


# --------------------------------------------------------------------------------------------------
# whole graphs: estimate_graph / estimate_table / estimate_report


def _graph():
    g = Graph("g")
    g.add(Input(name="x", output_shape=(16,), config=cfg()))
    k = ones(16, 8)
    k[:, 0] = 0
    g.add(
        Dense(
            name="d1",
            inputs=["x"],
            input_shapes=[(16,)],
            output_shape=(8,),
            weights={"kernel": k, "bias": np.zeros(8, np.float32)},
            config=cfg(rf=4, strategy=R),
        )
    )
    g.add(Activation(name="relu", inputs=["d1"], input_shapes=[(8,)], output_shape=(8,), activation="relu"))
    g.add(
        Dense(
            name="d2",
            inputs=["relu"],
            input_shapes=[(8,)],
            output_shape=(4,),
            weights={"kernel": ones(8, 4), "bias": np.zeros(4, np.float32)},
            config=cfg(w="ap_fixed<8,3>", rf=1, strategy=L),
        )
    )
    g.inputs, g.outputs = ["x"], ["d2"]
    return g


def test_estimate_graph_table_and_report():
    g = _graph()
    est = estimate_graph(g)
    assert list(est) == ["x", "d1", "relu", "d2"]
    assert est["d1"].dsp == 32 and est["d1"].bram == 15  # Resource RF 4: zeros save nothing
    assert est["d1"].params == 112 and est["d1"].flops == 7 * 33  # one neuron removed
    assert est["d2"].dsp == 0  # 8-bit weights → LUTs
    assert est["relu"] == ResourceVector()

    rows = estimate_table(g)
    assert [r["name"] for r in rows] == ["x", "d1", "relu", "d2"]
    d1 = rows[1]
    # d1 as built in _graph: Dense 16→8, ap_fixed<16,6>, RF 4, Resource; "weights" counts kernel + bias,
    # 16·8 + 8 = 136; "params" the non-zero kernel weights, 16·7 = 112 (column 0 is zero)
    assert d1["type"] == "Dense" and d1["input_shape"] == [16] and d1["output_shape"] == [8]
    assert d1["precision"] == "ap_fixed<16,6>" and d1["reuse_factor"] == 4 and d1["strategy"] == "Resource"
    assert d1["weights"] == 16 * 8 + 8 and d1["params"] == 112
    assert all(f in d1 for f in FIELDS)
    assert rows[2]["reuse_factor"] is None and rows[2]["strategy"] == ""
    tot = table_total(rows)
    # d1 32 + d2 0 DSPs; params d1 112 + d2 8·4 = 32
    assert tot["dsp"] == 32 and tot["params"] == 112 + 32

    report = estimate_report(g, "vivado")
    assert report["backend"] == "vivado"
    layer = report["layers"][1]
    assert layer == {
        "name": "d1",
        "type": "Dense",
        "strategy": "Resource",
        "reuse_factor": 4,  # valid for 16×8 (divides 16): applied as given, no reuse_factor_given
        "modelled": True,
        # Resource RF 4, 16x8: not pipelined, II = latency = 9 cycles (tests/test_timing.py)
        "ii": 9,
        "latency_cycles": 9,
        "before": est["d1"].as_dict(),
    }
    assert report["total"]["before"] == tot
    import json

    json.dumps(report)  # serialisable as is
