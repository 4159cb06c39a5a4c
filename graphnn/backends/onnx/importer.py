"""The ONNX importer driver: a ModelProto becomes a graphnn Graph with named outputs. Initializers used as data
become parameters; those used as shapes or axes are read as constants. Unsupported ops are all listed at once.
The per-op rows are in the family modules. Imports graphnn.ir and the onnx room (and the onnx package).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import onnx

from ...ir import builder
from ...ir.errors import GraphError
from ...ir.graph import Graph
from . import IMPORTERS
from .import_context import Importer, elem_dtype


def unsupported_ops(graph: onnx.GraphProto) -> list[str]:
    """'OpType (node name)' for every node graphnn cannot express, subgraphs included."""
    bad = []
    for i, n in enumerate(graph.node):
        if not (n.domain in ("", "ai.onnx") and n.op_type in IMPORTERS):
            bad.append(f"{n.op_type} ({n.name or f'node #{i}'})")
        for a in n.attribute:
            if a.type == onnx.AttributeProto.GRAPH:
                bad += unsupported_ops(a.g)
    return bad


def load(path_or_model: Any, name: str | None = None, static_inputs: dict[str, np.ndarray] | None = None) -> Graph:
    """An ONNX model (path, bytes or ModelProto) as a graphnn Graph whose `outputs` are the model's outputs.
    `static_inputs` gives values for inputs that feed shapes or axes (the graph is specialized on them)."""
    if isinstance(path_or_model, onnx.ModelProto):
        model = path_or_model
    elif isinstance(path_or_model, (bytes, bytearray)):
        model = onnx.load_from_string(bytes(path_or_model))
    else:
        model = onnx.load(os.fspath(path_or_model))
    bad = unsupported_ops(model.graph)
    if bad:
        raise GraphError(f"cannot import ONNX model {model.graph.name!r}: {len(bad)} node(s) use ops graphnn "
                         f"cannot express: {', '.join(bad)}")
    g = Graph(name or model.graph.name or "onnx")
    with g:
        imp = Importer(model, g, IMPORTERS)
        g.names.update(imp.initializers)
        imp.static.update({k: np.asarray(v) for k, v in (static_inputs or {}).items()})
        for vi in model.graph.input:
            if vi.name in imp.initializers:
                continue  # IR < 4 lists initializers among the inputs
            tt = vi.type.tensor_type
            shape = [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in tt.shape.dim]
            imp.vals[vi.name] = builder.input(vi.name, shape, elem_dtype(tt.elem_type, f"input {vi.name}"))
        imp.import_nodes(model.graph.node)
        for o in model.graph.output:
            g.output(o.name, imp.value(o.name))
    return g
