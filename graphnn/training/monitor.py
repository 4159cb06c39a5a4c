"""Training monitors as graph values: per-layer gradient norm, weight norm, update/weight ratio, dead-ReLU
fraction and a non-finite count, compiled as extra outputs of the same training step (not callbacks).

User-level library: may import anything from graphnn.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..ir.errors import GraphError
from ..ir.graph import Graph, Value
from ..ir.ops import elementwise as ew
from ..ir.ops import reduction as red

MONITORS = ("grad_norm", "weight_norm", "update_ratio", "dead_relu", "nan_count")
_TINY = 1e-12


def layer_of(name: str) -> str:
    """The layer a parameter belongs to: its name scope (`seq/linear_1/w` -> `seq/linear_1`)."""
    return name.rsplit("/", 1)[0] if "/" in name else name


def _sumsq(vs: Sequence[Value]) -> Value:
    total = None
    for v in vs:
        s = red.sum(v * v)
        total = s if total is None else total + s
    assert total is not None
    return total


def _groups(params: Sequence[Value]) -> dict[str, list[Value]]:
    groups: dict[str, list[Value]] = {}
    for p in params:
        groups.setdefault(layer_of(p.name), []).append(p)
    return groups


def _nonfinite(v: Value) -> Value:
    # NaN is the only value unequal to itself; inf is the only value equal to inf after abs.
    nan = 1.0 - ew.cast(ew.equal(v, v), v.dtype)
    inf = ew.cast(ew.equal(ew.abs(v), float("inf")), v.dtype)
    return red.sum(nan + inf)


def dead_relu_fractions(g: Graph) -> dict[str, Value]:
    """For each forward ReLU: the fraction of its units that are zero for every example of the batch."""
    out: dict[str, Value] = {}
    for n in list(g.nodes):
        if n.op != "relu" or "backward" in n.tags or n.outputs[0].ndim < 2:
            continue
        y = n.outputs[0]
        dead = ew.cast(ew.less_equal(red.max(y, axis=0), 0.0), y.dtype)
        out[f"dead_relu/{n.scope or n.name}"] = red.mean(dead)
    return out


def build_monitors(g: Graph, which: Sequence[str], loss: Value, grads: dict[str, Value],
                   updates: dict[str, Value], params: Sequence[Value]) -> dict[str, Value]:
    """The requested monitors as scalar values of `g`, keyed `<monitor>/<layer>`."""
    unknown = [m for m in which if m not in MONITORS]
    if unknown:
        raise GraphError(f"unknown monitor(s) {unknown}; choose from {list(MONITORS)}")
    out: dict[str, Value] = {}
    groups = _groups(params)
    with g.as_current(), g.name_scope("monitor"), g.building(frozenset({"monitor"})):
        for m in which:
            if m == "dead_relu":
                out.update(dead_relu_fractions(g))
            elif m == "nan_count":
                total = _nonfinite(loss)
                for p in params:
                    gv = grads[p.name]
                    c = _nonfinite(gv)
                    total = total + (c if c.dtype == total.dtype else ew.cast(c, total.dtype))
                out["nan_count"] = total
            else:
                for layer, ps in groups.items():
                    if m == "grad_norm":
                        out[f"grad_norm/{layer}"] = ew.sqrt(_sumsq([grads[p.name] for p in ps]))
                    elif m == "weight_norm":
                        out[f"weight_norm/{layer}"] = ew.sqrt(_sumsq(ps))
                    else:
                        delta = ew.sqrt(_sumsq([updates[p.name] - p for p in ps]))
                        out[f"update_ratio/{layer}"] = delta / (ew.sqrt(_sumsq(ps)) + _TINY)
    return out


def monitor_outputs(optimizer: Any, which: Sequence[str] | str = MONITORS) -> dict[str, Value]:
    """Monitors of an optimizer's step as extra outputs for `gn.compile(..., outputs={**outs, **these})`."""
    if optimizer.graph is None:
        raise GraphError("monitor_outputs: call optimizer.updates(loss, params) first")
    which = list(MONITORS) if which in ("all", True) else ([which] if isinstance(which, str) else list(which))
    loss = optimizer.loss
    return build_monitors(optimizer.graph, which, loss, optimizer.grads, optimizer.update_values, optimizer.params)


