"""Cost at a chosen precision: the backend's one estimate, by hand."""

import numpy as np

from hls_opt.config import IOType, LayerConfig, Strategy
from hls_opt.core.precision import parse_fixed_precision as prec
from hls_opt.cost.registry import get_backend
from hls_opt.ir.nodes import Dense


def dense_8x4(weight, data, bias=True, rf=1, strategy=Strategy.LATENCY):
    w = prec(weight)
    k = np.arange(1, 33, dtype=np.float32).reshape(8, 4) / 64.0  # 32 non-zero weights
    weights = {"kernel": k, "bias": np.zeros(4, np.float32)} if bias else {"kernel": k}
    cfg = LayerConfig(weight=w, bias=w, result=prec("ap_fixed<16,6>"), accum=prec("ap_fixed<16,6>"),
                      reuse_factor=rf, strategy=strategy, io_type=IOType.PARALLEL)
    return Dense(name="d", weights=weights, config=cfg, output_shape=(4,), use_bias=bias), prec(data)


def test_dense_8x4_weight_6_bits_is_built_from_luts():
    node, data = dense_8x4("ap_fixed<6,1>", "ap_fixed<16,6>")
    v = get_backend("vivado").estimate(node, input_precision=data)
    # narrower operand 6 < 9 bits: LUTs, no DSP.  32 multipliers (Latency, RF 1, no zero);
    # LUT = 32 · (accumulator adder 16 bits + ⌈16·6/2⌉ = 48) = 32 · 64 = 2048;
    # FF = 32 product registers of 16 + 6 = 22 bits (704) + 4 accumulators · 16 (64) + output 4 · 16 (64) = 832.
    assert (v.dsp, v.lut, v.ff) == (0, 2048, 832)
    # EBOPs: 32 products × 16 × 6 = 3072, plus the bias: 4 outputs × 6 bits = 24 → 3096.
    assert v.ebops == 3096


def test_dense_8x4_weight_18_bits_takes_dsps():
    node, data = dense_8x4("ap_fixed<18,2>", "ap_fixed<16,6>")
    v = get_backend("vivado").estimate(node, input_precision=data)
    # 18 × 16 fits one DSP48E2 (27 × 18): 32 DSPs; LUT = only the 32 adders · 16 = 512;
    # FF = 32 · (16 + 18) + 64 + 64 = 1216.
    assert (v.dsp, v.lut, v.ff) == (32, 512, 1216)
    # EBOPs: 32 · 16 · 18 = 9216 + 4 · 18 = 9288.
    assert v.ebops == 9288


def test_narrow_input_makes_a_wide_weight_a_lut_product_too():
    node, data = dense_8x4("ap_fixed<18,2>", "ap_ufixed<4,2>")
    v = get_backend("vivado").estimate(node, input_precision=data)
    # narrower operand: the 4-bit input → LUTs: 32 · (16 + ⌈4·18/2⌉ = 36) = 1664
    assert (v.dsp, v.lut) == (0, 1664)
    assert v.ebops == 32 * 4 * 18 + 4 * 18


def test_ebops_do_not_depend_on_the_reuse_factor_and_skip_zero_weights():
    node, data = dense_8x4("ap_fixed<6,1>", "ap_fixed<16,6>", bias=False, rf=4, strategy=Strategy.RESOURCE_UNROLLED)
    be = get_backend("vivado")
    assert be.estimate(node, input_precision=data).ebops == 32 * 16 * 6
    k = node.kernel.copy()
    k[:4] = 0  # 16 zero weights: no multiplication
    assert be.estimate(node, kernel=k, input_precision=data).ebops == 16 * 16 * 6
