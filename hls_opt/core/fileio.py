"""Atomic file output for the whole project.

Every file hls-opt writes goes through here, so an interrupted or failed run never leaves a
half-written file behind: data go to a temporary file in the target's own directory (same file
system, so the final ``os.replace`` is atomic on POSIX and Windows), which is flushed, fsynced and
renamed onto the target only when writing succeeded.  On failure the temporary file is removed
and an existing target is left exactly as it was.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path

from hls_opt.errors import ConfigError

__all__ = [
    "atomic_output",
    "atomic_write_bytes",
    "atomic_write_text",
    "check_output_dir",
    "replace_dir",
    "staging_dir",
]

PathLike = str | os.PathLike[str]


def check_output_dir(
    path: PathLike, *, inputs: Mapping[str, PathLike | None] | None = None, field: str = "--output"
) -> Path:
    """Check an output folder before any work is done; return it with symbolic links resolved.

    Raises :class:`ConfigError` (one line naming ``path`` and ``field``) when ``path`` is an
    existing file, or when it is, or holds, one of ``inputs`` (``{"model": path, ...}``; ``None``
    entries are skipped): the output replaces the folder, which would destroy the input; when the
    place cannot take a new folder or an existing folder cannot be written; and when an existing
    folder holds anything but an earlier run's output (``model.keras``, ``hls_config.yml``,
    ``report.json``, ``*.png``), since the output replaces the whole folder.
    """
    given = Path(path)
    target = Path(os.path.realpath(given))
    for what, item in (inputs or {}).items():
        if item is None or not isinstance(item, (str, os.PathLike)):
            continue
        source = Path(os.path.realpath(item))
        if source == target:
            raise ConfigError(f"{given}: is the input {what} {item} ({field}); choose an output folder")
        if target in source.parents:
            raise ConfigError(
                f"{given}: holds the input {what} {item}, which the output would replace ({field}); "
                "choose another output folder"
            )
    if target.exists() and not target.is_dir():
        raise ConfigError(f"{given}: exists and is not a directory ({field})")
    # The output is staged beside the (resolved) folder, so that place must take a new folder,
    # and an existing folder must take new files: try both now rather than after the training.
    place = target.parent
    while not place.exists() and place != place.parent:
        place = place.parent
    probe = place / f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.probe"
    try:
        os.mkdir(probe)
        os.rmdir(probe)
    except OSError as exc:
        raise ConfigError(
            f"{given}: cannot create the output folder ({exc.strerror or exc}: {place}) ({field})"
        ) from None
    if target.is_dir():
        probe = target / f".hls-opt.{os.getpid()}.{secrets.token_hex(4)}.probe"
        try:
            os.close(os.open(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
            os.unlink(probe)
        except OSError as exc:
            raise ConfigError(
                f"{given}: cannot write into the output folder ({exc.strerror or exc}) ({field})"
            ) from None
        # The output replaces the whole folder: only an empty one or an earlier run's output may go.
        foreign = sorted(p.name for p in target.iterdir() if not _is_output_file(p.name))
        if foreign:
            raise ConfigError(
                f"{given}: holds {foreign[0]!r}{' and more' if len(foreign) > 1 else ''}, which is not "
                f"hls-opt output, and the output replaces the whole folder ({field}); "
                "choose a new or empty folder"
            )
    return target


OUTPUT_FILES = frozenset({"model.keras", "hls_config.yml", "report.json"})


def _is_output_file(name: str) -> bool:
    return name in OUTPUT_FILES or name.endswith(".png")


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. another user's process
        return True
    return True


def remove_leftovers(target: Path) -> None:
    """Remove what a killed run (SIGKILL, power loss) left beside ``target``.

    The temporary folders of :func:`staging_dir` and :func:`replace_dir` carry the writer's pid;
    those of processes that no longer run are removed, except an earlier output renamed aside
    while ``target`` is missing: that one is put back.
    """
    pattern = re.compile(rf"^\.{re.escape(target.name)}\.(\d+)\.[0-9a-f]{{8}}\.(tmp|old|probe)$")
    try:
        entries = list(target.parent.iterdir())
    except OSError:
        return
    for entry in entries:
        match = pattern.match(entry.name)
        if match is None or _alive(int(match.group(1))) or entry.is_symlink():
            continue
        if match.group(2) == "old" and not target.exists():
            with contextlib.suppress(OSError):
                os.replace(entry, target)
            continue
        if entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                entry.unlink()


def replace_dir(staging: Path, target: Path) -> None:
    """Make the folder ``staging`` become ``target``, replacing an existing ``target`` whole.

    A new ``target`` is one rename.  An existing one is renamed aside (``.<name>.<pid>.<random>.old``),
    ``staging`` renamed into its place (it takes the old folder's mode) and the old one removed:
    ``target`` holds either the old or the new run, never a mix; if the second rename fails the old
    folder is put back.
    """
    if not target.exists():
        os.replace(staging, target)  # one rename: all or nothing
        _fsync_directory(target.parent)
        return
    os.chmod(staging, target.stat().st_mode & 0o7777)
    old = target.parent / f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.old"
    os.replace(target, old)
    try:
        os.replace(staging, target)
    except BaseException:
        os.replace(old, target)
        raise
    _fsync_directory(target.parent)
    shutil.rmtree(old, ignore_errors=True)


def staging_dir(target: Path) -> Path:
    """Create an empty folder ``.<name>.<pid>.<random>.tmp`` beside ``target`` and return it.

    Its mode comes from the user's umask like any new folder (``mkdtemp`` would force 0700), so the
    output folder it becomes once renamed onto ``target`` is as readable as the user expects.
    """
    for _ in range(100):
        staging = target.parent / f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        try:
            os.mkdir(staging, 0o777)
        except FileExistsError:
            continue
        return staging
    raise FileExistsError(f"{target}: could not create a temporary folder in {target.parent}")


def _fsync_directory(directory: Path) -> None:
    # Makes the rename itself durable; not possible on every platform (e.g. Windows), so best effort.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _create_temp(directory: Path, target: Path) -> Path:
    # os.open with 0o666 lets the umask decide the mode, like an ordinary open(); O_EXCL makes the
    # name ours alone (mkstemp would force 0600 on files the user expects to be readable).
    for _ in range(100):
        temp = directory / f".{target.name}.{secrets.token_hex(6)}.tmp{target.suffix}"
        try:
            fd = os.open(temp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        return temp
    raise FileExistsError(f"{target}: could not create a temporary file in {directory}")


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` when the block succeeds.

    The temporary file exists (empty) when the block starts, named ``.<name>.<random>.tmp`` in the
    target's directory, and keeps the target's suffix so that writers that check the extension
    (``keras.Model.save`` wants ``.keras``) accept it.  If the block raises, the temporary file is
    removed, ``path`` is untouched (an existing file keeps its old content) and the exception
    propagates.  The parent directory must exist.

    Example::

        with atomic_output(out / "model.keras") as tmp:
            model.save(tmp)
    """
    target = Path(path)
    directory = target.parent if str(target.parent) else Path(".")
    temp = _create_temp(directory, target)
    try:
        yield temp
        if not temp.exists():
            raise FileNotFoundError(f"{target}: the writer removed its temporary file {temp.name}")
        if temp.is_file():  # the writer may not have synced; make the data durable
            with open(temp, "rb+") as handle:
                os.fsync(handle.fileno())
        if target.exists():
            # Replacing a file keeps its permission bits (a new one got 0666 & ~umask at creation).
            os.chmod(temp, target.stat().st_mode & 0o7777)
        os.replace(temp, target)
    except BaseException:
        # A writer may have replaced the file by a directory (e.g. a SavedModel folder).
        if temp.is_dir() and not temp.is_symlink():
            shutil.rmtree(temp, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
        raise
    _fsync_directory(directory)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (all or nothing)."""
    with atomic_output(path) as temp, open(temp, "wb") as handle:
        handle.write(data)
        handle.flush()


def atomic_write_text(path: str | os.PathLike[str], text: str, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` atomically (all or nothing), UTF-8 by default, newlines as given."""
    atomic_write_bytes(path, text.encode(encoding))
