"""Lower mode-dependent ops for `graph.facts.mode` ("train" unless set), before autodiff.

train: batch_norm -> batch_norm_train + the momentum blend of the running statistics; dropout stays, and in a
function that updates anything (a training step) the graph's dropout step counter (state `rng_step`) gets the
update `rng_step + 1`, so every step draws new masks. A function without updates stays pure: it changes no
storage, so repeated calls see the same masks (what gn.check_grad needs); pass the counter's update yourself
to resample per call.
eval: batch_norm -> batch_norm_infer on the running statistics (which are "updated" to themselves);
dropout -> its input. Imports only graphnn.ir.
"""

from __future__ import annotations

from ..ir.graph import Graph, Node, Provenance, Value
from ..ir.ops import collective, norm
from ..ir.ops import elementwise as ew

MODE_OPS = ("batch_norm", "dropout")


def _lower_batch_norm(node: Node, mode: str) -> list[Value]:
    x, gamma, beta, rm, rv = node.inputs
    a = node.attrs
    if mode == "eval":
        return [norm.batch_norm_infer(x, gamma, beta, rm, rv, a["eps"], a["axis"]), rm, rv]
    if a.get("sync"):  # BatchNorm(sync=True): statistics of the global batch, all-reduced across MPI ranks
        y, mean, var = collective.sync_batch_norm_train(x, gamma, beta, a["eps"], a["axis"])
    else:
        y, mean, var = norm.batch_norm_train(x, gamma, beta, a["eps"], a["axis"])
    m = a["momentum"]
    return [y, rm * (1.0 - m) + mean * m, rv * (1.0 - m) + var * m]


def lower_mode(g: Graph) -> Graph:
    """Replace batch_norm and dropout nodes by their train- or eval-mode forms. One pass over the nodes: the
    lowered forms are built in place of the old node, so O(n + E)."""
    mode = g.facts.mode
    fired = g.facts.fired
    mapping: dict[int, Value] = {}
    old_nodes, g.nodes = g.nodes, []
    for node in old_nodes:
        if node.op not in MODE_OPS or (node.op == "dropout" and mode == "train"):
            g.nodes.append(node)
            continue
        prov = Provenance(node.prov.locations, node.prov.labels, frozenset({node.id}), ("mode",))
        old_scopes = g.scopes
        g.scopes = [s for s in node.scope.split("/") if s]  # lowered nodes stay in the layer's scope
        try:
            with g.building(node.tags, prov):
                inputs = [mapping.get(v.id, v) for v in node.inputs]
                node.inputs = tuple(inputs)
                news = _lower_batch_norm(node, mode) if node.op == "batch_norm" else [inputs[0]]
        finally:
            g.scopes = old_scopes
        # The lowered nodes were appended where the old node stood: the order stays topological.
        for o, nv in zip(node.outputs, news):
            g.producer.pop(o.id, None)
            mapping[o.id] = nv
        fired.append({"pattern": f"{node.op}->{mode}", "node": node.name, "location": node.location})
    g.replace_uses(mapping)
    if mode == "train":
        _advance_rng(g)
    return g


def _advance_rng(g: Graph) -> None:
    """Give the dropout step counter its `+ 1` update in a training step whose dropouts read it."""
    name = g.meta.get("rng_state")
    if name is None or not g.updates or name in g.updates:
        return
    step = next((v for v in g.state if v.name == name), None)
    if step is None or not any(n.op == "dropout" and step in n.inputs for n in g.nodes):
        return
    with g.building(frozenset({"update"}), Provenance(passes=("mode",))):
        g.updates[name] = ew.add(step, 1)
