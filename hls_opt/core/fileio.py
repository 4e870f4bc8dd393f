"""Atomic file output for the whole project.

Every file hls-opt writes goes through here, so an interrupted or failed run never leaves a
half-written file behind: data go to a temporary file in the target's own directory (same file
system, so the final ``os.replace`` is atomic on POSIX and Windows), which is flushed, fsynced and
renamed onto the target only when writing succeeded.  On failure the temporary file is removed
and an existing target is left exactly as it was.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import shutil
import stat
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from hls_opt.errors import ConfigError

__all__ = [
    "atomic_output",
    "atomic_write_bytes",
    "atomic_write_text",
    "MANIFEST_NAME",
    "check_output_dir",
    "foreign_entries",
    "read_manifest",
    "remove_leftovers",
    "remove_owned",
    "replace_dir",
    "staging_dir",
    "write_manifest",
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
    folder holds anything hls-opt cannot prove it wrote (:func:`foreign_entries`: not listed in the
    folder's manifest, or changed since), since the output replaces the whole folder.  The error
    names the first such path; nothing is judged by its name.
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
        # The output replaces the whole folder: only an empty one or what hls-opt provably wrote may go.
        foreign = foreign_entries(target)
        if foreign:
            raise ConfigError(_foreign_message(given, target, foreign, field))
    return target


def _foreign_message(given: Path, target: Path, foreign: list[Path], field: str) -> str:
    first = given / foreign[0].relative_to(target)
    more = f" (and {len(foreign) - 1} more)" if len(foreign) > 1 else ""
    return (
        f"{first}: not written by hls-opt{more} (not listed, or changed since, in the folder's "
        f"{MANIFEST_NAME}); the output replaces the whole folder ({field}), so move it away or "
        "choose a new or empty folder"
    )


# --------------------------------------------------------------------------------------------
# Ownership: the manifest hls-opt writes into every output folder it creates
# --------------------------------------------------------------------------------------------

#: The file in every output (and staging) folder that lists what hls-opt wrote there: each entry's
#: relative path, type and, for files, size and SHA-256.  Only entries listed there and unchanged
#: are ever deleted or replaced; never anything matched by its name alone.
MANIFEST_NAME = ".hls-opt-manifest.json"
_MANIFEST_FORMAT = "hls-opt output manifest"
_MANIFEST_VERSION = 1
_MANIFEST_NEW = MANIFEST_NAME + ".new"  # written first, then renamed onto MANIFEST_NAME
_MANIFEST_MAX_BYTES = 1 << 20  # a manifest lists a handful of files; anything larger is not ours
_MANIFEST_MAX_ENTRIES = 10_000
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def _open_regular(path: Path) -> int | None:
    """A read-only descriptor of ``path`` when it is a regular file (links not followed), else None."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            return None
    except OSError:
        os.close(fd)
        return None
    return fd


def _digest(path: Path) -> tuple[int, str] | None:
    """``(size, sha256 hex)`` of a regular file (links not followed), read as a stream; None otherwise."""
    fd = _open_regular(path)
    if fd is None:
        return None
    digest = hashlib.sha256()
    size = 0
    with os.fdopen(fd, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def _describe(folder: Path) -> dict[str, dict[str, Any]]:
    """Every entry under ``folder`` (relative POSIX paths), as the manifest records it."""
    entries: dict[str, dict[str, Any]] = {}
    stack = [(folder, "")]
    while stack:
        directory, prefix = stack.pop()
        with os.scandir(directory) as listing:
            items = sorted(listing, key=lambda e: e.name)
        for item in items:
            rel = prefix + item.name
            if rel in (MANIFEST_NAME, _MANIFEST_NEW):
                continue
            if item.is_dir(follow_symlinks=False):
                entries[rel] = {"type": "dir"}
                stack.append((Path(item.path), rel + "/"))
                continue
            digest = _digest(Path(item.path)) if item.is_file(follow_symlinks=False) else None
            if digest is None:
                raise OSError(f"{item.path}: hls-opt writes only files and folders, found something else")
            entries[rel] = {"type": "file", "size": digest[0], "sha256": digest[1]}
    return entries


def write_manifest(folder: Path, *, pending: Iterable[str] = ()) -> None:
    """Write ``folder``'s manifest: every entry now in it (type, size, SHA-256), plus ``pending``,
    names about to be written (a staging folder lists them first, so that what a killed run left
    behind is provably ours).  Written beside, fsynced and renamed into place."""
    data = {
        "format": _MANIFEST_FORMAT,
        "version": _MANIFEST_VERSION,
        "pid": os.getpid(),
        "uid": _uid(),
        "entries": _describe(folder),
        "pending": sorted(set(pending)),
    }
    new = folder / _MANIFEST_NEW
    fd = os.open(new, os.O_CREAT | os.O_TRUNC | os.O_WRONLY | getattr(os, "O_NOFOLLOW", 0), 0o666)
    with os.fdopen(fd, "wb") as handle:
        handle.write((json.dumps(data, indent=1, sort_keys=True) + "\n").encode("utf-8"))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(new, folder / MANIFEST_NAME)


def _uid() -> int:
    return os.getuid() if hasattr(os, "getuid") else -1


def read_manifest(folder: Path) -> dict[str, Any] | None:
    """``folder``'s manifest when it is one of ours (a regular file of at most 1 MiB, our format,
    this user's), else None.  Never raises for a bad file: a manifest that cannot be read proves nothing."""
    fd = _open_regular(folder / MANIFEST_NAME)
    if fd is None:
        return None
    with os.fdopen(fd, "rb") as handle:
        raw = handle.read(_MANIFEST_MAX_BYTES + 1)
    if len(raw) > _MANIFEST_MAX_BYTES:
        return None
    try:
        data = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or data.get("format") != _MANIFEST_FORMAT:
        return None
    if data.get("version") != _MANIFEST_VERSION or data.get("uid") != _uid():
        return None
    entries, pending = data.get("entries"), data.get("pending", [])
    if not isinstance(entries, dict) or not isinstance(pending, list) or len(entries) > _MANIFEST_MAX_ENTRIES:
        return None
    for rel, entry in entries.items():
        if not isinstance(entry, dict) or not _safe_relative(rel):
            return None
        if entry.get("type") == "dir":
            continue
        size, digest = entry.get("size"), entry.get("sha256")
        if entry.get("type") != "file" or type(size) is not int or not isinstance(digest, str) or not _HEX64.match(digest):
            return None
    if not all(isinstance(name, str) and _safe_relative(name) and "/" not in name for name in pending):
        return None
    return data


def _safe_relative(rel: Any) -> bool:
    return (
        isinstance(rel, str)
        and bool(rel)
        and not rel.startswith("/")
        and "\\" not in rel
        and "\0" not in rel
        and all(part not in ("", ".", "..") for part in rel.split("/"))
    )


def _walk_owned(folder: Path, manifest: dict[str, Any] | None, *, pending: bool, remove: bool) -> list[Path]:
    """The entries of ``folder`` hls-opt cannot prove it wrote (the top-most path of each).

    Proof: listed in ``manifest`` with the same type and, for a file, the same size and SHA-256
    (links are never ours).  With ``pending``, a regular file named in the manifest's ``pending``
    list counts as ours whatever its content (a staging folder's file being written when the run
    was killed).  With ``remove``, what is proven ours is deleted (deepest first) and the rest kept.
    """
    entries = manifest["entries"] if manifest is not None else {}
    pending_names = set(manifest.get("pending", [])) | {_MANIFEST_NEW} if (manifest is not None and pending) else set()
    foreign: list[Path] = []

    def visit(directory: Path, prefix: str) -> None:
        try:
            with os.scandir(directory) as listing:
                items = sorted(listing, key=lambda e: e.name)
        except OSError:
            foreign.append(directory)
            return
        for item in items:
            rel = prefix + item.name
            path = Path(item.path)
            if rel == MANIFEST_NAME:
                if manifest is None:
                    foreign.append(path)
                continue
            listed = entries.get(rel)
            if item.is_symlink():
                foreign.append(path)
            elif item.is_dir(follow_symlinks=False):
                if listed is None or listed["type"] != "dir":
                    foreign.append(path)
                    continue
                visit(path, rel + "/")
                if remove:
                    with contextlib.suppress(OSError):
                        os.rmdir(path)  # only when empty: anything left in it stays
            elif item.is_file(follow_symlinks=False):
                ok = not prefix and item.name in pending_names and listed is None
                if not ok and listed is not None and listed["type"] == "file":
                    ok = _digest(path) == (listed["size"], listed["sha256"])
                if not ok:
                    foreign.append(path)
                elif remove:
                    with contextlib.suppress(OSError):
                        os.unlink(path)
            else:
                foreign.append(path)

    visit(folder, "")
    return foreign


def foreign_entries(folder: PathLike) -> list[Path]:
    """What in the existing folder ``folder`` hls-opt cannot prove it wrote (``[]``: all of it is
    ours, or it is empty).  Without a valid manifest every entry is foreign."""
    folder = Path(folder)
    return _walk_owned(folder, read_manifest(folder), pending=False, remove=False)


def remove_owned(folder: Path, *, pending: bool = False) -> bool:
    """Delete what in ``folder`` is provably ours, then the manifest and the folder when nothing
    else is left.  Returns whether the folder is gone; a foreign entry keeps it (and the manifest)."""
    manifest = read_manifest(folder)  # None: only an empty folder goes
    if _walk_owned(folder, manifest, pending=pending, remove=True):
        return False
    if manifest is not None:
        with contextlib.suppress(OSError):
            os.unlink(folder / MANIFEST_NAME)
    try:
        os.rmdir(folder)
    except OSError:
        return False
    return True


def _umask() -> int:
    """The process umask (read without changing it where /proc allows)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


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
    """Clean up what a killed run (SIGKILL, power loss) left beside ``target``, when provably ours.

    :func:`staging_dir` and :func:`replace_dir` name their folders ``.<name>.<pid>.<hex>.tmp`` /
    ``.old``; the name alone proves nothing.  A leftover is touched only when it is a real folder
    (not a link) owned by this user, its writer's pid no longer runs, and it holds our manifest
    (this user's) listing every entry in it unchanged: then an earlier output set aside while
    ``target`` is missing (``.old``) is put back (with the umask's mode), and anything else of ours
    is removed.  Anything else is left alone.  An empty ``.probe`` folder (``check_output_dir``) is
    removed with ``rmdir``, which removes only an empty folder.
    """
    pattern = re.compile(rf"^\.{re.escape(target.name)}\.(\d+)\.[0-9a-f]{{8}}\.(tmp|old|probe)$")
    try:
        entries = list(target.parent.iterdir())
    except OSError:
        return
    for entry in entries:
        match = pattern.match(entry.name)
        if match is None:
            continue
        try:
            info = os.lstat(entry)
        except OSError:
            continue
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != _uid() or _alive(int(match.group(1))):
            continue
        kind = match.group(2)
        if kind == "probe":
            with contextlib.suppress(OSError):
                os.rmdir(entry)
            continue
        manifest = read_manifest(entry)
        if manifest is None:
            continue
        if kind == "tmp":
            if manifest.get("pid") == int(match.group(1)):
                remove_owned(entry, pending=True)
            continue
        if _walk_owned(entry, manifest, pending=False, remove=False):
            continue
        if not os.path.lexists(target):
            with contextlib.suppress(OSError):
                os.replace(entry, target)
                os.chmod(target, 0o777 & ~_umask())
            continue
        remove_owned(entry)


def replace_dir(staging: Path, target: Path) -> None:
    """Make the folder ``staging`` become ``target``, replacing an existing ``target`` whole.

    A new ``target`` is one rename.  An existing one must be provably ours
    (:func:`foreign_entries` is empty; else :class:`ConfigError` naming the first foreign path and
    nothing changes): it is renamed aside (``.<name>.<pid>.<random>.old``), checked again there
    (something added since the check at the start of the run is found now and the old folder put
    back), ``staging`` renamed into its place and what is ours in the old one removed.  ``target``
    holds either the old or the new run, never a mix.  ``staging`` keeps the mode it was created
    with (the umask's): an existing folder's mode is not passed on.
    """
    if not os.path.lexists(target):
        os.replace(staging, target)  # one rename: all or nothing
        _fsync_directory(target.parent)
        return
    foreign = foreign_entries(target)
    if foreign:
        raise ConfigError(_foreign_message(target, target, foreign, "--output"))
    old = target.parent / f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.old"
    os.replace(target, old)
    try:
        foreign = foreign_entries(old)
        if foreign:
            raise ConfigError(_foreign_message(target, old, foreign, "--output"))
        os.replace(staging, target)
    except BaseException:
        os.replace(old, target)
        raise
    _fsync_directory(target.parent)
    remove_owned(old)


def staging_dir(target: Path, *, pending: Iterable[str] = ()) -> Path:
    """Create an empty folder ``.<name>.<pid>.<random>.tmp`` beside ``target`` and return it.

    Its mode comes from the user's umask like any new folder (``mkdtemp`` would force 0700), so the
    output folder it becomes once renamed onto ``target`` is as readable as the user expects.  It
    holds our manifest from the start, listing ``pending`` (the names about to be written), so a
    leftover of a killed run is provably ours (:func:`remove_leftovers`).
    """
    for _ in range(100):
        staging = target.parent / f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        try:
            os.mkdir(staging, 0o777)
        except FileExistsError:
            continue
        try:
            write_manifest(staging, pending=pending)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
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
