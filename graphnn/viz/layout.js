// graphnn viz: layered layout of one level of the hierarchy (the JS twin of layout.py): given boxes in graph
// order, their sizes and edges, a layer per box (longest path; pinned layers for backward groups beside their
// forward layer), dummy boxes on long edges, barycentric crossing reduction, and x by per-layer isotonic fit.
var GNLayout = (function () {
  "use strict";
  var RANK_SEP = 46, NODE_SEP = 22, DUMMY_W = 6;
  function isotonic(t, w) {  // weighted least-squares non-decreasing fit (pool adjacent violators)
    var bl = [];
    for (var i = 0; i < t.length; i++) {
      bl.push([t[i], w[i], 1]);
      while (bl.length > 1 && bl[bl.length - 2][0] > bl[bl.length - 1][0]) {
        var b = bl.pop(), a = bl.pop();
        bl.push([(a[0] * a[1] + b[0] * b[1]) / (a[1] + b[1]), a[1] + b[1], a[2] + b[2]]);
      }
    }
    var out = [];
    bl.forEach(function (b) { for (var j = 0; j < b[2]; j++) out.push(b[0]); });
    return out;
  }
  // keys: box keys in graph order; size: key -> [w, h]; edges: [[a, b], ...] (a before b in graph order unless
  // the edge is drawn upward); pin: key -> layer for boxes whose layer is fixed by the caller (or undefined).
  function layout(keys, size, edges, pin, sources) {
    var idx = {}, preds = {}, succs = {}, layer = {};
    keys.forEach(function (k, i) { idx[k] = i; preds[k] = []; succs[k] = []; });
    edges.forEach(function (e) {
      var a = e[0], b = e[1];
      if (idx[a] > idx[b]) { var t = a; a = b; b = t; }  // against graph order: layered as if reversed
      preds[b].push(a); succs[a].push(b);
    });
    keys.forEach(function (k) {
      if (pin && pin[k] !== undefined) { layer[k] = pin[k]; return; }
      var l = 0;
      preds[k].forEach(function (p) { if (layer[p] + 1 > l) l = layer[p] + 1; });
      layer[k] = l;
    });
    keys.forEach(function (k) {  // sources (inputs, params) sit just above their first reader
      if (sources && sources[k] && !preds[k].length && succs[k].length) {
        var m = Infinity;
        succs[k].forEach(function (s) { m = Math.min(m, layer[s]); });
        layer[k] = Math.max(0, m - 1);
      }
    });
    var nl = 0, up = {}, down = {}, lsize = {}, chains = [];
    keys.forEach(function (k) { nl = Math.max(nl, layer[k] + 1); up[k] = []; down[k] = []; lsize[k] = size[k]; });
    edges.forEach(function (e, i) {
      var a = e[0], b = e[1], la = layer[a], lb = layer[b], st = la < lb ? 1 : -1, ch = [a];
      if (la !== lb) {
        for (var L = la + st; L !== lb; L += st) {
          var d = "_d" + i + "_" + L;
          layer[d] = L; lsize[d] = [DUMMY_W, 1]; up[d] = []; down[d] = []; ch.push(d);
        }
      }
      ch.push(b);
      for (var j = 0; j + 1 < ch.length; j++) {
        var u = ch[j], v = ch[j + 1];
        if (layer[u] < layer[v]) { down[u].push(v); up[v].push(u); }
        else if (layer[u] > layer[v]) { down[v].push(u); up[u].push(v); }
      }
      chains.push(ch);
    });
    var order = [];
    for (var L = 0; L < nl; L++) order.push([]);
    keys.forEach(function (k) { order[layer[k]].push(k); });
    chains.forEach(function (ch) { ch.slice(1, -1).forEach(function (d) { order[layer[d]].push(d); }); });
    for (var it = 0; it < 8; it++) {  // barycentric sweeps, down then up
      var downward = it % 2 === 0;
      for (var q = 0; q < nl; q++) {
        var Lq = downward ? q : nl - 1 - q, ref = downward ? order[Lq - 1] : order[Lq + 1];
        if (!ref) continue;
        var p = {}, cur = {};
        ref.forEach(function (k, i) { p[k] = i; });
        order[Lq].forEach(function (k, i) { cur[k] = i; });
        var nb = downward ? up : down, bary = {};
        order[Lq].forEach(function (k) {
          var s = 0, n = 0;
          nb[k].forEach(function (o) { if (p[o] !== undefined) { s += p[o]; n++; } });
          bary[k] = n ? s / n : cur[k];
        });
        order[Lq].sort(function (a, b) { return bary[a] - bary[b] || cur[a] - cur[b]; });
      }
    }
    var xs = {};
    order.forEach(function (row) {
      var x = 0;
      row.forEach(function (k) { xs[k] = x + lsize[k][0] / 2; x += lsize[k][0] + NODE_SEP; });
    });
    for (it = 0; it < 12; it++) {
      var fwd = it % 2 === 0;
      for (q = 0; q < nl; q++) {
        var row = order[fwd ? q : nl - 1 - q], want = [], w = [], offs = [], o = 0;
        row.forEach(function (k, i) {
          var ns = (fwd ? up : down)[k];
          if (!ns.length) ns = (fwd ? down : up)[k];
          var s = 0;
          ns.forEach(function (n) { s += xs[n]; });
          want.push(ns.length ? s / ns.length : xs[k]);
          w.push(k.charAt(0) === "_" ? 4 : 1);
          if (i) o += (lsize[row[i - 1]][0] + lsize[k][0]) / 2 + NODE_SEP;
          offs.push(o);
        });
        var fit = isotonic(want.map(function (t, i) { return t - offs[i]; }), w);
        row.forEach(function (k, i) { xs[k] = fit[i] + offs[i]; });
      }
    }
    var ys = {}, y = 0, minx = Infinity, maxx = -Infinity;
    order.forEach(function (row) {
      var h = 0;
      row.forEach(function (k) { h = Math.max(h, lsize[k][1]); });
      row.forEach(function (k) { ys[k] = y + h / 2; });
      y += h + RANK_SEP;
    });
    Object.keys(xs).forEach(function (k) { minx = Math.min(minx, xs[k] - lsize[k][0] / 2); maxx = Math.max(maxx, xs[k] + lsize[k][0] / 2); });
    if (!isFinite(minx)) { minx = 0; maxx = 0; }
    var pos = {};
    Object.keys(xs).forEach(function (k) { pos[k] = [xs[k] - minx, ys[k]]; });
    var routes = chains.map(function (ch) {
      var a = ch[0], b = ch[ch.length - 1], pa = pos[a], pb = pos[b], sa = size[a], sb = size[b];
      if (layer[a] === layer[b]) {  // side by side (a backward group beside its forward layer)
        var dir = pa[0] < pb[0] ? 1 : -1;
        return [[pa[0] + dir * sa[0] / 2, pa[1]], [pb[0] - dir * sb[0] / 2, pb[1]]];
      }
      var dn = layer[a] < layer[b] ? 1 : -1, pts = [[pa[0], pa[1] + dn * sa[1] / 2]];
      ch.slice(1, -1).forEach(function (d) { pts.push(pos[d]); });
      pts.push([pb[0], pb[1] - dn * sb[1] / 2]);
      return pts;
    });
    return {pos: pos, layer: layer, routes: routes, width: maxx - minx, height: Math.max(0, y - RANK_SEP), order: order};
  }
  return {layout: layout, isotonic: isotonic};
})();
