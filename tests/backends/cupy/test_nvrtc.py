"""Every kernel source the CuPy backend generates compiles with NVRTC (CUDA's runtime compiler, which needs no
GPU). Runs where CuPy's NVRTC binding and libnvrtc load (e.g. pip install cupy-cuda12x
nvidia-cuda-nvrtc-cu12); skips with the reason elsewhere. The wrapper below is a plain stand-in for CuPy's
elementwise template: one thread per element, inputs read as `const T name`, outputs bound as `T &name`."""

from __future__ import annotations

import numpy as np
import pytest

import graphnn as gn
from graphnn.backends.cupy import cuda_source
from graphnn.backends.cupy.cuda_source import CTYPE, KernelSource

from ...conformance.cases import CASES, build_case, draw
from .test_cuda_source import _bias_relu, _chain

try:
    from cupy_backends.cuda.libs import nvrtc

    nvrtc.getVersion()
    WHY = ""
except Exception as e:  # noqa: BLE001 - ImportError, or libnvrtc missing (an OSError or a CUDA error)
    nvrtc, WHY = None, f"NVRTC not available ({type(e).__name__}: {e}); pip install cupy-cuda12x nvidia-cuda-nvrtc-cu12"

pytestmark = pytest.mark.skipif(nvrtc is None, reason=WHY)


def _params(text: str) -> list[tuple[bool, str, str]]:
    out = []
    for p in text.split(","):
        w = p.split()
        raw = w[0] == "raw"
        w = w[1:] if raw else w
        out.append((raw, CTYPE[np.dtype(w[0]).name], w[1]))
    return out


def wrap(src: KernelSource) -> str:
    ins, outs = _params(src.in_params), _params(src.out_params)
    sig = [f"const {t}* {n}" if raw else f"const {t}* _p_{n}" for raw, t, n in ins]
    sig += [f"{t}* _p_{n}" for _, t, n in outs]
    body = [f"const {t} {n} = _p_{n}[i];" for raw, t, n in ins if not raw]
    body += [f"{t} &{n} = _p_{n}[i];" for _, t, n in outs]
    return (f'extern "C" __global__ void {src.name}({", ".join(sig)}, long long _n) {{\n'
            f"  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < _n;"
            f" i += (long long)blockDim.x * gridDim.x) {{\n    {' '.join(body)}\n    {src.operation}\n  }}\n}}\n")


def nvrtc_compile(code: str) -> None:
    prog = nvrtc.createProgram(code, "graphnn.cu", (), ())
    try:
        nvrtc.compileProgram(prog, ("--gpu-architecture=compute_80", "-std=c++14"))
    except Exception:  # noqa: BLE001 - NVRTCError; the log says why
        raise AssertionError(f"NVRTC rejected the generated kernel:\n{code}\n{nvrtc.getProgramLog(prog)}") from None
    assert nvrtc.getPTX(prog)


def _collect_sources(monkeypatch: pytest.MonkeyPatch) -> list[KernelSource]:
    from graphnn.backends.cupy import backend as cupy_backend
    from tests.backends.cupy.standin import cupy as standin_cupy

    monkeypatch.setattr(cupy_backend, "load_cupy", lambda: standin_cupy)
    rng = np.random.default_rng(0)
    for case in CASES:  # every op, plain and fused through the default passes (kernels are made at plan time)
        for dt in ("float32", "float64"):
            g, ins, out = build_case(case, dt)
            for passes in ("none", "default"):
                fn = gn.compile(g, outputs={"out": out}, passes=passes, backend="cupy")
                fn(**{v.name: draw(s, 2, rng, dt if s.dtype.startswith("float") else None)
                      for v, s in zip(ins, case.inputs)})
    for dt in ("float32", "float64"):
        g, y = _bias_relu(dt)
        gn.compile(g, outputs={"y": y}, backend="cupy")(x=np.ones((2, 5), dt))
        steps = [("u", n, 0, 0) for n in ("neg", "abs", "tanh", "relu", "sign", "exp", "log", "sqrt", "sq", "half")]
        steps += [("b", n, 1, 0) for n in ("add", "sub", "mul", "maximum", "minimum", "where", "mask")]
        g, o = _chain(dt, steps)
        gn.compile(g, outputs={"o": o}, backend="cupy")(a=np.ones((2, 4), dt), b=np.ones(4, dt))
    return [k[1] for k in cuda_source._CACHE if isinstance(k[1], KernelSource)]


def test_generated_kernels_compile_with_nvrtc(monkeypatch: pytest.MonkeyPatch) -> None:
    sources = _collect_sources(monkeypatch)
    names = {s.name for s in sources}
    assert {"graphnn_sigmoid", "graphnn_softplus", "graphnn_lse_minus_picked", "graphnn_one_hot",
            "graphnn_softmax_normalize", "graphnn_sigmoid_bce", "graphnn_erf", "graphnn_gelu_none",
            "graphnn_gelu_tanh"} <= names, names
    assert len(names) > 10, names  # every elementwise kernel and fused body compiled above, not just these six
    for src in sources:
        nvrtc_compile(wrap(src))
    # the sum-of-exp ReductionKernel's map expression, in both float types
    for dt in ("float32", "float64"):
        nvrtc_compile(wrap(KernelSource(f"{dt} x, {dt} m", f"{dt} s", "s = exp(x - m);", "graphnn_sum_exp_map")))


def test_nvrtc_check_is_not_vacuous() -> None:
    with pytest.raises(AssertionError, match="expq"):
        nvrtc_compile(wrap(KernelSource("float32 in0", "float32 out0", "out0 = expq(in0);", "bad")))


FLOAT_ONLY = {"div", "exp", "log", "sqrt", "tanh", "pow", "relu", "sign",  # type rules refuse int (pow: C has no int pow)
              "floor", "ceil", "round", "reciprocal", "sin", "cos"}


def test_every_member_op_compiles_in_every_dtype() -> None:
    from graphnn.backends.cupy.cuda_source import body_source, unary_source
    from graphnn.passes.elementwise_fusion import FUSABLE

    for dt in ("float32", "float64", "int32", "int64", "int8", "uint8"):
        for op in sorted(FUSABLE - (FLOAT_ONLY if not dt.startswith("float") else set())):
            if op == "where":
                body, ins = ((op, (), (("in", 0), ("in", 1), ("c", 2, dt))),), ["bool", dt, dt]
            elif op == "cast":
                body, ins = tuple((op, (("dtype", to),), (("in", 0),)) for to in ("float32", "int64", "bool")), [dt]
            elif op in ("greater", "less", "greater_equal", "less_equal", "equal", "add", "sub", "mul", "div", "pow",
                        "maximum", "minimum", "mod", "fmod"):
                body, ins = ((op, (), (("in", 0), ("c", 3, dt))),), [dt]
            else:
                body, ins = ((op, (), (("in", 0),)),), [dt]
            nvrtc_compile(wrap(body_source(body, ins, f"k_{op}_{dt}")))
    for dt in ("float32", "float64"):
        for op in ("sigmoid", "softplus", "leaky_relu"):
            nvrtc_compile(wrap(unary_source(op, dt, {"alpha": 0.2} if op == "leaky_relu" else None)))
