"""A tiny float64 central-difference check of one op's gradient rule (its vector-Jacobian product).

The op's rule is called directly with random cotangents, so the check needs only kernels, not the gradient
rules of the ops around it: <cot, f(x + h e_i)> - <cot, f(x - h e_i)> / 2h must equal the rule's d/dx_i.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

import graphnn as gn
from graphnn.ir.op_registry import get_op


def check_vjp(build: Callable[..., Any], arrays: dict[str, np.ndarray], wrt: list[str] | None = None, *,
              cot_outputs: list[int] | None = None, h: float = 1e-5, rtol: float = 1e-6, atol: float = 1e-7,
              seed: int = 0) -> dict[str, float]:
    """Compare the gradient rule of the op `build` applies with central differences; return worst errors."""
    rng = np.random.default_rng(seed)
    with gn.Graph("vjp") as g:
        ins = [gn.input(k, a.shape, a.dtype.name) for k, a in arrays.items()]
        outs = build(*ins)
        outs = tuple(outs) if isinstance(outs, (tuple, list)) else (outs,)
        node = outs[0].producer
        use = range(len(outs)) if cot_outputs is None else cot_outputs
        cots: list[Any] = [None] * len(outs)
        cot_arrays = {}
        for i in use:
            shape = tuple(int(d) for d in outs[i].shape)
            cots[i] = gn.input(f"cot{i}", shape, outs[i].dtype)
            cot_arrays[f"cot{i}"] = rng.normal(size=shape).astype(outs[i].dtype)
        grads = get_op(node.op).grad(node, cots)
    names = list(arrays)
    wrt = [k for k in names if arrays[k].dtype.kind == "f"] if wrt is None else wrt
    gouts = {f"g_{k}": gv for k, gv in zip(names, grads) if k in wrt and gv is not None}
    # mode="train": the rule under test differentiates the op as built (batch statistics, dropout masks).
    fwd = gn.compile(g, outputs={f"o{i}": outs[i] for i in use}, mode="train")
    bwd = gn.compile(g, outputs=gouts, mode="train")
    feeds = {**arrays, **cot_arrays}

    def pairing(fd: dict) -> float:
        o = fwd(**fd)
        return float(sum(np.sum(o[f"o{i}"] * cot_arrays[f"cot{i}"]) for i in use))

    analytic = bwd(**feeds)
    worst = {}
    for k in wrt:
        num = np.zeros_like(arrays[k])
        flat = num.reshape(-1)
        for j in range(arrays[k].size):
            xp_, xm = arrays[k].copy(), arrays[k].copy()
            xp_.reshape(-1)[j] += h
            xm.reshape(-1)[j] -= h
            flat[j] = (pairing({**feeds, k: xp_}) - pairing({**feeds, k: xm})) / (2 * h)
        got = analytic.get(f"g_{k}", np.zeros_like(num))
        assert got.shape == num.shape, (k, got.shape, num.shape)
        np.testing.assert_allclose(got, num, rtol=rtol, atol=atol, err_msg=f"gradient of {node.op} in {k}")
        worst[k] = float(np.max(np.abs(got - num) / np.maximum(np.abs(num), 1.0)))
    return worst
