"""Kernels reusing an earlier node's by-products (CallContext.facts): the backward's softmax and one_hot of a
softmax cross-entropy's logits and labels reuse its exp, row sums and label indices; results must equal a
plain NumPy reference, and label checks must still fire."""

from __future__ import annotations

import numpy as np
import pytest

import graphnn as gn


def _net(seed: int = 0, probs: bool = False) -> tuple:
    rng = np.random.default_rng(seed)
    w0 = (rng.standard_normal((5, 7)) * 0.7).astype(np.float32)
    w1 = (rng.standard_normal((7, 4)) * 0.7).astype(np.float32)
    with gn.Graph("facts") as g:
        x = gn.input("x", ("b", 5))
        y = gn.input("y", ("b",), "int64")
        p0, p1 = gn.param("w0", (5, 7), init=w0), gn.param("w1", (7, 4), init=w1)
        logits = gn.relu(x @ p0) @ p1
        loss = gn.cross_entropy(gn.softmax(logits), y)
        grads = gn.grad(loss, [p0, p1])
        outs = {"loss": loss}
        if probs:
            outs["probs"] = gn.softmax(logits)
    return g, outs, {p0: p0 - 0.5 * grads[0], p1: p1 - 0.5 * grads[1]}, (w0.astype(np.float64), w1.astype(np.float64))


def _reference(w0: np.ndarray, w1: np.ndarray, X: np.ndarray, Y: np.ndarray) -> tuple:
    h = np.maximum(X @ w0, 0)
    z = h @ w1
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    n = len(Y)
    loss = -np.log(p[np.arange(n), Y]).mean()
    d = p.copy()
    d[np.arange(n), Y] -= 1
    d /= n
    gw1 = h.T @ d
    gw0 = X.T @ ((d @ w1.T) * (h > 0))
    return loss, p, w0 - 0.5 * gw0, w1 - 0.5 * gw1


@pytest.mark.parametrize("probs", [False, True])  # True: the forward softmax (CSE'd with the backward's) runs first
def test_reused_softmax_and_one_hot_match_numpy_over_changing_batches(probs: bool) -> None:
    g, outs, ups, (w0, w1) = _net(probs=probs)
    fn = gn.compile(g, outs, ups)
    rng = np.random.default_rng(1)
    for b in (6, 1, 6, 11):
        X = rng.standard_normal((b, 5)).astype(np.float32) * 3
        Y = rng.integers(0, 4, b)
        loss, p, w0, w1 = _reference(w0, w1, X.astype(np.float64), Y)
        got = fn(x=X, y=Y)
        np.testing.assert_allclose(got["loss"], loss, rtol=1e-5)
        if probs:
            np.testing.assert_allclose(got["probs"], p, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(g.storage["w0"], w0, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(g.storage["w1"], w1, rtol=1e-4, atol=1e-6)


def test_the_backward_softmax_is_one_division_and_one_hot_skips_its_check() -> None:
    g, outs, ups, _ = _net()
    fn = gn.compile(g, outs, ups)
    plan = fn.plan_summary(x=np.zeros((3, 5), np.float32), y=np.zeros(3, np.int64))
    by_op = {}
    for st in plan.steps:
        by_op.setdefault(st.node.op, []).append(len(st.lines))
    assert "softmax_cross_entropy" in by_op and by_op["softmax"] == [1]
    assert by_op["one_hot"] == [2]  # zero fill + put at the checked indices, no label check of its own


def test_bad_labels_still_raise_and_leave_parameters() -> None:
    g, outs, ups, _ = _net()
    fn = gn.compile(g, outs, ups)
    X = np.ones((3, 5), np.float32)
    fn(x=X, y=np.array([0, 1, 2]))
    before = g.storage["w0"].copy()
    for bad in ([0, 4, 1], [0, -1, 1]):
        with pytest.raises(Exception, match="label"):
            fn(x=X, y=np.array(bad))
        np.testing.assert_array_equal(g.storage["w0"], before)


@pytest.mark.parametrize("probs", [False, True])
def test_same_results_without_memory_planning(probs: bool) -> None:
    from graphnn.backends.executor import build_plan
    from graphnn.backends.numpy import KERNELS, OUT_KERNELS

    g, outs, ups, _ = _net(probs=probs)
    fn = gn.compile(g, outs, ups)
    X = np.random.default_rng(2).standard_normal((5, 5)).astype(np.float32)
    Y = np.array([3, 0, 1, 3, 2])
    env = {d: 5 for d in fn._dims}
    feeds = {"x": X, "y": Y}
    sa = {k: fn.storage[k].copy() for k in ("w0", "w1")}
    sb = {k: a.copy() for k, a in sa.items()}  # each plan writes its updates into its own arrays
    a = build_plan(fn.graph, np, KERNELS, env, out_kernels=OUT_KERNELS, storage=sa)
    b = build_plan(fn.graph, np, KERNELS, env, storage=sb)
    ra = a.run_fast(feeds, sa, fn.storage)
    rb = b.run_fast(feeds, sb, fn.storage)
    for k in outs:
        np.testing.assert_allclose(ra[k], rb[k], rtol=1e-6, atol=1e-7)
    for k, arr in sa.items():
        np.testing.assert_allclose(arr, sb[k], rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("time_major", [False, True])  # True: the logits reach the loss as a transposed view
def test_sequence_logits_reuse_the_loss_s_softmax_and_label_indices(time_major: bool) -> None:
    """(B, T, C) logits with (B, T) labels, the way a sequence model's loss is written: the fused loss's fast path
    flattens the leading dims into rows; loss and SGD step equal plain NumPy on the flattened rows."""
    rng = np.random.default_rng(3)
    w = (rng.standard_normal((5, 4)) * 0.7).astype(np.float32)
    with gn.Graph("seq") as g:
        x = gn.input("x", ("t", "b", 5) if time_major else ("b", "t", 5))
        y = gn.input("y", ("b", "t"), "int64")
        p = gn.param("w", (5, 4), init=w)
        logits = x @ p
        if time_major:
            logits = gn.transpose(logits, (1, 0, 2))
        loss = gn.cross_entropy(gn.softmax(logits), y)
        (gw,) = gn.grad(loss, [p])
    fn = gn.compile(g, {"loss": loss}, {p: p - 0.5 * gw})
    ref = w.astype(np.float64)
    for b, t in ((3, 4), (1, 1), (2, 5)):
        X = rng.standard_normal((b, t, 5)).astype(np.float32) * 3
        Y = rng.integers(0, 4, (b, t))
        Xr = X.reshape(-1, 5).astype(np.float64)
        z = Xr @ ref
        q = np.exp(z - z.max(1, keepdims=True))
        q /= q.sum(1, keepdims=True)
        n = b * t
        want = -np.log(q[np.arange(n), Y.reshape(-1)]).mean()
        d = q.copy()
        d[np.arange(n), Y.reshape(-1)] -= 1
        ref = ref - 0.5 * (Xr.T @ d) / n
        got = fn(x=X.transpose(1, 0, 2) if time_major else X, y=Y)
        np.testing.assert_allclose(got["loss"], want, rtol=1e-5)
        np.testing.assert_allclose(g.storage["w"], ref, rtol=1e-4, atol=1e-6)
    with pytest.raises(gn.FeedError, match="softmax_cross_entropy"):
        fn(x=X.transpose(1, 0, 2) if time_major else X, y=np.full((2, 5), 4))
