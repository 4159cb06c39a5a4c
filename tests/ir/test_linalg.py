"""matmul's gradient rule (ir/ops/linalg.py), case by case: non-square and square matrices, batched and
broadcast batch dims, 1-D operands on either side; against plain NumPy formulas written here and against float64
central differences computed here (not gn.check_grad), and its second derivative."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import graphnn as gn

T = np.swapaxes  # T(x, -1, -2): the matrix transpose of the last two axes


def _sum_to(x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum the leading and size-1 broadcast axes of `x` away so it has `shape` (the reverse of broadcasting)."""
    x = x.sum(axis=tuple(range(x.ndim - len(shape)))) if x.ndim > len(shape) else x
    return x.sum(axis=tuple(i for i, d in enumerate(shape) if d == 1 and x.shape[i] != 1), keepdims=True)


Grads = Callable[[np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]

# (shape of a, shape of b, d(sum(g * (a @ b)))/d(a, b) in plain NumPy, g being the upstream gradient)
CASES: dict[str, tuple[tuple[int, ...], tuple[int, ...], Grads]] = {
    "wide@tall": ((2, 3), (3, 5), lambda a, b, g: (g @ b.T, a.T @ g)),
    "tall@wide": ((5, 3), (3, 2), lambda a, b, g: (g @ b.T, a.T @ g)),
    "square": ((3, 3), (3, 3), lambda a, b, g: (g @ b.T, a.T @ g)),
    "batched": ((4, 2, 3), (4, 3, 5), lambda a, b, g: (g @ T(b, -1, -2), T(a, -1, -2) @ g)),
    "batched-square": ((2, 3, 3), (2, 3, 3), lambda a, b, g: (g @ T(b, -1, -2), T(a, -1, -2) @ g)),
    "batch@matrix": ((4, 2, 3), (3, 5), lambda a, b, g: (g @ b.T, np.einsum("bik,bij->kj", a, g))),
    "matrix@batch": ((2, 3), (4, 3, 5), lambda a, b, g: (np.einsum("bij,bkj->ik", g, b), a.T @ g)),
    "broadcast-batch": ((2, 1, 3, 4), (5, 4, 3),
                        lambda a, b, g: (_sum_to(g @ T(b, -1, -2), (2, 1, 3, 4)), _sum_to(T(a, -1, -2) @ g, (5, 4, 3)))),
    "vector@matrix": ((3,), (3, 5), lambda a, b, g: (b @ g, np.outer(a, g))),
    "matrix@vector": ((2, 3), (3,), lambda a, b, g: (np.outer(g, b), a.T @ g)),
    "vector@square": ((3,), (3, 3), lambda a, b, g: (b @ g, np.outer(a, g))),
    "square@vector": ((3, 3), (3,), lambda a, b, g: (np.outer(g, b), a.T @ g)),
    "vector@vector": ((3,), (3,), lambda a, b, g: (g * b, g * a)),
    "batch@vector": ((4, 2, 3), (3,), lambda a, b, g: (g[..., None] * b, np.einsum("bij,bi->j", a, g))),
    "vector@batch": ((3,), (4, 3, 5), lambda a, b, g: (np.einsum("bkj,bj->k", b, g), a[None, :, None] * g[:, None, :])),
}


def _compile(sa: tuple[int, ...], sb: tuple[int, ...]) -> Callable[..., dict]:
    """loss = sum(g * (a @ b)) with the upstream gradient g fed as an input; returns d loss / d a and d b."""
    with gn.Graph("mm") as gr:
        a, b = gn.input("a", sa, "float64"), gn.input("b", sb, "float64")
        c = a @ b
        g = gn.input("g", c.shape, "float64")
        da, db = gn.grad(gn.sum(c * g), [a, b])
    return gn.compile(gr, outputs={"da": da, "db": db})


def _feeds(name: str) -> dict[str, np.ndarray]:
    sa, sb, _ = CASES[name]
    rng = np.random.default_rng(sum(map(ord, name)))
    out = np.matmul(np.empty(sa), np.empty(sb)).shape
    return {"a": rng.standard_normal(sa), "b": rng.standard_normal(sb), "g": rng.standard_normal(out)}


@pytest.mark.parametrize("name", list(CASES))
def test_matmul_gradient_equals_the_numpy_formula(name: str) -> None:
    sa, sb, want = CASES[name]
    f = _feeds(name)
    got = _compile(sa, sb)(**f)
    wa, wb = want(f["a"], f["b"], f["g"])
    assert got["da"].shape == sa and got["db"].shape == sb
    np.testing.assert_allclose(got["da"], wa, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got["db"], wb, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", list(CASES))
def test_matmul_gradient_equals_central_differences(name: str) -> None:
    sa, sb, _ = CASES[name]
    f = _feeds(name)
    got = _compile(sa, sb)(**f)

    def loss(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.sum(f["g"] * np.matmul(a, b)))

    eps = 1e-6
    for key, arr in (("a", f["a"]), ("b", f["b"])):
        num = np.zeros_like(arr)
        for i in np.ndindex(arr.shape):
            hi, lo = arr.copy(), arr.copy()
            hi[i] += eps
            lo[i] -= eps
            args = {"a": f["a"], "b": f["b"], key: hi}
            up = loss(args["a"], args["b"])
            args[key] = lo
            num[i] = (up - loss(args["a"], args["b"])) / (2 * eps)
        np.testing.assert_allclose(got[f"d{key}"], num, rtol=1e-6, atol=1e-8, err_msg=f"d loss / d {key}")


def test_matmul_second_derivative_is_the_cross_term() -> None:
    # loss = sum((a b)^2) / 2, so d loss/da = (a b) b^T: a gradient that is itself differentiated in b.
    rng = np.random.default_rng(7)
    A, B, H = rng.standard_normal((2, 3)), rng.standard_normal((3, 4)), rng.standard_normal((2, 3))
    with gn.Graph("mm2") as gr:
        a, b, h = gn.input("a", (2, 3), "float64"), gn.input("b", (3, 4), "float64"), gn.input("h", (2, 3), "float64")
        c = a @ b
        (da,) = gn.grad(gn.sum(c * c) * 0.5, [a])
        (dbb,) = gn.grad(gn.sum(da * h), [b])
    got = gn.compile(gr, outputs={"da": da, "dbb": dbb})(a=A, b=B, h=H)
    np.testing.assert_allclose(got["da"], (A @ B) @ B.T, rtol=1e-12)
    # sum(h * (a b b^T)) = tr(h^T a b b^T); its gradient in b is (a^T h + h^T a) b
    np.testing.assert_allclose(got["dbb"], (A.T @ H + H.T @ A) @ B, rtol=1e-12)
