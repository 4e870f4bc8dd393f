"""HGQ2 models in: QDense / QConv layers are typed Dense / Conv nodes whose weight
type is the widest weight's and whose 0-bit weights cost nothing; the emitter rebuilds the same layers."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from hls_opt.core.precision import Precision
from hls_opt.cost.tables import estimate_graph
from hls_opt.emit.keras_model import to_keras_model
from hls_opt.frontend.keras import from_keras

# hgq2 replaces QKeras-v3's `qkeras` package, so these run in a venv of their own (`make test-hgq2`, in CI),
# where `hgq` is a required dependency imported plainly inside each test; `make test` deselects them.
pytestmark = pytest.mark.needs_hgq2


def set_bits(layer, bits):
    """Give every kernel weight of an HGQ2 layer ``bits`` magnitude bits (kbi quantizer's ``b``)."""
    (b,) = [w for w in layer.weights if "_kq/" in w.path and w.path.endswith("/b")]
    b.assign(np.broadcast_to(np.asarray(bits, np.float32), tuple(b.shape)))


def test_hgq2_dense_is_a_typed_node_with_its_widest_weight_and_free_zero_bit_weights():
    from hgq.layers import QDense

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8,), name="x"), QDense(4, activation="relu", name="qd"),
                              QDense(3, name="out")])
    x = np.random.default_rng(0).uniform(-1, 1, (16, 8)).astype(np.float32)
    qd = model.layers[0]
    # 4 magnitude bits (+ sign: 5-bit weights), column 0 at 0 bits, one weight at 7 bits (8 with the sign)
    bits = np.full((8, 4), 4.0)
    bits[:, 0] = 0.0
    bits[3, 2] = 7.0
    set_bits(qd, bits)
    before = model.predict(x, verbose=0)
    graph = from_keras(model)
    node = graph.node("qd")
    assert node.kind == "Dense" and node.keras_class == "QDense" and node.activation == "relu"
    # the widest weight sets the layer's type: 8 bits (what a multiplier shared at RF > 1 must hold)
    assert node.config.weight.width == 8 and node.config.weight.signed
    # the 0-bit column is 0 in the kernel hls4ml writes, and HGQ2's own quantized kernel agrees
    built = node.built_kernel()
    assert np.all(built[:, 0] == 0) and np.all(built[:, 1:] != 0)
    np.testing.assert_array_equal(np.asarray(keras.ops.convert_to_numpy(qd.qkernel))[:, 0], 0.0)
    # what the cost model prices: the 8 weights of column 0 are gone (24 of 32 multiplications remain)
    assert estimate_graph(graph)["qd"].params == 24
    # the emitter rebuilds the HGQ2 layers with every quantizer state: the same predictions
    emitted = to_keras_model(graph)
    assert type(emitted.layers[0]) is QDense
    np.testing.assert_array_equal(emitted.predict(x, verbose=0), before)


def test_narrower_hgq2_weights_cost_fewer_dsps():
    from hgq.layers import QDense

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8,), name="x"), QDense(4, name="qd")])
    model.predict(np.zeros((1, 8), np.float32), verbose=0)
    set_bits(model.layers[0], 12.0)  # 13-bit weights × 16-bit inputs: a DSP per product
    wide = estimate_graph(from_keras(model))["qd"]
    set_bits(model.layers[0], 5.0)  # 6-bit weights: the narrower operand < 9 bits, built from LUTs
    graph = from_keras(model)
    narrow = estimate_graph(graph)["qd"]
    assert graph.node("qd").config.weight == Precision(width=6, integer=graph.node("qd").config.weight.integer)
    assert wide.dsp == 32 and narrow.dsp == 0
