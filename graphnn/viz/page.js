// graphnn viz page: nested collapsible layers laid out level by level (cached per group), pan/zoom, search that
// opens the path to a node, detail panel, toggles, series folding, overlays, pass views. No external libs.
(async function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  var bin = atob($("gn-data").textContent.trim()), u8 = new Uint8Array(bin.length);
  for (var i = 0; i < bin.length; i++) u8[i] = bin.charCodeAt(i);
  var D = JSON.parse(await new Response(new Blob([u8]).stream().pipeThrough(new DecompressionStream("deflate"))).text());
  var svg = $("canvas"), vp = $("viewport");
  var T = {x: 0, y: 0, s: 1}, cur = 0, pinned = null, M = null;
  var S = {open: {}, unfold: {}, fold: true, hide: {fwd: false, bwd: false, upd: false}};
  var PAD = 12, HEAD = 22, CW = 6.7, LEAF_H = 34, GRP_H = 50;
  function esc(s) { return String(s).replace(/[&<>"]/g, function (c) { return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}[c]; }); }
  function human(n, u) {
    if (n === null || n === undefined) return "?";
    var units = [["G", 1e9], ["M", 1e6], ["k", 1e3]];
    for (var i = 0; i < 3; i++) if (Math.abs(n) >= units[i][1]) return +(n / units[i][1]).toPrecision(3) + units[i][0] + (u || "");
    return n + (u || "");
  }
  function flopsText(x) { return x.unbound && !x.flops ? "FLOPs need --dims" : human(x.flops) + "FLOP" + (x.unbound ? " (+" + x.unbound + " need --dims)" : ""); }
  function apply() { vp.setAttribute("transform", "translate(" + T.x + "," + T.y + ") scale(" + T.s + ")"); }
  function view() { return D.views[cur]; }
  function graph() { return D.graphs[view().graph]; }
  function model() { var G = graph(); if (!G._m) G._m = GNTree.build(D, G); return G._m; }
  // ---- what is visible ----
  function hidden(x) {
    if (!x.group && !x.isSeries) return S.hide[x.cat];
    return ["fwd", "bwd", "upd"].every(function (c) { return S.hide[c] || !x.cnt[c]; });
  }
  function folded(x) { return x.series && S.fold && !S.unfold[x.series.id]; }
  function visKids(g) {
    var out = [], seen = {};
    g.kids.forEach(function (k) {
      var x = folded(k) ? k.series : k;
      if (seen[x.id] || hidden(x)) return;
      seen[x.id] = 1; out.push(x);
    });
    return out;
  }
  function rep(leaf, g) {  // the visible box of g's level that holds `leaf`
    var x = leaf.anc[g.depth + 1] || leaf;
    return folded(x) ? x.series : x;
  }
  function isOpen(x) { return x.group && (x.depth === 0 || S.open[x.path]); }
  function invalidate(g) { for (var a = g; a; a = a.parent) a._lay = null; }
  function invalidateAll() { Object.keys(M.groups).forEach(function (p) { M.groups[p]._lay = null; }); }
  // ---- sizes and labels ----
  function groupLabel(x) { return x.name.charAt(0) === "∇" ? "∇ " + (x.name.slice(1) || "loss") : x.name; }
  function lines(x) {
    if (!x.group && !x.isSeries) {
      var nd = x.nd, t = nd.out ? D.texts[nd.out[0]] : (nd.type || "");
      return [nd.l, t];
    }
    var parts = [];
    if (x.params) parts.push(human(x.params) + " params");
    parts.push(flopsText(x));
    return [groupLabel(x) + "  [" + x.leaves.length + "]", (x.outs || []).join(" ") || " ", parts.join(" · ")];
  }
  function boxSize(x) {
    var l = lines(x), w = 0;
    l.forEach(function (s, i) { w = Math.max(w, s.length * CW * (i ? 0.92 : 1)); });
    return [Math.min(w, 420) + 18, l.length === 3 ? GRP_H : LEAF_H];
  }
  // ---- layout of one open group (cached until something inside it changes) ----
  function lay(g) {
    if (g._lay) return g._lay;
    window.GN.layouts++;
    var kids = visKids(g), keys = [], size = {}, by = {}, pairs = {}, edges = [];
    kids.forEach(function (k) {
      by[k.id] = k; keys.push(k.id);
      if (isOpen(k)) {
        var L = lay(k), head = (groupLabel(k) + "  " + lines(k)[2]).length * CW + 30;
        size[k.id] = [Math.max(L.width + 2 * PAD, boxSize(k)[0], head), L.height + HEAD + PAD];
      }
      else size[k.id] = boxSize(k);
    });
    g.edges.forEach(function (e) {
      if (hidden(e.s) || hidden(e.d)) return;
      var a = rep(e.s, g), b = rep(e.d, g);
      if (a === b || !by[a.id] || !by[b.id]) return;
      var t = D.texts[e.t];
      var pk = a.id + ">" + b.id, ed = pairs[pk];
      if (!ed) { ed = pairs[pk] = {a: a.id, b: b.id, t: t, n: 0, st: e.st, cat: e.d.cat, worst: -1}; edges.push(ed); }
      ed.n++;
      ed.worst = Math.max(ed.worst, ["grad", "gated", "frozen", "zero"].indexOf(e.st));
    });
    var pin = {}, src = {}, ord = {};
    kids.forEach(function (k) { ord[k.id] = k.first; if (!k.group && !k.isSeries && /^(input|param|state|const)$/.test(k.nd.k)) src[k.id] = 1; });
    var L0 = GNLayout.layout(keys, size, edges.map(function (e) { return [e.a, e.b]; }), null, src);
    kids.forEach(function (k) {  // a backward group sits beside (same layer as) the forward layer it differentiates
      var tw = k.twin && (folded(k.twin) ? k.twin.series : k.twin);
      if (tw && by[tw.id] && !k.isSeries) pin[k.id] = L0.layer[tw.id];
      if (k.isSeries && k.members[0].twin) {
        var t0 = k.members[0].twin, tx = folded(t0) ? t0.series : t0;
        if (by[tx.id]) pin[k.id] = L0.layer[tx.id];
      }
    });
    var L = Object.keys(pin).length ? GNLayout.layout(keys, size, edges.map(function (e) { return [e.a, e.b]; }), pin, src) : L0;
    L.kids = kids; L.size = size; L.edges = edges;
    g._lay = L;
    return L;
  }
  // ---- drawing ----
  var marks = {};  // box id -> extra classes for this view (diagnostics, pass highlights, NaN, search)
  function mark(leaf, cls) { marks[leaf.id] = (marks[leaf.id] || "") + " " + cls; leaf.anc.forEach(function (a) { marks[a.id] = (marks[a.id] || "") + " " + cls + "-in"; if (a.series) marks[a.series.id] = (marks[a.series.id] || "") + " " + cls + "-in"; }); }
  function remark() {
    marks = {};
    var v = view();
    Object.keys(v.highlight).forEach(function (k) { var l = M.byKey[k]; if (l) mark(l, "hl-" + v.highlight[k]); });
    Object.keys(v.diag).forEach(function (k) { var l = M.byKey[k]; if (l) mark(l, "diag"); });
    if (D.nan && M.byKey[D.nan.key]) mark(M.byKey[D.nan.key], "nan");
    matches.forEach(function (l) { mark(l, "match"); });
  }
  function pathD(p) {
    var d = "M" + p[0][0].toFixed(1) + "," + p[0][1].toFixed(1);
    for (var i = 1; i < p.length; i++) {
      var a = p[i - 1], b = p[i], dy = (b[1] - a[1]) / 2;
      d += dy ? " C" + a[0].toFixed(1) + "," + (a[1] + dy).toFixed(1) + " " + b[0].toFixed(1) + "," + (b[1] - dy).toFixed(1) + " " + b[0].toFixed(1) + "," + b[1].toFixed(1) : " L" + b[0].toFixed(1) + "," + b[1].toFixed(1);
    }
    return d;
  }
  function boxClass(x) {
    var c = x.group ? "box grp" : x.isSeries ? "box grp series" : "box node " + x.nd.k + " " + x.nd.c;
    c += " c-" + x.cat;
    if ((x.group || x.isSeries) && x.grad >= 0) c += " g-" + GNTree.WORST[x.grad];
    return c + (marks[x.id] || "") + (pinned === x.id ? " sel" : "");
  }
  function draw(g, L, ox, oy, out) {
    out.push('<g class="edges">');
    L.edges.forEach(function (e, i) {
      var pts = L.routes[i].map(function (p) { return [p[0] + ox, p[1] + oy]; }), m = pts[Math.floor(pts.length / 2)];
      var cls = "edge c-" + e.cat + " e-" + (["grad", "gated", "frozen", "zero"][e.worst] || "none");
      out.push('<path class="' + cls + '" d="' + pathD(pts) + '" data-src="' + esc(e.a) + '" data-dst="' + esc(e.b) + '"><title>' + esc(e.t + (e.n > 1 ? " (" + e.n + " edges)" : "")) + "</title></path>");
      out.push('<text class="elabel c-' + e.cat + '" x="' + (m[0] + 3).toFixed(1) + '" y="' + m[1].toFixed(1) + '">' + esc(e.t) + "</text>");
    });
    out.push("</g>");
    L.kids.forEach(function (k) {
      var p = L.pos[k.id], s = L.size[k.id], x = p[0] - s[0] / 2 + ox, y = p[1] - s[1] / 2 + oy;
      if (isOpen(k)) {
        out.push('<g class="frame c-' + k.cat + (marks[k.id] || "") + '" data-key="' + esc(k.id) + '"><rect x="' + x.toFixed(1) + '" y="' + y.toFixed(1) + '" width="' + s[0].toFixed(1) + '" height="' + s[1].toFixed(1) + '" rx="6"/>' +
          '<text class="fhead" x="' + (x + 8).toFixed(1) + '" y="' + (y + 15).toFixed(1) + '">▾ ' + esc(groupLabel(k) + (k.isSeries ? "" : "  " + lines(k)[2])) + "</text></g>");
        draw(k, lay(k), x + PAD + (s[0] - 2 * PAD - k._lay.width) / 2, y + HEAD, out);
        return;
      }
      var l = lines(k);
      out.push('<g class="' + boxClass(k) + '" data-key="' + esc(k.id) + '" transform="translate(' + x.toFixed(1) + "," + y.toFixed(1) + ')">' +
        '<rect width="' + s[0].toFixed(1) + '" height="' + s[1].toFixed(1) + '" rx="' + (k.group || k.isSeries ? 8 : k.nd.k === "op" ? 4 : s[1] / 2) + '"/>' +
        l.map(function (t, i) { return !t.trim() ? "" : '<text class="l' + (i + 1) + '" x="' + (s[0] / 2).toFixed(1) + '" y="' + (14 + 13 * i) + '">' + esc(t) + "</text>"; }).join("") +
        "<title>" + esc(k.group || k.isSeries ? (k.path || k.name) + " (click: " + (k.isSeries ? "unfold" : "expand") + ")" : (k.nd.name || k.nd.l)) + "</title></g>");
    });
  }
  function render() {
    var t0 = performance.now(), L = lay(M.root), out = [];
    remark();
    draw(M.root, L, 20, 20, out);
    vp.innerHTML = out.join("");
    $("stats").textContent = vp.querySelectorAll(".box").length + " boxes shown of " + graph().n.length + " · drawn in " + Math.round(performance.now() - t0) + " ms";
    return L;
  }
  function fitScale(L) { var r = svg.getBoundingClientRect(); return Math.min(r.width / (L.width + 40), r.height / (L.height + 40)); }
  function fit() { var L = lay(M.root), r = svg.getBoundingClientRect(); T.s = Math.min(fitScale(L), 1.5); T.x = (r.width - (L.width + 40) * T.s) / 2; T.y = 10; apply(); }
  function home() {  // readable first: labels at least their CSS size, the top of the graph in view
    var L = lay(M.root), r = svg.getBoundingClientRect();
    T.s = Math.min(1.5, Math.max(1, fitScale(L)));
    T.x = Math.max(10, (r.width - (L.width + 40) * T.s) / 2); T.y = 10; apply();
    if ((L.width + 40) * T.s > r.width) {  // wider than the view (a row of many parameters): the data input in view
      var a = vp.querySelector(".box.node.input") || vp.querySelector(".box"), b = a && a.getBoundingClientRect();
      if (b) { T.x += r.left + r.width / 2 - (b.left + b.width / 2); apply(); }
    }
  }
  function center(el) {
    var b = el.getBoundingClientRect(), r = svg.getBoundingClientRect();
    T.s = Math.max(T.s, 1); apply();
    b = el.getBoundingClientRect();
    T.x += r.left + r.width / 2 - (b.left + b.width / 2); T.y += r.top + r.height / 2 - (b.top + b.height / 2); apply();
  }
  function el(id) { return vp.querySelector('[data-key="' + CSS.escape(id) + '"]'); }
  // ---- opening and closing ----
  function openPath(leaf) { leaf.anc.forEach(function (a) { if (a.depth) { S.open[a.path] = true; if (a.series) S.unfold[a.series.id] = true; invalidate(a); } }); invalidateAll(); }
  function toggleBox(x) {
    if (x.isSeries) S.unfold[x.id] = !S.unfold[x.id];
    else S.open[x.path] = !S.open[x.path];
    invalidate(x.parent); render();
    var e = el(x.id) || (x.isSeries && el(x.members[0].id)); if (e && !inView(e)) center(e);
  }
  function inView(e) { var b = e.getBoundingClientRect(), r = svg.getBoundingClientRect(); return b.left >= r.left && b.right <= r.right && b.top >= r.top && b.bottom <= r.bottom; }
  function setAll(open) {
    Object.keys(M.groups).forEach(function (p) { if (p) S.open[p] = open; });
    S.fold = !open; S.unfold = {}; $("t-fold").checked = !open;  // expand all shows every block; collapse folds again
    invalidateAll(); render(); open ? fit() : home();
  }
  window.GN = {D: D, S: S, model: function () { return M; }, render: render, toggle: function (id) { var x = find(id); if (x) toggleBox(x); return !!x; }, layouts: 0, center: function (id) { var e = el(id); if (e) center(e); return !!e; }, go: go, setAll: setAll, home: home};
  function find(id) { if (M.byKey[id]) return M.byKey[id]; if (id.slice(0, 2) === "g:") return M.groups[id.slice(2)] || null; var s = null; Object.keys(M.groups).forEach(function (p) { M.groups[p].kids.forEach(function (k) { if (k.series && k.series.id === id) s = k.series; }); }); return s; }
  function go(key) {
    var l = M.byKey[key]; if (!l) return false;
    if (hidden(l)) { S.hide[l.cat] = false; syncToggles(); }
    openPath(l); render(); select(key);
    var e = el(key); if (e) center(e);
    return !!e;
  }
  // ---- detail panel ----
  function link(key) { var l = M.byKey[key]; return l ? '<a class="nl" data-go="' + esc(key) + '">' + esc(l.nd.name || l.nd.l) + "</a>" : esc(key) + " (earlier graph)"; }
  function rowsFor(x) {
    if (x.group || x.isSeries) {
      var r = [["layer", "<b>" + esc(groupLabel(x)) + "</b>"], ["path", esc(x.isSeries ? x.members.map(function (m) { return m.path; }).join(", ") : x.path)],
        ["ops", x.cnt.fwd + " forward, " + x.cnt.bwd + " backward, " + x.cnt.upd + " update"], ["params", human(x.params)], ["FLOPs", esc(flopsText(x))]];
      if (x.outs && x.outs.length) r.push(["outputs", esc(x.outs.join(", "))]);
      if (x.grad >= 0) r.push(["gradient (worst inside)", esc(GNTree.WORST[x.grad])]);
      if (x.isSeries) r.push(["repeats", x.members.length + " identical blocks (click to unfold)"]);
      var same = x.group ? Object.keys(M.groups).filter(function (p) { var y = M.groups[p]; return y !== x && y.sig === x.sig; }) : [];
      if (same.length) r.push(["identical layers", same.length + ": " + esc(same.slice(0, 12).join(", ")) + (same.length > 12 ? ", ..." : "")]);
      return r;
    }
    var n = x.nd, rows = [["name", esc(n.name || n.l)], ["kind", esc(n.k)]];
    if (n.op) rows.push(["op", "<b>" + esc(n.op) + "</b>"]);
    if (n.type) rows.push(["type", esc(n.type)]);
    if (n.loc !== undefined) rows.push(["file:line", esc(D.texts[n.loc])]);
    if (n.op) rows.push(["FLOPs", n.flops === null || n.flops === undefined ? "needs --dims" : esc(human(n.flops))], ["bytes", n.bytes === null || n.bytes === undefined ? "needs --dims" : esc(human(n.bytes, "B"))]);
    if (n.attrs) rows.push(["attrs", Object.keys(n.attrs).map(function (k) { return esc(k) + "=" + esc(n.attrs[k]); }).join("<br>")]);
    if (n.constants) rows.push(["constants", esc(n.constants.join(", "))]);
    var ins = [];
    Object.keys(M.groups).forEach(function (p) { M.groups[p].edges.forEach(function (e) { if (e.d === x) ins.push(link(e.s.id) + ": " + esc(D.texts[e.t])); }); });
    if (ins.length) rows.push(["inputs", ins.join("<br>")]);
    if (n.out) rows.push(["outputs", n.out.map(function (t) { return esc(D.texts[t]); }).join("<br>")]);
    if (n.c) rows.push(["tags", esc(n.c)]);
    rows.push(["layer", esc(D.texts[n.p] || "(top)")]);
    if (n.gradient) rows.push(["gradient", esc(n.gradient)]);
    if (n.init) rows.push(["init", esc(n.init)]);
    if (n.der && n.der.length) rows.push([/backward/.test(n.c) ? "differentiates" : "derived from", n.der.map(link).join(", ")]);
    if (n.origins) rows.push(["from (earlier graph)", n.origins.map(esc).join("<br>")]);
    if (n.passes) rows.push(["passes", esc(n.passes.join(", "))]);
    if (n.value) rows.push(["value", esc(n.value)]);
    var dg = view().diag[x.id];
    if (dg) rows.push(["stability", dg.map(function (d) { return esc(d.pattern + ": " + (d.message || "") + " at " + d.location); }).join("<br>")]);
    if (D.nan && D.nan.key === x.id) rows.push(["numerics", esc(D.nan.message)]);
    var hl = view().highlight[x.id]; if (hl) rows.push(["this pass", esc(hl)]);
    return rows;
  }
  function detail(x) { $("detail").innerHTML = '<table id="dtable" data-key="' + esc(x.id) + '">' + rowsFor(x).map(function (r) { return "<tr><td>" + r[0] + "</td><td>" + r[1] + "</td></tr>"; }).join("") + "</table>"; }
  function select(key) {
    vp.querySelectorAll(".sel, .nb, .same").forEach(function (n) { n.classList.remove("sel", "nb", "same"); });
    pinned = key;
    var e = key && el(key), x = key && find(key);
    if (!e || !x) return;
    e.classList.add("sel"); detail(x);
    if (x.group) vp.querySelectorAll(".box.grp").forEach(function (b) {  // identical layers light up
      var y = find(b.getAttribute("data-key"));
      if (y && y !== x && y.group && y.sig === x.sig) b.classList.add("same");
    });
    vp.querySelectorAll('.edge[data-src="' + CSS.escape(key) + '"], .edge[data-dst="' + CSS.escape(key) + '"]').forEach(function (p) {
      p.classList.add("nb"); var o = el(p.getAttribute(p.getAttribute("data-src") === key ? "data-dst" : "data-src")); if (o) o.classList.add("nb");
    });
  }
  svg.addEventListener("click", function (e) {
    var b = e.target.closest(".box, .frame"); if (!b) return;
    var x = find(b.getAttribute("data-key")); if (!x) return;
    if (x.group || x.isSeries) { toggleBox(x); select(x.id); if (!el(x.id)) detail(x); } else select(x.id);
  });
  svg.addEventListener("mouseover", function (e) { var b = e.target.closest(".box"); if (b && !pinned) { var x = find(b.getAttribute("data-key")); if (x) detail(x); } });
  document.addEventListener("click", function (e) { var a = e.target.closest("[data-go]"); if (a) go(a.getAttribute("data-go")); });
  // ---- pan / zoom ----
  var drag = null;
  svg.addEventListener("mousedown", function (e) { if (!e.target.closest(".box, .frame")) drag = {x: e.clientX - T.x, y: e.clientY - T.y}; });
  window.addEventListener("mousemove", function (e) { if (drag) { T.x = e.clientX - drag.x; T.y = e.clientY - drag.y; apply(); } });
  window.addEventListener("mouseup", function () { drag = null; });
  svg.addEventListener("wheel", function (e) {
    e.preventDefault();
    var r = svg.getBoundingClientRect(), px = e.clientX - r.left, py = e.clientY - r.top;
    var k = Math.exp(-e.deltaY * 0.0015), s = Math.min(8, Math.max(0.02, T.s * k)); k = s / T.s;
    T.x = px - (px - T.x) * k; T.y = py - (py - T.y) * k; T.s = s; apply();
  }, {passive: false});
  // ---- search: matches anywhere, Enter opens the path to the next one ----
  var matches = [], next = 0;
  $("search").addEventListener("input", function () {
    var q = this.value.toLowerCase(); matches = []; next = 0;
    if (q) Object.keys(M.leaves).forEach(function (ni) { var l = M.leaves[ni], n = l.nd; if ((n.name || n.l).toLowerCase().indexOf(q) >= 0 || (n.op || "").toLowerCase().indexOf(q) >= 0) matches.push(l); });
    $("nmatch").textContent = q ? matches.length + " match" + (matches.length === 1 ? "" : "es") : "";
    render();
  });
  $("search").addEventListener("keydown", function (e) { if (e.key === "Enter" && matches.length) { go(matches[next % matches.length].id); next++; } });
  // ---- toggles ----
  function syncToggles() { $("t-fwd").checked = !S.hide.fwd; $("t-backward").checked = !S.hide.bwd; $("t-update").checked = !S.hide.upd; }
  [["t-fwd", "fwd"], ["t-backward", "bwd"], ["t-update", "upd"]].forEach(function (p) { $(p[0]).onchange = function () { S.hide[p[1]] = !this.checked; invalidateAll(); render(); }; });
  $("t-fold").onchange = function () { S.fold = this.checked; invalidateAll(); render(); };
  $("t-elabel").onchange = function () { svg.classList.toggle("show-elabel", this.checked); };
  $("t-flow").onchange = function () { svg.classList.toggle("flow", this.checked); };
  $("fit").onclick = fit; $("expand-all").onclick = function () { setAll(true); }; $("collapse-all").onclick = function () { setAll(false); };
  $("legend").innerHTML = [["#e3f2fd", "input"], ["#fff8e1", "param"], ["#eef3fb", "layer"], ["#fce4ec", "backward"], ["#fff3e0", "update"], ["#e8f5e9", "output"]].map(function (p) { return '<span class="sw" style="background:' + p[0] + '"></span>' + p[1]; }).join("") +
    '<br>flow: <span class="sw" style="background:#a5d6a7"></span>grad<span class="sw" style="background:#fff59d"></span>gated<span class="sw" style="background:#ef9a9a"></span>zero<span class="sw" style="background:#bdbdbd"></span>disconnected<span class="sw" style="background:#90caf9"></span>frozen';
  // ---- views ----
  function show(i) {
    cur = i; M = model(); pinned = null; invalidateAll();
    var v = view(), gj = graph(); $("gname").textContent = gj.name; $("totals").textContent = gj.totals.text || "";
    var p = v.pass;
    $("passinfo").innerHTML = p ? "<b>" + esc(p.pass) + "</b>: " + p.before + " → " + p.after + " nodes, −" + p.removed + " +" + p.added + ", " + p.ms + " ms" + (p.fired.length ? "<br>fired: " + p.fired.map(esc).join("<br>") : "") : "";
    var dk = Object.keys(v.diag);
    if (dk.length) $("passinfo").innerHTML += "<br><b>stability:</b> " + dk.map(link).join(", ");
    if (D.nan && M.byKey[D.nan.key]) $("passinfo").innerHTML += '<br><b class="bad">NaN/inf:</b> ' + link(D.nan.key);
    $("search").dispatchEvent(new Event("input"));
    home();
  }
  var sel = $("viewsel");
  D.views.forEach(function (v, i) { var o = document.createElement("option"); o.value = i; o.textContent = v.title; sel.appendChild(o); });
  sel.onchange = function () { show(+sel.value); };
  if (D.profile.length) {
    var cols = Object.keys(D.profile[0]).filter(function (c) { return c !== "key"; });
    $("profile").innerHTML = "<b>profile</b><table><tr>" + cols.map(function (c) { return "<th>" + esc(c) + "</th>"; }).join("") + "</tr>" +
      D.profile.map(function (r) { return "<tr>" + cols.map(function (c) { return "<td>" + ((c === "name" || c === "node") ? '<a class="nl" data-go="' + esc(r.key || "") + '">' + esc(r[c]) + "</a>" : esc(r[c])) + "</td>"; }).join("") + "</tr>"; }).join("") + "</table>";
  } else if (D.profile_text) { $("profile").innerHTML = "<b>profile</b><pre>" + esc(D.profile_text) + "</pre>"; }
  $("note").textContent = D.note || "";
  M = model();
  for (var r = M.root; ;) {  // open single-layer wrappers (a model that is one Sequential) at the start
    var vk = visKids(r).filter(function (k) { return k.group; });
    if (vk.length !== 1 || visKids(r).length > 4) break;
    r = vk[0]; S.open[r.path] = true;
  }
  show(0);
  window.gnReadyMs = performance.now();
  document.body.setAttribute("data-ready", "1");
})().catch(function (e) { document.body.setAttribute("data-error", String(e && e.stack || e)); console.error(e); });
