"""hls-opt deletes or adopts only what it can prove it wrote.

Every output folder carries hls-opt's manifest (``.hls-opt-manifest.json``: each entry hls-opt
wrote, with its type, size and SHA-256).  An existing ``-o`` folder is replaced only when every
entry in it is listed there and still matches; anything else (a user's ``holiday.png`` folder, a
photo ``*.png``, ``model.keras/notes.txt``, an edited ``report.json``) makes the run refuse with
exit 2 naming the path, and the user's files stay.  Leftover staging folders beside the output
are adopted or removed only when they are provably ours (our marker, our uid, a dead writer).
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from hls_opt.cli import main
from hls_opt.core.fileio import MANIFEST_NAME, check_output_dir, remove_leftovers, replace_dir
from hls_opt.errors import ConfigError
from hls_opt.flow.result import OptimizationResult


class _Model:
    def __init__(self, payload: bytes = b"weights"):
        self.payload = payload

    def save(self, path):
        Path(path).write_bytes(self.payload)


def _result(payload: bytes = b"weights") -> OptimizationResult:
    return OptimizationResult(model=_Model(payload), hls_config={"Model": {}}, graph=None, report={})


def _dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(proc.stdout)


def _tree(folder: Path) -> dict[str, bytes | None]:
    """Every path under ``folder`` (relative) → its bytes (files) or None (folders)."""
    out: dict[str, bytes | None] = {}
    for path in sorted(folder.rglob("*")):
        out[str(path.relative_to(folder))] = None if path.is_dir() else path.read_bytes()
    return out


# -- the user's own files in -o ------------------------------------------------------------------

USER_TREES = {
    # a folder named like a plot, holding the user's photos: was matched by name and deleted whole
    "folder holiday.png": {"holiday.png/beach.jpg": b"\xff\xd8 a photo"},
    "file photo.png": {"photo.png": b"\x89PNG the user's own picture"},
    "model.keras/notes.txt": {"model.keras/notes.txt": b"my notes"},
    "report.json/sub/deep": {"report.json/sub/deep.txt": b"deep"},
}


@pytest.mark.parametrize("case", sorted(USER_TREES))
def test_a_users_files_in_the_output_folder_survive_and_the_save_is_refused(tmp_path, case):
    out = tmp_path / "out"
    for rel, data in USER_TREES[case].items():
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_bytes(data)
    before = _tree(out)
    top = next(iter(USER_TREES[case])).split("/")[0]
    with pytest.raises(ConfigError, match=f"{top}.*not written by hls-opt"):
        _result().save(out, plots=False)
    assert _tree(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no staging folder left


def test_the_cli_refuses_with_exit_2_naming_the_users_path(tmp_path, capsys):
    out = tmp_path / "out"
    (out / "holiday.png").mkdir(parents=True)
    (out / "holiday.png" / "beach.jpg").write_bytes(b"photo")
    # -o is checked first, before the model file: exit 2 names the user's folder
    code = main(["optimize", str(tmp_path / "m.keras"), "-o", str(out), "-q"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert str(out / "holiday.png") in err[0] and "not written by hls-opt" in err[0]
    assert (out / "holiday.png" / "beach.jpg").read_bytes() == b"photo"


def test_an_earlier_output_is_recognised_by_its_manifest_and_replaced_whole(tmp_path):
    out = tmp_path / "out"
    _result(b"first").save(out, plots=False)
    manifest = json.loads((out / MANIFEST_NAME).read_text())
    # the manifest lists exactly what was written, with type, size and hash
    assert sorted(manifest["entries"]) == ["hls_config.yml", "model.keras", "report.json"]
    assert manifest["entries"]["model.keras"]["type"] == "file"
    assert manifest["entries"]["model.keras"]["size"] == len(b"first")
    # an earlier run's plot (recorded in its manifest) does not survive a run without plots
    (out / "steps.png").write_bytes(b"plot")
    manifest["entries"]["steps.png"] = {"type": "file", "size": 4,
                                        "sha256": __import__("hashlib").sha256(b"plot").hexdigest()}
    (out / MANIFEST_NAME).write_text(json.dumps(manifest))
    _result(b"second").save(out, plots=False)
    assert sorted(p.name for p in out.iterdir()) == [MANIFEST_NAME, "hls_config.yml", "model.keras", "report.json"]
    assert (out / "model.keras").read_bytes() == b"second"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


@pytest.mark.parametrize("change", ["edited", "replaced by a folder", "replaced by a link", "added beside"])
def test_an_earlier_output_the_user_changed_is_not_ours_any_more(tmp_path, change):
    out = tmp_path / "out"
    _result().save(out, plots=False)
    report = out / "report.json"
    if change == "edited":
        report.write_text('{"my": "annotations"}')
    elif change == "replaced by a folder":
        report.unlink()
        report.mkdir()
        (report / "x").write_text("mine")
    elif change == "replaced by a link":
        (tmp_path / "elsewhere.json").write_text("{}")
        report.unlink()
        report.symlink_to(tmp_path / "elsewhere.json")
    else:
        (out / "layers.png").write_bytes(b"the user's png")
        report = out / "layers.png"
    before = _tree(out)
    with pytest.raises(ConfigError, match=f"{report.name}.*not written by hls-opt"):
        _result().save(out, plots=False)
    assert _tree(out) == before


@pytest.mark.parametrize("manifest", ["", "not json", "[]", '{"entries": 5}', "{" * 100000, "x" * 2_000_000])
def test_a_broken_or_foreign_manifest_proves_nothing(tmp_path, manifest):
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.json").write_text("{}")
    (out / MANIFEST_NAME).write_text(manifest)
    with pytest.raises(ConfigError, match="not written by hls-opt"):
        check_output_dir(out)
    assert (out / "report.json").read_text() == "{}"


def test_the_swap_checks_again_after_moving_the_old_folder_aside(tmp_path):
    # A file added after the check (during the training) is found at the swap; the old folder is
    # put back and the new one dropped.
    out = tmp_path / "out"
    _result().save(out, plots=False)
    (out / "late.txt").write_text("added during training")
    staging = tmp_path / "staging"
    staging.mkdir()
    with pytest.raises(ConfigError, match="late.txt"):
        replace_dir(staging, out)
    assert (out / "late.txt").read_text() == "added during training"
    assert (out / "report.json").is_file()


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_an_existing_output_folder_does_not_pass_its_mode_on(tmp_path):
    out = tmp_path / "out"
    _result().save(out, plots=False)
    out.chmod(0o777)
    old = os.umask(0o022)
    try:
        _result().save(out, plots=False)
    finally:
        os.umask(old)
    assert stat.S_IMODE(out.stat().st_mode) == 0o755


# -- leftovers beside the output ------------------------------------------------------------------


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_a_planted_old_folder_is_not_adopted_and_passes_no_mode_on(tmp_path):
    pid = _dead_pid()
    planted = tmp_path / f".out.{pid}.0123abcd.old"
    planted.mkdir()
    (planted / "report.json").write_text('{"planted": true}')
    planted.chmod(0o777)
    old = os.umask(0o022)
    try:
        _result().save(tmp_path / "out", plots=False)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "out").stat().st_mode) == 0o755
    assert json.loads((tmp_path / "out" / "report.json").read_text()) != {"planted": True}
    assert (planted / "report.json").read_text() == '{"planted": true}'  # left alone, not ours


@pytest.mark.parametrize("suffix", ["old", "tmp"])
def test_a_leftover_without_our_marker_is_left_alone(tmp_path, suffix):
    pid = _dead_pid()
    planted = tmp_path / f".out.{pid}.0123abcd.{suffix}"
    (planted / "sub").mkdir(parents=True)
    (planted / "sub" / "mine.txt").write_text("mine")
    (tmp_path / "out").mkdir()  # an existing (empty) output: the old one is not put back either
    _result().save(tmp_path / "out", plots=False)
    assert (planted / "sub" / "mine.txt").read_text() == "mine"


@pytest.mark.skipif(not hasattr(os, "chown") or os.getuid() != 0, reason="needs root to give a folder away")
def test_a_leftover_of_another_user_is_left_alone(tmp_path):
    # a real output of ours, renamed aside as a killed run would leave it, then given to another uid
    _result().save(tmp_path / "src", plots=False)
    pid = _dead_pid()
    aside = tmp_path / f".out.{pid}.0123abcd.old"
    os.rename(tmp_path / "src", aside)
    os.chown(aside, 4242, 4242)
    remove_leftovers(tmp_path / "out")
    assert aside.is_dir() and not (tmp_path / "out").exists()


def test_our_own_old_folder_is_put_back_when_the_output_is_missing(tmp_path):
    # killed between the two renames of the swap: the earlier output sits aside, the target is gone
    _result(b"earlier").save(tmp_path / "src", plots=False)
    pid = _dead_pid()
    os.rename(tmp_path / "src", tmp_path / f".out.{pid}.0123abcd.old")
    remove_leftovers(tmp_path / "out")
    assert (tmp_path / "out" / "model.keras").read_bytes() == b"earlier"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


_KILLED_DURING_SAVE = """
import os, signal, sys
from pathlib import Path
from hls_opt.flow.result import OptimizationResult

class Model:
    def save(self, path):
        Path(path).write_bytes(b"half")
        os.kill(os.getpid(), signal.SIGKILL)

OptimizationResult(model=Model(), hls_config={"Model": {}}, graph=None, report={}).save(sys.argv[1])
"""


def test_the_staging_folder_of_a_killed_save_is_removed_by_the_next_one(tmp_path):
    proc = subprocess.run([sys.executable, "-c", _KILLED_DURING_SAVE, str(tmp_path / "out")], timeout=120)
    assert proc.returncode == -signal.SIGKILL
    left = [p.name for p in tmp_path.iterdir()]
    assert len(left) == 1 and left[0].startswith(".out.") and left[0].endswith(".tmp")
    _result().save(tmp_path / "out", plots=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
