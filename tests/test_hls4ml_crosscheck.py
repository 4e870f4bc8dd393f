"""Our multiplier counts against the code hls4ml itself writes (no Vivado needed).

Each case builds a tiny Keras 3 model, puts a chosen zero pattern in its kernels, converts it with
``hls4ml.converters.convert_from_keras_model(..., backend='Vivado')``, writes the project and
reads the generated firmware:

* ResourceUnrolled: the generated ``dense_resource_unrolled_<index>`` class in
  ``firmware/nnet_utils/nnet_code_gen.h`` carries ``#pragma HLS ALLOCATION operation
  instances=mul limit=<K>``; K is the number of multipliers.  We also count the product
  statements it emits (one per non-zero weight).
* Latency / Resource: ``firmware/parameters.h`` holds the layer config (``n_in``, ``n_out``,
  ``reuse_factor`` after hls4ml's snapping, ``n_zeros``); the multiplier count is the formula in
  the same struct (Latency) or the kernel's block factor (Resource), evaluated on those numbers.

Weights and inputs are ``ap_fixed<16,6>`` (≥ 9 bits), so one multiplier is one DSP48E2 and our
``dsp`` must equal hls4ml's multiplier count.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest

hls4ml = pytest.importorskip(
    "hls4ml", reason="the hls4ml extra is not installed (pip install hls-opt[hls4ml])"
)

from hls4ml_project import unrolled_kernels  # noqa: E402

from hls_opt.config import IOType, LayerConfig, Strategy  # noqa: E402
from hls_opt.core.precision import parse_fixed_precision  # noqa: E402
from hls_opt.core.structures import group_ids  # noqa: E402
from hls_opt.cost.registry import get_backend  # noqa: E402
from hls_opt.ir.nodes import Conv1D, Conv2D, Dense  # noqa: E402

pytestmark = pytest.mark.hls4ml

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

P16 = parse_fixed_precision("ap_fixed<16,6>")


def _pattern_zeros(shape, rf, fraction, rng):
    """A kernel with ``fraction`` of its reuse-group rows (at ``rf``) all zero."""
    ids, n = group_ids(shape, "pattern", reuse_factor=rf)
    dead = rng.choice(n, size=int(round(fraction * n)), replace=False)
    k = rng.normal(size=shape).astype("float32")
    k[np.isin(ids, dead)] = 0.0
    return k


def _scattered_zeros(shape, fraction, rng):
    k = rng.normal(size=shape).astype("float32")
    k[rng.random(shape) < fraction] = 0.0
    return k


def _neuron_zeros(shape, rng):
    k = rng.normal(size=shape).astype("float32")
    k[..., ::3] = 0.0  # every third output neuron / filter removed
    return k


def _convert(model, layer_cfg, io_type, tmp_path, name):
    import hls4ml

    cfg = hls4ml.utils.config_from_keras_model(model, granularity="name", backend="Vivado")
    cfg["Model"]["Precision"] = "ap_fixed<16,6>"
    for lname, lc in cfg["LayerName"].items():
        if isinstance(lc.get("Precision"), dict):
            for key in list(lc["Precision"]):
                lc["Precision"][key] = "ap_fixed<16,6>"
        else:
            lc["Precision"] = "ap_fixed<16,6>"
        lc.update(layer_cfg.get(lname, {}))
    out = tmp_path / name
    hm = hls4ml.converters.convert_from_keras_model(
        model, hls_config=cfg, output_dir=str(out), backend="Vivado", io_type=io_type
    )
    hm.write()
    return hm, out


def _config_structs(out: Path) -> dict[str, dict[str, int]]:
    """``{config struct name: {field: int}}`` from firmware/parameters.h."""
    text = (out / "firmware" / "parameters.h").read_text()
    structs = {}
    for m in re.finditer(r"struct (config\w+) : nnet::\w+ \{(.*?)\n\};", text, re.S):
        fields = dict((k, int(v)) for k, v in re.findall(r"static const unsigned (\w+) = (\d+);", m.group(2)))
        structs[m.group(1)] = fields
    return structs


def _node(kind, name, kernel, rf, strategy, io_type, output_shape=()):
    cfg = LayerConfig(
        weight=P16, bias=P16, result=P16, accum=P16, reuse_factor=rf, strategy=strategy, io_type=io_type
    )
    cls = {"Dense": Dense, "Conv1D": Conv1D, "Conv2D": Conv2D}[kind]
    return cls(name=name, weights={"kernel": kernel}, config=cfg, output_shape=output_shape)


def _ours(node):
    return get_backend("vivado").estimate(node, input_precision=P16).dsp


def _dense_model(cases, rng):
    import keras

    layers = [keras.Input((cases[0][0],))]
    kernels = []
    for i, (n_in, n_out, rf, pattern) in enumerate(cases):
        layers.append(keras.layers.Dense(n_out, name=f"d{i}"))
        shape = (n_in, n_out)
        if pattern == "pattern":
            k = _pattern_zeros(shape, rf, 0.4, rng)
        elif pattern == "scattered":
            k = _scattered_zeros(shape, 0.5, rng)
        else:
            k = _neuron_zeros(shape, rng)
        kernels.append(k)
    return keras.Sequential(layers), kernels


@pytest.mark.parametrize("io_type", ["io_parallel", "io_stream"])
def test_dense_resource_unrolled_matches_hls4ml(tmp_path, io_type):
    rng = np.random.default_rng(7)
    n_checked = 0
    # (n_in, n_out, RF, zero pattern): RF < n_in, RF = n_in, RF > n_in (a multiple of n_in).
    # Layers whose sizes line up are chained; one conversion per chain keeps the test quick.
    chains = [
        [(16, 8, 2, "pattern"), (8, 6, 4, "pattern")],
        [(16, 8, 4, "pattern")],
        [(16, 8, 4, "scattered")],
        [(16, 8, 16, "neurons")],
        [(16, 8, 32, "pattern")],
        [(10, 6, 5, "pattern"), (6, 9, 18, "pattern")],
        [(10, 6, 20, "pattern")],
        [(12, 9, 3, "neurons"), (9, 4, 3, "scattered")],
    ]
    for c, chain in enumerate(chains):
        model, kernels = _dense_model(chain, rng)
        for i, k in enumerate(kernels):
            model.get_layer(f"d{i}").set_weights([k, np.zeros(k.shape[1], "float32")])
        layer_cfg = {
            f"d{i}": {"Strategy": "ResourceUnrolled", "ReuseFactor": rf}
            for i, (_, _, rf, _) in enumerate(chain)
        }
        hm, out = _convert(model, layer_cfg, io_type, tmp_path, f"dense{c}")
        limits = unrolled_kernels(out)
        for i, (k, (_, _, rf, _pattern)) in enumerate(zip(kernels, chain)):
            layer = hm.graph[f"d{i}"]
            assert layer.get_attr("reuse_factor") == rf, "test case must use an RF hls4ml accepts"
            limit, products = limits[layer.index]
            node = _node("Dense", f"d{i}", k, rf, Strategy.RESOURCE_UNROLLED, IOType(io_type))
            assert _ours(node) == limit, (chain[i], io_type)
            assert products == np.count_nonzero(k)  # one product statement per non-zero weight
            n_checked += 1
    assert n_checked == 11


def test_latency_and_resource_match_hls4ml_configs(tmp_path):
    """Latency: limit = ⌈n/RF⌉ − ⌊n_zeros/RF⌋ from hls4ml's own config; Resource: block factor at
    the RF hls4ml snapped to (we ask for invalid RFs on purpose)."""
    import keras

    rng = np.random.default_rng(3)
    # (strategy, requested RF, n_in, n_out)
    cases = [("Latency", 1, 16, 8), ("Latency", 3, 8, 12), ("Resource", 5, 12, 10), ("Resource", 7, 10, 6)]
    dense_layers = [keras.layers.Dense(c[3], name=f"d{i}") for i, c in enumerate(cases)]
    model = keras.Sequential([keras.Input((16,)), *dense_layers])
    kernels = []
    for i, (_, _, n_in, n_out) in enumerate(cases):
        k = _scattered_zeros((n_in, n_out), 0.45, rng)
        kernels.append(k)
        model.get_layer(f"d{i}").set_weights([k, np.zeros(n_out, "float32")])
    layer_cfg = {f"d{i}": {"Strategy": s, "ReuseFactor": rf} for i, (s, rf, _, _) in enumerate(cases)}
    hm, out = _convert(model, layer_cfg, "io_parallel", tmp_path, "latres")
    structs = _config_structs(out)
    for i, (strategy, rf, n_in, n_out) in enumerate(cases):
        layer = hm.graph[f"d{i}"]
        cfg = structs[f"config{layer.index}"]
        assert (cfg["n_in"], cfg["n_out"], cfg["n_zeros"]) == (n_in, n_out, np.count_nonzero(kernels[i] == 0))
        hls_rf = cfg["reuse_factor"]
        if strategy == "Latency":
            expected = -(-n_in * n_out // hls_rf) - cfg["n_zeros"] // hls_rf
        else:
            expected = -(-n_in * n_out // hls_rf)  # the Resource MultLoop: block_factor multipliers
            node = _node("Dense", "x", kernels[i], rf, Strategy.RESOURCE, IOType.PARALLEL)
            assert get_backend("vivado").snap_reuse_factor(node, rf) == hls_rf
        node = _node("Dense", f"d{i}", kernels[i], rf, Strategy(strategy), IOType.PARALLEL)
        assert _ours(node) == expected, (strategy, rf, n_in, n_out)


def test_conv_io_stream_resource_unrolled_matches_hls4ml(tmp_path):
    """Conv1D/Conv2D with io_stream: one unrolled kernel instance, n_in = kh·kw·C (not kh·kw as
    hls4ml's optimizer attributes say: ``__get_layer_mult_size`` in
    hls4ml/optimization/dsp_aware_pruning/attributes.py)."""
    import keras

    rng = np.random.default_rng(11)
    cases = [
        # (kind, input shape, kernel shape, RF)
        ("Conv1D", (10, 4), (3, 4, 6), 4),  # n_in = 12, 18 rows of 4
        ("Conv1D", (10, 4), (3, 4, 6), 24),  # RF > n_in = 12: cap n_out − Z
        ("Conv2D", (6, 6, 3), (3, 3, 3, 4), 9),  # n_in = 27, 12 rows of 9
        ("Conv2D", (6, 6, 3), (3, 3, 3, 4), 3),
    ]
    for c, (kind, in_shape, kshape, rf) in enumerate(cases):
        layer_cls = getattr(keras.layers, kind)
        model = keras.Sequential([keras.Input(in_shape), layer_cls(kshape[-1], kshape[:-2], name="conv")])
        k = _pattern_zeros(kshape, rf, 0.5, rng)
        model.get_layer("conv").set_weights([k, np.zeros(kshape[-1], "float32")])
        hm, out = _convert(
            model,
            {"conv": {"Strategy": "ResourceUnrolled", "ReuseFactor": rf}},
            "io_stream",
            tmp_path,
            f"conv{c}",
        )
        layer = hm.graph["conv"]
        assert layer.get_attr("reuse_factor") == rf
        limit, products = unrolled_kernels(out)[layer.index]
        node = _node(kind, "conv", k, rf, Strategy.RESOURCE_UNROLLED, IOType.STREAM)
        assert _ours(node) == limit, (kind, kshape, rf)
        assert products == np.count_nonzero(k)


def test_conv_parallelization_factor_snapping_matches_hls4ml(tmp_path):
    """io_parallel Resource convolutions unroll the pixels of one partition: hls4ml snaps the
    ParallelizationFactor to a divisor of the output pixels and writes ``n_partitions = pixels / PF``
    into the conv's config; our multiplier count is ``block_factor × PF`` at that snapped PF.
    Conv2D 3×3×3→4 on an 8×8 input: 6×6 = 36 output pixels, n_in = 27, RF 9 → block factor 12;
    PF 5 → 4 (4 and 6 tie; the smaller) → 48; PF 7 → 6 → 72; PF 50 → 36 → 432."""
    import keras

    backend = get_backend("vivado")
    for pf in (5, 7, 50):
        model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3, name="conv")])
        hm, out = _convert(
            model,
            {"conv": {"Strategy": "Resource", "ReuseFactor": 9, "ParallelizationFactor": pf}},
            "io_parallel",
            tmp_path,
            f"pf{pf}",
        )
        layer = hm.graph["conv"]
        structs = _config_structs(out)
        cfg, mult = structs[f"config{layer.index}"], structs[f"config{layer.index}_mult"]
        hls_pf = 36 // cfg["n_partitions"]
        assert layer.get_attr("parallelization_factor") == hls_pf
        node = Conv2D(
            name="conv",
            weights={"kernel": np.ones((3, 3, 3, 4), "float32")},
            config=LayerConfig(
                weight=P16,
                bias=P16,
                result=P16,
                accum=P16,
                reuse_factor=9,
                strategy=Strategy.RESOURCE,
                io_type=IOType.PARALLEL,
                parallelization_factor=pf,
            ),
            output_shape=(6, 6, 4),
        )
        block_factor = -(-mult["n_in"] * mult["n_out"] // mult["reuse_factor"])
        assert backend.estimate(node, input_precision=P16).dsp == block_factor * hls_pf, pf
