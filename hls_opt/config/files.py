"""hls4ml configs as files: YAML / JSON load and save (atomic), and the YAML text itself.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from enum import Enum
from pathlib import Path
from typing import Any

from hls_opt.config.resolve import unwrap_hls_config
from hls_opt.core.fileio import atomic_write_text
from hls_opt.core.precision import (
    AutoPrecision,
    Precision,
)
from hls_opt.errors import ConfigError

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------
# Files: YAML / JSON
# --------------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """Plain YAML/JSON data: mappings to dicts, enums to their value, precisions to strings."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (Precision, AutoPrecision)):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    # numpy scalars and the like
    item = getattr(value, "item", None)
    if callable(item):
        return _plain(item())
    raise ConfigError(f"config: cannot write a value of type {type(value).__name__} ({value!r})")


def dump_config_yaml(config: Mapping[str, Any]) -> str:
    """The config as block-style YAML text, keys in their given order."""
    import yaml

    return yaml.safe_dump(_plain(config), sort_keys=False, default_flow_style=False)


def load_config(path: str | Path) -> dict[str, Any]:
    """Read an hls4ml config from a YAML or JSON file and return the bare HLSConfig dict.

    Both layouts are accepted: the bare dict (``Model`` / ``LayerType`` / ``LayerName`` / ``IOType``
    at the top, as ``config_from_keras_model`` returns and :func:`save_config` writes) and hls4ml's
    project-file layout, where it sits under ``HLSConfig`` next to ``KerasModel``, ``OutputDir``,
    ``IOType``… (the siblings ``IOType``, ``ClockPeriod`` and ``Part`` are carried into the result; the others are dropped).
    ``.json`` files are read as JSON, anything else as YAML.  Problems raise a one-line
    :class:`ConfigError` naming the file.
    """
    import yaml

    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{file}: no such file") from None
    except IsADirectoryError:
        raise ConfigError(f"{file}: is a directory, expected a YAML or JSON file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{file}: cannot read ({exc.__class__.__name__}: {exc})") from None
    if file.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{file}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
    else:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"line {mark.line + 1}: " if mark is not None else ""
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise ConfigError(f"{file}: not valid YAML ({where}{problem})") from None
    if not isinstance(data, Mapping):
        kind = "an empty file" if data is None else type(data).__name__
        raise ConfigError(f"{file}: expected a mapping of hls4ml settings at the top level, got {kind}")
    return unwrap_hls_config(data)


def save_config(config: Mapping[str, Any], path: str | Path) -> None:
    """Write ``config`` atomically as YAML (or JSON when ``path`` ends in ``.json``).

    ``load_config(path)`` gives back an equal dict.  Enum and precision values are written as
    hls4ml's strings.
    """
    file = Path(path)
    if file.suffix.lower() == ".json":
        text = json.dumps(_plain(config), indent=2) + "\n"
    else:
        text = dump_config_yaml(config)
    atomic_write_text(file, text)
