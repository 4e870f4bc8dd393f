"""``cached_njit``: numba's ``njit(cache=True)`` where numba can cache, plain ``njit`` where it cannot.

numba looks for a cache folder when a ``cache=True`` function is *decorated* (at import): beside
the source (``__pycache__``), then ``$NUMBA_CACHE_DIR``, then the per-user cache (``~/.cache/numba``);
when none is writable (a read-only site-packages run by a service account or in a container with an
unwritable ``HOME``) it raises ``RuntimeError: cannot cache function …: no locator available``
(``numba/core/caching.py`` ``_CacheImpl.__init__``), and every import of the module fails.  hls-opt
must run there: caching is a bonus (the kernels then compile once per process, about 2 s), so the
decorator falls back to an uncached ``njit``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from numba import njit

log = logging.getLogger(__name__)


def cached_njit(func: Callable[..., Any]) -> Any:
    """``njit(cache=True)(func)``, or ``njit(func)`` when numba finds no writable cache folder."""
    try:
        return njit(cache=True)(func)
    except RuntimeError as exc:
        if "no locator available" not in str(exc):
            raise
        log.debug("numba: no writable cache for %s; compiled per process", func.__qualname__)
        return njit(func)


__all__ = ["cached_njit"]
