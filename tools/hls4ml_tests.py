"""Write hls4ml's own optimization tests, with the import prefix swapped to hls_opt, into a scratch folder.

hls-opt claims to be a drop-in for hls4ml's Optimization API (README, docs/compat.md): hls4ml's tests
in ``test/pytest/test_optimization/`` should pass when ``hls4ml.optimization.dsp_aware_pruning`` (and
``hls4ml.optimization``, the older path) read ``hls_opt``. This script does the swap from a checkout of
hls4ml (a work tree, or a bare/mirror git directory read at ``--rev``); it never writes into this
repository (hls4ml's tests are not ours to carry). Imports of hls4ml's converters
(``hls4ml.utils.config``, ``hls4ml.converters`` …) are left alone: they are the client.

    python tools/hls4ml_tests.py /path/to/hls4ml /tmp/hls4ml-tests
    python -m pytest -q /tmp/hls4ml-tests

The output folder gets its own ``conftest.py`` that turns off pytest's rootdir conftest lookup
into this repository (the tests run as hls4ml wrote them, with no fixtures of ours).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

TEST_DIR = "test/pytest/test_optimization"

# Longest prefix first: the subpackage, then the package that hls4ml < 1.0 used (hls4ml.optimization.keras …).
# A word boundary after each so hls4ml.optimization_xyz (none exist) would not be touched.
SWAPS = (
    (re.compile(r"\bhls4ml\.optimization\.dsp_aware_pruning\b"), "hls_opt"),
    (re.compile(r"\bhls4ml\.optimization\b"), "hls_opt"),
)


def swap_prefix(source: str) -> str:
    """The test's text with hls4ml's optimization package paths read as hls_opt's."""
    for pattern, replacement in SWAPS:
        source = pattern.sub(replacement, source)
    return source


def _list_and_read(checkout: Path, rev: str) -> dict[str, str]:
    """``{path under TEST_DIR: text}`` from a work tree, or from a git directory at ``rev``."""
    if (checkout / TEST_DIR).is_dir():
        root = checkout / TEST_DIR
        return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*.py"))}
    git = ["git", "-C", str(checkout)]
    names = subprocess.run(
        [*git, "ls-tree", "-r", "--name-only", rev, TEST_DIR], check=True, capture_output=True, text=True
    ).stdout.split()
    return {
        name[len(TEST_DIR) + 1 :]: subprocess.run(
            [*git, "show", f"{rev}:{name}"], check=True, capture_output=True, text=True
        ).stdout
        for name in names
        if name.endswith(".py")
    }


def write_tests(checkout: Path, out: Path, rev: str = "HEAD") -> list[Path]:
    files = _list_and_read(checkout, rev)
    if not files:
        raise SystemExit(f"no {TEST_DIR}/*.py in {checkout} at {rev}")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for rel, text in files.items():
        target = out / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(swap_prefix(text))
        written.append(target)
    # rootdir marker: keeps pytest from walking up into a project's conftest/pyproject settings.
    (out / "conftest.py").write_text("# written by hls-opt's tools/hls4ml_tests.py: no fixtures\n")
    (out / "pytest.ini").write_text("[pytest]\n")
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkout", type=Path, help="hls4ml work tree or git directory")
    parser.add_argument("out", type=Path, help="scratch folder for the swapped tests (outside this repository)")
    parser.add_argument("--rev", default="HEAD", help="revision to read from a git directory (default HEAD)")
    args = parser.parse_args(argv)
    repo = Path(__file__).resolve().parents[1]
    if args.out.resolve().is_relative_to(repo):
        parser.error(f"{args.out} is inside this repository; hls4ml's tests must not land in it")
    for path in write_tests(args.checkout, args.out, args.rev):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
