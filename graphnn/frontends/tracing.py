"""Tracing: `gn.trace(fn, example_inputs)` runs a Python function once on symbolic values and returns the
static `Graph` it built; `@gn.function` traces per input signature and caches the compiled function.

A user-level library: imports anything.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from ..compiler import compile as gn_compile
from ..ir import builder
from ..ir.builder import apply, as_value
from ..ir.builder import input as gn_input
from ..ir.errors import GraphError
from ..ir.graph import Graph, Value
from ..ir.types import TensorType, normalize_dtype
from .eager import EagerTensor


def _spec(x: Any) -> tuple[tuple, str]:
    """(shape, dtype) of an example input: an array, an EagerTensor, a TensorType or a (shape, dtype) pair."""
    if isinstance(x, EagerTensor):
        x = x.data
    if isinstance(x, TensorType):
        return tuple(x.shape), x.dtype
    if isinstance(x, tuple) and len(x) == 2 and isinstance(x[0], (tuple, list)):
        return tuple(x[0]), normalize_dtype(x[1])
    a = np.asarray(x)
    if a.dtype == np.float64 and not isinstance(x, np.ndarray):
        a = a.astype(np.float32)
    return tuple(a.shape), normalize_dtype(a.dtype)


def _fn_name(fn: Callable[..., Any]) -> str:
    return getattr(fn, "__qualname__", getattr(fn, "__name__", "fn"))


def _declare_outputs(g: Graph, out: Any) -> tuple[str, list[str]]:
    if isinstance(out, Mapping):
        kind, items = "dict", list(out.items())
    elif isinstance(out, (tuple, list)):
        kind, items = "tuple", [(f"out{i}", o) for i, o in enumerate(out)]
    else:
        kind, items = "single", [("out", out)]
    for k, o in items:
        if not isinstance(o, Value):
            o = as_value(o, None, g)
        if o.graph is not g:  # an eager tensor or a value of another graph, returned as is
            o = apply("identity", [o])[0]
        g.output(str(k), o)
    return kind, [str(k) for k, _ in items]


def trace(fn: Callable[..., Any], example_inputs: Any, *, static: Mapping[str, Any] | None = None,
          name: str | None = None, symbolic_batch: bool | Sequence[str] = False) -> Graph:
    """Run `fn` once on symbolic inputs shaped like `example_inputs` (a dict name -> array or spec, or a list
    matched to fn's parameters) and return the Graph it builds, with named outputs.

    Example arrays fix every dim, the batch too; `symbolic_batch=True` (or the input names it applies to) makes
    the leading dim of those inputs the symbolic dim "batch", so one graph takes any batch size (a spec
    `((None, 4), "float32")` does the same for one input).
    Python control flow on static facts (shapes, Python numbers) is unrolled; branching on a traced value's
    data raises gn.TraceError naming the line (use gn.where or gn.cond there).
    """
    params = list(inspect.signature(fn).parameters)
    if not isinstance(example_inputs, Mapping):
        example_inputs = dict(zip(params, example_inputs))
    g = Graph(name or getattr(fn, "__name__", "traced").strip("<>"))
    builder.trace_stack.append(_fn_name(fn))
    try:
        with g:
            args = {}
            for k, x in example_inputs.items():
                shape, dtype = _spec(x)
                if shape and (symbolic_batch is True or (not isinstance(symbolic_batch, bool) and k in symbolic_batch)):
                    shape = ("batch", *shape[1:])
                args[k] = gn_input(k, shape, dtype)
            out = fn(**args, **(static or {}))
            kind, names = _declare_outputs(g, out)
    finally:
        builder.trace_stack.pop()
    g.meta["traced"] = {"fn": _fn_name(fn), "outputs": kind, "names": names}
    return g


def _restructure(g: Graph, outs: dict[str, Any]) -> Any:
    info = g.meta["traced"]
    if info["outputs"] == "single":
        return outs["out"]
    if info["outputs"] == "tuple":
        return tuple(outs[k] for k in info["names"])
    return {k: outs[k] for k in info["names"]}


class TracedFunction:
    """A Python function compiled per input signature (shapes, dtypes, static arguments) on first call."""

    def __init__(self, fn: Callable[..., Any], backend: str = "numpy", passes: Any = "default") -> None:
        functools.update_wrapper(self, fn)
        self.fn = fn
        self.backend = backend
        self.passes = passes
        self.sig = inspect.signature(fn)
        self.cache: dict[tuple, Any] = {}

    def _split(self, args: tuple, kwargs: dict) -> tuple[dict, dict, tuple]:
        bound = self.sig.bind(*args, **kwargs)
        bound.apply_defaults()
        arrays, static, key = {}, {}, []
        for k, v in bound.arguments.items():
            if isinstance(v, (np.ndarray, EagerTensor)):
                a = v.data if isinstance(v, EagerTensor) else v
                arrays[k] = a
                key.append((k, a.shape, a.dtype.name))
            else:
                static[k] = v
                key.append((k, "static", repr(v)))
        return arrays, static, tuple(key)

    def compiled(self, *args: Any, **kwargs: Any) -> Any:
        """The compiled gn.Function for these arguments (traced and compiled on first use)."""
        arrays, static, key = self._split(args, kwargs)
        f = self.cache.get(key)
        if f is None:
            g = trace(self.fn, arrays, static=static)
            f = self.cache[key] = gn_compile(g, backend=self.backend, passes=self.passes)
        return f

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        arrays, _, _ = self._split(args, kwargs)
        f = self.compiled(*args, **kwargs)
        return _restructure(f.source, f(**arrays))


def function(fn: Callable[..., Any] | None = None, *, backend: str = "numpy", passes: Any = "default") -> Any:
    """Decorator: trace `fn` on its first call per input signature, compile, and run compiled afterwards.

    Array arguments (ndarray, EagerTensor) become graph inputs; any other argument is static (part of the
    cache key). Create parameters outside `fn` (e.g. eagerly) and close over them: a gn.param made inside
    `fn` would be a new parameter for every signature.
    """
    if fn is None:
        return lambda f: TracedFunction(f, backend, passes)
    if not callable(fn):
        raise GraphError(f"gn.function decorates a function, got {fn!r}")
    return TracedFunction(fn, backend, passes)
