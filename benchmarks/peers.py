"""The peers, each as `make(case) -> (step() -> None, first_seconds)`: a hand-written preallocated NumPy step,
PyTorch eager, JAX jit and onnxruntime (inference). A peer that is not installed is skipped by the caller.

Every peer starts from the same parameters and data (benchmarks/models.py) and runs the same math.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

Step = Callable[[], Any]


# ---- hand-written NumPy, every buffer preallocated, every op in place -------------------------------------
def numpy_mlp(case: Any) -> tuple[Step, float]:
    if case.kind != "mlp":
        raise NotImplementedError("the hand-written NumPy step covers the MLPs only")
    t0 = time.perf_counter()
    ps = [p.copy() for p in case.params]
    X, Y, B, lr = case.x, case.y, case.batch, case.lr
    ws, bs = ps[0::2], ps[1::2]
    L = len(ws)
    zs = [np.empty((B, w.shape[1]), np.float32) for w in ws]  # pre-activations (ReLU in place -> activations)
    masks = [np.empty((B, w.shape[1]), bool) for w in ws[:-1]]
    gws = [np.empty_like(w) for w in ws]
    gbs = [np.empty_like(b) for b in bs]
    ds = [np.empty((B, w.shape[0]), np.float32) for w in ws]
    m = np.empty((B, 1), np.float32)
    rows = np.arange(B)
    if not case.train:
        def infer() -> Any:
            h = X
            for k in range(L):
                np.matmul(h, ws[k], out=zs[k])
                zs[k] += bs[k]
                if k < L - 1:
                    np.maximum(zs[k], 0, out=zs[k])
                h = zs[k]
            np.max(h, axis=1, keepdims=True, out=m)
            h -= m
            np.exp(h, out=h)
            np.sum(h, axis=1, keepdims=True, out=m)
            h /= m
            return h

        infer()
        return infer, time.perf_counter() - t0

    def step() -> float:
        h = X
        for k in range(L):
            np.matmul(h, ws[k], out=zs[k])
            zs[k] += bs[k]
            if k < L - 1:
                np.greater(zs[k], 0, out=masks[k])
                np.maximum(zs[k], 0, out=zs[k])
            h = zs[k]
        p = zs[-1]
        np.max(p, axis=1, keepdims=True, out=m)
        p -= m
        np.exp(p, out=p)
        np.sum(p, axis=1, keepdims=True, out=m)
        p /= m
        loss = -np.log(p[rows, Y]).mean()
        p[rows, Y] -= 1.0
        p *= 1.0 / B
        d = p
        for k in reversed(range(L)):
            np.matmul((zs[k - 1] if k else X).T, d, out=gws[k])
            np.sum(d, axis=0, out=gbs[k])
            if k:
                np.matmul(d, ws[k].T, out=ds[k])
                ds[k] *= masks[k - 1]
                d = ds[k]
        for k in range(L):
            gws[k] *= lr
            ws[k] -= gws[k]
            gbs[k] *= lr
            bs[k] -= gbs[k]
        return loss

    step()
    return step, time.perf_counter() - t0


# ---- PyTorch eager ---------------------------------------------------------------------------------------
def torch_forward(case: Any, ps: list, X: Any) -> Any:
    """The benchmark model in PyTorch (the CNN, or the MLP with ReLU between layers) on parameters `ps`."""
    import torch
    import torch.nn.functional as F

    if case.kind == "cnn":
        k, kb, w, b = ps
        c = F.max_pool2d(F.relu(F.conv2d(X, k, kb)), 2)
        return c.reshape(c.shape[0], -1) @ w + b
    h = X
    for i in range(0, len(ps), 2):
        h = h @ ps[i] + ps[i + 1]
        if i + 2 < len(ps):
            h = torch.relu(h)
    return h


def torch_step(case: Any) -> tuple[Step, float]:
    import os

    import torch
    import torch.nn.functional as F

    if os.environ.get("BENCH_THREADS"):
        torch.set_num_threads(int(os.environ["BENCH_THREADS"]))
    t0 = time.perf_counter()
    ps = [torch.tensor(p, requires_grad=case.train) for p in case.params]
    X = torch.from_numpy(case.x)
    Y = torch.from_numpy(case.y) if case.y is not None else None
    lr = case.lr

    def forward() -> Any:
        return torch_forward(case, ps, X)

    if not case.train:
        def infer() -> Any:
            with torch.no_grad():
                return torch.softmax(forward(), dim=1)

        infer()
        return infer, time.perf_counter() - t0

    def step() -> Any:
        loss = F.cross_entropy(forward(), Y)
        loss.backward()
        with torch.no_grad():
            for p in ps:
                p.sub_(p.grad, alpha=lr)
                p.grad = None
        return loss

    step()
    return step, time.perf_counter() - t0


# ---- JAX jit ---------------------------------------------------------------------------------------------
def jax_step(case: Any) -> tuple[Step, float]:
    import jax
    import jax.numpy as jnp

    t0 = time.perf_counter()
    lr = case.lr

    def forward(ps: list, x: Any) -> Any:
        if case.kind == "cnn":
            k, kb, w, b = ps
            c = jax.lax.conv_general_dilated(x, k, (1, 1), "VALID") + kb.reshape(1, -1, 1, 1)
            c = jax.lax.reduce_window(jax.nn.relu(c), -jnp.inf, jax.lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")
            return c.reshape(c.shape[0], -1) @ w + b
        h = x
        for i in range(0, len(ps), 2):
            h = h @ ps[i] + ps[i + 1]
            if i + 2 < len(ps):
                h = jax.nn.relu(h)
        return h

    X = jnp.asarray(case.x)
    state = {"ps": [jnp.asarray(p) for p in case.params]}
    if not case.train:
        f = jax.jit(lambda ps, x: jax.nn.softmax(forward(ps, x), axis=1))
        f(state["ps"], X).block_until_ready()
        return (lambda: f(state["ps"], X).block_until_ready()), time.perf_counter() - t0

    Y = jnp.asarray(case.y)

    def loss_fn(ps: list, x: Any, y: Any) -> Any:
        logits = forward(ps, x)
        return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], axis=1))

    @jax.jit
    def update(ps: list, x: Any, y: Any) -> Any:
        loss, gs = jax.value_and_grad(loss_fn)(ps, x, y)
        return [p - lr * g for p, g in zip(ps, gs)], loss

    def step() -> Any:
        state["ps"], loss = update(state["ps"], X, Y)
        return loss.block_until_ready()

    step()
    return step, time.perf_counter() - t0


# ---- onnxruntime (inference): the same MLP written as an ONNX graph ------------------------------------
def ort_infer(case: Any) -> tuple[Step, float]:
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    if case.train or case.kind != "mlp":
        raise NotImplementedError("onnxruntime runs inference only")
    t0 = time.perf_counter()
    nodes, inits, h = [], [], "x"
    L = len(case.params) // 2
    for k in range(L):
        inits += [numpy_helper.from_array(case.params[2 * k], f"w{k}"),
                  numpy_helper.from_array(case.params[2 * k + 1], f"b{k}")]
        nodes += [helper.make_node("MatMul", [h, f"w{k}"], [f"m{k}"]), helper.make_node("Add", [f"m{k}", f"b{k}"], [f"z{k}"])]
        h = f"z{k}"
        if k < L - 1:
            nodes.append(helper.make_node("Relu", [h], [f"h{k}"]))
            h = f"h{k}"
    nodes.append(helper.make_node("Softmax", [h], ["probs"], axis=1))
    graph = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", case.params[0].shape[0]])],
                              [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["N", case.params[-1].shape[0]])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8  # what every onnxruntime 1.x reads
    import os

    opts = ort.SessionOptions()
    if os.environ.get("BENCH_THREADS"):
        opts.intra_op_num_threads = int(os.environ["BENCH_THREADS"])
    if os.environ.get("BENCH_NO_SPIN"):  # see benchmarks/__main__.py
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    feeds = {"x": case.x}
    sess.run(None, feeds)
    onnx.checker.check_model(model)
    return (lambda: sess.run(None, feeds)), time.perf_counter() - t0


PEERS: dict[str, Callable[[Any], tuple[Step, float]]] = {
    "numpy": numpy_mlp, "torch": torch_step, "jax": jax_step, "onnxruntime": ort_infer,
}
REQUIRES = {"numpy": "numpy", "torch": "torch", "jax": "jax", "onnxruntime": "onnxruntime"}
