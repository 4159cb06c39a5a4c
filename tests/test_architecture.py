"""The one-way import rule: ir imports nothing else from graphnn; passes imports only ir; backends import ir
(and plan types from passes). Checked by parsing every module's imports."""

from __future__ import annotations

import ast
import pathlib

from graphnn.ir import value

PKG = pathlib.Path(__file__).resolve().parents[1] / "graphnn"
# graphnn.distributed is the backend-side communicator (mpi4py wrapper) the all_reduce kernels call; it imports only
# ir (errors), so backends may import it without reaching above themselves.
ALLOWED = {"ir": {"ir"}, "passes": {"ir", "passes"}, "backends": {"ir", "passes", "backends", "distributed"},
           "distributed": {"ir", "distributed"}}


def _imports(path: pathlib.Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text())
    rel = path.relative_to(PKG).parts
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(rel[:-1])[: len(rel) - node.level]
                mod = ".".join(base + ([node.module] if node.module else []))
                out.append((node.lineno, mod))
                if not node.module:
                    out.extend((node.lineno, ".".join(base + [a.name])) for a in node.names)
            elif node.module and node.module.startswith("graphnn"):
                out.append((node.lineno, node.module.removeprefix("graphnn").lstrip(".")))
        elif isinstance(node, ast.Import):
            out.extend((node.lineno, a.name.removeprefix("graphnn").lstrip("."))
                       for a in node.names if a.name.startswith("graphnn"))
    return out


def test_import_rule() -> None:
    bad = []
    for layer, allowed in ALLOWED.items():
        for path in (PKG / layer).rglob("*.py"):
            for line, mod in _imports(path):
                top = mod.split(".")[0] if mod else ""
                if top and top not in allowed:
                    bad.append(f"{path.relative_to(PKG.parent)}:{line} imports graphnn.{mod} ({layer} may import {sorted(allowed)})")
    assert not bad, "\n".join(bad)
    assert len(list((PKG / "ir").rglob("*.py"))) > 5  # the walk found the package


# ---- no import cycles, no hidden imports (issue 13 item 6) -----------------------------------------------------
OPTIONAL = {"cupy", "cupyx", "matplotlib", "torch", "mpi4py", "jax", "pydot", "IPython", "tqdm", "sklearn", "scipy"}


def _modules() -> dict[str, pathlib.Path]:
    """Dotted module name (without the `graphnn.` prefix; "" for the package) -> file."""
    mods = {}
    for path in PKG.rglob("*.py"):
        parts = list(path.relative_to(PKG).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(parts)] = path
    return mods


def _targets(path: pathlib.Path, node: ast.AST, mods: dict[str, pathlib.Path]) -> list[str]:
    """The graphnn modules an import statement loads explicitly (a name imported from a package that is one of
    its submodules counts as that submodule)."""
    rel = path.relative_to(PKG).with_suffix("").parts
    pkg = list(rel[:-1]) if rel[-1] != "__init__" else list(rel[:-1])
    names: list[str] = []
    if isinstance(node, ast.ImportFrom):
        if node.level:
            base = pkg[: len(pkg) - (node.level - 1)] if node.level > 1 else pkg
            mod = ".".join(base + ([node.module] if node.module else []))
        elif node.module and node.module.split(".")[0] == "graphnn":
            mod = node.module.removeprefix("graphnn").lstrip(".")
        else:
            return []
        for a in node.names:
            sub = f"{mod}.{a.name}" if mod else a.name
            names.append(sub if sub in mods else mod)
    elif isinstance(node, ast.Import):
        names = [a.name.removeprefix("graphnn").lstrip(".") for a in node.names if a.name.split(".")[0] == "graphnn"]
    return [n for n in names if n in mods]


def _runtime_imports(tree: ast.AST) -> list[ast.AST]:
    """Every import statement that can run, at top level or inside functions; `if TYPE_CHECKING:` blocks
    (annotations only, never executed) are left out."""
    out: list[ast.AST] = []
    todo = [tree]
    while todo:
        node = todo.pop()
        if isinstance(node, ast.If) and getattr(node.test, "id", getattr(node.test, "attr", "")) == "TYPE_CHECKING":
            todo.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            out.append(node)
        todo.extend(ast.iter_child_nodes(node))
    return out


def _import_graph() -> dict[str, set[str]]:
    """module -> the graphnn modules it imports, at top level or inside functions alike."""
    mods = _modules()
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for m, path in mods.items():
        for node in _runtime_imports(ast.parse(path.read_text())):
            graph[m].update(t for t in _targets(path, node, mods) if t != m)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[frozenset[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on.add(start)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = set()
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.add(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.append(frozenset(comp))
    return out


def test_no_import_cycles() -> None:
    graph = _import_graph()
    assert {"ir.graph", "ir.builder", "compiler"} <= set(graph)  # the walk found the package
    found = _cycles(graph)
    assert not found, "import cycles among graphnn's files:\n" + "\n".join(
        "  " + " <-> ".join(f"graphnn.{m}" for m in sorted(c)) for c in found)


def test_cycle_finder_names_a_cycle() -> None:
    got = _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}})
    assert got == [frozenset({"a", "b", "c"})]


def _function_imports() -> list[str]:
    """Imports inside functions that are neither of an optional dependency nor explained by a comment on
    their line or the line above."""
    bad: dict[str, None] = {}  # ordered set: ast.walk meets a nested function's imports once per enclosing function
    for path in PKG.rglob("*.py"):
        src = path.read_text()
        lines = src.splitlines()
        for fn in ast.walk(ast.parse(src)):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(fn):
                if not isinstance(node, (ast.Import, ast.ImportFrom)):
                    continue
                if isinstance(node, ast.ImportFrom):
                    mods = [node.module or ""] if not node.level else ["graphnn"]
                else:
                    mods = [a.name for a in node.names]
                if all(m.split(".")[0] in OPTIONAL for m in mods):
                    continue
                k = node.lineno - 1
                if "#" in lines[k] or (k > 0 and lines[k - 1].strip().startswith("#")):
                    continue
                bad[f"{path.relative_to(PKG.parent)}:{node.lineno}: {lines[k].strip()}"] = None
    return list(bad)


def test_imports_inside_functions_are_optional_or_explained() -> None:
    bad = _function_imports()
    assert not bad, f"{len(bad)} import(s) inside functions, neither optional nor commented:\n" + "\n".join(bad)


def test_function_import_finder_flags_an_unexplained_import(tmp_path: pathlib.Path) -> None:
    pkg = tmp_path / "graphnn"
    pkg.mkdir()
    (pkg / "m.py").write_text("def f():\n    from .x import y\n\n\ndef g():\n    import torch\n\n\n"
                              "def h():\n    # why: breaks a cycle\n    from .x import z\n")
    globals()["PKG"], old = pkg, PKG
    try:
        assert _function_imports() == ["graphnn/m.py:2: from .x import y"]
    finally:
        globals()["PKG"] = old


def test_value_operators_are_all_installed() -> None:
    names = {"bool", "data", "ufunc", "numpy", "abs", "add", "sub", "mul", "div", "pow", "neg", "greater", "less",
             "greater_equal", "less_equal", "cast", "matmul", "getitem", "transpose", "reshape", "format"}
    assert names <= set(value.OPERATORS)
    assert all(callable(f) for f in value.OPERATORS.values())


def test_type_checking_imports_are_not_edges() -> None:
    tree = ast.parse("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .a import b\nfrom .c import d\n")
    assert sorted(n.module for n in _runtime_imports(tree)) == ["c", "typing"]
