"""Helpers for pass tests: run one pass, compare graphs by structure (expressions from the outputs), and
evaluate a graph directly with the NumPy kernels."""

from __future__ import annotations

from typing import Any

import numpy as np

import graphnn as gn
from graphnn.backends.executor import bind_feeds, build_plan, run_plan
from graphnn.backends.numpy.backend import NumpyBackend
from graphnn.passes.pipeline import run_pipeline


def run_pass(g: gn.Graph, name: str, **outputs: gn.Value) -> gn.Graph:
    """`g` with `outputs` after only the pass `name` (and autodiff, always required); verified."""
    g.outputs = dict(outputs)
    opt, report = run_pipeline(g, passes=[name], check=True)
    opt.report = report  # type: ignore[attr-defined]
    return opt


def expr(v: gn.Value) -> str:
    """A canonical expression of `v`: op[attrs](args) down to inputs, parameters and constant values."""
    if v.kind in ("input", "param", "state"):
        return v.name
    if v.kind == "const":
        a = v.graph.constants[v.id]
        return f"{a.dtype}{list(a.shape)}{a.ravel()[:4].tolist() if a.size <= 4 else '...'}"
    n = v.producer
    attrs = ",".join(f"{k}={n.attrs[k]!r}" for k in sorted(n.attrs))
    tail = f"#{n.outputs.index(v)}" if len(n.outputs) > 1 else ""
    return f"{n.op}[{attrs}]({', '.join(expr(i) for i in n.inputs)}){tail}"


def structure(g: gn.Graph) -> dict[str, str]:
    return {k: expr(v) for k, v in g.outputs.items()}


def assert_structure(got: gn.Graph, expected: gn.Graph) -> None:
    """Same expressions for every output; the message shows both graphs (printer form)."""
    assert structure(got) == structure(expected), f"\n--- got\n{got}\n--- expected\n{expected}"


def evaluate(g: gn.Graph, **feeds: Any) -> dict[str, np.ndarray]:
    """Run an already optimized graph (no passes) with the NumPy kernels."""
    be = NumpyBackend()
    arrays, env = bind_feeds(g, feeds, be.asarray)
    outs, _ = run_plan(build_plan(g, np, be.kernels, env), np, arrays, g.storage.values)
    return outs


def ops(g: gn.Graph, tag: str | None = None) -> list[str]:
    """The ops a graph computes, sorted; a `fused_elementwise` node (made last, by the runtime's fusion pass)
    counts as its members."""
    out = []
    for n in g.nodes:
        if tag is None or tag in n.tags:
            out += [m[0] for m in n.attrs["body"]] if n.op == "fused_elementwise" else [n.op]
    return sorted(out)
