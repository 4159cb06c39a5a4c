"""The op completeness matrix, read from the registry and every backend table: per op, its family, type rule,
gradient rule (or why none), NumPy kernel, CuPy kernel, ONNX export and import (or why not), constant folding
and traits. `python -m graphnn.checking.opmatrix` writes it to docs/ops.md (`--check`: fail if that is stale).

User level: imports graphnn.ir, the backend tables and the constant-folding table.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

from ..backends import cupy as cupy_tables
from ..backends import numpy as numpy_tables
from ..backends import onnx as onnx_tables
from ..ir.op import Op
from ..ir.op_registry import family_of, registry
from ..ir.ops import FAMILIES
from ..passes.constant_folding import FOLDERS

DOC = Path(__file__).resolve().parents[2] / "docs" / "ops.md"


def onnx_tables_now() -> tuple[dict, dict, dict]:
    """(LOWERINGS, UNSUPPORTED, NOT_IMPORTED) from graphnn.backends.onnx: every exported op not named in
    NOT_IMPORTED round-trips through gn.onnx.load (tests/backends/onnx/test_round_trip.py)."""
    return onnx_tables.LOWERINGS, onnx_tables.UNSUPPORTED, onnx_tables.NOT_IMPORTED


@dataclass(frozen=True)
class Row:
    """One op's line of the matrix; a cell starting with "MISSING" is a hole the registry test reports."""

    op: str
    family: str
    type_rule: str
    gradient: str
    numpy: str
    cupy: str
    onnx_export: str
    onnx_import: str
    folding: str
    traits: str


def _traits(op: Op) -> str:
    parts = [f"ufunc {op.ufunc}"] if op.ufunc else []
    parts += [name for name in ("elementwise", "fusable", "view", "random", "nonnegative", "gates") if getattr(op, name)]
    if op.c_expr:
        parts.append("C expr")
    if op.singular:
        parts.append(f"singular at input {op.singular[0]}")
    return ", ".join(parts)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def rows() -> list[Row]:
    """The matrix, one Row per registered op in family order."""
    lowerings, unsupported, not_imported = onnx_tables_now()
    out = []
    for name, op in registry().items():
        if op.grad is not None:
            gradient = "rule"
        else:
            gradient = f"none: {op.nondiff}" if op.nondiff else "MISSING"
        numpy = "MISSING" if name not in numpy_tables.KERNELS else (
            "kernel + out=" if name in numpy_tables.OUT_KERNELS else "kernel")
        if name in cupy_tables.CUPY_KERNELS or name in cupy_tables.CUPY_OUT_KERNELS:
            cupy = "override"
        else:
            cupy = "NumPy kernel on xp" if name in cupy_tables.KERNELS else "MISSING"
        if op.lowered and numpy == cupy == "MISSING":
            numpy = cupy = f"none: {op.lowered}"
        if name in lowerings:
            export = lowerings[name].onnx_ops
            imported = f"no: {not_imported[name]}" if name in not_imported else "round-trips"
        else:
            export = f"no: {unsupported[name]}" if name in unsupported else "MISSING"
            imported = "not exported"
        folding = ("folds" if name in FOLDERS else "not folded") if op.pure else "never (random)"
        out.append(Row(name, family_of(name), "yes" if op.infer is not None else "MISSING", gradient, numpy, cupy,
                       export, imported, folding, _traits(op)))
    return out


def render() -> str:
    """docs/ops.md: the matrix as Markdown, one table per family (generated; do not edit by hand)."""
    intro = ("Generated from the op registry and the backend tables by `python -m graphnn.checking.opmatrix`; "
             "do not edit by hand (tests/conformance/test_registry.py fails when it is stale). An op's pieces "
             "are found by its family name: `graphnn/ir/ops/<family>.py` (type and gradient rules, traits), "
             "`graphnn/backends/numpy/<family>.py`, `graphnn/backends/cupy/<family>.py` (overrides only), "
             "the ONNX lowering and importer of that family. Every op also has a case in "
             "tests/conformance/cases.py.")
    lines = ["# Ops: the completeness matrix", "", intro, ""]
    by_family: dict[str, list[Row]] = {}
    for r in rows():
        by_family.setdefault(r.family, []).append(r)
    header = ("| op | gradient | NumPy | CuPy | ONNX export | ONNX import | constant folding | traits |\n"
              "|---|---|---|---|---|---|---|---|")
    for fam in FAMILIES:
        name = fam.__name__.rsplit(".", 1)[-1]
        lines += [f"## {name}", "", header]
        for r in by_family.get(name, []):
            cells = (r.op, r.gradient, r.numpy, r.cupy, r.onnx_export, r.onnx_import, r.folding, r.traits)
            lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Write docs/ops.md, or with --check say whether it is up to date (exit 1 if not)."""
    ap = argparse.ArgumentParser(prog="python -m graphnn.checking.opmatrix", description=__doc__)
    ap.add_argument("--check", action="store_true", help="compare instead of writing; exit 1 when stale")
    ap.add_argument("--out", type=Path, default=DOC)
    args = ap.parse_args(argv)
    text = render()
    if args.check:
        stale = not args.out.exists() or args.out.read_text() != text
        print(f"{args.out}: {'stale: run python -m graphnn.checking.opmatrix' if stale else 'up to date'}")
        return 1 if stale else 0
    args.out.write_text(text)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
