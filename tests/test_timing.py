"""The timing model (II and latency in cycles) on small hand-built graphs, the numbers worked out by hand.

Cycle constants (backends/cycles.py): mult 1, 2 adder levels per cycle, ROM read 1, cast 1,
call 1, elementwise 1, softmax 4, stream read/write 1.  ``tree(n)`` = ⌈⌈log2 n⌉ / 2⌉: tree(17) = 3,
tree(10) = tree(9) = 2, tree(5) = 2, tree(3) = 1.  The structure (what is pipelined at which II,
trip counts) is checked against hls4ml's generated code in tests/test_timing_hls4ml.py.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from hls_opt.config import IOType, LayerConfig, Strategy
from hls_opt.core.precision import parse_precision
from hls_opt.cost.backend import Backend
from hls_opt.cost.registry import get_backend, register_backend, unregister_backend
from hls_opt.cost.tables import estimate_report, estimate_table, model_timing, stream_pack
from hls_opt.cost.timing import NOT_MODELLED, Schedule, Timing, compose
from hls_opt.errors import RegistryError
from hls_opt.ir import nodes as ir
from hls_opt.ir.graph import Graph

P16 = parse_precision("ap_fixed<16,6>")
L, R, RU = Strategy.LATENCY, Strategy.RESOURCE, Strategy.RESOURCE_UNROLLED


def cfg(rf=1, strategy=L, io=IOType.PARALLEL, pf=1):
    return LayerConfig(
        weight=P16, bias=P16, result=P16, accum=P16, reuse_factor=rf, strategy=strategy, io_type=io,
        parallelization_factor=pf,
    )


def with_all(graph, **changes):
    for node in list(graph.nodes()):
        if node.config is not None:
            graph.replace(node.name, dataclasses.replace(node, config=dataclasses.replace(node.config, **changes)))
    return graph


# -- composing layers --------------------------------------------------------------------------------


def test_compose_pipeline_dataflow_and_sequential():
    a, b = Timing(ii=2, latency=10), Timing(ii=5, latency=7)
    layers = {"a": a, "b": b}
    # pipeline: II the slowest layer's, latency the sum; a top pragma II=8 raises the II
    assert (compose(layers, Schedule.PIPELINE).ii, compose(layers, Schedule.PIPELINE).latency) == (5, 17)
    assert compose(layers, Schedule.PIPELINE, pipeline_ii=8).ii == 8
    # dataflow of array stages (fill = drain = latency): b starts at 10, ends at 17
    assert (compose(layers, Schedule.DATAFLOW).ii, compose(layers, Schedule.DATAFLOW).latency) == (5, 17)
    # sequential: nothing overlaps, the next input waits for the last output
    assert (compose(layers, Schedule.SEQUENTIAL).ii, compose(layers, Schedule.SEQUENTIAL).latency) == (17, 17)
    # streaming stages: b starts when a's first output is out (10) and ends no earlier than
    # 10 + 60 = 70 nor than a's end + b's drain = 100 + 8 = 108
    s = {"a": Timing(ii=100, latency=100, fill=10, drain=5), "b": Timing(ii=50, latency=60, fill=20, drain=8)}
    assert (compose(s, Schedule.DATAFLOW).ii, compose(s, Schedule.DATAFLOW).latency) == (100, 108)


def test_timing_rejects_negative_or_fractional_cycles():
    with pytest.raises(ValueError, match="Timing.ii"):
        Timing(ii=-1, latency=3)
    with pytest.raises(ValueError, match="Timing.latency"):
        Timing(ii=1, latency=2.5)


# -- Dense, io_parallel --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "rf, strategy, fc, out, model",
    [
        # Latency RF 1: fc 16→8: 0 + mult 1 + tree(16 products + bias = 17) 3 + cast 1 = 5;
        # out 8→4: 1 + tree(9) 2 + 1 = 4.  All Latency → PIPELINE: II 1, latency 5 + 4.
        (1, L, (1, 5), (1, 4), (1, 9, Schedule.PIPELINE)),
        # Latency RF 4: the products spread over 4 cycles: + 3 each; II = RF = 4.
        (4, L, (4, 8), (4, 7), (4, 15, Schedule.PIPELINE)),
        # Resource RF 4: fc: multscale = ⌈128/4⌉/8 = 4 products per accumulator per trip;
        # trip depth = ROM 1 + mult 1 + tree(5) 2 = 4; call 1 + 3 more trips + 4 + cast 1 = 9, not
        # pipelined (II = latency).  out 8→4: multscale 2, depth 1 + 1 + tree(3) 1 = 3 → 1+3+3+1 = 8.
        # A Resource layer → DATAFLOW: II 9, latency 9 + 8.
        (4, R, (9, 9), (8, 8), (9, 17, Schedule.DATAFLOW)),
        # ResourceUnrolled RF 4: pipelined at II 4; 3 + ROM 1 + mult 1 + tree 3 + cast 1 = 9 and
        # 3 + 1 + 1 + 2 + 1 = 8.  → PIPELINE with II = the largest RF (4).
        (4, RU, (4, 9), (4, 8), (4, 17, Schedule.PIPELINE)),
    ],
)
def test_dense_io_parallel_by_hand(dense_graph, rf, strategy, fc, out, model):
    g = dense_graph(16, 8, rf=rf, strategy=strategy)
    be = get_backend("vivado")
    assert (be.timing(g.node("fc")).ii, be.timing(g.node("fc")).latency) == fc
    assert (be.timing(g.node("out")).ii, be.timing(g.node("out")).latency) == out
    t = model_timing(g, "vivado")
    assert (t.ii, t.latency, t.schedule) == model
    assert t.layers["in"] == Timing(0, 0)  # the input generates no hardware


def test_timing_at_another_strategy_or_rf_leaves_the_node_alone(dense_graph):
    g = dense_graph(16, 8, rf=4, strategy=R)
    node = g.node("fc")
    before = node.config
    t = get_backend("vivado").timing(node, strategy=RU, reuse_factor=8)
    assert (t.ii, t.latency) == (8, 7 + 1 + 1 + 3 + 1)  # unrolled at RF 8: II 8, 13 cycles
    assert node.config is before


def test_split_off_activation_adds_a_stage(dense_graph):
    g = dense_graph(16, 8, rf=1, strategy=L)
    fc = g.node("fc")
    relu = dataclasses.replace(fc, activation="relu")
    soft = dataclasses.replace(fc, activation="softmax")
    be = get_backend("vivado")
    # relu: one more cycle (5 + 1); softmax: four (5 + 4); II stays 1
    assert (be.timing(relu).ii, be.timing(relu).latency) == (1, 6)
    assert (be.timing(soft).ii, be.timing(soft).latency) == (1, 9)


def test_unrolled_pipeline_ii_is_the_largest_rf_of_any_layer(dense_graph):
    g = dense_graph(16, 8, rf=4, strategy=RU)
    g.replace("out", dataclasses.replace(g.node("out"), config=cfg(rf=2, strategy=L)))
    # SetPipelineStyle: a ResourceUnrolled layer → PIPELINE II = max RF over layers = 4
    assert get_backend("vivado").timing_schedule(g) == (Schedule.PIPELINE, 4)
    g = with_all(g, io_type=IOType.STREAM)
    assert get_backend("vivado").timing_schedule(g) == (Schedule.DATAFLOW, None)


# -- convolutions -------------------------------------------------------------------------------------


def conv(rf=1, strategy=L, io=IOType.STREAM, pf=1):
    """Conv2D 3x3, 1 → 2 channels, on a 4x4 image: 2x2 output pixels; n_in 9, n_out 2."""
    k = np.ones((3, 3, 1, 2), np.float32)
    return ir.Conv2D(
        "c", inputs=["in"], input_shapes=[(4, 4, 1)], output_shape=(2, 2, 2), weights={"kernel": k},
        config=cfg(rf, strategy, io, pf), filters=2, kernel_size=(3, 3), strides=(1, 1),
    )


def test_conv2d_io_stream_latency_by_hand():
    # kernel (Latency RF 1): mult 1 + tree(10) 2 + cast 1 = 4.  Each of the 16 input pixels is one
    # trip at II 1 (PIPELINE II=RF); a trip: read 1 + shift 1 + kernel 4 + write 1 = 7 deep.
    # latency = 15·1 + 7 = 22 = II (the function is not pipelined).  The first window is complete
    # at pixel (3−1)·4 + (3−1) = 10: fill = 10 + 7 = 17; drain = 7.
    t = get_backend("vivado").timing(conv())
    assert (t.ii, t.latency, t.fill, t.drain) == (22, 22, 17, 7)
    # RF 2 doubles the issue interval: 15·2 + (1 + 2 + 4 + 1) = 38
    assert get_backend("vivado").timing(conv(rf=2)).ii == 38


def test_conv2d_io_stream_unrolled_by_hand():
    # ResourceUnrolled RF 3 (valid: 9x2 → 3, 9): kernel 2 + ROM 1 + mult 1 + tree(10) 2 + cast 1 = 7.
    # No pipeline on the pixel loop: 16 trips of read + shift (2 cycles) and 4 outputs of kernel 7 +
    # write 1: 32 + 32 = 64.  fill = 11 trips·2 + 8 = 30, drain = 2 + 8 = 10.
    t = get_backend("vivado").timing(conv(rf=3, strategy=RU))
    assert (t.ii, t.latency, t.fill, t.drain) == (64, 64, 30, 10)


def test_conv2d_io_parallel_partitions_by_hand():
    be = get_backend("vivado")
    # 4 output pixels, PF 1 → 4 partitions, PartitionLoop at II = RF = 1: II 4, latency 3 + 4 = 7
    t = be.timing(conv(io=IOType.PARALLEL))
    assert (t.ii, t.latency) == (4, 7)
    # PF 3 is not a divisor of 4: hls4ml takes the nearest (2 and 4 tie → 2): 2 partitions
    t = be.timing(conv(io=IOType.PARALLEL, pf=3))
    assert (t.ii, t.latency) == (2, 5)


def test_a_stream_graph_composes_fill_and_drain():
    g = Graph("s")
    g.add(ir.Input("in", output_shape=(4, 4, 1), config=cfg(io=IOType.STREAM)))
    g.add(conv())
    g.add(ir.Activation("a", inputs=["c"], input_shapes=[(2, 2, 2)], output_shape=(2, 2, 2),
                        config=cfg(io=IOType.STREAM), activation="relu"))
    g.inputs, g.outputs = ["in"], ["a"]
    t = model_timing(g, "vivado")
    # relu over 4 pixels of 2 channels: 4 trips at II 1, depth read + relu + write = 3: latency 6.
    # It starts at the conv's fill (17) and ends at max(17 + 6, 22 + 3) = 25; II the conv's 22.
    assert t.layers["a"] == Timing(ii=6, latency=6, fill=3, drain=3)
    assert (t.schedule, t.ii, t.latency) == (Schedule.DATAFLOW, 22, 25)


def test_stream_dense_after_flatten_reads_channel_packs():
    g = Graph("f")
    g.add(ir.Input("in", output_shape=(3, 3, 4), config=cfg(io=IOType.STREAM)))
    g.add(ir.Flatten("f", inputs=["in"], input_shapes=[(3, 3, 4)], output_shape=(36,), config=cfg(io=IOType.STREAM)))
    g.add(ir.Dense("d", inputs=["f"], input_shapes=[(36,)], output_shape=(5,), units=5,
                   weights={"kernel": np.ones((36, 5), np.float32)}, config=cfg(io=IOType.STREAM)))
    g.inputs, g.outputs = ["in"], ["d"]
    assert stream_pack(g, g.node("d")) == 4  # the Flatten is not repacked: 4-channel elements
    # 36 / 4 = 9 reads, kernel mult 1 + tree(37) 3 + cast 1 = 5, one write: 15, not pipelined
    assert model_timing(g, "vivado").layers["d"] == Timing(15, 15)
    # a 36-wide input element: one read: 1 + 5 + 1
    assert get_backend("vivado").timing(g.node("d")) == Timing(7, 7)


# -- what is not modelled ----------------------------------------------------------------------------


def test_unknown_layers_are_marked_not_modelled(dense_graph):
    g = dense_graph(16, 8, rf=1, strategy=L)
    g.add(ir.Opaque("x", inputs=["out"], input_shapes=[(4,)], output_shape=(4,), config=cfg()))
    g.outputs = ["x"]
    t = model_timing(g, "vivado")
    assert t.layers["x"] is NOT_MODELLED and t.not_modelled == ["x"]
    assert (t.ii, t.latency) == (1, 9)  # the totals leave it out
    rows = {r["name"]: r for r in estimate_table(g, "vivado")}
    assert rows["x"]["ii"] is None and rows["fc"]["ii"] == 1
    report = estimate_report(g, "vivado")
    assert report["timing"] == {"ii": 1, "latency_cycles": 9, "schedule": "pipeline", "not_modelled": ["x"]}


def test_gpu_backend_has_no_timing(dense_graph):
    t = model_timing(dense_graph(), "gpu")
    assert t.not_modelled == ["in", "fc", "out"] and (t.ii, t.latency) == (0, 0)


def test_oneapi_builds_resource_and_runs_layers_in_sequence(dense_graph):
    g = dense_graph(16, 8, rf=4, strategy=L)
    # hls4ml's oneAPI backend implements Resource whatever the config: the Resource numbers above
    t = model_timing(g, "oneapi")
    assert (t.layers["fc"].ii, t.layers["out"].ii) == (9, 8)
    assert (t.schedule, t.ii, t.latency) == (Schedule.SEQUENTIAL, 17, 17)


# -- the registry ------------------------------------------------------------------------------------


def test_a_backend_registers_its_own_timing_model(dense_graph):
    class Clocked(Backend):
        name = "clocked-toy"

    @Clocked.timing_model(ir.Dense)
    def dense(backend, node, input_pack):
        # one cycle per multiply-accumulate, one at a time
        return Timing(ii=node.n_in * node.n_out, latency=node.n_in * node.n_out)

    with pytest.raises(RegistryError, match="timing model for Dense is already registered"):
        Clocked.timing_model(ir.Dense)(dense)
    register_backend(Clocked)
    try:
        t = model_timing(dense_graph(16, 8), "clocked-toy")
        # sequential by default: 128 + 32; the input has no model
        assert (t.schedule, t.ii, t.latency, t.not_modelled) == (Schedule.SEQUENTIAL, 160, 160, ["in"])
    finally:
        unregister_backend("clocked-toy")


def test_parallel_branches_overlap():
    # in → a (16→8, Latency RF 1: 5 cycles) and b (16→8, Latency RF 4: 8 cycles, II 4) → Add (1).
    # One pipeline: the Add waits for the later branch: max(5, 8) + 1 = 9, not 5 + 8 + 1.
    g = Graph("branches")
    g.add(ir.Input("in", output_shape=(16,), config=cfg()))
    for name, rf in (("a", 1), ("b", 4)):
        g.add(ir.Dense(name, inputs=["in"], input_shapes=[(16,)], output_shape=(8,), units=8,
                       weights={"kernel": np.ones((16, 8), np.float32)}, config=cfg(rf=rf)))
    g.add(ir.Add("add", inputs=["a", "b"], input_shapes=[(8,), (8,)], output_shape=(8,), config=cfg()))
    g.inputs, g.outputs = ["in"], ["add"]
    t = model_timing(g, "vivado")
    assert (t.schedule, t.ii, t.latency) == (Schedule.PIPELINE, 4, 9)
    assert compose(t.layers, Schedule.PIPELINE).latency == 14  # read as a chain it would be 5 + 8 + 1
