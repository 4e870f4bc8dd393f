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
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

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
from hls_opt.core import progress
from hls_opt.core.fileio import check_output_dir
from hls_opt.cost.feasibility import check_budgets
from hls_opt.data import (
    check_input_shape,
    check_single_output,
    check_targets,
    check_targets_for_loss,
    load_data,
)
from hls_opt.emit.hls4ml_config import emit_hls_config
from hls_opt.emit.keras_model import to_keras_model
from hls_opt.errors import ConfigError
from hls_opt.flow.inputs import (
    check_backend,
    check_model_file,
    check_positive_int,
    check_rtol,
    is_keras_model,
    load_hls_config,
    load_model,
    parse_scheduler,
)
from hls_opt.flow.report import build_report
from hls_opt.flow.result import OptimizationResult
from hls_opt.flow.settings import (
    compile_for_keras,
    compile_like,
    default_metric,
    metric_increasing,
    training_settings_from_model,
)
from hls_opt.frontend.keras import from_keras
from hls_opt.objectives.adapter import objective_for
from hls_opt.passes import PassContext, default_flow, get_pass, run_flow
from hls_opt.passes.plan import PLAN_KEY
from hls_opt.solve.budget_cut import resource_limits
from hls_opt.solve.rf_problem import RFMode
from hls_opt.train.schedulers import BudgetScheduler, MaxCutScheduler

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
    - ``tuner``: how the regularisation strength is searched: ``None`` (default) is hls-opt's
      built-in search, cheap and deterministic; ``'Bayesian'`` uses keras-tuner when installed.
      (``optimize_model`` keeps hls4ml's default ``'Bayesian'``.)
    - ``target``: ``'max'`` searches for the deepest cut within ``rtol`` instead of following the
      scheduler (:class:`~hls_opt.train.schedulers.MaxCutScheduler`; needs data); the report's ``front``
      holds the accuracy–resource front the search saw.
    - ``output_dir``: when given, :meth:`OptimizationResult.save` is called on it.
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
    """
    # 1. Values (no files, no TensorFlow).
    rtol = check_rtol(rtol)
    epochs = check_positive_int(epochs, "epochs")
    batch_size = check_positive_int(batch_size, "batch_size")
    rewinding = int((optimize_kwargs or {}).get("rewinding_epochs", 1))
    if data is not None and epochs <= rewinding:
        # Each step fine-tunes (epochs − rewinding) masked epochs, then rewinds (as hls4ml's
        # optimize_model, hls4ml/optimization/dsp_aware_pruning/keras/__init__.py).
        raise ConfigError(
            f"epochs: must be larger than rewinding_epochs ({rewinding}) when fine-tuning, got {epochs}"
        )
    objective = check_objective(objective)
    backend = check_backend(backend)
    device = parse_device(device, key="device") if device is not None else None
    sched = parse_scheduler(scheduler)
    rf_mode = RFMode.parse(rf_mode)
    if target is not None:
        target = str(target).strip().lower()
        if target != "max":
            raise ConfigError(f"target: expected 'max' (the deepest cut within rtol), got {target!r}")
        if data is None:
            raise ConfigError("target: 'max' searches within the tolerance, which needs data (none given)")
        sched = MaxCutScheduler()
    flow = list(passes) if passes is not None else default_flow(objective)
    for name in flow:
        get_pass(name)
    if not (isinstance(model, (str, Path)) or is_keras_model(model)):
        raise TypeError(f"model: expected a keras.Model or a .keras/.h5 path, got {type(model).__name__}")

    # 2. Files (still no TensorFlow).
    if output_dir is not None:
        check_output_dir(
            output_dir,
            inputs={"model": model, "config": hls_config, "data": data},
            field="output_dir",
        )
    if isinstance(model, (str, Path)):
        check_model_file(model)
    cfg, source = load_hls_config(hls_config)
    check_config_keys(cfg, source=source, strict=strict)  # the layer names once the model is loaded
    budgets = parse_budgets(
        latency=latency_budget,
        ii=ii_budget,
        dsp=dsp_budget,
        bram=bram_budget,
        device=device,
        clock_period=clock_period,
        hls_config=cfg,
    )
    # --- issue #21 item 1: budgets on the objective's resources drive the search (like target='max') ---
    sched = budget_schedule(objective, budgets, sched, target)
    # ---
    training_data = load_data(data) if data is not None else None
    probe = training_data.probe() if training_data is not None else None  # what the checks look at

    # 3. The model.
    with progress.progress("loading the model"):
        keras_model = load_model(model)
    if training_data is not None:
        check_single_output(keras_model)  # several outputs: one-shot only (no data)
    if probe is not None and _single_input(keras_model):
        check_input_shape(probe, tuple(keras_model.input_shape[1:]))
    if probe is not None and _single_output(keras_model):
        check_targets(probe, tuple(keras_model.output_shape[1:]))
    if cfg is None:
        cfg = config_from_keras_model(keras_model, granularity="name")
    else:
        check_config_keys(cfg, source=source, layer_names=hls4ml_layer_names(keras_model), keys=False, strict=strict)

    from_model = training_settings_from_model(keras_model)
    given_loss, given_optimizer = loss, optimizer
    loss = loss if loss is not None else from_model.get("loss")
    optimizer = optimizer if optimizer is not None else from_model.get("optimizer", "adam")
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

    # 4. Frontend → passes → emit.
    graph = from_keras(keras_model, cfg)
    before = graph.copy()
    if budgets.latency_cycles is not None or budgets.ii_cycles is not None or budgets.dsp_limit is not None or budgets.bram_limit is not None:
        # before any training: the best each axis can reach (a budget that drives the pruning:
        # the all-pruned design, checked by the pass, issue #21)
        check_budgets(graph, backend, budgets, pruned=getattr(sched, "limits", {}))
    from hls_opt.train.engine import FineTuneOptions  # imports Keras (the model is loaded by now)

    if training_data is not None:
        kwargs = dict(optimize_kwargs or {})
        tuner = kwargs.pop("tuner", tuner)
        training = FineTuneOptions(
            loss=loss,
            optimizer=optimizer,
            metric=metric,
            increasing=bool(increasing),
            # The flow's rtol is a ratio in (0, 1] in either direction; the loop takes hls4ml's
            # factor (accept metric ≤ rtol · baseline when lower is better), so invert it there.
            rtol=rtol if increasing else 1.0 / rtol,
            epochs=epochs,
            batch_size=batch_size,
            ranking=ranking_metric,
            local=local,
            knapsack_solver=knapsack_solver,
            tuner=tuner,
            target=target,
            **kwargs,
        )
    else:  # one-shot pruning reads only how to rank and select
        training = FineTuneOptions(loss=None, ranking=ranking_metric, local=local, knapsack_solver=knapsack_solver)
    context = PassContext(
        backend=backend, objective=objective, scheduler=sched, data=training_data, training=training,
        budgets=budgets,
        rf_mode=rf_mode,
    )
    with progress.progress("optimizing", total=len(flow)) as bar:

        def on_pass(name: str) -> None:
            bar.set_postfix_str(name)

        def on_done(name: str, changed: bool) -> None:
            bar.update(1)

        results = run_flow(graph, flow, context, on_pass=on_pass, on_done=on_done)

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
    emitted = emit_hls_config(graph, cfg, rewritten, io_type=io_type, model_reuse_factor=1 if chosen else None)
    _follow_emitted_model_strategy(graph, cfg, emitted)
    new_model = to_keras_model(graph)
    if several_outputs and from_model and given_loss is None and given_optimizer is None and metric is None:
        compile_like(new_model, keras_model)  # the per-output losses and metrics of its compile config
    elif loss is not None:
        compile_for_keras(new_model, loss, optimizer, metric)
    report = build_report(
        before,
        graph,
        backend,
        plan=plan,
        objective=objective.label,
        rewritten=sorted(rewritten),
        io_type=emitted["IOType"],
        notes=[note for _, r in results for note in r.notes],
        increasing=bool(increasing) if increasing is not None else True,
        rtol=rtol if training_data is not None else None,
        device=device if device is not None else device_from_config(cfg),
        budgets=budgets,
        extra={"passes": [{"name": n, "changed": r.changed} for n, r in results]},
    )
    result = OptimizationResult(
        model=new_model,
        hls_config=emitted,
        graph=graph,
        report=report,
        plan=plan,
        io_type=emitted["IOType"],
        passes=[(n, r.changed) for n, r in results],
    )
    if output_dir is not None:
        result.save(output_dir)
    return result


def budget_schedule(objective: Any, budgets: Any, scheduler: Any, target: str | None) -> Any:
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


def _follow_emitted_model_strategy(graph: Any, user_config: Any, emitted: Mapping[str, Any]) -> None:
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


def _any_stream(graph: Any) -> bool:
    return any(n.config is not None and n.config.io_type is IOType.STREAM for n in graph.nodes())


def _single_input(model: Any) -> bool:
    return _single_shape(getattr(model, "input_shape", None))


def _single_output(model: Any) -> bool:
    return _single_shape(getattr(model, "output_shape", None))


def _single_shape(shape: Any) -> bool:
    # Keras gives one tuple for a single tensor, a list/tuple of tuples for several
    return isinstance(shape, tuple) and (len(shape) == 0 or not isinstance(shape[0], tuple))


__all__ = [
    "OptimizationResult",
    "check_model_file",
    "convert_and_optimize",
    "load_hls_config",
    "load_model",
    "parse_scheduler",
    "training_settings_from_model",
]
