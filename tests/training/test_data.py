"""Training data checks (training/data.py): bad data fails with a DataError naming the problem before any step."""

from __future__ import annotations

import numpy as np
import pytest

import graphnn as gn

from .util import XS, YS, N, model


@pytest.mark.parametrize("data, match", [
    ({"x": XS, "y": YS[:-1]}, "length mismatch: x has 120 rows, y has 119 rows"),
    ({"x": XS, "y": YS + 1}, r"labels 'y' range over \[1, 3\] .* 3 classes"),
    ({"x": np.where(np.arange(N)[:, None] == 7, np.nan, XS).astype(np.float32), "y": YS}, "NaN/inf.*row 7"),
    ({"x": XS.astype(np.float64), "y": YS}, "dtype float64.*astype\\('float32'\\)"),
    ({"x": XS}, "missing \\['y'\\]"),
    ({"x": XS[:, :3], "y": YS}, "shape \\(120, 3\\)"),
])
def test_bad_input_fails_before_the_first_step(data, match) -> None:
    g, net, loss, acc = model()
    before = {k: g.storage[k].copy() for k in g.storage.keys()}
    with pytest.raises(gn.train.DataError, match=match):
        gn.train.fit(loss, data, gn.optim.SGD(0.1), epochs=1, progress=False, verbose=False)
    for k, v in before.items():
        assert np.array_equal(g.storage[k], v)
