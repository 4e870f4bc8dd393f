"""QKeras quantizers → hls4ml precisions, the way hls4ml 1.3 maps them.

QKeras (``qkeras-v3`` on PyPI for Keras 3, imported as ``qkeras``) is optional: everything here
works on the quantizers' serialized configs (``{'class_name': 'quantized_bits', 'config': {...}}``),
on quantizer objects (their ``get_config()``) and on QKeras' string spellings
(``'quantized_relu(6,2)'``, parsed with ``qkeras.get_quantizer`` — the only place that imports
QKeras).

Two mappings, because hls4ml has two (paths inside ``github:fastmachinelearning/hls4ml``, v1.3):

* **weights and biases** (``kernel_quantizer`` / ``bias_quantizer`` of QDense, QConv1D, QConv2D):
  ``QKerasQuantizer._get_type`` / ``QKerasBinaryQuantizer`` in ``hls4ml/model/quantizers.py``.
  ``quantized_bits(bits, integer)`` → ``fixed<bits, integer+1>`` (TRN, WRAP; signed whatever
  ``keep_negative`` says), ``int<bits>`` when ``bits == integer``; ternary → ``int<2>``; binary
  → hls4ml's 1-bit XNOR type (here ``uint<1>``).  hls4ml applies this type in
  ``Layer.add_weights_variable`` (``hls4ml/model/layers.py``: ``if quantizer is not None:
  precision = quantizer.hls_type``), i.e. **the quantizer overrides whatever the config says**
  for ``weight`` / ``bias``.  ``quantized_po2`` gives hls4ml an exponent type (shifts, not
  multipliers), which hls-opt does not model: :func:`weight_precision` raises
  :class:`UnsupportedQuantizer` and the layer stays opaque.  Any other class hls4ml prints
  "Unsupported quantizer" for and uses ``fixed<16,6>``; so do we.
* **activations** (QActivation, and a quantizer given as a layer's ``activation``):
  ``_get_precision_from_quantizer`` in ``hls4ml/utils/config.py``.  ``bits``, ``integer + 1``
  integer bits (``integer`` defaults to ``bits − 1``), ``RND_CONV`` / ``SAT``;
  ``quantized_relu`` with no negative slope is unsigned with one integer bit fewer;
  ``quantized_tanh`` has 1 integer bit (``SAT_SYM`` when symmetric); ``quantized_sigmoid`` 0,
  unsigned; binary / ternary ``int<2>``.  When no fractional bit is left hls4ml writes an
  integer type of ``integer`` bits.  hls4ml's converter puts this type only into the config
  that ``config_from_keras_model`` generates; the layer's result type is then whatever the
  config says (``docs/compat.md`` says how hls-opt treats a config that does not name the layer).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from hls_opt.core.precision import DEFAULT_PRECISION, Precision, Rounding, Saturation
from hls_opt.errors import ModelError

__all__ = [
    "QKERAS_LAYERS",
    "UnsupportedQuantizer",
    "activation_precision",
    "quantizer_config",
    "quantized_zeros",
    "quantizer_name",
    "weight_precision",
]

#: QKeras layer class → the Keras class hls4ml builds it as (``layer_map`` in
#: ``hls4ml/model/layers.py``: 'QDense': Dense, 'QConv1D': Conv1D, 'QConv2D': Conv2D,
#: 'QActivation': Activation, 'QBatchNormalization': BatchNormalization).
QKERAS_LAYERS = {
    "QDense": "Dense",
    "QConv1D": "Conv1D",
    "QConv2D": "Conv2D",
    "QActivation": "Activation",
    "QBatchNormalization": "BatchNormalization",
}

# hls4ml/utils/config.py _get_precision_from_quantizer: the classes with a 'bits' field.
_BITS_ACTIVATIONS = (
    "quantized_bits",
    "quantized_relu",
    "quantized_tanh",
    "quantized_sigmoid",
    "quantized_po2",
    "quantized_relu_po2",
)
_BINARY = ("binary", "stochastic_binary", "binary_tanh")
_TERNARY = ("ternary", "stochastic_ternary", "ternary_tanh")


class UnsupportedQuantizer(ModelError):
    """A quantizer hls-opt cannot give a fixed-point type to (e.g. ``quantized_po2`` weights)."""


def quantizer_config(quantizer: Any) -> dict[str, Any] | None:
    """``{'class_name': …, 'config': {…}}`` for a serialized quantizer, a quantizer object or a
    QKeras string spelling; ``None`` for no quantizer.  A plain function (``keras.activations.relu``)
    gives its name and an empty config."""
    if quantizer is None:
        return None
    if isinstance(quantizer, Mapping):
        if "class_name" not in quantizer:
            raise ModelError(f"quantizer {dict(quantizer)!r}: no 'class_name'")
        inner = quantizer.get("config")
        return {
            "class_name": str(quantizer["class_name"]),
            "config": dict(inner) if isinstance(inner, Mapping) else {},
        }
    if isinstance(quantizer, str):
        try:
            from qkeras import get_quantizer  # the spelling is QKeras' own mini-language
        except ImportError as exc:
            raise ModelError(
                f"quantizer '{quantizer}': reading a QKeras quantizer string needs qkeras (pip install qkeras-v3)"
            ) from exc
        try:
            obj = get_quantizer(quantizer)
        except Exception as exc:
            raise ModelError(f"quantizer '{quantizer}': QKeras cannot parse it ({exc})") from None
        return quantizer_config(obj)
    if hasattr(quantizer, "get_config"):
        return {"class_name": type(quantizer).__name__, "config": dict(quantizer.get_config())}
    return {"class_name": str(getattr(quantizer, "__name__", type(quantizer).__name__)), "config": {}}


def quantizer_name(quantizer: Any) -> str | None:
    """The quantizer's class name (``'quantized_relu'``), ``None`` for no quantizer."""
    cfg = quantizer_config(quantizer)
    return None if cfg is None else cfg["class_name"]


def _int(value: Any, what: str, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ModelError(f"quantizer {name}: {what} must be an integer, got {value!r}") from None


def weight_precision(quantizer: Any) -> Precision | None:
    """The type hls4ml gives weights quantized by ``quantizer`` (``QKerasQuantizer._get_type``).

    ``None`` when there is no quantizer (the config's precision applies).
    Raises :class:`UnsupportedQuantizer` for power-of-two quantizers.
    """
    cfg = quantizer_config(quantizer)
    if cfg is None:
        return None
    name, qc = cfg["class_name"], cfg["config"]
    if name == "quantized_bits":
        width = _int(qc.get("bits", 8), "bits", name)
        integer = _int(qc.get("integer", 0), "integer", name)
        if width == integer:
            if width == 1:
                return Precision(width=1, integer=1, signed=False, is_integer=True)  # XnorPrecisionType
            return Precision(width=width, integer=width, signed=True, is_integer=True)
        return Precision(width=width, integer=integer + 1, signed=True)
    if "po2" in name:
        raise UnsupportedQuantizer(
            f"quantizer {name}: power-of-two weights become shifts in hls4ml (ExponentPrecisionType); "
            "hls-opt does not model them"
        )
    if "ternary" in name:
        return Precision(width=2, integer=2, signed=True, is_integer=True)
    if "binary" in name:
        return Precision(width=1, integer=1, signed=False, is_integer=True)  # XnorPrecisionType
    # hls4ml: print('Unsupported quantizer: ...'); FixedPrecisionType(width=16, integer=6, signed=True)
    return DEFAULT_PRECISION


def activation_precision(quantizer: Any) -> Precision | None:
    """The result type hls4ml's ``config_from_keras_model`` writes for an activation quantizer
    (``_get_precision_from_quantizer`` in ``hls4ml/utils/config.py``).

    ``None`` when there is no quantizer or hls4ml has no type for it (a plain Keras activation,
    ``quantized_linear``…): the config's precision then applies.
    """
    cfg = quantizer_config(quantizer)
    if cfg is None:
        return None
    name, qc = cfg["class_name"], cfg["config"]
    signed = True
    rounding, saturation = Rounding.TRN, Saturation.WRAP
    if name in _BITS_ACTIVATIONS:
        if "bits" not in qc:
            return None
        bits = _int(qc["bits"], "bits", name)
        integer_field = qc.get("integer")
        integer = (bits - 1 if integer_field is None else _int(integer_field, "integer", name)) + 1
        rounding, saturation = Rounding.RND_CONV, Saturation.SAT
        if name in ("quantized_relu", "quantized_relu_po2"):
            if float(qc.get("negative_slope", 0.0) or 0.0) == 0.0:
                signed = False
                integer -= 1
        elif name == "quantized_tanh":
            saturation = Saturation.SAT_SYM if qc.get("symmetric") else Saturation.SAT
            integer = 1
        elif name == "quantized_sigmoid":
            integer, signed = 0, False
    elif name in _BINARY or name in _TERNARY:
        bits = integer = 2
    else:
        return None
    if bits - integer > 0:
        return Precision(width=bits, integer=integer, signed=signed, rounding=rounding, saturation=saturation)
    # hls4ml: IntegerPrecisionType(width=integer, signed=signed)
    return Precision(width=integer, integer=integer, signed=signed, is_integer=True)


def quantized_zeros(kernel: np.ndarray, quantizer: Any) -> np.ndarray | None:
    """Which weights ``quantizer`` rounds to exactly zero (a boolean array shaped like ``kernel``),
    or ``None`` when hls-opt does not model that quantizer's zeros (then the float zeros count).

    hls4ml quantizes the weights before it writes them (``add_weights_variable``: ``data =
    quantizer(data)``, hls4ml/model/layers.py), and its multiplier counts (Latency ``n_zeros``, the
    unrolled kernel's zero rows) see those quantized weights.  ``quantized_bits`` with ``alpha``
    ``None`` or a number (``qkeras/quantizers.py``, ``quantized_bits.__call__``): ``p = x · 2^(bits −
    keep_negative) / 2^integer``, rounded half to even, clipped to ``[−2^…, 2^… − 1]`` — zero when
    ``round(p) == 0`` (and, without ``keep_negative``, when ``round(p) < 0``).  The per-channel scales
    of ``alpha='auto'`` / ``'auto_po2'`` and the ternary thresholds are not modelled.
    """
    cfg = quantizer_config(quantizer)
    if cfg is None or cfg["class_name"] != "quantized_bits":
        return None
    qc = cfg["config"]
    if isinstance(qc.get("alpha"), str) or qc.get("use_stochastic_rounding"):
        return None
    bits = _int(qc.get("bits", 8), "bits", "quantized_bits")
    integer = _int(qc.get("integer", 0), "integer", "quantized_bits")
    keep_negative = bool(qc.get("keep_negative", True))
    k = np.asarray(kernel, dtype=np.float32)
    unsigned_bits = bits - int(keep_negative)
    if unsigned_bits <= 0:  # 1-bit: sign(x) with 0 → +1, never zero
        return np.zeros(k.shape, dtype=bool)
    p = k * np.float32(2.0**unsigned_bits) / np.float32(2.0**integer)
    rounded = np.rint(p)  # half to even, as keras.ops.round
    return rounded == 0 if keep_negative else rounded <= 0
