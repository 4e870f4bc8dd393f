"""``hls-opt explore``: ``optimize``'s flags, where a comma list is a grid axis (``docs/cli.md``).

::

    hls-opt explore MODEL --config C --data D --optimize dsp --latency-budget 30,43,60 --jobs 2 -o EX
    hls-opt explore ... --ray ADDRESS        # an existing Ray cluster (extra [ray])
    hls-opt explore ... --dask ADDRESS       # an existing Dask cluster (extra [dask])
    hls-opt explore ... --resume -o EX       # keep EX's finished points, run the others

The work is :func:`hls_opt.flow.explore.explore`; this module only parses and checks the arguments
(before anything runs: files, names, every grid value) and prints the result.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from hls_opt.data import load_data
from hls_opt.errors import ConfigError
from hls_opt.flow import inputs
from hls_opt.flow.explore import AXES, budget_axis, explore, register_axis, split_list

#: explore's exit status when some points failed (the others are written; front.json lists each)
EXIT_POINTS_FAILED = 3
EXIT_INTERRUPTED = 130  # as main's Ctrl-C; here the finished points stay


def add_explore_parser(sub: Any, common: argparse.ArgumentParser, add_budget_args: Any) -> argparse.ArgumentParser:
    ex = sub.add_parser(
        "explore", parents=[common], help="optimize over a grid of budgets/settings and write the front"
    )
    ex.add_argument("model", metavar="MODEL", help="trained Keras model (.keras or .h5)")
    ex.add_argument("--config", metavar="CFG", help="hls4ml config (YAML/JSON)")
    ex.add_argument("--data", metavar="DATA", help="training data, as for optimize")
    ex.add_argument("--optimize", metavar="OBJ", default="dsp", help="objective, as for optimize")
    ex.add_argument("--rtol", default="0.975", help="accepted metric ratio; a comma list is a grid axis")
    ex.add_argument("--scheduler", default="polynomial:5:0.5", help="as for optimize")
    ex.add_argument("--target", choices=["max"], help="as for optimize")
    ex.add_argument("--epochs", default="10")
    ex.add_argument("--batch-size", default="128")
    ex.add_argument("--backend", default="vivado")
    ex.add_argument("--loss")
    ex.add_argument("--metric")
    ex.add_argument("--optimizer")
    ex.add_argument("--device", metavar="PART")
    add_budget_args(ex, True, "a comma list is a grid axis; ")
    ex.add_argument(
        "--reuse-factor", metavar="RF", help="grid axis: every layer's reuse factor (comma list, e.g. 2,4,8)"
    )
    ex.add_argument("--rf-mode", choices=["fixed", "joint"], default="fixed")
    ex.add_argument("--strict", action="store_true")
    ex.add_argument("--no-plots", action="store_true", help="no PNG plots (front.png, each point's)")
    engine = ex.add_mutually_exclusive_group()
    engine.add_argument("--jobs", default="1", help="local processes, one point each (default 1)")
    engine.add_argument("--ray", metavar="ADDRESS", help="run the points on this Ray cluster (extra [ray])")
    engine.add_argument("--dask", metavar="ADDRESS", help="run the points on this Dask scheduler (extra [dask])")
    ex.add_argument("--resume", action="store_true", help="keep the finished points in -o, run the others")
    ex.add_argument("--seed", default="0", help="every point's random seed (default 0)")
    ex.add_argument("--threads", default="1", help="TensorFlow threads per point (default 1)")
    ex.add_argument("-o", "--output", metavar="EX", required=True, help="explore folder")
    return ex


# optimize's plain flags, handed to every point unchanged (None: the flow's default)
_FIXED = ("scheduler", "target", "backend", "loss", "metric", "optimizer", "device", "clock_period", "rf_mode")


def cmd_explore(args: argparse.Namespace) -> int:
    from hls_opt.flow.run import check_backend, check_objective

    jobs = inputs.check_positive_int(args.jobs, "--jobs")
    if not str(args.seed).strip().isdigit():
        raise ConfigError(f"--seed: expected a non-negative whole number, got {args.seed!r}")
    seed = int(args.seed)
    threads = inputs.check_positive_int(args.threads, "--threads")
    epochs = inputs.check_positive_int(args.epochs, "--epochs")
    if args.data and epochs < 2:
        raise ConfigError(f"--epochs: must be at least 2 with --data, got {epochs}")
    batch_size = inputs.check_positive_int(args.batch_size, "--batch-size")
    check_objective(args.optimize)
    check_backend(args.backend)
    inputs.parse_scheduler(args.scheduler)
    if args.target and not args.data:
        raise ConfigError("--target: 'max' searches within the tolerance, which needs --data")
    inputs.check_model_file(args.model)
    if args.config:
        inputs.load_hls_config(args.config)
    if args.data:

        load_data(args.data)
    for key in vars(args):  # a budget flag added to optimize later (--lut-budget) is an axis too
        if key.endswith("_budget") and key not in AXES:
            register_axis(budget_axis(key))
    grid: dict[str, list[str]] = {}
    kwargs: dict[str, Any] = {"objective": args.optimize, "epochs": epochs, "batch_size": batch_size, "strict": args.strict}
    for key, axis in AXES.items():
        value = getattr(args, key, None)
        if value is None:
            continue
        values = split_list(value)
        for v in values:
            axis.parse(v)
        if len(values) > 1 or axis.config is not None:
            grid[key] = values
        else:
            kwargs[key] = values[0]
    for key in _FIXED:
        value = getattr(args, key, None)
        if value is not None:
            kwargs[key] = value
    if "rtol" in kwargs:
        kwargs["rtol"] = float(kwargs["rtol"])
    try:
        result = explore(
            args.model, args.config, args.data, args.output, grid=grid, kwargs=kwargs, jobs=jobs,
            ray=args.ray, dask=args.dask, resume=args.resume, seed=seed, threads=threads, plots=not args.no_plots,
        )
    except KeyboardInterrupt:
        print(
            f"hls-opt: interrupted; the finished points are kept in {args.output} (--resume runs the others)",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    designs = result.front["designs"]
    on_front = [d for d in designs if d["front"]]
    print(f"{len(designs)} designs, {len(on_front)} on the front ({', '.join(d['id'] for d in on_front)})")
    print(f"wrote {', '.join(str(p) for p in result.written)} and {len(designs)} designs under {args.output}/points")
    for failed in result.failed:
        print(f"hls-opt: point {failed['id']} {failed['status']}: {failed['message']}", file=sys.stderr)
    return EXIT_POINTS_FAILED if result.failed else 0
