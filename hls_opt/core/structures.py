"""Weight structures: which weights are pruned (or shared) together.

This module is the single place that knows how a kernel splits into groups.  The resource
models (``backends/``), the masking code, the regularisers and the rewrite pass all call it, so
the groups the optimizer removes are exactly the groups the hardware model counts.

Kernels are in Keras layout: Dense ``(n_in, n_out)``, Conv1D ``(kw, C, F)``, Conv2D
``(kh, kw, C, F)``.  hls4ml's matrix-multiply view of every one of them is
``n_in = prod(shape[:-1])`` (kh·kw·C for a convolution) by ``n_out = shape[-1]``.

Pattern groups follow hls4ml's Resource / ResourceUnrolled kernels
(``nnet_dense_resource.h``, ``backends/vivado/passes/unrolled_codegen.py``): the kernel is
transposed to ``(n_out, n_in)`` (convolutions: output channel first, then kh, kw, C), flattened
row-major and reshaped to ``(n_in·n_out / RF, RF)``.  Row ``m`` holds the ``RF`` weights that one
multiplier processes over the ``RF`` clock cycles, so an all-zero row is a multiplier the
unrolled code does not instantiate.  ``consecutive`` merges that many adjacent rows into one group
(hls4ml's ``consecutive_patterns``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import numpy as np


class StructureType(str, Enum):
    """How weights are grouped for pruning; values are hls4ml's ``SUPPORTED_STRUCTURES`` values."""

    UNSTRUCTURED = "unstructured"
    STRUCTURED = "structured"
    PATTERN = "pattern"
    BLOCK = "block"

    @classmethod
    def parse(cls, value: StructureType | str) -> StructureType:
        if isinstance(value, cls):
            return value
        try:
            return cls(str(value).lower())
        except ValueError:
            names = ", ".join(s.value for s in cls)
            raise ValueError(
                f"structure: unknown structure type {value!r} (expected one of {names})"
            ) from None


def mult_shape(kernel_shape: tuple[int, ...]) -> tuple[int, int]:
    """``(n_in, n_out)`` of the matrix multiply hls4ml builds for a kernel of this shape."""
    shape = tuple(int(d) for d in kernel_shape)
    if len(shape) < 2:
        raise ValueError(f"kernel shape {shape}: expected at least 2 dimensions")
    return int(np.prod(shape[:-1])), shape[-1]


def transposed_order(kernel_shape: tuple[int, ...]) -> np.ndarray:
    """Flat (row-major, Keras layout) kernel indices listed in hls4ml's transposed order.

    ``kernel.reshape(-1)[transposed_order(shape)]`` is hls4ml's flattened transposed weight array.
    """
    shape = tuple(int(d) for d in kernel_shape)
    flat = np.arange(int(np.prod(shape)), dtype=np.int64).reshape(shape)
    return np.moveaxis(flat, -1, 0).reshape(-1)


def transpose_kernel(kernel: np.ndarray) -> np.ndarray:
    """The kernel as hls4ml's ``(n_out, n_in)`` matrix (Dense: ``W.T``)."""
    kernel = np.asarray(kernel)
    return np.moveaxis(kernel, -1, 0).reshape(kernel.shape[-1], -1)


def group_ids(
    kernel_shape: tuple[int, ...],
    structure: StructureType | str,
    *,
    reuse_factor: int = 1,
    block_shape: tuple[int, int] = (1, 1),
    consecutive: int = 1,
) -> tuple[np.ndarray, int]:
    """Map every kernel weight to the id of the group it belongs to.

    Returns ``(ids, n_groups)`` where ``ids`` has the kernel's shape and holds integers in
    ``[0, n_groups)``.  Group ids are ordered as hls4ml orders its groups (output channel for
    ``STRUCTURED``, reuse-group row for ``PATTERN``, tiles row-major for ``BLOCK``).
    """
    structure = StructureType.parse(structure)
    shape = tuple(int(d) for d in kernel_shape)
    size = int(np.prod(shape))
    if structure is StructureType.UNSTRUCTURED:
        return np.arange(size, dtype=np.int64).reshape(shape), size
    if structure is StructureType.STRUCTURED:
        n_out = shape[-1]
        return np.broadcast_to(np.arange(n_out, dtype=np.int64), shape).copy(), n_out
    if structure is StructureType.PATTERN:
        rf = int(reuse_factor)
        if rf < 1 or size % rf:
            raise ValueError(
                f"pattern groups: reuse factor {rf} does not divide the {size} weights of {shape}"
            )
        n_rows = size // rf
        if consecutive < 1 or n_rows % consecutive:
            raise ValueError(
                f"pattern groups: consecutive_patterns {consecutive} does not divide the {n_rows} reuse groups"
            )
        ids = np.empty(size, dtype=np.int64)
        ids[transposed_order(shape)] = np.arange(size, dtype=np.int64) // (rf * consecutive)
        return ids.reshape(shape), n_rows // consecutive
    # BLOCK: 2-D kernels only (hls4ml rejects it for convolutions too).
    if len(shape) != 2:
        raise ValueError(f"block groups: need a 2-D kernel, got shape {shape}")
    bh, bw = (int(b) for b in block_shape)
    if bh < 1 or bw < 1 or shape[0] % bh or shape[1] % bw:
        raise ValueError(f"block groups: block shape {(bh, bw)} does not tile the kernel {shape}")
    rows = np.arange(shape[0])[:, None] // bh
    cols = np.arange(shape[1])[None, :] // bw
    n_cols = shape[1] // bw
    return (rows * n_cols + cols).astype(np.int64), (shape[0] // bh) * n_cols


@dataclass(frozen=True)
class Grouping:
    """How one layer's kernel splits into groups: a structure and its parameters.

    - ``pattern_rf``: for ``PATTERN``, the reuse factor whose reuse-group rows are the groups
      (hls4ml's ``pattern_offset`` is ``n_weights // pattern_rf``);
    - ``consecutive``: for ``PATTERN``, rows merged into one group (hls4ml's ``consecutive_patterns``);
    - ``block_shape``: for ``BLOCK``, the ``(rows, columns)`` tile of a 2-D kernel.
    """

    structure: StructureType
    pattern_rf: int = 1
    consecutive: int = 1
    block_shape: tuple[int, int] = (1, 1)

    def __post_init__(self) -> None:
        object.__setattr__(self, "structure", StructureType.parse(self.structure))
        object.__setattr__(self, "block_shape", tuple(int(b) for b in self.block_shape))

    def ids(self, kernel_shape: tuple[int, ...]) -> tuple[np.ndarray, int]:
        """``(ids, n_groups)`` of a kernel of this shape (:func:`group_ids`)."""
        return group_ids(
            kernel_shape,
            self.structure,
            reuse_factor=self.pattern_rf,
            block_shape=self.block_shape,
            consecutive=self.consecutive,
        )

    @classmethod
    def from_pattern_offset(cls, kernel_shape: tuple[int, ...], pattern_offset: int, consecutive: int = 1) -> Grouping:
        """hls4ml's spelling of a pattern: ``pattern_offset`` patterns of ``n / pattern_offset`` weights."""
        size = int(np.prod(kernel_shape))
        offset = int(pattern_offset)
        if offset < 1 or size % offset:
            raise ValueError(f"pattern_offset {offset} does not divide the {size} weights")
        return cls(StructureType.PATTERN, pattern_rf=size // offset, consecutive=int(consecutive))

    @classmethod
    def from_hls4ml(
        cls,
        kernel_shape: tuple[int, ...],
        structure: StructureType | str,
        *,
        pattern_offset: int = 1,
        consecutive: int = 1,
        block_shape: tuple[int, int] = (1, 1),
    ) -> Grouping:
        """The grouping hls4ml's ``OptimizationAttributes`` fields describe for this kernel."""
        structure = StructureType.parse(getattr(structure, "value", structure))
        if structure is StructureType.PATTERN:
            return cls.from_pattern_offset(kernel_shape, pattern_offset, consecutive)
        return cls(structure, block_shape=tuple(block_shape))


def group_sizes(ids: np.ndarray, n_groups: int) -> np.ndarray:
    """Number of weights in each group, shape ``(n_groups,)``."""
    return np.bincount(np.asarray(ids).reshape(-1), minlength=n_groups)


def group_norms(values: np.ndarray, ids: np.ndarray, n_groups: int, p: int = 1) -> np.ndarray:
    """``‖values[group]‖_p`` for every group, shape ``(n_groups,)`` (p in {1, 2})."""
    flat = np.abs(np.asarray(values, dtype=np.float64).reshape(-1))
    sums = np.bincount(np.asarray(ids).reshape(-1), weights=flat**p, minlength=n_groups)
    return sums if p == 1 else sums ** (1.0 / p)


def group_means(kernel: np.ndarray, ids: np.ndarray, n_groups: int, sizes: np.ndarray) -> np.ndarray:
    """Mean weight of every group, shape ``(n_groups,)`` (the value a shared group is frozen at)."""
    sums = np.bincount(
        np.asarray(ids).reshape(-1), weights=np.asarray(kernel, dtype=np.float64).reshape(-1), minlength=n_groups
    )
    return sums / np.maximum(sizes, 1)


def group_nonzero(kernel: np.ndarray, ids: np.ndarray, n_groups: int) -> np.ndarray:
    """Boolean ``(n_groups,)``: does the group still hold a non-zero weight?"""
    nz = (np.asarray(kernel).reshape(-1) != 0).astype(np.int64)
    return np.bincount(np.asarray(ids).reshape(-1), weights=nz, minlength=n_groups) > 0


def expand_group_mask(keep: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Per-weight mask (kernel shape, float32) from a per-group keep vector."""
    return np.asarray(keep, dtype=np.float32)[np.asarray(ids)]


def reuse_group_rows(kernel: np.ndarray, reuse_factor: int) -> np.ndarray:
    """hls4ml's ``(n_in·n_out / RF, RF)`` weight rows: row ``m`` is what multiplier ``m`` processes."""
    kernel = np.asarray(kernel)
    rf = int(reuse_factor)
    if rf < 1 or kernel.size % rf:
        raise ValueError(f"reuse groups: reuse factor {rf} does not divide the {kernel.size} weights")
    return kernel.reshape(-1)[transposed_order(kernel.shape)].reshape(-1, rf)


def zero_reuse_groups(kernel: np.ndarray, reuse_factor: int) -> int:
    """Number of all-zero reuse-group rows (hls4ml's ``zeros`` in the unrolled code generator)."""
    return int(np.sum(~reuse_group_rows(kernel, reuse_factor).any(axis=1)))
