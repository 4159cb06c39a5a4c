"""The ONNX importer driver: a ModelProto becomes a graphnn Graph with named outputs. Initializers used as data
become parameters; those used as shapes or axes are read as constants. Unsupported ops are all listed at once.
The per-op rows are in the family modules. Imports graphnn.ir and the onnx room (and the onnx package).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import onnx
from onnx.external_data_helper import load_external_data_for_model

from ...ir import builder
from ...ir.errors import GraphError, GraphnnError
from ...ir.graph import Graph, Value
from . import IMPORTERS
from .import_context import Importer, one_line
from .model_checks import check_graph, elem_dtype
from .shape_folding import FOLDERS, fold, fold_only

# Ops graphnn evaluates only at import, on known inputs (shape arithmetic): importable when their inputs are known.
ROWS = {**IMPORTERS, **{t: fold_only for t in FOLDERS if t not in IMPORTERS}}


def unsupported_ops(graph: onnx.GraphProto) -> list[str]:
    """'OpType (node name)' for every node graphnn cannot express, subgraphs included."""
    bad = []
    for i, n in enumerate(graph.node):
        if not (n.domain in ("", "ai.onnx") and n.op_type in ROWS):
            bad.append(f"{n.op_type} ({n.name or f'node #{i}'})")
        for a in n.attribute:
            if a.type == onnx.AttributeProto.GRAPH:
                bad += unsupported_ops(a.g)
    return bad


def parse_model(path_or_model: Any) -> tuple[onnx.ModelProto, str]:
    """The ModelProto and how to name its source in messages (the file, or the model's graph name)."""
    if isinstance(path_or_model, onnx.ModelProto):
        return path_or_model, f"ONNX model {path_or_model.graph.name!r}"
    if isinstance(path_or_model, (bytes, bytearray, memoryview)):
        data, source = bytes(path_or_model), "ONNX model bytes"
    elif isinstance(path_or_model, (str, os.PathLike)):
        source = os.fspath(path_or_model)
        try:
            with open(source, "rb") as f:
                data = f.read()
        except OSError as e:
            raise GraphError(f"{source}: cannot read: {e.strerror or e}") from None
    else:
        raise GraphError(f"gn.onnx.load takes a path, bytes or an onnx.ModelProto, not {type(path_or_model).__name__}")
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except Exception:  # noqa: BLE001 - protobuf's DecodeError (and friends) on bytes that are not a model
        raise GraphError(f"{source}: not an ONNX model (the protobuf does not decode)") from None
    if not model.HasField("graph"):
        raise GraphError(f"{source}: not an ONNX model (it has no graph)")
    if not isinstance(path_or_model, (bytes, bytearray, memoryview)) and any(
            t.data_location == onnx.TensorProto.EXTERNAL for t in model.graph.initializer):
        try:  # the external files sit beside the model; their sizes are checked like inline data afterwards
            load_external_data_for_model(model, os.path.dirname(os.path.abspath(source)))
        except Exception as e:  # noqa: BLE001 - missing or unreadable external data files
            raise GraphError(f"{source}: cannot read external data: {e}") from None
    return model, source


def load(path_or_model: Any, name: str | None = None, static_inputs: dict[str, np.ndarray] | None = None) -> Graph:
    """An ONNX model (path, bytes or ModelProto) as a graphnn Graph whose `outputs` are the model's outputs.
    `static_inputs` gives values for inputs that feed shapes or axes (the graph is specialized on them).
    Anything wrong with the model is a graphnn error, one line naming the file and the node."""
    model, source = parse_model(path_or_model)
    return import_model(model, source, name, static_inputs)


def import_model(model: onnx.ModelProto, source: str, name: str | None = None,
                 static_inputs: dict[str, np.ndarray] | None = None) -> Graph:
    """A parsed model as a graphnn Graph; every failure is a one-line graphnn error starting with `source`."""
    try:
        return _import(model, name, static_inputs)
    except GraphnnError as e:
        raise type(e)(f"{source}: {one_line(e)}") from None
    except RecursionError:
        raise GraphError(f"{source}: subgraphs nested too deeply") from None
    except Exception as e:  # noqa: BLE001 - the importer's promise: nothing but graphnn errors leaves it
        raise GraphError(f"{source}: {type(e).__name__}: {one_line(e)}") from None


def _import(model: onnx.ModelProto, name: str | None, static_inputs: dict[str, np.ndarray] | None) -> Graph:
    bad = unsupported_ops(model.graph)
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 1)
    if not 1 <= opset <= onnx.defs.onnx_opset_version():
        raise GraphError(f"opset {opset} is not an ONNX opset (1..{onnx.defs.onnx_opset_version()})")
    check_graph(model.graph, opset, importable=lambda n: n.domain in ("", "ai.onnx") and n.op_type in ROWS)
    g = Graph(name or model.graph.name or "onnx")
    with g:
        imp = Importer(model, g, ROWS, fold)
        imp.problems = []
        g.names.update(imp.initializers)
        imp.static.update({k: np.asarray(v) for k, v in (static_inputs or {}).items()})
        for vi in model.graph.input:
            if vi.name in imp.initializers:
                continue  # IR < 4 lists initializers among the inputs
            tt = vi.type.tensor_type
            shape = [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in tt.shape.dim]
            imp.vals[vi.name] = builder.input(vi.name, shape, elem_dtype(tt.elem_type, f"input {vi.name!r}"))
        imp.import_nodes(model.graph.node)
        if len(imp.problems) == 1 and not bad:
            raise imp.problems[0]
        if bad or imp.problems:
            raise GraphError(_problems(model, bad, [str(p) for p in imp.problems]))
        for o in model.graph.output:
            v = imp.value(o.name)
            check_declared_type(o, v, imp.producers.get(o.name, "a graph input or initializer"))
            g.output(o.name, v)
    return g


def _problems(model: onnx.ModelProto, bad: list[str], problems: list[str]) -> str:
    """Every reason the model does not import, in one message: the unsupported op types, then each node whose
    attributes or inputs graphnn refuses (nodes that read an unimportable node's outputs are not checked)."""
    parts = []
    if bad:
        parts.append(f"{len(bad)} node(s) use ops graphnn cannot express: {', '.join(bad)}")
    if problems:
        parts.append(f"{len(problems)} node(s) cannot be imported as written: " + "; ".join(problems))
    return "cannot import: " + " | ".join(parts)


def check_declared_type(vi: Any, v: Value, producer: str) -> None:
    """A declared output type may leave dims unknown, but must not contradict what graphnn infers."""
    if not vi.HasField("type"):
        return
    tt = vi.type.tensor_type
    declared = elem_dtype(tt.elem_type, f"output {vi.name!r}") if tt.elem_type else v.dtype
    dims = [d.dim_value if d.HasField("dim_value") else None for d in tt.shape.dim]
    clash = declared != v.dtype or (tt.HasField("shape") and (len(dims) != v.ndim or any(
        isinstance(a, int) and isinstance(b, int) and a != b for a, b in zip(dims, v.shape))))
    if clash:
        shown = "[" + ", ".join("?" if d is None else str(d) for d in dims) + "]" if tt.HasField("shape") else ""
        raise GraphError(f"output {vi.name!r} is declared {declared}{shown}, but node {producer} computes {v.type}")
