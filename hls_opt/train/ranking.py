"""Ranking: how much each weight group is worth keeping.

Every metric is a function of the *change* a group would undergo: ``d = w`` when the group is
pruned (set to 0) and ``d = w − mean(group)`` when it is shared (set to its mean).  So pruning and
sharing are scored in the same units and can be compared group by group.

* ``l1``  — Σ|d|                      (magnitude; hls4ml's default)
* ``l2``  — √Σd²
* ``saliency`` — Σ|g·d|, g = ∂L/∂w averaged over a validation batch (first-order Taylor estimate
  of the loss change; hls4ml's "saliency" actually used w²·(H·1), ``get_model_hessians`` in dsp_aware_pruning/keras/utils.py differentiates the summed gradient, giving H·1, not diag H)
* ``hessian`` — ½Σ h·d², h = diag(∂²L/∂w²) estimated with Hutchinson's method (E[z ⊙ Hz],
  Rademacher z), i.e. Optimal Brain Damage with a correct diagonal
* ``oracle`` — L(w − d on the group) − L(w), measured: the loss increase when the group is
  actually removed, on a fixed validation batch (one forward pass per group; expensive, exact)

Global selection (one knapsack across layers) ranks magnitude metrics (l1, l2) by their raw
group norms by default, as hls4ml's global pattern ranking does (``get_model_masks_global`` in
hls4ml/optimization/dsp_aware_pruning/keras/masking.py; hls4ml rescales some other structures by the
layer max); ``normalise='mean'`` / ``'max'`` rescale per layer instead — docs/deep_cut.md measures
why the default is raw (layer-mean rescaling stripped the small output layer and halved the cut).
Loss-based metrics (saliency, hessian, oracle) are in loss units, comparable across layers, and
left as they are.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from hls_opt.config.values import RankingMetric, parse_ranking
from hls_opt.core.structures import group_means, group_norms
from hls_opt.errors import DataError
from hls_opt.train.backends import native

logger = logging.getLogger(__name__)

#: Samples used for gradient / Hessian / oracle estimates (taken from the front of the data).
MAX_RANKING_SAMPLES = 1024
ORACLE_SAMPLES = 512
ORACLE_CHUNK = 256
HUTCHINSON_PROBES = 16
#: Per-layer rescalings of magnitude values for global selection (see :func:`group_values`).
NORMALISATIONS = ("mean", "max", "sum", "none")


def _segment_sum(values: np.ndarray, ids: np.ndarray, n: int) -> np.ndarray:
    return np.bincount(ids.reshape(-1), weights=np.asarray(values, dtype=np.float64).reshape(-1), minlength=n)


def group_deltas(
    kernel: np.ndarray, ids: np.ndarray, n_groups: int, sizes: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per-weight change under pruning (``w``) and under sharing (``w − group mean``)."""
    kernel = np.asarray(kernel, dtype=np.float64)
    return kernel, kernel - group_means(kernel, ids, n_groups, sizes)[ids]


def _loss_function(loss_fn: Any) -> Any:
    import keras  # in the functions that need it: hls_opt.train.utils imports this module without Keras

    if loss_fn is None:
        raise DataError("ranking: a loss function is needed for saliency / hessian / oracle ranking")
    return keras.losses.get(loss_fn) if isinstance(loss_fn, str) else loss_fn


def _ranking_data(data: Any, limit: int) -> tuple[np.ndarray, np.ndarray]:
    if data is None or len(data) < 2:
        raise DataError("ranking: saliency / hessian / oracle ranking needs data=(X, y)")
    X, y = data[0], data[1]
    if len(X) == 0:
        raise DataError("ranking: the ranking data set is empty")
    return np.asarray(X[:limit]), np.asarray(y[:limit])


def kernel_gradients(
    model: Any, names: list[str], data: Any, loss_fn: Any, batch_size: int = 256
) -> dict[str, np.ndarray]:
    """∂L/∂kernel averaged over ``data`` (≤ ``MAX_RANKING_SAMPLES`` samples), by layer name.

    Per batch, the backend's gradient of the batch-mean loss (``training=False``), weighted by
    the batch's size."""

    X, y = _ranking_data(data, MAX_RANKING_SAMPLES)
    loss = _loss_function(loss_fn)
    kernels = [model.get_layer(n).kernel for n in names]
    total = [np.zeros(tuple(k.shape)) for k in kernels]
    n_seen = 0
    compute = native()
    for start in range(0, len(X), batch_size):
        xb, yb = X[start : start + batch_size], y[start : start + batch_size]
        _, grads = compute.value_and_gradients(model, kernels, loss, xb, yb, "mean")
        for i, g in enumerate(grads):
            if g is not None:
                total[i] += np.asarray(g) * len(xb)
        n_seen += len(xb)
    return {n: t / max(n_seen, 1) for n, t in zip(names, total)}


def hessian_diagonals(
    model: Any, names: list[str], data: Any, loss_fn: Any, probes: int = HUTCHINSON_PROBES, seed: int = 0
) -> dict[str, np.ndarray]:
    """diag(∂²L/∂kernel²) by Hutchinson's estimator (mean of z ⊙ Hz, z Rademacher), by layer name."""

    X, y = _ranking_data(data, MAX_RANKING_SAMPLES)
    loss = _loss_function(loss_fn)
    kernels = [model.get_layer(n).kernel for n in names]
    rng = np.random.default_rng(seed)
    total = [np.zeros(tuple(k.shape)) for k in kernels]
    compute = native()
    for _ in range(probes):
        zs = [rng.choice([-1.0, 1.0], size=tuple(k.shape)).astype(np.float32) for k in kernels]
        hz = compute.hessian_vector_products(model, kernels, loss, X, y, zs)
        for i, (h, z) in enumerate(zip(hz, zs)):
            if h is not None:
                total[i] += np.asarray(h) * z
    return {n: t / probes for n, t in zip(names, total)}


def oracle_values(
    model: Any, layer_groups: list[Any], data: Any, loss_fn: Any
) -> dict[str, tuple[np.ndarray, np.ndarray | None]]:
    """Measured loss increase when each group is pruned (and, if allowed, shared); by layer name.

    One forward pass on a fixed batch of ≤ ``ORACLE_SAMPLES`` samples per group and option, in
    chunks of ``ORACLE_CHUNK`` groups through the backend's compiled oracle (``tf.map_fn`` /
    ``jax.lax.map`` / a loop, :mod:`hls_opt.train.backends`), each a ``model.stateless_call`` with
    that group's weights changed, so the model's variables are never touched.
    """
    import keras

    X, y = _ranking_data(data, ORACLE_SAMPLES)
    loss = _loss_function(loss_fn)
    compute = native()
    base = float(np.asarray(keras.ops.mean(loss(y, compute.predictor(model)(X)))))
    out: dict[str, tuple[np.ndarray, np.ndarray | None]] = {}
    for g in layer_groups:
        var = model.get_layer(g.name).kernel
        original = np.asarray(var.numpy())
        prune_d, share_d = group_deltas(original, g.ids, g.n_groups, g.sizes)
        # every structure has equal-sized groups: members as an (n_groups, size) index table,
        # padded to whole chunks so one trace serves every call
        members = np.argsort(g.ids.reshape(-1), kind="stable").reshape(g.n_groups, -1).astype(np.int32)
        chunk = min(ORACLE_CHUNK, g.n_groups)
        pad = (-g.n_groups) % chunk
        padded = np.concatenate([members, members[:pad]]) if pad else members
        losses = compute.oracle_losses(model, var, loss, X, y)
        results = []
        for deltas, wanted in ((prune_d, g.pruning), (share_d, g.sharing)):
            if not wanted:
                results.append(None)
                continue
            delta_flat = deltas.reshape(-1).astype(np.float32)
            vals = (
                np.concatenate([losses(padded[i : i + chunk], delta_flat) for i in range(0, len(padded), chunk)])[
                    : g.n_groups
                ].astype(np.float64)
                - base
            )
            results.append(np.maximum(vals, 0.0))
        prune_v = results[0] if results[0] is not None else np.full(g.n_groups, np.inf)
        out[g.name] = (prune_v, results[1])
    return out


def group_values(
    model: Any,
    layer_groups: list[Any],
    metric: RankingMetric | str,
    *,
    data: Any = None,
    loss_fn: Any = None,
    normalise: bool | str = False,
    per_weight: Any = None,
) -> dict[str, tuple[np.ndarray, np.ndarray | None]]:
    """``{layer: (prune_values, share_values or None)}``, each shape ``(n_groups,)``, ≥ 0.

    ``normalise`` (global selection) rescales magnitude metrics per layer: ``'mean'`` (or
    ``True``) divides by the layer's mean prune value, ``'max'`` by its largest, ``'sum'`` by their
    total (every layer worth 1: the rule when layers have different reuse factors, ``docs/rf_choice.md``), ``'none'`` (or
    ``False``) leaves the raw norms (hls4ml's global pattern ranking, ``get_model_masks_global``
    in hls4ml/optimization/dsp_aware_pruning/keras/masking.py).  Loss-based metrics are always
    left in loss units.

    ``per_weight`` (``saliency`` and ``hessian`` only): the caller's kernel-shaped gradients
    (saliency) or Hessian diagonals (hessian) by layer name, used instead of estimating them from
    ``data`` (hls4ml's ``get_model_masks(gradients=..., hessians=...)``).
    """

    if isinstance(normalise, bool):
        mode = "mean" if normalise else "none"
    else:
        mode = str(normalise)
    if mode not in NORMALISATIONS:
        raise DataError(f"normalise {normalise!r}: expected one of {', '.join(NORMALISATIONS)}")
    metric = parse_ranking(metric)  # a member from the trainer; a user's string from a direct call
    names = [g.name for g in layer_groups]
    if not names:
        return {}
    if metric is RankingMetric.ORACLE:
        return oracle_values(model, layer_groups, data, loss_fn)
    if metric in (RankingMetric.SALIENCY, RankingMetric.HESSIAN) and per_weight is not None:
        missing = [n for n in names if n not in per_weight]
        if missing:
            given = "gradient" if metric is RankingMetric.SALIENCY else "Hessian"
            raise DataError(f"ranking: no {given} given for layer(s) {missing}")
        per_weight = {n: np.asarray(per_weight[n], dtype=np.float64) for n in names}
    elif metric is RankingMetric.SALIENCY:
        per_weight = kernel_gradients(model, names, data, loss_fn)
    elif metric is RankingMetric.HESSIAN:
        per_weight = hessian_diagonals(model, names, data, loss_fn)
    out: dict[str, tuple[np.ndarray, np.ndarray | None]] = {}
    for g in layer_groups:
        kernel = np.asarray(model.get_layer(g.name).kernel.numpy(), dtype=np.float64)
        prune_d, share_d = group_deltas(kernel, g.ids, g.n_groups, g.sizes)

        def score(d: np.ndarray, g: Any = g) -> np.ndarray:
            if metric.magnitude:
                return group_norms(d, g.ids, g.n_groups, p=1 if metric is RankingMetric.L1 else 2)
            if metric is RankingMetric.SALIENCY:
                return _segment_sum(np.abs(per_weight[g.name] * d), g.ids, g.n_groups)
            # hessian: OBD, ½ h d²; a negative curvature estimate is noise: clip at 0
            return _segment_sum(0.5 * np.maximum(per_weight[g.name], 0.0) * d * d, g.ids, g.n_groups)

        prune_v = score(prune_d) if g.pruning else np.full(g.n_groups, np.inf)
        share_v = score(share_d) if g.sharing else None
        if mode != "none" and metric.magnitude:
            ref = prune_v if g.pruning else share_v
            finite = ref[np.isfinite(ref) & (ref > 0)]
            reduce = {"mean": np.mean, "max": np.max, "sum": np.sum}[mode]
            scale = float(reduce(finite)) if finite.size else 1.0
            prune_v = prune_v / scale
            share_v = share_v / scale if share_v is not None else None
        out[g.name] = (prune_v, share_v)
    return out
