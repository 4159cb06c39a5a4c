"""The IR: SSA `Value`s, `Node`s with provenance, and the `Graph` that owns them.

Imports nothing else from graphnn except sibling ir modules.
"""

from __future__ import annotations

import contextlib
import itertools
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterator

import numpy as np

from .errors import GraphError, TraceError
from .provenance import Provenance, Storage
from .types import Dim, TensorType, is_anonymous

_ids = itertools.count(1)

# The builder functions behind Value's Python operators and NumPy hooks ("add" -> elementwise.add, "bool" ->
# builder.value_as_bool, ...). The op builders import this module, so it cannot import them: graphnn/ir/operators.py
# fills the table, and graphnn/ir/__init__.py imports it right after this module (a test checks every key is set).
OPERATORS: dict[str, Callable[..., Any]] = {}


def next_id() -> int:
    return next(_ids)


@dataclass(frozen=True, eq=False)
class Value:
    """An immutable SSA tensor of a graph; its static type is known from creation.

    `==` is identity (values are dict keys, e.g. in `updates=`); use `gn.equal(a, b)` for the elementwise
    comparison. NumPy arrays next to a value become constants (`np.ones(3) + x` is one graph op); NumPy
    functions (`np.sum(x)`) cannot see a graph value's data: use gn.sum, gn.mean, ... instead.
    """

    id: int
    name: str
    raw_type: TensorType
    kind: str  # "input" | "param" | "const" | "state" | "node"
    graph: "Graph" = field(repr=False, compare=False)

    @property
    def type(self) -> TensorType:
        """The static type, with symbolic dims resolved through the graph's unifications."""
        return self.graph.resolve(self.raw_type)

    @property
    def shape(self) -> tuple[Dim, ...]:
        """The static shape (ints and symbolic dim names)."""
        return self.type.shape

    @property
    def dtype(self) -> str:
        """The dtype name, e.g. 'float32'."""
        return self.raw_type.dtype

    @property
    def ndim(self) -> int:
        """The rank."""
        return len(self.raw_type.shape)

    @property
    def producer(self) -> "Node | None":
        """The node that computes this value (None for inputs, params, state, constants)."""
        return self.graph.producer.get(self.id)

    def __repr__(self) -> str:
        return f"<Value {self.name}: {self.type}>"

    def __hash__(self) -> int:
        return hash(self.id)

    def __eq__(self, other: object) -> bool:  # identity semantics; use gn.equal for elementwise
        return self is other

    def __bool__(self) -> bool:
        return OPERATORS["bool"](self)

    def __float__(self) -> float:
        return OPERATORS["data"](self, "float()")

    def __int__(self) -> int:
        return OPERATORS["data"](self, "int()")

    # NumPy interop: a NumPy ufunc on graph values (`np.exp(x)`, `arr + x`, `np.maximum(x, 0)`) becomes the
    # graph op of the same meaning, arrays becoming constants, instead of an object array of per-element
    # nodes; ufunc methods (reduce, at, ...) and other NumPy functions get a clear error.
    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        return OPERATORS["ufunc"](ufunc, method, inputs, kwargs)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return OPERATORS["numpy"](self, "np.asarray()/np.array()")

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        return OPERATORS["numpy"](self, f"np.{getattr(func, '__name__', func)}()")

    def __len__(self) -> int:
        if not self.raw_type.shape:
            raise TypeError(f"len() of a rank-0 graph value {self.name}")
        n = self.type.shape[0]
        if isinstance(n, str):
            return OPERATORS["data"](self, f"len() (its leading dim {n!r} is symbolic; declare it concrete, or use "
                                           "graph ops that do not need its size)")
        return n

    def __iter__(self) -> Iterator["Value"]:
        """Iterate over the leading axis when it is concrete: yields x[0], x[1], ..."""
        if not self.raw_type.shape:
            raise TraceError(f"cannot iterate over the rank-0 graph value {self.name} ({self.type})")
        n = self.type.shape[0]
        if isinstance(n, str):
            OPERATORS["data"](self, f"iteration (its leading dim {n!r} is symbolic, so the number of rows is not "
                                    "known when the graph is built; declare a concrete size or use a batched op)")
        return (self[i] for i in range(n))

    # Operator overloading delegates to the op builders (NumPy broadcasting rules).
    def __abs__(self) -> "Value":
        return OPERATORS["abs"](self)

    def __add__(self, o: Any) -> "Value":
        return OPERATORS["add"](self, o)

    def __radd__(self, o: Any) -> "Value":
        return OPERATORS["add"](o, self)

    def __sub__(self, o: Any) -> "Value":
        return OPERATORS["sub"](self, o)

    def __rsub__(self, o: Any) -> "Value":
        return OPERATORS["sub"](o, self)

    def __mul__(self, o: Any) -> "Value":
        return OPERATORS["mul"](self, o)

    def __rmul__(self, o: Any) -> "Value":
        return OPERATORS["mul"](o, self)

    def __truediv__(self, o: Any) -> "Value":
        return OPERATORS["div"](self, o)

    def __rtruediv__(self, o: Any) -> "Value":
        return OPERATORS["div"](o, self)

    def __pow__(self, o: Any) -> "Value":
        return OPERATORS["pow"](self, o)

    def __rpow__(self, o: Any) -> "Value":
        return OPERATORS["pow"](o, self)

    def __neg__(self) -> "Value":
        return OPERATORS["neg"](self)

    def __matmul__(self, o: Any) -> "Value":
        return OPERATORS["matmul"](self, o)

    def __rmatmul__(self, o: Any) -> "Value":
        return OPERATORS["matmul"](o, self)

    def __gt__(self, o: Any) -> "Value":
        return OPERATORS["greater"](self, o)

    def __lt__(self, o: Any) -> "Value":
        return OPERATORS["less"](self, o)

    def __ge__(self, o: Any) -> "Value":
        return OPERATORS["greater_equal"](self, o)

    def __le__(self, o: Any) -> "Value":
        return OPERATORS["less_equal"](self, o)

    def __getitem__(self, index: Any) -> "Value":
        return OPERATORS["getitem"](self, index)

    @property
    def T(self) -> "Value":
        return OPERATORS["transpose"](self)

    def reshape(self, *shape: Any) -> "Value":
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return OPERATORS["reshape"](self, shape)

    def astype(self, dtype: Any) -> "Value":
        return OPERATORS["cast"](self, dtype)


@dataclass(eq=False)
class Node:
    """One op applied to input values with frozen attributes, producing output values."""

    id: int
    op: str
    name: str
    inputs: tuple[Value, ...]
    outputs: tuple[Value, ...]
    attrs: dict[str, Any]
    prov: Provenance
    tags: frozenset[str] = frozenset()
    scope: str = ""

    @property
    def location(self) -> str:
        return self.prov.location

    def __repr__(self) -> str:
        return f"<Node {self.name} = {self.op}(...) at {self.location}>"


@dataclass
class GraphFacts:
    """What the compile step and the passes tell each other about a graph being compiled (typed fields, not a
    free-form dict): set by `prepare` and the pipeline, read by passes and the executor."""

    mode: str = "train"  # "train" or "eval": how the mode pass lowers batch_norm and dropout
    stability: str = "fix"  # the pipeline's stability level; "off" records no diagnostics
    current_pass: str = ""  # the rewrite engine's pass name, for the diagnostics it records
    fired: list[dict[str, Any]] = field(default_factory=list)  # what the running pass did (one dict each)
    diagnostics: list[dict[str, Any]] = field(default_factory=list)  # the running pass's stability findings
    ignored_inputs: list[str] = field(default_factory=list)  # declared inputs the compiled step does not read

    def copy(self) -> "GraphFacts":
        """An independent copy (the lists are not shared)."""
        return replace(self, fired=list(self.fired), diagnostics=list(self.diagnostics),
                       ignored_inputs=list(self.ignored_inputs))


@dataclass
class ParamInfo:
    """Metadata of a parameter or state slot: its initializer spec and whether training changes it."""

    init: str | None = None  # the initializer's spec text, e.g. "normal(seed=0, ...)"; None for an array
    trainable: bool = True


def add_uses(users: dict[int, dict[int, Node]], n: Node) -> None:
    """Record `n` as a reader of each of its inputs in a `Graph.use_index`."""
    for v in n.inputs:
        users.setdefault(v.id, {})[n.id] = n


def drop_uses(users: dict[int, dict[int, Node]], n: Node) -> None:
    """Forget `n` as a reader of its inputs in a `Graph.use_index` (it left the graph)."""
    for v in n.inputs:
        readers = users.get(v.id)
        if readers is not None:
            readers.pop(n.id, None)
            if not readers:
                del users[v.id]


_graph_stack: list["Graph"] = []


class Graph:
    """A static computational graph: inputs, parameters, constants, state, nodes and named outputs."""

    def __init__(self, name: str = "graph") -> None:
        self.name = name
        self.inputs: list[Value] = []
        self.params: list[Value] = []
        self.state: list[Value] = []
        self.constants: dict[int, np.ndarray] = {}
        self.const_values: list[Value] = []
        self.nodes: list[Node] = []
        self.outputs: dict[str, Value] = {}
        self.updates: dict[str, Value] = {}  # param/state name -> new value (set by gn.compile)
        self.producer: dict[int, Node] = {}
        self.storage = Storage()
        self.param_info: dict[str, ParamInfo] = {}
        self.dim_alias: dict[str, Dim] = {}
        self.names: set[str] = set()
        self._suffix: dict[str, int] = {}  # base name -> the next numeric suffix unique_name tries
        self._resolved: dict[tuple[TensorType, int], TensorType] = {}  # resolve()'s cache
        self.scopes: list[str] = []
        self.context_tags: frozenset[str] = frozenset()
        self.context_prov: Provenance | None = None
        self.context_labels: frozenset[str] = frozenset()
        self.facts = GraphFacts()
        self.report: Any = None  # the pipeline's report, on the graph gn.optimize returns
        # Builder-level annotations layers and frontends attach (state_updates, rng_state, traced, ...).
        self.meta: dict[str, Any] = {}

    # ---- builder context -------------------------------------------------
    def __enter__(self) -> "Graph":
        _graph_stack.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        _graph_stack.remove(self)

    @staticmethod
    def current() -> "Graph | None":
        return _graph_stack[-1] if _graph_stack else None

    @contextlib.contextmanager
    def as_current(self) -> Iterator["Graph"]:
        """Make this the builder's graph for the block, unless it already is (libraries building into g)."""
        if Graph.current() is self:
            yield self
            return
        with self:
            yield self

    @contextlib.contextmanager
    def name_scope(self, scope: str) -> Iterator[None]:
        """Group the nodes created inside under `scope` (layers use it; the drawing clusters by it)."""
        self.scopes.append(scope)
        try:
            yield
        finally:
            self.scopes.pop()

    @contextlib.contextmanager
    def building(self, tags: frozenset[str] = frozenset(), prov: Provenance | None = None) -> Iterator[None]:
        """Tag nodes created inside and give them `prov` instead of the caller's line (passes use it)."""
        old_tags, old_prov = self.context_tags, self.context_prov
        self.context_tags = old_tags | tags
        self.context_prov = prov if prov is not None else old_prov
        try:
            yield
        finally:
            self.context_tags, self.context_prov = old_tags, old_prov

    # ---- names and values ------------------------------------------------
    def unique_name(self, base: str) -> str:
        """`base`, or `base_1`, `base_2`, ... (the first free one), reserved. Amortized O(1): a counter per
        base remembers where the last search stopped (names are only ever added, so nothing below it frees)."""
        if base not in self.names:
            self.names.add(base)
            return base
        i = self._suffix.get(base, 1)
        while f"{base}_{i}" in self.names:
            i += 1
        self._suffix[base] = i + 1
        cand = f"{base}_{i}"
        self.names.add(cand)
        return cand

    def new_value(self, name: str, ttype: TensorType, kind: str, *, exact: bool = False) -> Value:
        if exact:
            if name in self.names:
                raise GraphError(f"graph {self.name!r} already has a value named {name!r}")
            self.names.add(name)
        else:
            name = self.unique_name(name)
        return Value(next_id(), name, ttype, kind, self)

    def add_node(
        self,
        op: str,
        inputs: tuple[Value, ...],
        out_types: list[TensorType],
        attrs: dict[str, Any],
        prov: Provenance,
        *,
        name: str | None = None,
        tags: frozenset[str] = frozenset(),
        out_names: list[str] | None = None,
    ) -> Node:
        base = name or op
        nname = self.unique_name(("/".join(self.scopes) + "/" if self.scopes and not name else "") + base)
        outs = []
        for i, t in enumerate(out_types):
            if out_names:
                outs.append(self.new_value(out_names[i], t, "node"))
            elif len(out_types) == 1:  # the node's name is already reserved; its only output shares it
                outs.append(Value(next_id(), nname, t, "node", self))
            else:
                outs.append(self.new_value(f"{nname}:{i}", t, "node"))
        node = Node(next_id(), op, nname, tuple(inputs), tuple(outs), dict(attrs), prov,
                    frozenset(tags) | self.context_tags, "/".join(self.scopes))
        self.nodes.append(node)
        for o in outs:
            self.producer[o.id] = node
        return node

    # ---- symbolic dims -----------------------------------------------------
    def canon_dim(self, d: Dim) -> Dim:
        while isinstance(d, str) and d in self.dim_alias:
            d = self.dim_alias[d]
        return d

    def resolve(self, t: TensorType) -> TensorType:
        """`t` with its symbolic dims canonical. Cached per raw type while the aliases stay as they are (every
        `Value.type` asks, so passes would otherwise rebuild the same types over and over)."""
        if not self.dim_alias:
            return t
        key = (t, len(self.dim_alias))  # aliases are only ever added: their count versions the cache
        got = self._resolved.get(key)
        if got is None:
            got = self._resolved[key] = TensorType(t.dtype, tuple(self.canon_dim(d) for d in t.shape))
        return got

    def unify_dims(self, a: Dim, b: Dim) -> Dim | None:
        """Make two dims equal if allowed: an anonymous dim (declared None) unifies with another symbolic dim,
        never with a concrete int (that would silently rewrite the user's declared input type); None if not."""
        a, b = self.canon_dim(a), self.canon_dim(b)
        if a == b:
            return a
        if isinstance(a, int) or isinstance(b, int):
            return None
        if is_anonymous(a):
            self.dim_alias[a] = b  # type: ignore[index]
            return b
        if is_anonymous(b):
            self.dim_alias[b] = a  # type: ignore[index]
            return a
        return None

    # ---- queries -------------------------------------------------------------
    def values(self) -> list[Value]:
        vals = list(self.inputs) + list(self.params) + list(self.state) + list(self.const_values)
        for n in self.nodes:
            vals.extend(n.outputs)
        return vals

    def consumers(self) -> dict[int, list[Node]]:
        """value id -> the nodes reading it, in graph order. O(n + E)."""
        users: dict[int, list[Node]] = {}
        for n in self.nodes:
            for v in n.inputs:
                users.setdefault(v.id, []).append(n)
        return users

    def use_index(self) -> dict[int, dict[int, Node]]:
        """value id -> {node id: node} of its readers; a pass that keeps it up to date (`replace_uses`,
        `add_uses`, `drop_uses`) finds a value's users in O(1) instead of a walk. Built in O(n + E)."""
        users: dict[int, dict[int, Node]] = {}
        for n in self.nodes:
            for v in n.inputs:
                users.setdefault(v.id, {})[n.id] = n
        return users

    # ---- rewiring and liveness: the one implementation every pass and the eager tape use ----------
    def replace_uses(self, mapping: dict[int, Value], users: dict[int, dict[int, Node]] | None = None) -> None:
        """Point every use (node inputs, outputs, updates) of the value ids in `mapping` at the new values.
        O(n + E) without `users`; O(uses of the replaced values) with a `use_index`, which it keeps current."""
        if not mapping:
            return
        if users is None:
            touched: Any = self.nodes
        else:
            seen: dict[int, Node] = {}
            for vid in mapping:
                seen.update(users.pop(vid, {}))
            touched = seen.values()
        for n in touched:
            if any(v.id in mapping for v in n.inputs):
                n.inputs = tuple(mapping.get(v.id, v) for v in n.inputs)
                if users is not None:
                    add_uses(users, n)
        if any(v.id in mapping for v in self.outputs.values()):
            self.outputs = {k: mapping.get(v.id, v) for k, v in self.outputs.items()}
        if any(v.id in mapping for v in self.updates.values()):
            self.updates = {k: mapping.get(v.id, v) for k, v in self.updates.items()}

    def drop_unneeded(self, live: set[int], first: int = 0) -> set[int]:
        """Drop the nodes of `self.nodes[first:]` whose outputs reach no value in `live`: one backward walk,
        O(n + E), which adds the kept nodes' inputs to `live`; returns the grown `live` set."""
        kept = []
        for n in reversed(self.nodes[first:]):
            if any(o.id in live for o in n.outputs):
                kept.append(n)
                live.update(v.id for v in n.inputs)
            else:
                for o in n.outputs:
                    self.producer.pop(o.id, None)
        self.nodes[first:] = reversed(kept)
        return live

    def prune_constants(self, used: set[int], first: int = 0) -> None:
        """Drop the constants of `self.const_values[first:]` whose ids are not in `used`. O(constants)."""
        tail = self.const_values[first:]
        self.const_values[first:] = [c for c in tail if c.id in used]
        for c in tail:
            if c.id not in used:
                self.constants.pop(c.id, None)

    def live_ids(self) -> set[int]:
        """Ids of the values the graph's outputs and updates are."""
        return {v.id for v in self.outputs.values()} | {v.id for v in self.updates.values()}

    def param(self, name: str) -> Value:
        """The parameter or state value called `name`."""
        for p in self.params + self.state:
            if p.name == name:
                return p
        raise GraphError(f"graph {self.name!r} has no parameter or state named {name!r}")

    def value(self, name: str) -> Value:
        for v in self.values():
            if v.name == name:
                return v
        raise GraphError(f"graph {self.name!r} has no value named {name!r}")

    def output(self, name: str, value: Value) -> Value:
        """Declare a named output; `gn.compile(g)` without `outputs=` uses these."""
        if value.graph is not self:
            raise GraphError(f"output {name!r}: value {value.name} belongs to graph {value.graph.name!r}")
        self.outputs[name] = value
        return value

    @property
    def trainable_params(self) -> list[Value]:
        return [p for p in self.params if self.param_info.get(p.name, ParamInfo()).trainable]

    def to_networkx(self) -> Any:
        """A networkx.DiGraph with one vertex per value and per node (bipartite, edges follow data)."""
        import networkx as nx  # only this export needs it; keeps `import graphnn` light

        G = nx.DiGraph(name=self.name)
        for v in self.inputs + self.params + self.state + self.const_values:
            G.add_node(f"v{v.id}", kind=v.kind, name=v.name, type=str(v.type))
        for n in self.nodes:
            G.add_node(f"n{n.id}", kind="op", op=n.op, name=n.name, tags=sorted(n.tags))
            for v in n.inputs:
                G.add_edge(f"v{v.id}", f"n{n.id}")
            for v in n.outputs:
                G.add_node(f"v{v.id}", kind="value", name=v.name, type=str(v.type))
                G.add_edge(f"n{n.id}", f"v{v.id}")
        return G

    # ---- copying -------------------------------------------------------------
    def copy(self) -> "Graph":
        """A structural copy with the same value/node ids, sharing parameter storage."""
        g = Graph(self.name)
        g.storage = self.storage
        g.param_info = self.param_info
        g.dim_alias = dict(self.dim_alias)
        g.names = set(self.names)
        g._suffix = dict(self._suffix)
        g.meta = dict(self.meta)
        g.facts = self.facts.copy()
        vmap: dict[int, Value] = {}

        def cp(v: Value) -> Value:
            nv = Value(v.id, v.name, v.raw_type, v.kind, g)  # not dataclasses.replace: 5x slower per value
            vmap[v.id] = nv
            return nv

        g.inputs = [cp(v) for v in self.inputs]
        g.params = [cp(v) for v in self.params]
        g.state = [cp(v) for v in self.state]
        g.const_values = [cp(v) for v in self.const_values]
        g.constants = dict(self.constants)
        for n in self.nodes:
            outs = tuple(cp(v) for v in n.outputs)
            nn_ = Node(n.id, n.op, n.name, tuple(vmap[v.id] for v in n.inputs), outs, dict(n.attrs),
                       n.prov, n.tags, n.scope)
            g.nodes.append(nn_)
            for o in outs:
                g.producer[o.id] = nn_
        g.outputs = {k: vmap[v.id] for k, v in self.outputs.items()}
        g.updates = {k: vmap[v.id] for k, v in self.updates.items()}
        return g

    def __str__(self) -> str:
        return OPERATORS["format"](self)

    def __repr__(self) -> str:
        return f"<Graph {self.name!r}: {len(self.nodes)} nodes, {len(self.params)} params>"
