"""The ONNX exporter: preflight, lower an export-optimized graph to a ModelProto, check it (checker with
full_check, shape inference against graphnn's types), write it, and run a parity check on onnxruntime.

Imports graphnn.ir, the shared executor (for parity) and the onnx package.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

from ...ir.errors import GraphError
from ...ir.graph import Graph, Value
from . import LOWERINGS
from .emitter import Emitter, dim_names, onnx_dtype
from .parity import max_difference, random_feeds, run_graph, run_onnxruntime
from .preflight import Finding, PreflightReport, preflight

DEFAULT_OPSET = 17
PRODUCER_VERSION = "0.1.0"  # graphnn's version (backends may not import the top-level package)


@dataclass
class ExportReport:
    """What an export did: the preflight, the checks run on the written model, and the parity run."""

    preflight: PreflightReport
    path: str | None = None
    model: Any = None
    checks: list[str] = field(default_factory=list)
    parity: dict[int, tuple[float, float]] = field(default_factory=dict)  # size -> (max abs, max rel)

    @property
    def max_difference(self) -> float:
        return max((a for a, _ in self.parity.values()), default=0.0)

    def __str__(self) -> str:
        lines = [str(self.preflight)]
        lines += [f"  check: {c}" for c in self.checks]
        for size, (a, r) in self.parity.items():
            lines.append(f"  parity vs onnxruntime, symbolic dims = {size}: max abs diff {a:.3g}, max rel diff {r:.3g}")
        if self.path:
            lines.append(f"  wrote {self.path}")
        return "\n".join(lines)

    __repr__ = __str__


def _value_names(g: Graph) -> tuple[dict[int, str], list[tuple[str, Value]]]:
    """ONNX tensor names: graphnn value names, except that a node output exported under an output name
    takes that name (so the model's outputs are exactly `g.outputs`' keys). Returns the map and the outputs
    that need an Identity (inputs, params, or one value under two names)."""
    names = {v.id: v.name for v in g.values()}
    renamed: dict[int, str] = {}
    identities: list[tuple[str, Value]] = []
    for key, v in g.outputs.items():
        if v.kind == "node" and v.id not in renamed:
            renamed[v.id] = key
        elif names.get(v.id) != key or v.kind != "node":
            identities.append((key, v))
    taken = set(renamed.values()) | {k for k, _ in identities}
    for vid, nm in names.items():
        if vid in renamed:
            names[vid] = renamed[vid]
        elif nm in taken:  # an internal value already called like an output: rename the internal one
            i = 1
            while f"{nm}_{i}" in taken or f"{nm}_{i}" in names.values():
                i += 1
            names[vid] = f"{nm}_{i}"
    for key, v in list(identities):
        if names[v.id] == key:
            identities.remove((key, v))
    return names, identities


def _tensor_info(name: str, v: Value, dims: dict[str, str]) -> Any:
    shape = [d if isinstance(d, int) else dims[d] for d in v.type.shape]
    return helper.make_tensor_value_info(name, onnx_dtype(v.dtype), shape)


def _reads(node: Any) -> set[str]:
    """The tensor names a node reads, including those its subgraphs (If/Scan/Loop bodies) read from outside."""
    names = {i for i in node.input if i}
    for a in node.attribute:
        for sub in ([a.g] if a.HasField("g") else []) + list(a.graphs):
            inner = {i.name for i in sub.input} | {t.name for t in sub.initializer}
            for nd in sub.node:
                names |= _reads(nd) - inner
                inner |= set(nd.output)
    return names


def prune_dead(nodes: list, outputs: set[str]) -> list:
    """`nodes` without those whose outputs nothing reads (a lowering that folds its producers in leaves them)."""
    live, keep = set(outputs), []
    for nd in reversed(nodes):
        if any(o in live for o in nd.output):
            keep.append(nd)
            live |= _reads(nd)
    return keep[::-1]


def to_model(g: Graph, opset: int = DEFAULT_OPSET) -> onnx.ModelProto:
    """Lower `g` (optimized for export, with named outputs) to an ONNX ModelProto; no checks."""
    names, identities = _value_names(g)
    dims = dim_names(g)
    e = Emitter(g, opset, names, dims, LOWERINGS)
    inits = [numpy_helper.from_array(np.asarray(g.storage[v.name]), names[v.id]) for v in g.params + g.state]
    for v in g.const_values:  # literals become Constant nodes; initializers are the trained values only
        # The value's type is the truth about its shape (older builders stored 0-d constants as shape (1,)).
        arr = np.asarray(g.constants[v.id]).reshape(v.type.shape)
        e.emit("Constant", [], [names[v.id]], value=numpy_helper.from_array(arr))
    for n in g.nodes:
        e.current = n
        LOWERINGS[n.op].fn(e, n, [names[v.id] for v in n.inputs], [names[v.id] for v in n.outputs])
    e.current = None
    for key, v in identities:
        e.emit("Identity", [names[v.id]], [key])
    outputs = [_tensor_info(k, v, dims) for k, v in g.outputs.items()]
    out_names = set(g.outputs)
    nodes = prune_dead(e.nodes, out_names)
    made = {o for nd in nodes for o in nd.output}
    value_info = [_tensor_info(names[o.id], o, dims) for n in g.nodes for o in n.outputs
                  if names[o.id] not in out_names and names[o.id] in made]
    graph = helper.make_graph(nodes, g.name, [_tensor_info(names[v.id], v, dims) for v in g.inputs], outputs,
                              initializer=inits + e.initializers, value_info=value_info)
    opsets = [helper.make_opsetid("", opset)]
    model = helper.make_model(graph, opset_imports=opsets, producer_name="graphnn",
                              ir_version=helper.find_min_ir_version_for(opsets))
    model.producer_version = PRODUCER_VERSION
    anon = {k: v for k, v in dims.items() if k != v}
    if anon:
        helper.set_model_props(model, {"graphnn.dim_names": ", ".join(f"{v}={k}" for k, v in anon.items())})
    return model


def check_stability(model: onnx.ModelProto, rep: PreflightReport) -> None:
    """Warn about Log applied to a Sigmoid or Softmax output (the unstable compositions fusions avoid)."""
    producer = {o: n for n in model.graph.node for o in n.output}
    for n in model.graph.node:
        src = producer.get(n.input[0]) if n.op_type == "Log" and n.input else None
        if src is not None and src.op_type in ("Sigmoid", "Softmax"):
            rep.findings.append(Finding(
                "warning", "stability", f"Log({src.op_type}(...)) loses precision and overflows to -inf; "
                "fused losses (softmax_cross_entropy, sigmoid_binary_cross_entropy) avoid it",
                n.name, n.doc_string.split(" (graphnn")[0]))


def check_model(model: onnx.ModelProto, g: Graph | None = None) -> list[str]:
    """onnx.checker (full_check) and strict shape inference; with `g`, the inferred output types must equal
    graphnn's. Returns one line per check passed; raises GraphError on the first failure."""
    done = []
    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as ex:  # noqa: BLE001 - re-raised as a graphnn error with the checker's text
        raise GraphError(f"onnx.checker rejected the model: {ex}") from None
    done.append("onnx.checker.check_model(full_check=True): ok")
    bare = onnx.ModelProto()
    bare.CopyFrom(model)
    for o in bare.graph.output:  # forget the declared output shapes so inference has to derive them
        o.type.tensor_type.ClearField("shape")
    del bare.graph.value_info[:]
    try:
        inferred = onnx.shape_inference.infer_shapes(bare, check_type=True, strict_mode=True, data_prop=True)
    except Exception as ex:  # noqa: BLE001
        raise GraphError(f"onnx shape inference failed: {ex}") from None
    if g is not None:
        unknown: list[str] = []
        opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)
        dims = dim_names(g)
        for o in inferred.graph.output:
            v = g.outputs[o.name]
            tt = o.type.tensor_type
            got_dt = helper.tensor_dtype_to_np_dtype(tt.elem_type).name
            # Inference may leave a dim unknown (no value, or a made-up `unk__N`); it must never contradict.
            got = [d.dim_value if d.HasField("dim_value") else
                   ("?" if not d.dim_param or d.dim_param.startswith("unk__") else d.dim_param) for d in tt.shape.dim]
            want = [d if isinstance(d, int) else dims[d] for d in v.type.shape]
            ok_rank = tt.HasField("shape") and len(got) == len(want)
            ok_dims = ok_rank and all(a == b or (isinstance(b, str) and a == "?") for a, b in zip(got, want))
            if got_dt == v.dtype and not tt.HasField("shape") and opset < 14:
                # No shape at all is "unknown", not a contradiction: before opset 14, Reshape's inference does not
                # read a computed (Shape/Concat) target, so a reshape of several moved symbolic dims loses the rank.
                unknown.append(o.name)
                continue
            if got_dt != v.dtype or not ok_dims:
                raise GraphError(f"onnx shape inference gives output {o.name!r} type {got_dt}{got}, graphnn {v.type}")
        n_eq = len(g.outputs) - len(unknown)
        done.append(f"onnx.shape_inference: {n_eq} output type(s) equal graphnn's" +
                    (f"; shape of {', '.join(unknown)} left unknown (dtype agrees)" if unknown else ""))
    return done


def parity(g: Graph, model: onnx.ModelProto, sizes: tuple[int, ...] = (2, 5)) -> dict[int, tuple[float, float]]:
    """Max differences between graphnn and onnxruntime on random inputs, per binding of the symbolic dims."""
    res = {}
    for size in sizes:
        feeds = random_feeds(g, size, seed=size)
        res[size] = max_difference(run_graph(g, feeds), run_onnxruntime(model, feeds))
        if all(isinstance(d, int) for v in g.inputs for d in v.type.shape):
            break  # a static model gives the same run for every size
    return res


def export_graph(g: Graph, path: str | None, *, opset: int = DEFAULT_OPSET, allow_training_ops: bool = False,
                 allow_fixed_dims: bool = False, check_parity: bool = True, verbose: bool = False) -> ExportReport:
    """Preflight, lower, check, write and parity-check `g` (already through the export pipeline)."""
    if not g.outputs:
        raise GraphError(f"export of {g.name!r}: no outputs; pass outputs={{'name': value}} or use g.output(...)")
    rep = ExportReport(preflight(g, opset, allow_training_ops=allow_training_ops, allow_fixed_dims=allow_fixed_dims))
    if not rep.preflight.ok:
        # The error carries the preflight text; printing it here as well showed it twice.
        err = GraphError(f"ONNX export of {g.name!r} refused by preflight:\n{rep.preflight}")
        err.report = rep  # type: ignore[attr-defined]
        raise err
    model = to_model(g, opset)
    check_stability(model, rep.preflight)
    rep.checks = check_model(model, g)
    rep.model = model
    if path is not None:
        onnx.save(model, path)
        rep.path = str(path)
    if check_parity:
        rep.parity = parity(g, model)
    if verbose:
        print(rep)
    return rep
