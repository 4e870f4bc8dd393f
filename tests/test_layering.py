"""The package's layering, read statically from the source.

The import graph of every ``.py`` under ``hls_opt/``, ``passes/`` (installed as ``hls_opt.passes``) and
``backends/`` (installed as ``hls_opt.backends``), parsed with :mod:`ast`, never imported.  An edge is an
import of a project module, at module level or inside a function: a function-local import hides a cycle
from Python, not from a reader.  Imports under ``if TYPE_CHECKING:`` do not count (their ``else:`` does).
``from pkg import name`` is an edge to ``pkg.name`` when that is a module, else to ``pkg`` (or its nearest
enclosing project package).  These are the conventions of the project's import-graph tool
(``shared/tools/import_graph.py``), so the numbers here are the numbers it prints.

Three rules:

- no import cycle (module-level and function-local imports together);
- nothing under ``hls_opt.passes``, nor anything it imports transitively, imports the hls4ml-compatible
  surface (hls4ml-shaped attributes and estimator classes: ``hls_opt.attributes``,
  ``hls_opt.objectives[.*]``, ``hls_opt.backends.*.objectives``, and any ``compat`` module);
- at most ``MAX_LOCAL_IMPORTS`` function-local imports of project modules (TensorFlow and Keras stay lazy
  through third-party imports, which are not counted).
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict, deque
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# source folder -> the package it is installed as (pyproject.toml [tool.setuptools.package-dir])
PACKAGE_DIRS = [("passes", "hls_opt.passes"), ("backends", "hls_opt.backends"), ("hls_opt", "hls_opt")]
# The hls4ml-compatible surface, wherever it lives (a module named like this, or inside such a package).
COMPAT = re.compile(r"(^|\.)(attributes|objectives|compat|hls4ml_compat)(\.|$)")
MAX_LOCAL_IMPORTS = 15


@dataclass(frozen=True)
class Import:
    source: str  # importing module
    target: str  # imported project module
    where: str  # path:line of the import statement
    local: bool  # inside a function


@dataclass
class ImportGraph:
    modules: dict[str, Path]
    imports: list[Import] = field(default_factory=list)
    # one entry per function-local import statement that names at least one project module
    local_statements: list[tuple[str, str, list[str]]] = field(default_factory=list)

    @property
    def edges(self) -> dict[str, set[str]]:
        out: dict[str, set[str]] = defaultdict(set)
        for imp in self.imports:
            out[imp.source].add(imp.target)
        return out

    def where(self, source: str, target: str) -> str:
        """Every place ``source`` imports ``target`` (path:line, '(local)' for a function-local import)."""
        return ", ".join(
            dict.fromkeys(
                imp.where + (" (local)" if imp.local else "")
                for imp in self.imports
                if imp.source == source and imp.target == target
            )
        )


def _module_name(path: Path, root: Path) -> str:
    rel = path.relative_to(root).with_suffix("").parts
    for folder, package in PACKAGE_DIRS:
        if rel[0] == folder:
            parts = package.split(".") + list(rel[1:])
            if parts[-1] == "__init__":
                parts = parts[:-1]
            return ".".join(parts)
    raise AssertionError(path)


def _project_modules(root: Path) -> dict[str, Path]:
    modules = {}
    for folder, _ in PACKAGE_DIRS:
        for path in sorted((root / folder).rglob("*.py")):
            modules[_module_name(path, root)] = path
    return modules


def _enclosing(name: str, modules: dict[str, Path]) -> str | None:
    while name and name not in modules:
        name = name.rsplit(".", 1)[0] if "." in name else ""
    return name or None


def _targets(current: str, node: ast.Import | ast.ImportFrom, modules: dict[str, Path]) -> list[str]:
    out: list[str] = []
    if isinstance(node, ast.ImportFrom):
        if node.level:
            base = current.split(".")
            if modules[current].name != "__init__.py":
                base = base[:-1]
            base = base[: len(base) - (node.level - 1)]
            module = ".".join(base + ([node.module] if node.module else []))
        else:
            module = node.module or ""
        for alias in node.names:
            if f"{module}.{alias.name}" in modules:
                out.append(f"{module}.{alias.name}")
            else:
                found = _enclosing(module, modules)
                if found:
                    out.append(found)
    else:
        for alias in node.names:
            found = _enclosing(alias.name, modules)
            if found:
                out.append(found)
    return [t for t in out if t != current]


class _Visitor(ast.NodeVisitor):
    def __init__(self, graph: ImportGraph, current: str, root: Path):
        self.graph, self.current, self.depth = graph, current, 0
        self.path = graph.modules[current].relative_to(root).as_posix()

    def visit_If(self, node: ast.If) -> None:
        if "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                self.visit(child)
            return
        self.generic_visit(node)

    def _function(self, node: ast.AST) -> None:
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = _function

    def _import(self, node: ast.Import | ast.ImportFrom) -> None:
        targets = _targets(self.current, node, self.graph.modules)
        where = f"{self.path}:{node.lineno}"
        for target in targets:
            self.graph.imports.append(Import(self.current, target, where, bool(self.depth)))
        if self.depth and targets:
            self.graph.local_statements.append((self.current, where, targets))

    visit_Import = visit_ImportFrom = _import


def build_graph(root: Path = ROOT) -> ImportGraph:
    graph = ImportGraph(_project_modules(root))
    for name, path in graph.modules.items():
        _Visitor(graph, name, root).visit(ast.parse(path.read_text(), filename=str(path)))
    return graph


def strongly_connected_components(edges: dict[str, set[str]], nodes) -> list[list[str]]:
    """Tarjan's algorithm, iterative; components of more than one module, sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = 0
    for root in sorted(nodes):
        if root in index:
            continue
        work = [(root, iter(sorted(edges.get(root, ()))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            v, children = work[-1]
            for w in children:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(edges.get(w, ())))))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    component = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        component.append(w)
                        if w == v:
                            break
                    if len(component) > 1:
                        out.append(sorted(component))
    return sorted(out)


def shortest_cycle(edges: dict[str, set[str]], component: list[str]) -> list[str]:
    """A shortest cycle through the first module of ``component`` (which has one), as a module list."""
    start, members = component[0], set(component)
    prev: dict[str, str | None] = {start: None}
    queue = deque([start])
    while queue:
        v = queue.popleft()
        for w in sorted(edges.get(v, ())):
            if w == start:
                path = [v]
                while prev[path[-1]] is not None:
                    path.append(prev[path[-1]])
                return list(reversed(path)) + [start]
            if w in members and w not in prev:
                prev[w] = v
                queue.append(w)
    raise AssertionError(f"no cycle through {start}")


def compat_modules(graph: ImportGraph) -> list[str]:
    return sorted(m for m in graph.modules if COMPAT.search(m))


def leak_paths(graph: ImportGraph) -> list[list[str]]:
    """Shortest import chains from a module of ``hls_opt.passes`` to a compat module (a chain stops at
    the first compat module it reaches)."""
    edges, compat = graph.edges, set(compat_modules(graph))
    out = []
    for start in sorted(m for m in graph.modules if m == "hls_opt.passes" or m.startswith("hls_opt.passes.")):
        prev: dict[str, str | None] = {start: None}
        queue = deque([start])
        while queue:
            v = queue.popleft()
            if v in compat and v != start:
                path = [v]
                while prev[path[-1]] is not None:
                    path.append(prev[path[-1]])
                out.append(list(reversed(path)))
                continue
            for w in sorted(edges.get(v, ())):
                if w not in prev:
                    prev[w] = v
                    queue.append(w)
    return sorted(out)


def _chain(graph: ImportGraph, modules: list[str]) -> str:
    hops = [f"    {a} -> {b}   [{graph.where(a, b)}]" for a, b in zip(modules, modules[1:])]
    return " -> ".join(modules) + "\n" + "\n".join(hops)


# --------------------------------------------------------------------------------------------------
# the reader itself (these hold today; they keep the layering rules below honest)


def test_the_graph_sees_every_package_under_its_installed_name():
    graph = build_graph()
    assert {"hls_opt", "hls_opt.passes", "hls_opt.backends", "hls_opt.backends.vivado"} <= set(graph.modules)
    assert not any(m.startswith(("passes", "backends")) for m in graph.modules)
    assert all(imp.target in graph.modules and imp.source != imp.target for imp in graph.imports)
    # the surface the second rule protects exists under these names
    assert {"hls_opt.attributes", "hls_opt.objectives"} <= set(compat_modules(graph))


def test_the_reader_follows_the_tools_conventions(tmp_path):
    pkg = tmp_path / "hls_opt"
    (pkg / "sub").mkdir(parents=True)
    (tmp_path / "passes").mkdir()
    (tmp_path / "backends").mkdir()
    (pkg / "__init__.py").write_text("from hls_opt import b\n")
    (pkg / "a.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from hls_opt import c\nelse:\n    import os\n"
        "from .sub import thing, d\n"  # thing: a name in hls_opt.sub; d: module hls_opt.sub.d
        "def f():\n    from hls_opt.b import x, y\n    import numpy\n"
    )
    (pkg / "b.py").write_text("class K:\n    def m(self):\n        from . import a\n")
    (pkg / "c.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("from .. import c\n")
    (pkg / "sub" / "d.py").write_text("")
    (tmp_path / "passes" / "__init__.py").write_text("import hls_opt.sub.d\n")
    (tmp_path / "backends" / "__init__.py").write_text("")
    graph = build_graph(tmp_path)
    edges = {(i.source, i.target, i.local) for i in graph.imports}
    assert edges == {
        ("hls_opt", "hls_opt.b", False),
        ("hls_opt.a", "hls_opt.sub", False),
        ("hls_opt.a", "hls_opt.sub.d", False),
        ("hls_opt.a", "hls_opt.b", True),  # twice (x, y): one statement
        ("hls_opt.b", "hls_opt.a", True),
        ("hls_opt.sub", "hls_opt.c", False),
        ("hls_opt.passes", "hls_opt.sub.d", False),
    }
    assert [(m, targets) for m, _, targets in graph.local_statements] == [
        ("hls_opt.a", ["hls_opt.b", "hls_opt.b"]),
        ("hls_opt.b", ["hls_opt.a"]),
    ]
    assert strongly_connected_components(graph.edges, graph.modules) == [["hls_opt.a", "hls_opt.b"]]
    assert shortest_cycle(graph.edges, ["hls_opt.a", "hls_opt.b"]) == ["hls_opt.a", "hls_opt.b", "hls_opt.a"]


# --------------------------------------------------------------------------------------------------
# the layering rules


def test_no_import_cycle():
    graph = build_graph()
    edges = graph.edges
    components = strongly_connected_components(edges, graph.modules)
    message = []
    for component in components:
        inside = [
            f"    {a} -> {b}   [{graph.where(a, b)}]"
            for a in component
            for b in sorted(edges[a])
            if b in component
        ]
        message.append(
            "import cycle among "
            + ", ".join(component)
            + "; one of its cycles:\n"
            + _chain(graph, shortest_cycle(edges, component))
            + "\n  every import inside that group:\n"
            + "\n".join(inside)
        )
    assert not components, "\n".join(message)


def test_passes_do_not_reach_the_hls4ml_compatible_surface():
    graph = build_graph()
    leaks = leak_paths(graph)
    message = "\n".join("passes reach the hls4ml-compatible surface: " + _chain(graph, p) for p in leaks)
    assert not leaks, message


def test_few_function_local_imports_of_project_modules():
    graph = build_graph()
    local = graph.local_statements
    listing = "\n".join(
        f"    {where}: {module} -> {', '.join(dict.fromkeys(t))}" for module, where, t in local
    )
    count = len(local)
    assert count <= MAX_LOCAL_IMPORTS, (
        f"{count} function-local imports of project modules (at most {MAX_LOCAL_IMPORTS}):\n{listing}"
    )


# --------------------------------------------------------------------------------------------------
# layer order (docs/design.md, "Layering"): a module imports only from its own layer or below


#: The layers of docs/design.md, lowest first: (name, module prefixes).  A module belongs to the layer of
#: its longest matching prefix.  The hls4ml-compatible surface sits beside the flow (same rank): the flow
#: turns a user's estimator class into an objective through it, and the surface runs the trainer.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("values", ("hls_opt", "hls_opt.errors", "hls_opt._lazy", "hls_opt.core")),
    ("config", ("hls_opt.config", "hls_opt.data")),
    ("IR", ("hls_opt.ir", "hls_opt.frontend", "hls_opt.emit")),
    ("cost models", ("hls_opt.cost", "hls_opt.backends")),
    ("solve", ("hls_opt.solve",)),
    ("trainer", ("hls_opt.train",)),
    ("passes", ("hls_opt.passes",)),
    (
        "flow / hls4ml surface",
        (
            "hls_opt.flow",
            "hls_opt.attributes",
            "hls_opt.objectives",
            "hls_opt.keras",
            "hls_opt.knapsack",
            "hls_opt.scheduler",
            "hls_opt.backends.vivado.objectives",
            "hls_opt.backends.gpu.objectives",
            "hls_opt.backends.oneapi.objectives",
        ),
    ),
    ("CLI", ("hls_opt.cli",)),
]


def layer_of(module: str) -> int:
    """The rank in :data:`LAYERS` of ``module`` (its longest matching prefix)."""
    best, rank = -1, None
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, rank = len(prefix), index
    if rank is None:
        raise AssertionError(f"{module} belongs to no layer of docs/design.md: add it to LAYERS")
    return rank


def upward_imports(graph: ImportGraph) -> list[Import]:
    # The package root only re-exports lazily (its _LAZY strings are not imports), so it sits with the values.
    return [imp for imp in graph.imports if layer_of(imp.target) > layer_of(imp.source)]


def test_layer_of_reads_the_longest_prefix():
    # hand-checked against docs/design.md's table
    assert LAYERS[layer_of("hls_opt.errors")][0] == "values"
    assert LAYERS[layer_of("hls_opt.cost.objective")][0] == "cost models"
    assert LAYERS[layer_of("hls_opt.backends.fpga")][0] == "cost models"
    assert LAYERS[layer_of("hls_opt.backends.vivado.objectives")][0] == "flow / hls4ml surface"
    assert LAYERS[layer_of("hls_opt.train.backends.tf")][0] == "trainer"
    assert LAYERS[layer_of("hls_opt.cli.main")][0] == "CLI"


def test_the_order_check_catches_an_upward_import(tmp_path):
    pkg = tmp_path / "hls_opt"
    for sub in ("core", "train", "flow"):
        (pkg / sub).mkdir(parents=True)
        (pkg / sub / "__init__.py").write_text("")
    (tmp_path / "passes").mkdir()
    (tmp_path / "backends").mkdir()
    (pkg / "__init__.py").write_text("")
    (tmp_path / "passes" / "__init__.py").write_text("")
    (tmp_path / "backends" / "__init__.py").write_text("")
    (pkg / "train" / "engine.py").write_text("from hls_opt.flow.report import front\nfrom hls_opt.core import x\n")
    (pkg / "flow" / "report.py").write_text("from hls_opt.train import engine\n")
    (pkg / "core" / "x.py").write_text("")
    bad = upward_imports(build_graph(tmp_path))
    assert [(i.source, i.target) for i in bad] == [("hls_opt.train.engine", "hls_opt.flow.report")]


def test_every_module_has_a_layer():
    for module in build_graph().modules:
        layer_of(module)


def test_no_module_imports_from_a_higher_layer():
    graph = build_graph()
    bad = upward_imports(graph)
    listing = "\n".join(
        f"    {i.where}{' (local)' if i.local else ''}: {i.source} [{LAYERS[layer_of(i.source)][0]}] -> "
        f"{i.target} [{LAYERS[layer_of(i.target)][0]}]"
        for i in bad
    )
    assert not bad, f"{len(bad)} imports from a higher layer (docs/design.md, Layering):\n{listing}"
