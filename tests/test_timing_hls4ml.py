"""The timing model's II against the code hls4ml itself writes (no Vivado needed).

Each case converts a tiny Keras 3 model with hls4ml (Vivado backend), writes the project and reads:

* the top function's pragma (``firmware/myproject.cpp``: ``#pragma HLS PIPELINE [II=N]`` or
  ``DATAFLOW``, chosen by hls4ml's ``SetPipelineStyle``) — against ``Backend.timing_schedule``;
* per layer, the config struct in ``firmware/parameters.h`` (the reuse factor after hls4ml's
  snapping, trip counts ``in_height``/``in_width``/``out_*``, the strategy and kernel class) and
  the pipeline pragma of the kernel it instantiates (``nnet_utils/nnet_dense_latency.h``,
  ``nnet_dense_resource.h``, the generated ``nnet_code_gen.h`` for ResourceUnrolled,
  ``nnet_conv{1,2}d_stream.h``) — the II those imply against ``Backend.timing``.

What the generated code fixes is checked exactly: the II of a pipelined kernel is its pragma's
``II=CONFIG_T::reuse_factor`` evaluated on the struct; a loop's trips × its pragma II is the
streaming part of an io_stream convolution.  The per-operation cycles (``backends/cycles.py``)
are not in the code and are not checked here (docs/timing.md).
"""

from __future__ import annotations

import os

import pytest

hls4ml = pytest.importorskip(
    "hls4ml", reason="the hls4ml extra is not installed (pip install hls-opt[hls4ml])"
)

from hls4ml_project import function_body, layer_structs, top_pragma  # noqa: E402
from hls_opt.backends.fpga import kernel_cycles, resolve_matmul  # noqa: E402

from hls_opt.cost.registry import get_backend  # noqa: E402
from hls_opt.cost.tables import model_timing  # noqa: E402
from hls_opt.cost.timing import Schedule  # noqa: E402
from hls_opt.frontend.keras import from_keras  # noqa: E402

pytestmark = [pytest.mark.hls4ml, pytest.mark.slow]

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

STRATEGY_NAMES = {"latency": "Latency", "resource": "Resource", "resource_unrolled": "ResourceUnrolled"}


def _convert(model, layer_cfg, io_type, path):
    """hls4ml's project for ``model`` and our graph of the same model and config."""
    cfg = hls4ml.utils.config_from_keras_model(model, granularity="name", backend="Vivado")
    for name, values in layer_cfg.items():
        cfg["LayerName"][name].update(values)
    hm = hls4ml.converters.convert_from_keras_model(
        model, hls_config=cfg, output_dir=str(path), backend="Vivado", io_type=io_type
    )
    hm.write()
    ours = dict(cfg, IOType=io_type)
    return from_keras(model, ours), path


def _check_dense_ii(project, graph, name, fields):
    """A Dense layer (io_parallel): the kernel's pipeline pragma → its II."""
    be = get_backend("vivado")
    node = graph.node(name)
    mm = resolve_matmul(be, node)
    rf = fields["reuse_factor"]
    # our strategy and RF are hls4ml's after its fallbacks and snapping
    assert (mm.strategy.value, mm.reuse_factor) == (STRATEGY_NAMES[fields["strategy"]], rf), name
    t = be.timing(node)
    kernel = fields["kernel"]
    if kernel == "DenseLatency":
        body = function_body(project, "nnet_dense_latency.h", "void dense_latency(")
        assert "#pragma HLS PIPELINE II=CONFIG_T::reuse_factor" in body
        assert t.ii == rf, name  # a function pipelined at II = reuse_factor
    elif kernel.startswith("dense_resource_unrolled_"):
        body = function_body(project, "nnet_code_gen.h", f"class {kernel} ")
        assert "#pragma HLS pipeline II=CONFIG_T::reuse_factor" in body
        assert t.ii == rf, name
    else:
        # DenseResource_rf_leq_nin / _rf_gt_nin_rem0: the only pipeline pragma is on ReuseLoop
        # (II 1, reuse_factor trips); the function itself is not pipelined, so its II is its latency.
        fn = {"DenseResource_rf_leq_nin": "dense_resource_rf_leq_nin(", "DenseResource_rf_gt_nin_rem0": "dense_resource_rf_gt_nin_rem0("}[kernel]
        body = function_body(project, "nnet_dense_resource.h", f"void {fn}")
        reuse_loop = body[body.index("ReuseLoop:") :]
        assert body.count("#pragma HLS PIPELINE") == 1 and "#pragma HLS PIPELINE II=1 rewind" in reuse_loop
        assert "ir < rufactor" in reuse_loop
        assert t.ii == t.latency and t.ii >= rf * 1, name
        # one more trip of the II-1 loop costs one more cycle (same accumulator fan-in)
        _, lat = kernel_cycles(be.cycles, mm.strategy, rf, mm.n_in, mm.n_out)
        assert t.ii == lat
    return t


def test_io_parallel_latency_dense(tmp_path):
    import keras

    # d0: Latency RF 1 (II 1), d1: Latency RF 3 (hls4ml does not snap a Latency RF: II 3).
    model = keras.Sequential(
        [keras.Input((16,)), keras.layers.Dense(8, activation="relu", name="d0"), keras.layers.Dense(6, name="d1")]
    )
    graph, project = _convert(model, {"d1": {"ReuseFactor": 3}}, "io_parallel", tmp_path / "lat")
    structs = layer_structs(project)
    iis = [_check_dense_ii(project, graph, n, structs[n]).ii for n in ("d0", "d1")]
    assert iis == [1, 3]
    # all Latency, io_parallel: the top is PIPELINE without an II; the model's II is its slowest layer's
    assert top_pragma(project) == ("pipeline", None)
    assert get_backend("vivado").timing_schedule(graph) == (Schedule.PIPELINE, None)
    assert model_timing(graph, "vivado").ii == 3


def test_io_parallel_resource_unrolled_and_resource_dense(tmp_path):
    import keras

    def model():
        return keras.Sequential(
            [keras.Input((16,)), keras.layers.Dense(8, name="d0"), keras.layers.Dense(6, name="d1")]
        )

    # ResourceUnrolled: d0 16x8 RF 4 (valid), d1 8x6 RF 7 → hls4ml snaps to 8 (unrolled RFs of 8x6:
    # 2, 4, 8, 16, 24).  SetPipelineStyle: pipeline, II = the largest RF of any layer = 8.
    cfg = {"d0": {"Strategy": "ResourceUnrolled", "ReuseFactor": 4}, "d1": {"Strategy": "ResourceUnrolled", "ReuseFactor": 7}}
    graph, project = _convert(model(), cfg, "io_parallel", tmp_path / "unrolled")
    structs = layer_structs(project)
    assert [_check_dense_ii(project, graph, n, structs[n]).ii for n in ("d0", "d1")] == [4, 8]
    assert top_pragma(project) == ("pipeline", 8)
    assert get_backend("vivado").timing_schedule(graph) == (Schedule.PIPELINE, 8)
    assert model_timing(graph, "vivado").ii == 8

    # Resource: d0 RF 4 ≤ n_in (rf_leq_nin), d1 RF 16 > n_in = 8 (rf_gt_nin_rem0) → DATAFLOW.
    cfg = {"d0": {"Strategy": "Resource", "ReuseFactor": 4}, "d1": {"Strategy": "Resource", "ReuseFactor": 16}}
    graph, project = _convert(model(), cfg, "io_parallel", tmp_path / "resource")
    structs = layer_structs(project)
    assert [structs[n]["kernel"] for n in ("d0", "d1")] == ["DenseResource_rf_leq_nin", "DenseResource_rf_gt_nin_rem0"]
    timings = [_check_dense_ii(project, graph, n, structs[n]) for n in ("d0", "d1")]
    assert top_pragma(project) == ("dataflow", None)
    assert get_backend("vivado").timing_schedule(graph) == (Schedule.DATAFLOW, None)
    assert model_timing(graph, "vivado").ii == max(t.ii for t in timings)


def _check_stream_conv(project, graph, name, fields, header, function, trips):
    """An io_stream line-buffer convolution: ``trips`` input pixels through the ReadInput loop,
    pipelined at ``II=CONFIG_T::reuse_factor`` for Latency only."""
    be = get_backend("vivado")
    node = graph.node(name)
    mult = fields["mult"]
    mm = resolve_matmul(be, node)
    rf = mult["reuse_factor"]
    assert (mm.strategy.value, mm.reuse_factor) == (STRATEGY_NAMES[mult["strategy"]], rf), name
    body = function_body(project, header, f"void {function}(")
    assert "#pragma HLS PIPELINE II=CONFIG_T::reuse_factor" in body
    assert "CONFIG_T::strategy == nnet::latency" in body  # the pragma's guard
    t = be.timing(node)
    out_pixels = fields.get("out_height", 1) * fields["out_width"]
    assert out_pixels == node.n_pixels
    if mult["strategy"] == "latency":
        # trips iterations at II = RF; the last one's depth (``drain``) after the last issue
        assert t.ii - t.drain == (trips - 1) * rf, name
    else:
        # no pipeline pragma: every trip reads and shifts one pixel; the kernel runs once per output
        c = be.cycles
        _, k_lat = kernel_cycles(c, mm.strategy, rf, mm.n_in, mm.n_out)
        assert t.ii == trips * (c.stream_io + c.call) + out_pixels * (k_lat + c.stream_io), name
    return t


def test_io_stream_conv2d_and_conv1d(tmp_path):
    import keras

    # Conv2D chain: c0 Latency RF 2 (8x8x2 → 6x6x4), c1 ResourceUnrolled RF 4 (→ 4x4x4),
    # c2 Resource RF 6 (n_in = 36: valid) (→ 2x2x4), then Flatten + Dense.
    model = keras.Sequential(
        [
            keras.Input((8, 8, 2)),
            keras.layers.Conv2D(4, 3, name="c0"),
            keras.layers.Conv2D(4, 3, name="c1"),
            keras.layers.Conv2D(4, 3, name="c2"),
            keras.layers.Flatten(name="f"),
            keras.layers.Dense(5, name="d"),
        ]
    )
    cfg = {
        "c0": {"ReuseFactor": 2},
        "c1": {"Strategy": "ResourceUnrolled", "ReuseFactor": 4},
        "c2": {"Strategy": "Resource", "ReuseFactor": 6},
    }
    graph, project = _convert(model, cfg, "io_stream", tmp_path / "conv2d")
    structs = layer_structs(project)
    iis = []
    for name in ("c0", "c1", "c2"):
        f = structs[name]
        assert f["function"] == "conv_2d_cl"
        trips = f["in_height"] * f["in_width"]  # ReadInputHeight × ReadInputWidth, LOOP_FLATTEN
        iis.append(_check_stream_conv(project, graph, name, f, "nnet_conv2d_stream.h", "conv_2d_buffer_cl", trips).ii)
    assert top_pragma(project) == ("dataflow", None)
    timing = model_timing(graph, "vivado")
    assert timing.schedule is Schedule.DATAFLOW and timing.ii == max(t.ii for t in timing.layers.values())
    # c0: 64 pixels at II 2 → the model II is at least 128 cycles
    assert iis[0] >= 64 * 2

    model = keras.Sequential(
        [keras.Input((16, 3)), keras.layers.Conv1D(4, 3, name="c0"), keras.layers.Conv1D(4, 3, name="c1")]
    )
    cfg = {"c1": {"Strategy": "ResourceUnrolled", "ReuseFactor": 3}}
    graph, project = _convert(model, cfg, "io_stream", tmp_path / "conv1d")
    structs = layer_structs(project)
    for name in ("c0", "c1"):
        f = structs[name]
        assert f["function"] == "conv_1d_cl"
        _check_stream_conv(project, graph, name, f, "nnet_conv1d_stream.h", "conv_1d_buffer_cl", f["in_width"])
    assert top_pragma(project) == ("dataflow", None)


def test_the_emitted_config_gets_the_schedule_the_report_predicts(tmp_path):
    """hls-opt's output (pruned model + emitted config) through hls4ml: the top pragma hls4ml
    writes is the schedule and II in the report's ``timing.after``."""
    import keras

    import hls_opt

    keras.utils.set_random_seed(0)
    cfg = {"Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 4, "Strategy": "Resource"}}
    for name, model in (
        # one layer, rewritten ResourceUnrolled: the emitted Model.Strategy follows → PIPELINE II=4
        ("single", keras.Sequential([keras.Input((16,)), keras.layers.Dense(8, name="fc")])),
        # a second layer left Resource → DATAFLOW
        ("two", keras.Sequential([keras.Input((16,)), keras.layers.Dense(8, name="fc"), keras.layers.Dense(4, name="out")])),
    ):
        result = hls_opt.convert_and_optimize(model, cfg, objective="dsp", scheduler="polynomial:1:0.5")
        hm = hls4ml.converters.convert_from_keras_model(
            result.model, hls_config=result.hls_config, output_dir=str(tmp_path / name), backend="Vivado",
            io_type=result.io_type,
        )
        hm.write()
        style, ii = top_pragma(tmp_path / name)
        after = result.report["timing"]["after"]
        assert after["schedule"] == style, name
        if style == "pipeline":
            assert ii == after["ii"] == 4  # the one layer's RF 4 (cfg's Model.ReuseFactor)


def test_oneapi_builds_every_dense_as_resource_and_calls_them_in_sequence(tmp_path):
    """hls4ml's oneAPI backend: every Dense is ``dense_resource`` whatever its Strategy (a Latency
    layer too), its RF-trip ``ReuseLoop`` (``templates/oneapi/firmware/nnet_utils/nnet_dense.h``), and
    under io_parallel the top ``operator()`` calls the layers one after the other (no task
    sequence: ``writer/oneapi_writer.py``)."""
    import re

    import keras

    model = keras.Sequential(
        [keras.Input((16,)), keras.layers.Dense(8, name="d0"), keras.layers.Dense(6, name="d1")]
    )
    cfg = hls4ml.utils.config_from_keras_model(model, granularity="name", backend="oneAPI")
    cfg["LayerName"]["d0"].update({"ReuseFactor": 4})  # RF ≤ n_in: dense_rf_lt
    cfg["LayerName"]["d1"].update({"ReuseFactor": 2, "Strategy": "Latency"})  # still Resource
    out = tmp_path / "oneapi"
    hm = hls4ml.converters.convert_from_keras_model(
        model, hls_config=cfg, output_dir=str(out), backend="oneAPI", io_type="io_parallel"
    )
    hm.write()
    firmware = out / "src" / "firmware"
    top = (firmware / "myproject.cpp").read_text()
    calls = re.findall(r"nnet::(\w+)<[^;]*?\b(config\d+)>\(", top)
    assert [fn for fn, _ in calls] == ["dense_resource", "dense_resource"]
    assert "task_sequence<" not in top.split("declare task sequences")[1]
    params = (firmware / "parameters.h").read_text()
    dense = (firmware / "nnet_utils" / "nnet_dense.h").read_text()
    reuse_loop = dense[dense.index("void dense_rf_lt(") :]
    reuse_loop = reuse_loop[reuse_loop.index("ReuseLoop:") :]
    assert "for (int ir = 0; ir < CONFIG_T::reuse_factor; ir++)" in reuse_loop.splitlines()[1]

    graph = from_keras(model, dict(cfg, IOType="io_parallel"))
    be = get_backend("oneapi")
    for name, (_, config) in zip(("d0", "d1"), calls):
        struct = params[params.index(f"struct {config} ") :]
        rf = int(re.search(r"static constexpr unsigned reuse_factor = (\d+);", struct).group(1))
        node = graph.node(name)
        mm = resolve_matmul(be, node)
        assert (mm.strategy.value, mm.reuse_factor) == ("Resource", rf), name
        t = be.timing(node)
        assert t.ii == t.latency == kernel_cycles(be.cycles, mm.strategy, rf, mm.n_in, mm.n_out)[1]
        assert t.ii >= rf  # reuse_factor trips of the ReuseLoop
    assert be.timing_schedule(graph) == (Schedule.SEQUENTIAL, None)
