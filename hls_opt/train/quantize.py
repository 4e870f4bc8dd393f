"""Fake quantization: a trainable copy of a Keras model that computes as hls4ml's ``ap_fixed`` hardware.

:func:`quantized_copy` ``(model, configs)`` rebuilds the caller's model (never changing it) with each
Dense / Conv1D / Conv2D / Activation / ReLU named in ``configs`` replaced by a subclass that, in its
``call``, does what hls4ml's generated C++ does with that layer's :class:`~hls_opt.config.LayerConfig`
(``nnet_dense_latency.h``: ``mult[i] = (accum_t)(data · weight)``, ``acc = (accum_t)bias + Σ mult``,
``res = (result_t)acc``; ``nnet_activation.h``: ``res = (act_result_t)relu(data)``):

    x → ap(input)  ·  ap(kernel, weight)  [+ ap(ap(bias, bias), accum)]  → ap(·, accum) → ap(·, result)
      → activation → ap(·, activation_result)

``input`` is the type of what the layer reads: the output type of its producer (through Flatten,
Reshape and Dropout, which hls4ml does not retype), e.g. the Input layer's ``result``.  Re-quantizing
an already quantized tensor to its own type changes nothing, so a chain of such layers is quantized
once per tensor, as in hardware.

The quantizers are the ``quantizers`` package's fixed-point ones (the fake-quantization library of
Keras 3 that HGQ2 is built on; ``pip install hls-opt[quant]``): ``keras.ops`` only, so the copy
trains on TensorFlow, JAX and PyTorch; rounding has a straight-through gradient; SAT clips the
gradient outside the range.  They are called in inference mode (``training=False``) in training too:
the ``quantizers`` default skips the WRAP overflow while training, and a copy whose training forward
pass is not the hardware's would report an accuracy the hardware does not reach.  Each layer keeps its
integer / fraction bits as constants (:func:`set_precisions` changes them and drops the traced
functions, so the next ``fit`` traces anew); the rounding and overflow modes are fixed when the copy is
built.  The copy's weights are the original's, in the same order (``get_weights`` lists match).

Exactness (``tests/test_quantize.py`` against :func:`hls_opt.core.precision.quantize_array`;
``tests/test_quant_hls4ml.py`` against hls4ml's compiled C++): the forward pass equals hls4ml's C++
when (a) the accumulator holds every product exactly (``accum`` fraction bits ≥ input's + weight's,
else a Dense layer quantizes each product — as hls4ml does — and a convolution raises), (b) the
accumulator WRAPs (modular sums do not depend on the order of additions; a SAT accumulator is exact
only while no partial sum saturates), (c) the float32 arithmetic is exact: every partial sum below
2^(24 − accum fraction bits) in magnitude.  ``hls_opt.core.precision.exact_accum`` is the accumulator
hls4ml's own ``infer_precision`` gives, which satisfies (a) and (b).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import keras
import numpy as np
from keras import ops

from hls_opt.config.values import LayerConfig
from hls_opt.core.precision import Precision, Saturation, parse_fixed_precision
from hls_opt.errors import ConfigError, ModelError
from hls_opt.frontend.keras import from_keras

logger = logging.getLogger(__name__)

#: the fields of a quantized layer, in the order hls4ml's C++ applies them
FIELDS = ("input", "weight", "bias", "accum", "result", "activation_result")

#: the overflow modes the ``quantizers`` package has (its WRAP_SM is not an hls4ml ``Saturation``)
_SUPPORTED_OVERFLOW = {Saturation.WRAP: "WRAP", Saturation.SAT: "SAT", Saturation.SAT_SYM: "SAT_SYM"}

#: layers that only pass their input on (hls4ml gives them no type of their own)
_TRANSPARENT = ("Flatten", "Reshape", "Dropout")


def _quantizers() -> Any:
    try:
        from quantizers import get_fixed_quantizer
    except ImportError as exc:  # pragma: no cover - the [quant] extra is installed in CI
        raise ModelError(
            "quantization-aware fine-tuning needs the 'quantizers' package: pip install 'hls-opt[quant]'"
        ) from exc
    return get_fixed_quantizer


def check_quantizable(precision: Precision, key: str) -> None:
    """Raise :class:`ConfigError` naming ``key`` for a type the fake quantizers cannot reproduce."""
    if precision.is_integer:
        return
    if precision.saturation not in _SUPPORTED_OVERFLOW or precision.saturation_bits:
        raise ConfigError(
            f"{key}: {precision.to_ap_string()}: quantization-aware training reproduces WRAP, SAT and "
            "SAT_SYM overflow without saturation bits (the quantizers package), not this type"
        )


def _kif(precision: Precision) -> tuple[float, float, float]:
    """(keep_negative, integer bits without the sign, fraction bits): the ``quantizers`` parameters."""
    k = 1.0 if precision.signed else 0.0
    if precision.is_integer:
        return k, float(precision.width) - k, 0.0
    return k, float(precision.integer) - k, float(precision.fractional)


class _Quantizer:
    """One ``ap_fixed`` type on a layer: the ``quantizers`` function and its k, i, f (constants)."""

    def __init__(self, key: str, precision: Precision) -> None:
        check_quantizable(precision, key)
        rounding = "TRN" if precision.is_integer else precision.rounding.value
        overflow = "WRAP" if precision.is_integer else _SUPPORTED_OVERFLOW[precision.saturation]
        self.key, self.precision = key, precision
        self.fn = _quantizers()(rounding, overflow)
        self.wrap = overflow == "WRAP"
        self.kif = _kif(precision)

    def __call__(self, x: Any) -> Any:
        k, i, f = self.kif
        # tensors, not Python floats: the package calls stop_gradient on them (PyTorch needs a tensor)
        kt, it, ft = (ops.convert_to_tensor(v, dtype=x.dtype) for v in self.kif)
        if self.wrap:
            # the package rounds (straight through); the wrap is ours: its own float32
            # (x + 2^(I-1)) mod 2^I - 2^(I-1) rounds once W + 1 > 24 bits (measured: an accum
            # fixed<25,13> was 1 LSB off on 27 % of the digits rows), see _wrap
            return _wrap(self.fn(x, kt, it, ft, training=True), k, i, f)
        return self.fn(x, kt, it, ft, training=False)

    def assign(self, precision: Precision) -> None:
        modes = (precision.rounding, precision.saturation, precision.is_integer)
        if modes != (self.precision.rounding, self.precision.saturation, self.precision.is_integer):
            raise ConfigError(f"{self.key}: the rounding / overflow modes are fixed once the copy is built")
        check_quantizable(precision, self.key)
        self.precision, self.kif = precision, _kif(precision)


def _wrap(x: Any, k: float, i: float, f: float) -> Any:
    """Two's-complement wrap of ``x`` (already on the 2^-f grid) into [low, low + 2^(i+k)), exactly
    in float32 for every type of at most 24 bits, with an identity (straight-through) gradient.

    ``x - n·period`` is exact (both on the grid, the result in range); ``n`` may come out one off where
    ``x - low`` rounds, and the two corrections put it back."""
    period = 2.0 ** (i + k)
    low = -k * 2.0 ** (i + k - 1)
    n = ops.floor((x - low) / period)
    r = x - n * period
    r = ops.where(r >= low + period, r - period, r)
    r = ops.where(r < low, r + period, r)
    return x + ops.stop_gradient(r - x)


def _as_precision(value: Any, key: str) -> Precision | None:
    if value is None or isinstance(value, Precision):
        return value
    return parse_fixed_precision(value, key=key)


class _QuantizedMixin:
    """What every quantized layer shares: its types (``quantization``: field → type string)."""

    def _init_quantization(self, quantization: Mapping[str, Any] | None) -> None:
        self._quant_types = {
            f: _as_precision((quantization or {}).get(f), f"{self.name}.{f}") for f in FIELDS
        }
        unknown = set(quantization or {}) - set(FIELDS)
        if unknown:
            raise ConfigError(f"{self.name}: unknown quantization fields {sorted(unknown)}")
        self._q: dict[str, _Quantizer] = {}

    def _build_quantizers(self, fields: tuple[str, ...]) -> None:
        for f in fields:
            if self._quant_types[f] is not None and f not in self._q:
                self._q[f] = _Quantizer(f"{self.name}.{f}", self._quant_types[f])

    def _apply(self, field: str, x: Any) -> Any:
        q = self._q.get(field)
        return x if q is None else q(x)

    def set_precision(self, field: str, precision: Precision) -> None:
        """Change one type in place (same rounding / overflow modes); the widths are constants of a
        traced function, so :func:`set_precisions` drops the model's traced functions."""
        if field not in self._q:
            raise ConfigError(f"{self.name}.{field}: this layer was built without that type")
        self._q[field].assign(precision)
        self._quant_types[field] = precision

    def _quant_config(self) -> dict[str, Any]:
        return {"quantization": {f: str(p) for f, p in self._quant_types.items() if p is not None}}


def _products_exact(types: Mapping[str, Precision | None]) -> bool:
    """Whether the accumulator holds every ``input × weight`` product (no per-product rounding)."""
    acc, x, w = types["accum"], types["input"], types["weight"]
    if acc is None:
        return True
    if x is None or w is None:
        return False
    return (acc.width - acc.integer if not acc.is_integer else 0) >= _frac(x) + _frac(w)


def _frac(p: Precision) -> int:
    return 0 if p.is_integer else p.fractional


@keras.saving.register_keras_serializable(package="hls_opt")
class QuantizedDense(_QuantizedMixin, keras.layers.Dense):
    """``keras.layers.Dense`` computing as hls4ml's ``dense_latency`` with fixed-point types."""

    def __init__(self, *args: Any, quantization: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._init_quantization(quantization)
        self._per_product = not _products_exact(self._quant_types)

    def build(self, input_shape: Any) -> None:
        super().build(input_shape)
        self._build_quantizers(FIELDS)

    def call(self, inputs: Any, training: Any = None) -> Any:
        x = self._apply("input", inputs)
        kernel = self._apply("weight", self.kernel)
        if self._per_product:  # accum_t narrower than a product: hls4ml rounds each product
            y = ops.sum(self._apply("accum", ops.expand_dims(x, -1) * kernel), axis=-2)
        else:
            y = ops.matmul(x, kernel)
        if self.bias is not None:
            y = y + self._apply("accum", self._apply("bias", self.bias))
        y = self._apply("result", self._apply("accum", y))
        if self.activation is not None:
            y = self.activation(y)
        return self._apply("activation_result", y)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), **self._quant_config()}


class _QuantizedConvMixin(_QuantizedMixin):
    """What the quantized Conv1D / Conv2D share: set-up, build, call, config (the mixin comes first in their
    bases, so ``super()`` here is the Keras convolution)."""

    def __init__(self, *args: Any, quantization: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._init_quantization(quantization)
        self._per_product = not _products_exact(self._quant_types)

    def build(self, input_shape: Any) -> None:
        super().build(input_shape)
        self._build_quantizers(FIELDS)

    def call(self, inputs: Any) -> Any:
        return self._conv_call(inputs)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), **self._quant_config()}

    def _conv_call(self, inputs: Any) -> Any:
        if self._per_product:
            raise ModelError(
                f"{self.name}: accum {self._quant_types['accum'].to_ap_string()} is narrower than a product "
                "of input and weight; give the convolution an accumulator with at least their fraction bits"
            )
        x = self._apply("input", inputs)
        y = self.convolution_op(x, self._apply("weight", self.kernel))
        if self.bias is not None:
            bias = self._apply("accum", self._apply("bias", self.bias))
            if self.data_format == "channels_last":
                y = y + bias
            else:
                y = y + ops.reshape(bias, (1, self.filters) + (1,) * self.rank)
        y = self._apply("result", self._apply("accum", y))
        if self.activation is not None:
            y = self.activation(y)
        return self._apply("activation_result", y)


@keras.saving.register_keras_serializable(package="hls_opt")
class QuantizedConv1D(_QuantizedConvMixin, keras.layers.Conv1D):
    """``keras.layers.Conv1D`` computing as hls4ml's io_parallel / io_stream convolution."""


@keras.saving.register_keras_serializable(package="hls_opt")
class QuantizedConv2D(_QuantizedConvMixin, keras.layers.Conv2D):
    """``keras.layers.Conv2D`` computing as hls4ml's io_parallel / io_stream convolution."""


class _QuantizedElementwiseMixin(_QuantizedMixin):
    """What the quantized activation layers share: the input and the result at their types around the Keras
    layer's own computation (the mixin comes first in their bases, so ``super()`` is the Keras layer)."""

    def __init__(self, *args: Any, quantization: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._init_quantization(quantization)

    def build(self, input_shape: Any) -> None:
        super().build(input_shape)
        self._build_quantizers(("input", "result"))

    def call(self, inputs: Any) -> Any:
        return self._apply("result", super().call(self._apply("input", inputs)))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), **self._quant_config()}


@keras.saving.register_keras_serializable(package="hls_opt")
class QuantizedActivation(_QuantizedElementwiseMixin, keras.layers.Activation):
    """``keras.layers.Activation`` whose input and result are ``ap_fixed`` types (hls4ml's activation layer)."""


@keras.saving.register_keras_serializable(package="hls_opt")
class QuantizedReLU(_QuantizedElementwiseMixin, keras.layers.ReLU):
    """``keras.layers.ReLU`` whose input and result are ``ap_fixed`` types."""


#: Keras class (exact) → its quantized subclass
QUANTIZED_LAYERS: dict[type, type] = {
    keras.layers.Dense: QuantizedDense,
    keras.layers.Conv1D: QuantizedConv1D,
    keras.layers.Conv2D: QuantizedConv2D,
    keras.layers.Activation: QuantizedActivation,
    keras.layers.ReLU: QuantizedReLU,
}


def _producers(model: keras.Model) -> tuple[dict[str, list[str]], dict[str, str]]:
    """Layer name → the names of the layers (or Input) it reads, and → its IR node type, from the IR."""
    graph = from_keras(model)
    return {node.name: list(node.inputs) for node in graph.nodes()}, {
        node.name: type(node).__name__ for node in graph.nodes()
    }


def _input_type(name: str, producers: dict, kinds: dict, configs: Mapping[str, LayerConfig]) -> Precision | None:
    """The type hls4ml gives what ``name`` reads: its producer's output type, through untyped layers."""
    inputs = producers.get(name, [])
    if len(inputs) != 1:
        return None
    source = inputs[0]
    while kinds.get(source) in _TRANSPARENT and source not in configs:
        ups = producers.get(source, [])
        if len(ups) != 1:
            return None
        source = ups[0]
    config = configs.get(source)
    return None if config is None else config.output


def layer_quantization(name: str, layer: Any, config: LayerConfig, input_type: Precision | None) -> dict[str, Precision]:
    """The types a quantized copy of ``layer`` applies, from its resolved hls4ml config."""
    if isinstance(layer, (keras.layers.Activation, keras.layers.ReLU)):
        types = {"input": input_type, "result": config.result}
    else:
        types = {
            "input": input_type, "weight": config.weight, "bias": config.bias, "accum": config.accum,
            "result": config.result, "activation_result": config.activation_result,
        }
        if getattr(layer, "activation", None) not in (None, keras.activations.linear) and types["activation_result"] is None:
            # hls4ml's split-off activation (d_relu) gets its own type; without one it is the result's
            types["activation_result"] = config.result
    return {k: v for k, v in types.items() if v is not None}


def quantized_copy(model: keras.Model, configs: Mapping[str, LayerConfig]) -> keras.Model:
    """A trainable copy of ``model`` computing in hls4ml's fixed-point types (module docstring).

    ``configs``: layer name → :class:`LayerConfig` (e.g. ``{n.name: n.config for n in graph.nodes()}``);
    the Input layer's entry types the model's input.  Layers of the classes in
    :data:`QUANTIZED_LAYERS` (exact class) that ``configs`` names are replaced by their quantized
    subclass with the same weights and constraints (a kernel's ``MaskConstraint`` keeps pruned weights
    at 0, and every rounding mode maps 0 to 0, so they stay exactly 0); every other layer is cloned
    as it is.  The caller's model is not changed.
    """
    if not isinstance(model, keras.Model):
        raise TypeError(f"quantized_copy: expected a keras.Model, got {type(model).__name__}")
    for name, config in configs.items():
        if not isinstance(config, LayerConfig):
            raise ConfigError(f"quantized_copy: configs[{name!r}] is {type(config).__name__}, expected a LayerConfig")
    producers, kinds = _producers(model)

    def clone(layer: keras.layers.Layer) -> keras.layers.Layer:
        cls = QUANTIZED_LAYERS.get(type(layer))
        config = layer.get_config()
        if cls is None or layer.name not in configs:
            return type(layer).from_config(config)
        types = layer_quantization(layer.name, layer, configs[layer.name],
                                   _input_type(layer.name, producers, kinds, configs))
        return cls.from_config({**config, "quantization": {k: str(v) for k, v in types.items()}})

    copy = keras.models.clone_model(model, clone_function=clone)
    copy.set_weights(model.get_weights())
    return copy


def set_precisions(model: keras.Model, configs: Mapping[str, LayerConfig]) -> None:
    """Give the quantized layers of a :func:`quantized_copy` new widths (same modes), in place."""
    for layer in model.layers:
        if isinstance(layer, _QuantizedMixin) and layer.name in configs:
            types = layer_quantization(layer.name, layer, configs[layer.name], layer._quant_types.get("input"))
            for field, precision in types.items():
                if field != "input":
                    layer.set_precision(field, precision)
    # the widths are constants of the traced functions: trace again on the next fit / predict
    for attr in ("train_function", "test_function", "predict_function"):
        if hasattr(model, attr):
            setattr(model, attr, None)


def quantize_weights(model: keras.Model) -> list[np.ndarray]:
    """The weights of a :func:`quantized_copy` as the hardware stores them (kernels and biases
    quantized to their types; everything else as it is), in ``model.get_weights()`` order."""
    out: list[np.ndarray] = []
    for layer in model.layers:
        for var in layer.weights:
            value = np.asarray(ops.convert_to_numpy(var))
            if isinstance(layer, _QuantizedMixin):
                if var is getattr(layer, "kernel", None) and "weight" in layer._q:
                    value = np.asarray(ops.convert_to_numpy(layer._q["weight"](ops.convert_to_tensor(value))))
                elif var is getattr(layer, "bias", None) and "bias" in layer._q:
                    value = np.asarray(ops.convert_to_numpy(layer._q["bias"](ops.convert_to_tensor(value))))
            out.append(value)
    return out
