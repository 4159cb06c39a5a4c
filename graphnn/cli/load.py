"""The one loader behind `graphnn export` and `graphnn viz`: a graph from a graphnn JSON file, an .onnx model,
or a Python script run as __main__ (with its own arguments), found by the rule in `load_target`.

A user-level library: may import anything in graphnn.
"""

from __future__ import annotations

import argparse
import os
import runpy
import shlex
import sys
import traceback
from pathlib import Path
from typing import Any

from .. import onnx as gn_onnx
from ..backends.function import Function
from ..ir.graph import Graph
from ..ir.serialize import from_json

_PKG = str(Path(__file__).resolve().parent) + os.sep
# Functions compiled while one of these runs are internal checks (ONNX parity, drawings), not the script's own.
_INTERNAL = tuple(str(Path(__file__).resolve().parent / d) + os.sep for d in ("viz", "backends/onnx")) + (
    str(Path(__file__).resolve().parent / "onnx.py"),)


class LoadError(Exception):
    """The source could not be loaded or holds no graph; the message says why (the CLI prints it, exit 2)."""


def _from_user_code() -> bool:
    """True when the Graph being created is created by code outside the graphnn package (not a copy)."""
    f = sys._getframe(2)  # _from_user_code <- tracking __init__ <- the caller
    return not f.f_code.co_filename.startswith(_PKG)


def _internal_compile() -> bool:
    f = sys._getframe(2)
    while f is not None:
        if f.f_code.co_filename.startswith(_INTERNAL):
            return True
        f = f.f_back
    return False


def run_script(source: str, script_args: str | list[str] | None = None) -> tuple[dict[str, Any], list[Graph],
                                                                                 list[Function]]:
    """Run `source` as __main__ with sys.argv = [source, *script_args]; returns (its globals, the graphs its own
    code created, the functions it compiled), each in creation order."""
    if not os.path.exists(source):
        raise LoadError(f"{source}: no such file")
    try:
        args = shlex.split(script_args) if isinstance(script_args, str) else list(script_args or [])
    except ValueError as e:
        raise LoadError(f"--script-args {script_args!r}: {e}") from None
    graphs: list[Graph] = []
    fns: list[Function] = []
    g_init, f_init = Graph.__init__, Function.__init__

    def track_g(self: Graph, *a: Any, **k: Any) -> None:
        g_init(self, *a, **k)
        if _from_user_code():
            graphs.append(self)

    def track_f(self: Function, *a: Any, **k: Any) -> None:
        f_init(self, *a, **k)
        if not _internal_compile():
            fns.append(self)

    old_argv, old_path = sys.argv, list(sys.path)
    Graph.__init__, Function.__init__ = track_g, track_f  # type: ignore[method-assign]
    sys.argv = [source, *args]
    sys.path.insert(0, str(Path(source).resolve().parent))
    try:
        ns = runpy.run_path(source, run_name="__main__")
    except SystemExit as e:  # a script ending in sys.exit(main()): fine when it succeeded
        if e.code not in (None, 0):
            raise LoadError(f"{source} exited with status {e.code}") from None
        ns = {}
    except Exception as e:  # the user's script failed: say where in it (--debug shows the traceback)
        tb = traceback.extract_tb(e.__traceback__)
        mine = [fr for fr in tb if os.path.abspath(fr.filename) == os.path.abspath(source)]
        at = f" at {source}:{mine[-1].lineno}" if mine else ""
        msg = str(e).splitlines()[0] if str(e) else ""
        raise LoadError(f"{source} raised {type(e).__name__}{at}: {msg}") from e
    finally:
        Graph.__init__, Function.__init__ = g_init, f_init  # type: ignore[method-assign]
        sys.argv, sys.path[:] = old_argv, old_path
    return ns, graphs, fns


def load_target(source: str, name: str | None = None, script_args: str | list[str] | None = None) -> Graph | Function:
    """The graph or compiled function `source` yields. A .json file is graphnn's JSON form (graphnn.ir.serialize),
    an .onnx file is imported; a script runs as __main__ and yields: the module-level variable `name`; else the
    first of the module-level `fn`, `graph`, `g` holding a graph or compiled function; else the last training step
    it gn.compile'd (a function with updates, directly or through gn.train), or the last function if none has
    updates; else the last gn.Graph its own code created."""
    if source.endswith(".json"):
        try:
            with open(source, "rb") as f:
                return from_json(f.read(), source=source)
        except OSError as e:
            raise LoadError(f"{source}: {e.strerror or e}") from None
    if source.endswith(".onnx"):
        if not os.path.exists(source):
            raise LoadError(f"{source}: no such file")
        return gn_onnx.load(source)
    ns, graphs, fns = run_script(source, script_args)
    if name is not None:
        if not isinstance(ns.get(name), (Graph, Function)):
            raise LoadError(f"{source} has no module-level graph or compiled function named {name!r}")
        return ns[name]
    for k in ("fn", "graph", "g"):
        if isinstance(ns.get(k), (Graph, Function)):
            return ns[k]
    if fns:
        steps = [f for f in fns if f.graph.updates]
        return (steps or fns)[-1]
    if graphs:
        return graphs[-1]
    raise LoadError(f"{source} built no gn.Graph (run with its arguments via --script-args \"...\")")


def load_graph(source: str, name: str | None = None, script_args: str | list[str] | None = None) -> Graph:
    """Like `load_target`, but a compiled function gives its source graph (the graph the user declared)."""
    t = load_target(source, name, script_args)
    return t.source if isinstance(t, Function) else t


def add_source_args(p: argparse.ArgumentParser, what: str) -> None:
    """The arguments every script-reading subcommand shares (the rule is load_target's)."""
    p.add_argument("source", help=f"a Python script that builds a graph, a graphnn .json graph, or {what}")
    p.add_argument("--name", "--graph", dest="name", default=None,
                   help="the script's module-level variable holding the graph (or compiled function)")
    p.add_argument("--script-args", default="", metavar="\"ARGS\"",
                   help='arguments for the script, e.g. --script-args "--epochs 1"; it runs as __main__ with them')
