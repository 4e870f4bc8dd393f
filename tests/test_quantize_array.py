"""quantize_array, the numpy reference of ap_fixed assignment: hand-computed cases, then every mode
against g++ compiling the ap_fixed headers hls4ml ships (the oracle)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from hls_opt.core.precision import Precision, Rounding, Saturation, parse_precision, quantize_array
from hls_opt.errors import PrecisionError


def q(values, text):
    return quantize_array(np.asarray(values, dtype=np.float64), parse_precision(text)).tolist()


def test_trn_wrap_by_hand():
    # ap_fixed<4,2>: F = 2 (LSB 0.25), integers q in [-8, 7], values [-2, 1.75].
    # 0.3 → floor(1.2) = 1 → 0.25; 1.8 → 7 → 1.75; 2.0 → 8 wraps to -8 → -2.0;
    # -2.1 → floor(-8.4) = -9 → -9 + 16 = 7 → 1.75; -0.1 → floor(-0.4) = -1 → -0.25; 3.9 → 15 → -1 → -0.25
    assert q([0.3, 1.8, 2.0, -2.1, -0.1, 3.9], "ap_fixed<4,2>") == [0.25, 1.75, -2.0, 1.75, -0.25, -0.25]


def test_rounding_modes_by_hand():
    # ap_fixed<8,4>: LSB 1/16.  Ties at ±2.5 LSB (±0.15625) and ±1.5 LSB (±0.09375), and 0.1 (1.6 LSB).
    x = [0.15625, -0.15625, 0.09375, -0.09375, 0.1]
    assert q(x, "ap_fixed<8,4,TRN>") == [2 / 16, -3 / 16, 1 / 16, -2 / 16, 1 / 16]
    assert q(x, "ap_fixed<8,4,TRN_ZERO>") == [2 / 16, -2 / 16, 1 / 16, -1 / 16, 1 / 16]
    assert q(x, "ap_fixed<8,4,RND>") == [3 / 16, -2 / 16, 2 / 16, -1 / 16, 2 / 16]  # ties → +inf
    assert q(x, "ap_fixed<8,4,RND_ZERO>") == [2 / 16, -2 / 16, 1 / 16, -1 / 16, 2 / 16]  # ties → 0
    assert q(x, "ap_fixed<8,4,RND_INF>") == [3 / 16, -3 / 16, 2 / 16, -2 / 16, 2 / 16]  # ties away from 0
    assert q(x, "ap_fixed<8,4,RND_MIN_INF>") == [2 / 16, -3 / 16, 1 / 16, -2 / 16, 2 / 16]  # ties → -inf
    assert q(x, "ap_fixed<8,4,RND_CONV>") == [2 / 16, -2 / 16, 2 / 16, -2 / 16, 2 / 16]  # ties → even


def test_saturation_modes_by_hand():
    # ap_fixed<4,2>: range [-2, 1.75].  5.0 and -5.0 overflow, -2.0 is the most negative value.
    x = [5.0, -5.0, -2.0, 1.0]
    assert q(x, "ap_fixed<4,2,TRN,SAT>") == [1.75, -2.0, -2.0, 1.0]
    assert q(x, "ap_fixed<4,2,TRN,SAT_ZERO>") == [0.0, 0.0, -2.0, 1.0]
    assert q(x, "ap_fixed<4,2,TRN,SAT_SYM>") == [1.75, -1.75, -1.75, 1.0]  # -2^(W-1) itself → -max
    # 5.0 = 20 LSB → low 4 bits 0100 = 4 → 1.0; -5.0 = -20 → -20 mod 16 = 12 → 1100 → -4 → -1.0
    assert q(x, "ap_fixed<4,2>") == [1.0, -1.0, -2.0, 1.0]
    # WRAP with N = 2 saturation bits: overflow forces sign bit = source sign, the bit below = its complement:
    # 5.0 → 0100 → 01|00 → 4 → 1.0 ; -5.0 → 1100 → 10|00 = -8 → -2.0
    assert q(x, "ap_fixed<4,2,TRN,WRAP,2>") == [1.0, -2.0, -2.0, 1.0]


def test_unsigned_and_integer_by_hand():
    # ap_ufixed<4,2>: [0, 3.75]; -0.25 wraps to 3.75 (15), saturates to 0
    assert q([-0.25, 3.8, 4.0], "ap_ufixed<4,2>") == [3.75, 3.75, 0.0]
    assert q([-0.25, 3.8, 4.0], "ap_ufixed<4,2,TRN,SAT>") == [0.0, 3.75, 3.75]
    # ap_int<3>: [-4, 3]; 3.7 → 3, -4.5 → floor -5 → wraps to 3, 4 → -4
    assert q([3.7, -4.5, 4.0], "ap_int<3>") == [3.0, 3.0, -4.0]
    # integer bits above the width: ap_fixed<4,6> steps of 4 in [-32, 28]
    assert q([5.0, 30.0, 33.0], "ap_fixed<4,6>") == [4.0, 28.0, -32.0]
    # negative integer bits: ap_fixed<4,-1> steps of 2^-5, q in [-8, 7]: 0.1 → floor(3.2) = 3 → 3/32;
    # 0.3 → 9 → 9 - 16 = -7 → -7/32
    assert q([0.1, 0.3], "ap_fixed<4,-1>") == [3 / 32, -7 / 32]


def test_wider_than_float64_is_refused():
    with pytest.raises(PrecisionError, match="53"):
        quantize_array(np.zeros(1), Precision(64, 10))


# ---- the oracle: g++ and the ap_fixed headers hls4ml ships ----------------------------------

_MODES = [(r, s, n) for r in Rounding for s in Saturation for n in (0,)] + [
    (Rounding.TRN, Saturation.WRAP, 1), (Rounding.RND, Saturation.WRAP, 2), (Rounding.TRN, Saturation.WRAP, 3),
]
_SHAPES = [(6, 2, True), (5, 0, False), (8, 3, True), (3, 5, True), (4, -1, True), (7, 7, False)]


def _types():
    out = []
    for width, integer, signed in _SHAPES:
        for rounding, saturation, bits in _MODES:
            out.append(Precision(width, integer, signed, rounding, saturation, bits))
    return out


def _ap_headers() -> Path:
    hls4ml = pytest.importorskip("hls4ml", reason="the hls4ml extra is not installed")
    return Path(hls4ml.__file__).parent / "templates" / "vivado" / "ap_types"


@pytest.mark.slow
@pytest.mark.hls4ml
def test_matches_ap_fixed_compiled_by_gxx(tmp_path):
    gxx = shutil.which("g++")
    assert gxx is not None, "g++ is needed (hls4ml's compile() needs it too)"
    types = _types()
    rng = np.random.default_rng(0)
    # values on and between the grid of every type, across and beyond each range, ties included
    x = np.concatenate([rng.uniform(-80, 80, 300), rng.uniform(-3, 3, 300), np.arange(-260, 260) / 8.0,
                        np.arange(-64, 64) / 64.0 + 1 / 128.0])
    lines = ["#include <cstdio>", '#include "ap_fixed.h"', "int main() {", f"  static const double x[{len(x)}] = {{"]
    lines.append(",".join(repr(float(v)) for v in x) + "};")
    lines.append(f"  for (int i = 0; i < {len(x)}; ++i) {{")
    for p in types:
        sign = "" if p.signed else "u"
        ctype = f"ap_{sign}fixed<{p.width},{p.integer},AP_{p.rounding.value},AP_{p.saturation.value},{p.saturation_bits}>"
        lines.append(f"    {{ {ctype} y = x[i]; std::printf(\"%.17g \", y.to_double()); }}")
    lines += ['    std::printf("\\n");', "  }", "  return 0;", "}"]
    src = tmp_path / "oracle.cpp"
    src.write_text("\n".join(lines))
    exe = tmp_path / "oracle"
    subprocess.run([gxx, "-O0", "-std=c++14", f"-I{_ap_headers()}", str(src), "-o", str(exe)], check=True)
    got = np.loadtxt(subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout.splitlines())
    for k, p in enumerate(types):
        mine = quantize_array(x, p)
        bad = np.flatnonzero(mine != got[:, k])
        assert bad.size == 0, (p.to_ap_string(), x[bad[:5]], mine[bad[:5]], got[bad[:5], k])
