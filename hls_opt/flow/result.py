""":class:`OptimizationResult`: what ``convert_and_optimize`` returns, and how it is saved atomically."""

from __future__ import annotations

import shutil
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hls_opt.config import dump_config_yaml
from hls_opt.core.fileio import (
    MANIFEST_NAME,
    check_output_dir,
    remove_leftovers,
    replace_dir,
    staging_dir,
    write_manifest,
)
from hls_opt.errors import ConfigError
from hls_opt.flow.report import report_json, write_plots

if TYPE_CHECKING:
    from hls_opt.ir.graph import Graph

#: Every name :meth:`OptimizationResult.save` may write (listed in the staging manifest up front).
_WRITES = ("model.keras", "hls_config.yml", "report.json", "steps.png", "layers.png")


@dataclass
class OptimizationResult:
    """What :func:`convert_and_optimize` returns.

    ``model``: a new Keras model (pruned weights; neurons removed where the flow reduced);
    ``hls_config``: the hls4ml config dict (``Strategy: ResourceUnrolled`` and valid ``ReuseFactor``
    on rewritten layers; pass ``io_type`` to hls4ml's converter); ``graph``: the IR after the passes;
    ``report``: the report dict (schema: docs/flow.md "Report"); ``plan``: the frozen PruningPlan (or None);
    ``quantized_model`` (``quantize=True``): ``model`` under fake quantization to the emitted types, whose
    ``predict`` is hls4ml's compiled C++ (docs/precision.md, "bit-exact"); None otherwise.
    """

    model: Any
    hls_config: dict
    graph: Graph
    report: dict
    plan: Any = None
    io_type: str = "io_parallel"
    passes: list[tuple[str, bool]] = field(default_factory=list)
    quantized_model: Any = None

    def save(self, directory: str | Path, *, plots: bool = True) -> list[Path]:
        """Write ``model.keras``, ``hls_config.yml``, ``report.json`` and (with matplotlib) PNG plots.

        ``directory`` is checked first (:func:`hls_opt.core.fileio.check_output_dir`; symbolic links
        resolved).  All files are written into a temporary folder beside the resolved folder first and moved into
        place only when every one of them was written, so a failure leaves no new file behind and
        never touches an existing folder.  The folder gets a manifest (``.hls-opt-manifest.json``:
        each file written, its size and SHA-256).  An existing folder is replaced whole (files of an
        earlier run do not survive) only when everything in it is listed in its manifest and
        unchanged; one holding anything else is refused (ConfigError naming the path), and nothing
        is deleted by its name.  Returns the paths written (the manifest not among them).
        """
        given = Path(directory)
        # Links resolved: the staging folder lives on the file system of the real target.
        target = check_output_dir(given, field="output_dir")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            remove_leftovers(target)  # of a run killed while saving here
            # mode from the umask, as any new folder; our manifest inside from the start
            staging = staging_dir(target, pending=_WRITES)
        except OSError as exc:  # a folder the user cannot write to is bad input, not an internal error
            raise ConfigError(f"{given}: cannot create the output folder ({exc.strerror or exc})") from None
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self.model.save(staging / "model.keras")
            (staging / "hls_config.yml").write_text(dump_config_yaml(self.hls_config), encoding="utf-8")
            (staging / "report.json").write_text(report_json(self.report), encoding="utf-8")
            if plots:
                write_plots(self.report, staging)
            names = sorted(p.name for p in staging.iterdir() if p.name != MANIFEST_NAME)
            write_manifest(staging)  # exactly what was written: type, size, SHA-256
            replace_dir(staging, target)  # the folder describes this run only
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return [given / name for name in names]


__all__ = ["OptimizationResult"]
