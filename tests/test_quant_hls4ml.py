"""the optimized digits MLP at narrow precisions, fine-tuned under fake quantization,
builds bit-exactly in hls4ml 1.3: the compiled C++ (``hls_model.compile()``, g++) gives the emitted
quantized model's predictions on the validation set, and the accuracy the report states is the compiled
model's.  Needs the hls4ml extra and g++; slow (about a minute here)."""

from __future__ import annotations

import numpy as np
import pytest

hls4ml = pytest.importorskip("hls4ml", reason="the hls4ml extra is not installed")
pytestmark = [pytest.mark.slow, pytest.mark.hls4ml]

WEIGHT, RESULT = "ap_fixed<8,2>", "ap_fixed<10,4>"
# The float logits reach ±12.7 here, beyond ap_fixed<10,4>'s [-8, 8): wrapped, a large logit turns negative
# and quantization-aware training cannot recover (measured: 0.82 → 0.12 after 5 epochs; docs/precision.md).
# Saturated, they keep their order up to the bound (0.93 → 0.93).
LOGITS = "ap_fixed<10,4,TRN,SAT>"


def narrow_config(model):
    """Every weight and bias ap_fixed<8,2>, every result (and the input) ap_fixed<10,4> (the logits
    saturating), each accumulator the exact one hls4ml's own precision inference gives (64 or 32
    products plus the bias)."""
    from hls_opt.config import config_from_keras_model
    from hls_opt.core.precision import exact_accum, parse_fixed_precision

    cfg = config_from_keras_model(model, granularity="name")
    w, r = parse_fixed_precision(WEIGHT), parse_fixed_precision(RESULT)
    names = cfg["LayerName"]
    for entry in names.values():
        entry["Precision"] = {"result": RESULT}
    for layer in model.layers:
        n_in = int(layer.kernel.shape[0])
        names[layer.name]["Precision"] = {
            "weight": WEIGHT, "bias": WEIGHT, "result": RESULT, "accum": str(exact_accum(r, w, w, n_in)),
        }
    names["logits"]["Precision"]["result"] = LOGITS
    return cfg


def test_quantized_digits_mlp_is_bit_exact_in_hls4ml(tmp_path):
    import hls_opt
    from hls_opt.data import digits_split, train_baseline

    split = digits_split(seed=0)
    model = train_baseline(split, epochs=20)
    cfg = narrow_config(model)
    result = hls_opt.convert_and_optimize(
        model,
        cfg,
        data=(split.X_train, split.y_train, split.X_val, split.y_val),
        objective="lut",
        scheduler="constant:0.3",
        epochs=3,
        batch_size=64,
        rtol=0.97,
        quantize=True,
    )
    assert result.quantized_model is not None
    # a pruning step was accepted under quantization, and its pruned weights are 0 in the emitted model
    masks = result.plan.masks
    assert sum(int(np.sum(m == 0)) for m in masks.values()) > 0
    for name, mask in masks.items():
        assert np.all(result.model.get_layer(name).get_weights()[0][mask == 0] == 0.0)

    hls_model = hls4ml.converters.convert_from_keras_model(
        result.model, hls_config=result.hls_config, io_type=result.io_type,
        output_dir=str(tmp_path / "prj"), backend="Vivado",
    )
    # hls4ml builds the chosen types (the test fails if the emitted config did not carry them)
    types = {layer.name: {k: str(v.precision) for k, v in layer.types.items()} for layer in hls_model.get_layers()}
    assert types["fc1"]["weight_t"] == "fixed<8,2,TRN,WRAP,0>"
    assert types["fc1_relu"]["result_t"] == "fixed<10,4,TRN,WRAP,0>"
    assert types["pixels"]["result_t"] == "fixed<10,4,TRN,WRAP,0>"
    assert types["logits"]["result_t"] == "fixed<10,4,TRN,SAT,0>"
    hls_model.compile()

    X = np.ascontiguousarray(split.X_val, dtype=np.float64)
    y_hls = np.asarray(hls_model.predict(X)).reshape(len(X), -1)
    y_q = np.asarray(result.quantized_model.predict(split.X_val, verbose=0), np.float64)
    agree = float(np.mean(np.argmax(y_hls, 1) == np.argmax(y_q, 1)))
    exact = float(np.mean(np.all(y_hls == y_q, axis=1)))
    hls_accuracy = float(np.mean(np.argmax(y_hls, 1) == split.y_val))
    print(f"\nclass agreement {agree:.4f}, bit-exact rows {exact:.4f}, compiled accuracy {hls_accuracy:.4f}, "
          f"report {result.report['baseline_metric']:.4f} -> {result.report['final_metric']:.4f}")
    assert agree >= 0.999
    assert exact == 1.0  # every logit, bit for bit
    assert abs(result.report["final_metric"] - hls_accuracy) <= 0.001
    # the float model is not the hardware: its logits differ from the C++ ones
    y_float = np.asarray(result.model.predict(split.X_val, verbose=0), np.float64)
    assert not np.array_equal(y_float, y_hls)
