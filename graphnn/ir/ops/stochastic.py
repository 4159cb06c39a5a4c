"""Random ops: inverted dropout driven by a counter-based random stream.

The random stream: a mask is a pure function of (seed, stream, step, element index), hashed with
splitmix64 (graphnn/backends/numpy/stochastic.py), so it is reproducible from the seed, identical on
NumPy and CuPy, and the gradient (dropout of gy with the same step) uses exactly the forward's mask. `step`
is an int64 scalar; by default the graph's state `rng_step`, which the `mode` pass advances by one per call
of a train-mode function that has updates (a training step: masks differ between steps, and a checkpoint of
the state resumes the same stream; a function without updates changes no state, so it redraws the same
masks). In eval mode the mode pass replaces dropout by the identity. Imports only sibling ir modules.
"""

from __future__ import annotations

from typing import Any

from ..builder import apply1, atomic, state
from ..errors import DTypeError, ShapeError
from ..graph import Graph, Node, Value
from ..op import REQUIRED, InferCtx, Op
from ..types import INT_DTYPES, TensorType

OPS: list[Op] = []

RNG_STATE = "rng_step"  # name of the graph's default step counter (state, int64 scalar)


def _dropout_rule(ctx: InferCtx, t: list[TensorType], attrs: dict) -> list[TensorType]:
    x, step = t
    ctx.need_float(x, "x")
    if step.rank != 0 or step.dtype not in INT_DTYPES:
        raise DTypeError(f"dropout: step must be an integer scalar, got {step}")
    if not 0.0 <= attrs["p"] < 1.0:
        raise ShapeError(f"dropout: p must lie in [0, 1), got {attrs['p']}")
    return [x]


def _dropout_grad(node: Node, g: list[Value | None]) -> list[Value | None]:
    # Same (seed, stream, step) and the same shape: the very mask of the forward pass, and the same scale.
    if g[0] is None:
        return [None, None]
    return [apply1("dropout", [g[0], node.inputs[1]], node.attrs), None]


OPS.append(Op("dropout", _dropout_rule, 2, {"p": REQUIRED, "seed": 0, "stream": 0}, grad=_dropout_grad,
              random=True, gates=True, doc="(x, step) -> x * mask / (1 - p), mask ~ Bernoulli(1 - p) from hash(seed, stream, step, index); "
                  "mode-dependent: the identity in eval mode"))


def rng_step(g: Graph) -> Value:
    """The graph's default dropout step counter (created on first use)."""
    name = g.meta.get("rng_state")
    if name is None:
        with g:
            v = state(RNG_STATE, (), "int64", init=0)
        g.meta["rng_state"] = v.name
        return v
    return g.param(name)


@atomic
def dropout(x: Any, p: float, seed: int | None = None, step: Any = None) -> Value:
    """Inverted dropout: zero each element with probability p and scale the rest by 1/(1-p) (train mode)."""
    if not isinstance(x, Value):
        raise ShapeError("dropout: x must be a graph value")
    g = x.graph
    # Each dropout in a graph gets its own stream, so two layers of one shape never share a mask.
    stream = g.meta.get("dropout_streams", 0)
    g.meta["dropout_streams"] = stream + 1
    if step is None:
        step = rng_step(g)
    return apply1("dropout", [x, step], {"p": float(p), "seed": 0 if seed is None else int(seed), "stream": stream})
