"""The backend registry and its discovery.

Backends are found by name through :func:`get_backend`, never by importing a backend module:
the built-in ones (``vivado``, ``gpu``) are imported on first use, and every entry point of the
group ``hls_opt.estimators`` is loaded once, on the first lookup.  An entry point may name

* a callable taking no argument (``register()``), which registers what it likes
  (backends through :func:`register_backend`, objectives through
  :func:`hls_opt.cost.objective.register_objective` or hls4ml's ``hls_opt.objectives.register_objective``);
* a :class:`Backend` subclass or instance, registered under its ``name``;
* an estimator (hls4ml's three methods), registered in the one objective registry
  (:mod:`hls_opt.cost.objective`) under the entry point's name.

Registering a name twice is a :class:`~hls_opt.errors.RegistryError`.

"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Iterable
from typing import Any

from hls_opt.cost.backend import Backend
from hls_opt.cost.objective import (
    lookup_objective,
    missing_estimator_method,
    objective_names,
    register_objective,
)
from hls_opt.errors import RegistryError

logger = logging.getLogger(__name__)


#: Entry-point group through which third parties add backends and objectives.
ENTRY_POINT_GROUP = "hls_opt.estimators"

# --------------------------------------------------------------------------------------------------
# registry

_BACKENDS: dict[str, Backend] = {}
#: Built-in backends, imported on first lookup: name -> "module:attribute" of the backend class.
_BUILTINS: dict[str, str] = {
    "vivado": "hls_opt.backends.vivado:VivadoBackend",
    "gpu": "hls_opt.backends.gpu:GPUBackend",
}
_LOCK = threading.RLock()
_ENTRY_POINTS_LOADED = False
_BUILTINS_LOADED = False


def register_backend(backend: Backend | type[Backend]) -> Backend:
    """Register ``backend`` (an instance, or a class instantiated without arguments) by its ``name``.

    Raises RegistryError when the name is empty or already taken.  Returns the instance.
    """
    if isinstance(backend, type):
        backend = backend()
    if not isinstance(backend, Backend):
        raise RegistryError(f"register_backend: expected a Backend, got {type(backend).__name__}")
    name = str(backend.name)
    if not name:
        raise RegistryError(f"register_backend: {type(backend).__name__} has no name")
    with _LOCK:
        if name in _BACKENDS:
            raise RegistryError(
                f"backend {name!r} is already registered ({type(_BACKENDS[name]).__name__}); "
                f"cannot register {type(backend).__name__} under the same name"
            )
        _BACKENDS[name] = backend
    logger.debug("registered backend %r (%s)", name, type(backend).__name__)
    return backend


def unregister_backend(name: str) -> None:
    """Remove a backend (for tests and plugins that replace one deliberately)."""
    with _LOCK:
        _BACKENDS.pop(name, None)


def _load_builtins() -> None:
    global _BUILTINS_LOADED
    with _LOCK:
        if _BUILTINS_LOADED:
            return
        _BUILTINS_LOADED = True
        for name, target in _BUILTINS.items():
            if name in _BACKENDS:
                continue
            module_name, attr = target.split(":")
            cls = getattr(importlib.import_module(module_name), attr)
            register_backend(cls())


def _entry_points() -> Iterable[Any]:
    from importlib.metadata import entry_points

    return entry_points(group=ENTRY_POINT_GROUP)


def load_entry_points(force: bool = False) -> list[str]:
    """Load every entry point of the group ``hls_opt.estimators`` once; returns their names.

    A plugin that fails to import is logged and skipped (one broken plugin must not take the
    built-in backends down); a plugin that registers a name already taken raises RegistryError.
    """
    global _ENTRY_POINTS_LOADED
    with _LOCK:
        if _ENTRY_POINTS_LOADED and not force:
            return []
        _ENTRY_POINTS_LOADED = True
        loaded = []
        for ep in _entry_points():
            try:
                target = ep.load()
            except Exception as exc:  # a third-party import error: report, keep going
                if ep.value.startswith("hls_opt."):
                    raise  # one of ours (the oneAPI backend): a bug to see, not a plugin to skip
                logger.warning(
                    "entry point %s = %s (group %s) failed to load: %s",
                    ep.name,
                    ep.value,
                    ENTRY_POINT_GROUP,
                    exc,
                )
                continue
            _apply_entry_point(ep.name, ep.value, target)
            loaded.append(ep.name)
        return loaded


def _apply_entry_point(name: str, value: str, target: Any) -> None:
    try:
        if isinstance(target, Backend) or (isinstance(target, type) and issubclass(target, Backend)):
            register_backend(target)
        elif missing_estimator_method(target) is None:  # also one written for hls4ml without our base class
            register_objective(name, target)
        elif callable(target):
            target()
        else:
            kind = type(target).__name__
            raise RegistryError(f"it is a {kind}, not a register function, Backend or estimator")
    except RegistryError as exc:
        raise RegistryError(f"entry point {name} = {value} (group {ENTRY_POINT_GROUP}): {exc}") from None


def get_backend(name: str | Backend) -> Backend:
    """The registered backend called ``name`` (a Backend instance is returned unchanged).

    The first lookup imports the built-in backends and loads the ``hls_opt.estimators`` entry
    points.  Unknown names raise RegistryError listing the known ones.
    """
    if isinstance(name, Backend):
        return name
    _load_builtins()
    load_entry_points()
    key = str(name)
    with _LOCK:
        if key in _BACKENDS:
            return _BACKENDS[key]
        lowered = {k.lower(): k for k in _BACKENDS}
        if key.lower() in lowered:  # 'Vivado' (hls4ml's spelling) finds 'vivado'
            return _BACKENDS[lowered[key.lower()]]
        known = ", ".join(sorted(_BACKENDS))
    raise RegistryError(f"backend: unknown backend {name!r} (known: {known})")


def available_backends() -> list[str]:
    """Names of every registered backend (built-ins and entry points), sorted."""
    _load_builtins()
    load_entry_points()
    with _LOCK:
        return sorted(_BACKENDS)


def find_objective(name: str) -> Any:
    """What ``name`` names in the objective registry (:mod:`hls_opt.cost.objective`) — an
    :class:`~hls_opt.cost.objective.Objective` or an estimator — after loading the entry points; None if
    nothing."""
    found = lookup_objective(name)
    if found is None:
        load_entry_points()
        found = lookup_objective(name)
    return found


def all_objective_names() -> list[str]:
    """Every objective name, the entry points' included."""
    load_entry_points()
    return objective_names()
