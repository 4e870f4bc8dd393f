"""Cost models, one per backend.

- :mod:`~hls_opt.cost.vector`: ``ResourceVector`` (what a layer costs) and its field names;
- :mod:`~hls_opt.cost.backend`: the ``Backend`` base (resource and timing models per node type, the
  pruning questions answered from ``estimate``) and hls4ml's reuse-factor rules;
- :mod:`~hls_opt.cost.registry`: backends by name, built-ins and entry points (``hls_opt.estimators``);
- :mod:`~hls_opt.cost.tables`: whole graphs — the estimate table and report ``hls-opt estimate`` prints;
- :mod:`~hls_opt.cost.timing`: timing values and how a top function composes them;
- :mod:`~hls_opt.cost.feasibility`: budget bounds, checked before any training.

What a backend developer needs is re-exported here::

    from hls_opt.cost import Backend, ResourceVector, register_backend

The backends themselves live in ``hls_opt.backends``.
"""

from hls_opt.cost.backend import Backend
from hls_opt.cost.registry import available_backends, get_backend, register_backend, unregister_backend
from hls_opt.cost.tables import estimate_graph, estimate_report, estimate_table, table_total
from hls_opt.cost.vector import FIELDS, ResourceVector

__all__ = [
    "FIELDS",
    "Backend",
    "ResourceVector",
    "available_backends",
    "estimate_graph",
    "estimate_report",
    "estimate_table",
    "get_backend",
    "register_backend",
    "table_total",
    "unregister_backend",
]
