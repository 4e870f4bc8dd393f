"""The one shared definition of weight groups (hls_opt/core/structures.py), checked by hand."""

import numpy as np
import pytest

from hls_opt.core.structures import (
    StructureType,
    expand_group_mask,
    group_ids,
    group_nonzero,
    group_norms,
    group_sizes,
    mult_shape,
    reuse_group_rows,
    transpose_kernel,
    zero_reuse_groups,
)


def test_mult_shape_dense_and_conv():
    # Dense kernel (n_in, n_out) is already the matrix multiply.
    assert mult_shape((16, 8)) == (16, 8)
    # Conv2D (kh, kw, C, F): hls4ml multiplies kh*kw*C = 3*3*3 = 27 inputs per filter (not 9).
    assert mult_shape((3, 3, 3, 6)) == (27, 6)
    # Conv1D (kw, C, F): 5*2 = 10 inputs.
    assert mult_shape((5, 2, 4)) == (10, 4)


def test_dense_pattern_groups_match_hls4ml_worked_example():
    # hls4ml's pattern groups (dsp_aware_pruning/keras/masking.py): Dense 16→8, RF=4 → 32 groups;
    # group m covers output j = m // 4 and inputs 4*(m % 4) .. 4*(m % 4)+3 (the transposed kernel is
    # (8, 16), rows of 4).
    ids, n = group_ids((16, 8), StructureType.PATTERN, reuse_factor=4)
    assert n == 32
    for i in range(16):
        for j in range(8):
            assert ids[i, j] == 4 * j + i // 4
    assert np.all(group_sizes(ids, n) == 4)  # 128 weights / 32 groups: one row of RF 4 weights each


def test_conv2d_pattern_groups_follow_transposed_filter_order():
    # Conv2D 3x3x3→4, RF=9: 108 weights / 9 = 12 groups; the transposed flat index is
    # ((f*3 + y)*3 + x)*3 + c, so each filter spans 27/9 = 3 consecutive groups.
    ids, n = group_ids((3, 3, 3, 4), "pattern", reuse_factor=9)
    assert n == 12
    for y in range(3):
        for x in range(3):
            for c in range(3):
                for f in range(4):
                    k = ((f * 3 + y) * 3 + x) * 3 + c
                    assert ids[y, x, c, f] == k // 9
    # filter f = 2: k // 9 = (27·2 + 9y + 3x + c) // 9 = 6 + y, so its 27 weights fill groups 6, 7, 8
    assert set(np.unique(ids[..., 2])) == {6, 7, 8}


def test_consecutive_patterns_merge_adjacent_rows():
    # Dense 16→8, RF=4, consecutive 2 → 16 groups of 8 weights: rows 2b and 2b+1 merged.
    ids, n = group_ids((16, 8), "pattern", reuse_factor=4, consecutive=2)
    single, _ = group_ids((16, 8), "pattern", reuse_factor=4)
    assert n == 16
    assert np.array_equal(ids, single // 2)


def test_structured_and_unstructured_and_block():
    ids, n = group_ids((3, 2), "structured")
    # one group per output neuron (kernel column): 2 groups of 3; unstructured: one per weight, row-major
    assert n == 2 and ids.tolist() == [[0, 1], [0, 1], [0, 1]]
    ids, n = group_ids((2, 3), "unstructured")
    assert n == 6 and ids.tolist() == [[0, 1, 2], [3, 4, 5]]
    # 4x4 kernel in 2x2 tiles → 4 tiles numbered row-major over the tile grid.
    ids, n = group_ids((4, 4), "block", block_shape=(2, 2))
    assert n == 4
    assert ids.tolist() == [[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 3, 3], [2, 2, 3, 3]]


@pytest.mark.parametrize(
    "shape, kwargs, message",
    [
        ((16, 8), {"structure": "pattern", "reuse_factor": 3}, "does not divide"),
        ((16, 8), {"structure": "pattern", "reuse_factor": 4, "consecutive": 3}, "consecutive"),
        ((3, 3, 3, 4), {"structure": "block", "block_shape": (2, 2)}, "2-D"),
        ((4, 6), {"structure": "block", "block_shape": (4, 4)}, "tile"),
        ((4, 6), {"structure": "diagonal"}, "unknown structure"),
    ],
)
def test_bad_group_requests_raise(shape, kwargs, message):
    with pytest.raises(ValueError, match=message):
        group_ids(shape, **kwargs)


def test_reuse_rows_and_zero_groups_agree_with_group_ids():
    rng = np.random.default_rng(0)
    kernel = rng.normal(size=(16, 8)).astype(np.float32)
    # Zero outputs 0 and 1 entirely for inputs 0..3 → rows 0 (j=0) and 4 (j=1) are all zero.
    kernel[0:4, 0] = 0
    kernel[0:4, 1] = 0
    # A scattered zero that does not empty any row.
    kernel[5, 3] = 0
    assert zero_reuse_groups(kernel, 4) == 2
    rows = reuse_group_rows(kernel, 4)
    assert rows.shape == (32, 4)  # 16·8 / RF 4 = 32 rows of 4
    assert np.array_equal(rows, transpose_kernel(kernel).reshape(32, 4))
    ids, n = group_ids(kernel.shape, "pattern", reuse_factor=4)
    alive = group_nonzero(kernel, ids, n)
    assert np.flatnonzero(~alive).tolist() == [0, 4]  # group 4·j + i // 4 for i < 4, j = 0 and 1


def test_group_norms_and_mask_expansion():
    kernel = np.array([[1.0, -2.0], [3.0, 4.0]])
    ids, n = group_ids(kernel.shape, "structured")
    # column 0: |1|+|3| = 4, column 1: |-2|+|4| = 6; L2: sqrt(10), sqrt(20)
    assert group_norms(kernel, ids, n, p=1).tolist() == [4.0, 6.0]
    assert np.allclose(group_norms(kernel, ids, n, p=2), [np.sqrt(10), np.sqrt(20)])
    mask = expand_group_mask(np.array([0, 1]), ids)
    assert mask.tolist() == [[0.0, 1.0], [0.0, 1.0]]
