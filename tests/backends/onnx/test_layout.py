"""The ONNX room mirrors the op families: one module per graphnn/ir/ops family holding its tables, every table a
backends/table.py Table, every op's export and import in its own family's module, no import cycle inside onnx/."""

from __future__ import annotations

import ast
import pathlib

import graphnn.backends.onnx as room
from graphnn.backends.table import Table
from graphnn.ir.ops import FAMILIES as IR_FAMILIES

ROOM = pathlib.Path(room.__file__).parent


def test_one_module_per_op_family_with_its_tables() -> None:
    assert [f.__name__.rsplit(".", 1)[1] for f in room.FAMILIES] == [f.__name__.rsplit(".", 1)[1] for f in IR_FAMILIES]
    for fam, ir_fam in zip(room.FAMILIES, IR_FAMILIES):
        assert isinstance(fam.LOWERINGS, Table) and isinstance(fam.IMPORTERS, Table), fam.__name__
        ops = {op.name for op in ir_fam.OPS}
        # A family's module covers exactly its own ops: lowered or refused with a reason.
        assert set(fam.LOWERINGS) | set(fam.UNSUPPORTED) == ops, fam.__name__
        assert set(fam.NOT_IMPORTED) <= set(fam.LOWERINGS)


def test_no_import_cycle_inside_the_onnx_room() -> None:
    edges: dict[str, set[str]] = {}
    for path in ROOM.glob("*.py"):
        mod = path.stem
        deps: set[str] = set()
        for node in ast.parse(path.read_text()).body:  # module level: what runs on import
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                deps |= {node.module} if node.module else {a.name for a in node.names}
                if node.module is None:
                    deps.add("__init__")
        edges[mod] = {d.split(".")[0] for d in deps if (ROOM / f"{d.split('.')[0]}.py").exists()} | (
            {"__init__"} & deps)
    edges = {mod: deps - {mod} for mod, deps in edges.items()}  # __init__ names itself in `from . import X`
    state: dict[str, int] = {}

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for d in edges.get(m, ()):
            assert state.get(d) != 1, f"import cycle: {' -> '.join([*path, m, d])}"
            if d not in state:
                visit(d, [*path, m])
        state[m] = 2

    for m in edges:
        if m not in state:
            visit(m, [])
