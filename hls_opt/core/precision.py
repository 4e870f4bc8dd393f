"""Typed fixed-point precisions, parsed once from hls4ml's strings.

Grammar follows hls4ml's ``FPGABackend.convert_precision_string`` and its helpers
``_convert_ap_type`` / ``_convert_ac_type`` (hls4ml/backends/fpga/fpga_backend.py) and
``RoundingMode`` / ``SaturationMode`` / ``FixedPrecisionType`` (hls4ml/model/types.py); see
``docs/config.md`` for the grammar and for where this parser is stricter or more lenient.

Accepted (spaces around fields tolerated)::

    ap_fixed<W,I[,Q[,O[,N]]]>   ap_ufixed<…>   fixed<…>   ufixed<…>
    ap_int<W>   ap_uint<W>   int<W>   uint<W>
    ac_fixed<W,I[,S[,Q[,O]]]>   (S: true/false/1/0, default signed)
    ac_int<W[,S]>
    auto                        (any case) -> the sentinel AUTO

Q is a rounding mode, O a saturation mode, each with an optional ``AP_``/``AC_`` prefix (any case).
Floating-point types are recognised and rejected with a ``PrecisionError`` saying so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

import numpy as np

from hls_opt.core.enums import parse_enum
from hls_opt.errors import PrecisionError


class Rounding(str, Enum):
    """Quantisation (rounding) modes of ap_fixed / ac_fixed."""

    TRN = "TRN"
    TRN_ZERO = "TRN_ZERO"
    RND = "RND"
    RND_ZERO = "RND_ZERO"
    RND_INF = "RND_INF"
    RND_MIN_INF = "RND_MIN_INF"
    RND_CONV = "RND_CONV"


class Saturation(str, Enum):
    """Overflow modes of ap_fixed / ac_fixed."""

    WRAP = "WRAP"
    SAT = "SAT"
    SAT_ZERO = "SAT_ZERO"
    SAT_SYM = "SAT_SYM"


@dataclass(frozen=True)
class Precision:
    """A fixed-point or integer type.

    ``width`` is the total number of bits, ``integer`` the integer bits including the sign bit
    (for an integer type ``integer == width``).  ``is_integer`` marks ``ap_int``/``ac_int``/``int``.
    As in hls4ml, ``integer`` may be negative or larger than ``width`` for a fixed-point type.
    """

    width: int
    integer: int
    signed: bool = True
    rounding: Rounding = Rounding.TRN
    saturation: Saturation = Saturation.WRAP
    saturation_bits: int = 0
    is_integer: bool = False

    @property
    def fractional(self) -> int:
        """Number of fractional bits (``width - integer``; negative when ``integer > width``)."""
        return self.width - self.integer

    def __str__(self) -> str:
        """hls4ml's own spelling (``fixed<16,6,TRN,WRAP,0>`` / ``int<8>``), round-trippable."""
        if self.is_integer:
            return f"{'' if self.signed else 'u'}int<{self.width}>"
        prefix = "fixed" if self.signed else "ufixed"
        return (
            f"{prefix}<{self.width},{self.integer},{self.rounding.value},"
            f"{self.saturation.value},{self.saturation_bits}>"
        )

    def to_ap_string(self) -> str:
        """Vivado HLS spelling, shortest form: ``ap_fixed<16,6>``, ``ap_ufixed<8,0,RND,SAT>``, ``ap_int<8>``.

        Default modes are left out; all fields are spelt out when saturation bits are set.
        """
        sign = "" if self.signed else "u"
        if self.is_integer:
            return f"ap_{sign}int<{self.width}>"
        fields = [str(self.width), str(self.integer)]
        if self.saturation_bits:
            fields += [self.rounding.value, self.saturation.value, str(self.saturation_bits)]
        elif self.saturation is not Saturation.WRAP:
            fields += [self.rounding.value, self.saturation.value]
        elif self.rounding is not Rounding.TRN:
            fields += [self.rounding.value]
        return f"ap_{sign}fixed<{','.join(fields)}>"


@dataclass(frozen=True)
class AutoPrecision:
    """hls4ml's ``'auto'`` precision: "let hls4ml infer it".  Use the module-level :data:`AUTO`."""

    def __str__(self) -> str:
        return "auto"

    def __repr__(self) -> str:
        return "AUTO"


AUTO = AutoPrecision()

# "TYPE<args>" with nothing before or after (hls4ml uses a looser ``.+<(.+?)>`` search).
_TYPE_RE = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*<(?P<args>[^<>]*)>$")
_INT_RE = re.compile(r"^[+-]?\d+$")

# hls4ml's float spellings (fpga_backend.convert_precision_string): recognised only to reject them clearly.
_FLOAT_NAMES = frozenset({"float", "double", "half", "bfloat16"})
_FLOAT_PREFIXES = ("ap_float", "ac_std_float", "std_float", "ac_float")

# name -> (kind, signed); kind is "ap_fixed", "ap_int", "ac_fixed" or "ac_int" (the argument layout).
_TYPE_NAMES: dict[str, tuple[str, bool]] = {
    "ap_fixed": ("ap_fixed", True),
    "ap_ufixed": ("ap_fixed", False),
    "fixed": ("ap_fixed", True),
    "ufixed": ("ap_fixed", False),
    "ap_int": ("ap_int", True),
    "ap_uint": ("ap_int", False),
    "int": ("ap_int", True),
    "uint": ("ap_int", False),
    "ac_fixed": ("ac_fixed", True),
    "ac_int": ("ac_int", True),
}


class _Bad(Exception):
    """Internal: the reason a string does not parse (turned into a PrecisionError with the key)."""


def _strip_mode_prefix(field: str) -> str:
    # hls4ml strips an upper-case AP_/AC_ prefix (RoundingMode.from_string); we also accept lower case.
    upper = field.upper()
    for prefix in ("AP_", "AC_"):
        if upper.startswith(prefix):
            return upper[len(prefix) :]
    return upper


def _parse_int(field: str, what: str) -> int:
    if not _INT_RE.match(field):
        shown = field if len(field) <= 20 else f"{field[:12]}... ({len(field)} characters)"
        raise _Bad(f"{what} must be an integer, got '{shown}'")
    if len(field.strip().lstrip("+-")) > 9:  # int() refuses over 4300 digits; no type needs 10
        raise _Bad(f"{what} is out of range ({len(field.strip().lstrip('+-'))} digits)")
    return int(field)


def _parse_rounding(field: str) -> Rounding:
    return parse_enum(Rounding, field, None, fold=_strip_mode_prefix, what="rounding mode", error=_Bad)


def _parse_saturation(field: str) -> Saturation:
    return parse_enum(Saturation, field, None, fold=_strip_mode_prefix, what="saturation mode", error=_Bad)


def _parse_ac_signed(field: str) -> bool:
    # hls4ml treats only 'false'/'0' as unsigned and anything else as signed; we reject typos.
    value = field.lower()
    if value in ("true", "1"):
        return True
    if value in ("false", "0"):
        return False
    raise _Bad(f"signedness must be true/false/1/0, got '{field}'")


def _check_count(fields: list[str], low: int, high: int, name: str) -> None:
    if not low <= len(fields) <= high:
        expected = f"{low}" if low == high else f"{low} to {high}"
        noun = "argument" if high == 1 else "arguments"
        raise _Bad(f"{name} takes {expected} template {noun}, got {len(fields)}")


def _parse_typed(text: str) -> Precision:
    match = _TYPE_RE.match(text)
    if match is None:
        raise _Bad("expected TYPE<arguments>, e.g. ap_fixed<16,6>")
    name = match.group("name")
    if name not in _TYPE_NAMES:
        raise _Bad(f"unknown type '{name}'")
    kind, signed = _TYPE_NAMES[name]
    fields = [f.strip() for f in match.group("args").split(",")]
    if any(f == "" for f in fields):
        raise _Bad("empty template argument")

    rounding, saturation, saturation_bits = Rounding.TRN, Saturation.WRAP, 0
    if kind == "ap_int":
        _check_count(fields, 1, 1, name)
        width = _parse_int(fields[0], "width")
        integer, is_integer, mode_fields = width, True, []
    elif kind == "ac_int":
        _check_count(fields, 1, 2, name)
        width = _parse_int(fields[0], "width")
        if len(fields) == 2:
            signed = _parse_ac_signed(fields[1])
        integer, is_integer, mode_fields = width, True, []
    elif kind == "ap_fixed":
        _check_count(fields, 2, 5, name)
        width = _parse_int(fields[0], "width")
        integer = _parse_int(fields[1], "integer bits")
        is_integer, mode_fields = False, fields[2:]
    else:  # ac_fixed<W,I,S,Q,O>: no saturation-bits argument
        _check_count(fields, 2, 5, name)
        width = _parse_int(fields[0], "width")
        integer = _parse_int(fields[1], "integer bits")
        if len(fields) > 2:
            signed = _parse_ac_signed(fields[2])
        is_integer, mode_fields = False, fields[3:]

    if mode_fields:
        rounding = _parse_rounding(mode_fields[0])
    if len(mode_fields) > 1:
        saturation = _parse_saturation(mode_fields[1])
    if len(mode_fields) > 2:
        saturation_bits = _parse_int(mode_fields[2], "saturation bits")

    # hls4ml itself checks none of these; the HLS compilers require W >= 1 and N >= 0.
    if width < 1:
        raise _Bad(f"width must be at least 1, got {width}")
    if saturation_bits < 0:
        raise _Bad(f"saturation bits must be non-negative, got {saturation_bits}")
    return Precision(
        width=width,
        integer=integer,
        signed=signed,
        rounding=rounding,
        saturation=saturation,
        saturation_bits=saturation_bits,
        is_integer=is_integer,
    )


def parse_precision(
    text: str | Precision | AutoPrecision, *, key: str = "precision"
) -> Precision | AutoPrecision:
    """Parse an hls4ml precision string into a :class:`Precision`, or :data:`AUTO` for ``'auto'``.

    A ``Precision`` (or ``AUTO``) is returned unchanged.  ``key`` names the configuration entry
    in error messages.  Raises :class:`PrecisionError` ``"{key}: cannot parse '{text}' (reason)"``
    for anything else, including floating-point types (not supported by hls-opt's optimizer).
    """
    if isinstance(text, (Precision, AutoPrecision)):
        return text
    if not isinstance(text, str):
        raise PrecisionError(f"{key}: cannot parse '{text}' (expected a string, got {type(text).__name__})")
    stripped = text.strip()
    if stripped.lower() == "auto":
        return AUTO
    if stripped in _FLOAT_NAMES or stripped.startswith(_FLOAT_PREFIXES):
        raise PrecisionError(
            f"{key}: cannot parse '{text}' (floating-point types are not supported by hls-opt; "
            "use a fixed-point or integer type)"
        )
    try:
        return _parse_typed(stripped)
    except _Bad as reason:
        raise PrecisionError(f"{key}: cannot parse '{text}' ({reason})") from None


def parse_fixed_precision(text: str | Precision, *, key: str = "precision") -> Precision:
    """Like :func:`parse_precision` but ``'auto'`` is an error (for places that need a concrete type)."""
    value = parse_precision(text, key=key)
    if isinstance(value, AutoPrecision):
        raise PrecisionError(
            f"{key}: 'auto' is not allowed here; give a concrete type such as ap_fixed<16,6>"
        )
    return value


#: hls4ml's default precision (``config_from_keras_model(default_precision='fixed<16,6>')``).
DEFAULT_PRECISION: Precision = parse_fixed_precision("fixed<16,6>")


def as_precision(value: object, *, key: str = "precision", fallback: Precision | None = None) -> Precision:
    """The one coercion to :class:`Precision`, for values that come from outside the config reader.

    Accepts a :class:`Precision`; a type string (:func:`parse_precision`); an hls4ml precision
    object (its ``str`` is an hls4ml type string, e.g. ``fixed<8,3,TRN,WRAP,0>``; otherwise its
    integer ``width`` / ``integer`` / ``signed``).  ``'auto'`` (or :data:`AUTO`) gives ``fallback``;
    without one, and for anything else, :class:`PrecisionError` naming ``key``.
    """
    if isinstance(value, Precision):
        return value
    if isinstance(value, AutoPrecision) or (isinstance(value, str) and value.strip().lower() == "auto"):
        if fallback is None:
            raise PrecisionError(f"{key}: 'auto' is not a concrete precision; give a fixed-point or integer type")
        return fallback
    if isinstance(value, str):
        return parse_fixed_precision(value, key=key)
    width = getattr(value, "width", None)
    if isinstance(width, int) and not isinstance(width, bool) and width > 0:
        try:
            return parse_fixed_precision(str(value), key=key)
        except PrecisionError:
            integer = getattr(value, "integer", width)
            return Precision(
                width=int(width),
                integer=int(integer if integer is not None else width),
                signed=bool(getattr(value, "signed", True)),
            )
    raise PrecisionError(f"{key}: expected a fixed-point or integer precision, got {value!r}")


# --------------------------------------------------------------------------------------------
# The numpy reference of ap_fixed / ap_int assignment
# --------------------------------------------------------------------------------------------
#
# What ``ap_fixed<W,I,Q,O,N> y = x;`` stores, from the Vivado/Vitis HLS headers hls4ml ships
# (hls4ml/templates/vivado/ap_types/ap_fixed_base.h: the ``ap_fixed_base(double)`` constructor,
# ``quantization_adjust`` and ``overflow_adjust``; UG1399 "Arbitrary Precision Fixed-Point Data
# Types").  With F = W - I fraction bits and v = x·2^F:
#
#   1. quantization (Q), to an integer q:
#        TRN floor(v)              TRN_ZERO trunc(v)
#        RND floor(v + 1/2)        RND_ZERO ties toward 0    RND_INF ties away from 0
#        RND_MIN_INF ceil(v - 1/2) RND_CONV ties to even
#   2. overflow (O), q outside [lo, hi] (signed: [-2^(W-1), 2^(W-1)-1], unsigned: [0, 2^W-1]):
#        WRAP      the low W bits of q (two's complement); with N > 0 saturation bits the N most
#                  significant bits are then forced: signed, the sign bit to the source's sign and
#                  the N-1 bits below it to its complement; unsigned, all N to 1
#        SAT       clip to [lo, hi]
#        SAT_ZERO  0
#        SAT_SYM   clip to [-hi, hi] (signed; -2^(W-1) itself becomes -hi), as SAT when unsigned
#   3. y = q·2^-F.
#
# ap_int<W> is ap_fixed<W,W,TRN,WRAP>.  Computed in float64: exact while |q| < 2^53 (every type
# hls4ml builds from a Keras model); tests/test_quantize_array.py checks it against g++ compiling
# those headers.


def _round_half(v: np.ndarray, rounding: Rounding) -> np.ndarray:
    if rounding is Rounding.TRN:
        return np.floor(v)
    if rounding is Rounding.TRN_ZERO:
        return np.trunc(v)
    if rounding is Rounding.RND:
        return np.floor(v + 0.5)
    if rounding is Rounding.RND_MIN_INF:
        return np.ceil(v - 0.5)
    if rounding is Rounding.RND_ZERO:
        return np.sign(v) * np.ceil(np.abs(v) - 0.5)
    if rounding is Rounding.RND_INF:
        return np.sign(v) * np.floor(np.abs(v) + 0.5)
    return np.rint(v)  # RND_CONV: numpy rounds half to even


def quantize_array(x: np.ndarray, precision: Precision) -> np.ndarray:
    """``x`` (any real array) as hls4ml's ``ap_fixed``/``ap_int`` of ``precision`` stores it, as float64.

    The rounding (``precision.rounding``) and overflow (``precision.saturation``,
    ``precision.saturation_bits``) modes are applied as the HLS headers do (comment above).
    """
    if not isinstance(precision, Precision):
        raise PrecisionError(f"quantize_array: expected a Precision, got {precision!r}")
    width = precision.width
    fractional = 0 if precision.is_integer else precision.fractional
    rounding = Rounding.TRN if precision.is_integer else precision.rounding
    saturation = Saturation.WRAP if precision.is_integer else precision.saturation
    sat_bits = 0 if precision.is_integer else precision.saturation_bits
    if width > 53:
        raise PrecisionError(f"quantize_array: {precision.to_ap_string()} is wider than float64 holds exactly (53 bits)")

    v = np.ldexp(np.asarray(x, dtype=np.float64), fractional)
    q = _round_half(v, rounding)
    if precision.signed:
        lo, hi = -(2.0 ** (width - 1)), 2.0 ** (width - 1) - 1
    else:
        lo, hi = 0.0, 2.0**width - 1
    over, under = q > hi, q < lo
    if saturation is Saturation.WRAP:
        wrapped = np.mod(q, 2.0**width)  # low W bits, 0 ≤ u < 2^W
        if sat_bits > 0:
            n = min(sat_bits, width)
            outside = over | under
            low = np.mod(wrapped, 2.0 ** (width - n))  # the bits below the forced ones
            if precision.signed:
                # sign bit = the source's sign; the n-1 bits below it = its complement
                top_pos = 2.0 ** (width - 1) - 2.0 ** (width - n)  # bits [W-n, W-2] set, sign clear
                forced = np.where(under, 2.0 ** (width - 1) + low, top_pos + low)
            else:
                forced = (2.0**width - 2.0 ** (width - n)) + low
            wrapped = np.where(outside, forced, wrapped)
        if precision.signed:
            wrapped = np.where(wrapped > hi, wrapped - 2.0**width, wrapped)
        q = wrapped
    elif saturation is Saturation.SAT:
        q = np.clip(q, lo, hi)
    elif saturation is Saturation.SAT_ZERO:
        q = np.where(over | under, 0.0, q)
    else:  # SAT_SYM
        q = np.clip(q, -hi if precision.signed else lo, hi)
    return np.ldexp(q, -fractional)


def exact_accum(input_type: Precision, weight: Precision, bias: Precision | None, n_ops: int) -> Precision:
    """The accumulator that holds a sum of ``n_ops`` products ``input × weight`` (+ ``bias``) exactly.

    The formula of hls4ml's own ``infer_precision`` pass for an ``auto`` accum (``_infer_common_precision``,
    hls4ml/model/optimizer/passes/infer_precision.py): width = Wᵢ + W_w + ⌈log₂ n⌉, integer bits
    Iᵢ + I_w + ⌈log₂ n⌉; with a bias one more integer bit (and the bias's if larger) and the larger
    fraction.  No product is rounded and no sum overflows in it, so the C++ does not depend on the order
    of the additions (what the fake-quantized copy needs to be bit-exact, hls_opt/train/quantize.py).
    """
    log_n = int(np.ceil(np.log2(max(int(n_ops), 1))))
    width = weight.width + input_type.width + log_n
    integer = weight.integer + input_type.integer + log_n
    signed = weight.signed or input_type.signed
    fractional = width - integer
    if bias is not None:
        integer = max(integer + (bias.signed and not signed), bias.integer + (signed and not bias.signed)) + 1
        width = integer + max(fractional, bias.width - bias.integer)
        signed = signed or bias.signed
    return Precision(width=width, integer=integer, signed=signed)
