"""Turns a plan's kernel calls into Python source: the whole schedule becomes one straight-line function
(each line one kernel call over plan-time arrays bound as globals), so a call pays one frame, not one per node.
No user string ever becomes code: values are named by position (R[i], aN, fN, tN); names appear only as repr().

Imports nothing from graphnn; used by backends/executor.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Dyn:
    """A value known only at run time (a feed, or a kernel's fresh result): register `index` of R."""

    index: int


class Emitter:
    """Names plan-time objects as globals and writes the source lines that call kernels on them."""

    def __init__(self) -> None:
        self.ns: dict[str, Any] = {}
        self._ids: dict[int, str] = {}
        self.R: list[Any] = []

    def const(self, obj: Any, prefix: str = "a") -> str:
        key = id(obj)
        if key not in self._ids:
            name = f"{prefix}{len(self._ids)}"
            self._ids[key] = name
            self.ns[name] = obj
        return self._ids[key]

    def name(self, x: Any) -> str:
        if isinstance(x, Dyn):
            return f"R[{x.index}]"
        # Exact builtin types only: a NumPy scalar is a float subclass whose repr is not valid here.
        if x is None or type(x) in (bool, int, float, str):
            return repr(x)
        if type(x) is tuple and all(i is None or type(i) is int for i in x):
            return repr(x)
        return self.const(x)

    def call(self, fn: Callable[..., Any], args: tuple, kw: dict) -> str:
        parts = [self.name(a) for a in args] + [f"{k}={self.name(v)}" for k, v in kw.items()]
        return f"{self.const(fn, 'f')}({', '.join(parts)})"

    def assign(self, targets: list[str], fn: Callable[..., Any], args: list, multi: bool) -> str:
        lhs = ", ".join(targets) + ("," if multi and len(targets) == 1 else "")
        return f"{lhs} = {self.call(fn, tuple(args), {})}"

    def value(self, ref: str) -> Any:
        return eval(ref, self.ns)

    @staticmethod
    def is_fixed(ref: str) -> bool:
        return not ref.startswith("R[")

    def _compile(self, src: str, fname: str) -> Callable[..., Any]:
        code = compile(src, f"<graphnn plan {fname}>", "exec")
        exec(code, self.ns)  # noqa: S102 - source generated above from kernel calls
        return self.ns[fname]

    def compile_run(self, steps: list, input_regs: list[tuple[str, int]], store_regs: list[tuple[str, int]],
                    outputs: dict[str, str],
                    fixed_out: set[str], copy_updates: list[tuple[str, str]], params: dict[str, Any],
                    bump: bool, copyto: Callable[..., Any], msm: Callable[..., bool]) -> Callable[..., Any]:
        """`run(F, SV, ST)`: feeds dict, storage values dict, storage; None if a parameter array was replaced."""
        self.ns["R"] = self.R
        body = ["def run(F, SV, ST):"]
        if params:
            cond = " or ".join(f"SV[{n!r}] is not {self.const(a)}" for n, a in params.items())
            body.append(f"    if {cond}: return None")
        for name, r in input_regs:
            body.append(f"    R[{r}] = F[{name!r}]")
        for name, r in store_regs:
            body.append(f"    R[{r}] = SV[{name!r}]")
        for st in steps:  # a step's fast lines, when set, replace its lines here (non-blocking collectives)
            body += ["    " + line for line in (st.lines if st.fast is None else st.fast)]
        # Outputs are taken before the parameters are written: an output may be a parameter's old value.
        outs = []
        for i, (k, r) in enumerate(outputs.items()):
            body.append(f"    o{i} = {r}.copy()" if k in fixed_out else f"    o{i} = {r}")
            outs.append(f"{k!r}: o{i}")
        cp = self.const(copyto, "f")
        targets = [params[name] for name, _ in copy_updates if name in params]
        srcs = []
        for i, (name, src) in enumerate(copy_updates):
            # A new value that is another updated parameter's array (a swap) is copied before any write.
            # The temporary is named by position: a user's name only ever appears as a repr'd string literal.
            v = self.value(src) if self.is_fixed(src) else None
            if v is not None and any(t is not params.get(name) and msm(v, t) for t in targets):
                body.append(f"    t{i} = {src}.copy()")
                src = f"t{i}"
            srcs.append((name, src))
        for name, src in srcs:
            dst = self.const(params[name]) if name in params else f"SV[{name!r}]"
            body.append(f"    {cp}({dst}, {src})")
        if bump or copy_updates:
            body.append("    ST.version += 1")
        body.append(f"    return {{{', '.join(outs)}}}")
        self.source = "\n".join(body)
        return self._compile(self.source, "run")

    def compile_step(self, step: Any) -> tuple[Callable[[], None], Callable[[], tuple]]:
        """One node's lines as `run()` and its outputs as `fetch()` (the observable slow path)."""
        self.ns["R"] = self.R
        src = "def step():\n" + "".join(f"    {ln}\n" for ln in step.lines) + "    pass\n"
        src += f"def fetch():\n    return ({''.join(r + ', ' for r in step.out_refs)})\n"
        run = self._compile(src, "step")
        fetch = self.ns["fetch"]
        return run, fetch
