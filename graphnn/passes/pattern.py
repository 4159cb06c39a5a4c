"""The one rewrite engine: a `Rule` matches a root op (and the ops producing its inputs); its function
returns the replacement value(s) or None; `rewrite` applies a rule table to a fixed point with a worklist.

Imports only graphnn.ir.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from ..ir.errors import GraphError
from ..ir.graph import Graph, Node, Provenance, Value, add_uses, drop_uses

RuleFn = Callable[["Match"], "Value | Sequence[Value] | None"]


@dataclass(frozen=True)
class Rule:
    """`fn(match)` may fire on a node of op `root` whose inputs come from the ops in `args` (None = any)."""

    name: str
    root: str
    fn: RuleFn
    args: tuple[str | None, ...] = ()
    fused: bool = False  # tag the nodes it creates `fused`
    stability: tuple[str, str] | None = None  # (stable replacement, one-line reason): a stability diagnostic


@dataclass
class Match:
    """What a rule function sees: the graph, the root node, its inputs' producers, and helpers."""

    g: Graph
    node: Node
    args: tuple[Node | None, ...]
    involved: list[Node] = field(default_factory=list)  # nodes whose provenance the replacement inherits
    cache: dict[str, Any] = field(default_factory=dict)  # shared by the driver until the next firing
    uses: dict[int, dict[int, Node]] = field(default_factory=dict)  # the driver's use index (kept current)

    @property
    def inputs(self) -> tuple[Value, ...]:
        return self.node.inputs

    @property
    def out(self) -> Value:
        return self.node.outputs[0]

    def producer(self, v: Value, op: str | None = None) -> Node | None:
        """The node producing `v` (if its op is `op`), recorded as involved in the match."""
        n = v.producer
        if n is None or (op is not None and n.op != op):
            return None
        if n not in self.involved:
            self.involved.append(n)
        return n

    def users(self, v: Value) -> list[Node]:
        """The nodes reading `v` (O(its users), from the driver's use index)."""
        return list(self.uses.get(v.id, {}).values())

    def private(self, v: Value) -> bool:
        """Whether `v` is read by one node and is no graph output or update, so a rewrite that folds its producer
        into that reader computes nothing twice. The sinks are read once per firing (the driver clears the cache
        when a rule fires), not per attempt."""
        sinks = self.cache.get("sinks")
        if sinks is None:
            sinks = self.cache["sinks"] = self.g.sink_ids()
        return len(self.users(v)) == 1 and v.id not in sinks

    def scalar(self, v: Value) -> float | None:
        """The value every element of `v` has, if `v` is a constant (possibly broadcast or reshaped) of one value."""
        return constant_scalar(v)

    def diagnose(self, pattern: str, replacement: str, reason: str, fixed: bool = False) -> None:
        """Record a stability finding the rule could not (or chose not to) fix."""
        record_diagnostic(self.g, pattern, self.node, replacement, reason, fixed, [self.node, *self.involved])


def constant_array(v: Value) -> np.ndarray | None:
    """The data of a constant, looking through broadcast_to/reshape/cast of one (shape may then differ).
    O(length of that chain)."""
    while v.kind == "node":
        n = v.producer
        if n is None or n.op not in ("broadcast_to", "reshape", "cast"):
            return None
        v = n.inputs[0]
    return v.graph.constants.get(v.id) if v.kind == "const" else None


def constant_scalar(v: Value) -> float | None:
    a = constant_array(v)
    if a is None or a.size == 0 or a.dtype == bool:
        return None
    first = a.flat[0]
    return float(first) if bool(np.all(a == first)) else None


def record_diagnostic(g: Graph, pattern: str, node: Node, replacement: str, reason: str, fixed: bool,
                      involved: Sequence[Node] = ()) -> None:
    """Append a stability diagnostic (once per pattern and node) unless the graph's level is "off"."""
    if g.facts.stability == "off":
        return
    diags = g.facts.diagnostics
    if any(d["pattern"] == pattern and d["node"] == node.name for d in diags):
        return
    locs = sorted(set().union(*(n.prov.locations for n in involved or [node])))
    diags.append({"pattern": pattern, "node": node.name, "location": node.location, "locations": locs,
                  "replacement": replacement, "reason": reason, "fixed": fixed,
                  "pass": g.facts.current_pass})


def _try_rule(g: Graph, i: int, rule: Rule, pass_name: str, cache: dict[str, Any], uses: dict[int, dict[int, Node]],
              touched: dict[int, Node], sinks: set[int]) -> bool:
    """Try `rule` at `g.nodes[i]`; on success splice its nodes in, rewire (via the use index) and record.
    Nodes whose surroundings changed go to `touched` (the worklist); O(size of the match and its users)."""
    node = g.nodes[i]
    args = tuple(v.producer for v in node.inputs)
    for want, have in zip(rule.args, args):
        if want is not None and (have is None or have.op != want):
            return False
    m = Match(g, node, args, [a for w, a in zip(rule.args, args) if w is not None and a is not None], cache, uses)
    n_nodes, n_consts = len(g.nodes), len(g.const_values)
    n_diags = len(g.facts.diagnostics)
    with g.building(prov=node.prov):
        res = rule.fn(m)
    created = g.nodes[n_nodes:]
    del g.nodes[n_nodes:]
    if res is None:  # the rule declined: forget whatever it built on the way
        if created:
            cache.clear()
        for n in created:
            for o in n.outputs:
                g.producer.pop(o.id, None)
        for c in g.const_values[n_consts:]:
            g.constants.pop(c.id, None)
        del g.const_values[n_consts:]
        return False
    new_vals = [res] if isinstance(res, Value) else list(res)
    if len(new_vals) != len(node.outputs):
        raise GraphError(f"rule {rule.name} returned {len(new_vals)} values for {len(node.outputs)} outputs")
    for old, new in zip(node.outputs, new_vals):
        if new.type != old.type:
            raise GraphError(f"rule {rule.name} is not type-preserving at {node.name} ({node.location}): "
                             f"{old.name}: {old.type} would become {new.name}: {new.type}")
    cache.clear()
    involved = [node, *m.involved]
    prov = node.prov.merge(*(n.prov for n in m.involved),
                           Provenance(derived_from=frozenset(n.id for n in involved), passes=(pass_name,)))
    for n in created:
        n.prov = prov
        n.tags = n.tags | node.tags | ({"fused"} if rule.fused else set())
        n.scope = node.scope
    g.nodes[i:i + 1] = created  # new nodes take the root's place, so order stays topological
    g.producer.update({o.id: n for n in created for o in n.outputs})
    for o in node.outputs:
        g.producer.pop(o.id, None)
    drop_uses(uses, node)
    for n in created:
        add_uses(uses, n)
    for o in node.outputs:  # the old outputs' readers now read the replacements: they may match new rules
        touched.update(uses.get(o.id, {}))
    g.replace_uses({o.id: nv for o, nv in zip(node.outputs, new_vals)}, uses, sinks)
    touched.update({n.id: n for n in m.involved})
    touched.update({p.id: p for v in node.inputs if (p := v.producer) is not None})  # may have lost a user
    touched.update({n.id: n for n in created})
    g.facts.fired.append({
        "pattern": rule.name, "node": node.name, "op": node.op, "location": node.location,
        "locations": sorted(prov.locations), "matched": [n.id for n in involved],
        "added": [n.id for n in created], "pass": pass_name,
    })
    if rule.stability is not None:
        record_diagnostic(g, rule.name, node, rule.stability[0], rule.stability[1], True, involved)
    for d in g.facts.diagnostics[n_diags:]:  # so a drawing can place the finding on the new nodes
        d["matched"], d["added"] = [n.id for n in involved], [n.id for n in created]
    return True


def rewrite(g: Graph, rules: Sequence[Rule], pass_name: str, *, max_sweeps: int = 50) -> Graph:
    """Apply `rules` until none fires. The first sweep visits every node in topological order (new nodes
    right away); later sweeps visit only the worklist: nodes whose inputs, producers or users a firing
    changed. Each firing costs O(its match and the users it rewires), so a pass is O((n + E) + firings x
    match size) plus one O(n) walk per sweep, instead of re-trying every rule on every node to a fixed point.
    Afterwards the one liveness walk (`Graph.drop_unneeded`) drops what became dead."""
    by_op: dict[str, list[Rule]] = {}
    for r in rules:
        by_op.setdefault(r.root, []).append(r)
    g.facts.current_pass = pass_name
    cache: dict[str, Any] = {}
    uses = g.use_index()
    sinks = g.sink_ids()
    budget = 8 * len(g.nodes) + 200  # a rule set that never settles is a bug; fail loudly
    work: dict[int, Node] | None = None  # None: every node (the first sweep)
    fired = 0
    for _ in range(max_sweeps):
        touched: dict[int, Node] = {}
        fired_before = fired
        i = 0
        while i < len(g.nodes):
            node = g.nodes[i]
            if work is not None and node.id not in work:
                i += 1
                continue
            for rule in by_op.get(node.op, ()):
                hit: dict[int, Node] = {}
                if _try_rule(g, i, rule, pass_name, cache, uses, hit, sinks):
                    fired += 1
                    touched.update(hit)
                    if work is not None:  # what it touched further down is visited in this sweep too
                        work.update(hit)
                    break
            else:
                i += 1
            if fired > budget:
                raise GraphError(f"pass {pass_name}: rules keep firing (last at {node.name}); no fixed point")
        if fired == fired_before or not touched:
            break
        work = touched
    if fired:  # drop what no longer reaches an output or update: the one liveness walk, O(n + E)
        g.prune_constants(g.drop_unneeded(g.live_ids()))
    g.facts.current_pass = ""
    return g


def rule(name: str, root: str, *args: str | None, fused: bool = False,
         stability: tuple[str, str] | None = None) -> Callable[[RuleFn], Rule]:
    """Decorator form: `@rule("x*1", "mul")` turns a function into a `Rule`."""

    def deco(fn: RuleFn) -> Rule:
        return Rule(name, root, fn, tuple(args), fused, stability)

    return deco
