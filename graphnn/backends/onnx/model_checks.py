"""Checks on an ONNX model's structure before anything is imported: each node against its ONNX schema (input
and output counts, required inputs, attribute names and types), tensor sizes against their declared dims (before
any array is made), one definition per tensor name, and value types graphnn can hold.

Imports graphnn.ir only (and the onnx package).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import onnx
from onnx import AttributeProto, TensorProto, helper

from ...ir.errors import GraphError
from ...ir.types import DTYPES

# Where TensorProto keeps the values of each element type when raw_data is not used.
_FIELD = {TensorProto.FLOAT: "float_data", TensorProto.DOUBLE: "double_data", TensorProto.INT64: "int64_data",
          TensorProto.UINT64: "uint64_data", TensorProto.UINT32: "uint64_data"}
_OPTIONAL = onnx.defs.OpSchema.FormalParameterOption.Optional
_VARIADIC = onnx.defs.OpSchema.FormalParameterOption.Variadic


def type_name(elem_type: int) -> str:
    """The name of an ONNX element type, also for numbers outside the enum."""
    try:
        return TensorProto.DataType.Name(elem_type).lower()
    except ValueError:
        return f"#{elem_type}"


def elem_dtype(elem_type: int, what: str) -> str:
    """The graphnn dtype of an ONNX element type; a graphnn error for one graphnn does not support."""
    try:
        name = helper.tensor_dtype_to_np_dtype(elem_type).name
    except Exception:  # noqa: BLE001 - an element type numpy cannot hold (string, bfloat16, unknown numbers)
        name = type_name(elem_type)
    if name not in DTYPES:
        raise GraphError(f"{what}: element type {type_name(elem_type)} is not one graphnn supports "
                         f"({', '.join(DTYPES)})")
    return name


def node_label(n: Any, i: int) -> str:
    return f"{n.name or f'#{i}'} ({n.op_type})"


def check_tensor(t: TensorProto, what: str) -> None:
    """The stored bytes or values of `t` are exactly what its dims and element type declare."""
    dt = elem_dtype(t.data_type, what)
    if any(d < 0 for d in t.dims):
        raise GraphError(f"{what}: negative dim in {list(t.dims)}")
    if t.data_location == TensorProto.EXTERNAL:
        raise GraphError(f"{what}: its data is in an external file that was not loaded")
    if t.HasField("segment"):
        raise GraphError(f"{what}: segmented tensors are not supported")
    n = math.prod(t.dims)
    if t.raw_data:
        want = n * np.dtype(dt).itemsize
        if len(t.raw_data) != want:
            raise GraphError(f"{what}: {len(t.raw_data)} bytes of data for dims {list(t.dims)} of {dt} ({want} bytes)")
        return
    have = len(getattr(t, _FIELD.get(t.data_type, "int32_data")))
    if have != n:
        raise GraphError(f"{what}: {have} values for dims {list(t.dims)} ({n} values)")


def check_value_info(vi: Any, what: str) -> None:
    """A declared type, if any, is a tensor type graphnn holds with no negative dim."""
    if not vi.HasField("type"):
        return  # undeclared: nothing to check (graph inputs need one, which the importer asks for)
    if not vi.type.HasField("tensor_type"):
        raise GraphError(f"{what}: only tensor types are supported, not {vi.type.WhichOneof('value') or 'no type'}")
    tt = vi.type.tensor_type
    if tt.elem_type or not what.startswith("output"):  # an output may leave its element type undeclared
        elem_dtype(tt.elem_type, what)
    dims = [d.dim_value for d in tt.shape.dim if d.HasField("dim_value")]
    if any(d < 0 for d in dims):
        raise GraphError(f"{what}: negative dim in its shape")


def check_node(n: Any, label: str, opset: int) -> None:
    """`n` against the ONNX schema of its op at `opset`: arity, required inputs, attribute names and types."""
    try:
        schema = onnx.defs.get_schema(n.op_type, opset, n.domain or "")
    except (onnx.defs.SchemaError, TypeError):  # TypeError: a name or domain that is not valid text
        raise GraphError(f"node {label}: no ONNX op {n.op_type!r} exists at opset {opset}") from None
    if not schema.min_input <= len(n.input) <= schema.max_input:
        raise GraphError(f"node {label}: {len(n.input)} inputs, ONNX {n.op_type}-{schema.since_version} takes "
                         f"{schema.min_input}..{schema.max_input}")
    if not schema.min_output <= len(n.output) <= schema.max_output:
        raise GraphError(f"node {label}: {len(n.output)} outputs, ONNX {n.op_type}-{schema.since_version} has "
                         f"{schema.min_output}..{schema.max_output}")
    for i, name in enumerate(n.input):
        formal = schema.inputs[min(i, len(schema.inputs) - 1)]
        if not name and formal.option != _OPTIONAL:
            kind = "variadic" if formal.option == _VARIADIC else "required"
            raise GraphError(f"node {label}: {kind} input #{i} ({formal.name}) has an empty name")
    seen: set[str] = set()
    for a in n.attribute:
        if a.name in seen:
            raise GraphError(f"node {label}: attribute {a.name!r} given twice")
        seen.add(a.name)
        want = schema.attributes.get(a.name)
        if want is None:
            raise GraphError(f"node {label}: unknown attribute {a.name!r} for ONNX {n.op_type}")
        if a.type != want.type:
            raise GraphError(f"node {label}: attribute {a.name!r} is {AttributeProto.AttributeType.Name(a.type)}, "
                             f"ONNX {n.op_type} wants {AttributeProto.AttributeType.Name(want.type)}")
        if a.type == AttributeProto.TENSOR:
            check_tensor(a.t, f"node {label}: attribute {a.name!r}")
    missing = [k for k, v in schema.attributes.items() if v.required and k not in seen]
    if missing:
        raise GraphError(f"node {label}: required attribute(s) {', '.join(missing)} missing")


def check_graph(graph: Any, opset: int, outer: frozenset[str] = frozenset(),
                importable: Callable[[Any], bool] | None = None) -> None:
    """Every tensor defined once and before use, every node valid for its schema, subgraphs included. Nodes
    that `importable` refuses skip the schema check: the importer lists them all as unsupported instead."""
    defined: set[str] = set()
    visible = set(outer)

    def define(name: str, what: str) -> None:
        if name in defined or name in outer:
            raise GraphError(f"{what} defines {name!r}, which is already defined")
        defined.add(name)
        visible.add(name)

    for t in graph.initializer:
        check_tensor(t, f"initializer {t.name!r}")
        define(t.name, f"initializer {t.name!r}")
    inits = {t.name for t in graph.initializer}
    for vi in graph.input:
        check_value_info(vi, f"input {vi.name!r}")
        if vi.name not in inits:  # IR < 4 lists initializers among the inputs
            define(vi.name, f"input {vi.name!r}")
    for i, n in enumerate(graph.node):
        label = node_label(n, i)
        if importable is None or importable(n):
            check_node(n, label, opset)
        for name in n.input:
            if name and name not in visible:
                raise GraphError(f"node {label} reads {name!r}, which no input, initializer or earlier node defines")
        for a in n.attribute:
            if a.type == AttributeProto.GRAPH:
                check_graph(a.g, opset, frozenset(visible), importable)
        for name in n.output:
            if name:
                define(name, f"node {label}")
    for vi in graph.output:
        check_value_info(vi, f"output {vi.name!r}")
        if vi.name not in visible:
            raise GraphError(f"output {vi.name!r} is not defined by any input, initializer or node")
