"""Run one of the peers' scripts (``../shared/bench/quant/``) unchanged and save the design it trained.

Runs inside the peers' venv (``.quant-venv``: HGQ2 0.2.0, PQuantML 0.1.0), called by
``benchmarks/quantize.py`` as a subprocess:

    .quant-venv/bin/python benchmarks/quant_peer_export.py OUT.npz hgq2 SCRIPT [ARGS…]
    .quant-venv/bin/python benchmarks/quant_peer_export.py OUT.npz pquant SCRIPT [ARGS…]

The script runs as ``__main__`` (its own JSON line goes to stdout as before); the scripts do not
export their kernels, so this wrapper takes the trained model afterwards — HGQ2: the script's global
``m``; PQuantML: the model handed to ``pquant.apply_final_compression`` (captured by wrapping that
function) — and writes per Dense layer, in order: ``{i}/name``, ``{i}/kernel`` (the quantized
kernel, zeros where pruned), ``{i}/bias``, and HGQ2's per-weight bits ``{i}/wbits`` and per-input bits
``{i}/ibits``, or PQuantML's fixed weight ``{i}/kif``.
"""

import importlib
import os
import runpy
import sys

import numpy as np


def _np(x):
    import keras

    return np.asarray(keras.ops.convert_to_numpy(x))


def main() -> None:
    out, kind, script, args = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
    sys.argv = [script, *args]
    captured = []
    if kind == "pquant":
        importlib.import_module("pquant_common")  # first: it sets TensorFlow's thread counts before TF starts
        import pquant

        final = pquant.apply_final_compression

        def capture(model, *a, **kw):
            r = final(model, *a, **kw)
            captured.append(model)
            return r

        pquant.apply_final_compression = capture
    g = runpy.run_path(script, run_name="__main__")
    arrays = {}
    if kind == "hgq2":
        from hgq.layers import QDense

        layers = [layer for layer in g["m"].layers if isinstance(layer, QDense)]
        for i, layer in enumerate(layers):
            k = _np(layer.qkernel)
            arrays[f"{i}/name"] = np.array(layer.name)
            arrays[f"{i}/kernel"] = k
            arrays[f"{i}/bias"] = _np(layer.qbias) if getattr(layer, "qbias", None) is not None else _np(layer.bias)
            arrays[f"{i}/wbits"] = _np(layer.kq.bits_(tuple(layer.kernel.shape)))
            arrays[f"{i}/ibits"] = _np(layer.iq.bits_((1,) + tuple(layer.input.shape[1:]))).reshape(-1)
    else:
        import pquant

        layers = [layer for layer in captured[-1].layers if isinstance(layer, pquant.layers.PQDense)]
        for i, layer in enumerate(layers):
            arrays[f"{i}/name"] = np.array(layer.name)
            arrays[f"{i}/kernel"] = _np(layer._kernel)
            b = getattr(layer, "_bias", None)
            if b is None:
                b = getattr(layer, "bias", None)
            arrays[f"{i}/bias"] = _np(b) if b is not None else np.zeros(arrays[f"{i}/kernel"].shape[1], np.float32)
            arrays[f"{i}/kif"] = np.array([float(_np(v).mean()) for v in layer.get_weight_quantization_bits()])
    np.savez(out, **arrays)


if __name__ == "__main__":
    main()
