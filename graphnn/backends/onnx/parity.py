"""Parity runs: random feeds for a graph, the graph run on graphnn's NumPy executor, the model on onnxruntime,
and the largest difference between them.

Imports graphnn.ir and the shared executor (and onnx/onnxruntime).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from typing import Any

import numpy as np

from ...ir.errors import GraphError
from ...ir.graph import Graph, Value
from ...ir.op_registry import registry
from ...ir.types import DimEnv, dim_symbols, dim_value
from ..executor import bind_feeds, build_plan, run_plan
from ..numpy import KERNELS


def _label_range(g: Graph, v: Value, env: dict[str, int]) -> int:
    """How many classes an integer input may index (so random labels are valid), default 3."""
    for n in g.nodes:
        if v not in n.inputs:
            continue
        op = registry()[n.op]
        if op.labels is not None and op.labels < len(n.inputs) and n.inputs[op.labels] is v:
            d = op.class_count(n)
            return dim_value(d, env)
    return 3


def random_feeds(g: Graph, size: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Random inputs for every graph input, every symbolic dim bound to `size`."""
    rng = np.random.default_rng(seed)
    env = DimEnv((s, size) for v in g.inputs for d in v.type.shape for s in dim_symbols(d))  # products follow
    feeds = {}
    for v in g.inputs:
        shape, dt = v.type.concrete(env), v.dtype
        if dt == "bool":
            feeds[v.name] = rng.random(shape) < 0.5
        elif dt.startswith(("int", "uint")):
            feeds[v.name] = rng.integers(0, _label_range(g, v, env), shape).astype(dt)
        else:
            feeds[v.name] = rng.standard_normal(shape).astype(dt)
    return feeds


def run_graph(g: Graph, feeds: dict[str, Any]) -> dict[str, np.ndarray]:
    """Run an already-lowered graph (no gradient requests) on the NumPy executor; outputs by name."""
    arrays, env = bind_feeds(g, feeds, lambda x, dt: np.asarray(x))
    plan = build_plan(g, np, KERNELS, env)
    outs, _ = run_plan(plan, np, arrays, g.storage.values)
    return {k: np.asarray(a) for k, a in outs.items()}


def run_onnxruntime(model: Any, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Run an ONNX ModelProto (or serialized bytes) on onnxruntime's CPU provider; outputs by name."""
    import onnxruntime as ort  # here: importing onnxruntime costs ~0.1 s, paid only by the parity run that needs it

    data = model if isinstance(model, bytes) else model.SerializeToString()
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    sess = ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    wanted = {i.name for i in sess.get_inputs()}
    return dict(zip(names, sess.run(None, {k: v for k, v in feeds.items() if k in wanted})))


# Run in a child process by `run_onnxruntime_isolated`: reads model.onnx and feeds.npz in a folder, writes outs.npz.
_CHILD = """
import sys, numpy as np, onnxruntime as ort
d = sys.argv[1]
opts = ort.SessionOptions()
opts.log_severity_level = 3
sess = ort.InferenceSession(d + "/model.onnx", opts, providers=["CPUExecutionProvider"])
feeds = dict(np.load(d + "/feeds.npz"))
wanted = {i.name for i in sess.get_inputs()}
outs = sess.run(None, {k: v for k, v in feeds.items() if k in wanted})
np.savez(d + "/outs.npz", **dict(zip([o.name for o in sess.get_outputs()], outs)))
"""


def _signal_name(num: int) -> str:
    try:
        return signal.Signals(num).name
    except ValueError:
        return f"signal {num}"


def run_onnxruntime_isolated(model: Any, feeds: dict[str, np.ndarray], timeout: float = 600.0
                             ) -> dict[str, np.ndarray]:
    """`run_onnxruntime` in a child process, so that a crash inside onnxruntime (a segfault on a model it
    mishandles) is a GraphError naming the signal, not the death of the caller."""
    data = model if isinstance(model, bytes) else model.SerializeToString()
    with tempfile.TemporaryDirectory(prefix="graphnn-ort-") as d:
        with open(os.path.join(d, "model.onnx"), "wb") as f:
            f.write(data)
        np.savez(os.path.join(d, "feeds.npz"), **feeds)
        try:
            res = subprocess.run([sys.executable, "-c", _CHILD, d], capture_output=True, text=True, timeout=timeout,
                                 check=False)
        except subprocess.TimeoutExpired:
            raise GraphError(f"onnxruntime did not finish the parity run within {timeout:g} s") from None
        if res.returncode < 0:
            raise GraphError(f"onnxruntime crashed ({_signal_name(-res.returncode)}) running the model; graphnn "
                             "cannot compare its results")
        if res.returncode != 0:
            last = (res.stderr.strip().splitlines() or ["exit status " + str(res.returncode)])[-1]
            raise GraphError(f"onnxruntime failed running the model: {last}")
        with np.load(os.path.join(d, "outs.npz")) as z:
            return {k: z[k] for k in z.files}


def max_difference(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> tuple[float, float]:
    """(max absolute, max relative) difference over all outputs, relative meaning |a - b| / max(|b|, 1)
    (relative for large values, absolute below 1); NaN or inf in the same places count as equal."""
    abs_d = rel_d = 0.0
    for k in a:
        x, y = np.asarray(a[k], dtype=np.float64), np.asarray(b[k], dtype=np.float64)
        if x.shape != y.shape:
            return float("inf"), float("inf")
        both_nan = np.isnan(x) & np.isnan(y)
        same_inf = np.isinf(x) & (x == y)
        d = np.where(both_nan | same_inf, 0.0, np.abs(x - y))
        if d.size:
            abs_d = max(abs_d, float(np.nanmax(np.where(np.isnan(d), np.inf, d))))
            rel_d = max(rel_d, float(np.max(d / np.maximum(np.nan_to_num(np.abs(y)), 1.0))))
    return abs_d, rel_d
