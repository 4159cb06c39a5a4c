"""The `graphnn` command line: one small function per subcommand, registered in SUBCOMMANDS.

    graphnn export SCRIPT_OR_GRAPH --out model.onnx [--opset 17] [--graph NAME] [--allow-training-ops]
    graphnn check model.onnx

A user-level library: may import anything in graphnn.
"""

from __future__ import annotations

import argparse
import runpy
import sys
from collections.abc import Callable
from typing import Any

from .ir.errors import GraphnnError
from .ir.graph import Graph

# name -> (add its arguments to a subparser, run it and return the exit status)
SUBCOMMANDS: dict[str, tuple[Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]] = {}


def subcommand(name: str, setup: Callable[[argparse.ArgumentParser], None]) -> Callable[[Callable], Callable]:
    def deco(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
        SUBCOMMANDS[name] = (setup, run)
        run.__doc__ = run.__doc__ or name
        return run

    return deco


def load_graph(source: str, name: str | None = None) -> Graph:
    """A graph from a graphnn JSON file, an .onnx file, or a Python script that builds one at module level
    (the variable `name`, else the only Graph among the script's globals, else one called `graph` or `g`).
    The script runs with __name__ == "__graphnn_export__", so an `if __name__ == "__main__":` block is skipped."""
    if source.endswith(".json"):
        from .ir.serialize import from_json

        with open(source) as f:
            return from_json(f.read())
    if source.endswith(".onnx"):
        from .backends.onnx.importer import load

        return load(source)
    scope = runpy.run_path(source, run_name="__graphnn_export__")
    if name is not None:
        if not isinstance(scope.get(name), Graph):
            raise SystemExit(f"graphnn: {source} defines no Graph named {name!r}")
        return scope[name]
    graphs = {k: v for k, v in scope.items() if isinstance(v, Graph) and not k.startswith("_")}
    unique = {id(v): v for v in graphs.values()}
    if len(unique) == 1:
        return next(iter(unique.values()))
    for k in ("graph", "g"):
        if k in graphs:
            return graphs[k]
    raise SystemExit(f"graphnn: {source} defines {len(unique)} graphs ({', '.join(graphs) or 'none'}); "
                     "pick one with --graph NAME")


def _export_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", help="a Python script that builds a graph, or a graphnn .json graph")
    p.add_argument("--out", required=True, help="the .onnx file to write")
    p.add_argument("--opset", type=int, default=17)
    p.add_argument("--graph", default=None, help="the script's variable holding the graph")
    p.add_argument("--allow-training-ops", action="store_true", help="export loss heads and other training ops")


@subcommand("export", _export_args)
def cmd_export(args: argparse.Namespace) -> int:
    """Export a graph's named outputs to ONNX; prints the preflight, checks and parity report."""
    from . import onnx as gn_onnx

    g = load_graph(args.source, args.graph)
    if not g.outputs:
        print(f"graphnn export: graph {g.name!r} declares no outputs; add g.output('name', value) in the script",
              file=sys.stderr)
        return 2
    try:
        rep = gn_onnx.export(g, args.out, opset=args.opset, allow_training_ops=args.allow_training_ops)
    except GraphnnError as e:
        print(f"graphnn export: {e}", file=sys.stderr)
        return 1
    print(rep)
    return 0


def _check_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="an .onnx file")
    p.add_argument("--tolerance", type=float, default=1e-4, help="largest acceptable difference (relative above 1)")


@subcommand("check", _check_args)
def cmd_check(args: argparse.Namespace) -> int:
    """Validate an ONNX model, run it on graphnn and onnxruntime with random inputs, print the max difference."""
    from . import onnx as gn_onnx

    try:
        res = gn_onnx.check(args.model)
    except GraphnnError as e:
        print(f"graphnn check: {e}", file=sys.stderr)
        return 1
    for c in res["checks"]:
        print(f"check: {c}")
    print(f"imported: {len(res['graph'].nodes)} graphnn nodes, outputs {list(res['graph'].outputs)}")
    worst = 0.0
    for size, (a, r) in res["parity"].items():
        print(f"graphnn vs onnxruntime, symbolic dims = {size}: max abs diff {a:.3g}, max rel diff {r:.3g}")
        worst = max(worst, r)
    print("ok" if worst <= args.tolerance else f"MISMATCH: {worst:.3g} > tolerance {args.tolerance:g}")
    return 0 if worst <= args.tolerance else 1


def _register_viz() -> None:
    from .viz import cli as viz_cli

    SUBCOMMANDS["viz"] = (viz_cli.setup, viz_cli.run)


def build_parser() -> argparse.ArgumentParser:
    _register_viz()
    parser = argparse.ArgumentParser(prog="graphnn", description="graphnn: a define-then-run deep-learning compiler")
    subs = parser.add_subparsers(dest="command", required=True)
    for name, (setup, run) in SUBCOMMANDS.items():
        p = subs.add_parser(name, help=(run.__doc__ or "").splitlines()[0])
        setup(p)
        p.set_defaults(run=run)
    return parser


def main(argv: list[str] | None = None) -> Any:
    """Entry point of the `graphnn` script."""
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
