"""The IR graph: accessors, topological order, replace, deep copies.  No Keras needed."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from hls_opt.errors import ModelError
from hls_opt.ir import Activation, Add, Concatenate, Conv2D, Dense, Graph, Input, Node, Opaque


def _dense(name: str, inputs: list[str], n_in: int, n_out: int, fill: float = 1.0) -> Dense:
    return Dense(
        name=name,
        inputs=inputs,
        input_shapes=[(n_in,)],
        output_shape=(n_out,),
        keras_class="Dense",
        weights={
            "kernel": np.full((n_in, n_out), fill, dtype=np.float32),
            "bias": np.zeros(n_out, np.float32),
        },
        units=n_out,
    )


def diamond() -> Graph:
    """x → a, x → b, add(a, b) → cat(add, a) → out.  Added in a non-alphabetical but valid order."""
    g = Graph("diamond")
    g.add(Input(name="x", output_shape=(8,)))
    g.add(_dense("b", ["x"], 8, 4, fill=2.0))
    g.add(_dense("a", ["x"], 8, 4))
    g.add(Add(name="add", inputs=["b", "a"], input_shapes=[(4,), (4,)], output_shape=(4,)))
    g.add(Concatenate(name="cat", inputs=["add", "a"], input_shapes=[(4,), (4,)], output_shape=(8,)))
    g.add(Activation(name="out", inputs=["cat"], input_shapes=[(8,)], output_shape=(8,), activation="relu"))
    g.inputs, g.outputs = ["x"], ["out"]
    return g


def test_accessors_on_a_branching_graph():
    g = diamond()
    assert len(g) == 6  # x, b, a, add, cat, out
    assert "a" in g and "nope" not in g and g.node("a") in g
    # Topological order breaks ties by insertion order: b was added before a.
    assert [n.name for n in g.nodes()] == ["x", "b", "a", "add", "cat", "out"]
    assert [n.name for n in g] == [n.name for n in g.nodes()]
    assert [n.name for n in g.nodes_of(Dense)] == ["b", "a"]
    assert [n.name for n in g.nodes_of(Add, Concatenate)] == ["add", "cat"]
    assert [n.name for n in g.weighted_nodes()] == ["b", "a"]
    # Predecessors follow call order (add was called as add(b, a)), by name or by node.
    assert [n.name for n in g.predecessors("add")] == ["b", "a"]
    assert [n.name for n in g.predecessors(g.node("cat"))] == ["add", "a"]
    assert g.predecessors("x") == []
    # a feeds add and cat; successors come back in topological order.
    assert [n.name for n in g.successors("a")] == ["add", "cat"]
    assert g.successors("out") == []


def test_a_producer_used_twice_is_listed_twice():
    g = Graph()
    g.add(Input(name="x", output_shape=(4,)))
    g.add(Add(name="double", inputs=["x", "x"], output_shape=(4,)))
    assert [n.name for n in g.predecessors("double")] == ["x", "x"]
    assert [n.name for n in g.successors("x")] == ["double"]


def test_unknown_names_raise_model_error_naming_the_layer():
    g = diamond()
    with pytest.raises(ModelError, match="'missing'"):
        g.node("missing")
    with pytest.raises(ModelError, match="'missing'"):
        g.successors("missing")
    with pytest.raises(ModelError, match="'missing'"):
        g.predecessors("missing")
    # ModelError is a ValueError (errors.py), so callers catching ValueError see it too.
    with pytest.raises(ValueError):
        g.node("missing")


def test_add_rejects_duplicates_unknown_producers_and_non_nodes():
    g = diamond()
    with pytest.raises(ModelError, match="'a'.*already"):
        g.add(_dense("a", ["x"], 8, 4))
    with pytest.raises(ModelError, match="'ghost'"):
        g.add(_dense("late", ["ghost"], 8, 4))
    with pytest.raises(TypeError):
        g.add("not a node")  # type: ignore[arg-type]


def test_replace_keeps_edges_and_can_rename():
    g = diamond()
    smaller = _dense("a2", ["x"], 8, 2)
    g.replace("a", smaller)
    assert "a" not in g and g.node("a2") is smaller
    # Consumers now name the new node, in the same argument position.
    assert g.node("add").inputs == ["b", "a2"]
    assert g.node("cat").inputs == ["add", "a2"]
    assert [n.name for n in g.successors("a2")] == ["add", "cat"]
    assert [n.name for n in g.nodes()] == ["x", "b", "a2", "add", "cat", "out"]
    # Renaming an output (or input) node renames it in graph.outputs too.
    g.replace("out", Activation(name="out2", inputs=["cat"], output_shape=(8,), activation="linear"))
    assert g.outputs == ["out2"]


def test_replace_refuses_other_producers_or_a_taken_name():
    g = diamond()
    with pytest.raises(ModelError, match="same producers"):
        g.replace("cat", Concatenate(name="cat", inputs=["add"], output_shape=(4,)))
    with pytest.raises(ModelError, match="taken"):
        g.replace("a", _dense("b", ["x"], 8, 4))


def test_order_is_recomputed_after_changes():
    g = diamond()
    assert [n.name for n in g][-1] == "out"  # order cached here
    g.add(Opaque(name="tail", inputs=["out"]))
    g.replace("b", _dense("b0", ["x"], 8, 4))
    assert [n.name for n in g] == ["x", "b0", "a", "add", "cat", "out", "tail"]


def test_remove_with_and_without_bypass():
    g = diamond()
    with pytest.raises(ModelError, match="'add'.*consumers"):
        g.remove("add")
    with pytest.raises(ModelError, match="'cat'.*one producer"):
        g.remove("cat", bypass=True)  # two producers: nothing to bypass to
    with pytest.raises(ModelError, match="'x'.*input"):
        g.remove("x", bypass=True)
    # Bypassing 'out' (an output, one producer): the output becomes its producer 'cat'.
    removed = g.remove("out", bypass=True)
    assert removed.name == "out" and "out" not in g and g.outputs == ["cat"]
    # Bypassing a one-input node in the middle: its consumer reads the producer, same position.
    g2 = diamond()
    g2.add(Opaque(name="drop", inputs=["a"], output_shape=(4,)))
    g2.add(Opaque(name="after", inputs=["x", "drop"], output_shape=(4,)))
    g2.remove("drop", bypass=True)
    assert g2.node("after").inputs == ["x", "a"]
    assert [n.name for n in g2.successors("a")] == ["add", "cat", "after"]
    # A dangling node (no consumers, not an output) goes without bypass.
    g2.remove("after")
    assert "after" not in g2 and len(g2) == 6


def test_copy_is_deep():
    g = diamond()
    c = g.copy()
    assert [n.name for n in c] == [n.name for n in g] and c.inputs == g.inputs and c.outputs == g.outputs
    # Editing the copy's weights, node fields or graph lists never touches the original.
    c.node("a").weights["kernel"][0, 0] = 99.0
    c.node("a").inputs.append("b")
    c.outputs.append("a")
    c.add(Opaque(name="extra", inputs=["out"]))
    assert g.node("a").kernel[0, 0] == 1.0
    assert g.node("a").inputs == ["x"]
    assert g.outputs == ["out"] and "extra" not in g and len(g) == 6  # diamond()'s 6 nodes, no "extra"
    assert c.node("a") is not g.node("a")


def test_nodes_compare_by_identity():
    # Value equality would compare weight arrays (ambiguous truth value); nodes are places in a graph.
    a, b = _dense("d", ["x"], 4, 2), _dense("d", ["x"], 4, 2)
    assert a == a and a != b and len({a, b}) == 2
    assert b not in [a]


def test_weighted_node_matrix_view():
    # Conv2D kernel (3, 3, 3, 6) on an 8×8×3 input with 'same' padding: hls4ml multiplies
    # kh·kw·C = 3·3·3 = 27 inputs by 6 filters, once per output pixel (8·8 = 64 pixels).
    conv = Conv2D(name="c", output_shape=(8, 8, 6), weights={"kernel": np.zeros((3, 3, 3, 6))}, filters=6)
    assert (conv.n_in, conv.n_out, conv.n_pixels) == (27, 6, 64)
    dense = _dense("d", ["x"], 16, 8)
    assert (dense.n_in, dense.n_out, dense.n_pixels) == (16, 8, 1)
    assert dense.bias is not None and dense.kind == "Dense"
    assert Node.has_kernel is False and Dense.has_kernel is True
    # channels_first: output (F, H, W) = (6, 8, 8) → still 64 positions.
    first = Conv2D(
        name="cf",
        output_shape=(6, 8, 8),
        keras_config={"data_format": "channels_first"},
        weights={"kernel": np.zeros((3, 3, 3, 6))},
    )
    assert (first.channels_last, first.n_pixels) == (False, 64)  # 8·8 output positions


def test_importing_the_ir_does_not_import_keras():
    code = (
        "import sys, hls_opt.ir, hls_opt.frontend, hls_opt.emit.keras_model, hls_opt.attributes; "
        "bad = [m for m in ('keras', 'tensorflow') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_only_the_ir_imports_networkx():
    # Design rule: networkx stays behind Graph.  Grep the package source.
    import re
    from pathlib import Path

    import hls_opt

    root = Path(hls_opt.__file__).parent
    importing = re.compile(r"^\s*(import|from)\s+networkx\b", re.MULTILINE)
    offenders = [
        str(p.relative_to(root))
        for p in root.rglob("*.py")
        if importing.search(p.read_text(encoding="utf-8")) and p.parent.name != "ir"
    ]
    assert offenders == []
