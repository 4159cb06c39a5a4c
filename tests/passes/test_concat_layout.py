"""The concat_layout pass: transpose(concat(xs, axis), perm) becomes a concat of transposed views along
perm.index(axis), whose (C-ordered) result a following reshape takes as a view; values equal the unrewritten
graph and NumPy written here, gradients through it too, and it leaves a concat with another reader alone."""

from __future__ import annotations

import numpy as np

import graphnn as gn
from graphnn.backends.numpy.shape_ops import KERNELS

from .util import run_pass

RNG = np.random.default_rng(0)


def _graph() -> tuple[gn.Graph, gn.Value, list[gn.Value]]:
    with gn.Graph("g") as g:
        xs = [gn.input(f"x{i}", (None, 4, 3)) for i in range(3)]
        cat = gn.concat([gn.reshape(x, (1, -1, 4, 3)) for x in xs], axis=0)  # (3, B, 4, 3)
        y = gn.reshape(gn.transpose(cat, (1, 2, 0, 3)), (-1, 36))  # (B, 4, 3, 3) -> (B, 36)
    return g, y, xs


def test_rule_fires_and_values_match_numpy() -> None:
    g, y, _ = _graph()
    opt = run_pass(g, "concat_layout", y=y)
    ops = [n.op for n in opt.nodes]
    assert "concat" in ops
    cat = next(n for n in opt.nodes if n.op == "concat")
    assert cat.attrs["axis"] == 2 and all(v.producer is not None and v.producer.op == "transpose" for v in cat.inputs)
    assert any(f["pattern"].startswith("transpose(concat") for f in opt.report.fired)  # type: ignore[attr-defined]
    arrays = [RNG.standard_normal((5, 4, 3)).astype(np.float32) for _ in range(3)]
    feeds = {f"x{i}": a for i, a in enumerate(arrays)}
    want = np.stack(arrays, axis=0).transpose(1, 2, 0, 3).reshape(5, 36)
    for passes in ("default", ["cse"]):
        g2, y2, _ = _graph()
        got = gn.compile(g2, outputs={"y": y2}, passes=passes)(**feeds)["y"]
        np.testing.assert_array_equal(got, want)


def test_gradients_through_the_rewrite_equal_the_plain_graph() -> None:
    arrays = [RNG.standard_normal((2, 4, 3)) for _ in range(3)]
    w = RNG.standard_normal((2, 36))
    res = []
    for passes in ("default", ["cse"]):
        with gn.Graph("g") as g:
            xs = [gn.input(f"x{i}", (2, 4, 3), "float64") for i in range(3)]
            cat = gn.concat([gn.reshape(x * x, (1, -1, 4, 3)) for x in xs], axis=0)
            y = gn.reshape(gn.transpose(cat, (1, 2, 0, 3)), (-1, 36))
            grads = gn.grad(gn.sum(y * gn.constant(w)), xs)
        out = gn.compile(g, outputs={f"g{i}": v for i, v in enumerate(grads)}, passes=passes)(
            **{f"x{i}": a for i, a in enumerate(arrays)})
        res.append(out)
    for k in res[0]:
        np.testing.assert_allclose(res[0][k], res[1][k], rtol=1e-12)
    wt = w.reshape(2, 4, 3, 3)  # (B, 4, which input, 3)
    for i, a in enumerate(arrays):
        np.testing.assert_allclose(res[0][f"g{i}"], 2 * a * wt[:, :, i, :], rtol=1e-12)


def test_a_concat_with_another_reader_is_left_alone() -> None:
    with gn.Graph("g") as g:
        xs = [gn.input(f"x{i}", (2, 3)) for i in range(2)]
        cat = gn.concat(xs, axis=0)
        y = gn.transpose(cat, (1, 0))
        z = cat * 2.0
    opt = run_pass(g, "concat_layout", y=y, z=z)
    assert not opt.report.fired  # type: ignore[attr-defined]
    assert [n.op for n in opt.nodes].count("concat") == 1


def test_concat_kernel_returns_c_order_for_transposed_inputs() -> None:
    with gn.Graph("g"):
        a, b = gn.input("a", (3, 4)), gn.input("b", (3, 4))
        node = gn.concat([gn.transpose(a, (1, 0)), gn.transpose(b, (1, 0))], axis=1).producer
    f = KERNELS["concat"](np, node, {})
    av, bv = RNG.standard_normal((3, 4)).astype(np.float32), RNG.standard_normal((3, 4)).astype(np.float32)
    got = f(av.T, bv.T)
    assert got.flags.c_contiguous and got.dtype == np.float32
    np.testing.assert_array_equal(got, np.concatenate([av.T, bv.T], axis=1))
