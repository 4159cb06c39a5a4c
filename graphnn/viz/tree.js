// graphnn viz: the layer tree of one drawn graph (groups from the boxes' paths), per-group totals (parameters,
// FLOPs, worst gradient state), repeated identical blocks ("series"), and which edges each group draws.
var GNTree = (function () {
  "use strict";
  var WORST = ["grad", "frozen", "gated", "disconnected", "zero"];  // gradient states, mildest first
  function catOf(nd) {
    var c = " " + nd.c + " ";
    return c.indexOf(" backward ") >= 0 ? "bwd" : (c.indexOf(" update ") >= 0 || nd.k === "update") ? "upd" : "fwd";
  }
  function build(D, G) {
    var groups = {}, leaves = {}, byKey = {};
    function grp(path) {
      if (groups[path]) return groups[path];
      var cut = path.lastIndexOf("/"), parent = path === "" ? null : grp(cut < 0 ? "" : path.slice(0, cut));
      var g = {id: "g:" + path, path: path, name: path.slice(cut + 1), parent: parent, kids: [], leaves: [],
               first: Infinity, depth: parent ? parent.depth + 1 : 0, edges: [], cnt: {fwd: 0, bwd: 0, upd: 0},
               params: 0, flops: 0, unbound: 0, grad: -1, group: true, outs: []};
      if (parent) parent.kids.push(g);
      groups[path] = g;
      return g;
    }
    var root = grp("");
    G.n.forEach(function (ni, order) {
      var nd = D.nodes[ni], path = D.texts[nd.p], g = grp(path), top = path.split("/")[0], cat = catOf(nd);
      if (nd.k !== "op" && cat === "fwd") cat = top.charAt(0) === "∇" ? "bwd" : top === "optimizer" ? "upd" : "fwd";
      var leaf = {id: D.keys[ni], ni: ni, nd: nd, parent: g, first: order, depth: g.depth + 1, cat: cat, group: false};
      leaves[ni] = leaf; byKey[leaf.id] = leaf; g.kids.push(leaf);
      for (var a = g; a; a = a.parent) {
        a.leaves.push(leaf); a.cnt[leaf.cat]++;
        if (order < a.first && (nd.k === "op" || nd.k === "output" || nd.k === "update")) a.first = order;
        if (nd.k === "param") a.params += nd.numel || 0;
        if (nd.op) { if (nd.flops === null || nd.flops === undefined) a.unbound++; else a.flops += nd.flops; }
        if (nd.gradient) a.grad = Math.max(a.grad, WORST.indexOf(nd.gradient));
      }
    });
    Object.keys(groups).forEach(function (p) {  // a group of sources only (a layer's params) orders by them
      var g = groups[p];
      if (g.first === Infinity) g.first = Math.min.apply(null, g.leaves.map(function (l) { return l.first; }));
    });
    Object.keys(groups).forEach(function (p) {
      var g = groups[p];
      g.kids.sort(function (a, b) { return a.first - b.first; });
      g.cat = g.cnt.bwd > g.cnt.fwd + g.cnt.upd ? "bwd" : g.cnt.upd > g.cnt.fwd ? "upd" : "fwd";
      if (g.cat === "bwd" && g.name.charAt(0) === "∇" && g.parent) g.twin = groups[(g.parent.path ? g.parent.path + "/" : "") + g.name.slice(1)];
    });
    function anc(x) { var out = []; for (var a = x.parent; a; a = a.parent) out.unshift(a); return out; }
    Object.keys(leaves).forEach(function (ni) { leaves[ni].anc = anc(leaves[ni]); });
    G.e.forEach(function (e) {  // each edge is drawn by the deepest group holding both ends
      var s = leaves[e[0]], d = leaves[e[1]];
      if (!s || !d) return;
      var i = 0;
      while (i < s.anc.length && i < d.anc.length && s.anc[i] === d.anc[i]) i++;
      s.anc[i - 1].edges.push({s: s, d: d, t: e[2], st: D.texts[e[3]]});
      for (var j = i; s.nd.k === "op" && d.cat === s.cat && j < s.anc.length; j++) {  // a group's output shapes
        var o = s.anc[j].outs, t = D.texts[e[2]];
        if (o.indexOf(t) < 0 && o.length < 2) o.push(t);
      }
    });
    var sigs = {}, nsig = 0;
    function sig(x) {
      if (x.sig !== undefined) return x.sig;
      var s = x.group ? "(" + x.kids.map(sig).sort().join(",") + ")" : (x.nd.op || x.nd.k) + ":" + (x.nd.out || [x.nd.type]).join(";");
      if (sigs[s] === undefined) sigs[s] = nsig++;
      x.sig = "" + sigs[s];
      return x.sig;
    }
    Object.keys(groups).forEach(function (p) {  // chains of identical sibling blocks fold into one "×N" series
      var g = groups[p], by = {}, feeds = {};
      g.edges.forEach(function (e) {
        var a = e.s.anc[g.depth + 1], b = e.d.anc[g.depth + 1];
        if (a && b && a !== b) feeds[a.id + ">" + b.id] = 1;
      });
      g.kids.forEach(function (k) { if (k.group && k.leaves.length > 2) (by[sig(k)] = by[sig(k)] || []).push(k); });
      var runs = [];
      Object.keys(by).forEach(function (s) {
        var run = [];
        by[s].forEach(function (k) {
          if (run.length && !feeds[run[run.length - 1].id + ">" + k.id]) { runs.push([s, run]); run = []; }
          run.push(k);
        });
        runs.push([s, run]);
      });
      runs.forEach(function (sr) {
        var s = sr[0], m = sr[1];
        if (m.length < 2) return;
        var ser = {id: "s:" + g.path + "#" + s + "@" + m[0].first, members: m, parent: g, first: m[0].first, isSeries: true, group: false,
                   name: m[0].name.replace(/_\d+$/, "") + " ×" + m.length, cat: m[0].cat, depth: g.depth + 1, params: 0, flops: 0,
                   unbound: 0, grad: -1, cnt: {fwd: 0, bwd: 0, upd: 0}, leaves: [], outs: m[m.length - 1].outs};
        m.forEach(function (x) {
          x.series = ser; ser.params += x.params; ser.flops += x.flops; ser.unbound += x.unbound;
          ser.grad = Math.max(ser.grad, x.grad); ser.leaves = ser.leaves.concat(x.leaves);
          ["fwd", "bwd", "upd"].forEach(function (c) { ser.cnt[c] += x.cnt[c]; });
        });
      });
    });
    return {root: root, groups: groups, leaves: leaves, byKey: byKey, worst: WORST};
  }
  return {build: build, WORST: WORST};
})();
