"""Uneven last batches (``docs/devices.md``): what ``fit`` reads for a source.

On a backend that wants one batch size (JAX, ``FULL_BATCHES``: one trace of the jitted step, and a
``DataParallel`` split evenly over the devices) a short batch is padded to ``batch_size`` rows with
the first rows of the batch read before it; elsewhere it stays short.  Marked ``backend``: ``make
test-jax`` runs it on JAX.
"""

from __future__ import annotations

import numpy as np
import pytest

from hls_opt.data.sources import ArraySource
from hls_opt.train.backends import native
from hls_opt.train.data import ShuffledBatches

pytestmark = pytest.mark.backend


def test_a_short_last_batch_is_padded_where_the_backend_needs_one_size():
    # 10 rows, batches of 4: 4, 4 and a short one of 2 rows
    X = np.arange(10, dtype="float32")[:, None]
    y = np.arange(10, dtype="int64")
    batches = ShuffledBatches(ArraySource(X, y, "arrays", ("X_train", "y_train"), in_memory=True), 4, seed=0)
    assert len(batches) == 3
    for _ in range(2):  # two epochs, two shuffles
        read = [batches[i] for i in range(len(batches))]
        rows = [x[:, 0].astype(int) for x, _ in read]
        for x, t in read:  # inputs and targets stay paired
            np.testing.assert_array_equal(x[:, 0].astype(int), t)
        # every sample of the epoch is in it exactly once among its first 10 rows read
        assert sorted(np.concatenate(rows)[:10].tolist()) == list(range(10))
        if native().FULL_BATCHES:
            assert [len(r) for r in rows] == [4, 4, 4]
            # the 2 extra rows are the first two of the batch read before it
            np.testing.assert_array_equal(rows[2][2:], rows[1][:2])
        else:
            assert [len(r) for r in rows] == [4, 4, 2]
        batches.on_epoch_end()
