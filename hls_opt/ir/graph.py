"""The IR graph: typed nodes connected producer → consumer.

``Graph`` wraps a :class:`networkx.DiGraph` behind typed accessors; no module outside
``hls_opt/ir/`` touches networkx.  Edges carry no data: the order in which a node consumes its
producers is ``Node.inputs`` (call order), which is the single source of truth for connectivity.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import networkx as nx

from hls_opt.errors import ModelError
from hls_opt.ir.nodes import Node


class Graph:
    """A directed acyclic graph of IR nodes, keyed by (unique) layer name.

    ``inputs`` / ``outputs`` list the model's input and output node names in the model's order.
    ``name`` is the source model's name; ``sequential`` records that the source was a Keras
    ``Sequential`` model (the emitter rebuilds a ``Sequential`` when the graph is still a chain).
    """

    def __init__(self, name: str = "", *, sequential: bool = False) -> None:
        self._g = nx.DiGraph()
        self._order = 0  # insertion counter, used to break ties in the topological order
        self._topo: list[str] | None = None  # cached topological order; reset on every change
        self.name = name
        self.sequential = sequential
        self.inputs: list[str] = []
        self.outputs: list[str] = []
        #: what passes record about the graph as a whole (e.g. ``"pruning_plan"``: the frozen
        #: :class:`~hls_opt.passes.plan.PruningPlan` of ``dsp-aware-pruning``); values are immutable
        self.annotations: dict[str, Any] = {}

    # -- building -------------------------------------------------------------------------------

    def add(self, node: Node) -> Node:
        """Add ``node``; its producers (``node.inputs``) must already be in the graph.

        Raises ``ModelError`` on a duplicate name or an unknown producer.
        """
        if not isinstance(node, Node):
            raise TypeError(f"Graph.add: expected an IR Node, got {type(node).__name__}")
        if node.name in self._g:
            raise ModelError(f"layer {node.name!r}: a node with this name is already in the graph")
        for producer in node.inputs:
            if producer not in self._g:
                raise ModelError(f"layer {node.name!r}: input {producer!r} is not in the graph")
        self._topo = None
        self._g.add_node(node.name, node=node, order=self._order)
        self._order += 1
        for producer in dict.fromkeys(node.inputs):  # one edge per distinct producer
            self._g.add_edge(producer, node.name)
        return node

    def replace(self, old_name: str, new_node: Node) -> Node:
        """Put ``new_node`` in the place of node ``old_name``, keeping every edge.

        ``new_node`` may carry a different name: consumers' ``inputs``, ``graph.inputs`` and
        ``graph.outputs`` are renamed accordingly.  Its own ``inputs`` must name the same producers
        as the old node's (in any order); changing connectivity is not what ``replace`` is for.
        """
        old = self.node(old_name)
        if set(new_node.inputs) != set(old.inputs):
            raise ModelError(
                f"layer {old_name!r}: replacement {new_node.name!r} has inputs {new_node.inputs}, "
                f"expected the same producers as {old.inputs}"
            )
        new_name = new_node.name
        if new_name != old_name:
            if new_name in self._g:
                raise ModelError(f"layer {old_name!r}: cannot rename to {new_name!r}, the name is taken")
            self._topo = None
            nx.relabel_nodes(self._g, {old_name: new_name}, copy=False)
            for succ in self._g.successors(new_name):
                consumer: Node = self._g.nodes[succ]["node"]
                consumer.inputs = [new_name if p == old_name else p for p in consumer.inputs]
            self.inputs = [new_name if n == old_name else n for n in self.inputs]
            self.outputs = [new_name if n == old_name else n for n in self.outputs]
        self._g.nodes[new_name]["node"] = new_node
        return new_node

    def remove(self, name: str, *, bypass: bool = False) -> Node:
        """Remove node ``name`` and return it.

        A node with consumers can only be removed with ``bypass=True`` and exactly one producer:
        its consumers (and ``graph.outputs``) then read that producer instead (e.g. dropping a
        ``Dropout``).  Otherwise ``ModelError`` naming the layer.
        """
        node = self.node(name)
        consumers = list(self._g.successors(name))
        if name in self.inputs:
            raise ModelError(f"layer {name!r}: a model input cannot be removed")
        if (consumers or name in self.outputs) and not bypass:
            raise ModelError(f"layer {name!r}: it has consumers; remove it with bypass=True")
        if bypass and len(set(node.inputs)) != 1:
            raise ModelError(f"layer {name!r}: bypass needs exactly one producer, it has {node.inputs}")
        self._topo = None
        if bypass:
            producer = node.inputs[0]
            for succ in consumers:
                consumer: Node = self._g.nodes[succ]["node"]
                consumer.inputs = [producer if p == name else p for p in consumer.inputs]
                self._g.add_edge(producer, succ)
            self.outputs = [producer if n == name else n for n in self.outputs]
        self._g.remove_node(name)
        return node

    # -- queries --------------------------------------------------------------------------------

    def node(self, name: str) -> Node:
        """The node called ``name``; ``ModelError`` naming the layer when there is none."""
        try:
            return self._g.nodes[name]["node"]
        except KeyError:
            raise ModelError(f"layer {name!r}: no such layer in the graph") from None

    def nodes(self) -> list[Node]:
        """All nodes in topological order (ties broken by insertion order, i.e. the model's order)."""
        if self._topo is None:
            key = self._g.nodes
            self._topo = list(nx.lexicographical_topological_sort(self._g, key=lambda n: key[n]["order"]))
        return [self._g.nodes[n]["node"] for n in self._topo]

    def __iter__(self) -> Iterator[Node]:
        return iter(self.nodes())

    def __len__(self) -> int:
        return self._g.number_of_nodes()

    def __contains__(self, name: object) -> bool:
        if isinstance(name, Node):
            name = name.name
        return isinstance(name, str) and name in self._g

    def nodes_of(self, *types: type[Node]) -> list[Node]:
        """Nodes that are instances of any of ``types``, in topological order."""
        return [n for n in self.nodes() if isinstance(n, types)]

    def weighted_nodes(self) -> list[Node]:
        """Nodes whose kernel is a matrix multiply the optimizer acts on (``has_kernel``)."""
        return [n for n in self.nodes() if n.has_kernel]

    def predecessors(self, node: Node | str) -> list[Node]:
        """Producers of ``node`` in call order (a producer used twice appears twice)."""
        target = self.node(node.name if isinstance(node, Node) else node)
        return [self.node(p) for p in target.inputs]

    def successors(self, node: Node | str) -> list[Node]:
        """Consumers of ``node``, in topological order."""
        name = node.name if isinstance(node, Node) else node
        self.node(name)  # raises ModelError for an unknown name
        succ = sorted(self._g.successors(name), key=lambda n: self._g.nodes[n]["order"])
        return [self._g.nodes[n]["node"] for n in succ]

    # -- copying --------------------------------------------------------------------------------

    def copy(self) -> Graph:
        """A deep copy: nodes, weight arrays and configs are independent of this graph."""
        new = Graph(self.name, sequential=self.sequential)
        for node in self.nodes():
            new.add(copy.deepcopy(node))
        new.inputs = list(self.inputs)
        new.outputs = list(self.outputs)
        new.annotations = dict(self.annotations)
        return new

    def __repr__(self) -> str:
        return f"Graph(name={self.name!r}, nodes={len(self)}, inputs={self.inputs}, outputs={self.outputs})"
