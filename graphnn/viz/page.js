// graphnn viz page: pan/zoom, search, detail panel, toggles, views (main, split, passes). No external libs.
(function () {
  "use strict";
  var D = JSON.parse(document.getElementById("gn-data").textContent);
  var svg = document.getElementById("canvas"), vp = document.getElementById("viewport");
  var $ = function (id) { return document.getElementById(id); };
  var T = {x: 0, y: 0, s: 1}, cur = 0, pinned = null;
  function esc(s) { return String(s).replace(/[&<>"]/g, function (c) { return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}[c]; }); }
  function apply() { vp.setAttribute("transform", "translate(" + T.x + "," + T.y + ") scale(" + T.s + ")"); }
  function view() { return D.views[cur]; }
  function group() { return $("view" + view().render); }
  function graph() { return D.graphs[view().graph]; }
  function fit() {
    var b = group().getBBox(), r = svg.getBoundingClientRect();
    if (!b.width || !r.width) return;
    T.s = Math.min(r.width / (b.width + 40), r.height / (b.height + 40), 1.5);
    T.x = (r.width - b.width * T.s) / 2 - b.x * T.s; T.y = 20 - b.y * T.s; apply();
  }
  function center(el) {
    var b = el.getBBox(), m = el.transform.baseVal.consolidate().matrix, r = svg.getBoundingClientRect();
    T.s = Math.max(T.s, 1);
    T.x = r.width / 2 - (m.e + b.width / 2) * T.s; T.y = r.height / 2 - (m.f + b.height / 2) * T.s; apply();
  }
  // ---- pan / zoom ----
  var drag = null;
  svg.addEventListener("mousedown", function (e) { if (!e.target.closest(".node, .ghost")) drag = {x: e.clientX - T.x, y: e.clientY - T.y}; });
  window.addEventListener("mousemove", function (e) { if (drag) { T.x = e.clientX - drag.x; T.y = e.clientY - drag.y; apply(); } });
  window.addEventListener("mouseup", function () { drag = null; });
  svg.addEventListener("wheel", function (e) {
    e.preventDefault();
    var r = svg.getBoundingClientRect(), px = e.clientX - r.left, py = e.clientY - r.top;
    var k = Math.exp(-e.deltaY * 0.0015), s = Math.min(8, Math.max(0.05, T.s * k)); k = s / T.s;
    T.x = px - (px - T.x) * k; T.y = py - (py - T.y) * k; T.s = s; apply();
  }, {passive: false});
  $("fit").onclick = fit;
  // ---- detail panel ----
  function link(key) {
    var n = graph().nodes[key];
    return n ? '<a class="nl" data-go="' + esc(key) + '">' + esc(n.name) + "</a>" : esc(key) + " (earlier graph)";
  }
  function fmt(v) { return typeof v === "object" ? esc(JSON.stringify(v)) : esc(v); }
  function detail(key) {
    var n = graph().nodes[key]; if (!n) return;
    var rows = [["name", esc(n.name)], ["kind", esc(n.kind)]];
    if (n.op) rows.push(["op", "<b>" + esc(n.op) + "</b>"]);
    if (n.type) rows.push(["type", esc(n.type)]);
    if (n.location) rows.push(["file:line", esc(n.location)]);
    if (n.op) rows.push(["FLOPs", esc(n.flops_text)], ["bytes", esc(n.bytes_text)]);
    if (n.attrs && Object.keys(n.attrs).length) rows.push(["attrs", Object.keys(n.attrs).map(function (k) { return esc(k) + "=" + esc(n.attrs[k]); }).join("<br>")]);
    if (n.constants) rows.push(["constants", esc(n.constants.join(", "))]);
    if (n.inputs) rows.push(["inputs", n.inputs.map(esc).join("<br>")]);
    if (n.outputs) rows.push(["outputs", n.outputs.map(esc).join("<br>")]);
    if (n.tags && n.tags.length) rows.push(["tags", esc(n.tags.join(", "))]);
    if (n.scope) rows.push(["scope", esc(n.scope)]);
    if (n.gradient) rows.push(["gradient", esc(n.gradient)]);
    if (n.init) rows.push(["init", esc(n.init)]);
    if (n.fused_from && n.fused_from.length) rows.push(["fused from", n.fused_from.map(link).join(", ")]);
    if (n.derived_from && n.derived_from.length && n.tags.indexOf("backward") >= 0) rows.push(["differentiates", n.derived_from.map(link).join(", ")]);
    if (n.origins) rows.push(["from (earlier graph)", n.origins.map(esc).join("<br>")]);
    if (n.provenance) rows.push(["provenance", fmt(n.provenance)]);
    if (n.value) rows.push(["value", esc(n.value)]);
    var dg = view().diag[key];
    if (dg) rows.push(["stability", dg.map(function (d) { return esc(d.pattern + ": " + (d.message || "") + " at " + d.location); }).join("<br>")]);
    var hl = view().highlight[key]; if (hl) rows.push(["this pass", esc(hl)]);
    $("detail").innerHTML = '<table id="dtable" data-key="' + esc(key) + '">' + rows.map(function (r) { return "<tr><td>" + r[0] + "</td><td>" + r[1] + "</td></tr>"; }).join("") + "</table>";
  }
  function neighbours(key, on) {
    group().querySelectorAll('.edge[data-src="' + key + '"], .edge[data-dst="' + key + '"]').forEach(function (e) {
      e.classList.toggle("nb", on);
      var o = e.getAttribute(e.getAttribute("data-src") === key ? "data-dst" : "data-src");
      group().querySelectorAll('[data-key="' + o + '"]').forEach(function (n) { n.classList.toggle("nb", on); });
    });
  }
  function select(key) {
    if (pinned) { group().querySelectorAll(".sel").forEach(function (n) { n.classList.remove("sel"); }); neighbours(pinned, false); }
    pinned = key;
    if (key) {
      group().querySelectorAll('[data-key="' + key + '"]').forEach(function (n) { n.classList.add("sel"); });
      neighbours(key, true); detail(key);
    }
  }
  svg.addEventListener("click", function (e) { var n = e.target.closest(".node, .ghost"); if (n) select(n.getAttribute("data-key")); });
  svg.addEventListener("mouseover", function (e) { var n = e.target.closest(".node, .ghost"); if (n && !pinned) detail(n.getAttribute("data-key")); });
  document.addEventListener("click", function (e) {
    var a = e.target.closest("[data-go]"); if (!a) return;
    var key = a.getAttribute("data-go"), el = group().querySelector('.node[data-key="' + key + '"]');
    if (el) { select(key); center(el); }
  });
  // ---- search ----
  var matches = [];
  $("search").addEventListener("input", function () {
    var q = this.value.toLowerCase(), nodes = graph().nodes; matches = [];
    group().querySelectorAll(".node").forEach(function (el) {
      var n = nodes[el.getAttribute("data-key")], hit = q && n && (n.name.toLowerCase().indexOf(q) >= 0 || (n.op || "").toLowerCase().indexOf(q) >= 0);
      el.classList.toggle("match", !!hit); if (hit) matches.push(el);
    });
    $("nmatch").textContent = q ? matches.length + " match" + (matches.length === 1 ? "" : "es") : "";
  });
  $("search").addEventListener("keydown", function (e) {
    if (e.key === "Enter" && matches.length) { var el = matches.shift(); matches.push(el); select(el.getAttribute("data-key")); center(el); }
  });
  // ---- toggles ----
  function toggle(id, cls, invert) { var f = function () { svg.classList.toggle(cls, invert ? !$(id).checked : $(id).checked); }; $(id).onchange = f; f(); }
  toggle("t-backward", "hide-backward", true); toggle("t-update", "hide-update", true);
  toggle("t-elabel", "show-elabel", false); toggle("t-flow", "flow", false);
  $("legend").innerHTML = [["#e3f2fd", "input"], ["#fff8e1", "param"], ["#fce4ec", "backward"], ["#fff3e0", "update"], ["#e8f5e9", "output"]].map(function (p) { return '<span class="sw" style="background:' + p[0] + '"></span>' + p[1]; }).join("") +
    '<br><span class="sw" style="border:3px solid #6a1b9a"></span>fused &nbsp;flow: <span class="sw" style="background:#a5d6a7"></span>grad<span class="sw" style="background:#fff59d"></span>gated<span class="sw" style="background:#ef9a9a"></span>zero<span class="sw" style="background:#bdbdbd"></span>disconnected<span class="sw" style="background:#90caf9"></span>frozen';
  // ---- views ----
  function show(i) {
    select(null);
    document.querySelectorAll(".view").forEach(function (g) { g.classList.remove("on"); });
    cur = i; var v = view(), g = group(); g.classList.add("on");
    g.querySelectorAll(".node").forEach(function (el) {
      var k = el.getAttribute("data-key");
      el.classList.remove("hl-added", "hl-removed", "diag");
      if (v.highlight[k]) el.classList.add("hl-" + v.highlight[k]);
      if (v.diag[k]) el.classList.add("diag");
    });
    var gj = graph(); $("gname").textContent = gj.name; $("totals").textContent = gj.totals.text || "";
    var p = v.pass;
    $("passinfo").innerHTML = p ? "<b>" + esc(p.pass) + "</b>: " + p.before + " → " + p.after + " nodes, −" + p.removed + " +" + p.added + ", " + p.ms + " ms" + (p.fired.length ? "<br>fired: " + p.fired.map(esc).join("<br>") : "") : "";
    var dk = Object.keys(v.diag);
    if (dk.length) $("passinfo").innerHTML += "<br><b>stability:</b> " + dk.map(link).join(", ");
    $("search").dispatchEvent(new Event("input"));
    fit();
  }
  var sel = $("viewsel");
  D.views.forEach(function (v, i) { var o = document.createElement("option"); o.value = i; o.textContent = v.title; sel.appendChild(o); });
  sel.onchange = function () { show(+sel.value); };
  // ---- profile table ----
  if (D.profile.length) {
    var cols = Object.keys(D.profile[0]).filter(function (c) { return c !== "key"; });
    $("profile").innerHTML = "<b>profile</b><table><tr>" + cols.map(function (c) { return "<th>" + esc(c) + "</th>"; }).join("") + "</tr>" +
      D.profile.map(function (r) { return "<tr>" + cols.map(function (c) { return "<td>" + ((c === "name" || c === "node") ? '<a class="nl" data-go="' + esc(r.key || "") + '">' + esc(r[c]) + "</a>" : esc(r[c])) + "</td>"; }).join("") + "</tr>"; }).join("") + "</table>";
  } else if (D.profile_text) { $("profile").innerHTML = "<b>profile</b><pre>" + esc(D.profile_text) + "</pre>"; }
  $("note").textContent = D.note || "";
  show(0);
  document.body.setAttribute("data-ready", "1");
})();
