"""The ``hls-opt`` command: a thin shell over :mod:`hls_opt.flow.run`.

::

    hls-opt optimize MODEL --config CFG.yml --data DATA.npz --optimize dsp [--rtol 0.975]
            [--scheduler polynomial:5:0.5 | --target max] [--epochs N] [--backend vivado] -o OUTDIR
    hls-opt estimate MODEL [--config CFG.yml] [--backend vivado] [--json] [--device PART]
            [--latency-budget 200|200ns] [--ii-budget N] [--dsp-budget N] [--bram-budget N] [--clock-period 5ns]
    hls-opt demo [-o OUTDIR]

Exit status: 0 success, 3 a resource budget not met (outputs written, one line), 2 bad input (one line ``hls-opt: error: <file or field>: <what>`` on
stderr, no traceback), 1 internal error, 130 interrupted (Ctrl-C / SIGINT), 143 terminated (SIGTERM);
both signals clean up (no output written or replaced) and print one line.  Arguments and files are validated before TensorFlow
is imported; TensorFlow's C++ start-up logging is silenced through the environment first.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import traceback
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hls_opt import __version__
from hls_opt.cli.explore import add_explore_parser, cmd_explore
from hls_opt.config import (
    check_config_keys,
    config_from_keras_model,
    device_from_config,
    hls4ml_layer_names,
    parse_budgets,
    parse_device,
)
from hls_opt.config.precision_search import parse_precision_search
from hls_opt.core import progress
from hls_opt.core.fileio import check_output_dir
from hls_opt.cost.feasibility import check_budgets
from hls_opt.data import load_data
from hls_opt.errors import ConfigError, HlsOptError, RegistryError, one_line
from hls_opt.flow import inputs
from hls_opt.flow.inputs import check_output_path
from hls_opt.flow.report import estimate, footer_text, format_table, missed_budgets, report_json, summary_text
from hls_opt.frontend.keras import check_flat_model, from_keras
from hls_opt.train.distributed import distributed

EXIT_OK, EXIT_INTERNAL, EXIT_BAD_INPUT = 0, 1, 2
EXIT_BUDGET_NOT_MET = 3  # a resource budget the optimizer could not reach within rtol (outputs written)
EXIT_TERMINATED = 128 + signal.SIGTERM  # 143, as a shell reports a process ended by SIGTERM
EXIT_INTERRUPTED = 128 + signal.SIGINT  # 130, as a shell reports a process ended by Ctrl-C
PROG = "hls-opt"


class Terminated(BaseException):
    """Raised in the main thread on SIGTERM, so that every ``finally``/cleanup runs as for Ctrl-C."""


def _on_sigterm(signum: int, frame: Any) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM during the cleanup ends the process
    raise Terminated()


def _on_sigint(signum: int, frame: Any) -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # a second Ctrl-C during the cleanup ends the process
    raise KeyboardInterrupt()


class BadInput(Exception):
    """Raised for argument errors found by argparse (mapped to exit 2)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # one line, no usage dump
        raise BadInput(message)


def _quiet_tensorflow() -> None:
    # Must happen before TensorFlow is first imported (TF reads these at load time).
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")


def _import_keras() -> Any:
    _quiet_tensorflow()
    import keras

    return keras


STRICT_HELP = (
    "config keys hls4ml would ignore (misspelt or unknown keys, LayerName entries naming no layer) "
    "are errors (exit 2), not warnings"
)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Hardware-aware pruning for hls4ml models (Keras 3).")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="log details; tracebacks on internal errors"
    )
    # -q / -v are accepted after the command too (SUPPRESS: absent there → the global value stays).
    common = _Parser(add_help=False)
    common.add_argument(
        "-q", "--quiet", action="store_true", default=argparse.SUPPRESS, help="no progress output"
    )
    common.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="log details")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    opt = sub.add_parser("optimize", parents=[common], help="optimize a model for a hardware objective")
    opt.add_argument("model", metavar="MODEL", help="trained Keras model (.keras or .h5)")
    opt.add_argument("--config", metavar="CFG", help="hls4ml config (YAML/JSON); default: hls4ml's defaults")
    opt.add_argument(
        "--data",
        metavar="DATA",
        help=".npz with X_train, y_train, X_val, y_val; or a folder of X_train.npy, y_train.npy, X_val.npy, "
        "y_val.npy (memory-mapped) or of .npz shards with those keys; without it: one-shot pruning, "
        "no fine-tuning",
    )
    opt.add_argument(
        "--optimize",
        metavar="OBJ",
        default="dsp",
        help="objective: dsp, bram, lut, ff, ebops, flops, params, memory, dsp+bram (or a comma list); "
        "fit: the largest fraction of --device's DSP, LUT, FF and BRAM (with --precision auto)",
    )
    opt.add_argument("--rtol", default="0.975", help="accepted metric ratio to the baseline, in (0, 1]")
    opt.add_argument(
        "--scheduler",
        default="polynomial:5:0.5",
        help="polynomial:STEPS[:FINAL[:POWER]] | constant:STEP[:FINAL] | binary:FINAL[:THRESHOLD]",
    )
    opt.add_argument(
        "--target",
        choices=["max"],
        help="max: search for the deepest cut within --rtol (ignores --scheduler; needs --data)",
    )
    opt.add_argument("--epochs", default="10", help="epochs per pruning step")
    opt.add_argument("--batch-size", default="128")
    opt.add_argument(
        "--devices",
        metavar="N",
        help="fine-tune data-parallel on N local devices (TensorFlow: MirroredStrategy over N GPUs, or N "
        "logical CPUs without GPUs; JAX: DataParallel); docs/devices.md",
    )
    opt.add_argument("--backend", default="vivado")
    opt.add_argument("--loss", help="Keras loss name (default: the model's compile config)")
    opt.add_argument(
        "--metric",
        help="Keras metric name (default: the model's compile config, else accuracy for a "
        "classification loss, else the loss)",
    )
    opt.add_argument(
        "--optimizer", help="Keras optimizer name (default: the model's compile config, else adam)"
    )
    opt.add_argument(
        "--device", metavar="PART", help="FPGA part for the report's device fraction (default: the config's Part)"
    )
    _add_budget_args(opt, True)
    opt.add_argument(
        "--rf-mode",
        choices=["fixed", "joint"],
        default="fixed",
        help="with a latency/II budget: choose the RFs once, then prune (fixed, default), or re-choose them "
        "with the groups at every step (joint); docs/rf_choice.md",
    )
    # precision chosen with the RFs (docs/precision.md)
    opt.add_argument(
        "--precision",
        choices=["fixed", "auto"],
        help="auto: choose every layer's weight and result precision within --rtol (needs --data); "
        "fixed (default): keep the config's",
    )
    opt.add_argument("--min-bits", metavar="N", help="with --precision auto: narrowest candidate width (default 2)")
    opt.add_argument("--max-bits", metavar="N", help="with --precision auto: widest candidate width (default 16)")
    opt.add_argument("--rounding", metavar="MODE", help="with --precision auto: AP_TRN (default), AP_RND, ... of the chosen types")
    opt.add_argument("--saturation", metavar="MODE", help="with --precision auto: AP_WRAP (default), AP_SAT or AP_SAT_SYM")
    opt.add_argument("-o", "--output", metavar="OUT", required=True, help="output folder")
    opt.add_argument("--no-plots", action="store_true", help="do not write PNG plots")
    opt.add_argument("--strict", action="store_true", help=STRICT_HELP)

    est = sub.add_parser("estimate", parents=[common], help="per-layer resource estimate of a model")
    est.add_argument("model", metavar="MODEL")
    est.add_argument("--config", metavar="CFG")
    est.add_argument("--backend", default="vivado")
    est.add_argument("--json", action="store_true", help="print the estimate as JSON (report.json schema)")
    est.add_argument("--strict", action="store_true", help=STRICT_HELP)
    est.add_argument(
        "--device", metavar="PART", help="FPGA part (e.g. xcvu9p-flga2104-2L-e): show the fraction used"
    )
    _add_budget_args(est, False)

    add_explore_parser(sub, common, _add_budget_args)  # hls_opt/cli/explore.py

    demo = sub.add_parser("demo", parents=[common], help="the whole flow on the bundled digits data")
    demo.add_argument("-o", "--output", metavar="OUT", default="demo-output")
    demo.add_argument("--epochs", default=None, help=argparse.SUPPRESS)
    demo.add_argument("--baseline-epochs", default=None, help=argparse.SUPPRESS)
    return parser


def _check_output_dir(path: str, field: str = "--output", **inputs: str | None) -> Path:
    """Check ``-o`` before any work (:func:`hls_opt.core.fileio.check_output_dir`); returns the path as given."""
    check_output_path(path, field)
    check_output_dir(path, inputs=inputs, field=field)
    return Path(path)


def _add_budget_args(parser: argparse.ArgumentParser, optimizing: bool, prefix: str = "") -> None:
    """The budget flags ``estimate`` checks and ``optimize`` meets (``docs/cli.md``); ``prefix`` leads
    each help text (``explore``: a comma list is a grid axis)."""
    timed = prefix + "every layer's reuse factor is chosen with the pruning to meet it: " if optimizing else "checked: "
    counted = prefix + "a target the pruning cuts to when the objective counts it (else checked), exit 3 if missed: " if optimizing else "checked: "
    parser.add_argument("--latency-budget", metavar="T", help=f"{timed}cycles (200) or a time (200ns, 1.5us)")
    parser.add_argument("--ii-budget", metavar="T", help=f"{timed}initiation interval, cycles or a time")
    parser.add_argument("--dsp-budget", metavar="N", help=f"{counted}DSPs the design may use")
    parser.add_argument("--bram-budget", metavar="N", help=f"{counted}18 Kb BRAMs the design may use")
    parser.add_argument("--lut-budget", metavar="N", help=f"{counted}LUTs the design may use")
    parser.add_argument(
        "--clock-period", metavar="T", help="clock period for time budgets (default: the config's ClockPeriod, else 5ns)"
    )


def _budgets(args: argparse.Namespace, device: Any, cfg: Any) -> Any:
    """The budget flags of :func:`_add_budget_args` parsed (``device``: a part name or a parsed Device;
    ``cfg``: the config read from ``--config``, for its ``ClockPeriod`` and ``Part``)."""
    return parse_budgets(
        latency=args.latency_budget,
        ii=args.ii_budget,
        dsp=args.dsp_budget,
        bram=args.bram_budget,
        device=device,
        clock_period=args.clock_period,
        hls_config=cfg,
        config_source=args.config,
        lut=args.lut_budget,
    )


def _named(field: str, call: Any, *args: Any) -> Any:
    """Run ``call`` and put the CLI field in front of a registry error (unknown names)."""
    try:
        return call(*args)
    except RegistryError as exc:
        message = str(exc)
        for bare in (field.lstrip("-"), "objective"):
            if message.startswith(f"{bare}: "):  # the registry already named the field
                message = message[len(bare) + 2 :]
                break
        raise RegistryError(f"{field}: {message}") from None


def _keras_name(kind: str, name: str | None, field: str) -> Any:
    """Validate a Keras loss/metric/optimizer name (needs Keras, so called after the file checks)."""
    if name is None:
        return None
    keras = _import_keras()
    getter = {"loss": keras.losses.get, "metric": keras.metrics.get, "optimizer": keras.optimizers.get}[kind]
    try:
        getter(name)
    except (ValueError, TypeError):
        raise ConfigError(f"{field}: unknown Keras {kind} '{name}'") from None
    return name


def cmd_optimize(args: argparse.Namespace) -> int:
    from hls_opt.flow import run as flow  # the passes and the knapsack (numba): only optimize needs them

    # Everything below until the Keras import is cheap and TensorFlow-free.
    rtol = flow.check_rtol(args.rtol, "--rtol")
    epochs = flow.check_positive_int(args.epochs, "--epochs")
    if args.data and epochs < 2:
        raise ConfigError(
            f"--epochs: must be at least 2 with --data (the last epoch of a step is unmasked rewinding), got {epochs}"
        )
    batch_size = flow.check_positive_int(args.batch_size, "--batch-size")
    devices = flow.check_positive_int(args.devices, "--devices") if args.devices is not None else None
    # --precision and its bounds, --optimize fit (needs --device), before any work
    search = parse_precision_search(
        args.precision, min_bits=args.min_bits, max_bits=args.max_bits, rounding=args.rounding, saturation=args.saturation
    )
    if search.auto and not args.data:
        raise ConfigError("--precision auto: choosing precisions within the tolerance needs --data")
    if args.optimize.strip().lower() == "fit":
        if not args.device:
            raise ConfigError("--optimize fit: needs --device (the part whose DSP, LUT, FF and BRAM it balances)")
        objective = "fit"
    else:
        objective = _named("--optimize", flow.check_objective, args.optimize)
    backend = _named("--backend", flow.check_backend, args.backend)
    device = parse_device(args.device, key="--device") if args.device else None
    try:
        scheduler = flow.parse_scheduler(args.scheduler)
    except ConfigError as exc:
        raise ConfigError(f"--{exc}") from None
    if args.target and not args.data:
        raise ConfigError("--target: 'max' searches within the tolerance, which needs --data")
    out = _check_output_dir(args.output, model=args.model, config=args.config, data=args.data)
    flow.check_model_file(args.model)
    cfg = flow.load_hls_config(args.config)[0] if args.config else None
    data = load_data(args.data) if args.data else None
    budgets = _budgets(args, device, cfg)

    loss = _keras_name("loss", args.loss, "--loss")
    metric = _keras_name("metric", args.metric, "--metric")
    optimizer = _keras_name("optimizer", args.optimizer, "--optimizer")
    _import_keras()
    # No status line here: a data/model error found after loading must stay the only stderr line.
    del cfg  # checked above; the flow reads the file again so its messages name it
    # --devices N: the whole run (model loading included) under data parallelism (hls_opt/train/distributed.py)
    with distributed(devices):
        result = flow.convert_and_optimize(
            args.model,
            args.config,
            data=data,
            objective=objective,
            scheduler=scheduler,
            rtol=rtol,
            epochs=epochs,
            batch_size=batch_size,
            backend=backend,
            loss=loss,
            optimizer=optimizer,
            metric=metric,
            target=args.target,
            strict=args.strict,
            device=device,
            latency_budget=budgets.latency_cycles,
            ii_budget=budgets.ii_cycles,
            dsp_budget=budgets.dsp,
            bram_budget=budgets.bram,
            rf_mode=args.rf_mode,
            precision=search,
            lut_budget=budgets.lut,
        )
    written = result.save(out, plots=not args.no_plots)
    print(format_table(result.report))
    print(summary_text(result.report))
    for line in missed_budgets(result.report):  # also on stderr: said even when stdout is not read
        logging.getLogger("hls_opt").warning("%s", line)
    print(f"wrote {', '.join(str(p) for p in written)}")
    # a resource budget not reached is exit 3 with one line (the design is written)
    missed = (result.report.get("budgets") or {}).get("not_met")
    if missed:
        print(f"{PROG}: {missed}", file=sys.stderr)
        return EXIT_BUDGET_NOT_MET
    return EXIT_OK


def cmd_estimate(args: argparse.Namespace) -> int:
    backend = _named("--backend", inputs.check_backend, args.backend)
    inputs.check_model_file(args.model)
    cfg = inputs.load_hls_config(args.config)[0] if args.config else None
    if cfg is not None:  # fail fast on keys; the layer names once the model is loaded
        check_config_keys(cfg, source=args.config, strict=args.strict)
    budgets = _budgets(args, args.device, cfg)
    device = budgets.device or device_from_config(cfg)
    _import_keras()
    model = inputs.load_model(args.model)
    check_flat_model(model)  # a sub-model's layers would go uncounted
    if cfg is None:
        cfg = config_from_keras_model(model, granularity="name")
    else:
        layer_names = hls4ml_layer_names(model)
        check_config_keys(cfg, source=args.config, layer_names=layer_names, keys=False, strict=args.strict)
    graph = from_keras(model, cfg)
    report = estimate(graph, backend, device)
    if args.json:
        sys.stdout.write(report_json(report))
    else:
        print(format_table(report, before_after=False))
        footer = footer_text(report)
        if footer:
            print(footer)
    if any(v is not None for v in (budgets.latency_cycles, budgets.ii_cycles, budgets.dsp, budgets.bram, budgets.lut)) or (
        args.device
    ):
        check_budgets(graph, backend, budgets)
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    out = _check_output_dir(args.output)
    epochs = inputs.check_positive_int(args.epochs, "--epochs") if args.epochs is not None else None
    baseline_epochs = (
        inputs.check_positive_int(args.baseline_epochs, "--baseline-epochs") if args.baseline_epochs else None
    )
    _import_keras()
    from hls_opt.cli.demo import run_demo  # the demo runs the whole flow (passes, knapsack)

    text = run_demo(out, epochs=epochs, baseline_epochs=baseline_epochs)
    print(text)
    return EXIT_OK


_HANDLERS = {signal.SIGTERM: _on_sigterm, signal.SIGINT: _on_sigint}

COMMANDS = {"optimize": cmd_optimize, "estimate": cmd_estimate, "explore": cmd_explore, "demo": cmd_demo}


def _error_line(message: str) -> str:
    # One line, whole: hls-opt's messages are one line, so a newline in one came from the user's
    # string (a path, a value) and is escaped, not cut at.
    text = one_line(str(message).strip()) or "unknown error"
    return f"{PROG}: error: {text}"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 2 bad input, 1 internal error, 130 Ctrl-C, 143 SIGTERM)."""
    _quiet_tensorflow()
    try:
        # a signal the parent set to be ignored (e.g. SIGINT for a background job) stays ignored
        previous = {
            sig: signal.signal(sig, handler)
            for sig, handler in _HANDLERS.items()
            if signal.getsignal(sig) is not signal.SIG_IGN
        }
    except ValueError:  # not the main thread: leave signals alone
        previous = {}
    # -q / -v set logger levels and warning filters for the run; a caller of main() (a test, a
    # notebook) gets its own back afterwards.
    loggers = [logging.getLogger(name) for name in ("hls_opt", "absl")]
    levels = [lg.level for lg in loggers]
    try:
        with warnings.catch_warnings():
            return _main(argv)
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _main(argv: Sequence[str] | None) -> int:
    verbose = False
    try:
        args = build_parser().parse_args(list(argv) if argv is not None else None)
        verbose = args.verbose
        progress.set_quiet(args.quiet)
        level = logging.INFO if args.verbose else (logging.ERROR if args.quiet else logging.WARNING)
        logging.basicConfig(level=level, format=f"{PROG}: %(levelname)s: %(message)s", stream=sys.stderr)
        logging.getLogger("hls_opt").setLevel(level)
        if not args.verbose:
            # Keras logs through absl (e.g. "no training configuration found" for an .h5 file).
            logging.getLogger("absl").setLevel(logging.ERROR)
            # Keras/TensorFlow UserWarnings (dataset shuffling, optimizer variables…) are not the
            # user's business on the command line; -v shows them.
            warnings.filterwarnings("ignore", category=UserWarning)
            warnings.filterwarnings("ignore", category=DeprecationWarning)
        if not args.command:
            raise BadInput("a command is required: optimize, estimate, explore or demo (see hls-opt --help)")
        return COMMANDS[args.command](args)
    except BadInput as exc:
        print(_error_line(str(exc)), file=sys.stderr)
        return EXIT_BAD_INPUT
    except HlsOptError as exc:
        print(_error_line(str(exc)), file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted (no output was written or replaced)", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Terminated:
        print(f"{PROG}: terminated (no output was written or replaced)", file=sys.stderr)
        return EXIT_TERMINATED
    except SystemExit as exc:  # --help / --version
        return int(exc.code or 0) if isinstance(exc.code, int) else EXIT_OK
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        print(f"{PROG}: internal error: {type(exc).__name__}: {first}", file=sys.stderr)
        if verbose:
            traceback.print_exc()
        else:
            print(f"{PROG}: (run with -v for the traceback)", file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
