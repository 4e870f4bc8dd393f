"""A model saved by hls-opt 0.3 still loads after the re-layout of the tree.

``tests/data/saved_by_0_3.keras`` was written by 0.3 (modules ``hls_opt.keras.masking`` /
``hls_opt.keras.regularizers``): a Conv2D with a ``Conv2DRegularizer``, a Dense with a ``MaskConstraint``
(column 0 masked) and a ``DenseRegularizer``, and a Dense with a ``GroupRegularizer`` over 12 groups.  Keras
finds each class by its registered name (``hls_opt>MaskConstraint`` …), so the classes must be registered
under the same names by whichever module now defines them, and the paths a 0.3 user imported must still
import.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import keras
import numpy as np

FIXTURE = Path(__file__).parent / "data" / "saved_by_0_3.keras"


def test_a_model_saved_by_0_3_loads_with_its_masks_and_regularizers():
    import hls_opt.train.masking  # noqa: F401  (registers the classes, as any hls-opt import of the trainer does)
    import hls_opt.train.regularizers as regs

    model = keras.models.load_model(FIXTURE)
    fc1 = model.get_layer("fc1")
    constraint = fc1.kernel.constraint
    assert type(constraint).__name__ == "MaskConstraint"
    mask = np.asarray(constraint.mask)
    # the fixture masked column 0 of the 32 x 4 kernel and nothing else
    assert mask.shape == (32, 4) and mask[:, 0].sum() == 0 and mask[:, 1:].min() == 1
    assert isinstance(fc1.kernel_regularizer, regs.DenseRegularizer)
    assert isinstance(model.get_layer("conv").kernel_regularizer, regs.Conv2DRegularizer)
    group = model.get_layer("fc2").kernel_regularizer
    # fc2's kernel is 4 x 3 with one group per weight (the fixture's unstructured ids): 4·3 = 12
    assert isinstance(group, regs.GroupRegularizer) and group.n_groups == 12
    # a forward pass runs
    assert model.predict(np.ones((1, 6, 6, 1), "float32"), verbose=0).shape == (1, 3)


def test_the_imports_a_0_3_user_wrote_are_enough_to_load():
    """A fresh process importing only what a 0.3 (and hls4ml) user imported, ``hls_opt.keras.masking`` and
    ``hls_opt.keras.regularizers`` (hls4ml's paths, kept as re-exports), loads the file.  (Keras does not
    import a custom object's module by itself, in 0.3 or now: the classes register on import.)"""
    code = (
        "import sys, keras, hls_opt.keras.masking, hls_opt.keras.regularizers; "
        "m = keras.models.load_model(sys.argv[1]); "
        "print(type(m.get_layer('fc1').kernel.constraint).__module__)"
    )
    out = subprocess.run([sys.executable, "-c", code, str(FIXTURE)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "hls_opt.train.masking"
