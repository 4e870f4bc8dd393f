"""``hls-opt explore``: the grid, the front, failures, resume, progress, and the
same front from local processes, a local Ray cluster and a local Dask cluster."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hls_opt.core import progress
from hls_opt.errors import ConfigError
from hls_opt.flow.explore import (
    _set_reuse_factor,
    explore,
    grid_points,
    mark_front,
    point_id,
    split_list,
)

# -- the grid --------------------------------------------------------------------------------------


def test_grid_is_the_product_in_order_and_ids_are_stable():
    points = grid_points({"latency_budget": ["30", "43"], "rtol": ["0.95", "0.9"]})
    assert points == [
        {"latency_budget": "30", "rtol": "0.95"},
        {"latency_budget": "30", "rtol": "0.9"},
        {"latency_budget": "43", "rtol": "0.95"},
        {"latency_budget": "43", "rtol": "0.9"},
    ]
    assert [point_id(p) for p in points] == ["lat30-rtol0.95", "lat30-rtol0.9", "lat43-rtol0.95", "lat43-rtol0.9"]
    assert point_id({"latency_budget": "200ns"}) == "lat200ns" and point_id({}) == "base"
    assert grid_points({}) == [{}]


def test_split_list():
    assert split_list("30, 43,60") == ["30", "43", "60"]
    with pytest.raises(ConfigError, match="empty item"):
        split_list("30,,43")


def test_reuse_factor_axis_sets_every_rf():
    cfg = {"Model": {"ReuseFactor": 1}, "LayerName": {"fc1": {"ReuseFactor": 2}, "fc2": {"Precision": "x"}}}
    out = _set_reuse_factor(cfg, 8)
    assert out["Model"]["ReuseFactor"] == 8 and out["LayerName"]["fc1"]["ReuseFactor"] == 8
    assert "ReuseFactor" not in out["LayerName"]["fc2"]  # follows Model's


def test_front_marks_the_designs_no_other_beats():
    def d(i, dsp, lat, acc, lut=100, ii=1):
        return {"id": i, "dsp": dsp, "lut": lut, "latency_cycles": lat, "ii": ii, "accuracy": acc, "increasing": True}

    designs = [
        d("a", 100, 30, 0.90),  # fewest DSPs
        d("b", 200, 20, 0.95),  # fastest and most accurate
        d("c", 200, 30, 0.90),  # beaten by a (fewer DSPs, same rest) and by b
        d("d", 100, 30, 0.90),  # equal to a: neither beats the other
        d("e", 150, 25, 0.92),  # between a and b on every axis: beaten by none
    ]
    assert {x["id"]: x["front"] for x in mark_front(designs)} == {"a": True, "b": True, "c": False, "d": True, "e": True}
    # lower-is-better metric (a loss): the smaller value wins
    loss = [dict(d("a", 100, 30, 0.2), increasing=False), dict(d("b", 100, 30, 0.3), increasing=False)]
    assert [x["front"] for x in mark_front(loss)] == [True, False]


def test_bad_grid_values_and_folders_are_bad_input(tmp_path):
    (tmp_path / "ex").mkdir()
    (tmp_path / "ex" / "x").write_text("")
    with pytest.raises(ConfigError, match="not empty"):
        explore(tmp_path / "m.keras", None, None, tmp_path / "ex", grid={})
    with pytest.raises(ConfigError, match="--latency-budget"):
        explore(tmp_path / "m.keras", None, None, tmp_path / "new", grid={"latency_budget": ["30", "abc"]})
    with pytest.raises(ConfigError, match="--rtol"):
        explore(tmp_path / "m.keras", None, None, tmp_path / "new2", grid={"rtol": ["0.9", "1.5"]})
    with pytest.raises(ConfigError, match="choose one engine"):
        explore(tmp_path / "m.keras", None, None, tmp_path / "new3", grid={}, ray="a", dask="b")


def test_cli_bad_grid_value_exits_2_before_anything(tmp_path, capsys):
    from hls_opt.cli import main

    model = tmp_path / "m.keras"
    _tiny_model().save(model)
    code = main(["explore", str(model), "--latency-budget", "30,-4", "-o", str(tmp_path / "ex")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("hls-opt: error: --latency-budget")
    assert not (tmp_path / "ex").exists()


# -- progress (item 4) -----------------------------------------------------------------------------


def test_tally_one_line_per_point_and_quiet(capsys):
    progress.set_quiet(False)
    with progress.tally("explore", 3, start=1) as t:
        t.done("p2 | best so far: p2")
        t.done("p3")
    assert capsys.readouterr().err.splitlines() == ["explore: 2/3 p2 | best so far: p2", "explore: 3/3 p3"]
    progress.set_quiet(True)
    try:
        with progress.tally("explore", 1) as t:
            t.done("p1")
        assert capsys.readouterr().err == ""
    finally:
        progress.set_quiet(False)


def test_tally_draws_a_bar_on_a_terminal(capsys):
    progress.force_bars(True)
    try:
        with progress.tally("explore", 2) as t:
            t.done("p1 | best so far: p1")
        err = capsys.readouterr().err
    finally:
        progress.force_bars(False)
    assert "explore" in err and "1/2" in err and "explore: 1/2 p1" not in err.splitlines()


# -- end to end: local processes, Ray, Dask ---------------------------------------------------------


def _tiny_model():
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((16,)),
            keras.layers.Dense(16, activation="relu", name="fc1"),
            keras.layers.Dense(8, activation="relu", name="fc2"),
            keras.layers.Dense(4, activation="softmax", name="out"),
        ]
    )
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    return model


def _data(n, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 16)).astype(np.float32)
    w = np.random.default_rng(99).normal(size=(16, 4))
    return x, np.eye(4, dtype=np.float32)[np.argmax(x @ w, axis=1)]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    from hls_opt.config import save_config

    root = tmp_path_factory.mktemp("explore_inputs")
    model = _tiny_model()
    model.fit(*_data(256, 0), epochs=3, verbose=0)
    model.save(root / "model.keras")
    # Latency RF 1: fastest latency 20 cycles (every layer at RF 1); 12 is infeasible (a failed point)
    save_config({"Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 1, "Strategy": "Latency"}}, root / "c.yml")
    x, y = _data(256, 0)
    xv, yv = _data(64, 1)
    np.savez(root / "d.npz", X_train=x, y_train=y, X_val=xv, y_val=yv)
    return root


def _argv(root, out, *engine):
    return [
        "explore", str(root / "model.keras"), "--config", str(root / "c.yml"), "--data", str(root / "d.npz"),
        "--optimize", "dsp", "--latency-budget", "12,30,45", "--scheduler", "polynomial:2:0.5", "--epochs", "2",
        "--rtol", "0.9", "--no-plots", "-q", *engine, "-o", str(out),
    ]


def _numbers(front):
    return [
        (d["id"], d["dsp"], d["lut"], d["latency_cycles"], d["ii"], d["accuracy"], d["front"], d["reuse_factors"])
        for d in front["designs"]
    ]


def _check_front(out, code, err=None):
    front = json.loads((out / "front.json").read_text())
    assert code == 3  # one point failed, the others kept
    assert [d["id"] for d in front["designs"]] == ["lat30", "lat45"]
    assert [f["id"] for f in front["failed"]] == ["lat12"] and front["failed"][0]["status"] == "failed"
    assert "--latency-budget" in front["failed"][0]["message"]
    if err is not None:  # stderr of this run (a failed point is one line, even with -q)
        assert any(line.startswith("hls-opt: point lat12 failed: --latency-budget") for line in err)
    for d in front["designs"]:
        assert d["latency_cycles"] <= int(d["id"][3:]) and d["budgets_met"] is True
        for name in ("model.keras", "hls_config.yml", "report.json"):
            assert (out / "points" / d["id"] / name).is_file()
    return front


@pytest.fixture(scope="module")
def local_front(inputs, tmp_path_factory):
    from hls_opt.cli import main

    out = tmp_path_factory.mktemp("ex") / "local"
    code = main(_argv(inputs, out, "--jobs", "2"))
    return out, code


@pytest.mark.slow
def test_local_jobs_2_front_failed_point_and_resume(local_front, inputs, capsys):
    from hls_opt.cli import main

    out, code = local_front
    front = _check_front(out, code)
    before = {d["id"]: (out / "points" / d["id"] / "report.json").stat().st_mtime_ns for d in front["designs"]}
    # an interrupted explore: one design's folder never got written; --resume runs only that one
    import shutil

    shutil.rmtree(out / "points" / "lat45")
    capsys.readouterr()
    code = main([a for a in _argv(inputs, out, "--jobs", "2") if a != "-q"] + ["--resume"])
    err = capsys.readouterr().err.splitlines()
    again = _check_front(out, code, err)
    assert (out / "points" / "lat30" / "report.json").stat().st_mtime_ns == before["lat30"]  # kept, not re-run
    assert "explore: 2 of 3 points kept from the earlier run (--resume)" in err
    assert [line for line in err if line.startswith("explore: 3/3 lat45")]  # the one line of the re-run point
    assert _numbers(again) == _numbers(front)  # the re-run gives the same design


@pytest.mark.slow
def test_ray_local_cluster_gives_the_same_front(local_front, inputs, tmp_path, capsys):
    import ray

    from hls_opt.cli import main

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        code = main(_argv(inputs, tmp_path / "ray", "--ray", "auto"))
    finally:
        ray.shutdown()
    front = _check_front(tmp_path / "ray", code, capsys.readouterr().err.splitlines())
    local = json.loads((local_front[0] / "front.json").read_text())
    assert _numbers(front) == _numbers(local)


@pytest.mark.slow
def test_dask_local_cluster_gives_the_same_front(local_front, inputs, tmp_path, capsys):
    from distributed import LocalCluster

    from hls_opt.cli import main

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        code = main(_argv(inputs, tmp_path / "dask", "--dask", cluster.scheduler_address))
    front = _check_front(tmp_path / "dask", code, capsys.readouterr().err.splitlines())
    local = json.loads((local_front[0] / "front.json").read_text())
    assert _numbers(front) == _numbers(local)


@pytest.mark.slow
def test_reuse_factor_axis_one_shot(inputs, tmp_path):
    from hls_opt.cli import main

    # no data: one-shot pruning to the schedule's 50 % at each RF; Latency → the RF axis sets Model and
    # every layer's ReuseFactor, which the report reads back per layer
    out = tmp_path / "rf"
    argv = [
        "explore", str(inputs / "model.keras"), "--config", str(inputs / "c.yml"), "--optimize", "dsp",
        "--reuse-factor", "2,4", "--scheduler", "polynomial:1:0.5", "--jobs", "2", "--no-plots", "-q", "-o", str(out),
    ]
    assert main(argv) == 0
    front = json.loads((out / "front.json").read_text())
    designs = {d["id"]: d for d in front["designs"]}
    assert set(designs) == {"rf2", "rf4"} and front["failed"] == []
    for rf in (2, 4):
        report = json.loads((out / "points" / f"rf{rf}" / "report.json").read_text())
        weighted = [row for row in report["layers"] if row["name"] in ("fc1", "fc2", "out")]
        assert {row["reuse_factor_before"] for row in weighted} == {rf}
        # 50 % of the unpruned DSPs (one DSP per 16-bit multiplier, ⌈n/RF⌉ each: 416 / RF in all)
        assert report["total"]["before"]["dsp"] == 416 // rf
        assert designs[f"rf{rf}"]["dsp"] <= 416 // rf // 2
    # a larger reuse factor, fewer multipliers
    assert designs["rf4"]["dsp"] < designs["rf2"]["dsp"]
