"""The optimization loop: regularise, then prune step by step under the scheduler, keep the best.

``run_optimization`` is the engine (it returns an :class:`OptimizationOutcome` with the masks,
step history and timings the flow needs); ``optimize_model`` and
``optimize_keras_model_for_hls4ml`` are the hls4ml-compatible front doors (API.md §1).

The algorithm follows hls4ml's (REFERENCE §2) with these differences, each to spend fewer epochs
or to be correct (docs/optimization.md has the full list):

* masked training is ``model.fit`` with a :class:`~hls_opt.keras.masking.MaskConstraint` (one
  traced train function for the whole run; masks change by ``assign``);
* each step fine-tunes only until the validation metric is back to the baseline (at most
  ``epochs − rewinding_epochs`` epochs), a step that loses nothing is not trained at all;
* the regularisation strength is chosen by a small search scored on *validation* data after a
  one-shot prune (hls4ml's keras-tuner search scored the training metric, §7.16);
* global selection ranks groups by their raw magnitude (as hls4ml's pattern ranking), and a
  rejected step's fine-tuned weights are the start of the next trial (as hls4ml); the old rules
  (layer-mean normalisation, restart from the last accepted state) cut half as deep on digits
  (docs/deep_cut.md, :class:`LoopPolicy`);
* nothing of the caller's is modified (model, attributes, scheduler, optimizer, metric).
"""

from __future__ import annotations

import copy
import logging
import os
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hls_opt.data import check_targets_for_loss, load_training_data
from hls_opt.errors import ConfigError
from hls_opt.keras.masking import (
    SUPPORTED_METRICS,
    achieved_resources,
    apply_masks,
    attach_mask_constraints,
    build_layer_groups,
    layer_total_resources,
    masks_from_selection,
    prepare_attributes,
    select_groups,
)
from hls_opt.keras.ranking import group_values
from hls_opt.keras.regularizers import attach_regularizers, candidate_strengths, set_strength
from hls_opt.keras.training import (
    KeepBest,
    Predictor,
    StopWhenRecovered,
    Timer,
    ValidationMetric,
    at_least_as_good,
    clone_model,
    fresh_loss,
    fresh_optimizer,
    meets,
    train_dataset,
)

logger = logging.getLogger(__name__)

#: hls4ml's default ``regularization_range`` (``numpy.logspace(-6, -2, num=16)``, REFERENCE §1.2).
DEFAULT_REGULARIZATION_RANGE = np.logspace(-6, -2, num=16).tolist()
TMP_DIRECTORY = "hls4ml-optimization-keras"
SUPPORTED_TUNERS = ("Bayesian", "Hyperband", "Manual")
# The accepted model alone gets this many times `epochs` of keep-best fine-tuning under its masks.
# Measured with benchmarks/optimize_digits.py (3 seeds, DSP objective): factor 1 → test accuracy
# 0.966, factor 3 → 0.973, for +0.4 s; the epochs saved by stopping steps early pay for it.
POLISH_EPOCHS_FACTOR = 3

_RESOURCE_NAMES = {
    "ParameterEstimator": ("params",),
    "GPUFLOPEstimator": ("flops",),
    "VivadoDSPEstimator": ("dsp",),
    "VivadoFFEstimator": ("ff",),
    "VivadoMultiObjectiveEstimator": ("dsp", "bram"),
}
_logged_tuner_fallback = False
# keras-tuner's oracle seed for the regularisation search; not 0, which keras-tuner reads as
# "no seed" and replaces by a random one (keras_tuner/src/engine/oracle.py, ``seed or randint``).
_TUNER_SEED = 1


@dataclass(frozen=True)
class OptimizationOutcome:
    """Everything one optimization run produced.

    ``masks`` / ``offsets``: kernel-shaped float32 arrays by layer name for the accepted step
    (all ones / zeros when nothing was accepted).  ``steps``: one dict per trial with ``target``
    (scheduler sparsity), ``achieved`` (resource name → value after the step, objective units),
    ``metric``, ``accepted``, ``epochs`` (fine-tuning epochs run).  ``timings``: seconds spent
    in ``training``, ``regularisation``, ``solving`` (ranking + knapsack), ``evaluation`` and ``total``.
    """

    model: Any
    masks: dict[str, np.ndarray]
    offsets: dict[str, np.ndarray]
    steps: list[dict[str, Any]]
    baseline_metric: float
    final_metric: float
    shared_groups: int
    pruned_groups: int
    timings: dict[str, float]
    baseline_resources: dict[str, float] = field(default_factory=dict)
    final_resources: dict[str, float] = field(default_factory=dict)
    regularization_strength: float = 0.0
    reduced: bool = False


@dataclass(frozen=True)
class LoopPolicy:
    """How the pruning loop fine-tunes, recovers from a rejected step, regularises and ranks.

    ``fine_tune``: ``'full'`` trains every step its ``epochs − rewinding_epochs`` epochs (hls4ml);
    ``'recover'`` stops as soon as the validation metric is back to the baseline.
    ``on_reject``: ``'restore'`` starts the next trial from the last accepted state; ``'continue'``
    keeps the rejected step's fine-tuned weights (rewound like an accepted step, as hls4ml does).
    ``keep_regulariser``: keep the chosen regularisation strength during the pruning steps
    (hls4ml) instead of switching it off after the search.
    ``normalise``: per-layer rescaling of magnitude values for global selection
    (:data:`hls_opt.keras.ranking.NORMALISATIONS`).
    docs/deep_cut.md measures each choice.
    """

    fine_tune: str = "recover"
    on_reject: str = "continue"
    keep_regulariser: bool = False
    normalise: str = "none"

    def __post_init__(self) -> None:
        from hls_opt.keras.ranking import NORMALISATIONS

        for name, allowed in (
            ("fine_tune", ("full", "recover")),
            ("on_reject", ("restore", "continue")),
            ("normalise", NORMALISATIONS),
        ):
            if getattr(self, name) not in allowed:
                raise ConfigError(f"{name} {getattr(self, name)!r}: expected one of {', '.join(allowed)}")


def pareto_front(steps: list[dict[str, Any]], increasing: bool = True) -> list[dict[str, Any]]:
    """The trials no other trial beats on both axes (less of the first resource, better metric),
    accepted or not, ordered by resource; ``steps`` as in :attr:`OptimizationOutcome.steps`."""
    if not steps:
        return []
    name = next(iter(steps[0]["achieved"]))
    sign = 1.0 if increasing else -1.0
    ordered = sorted(steps, key=lambda st: (st["achieved"][name], -sign * st["metric"]))
    front, best = [], -np.inf
    for st in ordered:
        if sign * st["metric"] > best:
            front.append(st)
            best = sign * st["metric"]
    return front


# --------------------------------------------------------------------------------------------
# Argument handling
# --------------------------------------------------------------------------------------------


def resolve_objective(objective: Any) -> Any:
    """An estimator class or instance from a class, an instance or a registered name (API.md §3)."""
    from hls_opt.objectives import get_objective

    return get_objective(objective)


def _mro_names(objective: Any) -> list[str]:
    cls = objective if isinstance(objective, type) else type(objective)
    return [c.__name__ for c in cls.__mro__]


def resource_names(objective: Any, dims: int) -> tuple[str, ...]:
    """Names of the objective's resource dimensions (``objective.resource_names`` if it has them)."""
    names = getattr(objective, "resource_names", None)
    if names and len(names) == dims:
        return tuple(str(n) for n in names)
    for cls_name in _mro_names(objective):
        if cls_name in _RESOURCE_NAMES and len(_RESOURCE_NAMES[cls_name]) == dims:
            return _RESOURCE_NAMES[cls_name]
    return tuple(f"resource_{i}" for i in range(dims))


def reduces_structures(objective: Any) -> bool:
    """True for objectives whose saving only materialises when pruned neurons are removed (GPU FLOPs)."""
    flag = getattr(objective, "reduce_structures", None)
    if flag is not None:
        return bool(flag)
    return "GPUFLOPEstimator" in _mro_names(objective)


def _check_scheduler(scheduler: Any) -> None:
    for method in ("get_sparsity", "update_step", "repair_step"):
        if not callable(getattr(scheduler, method, None)):
            raise ConfigError(
                f"scheduler {scheduler!r}: expected an OptimizationScheduler (missing {method}())"
            )


def _probe_sparsity(scheduler: Any) -> float:
    """The sparsity the regularisation search prunes to: the middle of the scheduler's targets (≤ 0.9)."""
    sim = copy.deepcopy(scheduler)
    targets = [float(sim.get_sparsity())]
    for _ in range(64):
        go, s = sim.update_step()
        if not go:
            break
        targets.append(float(s))
    positive = [t for t in targets if t > 0] or [0.5]
    return min(float(np.median(positive)), 0.9)


def _reset_optimizer(optimizer: Any) -> None:
    """Zero the moment slots so candidates start alike (scalars — step count, learning rate — kept)."""
    for var in getattr(optimizer, "variables", []):
        if len(var.shape) == 0:
            continue
        var.assign(np.zeros(tuple(var.shape), dtype=var.dtype))


# --------------------------------------------------------------------------------------------
# The engine
# --------------------------------------------------------------------------------------------


def run_optimization(
    model: Any,
    model_attributes: dict[str, Any],
    objective: Any,
    scheduler: Any,
    X_train: Any,
    y_train: Any,
    X_val: Any,
    y_val: Any,
    batch_size: int,
    epochs: int,
    optimizer: Any,
    loss_fn: Any,
    validation_metric: Any,
    increasing: bool,
    rtol: float,
    callbacks: list[Any] | None = None,
    ranking_metric: str = "l1",
    local: bool = False,
    verbose: bool = False,
    rewinding_epochs: int = 1,
    cutoff_bad_trials: int = 1,
    directory: str = TMP_DIRECTORY,
    tuner: str | None = "Bayesian",
    knapsack_solver: str = "auto",
    regularization_range: Any = None,
    reduce_structures: bool | None = None,
    policy: LoopPolicy | None = None,
    target: str | None = None,
) -> OptimizationOutcome:
    """Optimize a copy of ``model`` for ``objective``; see :func:`optimize_model` for the arguments.

    ``directory`` is accepted for compatibility and not written to (best weights are kept in memory).
    ``reduce_structures``: remove pruned neurons/filters from the returned model; ``None`` means
    hls4ml's rule (only for the GPU FLOPs objective).  The compiler flow passes ``False`` because
    its own ``reduce`` pass does that after the rewrite, on weights that still match its graph.
    ``policy``: the loop's fine-tuning / restart / regulariser / ranking rules (:class:`LoopPolicy`).
    ``target='max'``: ignore ``scheduler`` and search for the deepest cut within ``rtol``
    (:class:`~hls_opt.scheduler.MaxCutScheduler`); every trial is in ``steps``, and
    :func:`pareto_front` of them is the accuracy–resource front the search saw.
    """
    from hls_opt.progress import status

    timer = Timer()
    with timer.phase("total"):
        # ---- arguments (copies only; the caller's objects stay as they are)
        objective = resolve_objective(objective)
        if target is not None:
            if target != "max":
                raise ConfigError(f"target {target!r}: expected None or 'max'")
            from hls_opt.scheduler import MaxCutScheduler

            scheduler = MaxCutScheduler()
        _check_scheduler(scheduler)
        scheduler = copy.deepcopy(scheduler)
        policy = LoopPolicy() if policy is None else policy
        normalise = "none" if local else policy.normalise
        epochs, rewinding_epochs = int(epochs), int(rewinding_epochs)
        if rewinding_epochs < 0 or epochs <= rewinding_epochs:
            raise ConfigError(f"epochs ({epochs}) must be larger than rewinding_epochs ({rewinding_epochs})")
        if ranking_metric not in SUPPORTED_METRICS:
            raise ConfigError(
                f"ranking_metric {ranking_metric!r}: expected one of {', '.join(SUPPORTED_METRICS)}"
            )
        if tuner is not None and tuner not in SUPPORTED_TUNERS:
            raise ConfigError(f"tuner {tuner!r}: expected None or one of {', '.join(SUPPORTED_TUNERS)}")
        if int(batch_size) < 1:
            raise ConfigError(f"batch_size {batch_size}: must be ≥ 1")
        # the flow's data checks (numbers, finite, sample counts, matching shapes), naming the array
        data = load_training_data((X_train, y_train, X_val, y_val))
        if len(getattr(model, "outputs", ())) == 1 and len(model.output_shape) == 2:
            check_targets_for_loss(data, loss_fn, model.output_shape[-1])
        X_train, y_train, X_val, y_val = data.as_tuple()
        rrange = DEFAULT_REGULARIZATION_RANGE if regularization_range is None else list(regularization_range)
        metric = ValidationMetric(validation_metric, y_val)
        loss = fresh_loss(loss_fn)

        # ---- the working copy: masks and regularisers attached before the first (only) trace
        work = clone_model(model)
        attrs = prepare_attributes(work, model_attributes, objective)
        groups = build_layer_groups(work, attrs, objective)
        total = layer_total_resources(work, attrs, objective)
        if total is None:
            total = np.zeros(1)
        names = resource_names(objective, len(total))
        constraints = attach_mask_constraints(work, [g.name for g in groups])
        regs = attach_regularizers(work, groups)
        opt = fresh_optimizer(optimizer)
        work.compile(optimizer=opt, loss=loss, jit_compile=False)
        predict = Predictor(work)
        ds = train_dataset(X_train, y_train, batch_size)

        def evaluate() -> float:
            with timer.phase("evaluation"):
                return metric(y_val, predict(X_val))

        baseline = evaluate()
        baseline_weights = work.get_weights()
        logger.info(
            "baseline %s on validation data: %.4f; %d optimizable layers; %s",
            metric.name,
            baseline,
            len(groups),
            ", ".join(f"{n} {v:.0f}" for n, v in zip(names, total)),
        )
        if verbose:
            status(
                f"hls-opt: baseline {metric.name} {baseline:.4f}, "
                + ", ".join(f"{n} {v:.0f}" for n, v in zip(names, total))
            )

        # ---- regularisation before pruning
        strength = 0.0
        if groups:
            with timer.phase("regularisation"):
                strength = _choose_strength(
                    work,
                    regs,
                    constraints,
                    groups,
                    ds,
                    evaluate,
                    baseline,
                    increasing,
                    rtol,
                    tuner,
                    rrange,
                    epochs,
                    _probe_sparsity(scheduler),
                    ranking_metric,
                    local,
                    knapsack_solver,
                    (X_val, y_val),
                    loss,
                    timer,
                    normalise,
                )
            logger.info("regularisation strength %.3g", strength)
            if not policy.keep_regulariser:
                set_strength(regs, 0.0)

        # ---- the pruning loop
        steps: list[dict[str, Any]] = []
        best: dict[str, Any] | None = None
        resume_weights = work.get_weights()
        target = float(scheduler.get_sparsity())
        bad_trials = 0
        fine_tune_epochs = epochs - rewinding_epochs
        if not groups:
            logger.warning(
                "objective %s finds no optimizable layer in model %s; returning the baseline",
                getattr(objective, "__name__", type(objective).__name__),
                getattr(model, "name", "?"),
            )
        while groups:
            with timer.phase("solving"):
                values = group_values(
                    work, groups, ranking_metric, data=(X_val, y_val), loss_fn=loss, normalise=normalise
                )
                selection = select_groups(
                    groups, values, target, local=local, knapsack_solver=knapsack_solver
                )
                masks, offsets = masks_from_selection(work, groups, selection)
            apply_masks(work, masks, offsets)
            for name, constraint in constraints.items():
                constraint.assign(masks[name], offsets[name])
            value = evaluate()
            epochs_run = 0
            if policy.fine_tune == "full" and fine_tune_epochs > 0:
                with timer.phase("training"):
                    work.fit(ds, epochs=fine_tune_epochs, verbose=0, shuffle=False)
                epochs_run = fine_tune_epochs
                value = evaluate()
            elif not at_least_as_good(value, baseline, increasing) and fine_tune_epochs > 0:
                stopper = StopWhenRecovered(evaluate, baseline, increasing)
                with timer.phase("training"):
                    work.fit(ds, epochs=fine_tune_epochs, verbose=0, shuffle=False, callbacks=[stopper])
                epochs_run = stopper.epochs_run
                value = stopper.last if stopper.last is not None else evaluate()
            accepted = meets(value, baseline, rtol, increasing)
            achieved = achieved_resources(groups, selection, total)
            steps.append(
                {
                    "target": target,
                    "achieved": {n: float(v) for n, v in zip(names, achieved)},
                    "metric": float(value),
                    "accepted": bool(accepted),
                    "epochs": int(epochs_run),
                }
            )
            line = (
                f"step {len(steps)}: target {target:.3f} | "
                + ", ".join(f"{n} {a:.0f}/{t:.0f}" for n, a, t in zip(names, achieved, total))
                + f" | {metric.name} {value:.4f} (baseline {baseline:.4f}) | "
                + ("accepted" if accepted else "rejected")
                + f" | {epochs_run} epochs"
            )
            logger.info(line)
            if verbose:
                status("hls-opt: " + line)
            if accepted:
                bad_trials = 0
                best = {
                    "weights": work.get_weights(),
                    "masks": masks,
                    "offsets": offsets,
                    "selection": selection,
                    "metric": float(value),
                    "achieved": achieved,
                }
                go, target = scheduler.update_step()
            else:
                bad_trials += 1
                go, target = scheduler.repair_step()
                if policy.on_reject == "restore":
                    work.set_weights(resume_weights)  # the next trial starts from the last good state
            target = float(target)
            if (bad_trials > cutoff_bad_trials and not getattr(scheduler, "self_terminating", False)) or not go:
                break
            if accepted or policy.on_reject == "continue":
                if rewinding_epochs > 0:
                    # "rewinding" (hls4ml §2.3): a short unmasked fit lets pruned weights regrow
                    # so the next ranking can revise this step's choice
                    for name, constraint in constraints.items():
                        constraint.assign(np.ones_like(masks[name]), None)
                    with timer.phase("training"):
                        work.fit(
                            ds,
                            epochs=rewinding_epochs,
                            verbose=0,
                            shuffle=False,
                            callbacks=list(callbacks or []),
                        )
                resume_weights = work.get_weights()

        # ---- polish: the accepted model is the one returned, so it alone gets a long fine-tuning
        # under its masks, keeping the epoch with the best validation metric
        if best is not None and epochs > 0:
            work.set_weights(best["weights"])
            for name, constraint in constraints.items():
                constraint.assign(best["masks"][name], best["offsets"][name])
            keeper = KeepBest(evaluate, best["metric"], best["weights"], increasing)
            with timer.phase("training"):
                work.fit(
                    ds, epochs=POLISH_EPOCHS_FACTOR * epochs, verbose=0, shuffle=False, callbacks=[keeper]
                )
            logger.info(
                "polish: %s %.4f -> %.4f (epoch %d of %d)",
                metric.name,
                best["metric"],
                keeper.best_value,
                keeper.best_epoch,
                POLISH_EPOCHS_FACTOR * epochs,
            )
            best["weights"], best["metric"] = keeper.best_weights, float(keeper.best_value)

        # ---- the result: a clean copy of the caller's architecture with the best weights
        if best is None:
            logger.info("no pruning step met rtol=%s; returning the baseline weights", rtol)
            final_weights = baseline_weights
            masks = {g.name: np.ones(g.kernel_shape, dtype=np.float32) for g in groups}
            offsets = {g.name: np.zeros(g.kernel_shape, dtype=np.float32) for g in groups}
            final_metric_value = baseline
            final_resources = total
            pruned = shared = 0
        else:
            final_weights = best["weights"]
            masks, offsets = best["masks"], best["offsets"]
            final_metric_value = best["metric"]
            final_resources = best["achieved"]
            sel = best["selection"]
            shared = int(sum(int(np.sum(v)) for v in sel.shared.values()))
            pruned = int(sum(int(np.sum(~sel.keep[n] & ~sel.shared[n])) for n in sel.keep))
        result = clone_model(model)
        result.set_weights(final_weights)
        if reduce_structures is None:
            reduce_structures = reduces_structures(objective)
        reduced = bool(best is not None and reduce_structures)
        if reduced:
            from hls_opt.keras.reduction import reduce_model

            result = reduce_model(result)
            final_metric_value = metric(y_val, Predictor(result)(X_val))
        keras_metric = metric.keras_metric()
        result.compile(
            optimizer=fresh_optimizer(optimizer),
            loss=fresh_loss(loss_fn),
            metrics=[keras_metric] if keras_metric is not None else None,
        )
    timings = dict(timer.totals)
    for key in ("training", "regularisation", "solving", "evaluation"):
        timings.setdefault(key, 0.0)
    summary = (
        f"done: {metric.name} {baseline:.4f} -> {final_metric_value:.4f}; "
        + ", ".join(f"{n} {t:.0f} -> {f:.0f}" for n, t, f in zip(names, total, final_resources))
        + f"; {pruned} groups pruned, {shared} shared; {timings['total']:.1f} s "
        + f"(training {timings['training']:.1f}, regularisation {timings['regularisation']:.1f}, "
        + f"solving {timings['solving']:.1f})"
    )
    logger.info(summary)
    if verbose:
        status("hls-opt: " + summary)
    return OptimizationOutcome(
        model=result,
        masks=masks,
        offsets=offsets,
        steps=steps,
        baseline_metric=float(baseline),
        final_metric=float(final_metric_value),
        shared_groups=shared,
        pruned_groups=pruned,
        timings=timings,
        baseline_resources={n: float(v) for n, v in zip(names, total)},
        final_resources={n: float(v) for n, v in zip(names, final_resources)},
        regularization_strength=float(strength),
        reduced=reduced,
    )


def _choose_strength(
    work: Any,
    regs: dict,
    constraints: dict,
    groups: list,
    ds: Any,
    evaluate: Any,
    baseline: float,
    increasing: bool,
    rtol: float,
    tuner: str | None,
    rrange: list[float],
    epochs: int,
    probe: float,
    ranking_metric: str,
    local: bool,
    knapsack_solver: str,
    val_data: tuple,
    loss: Any,
    timer: Timer,
    normalise: str = "mean",
) -> float:
    """Pick the regularisation strength; leaves ``work`` trained with it (no retraining later).

    Built-in search: candidates 0 and two strengths from the upper half of ``rrange``; each
    non-zero candidate is trained ``min(2, epochs // 2)`` epochs from the baseline, then scored by
    the validation metric after a one-shot prune to ``probe`` sparsity (what the regulariser is
    for), among candidates whose unpruned metric still meets ``rtol``.  Zero is free: the model
    is already converged.  ``tuner='Bayesian'`` with keras-tuner installed: keras-tuner proposes up
    to 5 strengths from ``[0] + rrange``, scored the same way.  ``'Hyperband'``, or ``'Bayesian'``
    without keras-tuner: the built-in search (logged once at INFO).  ``tuner='Manual'``: hls4ml's
    fixed ``rrange[0]``, no search.
    """
    if tuner == "Manual":
        strength = float(rrange[0]) if rrange else 0.0
        set_strength(regs, strength)
        return strength
    search_epochs = max(1, min(2, epochs // 2))
    start = work.get_weights()
    probe_metric = "l1" if ranking_metric == "oracle" else ranking_metric
    tried: dict[float, tuple[bool, float, list]] = {}

    def score(strength: float) -> tuple[bool, float, list]:
        """(meets rtol unpruned, one-shot pruned score (higher = better), trained weights); memoised."""
        strength = float(strength)
        if strength in tried:
            return tried[strength]
        work.set_weights(start)
        set_strength(regs, strength)
        if strength > 0:
            _reset_optimizer(work.optimizer)
            work.fit(
                ds, epochs=search_epochs, verbose=0, shuffle=False
            )  # timed as "regularisation" by the caller
        unpruned = evaluate()
        trained = work.get_weights()
        values = group_values(work, groups, probe_metric, data=val_data, loss_fn=loss, normalise=normalise)
        selection = select_groups(groups, values, probe, local=local, knapsack_solver=knapsack_solver)
        masks, offsets = masks_from_selection(work, groups, selection)
        apply_masks(work, masks, offsets)
        pruned = evaluate()
        work.set_weights(trained)
        ok = meets(unpruned, baseline, rtol, increasing)
        logger.info(
            "regularisation %.3g: unpruned %.4f, one-shot at %.3f sparsity %.4f%s",
            strength,
            unpruned,
            probe,
            pruned,
            "" if ok else " (unpruned fails rtol)",
        )
        tried[strength] = (ok, pruned if increasing else -pruned, trained)
        return tried[strength]

    if not (
        tuner == "Bayesian" and _keras_tuner_search(score, rrange, directory_hint="hls_opt_regularisation")
    ):
        if tuner in ("Bayesian", "Hyperband"):
            _log_tuner_fallback(tuner)
        for strength in candidate_strengths(rrange):
            score(strength)
    passing = [(v[1], -k, k) for k, v in tried.items() if v[0]]  # best score, then the smaller strength
    strength = max(passing)[2] if passing else 0.0
    work.set_weights(tried[strength][2] if strength in tried else start)
    set_strength(regs, strength)
    _reset_optimizer(work.optimizer)
    return strength


def _log_tuner_fallback(tuner: str) -> None:
    global _logged_tuner_fallback
    if _logged_tuner_fallback:
        return
    try:
        import keras_tuner  # noqa: F401
    except ImportError:
        reason = "keras-tuner is not installed"
    else:
        reason = (
            "keras-tuner's BayesianOptimization needs scipy and scikit-learn "
            "(pip install 'keras-tuner[bayesian]')"
            if tuner == "Bayesian"
            else "only 'Bayesian' is run through keras-tuner"
        )
    logger.info("tuner=%r: %s; using the built-in regularisation search", tuner, reason)
    _logged_tuner_fallback = True


def _keras_tuner_search(score: Any, rrange: list[float], directory_hint: str, max_trials: int = 5) -> bool:
    """Bayesian search over ``[0] + rrange`` with keras-tuner (when installed); False if unavailable.

    The tuner only proposes strengths; each proposal is scored by ``score`` (validation metric
    after a one-shot prune, as the built-in search) and the caller picks the best of everything
    scored.  Trials run in a temporary directory, removed afterwards.  False as well when
    keras-tuner lacks scipy / scikit-learn (its ``bayesian`` extra).  The oracle is seeded, so
    the same scores give the same proposals; keras-tuner prints nothing (``verbose=0``; its
    display would also clear a notebook's output); an error while scoring is re-raised as it
    is (keras-tuner would record it as a failed trial and go on, or stop with a RuntimeError).
    """
    try:
        import keras_tuner as kt
    except ImportError:
        return False
    import tempfile

    values = [0.0] + sorted({float(v) for v in rrange if float(v) > 0})
    failures: list[BaseException] = []

    class StrengthSearch(kt.BayesianOptimization):
        def run_trial(self, trial: Any, *args: Any, **kwargs: Any) -> float:
            try:
                ok, value, _ = score(trial.hyperparameters.Choice("strength", values))
            except Exception as exc:
                failures.append(exc)
                raise kt.errors.FatalError(f"scoring a regularisation strength failed: {exc}") from exc
            return -value if ok else 1e9  # keras-tuner minimises a returned float; 1e9 = "fails rtol"

    with tempfile.TemporaryDirectory(prefix="hls_opt_tuning_") as tmp:
        try:
            search = StrengthSearch(
                max_trials=min(max_trials, len(values)),
                seed=_TUNER_SEED,
                directory=tmp,
                project_name=directory_hint,
                overwrite=True,
            )
        except ImportError:  # keras-tuner without its 'bayesian' extra (scipy, scikit-learn)
            return False
        try:
            with warnings.catch_warnings():
                # scikit-learn's Gaussian process warns about length-scale bounds on a handful of
                # one-dimensional points; noise to the user, the proposals are still valid.
                warnings.filterwarnings("ignore", module=r"sklearn\.gaussian_process")
                # keras-tuner 1.4's oracle calls threading.currentThread() (deprecated in 3.10).
                warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"keras_tuner")
                search.search(verbose=0)
        except kt.errors.FatalError:
            if failures:
                raise failures[0] from None
            raise
    return True


# --------------------------------------------------------------------------------------------
# hls4ml-compatible front doors
# --------------------------------------------------------------------------------------------


def optimize_model(
    model: Any,
    model_attributes: dict[str, Any],
    objective: Any,
    scheduler: Any,
    X_train: Any,
    y_train: Any,
    X_val: Any,
    y_val: Any,
    batch_size: int,
    epochs: int,
    optimizer: Any,
    loss_fn: Any,
    validation_metric: Any,
    increasing: bool,
    rtol: float,
    callbacks: list[Any] | None = None,
    ranking_metric: str = "l1",
    local: bool = False,
    verbose: bool = False,
    rewinding_epochs: int = 1,
    cutoff_bad_trials: int = 1,
    directory: str = TMP_DIRECTORY,
    tuner: str | None = "Bayesian",
    knapsack_solver: str = "auto",
    regularization_range: Any = DEFAULT_REGULARIZATION_RANGE,
) -> Any:
    """Prune (and weight-share) a copy of ``model`` for ``objective``; returns a new compiled Keras model.

    Same arguments as hls4ml's ``optimize_model`` (REFERENCE §1.3): ``objective`` is an estimator
    class, instance or registered name; ``scheduler`` gives the target sparsity of the objective's
    resource (e.g. 0.5 = half the DSPs); each step fine-tunes at most ``epochs − rewinding_epochs``
    epochs then rewinds ``rewinding_epochs`` unmasked; a step is accepted when the validation
    metric is within ``rtol`` of the baseline (``increasing``: higher is better); optimization
    stops when the scheduler is done or after more than ``cutoff_bad_trials`` consecutive
    failures.  The returned model holds the last accepted step's weights (the baseline's when
    none passed), without hls-opt's masks or regularisers.
    """
    return run_optimization(
        model,
        model_attributes,
        objective,
        scheduler,
        X_train,
        y_train,
        X_val,
        y_val,
        batch_size,
        epochs,
        optimizer,
        loss_fn,
        validation_metric,
        increasing,
        rtol,
        callbacks=callbacks,
        ranking_metric=ranking_metric,
        local=local,
        verbose=verbose,
        rewinding_epochs=rewinding_epochs,
        cutoff_bad_trials=cutoff_bad_trials,
        directory=directory,
        tuner=tuner,
        knapsack_solver=knapsack_solver,
        regularization_range=regularization_range,
    ).model


def _looks_like_attributes(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and bool(value)
        and all(hasattr(v, "weight_shape") and hasattr(v, "optimization_attributes") for v in value.values())
    )


def attributes_for(keras_model: Any, hls_config_or_attributes: Any) -> dict[str, Any]:
    """Model attributes from an hls4ml config (dict or YAML/JSON path), or the attributes dict itself
    (the seed passes those); ``None`` means hls4ml's defaults."""
    if _looks_like_attributes(hls_config_or_attributes):
        return hls_config_or_attributes
    from hls_opt import attributes as attributes_module

    if hls_config_or_attributes is None:
        return attributes_module.get_attributes_from_keras_model(keras_model)
    if isinstance(hls_config_or_attributes, (str, os.PathLike)):  # a YAML / JSON config file
        return attributes_module.get_attributes_from_keras_model_and_hls4ml_config(
            keras_model, hls_config_or_attributes
        )
    if not isinstance(hls_config_or_attributes, dict):
        raise ConfigError(
            f"hls_config: expected an hls4ml config dict or a model-attributes dict, got "
            f"{type(hls_config_or_attributes).__name__}"
        )
    return attributes_module.get_attributes_from_keras_model_and_hls4ml_config(
        keras_model, hls_config_or_attributes
    )


def optimize_keras_model_for_hls4ml(
    keras_model: Any,
    hls_config: Any,
    objective: Any,
    scheduler: Any,
    X_train: Any,
    y_train: Any,
    X_val: Any,
    y_val: Any,
    batch_size: int,
    epochs: int,
    optimizer: Any,
    loss_fn: Any,
    validation_metric: Any,
    increasing: bool,
    rtol: float,
    callbacks: list[Any] | None = None,
    ranking_metric: str = "l1",
    local: bool = False,
    verbose: bool = False,
    rewinding_epochs: int = 1,
    cutoff_bad_trials: int = 3,
    directory: str = "hls4ml-optimization",
    tuner: str | None = "Bayesian",
    knapsack_solver: str = "auto",
    regularization_range: Any = DEFAULT_REGULARIZATION_RANGE,
) -> Any:
    """hls4ml's wrapper (REFERENCE §1.2): ``hls_config`` may be an hls4ml config or model attributes.

    Optimize as if for hls4ml's unrolled strategy: under ``Resource`` zeros save nothing, so the
    flow later switches the optimized layers to ``ResourceUnrolled``.
    """
    attributes = attributes_for(keras_model, hls_config)
    return optimize_model(
        keras_model,
        attributes,
        objective,
        scheduler,
        X_train,
        y_train,
        X_val,
        y_val,
        batch_size,
        epochs,
        optimizer,
        loss_fn,
        validation_metric,
        increasing,
        rtol,
        callbacks=callbacks,
        ranking_metric=ranking_metric,
        local=local,
        verbose=verbose,
        rewinding_epochs=rewinding_epochs,
        cutoff_bad_trials=cutoff_bad_trials,
        directory=directory,
        tuner=tuner,
        knapsack_solver=knapsack_solver,
        regularization_range=regularization_range,
    )
