"""The lowering context: emits ONNX nodes and initializers for one graphnn graph, naming tensors and dims;
the `Lowering` record and the per-family lowering table. Imports graphnn.ir and backends/table.py (and onnx).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from onnx import NodeProto, TensorProto, helper, numpy_helper

from ...ir.errors import GraphError
from ...ir.graph import Graph, Node, Value
from ...ir.types import Dim, DimProduct, dim_symbols, is_anonymous
from ..table import Table

INT64_MAX = int(np.iinfo(np.int64).max)
INT64_MIN = int(np.iinfo(np.int64).min)
MIN_OPSET = 13  # every lowering emits the opset-13 forms (Squeeze/Unsqueeze axes inputs, per-axis Softmax)

# A lowering emits ONNX nodes for one graphnn node: (emitter, node, input names, output names) -> None.
LowerFn = Callable[["Emitter", Node, list, list], None]


@dataclass(frozen=True)
class Lowering:
    """How one graphnn op becomes ONNX: the ONNX op types it emits (for the docs) and the minimum opset."""

    onnx_ops: str
    fn: LowerFn
    min_opset: int = MIN_OPSET


def lowering_table(family: str) -> Table[Lowering]:
    """A family's lowering table, filled with `@LOWERINGS.register(op, onnx_ops=..., min_opset=...)`."""
    return Table(f"ONNX lowerings ({family})", make=_make_lowering)


def _make_lowering(fn: LowerFn, onnx_ops: str, min_opset: int = MIN_OPSET) -> Lowering:
    return Lowering(onnx_ops, fn, min_opset)


def register_direct(table: Table[Lowering], ops: dict[str, str]) -> None:
    """Register graphnn op -> ONNX op lowerings that pass the inputs through unchanged, with no attributes."""
    def direct(onnx_op: str) -> LowerFn:
        def lower(e: Emitter, n: Any, ins: list, outs: list) -> None:
            e.emit(onnx_op, ins, outs)
        return lower

    for op, onnx_op in ops.items():
        table.register(op, onnx_ops=onnx_op)(direct(onnx_op))


def onnx_dtype(dtype: str) -> int:
    """The TensorProto element type of a graphnn dtype name."""
    return helper.np_dtype_to_tensor_dtype(np.dtype(dtype))


def dim_names(g: Graph) -> dict[str, str]:
    """Symbolic dim -> ONNX dim_param. Named dims keep their name; an anonymous dim (`?3`) is called
    `batch` if it is the leading dim of an input (the first such; later ones `batch_1`, ...), otherwise
    `<input>_dim<axis>` after the first input axis where it appears, so Netron shows where it comes from."""
    taken = {g.canon_dim(d) for v in g.values() for d in v.type.shape if isinstance(d, str) and not is_anonymous(d)}
    out: dict[str, str] = {}

    def claim(base: str) -> str:
        name, i = base, 1
        while name in taken:
            name, i = f"{base}_{i}", i + 1
        taken.add(name)
        return name

    for v in g.inputs:
        for ax, d in enumerate(v.type.shape):
            if isinstance(d, str) and not isinstance(d, DimProduct) and d not in out:
                out[d] = d if not is_anonymous(d) else claim("batch" if ax == 0 else f"{v.name}_dim{ax}")
    products = []
    for v in g.values():
        for d in v.type.shape:
            for s in dim_symbols(d):
                if s not in out:
                    out[s] = s if not is_anonymous(s) else claim("dim")
            if isinstance(d, DimProduct):
                products.append(d)
    for d in products:  # a product is written as the product of its factors' names: `batch*12`
        out[d] = "*".join([out[s] for s in d.symbols] + ([str(d.factor)] if d.factor != 1 else []))
    return out


class Emitter:
    """Collects ONNX nodes, initializers and fresh names while each graphnn node is lowered."""

    def __init__(self, g: Graph, opset: int, names: dict[int, str], dims: dict[str, str],
                 lowerings: Mapping[str, Lowering]) -> None:
        self.g, self.opset, self.names, self.dims = g, opset, names, dims
        self.lowerings = lowerings  # the full table: a cond branch may hold any op
        self.nodes: list[NodeProto] = []
        self.initializers: list[TensorProto] = []
        self.used: set[str] = set(names.values())
        self.current: Node | None = None
        self._consts: dict[tuple, str] = {}
        self._dim_tensors: dict[str, str] = {}
        self._node_names: set[str] = set()

    def fresh(self, hint: str) -> str:
        base = (self.current.name + "/" if self.current is not None else "") + hint
        name, i = base, 1
        while name in self.used:
            name, i = f"{base}_{i}", i + 1
        self.used.add(name)
        return name

    def name(self, v: Value) -> str:
        return self.names[v.id]

    def emit(self, op_type: str, inputs: Sequence[str], outputs: Sequence[str] | int = 1, **attrs: Any) -> list[str]:
        """Add one ONNX node; `outputs` is a list of names or a count of fresh ones. Returns output names."""
        outs = [self.fresh(op_type.lower()) for _ in range(outputs)] if isinstance(outputs, int) else list(outputs)
        cur = self.current
        nname = cur.name if cur is not None else op_type
        node = helper.make_node(op_type, list(inputs), outs, name=self._unique_node_name(nname, op_type), **attrs)
        if cur is not None:
            locs = sorted(cur.prov.locations)
            node.doc_string = (", ".join(locs) if locs else "<unknown>") + f" (graphnn {cur.op} {cur.name})"
        self.nodes.append(node)
        return outs

    def _unique_node_name(self, base: str, op_type: str) -> str:
        taken = self._node_names
        name = base if base not in taken else f"{base}/{op_type}"
        i = 1
        while name in taken:
            name, i = f"{base}/{op_type}_{i}", i + 1
        taken.add(name)
        return name

    def const(self, value: Any, dtype: str, hint: str = "const") -> str:
        """A Constant node holding `value` (deduplicated by dtype, shape and bytes); initializers are kept
        for parameters and state, so an importer can tell trained values from literals."""
        arr = np.asarray(value, dtype=dtype)
        key = (arr.dtype.str, arr.shape, arr.tobytes())
        if key not in self._consts:
            saved, self.current = self.current, None  # shared by later nodes: not one node's doing
            self._consts[key] = self.emit("Constant", [], [self.fresh(hint)], value=numpy_helper.from_array(arr))[0]
            self.current = saved
        return self._consts[key]

    def i64(self, values: Sequence[int], hint: str = "shape") -> str:
        return self.const(np.asarray(list(values), dtype=np.int64), "int64", hint)

    def scalar_like(self, x: float, v: Value, hint: str = "scalar") -> str:
        return self.const(np.asarray(x, dtype=v.dtype), v.dtype, hint)

    # ---- symbolic shapes --------------------------------------------------------------
    def dim_tensor(self, d: str) -> str:
        """An int64[1] tensor holding the runtime size of symbolic dim `d`, read from a graph input."""
        d = self.g.canon_dim(d)  # type: ignore[assignment]
        if d in self._dim_tensors:
            return self._dim_tensors[d]
        if isinstance(d, DimProduct):  # the runtime product of its factors
            saved, self.current = self.current, None
            out = self.dim_tensor(d.symbols[0])
            for s in d.symbols[1:]:
                out = self.emit("Mul", [out, self.dim_tensor(s)])[0]
            if d.factor != 1:
                out = self.emit("Mul", [out, self.i64([d.factor])])[0]
            self.current = saved
            self._dim_tensors[d] = out
            return out
        for v in self.g.inputs:
            for ax, vd in enumerate(v.type.shape):
                if vd == d:
                    saved, self.current = self.current, None
                    shp = self.emit("Shape", [self.name(v)], [self.fresh(f"{v.name}/shape")])[0]
                    out = self.emit("Gather", [shp, self.i64([ax], "axis")], [self.fresh(f"dim_{self.dims[d]}")],
                                    axis=0)[0]
                    self.current = saved
                    self._dim_tensors[d] = out
                    return out
        raise GraphError(f"symbolic dim {d!r} does not appear in any graph input, so ONNX cannot compute it")

    def shape_tensor(self, dims: Sequence[Dim]) -> str:
        """A 1-D int64 tensor for `dims`: a constant when static, else a Concat of constant and runtime pieces."""
        if all(isinstance(d, int) for d in dims):
            return self.i64(dims)  # type: ignore[arg-type]
        pieces: list[str] = []
        run: list[int] = []
        for d in dims:
            if isinstance(d, int):
                run.append(d)
                continue
            if run:
                pieces.append(self.i64(run))
                run = []
            pieces.append(self.dim_tensor(d))
        if run:
            pieces.append(self.i64(run))
        return self.emit("Concat", pieces, axis=0)[0]

    # ---- reductions (axes became an input in opset 13 for ReduceSum, 18 for the rest) -------------
    def reduce(self, op_type: str, x: str, axes: Sequence[int], keepdims: bool, outputs: Sequence[str] | int = 1) -> str:
        if not axes:
            return self.emit("Identity", [x], outputs)[0]
        if op_type == "ReduceSum" or self.opset >= 18:
            return self.emit(op_type, [x, self.i64(axes, "axes")], outputs, keepdims=int(keepdims))[0]
        return self.emit(op_type, [x], outputs, axes=list(axes), keepdims=int(keepdims))[0]
