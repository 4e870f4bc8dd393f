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


def layer_structs(project: Path) -> dict[str, dict[str, object]]:
    """``{Keras layer name: config struct fields}`` of every layer hls4ml wrote into the top function.

    ``firmware/myproject.cpp`` calls each layer as ``nnet::<fn><…, configN>(…); // <name>``; the
    struct ``configN`` (and ``configN_mult``, a convolution's matrix multiply) in
    ``firmware/parameters.h`` holds its numbers (``static const unsigned x = N;``), its
    ``strategy`` (``nnet::latency``…) and its ``kernel`` class.  The result maps the name to the
    fields, with ``"function"`` the nnet function called and ``"mult"`` the ``_mult`` struct's fields.
    """
    project = Path(project)
    top = (project / "firmware" / "myproject.cpp").read_text()
    params = (project / "firmware" / "parameters.h").read_text()
    structs: dict[str, dict[str, object]] = {}
    for m in re.finditer(r"struct (config\w+) : nnet::\w+ \{(.*?)\n\};", params, re.S):
        body = m.group(2)
        fields: dict[str, object] = {k: int(v) for k, v in re.findall(r"static const unsigned (\w+) = (\d+);", body)}
        strategy = re.search(r"static const unsigned strategy = nnet::(\w+);", body)
        if strategy:
            fields["strategy"] = strategy.group(1)
        kernel = re.search(r"using kernel = nnet::(\w+)<", body)
        if kernel:
            fields["kernel"] = kernel.group(1)
        structs[m.group(1)] = fields
    out = {}
    for fn, config, name in re.findall(r"nnet::(\w+)<[^;]*?\b(config\d+)>\([^;]*\); // (\w+)", top):
        fields = dict(structs.get(config, {}))
        fields["function"] = fn
        fields["mult"] = structs.get(f"{config}_mult", {})
        fields["index"] = int(config[len("config"):])
        out[name] = fields
    return out


def top_pragma(project: Path) -> tuple[str, int | None]:
    """``('pipeline' | 'dataflow', II or None)``: the pragma hls4ml's writer puts on the top function
    (``writer/vivado_writer.py``, from ``SetPipelineStyle``)."""
    top = (Path(project) / "firmware" / "myproject.cpp").read_text()
    m = re.search(r"#pragma HLS (PIPELINE|DATAFLOW)(?: II=(\d+))?", top)
    return m.group(1).lower(), (int(m.group(2)) if m.group(2) else None)


def function_body(project: Path, header: str, signature: str) -> str:
    """The text of the first function/class in ``firmware/nnet_utils/<header>`` whose declaration
    contains ``signature``, up to the next top-level ``template``."""
    text = (Path(project) / "firmware" / "nnet_utils" / header).read_text()
    start = text.index(signature)
    end = text.find("\ntemplate", start)
    return text[start : end if end != -1 else len(text)]
