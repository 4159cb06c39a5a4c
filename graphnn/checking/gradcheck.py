"""`gn.check_grad`: symbolic gradients against float64 central finite differences, worst error per input;
a float32 graph is checked on its float64 copy (both differentiations in float64).

A user-level tool on the public API (may import anything in graphnn).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from ..compiler import compile as compile_graph
from ..ir.builder import constant
from ..ir.builder import input as graph_input
from ..ir.errors import GraphError
from ..ir.graph import Graph, Value
from ..ir.ops.reduction import sum as reduce_sum
from ..ir.serialize import from_dict, to_dict
from ..passes.autodiff import grad


@dataclass
class GradCheck:
    """Per input: the worst relative error, the symbolic gradient and the finite-difference one."""

    errors: dict[str, float]
    symbolic: dict[str, np.ndarray] = field(repr=False)
    numeric: dict[str, np.ndarray] = field(repr=False)

    @property
    def worst(self) -> float:
        return max(self.errors.values(), default=0.0)

    def __str__(self) -> str:
        rows = [f"check_grad: worst relative error {self.worst:.3g}"]
        for name, err in self.errors.items():
            i = int(np.argmax(_rel_err(self.symbolic[name], self.numeric[name]))) if self.symbolic[name].size else 0
            s, n = self.symbolic[name].ravel(), self.numeric[name].ravel()
            at = f" (worst at flat index {i}: symbolic {s[i]:.10g}, numeric {n[i]:.10g})" if s.size else ""
            rows.append(f"  {name}: {err:.3g}{at}")
        return "\n".join(rows)


def _rel_err(s: np.ndarray, n: np.ndarray, floor: float = 1e-3) -> np.ndarray:
    # Relative error, with magnitudes below `floor` compared absolutely (a gradient that is 0 up to
    # rounding must not count as 100% wrong).
    return np.abs(s - n) / np.maximum(np.maximum(np.abs(s), np.abs(n)), floor)


def _numeric(f: Callable[[], float], arr: np.ndarray, eps: float) -> np.ndarray:
    """Fourth-order central differences of f() in each element of `arr` (perturbed in place, restored)."""
    out = np.zeros(arr.shape, dtype=np.float64)
    flat, res = arr.reshape(-1), out.reshape(-1)
    if arr.size and not np.shares_memory(flat, arr):
        raise GraphError("check_grad: cannot perturb a non-contiguous array in place")
    for i in range(flat.size):
        x0 = flat[i]
        h = eps * max(abs(float(x0)), 1e-2)  # relative steps: small inputs (probabilities) need small ones
        vals = []
        for k in (2, 1, -1, -2):
            flat[i] = x0 + k * h
            vals.append(f())
        flat[i] = x0
        res[i] = (-vals[0] + 8 * vals[1] - 8 * vals[2] + vals[3]) / (12 * h)
    return out


def check_grad(target: Callable[..., Value] | Value, *arrays: Any, wrt: Sequence[Value] | Sequence[int] | None = None,
               feeds: Mapping[str, Any] | None = None, attrs: Mapping[str, Any] | None = None,
               eps: float = 1e-3, tol: float | None = None, seed: int = 0,
               disconnected: str | None = None, mode: str = "train") -> GradCheck:
    """Compare gn.grad with finite differences; raise AssertionError if `tol` is given and exceeded.

    Two forms:
      check_grad(fn, *arrays, attrs={...}): fn(*values, **attrs) builds the op(s) on float64 inputs made
        from `arrays` (int arrays stay int inputs and are not differentiated); wrt= may list positions.
      check_grad(y, wrt=[values], feeds={...}): y a value of an existing graph; wrt its inputs or
        parameters (default: every float input and parameter y depends on). Parameters are perturbed in
        the graph's storage and restored.
    A non-scalar y is contracted with fixed random weights, so the whole Jacobian is exercised.
    `mode="train"` (the default) checks what a training step differentiates: dropout masks, batch statistics.
    `disconnected` is passed to gn.grad ("ignore" skips inputs y does not depend on differentiably).
    """
    if isinstance(target, Value):
        if arrays:
            raise GraphError("check_grad(y, ...): pass input arrays as feeds={name: array}")
        # Both differentiations run in float64: float32 finite differences flip signs on correct gradients.
        y, g, feeds = target, as_float64(target.graph), {k: _f64(a) for k, a in dict(feeds or {}).items()}
        byid = {v.id: v for v in g.values()}
        y = byid[y.id]
        if wrt is None:
            wrt = [v for v in g.inputs + g.params if v.type.is_float]
            wrt_vals = [byid[v.id] for v in wrt]
            default_disconnected = "ignore"
        else:
            wrt_vals = [byid[v.id] for v in wrt]
            default_disconnected = "raise"
    elif callable(target):
        g = Graph("check_grad")
        feeds, ins = {}, []
        with g:
            for i, a in enumerate(arrays):
                a = np.asarray(a)
                if a.dtype.kind == "f":
                    a = a.astype(np.float64)
                name = f"x{i}"
                ins.append(graph_input(name, a.shape, a.dtype))
                feeds[name] = a
            y = target(*ins, **dict(attrs or {}))
        wrt_vals = [v for i, v in enumerate(ins) if v.type.is_float and (wrt is None or i in wrt)]
        default_disconnected = "raise"
    else:
        raise GraphError(f"check_grad: target must be a function building the graph or a Value, got {target!r}")
    if not isinstance(y, Value):
        raise GraphError(f"check_grad: the function returned {y!r}, not a graph value")
    disconnected = disconnected or default_disconnected
    with g:
        if y.ndim:
            r = np.random.default_rng(seed).uniform(0.5, 1.5, size=tuple(int(d) for d in _static(y))) \
                * np.random.default_rng(seed + 1).choice([-1.0, 1.0], size=tuple(int(d) for d in _static(y)))
            y = reduce_sum(y * constant(r.astype(y.dtype), graph=g))
        gs = grad(y, wrt_vals, disconnected=disconnected)
    pairs = [(v, gv) for v, gv in zip(wrt_vals, gs) if gv is not None]
    full = compile_graph(g, outputs={"y": y, **{f"d{i}": gv for i, (_, gv) in enumerate(pairs)}}, mode=mode)
    fwd = compile_graph(g, outputs={"y": y}, mode=mode)
    arrs = {k: np.array(v, copy=True, order="C") for k, v in feeds.items()}  # perturbed in place below
    sym_out = full(**arrs)

    def f() -> float:
        return float(fwd(**arrs)["y"])

    errors, sym, num = {}, {}, {}
    for i, (v, _) in enumerate(pairs):
        if v.kind == "input":
            buf = arrs[v.name]
        elif v.kind in ("param", "state"):
            buf = g.storage[v.name]
        else:
            raise GraphError(f"check_grad: {v.name} is a {v.kind}; differentiate with respect to inputs or params")
        saved = np.array(buf, copy=True)
        try:
            n = _numeric(f, buf, eps)
        finally:
            np.copyto(buf, saved)
        s = np.asarray(sym_out[f"d{i}"], dtype=np.float64)
        errors[v.name] = float(np.max(_rel_err(s, n))) if s.size else 0.0
        sym[v.name], num[v.name] = s, n
    res = GradCheck(errors, sym, num)
    if tol is not None and res.worst > tol:
        raise AssertionError(f"gradient check failed (tol {tol:g})\n{res}")
    return res


_LOW = ("float16", "float32")


def _f64(a: Any) -> Any:
    a = np.asarray(a)
    return a.astype(np.float64) if a.dtype.name in _LOW else a


def _widen(x: Any) -> Any:
    """A `to_dict` record with every float16/float32 type, array and dtype attribute made float64."""
    if isinstance(x, dict):
        if "data" in x and x.get("dtype") in _LOW:  # an encoded array
            a = np.frombuffer(base64.b64decode(x["data"]), dtype=x["dtype"]).astype(np.float64)
            return {**x, "dtype": "float64", "data": base64.b64encode(a.tobytes()).decode()}
        return {k: _widen(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_widen(v) for v in x]
    return "float64" if x in _LOW else x


def as_float64(g: Graph) -> Graph:
    """A float64 copy of `g` (values keep their ids), or a GraphError saying plainly why it cannot be made."""
    try:
        return from_dict(_widen(to_dict(g, include_values=True)), f"the float64 copy of graph {g.name!r}")
    except GraphError as e:
        raise GraphError(f"check_grad: cannot differentiate graph {g.name!r} numerically in float64: {e}; build "
                         f"it with float64 inputs and parameters, or use the check_grad(fn, *arrays) form") from None


def _static(v: Value) -> tuple[int, ...]:
    if not v.type.is_static:
        raise GraphError(f"check_grad: {v.name} has symbolic shape {v.type}; give inputs static shapes")
    return v.shape  # type: ignore[return-value]
