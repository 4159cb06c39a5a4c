"""The `graphnn` command line: one small function per subcommand, registered in SUBCOMMANDS.

    graphnn export SCRIPT_OR_GRAPH --out model.onnx [--opset 17] [--name NAME] [--output NAME ...]
                   [--script-args "ARGS"] [--allow-training-ops]
    graphnn check model.onnx [--backend numpy|cupy]
    graphnn viz SCRIPT_OR_GRAPH_OR_ONNX --out graph.html [--name NAME] [--script-args "ARGS"]

Scripts run as __main__ with sys.argv = [script, *ARGS]; graphnn.cli.load says which graph is taken.

A user-level library: may import anything in graphnn.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import Any

from .. import onnx as gn_onnx
from ..ir.errors import GraphnnError
from ..ir.graph import Graph, Value
from . import viz as viz_cli
from .load import LoadError, add_source_args, load_graph

# name -> (add its arguments to a subparser, run it and return the exit status)
SUBCOMMANDS: dict[str, tuple[Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]] = {}


def subcommand(name: str, setup: Callable[[argparse.ArgumentParser], None]) -> Callable[[Callable], Callable]:
    def deco(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
        SUBCOMMANDS[name] = (setup, run)
        run.__doc__ = run.__doc__ or name
        return run

    return deco


def _export_args(p: argparse.ArgumentParser) -> None:
    add_source_args(p, "an .onnx model")
    p.add_argument("--out", required=True, help="the .onnx file to write")
    p.add_argument("--opset", type=int, default=17)
    p.add_argument("--output", nargs="+", default=None, metavar="NAME",
                   help="what to export: named outputs (g.output) or value names; default: the graph's named outputs")
    p.add_argument("--allow-training-ops", action="store_true", help="export loss heads and other training ops")


def _pick_outputs(g: Graph, names: list[str] | None) -> dict[str, Value] | None:
    """--output NAMES: a graph output by that name, else the value of that name; None: the graph's outputs."""
    if not names:
        return None
    byname = {v.name: v for v in g.values()}
    out = {}
    for n in names:
        v = g.outputs.get(n) or byname.get(n)
        if v is None:
            known = sorted(g.outputs) + sorted(k for k in byname if k not in g.outputs)
            raise LoadError(f"graph {g.name!r} has no output or value named {n!r}; it has: "
                            f"{', '.join(known[:20])}{' ...' if len(known) > 20 else ''}")
        out[n] = v
    return out


@subcommand("export", _export_args)
def cmd_export(args: argparse.Namespace) -> int:
    """Export a graph's named outputs to ONNX; prints the preflight, checks and parity report."""
    g = load_graph(args.source, args.name, args.script_args)
    outputs = _pick_outputs(g, args.output)
    if outputs is None and not g.outputs:
        print(f"graphnn export: graph {g.name!r} declares no outputs; add g.output('name', value) in the script "
              "or pass --output NAME", file=sys.stderr)
        return 2
    try:
        rep = gn_onnx.export(g, args.out, outputs=outputs, opset=args.opset,
                             allow_training_ops=args.allow_training_ops)
    except GraphnnError as e:
        print(f"graphnn export: {e}", file=sys.stderr)
        return 1
    print(rep)
    return 0


def _check_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="an .onnx file")
    p.add_argument("--backend", default="numpy", choices=["numpy", "cupy"], help="graphnn backend to run it on")
    p.add_argument("--tolerance", type=float, default=1e-4, help="largest acceptable difference (relative above 1)")


@subcommand("check", _check_args)
def cmd_check(args: argparse.Namespace) -> int:
    """Validate an ONNX model, run it on graphnn and onnxruntime with random inputs, print the max difference."""
    if not os.path.exists(args.model):
        print(f"graphnn check: {args.model}: no such file", file=sys.stderr)
        return 2
    try:
        res = gn_onnx.check(args.model, backend=args.backend)
    except GraphnnError as e:
        print(f"graphnn check: {e}", file=sys.stderr)
        return 1
    for c in res["checks"]:
        print(f"check: {c}")
    print(f"imported: {len(res['graph'].nodes)} graphnn nodes, outputs {list(res['graph'].outputs)}")
    worst = 0.0
    for size, (a, r) in res["parity"].items():
        print(f"graphnn ({args.backend}) vs onnxruntime, symbolic dims = {size}: max abs diff {a:.3g}, max rel diff {r:.3g}")
        worst = max(worst, r)
    print("ok" if worst <= args.tolerance else f"MISMATCH: {worst:.3g} > tolerance {args.tolerance:g}")
    return 0 if worst <= args.tolerance else 1


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad invocation in one line (exit 2) instead of a usage block."""

    def error(self, message: str) -> Any:
        print(f"{self.prog}: {message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(2)


SUBCOMMANDS["viz"] = (viz_cli.setup, viz_cli.run)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="graphnn", description="graphnn: a define-then-run deep-learning compiler",
                     epilog="--debug (anywhere): show the full traceback of an error instead of one line")
    subs = parser.add_subparsers(dest="command", required=True)
    for name, (setup, run) in SUBCOMMANDS.items():
        p = subs.add_parser(name, help=(run.__doc__ or "").splitlines()[0])
        setup(p)
        p.set_defaults(run=run)
    return parser


def _one_line(e: BaseException) -> str:
    return " ".join(line.strip() for line in str(e).splitlines() if line.strip()) or type(e).__name__


def main(argv: list[str] | None = None) -> Any:
    """Entry point of the `graphnn` script: any error prints one line and exits non-zero (2 for what it was
    given: a bad invocation, a missing or unreadable file, a failing script; 1 for graphnn errors such as a
    refused export); `--debug` anywhere on the line shows the traceback instead."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    argv = [a for a in argv if a != "--debug"]
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except Exception as e:  # the command line reports every failure the same way
        if debug:
            raise
        code = 1 if isinstance(e, GraphnnError) else 2
        kind = "" if isinstance(e, (GraphnnError, LoadError, OSError)) else f"internal error: {type(e).__name__}: "
        print(f"graphnn {args.command}: {kind}{_one_line(e)} (--debug for the traceback)", file=sys.stderr)
        return code


if __name__ == "__main__":
    sys.exit(main())
