"""A NumPy-backed stand-in for the part of the `cupy` module the CuPy backend uses, so CI without a GPU runs
the backend's own host-side logic (planning, transfers, storage mirroring, kernel selection, generated source).

It is strict where CuPy is: its arrays (`DeviceArray`) are a separate type; passing a NumPy array to one of
its functions or ufuncs is a TypeError; ufuncs have no `.reduce`/`.at`; `errstate` does not exist; host <->
device copies go through `asarray`/`.get()`/`.set()` and are counted. `ElementwiseKernel` checks and runs the
generated CUDA C source with tests.backends.cupy.cinterp. Imports only numpy and that module.
"""

from __future__ import annotations

import types
from dataclasses import dataclass
from typing import Any

import numpy as np

from .cinterp import run_operation

# NumPy names CuPy lacks (or that would hide a host-only code path): using one through xp is an error here.
MISSING = frozenset({"errstate", "seterr", "geterr", "frompyfunc", "vectorize", "asanyarray"})


@dataclass
class Transfers:
    """Bytes and copies across the (pretend) bus, for tests that parameters stay on the device."""

    h2d_bytes: int = 0
    d2h_bytes: int = 0
    h2d: int = 0
    d2h: int = 0
    kernels: int = 0  # ElementwiseKernel launches
    calls: int = 0  # every array-module function or ufunc call plus kernel launches (a launch count bound)


def _is_host(x: Any) -> bool:
    return isinstance(x, np.ndarray) and not isinstance(x, DeviceArray)


def _check(args: Any, where: str) -> None:
    for a in args:
        if _is_host(a):
            raise TypeError(f"stand-in cupy: {where} got a NumPy array (shape {a.shape}); CuPy needs device "
                            f"arrays: convert with cupy.asarray")
        if isinstance(a, (list, tuple)):
            _check(a, where)


def _plain(x: Any) -> Any:
    if isinstance(x, DeviceArray):
        return x.view(np.ndarray)
    if isinstance(x, (list, tuple)):
        return type(x)(_plain(i) for i in x)
    return x


def _wrap(r: Any) -> Any:
    if isinstance(r, np.ndarray):
        return r.view(DeviceArray)
    if isinstance(r, np.generic) and not isinstance(r, np.bool_):
        return np.asarray(r).view(DeviceArray)  # CuPy reductions give 0-d arrays, not scalars
    if isinstance(r, tuple):
        return tuple(_wrap(i) for i in r)
    return r


class DeviceArray(np.ndarray):
    """A pretend device array: a NumPy array that refuses to mix with host arrays."""

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kw: Any) -> Any:
        _check(inputs, f"ufunc {ufunc.__name__}")
        STATS.calls += 1
        out = kw.get("out")
        if out is not None:
            _check(out, f"ufunc {ufunc.__name__} out=")
            kw["out"] = tuple(_plain(o) for o in out)
        r = getattr(ufunc, method)(*[_plain(i) for i in inputs], **kw)
        if out is not None:
            return out[0] if len(out) == 1 else out
        return _wrap(r)

    def get(self, out: np.ndarray | None = None) -> np.ndarray:
        """Device -> host copy (counted)."""
        STATS.d2h += 1
        STATS.d2h_bytes += self.nbytes
        if out is not None:
            np.copyto(out, self.view(np.ndarray))
            return out
        return np.array(self.view(np.ndarray))

    def set(self, arr: np.ndarray) -> None:
        """Host -> device copy into this array (counted)."""
        STATS.h2d += 1
        STATS.h2d_bytes += arr.nbytes
        np.copyto(self.view(np.ndarray), arr)

    def __array_function__(self, func: Any, types_: Any, args: Any, kwargs: Any) -> Any:
        return _wrap(func(*_plain(args), **{k: _plain(v) for k, v in kwargs.items()}))


STATS = Transfers()


def _function(name: str, f: Any) -> Any:
    def g(*args: Any, **kw: Any) -> Any:
        STATS.calls += 1
        _check(args, f"cupy.{name}")
        _check(kw.values(), f"cupy.{name}")
        out = kw.get("out")
        r = f(*_plain(args), **{k: _plain(v) for k, v in kw.items()})
        return out if out is not None else _wrap(r)

    g.__name__ = name
    return g


def asarray(a: Any, dtype: Any = None) -> DeviceArray:
    """Host data -> a device array (a counted copy); a device array passes through (cast if asked)."""
    if isinstance(a, DeviceArray):
        return a if dtype is None or a.dtype == np.dtype(dtype) else a.astype(dtype)
    h = np.array(a, dtype=dtype, copy=True)
    if isinstance(a, np.ndarray):
        STATS.h2d += 1
        STATS.h2d_bytes += h.nbytes
    return h.view(DeviceArray)


def asnumpy(a: Any) -> np.ndarray:
    return a.get() if isinstance(a, DeviceArray) else np.asarray(a)


class ElementwiseKernel:
    """Checks the CUDA C operation against the generated subset and evaluates it with NumPy, broadcasting
    the non-raw inputs and outputs like CuPy does."""

    def __init__(self, in_params: str, out_params: str, operation: str, name: str = "kernel", **kw: Any) -> None:
        self.ins = [self._param(p) for p in in_params.split(",") if p.strip()]
        self.outs = [self._param(p) for p in out_params.split(",") if p.strip()]
        self.operation, self.name = operation, name
        names = [p[2] for p in self.ins + self.outs]
        if len(set(names)) != len(names):
            raise SyntaxError(f"ElementwiseKernel {name}: duplicate parameter names {names}")

    @staticmethod
    def _param(text: str) -> tuple[bool, np.dtype, str]:
        words = text.split()
        raw = words[0] == "raw"
        words = words[1:] if raw else words
        if len(words) != 2:
            raise SyntaxError(f"bad ElementwiseKernel parameter {text!r}")
        return raw, np.dtype(words[0]), words[1]

    def __call__(self, *args: Any) -> Any:
        n_in = len(self.ins)
        if len(args) not in (n_in, n_in + len(self.outs)):
            raise TypeError(f"{self.name}: {len(args)} arguments, kernel takes {n_in} inputs (+ outputs)")
        _check(args, f"ElementwiseKernel {self.name}")
        names: dict[str, Any] = {}
        shapes = []
        for (raw, dt, nm), a in zip(self.ins, args):
            if isinstance(a, np.ndarray):
                if a.dtype != dt:
                    raise TypeError(f"{self.name}: argument {nm} is {a.dtype}, kernel declares {dt}")
                names[nm] = a.view(np.ndarray)
                if not raw:
                    shapes.append(a.shape)
            else:
                names[nm] = dt.type(a)
        outs = list(args[n_in:])
        for (raw, dt, nm), o in zip(self.outs, outs):
            if o.dtype != dt:
                raise TypeError(f"{self.name}: output {nm} is {o.dtype}, kernel declares {dt}")
            shapes.append(o.shape)
        shape = np.broadcast_shapes(*shapes) if shapes else ()
        if outs and any(o.shape != shape for o in outs):
            raise ValueError(f"{self.name}: output shape {outs[0].shape} cannot hold the broadcast {shape}")
        if not outs:
            outs = [np.empty(shape, dt).view(DeviceArray) for _, dt, _ in self.outs]
        for (raw, _, nm) in self.ins:
            if not raw and isinstance(names[nm], np.ndarray):
                names[nm] = np.broadcast_to(names[nm], shape)
        names["i"] = np.arange(int(np.prod(shape, dtype=np.int64))).reshape(shape)
        # Inputs that alias an output are read before any write, as each CUDA thread reads its element first.
        names = {k: (v.copy() if isinstance(v, np.ndarray) and any(np.may_share_memory(v, o) for o in outs)
                     else v) for k, v in names.items()}
        run_operation(self.operation, names, {nm: o.view(np.ndarray) for (_, _, nm), o in zip(self.outs, outs)})
        STATS.kernels += 1
        STATS.calls += 1
        return outs[0] if len(outs) == 1 else tuple(outs)


class ReductionKernel:
    """`cupy.ReductionKernel` for the sum form the backend uses (reduce `a + b`, identity 0, `out = a`): the
    map expression is checked and evaluated like an ElementwiseKernel's, then summed over `axis`."""

    def __init__(self, in_params: str, out_params: str, map_expr: str, reduce_expr: str, post_map_expr: str,
                 identity: str, name: str = "reduce", **kw: Any) -> None:
        if reduce_expr.replace(" ", "") != "a+b" or identity.strip() != "0":
            raise NotImplementedError("stand-in ReductionKernel: only sums (reduce 'a + b', identity '0')")
        self.outs = [ElementwiseKernel._param(p) for p in out_params.split(",") if p.strip()]
        if len(self.outs) != 1 or post_map_expr.replace(" ", "") != f"{self.outs[0][2]}=a":
            raise NotImplementedError("stand-in ReductionKernel: one output, post-map 'out = a'")
        _, self.dt, _ = self.outs[0]
        self.map = ElementwiseKernel(in_params, f"{self.dt} mapped", f"mapped = {map_expr};", name)
        self.name = name

    def __call__(self, *args: Any, axis: Any = None, keepdims: bool = False, out: Any = None) -> Any:
        mapped = self.map(*args)
        STATS.kernels -= 1  # the map and the reduction are one launch
        r = np.sum(mapped.view(np.ndarray), axis=axis, keepdims=keepdims, dtype=self.dt)
        if out is not None:
            _check((out,), f"ReductionKernel {self.name} out=")
            np.copyto(out.view(np.ndarray), r)
            return out
        return _wrap(np.asarray(r))


class _Runtime:
    @staticmethod
    def getDeviceCount() -> int:
        return 1


class _Stream:
    def synchronize(self) -> None:
        pass


def _make_module() -> types.ModuleType:
    m = types.ModuleType("graphnn_cupy_standin", __doc__)

    def getattr_(name: str) -> Any:
        if name in MISSING:
            raise AttributeError(f"stand-in cupy has no {name!r} (CuPy does not either)")
        f = getattr(np, name)
        if isinstance(f, type) or not callable(f):
            return f
        g = _function(name, f)
        setattr(m, name, g)  # cache
        return g

    m.__getattr__ = getattr_  # type: ignore[attr-defined]
    m.ndarray = DeviceArray  # type: ignore[attr-defined]
    m.asarray = asarray  # type: ignore[attr-defined]
    m.array = lambda a, dtype=None, copy=True: asarray(a, dtype).copy() if copy else asarray(a, dtype)  # type: ignore
    m.asnumpy = asnumpy  # type: ignore[attr-defined]
    m.ElementwiseKernel = ElementwiseKernel  # type: ignore[attr-defined]
    m.ReductionKernel = ReductionKernel  # type: ignore[attr-defined]
    m.cuda = types.SimpleNamespace(runtime=_Runtime(), get_current_stream=lambda: _Stream(),  # type: ignore
                                   Device=lambda *a: types.SimpleNamespace(synchronize=lambda: None))
    m.lib = types.SimpleNamespace(stride_tricks=types.SimpleNamespace(  # type: ignore[attr-defined]
        as_strided=_function("as_strided", np.lib.stride_tricks.as_strided)))
    m.STATS = STATS  # type: ignore[attr-defined]
    m.is_standin = True  # type: ignore[attr-defined]
    return m


cupy = _make_module()
