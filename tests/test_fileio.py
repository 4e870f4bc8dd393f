"""Atomic writes: all or nothing, no temporary file left behind, old file intact on failure."""

from __future__ import annotations

import os
import stat

import pytest

from hls_opt.core.fileio import atomic_output, atomic_write_bytes, atomic_write_text


def listing(directory):
    return sorted(p.name for p in directory.iterdir())


def test_write_text_creates_file(tmp_path):
    target = tmp_path / "a.yml"
    atomic_write_text(target, "x: 1\n")
    assert target.read_text() == "x: 1\n"
    assert listing(tmp_path) == ["a.yml"]


def test_write_text_replaces_existing(tmp_path):
    target = tmp_path / "a.txt"
    target.write_text("old")
    atomic_write_text(target, "new ü")
    assert target.read_text(encoding="utf-8") == "new ü"
    assert listing(tmp_path) == ["a.txt"]


def test_write_bytes(tmp_path):
    target = tmp_path / "b.bin"
    atomic_write_bytes(target, b"\x00\x01\xff")
    assert target.read_bytes() == b"\x00\x01\xff"


def test_accepts_str_paths(tmp_path):
    atomic_write_text(str(tmp_path / "s.txt"), "ok")
    assert (tmp_path / "s.txt").read_text() == "ok"


def test_output_renames_only_on_success(tmp_path):
    target = tmp_path / "model.keras"
    with atomic_output(target) as temp:
        # the temporary file sits beside the target, keeps its suffix, and the target does not exist yet
        assert temp.parent == tmp_path and temp.suffix == ".keras" and temp.exists()
        assert not target.exists()
        temp.write_bytes(b"weights")
    assert target.read_bytes() == b"weights"
    assert listing(tmp_path) == ["model.keras"]


def test_failure_keeps_old_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "report.json"
    target.write_text("old report")
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_output(target) as temp:
            temp.write_text("half a rep")
            raise RuntimeError("boom")
    assert target.read_text() == "old report"
    assert listing(tmp_path) == ["report.json"]


def test_failure_without_old_file_leaves_nothing(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with atomic_output(tmp_path / "new.yml") as temp:
            temp.write_text("partial")
            raise KeyboardInterrupt  # an interrupted run, too
    assert listing(tmp_path) == []


def test_failure_after_writer_made_a_directory(tmp_path):
    # Some writers replace the path by a folder; cleanup removes that too.
    with pytest.raises(ValueError):
        with atomic_output(tmp_path / "saved") as temp:
            temp.unlink()
            temp.mkdir()
            (temp / "inner").write_text("x")
            raise ValueError
    assert listing(tmp_path) == []


def test_writer_that_removes_the_temp_is_an_error(tmp_path):
    target = tmp_path / "x.txt"
    target.write_text("old")
    with pytest.raises(FileNotFoundError, match="removed its temporary file"):
        with atomic_output(target) as temp:
            temp.unlink()
    assert target.read_text() == "old"
    assert listing(tmp_path) == ["x.txt"]


def test_missing_directory_raises_and_creates_nothing(tmp_path):
    with pytest.raises(FileNotFoundError):
        atomic_write_text(tmp_path / "no" / "such" / "dir.txt", "x")
    assert listing(tmp_path) == []


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_permissions(tmp_path):
    # New files get the usual 0666 & ~umask (not mkstemp's 0600); replaced files keep their mode.
    umask = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "new.txt", "x")
        assert stat.S_IMODE((tmp_path / "new.txt").stat().st_mode) == 0o644
        existing = tmp_path / "old.txt"
        existing.write_text("x")
        existing.chmod(0o600)
        atomic_write_text(existing, "y")
        assert stat.S_IMODE(existing.stat().st_mode) == 0o600
    finally:
        os.umask(umask)
