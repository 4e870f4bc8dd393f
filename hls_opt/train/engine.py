"""The optimization loop: regularise, then prune step by step under the scheduler, keep the best.

:func:`prune_with_fine_tuning` is the engine: it takes a Keras model, a
:class:`~hls_opt.solve.pruning.PruningProblem` (the groups and their costs, built from the IR and the
backend's cost model, or adapted from hls4ml-style estimators at the edge), a scheduler, the data
and a frozen :class:`FineTuneOptions`, and returns an :class:`OptimizationOutcome` with the masks,
step history and timings.  It knows nothing of hls4ml's attribute or estimator classes; those
front doors (``optimize_model``, ``optimize_keras_model_for_hls4ml``, ``run_optimization``) are in
:mod:`hls_opt.keras.api`.

The algorithm follows hls4ml's (``optimize_model`` in hls4ml/optimization/dsp_aware_pruning/keras/__init__.py) with these differences, each to spend fewer epochs
or to be correct (docs/optimization.md has the full list):

* masked training is ``model.fit`` with a :class:`~hls_opt.train.masking.MaskConstraint` (one
  traced train function for the whole run; masks change by ``assign``);
* each step fine-tunes only until the validation metric is back to the baseline (at most
  ``epochs − rewinding_epochs`` epochs), a step that loses nothing is not trained at all;
* the regularisation strength is chosen by a small search scored on *validation* data after a
  one-shot prune (hls4ml's keras-tuner search scored the training metric: ``kt.Objective`` in ``build_optimizable_model``, dsp_aware_pruning/keras/builder.py, has no ``val_`` prefix);
* global selection ranks groups by their raw magnitude (as hls4ml's pattern ranking), and a
  rejected step's fine-tuned weights are the start of the next trial (as hls4ml); the old rules
  (layer-mean normalisation, restart from the last accepted state) cut half as deep on digits
  (docs/deep_cut.md, :class:`LoopPolicy`);
* nothing of the caller's is modified (model, attributes, scheduler, optimizer, metric).
"""

from __future__ import annotations

import copy
import logging
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np

from hls_opt.config.values import (
    FineTune,
    OnReject,
    RankingMetric,
    Target,
    Tuner,
    parse_ranking,
    parse_target,
    parse_tuner,
)
from hls_opt.core.enums import parse_enum
from hls_opt.core.progress import status
from hls_opt.data import (
    DataStreams,
    check_input_shape,
    check_single_input,
    check_single_output,
    check_targets,
    check_targets_for_loss,
    load_data,
)
from hls_opt.errors import ConfigError, ModelError
from hls_opt.solve.budget_cut import required_cut
from hls_opt.solve.knapsack import KnapsackMethod, parse_knapsack_method
from hls_opt.solve.pruning import PruningProblem, masks_from_selection, select_groups, selection_counts
from hls_opt.solve.step import Step
from hls_opt.train.backends import native
from hls_opt.train.data import evaluate, fit_input
from hls_opt.train.data import fit as _data_fit
from hls_opt.train.fit import (
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
)
from hls_opt.train.masking import (
    apply_masks,
    attach_mask_constraints,
    masks_as_optimizer_state,
)
from hls_opt.train.quantize import quantized_copy
from hls_opt.train.ranking import MAX_RANKING_SAMPLES, NORMALISATIONS, group_values
from hls_opt.train.reduction import reduce_model
from hls_opt.train.regularizers import (
    attach_regularizers,
    candidate_strengths,
    set_strength,
    strengths_as_optimizer_state,
)
from hls_opt.train.schedulers import BudgetScheduler, MaxCutScheduler, default_scheduler

logger = logging.getLogger(__name__)

#: hls4ml's default ``regularization_range`` (``numpy.logspace(-6, -2, num=16)``, hls4ml/optimization/dsp_aware_pruning/__init__.py and keras/__init__.py).
DEFAULT_REGULARIZATION_RANGE = np.logspace(-6, -2, num=16).tolist()
TMP_DIRECTORY = "hls4ml-optimization-keras"
# The accepted model alone gets this many times `epochs` of keep-best fine-tuning under its masks
# (`benchmarks/optimize_digits.py --polish-factor K` measures other values against this one).
POLISH_EPOCHS_FACTOR = 3

_logged_tuner_fallback = False
# keras-tuner's oracle seed for the regularisation search; not 0, which keras-tuner reads as
# "no seed" and replaces by a random one (keras_tuner/src/engine/oracle.py, ``seed or randint``).
_TUNER_SEED = 1


@dataclass(frozen=True)
class OptimizationOutcome:
    """Everything one optimization run produced.

    ``masks`` / ``offsets``: kernel-shaped float32 arrays by layer name for the accepted step
    (all ones / zeros when nothing was accepted).  ``steps``: one :class:`~hls_opt.solve.step.Step` per
    trial: ``target`` (scheduler sparsity), ``achieved`` (resource name → value after the step,
    objective units), ``metric``, ``accepted``, ``epochs`` (fine-tuning epochs run).  ``timings``: seconds spent
    in ``setup`` (the working copy, its compile, the baseline evaluation), ``regularisation`` (the
    strength search, its epochs and one-shot probes), ``training`` (the steps' fine-tuning and
    rewinding), ``polish`` (the accepted model's keep-best epochs), ``solving`` (ranking + knapsack)
    and ``total``; ``evaluation`` (every validation pass) overlaps the others, which call it.
    ``epochs_trained``: every epoch ``model.fit`` ran (search, steps, rewinding, polish).
    """

    model: Any
    masks: dict[str, np.ndarray]
    offsets: dict[str, np.ndarray]
    steps: list[Step]
    baseline_metric: float
    final_metric: float
    shared_groups: int
    pruned_groups: int
    timings: dict[str, float]
    baseline_resources: dict[str, float] = field(default_factory=dict)
    final_resources: dict[str, float] = field(default_factory=dict)
    regularization_strength: float = 0.0
    reduced: bool = False
    configs: dict[str, Any] | None = None
    epochs_trained: int = 0


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
    (:data:`hls_opt.train.ranking.NORMALISATIONS`).
    docs/deep_cut.md measures each choice.
    """

    fine_tune: FineTune = FineTune.RECOVER
    on_reject: OnReject = OnReject.CONTINUE
    keep_regulariser: bool = False
    normalise: str = "none"

    def __post_init__(self) -> None:
        # the user's strings become members here, once (FineTune / OnReject)
        object.__setattr__(self, "fine_tune", parse_enum(FineTune, self.fine_tune, "fine_tune"))
        object.__setattr__(self, "on_reject", parse_enum(OnReject, self.on_reject, "on_reject"))
        if self.normalise not in NORMALISATIONS:
            raise ConfigError(f"normalise {self.normalise!r}: expected one of {', '.join(NORMALISATIONS)}")


@dataclass(frozen=True)
class FineTuneOptions:
    """How the loop fine-tunes; hls4ml's ``optimize_model`` arguments of the same meaning.

    ``rtol``: a step is accepted when the validation ``metric`` is ≥ ``rtol`` · baseline
    (``increasing``) or ≤ ``rtol`` · baseline (not increasing, hls4ml's rule); ``epochs``: at most
    ``epochs − rewinding_epochs`` masked epochs per step; ``ranking``: l1, l2, saliency, oracle or
    hessian; ``local``: one knapsack per layer; ``tuner``: the regularisation search (None or
    'Hyperband': built-in; 'Bayesian': keras-tuner when installed; 'Manual': the range's first value).
    ``policy``: the loop's fine-tuning / restart / regulariser / ranking rules (:class:`LoopPolicy`).
    ``target='max'``: ignore the scheduler and search for the deepest cut within ``rtol``
    (:class:`~hls_opt.train.schedulers.MaxCutScheduler`); every trial is in ``steps``, and
    :func:`~hls_opt.solve.front.pareto_front` of them is the accuracy–resource front the search saw.
    ``quantization``: layer name → :class:`~hls_opt.config.LayerConfig`; when given, every step
    fine-tunes (and is evaluated) under fake quantization to those types
    (:func:`~hls_opt.train.quantize.quantized_copy`: what hls4ml's C++ computes), masks composing with
    it; the baseline the tolerance is measured against stays the float model's metric.
    """

    loss: Any
    optimizer: Any = "adam"
    metric: Any = "accuracy"
    increasing: bool = True
    rtol: float = 0.975
    epochs: int = 10
    batch_size: int = 128
    ranking: RankingMetric = RankingMetric.L1
    local: bool = False
    rewinding_epochs: int = 1
    cutoff_bad_trials: int = 1
    tuner: Tuner | None = None
    knapsack_solver: KnapsackMethod = KnapsackMethod.AUTO
    regularization_range: tuple[float, ...] | None = None
    callbacks: tuple[Any, ...] = ()
    verbose: bool = False
    policy: LoopPolicy = field(default_factory=LoopPolicy)
    target: Target | None = None
    quantization: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "epochs", int(self.epochs))
        object.__setattr__(self, "rewinding_epochs", int(self.rewinding_epochs))
        object.__setattr__(self, "callbacks", tuple(self.callbacks or ()))
        if self.regularization_range is not None:
            object.__setattr__(self, "regularization_range", tuple(float(v) for v in self.regularization_range))
        if self.rewinding_epochs < 0 or self.epochs <= self.rewinding_epochs:
            raise ConfigError(
                f"epochs ({self.epochs}) must be larger than rewinding_epochs ({self.rewinding_epochs})"
            )
        # the user's strings become members here, once; nothing below compares them as strings
        object.__setattr__(self, "ranking", parse_ranking(self.ranking))
        object.__setattr__(self, "tuner", parse_tuner(self.tuner))
        object.__setattr__(self, "knapsack_solver", parse_knapsack_method(self.knapsack_solver))
        object.__setattr__(self, "target", parse_target(self.target))
        if int(self.batch_size) < 1:
            raise ConfigError(f"batch_size {self.batch_size}: must be ≥ 1")


# --------------------------------------------------------------------------------------------
# Argument handling
# --------------------------------------------------------------------------------------------


def checked_data(model: Any, data: Any, loss_fn: Any) -> DataStreams:
    """The flow's data checks (numbers, finite, sample counts, matching shapes, inputs that fit the
    model, labels that fit its output and the loss), each naming the array or file; the data as
    :class:`~hls_opt.data.DataStreams`.

    ``data``: ``(X_train, y_train, X_val, y_val)`` arrays, ``(train, val)`` streams of ``(x, y)``
    batches (``tf.data.Dataset`` / ``keras.utils.PyDataset``), a :class:`~hls_opt.data.TrainingData`,
    or anything :func:`~hls_opt.data.load_data` takes (``.npz``, a folder of ``.npy`` or shards).
    Streams and files are checked on their first :data:`~hls_opt.data.CHECK_SAMPLES` samples with the
    checks arrays get whole, so both give the same messages.
    """
    check_single_output(model)
    check_trainable_names(model)
    streams = load_data(data)
    check_single_input(model, streams.source)
    probe = streams.probe()
    if len(getattr(model, "inputs", ())) == 1:
        check_input_shape(probe, tuple(model.input_shape[1:]))
    if len(getattr(model, "outputs", ())) == 1:
        check_targets(probe, tuple(model.output_shape[1:]))
        if len(model.output_shape) == 2:
            check_targets_for_loss(probe, loss_fn, model.output_shape[-1])
    return streams


#: What TensorFlow takes as a name scope (``tensorflow/python/framework/ops.py``
#: ``_VALID_SCOPE_NAME_REGEX``); Keras' TensorFlow backend opens one per layer name when it traces a
#: call (``keras/src/backend/tensorflow/core.py`` ``name_scope``), so training a model with any other
#: name fails inside ``fit`` ("in user code: … is not a valid scope name").
_TF_SCOPE_NAME = re.compile(r"^[A-Za-z0-9_.\\/>-]*$")


def check_trainable_names(model: Any) -> None:
    """Raise :class:`ModelError` naming the layer when the running Keras backend cannot train a
    model with its name (TensorFlow: a space, non-ASCII letters…, :data:`_TF_SCOPE_NAME`), before
    any training.  ``estimate`` and one-shot pruning never trace the model and take it."""
    if keras.backend.backend() != "tensorflow":
        return
    pending = [model]
    while pending:
        layer = pending.pop(0)  # in the model's order: the first bad name is the one reported
        name = str(getattr(layer, "name", ""))
        if not _TF_SCOPE_NAME.match(name):
            bad = sorted({c for c in name if not _TF_SCOPE_NAME.match(c)})
            kind = "model" if layer is model else "layer"
            raise ModelError(
                f"{kind} {name!r}: TensorFlow cannot train a {kind} of this name ({', '.join(map(repr, bad))} "
                "not allowed in a name scope: letters A-Z a-z, digits, _ . / > -); rename it, or run "
                "without data (one-shot pruning)"
            )
        pending[:0] = getattr(layer, "layers", None) or ()


def fit(model: Any, data: Any, timer: Timer | None = None, **kwargs: Any) -> Any:
    """:func:`hls_opt.train.data.fit`, counting the epochs run in ``timer.counts['epochs']``."""
    history = _data_fit(model, data, **kwargs)
    if timer is not None:
        timer.count("epochs", len(getattr(history, "epoch", ()) or ()))
    return history


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
        if len(var.shape) == 0 or "hls_opt_" in var.name:  # masks / strengths as optimizer state
            continue
        var.assign(np.zeros(tuple(var.shape), dtype=var.dtype))


# --------------------------------------------------------------------------------------------
# The trainer's state, driven one step at a time
# --------------------------------------------------------------------------------------------


@dataclass
class Trial:
    """One step's choice: the selection, its kernel-shaped masks and offsets; with a reuse-factor
    budget (:class:`~hls_opt.solve.rf_problem.JointChooser`) also every layer's chosen ``configs`` and
    the backend's estimate at them (``achieved``)."""

    target: float
    selection: Any
    masks: dict[str, np.ndarray]
    offsets: dict[str, np.ndarray]
    configs: dict[str, Any] | None = None
    achieved: np.ndarray | None = None


class FineTuner:
    """A working copy of ``model`` under masks, and how to train it; nothing of the caller's changes.

    Every grouped kernel gets a :class:`~hls_opt.train.masking.MaskConstraint` and a group
    regulariser before the one compile (one traced train function for the whole run: masks change
    by ``assign``).  A caller (the loop below, or a pass) drives it one step at a time:
    :meth:`regularise` once, then per trial :meth:`select` → :meth:`apply` → :meth:`fine_tune`, then
    :meth:`rewind` (or :meth:`restore`), and at the end :meth:`polish` and :meth:`result`.
    """

    def __init__(
        self,
        model: Any,
        groups: list,
        data: DataStreams,
        options: FineTuneOptions,
        timer: Timer | None = None,
        chooser: Any = None,
    ) -> None:
        self.timer = timer if timer is not None else Timer()
        with self.timer.phase("setup"):
            self._setup(model, groups, data, options, chooser)

    def _setup(self, model: Any, groups: list, data: DataStreams, options: FineTuneOptions, chooser: Any) -> None:
        """The working copy (clone, masks, regularisers, compile), the data's ``fit`` input and the
        baseline evaluation (the predictor's first trace); timed as ``setup``."""
        self.model, self.groups, self.options = model, list(groups), options
        self.chooser = chooser  # a JointChooser: each step also picks every layer's reuse factor
        self.data = data
        # ranking that needs gradients or losses reads this bounded sample of the validation data:
        # its first MAX_RANKING_SAMPLES samples (the ranking itself reads no more than that)
        self.ranking_data = data.val.first(MAX_RANKING_SAMPLES)
        self.metric = ValidationMetric(options.metric, self.ranking_data[1])
        self.loss = fresh_loss(options.loss)
        self.normalise = "none" if options.local else options.policy.normalise
        native().under_distribution()
        float_baseline = None
        if options.quantization:
            # fine-tune what the hardware computes; measure the tolerance against the float model
            float_baseline = evaluate(self.metric, Predictor(model), data.val)
            self.work = quantized_copy(model, options.quantization)
        else:
            self.work = clone_model(model)
        masked = [g.name for g in self.groups]
        if chooser is not None:
            masked += [n for n in chooser.prunable if n not in masked]
        self.constraints = attach_mask_constraints(self.work, masked)
        self.regs = attach_regularizers(self.work, self.groups)
        # several train steps per call of the traced function (TensorFlow: the same steps, the same
        # weights, half the epoch time on small tasks); one when the caller's callbacks see batches
        steps_per_execution = 1 if options.callbacks else native().steps_per_execution()
        self.work.compile(
            optimizer=fresh_optimizer(options.optimizer),
            loss=self.loss,
            jit_compile=native().FIT_JIT_COMPILE,
            steps_per_execution=steps_per_execution,
        )
        # built now, inside whatever distribution is in force: its slots take their kernels' layouts,
        # and the state a jitted step is laid out for is complete before the first trace
        self.work.optimizer.build(self.work.trainable_variables)
        if not native().TRAIN_FUNCTION_SEES_ASSIGNS:  # JAX: masks and strengths are the step's state
            kernels = {name: self.work.get_layer(name).kernel for name in self.constraints}
            masks_as_optimizer_state(self.work.optimizer, self.constraints, kernels)
            strengths_as_optimizer_state(self.work, self.regs)
        self._predict = Predictor(self.work)
        self.ds = fit_input(data.train, int(options.batch_size))
        if float_baseline is not None:
            # quantization-aware training of the unpruned model first: the start every step prunes
            # from, and what is returned when no step is accepted
            with self.timer.phase("training"):
                fit(self.work, self.ds, self.timer, epochs=options.epochs)
        self.start = self.evaluate()  # the working model's metric before any pruning
        self.baseline = self.start if float_baseline is None else float_baseline
        self.baseline_weights = self.work.get_weights()

    def evaluate(self) -> float:
        """The validation metric of the working model now, streamed over the validation data."""
        with self.timer.phase("evaluation"):
            return evaluate(self.metric, self._predict, self.data.val)

    def snapshot(self) -> list:
        return self.work.get_weights()

    def restore(self, weights: list) -> None:
        self.work.set_weights(weights)

    def regularise(self, probe: float) -> float:
        """Choose the regularisation strength (:func:`_choose_strength`, pruning to ``probe`` to score
        it); it stays on for the steps only when the policy keeps it.  Returns the strength."""
        if not self.groups:
            return 0.0
        o = self.options
        rrange = DEFAULT_REGULARIZATION_RANGE if o.regularization_range is None else list(o.regularization_range)
        with self.timer.phase("regularisation"):
            strength = _choose_strength(
                self.work, self.regs, self.groups, self.ds, self.evaluate, self.baseline, o, rrange, probe,
                self.ranking_data, self.normalise, self.timer,
            )
        logger.info("regularisation strength %.3g", strength)
        if not o.policy.keep_regulariser:
            set_strength(self.regs, 0.0)
        return strength

    def select(self, target: float) -> Trial:
        """Rank the groups on the working weights and keep the best within ``target`` (the knapsack)."""
        if self.chooser is not None:
            return self._select_jointly(target)
        o = self.options
        with self.timer.phase("solving"):
            values = group_values(
                self.work, self.groups, o.ranking, data=self.ranking_data, loss_fn=self.loss,
                normalise=self.normalise,
            )
            selection = select_groups(self.groups, values, target, local=o.local, knapsack_solver=o.knapsack_solver)
            masks, offsets = masks_from_selection(_kernels(self.work, self.groups), self.groups, selection)
        return Trial(float(target), selection, masks, offsets)

    def _select_jointly(self, target: float) -> Trial:
        """Rank every weight, then let the joint solver pick each layer's reuse factor and the groups
        (of that RF's grouping) to keep within ``target`` and the latency / II budgets."""
        o, chooser = self.options, self.chooser
        with self.timer.phase("solving"):
            groups = chooser.weight_groups()
            values = group_values(
                self.work, groups, o.ranking, data=self.ranking_data, loss_fn=self.loss, normalise="none"
            )
            plan = chooser.choose(chooser.importances(groups, values), target)
        masks = {n: np.asarray(plan.masks[n], np.float32) if n in plan.masks else None for n in self.constraints}
        masks = {n: (m if m is not None else np.ones(tuple(self.constraints[n].mask.shape), np.float32)) for n, m in masks.items()}
        offsets = {n: np.zeros_like(m) for n, m in masks.items()}
        return Trial(float(target), plan.selection, masks, offsets, configs=dict(plan.configs), achieved=chooser.achieved(plan))

    def apply(self, masks: dict[str, np.ndarray], offsets: dict[str, np.ndarray]) -> None:
        """Mask the working weights now and keep them masked through every later ``fit``."""
        apply_masks(self.work, masks, offsets)
        for name, constraint in self.constraints.items():
            constraint.assign(masks[name], offsets[name])

    def fine_tune(self) -> tuple[float, int]:
        """Train under the current masks by the policy; ``(validation metric, epochs run)``.

        ``'recover'`` trains only while the metric is below the baseline (a step that loses nothing
        is not trained); ``'full'`` trains every step its ``epochs − rewinding_epochs`` epochs."""
        o = self.options
        budget = o.epochs - o.rewinding_epochs
        value = self.evaluate()
        if budget <= 0:
            return value, 0
        if o.policy.fine_tune is FineTune.FULL:
            with self.timer.phase("training"):
                fit(self.work, self.ds, self.timer, epochs=budget)
            return self.evaluate(), budget
        if at_least_as_good(value, self.baseline, o.increasing):
            return value, 0
        stopper = StopWhenRecovered(self.evaluate, self.baseline, o.increasing)
        with self.timer.phase("training"):
            fit(self.work, self.ds, self.timer, epochs=budget, callbacks=[stopper])
        return (stopper.last if stopper.last is not None else self.evaluate()), stopper.epochs_run

    def accepts(self, value: float) -> bool:
        """Whether ``value`` is within ``rtol`` of the baseline."""
        return meets(value, self.baseline, self.options.rtol, self.options.increasing)

    def rewind(self) -> None:
        """"Rewinding" (hls4ml's ``optimize_model`` loop, dsp_aware_pruning/keras/__init__.py): a
        short unmasked fit lets pruned weights regrow, so the next ranking can revise this choice."""
        o = self.options
        if o.rewinding_epochs <= 0:
            return
        for constraint in self.constraints.values():
            constraint.assign(np.ones(tuple(constraint.mask.shape), dtype=np.float32), None)
        with self.timer.phase("training"):
            fit(self.work, self.ds, self.timer, epochs=o.rewinding_epochs, callbacks=list(o.callbacks))

    def polish(self, weights: list, trial: Trial, value: float) -> tuple[list, float]:
        """The accepted model alone gets ``POLISH_EPOCHS_FACTOR × epochs`` of fine-tuning under its
        masks, keeping the epoch with the best validation metric; ``(weights, metric)``."""
        epochs = POLISH_EPOCHS_FACTOR * self.options.epochs
        if epochs <= 0:
            return weights, value
        self.restore(weights)
        self.apply(trial.masks, trial.offsets)
        keeper = KeepBest(self.evaluate, value, weights, self.options.increasing)
        with self.timer.phase("polish"):
            fit(self.work, self.ds, self.timer, epochs=epochs, callbacks=[keeper])
        logger.info(
            "polish: %s %.4f -> %.4f (epoch %d of %d)",
            self.metric.name, value, keeper.best_value, keeper.best_epoch, epochs,
        )
        return keeper.best_weights, float(keeper.best_value)

    def result(self, weights: list, reduce: bool) -> tuple[Any, float | None]:
        """A clean, compiled copy of the caller's architecture with ``weights`` (pruned neurons removed
        when ``reduce``); with the metric of the reduced model (None when not reduced)."""
        o = self.options
        model = clone_model(self.model)
        model.set_weights(weights)
        metric = None
        if reduce:
            model = reduce_model(model)
            metric = evaluate(self.metric, Predictor(model), self.data.val)
        keras_metric = self.metric.keras_metric()
        model.compile(
            optimizer=fresh_optimizer(o.optimizer),
            loss=fresh_loss(o.loss),
            metrics=[keras_metric] if keras_metric is not None else None,
        )
        return model, metric


# --------------------------------------------------------------------------------------------
# The loop
# --------------------------------------------------------------------------------------------


def prune_with_fine_tuning(
    model: Any,
    problem: PruningProblem,
    scheduler: Any,
    data: Any,
    options: FineTuneOptions,
    *,
    reduce: bool | None = None,
) -> OptimizationOutcome:
    """Optimize a copy of ``model`` for ``problem`` under ``scheduler``; nothing of the caller's changes.

    ``data``: ``(X_train, y_train, X_val, y_val)``, ``(train, val)`` streams of ``(x, y)`` batches,
    or anything :func:`checked_data` takes (:class:`~hls_opt.data.DataStreams`, ``TrainingData``).
    ``reduce``: remove pruned neurons/filters from the returned model; ``None`` means the
    problem's rule (only where the saving needs it, GPU FLOPs).  The compiler flow passes
    ``False`` because its own ``reduce`` pass does that after the rewrite, on weights that still
    match its graph.  Each step's ``achieved`` is ``problem.achieved(masks)``.
    """
    o = options
    if o.target is Target.MAX:
        scheduler = MaxCutScheduler()
    _check_scheduler(scheduler)
    scheduler = copy.deepcopy(scheduler)
    # --- resource budgets as targets: aim the search at the cut that fits ---
    cut = None
    if isinstance(scheduler, BudgetScheduler):
        cut = required_cut(problem, scheduler.limits, scheduler.budgets)  # InfeasibleBudget: before training
        if cut is None or cut.sparsity <= 0:  # nothing to cut for the budget: the user's schedule
            scheduler, cut = copy.deepcopy(scheduler.fallback) or default_scheduler(), None
            _check_scheduler(scheduler)
        elif not scheduler.resolved:
            scheduler = scheduler.for_sparsity(cut.sparsity)
    # ---
    data = checked_data(model, data, o.loss)
    names, total = problem.resource_names, np.asarray(problem.baseline, dtype=np.float64)
    if cut is not None and problem.joint is not None:
        total = np.asarray(problem.joint.baseline, dtype=np.float64)
    timer = Timer()
    with timer.phase("total"):
        tuner = FineTuner(model, list(problem.groups), data, o, timer, chooser=problem.joint)
        baseline = tuner.baseline
        report = ", ".join(f"{n} {v:.0f}" for n, v in zip(names, total))
        logger.info(
            "baseline %s on validation data: %.4f; %d optimizable layers; %s",
            tuner.metric.name, baseline, len(tuner.groups), report,
        )
        if o.verbose:
            status(f"hls-opt: baseline {tuner.metric.name} {baseline:.4f}, {report}")
        strength = tuner.regularise(_probe_sparsity(scheduler))
        if not tuner.groups:
            logger.warning(
                "objective %s finds no optimizable layer in model %s; returning the baseline",
                problem.label, getattr(model, "name", "?"),
            )

        steps: list[Step] = []
        best: tuple[list, Trial, float, np.ndarray] | None = None  # weights, trial, metric, achieved
        resume = tuner.snapshot()
        target, bad_trials = float(scheduler.get_sparsity()), 0
        while tuner.groups or tuner.chooser is not None:
            trial = tuner.select(target)
            tuner.apply(trial.masks, trial.offsets)
            value, epochs_run = tuner.fine_tune()
            accepted = tuner.accepts(value)
            achieved = trial.achieved if trial.achieved is not None else problem.achieved(trial.masks)
            steps.append(
                Step(
                    target=target,
                    achieved=dict(zip(names, achieved)),
                    metric=value,
                    accepted=accepted,
                    epochs=epochs_run,
                )
            )
            line = (
                f"step {len(steps)}: target {target:.3f} | "
                + ", ".join(f"{n} {a:.0f}/{t:.0f}" for n, a, t in zip(names, achieved, total))
                + f" | {tuner.metric.name} {value:.4f} (baseline {baseline:.4f}) | "
                + ("accepted" if accepted else "rejected")
                + f" | {epochs_run} epochs"
            )
            logger.info(line)
            if o.verbose:
                status("hls-opt: " + line)
            if accepted:
                bad_trials = 0
                best = (tuner.snapshot(), trial, float(value), achieved)
                go, target = scheduler.update_step()
            else:
                bad_trials += 1
                go, target = scheduler.repair_step()
                if o.policy.on_reject is OnReject.RESTORE:
                    tuner.restore(resume)  # the next trial starts from the last good state
            target = float(target)
            stop = bad_trials > o.cutoff_bad_trials and not getattr(scheduler, "self_terminating", False)
            if stop or not go:
                break
            if accepted or o.policy.on_reject is OnReject.CONTINUE:
                tuner.rewind()
                resume = tuner.snapshot()

        if cut is not None and not cut.fits(best[3] if best is not None else total, names) and not any(
            cut.fits(st.achieved) for st in steps
        ):
            # The budget is not met and no trial reached it: one probe at the cut that fits, to say
            # what it would cost (recorded as a rejected step with "probe": true; the best design
            # found stays the result).
            trial = tuner.select(cut.sparsity)
            tuner.apply(trial.masks, trial.offsets)
            value, epochs_run = tuner.fine_tune()
            achieved = trial.achieved if trial.achieved is not None else problem.achieved(trial.masks)
            steps.append(
                Step(
                    target=cut.sparsity,
                    achieved=dict(zip(names, achieved)),
                    metric=value,
                    accepted=False,
                    epochs=epochs_run,
                    probe=True,
                )
            )
            logger.info("budget probe at %.3f: %s %.4f (baseline %.4f)", cut.sparsity, tuner.metric.name, value, baseline)
        if best is None:
            logger.info("no pruning step met rtol=%s; returning the baseline weights", o.rtol)
            final_weights, final_metric_value, final_resources = tuner.baseline_weights, tuner.start, total
            masks = {g.name: np.ones(g.kernel_shape, dtype=np.float32) for g in tuner.groups}
            offsets = {g.name: np.zeros(g.kernel_shape, dtype=np.float32) for g in tuner.groups}
            pruned = shared = 0
            configs = None
            if tuner.chooser is not None:  # nothing pruned, but the budgets still set every layer's RF
                unpruned = tuner.chooser.choose({}, 0.0)
                configs, final_resources = dict(unpruned.configs), tuner.chooser.achieved(unpruned, {})
        else:
            weights, trial, value, final_resources = best
            final_weights, final_metric_value = tuner.polish(weights, trial, value)
            masks, offsets = trial.masks, trial.offsets
            pruned, shared = selection_counts(trial.selection)
            configs = trial.configs
        reduced = best is not None and bool(problem.reduce_structures if reduce is None else reduce)
        result, reduced_metric = tuner.result(final_weights, reduced)
        if reduced_metric is not None:
            final_metric_value = reduced_metric
    timings = dict(timer.totals)
    for key in ("setup", "training", "regularisation", "solving", "evaluation", "polish"):
        timings.setdefault(key, 0.0)
    summary = (
        f"done: {tuner.metric.name} {baseline:.4f} -> {final_metric_value:.4f}; "
        + ", ".join(f"{n} {t:.0f} -> {f:.0f}" for n, t, f in zip(names, total, final_resources))
        + f"; {pruned} groups pruned, {shared} shared; {timings['total']:.1f} s "
        + f"(training {timings['training']:.1f}, regularisation {timings['regularisation']:.1f}, "
        + f"solving {timings['solving']:.1f}, polish {timings['polish']:.1f}, "
        + f"evaluation {timings['evaluation']:.1f}; {timer.counts.get('epochs', 0)} epochs)"
    )
    logger.info(summary)
    if o.verbose:
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
        configs=configs,
        epochs_trained=int(timer.counts.get("epochs", 0)),
    )


def _choose_strength(
    work: Any,
    regs: dict,
    groups: list,
    ds: Any,
    evaluate: Any,
    baseline: float,
    options: FineTuneOptions,
    rrange: list[float],
    probe: float,
    val_data: tuple,
    normalise: str = "mean",
    timer: Timer | None = None,
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
    tuner, increasing, rtol, epochs = options.tuner, options.increasing, options.rtol, options.epochs
    local, knapsack_solver, loss = options.local, options.knapsack_solver, fresh_loss(options.loss)
    if tuner is Tuner.MANUAL:
        strength = float(rrange[0]) if rrange else 0.0
        set_strength(regs, strength)
        return strength
    search_epochs = max(1, min(2, epochs // 2))
    start = work.get_weights()
    probe_metric = RankingMetric.L1 if options.ranking is RankingMetric.ORACLE else options.ranking
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
            fit(work, ds, timer, epochs=search_epochs)  # timed as "regularisation" by the caller
        # zero trains nothing: the weights are the search's start, whose metric is the baseline
        unpruned = baseline if strength == 0 else evaluate()
        trained = work.get_weights()
        values = group_values(work, groups, probe_metric, data=val_data, loss_fn=loss, normalise=normalise)
        selection = select_groups(groups, values, probe, local=local, knapsack_solver=knapsack_solver)
        masks, offsets = masks_from_selection(_kernels(work, groups), groups, selection)
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
        tuner is Tuner.BAYESIAN and _keras_tuner_search(score, rrange, directory_hint="hls_opt_regularisation")
    ):
        if tuner is not None:  # Bayesian without keras-tuner, or Hyperband (Manual returned above)
            _log_tuner_fallback(tuner)
        for strength in candidate_strengths(rrange):
            score(strength)
    passing = [(v[1], -k, k) for k, v in tried.items() if v[0]]  # best score, then the smaller strength
    strength = max(passing)[2] if passing else 0.0
    work.set_weights(tried[strength][2] if strength in tried else start)
    set_strength(regs, strength)
    _reset_optimizer(work.optimizer)
    return strength


def _log_tuner_fallback(tuner: Tuner) -> None:
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
            if tuner is Tuner.BAYESIAN
            else "only 'Bayesian' is run through keras-tuner"
        )
    logger.info("tuner=%r: %s; using the built-in regularisation search", tuner.value, reason)
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


def _kernels(model: Any, groups: list) -> dict[str, np.ndarray]:
    """The current kernels of the grouped layers (read for shared groups' means)."""
    return {g.name: np.asarray(model.get_layer(g.name).kernel.numpy()) for g in groups}
