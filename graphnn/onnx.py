"""`gn.onnx`: export graphs to ONNX and load ONNX models as graphs (user-level entry points; the lowering
table, preflight, importer and backend adapter live in graphnn/backends/onnx/).

A user-level library: may import anything in graphnn.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import compiler
from .backends.onnx import IMPORTERS, LOWERINGS, NOT_IMPORTED, UNSUPPORTED
from .backends.onnx.exporter import DEFAULT_OPSET, ExportReport, check_model, export_graph, to_model
from .backends.onnx.import_context import one_line
from .backends.onnx.importer import import_model, load, parse_model
from .backends.onnx.parity import max_difference, random_feeds, run_graph, run_onnxruntime_isolated
from .backends.onnx.preflight import PreflightReport
from .backends.onnx.preflight import preflight as _preflight
from .compiler import compile as gn_compile
from .ir.errors import GraphnnError
from .ir.graph import Graph

__all__ = [
    "DEFAULT_OPSET",
    "IMPORTERS",
    "LOWERINGS",
    "NOT_IMPORTED",
    "UNSUPPORTED",
    "ExportReport",
    "PreflightReport",
    "check",
    "check_model",
    "export",
    "load",
    "preflight",
    "prepare",
    "to_model",
]


def prepare(g: Graph, outputs: Any = None) -> Graph:
    """`g` copied, restricted to `outputs` (default: its named outputs) and run through the eval-mode
    export pipeline: the graph the exporter lowers."""
    _, opt, _ = compiler.prepare(g, outputs, None, target="export", mode="eval", caller=None)
    # A deployed model takes only what its outputs need: labels of a training graph, unused parameters and
    # constants are left out (the graph's other values stay as they are).
    used = {v.id for n in opt.nodes for v in n.inputs} | {v.id for v in opt.outputs.values()}
    opt.inputs = [v for v in opt.inputs if v.id in used]
    opt.params = [v for v in opt.params if v.id in used]
    opt.state = [v for v in opt.state if v.id in used]
    opt.const_values = [v for v in opt.const_values if v.id in used]
    return opt


def preflight(g: Graph, outputs: Any = None, opset: int = DEFAULT_OPSET, *, allow_training_ops: bool = False,
              allow_fixed_dims: bool = False) -> PreflightReport:
    """The preflight report of exporting `g`'s `outputs` at `opset`, without writing anything."""
    return _preflight(prepare(g, outputs), opset, allow_training_ops=allow_training_ops,
                      allow_fixed_dims=allow_fixed_dims)


def export(g: Graph, path: Any = None, outputs: Any = None, opset: int = DEFAULT_OPSET, *,
           allow_training_ops: bool = False, allow_fixed_dims: bool = False, check_parity: bool = True,
           verbose: bool = False) -> ExportReport:
    """Write `g`'s `outputs` as an eval-mode ONNX model at `path` (None: build and check only); returns the
    report (preflight, checks, parity vs onnxruntime). Refuses with gn.GraphError; the preflight table is in its message."""
    return export_graph(prepare(g, outputs), None if path is None else str(path), opset=opset,
                        allow_training_ops=allow_training_ops, allow_fixed_dims=allow_fixed_dims,
                        check_parity=check_parity, verbose=verbose)


def check(path_or_model: Any, sizes: tuple[int, ...] = (2, 5), backend: str = "numpy") -> dict[str, Any]:
    """Validate an ONNX model (onnx.checker with full_check, before onnxruntime sees it), import it, and run it on
    graphnn (on `backend`) and on onnxruntime (in a child process, so a crash there is a GraphError) with random
    inputs; returns {"checks": [...], "parity": {size: (max abs, max rel)}, "graph": Graph}."""
    model, source = parse_model(path_or_model)
    try:
        checks = check_model(model)
    except GraphnnError as e:
        raise type(e)(f"{source}: {one_line(e)}") from None
    g = import_model(model, source)
    run = run_graph
    if backend != "numpy":
        fn = gn_compile(g, outputs=dict(g.outputs), backend=backend, mode="eval", host_outputs=True)
        run = lambda _, feeds: {k: np.asarray(v) for k, v in fn(**feeds).items()}
    res = {}
    for size in sizes:
        feeds = random_feeds(g, size, seed=size)
        res[size] = max_difference(run(g, feeds), run_onnxruntime_isolated(model, feeds))
        if all(isinstance(d, int) for v in g.inputs for d in v.type.shape):
            break  # a static model gives the same run for every size
    return {"checks": checks, "parity": res, "graph": g}
