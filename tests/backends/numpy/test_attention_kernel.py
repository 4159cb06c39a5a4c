"""The NumPy attention kernels (graphnn/backends/numpy/attention.py): the training step computes the attention
weights once (the backward's attention_probs copies what the forward left). The gradients computed this way are
checked against finite differences by the conformance suite (tests/conformance/cases_attention.py)."""

from __future__ import annotations

import numpy as np
import pytest

import graphnn as gn
from graphnn.backends.numpy import attention as kernels


def test_backward_reuses_the_forward_weights(monkeypatch: pytest.MonkeyPatch) -> None:
    computed = []
    real = kernels.probs_fn

    def counting(xp, node, env):
        f = real(xp, node, env)

        def g(*a):
            computed.append(node.op)
            return f(*a)

        return g

    monkeypatch.setattr(kernels, "probs_fn", counting)
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal((2, 3, 4)) for _ in range(3))
    with gn.Graph() as g:
        qv, kv, vv = (gn.input(n, (None, 3, 4), "float64") for n in "qkv")
        out = gn.attention(qv, kv, vv, causal=True)
        grads = gn.grad(gn.sum(out * out), [qv, kv, vv])
    fn = gn.compile(g, outputs={"out": out, **{f"g{i}": d for i, d in enumerate(grads)}})
    res = fn(q=q, k=k, v=v)
    assert computed == ["attention"]  # once, in the forward; attention_probs read the fact
    assert all(np.isfinite(a).all() for a in res.values())
