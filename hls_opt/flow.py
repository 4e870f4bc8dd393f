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

import copy
import logging
import numbers
import os
import shutil
import tempfile
import warnings
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hls_opt.errors import ConfigError, ModelError
from hls_opt.objectives.adapter import objective_for
from hls_opt.passes.plan import PLAN_KEY

logger = logging.getLogger(__name__)

MODEL_SUFFIXES = (".keras", ".h5", ".hdf5")
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


# ------------------------------------------------------------------------------------------
# Checks that need no TensorFlow
# ------------------------------------------------------------------------------------------


def check_rtol(rtol: Any, field_name: str = "rtol") -> float:
    """``rtol`` as a float in (0, 1]; ConfigError naming ``field_name`` otherwise."""
    try:
        value = float(rtol)
    except (TypeError, ValueError):
        raise ConfigError(f"{field_name}: expected a number in (0, 1], got {rtol!r}") from None
    if isinstance(rtol, bool) or not (0.0 < value <= 1.0):
        raise ConfigError(f"{field_name}: must be in (0, 1], got {rtol!r}")
    return value


def check_positive_int(value: Any, field_name: str, minimum: int = 1) -> int:
    """``value`` as an int ≥ ``minimum``: a Python or numpy integer, a whole float, or its decimal
    text (what the command line passes); ConfigError naming ``field_name`` otherwise."""
    number = None
    if isinstance(value, str):
        try:
            number = int(value.strip())
        except ValueError:
            pass
    elif isinstance(value, bool):
        pass  # True is not an epoch count
    elif isinstance(value, numbers.Integral):
        number = int(value)
    elif isinstance(value, numbers.Real) and float(value).is_integer():
        number = int(value)
    if number is None or number < minimum:
        raise ConfigError(f"{field_name}: expected an integer >= {minimum}, got {value!r}")
    return number


def check_objective(objective: Any) -> Any:
    """The core's objective for ``objective`` (:func:`hls_opt.objectives.adapter.objective_for`), now,
    so an unknown name fails before any work."""
    return objective_for(objective)


def check_backend(backend: str) -> str:
    from hls_opt.resources import get_backend

    get_backend(backend)  # RegistryError naming the unknown backend
    return backend


def check_model_file(path: str | Path) -> Path:
    """Cheap checks of a model file before Keras reads it: exists, a file, a known suffix and the
    right container signature (a zip for ``.keras``, HDF5 for ``.h5``).  Raises :class:`ModelError`."""
    file = Path(path)
    if not file.exists():
        raise ModelError(f"{file}: no such file")
    if file.is_dir():
        raise ModelError(f"{file}: is a directory, expected a .keras or .h5 model file")
    suffix = file.suffix.lower()
    if suffix not in MODEL_SUFFIXES:
        raise ModelError(f"{file}: unknown model format '{suffix}' (expected .keras or .h5)")
    try:
        with open(file, "rb") as handle:
            head = handle.read(8)
    except OSError as exc:
        raise ModelError(f"{file}: cannot read ({exc.strerror or exc})") from None
    if suffix == ".keras" and not zipfile.is_zipfile(file):
        raise ModelError(f"{file}: not a Keras model file (a .keras file is a zip archive)")
    if suffix in (".h5", ".hdf5") and head != _HDF5_SIGNATURE:
        raise ModelError(f"{file}: not a Keras model file (no HDF5 signature)")
    return file


def load_hls_config(hls_config: Any) -> tuple[dict | None, str]:
    """``(config dict or None, source name)`` from ``None``, a mapping or a YAML/JSON path.

    The config is validated (precisions, strategies, reuse factors of every Model / LayerType /
    LayerName entry) and a copy is returned; the caller's dict is never modified.
    """
    from hls_opt.config import load_config, unwrap_hls_config

    if hls_config is None:
        return None, "hls_config"
    if isinstance(hls_config, (str, Path)):
        source = str(hls_config)
        cfg = load_config(hls_config)
    elif isinstance(hls_config, Mapping):
        source = "hls_config"
        cfg = unwrap_hls_config(copy.deepcopy(dict(hls_config)))
    else:
        raise TypeError(f"hls_config: expected a dict, a YAML path or None, got {type(hls_config).__name__}")
    validate_hls_config(cfg, source)
    return cfg, source


def validate_hls_config(cfg: Mapping[str, Any], source: str = "hls_config") -> None:
    """Check every entry of the config now (hls_opt.config.validate_config), so a bad value fails
    before any model is loaded, with ``source`` (the file) in front of the key path."""
    from hls_opt.config import validate_config

    validate_config(cfg, source=source)


def parse_scheduler(spec: Any) -> Any:
    """A scheduler from ``None`` (the default), an instance, or a string:

    ``polynomial:STEPS[:FINAL[:POWER]]``, ``constant:STEP[:FINAL]``, ``binary:FINAL[:THRESHOLD]``
    (e.g. ``polynomial:5:0.5`` = 5 steps to 50 %).
    """
    from hls_opt import scheduler as sched

    if spec is None:
        from hls_opt.passes.dsp_aware_pruning import default_scheduler

        return default_scheduler()
    if not isinstance(spec, str):
        if not hasattr(spec, "final_sparsity"):
            raise ConfigError(
                f"scheduler: expected a scheduler or a 'kind:args' string, got {type(spec).__name__}"
            )
        return spec
    kind, *args = [part.strip() for part in spec.split(":")]
    try:
        numbers = [float(a) for a in args]
    except ValueError:
        raise ConfigError(f"scheduler: '{spec}': arguments must be numbers") from None
    kind = kind.lower()
    try:
        if kind == "polynomial" and 1 <= len(numbers) <= 3:
            if not numbers[0].is_integer():
                raise ConfigError(f"scheduler: '{spec}': the number of steps must be an integer")
            kw = {"final_sparsity": numbers[1]} if len(numbers) > 1 else {"final_sparsity": 0.5}
            if len(numbers) > 2:
                kw["decay_power"] = numbers[2]
            return sched.PolynomialScheduler(int(numbers[0]), **kw)
        if kind == "constant" and 1 <= len(numbers) <= 2:
            kw = {"final_sparsity": numbers[1]} if len(numbers) > 1 else {"final_sparsity": 0.5}
            return sched.ConstantScheduler(update_step=numbers[0], **kw)
        if kind == "binary" and 1 <= len(numbers) <= 2:
            kw = {"threshold": numbers[1]} if len(numbers) > 1 else {}
            return sched.BinaryScheduler(final_sparsity=numbers[0], **kw)
    except ConfigError as exc:
        raise ConfigError(f"scheduler: '{spec}': {exc}") from None
    raise ConfigError(
        f"scheduler: '{spec}': expected polynomial:STEPS[:FINAL[:POWER]], constant:STEP[:FINAL] "
        "or binary:FINAL[:THRESHOLD]"
    )


# ------------------------------------------------------------------------------------------
# Keras model and training settings
# ------------------------------------------------------------------------------------------


def is_keras_model(obj: Any) -> bool:
    from hls_opt.frontend.keras import is_keras_model as _is

    return _is(obj)


def load_model(model: Any) -> Any:
    """A ``keras.Model`` from a model or a ``.keras``/``.h5`` path (TypeError for anything else)."""
    if isinstance(model, (str, Path)):
        path = check_model_file(model)
        import keras

        try:
            with warnings.catch_warnings():
                # Keras warns about optimizer variables it does not restore; not our user's concern.
                warnings.simplefilter("ignore")
                return keras.saving.load_model(path, compile=True)
        except Exception as exc:  # Keras raises many types for a broken file
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelError(f"{path}: cannot load the Keras model ({first})") from None
    if is_keras_model(model):
        return model
    raise TypeError(f"model: expected a keras.Model or a .keras/.h5 path, got {type(model).__name__}")


def _first_metric(metrics: Any) -> Any:
    if not metrics:
        return None
    if isinstance(metrics, Mapping):  # per-output metrics: take the first output's
        metrics = next(iter(metrics.values()))
    if isinstance(metrics, (list, tuple)):
        return metrics[0] if metrics else None
    return metrics


def training_settings_from_model(model: Any) -> dict[str, Any]:
    """``{loss, optimizer, metric}`` from a model's compile config (empty dict when uncompiled).

    Loss and optimizer are rebuilt from their configs, so the caller's objects are never shared.
    """
    import keras

    try:
        cc = model.get_compile_config() or {}
    except Exception:  # models built without compile() have none
        cc = {}
    settings: dict[str, Any] = {}
    if cc.get("loss") is not None:
        loss = cc["loss"]
        settings["loss"] = loss if isinstance(loss, str) else keras.losses.deserialize(loss)
    if cc.get("optimizer") is not None:
        opt = cc["optimizer"]
        settings["optimizer"] = opt if isinstance(opt, str) else keras.optimizers.deserialize(opt)
    metric = _first_metric(cc.get("metrics"))
    if metric is not None:
        settings["metric"] = metric if isinstance(metric, str) else keras.metrics.deserialize(metric)
    return settings


def _metric_name(metric: Any) -> str:
    if isinstance(metric, str):
        return metric
    return str(getattr(metric, "name", None) or getattr(metric, "__name__", "") or type(metric).__name__)


#: Name fragments of lower-is-better metrics (Keras' names and aliases, and their class names).
_LOWER_IS_BETTER = (
    "loss", "error", "crossentropy", "hinge", "mse", "mae", "mape", "msle",
    "divergence", "kld", "poisson", "logcosh", "false_neg", "false_pos", "falseneg", "falsepos",
)  # fmt: skip


def metric_increasing(metric: Any) -> bool:
    """Whether higher is better for a metric: accuracy-, AUC-, precision/recall-like → True;
    loss/error/divergence-like and false-positive/negative counts → False; unknown → True.
    A Keras metric object is also judged by its class, so a renamed ``MeanSquaredError`` stays lower-is-better."""
    names = [_metric_name(metric).lower()]
    if not isinstance(metric, str) and hasattr(metric, "name"):  # Keras metric / loss objects
        names.append(type(metric).__name__.lower())
    return not any(word in name for name in names for word in _LOWER_IS_BETTER)


def default_metric(loss: Any) -> tuple[Any, bool]:
    """``(metric, lower_is_better)`` when neither the caller nor the model names a metric:
    ``'accuracy'`` for a classification loss (cross-entropy, hinge), else the loss itself (so a
    regression model is not scored by thresholding its outputs at 0.5)."""
    name = _metric_name(loss).lower() if loss is not None else ""
    if loss is None or any(word in name for word in ("crossentropy", "hinge")):
        return "accuracy", False
    return loss, True


def compile_for_keras(model: Any, loss: Any, optimizer: Any, metric: Any) -> None:
    """Compile a (new) model with fresh copies of the training settings so it saves with them.

    The metric goes in by its Keras name; one Keras does not know (a plain callable) is left out.
    """
    import keras

    from hls_opt.keras.training import fresh_loss, fresh_optimizer

    metrics = []
    if metric:
        try:
            metrics = [metric if isinstance(metric, str) else keras.metrics.get(_metric_name(metric))]
        except ValueError:
            logger.info("metric %s: not a Keras metric; the returned model is compiled without it", metric)
    try:
        model.compile(optimizer=fresh_optimizer(optimizer), loss=fresh_loss(loss), metrics=metrics)
    except (ValueError, TypeError):
        model.compile(optimizer=fresh_optimizer(optimizer), loss=fresh_loss(loss))


# ------------------------------------------------------------------------------------------
# Result
# ------------------------------------------------------------------------------------------


@dataclass
class OptimizationResult:
    """What :func:`convert_and_optimize` returns.

    ``model``: a new Keras model (pruned weights; neurons removed where the flow reduced);
    ``hls_config``: the hls4ml config dict (``Strategy: ResourceUnrolled`` and valid ``ReuseFactor``
    on rewritten layers; pass ``io_type`` to hls4ml's converter); ``graph``: the IR after the passes;
    ``report``: API.md §5 report dict; ``plan``: the frozen PruningPlan (or None).
    """

    model: Any
    hls_config: dict
    graph: Any
    report: dict
    plan: Any = None
    io_type: str = "io_parallel"
    passes: list[tuple[str, bool]] = field(default_factory=list)

    def save(self, directory: str | Path, *, plots: bool = True) -> list[Path]:
        """Write ``model.keras``, ``hls_config.yml``, ``report.json`` and (with matplotlib) PNG plots.

        All files are written into a temporary folder beside ``directory`` first and moved into
        place only when every one of them was written, so a failure leaves no new file behind and
        never touches an existing one.  Returns the paths written.
        """
        from hls_opt.config import dump_config_yaml
        from hls_opt.report import report_json, write_plots

        target = Path(directory)
        parent = target.parent if str(target.parent) else Path(".")
        if target.exists() and not target.is_dir():
            raise ConfigError(f"{target}: exists and is not a directory")
        try:
            parent.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=parent))
        except OSError as exc:  # a folder the user cannot write to is bad input, not an internal error
            raise ConfigError(f"{target}: cannot create the output folder ({exc.strerror or exc})") from None
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self.model.save(staging / "model.keras")
            (staging / "hls_config.yml").write_text(dump_config_yaml(self.hls_config), encoding="utf-8")
            (staging / "report.json").write_text(report_json(self.report), encoding="utf-8")
            if plots:
                write_plots(self.report, staging)
            names = sorted(p.name for p in staging.iterdir())
            if not target.exists():
                os.replace(staging, target)  # one rename: all or nothing
            else:
                for name in names:
                    os.replace(staging / name, target / name)  # each file replaced atomically
                shutil.rmtree(staging, ignore_errors=True)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return [target / name for name in names]


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
    optimize_kwargs: Mapping[str, Any] | None = None,
) -> OptimizationResult:
    """Optimize a trained Keras model for the hardware hls4ml will build from it.

    - ``model``: ``keras.Model`` or a ``.keras``/``.h5`` path (TypeError for anything else).
    - ``hls_config``: hls4ml config dict, YAML/JSON path, or ``None`` (``config_from_keras_model(model,
      granularity='name')`` with hls4ml's defaults).
    - ``data``: ``(X_train, y_train, X_val, y_val)`` or an ``.npz`` with those keys.  Without data:
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
    - ``output_dir``: when given, :meth:`OptimizationResult.save` is called on it.
    """
    from hls_opt import progress
    from hls_opt.data import check_input_shape, check_targets, check_targets_for_loss, load_training_data
    from hls_opt.passes import PassContext, default_flow, get_pass

    # 1. Values (no files, no TensorFlow).
    rtol = check_rtol(rtol)
    epochs = check_positive_int(epochs, "epochs")
    batch_size = check_positive_int(batch_size, "batch_size")
    rewinding = int((optimize_kwargs or {}).get("rewinding_epochs", 1))
    if data is not None and epochs <= rewinding:
        # Each step fine-tunes (epochs − rewinding) masked epochs, then rewinds (REFERENCE §2.3).
        raise ConfigError(
            f"epochs: must be larger than rewinding_epochs ({rewinding}) when fine-tuning, got {epochs}"
        )
    objective = check_objective(objective)
    backend = check_backend(backend)
    sched = parse_scheduler(scheduler)
    flow = list(passes) if passes is not None else default_flow(objective)
    for name in flow:
        get_pass(name)
    if not (isinstance(model, (str, Path)) or is_keras_model(model)):
        raise TypeError(f"model: expected a keras.Model or a .keras/.h5 path, got {type(model).__name__}")

    # 2. Files (still no TensorFlow).
    if isinstance(model, (str, Path)):
        check_model_file(model)
    cfg, _ = load_hls_config(hls_config)
    training_data = load_training_data(data) if data is not None else None

    # 3. The model.
    with progress.progress("loading the model"):
        keras_model = load_model(model)
    if training_data is not None and _single_input(keras_model):
        check_input_shape(training_data, tuple(keras_model.input_shape[1:]))
    if training_data is not None and _single_output(keras_model):
        check_targets(training_data, tuple(keras_model.output_shape[1:]))
    if cfg is None:
        from hls_opt.config import config_from_keras_model

        cfg = config_from_keras_model(keras_model, granularity="name")

    from_model = training_settings_from_model(keras_model)
    loss = loss if loss is not None else from_model.get("loss")
    optimizer = optimizer if optimizer is not None else from_model.get("optimizer", "adam")
    if training_data is not None and loss is None:
        raise ConfigError("loss: the model has no compile config with a loss and none was given (--loss)")
    if training_data is not None and _single_output(keras_model):
        outputs = keras_model.output_shape[-1] if len(keras_model.output_shape) == 2 else None
        check_targets_for_loss(training_data, loss, outputs)
    if metric is None:
        metric = from_model.get("metric")
    if metric is None:
        metric, lower_is_better = default_metric(loss)
        if increasing is None:
            increasing = not lower_is_better
    if increasing is None:
        increasing = metric_increasing(metric)

    # 4. Frontend → passes → emit.
    from hls_opt.emit import to_keras_model
    from hls_opt.emit_config import emit_hls_config
    from hls_opt.frontend.keras import from_keras
    from hls_opt.passes import run_flow
    from hls_opt.report import build_report

    graph = from_keras(keras_model, cfg)
    before = graph.copy()
    training = None
    if training_data is not None:
        from hls_opt.keras.optimize import FineTuneOptions  # imports Keras (the model is loaded by now)

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
            **kwargs,
        )
    else:
        training = _OneShotOptions(ranking=ranking_metric, local=local, knapsack_solver=knapsack_solver)
    context = PassContext(
        backend=backend, objective=objective, scheduler=sched, data=training_data, training=training
    )
    with progress.progress("optimizing", total=len(flow)) as bar:

        def on_pass(name: str) -> None:
            bar.set_postfix_str(name)

        def on_done(name: str, changed: bool) -> None:
            bar.update(1)

        results = run_flow(graph, flow, context, on_pass=on_pass, on_done=on_done)

    rewritten = _rewritten(before, graph)
    user_io = cfg.get("IOType") if isinstance(cfg, Mapping) else None
    io_type = "io_stream" if _any_stream(graph) else (user_io or "io_parallel")
    emitted = emit_hls_config(graph, cfg, rewritten, io_type=io_type)
    new_model = to_keras_model(graph)
    if loss is not None:
        compile_for_keras(new_model, loss, optimizer, metric)
    plan = graph.annotations.get(PLAN_KEY)
    report = build_report(
        before,
        graph,
        backend,
        plan=plan,
        objective=objective.label,
        rewritten=sorted(rewritten),
        io_type=emitted["IOType"],
        notes=[note for _, r in results for note in r.notes],
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


@dataclass(frozen=True)
class _OneShotOptions:
    """What one-shot pruning (no data) reads of the training options."""

    ranking: str = "l1"
    local: bool = False
    knapsack_solver: str = "auto"


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
    from hls_opt.config import IOType

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
