"""The one-step re-layout of hls_opt/ (issue #18 item 1): git mv every module to its layer's folder and
rewrite every reference to its dotted name (imports, strings, docs).  Kept in the tree as the record of
what moved where; run once from the repository root on the 0.3 tree."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

# old module -> new module
MOVES: dict[str, str] = {
    "hls_opt.precision": "hls_opt.core.precision",
    "hls_opt.structures": "hls_opt.core.structures",
    "hls_opt.fileio": "hls_opt.core.fileio",
    "hls_opt.progress": "hls_opt.core.progress",
    "hls_opt.quantizers": "hls_opt.core.qkeras",
    "hls_opt.objective": "hls_opt.config.objective",
    "hls_opt.reduction": "hls_opt.ir.reduce",
    "hls_opt.emit": "hls_opt.emit.keras_model",
    "hls_opt.emit_config": "hls_opt.emit.hls4ml_config",
    "hls_opt.timing": "hls_opt.cost.timing",
    "hls_opt.resources": "hls_opt.cost.resources",
    "hls_opt.feasibility": "hls_opt.cost.feasibility",
    "hls_opt.knapsack": "hls_opt.solve.knapsack",
    "hls_opt.selection": "hls_opt.solve.pruning",
    "hls_opt.rf_choice": "hls_opt.solve.rf_dp",
    "hls_opt.rf_selection": "hls_opt.solve.rf_problem",
    "hls_opt.scheduler": "hls_opt.train.schedulers",
    "hls_opt.devices": "hls_opt.train.distributed",
    "hls_opt.keras.optimize": "hls_opt.train.engine",
    "hls_opt.keras.masking": "hls_opt.train.masking",
    "hls_opt.keras.ranking": "hls_opt.train.ranking",
    "hls_opt.keras.regularizers": "hls_opt.train.regularizers",
    "hls_opt.keras.training": "hls_opt.train.fit",
    "hls_opt.keras.data": "hls_opt.train.data",
    "hls_opt.keras.reduction": "hls_opt.train.reduction",
    "hls_opt.keras.utils": "hls_opt.train.utils",
    "hls_opt.keras.backend": "hls_opt.train.backends",
    "hls_opt.keras.backend_common": "hls_opt.train.backends.common",
    "hls_opt.keras.backend_tf": "hls_opt.train.backends.tf",
    "hls_opt.keras.backend_jax": "hls_opt.train.backends.jax",
    "hls_opt.keras.backend_torch": "hls_opt.train.backends.torch",
    "hls_opt.inputs": "hls_opt.flow.inputs",
    "hls_opt.training_settings": "hls_opt.flow.settings",
    "hls_opt.result": "hls_opt.flow.result",
    "hls_opt.report": "hls_opt.flow.report",
    "hls_opt.flow": "hls_opt.flow.run",
    "hls_opt.demo": "hls_opt.cli.demo",
    "hls_opt.cli": "hls_opt.cli.main",
}
# The package hls_opt.cli re-exports main and COMMANDS: `from hls_opt import cli; cli.main(...)` and
# `python -m hls_opt.cli` keep working, so references to the package itself are left alone.
KEEP_AS_PACKAGE = {"hls_opt.cli"}

NEW_PACKAGES = ["core", "cost", "solve", "train", "train/backends", "flow", "cli", "emit"]


def path_of(module: str, package: bool = False) -> Path:
    parts = module.split(".")
    if package:
        return Path(*parts) / "__init__.py"
    return Path(*parts).with_suffix(".py")


def is_package_target(new: str) -> bool:
    return new in ("hls_opt.train.backends",)


def remap(name: str, whole_cli_ok: bool = True) -> str:
    """The new dotted name of ``name`` (the longest moved prefix replaced)."""
    parts = name.split(".")
    for k in range(len(parts), 1, -1):
        prefix = ".".join(parts[:k])
        if prefix in MOVES:
            if prefix in KEEP_AS_PACKAGE and k == len(parts) and whole_cli_ok:
                return name
            if prefix in KEEP_AS_PACKAGE and k < len(parts) and parts[k] in ("main", "COMMANDS"):
                return name
            return ".".join([MOVES[prefix], *parts[k:]])
    return name


DOTTED = re.compile(r"(?<![\w.])hls_opt(?:\.\w+)+")
SLASHED = re.compile(r"(?<![\w/])hls_opt(?:/\w+)+\.py")


def rewrite_import_from(src: str) -> str:
    """``from hls_opt[.pkg] import a, b`` where ``pkg.a`` moved: one statement per moved name."""
    tree = ast.parse(src)
    lines = src.splitlines(keepends=True)
    edits = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom) or not node.module or not node.module.startswith("hls_opt"):
            continue
        moved = [a for a in node.names if f"{node.module}.{a.name}" in MOVES and f"{node.module}.{a.name}" not in KEEP_AS_PACKAGE]
        if not moved:
            continue
        indent = lines[node.lineno - 1][: len(lines[node.lineno - 1]) - len(lines[node.lineno - 1].lstrip())]
        first = lines[node.lineno - 1]
        comment = ""
        if node.lineno == node.end_lineno and "#" in first[node.end_col_offset:]:
            comment = "  " + first[node.end_col_offset:].strip()
        out = []
        rest = [a for a in node.names if a not in moved]
        if rest:
            names = ", ".join(a.name + (f" as {a.asname}" if a.asname else "") for a in rest)
            out.append(f"{indent}from {remap(node.module)} import {names}{comment}\n")
            comment = ""
        for a in moved:
            new = MOVES[f"{node.module}.{a.name}"]
            parent, leaf = new.rsplit(".", 1)
            alias = a.asname or a.name
            clause = leaf if alias == leaf else f"{leaf} as {alias}"
            out.append(f"{indent}from {parent} import {clause}{comment}\n")
            comment = ""
        edits.append((node.lineno - 1, node.end_lineno, out))
    for start, end, out in sorted(edits, reverse=True):
        lines[start:end] = out
    return "".join(lines)


def main() -> None:
    git = ["git"]
    for pkg in NEW_PACKAGES:
        Path("hls_opt", pkg).mkdir(parents=True, exist_ok=True)
    # cli.py and flow.py and emit.py become packages of the same name: move them aside first
    for old, new in MOVES.items():
        src = path_of(old)
        if not src.exists():
            src = path_of(old, package=True)
        dst = path_of(new, package=is_package_target(new))
        dst.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([*git, "mv", str(src), str(dst)], check=True)
    for pkg in NEW_PACKAGES:
        init = Path("hls_opt", pkg, "__init__.py")
        if not init.exists():
            init.write_text("")
            subprocess.run([*git, "add", str(init)], check=True)
    files = subprocess.run([*git, "ls-files"], check=True, capture_output=True, text=True).stdout.split()
    slash_moves = {str(path_of(o)): str(path_of(n, package=is_package_target(n))) for o, n in MOVES.items()}
    for f in files:
        p = Path(f)
        if p.suffix not in (".py", ".md", ".toml", ".yml", ".yaml", ".cfg") and p.name not in ("Makefile",):
            continue
        if f == "tools/relayout.py":
            continue
        text = p.read_text()
        new = text
        if p.suffix == ".py":
            new = rewrite_import_from(new)
        new = DOTTED.sub(lambda m: remap(m.group(0)), new)
        new = SLASHED.sub(lambda m: slash_moves.get(m.group(0), m.group(0)), new)
        if new != text:
            p.write_text(new)
    print("moved", len(MOVES), "modules", file=sys.stderr)


if __name__ == "__main__":
    main()
