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


#: The largest config file read (a 1000-layer hls4ml config is ~300 KB).
MAX_CONFIG_BYTES = 1 << 20
#: The deepest nesting of mappings / lists (hls4ml's deepest is ~4: LayerName.fc1.Precision.weight).
MAX_CONFIG_DEPTH = 64
#: The most YAML aliases (``*name``) in one file.
MAX_YAML_ALIASES = 1000
#: The most values a YAML file may stand for once its aliases are expanded (an alias bomb's
#: nine aliases of nine aliases of … stand for 9⁹ values in a few hundred bytes).
MAX_CONFIG_VALUES = 200_000


class _TooMuch(Exception):
    """A limit of :func:`load_config` was hit (turned into a ConfigError naming the file)."""


def _bounded_yaml_loader() -> type:
    import yaml

    class Counting:
        """Counts while composing (before any object is built): nesting depth, alias uses, and the
        number of values each node stands for with its aliases expanded.  Composing recurses once
        per level, so the depth limit also keeps it far from Python's recursion limit."""

        def _start_counting(self) -> None:
            self._depth = 0
            self._aliases = 0
            self._values: dict[int, int] = {}

        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                self._aliases += 1
                if self._aliases > MAX_YAML_ALIASES:
                    raise _TooMuch(f"more than {MAX_YAML_ALIASES} YAML aliases")
            self._depth += 1
            if self._depth > MAX_CONFIG_DEPTH:
                raise _TooMuch(f"nested deeper than {MAX_CONFIG_DEPTH} levels")
            try:
                node = super().compose_node(parent, index)
            finally:
                self._depth -= 1
            if id(node) not in self._values:
                if isinstance(node, yaml.SequenceNode):
                    children = node.value
                elif isinstance(node, yaml.MappingNode):
                    children = [item for pair in node.value for item in pair]
                else:
                    children = []
                count = 1 + sum(self._values.get(id(child), 1) for child in children)
                if count > MAX_CONFIG_VALUES:
                    raise _TooMuch(f"stands for more than {MAX_CONFIG_VALUES} values once its aliases are expanded")
                self._values[id(node)] = count
            return node

    if getattr(yaml, "__with_libyaml__", False):
        # libyaml's parser (C, ~100x faster than PyYAML's) produces the events; PyYAML's composer,
        # with the counts above, and its safe constructor build the data (yaml.CSafeLoader is the
        # same with libyaml's composer, which could not count).
        from yaml._yaml import CParser
        from yaml.composer import Composer
        from yaml.constructor import SafeConstructor
        from yaml.resolver import Resolver

        class BoundedSafeLoader(Counting, Composer, CParser, SafeConstructor, Resolver):
            def __init__(self, stream: Any) -> None:
                CParser.__init__(self, stream)
                Composer.__init__(self)
                SafeConstructor.__init__(self)
                Resolver.__init__(self)
                self._start_counting()

        return BoundedSafeLoader

    class BoundedPySafeLoader(Counting, yaml.SafeLoader):
        def __init__(self, stream: Any) -> None:
            yaml.SafeLoader.__init__(self, stream)
            self._start_counting()

    return BoundedPySafeLoader


def _json_depth(raw: bytes) -> int:
    """The deepest nesting of ``[``/``{`` in JSON text, brackets inside strings not counted.

    Linear and without recursion (numpy): a quote opens or closes a string unless an odd run of
    backslashes precedes it; a bracket counts when an even number of such quotes precede it.
    """
    import numpy as np

    text = np.frombuffer(raw, dtype=np.uint8)
    if text.size == 0:
        return 0
    backslash = text == ord("\\")
    count = np.cumsum(backslash)
    run = count - np.maximum.accumulate(np.where(backslash, 0, count))  # backslashes ending at i
    escaped = np.zeros(text.size, dtype=bool)
    escaped[1:] = run[:-1] % 2 == 1
    quotes = np.cumsum((text == ord('"')) & ~escaped)
    outside = quotes % 2 == 0
    step = (((text == ord("[")) | (text == ord("{"))) & outside).astype(np.int64)
    step -= ((text == ord("]")) | (text == ord("}"))) & outside
    return int(np.cumsum(step).max(initial=0))


def load_config(path: str | Path) -> dict[str, Any]:
    """Read an hls4ml config from a YAML or JSON file and return the bare HLSConfig dict.

    Both layouts are accepted: the bare dict (``Model`` / ``LayerType`` / ``LayerName`` / ``IOType``
    at the top, as ``config_from_keras_model`` returns and :func:`save_config` writes) and hls4ml's
    project-file layout, where it sits under ``HLSConfig`` next to ``KerasModel``, ``OutputDir``,
    ``IOType``… (the siblings ``IOType``, ``ClockPeriod`` and ``Part`` are carried into the result; the others are dropped).
    ``.json`` files are read as JSON, anything else as YAML.  Problems raise a one-line
    :class:`ConfigError` naming the file.

    Bounded: at most :data:`MAX_CONFIG_BYTES` are read, nesting at most
    :data:`MAX_CONFIG_DEPTH` deep, and a YAML file's aliases at most :data:`MAX_YAML_ALIASES` uses
    standing for at most :data:`MAX_CONFIG_VALUES` values; an integer of more digits than Python
    converts (4300) is refused too.
    """
    import yaml

    file = Path(path)
    try:
        with open(file, "rb") as handle:
            raw = handle.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(f"{file}: no such file") from None
    except IsADirectoryError:
        raise ConfigError(f"{file}: is a directory, expected a YAML or JSON file") from None
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read ({exc.__class__.__name__}: {exc})") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{file}: larger than {MAX_CONFIG_BYTES >> 20} MiB; not an hls4ml config")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{file}: cannot read ({exc.__class__.__name__}: {exc})") from None
    if file.suffix.lower() == ".json":
        depth = _json_depth(raw)
        if depth > MAX_CONFIG_DEPTH:
            raise ConfigError(f"{file}: nested {depth} levels deep (at most {MAX_CONFIG_DEPTH})")
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{file}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
        except (ValueError, RecursionError) as exc:  # e.g. an integer of over 4300 digits
            raise ConfigError(f"{file}: not valid JSON ({_first_sentence(exc)})") from None
    else:
        try:
            data = yaml.load(text, Loader=_bounded_yaml_loader())  # noqa: S506 - a SafeLoader subclass
        except _TooMuch as exc:
            raise ConfigError(f"{file}: {exc} (an hls4ml config never needs this)") from None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"line {mark.line + 1}: " if mark is not None else ""
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise ConfigError(f"{file}: not valid YAML ({where}{problem})") from None
        except (ValueError, RecursionError) as exc:  # an integer of over 4300 digits
            raise ConfigError(f"{file}: not valid YAML ({_first_sentence(exc)})") from None
    if not isinstance(data, Mapping):
        kind = "an empty file" if data is None else type(data).__name__
        raise ConfigError(f"{file}: expected a mapping of hls4ml settings at the top level, got {kind}")
    return unwrap_hls_config(data)


def _first_sentence(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text.split(";")[0]


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
