"""The compiler flow: ``convert_and_optimize`` = frontend → named passes → emit (+ report).

::

    result = hls_opt.convert_and_optimize(model, hls_config)            # one-shot, no data
    result = hls_opt.convert_and_optimize(model, hls_config, data=(X_train, y_train, X_val, y_val),
                                          objective="dsp", rtol=0.975)  # fine-tuned, rtol honoured
    result.save("out/")   # model.keras, hls_config.yml, report.json, *.png

Inputs are checked in the order that is cheapest first: argument values, then files (config,
data, model file signature) without TensorFlow, then the Keras model itself.  Every user mistake
raises an error of :mod:`hls_opt.errors` naming the file or field; a model argument of the wrong
type raises ``TypeError``.
"""

from __future__ import annotations

import dataclasses
import difflib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hls_opt.config import (
    IOType,
    Strategy,
    check_config_keys,
    config_from_keras_model,
    device_from_config,
    hls4ml_layer_names,
    parse_budgets,
    parse_device,
    parse_strategy,
    unwrap_hls_config,
)
from hls_opt.config.precision_search import parse_precision_search
from hls_opt.config.values import RankingMetric, Target, Tuner, parse_ranking, parse_target, parse_tuner
from hls_opt.core import progress
from hls_opt.core.fileio import check_output_dir
from hls_opt.cost.feasibility import check_budgets
from hls_opt.data import (
    check_input_shape,
    check_single_input,
    check_single_output,
    check_targets,
    check_targets_for_loss,
    load_data,
)
from hls_opt.emit.hls4ml_config import emit_hls_config
from hls_opt.emit.keras_model import to_keras_model
from hls_opt.emit.precisions import chosen_names, write_precisions
from hls_opt.errors import ConfigError
from hls_opt.flow.inputs import (
    check_backend,
    check_model_file,
    check_output_path,
    check_positive_int,
    check_rtol,
    is_keras_model,
    load_hls_config,
    load_model,
    parse_scheduler,
)
from hls_opt.flow.report import build_report, precision_report
from hls_opt.flow.result import OptimizationResult
from hls_opt.flow.settings import (
    compile_for_keras,
    compile_like,
    default_metric,
    metric_increasing,
    training_settings_from_model,
)
from hls_opt.frontend.keras import check_flat_model, from_keras
from hls_opt.objectives.adapter import objective_for
from hls_opt.passes import PassContext, default_flow, get_pass, run_flow
from hls_opt.passes.plan import PLAN_KEY
from hls_opt.passes.precision_search import PRECISION_KEY
from hls_opt.solve.budget_cut import resource_limits
from hls_opt.solve.knapsack import KnapsackMethod, parse_knapsack_method
from hls_opt.solve.precision_problem import narrowest_graph
from hls_opt.solve.rf_problem import RFMode
from hls_opt.train.schedulers import BudgetScheduler, MaxCutScheduler

if TYPE_CHECKING:
    from hls_opt.config import Budgets, Device
    from hls_opt.config.precision_search import PrecisionSearch
    from hls_opt.data.sources import DataStreams
    from hls_opt.ir.graph import Graph
    from hls_opt.solve.pruning import ObjectiveLike
    from hls_opt.train.schedulers import OptimizationScheduler


logger = logging.getLogger(__name__)


def check_objective(objective: Any) -> Any:
    """The core's objective for ``objective`` (:func:`hls_opt.objectives.adapter.objective_for`), now,
    so an unknown name fails before any work."""
    return objective_for(objective)


# ------------------------------------------------------------------------------------------
# The flow
# ------------------------------------------------------------------------------------------


def convert_and_optimize(
    model: Any,
    hls_config: Any = None,
    *,
    data: Any = None,
    objective: Any = "dsp",
    scheduler: Any = None,
    rtol: float = 0.975,
    epochs: int = 10,
    batch_size: int = 128,
    backend: str = "vivado",
    output_dir: str | Path | None = None,
    loss: Any = None,
    optimizer: Any = None,
    metric: Any = None,
    increasing: bool | None = None,
    passes: Sequence[str] | None = None,
    ranking_metric: str = "l1",
    local: bool = False,
    knapsack_solver: str = "auto",
    tuner: str | None = None,
    target: str | None = None,
    optimize_kwargs: Mapping[str, Any] | None = None,
    strict: bool = False,
    device: Any = None,
    latency_budget: Any = None,
    ii_budget: Any = None,
    dsp_budget: Any = None,
    bram_budget: Any = None,
    clock_period: Any = None,
    rf_mode: str = "fixed",
    quantize: bool = False,
    # precision chosen with the RFs (docs/precision.md); objective may then be 'ebops' / 'fit'
    precision: Any = None,
    min_bits: Any = None,
    max_bits: Any = None,
    rounding: Any = None,
    saturation: Any = None,
    lut_budget: Any = None,
) -> OptimizationResult:
    """Optimize a trained Keras model for the hardware hls4ml will build from it.

    - ``model``: ``keras.Model`` or a ``.keras``/``.h5`` path (TypeError for anything else).
    - ``hls_config``: hls4ml config dict, YAML/JSON path, or ``None`` (``config_from_keras_model(model,
      granularity='name')`` with hls4ml's defaults).
    - ``data``: ``(X_train, y_train, X_val, y_val)`` or an ``.npz`` with those keys; a folder of
      ``X_train.npy``, ``y_train.npy``, ``X_val.npy``, ``y_val.npy`` (memory-mapped) or of ``.npz``
      shards with those keys; or ``(train, val)``, each a ``tf.data.Dataset`` / ``keras.utils.PyDataset``
      of ``(x, y)`` batches (docs/data.md: batches are streamed, never concatenated).  Without data:
      one-shot post-training pruning to the scheduler's final sparsity (the report says
      ``"mode": "one-shot"``); with data: fine-tuning, accepting only steps within ``rtol``.
    - ``rtol``: in (0, 1]; a step is accepted when its metric is ≥ ``rtol`` · baseline (higher is
      better) or ≤ baseline / ``rtol`` (lower is better, ``increasing=False``).
    - ``objective``: a registered name (``'dsp'``, ``'bram'``, ``'dsp+bram'``, …), a comma string
      or list of names, or an estimator class.
    - ``loss``/``optimizer``/``metric``: default to the model's compile config; with data, a loss
      from neither is a :class:`ConfigError`.  No metric from either: ``'accuracy'`` for a
      classification loss, else the loss (lower is better).  ``increasing`` defaults from the
      metric's name.
    - ``passes``: the pass list (default :func:`hls_opt.passes.default_flow`).
    - ``optimize_kwargs``: more trainer settings (:data:`OPTIMIZE_KWARGS`: ``rewinding_epochs``,
      ``cutoff_bad_trials``, ``tuner``, ``regularization_range``, ``callbacks``, ``verbose``, ``policy``;
      ``ranking``, ``local``, ``knapsack_solver`` replace the arguments of those names); an unknown key,
      one that is an argument here (``epochs``…) or a bad value is a :class:`ConfigError` naming
      ``optimize_kwargs['key']``, before anything is loaded.
    - ``tuner``: how the regularisation strength is searched: ``None`` (default) is hls-opt's
      built-in search, cheap and deterministic; ``'Bayesian'`` uses keras-tuner when installed.
      (``optimize_model`` keeps hls4ml's default ``'Bayesian'``.)
    - ``target``: ``'max'`` searches for the deepest cut within ``rtol`` instead of following the
      scheduler (:class:`~hls_opt.train.schedulers.MaxCutScheduler`; needs data); the report's ``front``
      holds the accuracy–resource front the search saw.
    - ``output_dir``: when given, :meth:`OptimizationResult.save` is called on it.
    - ``quantize``: fine-tune under fake quantization to the graph's types (every layer's resolved
      ``LayerConfig``: weight, bias, accum, result, the split-off activation's result), so the metrics
      are the hardware's; the emitted model holds the weights as their types hold them and the emitted
      config spells out every layer's types; ``result.quantized_model`` computes what hls4ml's compiled
      C++ computes (docs/precision.md, "bit-exact").
    - ``strict``: keys of ``hls_config`` hls4ml would ignore (misspelt or unknown top-level and
      ``Model`` keys, ``LayerName`` entries naming no layer) are a :class:`ConfigError` instead of
      a warning each (:func:`hls_opt.config.check_config_keys`).
    - ``device``: a part name (``'xcvu9p'``, hls4ml's ``Part`` spellings) or a
      :class:`~hls_opt.config.Device`; the report gives the fraction of it the design uses.
      Default: the device the config's ``Part`` names, if hls-opt knows it.
    - ``latency_budget`` / ``ii_budget``: cycles (``200``) or a time (``'1us'``, with
      ``clock_period``, default the config's ``ClockPeriod``, else 5 ns).  With either, the
      optimizer chooses every layer's reuse factor together with the pruning so that the model
      meets them with the fewest resources of the objective (``docs/rf_choice.md``); without, the
      configured reuse factors are kept.  ``dsp_budget`` / ``bram_budget`` (default: the
      ``device``'s counts) are checked.  A budget the model cannot reach is an
      :class:`~hls_opt.errors.InfeasibleBudget` before any training.
    - ``rf_mode``: with a latency / II budget, ``'fixed'`` (default) picks the reuse factors once,
      the cheapest assignment within the budgets, then prunes under them; ``'joint'`` re-picks them
      with the groups at every step (:class:`~hls_opt.solve.rf_problem.RFMode`).
    - ``precision``: ``'auto'`` chooses every weighted layer's weight and result precision (and the
      model input's), with its reuse factor under a latency / II budget, within ``rtol``, then prunes as
      usual (``docs/precision.md``; needs data); ``min_bits`` / ``max_bits`` bound the candidate
      widths, ``rounding`` / ``saturation`` their modes (default AP_TRN / AP_WRAP).  ``objective``
      may then also be ``'ebops'`` or ``'fit'`` (the largest fraction of ``device``'s DSP, LUT, FF and
      BRAM; needs a device).  ``lut_budget``: LUTs the design may use (checked like ``dsp_budget``).
    """
    options = flow_options(
        objective=objective,
        scheduler=scheduler,
        rtol=rtol,
        epochs=epochs,
        batch_size=batch_size,
        backend=backend,
        output_dir=output_dir,
        loss=loss,
        optimizer=optimizer,
        metric=metric,
        increasing=increasing,
        passes=passes,
        ranking_metric=ranking_metric,
        local=local,
        knapsack_solver=knapsack_solver,
        tuner=tuner,
        target=target,
        optimize_kwargs=optimize_kwargs,
        strict=strict,
        device=device,
        budgets=BudgetArguments(latency_budget, ii_budget, dsp_budget, bram_budget, clock_period, lut_budget),
        rf_mode=rf_mode,
        quantize=quantize,
        precision=precision,
        min_bits=min_bits,
        max_bits=max_bits,
        rounding=rounding,
        saturation=saturation,
        fine_tuning=data is not None,
    )
    return optimize(model, hls_config, data, options)


@dataclass(frozen=True)
class BudgetArguments:
    """The budgets as given (cycles, times or counts); parsed once the config is read, since a time needs
    the config's ``ClockPeriod`` and the device may come from its ``Part``."""

    latency: Any = None
    ii: Any = None
    dsp: Any = None
    bram: Any = None
    clock_period: Any = None
    lut: Any = None


@dataclass(frozen=True)
class FlowOptions:
    """Every keyword of :func:`convert_and_optimize`, checked and typed (:func:`flow_options`): what the
    flow below the edge reads instead of strings and raw values."""

    objective: ObjectiveLike
    scheduler: OptimizationScheduler | None
    rtol: float
    epochs: int
    batch_size: int
    backend: str
    output_dir: str | Path | None
    loss: Any
    optimizer: Any
    metric: Any
    increasing: bool | None
    passes: tuple[str, ...]
    ranking_metric: RankingMetric
    local: bool
    knapsack_solver: KnapsackMethod
    tuner: Tuner | None
    target: Target | None
    optimize_kwargs: Mapping[str, Any]
    strict: bool
    device: Device | None
    budgets: BudgetArguments
    rf_mode: RFMode
    quantize: bool = False
    #: ``--precision auto``: the precision search's settings (``precision.auto`` false: the user's types)
    precision: PrecisionSearch | None = None
    #: ``--optimize fit``: the search balances ``device``'s resources (the pruning after it reduces LUTs)
    fit_objective: bool = False


def flow_options(*, fine_tuning: bool, **given: Any) -> FlowOptions:
    """Step 1 of the flow: the keyword arguments checked and parsed, no files, no TensorFlow.
    ``fine_tuning``: data was given (``target='max'`` and the epochs rule need it)."""
    rtol = check_rtol(given["rtol"])
    epochs = check_positive_int(given["epochs"], "epochs")
    batch_size = check_positive_int(given["batch_size"], "batch_size")
    optimize_kwargs = _checked_optimize_kwargs(given["optimize_kwargs"])
    # the user's strings become members here, once (optimize_kwargs' ranking was parsed by its check)
    ranking_metric = parse_ranking(given["ranking_metric"])
    ranking_metric = optimize_kwargs.pop("ranking", ranking_metric)
    local = optimize_kwargs.pop("local", given["local"])
    knapsack_solver = parse_knapsack_method(optimize_kwargs.pop("knapsack_solver", given["knapsack_solver"]))
    tuner = parse_tuner(optimize_kwargs.pop("tuner", given["tuner"]))
    rewinding = optimize_kwargs.get("rewinding_epochs", 1)
    if fine_tuning and epochs <= rewinding:
        # Each step fine-tunes (epochs − rewinding) masked epochs, then rewinds (as hls4ml's
        # optimize_model, hls4ml/optimization/dsp_aware_pruning/keras/__init__.py).
        raise ConfigError(
            f"epochs: must be larger than rewinding_epochs ({rewinding}) when fine-tuning, got {epochs}"
        )
    # the precision search's settings, parsed once (exit 2 before any work)
    search = parse_precision_search(
        given["precision"],
        min_bits=given["min_bits"],
        max_bits=given["max_bits"],
        rounding=given["rounding"],
        saturation=given["saturation"],
    )
    objective = given["objective"]
    device = parse_device(given["device"], key="device") if given["device"] is not None else None
    fit_objective = isinstance(objective, str) and objective.strip().lower() == "fit"
    if fit_objective:
        if device is None:
            raise ConfigError("--optimize fit: needs --device (the part whose DSP, LUT, FF and BRAM it balances)")
        # the pruning after the search removes LUT multipliers and adders alike (docs/precision.md)
        objective = "lut"
    if search.auto and not fine_tuning:
        raise ConfigError("--precision auto: choosing precisions within the tolerance needs --data (none given)")
    objective = check_objective(objective)
    backend = check_backend(given["backend"])
    sched = parse_scheduler(given["scheduler"])
    rf_mode = RFMode.parse(given["rf_mode"])
    target = parse_target(given["target"])
    if target is Target.MAX:
        if not fine_tuning:
            raise ConfigError("target: 'max' searches within the tolerance, which needs data (none given)")
        sched = MaxCutScheduler()
    passes = given["passes"]
    if passes is not None:
        flow = tuple(passes)
    elif search.auto:
        flow = ("precision-search", *default_flow(objective), "precision-verify")
    else:
        flow = tuple(default_flow(objective))
    for name in flow:
        get_pass(name)
    return FlowOptions(
        objective=objective,
        scheduler=sched,
        rtol=rtol,
        epochs=epochs,
        batch_size=batch_size,
        backend=backend,
        output_dir=given["output_dir"],
        loss=given["loss"],
        optimizer=given["optimizer"],
        metric=given["metric"],
        increasing=given["increasing"],
        passes=flow,
        ranking_metric=ranking_metric,
        local=bool(local),
        knapsack_solver=knapsack_solver,
        tuner=tuner,
        target=target,
        optimize_kwargs=optimize_kwargs,
        strict=bool(given["strict"]),
        device=device,
        budgets=given["budgets"],
        rf_mode=rf_mode,
        quantize=bool(given["quantize"]),
        precision=search,
        fit_objective=fit_objective,
    )


@dataclass(frozen=True)
class Loaded:
    """Steps 2–3: the files read and checked, the model loaded, the training settings resolved."""

    keras_model: Any
    config: Any
    training_data: DataStreams | None
    budgets: Budgets
    loss: Any
    optimizer: Any
    metric: Any
    increasing: bool | None
    several_outputs: bool
    #: the model's own compile config (used to re-compile a multi-output model like it)
    from_model: Mapping[str, Any]
    given_loss: Any
    given_optimizer: Any


def optimize(model: Any, hls_config: Any, data: Any, options: FlowOptions) -> OptimizationResult:
    """The flow over checked options: load → context → run → emit."""
    if not (isinstance(model, (str, Path)) or is_keras_model(model)):
        raise TypeError(f"model: expected a keras.Model or a .keras/.h5 path, got {type(model).__name__}")
    loaded = load_inputs(model, hls_config, data, options)
    graph = from_keras(loaded.keras_model, loaded.config)
    before = graph.copy()
    context = pass_context(graph, loaded, options)
    with progress.progress("optimizing", total=len(options.passes)) as bar:

        def on_pass(name: str) -> None:
            bar.set_postfix_str(name)

        def on_done(name: str, changed: bool) -> None:
            bar.update(1)

        results = run_flow(graph, options.passes, context, on_pass=on_pass, on_done=on_done)
    result = emit_result(before, graph, results, loaded, options)
    if options.output_dir is not None:
        result.save(options.output_dir)
    return result


def load_inputs(model: Any, hls_config: Any, data: Any, options: FlowOptions) -> Loaded:
    """Steps 2 and 3: files (no TensorFlow yet), then the model and the training settings."""
    # 2. Files (still no TensorFlow).
    if options.output_dir is not None:
        check_output_path(options.output_dir, "output_dir")
        check_output_dir(
            options.output_dir,
            inputs={"model": model, "config": hls_config, "data": data},
            field="output_dir",
        )
    if isinstance(model, (str, Path)):
        check_model_file(model)
    cfg, source = load_hls_config(hls_config)
    check_config_keys(cfg, source=source, strict=options.strict)  # the layer names once the model is loaded
    b = options.budgets
    budgets = parse_budgets(
        latency=b.latency,
        ii=b.ii,
        dsp=b.dsp,
        bram=b.bram,
        device=options.device,
        clock_period=b.clock_period,
        hls_config=cfg,
        config_source=source if isinstance(hls_config, (str, Path)) else None,
        lut=b.lut,
    )
    training_data = load_data(data) if data is not None else None
    probe = training_data.probe() if training_data is not None else None  # what the checks look at

    # 3. The model.
    with progress.progress("loading the model"):
        keras_model = load_model(model)
    check_flat_model(keras_model)  # a sub-model's layers would be neither estimated nor pruned
    if training_data is not None:
        check_single_output(keras_model)  # several outputs: one-shot only (no data)
        check_single_input(keras_model, training_data.source)  # one X array per sample: one input
    if probe is not None and _single_input(keras_model):
        check_input_shape(probe, tuple(keras_model.input_shape[1:]))
    if probe is not None and _single_output(keras_model):
        check_targets(probe, tuple(keras_model.output_shape[1:]))
    if cfg is None:
        cfg = config_from_keras_model(keras_model, granularity="name")
    else:
        check_config_keys(
            cfg, source=source, layer_names=hls4ml_layer_names(keras_model), keys=False, strict=options.strict
        )

    from_model = training_settings_from_model(keras_model)
    loss = options.loss if options.loss is not None else from_model.get("loss")
    optimizer = options.optimizer if options.optimizer is not None else from_model.get("optimizer", "adam")
    metric, increasing = options.metric, options.increasing
    if training_data is not None and loss is None:
        raise ConfigError("loss: the model has no compile config with a loss and none was given (--loss)")
    if training_data is not None and _single_output(keras_model):
        outputs = keras_model.output_shape[-1] if len(keras_model.output_shape) == 2 else None
        check_targets_for_loss(probe, loss, outputs)
    several_outputs = not _single_output(keras_model)  # one-shot only (checked above)
    if metric is None and not several_outputs:
        metric = from_model.get("metric")
    if metric is None and not several_outputs:
        metric, lower_is_better = default_metric(loss)
        if increasing is None:
            increasing = not lower_is_better
    if increasing is None:
        increasing = metric_increasing(metric) if metric is not None else True
    return Loaded(
        keras_model=keras_model,
        config=cfg,
        training_data=training_data,
        budgets=budgets,
        loss=loss,
        optimizer=optimizer,
        metric=metric,
        increasing=increasing,
        several_outputs=several_outputs,
        from_model=from_model,
        given_loss=options.loss,
        given_optimizer=options.optimizer,
    )


def pass_context(graph: Graph, loaded: Loaded, options: FlowOptions) -> PassContext:
    """Step 4: the budgets checked against what the graph can reach (before any training), and the
    run's settings for the passes."""
    budgets = loaded.budgets
    # budgets on the objective's resources drive the search (like target='max'): docs/cli.md
    scheduler = budget_schedule(options.objective, budgets, options.scheduler, options.target)
    limits = (budgets.latency_cycles, budgets.ii_cycles, budgets.dsp_limit, budgets.bram_limit, budgets.lut_limit)
    if any(x is not None for x in limits):
        # before any training: the best each axis can reach (with --precision auto: at the narrowest
        # width; a budget that drives the pruning: the all-pruned design, which the pass checks)
        search = options.precision
        pruned = getattr(scheduler, "limits", {})
        if search is not None and search.auto:
            check_budgets(
                narrowest_graph(graph, search),
                options.backend,
                budgets,
                pruned,
                precision_note=f", even with every width at --min-bits {search.min_bits}",
            )
        else:
            check_budgets(graph, options.backend, budgets, pruned)
    # imports Keras (the model is loaded by now)
    from hls_opt.train.engine import FineTuneOptions, check_trainable_names

    if loaded.training_data is not None:
        check_trainable_names(loaded.keras_model)  # before any training: names the Keras backend can trace
        kwargs = dict(options.optimize_kwargs)
        increasing = bool(loaded.increasing)
        training = FineTuneOptions(
            loss=loaded.loss,
            optimizer=loaded.optimizer,
            metric=loaded.metric,
            increasing=increasing,
            # The flow's rtol is a ratio in (0, 1] in either direction; the loop takes hls4ml's
            # factor (accept metric ≤ rtol · baseline when lower is better), so invert it there.
            rtol=options.rtol if increasing else 1.0 / options.rtol,
            epochs=options.epochs,
            batch_size=options.batch_size,
            ranking=options.ranking_metric,
            local=options.local,
            knapsack_solver=options.knapsack_solver,
            tuner=options.tuner,
            target=options.target,
            **kwargs,
        )
    else:  # one-shot pruning reads only how to rank and select
        training = FineTuneOptions(
            loss=None, ranking=options.ranking_metric, local=options.local, knapsack_solver=options.knapsack_solver
        )
    return PassContext(
        backend=options.backend,
        objective=options.objective,
        scheduler=scheduler,
        data=loaded.training_data,
        training=training,
        budgets=budgets,
        rf_mode=options.rf_mode,
        quantize=options.quantize,
        precision=options.precision,
        fit_device=options.device if options.fit_objective else None,
    )


def emit_result(
    before: Graph, graph: Graph, results: list[tuple[str, Any]], loaded: Loaded, options: FlowOptions
) -> OptimizationResult:
    """Step 5: the emitted hls4ml config and Keras model, and the report."""
    cfg = loaded.config
    rewritten = _rewritten(before, graph)
    plan = graph.annotations.get(PLAN_KEY)
    chosen = set(getattr(plan, "configs", None) or ()) & {n.name for n in graph.nodes()}
    # A budget chose every layer's RF: each weighted layer gets its entry; the others were set to RF 1,
    # which Model.ReuseFactor 1 gives them (and the activations hls4ml splits off a Dense) so that none
    # raises the top pipeline's II (emit_config.py) — no entry of their own, so that their strategy
    # still follows Model.Strategy (_follow_emitted_model_strategy; a Resource one makes hls4ml's top
    # DATAFLOW).
    unweighted = {n for n in chosen if not graph.node(n).has_kernel}
    rewritten = (rewritten - unweighted) | (chosen - unweighted)
    user_io = cfg.get("IOType") if isinstance(cfg, Mapping) else None
    io_type = "io_stream" if _any_stream(graph) else (user_io or "io_parallel")
    emitted = emit_hls_config(
        graph, cfg, rewritten, io_type=io_type, model_reuse_factor=1 if chosen else None, precisions=options.quantize
    )
    _follow_emitted_model_strategy(graph, cfg, emitted)
    write_precisions(emitted, graph, chosen_names(graph.annotations.get(PRECISION_KEY)))
    new_model = to_keras_model(graph, quantized_weights=options.quantize)
    untouched_compile = loaded.given_loss is None and loaded.given_optimizer is None and loaded.metric is None
    if loaded.several_outputs and loaded.from_model and untouched_compile:
        compile_like(new_model, loaded.keras_model)  # the per-output losses and metrics of its compile config
    elif loaded.loss is not None:
        compile_for_keras(new_model, loaded.loss, loaded.optimizer, loaded.metric)
    report = build_report(
        before,
        graph,
        options.backend,
        plan=plan,
        objective=options.objective.label,
        rewritten=sorted(rewritten),
        io_type=emitted["IOType"],
        notes=[note for _, r in results for note in r.notes],
        increasing=bool(loaded.increasing) if loaded.increasing is not None else True,
        rtol=options.rtol if loaded.training_data is not None else None,
        device=options.device if options.device is not None else device_from_config(cfg),
        budgets=loaded.budgets,
        extra={
            "passes": [{"name": n, "changed": r.changed} for n, r in results],
            **precision_report(graph.annotations.get(PRECISION_KEY), options.precision, options.fit_objective),
        },
    )
    return OptimizationResult(
        model=new_model,
        quantized_model=_quantized_model(new_model, graph) if options.quantize else None,
        hls_config=emitted,
        graph=graph,
        report=report,
        plan=plan,
        io_type=emitted["IOType"],
        passes=[(n, r.changed) for n, r in results],
    )


#: ``optimize_kwargs``: the trainer's settings (``FineTuneOptions``, hls_opt/train/engine.py) that no
#: argument of :func:`convert_and_optimize` sets, and three that one does (``ranking`` for
#: ``ranking_metric``, ``local``, ``knapsack_solver``: given here, they replace it).
OPTIMIZE_KWARGS = (
    "rewinding_epochs", "cutoff_bad_trials", "tuner", "regularization_range", "callbacks", "verbose", "policy",
    "ranking", "local", "knapsack_solver",
)  # fmt: skip
#: ``FineTuneOptions`` settings that are arguments of :func:`convert_and_optimize` (their name there).
_FLOW_ARGUMENTS = {
    "loss": "loss", "optimizer": "optimizer", "metric": "metric", "increasing": "increasing", "rtol": "rtol",
    "epochs": "epochs", "batch_size": "batch_size", "target": "target",
}  # fmt: skip


def _checked_optimize_kwargs(optimize_kwargs: Any) -> dict[str, Any]:
    """``optimize_kwargs`` as a dict of known keys, each checked now (an unknown or duplicated key would
    otherwise be a ``TypeError`` naming ``FineTuneOptions``, and a bad value fail after loading)."""
    if optimize_kwargs is None:
        return {}
    if not isinstance(optimize_kwargs, Mapping):
        raise ConfigError(f"optimize_kwargs: expected a dict, got {type(optimize_kwargs).__name__}")
    out = dict(optimize_kwargs)
    for key, value in out.items():
        where = f"optimize_kwargs[{key!r}]"
        if key in _FLOW_ARGUMENTS:
            raise ConfigError(f"{where}: is an argument of convert_and_optimize; pass {_FLOW_ARGUMENTS[key]}= instead")
        if key not in OPTIMIZE_KWARGS:
            close = difflib.get_close_matches(str(key), OPTIMIZE_KWARGS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(OPTIMIZE_KWARGS)})"
            raise ConfigError(f"{where}: unknown setting{hint}")
        if key == "ranking":
            out[key] = parse_ranking(value, where)
        if key in ("rewinding_epochs", "cutoff_bad_trials"):
            out[key] = check_positive_int(value, where, minimum=0)
    return out


def _quantized_model(model: Any, graph: Graph) -> Any:
    """The emitted model under fake quantization to the graph's types: what hls4ml's C++ computes."""
    from hls_opt.train.quantize import quantized_copy  # imports Keras

    return quantized_copy(model, {node.name: node.config for node in graph.nodes() if node.config is not None})


def budget_schedule(objective: Any, budgets: Any, scheduler: Any, target: Target | None) -> Any:
    """A :class:`~hls_opt.train.schedulers.BudgetScheduler` when a resource budget (``--dsp-budget``,
    ``--bram-budget``, ``--lut-budget`` or the ``--device``'s counts) limits a field of the objective
    and no ``target='max'`` search was asked for: the pruning then cuts until the design fits, within
    rtol (``docs/cli.md``, "Resource budgets"); the given schedule is kept for a design that already
    fits.  Budgets on fields the objective does not count are only checked and reported."""
    fields = set(getattr(objective, "resources", ()) or ())
    limits = {f: v for f, v in resource_limits(budgets).items() if f in fields}
    if not limits or target is not None:
        return scheduler
    return BudgetScheduler(limits, budgets=budgets, fallback=scheduler)


def _model_strategy(config: Any) -> Strategy:
    model = unwrap_hls_config(config).get("Model") if isinstance(config, Mapping) else None
    value = model.get("Strategy") if isinstance(model, Mapping) else None
    return parse_strategy(value, key="Model.Strategy") if value is not None else Strategy.LATENCY


def _follow_emitted_model_strategy(graph: Graph, user_config: Any, emitted: Mapping[str, Any]) -> None:
    """Give the layers without weights (Input, activations, pooling…) the strategy hls4ml will read
    for them from the emitted config.  The emitter changes ``Model.Strategy`` when every weighted
    layer shares one; a layer without weights that took the user's ``Model.Strategy`` then takes the
    new one (and no ``LayerName`` entry says otherwise).  It matters to the timing: hls4ml's
    ``SetPipelineStyle`` (backends/vivado/passes/pipeline_style.py) picks DATAFLOW when *any* layer
    is configured Resource, an input layer included."""
    old, new = _model_strategy(user_config), _model_strategy(emitted)
    if old is new:
        return
    names = {str(k).lower() for k, v in (emitted.get("LayerName") or {}).items() if isinstance(v, Mapping) and "Strategy" in v}
    for node in list(graph.nodes()):
        cfg = getattr(node, "config", None)
        if node.has_kernel or cfg is None or cfg.strategy is not old or node.name.lower() in names:
            continue
        graph.replace(node.name, dataclasses.replace(node, config=dataclasses.replace(cfg, strategy=new)))


def _rewritten(before: Any, after: Any) -> set[str]:
    """Layers whose configuration (strategy, reuse factor) or kernel shape the passes changed."""
    out = set()
    for node in after.nodes():
        if node.name not in before or node.config is None:
            continue
        old = before.node(node.name)
        shape_changed = node.has_kernel and tuple(old.kernel.shape) != tuple(node.kernel.shape)
        if shape_changed or (old.config is not None and (old.config.strategy, old.config.reuse_factor) != (node.config.strategy, node.config.reuse_factor)):
            out.add(node.name)
    return out


def _any_stream(graph: Graph) -> bool:
    return any(n.config is not None and n.config.io_type is IOType.STREAM for n in graph.nodes())


def _single_input(model: Any) -> bool:
    return _single_shape(getattr(model, "input_shape", None))


def _single_output(model: Any) -> bool:
    return _single_shape(getattr(model, "output_shape", None))


def _single_shape(shape: Any) -> bool:
    # Keras gives one tuple for a single tensor, a list/tuple of tuples for several
    return isinstance(shape, tuple) and (len(shape) == 0 or not isinstance(shape[0], tuple))


__all__ = [
    "BudgetArguments",
    "FlowOptions",
    "OptimizationResult",
    "flow_options",
    "optimize",
    "check_model_file",
    "convert_and_optimize",
    "load_hls_config",
    "load_model",
    "parse_scheduler",
    "training_settings_from_model",
]
