"""``Step``: one optimization step (one trial of the pruning loop, or the one-shot cut), frozen.

Built by the trainer (:func:`hls_opt.train.engine.prune_with_fine_tuning`) and by
``dsp-aware-pruning``'s one-shot paths; carried by the :class:`~hls_opt.passes.plan.PruningPlan`; read
by the report, :func:`~hls_opt.solve.front.pareto_front` and the budget check.  ``report.json``'s
``steps`` are :meth:`Step.as_dict` (keys in this order: ``target``, ``achieved``, ``metric``,
``accepted``, then ``epochs`` when the step was fine-tuned and ``probe`` when it was a budget probe).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any


@dataclass(frozen=True)
class Step:
    """``target``: the sparsity asked for (fraction of the objective's savable resources);
    ``achieved``: resource name → amount after the step (the objective's fields, in order);
    ``metric``: the validation metric after fine-tuning (``None`` for a one-shot cut);
    ``accepted``: within the tolerance (one-shot: always); ``epochs``: fine-tuning epochs run
    (``None``: not fine-tuned); ``probe``: the budget probe run after the loop missed a budget (a
    rejected step that only says what the cut would cost)."""

    target: float
    achieved: Mapping[str, float]
    metric: float | None = None
    accepted: bool = False
    epochs: int | None = None
    probe: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "target", float(self.target))
        object.__setattr__(self, "achieved", MappingProxyType({str(k): float(v) for k, v in dict(self.achieved).items()}))
        object.__setattr__(self, "metric", None if self.metric is None else float(self.metric))
        object.__setattr__(self, "accepted", bool(self.accepted))
        object.__setattr__(self, "epochs", None if self.epochs is None else int(self.epochs))
        object.__setattr__(self, "probe", bool(self.probe))

    def as_dict(self) -> dict[str, Any]:
        """The step as ``report.json`` writes it (a new, plain dict)."""
        out: dict[str, Any] = {
            "target": self.target,
            "achieved": dict(self.achieved),
            "metric": self.metric,
            "accepted": self.accepted,
        }
        if self.epochs is not None:
            out["epochs"] = self.epochs
        if self.probe:
            out["probe"] = True
        return out

    @classmethod
    def from_mapping(cls, step: Step | Mapping[str, Any]) -> Step:
        """A :class:`Step` from a step as ``report.json`` holds it (or a Step, returned as it is)."""
        if isinstance(step, Step):
            return step
        return cls(
            target=step["target"],
            achieved=step.get("achieved") or {},
            metric=step.get("metric"),
            accepted=step.get("accepted", False),
            epochs=step.get("epochs"),
            probe=step.get("probe", False),
        )

    def __getitem__(self, key: str) -> Any:
        """Read access by ``report.json``'s key (``step["target"]``), for code written against the
        steps as dicts; a key the step does not write (``epochs`` of a one-shot step) is a KeyError."""
        return self.as_dict()[key]


__all__ = ["Step"]
