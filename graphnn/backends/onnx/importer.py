"""The ONNX importer: a ModelProto becomes a graphnn Graph with named outputs. Initializers used as data
become parameters; those used as shapes or axes are read as constants. Unsupported ops are all listed at once.

Imports graphnn.ir only (and the onnx package).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

from ...ir import builder
from ...ir.errors import GraphError
from ...ir.graph import Graph, Provenance, Value
from ...ir.op_registry import registry
from ...ir.types import DTYPES
from .importer_ops import IMPORTERS, REQUIRES_OP


def _dtype(elem_type: int, what: str) -> str:
    try:
        name = helper.tensor_dtype_to_np_dtype(elem_type).name
    except Exception:  # noqa: BLE001 - an element type numpy cannot hold (string, bfloat16, ...)
        name = onnx.TensorProto.DataType.Name(elem_type).lower()
    if name not in DTYPES:
        raise GraphError(f"{what}: element type {name} is not one graphnn supports ({', '.join(DTYPES)})")
    return name


class Importer:
    """State of one import: tensor name -> graphnn Value, and the statically known tensors."""

    def __init__(self, model: onnx.ModelProto, g: Graph) -> None:
        self.model, self.g = model, g
        self.opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 1)
        self.vals: dict[str, Value] = {}
        self.static: dict[str, np.ndarray] = {}
        self.initializers = {t.name: t for t in model.graph.initializer}
        self.node_name = ""

    def const(self, name: str) -> np.ndarray | None:
        """The value of tensor `name` if it is known before running (an initializer or a Constant)."""
        if name in self.static:
            return self.static[name]
        if name in self.initializers:
            arr = numpy_helper.to_array(self.initializers[name])
            self.static[name] = arr
            return arr
        return None

    def need_const(self, name: str, what: str) -> np.ndarray:
        arr = self.const(name)
        if arr is None:
            raise GraphError(f"node {self.node_name}: {what} ({name}) must be a constant or an initializer; "
                             "graphnn needs shapes and axes when the graph is built")
        return arr

    def value(self, name: str) -> Value:
        """The graphnn value of tensor `name`; an initializer becomes a parameter on first use as data."""
        if name in self.vals:
            return self.vals[name]
        if name in self.initializers:
            arr = self.const(name)
            assert arr is not None
            dt = _dtype(self.initializers[name].data_type, f"initializer {name}")
            self.g.names.discard(name)  # reserved in load() so that no auto-named value takes it
            v = builder.param(name, arr.shape, dt, init=arr, trainable=dt.startswith("float"))
        elif name in self.static:
            v = builder.constant(self.static[name], name=name, graph=Graph.current() or self.g)
        else:
            raise GraphError(f"node {self.node_name} reads {name!r}, which no input, initializer or node defines")
        self.vals[name] = v
        return v

    def op(self, op: str, inputs: list[Any], attrs: dict | None = None, out: str | None = None) -> Value:
        """Apply a graphnn op; the last op of a node is named after the ONNX output it defines."""
        return builder.apply1(op, inputs, attrs or {}, name=out)


def unsupported_ops(graph: onnx.GraphProto) -> list[str]:
    """'OpType (node name)' for every node graphnn cannot express, subgraphs included."""
    reg = registry()
    bad = []
    for i, n in enumerate(graph.node):
        ok = n.domain in ("", "ai.onnx") and n.op_type in IMPORTERS
        if ok and n.op_type in REQUIRES_OP and REQUIRES_OP[n.op_type] not in reg:
            ok = False
        if not ok:
            bad.append(f"{n.op_type} ({n.name or f'node #{i}'})")
        for a in n.attribute:
            if a.type == onnx.AttributeProto.GRAPH:
                bad += unsupported_ops(a.g)
    return bad


def import_nodes(imp: Importer, nodes: Any) -> None:
    """Translate ONNX nodes in order, recording each output as a graphnn value or a static array."""
    for i, n in enumerate(nodes):
        imp.node_name = n.name or f"node #{i}"
        attrs = {a.name: helper.get_attribute_value(a) for a in n.attribute}
        loc = f"onnx node {imp.node_name} ({n.op_type})"
        g = Graph.current() or imp.g
        with g.building(prov=Provenance(frozenset({loc}))):
            try:
                outs = IMPORTERS[n.op_type](imp, n, attrs)
            except GraphError:
                raise
            except Exception as ex:  # noqa: BLE001 - type errors etc. name the ONNX node too
                raise type(ex)(f"importing ONNX node {imp.node_name} ({n.op_type}): {ex}") from None
        for oname, v in zip(n.output, outs):
            if oname and v is not None:
                if isinstance(v, np.ndarray):
                    imp.static[oname] = v
                else:
                    imp.vals[oname] = v


def branch_importer(parent: Importer) -> Importer:
    """An importer for a subgraph (If branch): it sees the outer scope's values and constants."""
    child = Importer(parent.model, parent.g)
    child.opset, child.vals, child.static = parent.opset, dict(parent.vals), dict(parent.static)
    child.initializers = dict(parent.initializers)
    return child


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
        imp = Importer(model, g)
        g.names.update(imp.initializers)
        imp.static.update({k: np.asarray(v) for k, v in (static_inputs or {}).items()})
        for vi in model.graph.input:
            if vi.name in imp.initializers:
                continue  # IR < 4 lists initializers among the inputs
            tt = vi.type.tensor_type
            shape = [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in tt.shape.dim]
            imp.vals[vi.name] = builder.input(vi.name, shape, _dtype(tt.elem_type, f"input {vi.name}"))
        import_nodes(imp, model.graph.node)
        for o in model.graph.output:
            g.output(o.name, imp.value(o.name))
    return g
