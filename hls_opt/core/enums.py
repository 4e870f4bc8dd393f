"""The one way user text becomes an enum: :func:`parse_enum`.

Parse once, at the edge: a setting a user spells as a string (``ranking_metric='l1'``,
``Strategy: resource``, ``tuner='Bayesian'``) is turned into its enum member where the options are
built, and everything below compares members, never strings.  Every enum of the project that is read
from user text goes through this function, so the accepted spellings and the error message follow
one rule:

- a member of the enum is returned as it is;
- a string is stripped, then looked up among the members' values and the given ``aliases``, both
  passed through ``fold`` first (``fold=str.lower``: any letter case);
- anything else raises ``error`` (default :class:`~hls_opt.errors.ConfigError`) naming ``key`` and
  the allowed spellings.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import Enum
from typing import Any, TypeVar

from hls_opt.errors import ConfigError

E = TypeVar("E", bound=Enum)


def _identity(text: str) -> str:
    return text


def enum_spellings(cls: type[E], aliases: Mapping[str, E] | None = None) -> tuple[str, ...]:
    """Every spelling :func:`parse_enum` accepts for ``cls`` (before folding): values, then aliases."""
    return tuple(str(m.value) for m in cls) + tuple(a for a in (aliases or {}) if a not in {m.value for m in cls})


def parse_enum(
    cls: type[E],
    value: Any,
    key: str | None,
    *,
    aliases: Mapping[str, E] | None = None,
    fold: Callable[[str], str] = _identity,
    what: str | None = None,
    error: type[Exception] = ConfigError,
) -> E:
    """``value`` as a member of ``cls``.

    ``key``: the setting's name (file key, argument), first in the message (``None``: no prefix, for
    a caller that adds its own).  ``aliases``: other spellings → members.  ``fold``: applied to the
    spellings and to ``value`` before comparing (``str.lower``: case-insensitive).  ``what``: a noun
    for the message (``"strategy"`` → ``"Strategy: unknown strategy 'x' (expected one of …)"``);
    without it the message reads ``"key: expected 'a', 'b' or 'c', got 'x'"``.
    """
    if isinstance(value, cls):
        return value
    table: dict[str, E] = {fold(str(m.value)): m for m in cls}
    for spelling, member in (aliases or {}).items():
        table.setdefault(fold(spelling), member)
    if isinstance(value, str):
        member = table.get(fold(value.strip()))
        if member is not None:
            return member
    spellings = [repr(s) for s in enum_spellings(cls, aliases)]
    allowed = spellings[0] if len(spellings) == 1 else f"one of {', '.join(spellings)}"
    shown = f"'{value}'" if isinstance(value, str) else repr(value)
    if len(shown) > 60:
        shown = f"{shown[:40]}... ({len(shown)} characters)"
    prefix = f"{key}: " if key else ""
    if what:
        raise error(f"{prefix}unknown {what} {shown} (expected {allowed})")
    raise error(f"{prefix}expected {allowed}, got {shown}")
