"""`gn.train.predict(model_or_trainer, X, batch_size=...)`: the one-line inference path for a trained model. It
compiles the prediction once in eval mode (dropout off, batch norm on running statistics), feeds `X` in batches
and returns host NumPy arrays. User level: may import anything in graphnn.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..compiler import compile as gn_compile
from ..ir.errors import FeedError
from ..ir.graph import Graph, Value


def _needed_inputs(v: Value) -> list[Value]:
    """The graph inputs `v` depends on, in graph order."""
    g, seen, stack = v.graph, set(), [v]
    need: set[int] = set()
    while stack:
        x = stack.pop()
        if x.id in seen:
            continue
        seen.add(x.id)
        n = g.producer.get(x.id)
        if n is None:
            if x.kind == "input":
                need.add(x.id)
            continue
        stack.extend(n.inputs)
    return [i for i in g.inputs if i.id in need]


def _prediction(model: Any) -> Value:
    """The value to predict: a Value itself; for a Trainer (or a fit History) the loss's first operand, which
    is the model's output in `loss(prediction, targets)`."""
    model = getattr(model, "trainer", model)
    if isinstance(model, Value):
        return model
    loss = getattr(model, "loss", None)
    if isinstance(loss, Value) and loss.producer is not None and loss.producer.inputs:
        return loss.producer.inputs[0]
    raise FeedError(f"predict: expected a graph value (the model's output), a gn.train.Trainer or a fit History, "
                    f"got {type(model).__name__}")


def predict(model: Any, X: Any, *, batch_size: int = 256, output: Value | None = None) -> np.ndarray:
    """Run the model's prediction over `X` (an array for a one-input model, or a dict name -> array) in eval
    mode, `batch_size` rows at a time; returns one host array with a row per row of `X`. `output` picks another
    value than the default (the model value itself, or a trainer's loss's first operand)."""
    v = output if output is not None else _prediction(model)
    if batch_size <= 0:
        raise FeedError(f"predict: batch_size must be positive, got {batch_size}")
    need = _needed_inputs(v)
    if isinstance(X, Mapping):
        missing = [i.name for i in need if i.name not in X]
        if missing:
            raise FeedError(f"predict: {v.name} needs inputs {[i.name for i in need]}; missing {missing}")
        arrays = {i.name: np.asarray(X[i.name]) for i in need}
    elif len(need) == 1:
        arrays = {need[0].name: np.asarray(X)}
    else:
        raise FeedError(f"predict: {v.name} needs inputs {[i.name for i in need]}: pass X as a dict of arrays")
    g: Graph = v.graph
    holder = getattr(model, "trainer", model)  # a Trainer keeps its compiled predictions between calls
    cache = holder.__dict__.setdefault("_predict_fns", {}) if not isinstance(holder, Value) else {}
    fn = cache.get(v.id)
    if fn is None:
        fn = cache[v.id] = gn_compile(g, outputs={"out": v}, mode="eval", host_outputs=True)
    n = len(next(iter(arrays.values()))) if arrays else 1
    parts = [np.asarray(fn(**{k: a[s:s + batch_size] for k, a in arrays.items()})["out"])
             for s in range(0, n, batch_size)]
    return np.concatenate(parts) if parts and parts[0].ndim else np.asarray(parts[0])
