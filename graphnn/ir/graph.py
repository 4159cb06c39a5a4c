"""The IR: `Node`s with provenance and the `Graph` that owns them and their SSA `Value`s (ir/value.py).

Imports nothing else from graphnn except sibling ir modules.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field, replace
from typing import Any, Iterator

import numpy as np

from .errors import GraphError
from .provenance import Provenance, Storage
from .types import Dim, DimProduct, TensorType, dim_div, dim_factors, dim_mul, dim_symbols, is_anonymous
from .value import OPERATORS, Value, next_id  # noqa: F401 - Value and next_id are imported from here too


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


def _from_parts(c: int, syms: Any) -> Dim:
    return dim_mul(c, *syms.elements())


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
    # Data parallelism (set by prepare, read by passes/data_parallel.py): this process's rank, the number of ranks,
    # the ids of the gradients to average and of the batch-mean outputs to average for the caller.
    data_parallel: dict[str, Any] | None = None

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
        if isinstance(d, DimProduct):
            if not self.dim_alias or not any(s in self.dim_alias for s in d.symbols):
                return d
            return dim_mul(d.factor, *(self.canon_dim(s) for s in d.symbols))
        while isinstance(d, str) and d in self.dim_alias:
            d = self.dim_alias[d]
        if isinstance(d, DimProduct):  # an anonymous dim unified with a product
            return self.canon_dim(d)
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
        # Products: cancel what both sides share; what is left on one side may be one anonymous dim.
        ca, sa = dim_factors(a)
        cb, sb = dim_factors(b)
        k = math.gcd(ca, cb) or 1
        ra, rb = dim_div(a, _from_parts(k, sa & sb)), dim_div(b, _from_parts(k, sa & sb))
        for x, y in ((ra, rb), (rb, ra)):
            if is_anonymous(x) and isinstance(y, str) and x not in dim_symbols(y):
                self.dim_alias[x] = y  # type: ignore[index]
                return self.canon_dim(a)
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
    def sink_ids(self) -> set[int]:
        """Ids of the values the outputs and updates read (for `replace_uses`' `sinks`)."""
        return {v.id for v in self.outputs.values()} | {v.id for v in self.updates.values()}

    def replace_uses(self, mapping: dict[int, Value], users: dict[int, dict[int, Node]] | None = None,
                     sinks: set[int] | None = None) -> None:
        """Point every use (node inputs, outputs, updates) of the value ids in `mapping` at the new values.
        O(n + E) without `users`; O(uses of the replaced values) with a `use_index`, which it keeps current, and
        a `sink_ids` set (kept current too), which spares the scan of the outputs and updates."""
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
        if sinks is not None:
            hit = [vid for vid in mapping if vid in sinks]
            if not hit:
                return
            sinks.difference_update(hit)
            sinks.update(mapping[vid].id for vid in hit)
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
