"""How benchmarks/quantize.py prices a peer's design on hls-opt's cost model.

A design is a list of Dense layers with their kernels and types; the benchmark builds a plain Keras
model and an hls4ml config from it and asks ``estimate_report``.  Hand-built 2-layer case, numbers by hand."""

import importlib.util
import sys
from pathlib import Path

import numpy as np

from hls_opt.core.precision import parse_fixed_precision as prec

_spec = importlib.util.spec_from_file_location("bench_quantize", Path(__file__).resolve().parents[1] / "benchmarks" / "quantize.py")
bq = importlib.util.module_from_spec(_spec)
sys.modules["bench_quantize"] = bq  # dataclasses look their module up there
_spec.loader.exec_module(bq)


def two_layers():
    k1 = np.full((4, 4), 0.25, np.float32)
    k1[0, 0] = k1[3, 2] = 0.0  # 14 non-zero weights
    k2 = np.full((4, 2), 0.5, np.float32)  # 8 non-zero weights
    return [
        bq.DenseLayer(k1, np.zeros(4, np.float32), prec("ap_fixed<6,1>"), prec("ap_fixed<6,1>"), prec("ap_ufixed<4,1>"), relu=True),
        bq.DenseLayer(k2, np.zeros(2, np.float32), prec("ap_fixed<12,1>"), prec("ap_fixed<12,1>"), prec("ap_ufixed<10,4>"), relu=False),
    ]


def test_two_layer_design_at_rf1_and_rf2():
    r1 = bq.price_layers(two_layers(), 1)
    # fc1: 6-bit weights × 4-bit input: narrower operand < 9 bits → LUTs, 0 DSP.
    # fc2 reads fc1's ReLU output, typed as fc2's input ap_ufixed<10,4>: 12 × 10 → one DSP per product,
    # 8 non-zero weights at RF 1 → 8 DSPs.  (Were the inputs left at the 16-bit default the DSPs would
    # be the same: the EBOPs below pin both input types.)
    assert r1["dsp"] == 8
    # EBOPs: fc1 14 · 4 · 6 + 4 outputs · 6 bias bits = 360; fc2 8 · 10 · 12 + 2 · 12 = 984 → 1344.
    assert r1["ebops"] == 1344
    assert r1["ii"] == 1
    r2 = bq.price_layers(two_layers(), 2)
    # ResourceUnrolled at RF 2 (valid for 4 inputs in hls4ml's rule): fc2's 8 weights share 4 multipliers
    # (one per 2 weights) → 4 DSPs, II 2; EBOPs count operations, not hardware: unchanged.
    assert r2["dsp"] == 4 and r2["ii"] == 2 and r2["ebops"] == 1344
    # fit: the largest used fraction of xcvu9p (6840 DSP, 1 182 240 LUT, 2 364 480 FF, 4320 BRAM).
    assert r1["fit"] == round(max(r1["dsp"] / 6840, r1["lut"] / 1182240, r1["ff"] / 2364480, r1["bram"] / 4320), 5)


class _Npz(dict):
    @property
    def files(self):
        return list(self)


def test_hgq2_design_is_priced_at_each_layers_widest_nonzero_weight_and_input():
    k = np.array([[0.5, 0.0], [-1.5, 0.25]], np.float32)
    wbits = np.array([[3.0, 9.0], [5.0, 2.0]])  # the 9-bit weight is zero (pruned): not built
    npz = _Npz({"0/kernel": k, "0/bias": np.array([0.1, 3.0], np.float32), "0/wbits": wbits, "0/ibits": np.array([2.0, 4.0]),
                "1/kernel": np.ones((2, 1), np.float32), "1/bias": np.zeros(1, np.float32), "1/wbits": np.full((2, 1), 2.0),
                "1/ibits": np.array([3.0, 1.0])})
    fc1, fc2 = bq.hgq2_layers(npz)
    # widest non-zero weight 5 bits; max|w| = 1.5 → integer bits ⌊log2 1.5⌋ + 2 = 2; bias max 3 → 3 integer bits.
    assert (fc1.weight.width, fc1.weight.integer, fc1.weight.signed) == (5, 2, True)
    assert (fc1.bias_type.width, fc1.bias_type.integer) == (5, 3)
    assert (fc1.input.width, fc1.input.signed) == (4, False) and fc1.relu
    assert (fc2.weight.width, fc2.input.width, fc2.relu) == (2, 3, False)
