"""Validate mode (`gn.compile(..., validate=True)`): evaluate the graph before and after every pass in float64
with the NumPy backend, on random and edge-case inputs, and name the first pass whose results diverge.

User level: imports graphnn.ir, graphnn.passes and graphnn.backends (passes themselves may not).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from ..backends.executor import build_plan, run_plan
from ..backends.numpy import KERNELS
from ..ir.errors import GraphError, GraphnnError
from ..ir.graph import Graph, Storage, Value
from ..ir.op_registry import registry
from ..ir.types import FLOAT_DTYPES, INT_DTYPES, DimProduct, dim_div, dim_symbols, dim_value
from ..passes.pipeline import PASSES, REQUIRED, PassRecord

# (name, how float inputs are drawn); integer inputs are always valid random labels.
INPUT_SETS = (
    ("random", lambda rng, s: rng.standard_normal(s)),
    ("zeros", lambda rng, s: np.zeros(s)),
    ("ones", lambda rng, s: np.ones(s)),
    ("negative", lambda rng, s: -0.5 - np.abs(rng.standard_normal(s))),
    ("wide", lambda rng, s: rng.uniform(-8.0, 8.0, s)),  # saturates sigmoid/softmax without losing float64
)
RTOL = 1e-6


class ValidationError(GraphError):
    """A pass changed what the graph computes; `.pass_name`, `.before` and `.after` say where."""

    def __init__(self, msg: str, pass_name: str, before: Graph, after: Graph) -> None:
        super().__init__(msg)
        self.pass_name, self.before, self.after = pass_name, before, after


def _widen_body(body: tuple) -> tuple:
    """A fused_elementwise body with its float literals and cast targets made float64, like the graph around it."""
    def f(d: str) -> str:
        return "float64" if d in FLOAT_DTYPES else d

    return tuple((op, tuple((k, f(v) if k == "dtype" else v) for k, v in attrs),
                  tuple(("c", a[1], f(a[2])) if a[0] == "c" else a for a in args)) for op, attrs, args in body)


def as_float64(g: Graph) -> Graph:
    """A copy of `g` whose floating-point values, constants, parameters and dtype attributes are float64."""
    h = g.copy()
    vmap: dict[int, Value] = {}

    def conv(v: Value) -> Value:
        t = v.raw_type
        nv = replace(v, raw_type=t.with_dtype("float64")) if t.dtype in FLOAT_DTYPES else v
        vmap[v.id] = nv
        return nv

    h.inputs, h.params, h.state = [conv(v) for v in h.inputs], [conv(v) for v in h.params], [conv(v) for v in h.state]
    h.const_values = [conv(v) for v in h.const_values]
    h.constants = {k: (a.astype("float64") if a.dtype.name in FLOAT_DTYPES else a) for k, a in h.constants.items()}
    h.storage = Storage()
    for k, a in g.storage.values.items():
        h.storage[k] = a.astype("float64") if a.dtype.name in FLOAT_DTYPES else a.copy()
    h.producer = {}
    for n in h.nodes:
        n.inputs = tuple(vmap[v.id] for v in n.inputs)
        n.outputs = tuple(conv(o) for o in n.outputs)
        n.attrs = {k: ("float64" if k == "dtype" and a in FLOAT_DTYPES else _widen_body(a) if k == "body" else a)
                   for k, a in n.attrs.items()}
        h.producer.update({o.id: n for o in n.outputs})
    h.outputs = {k: vmap[v.id] for k, v in h.outputs.items()}
    h.updates = {k: vmap[v.id] for k, v in h.updates.items()}
    return h


def lower(g: Graph) -> Graph:
    """The graph as it would run: the lowering steps every pipeline keeps (mode, autodiff) applied to a copy;
    they define what a graph still holding `grad` requests or train/eval ops computes."""
    h = g.copy()
    for name in REQUIRED:
        h = PASSES[name](h)
    return h


def _label_bound(g: Graph, v: Value) -> int:
    """The smallest class count among the consumers of integer input `v` (so labels are in range)."""
    bounds = []
    for n in g.consumers().get(v.id, []):
        op = registry()[n.op]
        if op.labels is not None and op.labels < len(n.inputs) and n.inputs[op.labels] is v:
            d = op.class_count(n)
            bounds.append(d if isinstance(d, int) else 2)
    return max(1, min(bounds, default=3))


def make_feeds(g: Graph, seed: int = 0) -> list[tuple[str, dict[str, np.ndarray]]]:
    """One feed dict per input set; symbolic dims get small distinct sizes."""
    rng = np.random.default_rng(seed)
    sizes: dict[str, int] = {}
    sets = []
    for label, draw in INPUT_SETS:
        feeds = {}
        for v in g.inputs:
            for s in (s for d in v.shape for s in dim_symbols(d)):
                sizes.setdefault(s, 2 + len(sizes))
            shape = tuple(dim_value(d, sizes) for d in v.shape)
            if v.dtype in FLOAT_DTYPES:
                feeds[v.name] = np.asarray(draw(rng, shape), dtype="float64")
            elif v.dtype in INT_DTYPES:
                feeds[v.name] = rng.integers(0, _label_bound(g, v), size=shape).astype(v.dtype)
            else:
                feeds[v.name] = rng.random(shape) < 0.5
        sets.append((label, feeds))
    return sets


def evaluate(g: Graph, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Outputs and updates of `g` (lowered, in float64) on `feeds`, keyed "output:name" / "update:name"."""
    h = as_float64(lower(g))
    env = {}
    for v in h.inputs:
        for d, n in zip(v.shape, feeds[v.name].shape):
            if isinstance(d, str):
                env[d] = n
    for v in h.inputs:  # a symbol that appears only inside a product (`B*12`) is that size over the rest
        for d, n in zip(v.shape, feeds[v.name].shape):
            free = [s for s in dim_symbols(d) if s not in env]
            if len(free) == 1 and isinstance(d, DimProduct) and d.symbols.count(free[0]) == 1:
                env[free[0]] = n // dim_value(dim_div(d, free[0]), env)
    plan = build_plan(h, np, KERNELS, env, storage=h.storage.values, inplace_updates=False)
    outs, ups = run_plan(plan, np, feeds, h.storage.values)
    res = {f"output:{k}": np.asarray(a) for k, a in outs.items()}
    res.update({f"update:{k}": np.asarray(a) for k, a in ups.items()})
    return res


def compare(before: dict[str, np.ndarray], after: dict[str, np.ndarray]) -> str | None:
    """None if `after` agrees with `before`, else what differs. Where `before` is inf or nan, any value is
    accepted: a rewrite may make an overflowing expression finite (that is what the stability fixes do)."""
    for k, a in before.items():
        if k not in after:
            return f"{k} is missing"
        b = after[k]
        if a.shape != b.shape or a.dtype != b.dtype:
            return f"{k}: {a.dtype}{list(a.shape)} became {b.dtype}{list(b.shape)}"
        if a.dtype.kind != "f":
            if not np.array_equal(a, b):
                return f"{k}: {int(np.sum(a != b))} of {a.size} elements differ"
            continue
        ok = np.isfinite(a)
        if not np.all(np.isfinite(b[ok])):
            return f"{k}: finite values became inf/nan"
        err = np.abs(b[ok] - a[ok])
        scale = max(1.0, float(np.max(np.abs(a[ok]), initial=0.0)))
        if err.size and np.any(err > RTOL * (np.abs(a[ok]) + scale)):
            i = int(np.argmax(err))
            return f"{k}: differs by up to {err[i]:.3g} (before {a[ok][i]:.6g}, after {b[ok][i]:.6g})"
    return None


class PassValidator:
    """The pipeline observer of validate mode: checks each pass and raises ValidationError naming it."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.feeds: list[tuple[str, dict[str, np.ndarray]]] | None = None
        self.last: dict[str, Any] | None = None  # results of the graph after the previous pass

    def _run(self, g: Graph) -> dict[str, Any]:
        res: dict[str, Any] = {}
        for label, feeds in self.feeds or []:
            try:
                res[label] = evaluate(g, feeds)
            except GraphnnError as e:  # e.g. labels a kernel rejects; recorded, compared like a result
                res[label] = e
        return res

    def __call__(self, name: str, before: Graph, after: Graph, rec: PassRecord) -> None:
        if self.feeds is None:
            self.feeds = make_feeds(before, self.seed)
        ref = self.last if self.last is not None else self._run(before)
        new = self._run(after)
        self.last = new
        notes: list[str] = []
        for label, r in ref.items():
            n = new[label]
            if isinstance(r, Exception):
                continue  # the input set was not valid before the pass; nothing to compare
            why = f"raised {type(n).__name__}: {n}" if isinstance(n, Exception) else compare(r, n)
            if why is not None and rec.diagnostics and not isinstance(n, Exception) and _all_finite(n):
                # A stability rewrite replaced a naive form whose float64 result is itself inaccurate where
                # it saturates (log(1 - sigmoid) of large logits): the difference is the fix, not a bug.
                notes.append(f"{label}: {why} (stability rewrite; the naive reference is inaccurate here)")
                continue
            if why is not None:
                rec.check = f"DIVERGED on {label} inputs"
                raise ValidationError(f"validate: pass {name!r} changed what the graph computes on the {label} "
                                      f"inputs (float64): {why}", name, before, after)
        rec.check = f"ok on {len(ref)} input sets" + (f"; accepted: {'; '.join(notes)}" if notes else "")


def _all_finite(outputs: Any) -> bool:
    """True when every array in an evaluation's outputs is finite."""
    arrays = outputs.values() if isinstance(outputs, dict) else [outputs]
    return all(bool(np.all(np.isfinite(a))) for a in arrays if getattr(a, "dtype", None) is not None
               and np.asarray(a).dtype.kind == "f")
