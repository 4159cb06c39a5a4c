"""Elementwise fusion: each maximal tree of elementwise nodes whose inner values have one consumer becomes
one `fused_elementwise` node (bias-add + ReLU, the ReLU mask in backward, optimizer update arithmetic).

Runs after autodiff, so the fused node needs no gradient. Imports only graphnn.ir.
"""

from __future__ import annotations

from ..ir.graph import Graph, Node, Provenance, Value, next_id
from ..ir.op import InferCtx, freeze
from ..ir.op_registry import get_op, registry

# Ops the fused kernels of every backend implement (Op.fusable; tests check the NumPy and CuPy kernels cover them).
FUSABLE = frozenset(name for name, op in registry().items() if op.fusable)


def _fusable(n: Node) -> bool:
    return n.op in FUSABLE and len(n.outputs) == 1


def _mask_from_relu_output(g: Graph) -> None:
    """`z > 0` where `h = relu(z)` exists becomes `h > 0` (equal for every z, NaN included: both false), so z
    has one consumer and bias-add + ReLU fuse and run in place (the ReLU gradient's mask reads h instead).
    O(n + E)."""
    users = g.consumers()
    order = {n.id: k for k, n in enumerate(g.nodes)}
    for n in g.nodes:
        if n.op != "greater" or n.inputs[1].kind != "const" or n.inputs[1].ndim != 0:
            continue
        c = g.constants.get(n.inputs[1].id)
        if c is None or float(c) != 0.0:
            continue
        relus = [r for r in users.get(n.inputs[0].id, []) if r.op == "relu" and order[r.id] < order[n.id]]
        if relus:
            n.inputs = (relus[0].outputs[0], n.inputs[1])
            g.facts.fired.append({"pattern": "relu_mask_from_output", "node": n.name,
                                                   "location": n.location, "pass": "fuse_elementwise"})


def fuse_elementwise(g: Graph) -> Graph:
    """Replace chains of elementwise nodes by single `fused_elementwise` nodes. O((n + E) log n): one walk
    grows the groups (merged with a union-find), each group is sorted into graph order once."""
    _mask_from_relu_output(g)
    users = g.consumers()
    position = {n.id: k for k, n in enumerate(g.nodes)}
    pinned = {v.id for v in g.outputs.values()} | {v.id for v in g.updates.values()}
    group: dict[int, list[Node]] = {}  # root node id -> members (sorted into graph order at the end)
    owner: dict[int, int] = {}  # member node id -> a root id; `merged_into` leads from it to the current root

    merged_into: dict[int, int] = {}

    def root_of(k: int) -> int:
        while k in merged_into:
            nxt = merged_into[k]
            merged_into[k] = merged_into.get(nxt, nxt)  # path halving keeps the chains short
            k = nxt
        return k

    for n in g.nodes:
        if not _fusable(n):
            continue
        members: list[Node] = []
        for v in n.inputs:
            p = g.producer.get(v.id)
            # forward and backward nodes are not mixed in one chain, so every fused node is one or the other
            if (p is not None and p.id in owner and len(users.get(v.id, ())) == 1 and v.id not in pinned
                    and (r := root_of(owner[p.id])) in group and ("backward" in p.tags) == ("backward" in n.tags)):
                members.extend(group.pop(r))
                merged_into[r] = n.id
        members.append(n)
        owner[n.id] = n.id
        group[n.id] = members
    fired = g.facts.fired
    replace: dict[int, Node] = {}
    drop: set[int] = set()
    for root_id, members in group.items():
        if len(members) < 2:
            continue
        members.sort(key=lambda m: position[m.id])
        fused = _make_fused(g, members)
        replace[root_id] = fused
        drop.update(m.id for m in members if m.id != root_id)
        fired.append({"pattern": "fuse_elementwise", "node": fused.name, "location": fused.location,
                      "ops": [m.op for m in members], "pass": "fuse_elementwise"})
    if replace:
        g.nodes = [replace.get(n.id, n) for n in g.nodes if n.id not in drop]
        for n in replace.values():
            g.producer[n.outputs[0].id] = n
    return g


def _make_fused(g: Graph, members: list[Node]) -> Node:
    root = members[-1]
    step_of = {m.outputs[0].id: k for k, m in enumerate(members)}
    inputs: list[Value] = []
    slot: dict[int, int] = {}  # value id -> its index in `inputs`
    body = []
    for m in members:
        args = []
        for v in m.inputs:
            if v.id in step_of:
                args.append(("t", step_of[v.id]))
            elif v.kind == "const" and v.ndim == 0 and v.id in g.constants:
                c = g.constants[v.id]
                args.append(("c", freeze(c.item()), v.dtype))
            else:
                if v.id not in slot:
                    slot[v.id] = len(inputs)
                    inputs.append(v)
                args.append(("in", slot[v.id]))
        body.append((m.op, tuple(sorted(m.attrs.items())), tuple(args)))
    attrs = {"body": freeze(tuple(body))}
    op = get_op("fused_elementwise")
    out_t = op.infer(InferCtx(g, op.name), [v.type for v in inputs], attrs)[0]
    assert out_t == root.outputs[0].type, (out_t, root.outputs[0].type)
    # The value is the root's, so the node reports the root's user line and origin, and lists its members
    # (each member's own provenance is in the pass record's `before` graph).
    merged = Provenance().merge(*[m.prov for m in members])
    prov = Provenance(root.prov.locations, merged.labels,
                      root.prov.derived_from | frozenset(m.id for m in members), merged.passes + ("fuse_elementwise",))
    tags = frozenset().union(*[m.tags for m in members]) | {"fused"}
    name = g.unique_name("fused/" + "+".join(m.op for m in members)[:60])
    # The fused node keeps the root's output value, so consumers, outputs and updates need no rewiring.
    return Node(next_id(), "fused_elementwise", name, tuple(inputs), root.outputs, attrs, prov, tags, root.scope)
