"""Fuzzing gn.onnx.load: mutants of valid ONNX files (byte flips, truncation, and protobuf field mutations of dims,
element types, attributes, inputs and names) either load or raise a graphnn error, each within a time limit.

Bounded for CI (a few hundred mutants, derandomized by the profile in tests/conftest.py); set
GRAPHNN_FUZZ_EXAMPLES to run more locally (`mutate` and `outcome` are reusable for a counting campaign).
"""

from __future__ import annotations

import functools
import os
import random
import signal
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import onnx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import AttributeProto, TensorProto, helper, numpy_helper

import graphnn as gn

EXAMPLES = int(os.environ.get("GRAPHNN_FUZZ_EXAMPLES", "300"))
SECONDS_PER_CASE = 10


@functools.cache
def seeds() -> tuple[bytes, ...]:
    """Valid models: graphnn's own exports (MLP, a small CNN with batch norm, a cond) and a hand-written one."""
    r = np.random.default_rng(0)
    with gn.Graph("mlp") as g:
        x = gn.input("x", (None, 6))
        h = gn.relu(x @ gn.param("w", (6, 4), init=r.standard_normal((6, 4)).astype("float32")))
        mlp = gn.onnx.export(g, None, outputs={"p": gn.softmax(h), "k": gn.argmax(h, axis=1)}, check_parity=False)
    with gn.Graph("cnn") as g:
        x = gn.input("x", (None, 2, 6, 6))
        h = gn.conv2d(x, gn.param("w", (3, 2, 3, 3), init=r.standard_normal((3, 2, 3, 3)).astype("float32")), 1, 1)
        v = lambda n: gn.param(n, (3,), init=(r.random(3) + 0.5).astype("float32"))
        h = gn.batch_norm(h, v("g"), v("b"), gn.state("m", (3,), init=np.zeros(3, "float32")),
                          gn.state("s", (3,), init=np.ones(3, "float32"))).y
        h = gn.max_pool2d(h, 2).reshape(-1, 27)
        out = gn.cond(gn.sum(h) > 0, lambda a: a * 2.0, lambda a: a - 1.0, h)
        cnn = gn.onnx.export(g, None, outputs={"y": out}, check_parity=False)
    i64 = lambda name, *v: numpy_helper.from_array(np.asarray(v, np.int64), name)
    hand = helper.make_model(helper.make_graph(
        [helper.make_node("Shape", ["x"], ["s"]), helper.make_node("Gather", ["s", "zero"], ["n"], axis=0),
         helper.make_node("Concat", ["n", "minus1"], ["t"], axis=0), helper.make_node("Reshape", ["x", "t"], ["r"]),
         helper.make_node("Gemm", ["r", "w", "b"], ["gm"], transB=1, alpha=0.5),
         helper.make_node("Unsqueeze", ["gm", "ax"], ["u"]), helper.make_node("Squeeze", ["u", "ax"], ["sq"]),
         helper.make_node("Pow", ["sq", "e"], ["y"]), helper.make_node("Cast", ["y"], ["c"], to=TensorProto.INT64)],
        "hand", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2, 3])],
        [helper.make_tensor_value_info("c", TensorProto.INT64, ["N", 4])],
        initializer=[i64("zero", 0), i64("minus1", -1), i64("ax", 1),
                     numpy_helper.from_array(r.standard_normal((4, 6)).astype("float32"), "w"),
                     numpy_helper.from_array(r.standard_normal(4).astype("float32"), "b"),
                     numpy_helper.from_array(np.float32(2.0), "e")]),
        opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    # What other exporters write: shape arithmetic over a symbolic batch (Shape, Gather, Mul, Unsqueeze, Concat,
    # ConstantOfShape, Equal, Where, Range, Expand) and old-opset attribute forms (opset 4: Slice-1, Reshape-1,
    # Unsqueeze-1, Split-2, Softmax-1), plus two committed PyTorch TorchScript exports.
    arith = helper.make_model(helper.make_graph(
        [helper.make_node("Shape", ["x"], ["s"]), helper.make_node("Gather", ["s", "zero"], ["n"], axis=0),
         helper.make_node("Mul", ["n", "two"], ["n2"]), helper.make_node("Concat", ["n2", "three"], ["t"], axis=0),
         helper.make_node("Reshape", ["x", "t"], ["r"]),
         helper.make_node("ConstantOfShape", ["two"], ["ones"], value=numpy_helper.from_array(np.ones(1, np.int64))),
         helper.make_node("Mul", ["ones", "m1"], ["neg"]),
         helper.make_node("Equal", ["t", "neg"], ["eq"]), helper.make_node("Where", ["eq", "ones", "t"], ["w"]),
         helper.make_node("Expand", ["r", "w"], ["y"]),
         helper.make_node("Range", ["zero_s", "three_s", "one_s"], ["rg"]),
         helper.make_node("Cast", ["rg"], ["rgf"], to=TensorProto.FLOAT), helper.make_node("Add", ["y", "rgf"], ["z"])],
        "arith", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 6])],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["N2", 3])],
        initializer=[i64("zero", 0), i64("two", 2), i64("three", 3), i64("m1", -1),
                     numpy_helper.from_array(np.int64(0), "zero_s"), numpy_helper.from_array(np.int64(3), "three_s"),
                     numpy_helper.from_array(np.int64(1), "one_s")]),
        opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    old = helper.make_model(helper.make_graph(
        [helper.make_node("Slice", ["x"], ["s"], starts=[0, 1], ends=[2**31 - 1, 5], axes=[0, 1]),
         helper.make_node("Reshape", ["s"], ["r"], shape=[0, 2, 2]),
         helper.make_node("Unsqueeze", ["r"], ["u"], axes=[1]),
         helper.make_node("Split", ["u"], ["p", "q"], axis=3, split=[1, 1]),
         helper.make_node("Softmax", ["p"], ["y"], axis=1)],
        "old", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 6])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3, 1, 2, 1]),
         helper.make_tensor_value_info("q", TensorProto.FLOAT, [3, 1, 2, 1])]),
        opset_imports=[helper.make_opsetid("", 4)], ir_version=3)
    data = os.path.join(os.path.dirname(__file__), "..", "..", "data", "torch_exports")
    torch_files = []
    for name in ("lenet_torchscript.onnx", "chunk_gate_torchscript.onnx"):
        with open(os.path.join(data, name), "rb") as f:
            torch_files.append(f.read())
    return tuple(m.SerializeToString() for m in (mlp.model, cnn.model, hand, arith, old)) + tuple(torch_files)


# ---- mutations -------------------------------------------------------------------------------------------------
def _nasty_int(rng: random.Random) -> int:
    return rng.choice([-(2**40), -7, -2, -1, 0, 1, 2, 3, 5, 255, 2**31, 2**40, 2**62, rng.randint(-100, 100)])


def _all_graphs(g: onnx.GraphProto) -> Iterator[onnx.GraphProto]:
    yield g
    for n in g.node:
        for a in n.attribute:
            if a.type == AttributeProto.GRAPH:
                yield from _all_graphs(a.g)


def _mutate_proto(m: onnx.ModelProto, rng: random.Random) -> None:
    g = rng.choice(list(_all_graphs(m.graph)))
    names = [o for n in g.node for o in n.output] + [i.name for i in g.input] + [t.name for t in g.initializer]
    kind = rng.choice(["dim", "dtype", "attr", "input", "name", "tensor", "opset", "output"])
    if kind == "dim":
        infos = [vi for vi in list(g.input) + list(g.output) + list(g.value_info) if vi.type.tensor_type.shape.dim]
        if infos and rng.random() < 0.5:
            rng.choice(rng.choice(infos).type.tensor_type.shape.dim).dim_value = _nasty_int(rng)
        elif g.initializer:
            t = rng.choice(g.initializer)
            if t.dims:
                t.dims[rng.randrange(len(t.dims))] = _nasty_int(rng)
            else:
                t.dims.append(_nasty_int(rng))
    elif kind == "dtype":
        vals = list(g.input) + list(g.output)
        if vals and rng.random() < 0.5:
            rng.choice(vals).type.tensor_type.elem_type = rng.randint(0, 30)
        elif g.initializer:
            rng.choice(g.initializer).data_type = rng.randint(0, 30)
    elif kind == "attr" and g.node:
        n = rng.choice(g.node)
        if n.attribute and rng.random() < 0.8:
            a = rng.choice(n.attribute)
            how = rng.choice(["int", "ints", "type", "drop", "float"])
            if how == "int":
                a.i = _nasty_int(rng)
            elif how == "ints":
                a.ints[:] = [_nasty_int(rng) for _ in range(rng.randint(0, 4))]
            elif how == "type":
                a.type = rng.randint(0, 14)
            elif how == "float":
                a.f = rng.choice([float("nan"), float("inf"), -1.0, 1e30])
            else:
                n.attribute.remove(a)
        else:
            n.attribute.append(helper.make_attribute(rng.choice(["axis", "perm", "to", "axes", "bogus"]),
                                                     _nasty_int(rng)))
    elif kind == "input" and g.node:
        n = rng.choice(g.node)
        how = rng.choice(["drop", "add", "empty", "rename"])
        if how == "drop" and n.input:
            del n.input[rng.randrange(len(n.input))]
        elif how == "add":
            n.input.append(rng.choice(names + ["", "ghost"]))
        elif n.input:
            n.input[rng.randrange(len(n.input))] = "" if how == "empty" else rng.choice(names + ["ghost"])
    elif kind == "name" and g.node:
        n = rng.choice(g.node)
        if n.output:
            n.output[rng.randrange(len(n.output))] = rng.choice(names + [""])
    elif kind == "tensor" and g.initializer:
        t = rng.choice(g.initializer)
        t.raw_data = t.raw_data[: rng.randint(0, len(t.raw_data))] if rng.random() < 0.7 else t.raw_data * 2
    elif kind == "opset" and m.opset_import:
        m.opset_import[0].version = rng.choice([1, 6, 9, 11, 12, 13, 18, 21, 99, -1])
    elif kind == "output" and g.output:
        g.output[rng.randrange(len(g.output))].name = rng.choice(names + ["ghost", ""])


def mutate(seed_index: int, rng: random.Random) -> bytes:
    """One mutant of seed model `seed_index`: a few protobuf field mutations, then maybe byte-level damage."""
    data = seeds()[seed_index % len(seeds())]
    if rng.random() < 0.7:
        m = onnx.ModelProto()
        m.ParseFromString(data)
        for _ in range(rng.choice([1, 1, 2, 3, 6])):
            _mutate_proto(m, rng)
        data = m.SerializeToString()
    if rng.random() < 0.3:
        buf = bytearray(data)
        for _ in range(rng.choice([1, 2, 8, 20])):
            buf[rng.randrange(len(buf))] = rng.randrange(256)
        if rng.random() < 0.3:
            buf = buf[: rng.randrange(len(buf))]
        data = bytes(buf)
    return data


@contextmanager
def time_limit(seconds: int) -> Iterator[None]:
    def _expired(signum: int, frame: object) -> None:
        raise TimeoutError(f"gn.onnx.load ran past {seconds} s")

    old = signal.signal(signal.SIGALRM, _expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def outcome(data: bytes) -> str:
    """'loaded' or 'graphnn error'; any other exception (or running past the time limit) propagates."""
    with time_limit(SECONDS_PER_CASE):
        try:
            gn.onnx.load(data)
        except gn.GraphnnError as e:
            assert "\n" not in str(e), str(e)
            return "graphnn error"
    return "loaded"


@pytest.mark.skipif(not hasattr(signal, "SIGALRM"), reason="per-case time limits use SIGALRM (POSIX only)")
@settings(max_examples=EXAMPLES, suppress_health_check=[HealthCheck.too_slow])
@given(seed_index=st.integers(0, 6), salt=st.integers(0, 2**32 - 1))
def test_mutated_models_load_or_raise_only_graphnn_errors(seed_index: int, salt: int) -> None:
    outcome(mutate(seed_index, random.Random(salt)))


def test_every_seed_loads() -> None:
    assert [outcome(s) for s in seeds()] == ["loaded"] * len(seeds())
