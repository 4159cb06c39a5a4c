"""The memory-planned runtime: buffer sharing never aliases two live values (random graphs vs plain NumPy),
in-place updates equal out-of-place ones, batch sizes may change between calls, outputs are the caller's."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import graphnn as gn
from graphnn.backends.executor import build_plan
from graphnn.backends.numpy import KERNELS, OUT_KERNELS

D = 5
UNARY = {"relu": (gn.relu, lambda a: np.maximum(a, 0)), "tanh": (gn.tanh, np.tanh), "neg": (gn.neg, np.negative),
         "T.T": (lambda v: gn.transpose(gn.transpose(v)), lambda a: a),
         "reshape": (lambda v: gn.reshape(gn.reshape(v, ("b", 1, D)), ("b", D)), lambda a: a)}
BINARY = {"add": (gn.add, np.add), "sub": (gn.sub, np.subtract), "mul": (gn.mul, np.multiply),
          "max": (gn.maximum, np.maximum)}


@st.composite
def programs(draw: st.DrawFn) -> list:
    """A random straight-line program over (b, D) values: unary, binary, matmul with a weight, bias add."""
    n_ops = draw(st.integers(2, 14))
    prog = []
    for k in range(n_ops):
        avail = 2 + k  # x0, x1, then one value per op
        kind = draw(st.sampled_from(["u", "b", "b", "mm", "bias", "rowsum"]))
        a, b = draw(st.integers(0, avail - 1)), draw(st.integers(0, avail - 1))
        if kind == "u":
            prog.append(("u", draw(st.sampled_from(sorted(UNARY))), a))
        elif kind == "b":
            prog.append(("b", draw(st.sampled_from(sorted(BINARY))), a, b))
        else:
            prog.append((kind, a))
    outs = draw(st.lists(st.integers(0, 1 + n_ops), min_size=1, max_size=3, unique=True))
    upd = draw(st.lists(st.integers(0, 1 + n_ops), min_size=0, max_size=2))
    return [prog, outs, upd]


def _build(prog: list, outs: list, upd: list, w: np.ndarray, c: np.ndarray) -> tuple:
    with gn.Graph("rand") as g:
        vals = [gn.input("x0", ("b", D)), gn.input("x1", ("b", D))]
        W = gn.param("w", (D, D), init=w)
        C = gn.param("c", (D,), init=c)
        for op in prog:
            if op[0] == "u":
                vals.append(UNARY[op[1]][0](vals[op[2]]))
            elif op[0] == "b":
                vals.append(BINARY[op[1]][0](vals[op[2]], vals[op[3]]))
            elif op[0] == "mm":
                vals.append(vals[op[1]] @ W)
            elif op[0] == "bias":
                vals.append(vals[op[1]] + C)
            else:  # a reduction broadcast back: keeps a short-lived small value in the mix
                vals.append(vals[op[1]] - gn.sum(vals[op[1]], axis=1, keepdims=True))
        updates = {}
        for i in upd[:1]:  # tanh keeps the parameters bounded, so float32 never overflows over the calls
            updates[W] = W - 0.05 * (gn.transpose(gn.tanh(vals[i])) @ gn.tanh(vals[i]))
        for i in upd[1:]:
            updates[C] = C + 0.5 * gn.sum(gn.tanh(vals[i]), axis=0)
        outputs = {f"o{i}": vals[i] for i in outs}
        if not outputs and not updates:
            outputs = {"o0": vals[-1]}
    return g, outputs, updates


def _numpy(prog: list, outs: list, upd: list, x0: np.ndarray, x1: np.ndarray, w: np.ndarray, c: np.ndarray) -> tuple:
    vals = [x0, x1]
    for op in prog:
        if op[0] == "u":
            vals.append(UNARY[op[1]][1](vals[op[2]]))
        elif op[0] == "b":
            vals.append(BINARY[op[1]][1](vals[op[2]], vals[op[3]]))
        elif op[0] == "mm":
            vals.append(vals[op[1]] @ w)
        elif op[0] == "bias":
            vals.append(vals[op[1]] + c)
        else:
            vals.append(vals[op[1]] - vals[op[1]].sum(1, keepdims=True))
    new_w = w - 0.05 * (np.tanh(vals[upd[0]]).T @ np.tanh(vals[upd[0]])) if upd[:1] else w
    new_c = c + 0.5 * np.tanh(vals[upd[1]]).sum(0) if upd[1:] else c
    return {f"o{i}": vals[i] for i in outs}, new_w, new_c


@settings(max_examples=40, deadline=None)
@given(programs(), st.lists(st.integers(1, 6), min_size=1, max_size=3), st.booleans())
def test_planned_runs_equal_numpy_on_random_graphs(p: list, batches: list, fuse: bool) -> None:
    prog, outs, upd = p
    rng = np.random.default_rng(len(prog))
    w = (rng.standard_normal((D, D)) * 0.3).astype(np.float32)
    c = rng.standard_normal(D).astype(np.float32)
    g, outputs, updates = _build(prog, outs, upd, w, c)
    fn = gn.compile(g, outputs, updates, passes="default" if fuse else "none")
    ref_w, ref_c = w.astype(np.float64), c.astype(np.float64)
    for b in batches + batches[:1]:
        x0, x1 = rng.standard_normal((b, D)).astype(np.float32), rng.standard_normal((b, D)).astype(np.float32)
        got = fn(x0=x0, x1=x1)
        want, ref_w, ref_c = _numpy(prog, outs, upd, x0.astype(np.float64), x1.astype(np.float64), ref_w, ref_c)
        assert set(got) == set(want)
        for k in got:  # relative to each output's scale: chains of matmuls reach large magnitudes
            scale = max(1.0, float(np.abs(want[k]).max()))
            np.testing.assert_allclose(got[k], want[k], rtol=2e-3, atol=2e-3 * scale, err_msg=k)
        np.testing.assert_allclose(g.storage["w"], ref_w, rtol=2e-3, atol=2e-3)
        np.testing.assert_allclose(g.storage["c"], ref_c, rtol=2e-3, atol=2e-3)


def _mlp(batch_dim: str = "b") -> tuple:
    rng = np.random.default_rng(0)
    with gn.Graph("mlp") as g:
        x = gn.input("x", (batch_dim, 6))
        y = gn.input("y", (batch_dim,), "int64")
        w1 = gn.param("w1", (6, 8), init=rng.standard_normal((6, 8)).astype(np.float32) * 0.5)
        b1 = gn.param("b1", (8,), init=np.zeros(8, np.float32))
        w2 = gn.param("w2", (8, 3), init=rng.standard_normal((8, 3)).astype(np.float32) * 0.5)
        loss = gn.cross_entropy(gn.softmax(gn.relu(x @ w1 + b1) @ w2), y)
        ps = [w1, b1, w2]
        grads = gn.grad(loss, ps)
    return g, loss, {p: p - 0.1 * d for p, d in zip(ps, grads)}


def test_in_place_updates_equal_out_of_place() -> None:
    g1, loss1, up1 = _mlp()
    g2, loss2, up2 = _mlp()
    fast = gn.compile(g1, {"loss": loss1}, up1)
    slow = gn.compile(g2, {"loss": loss2}, up2)
    rng = np.random.default_rng(3)
    for b in (4, 9, 4):
        X, Y = rng.standard_normal((b, 6)).astype(np.float32), rng.integers(0, 3, b)
        plan_fast = fast.plan_for({d: b for d in fast._dims})
        plan_slow = slow.plan_for({d: b for d in slow._dims}, inplace=False)
        assert plan_slow.copy_updates and len(plan_fast.copy_updates) < len(plan_slow.copy_updates)
        a = fast(x=X, y=Y)["loss"]
        arrays = {"x": X, "y": Y}
        c = slow._run_observed(arrays, {d: b for d in slow._dims})["loss"]
        np.testing.assert_allclose(a, c, rtol=1e-6)
        for k in ("w1", "b1", "w2"):
            np.testing.assert_allclose(g1.storage[k], g2.storage[k], rtol=1e-6, atol=1e-7)


def test_plan_is_reused_and_buffers_kept_while_dims_stay() -> None:
    g, loss, ups = _mlp()
    fn = gn.compile(g, {"loss": loss}, ups)
    X, Y = np.ones((5, 6), np.float32), np.zeros(5, np.int64)
    fn(x=X, y=Y)
    plan = fn.plan_summary(x=X, y=Y)
    fn(x=X, y=Y)
    fn(x=np.ones((2, 6), np.float32), y=np.zeros(2, np.int64))
    fn(x=X, y=Y)
    assert fn.plan_summary(x=X, y=Y) is plan and len(fn._plans) == 2
    assert plan.memory is not None and plan.memory.peak_bytes < plan.memory.naive_bytes


def test_outputs_are_not_overwritten_by_later_calls() -> None:
    with gn.Graph() as g:
        x = gn.input("x", ("b", 3))
        out = gn.relu(x * 2.0) + 1.0
    fn = gn.compile(g, {"o": out})
    first = fn(x=np.ones((2, 3), np.float32))["o"]
    fn(x=-np.ones((2, 3), np.float32))
    np.testing.assert_array_equal(first, np.full((2, 3), 3.0, np.float32))


def test_replacing_a_parameter_array_is_seen() -> None:
    g, loss, _ = _mlp()
    fn = gn.compile(g, {"loss": loss})
    X, Y = np.ones((3, 6), np.float32), np.zeros(3, np.int64)
    a = fn(x=X, y=Y)["loss"]
    g.storage["w2"] = np.zeros((8, 3), np.float32)  # a new array object, not an in-place write
    b = fn(x=X, y=Y)["loss"]
    assert a != b and np.isclose(b, np.log(3.0), rtol=1e-6)


def test_bad_feeds_fail_before_state_changes() -> None:
    g, loss, ups = _mlp()
    fn = gn.compile(g, {"loss": loss}, ups)
    before = {k: g.storage[k].copy() for k in ("w1", "b1", "w2")}
    with pytest.raises(gn.FeedError):
        fn(x=np.ones((3, 6), np.float64), y=np.zeros(3, np.int64))
    with pytest.raises(gn.FeedError):
        fn(x=np.ones((3, 6), np.float32), y=np.zeros(4, np.int64))
    with pytest.raises(gn.FeedError):
        fn(x=np.ones((3, 6), np.float32), y=np.array([0, 5, 1]))  # a label out of range
    for k, v in before.items():
        np.testing.assert_array_equal(g.storage[k], v)


def test_check_numerics_names_the_node_and_keeps_parameters() -> None:
    with gn.Graph() as g:
        x = gn.input("x", ("b", 2))
        w = gn.param("w", (2,), init=np.ones(2, np.float32))
        out = gn.log(x * w)
    fn = gn.compile(g, {"o": out}, {w: w * 2.0}, check_numerics=True)
    with pytest.raises(gn.NumericsError, match="log"):
        fn(x=-np.ones((1, 2), np.float32))
    np.testing.assert_array_equal(g.storage["w"], np.ones(2, np.float32))


def test_profile_shares_cover_the_step_and_leave_parameters() -> None:
    g, loss, ups = _mlp()
    fn = gn.compile(g, {"loss": loss}, ups)
    before = g.storage["w1"].copy()
    prof = fn.profile({"x": np.ones((4, 6), np.float32), "y": np.zeros(4, np.int64)}, repeat=3)
    shares = [d["share"] for d in prof.as_dicts()]
    assert abs(sum(shares) - 1.0) < 1e-9 and len(prof.top(5)) == 5
    assert any(d["op"] == "fused_elementwise" and d["members"] for d in prof.as_dicts())
    assert "share" in str(prof)
    np.testing.assert_array_equal(g.storage["w1"], before)


def test_without_out_kernels_the_plan_still_runs() -> None:
    g, loss, _ = _mlp()
    fn = gn.compile(g, {"loss": loss})
    X, Y = np.ones((3, 6), np.float32), np.zeros(3, np.int64)
    want = fn(x=X, y=Y)["loss"]
    plan = build_plan(fn.graph, np, KERNELS, {d: 3 for d in fn._dims}, out_kernels=None,
                      storage=g.storage.values)
    got = plan.run_fast({"x": X, "y": Y}, g.storage.values, g.storage)["loss"]
    np.testing.assert_allclose(got, want, rtol=1e-6)
    assert plan.memory is None and set(OUT_KERNELS) <= set(KERNELS)


def test_an_output_that_is_an_updated_parameter_is_its_old_value() -> None:
    with gn.Graph() as g:
        x = gn.input("x", ("b", 2))
        w = gn.param("w", (2,), init=np.array([1.0, 2.0], np.float32))
        y = gn.sum(x * w)
    fn = gn.compile(g, {"w": w, "y": y}, {w: w + 1.0})
    out = fn(x=np.ones((3, 2), np.float32))
    np.testing.assert_array_equal(out["w"], [1.0, 2.0])
    np.testing.assert_array_equal(g.storage["w"], [2.0, 3.0])
    assert float(out["y"]) == 9.0


def test_momentum_state_and_parameter_updated_in_place_match_numpy() -> None:
    rng = np.random.default_rng(5)
    w0 = rng.standard_normal((3, 2)).astype(np.float32)
    with gn.Graph() as g:
        x = gn.input("x", ("b", 3))
        w = gn.param("w", (3, 2), init=w0)
        m = gn.state("m", (3, 2), init=0.0)
        loss = gn.mean(gn.relu(x @ w))
        (gw,) = gn.grad(loss, [w])
        m_new = 0.9 * m + gw
    fn = gn.compile(g, {"loss": loss}, {m: m_new, w: w - 0.1 * m_new})
    W, M = w0.astype(np.float64), np.zeros((3, 2))
    for b in (4, 4, 6):
        X = rng.standard_normal((b, 3)).astype(np.float32)
        fn(x=X)
        z = X @ W
        gw_ref = X.T @ ((z > 0) / z.size)
        M = 0.9 * M + gw_ref
        W = W - 0.1 * M
        np.testing.assert_allclose(g.storage["m"], M, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(g.storage["w"], W, rtol=1e-5, atol=1e-6)


def test_numpy_scalars_are_bound_as_objects_in_generated_code() -> None:
    # a kernel folded at plan time may return a NumPy scalar (a float subclass whose repr is not valid source)
    from graphnn.backends.codegen import Emitter

    em = Emitter()
    out = np.zeros(2)
    line = em.call(np.add, (np.ones(2), np.float64(0.5)), {"out": out})
    exec(line, em.ns)
    np.testing.assert_array_equal(out, [1.5, 1.5])


def test_a_node_reading_old_and_new_parameter_values_sees_both() -> None:
    # an update-size monitor: |w_new - w| needs the old w after w_new exists, so w is not updated in place early
    with gn.Graph() as g:
        x = gn.input("x", ("b", 2))
        w = gn.param("w", (2,), init=np.array([1.0, -1.0], np.float32))
        loss = gn.sum(x * w)
        (gw,) = gn.grad(loss, [w])
        w_new = w - 0.5 * gw
        step = gn.sum(gn.abs(w_new - w))
    fn = gn.compile(g, {"loss": loss, "step": step}, {w: w_new})
    out = fn(x=np.ones((3, 2), np.float32))
    assert float(out["step"]) == 3.0  # each coordinate moves by 0.5 * 3
    np.testing.assert_array_equal(g.storage["w"], [-0.5, -2.5])


def test_a_plain_kernel_returning_its_input_keeps_that_buffer_alive() -> None:
    # a kernel the planner knows nothing about may hand back its input; its buffer must not be reused meanwhile
    from graphnn.backends.numpy.backend import NumpyBackend

    class Passthrough(NumpyBackend):
        kernels = dict(KERNELS, tanh=lambda xp, node, env: (lambda a: a))  # "tanh" returns its input as is
        out_kernels = {k: v for k, v in OUT_KERNELS.items() if k != "tanh"}

    with gn.Graph() as g:
        x = gn.input("x", ("b", 3))
        a = x * 2.0  # planned buffer
        t = gn.tanh(a)  # plain kernel: aliases a's buffer
        b = x + 5.0  # planned: must not land in a's buffer while t is alive
        out = t * b
    fn = gn.compile(g, {"o": out}, passes="none")
    fn.backend = Passthrough()
    X = np.ones((2, 3), np.float32)
    np.testing.assert_array_equal(fn(x=X)["o"], (2 * X) * (X + 5))
