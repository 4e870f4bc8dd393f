"""Precision strings: the grammar table, the errors, and agreement with hls4ml's own parser."""

from __future__ import annotations

import pytest

from hls_opt.core.precision import (
    AUTO,
    DEFAULT_PRECISION,
    AutoPrecision,
    Precision,
    Rounding,
    Saturation,
    parse_fixed_precision,
    parse_precision,
)
from hls_opt.errors import ConfigError, PrecisionError

T, F = True, False
R, S = Rounding, Saturation

# text -> (width, integer, signed, rounding, saturation, saturation_bits, is_integer)
GOOD = {
    # ap_fixed<W,I> defaults to TRN, WRAP, N=0 (hls4ml FixedPrecisionType: None -> TRN/WRAP/0)
    "ap_fixed<16,6>": (16, 6, T, R.TRN, S.WRAP, 0, F),
    "ap_ufixed<8,0>": (8, 0, F, R.TRN, S.WRAP, 0, F),
    "ap_fixed<18,8,AP_RND_CONV,AP_SAT>": (18, 8, T, R.RND_CONV, S.SAT, 0, F),
    "ap_fixed<10,4,RND,SAT_SYM,2>": (10, 4, T, R.RND, S.SAT_SYM, 2, F),
    "ap_fixed<8,3,TRN_ZERO>": (8, 3, T, R.TRN_ZERO, S.WRAP, 0, F),
    # spaces inside the brackets and around the whole string are tolerated
    "ap_fixed<16, 6>": (16, 6, T, R.TRN, S.WRAP, 0, F),
    "  ap_fixed< 16 , 6 , RND , SAT >  ": (16, 6, T, R.RND, S.SAT, 0, F),
    # hls4ml allows integer bits outside [0, W]: negative (pure fraction) and > W (scaled integer)
    "ap_fixed<8,-2>": (8, -2, T, R.TRN, S.WRAP, 0, F),
    "ap_fixed<8,12>": (8, 12, T, R.TRN, S.WRAP, 0, F),
    # integer types: integer bits == width
    "ap_int<8>": (8, 8, T, R.TRN, S.WRAP, 0, T),
    "ap_uint<4>": (4, 4, F, R.TRN, S.WRAP, 0, T),
    "ap_int<1>": (1, 1, T, R.TRN, S.WRAP, 0, T),
    # hls4ml's own str() spelling
    "fixed<16,6,TRN,WRAP,0>": (16, 6, T, R.TRN, S.WRAP, 0, F),
    "ufixed<8,1,RND_CONV,SAT,0>": (8, 1, F, R.RND_CONV, S.SAT, 0, F),
    "fixed<8,1,RND_CONV,SAT,0>": (8, 1, T, R.RND_CONV, S.SAT, 0, F),
    "int<8>": (8, 8, T, R.TRN, S.WRAP, 0, T),
    "uint<3>": (3, 3, F, R.TRN, S.WRAP, 0, T),
    # ac_fixed<W,I,S,Q,O>: third argument is signedness (default signed)
    "ac_fixed<16,6>": (16, 6, T, R.TRN, S.WRAP, 0, F),
    "ac_fixed<16, 6, true>": (16, 6, T, R.TRN, S.WRAP, 0, F),
    "ac_fixed<16,6,false>": (16, 6, F, R.TRN, S.WRAP, 0, F),
    "ac_fixed<16,6,0,AC_RND,AC_SAT>": (16, 6, F, R.RND, S.SAT, 0, F),
    "ac_fixed<16,6,1,AC_RND_CONV>": (16, 6, T, R.RND_CONV, S.WRAP, 0, F),
    "ac_int<8>": (8, 8, T, R.TRN, S.WRAP, 0, T),
    "ac_int<8,false>": (8, 8, F, R.TRN, S.WRAP, 0, T),
    "ac_int<8, true>": (8, 8, T, R.TRN, S.WRAP, 0, T),
    # mode names: any case, optional AP_/AC_ prefix in any case (hls4ml rejects lower-case 'ap_trn')
    "ap_fixed<16,6,rnd,sat>": (16, 6, T, R.RND, S.SAT, 0, F),
    "ap_fixed<16,6,ap_rnd,ap_sat_zero>": (16, 6, T, R.RND, S.SAT_ZERO, 0, F),
}


@pytest.mark.parametrize("text", sorted(GOOD))
def test_good_precision_strings(text):
    width, integer, signed, rounding, saturation, sat_bits, is_integer = GOOD[text]
    p = parse_precision(text)
    assert p == Precision(width, integer, signed, rounding, saturation, sat_bits, is_integer)
    # str() is hls4ml's spelling and parses back to the same value
    assert parse_precision(str(p)) == p
    assert parse_precision(p.to_ap_string()) == p


@pytest.mark.parametrize("text", ["auto", "AUTO", "Auto", " auto "])
def test_auto_any_case(text):
    assert parse_precision(text) is AUTO
    assert isinstance(AUTO, AutoPrecision) and str(AUTO) == "auto"


def test_already_parsed_is_returned_unchanged():
    p = Precision(8, 3)
    assert parse_precision(p) is p
    assert parse_precision(AUTO) is AUTO


def test_str_and_ap_spelling():
    assert str(parse_precision("ap_fixed<16,6>")) == "fixed<16,6,TRN,WRAP,0>"
    assert str(parse_precision("ap_uint<8>")) == "uint<8>"
    assert parse_precision("ap_fixed<16,6>").to_ap_string() == "ap_fixed<16,6>"
    assert parse_precision("ap_fixed<16,6,RND>").to_ap_string() == "ap_fixed<16,6,RND>"
    assert parse_precision("ac_fixed<8,2,false,AC_TRN,AC_SAT>").to_ap_string() == "ap_ufixed<8,2,TRN,SAT>"
    assert parse_precision("ap_fixed<8,2,TRN,WRAP,1>").to_ap_string() == "ap_fixed<8,2,TRN,WRAP,1>"


def test_default_precision_is_hls4ml_default():
    assert DEFAULT_PRECISION == Precision(16, 6)
    assert DEFAULT_PRECISION.fractional == 10  # 16 bits − 6 integer bits


# text -> a fragment of the reason
BAD = {
    "ap_fixed<abc>": "takes 2 to 5",
    "ap_fixed<abc,6>": "width must be an integer",
    "ap_fixed<16,x>": "integer bits must be an integer",
    "ap_fixed<16": "expected TYPE<arguments>",
    "ap_fixed16,6>": "expected TYPE<arguments>",
    "ap_fixed<0,0>": "width must be at least 1",
    "ap_int<0>": "width must be at least 1",
    "ap_fixed<-4,2>": "width must be at least 1",
    "foo<8>": "unknown type 'foo'",
    "AP_FIXED<16,6>": "unknown type 'AP_FIXED'",
    "ap_fixed<16,6,FLOOR>": "unknown rounding mode 'FLOOR'",
    "ap_fixed<16,6,RND,CLAMP>": "unknown saturation mode 'CLAMP'",
    "ap_fixed<16,6,RND,SAT,-1>": "saturation bits must be non-negative",
    "ap_fixed<16,6,RND,SAT,x>": "saturation bits must be an integer",
    "ap_fixed<16,6,RND,SAT,0,1>": "takes 2 to 5",
    "ap_fixed<16,6,>": "empty template argument",
    "ap_int<8,3>": "takes 1 template argument,",
    "ac_int<8,false,1>": "takes 1 to 2",
    "ac_fixed<16,6,maybe>": "signedness must be true/false/1/0",
    "ac_fixed<16,6,AC_RND>": "signedness must be true/false/1/0",  # the third ac_fixed argument is S, not Q
    "ap_fixed<16,6> x": "expected TYPE<arguments>",
    "": "expected TYPE<arguments>",
    "float": "floating-point types are not supported",
    "double": "floating-point types are not supported",
    "ap_float<32,8>": "floating-point types are not supported",
    "ac_float<10,2,8>": "floating-point types are not supported",
    "std_float<16,5>": "floating-point types are not supported",
}


@pytest.mark.parametrize("text", sorted(BAD))
def test_bad_precision_strings(text):
    with pytest.raises(PrecisionError) as info:
        parse_precision(text, key="Model.Precision.default")
    message = str(info.value)
    assert message.startswith(f"Model.Precision.default: cannot parse '{text}'")
    assert BAD[text] in message


def test_error_types_and_default_key():
    with pytest.raises(ConfigError):  # PrecisionError is a ConfigError and a ValueError
        parse_precision("foo<8>")
    with pytest.raises(ValueError, match=r"^precision: cannot parse 'foo<8>'"):
        parse_precision("foo<8>")
    with pytest.raises(PrecisionError, match="expected a string, got int"):
        parse_precision(16)  # type: ignore[arg-type]


def test_parse_fixed_precision_rejects_auto():
    assert parse_fixed_precision("ap_int<4>") == Precision(4, 4, is_integer=True)
    with pytest.raises(PrecisionError, match="^w: 'auto' is not allowed here"):
        parse_fixed_precision("auto", key="w")


def test_precision_is_frozen_and_hashable():
    p = parse_precision("ap_fixed<16,6>")
    with pytest.raises(AttributeError):
        p.width = 8  # type: ignore[misc]
    assert len({p, parse_precision("fixed<16,6,TRN,WRAP,0>")}) == 1


@pytest.mark.hls4ml
@pytest.mark.parametrize("text", sorted(t for t in GOOD if "ap_rnd" not in t and t.strip() == t))
def test_agrees_with_hls4ml(text):
    """hls4ml's own parser as the oracle for every string both accept."""
    fpga = pytest.importorskip("hls4ml.backends.fpga.fpga_backend", reason="hls4ml not installed")
    theirs = fpga.FPGABackend.convert_precision_string(text)
    ours = parse_precision(text)
    assert (ours.width, ours.integer, ours.signed) == (theirs.width, theirs.integer, theirs.signed)
    assert ours.rounding.value == theirs.rounding_mode.name
    assert ours.saturation.value == theirs.saturation_mode.name
    assert ours.saturation_bits == theirs.saturation_bits
    assert str(ours) == str(theirs)
