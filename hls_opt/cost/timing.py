"""Timing values: a layer's :class:`Timing` and the whole model's :class:`ModelTiming`, in clock cycles.

Pure values (no project import): the backends compute them (``Backend.timing``, registered with
``@Backend.timing_model``), :func:`hls_opt.cost.tables.model_timing` composes them the way the
backend's top function schedules the layers.  Basis of every number: ``docs/timing.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class Schedule(str, Enum):
    """How the generated top function runs the layers (hls4ml ``PipelineStyle``).

    ``pipeline``: one pipelined function (``#pragma HLS PIPELINE``), layers in sequence inside it;
    ``dataflow``: each layer a process (``#pragma HLS DATAFLOW``), processes overlap;
    ``sequential``: layers one after the other, nothing overlaps (a backend that does not say).
    """

    PIPELINE = "pipeline"
    DATAFLOW = "dataflow"
    SEQUENTIAL = "sequential"


@dataclass(frozen=True)
class Timing:
    """One layer: ``ii`` (cycles between the starts of two inputs) and ``latency`` (first input in
    to last output out).  ``fill``: cycles from its first input to its first output (a streaming
    stage starts writing before it has read everything; default ``latency``); ``drain``: cycles
    from its last input to its last output (default ``latency``).  ``modelled`` is False for a layer
    the backend has no timing model for (its numbers are then 0 and the model total is a lower bound)."""

    ii: int
    latency: int
    fill: int | None = None
    drain: int | None = None
    modelled: bool = True

    def __post_init__(self) -> None:
        for name in ("ii", "latency", "fill", "drain"):
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bool) or int(value) != value or int(value) < 0:
                raise ValueError(f"Timing.{name}: expected a non-negative integer, got {value!r}")
            object.__setattr__(self, name, int(value))
        if self.fill is None:
            object.__setattr__(self, "fill", self.latency)
        if self.drain is None:
            object.__setattr__(self, "drain", self.latency)

    def as_dict(self) -> dict[str, int | bool]:
        return {"ii": self.ii, "latency_cycles": self.latency, "modelled": self.modelled}


#: What a layer the backend has no timing model for gets.
NOT_MODELLED = Timing(ii=0, latency=0, modelled=False)
#: A layer that generates no hardware (hls4ml removes it or it is a type change only).
NO_HARDWARE = Timing(ii=0, latency=0)


@dataclass(frozen=True)
class ModelTiming:
    """The whole model: ``ii`` and ``latency`` in cycles, the ``schedule`` the top function uses,
    and every layer's :class:`Timing` by name (topological order)."""

    ii: int
    latency: int
    schedule: Schedule
    layers: dict[str, Timing] = field(default_factory=dict)

    @property
    def not_modelled(self) -> list[str]:
        """Names of the layers without a timing model (the totals leave them out)."""
        return [name for name, t in self.layers.items() if not t.modelled]

    @property
    def known(self) -> bool:
        """Whether any layer has a timing model.  A backend without one (``gpu``) leaves the model's
        II and latency unknown, not 0: ``as_dict`` gives ``None`` and a latency or II budget cannot be
        checked (:func:`hls_opt.cost.feasibility.check_budgets` refuses it)."""
        return any(t.modelled for t in self.layers.values())

    def as_dict(self) -> dict[str, object]:
        return {
            "ii": self.ii if self.known else None,
            "latency_cycles": self.latency if self.known else None,
            "schedule": self.schedule.value,
            "not_modelled": self.not_modelled,
        }


def compose(
    layers: dict[str, Timing],
    schedule: Schedule,
    *,
    pipeline_ii: int | None = None,
    producers: dict[str, list[str]] | None = None,
) -> ModelTiming:
    """The model's timing from its layers' (in topological order).  ``producers`` maps a layer to
    the layers it reads (default: a chain, each layer reading the one before it); a layer reading
    several (Add, Concatenate) starts and ends after the latest of them, so parallel branches
    overlap.

    * ``pipeline``: II = the largest layer II (or ``pipeline_ii`` when the top pragma sets one and
      it is larger); latency = the longest path of layer latencies (one pipeline, each layer
      waiting for its inputs);
    * ``dataflow``: II = the largest stage II; a stage starts when its producers' first outputs are
      out (``fill``) and ends no earlier than its own latency after that, nor earlier than
      ``drain`` after its producers end — for array stages (fill = drain = latency) this is the
      longest path of latencies, for streaming stages the fills add up and the slowest stage sets
      the rest;
    * ``sequential``: II = latency = the sum of the latencies (nothing overlaps).

    Layers without a timing model count as zero (the totals are then lower bounds).
    """
    names = list(layers)
    timed = [t for t in layers.values() if t.modelled]
    if not timed or not any(t.latency or t.ii for t in timed):
        return ModelTiming(ii=0, latency=0, schedule=schedule, layers=dict(layers))
    if schedule is Schedule.SEQUENTIAL:
        total = sum(t.latency for t in timed)
        return ModelTiming(ii=total, latency=total, schedule=schedule, layers=dict(layers))
    ii = max(t.ii for t in timed)
    if schedule is Schedule.PIPELINE and pipeline_ii is not None:
        ii = max(ii, int(pipeline_ii))
    if producers is None:
        producers = {name: ([names[i - 1]] if i else []) for i, name in enumerate(names)}
    first_out: dict[str, int] = {}  # when the layer's first output is out
    last_out: dict[str, int] = {}  # when its last output is out
    for name in names:
        t = layers[name] if layers[name].modelled else Timing(0, 0)
        ins = [p for p in producers.get(name, []) if p in last_out]
        start = max((first_out[p] for p in ins), default=0)
        ready = max((last_out[p] for p in ins), default=0)
        if schedule is Schedule.PIPELINE:
            start = ready  # one pipeline: a layer computes on its inputs once they are all there
        end = max(start + t.latency, ready + t.drain)
        first_out[name] = start + t.fill
        last_out[name] = end
    return ModelTiming(ii=ii, latency=max(last_out.values()), schedule=schedule, layers=dict(layers))


__all__ = ["NOT_MODELLED", "NO_HARDWARE", "ModelTiming", "Schedule", "Timing", "compose"]
