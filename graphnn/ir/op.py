"""The op record: one place declaring an op's arity, attributes, type rule and gradient rule.

Imports nothing else from graphnn except sibling ir modules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from .errors import DTypeError, GraphError, ShapeError
from .types import Dim, TensorType, format_shape, is_anonymous

if TYPE_CHECKING:
    from .graph import Graph, Node, Value

# A type rule maps input types and attrs to output types, raising ShapeError/DTypeError with the detail.
TypeRule = Callable[["InferCtx", list[TensorType], dict[str, Any]], list[TensorType]]
# A gradient rule emits graph ops: (node, grads of its outputs) -> grads of its inputs (None = zero).
GradRule = Callable[["Node", list["Value | None"]], list["Value | None"]]


@dataclass(frozen=True)
class Op:
    """A registered op and its traits. Consumers (passes, backends, viz) derive their op sets from these fields
    instead of keeping name lists. `nondiff` gives the reason an op has no gradient (None if it has one)."""

    name: str
    infer: TypeRule
    num_inputs: int | tuple[int, int | None]
    attrs: dict[str, Any] = field(default_factory=dict)  # name -> default (REQUIRED if none)
    grad: GradRule | None = None
    nondiff: str | None = None
    elementwise: bool = False
    doc: str = ""
    # The NumPy (and CuPy) ufunc of the same meaning: the kernel is `xp.<ufunc>(*inputs, out=...)`, constant
    # folding calls `np.<ufunc>`, and `np.<ufunc>(value)` on a graph value builds this op.
    ufunc: str | None = None
    # The C expression the CuPy kernel generator writes for one step: {0} {1} {2} are the operands, {T} the
    # result's C type, {zero} {one} and {<attr>} literals of the result dtype. `c_expr_int` replaces it for
    # integer and bool results where the float form does not apply (fabs, NaN tests).
    c_expr: str | None = None
    c_expr_int: str | None = None
    fusable: bool = False  # may be a member of a fused_elementwise body (every fused kernel implements it)
    random: bool = False  # impure: draws random numbers, so equal inputs may give unequal outputs (no CSE, no folding)
    view: bool = False  # its output may be a view of its input (no copy): the executor takes it as one
    nonnegative: bool = False  # every output element is >= 0 or NaN, whatever the inputs
    gates: bool = False  # passes gradient to only part of its input elements (a mask or a choice)
    singular: tuple[int, float] | None = None  # (input, safe value): the derivative is infinite where that input is 0
    flops: int | None = None  # FLOPs per output element for cost estimates (None: the estimate's default; 0: free)
    lowered: str | None = None  # why no backend ever sees it (a pass replaces it), so it needs no kernel
    keeps_layout: bool = False  # a view whose output has its input's memory layout (a C-contiguous input stays so)
    labels: int | None = None  # the input holding integer class labels (feeds and data checks keep them in range)
    unit_range: int | None = None  # an input whose values must lie in [0, 1] (BCE targets; checked on feeds)

    @property
    def pure(self) -> bool:
        """Its outputs are a function of its inputs and attributes alone (it may be folded, deduplicated)."""
        return not self.random

    def class_count(self, node: "Node") -> Dim:
        """How many classes the `labels` input of `node` indexes: its `depth` attribute (one_hot) or the size of
        the scores' class axis (the cross-entropies)."""
        if "depth" in node.attrs:
            return node.attrs["depth"]
        return node.inputs[0].type.shape[node.attrs["axis"]]

    def check_arity(self, n: int) -> None:
        lo, hi = (self.num_inputs, self.num_inputs) if isinstance(self.num_inputs, int) else self.num_inputs
        if n < lo or (hi is not None and n > hi):
            raise GraphError(f"{self.name} takes {self.num_inputs} inputs, got {n}")

    def normalize_attrs(self, attrs: dict[str, Any]) -> dict[str, Any]:
        unknown = set(attrs) - set(self.attrs)
        if unknown:
            raise GraphError(f"{self.name}: unknown attribute(s) {sorted(unknown)}; known: {sorted(self.attrs)}")
        out = {}
        for k, default in self.attrs.items():
            if k in attrs:
                out[k] = freeze(attrs[k])
            elif default is REQUIRED:
                raise GraphError(f"{self.name}: attribute {k!r} is required")
            else:
                out[k] = default
        return out


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()


def freeze(x: Any) -> Any:
    """Attributes are immutable and JSON-shaped: lists become tuples, numpy scalars Python ones."""
    if isinstance(x, (list, tuple)):
        return tuple(freeze(i) for i in x)
    if hasattr(x, "item") and not isinstance(x, (str, bytes)):
        return x.item()
    return x


def _show_dim(d: Dim) -> str:
    return f"{d!r} (declared None)" if is_anonymous(d) else repr(d)


def _anon_hint(a: Dim, b: Dim) -> str:
    """Explain the common case: a dim declared None compared with a fixed size."""
    for x, y in ((a, b), (b, a)):
        if is_anonymous(x) and isinstance(y, int):
            return f" (a dim declared None must equal {y} here; declare it as {y} if it is fixed)"
    return ""


class InferCtx:
    """What a type rule may do besides computing: unify symbolic dims, broadcast, check dtypes."""

    def __init__(self, graph: "Graph", op: str) -> None:
        self.graph = graph
        self.op = op

    def dim_eq(self, a: Dim, b: Dim, what: str) -> Dim:
        d = self.graph.unify_dims(a, b)
        if d is None:
            raise ShapeError(f"{what}: {a} != {b}" + _anon_hint(self.graph.canon_dim(a), self.graph.canon_dim(b)))
        return d

    def broadcast(self, *shapes: tuple[Dim, ...]) -> tuple[Dim, ...]:
        """NumPy broadcasting; a symbolic dim against 1 stays symbolic, two different names are an error."""
        rank = max((len(s) for s in shapes), default=0)
        out: list[Dim] = []
        for i in range(rank):
            dims = [self.graph.canon_dim(s[i - rank + len(s)]) for s in shapes if i - rank + len(s) >= 0]
            res: Dim = 1
            for d in dims:
                if d == 1 or d == res:
                    continue
                if res == 1:
                    res = d
                elif isinstance(res, str) and isinstance(d, str):
                    u = self.graph.unify_dims(res, d)
                    if u is None:
                        raise ShapeError(
                            "cannot broadcast shapes " + " and ".join(format_shape(s) for s in shapes)
                            + f": symbolic dims {res!r} and {d!r} differ (name them the same if they are equal)"
                        )
                    res = u
                elif isinstance(res, str) or isinstance(d, str):
                    # symbolic vs concrete k>1: NumPy would need the symbol to be 1 or k at run time; which one is
                    # unknown here, so we refuse rather than infer k and fail (or silently broadcast) at call time.
                    sym, k = (res, d) if isinstance(res, str) else (d, res)
                    raise ShapeError(
                        "cannot broadcast shapes " + " and ".join(format_shape(s) for s in shapes)
                        + f": symbolic dim {_show_dim(sym)} against {k} at axis {i - rank} (it would have to be 1 "
                        f"or {k} at run time); declare the dim as {k} (or 1) if that is what it is, or reshape"
                    )
                else:
                    raise ShapeError(
                        "cannot broadcast shapes " + " and ".join(format_shape(s) for s in shapes)
                        + f": {res} vs {d} at axis {i - rank}"
                    )
            out.append(res)
        return tuple(out)

    @staticmethod
    def same_dtype(types: list[TensorType], what: str = "inputs") -> str:
        dts = {t.dtype for t in types}
        if len(dts) > 1:
            raise DTypeError(
                f"{what} have different dtypes {' vs '.join(t.dtype for t in types)}; "
                "graphnn never promotes silently: cast explicitly with gn.cast"
            )
        return types[0].dtype

    @staticmethod
    def need_float(t: TensorType, what: str = "input") -> None:
        if not t.is_float:
            raise DTypeError(f"{what} must be floating point, got {t.dtype}")

    @staticmethod
    def norm_axis(axis: int, rank: int) -> int:
        if not -rank <= axis < max(rank, 1):
            raise ShapeError(f"axis {axis} out of range for rank {rank}")
        return axis % rank if rank else 0
