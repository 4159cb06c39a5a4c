"""The NumPy matmul kernel's stacked path (a (..., m, k) @ matrix (k, n) as one 2-D product when a and the output
are C-contiguous) against np.matmul in float64, for contiguous and transposed operands, and its gradients."""

from __future__ import annotations

import numpy as np
import pytest

import graphnn as gn
from graphnn.backends.numpy.linalg import stacked_by_matrix


@pytest.mark.parametrize("a_shape, b_shape", [((2, 3, 4, 5), (5, 6)), ((7, 1, 5), (5, 2)), ((3, 4, 5), (5, 1))])
@pytest.mark.parametrize("transposed_b", [False, True])
def test_stacked_product_matches_numpy(a_shape: tuple, b_shape: tuple, transposed_b: bool) -> None:
    rng = np.random.default_rng(0)
    a = rng.standard_normal(a_shape).astype(np.float32)
    b = rng.standard_normal(b_shape[::-1]).astype(np.float32).T if transposed_b else \
        rng.standard_normal(b_shape).astype(np.float32)
    out = np.empty(a_shape[:-1] + b_shape[-1:], np.float32)
    stacked_by_matrix(np)(a, b, out)
    np.testing.assert_allclose(out, a.astype(np.float64) @ b.astype(np.float64), rtol=1e-5, atol=1e-5)


def test_a_non_contiguous_operand_takes_the_batched_product() -> None:
    rng = np.random.default_rng(1)
    a = rng.standard_normal((4, 5, 3)).transpose(0, 2, 1)  # (4, 3, 5), not C-contiguous
    b = rng.standard_normal((5, 2))
    out = np.empty((4, 3, 2))
    stacked_by_matrix(np)(a, b, out)
    np.testing.assert_allclose(out, np.einsum("bik,kn->bin", a, b), rtol=1e-12)


def test_in_a_graph_with_a_symbolic_batch_and_its_gradients() -> None:
    rng = np.random.default_rng(2)
    x, w = rng.standard_normal((3, 4, 5)), rng.standard_normal((5, 6))
    with gn.Graph() as g:
        xv = gn.input("x", (None, 4, 5), "float64")
        y = xv @ gn.constant(w)
    np.testing.assert_allclose(gn.compile(g, outputs={"y": y})(x=x)["y"], np.einsum("btk,kn->btn", x, w), rtol=1e-12)
    gn.check_grad(lambda a, b: gn.matmul(a, b), x, w, tol=1e-6)
