"""``--precision auto`` against the quantizing peers, in one run on one split.

Task: sklearn digits, stratified 60/20/20 split with ``random_state=0`` (the peers' split,
``../shared/bench/quant/pquant_common.py``; *not* ``hls_opt.data.digits_split``, which is a seeded
permutation), MLP 64-64-32-10.  Per seed (``--seeds``, default 0,2) it runs

* hls-opt ``precision='auto'`` at II 1 (RF 1) with objective ``ebops``, and under the latency of
  uniform RF 4 and of uniform RF 8 (every layer ResourceUnrolled at that RF, 16 bits, unpruned: its
  latency on hls-opt's timing model is the budget) with objectives ``dsp``, ``lut`` and ``fit``
  (device xcvu9p); timed from the float baseline's training (hls-opt starts from a trained model,
  HGQ2 trains from scratch: both are timed from nothing);
* with ``--with-peers``, HGQ2 (``hgq2_digits.py 1e-5 100 SEED``) and PQuantML (``pquant_baseline.py 30``
  then ``PQ_DISABLE=fc3 PQ_SEED=SEED pquant_run.py TAG pdp 0.95 16 100 20 0.015``, the README's best
  setting within tolerance) in their own venv (``--quant-python``, default ``.quant-venv/bin/python``,
  or ``$QUANT_PYTHON``), as subprocesses through ``quant_peer_export.py`` (which saves the trained
  kernels); each timed by its wall clock here.

Every design is priced on hls-opt's cost model (``estimate_report`` of the graph ``from_keras`` builds
from a plain Keras Dense model with the design's kernels and an hls4ml config carrying each layer's
precisions, RF and strategy) plus EBOPs, and its ``fit`` on xcvu9p (largest used fraction of DSP,
LUT, FF, BRAM).  A peer's design is priced with its own precisions, one type per layer:
HGQ2 — the layer's widest weight and widest input (HGQ2 learns a width per weight and per input;
a per-layer maximum over-prices its LUT multipliers and EBOPs at RF 1, and is exact for a shared
multiplier at RF > 1, which is as wide as its widest weight; HGQ2's own EBOPs are given beside);
PQuantML — its fixed ``ap_fixed<16,6>`` weights and 16-bit data.  Accumulators: hls-opt's rule
(the exact accumulator when no wider than ``fixed<16,6>``, else ``fixed<16,6>``) for every design.

    .venv/bin/python benchmarks/quantize.py --with-peers [--seeds 0,2] [--epochs 4]

Prints one markdown table per (seed, case) and writes them with the raw JSON to
``benchmarks/results/quantize/``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from hls_opt.config.devices import device_fraction, parse_device
from hls_opt.core.precision import Precision, parse_fixed_precision
from hls_opt.data import DigitsSplit
from hls_opt.solve.precision_problem import exact_accum

ROOT = Path(__file__).resolve().parent.parent
QUANT = ROOT.parent.parent / "shared" / "bench" / "quant"
USER = parse_fixed_precision("fixed<16,6>")  # hls4ml's default type: the user's accumulator cap
DEVICE = "xcvu9p"
FIELDS = ("dsp", "lut", "ff", "bram")


# ------------------------------------------------------------------ the split
def peers_split() -> DigitsSplit:
    """The peers' split: sklearn digits ``X/16``, stratified 60/20/20, ``random_state=0``."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    X, y = (d.data / 16.0).astype(np.float32), d.target.astype(np.int64)
    X_tr, X_r, y_tr, y_r = train_test_split(X, y, test_size=0.4, random_state=0, stratify=y)
    X_va, X_te, y_va, y_te = train_test_split(X_r, y_r, test_size=0.5, random_state=0, stratify=y_r)
    return DigitsSplit(X_tr, y_tr, X_va, y_va, X_te, y_te)


# ------------------------------------------------------------------ pricing a layer description
@dataclasses.dataclass(frozen=True)
class DenseLayer:
    """One Dense layer of a design: its kernel (n_in × n_out, zeros where pruned), bias, the types it
    is built with (weight, bias, what it reads) and whether a ReLU follows it."""

    kernel: np.ndarray
    bias: np.ndarray
    weight: Precision
    bias_type: Precision
    input: Precision
    relu: bool


def signed_type(width: int, values: np.ndarray) -> Precision:
    """``ap_fixed<width, I>`` with the integer bits of ``max|values|`` (``⌊log2 max⌋ + 2``, ≥ 1)."""
    m = float(np.max(np.abs(values))) if values.size else 0.0
    integer = max(1, math.floor(math.log2(m)) + 2) if m > 0 else 1
    return Precision(width=int(width), integer=integer, signed=True)


def layer_configs(layers: list[DenseLayer], rf: int) -> dict[str, Any]:
    """The hls4ml config (``LayerName`` granularity) of ``layers`` at reuse factor ``rf`` everywhere:
    Latency at RF 1, ResourceUnrolled above; each layer's weight / bias / accum / result types; the
    result of layer ``l``'s ReLU is layer ``l + 1``'s input type."""
    strategy = "Latency" if rf == 1 else "ResourceUnrolled"
    cfg: dict[str, Any] = {
        "Model": {"Precision": {"default": str(USER)}, "ReuseFactor": rf, "Strategy": strategy, "BramFactor": 1_000_000_000},
        "LayerName": {"pixels": {"Precision": {"result": str(layers[0].input)}}},
    }
    for i, layer in enumerate(layers):
        name = f"fc{i + 1}"
        n_in = layer.kernel.shape[0]
        accum = exact_accum(layer.weight, layer.input, n_in, layer.bias_type, USER)
        cfg["LayerName"][name] = {
            "Precision": {"weight": str(layer.weight), "bias": str(layer.bias_type), "accum": str(accum), "result": str(accum)},
            "ReuseFactor": rf, "Strategy": strategy,
        }
        if layer.relu:
            cfg["LayerName"][f"{name}_relu"] = {"Precision": {"result": str(layers[i + 1].input)}}
    return cfg


def keras_model(layers: list[DenseLayer]) -> Any:
    """A plain Keras Dense model (``pixels`` → ``fc1`` … ``fcN``) holding ``layers``' kernels."""
    import keras

    inp = keras.Input((layers[0].kernel.shape[0],), name="pixels")
    x = inp
    dense = []
    for i, layer in enumerate(layers):
        d = keras.layers.Dense(layer.kernel.shape[1], activation="relu" if layer.relu else None, name=f"fc{i + 1}")
        x = d(x)
        dense.append(d)
    model = keras.Model(inp, x)
    for d, layer in zip(dense, layers):
        d.set_weights([layer.kernel.astype(np.float32), layer.bias.astype(np.float32)])
    return model


def price(graph: Any) -> dict[str, Any]:
    """DSP, LUT, FF, BRAM, EBOPs, latency, II and fit on xcvu9p of an IR graph on hls-opt's cost model."""
    from hls_opt.cost.tables import estimate_report

    rep = estimate_report(graph, "vivado")
    tot = rep["total"]["before"]
    frac = device_fraction(tot, parse_device(DEVICE))
    return {**{f: int(tot[f]) for f in FIELDS}, "ebops": int(tot["ebops"]),
            "latency": rep["timing"]["latency_cycles"], "ii": rep["timing"]["ii"],
            "fit": round(max(frac[f]["fraction"] for f in FIELDS), 5)}


def price_layers(layers: list[DenseLayer], rf: int) -> dict[str, Any]:
    """:func:`price` of ``layers`` built at reuse factor ``rf``."""
    from hls_opt.frontend.keras import from_keras

    return price(from_keras(keras_model(layers), layer_configs(layers, rf)))


# ------------------------------------------------------------------ the peers' designs
def hgq2_layers(npz: Any) -> list[DenseLayer]:
    """HGQ2's design, one type per layer: the widest non-zero weight's bits, the widest input's bits
    (unsigned: the pixels and the ReLU outputs are ≥ 0); the bias at the weight width."""
    n = len({k.split("/")[0] for k in npz.files})
    out = []
    for i in range(n):
        k, b = npz[f"{i}/kernel"], npz[f"{i}/bias"]
        wbits = npz[f"{i}/wbits"]
        w = int(math.ceil(float(wbits[k != 0].max()))) if np.any(k != 0) else 1
        win = max(1, int(math.ceil(float(npz[f"{i}/ibits"].max()))))
        inp = Precision(width=win, integer=1, signed=False)
        out.append(DenseLayer(k, b, signed_type(w, k), signed_type(w, b), inp, relu=i < n - 1))
    return out


def pquant_layers(npz: Any) -> list[DenseLayer]:
    """PQuantML's design: its fixed weight type ``(k, i, f)`` → ``ap_fixed<k+i+f, k+i>`` for kernel and
    bias; data (inputs, activations) at its ``DATA_KIF`` = ``ap_fixed<16,6>``."""
    n = len({k.split("/")[0] for k in npz.files})
    out = []
    for i in range(n):
        kk, ii, ff = (int(round(v)) for v in npz[f"{i}/kif"])
        t = Precision(width=kk + ii + ff, integer=kk + ii, signed=True)
        out.append(DenseLayer(npz[f"{i}/kernel"], npz[f"{i}/bias"], t, t, USER, relu=i < n - 1))
    return out


def uniform_layers(model: Any) -> list[DenseLayer]:
    """The float baseline at ``ap_fixed<16,6>`` everywhere (the reference row)."""
    dense = [layer for layer in model.layers if layer.get_weights()]
    return [DenseLayer(*d.get_weights(), USER, USER, USER, relu=i < len(dense) - 1) for i, d in enumerate(dense)]


def run_peer(python: str, kind: str, script: str, args: list[str], env: dict[str, str], workdir: str) -> tuple[dict, Any, float]:
    """Run a peer script through ``quant_peer_export.py``; its JSON line, the saved design and wall seconds."""
    out = os.path.join(workdir, f"{kind}-{os.getpid()}-{time.time_ns()}.npz")
    cmd = [python, str(Path(__file__).with_name("quant_peer_export.py")), out, kind, str(QUANT / script), *args]
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "QUANT_OUT": workdir, **env}, cwd=workdir)
    seconds = time.perf_counter() - t
    if proc.returncode != 0:
        raise RuntimeError(f"{script} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    line = next(s for s in proc.stdout.splitlines() if s.startswith("{"))
    return json.loads(line), np.load(out), seconds


def run_script(python: str, script: str, args: list[str], workdir: str) -> float:
    t = time.perf_counter()
    proc = subprocess.run([python, str(QUANT / script), *args], capture_output=True, text=True,
                          env={**os.environ, "QUANT_OUT": workdir}, cwd=workdir)
    if proc.returncode != 0:
        raise RuntimeError(f"{script} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return time.perf_counter() - t


# ------------------------------------------------------------------ hls-opt
def uniform_rf_latency(model: Any, rf: int) -> int:
    """Latency (cycles) of ``model`` with every layer ResourceUnrolled at ``rf``, 16 bits, unpruned."""
    from hls_opt.config import config_from_keras_model
    from hls_opt.cost.tables import model_timing
    from hls_opt.frontend.keras import from_keras

    cfg = config_from_keras_model(model, granularity="name")
    cfg["Model"].update({"ReuseFactor": rf, "Strategy": "ResourceUnrolled"})
    return model_timing(from_keras(model, cfg), "vivado").latency


def run_hls_opt(model: Any, split: DigitsSplit, objective: str, budget: int | None, epochs: int) -> dict[str, Any]:
    from hls_opt import convert_and_optimize
    from hls_opt.train.fit import ValidationMetric
    from hls_opt.train.quantize import quantized_copy

    data = (split.X_train, split.y_train, split.X_val, split.y_val)
    t = time.perf_counter()
    res = convert_and_optimize(model, data=data, precision="auto", objective=objective, epochs=epochs,
                               scheduler="constant:0.5:0.5", latency_budget=budget, device=DEVICE)
    seconds = time.perf_counter() - t
    configs = {n.name: n.config for n in res.graph.nodes() if n.config is not None}
    q = quantized_copy(res.model, configs)
    acc = ValidationMetric("accuracy", split.y_val)
    layers = {r["name"]: r for r in res.report["layers"]}
    return {
        **price(res.graph),
        "val": acc(split.y_val, np.asarray(q(split.X_val, training=False))),
        "test": acc(split.y_test, np.asarray(q(split.X_test, training=False))),
        "seconds_optimize": seconds,
        "rfs": [layers[n]["reuse_factor"] for n in ("fc1", "fc2", "logits")],
        "types": {n: layers[n]["precision"]["after"] for n in ("pixels", "fc1", "fc2", "logits") if n in layers},
        "report_total_after": res.report["total"]["after"],
    }


# ------------------------------------------------------------------ tables and the goal
COLS = ("DSP", "LUT", "FF", "BRAM", "EBOPs", "latency", "II", "val acc", "test acc", "time s", "fit xcvu9p")


def row_md(r: dict[str, Any]) -> str:
    own = f" (own {r['ebops_own']})" if r.get("ebops_own") is not None else ""
    return (f"| {r['tool']} | {r['dsp']} | {r['lut']} | {r['ff']} | {r['bram']} | {r['ebops']}{own} | {r['latency']} | {r['ii']} | "
            f"{r['val']:.4f} | {r['test']:.4f} | {r['seconds']:.1f} | {r['fit']:.4f} |")


def goal(case: str, rows: list[dict[str, Any]], limit: float) -> str:
    """The issue's goal for this case, checked on the rows (validation within ``limit``)."""
    ours = [r for r in rows if r["tool"].startswith("hls-opt") and r["val"] >= limit]
    peers = [r for r in rows if r["tool"].startswith(("HGQ2", "PQuantML"))]
    if not peers:
        return "no peers run"
    if case == "II 1":
        h = [r for r in peers if r["tool"].startswith("HGQ2")]
        if not h:
            return "no HGQ2 row"
        h = h[0]
        # the stricter of HGQ2's EBOPs: its own count (per-weight widths) or ours (per-layer maxima)
        h_ebops = min(h["ebops"], h.get("ebops_own") or h["ebops"])
        met = [r for r in ours if r["ebops"] <= h_ebops and r["dsp"] <= h["dsp"] and r["seconds"] <= h["seconds"]]
        return ("met" if met else "not met") + (f": hls-opt EBOPs {[r['ebops'] for r in ours]} vs HGQ2 {h['ebops']} (own {h.get('ebops_own')}), "
                                                f"DSP {[r['dsp'] for r in ours]} vs {h['dsp']}, time {[round(r['seconds']) for r in ours]} vs {round(h['seconds'])} s")
    out = []
    for r in ours:
        short = [f"{f} {r[f]} ≥ {p['tool'].split(' ')[0]}'s {p[f]}" for p in peers for f in ("dsp", "lut", "fit") if not r[f] < p[f]]
        out.append(f"{r['tool']}: " + ("met" if not short else "not met (" + ", ".join(short) + ")"))
    return "; ".join(out) or "no hls-opt row within tolerance"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--with-peers", action="store_true")
    ap.add_argument("--seeds", default="0,2")
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--rfs", default="4,8")
    ap.add_argument("--quant-python", default=os.environ.get("QUANT_PYTHON", str(ROOT / ".quant-venv" / "bin" / "python")))
    ap.add_argument("--hgq-args", default="1e-5 100")
    ap.add_argument("--pquant-args", default="pdp 0.95 16 100 20 0.015")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "quantize"))
    args = ap.parse_args()

    from hls_opt.data import train_baseline
    from hls_opt.train.fit import ValidationMetric

    split = peers_split()
    rfs = [int(v) for v in args.rfs.split(",")]
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    workdir = tempfile.mkdtemp(prefix="quant-peers-")
    raw: dict[str, Any] = {"split": "sklearn digits, stratified 60/20/20, random_state=0",
                           "n": [len(split.y_train), len(split.y_val), len(split.y_test)], "seeds": {}}
    pq_baseline_s = None
    if args.with_peers:
        pq_baseline_s = run_script(args.quant_python, "pquant_baseline.py", ["30"], workdir)
    md: list[str] = []
    for seed in (int(s) for s in args.seeds.split(",")):
        t = time.perf_counter()
        model = train_baseline(split, seed=seed)
        baseline_s = time.perf_counter() - t
        acc = ValidationMetric("accuracy", split.y_val)
        float_val = acc(split.y_val, np.asarray(model(split.X_val)))
        float_test = acc(split.y_test, np.asarray(model(split.X_test)))
        limit = 0.975 * float_val
        lat = {rf: uniform_rf_latency(model, rf) for rf in rfs}
        cases: dict[str, list[dict[str, Any]]] = {"II 1": []}
        cases.update({f"uniform RF {rf} latency ({lat[rf]} cycles)": [] for rf in rfs})
        case_rf = {"II 1": (1, None, ["ebops"])}
        case_rf.update({f"uniform RF {rf} latency ({lat[rf]} cycles)": (rf, lat[rf], ["dsp", "lut", "fit"]) for rf in rfs})
        for case, (rf, budget, objectives) in case_rf.items():
            cases[case].append({"tool": f"reference: float baseline at ap_fixed<16,6>, uniform RF {rf}",
                                **price_layers(uniform_layers(model), rf), "val": float_val, "test": float_test, "seconds": baseline_s})
            for objective in objectives:
                r = run_hls_opt(model, split, objective, budget, args.epochs)
                r.update(tool=f"hls-opt auto, {objective}, RFs {'-'.join(map(str, r['rfs']))}", seconds=baseline_s + r["seconds_optimize"])
                cases[case].append(r)
                print(json.dumps({"seed": seed, "case": case, **r}, default=str), flush=True)
        peers_raw = {}
        if args.with_peers:
            hj, hnpz, hs = run_peer(args.quant_python, "hgq2", "hgq2_digits.py", [*args.hgq_args.split(), str(seed)], {}, workdir)
            pj, pnpz, ps = run_peer(args.quant_python, "pquant", "pquant_run.py", [f"s{seed}", *args.pquant_args.split()],
                                    {"PQ_DISABLE": "fc3", "PQ_SEED": str(seed)}, workdir)
            hl, pl = hgq2_layers(hnpz), pquant_layers(pnpz)
            peers_raw = {"hgq2": {"json": hj, "seconds": hs, "types": [[str(x.weight), str(x.input)] for x in hl]},
                         "pquant": {"json": pj, "seconds": ps, "baseline_seconds": pq_baseline_s,
                                    "types": [[str(x.weight), str(x.input)] for x in pl]}}
            print(json.dumps({"seed": seed, "peers": peers_raw}, default=str), flush=True)
            for case, (rf, _, _) in case_rf.items():
                cases[case].append({"tool": f"HGQ2 β {args.hgq_args.split()[0]}, per-layer max widths "
                                            f"{'/'.join(str(x.weight.width) for x in hl)} w, {'/'.join(str(x.input.width) for x in hl)} in, RF {rf}",
                                    **price_layers(hl, rf), "ebops_own": hj["ebops"], "val": hj["val_acc"], "test": hj["test_acc"], "seconds": hs})
                cases[case].append({"tool": f"PQuantML PDP 0.95 (fc3 kept), ap_fixed<16,6>, RF {rf}",
                                    **price_layers(pl, rf), "val": pj["val_acc"], "test": pj["test_acc"], "seconds": ps + pq_baseline_s})
        raw["seeds"][seed] = {"float_val": float_val, "float_test": float_test, "limit": limit, "baseline_seconds": baseline_s,
                              "latency_budgets": lat, "cases": cases, "peers": peers_raw}
        for case, rows in cases.items():
            md.append(f"### seed {seed}, {case} — float val {float_val:.4f}, test {float_test:.4f}; tolerance: val ≥ {limit:.4f}\n")
            md.append("| tool / setting | " + " | ".join(COLS) + " |")
            md.append("|---|" + "---|" * len(COLS))
            md.extend(row_md(r) for r in rows)
            md.append(f"\nGoal: {goal(case.split(' latency')[0] if case != 'II 1' else 'II 1', rows, limit)}\n")
        print("\n".join(md), flush=True)
        (out_dir / "tables.md").write_text("\n".join(md) + "\n")
        (out_dir / "raw.json").write_text(json.dumps(raw, indent=1, default=str) + "\n")


if __name__ == "__main__":
    sys.exit(main())
