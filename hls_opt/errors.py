"""hls-opt's error hierarchy.

Every error a user can cause is an :class:`HlsOptError` whose message names the file, key or
layer at fault.  The CLI maps them to exit status 2 and one line on stderr.  The concrete classes
also derive from ``ValueError`` so that callers written against hls4ml (which raised bare
``Exception``) or plain Python conventions keep working.
"""

from __future__ import annotations

import os
import re

#: What makes a path ambiguous in a one-line message: control characters (a newline would end the
#: line), quotes, spaces at an end, or a ': ' that reads like the message's own separator.
_UNSAFE = re.compile(r"[\x00-\x1f\x7f'\"]|^\s|\s$|: ")


def quoted(path: str | os.PathLike) -> str:
    """``path`` for an error message: as written when it is plain, else as a Python string literal
    (``'bad\\nname.keras'``), so a newline or quote in it can neither cut nor fake the message."""
    text = os.fspath(path)
    text = text.decode(errors="backslashreplace") if isinstance(text, bytes) else str(text)
    return repr(text) if _UNSAFE.search(text) else text


def one_line(message: str) -> str:
    """``message`` with its control characters escaped (``\\n``, ``\\x1b``…): hls-opt's own messages are
    one line, so a newline in one came from a user's string (a path, a value) and must not cut it."""
    return "".join(repr(c)[1:-1] if (ord(c) < 32 or ord(c) == 127) else c for c in str(message))


class HlsOptError(Exception):
    """Base of every error hls-opt raises on purpose."""


class ConfigError(HlsOptError, ValueError):
    """An hls4ml-style configuration value is missing or malformed; the message names the key path."""


class InfeasibleBudget(ConfigError):
    """A latency/II/DSP/BRAM budget no configuration of the model can meet; the message gives the
    best the model can reach (``hls_opt.cost.feasibility.check_budgets``)."""


class PrecisionError(ConfigError):
    """A precision string cannot be parsed."""


class ModelError(HlsOptError, ValueError):
    """A model file or object cannot be used; the message names the file or layer."""


class DataError(HlsOptError, ValueError):
    """Training or validation data are missing or have the wrong shape."""


class RegistryError(HlsOptError, ValueError):
    """A registry lookup failed (unknown name) or a registration clashed with an existing one."""


class EstimatorError(HlsOptError, ValueError):
    """A resource model or objective cannot handle the layer it was given."""
