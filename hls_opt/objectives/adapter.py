"""The edge where an objective given by a user becomes the value the core takes.

:func:`objective_for` turns what ``convert_and_optimize`` / ``hls-opt optimize`` accept — a name,
``'dsp,bram'``, a list of names, an :class:`~hls_opt.config.objective.Objective`, hls-opt's estimator
classes, or a user's own hls4ml-style estimator class — into either a native
:class:`~hls_opt.config.objective.Objective` (costs from the backend's cost model) or, for a user's
estimator, an :class:`EstimatorObjective`: the one adapter that asks the estimator's three
classmethods instead (``build_problem``, the protocol of :func:`hls_opt.solve.pruning.problem_for`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hls_opt.attributes import attributes_from_graph
from hls_opt.config.objective import Objective, find_objective, parse_objective
from hls_opt.emit.keras_model import to_keras_model
from hls_opt.objectives import get_objective

if TYPE_CHECKING:
    from hls_opt.ir.graph import Graph



@dataclass(frozen=True)
class EstimatorObjective:
    """A user's hls4ml-style estimator class (or instance) as an objective of the compiler flow."""

    estimator: Any

    @property
    def label(self) -> str:
        est = self.estimator
        return getattr(est, "__name__", type(est).__name__)

    @property
    def reduce_structures(self) -> bool:
        return bool(getattr(self.estimator, "reduce_structures", False))

    def build_problem(self, graph: Graph, backend: Any) -> Any:
        """The problem from the estimator's answers for ``graph``'s layers (``backend`` unused:
        an estimator carries its own cost model)."""
        from hls_opt.keras.api import problem_from_attributes  # the Keras trainer's adapters import Keras

        model = to_keras_model(graph)
        return problem_from_attributes(model, attributes_from_graph(graph), self.estimator)


def objective_for(value: Any) -> Objective | EstimatorObjective:
    """The core's objective for ``value`` (see the module docstring); RegistryError naming an
    unknown name, or a value that is neither a name nor an estimator."""
    if isinstance(value, (Objective, EstimatorObjective)):
        return value
    if isinstance(value, str) and "," in value:
        value = [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, (list, tuple)):
        if len(value) != 1:
            return parse_objective(list(value))
        value = value[0]
    if isinstance(value, str):
        native = find_objective(value)
        if native is not None:
            return native
    estimator = get_objective(value)  # registered names, class names, classes; raises RegistryError
    native_objective = getattr(estimator, "native_objective", None)
    if callable(native_objective):
        return native_objective()
    return EstimatorObjective(estimator)


__all__ = ["EstimatorObjective", "objective_for"]
