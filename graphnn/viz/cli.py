"""`graphnn viz SCRIPT_OR_ONNX --out graph.html`: draw the graph a script builds, or an ONNX model.

Which graph a script yields: `--name NAME` picks the module-level variable NAME; otherwise the first of the
module-level variables `fn`, `graph`, `g` that is a compiled function or a graph; otherwise the last function
gn.compile made while the script ran, else the last gn.Graph created.
"""

from __future__ import annotations

import argparse
import runpy
import sys
from pathlib import Path
from typing import Any

from ..compiler import Function
from ..ir.graph import Graph


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register the `viz` subcommand on an argparse subparsers object."""
    p = subparsers.add_parser("viz", help="draw a script's graph or an ONNX model as HTML (or DOT)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    setup(p)
    p.set_defaults(func=run)
    return p


def setup(p: argparse.ArgumentParser) -> None:
    """Add the `viz` arguments to a parser (graphnn.cli's SUBCOMMANDS table calls this)."""
    p.add_argument("source", help="a Python script that builds a graph, or a .onnx file")
    p.add_argument("--out", default="graph.html", help="output file: .html (default graph.html), .dot or .png")
    p.add_argument("--name", help="module-level variable of the script holding the graph or compiled function")
    p.add_argument("--dims", default="", help="bind symbolic dims for costs, e.g. batch=128,seq=64")
    p.add_argument("--no-main", action="store_true", help="run the script with __name__ != '__main__'")


def _parse_dims(text: str) -> dict[str, int]:
    dims = {}
    for part in filter(None, text.split(",")):
        k, _, v = part.partition("=")
        dims[k.strip()] = int(v)
    return dims


def load_target(source: str, name: str | None = None, as_main: bool = True) -> Graph | Function:
    """The graph or compiled function a script (or .onnx file) yields, by the rule in this module's doc."""
    if source.endswith(".onnx"):
        try:
            from .. import onnx as gonnx  # gn.onnx (the ONNX area)
        except ImportError as e:
            raise SystemExit(f"graphnn viz: reading .onnx needs gn.onnx ({e})") from None
        return gonnx.load(source)
    graphs: list[Graph] = []
    fns: list[Function] = []
    g_init, f_init = Graph.__init__, Function.__init__

    def track_g(self: Graph, *a: Any, **k: Any) -> None:
        g_init(self, *a, **k)
        graphs.append(self)

    def track_f(self: Function, *a: Any, **k: Any) -> None:
        f_init(self, *a, **k)
        fns.append(self)

    Graph.__init__, Function.__init__ = track_g, track_f  # type: ignore[method-assign]
    sys.path.insert(0, str(Path(source).resolve().parent))
    try:
        ns = runpy.run_path(source, run_name="__main__" if as_main else "__graphnn_viz__")
    finally:
        Graph.__init__, Function.__init__ = g_init, f_init  # type: ignore[method-assign]
        sys.path.pop(0)
    if name is not None:
        if not isinstance(ns.get(name), (Graph, Function)):
            raise SystemExit(f"graphnn viz: {source} has no module-level graph or function named {name!r}")
        return ns[name]
    for k in ("fn", "graph", "g"):
        if isinstance(ns.get(k), (Graph, Function)):
            return ns[k]
    if fns:
        return fns[-1]
    if graphs:
        return graphs[-1]
    raise SystemExit(f"graphnn viz: {source} built no gn.Graph")


def run(args: argparse.Namespace) -> int:
    """Draw a script's graph or an ONNX model as a self-contained HTML page (or .dot/.png)."""
    from . import save_html, to_dot

    target = load_target(args.source, args.name, not args.no_main)
    dims = _parse_dims(args.dims)
    out = Path(args.out)
    if out.suffix == ".dot":
        out.write_text(to_dot(target.graph if isinstance(target, Function) else target, dims=dims))
    elif out.suffix == ".png":
        from .browser import screenshot_html

        html = out.with_suffix(".html")
        save_html(target, html, dims=dims)
        screenshot_html(html, out)
    else:
        save_html(target, out, dims=dims)
    print(f"wrote {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry (`python -m graphnn.viz.cli ...`) until the `graphnn` command wires `viz` in."""
    parser = argparse.ArgumentParser(prog="graphnn")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
