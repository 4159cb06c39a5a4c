"""The import context: the state of one ONNX import (tensor name -> graphnn Value, statically known tensors),
the node-by-node driver every importer row and subgraph uses, and the per-family importer table.

Imports graphnn.ir and backends/table.py (and the onnx package).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import nullcontext
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

from ...ir import builder
from ...ir.errors import GraphError, GraphnnError
from ...ir.graph import Graph, Provenance, Value
from ..table import Table
from .model_checks import elem_dtype

# An importer builds graphnn ops for one ONNX node: (context, NodeProto, attributes) -> one entry per output
# (a graphnn Value, a NumPy array for a statically known tensor, or None for an unused output).
ImportFn = Callable[["Importer", Any, dict], list]


def importer_table(family: str) -> Table[ImportFn]:
    """A family's import table, keyed by ONNX op type, filled with `@IMPORTERS.register("OpType", ...)`."""
    return Table(f"ONNX importers ({family})")


class Importer:
    """State of one import: tensor name -> graphnn Value, and the statically known tensors."""

    def __init__(self, model: onnx.ModelProto, g: Graph, importers: Mapping[str, ImportFn],
                 folder: Callable[[Importer, Any, dict], list | None] | None = None) -> None:
        self.model, self.g, self.importers, self.folder = model, g, importers, folder
        self.used: set[str] = read_tensors(model.graph)  # tensors something reads: other outputs may be dropped
        self.problems: list[GraphnnError] | None = None  # when a list, node errors are collected here, not raised
        self.poisoned: set[str] = set()  # outputs of nodes that failed: their readers are skipped
        self.opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 1)
        self.vals: dict[str, Value] = {}
        self.static: dict[str, np.ndarray] = {}
        self.initializers = {t.name: t for t in model.graph.initializer}
        self.node_name = ""
        self.producers: dict[str, str] = {}  # tensor name -> "node (OpType)" that defined it, for messages

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
            dt = elem_dtype(self.initializers[name].data_type, f"initializer {name}")
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

    def import_nodes(self, nodes: Any) -> None:
        """Translate ONNX nodes in order, recording each output as a graphnn value or a static array."""
        for i, n in enumerate(nodes):
            self.node_name = n.name or f"#{i}"
            unsupported = n.op_type not in self.importers or n.domain not in ("", "ai.onnx")
            if unsupported or any(x in self.poisoned for x in n.input if x):
                self.poisoned.update(n.output)  # listed by the caller (an unsupported op) or downstream of one
                continue
            if any(o and o not in self.used for o in n.output[1:]):
                n = unread_outputs_dropped(n, self.used)
            attrs = {a.name: helper.get_attribute_value(a) for a in n.attribute}
            loc = f"onnx node {self.node_name} ({n.op_type})"
            g = Graph.current() or self.g
            scope = module_scope(n.name)
            with g.building(prov=Provenance(frozenset({loc}))), (g.name_scope(scope) if scope else nullcontext()):
                try:
                    outs = self.folder(self, n, attrs) if self.folder is not None else None
                    if outs is None:
                        outs = self.importers[n.op_type](self, n, attrs)
                except GraphnnError as ex:  # one line, naming the ONNX node (builder errors name the graphnn op)
                    err: GraphnnError = type(ex)(f"node {self.node_name} ({n.op_type}): {one_line(ex)}")
                except Exception as ex:  # noqa: BLE001 - an importer row tripped on input it did not expect
                    err = GraphError(f"node {self.node_name} ({n.op_type}): {type(ex).__name__}: {one_line(ex)}")
                else:
                    err = None
            if err is not None:
                if self.problems is None:
                    raise err from None
                self.problems.append(err)
                self.poisoned.update(n.output)
                continue
            for oname, v in zip(n.output, outs):
                self.producers[oname] = f"{self.node_name} ({n.op_type})"
                if oname and v is not None:
                    if isinstance(v, np.ndarray):
                        self.static[oname] = v
                    else:
                        self.vals[oname] = v

    def branch(self) -> Importer:
        """An importer for a subgraph (If branch): it sees the outer scope's values and constants."""
        child = Importer(self.model, self.g, self.importers, self.folder)
        child.opset, child.vals, child.static = self.opset, dict(self.vals), dict(self.static)
        child.initializers = dict(self.initializers)
        return child


def unread_outputs_dropped(n: Any, used: set[str]) -> Any:
    """A copy of node `n` whose optional outputs nobody reads (Dropout's mask, MaxPool's Indices, BatchNorm's
    training statistics) have empty names, as if the exporter had left them out."""
    m = onnx.NodeProto()
    m.CopyFrom(n)
    for i in range(1, len(m.output)):
        if m.output[i] not in used:
            m.output[i] = ""
    while len(m.output) > 1 and not m.output[-1]:
        m.output.pop()
    return m


def read_tensors(graph: Any) -> set[str]:
    """Names of the tensors some node (subgraphs included) or a graph output reads."""
    names = {o.name for o in graph.output}
    for n in graph.node:
        names.update(i for i in n.input if i)
        for a in n.attribute:
            if a.type == onnx.AttributeProto.GRAPH:
                names |= read_tensors(a.g)
            elif a.type == onnx.AttributeProto.GRAPHS:
                for sub in a.graphs:
                    names |= read_tensors(sub)
    return names


def one_line(ex: BaseException) -> str:
    """An error message on one line (builder errors add indented detail lines)."""
    return "; ".join(line.strip() for line in str(ex).splitlines() if line.strip())


def check_axis(n: Any, axis: int, rank: int, what: str = "axis", end: bool = False) -> int:
    """`axis` normalized to [0, rank) ([0, rank] with `end`); out of range is an error, never wrapped."""
    hi = rank + 1 if end else rank
    if not -rank <= axis < hi:
        raise GraphError(f"{what} {axis} is out of range for a rank-{rank} input ({-rank}..{hi - 1})")
    return axis + rank if axis < 0 else axis


def check_axes(n: Any, axes: list[int], rank: int, what: str = "axes") -> list[int]:
    """Each axis checked against `rank` and normalized; a repeated axis is an error."""
    out = [check_axis(n, int(a), rank, what) for a in axes]
    if len(set(out)) != len(out):
        raise GraphError(f"{what} {list(axes)} repeat an axis")
    return out


def inputs(imp: Importer, n: Any) -> list[Value]:
    """The graphnn values of a node's present (non-empty) inputs."""
    return [imp.value(i) for i in n.input if i]


def axes_arg(imp: Importer, n: Any, attrs: dict, input_index: int) -> list[int] | None:
    """Axes from the `axes` attribute (older opsets) or from a constant input (newer ones); None if absent."""
    if "axes" in attrs:
        return list(attrs["axes"])
    if len(n.input) > input_index and n.input[input_index]:
        return [int(a) for a in imp.need_const(n.input[input_index], "axes")]
    return None


def module_scope(node_name: str) -> str:
    """The module path PyTorch's TorchScript exporter writes into node names ("/layer1/layer1.0/conv1/Conv" ->
    "layer1/layer1.0/conv1"), so an imported model's nodes group by layer in the viewer; "" for other names."""
    parts = node_name.split("/")
    return "/".join(p for p in parts[1:-1] if p) if node_name.startswith("/") else ""
