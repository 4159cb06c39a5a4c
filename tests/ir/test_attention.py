"""gn.attention (graphnn/ir/ops/attention.py): numbers against plain NumPy, rows with every key masked (zeros, zero
gradients, never NaN), float32 logits of ±1e4, the closed-form backward, and the errors for bad operands."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import graphnn as gn
from tests.conformance.cases import CASES  # noqa: F401 - loaded first: it imports the family case files
from tests.conformance.cases_attention import np_attention

RNG = np.random.default_rng(7)


def _line() -> int:
    return inspect.currentframe().f_back.f_lineno  # type: ignore[union-attr]


def _run(build, *arrays, grads: bool = False):
    with gn.Graph() as g:
        ins = [gn.input(f"x{i}", a.shape, a.dtype) for i, a in enumerate(arrays)]
        out = build(*ins)
        outs = {"out": out}
        if grads:
            floats = [v for v in ins if v.dtype.startswith("float")]
            for i, gv in enumerate(gn.grad(gn.sum(out * out), floats)):
                outs[f"g{i}"] = gv
    f = gn.compile(g, outputs=outs)
    return f(**{f"x{i}": a for i, a in enumerate(arrays)}), f


def test_matches_numpy_with_heads_mask_and_causal() -> None:
    q, k, v = (RNG.standard_normal((2, 3, 6, 4)).astype(np.float32) for _ in range(3))
    mask = RNG.random((2, 1, 6, 6)) < 0.7
    for causal in (False, True):
        res, _ = _run(lambda a, b, c, m, cz=causal: gn.attention(a, b, c, m, causal=cz), q, k, v, mask)
        np.testing.assert_allclose(res["out"], np_attention(q, k, v, mask, causal), rtol=1e-5, atol=1e-6)


def test_default_scale_is_inverse_sqrt_d_and_explicit_scale_is_used() -> None:
    q, k, v = (RNG.standard_normal((5, 8)).astype(np.float64) for _ in range(3))
    res, _ = _run(gn.attention, q, k, v)
    np.testing.assert_allclose(res["out"], np_attention(q, k, v, scale=1 / np.sqrt(8)), rtol=1e-12)
    res, _ = _run(lambda a, b, c: gn.attention(a, b, c, scale=2.0), q, k, v)
    np.testing.assert_allclose(res["out"], np_attention(q, k, v, scale=2.0), rtol=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fully_masked_rows_give_zeros_and_zero_gradients(dtype: str) -> None:
    q, k, v = (RNG.standard_normal((2, 4, 3)).astype(dtype) for _ in range(3))
    mask = RNG.random((2, 4, 4)) < 0.6
    mask[0, 1] = False  # query 1 of batch 0 may attend nothing
    mask[1, :, 2] = False
    res, _ = _run(lambda a, b, c, m: gn.attention(a, b, c, m), q, k, v, mask, grads=True)
    assert all(np.isfinite(a).all() for a in res.values())
    np.testing.assert_array_equal(res["out"][0, 1], 0)
    np.testing.assert_array_equal(res["g0"][0, 1], 0)  # dq of the empty row
    np.testing.assert_array_equal(res["g2"][1, 2], 0)  # dv of a key no query may see
    rows = np.ones((2, 4), bool)
    rows[0, 1] = False
    np.testing.assert_allclose(res["out"][rows], np_attention(q, k, v, mask)[rows], rtol=1e-5, atol=1e-6)


def test_float32_logits_of_1e4_stay_finite() -> None:
    q = np.array([[100.0, 0.0], [-100.0, 0.0], [0.0, 100.0]], np.float32)
    k = np.array([[100.0, 0.0], [-100.0, 0.0], [0.0, -100.0]], np.float32)  # logits ±1e4
    v = RNG.standard_normal((3, 2)).astype(np.float32)
    res, _ = _run(lambda a, b, c: gn.attention(a, b, c, scale=1.0), q, k, v, grads=True)
    assert all(np.isfinite(a).all() for a in res.values())
    want = np_attention(q.astype(np.float64), k.astype(np.float64), v.astype(np.float64), scale=1.0)
    np.testing.assert_allclose(res["out"], want, rtol=1e-5, atol=1e-6)


def test_gradients_float64_first_and_second_order_with_symbolic_batch_and_mask() -> None:
    q, k, v = (RNG.standard_normal((2, 3, 4)) for _ in range(3))
    mask = np.ones((3, 3), bool)
    mask[2] = False
    gn.check_grad(lambda a, b, c: gn.attention(a, b, c, gn.constant(mask), causal=True), q, k, v, tol=1e-6)

    def first(a: gn.Value, b: gn.Value, c: gn.Value) -> gn.Value:
        y = gn.attention(a, b, c, gn.constant(mask))
        gs = gn.grad(gn.sum(y * y), [a, b, c])
        return gn.concat([gn.reshape(x, (-1,)) for x in gs], axis=0)

    gn.check_grad(first, q, k, v, tol=1e-6)


def test_backward_is_the_closed_form_not_the_composition() -> None:
    with gn.Graph() as g:
        q, k, v = (gn.input(n, (None, 4, 3)) for n in "qkv")
        loss = gn.sum(gn.attention(q, k, v, causal=True))
        grads = gn.grad(loss, [q, k, v])
    opt = gn.optimize(g, outputs={f"g{i}": x for i, x in enumerate(grads)}, target="inference")
    used = {n.op for n in opt.nodes}
    assert "attention_probs" in used  # dS = P ∘ (dP − rowsum(g ∘ O)) over the recomputed weights
    assert not used & {"softmax", "exp", "where", "max"}  # no softmax of a composition, no masking by where


def _err(fn, exc):
    with pytest.raises(exc) as ei:
        fn()
    return str(ei.value)


def test_errors_name_the_operands_and_the_line() -> None:
    with gn.Graph():
        q, k, v = gn.input("q", (None, 5, 4)), gn.input("k", (None, 6, 4)), gn.input("v", (None, 6, 3))
        line = _line() + 1
        msg = _err(lambda: gn.attention(q, k, v, gn.input("m", (5, 6), "float32")), gn.DTypeError)
        assert "mask must be bool" in msg and f"test_attention.py:{line}" in msg
        msg = _err(lambda: gn.attention(q, k, v, gn.input("m2", (6, 5), "bool")), gn.ShapeError)
        assert "does not broadcast to (..., Tq, Tk)" in msg and "[6,5]" in msg.replace(" ", "")
        msg = _err(lambda: gn.attention(q, k, v, gn.input("m3", (3, 5, 6), "bool")), gn.ShapeError)
        assert "does not broadcast" in msg
        msg = _err(lambda: gn.attention(q, gn.input("k2", (None, 6, 3)), v), gn.ShapeError)
        assert "feature dim" in msg
        msg = _err(lambda: gn.attention(q, k, gn.input("v2", (None, 7, 3))), gn.ShapeError)
        assert "key count" in msg
        msg = _err(lambda: gn.attention(q, k, gn.input("v3", (None, 6, 3), "float64")), gn.DTypeError)
        assert "q, k, v" in msg
        msg = _err(lambda: gn.attention(gn.input("q1", (4,)), k, v), gn.ShapeError)
        assert "rank 1" in msg
        msg = _err(lambda: gn.attention(gn.input("q4", (5, None)), k, v), gn.ShapeError)
        assert "pass scale=" in msg


def test_a_mask_broadcast_over_heads_and_queries() -> None:
    q, k, v = (RNG.standard_normal((2, 2, 3, 4)).astype(np.float32) for _ in range(3))
    keys = np.array([[True, False, True], [False, True, True]])[:, None, None, :]  # (B, 1, 1, Tk) padding mask
    res, _ = _run(lambda a, b, c, m: gn.attention(a, b, c, m), q, k, v, keys)
    np.testing.assert_allclose(res["out"], np_attention(q, k, v, keys), rtol=1e-5, atol=1e-6)
