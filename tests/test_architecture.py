"""The one-way import rule: ir imports nothing else from graphnn; passes imports only ir; backends import ir
(and plan types from passes). Checked by parsing every module's imports."""

from __future__ import annotations

import ast
import pathlib

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
