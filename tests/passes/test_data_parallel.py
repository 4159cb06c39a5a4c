"""The data_parallel pass on one process: where the all-reduce goes, what it reduces, the loss check, the graph
hash; and gn.compile(data_parallel=True) on one rank against a plain-NumPy SGD step."""

from __future__ import annotations

import numpy as np
import pytest

import graphnn as gn
from graphnn.passes.data_parallel import batch_kinds, data_parallel_pipeline, graph_hash, prepare_data_parallel
from graphnn.passes.pipeline import run_pipeline


def _mlp(act=gn.tanh, dtype: str = "float32", reduction: str = "mean"):
    with gn.Graph("mlp") as g:
        x = gn.input("x", (None, 5), dtype)
        y = gn.input("y", (None,), "int64")
        h = act(x @ gn.param("w1", (5, 7), init=gn.init.he_normal(seed=1), dtype=dtype)
                + gn.param("b1", (7,), init=gn.init.zeros(), dtype=dtype))
        loss = gn.cross_entropy(gn.softmax(h @ gn.param("w2", (7, 3), init=gn.init.he_normal(seed=2), dtype=dtype)),
                                y, reduction=reduction)
    return g, loss


def _optimized(g: gn.Graph, loss: gn.Value, size: int, passes: str = "default",
               bucket_bytes: int | None = None) -> tuple[gn.Graph, object]:
    updates = gn.optim.SGD(0.1, momentum=0.9).updates(loss, g.params)
    work = g.copy()
    byid = {v.id: v for v in work.values()}
    work.outputs = {"loss": byid[loss.id]}
    work.updates = {k: byid[v.id] for k, v in updates.items()}
    work.facts.mode = "train"
    prepare_data_parallel(work, 0, size)
    if bucket_bytes is not None:
        work.facts.data_parallel["bucket_bytes"] = bucket_bytes
    names, table = data_parallel_pipeline("training", passes)
    return run_pipeline(work, "training", names, table=table, check=True)


def test_one_all_reduce_averages_every_gradient_and_the_loss_before_the_updates() -> None:
    g, loss = _mlp()
    opt, report = _optimized(g, loss, size=2, passes=["cse", "fusion"])
    ar = [n for n in opt.nodes if n.op == "all_reduce"]
    assert len(ar) == 1 and ar[0].attrs["op"] == "mean"  # one bucket: every tensor is float32
    node = ar[0]
    assert len(node.inputs) == 4  # three parameter gradients and the loss
    assert opt.outputs["loss"] in node.outputs
    outs = {v.id for v in node.outputs}
    at = opt.nodes.index(node)
    for name, new in opt.updates.items():
        if name in ("w1", "b1", "w2"):  # the new parameter reads the averaged gradient (through the momentum)
            producers = {v.id for n in opt.nodes[at + 1:] for v in n.inputs}
            assert outs <= producers | {opt.outputs["loss"].id}
            assert opt.nodes.index(opt.producer[new.id]) > at
    assert node.attrs["check_hash"] != 0 and node.attrs["batch_dim"]
    assert "all_reduce" in str(report) and report.record("data_parallel").counts() == {"all_reduce": 1}
    assert "all_reduce" in gn.viz.to_dot(opt)  # drawn like any node


def test_small_buckets_go_out_while_the_backward_still_runs() -> None:
    g, loss = _mlp()
    opt, _ = _optimized(g, loss, size=2, passes=["cse", "fusion"], bucket_bytes=7 * 3 * 4)  # w2's gradient fills one
    ar = [k for k, n in enumerate(opt.nodes) if n.op == "all_reduce"]
    assert len(ar) >= 2
    carried = [v.type.shape for k in ar for v in opt.nodes[k].inputs]
    assert sorted(map(str, carried)) == sorted(map(str, [(), (5, 7), (7,), (7, 3)]))  # each tensor once
    first_layer_grad = next(k for k in ar if (5, 7) in [v.type.shape for v in opt.nodes[k].inputs])
    assert ar[0] < first_layer_grad  # the last layer's bucket is reduced before the first layer's gradient exists
    assert opt.nodes[ar[0]].attrs["check_hash"] and not opt.nodes[ar[-1]].attrs["check_hash"]


def test_one_rank_is_a_no_op() -> None:
    g, loss = _mlp()
    opt, report = _optimized(g, loss, size=1)
    assert not any(n.op == "all_reduce" for n in opt.nodes)
    assert report.record("data_parallel").counts() == {}


def test_one_bucket_per_dtype() -> None:
    g, loss = _mlp(dtype="float64")
    opt, _ = _optimized(g, loss, size=4)
    assert [n.name for n in opt.nodes if n.op == "all_reduce"] == ["data_parallel/all_reduce_float64"]


def test_a_sum_loss_is_refused_with_the_users_line() -> None:
    g, loss = _mlp(reduction="sum")
    with pytest.raises(gn.GraphError, match=r"is a sum over the batch, not a mean.*\n?") as e:
        gn.compile(g, outputs={"loss": loss}, updates=gn.optim.SGD(0.1).updates(loss, g.params), data_parallel=True)
    assert "test_data_parallel.py" in str(e.value)


def test_gradients_of_inputs_stay_per_rank() -> None:
    with gn.Graph("adv") as g:
        x = gn.input("x", (None, 3), "float64")
        w = gn.param("w", (3,), init=gn.init.zeros(), dtype="float64")
        loss = gn.mean(gn.tanh(x * w))
        dx, dw = gn.grad(loss, [x, w])
    work = g.copy()
    byid = {v.id: v for v in work.values()}
    work.outputs = {"dx": byid[dx.id], "dw": byid[dw.id]}
    prepare_data_parallel(work, 0, 2)
    assert work.facts.data_parallel["grads"] == [dw.id]


def test_batch_kinds() -> None:
    with gn.Graph("k") as g:
        x = gn.input("x", (None, 4), "float64")
        w = gn.param("w", (4,), init=gn.init.zeros(), dtype="float64")
        m = gn.mean(x * w)
        reg = gn.sum(w * w)
        kinds = {"mean": m, "mean_plus_l2": m + reg * 0.1, "sum": gn.sum(x), "rows": gn.mean(x, axis=1),
                 "log_of_mean": gn.log(m * m), "scaled": m / 3.0, "none": reg, "ratio": m / gn.mean(x)}
    got = batch_kinds(g)
    assert {k: got[v.id] for k, v in kinds.items()} == {
        "mean": "mean", "mean_plus_l2": "mean", "sum": "sum", "rows": "rows", "log_of_mean": "other",
        "scaled": "mean", "none": "none", "ratio": "other"}


def test_graph_hash_sees_structure_not_ids() -> None:
    a, _ = _mlp()
    _mlp(gn.relu)  # other graphs built in between shift every id
    b, _ = _mlp()
    c, _ = _mlp(gn.relu)
    assert graph_hash(a) == graph_hash(b) != graph_hash(c)


def test_compile_on_one_rank_is_one_sgd_step_in_numpy() -> None:
    rng = np.random.default_rng(3)
    xs, ys = rng.normal(size=(6, 3)), rng.normal(size=(6,))
    w0 = rng.normal(size=(3,))
    with gn.Graph("lin") as g:
        x = gn.input("x", (None, 3), "float64")
        y = gn.input("y", (None,), "float64")
        w = gn.param("w", (3,), init=w0.copy(), dtype="float64")
        r = gn.sum(x * w, axis=1) - y
        loss = gn.mean(r * r)
    fn = gn.compile(g, outputs={"loss": loss}, updates=gn.optim.SGD(0.05).updates(loss, [w]), data_parallel=True)
    out = fn(x=xs, y=ys)
    resid = xs @ w0 - ys
    np.testing.assert_allclose(out["loss"], np.mean(resid**2), rtol=1e-12)
    np.testing.assert_allclose(g.storage["w"], w0 - 0.05 * 2 * xs.T @ resid / len(ys), rtol=1e-12)
