"""Reading what hls4ml generated: shared by the hls4ml cross-check and real-client tests."""

from __future__ import annotations

import re
from pathlib import Path


def unrolled_kernels(project: Path) -> dict[int, tuple[int, int]]:
    """``{layer index: (ALLOCATION mul limit, product statements)}`` of the unrolled kernels.

    hls4ml's ``GenerateUnrolledDenseResource`` pass (backends/vivado/passes/unrolled_codegen.py)
    writes one ``dense_resource_unrolled_<index>`` class per layer into
    ``firmware/nnet_utils/nnet_code_gen.h``, capped by ``#pragma HLS ALLOCATION operation
    instances=mul limit=N`` and with one ``product`` call per non-zero weight.
    """
    text = (Path(project) / "firmware" / "nnet_utils" / "nnet_code_gen.h").read_text()
    kernels = {}
    for chunk in re.split(r"(?=class dense_resource_unrolled_)", text)[1:]:
        index = int(re.match(r"class dense_resource_unrolled_(\d+)", chunk).group(1))
        limit = int(re.search(r"ALLOCATION operation instances=mul limit=(\d+)", chunk).group(1))
        kernels[index] = (limit, chunk.count("::product(data["))
    return kernels
