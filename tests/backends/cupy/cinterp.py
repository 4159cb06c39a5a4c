"""A checker and NumPy evaluator for the C subset the CuPy code generator writes, so a CPU-only CI runs the
exact generated kernel source: statements `const T name = expr;` and `out = expr;`, with ternaries, || &&,
comparisons, + - * /, unary - !, casts `(T)(...)`, calls of math functions, `raw[index]` and the index `i`.

Anything outside the subset (an unknown name or function, a missing `;`, unbalanced parentheses) is a
`CSyntaxError`: the same source would not compile with NVRTC either. Imports only numpy (and math).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

import numpy as np

CTYPES = {"float": np.float32, "double": np.float64, "int": np.int32, "long long": np.int64,
          "signed char": np.int8, "unsigned char": np.uint8, "bool": np.bool_, "float16": np.float16}
def _per_element(f: Callable[[float], float]) -> Callable[[Any], Any]:
    """A C math function through Python's math module, per element (independent of the NumPy backend's scipy
    kernels), in its argument's dtype."""

    def c_fn(x: Any) -> Any:
        a = np.asarray(x)
        return np.vectorize(f, otypes=[np.float64])(a).astype(a.dtype)

    return c_fn


FUNCS: dict[str, Callable[..., Any]] = {"exp": np.exp, "log": np.log, "sqrt": np.sqrt, "tanh": np.tanh,
                                        "log1p": np.log1p, "fabs": np.abs, "pow": np.power,
                                        "erf": _per_element(math.erf), "erfc": _per_element(math.erfc),
                                        "floor": np.floor, "ceil": np.ceil, "rint": np.rint, "sin": np.sin,
                                        "cos": np.cos, "fmod": np.fmod, "expm1": np.expm1}
_TOKEN = re.compile(r"\s*(?:(\d+\.\d*(?:e[+-]?\d+)?f?|\d+e[+-]?\d+f?|\d+(?:LL)?)|([A-Za-z_]\w*)|"
                    r"(\|\||&&|==|!=|<=|>=|[-+*/%<>!?:()\[\],=]))")
_TYPE_WORDS = {"float", "double", "int", "long", "signed", "unsigned", "char", "bool", "float16"}


class CSyntaxError(SyntaxError):
    """The generated source is outside the C subset (it would not compile)."""


def tokenize(src: str) -> list[str]:
    toks, pos = [], 0
    src = src.rstrip()
    while pos < len(src):
        m = _TOKEN.match(src, pos)
        if m is None or m.end() == pos:
            raise CSyntaxError(f"unexpected character {src[pos:pos + 10]!r} in kernel source")
        toks.append(m.group(m.lastindex))
        pos = m.end()
    return toks


def _arith(x: Any) -> Any:
    # C's integer promotion: a comparison is an int 0/1, so bools take part in arithmetic as ints.
    return np.asarray(x).astype(np.int32) if np.asarray(x).dtype == np.bool_ else x


class _Parser:
    """Recursive descent over one expression; evaluates as it parses (the subset has no side effects)."""

    def __init__(self, toks: list[str], names: dict[str, Any]) -> None:
        self.t, self.k, self.names = toks, 0, names

    def peek(self, ahead: int = 0) -> str | None:
        j = self.k + ahead
        return self.t[j] if j < len(self.t) else None

    def eat(self, tok: str | None = None) -> str:
        cur = self.peek()
        if cur is None or (tok is not None and cur != tok):
            raise CSyntaxError(f"expected {tok or 'a token'}, got {cur!r} in {' '.join(self.t)!r}")
        self.k += 1
        return cur

    def type_name(self) -> str | None:
        """A C type starting here (consumed), or None."""
        words = []
        j = self.k
        while j < len(self.t) and self.t[j] in _TYPE_WORDS:
            words.append(self.t[j])
            j += 1
        name = " ".join(words)
        if name in CTYPES:
            self.k = j
            return name
        return None

    def expr(self) -> Any:
        c = self.logic_or()
        if self.peek() == "?":
            self.eat("?")
            a = self.expr()
            self.eat(":")
            b = self.expr()
            return np.where(c, a, b)
        return c

    def logic_or(self) -> Any:
        x = self.logic_and()
        while self.peek() == "||":
            self.eat()
            x = np.logical_or(x, self.logic_and())
        return x

    def logic_and(self) -> Any:
        x = self.equality()
        while self.peek() == "&&":
            self.eat()
            x = np.logical_and(x, self.equality())
        return x

    def equality(self) -> Any:
        x = self.relation()
        while self.peek() in ("==", "!="):
            op = self.eat()
            y = self.relation()
            x = np.equal(x, y) if op == "==" else np.not_equal(x, y)
        return x

    def relation(self) -> Any:
        x = self.additive()
        ops = {"<": np.less, ">": np.greater, "<=": np.less_equal, ">=": np.greater_equal}
        while self.peek() in ops:
            x = ops[self.eat()](x, self.additive())
        return x

    def additive(self) -> Any:
        x = self.term()
        while self.peek() in ("+", "-"):
            op = self.eat()
            y = self.term()
            x = np.add(_arith(x), _arith(y)) if op == "+" else np.subtract(_arith(x), _arith(y))
        return x

    def term(self) -> Any:
        x = self.unary()
        while self.peek() in ("*", "/", "%"):
            op = self.eat()
            y = self.unary()
            if op == "*":
                x = np.multiply(_arith(x), _arith(y))
            elif op == "%":  # C's remainder truncates toward zero: the sign of the dividend
                if np.asarray(x).dtype.kind not in "iub" or np.asarray(y).dtype.kind not in "iub":
                    raise CSyntaxError("% of floating-point operands does not compile in C (use fmod)")
                x = np.fmod(_arith(x), _arith(y))
            else:
                if np.asarray(x).dtype.kind in "iub" and np.asarray(y).dtype.kind in "iub":
                    raise CSyntaxError("integer division is not used by the generator (C truncates)")
                x = np.divide(x, y)
        return x

    def unary(self) -> Any:
        tok = self.peek()
        if tok == "-":
            self.eat()
            return np.negative(_arith(self.unary()))
        if tok == "!":
            self.eat()
            return np.logical_not(self.unary())
        if tok == "(":
            save = self.k
            self.eat("(")
            ty = self.type_name()
            if ty is not None:
                self.eat(")")
                return np.asarray(self.unary()).astype(CTYPES[ty])
            self.k = save
        return self.postfix()

    def postfix(self) -> Any:
        tok = self.eat()
        if tok == "(":
            x = self.expr()
            self.eat(")")
            return x
        if tok[0].isdigit():
            if tok.endswith("f"):
                return np.float32(float(tok[:-1]))
            if "." in tok or "e" in tok:
                return np.float64(float(tok))
            return int(tok.removesuffix("LL"))  # C converts an int literal to its partner's type
        if tok in ("true", "false"):
            return np.bool_(tok == "true")
        if self.peek() == "(":
            if tok not in FUNCS:
                raise CSyntaxError(f"unknown function {tok!r}")
            self.eat("(")
            args = [self.expr()]
            while self.peek() == ",":
                self.eat(",")
                args.append(self.expr())
            self.eat(")")
            return FUNCS[tok](*args)
        if tok not in self.names:
            raise CSyntaxError(f"unknown name {tok!r}")
        val = self.names[tok]
        if self.peek() == "[":
            self.eat("[")
            idx = self.expr()
            self.eat("]")
            return np.asarray(val).reshape(-1)[np.asarray(idx).astype(np.int64)]
        return val


def run_operation(operation: str, names: dict[str, Any], outputs: dict[str, np.ndarray]) -> None:
    """Check and evaluate `operation`; each output name must be assigned exactly once (cast to its dtype)."""
    stmts = operation.strip().split(";")
    if stmts[-1].strip():
        raise CSyntaxError(f"kernel operation must end with ';': {operation!r}")
    names = dict(names)
    assigned: set[str] = set()
    with np.errstate(all="ignore"):
        for st in stmts[:-1]:
            toks = tokenize(st)
            p = _Parser(toks, names)
            const = p.peek() == "const"
            if const:
                p.eat("const")
            ty = p.type_name()
            target = p.eat()
            if not re.fullmatch(r"[A-Za-z_]\w*", target) or p.eat("=") != "=":
                raise CSyntaxError(f"bad statement {st!r}")
            if ty is None and (const or target not in outputs):
                raise CSyntaxError(f"assignment to undeclared {target!r} in {st!r}")
            if ty is not None and target in names:
                raise CSyntaxError(f"redeclaration of {target!r}")
            val = p.expr()
            if p.peek() is not None:
                raise CSyntaxError(f"trailing tokens {toks[p.k:]} in {st!r}")
            if ty is not None:
                names[target] = np.asarray(val).astype(CTYPES[ty])
            else:
                if target in assigned:
                    raise CSyntaxError(f"output {target!r} assigned twice")
                assigned.add(target)
                np.copyto(outputs[target], val, casting="unsafe")
    missing = set(outputs) - assigned
    if missing:
        raise CSyntaxError(f"output(s) {sorted(missing)} never assigned")
