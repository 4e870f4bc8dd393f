"""The edge of the flow: what a user passes in, checked and turned into typed values.

Argument values (``rtol``, ``epochs``, the objective, the backend, a scheduler string) and files
(the hls4ml config, the model file's signature) are checked without TensorFlow, cheapest first;
every mistake raises an error of :mod:`hls_opt.errors` naming the file or field.  Loading the
Keras model itself is the last step (:func:`load_model`).
"""

from __future__ import annotations

import copy
import numbers
import os
import warnings
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hls_opt.config import load_config, unwrap_hls_config, validate_config
from hls_opt.cost.registry import get_backend
from hls_opt.errors import ConfigError, ModelError, quoted
from hls_opt.frontend.keras import is_keras_model
from hls_opt.train import schedulers as sched

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


def check_backend(backend: str) -> str:
    get_backend(backend)  # RegistryError naming the unknown backend
    return backend


def check_model_file(path: str | Path) -> Path:
    """Cheap checks of a model file before Keras reads it: exists, a file, a known suffix and the
    right container signature (a zip for ``.keras``, HDF5 for ``.h5``).  Raises :class:`ModelError`."""
    file = Path(path)
    name = quoted(file)
    try:
        exists = file.exists()
    except OSError as exc:  # a name too long for the file system, …
        raise ModelError(f"{name}: cannot read ({exc.strerror or exc})") from None
    if not exists:
        raise ModelError(f"{name}: no such file")
    if file.is_dir():
        raise ModelError(f"{name}: is a directory, expected a .keras or .h5 model file")
    suffix = file.suffix.lower()
    if suffix not in MODEL_SUFFIXES:
        raise ModelError(f"{name}: unknown model format '{suffix}' (expected .keras or .h5)")
    try:
        with open(file, "rb") as handle:
            head = handle.read(8)
    except OSError as exc:
        raise ModelError(f"{name}: cannot read ({exc.strerror or exc})") from None
    if suffix == ".keras" and not zipfile.is_zipfile(file):
        raise ModelError(f"{name}: not a Keras model file (a .keras file is a zip archive)")
    if suffix == ".keras":
        _check_archive_sizes(file)
    if suffix in (".h5", ".hdf5") and head != _HDF5_SIGNATURE:
        raise ModelError(f"{name}: not a Keras model file (no HDF5 signature)")
    return file


#: Room the output needs beyond its folder's name: the staging folder beside it
#: (``.NAME.<pid>.<hex>.new`` / ``.old``, hls_opt/core/fileio.py) and the files inside it.
_OUTPUT_NAME_ROOM = 32
_OUTPUT_PATH_ROOM = 64


def check_output_path(path: Any, field: str = "--output") -> None:
    """Raise :class:`ConfigError` naming ``field`` when the output folder's name or path is too long
    for the file system (``NAME_MAX`` / ``PATH_MAX`` of the nearest existing folder, less the room
    the staging folder and the files inside need), before any work (an ``OSError``, exit 1)."""
    given = os.fspath(path)
    absolute = os.path.abspath(given)
    place = os.path.dirname(absolute)
    while place and not os.path.isdir(place) and place != os.path.dirname(place):
        place = os.path.dirname(place)

    def limit(name: str, default: int) -> int:
        try:
            return int(os.pathconf(place or os.sep, name))
        except (OSError, ValueError):
            return default

    name_max, path_max = limit("PC_NAME_MAX", 255), limit("PC_PATH_MAX", 4096)
    shown = quoted(given if len(given) <= 120 else f"{given[:40]}…{given[-60:]}")  # one readable line
    longest = max((len(os.fsencode(part)) for part in Path(absolute).parts), default=0)
    target = len(os.fsencode(Path(absolute).name))
    if longest > name_max or target + _OUTPUT_NAME_ROOM > name_max:
        raise ConfigError(
            f"{field}: {shown}: a folder name too long ({max(longest, target)} bytes; the file system takes "
            f"{name_max}, the output folder's at most {name_max - _OUTPUT_NAME_ROOM})"
        )
    if len(os.fsencode(absolute)) + _OUTPUT_PATH_ROOM > path_max:
        raise ConfigError(
            f"{field}: {shown}: path too long ({len(os.fsencode(absolute))} bytes; at most "
            f"{path_max - _OUTPUT_PATH_ROOM} for an output folder)"
        )


def load_hls_config(hls_config: Any) -> tuple[dict | None, str]:
    """``(config dict or None, source name)`` from ``None``, a mapping or a YAML/JSON path.

    The config is validated (precisions, strategies, reuse factors of every Model / LayerType /
    LayerName entry) and a copy is returned; the caller's dict is never modified.
    """
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
    validate_config(cfg, source=source)


def parse_scheduler(spec: Any) -> Any:
    """A scheduler from ``None`` (the default), an instance, or a string:

    ``polynomial:STEPS[:FINAL[:POWER]]``, ``constant:STEP[:FINAL]``, ``binary:FINAL[:THRESHOLD]``
    (e.g. ``polynomial:5:0.5`` = 5 steps to 50 %).
    """
    if spec is None:
        return sched.default_scheduler()
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
                raise ConfigError("the number of steps must be an integer")  # prefixed once, below
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
# The model
# ------------------------------------------------------------------------------------------


#: The most a ``.keras`` archive's ``config.json`` / ``metadata.json`` may inflate to (the
#: architecture of a model hls4ml can build is kilobytes; a 4 MB archive can inflate to 4 GiB).
MAX_KERAS_JSON_BYTES = 32 << 20
_STREAM_CHUNK = 1 << 16


def _check_archive_sizes(file: Path) -> None:
    """Refuse a ``.keras`` zip whose JSON members inflate beyond :data:`MAX_KERAS_JSON_BYTES`.

    The size checked is the one the archive declares; Python's ``zipfile`` (which Keras reads
    with too) never returns more than that and fails on a member that inflates further, so the
    check bounds every later read."""
    try:
        with zipfile.ZipFile(file) as archive:
            for info in archive.infolist():
                if info.filename in ("config.json", "metadata.json") and info.file_size > MAX_KERAS_JSON_BYTES:
                    raise ModelError(
                        f"{file}: {info.filename} inflates to {info.file_size >> 20} MiB (at most "
                        f"{MAX_KERAS_JSON_BYTES >> 20} MiB); not a model hls-opt reads"
                    )
    except (OSError, zipfile.BadZipFile, RuntimeError, NotImplementedError) as exc:
        raise ModelError(f"{file}: not a readable zip archive ({exc})") from None


def _stream_mentions(handle: Any, word: bytes, limit: int | None) -> bool:
    """Whether ``word`` occurs in the stream, read in chunks (at most ``limit`` bytes)."""
    tail = b""
    read = 0
    while limit is None or read < limit:
        chunk = handle.read(_STREAM_CHUNK)
        if not chunk:
            return False
        read += len(chunk)
        if word in tail + chunk:
            return True
        tail = chunk[-(len(word) - 1) :]
    return False


def _mentions_qkeras(path: Path) -> bool:
    """Whether the model file's architecture names QKeras objects (``"qkeras>QDense"``,
    ``"module": "qkeras.qlayers"``): ``config.json`` of a ``.keras`` zip, the raw bytes of an ``.h5``;
    both read as streams (``config.json`` at most :data:`MAX_KERAS_JSON_BYTES`)."""
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive, archive.open("config.json") as member:
                return _stream_mentions(member, b"qkeras", MAX_KERAS_JSON_BYTES)
        with open(path, "rb") as handle:
            return _stream_mentions(handle, b"qkeras", None)
    except (OSError, KeyError, zipfile.BadZipFile, RuntimeError, NotImplementedError):
        return False  # Keras will say what is wrong with the file


def _register_qkeras(path: Path) -> None:
    """Import QKeras before Keras reads a model that uses it: QKeras registers its layers and
    quantizers with Keras' serialization on import (``register_keras_serializable(package='qkeras')``).
    A ModelError saying how to install it when it is missing."""
    if not _mentions_qkeras(path):
        return
    try:
        import qkeras  # noqa: F401
    except ImportError:
        raise ModelError(
            f"{quoted(path)}: the model uses QKeras layers; install QKeras for Keras 3 "
            "(pip install --no-deps qkeras-v3, see README 'QKeras')"
        ) from None


def load_model(model: Any) -> Any:
    """A ``keras.Model`` from a model or a ``.keras``/``.h5`` path (TypeError for anything else)."""
    if isinstance(model, (str, Path)):
        path = check_model_file(model)
        import keras

        _register_qkeras(path)
        try:
            with warnings.catch_warnings():
                # Keras warns about optimizer variables it does not restore; not our user's concern.
                warnings.simplefilter("ignore")
                return keras.saving.load_model(path, compile=True)
        except Exception as exc:  # Keras raises many types for a broken file
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelError(f"{quoted(path)}: cannot load the Keras model ({first})") from None
    if is_keras_model(model):
        return model
    raise TypeError(f"model: expected a keras.Model or a .keras/.h5 path, got {type(model).__name__}")


__all__ = [
    "check_backend",
    "check_output_path",
    "check_model_file",
    "check_positive_int",
    "check_rtol",
    "is_keras_model",
    "load_hls_config",
    "load_model",
    "parse_scheduler",
    "validate_hls_config",
]
