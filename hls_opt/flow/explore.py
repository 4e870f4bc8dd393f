"""``hls-opt explore``: the optimizer over a grid of budgets and settings, and the front of the designs.

A grid is ``optimize``'s flags where a comma list is an axis (:data:`AXES`: latency / II / resource
budgets, the reuse factor, rtol); every point of the Cartesian product is one independent
``convert_and_optimize`` run (:func:`run_point`) whose outputs go to ``EX/points/<id>/``
(``model.keras``, ``hls_config.yml``, ``report.json``, plots; written atomically by
:meth:`~hls_opt.flow.result.OptimizationResult.save`).  A point whose input is bad (an infeasible
budget, …) is recorded in ``EX/failed/<id>.json`` and the others go on.  ``EX/front.json`` lists every
design (DSP, LUT, latency, II, accuracy) with the non-dominated ones marked, rewritten after every
finished point; ``EX/front.png`` draws it (matplotlib, the ``plots`` extra).

Where the points run — never a scheduler of our own:

* locally (default): :class:`concurrent.futures.ProcessPoolExecutor` with the ``spawn`` context,
  ``jobs`` workers, one process per point (``max_tasks_per_child=1``);
* on a Ray cluster (``ray=ADDRESS``, extra ``[ray]``): one task per point, ``max_calls=1`` (a fresh
  worker process per point);
* on a Dask cluster (``dask=ADDRESS``, extra ``[dask]``): one task per point, which runs the point
  in a fresh ``python -m hls_opt.flow.explore`` process (Dask workers are long-lived and may hold
  several threads).

Every point starts from the same state whatever runs it — a fresh process, ``keras.utils.set_random_seed
(seed)``, TensorFlow's op determinism and ``threads`` intra-/inter-op threads (default 1) — so the
same grid gives the same designs and numbers locally, on Ray and on Dask
(``tests/test_explore.py``).  The inputs and ``EX`` must be reachable at the same paths from every
worker (a shared file system on a real cluster).

Resume: ``resume=True`` skips every point with a ``report.json`` or a ``failed`` record (an internal
error is retried); an interrupted explore keeps every finished point.

Extending the grid (e.g. the precision axes of `--precision auto`): add an :class:`Axis` to :data:`AXES` with
its parser and how it changes a point's keyword arguments or config.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hls_opt.config import config_from_keras_model, parse_budgets, unwrap_hls_config
from hls_opt.core import progress
from hls_opt.core.fileio import atomic_output, atomic_write_text
from hls_opt.core.progress import set_quiet
from hls_opt.errors import ConfigError, HlsOptError
from hls_opt.flow.inputs import check_rtol, load_hls_config, load_model

FRONT_FILE = "front.json"
PLOT_FILE = "front.png"
SETTINGS_FILE = "explore.json"


# ------------------------------------------------------------------------------------------
# The grid
# ------------------------------------------------------------------------------------------


def _check_budget(flag: str, key: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        parse_budgets(**{key: value})  # a malformed value is bad input before anything runs
        return value

    check.__name__ = f"check_{key}"
    return check


def _check_rf(value: str) -> int:
    try:
        rf = int(value)
    except ValueError:
        raise ConfigError(f"--reuse-factor: expected a positive whole number, got {value!r}") from None
    if rf < 1:
        raise ConfigError(f"--reuse-factor: expected a positive whole number, got {value!r}")
    return rf


def _set_reuse_factor(config: dict, rf: int) -> dict:
    """Every reuse factor of an hls4ml config set to ``rf`` (``Model`` and each ``LayerName`` entry
    that has one): the uniform-RF design the axis asks for."""

    inner = unwrap_hls_config(config)
    inner.setdefault("Model", {})["ReuseFactor"] = rf
    for entry in (inner.get("LayerName") or {}).values():
        if isinstance(entry, dict) and "ReuseFactor" in entry:
            entry["ReuseFactor"] = rf
    return config


@dataclass(frozen=True)
class Axis:
    """One grid axis: the keyword of ``convert_and_optimize`` (``key``), the CLI ``flag``, a short
    ``tag`` for point ids, ``parse`` (a string → the value, raising a ConfigError naming the flag)
    and, for an axis that changes the hls4ml config instead of a keyword, ``config`` (config, value →
    config)."""

    key: str
    flag: str
    tag: str
    parse: Callable[[str], Any]
    config: Callable[[dict, Any], dict] | None = None


AXES: dict[str, Axis] = {
    a.key: a
    for a in (
        Axis("latency_budget", "--latency-budget", "lat", _check_budget("--latency-budget", "latency")),
        Axis("ii_budget", "--ii-budget", "ii", _check_budget("--ii-budget", "ii")),
        Axis("dsp_budget", "--dsp-budget", "dsp", _check_budget("--dsp-budget", "dsp")),
        Axis("bram_budget", "--bram-budget", "bram", _check_budget("--bram-budget", "bram")),
        Axis("rtol", "--rtol", "rtol", lambda v: check_rtol(v, "--rtol")),
        Axis("reuse_factor", "--reuse-factor", "rf", _check_rf, _set_reuse_factor),
    )
}


def budget_axis(key: str) -> Axis:
    """The axis of a ``<name>_budget`` keyword (``lut_budget`` → ``--lut-budget``), checked by
    :func:`~hls_opt.config.parse_budgets`'s ``<name>`` argument."""
    name = key[: -len("_budget")]
    flag = "--" + key.replace("_", "-")
    return Axis(key, flag, name, _check_budget(flag, name))


def register_axis(axis: Axis) -> None:
    """Add a grid axis (e.g. ``--lut-budget`` or a precision); a taken key is replaced."""
    AXES[axis.key] = axis


def split_list(value: Any) -> list[str]:
    """``'30,43, 60'`` → ``['30', '43', '60']``; a non-string is one value."""
    if not isinstance(value, str):
        return [value]
    items = [v.strip() for v in value.split(",")]
    if any(not v for v in items):
        raise ConfigError(f"empty item in the list {value!r}")
    return items


def grid_points(axes: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """The Cartesian product of ``{axis: values}`` in the given order (one empty point without axes)."""
    keys = list(axes)
    return [dict(zip(keys, combo)) for combo in itertools.product(*(axes[k] for k in keys))]


def point_id(values: Mapping[str, Any]) -> str:
    """A stable, file-name-safe id: ``lat30``, ``lat43-rtol0.95``; ``base`` for the empty point."""
    if not values:
        return "base"
    parts = []
    for key, value in values.items():
        tag = AXES[key].tag if key in AXES else key
        parts.append(tag + re.sub(r"[^A-Za-z0-9.]+", "_", str(value)))
    return "-".join(parts)


# ------------------------------------------------------------------------------------------
# One point (runs in a worker process)
# ------------------------------------------------------------------------------------------


def _fresh_process_setup(seed: int, threads: int) -> None:
    """The same start for every point: thread counts before TensorFlow loads, seeds, op determinism."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    os.environ["TF_NUM_INTRAOP_THREADS"] = str(threads)
    os.environ["TF_NUM_INTEROP_THREADS"] = str(threads)
    import keras

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        with contextlib.suppress(RuntimeError):  # already set in this process
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)
        tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(seed)


def run_point(spec: Mapping[str, Any]) -> dict[str, Any]:
    """Run one point (a plain, JSON-able ``spec`` made by :func:`point_specs`) and write its outputs;
    returns its summary (:func:`summarize`) or a failure record.  Never raises for the point's own
    errors: bad input is ``status: failed``, anything else ``status: error``."""
    import logging
    import warnings


    set_quiet(True)  # the driver reports progress; a worker's bars would interleave
    logging.getLogger("hls_opt").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    ex, pid, values = Path(spec["ex"]), spec["id"], dict(spec["values"])
    try:
        _fresh_process_setup(int(spec["seed"]), int(spec["threads"]))
        from hls_opt.flow.run import convert_and_optimize

        kwargs = dict(spec["kwargs"])
        config = spec["config"]
        config_axes = [(AXES[k], v) for k, v in values.items() if k in AXES and AXES[k].config is not None]
        if config_axes:
            config = _point_config(spec["model"], config)
            for axis, value in config_axes:
                config = axis.config(config, axis.parse(str(value)))
        kwargs.update({k: v for k, v in values.items() if not (k in AXES and AXES[k].config is not None)})
        result = convert_and_optimize(spec["model"], config, data=spec["data"], **kwargs)
        result.save(ex / "points" / pid, plots=bool(spec["plots"]))
        with contextlib.suppress(FileNotFoundError):
            (ex / "failed" / f"{pid}.json").unlink()
        return summarize(pid, values, result.report)
    except HlsOptError as exc:
        return _failed(ex, pid, values, "failed", str(exc))
    except Exception as exc:  # an internal error of one point must not end the others
        return _failed(ex, pid, values, "error", f"{type(exc).__name__}: {exc}")


def _point_config(model: str, config: Any) -> dict:
    """A private, mutable copy of the point's config (the file's, else hls4ml's default for the model)."""
    import copy


    cfg, _ = load_hls_config(config)
    if cfg is None:

        cfg = config_from_keras_model(load_model(model), granularity="name")
    return copy.deepcopy(dict(cfg))


def _failed(ex: Path, pid: str, values: Mapping[str, Any], status: str, message: str) -> dict[str, Any]:
    first = message.strip().splitlines()[0] if message.strip() else status
    record = {"id": pid, "values": dict(values), "status": status, "message": first}
    (ex / "failed").mkdir(parents=True, exist_ok=True)
    atomic_write_text(ex / "failed" / f"{pid}.json", json.dumps(record, indent=2) + "\n")
    return record


def run_point_in_subprocess(spec: Mapping[str, Any]) -> dict[str, Any]:
    """:func:`run_point` in a fresh ``python -m hls_opt.flow.explore SPEC`` process (Dask tasks: a
    worker process is long-lived, possibly multi-threaded and daemonic); the summary is read back from
    what the point wrote."""
    proc = subprocess.run(
        [sys.executable, "-m", "hls_opt.flow.explore", json.dumps(dict(spec))],
        capture_output=True,
        text=True,
        check=False,
    )
    done = load_point(Path(spec["ex"]), spec["id"], spec["values"])
    if done is None:
        tail = (proc.stderr or "").strip().splitlines()[-1:] or [f"exit status {proc.returncode}"]
        return _failed(Path(spec["ex"]), spec["id"], spec["values"], "error", tail[0])
    return done


def summarize(pid: str, values: Mapping[str, Any], report: Mapping[str, Any]) -> dict[str, Any]:
    """A design's line of ``front.json`` from its ``report.json``."""
    total = (report.get("total") or {}).get("after") or {}
    timing = (report.get("timing") or {}).get("after") or {}
    budgets = report.get("budgets") or {}
    metric = report.get("final_metric")
    return {
        "id": pid,
        "values": dict(values),
        "status": "ok",
        "dsp": total.get("dsp"),
        "lut": total.get("lut"),
        "latency_cycles": timing.get("latency_cycles"),
        "ii": timing.get("ii"),
        "accuracy": metric,
        "baseline_accuracy": report.get("baseline_metric"),
        "increasing": bool(report.get("increasing", True)),
        "budgets_met": budgets.get("all_met") if budgets else None,
        "reuse_factors": {row["name"]: row.get("reuse_factor") for row in report.get("layers") or () if row.get("modelled", True)},
        "path": f"points/{pid}",
    }


def load_point(ex: Path, pid: str, values: Mapping[str, Any]) -> dict[str, Any] | None:
    """A finished point's record: its summary (``points/<id>/report.json``), its ``failed`` record
    (bad input), or None (not run, or an internal error: run it again)."""
    report = ex / "points" / pid / "report.json"
    if report.is_file():
        return summarize(pid, values, json.loads(report.read_text(encoding="utf-8")))
    failed = ex / "failed" / f"{pid}.json"
    if failed.is_file():
        record = json.loads(failed.read_text(encoding="utf-8"))
        return record if record.get("status") == "failed" else None
    return None


# ------------------------------------------------------------------------------------------
# The front
# ------------------------------------------------------------------------------------------

_MINIMISED = ("dsp", "lut", "latency_cycles", "ii")


def _dominates(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """``a`` is no worse than ``b`` on DSP, LUT, latency, II (fewer) and accuracy (better), and better
    on one."""
    sign = 1.0 if a.get("increasing", True) else -1.0
    pairs = [(float(a[k]), float(b[k])) for k in _MINIMISED if a.get(k) is not None and b.get(k) is not None]
    if a.get("accuracy") is not None and b.get("accuracy") is not None:
        pairs.append((-sign * float(a["accuracy"]), -sign * float(b["accuracy"])))
    return all(x <= y for x, y in pairs) and any(x < y for x, y in pairs)


def mark_front(designs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Every design with ``front``: True when no other design dominates it (:func:`_dominates`)."""
    out = [dict(d) for d in designs]
    for d in out:
        d["front"] = not any(_dominates(o, d) for o in out if o is not d)
    return out


def front_document(points: Sequence[Mapping[str, Any]], settings: Mapping[str, Any]) -> dict[str, Any]:
    """``front.json``: the grid, every design (``front`` marked) and every failed point, in grid order."""
    ok = [p for p in points if p.get("status") == "ok"]
    return {
        "grid": settings.get("grid"),
        "objective": settings.get("kwargs", {}).get("objective"),
        "designs": mark_front(ok),
        "failed": [p for p in points if p.get("status") != "ok"],
    }


def write_front(ex: Path, document: Mapping[str, Any], plots: bool = True) -> list[Path]:
    atomic_write_text(ex / FRONT_FILE, json.dumps(document, indent=2) + "\n")
    written = [ex / FRONT_FILE]
    if plots and document.get("designs"):
        figure = front_figure(document)
        if figure is not None:
            with atomic_output(ex / PLOT_FILE) as temp, open(temp, "wb") as handle:
                figure.savefig(handle, format="png", dpi=110)
            import matplotlib.pyplot as plt

            plt.close(figure)
            written.append(ex / PLOT_FILE)
    return written


def front_figure(document: Mapping[str, Any]) -> Any:
    """DSPs against latency, coloured by accuracy, the front's designs circled and named; None without
    matplotlib (the ``plots`` extra)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    designs = [d for d in document["designs"] if d.get("dsp") is not None and d.get("latency_cycles") is not None]
    if not designs:
        return None
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    acc = [d["accuracy"] if d.get("accuracy") is not None else float("nan") for d in designs]
    points = ax.scatter([d["latency_cycles"] for d in designs], [d["dsp"] for d in designs], c=acc, cmap="viridis", zorder=2)
    front = [d for d in designs if d.get("front")]
    ax.scatter(
        [d["latency_cycles"] for d in front], [d["dsp"] for d in front], s=160, facecolors="none",
        edgecolors="crimson", label="front (no design beats it)", zorder=3,
    )
    for d in designs:
        ax.annotate(d["id"], (d["latency_cycles"], d["dsp"]), fontsize=7, xytext=(4, 4), textcoords="offset points")
    fig.colorbar(points, ax=ax, label="accuracy (validation)")
    ax.set_xlabel("latency (cycles)")
    ax.set_ylabel("DSP")
    ax.set_title(f"hls-opt explore: {len(designs)} designs, {len(front)} on the front")
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------------------------------
# Executors (existing engines only)
# ------------------------------------------------------------------------------------------


def _local(specs: Sequence[Mapping[str, Any]], jobs: int) -> Iterator[dict[str, Any]]:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    spawn = multiprocessing.get_context("spawn")
    if sys.version_info >= (3, 11):  # a fresh worker process per point
        pool, task = ProcessPoolExecutor(max_workers=jobs, mp_context=spawn, max_tasks_per_child=1), run_point
    else:  # no max_tasks_per_child before 3.11: each worker runs its point in a fresh subprocess
        pool, task = ProcessPoolExecutor(max_workers=jobs, mp_context=spawn), run_point_in_subprocess
    try:
        futures = [pool.submit(task, dict(s)) for s in specs]
        for future in as_completed(futures):
            yield future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _ray(specs: Sequence[Mapping[str, Any]], address: str) -> Iterator[dict[str, Any]]:
    try:
        import ray
    except ImportError:
        raise ConfigError("--ray: Ray is not installed (pip install 'hls-opt[ray]')") from None
    started = False
    if not ray.is_initialized():
        ray.init(address=address, log_to_driver=False)
        started = True
    try:
        task = ray.remote(max_calls=1, num_cpus=1)(run_point)  # a fresh worker process per point
        pending = [task.remote(dict(s)) for s in specs]
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            yield ray.get(done[0])
    finally:
        if started:
            ray.shutdown()


def _dask(specs: Sequence[Mapping[str, Any]], address: str) -> Iterator[dict[str, Any]]:
    try:
        from distributed import Client, as_completed
    except ImportError:
        raise ConfigError("--dask: Dask distributed is not installed (pip install 'hls-opt[dask]')") from None
    client = Client(address, set_as_default=False)
    try:
        futures = [client.submit(run_point_in_subprocess, dict(s), key=f"hls-opt-explore-{s['id']}-{os.getpid()}", pure=False) for s in specs]
        for future in as_completed(futures, loop=client.loop):
            yield future.result()
    finally:
        client.close()


# ------------------------------------------------------------------------------------------
# The driver
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExploreResult:
    """What an explore produced: every point's record (grid order), the ``front.json`` document and
    the files written."""

    points: list[dict[str, Any]]
    front: dict[str, Any]
    written: list[Path]

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [p for p in self.points if p.get("status") != "ok"]


def _best_text(records: Sequence[Mapping[str, Any]]) -> str:
    ok = [r for r in records if r.get("status") == "ok" and r.get("dsp") is not None]
    if not ok:
        return "no design yet"
    sign = 1.0 if ok[0].get("increasing", True) else -1.0
    best = min(ok, key=lambda r: (r["dsp"], -sign * (r.get("accuracy") or 0.0)))
    acc = f", accuracy {best['accuracy']:.4f}" if best.get("accuracy") is not None else ""
    return f"best so far: {best['id']} DSP {best['dsp']:.0f}, latency {best['latency_cycles']}{acc}"


def _point_text(record: Mapping[str, Any]) -> str:
    if record.get("status") != "ok":
        return f"{record['id']} {record.get('status')}: {record.get('message')}"
    acc = f", accuracy {record['accuracy']:.4f}" if record.get("accuracy") is not None else ""
    return f"{record['id']}: DSP {record['dsp']:.0f}, latency {record['latency_cycles']}, II {record['ii']}{acc}"


def explore(
    model: str | Path,
    config: str | Path | None,
    data: str | Path | None,
    output_dir: str | Path,
    *,
    grid: Mapping[str, Sequence[Any]],
    kwargs: Mapping[str, Any] | None = None,
    jobs: int = 1,
    ray: str | None = None,
    dask: str | None = None,
    resume: bool = False,
    seed: int = 0,
    threads: int = 1,
    plots: bool = True,
) -> ExploreResult:
    """Run ``convert_and_optimize`` over ``grid`` (``{axis key: [values]}``, :data:`AXES`) with the
    fixed ``kwargs`` (plain values, as the CLI passes them) and write ``output_dir`` (module docstring).

    ``jobs`` local processes, or ``ray`` / ``dask`` the address of an existing cluster (one of the
    three).  ``resume``: keep the finished points of an earlier explore into ``output_dir``;
    without it, an existing non-empty ``output_dir`` is bad input.
    """
    if ray is not None and dask is not None:
        raise ConfigError("--ray / --dask: choose one engine")
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ConfigError(f"--jobs: expected a positive whole number, got {jobs!r}")
    ex = Path(os.path.realpath(output_dir))
    inputs = {"model": model, "config": config, "data": data}
    for what, item in inputs.items():
        if item is not None and isinstance(item, (str, os.PathLike)):
            src = Path(os.path.realpath(item))
            if src == ex or ex in src.parents:
                raise ConfigError(f"{output_dir}: is or holds the input {what} {item} (-o); choose another folder")
    if ex.exists() and not ex.is_dir():
        raise ConfigError(f"{output_dir}: exists and is not a directory (-o)")
    if ex.is_dir() and any(ex.iterdir()) and not resume:
        raise ConfigError(f"{output_dir}: exists and is not empty (-o); --resume continues an explore there, or use a new folder")
    for key, values in grid.items():
        if key not in AXES:
            raise ConfigError(f"explore: {key!r} is not a grid axis (known: {', '.join(AXES)})")
        for v in values:
            AXES[key].parse(str(v))
    settings = {
        "grid": {k: [str(v) for v in vs] for k, vs in grid.items()},
        "kwargs": {k: v for k, v in dict(kwargs or {}).items() if v is not None},
        "model": str(Path(os.path.realpath(model))),
        "config": str(Path(os.path.realpath(config))) if config is not None else None,
        "data": str(Path(os.path.realpath(data))) if data is not None else None,
        "seed": int(seed),
        "threads": int(threads),
    }
    ex.mkdir(parents=True, exist_ok=True)
    previous = ex / SETTINGS_FILE
    if resume and previous.is_file():
        old = json.loads(previous.read_text(encoding="utf-8"))
        changed = [k for k in ("kwargs", "model", "config", "data", "seed", "threads") if old.get(k) != settings[k]]
        if changed:
            raise ConfigError(f"--resume: {output_dir} was explored with other settings ({', '.join(changed)}); use a new folder")
    atomic_write_text(previous, json.dumps(settings, indent=2) + "\n")

    specs = [
        {
            "id": point_id(values),
            "values": {k: str(v) for k, v in values.items()},
            "ex": str(ex),
            "model": settings["model"],
            "config": settings["config"],
            "data": settings["data"],
            "kwargs": settings["kwargs"],
            "seed": settings["seed"],
            "threads": settings["threads"],
            "plots": bool(plots),
        }
        for values in grid_points({k: [str(v) for v in vs] for k, vs in grid.items()})
    ]
    if len({s["id"] for s in specs}) != len(specs):
        raise ConfigError("explore: the grid repeats a point (a value given twice)")
    records: dict[str, dict[str, Any]] = {}
    for s in specs:
        done = load_point(ex, s["id"], s["values"]) if resume else None
        if done is not None:
            records[s["id"]] = done
    todo = [s for s in specs if s["id"] not in records]
    if ray is not None:
        runs = _ray(todo, ray)
    elif dask is not None:
        runs = _dask(todo, dask)
    else:
        runs = _local(todo, jobs)

    def document() -> dict[str, Any]:
        return front_document([records[s["id"]] for s in specs if s["id"] in records], settings)

    written: list[Path] = []
    with progress.tally("explore", len(specs), start=len(records)) as bar:
        if records:
            progress.status(f"explore: {len(records)} of {len(specs)} points kept from the earlier run (--resume)")
        try:
            for record in runs:
                records[record["id"]] = record
                write_front(ex, document(), plots=False)  # the finished points survive an interruption
                bar.done(f"{_point_text(record)} | {_best_text(list(records.values()))}")
        finally:
            if hasattr(runs, "close"):
                runs.close()  # stop the engine's generator (pool shutdown, ray/dask cleanup)
    written = write_front(ex, document(), plots=plots)
    points = [records[s["id"]] for s in specs]
    return ExploreResult(points=points, front=document(), written=written)


def _main(argv: Sequence[str]) -> int:
    """``python -m hls_opt.flow.explore SPEC_JSON``: run one point (Dask tasks' fresh process)."""
    record = run_point(json.loads(argv[0]))
    return 0 if record.get("status") == "ok" else 1


if __name__ == "__main__":  # pragma: no cover - a worker process
    sys.exit(_main(sys.argv[1:]))


__all__ = [
    "AXES",
    "Axis",
    "ExploreResult",
    "explore",
    "grid_points",
    "mark_front",
    "point_id",
    "register_axis",
    "run_point",
    "split_list",
]
