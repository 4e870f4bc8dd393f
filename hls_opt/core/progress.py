"""The one progress helper: bars on long steps, silenced by ``-q`` (``set_quiet(True)``).

Bars go to stderr when stderr is a terminal (or when forced): tqdm's when it is installed, else a
plain one-line bar; otherwise a long step logs one line at INFO when it starts and when it ends.  Nothing here imports
TensorFlow.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

logger = logging.getLogger(__name__)

_state = {"quiet": False, "force": False}


def set_quiet(quiet: bool = True) -> None:
    """Silence (``True``) or re-enable progress output for the whole process."""
    _state["quiet"] = bool(quiet)


def force_bars(force: bool = True) -> None:
    """Show bars even when stderr is not a terminal (tests; ``-q`` still silences them)."""
    _state["force"] = bool(force)


class _Bar:
    """A tiny facade over tqdm (or nothing): ``update(n)``, ``set_postfix_str(text)``."""

    def __init__(self, bar: Any | None) -> None:
        self._bar = bar

    def update(self, n: int = 1) -> None:
        if self._bar is not None:
            self._bar.update(n)

    def set_postfix_str(self, text: str) -> None:
        if self._bar is not None:
            self._bar.set_postfix_str(text, refresh=True)


def _make_tqdm(total: int | None, desc: str) -> Any | None:
    if _state["quiet"]:
        return None
    if not (_state["force"] or sys.stderr.isatty()):
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # tqdm is optional: a plain one-line bar does the job
        return _PlainBar(total, desc)
    return tqdm(total=total, desc=desc, file=sys.stderr, leave=False, dynamic_ncols=True)


class _PlainBar:
    """A minimal tqdm stand-in: redraws ``desc [####    ] n/total postfix`` on one stderr line."""

    width = 24

    def __init__(self, total: int | None, desc: str) -> None:
        self.total, self.desc, self.n, self.postfix = total, desc, 0, ""
        self.start = time.perf_counter()
        self._draw()

    def _draw(self) -> None:
        elapsed = time.perf_counter() - self.start
        if self.total:
            filled = int(self.width * min(self.n, self.total) / self.total)
            body = f"[{'#' * filled}{' ' * (self.width - filled)}] {self.n}/{self.total}"
        else:
            body = f"{self.n}"
        tail = f" {self.postfix}" if self.postfix else ""
        sys.stderr.write(f"\r{self.desc} {body} {elapsed:.0f}s{tail}\033[K")
        sys.stderr.flush()

    def update(self, n: int = 1) -> None:
        self.n += n
        self._draw()

    def set_postfix_str(self, text: str, refresh: bool = True) -> None:
        self.postfix = text
        self._draw()

    def close(self) -> None:
        sys.stderr.write("\r\033[K")  # leave no bar behind (tqdm's leave=False)
        sys.stderr.flush()


@contextmanager
def progress(desc: str, total: int | None = None) -> Iterator[_Bar]:
    """A progress bar for a long step of ``total`` units (``None``: unknown length, a spinner).

    Yields an object with ``update(n)`` and ``set_postfix_str(text)``.  Elapsed time of the step is
    logged at INFO when it ends.
    """
    start = time.perf_counter()
    raw = _make_tqdm(total, desc)
    if raw is None and not _state["quiet"]:
        logger.info("%s ...", desc)
    try:
        yield _Bar(raw)
    finally:
        if raw is not None:
            raw.close()
        logger.info("%s: done in %.1f s", desc, time.perf_counter() - start)


class _Tally:
    """``done(text)`` per finished unit: the bar moves with ``text`` beside it on a terminal; without one,
    one stderr line ``desc: n/total text``; nothing when quiet."""

    def __init__(self, desc: str, total: int, bar: Any | None, start: int = 0) -> None:
        self.desc, self.total, self.n, self._bar = desc, int(total), int(start), bar
        if bar is not None and start:
            bar.update(start)

    def done(self, text: str = "") -> None:
        self.n += 1
        if self._bar is not None:
            self._bar.update(1)
            if text:
                self._bar.set_postfix_str(text, refresh=True)
        else:
            status(f"{self.desc}: {self.n}/{self.total}" + (f" {text}" if text else ""))


@contextmanager
def tally(desc: str, total: int, start: int = 0) -> Iterator[_Tally]:
    """Progress over ``total`` independent units (e.g. ``hls-opt explore``'s points), ``start`` of them
    already done: a bar on a terminal, else one line per finished unit (:class:`_Tally`); silent with
    ``set_quiet(True)`` (``-q``)."""
    raw = _make_tqdm(total, desc)
    try:
        yield _Tally(desc, total, raw, start)
    finally:
        if raw is not None:
            raw.close()


def status(message: str) -> None:
    """One line of progress text on stderr (the CLI's step announcements); silent when quiet."""
    if _state["quiet"]:
        return
    print(message, file=sys.stderr, flush=True)
