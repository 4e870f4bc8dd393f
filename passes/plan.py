"""``PruningPlan``: what the pruning pass decided, frozen, for the rewrite pass to apply."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from hls_opt.solve.step import Step

#: Where ``dsp-aware-pruning`` records its plan: ``graph.annotations[PLAN_KEY]``.
PLAN_KEY = "pruning_plan"


def _frozen_array(value: Any) -> np.ndarray:
    array = np.array(value, copy=True)
    array.setflags(write=False)
    return array


def _frozen_map(mapping: Mapping[str, Any] | None) -> Mapping[str, np.ndarray]:
    return MappingProxyType({str(k): _frozen_array(v) for k, v in (mapping or {}).items() if v is not None})


@dataclass(frozen=True)
class PruningPlan:
    """The result of ``dsp-aware-pruning``: per-layer masks and the weights to write.

    - ``masks[name]``: kernel-shaped array, 1 = keep, 0 = pruned (read-only).
    - ``offsets[name]``: kernel-shaped values added after masking (weight sharing; zeros when none).
    - ``weights[name][key]``: fine-tuned weights of every layer (Keras names ``kernel``, ``bias``, …);
      empty in one-shot mode, where the graph's own weights are masked.
    - ``mode``: ``"one-shot"`` (post-training, no fine-tuning), ``"fine-tuned"``, or ``"unchanged"``
      (no group of any layer saves the objective: nothing was tried, the weights are the input's).
    - ``steps``: the optimization loop's steps (:class:`~hls_opt.solve.step.Step`; mappings as
      ``report.json`` holds them are read into Steps).
    - ``target``: the scheduler's final sparsity (fraction of the objective's resources removed).
    - ``configs[name]``: with latency / II budgets, the :class:`~hls_opt.config.LayerConfig` the
      optimizer chose for every weighted layer (reuse factor and strategy); empty otherwise.
    - ``seconds``: fine-tuned mode, where the optimization's wall time went (the outcome's
      ``timings``: setup, regularisation, training, polish, solving, evaluation, total); empty in
      one-shot mode.  ``epochs_trained``: every epoch ``model.fit`` ran.
    """

    objective: str
    mode: str
    target: float
    masks: Mapping[str, np.ndarray] = field(default_factory=dict)
    offsets: Mapping[str, np.ndarray] = field(default_factory=dict)
    weights: Mapping[str, Mapping[str, np.ndarray]] = field(default_factory=dict)
    steps: tuple[Step, ...] = ()
    baseline_metric: float | None = None
    final_metric: float | None = None
    configs: Mapping[str, Any] = field(default_factory=dict)
    seconds: Mapping[str, float] = field(default_factory=dict)
    epochs_trained: int = 0

    def __post_init__(self) -> None:
        # Copy and freeze everything so that neither the producer nor a consumer can change the plan.
        object.__setattr__(self, "masks", _frozen_map(self.masks))
        object.__setattr__(self, "offsets", _frozen_map(self.offsets))
        object.__setattr__(
            self, "weights", MappingProxyType({str(k): _frozen_map(v) for k, v in dict(self.weights).items()})
        )
        object.__setattr__(self, "steps", tuple(Step.from_mapping(s) for s in self.steps))
        object.__setattr__(self, "configs", MappingProxyType(dict(self.configs)))
        object.__setattr__(self, "seconds", MappingProxyType({str(k): float(v) for k, v in dict(self.seconds).items()}))

    def pruned_layers(self) -> tuple[str, ...]:
        """Names of the layers whose mask prunes at least one weight, in mask order."""
        return tuple(name for name, mask in self.masks.items() if bool(np.any(mask == 0)))

    def layer_sparsity(self, name: str) -> float:
        """Fraction of the layer's kernel weights the mask prunes (0 when the layer has no mask)."""
        mask = self.masks.get(name)
        return 0.0 if mask is None or mask.size == 0 else float(np.mean(mask == 0))
