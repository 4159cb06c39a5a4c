"""`graphnn viz SOURCE --out graph.html`: draw the graph a script builds, a graphnn .json graph, or an ONNX model.

A script runs as __main__ with sys.argv = [script, *--script-args]. Which graph it yields: `--name NAME` picks the
module-level variable NAME; otherwise the first of the module-level variables `fn`, `graph`, `g` that is a compiled
function or a graph; otherwise the last training step (a function with updates; else the last function) gn.compile made while the
script ran (gn.train.fit compiles one),
else the last gn.Graph the script created. The rule and loader are shared with `graphnn export` (graphnn.cli.load).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..viz import save_html, to_dot
from ..viz.browser import screenshot_html
from .load import LoadError, add_source_args, load_target

__all__ = ["load_target", "run", "setup"]


def setup(p: argparse.ArgumentParser) -> None:
    """Add the `viz` arguments to a parser (graphnn.cli's SUBCOMMANDS table calls this)."""
    add_source_args(p, "an .onnx model")
    p.add_argument("--out", default="graph.html", help="output file: .html (default graph.html), .dot or .png")
    p.add_argument("--dims", default="", help="bind symbolic dims for costs, e.g. batch=128,seq=64")


def _parse_dims(text: str) -> dict[str, int]:
    """'batch=128,seq=64' -> {'batch': 128, 'seq': 64}; anything else is a LoadError before the script runs."""
    dims = {}
    for part in filter(None, text.split(",")):
        k, _, v = part.partition("=")
        if not k.strip() or not v.strip().isdigit():
            raise LoadError(f"--dims: expected NAME=SIZE[,NAME=SIZE...], got {part!r}")
        dims[k.strip()] = int(v)
    return dims


def run(args: argparse.Namespace) -> int:
    """Draw a script's graph or an ONNX model as a self-contained HTML page (or .dot/.png)."""
    dims = _parse_dims(args.dims)
    target = load_target(args.source, args.name, args.script_args)
    out = Path(args.out)
    if out.suffix == ".dot":
        out.write_text(to_dot(target, dims=dims))
    elif out.suffix == ".png":
        html = out.with_suffix(".html")
        save_html(target, html, dims=dims)
        screenshot_html(html, out)
    else:
        save_html(target, out, dims=dims)
    print(f"wrote {out}")
    return 0
