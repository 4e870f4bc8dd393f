"""Typed IR nodes: one per Keras layer.

Nodes compare and hash by identity (``eq=False``): a node is a place in a graph, and comparing
weight arrays field by field would be both ambiguous and slow.

Shapes exclude the batch dimension.  Weighted nodes keep their arrays in ``weights`` under Keras'
names (``kernel``, ``bias``, ``gamma``, …) in Keras layout.  ``config`` is the resolved
:class:`~hls_opt.config.LayerConfig` (``None`` for nodes hls4ml gives no precision to).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from hls_opt.config import LayerConfig
from hls_opt.core.qkeras import quantized_zeros
from hls_opt.core.structures import mult_shape

Shape = tuple[int, ...]


@dataclass(frozen=True)
class TensorRef:
    """Stands for ``node.inputs[index]``'s output inside a recorded Keras call (``Node.keras_call``)."""

    index: int


@dataclass(eq=False)
class Node:
    """A layer of the model.  ``inputs`` are the names of the producing nodes, in call order."""

    name: str
    inputs: list[str] = field(default_factory=list)
    input_shapes: list[Shape] = field(default_factory=list)
    output_shape: Shape = ()
    keras_class: str = ""
    keras_config: dict[str, Any] = field(default_factory=dict, repr=False)
    weights: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    config: LayerConfig | None = field(default=None, repr=False)
    #: The Keras layer class the node came from (used to rebuild it; never compared or printed).
    keras_type: type | None = field(default=None, repr=False, compare=False)
    #: How Keras called the layer: ``(args, kwargs)`` with every input tensor replaced by a
    #: :class:`TensorRef` into ``inputs``; ``None`` means "one input: ``layer(x)``, several:
    #: ``layer([x, y, …])``".  Only the emitter reads it.
    keras_call: tuple[tuple[Any, ...], dict[str, Any]] | None = field(default=None, repr=False)

    #: True for node types whose kernel is a matrix multiply the optimizer can act on.
    has_kernel: ClassVar[bool] = False
    #: False for node types hls-opt has no resource model for (:class:`Opaque`): the estimate
    #: counts only their parameters and says "not modelled".
    modelled: ClassVar[bool] = True

    @property
    def input_shape(self) -> Shape:
        """The shape of the first (usually only) input."""
        return self.input_shapes[0] if self.input_shapes else ()

    @property
    def kind(self) -> str:
        """The IR node type's name (``'Dense'``, ``'Opaque'``…); ``keras_class`` is the Keras one."""
        return type(self).__name__


@dataclass(eq=False)
class WeightedNode(Node):
    """A node whose ``kernel`` hls4ml implements as an ``n_in × n_out`` matrix multiply."""

    has_kernel: ClassVar[bool] = True
    activation: str = "linear"
    use_bias: bool = True
    #: A QKeras layer's ``kernel_quantizer`` (its serialized config), ``None`` for Keras layers.
    weight_quantizer: dict[str, Any] | None = field(default=None, repr=False)
    #: An HGQ2 layer's width of every kernel weight (its kernel quantizer's k + i + f, kernel-shaped);
    #: a weight at 0 bits is 0 in hls4ml's firmware.  ``None`` for other layers.
    weight_bits: np.ndarray | None = field(default=None, repr=False)

    @property
    def kernel(self) -> np.ndarray:
        return self.weights["kernel"]

    def built_kernel(self, kernel: np.ndarray | None = None) -> np.ndarray:
        """``kernel`` (default: the node's) as hls4ml writes it into the firmware: a QKeras layer's
        weights that its quantizer rounds to zero are zero there (:func:`hls_opt.core.qkeras.quantized_zeros`).
        The cost models see this kernel; the Keras weights are never changed."""
        k = self.kernel if kernel is None else np.asarray(kernel)
        if self.weight_bits is not None and self.weight_bits.shape == k.shape:
            return np.where(self.weight_bits > 0, k, np.zeros((), dtype=k.dtype))
        if self.weight_quantizer is None:
            return k
        zeros = quantized_zeros(k, self.weight_quantizer)
        if zeros is None or not zeros.any():
            return k
        return np.where(zeros, np.zeros((), dtype=k.dtype), k)

    @property
    def bias(self) -> np.ndarray | None:
        return self.weights.get("bias")

    @property
    def n_in(self) -> int:
        """Inputs of one matrix multiply: Dense inputs, or kh·kw·C for a convolution."""
        return mult_shape(self.kernel.shape)[0]

    @property
    def n_out(self) -> int:
        """Outputs of one matrix multiply: Dense units or convolution filters."""
        return mult_shape(self.kernel.shape)[1]

    @property
    def n_pixels(self) -> int:
        """How many times the matrix multiply runs per sample (1 for Dense, output positions for conv)."""
        return 1


@dataclass(eq=False)
class Input(Node):
    pass


@dataclass(eq=False)
class Dense(WeightedNode):
    units: int = 0


@dataclass(eq=False)
class ConvND(WeightedNode):
    filters: int = 0
    kernel_size: Shape = ()
    strides: Shape = ()
    padding: str = "valid"

    @property
    def channels_last(self) -> bool:
        """Keras' ``data_format``: channels last (the default) or first."""
        return self.keras_config.get("data_format", "channels_last") != "channels_first"

    @property
    def n_pixels(self) -> int:
        """Output positions: the matrix multiply runs once per position (out_h·out_w, out_w)."""
        if not self.output_shape:
            return 1
        spatial = self.output_shape[:-1] if self.channels_last else self.output_shape[1:]
        return int(np.prod(spatial))


@dataclass(eq=False)
class Conv1D(ConvND):
    pass


@dataclass(eq=False)
class Conv2D(ConvND):
    pass


@dataclass(eq=False)
class BatchNormalization(Node):
    pass


@dataclass(eq=False)
class Activation(Node):
    """A standalone activation (Activation, ReLU, Softmax, LeakyReLU…).  ``activation`` is its name."""

    activation: str = "linear"


@dataclass(eq=False)
class Pooling(Node):
    """Max/Average pooling 1D/2D and their Global variants; ``op`` is 'max' or 'average'."""

    op: str = "max"
    global_: bool = False


@dataclass(eq=False)
class Flatten(Node):
    pass


@dataclass(eq=False)
class Reshape(Node):
    pass


@dataclass(eq=False)
class Dropout(Node):
    """Identity at inference time."""


@dataclass(eq=False)
class Add(Node):
    pass


@dataclass(eq=False)
class Concatenate(Node):
    axis: int = -1


@dataclass(eq=False)
class Opaque(Node):
    """A layer hls-opt does not model (DepthwiseConv2D, SeparableConv, custom layers…).

    Passes leave it alone; its weights are carried through unchanged.  ``param_count`` is the
    Keras layer's ``count_params()`` (read by the frontend): the only figure the estimate gives
    for it (``params``), marked not modelled.
    """

    modelled: ClassVar[bool] = False
    param_count: int = 0
