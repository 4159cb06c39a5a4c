"""No user string becomes code: hostile and odd names for graphs, params, state, inputs, outputs and scopes go
through every code-generating path (the plan's run function, the parameter-swap copies, the feed validator,
the observable step path, CuPy kernel sources) and behave as plain names."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import graphnn as gn
from graphnn.backends.cupy import backend as cupy_backend
from graphnn.ir.serialize import from_json, to_json
from tests.backends.cupy.standin import cupy as standin_cupy

PWN = "x=SV[__import__('os').system('touch PWNED')]"
NAMES = [PWN, "a/b", "with space", "quote'\"", "new\nline", "ünïcødé_名", "class", "lambda", "None", "}{)(", "\\",
         "t_0", "R[0]", "__builtins__"]


@pytest.fixture(autouse=True)
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _swap_graph(a: str, b: str) -> tuple[gn.Graph, Any, dict]:
    """Two parameters whose update swaps them (the path that copies a new value before any write)."""
    with gn.Graph(f"g {a}") as g:
        x = gn.input(b, (None, 2), "float32")
        p = gn.param(a, (2,), init=np.array([1.0, 2.0], np.float32))
        q = gn.param(b + "_q", (2,), init=np.array([3.0, 4.0], np.float32))
        with g.name_scope(a):
            y = gn.sum(x * p + q)
    return g, y, {p.name: q, q.name: p}


@pytest.mark.parametrize("name", NAMES)
def test_swap_update_with_odd_name_runs_as_data(name: str, in_tmp: Path) -> None:
    g, y, ups = _swap_graph(name, name + "_in")
    fn = gn.compile(g, outputs={name: y}, updates=ups)
    X = np.ones((3, 2), np.float32)
    out = fn(**{name + "_in": X})
    assert float(out[name]) == pytest.approx(3 * (1 + 2) + 3 * (3 + 4))
    np.testing.assert_array_equal(g.storage[name], [3.0, 4.0])
    np.testing.assert_array_equal(g.storage[name + "_in_q"], [1.0, 2.0])
    fn(**{name + "_in": X})
    np.testing.assert_array_equal(g.storage[name], [1.0, 2.0])
    assert not (in_tmp / "PWNED").exists()


@pytest.mark.parametrize("name", NAMES)
def test_observable_and_profile_paths(name: str, in_tmp: Path) -> None:
    g, y, ups = _swap_graph(name, "inp")
    fn = gn.compile(g, outputs={name: y}, updates=ups, check_numerics=True)
    fn(inp=np.ones((2, 2), np.float32))
    fn.profile(inp=np.ones((2, 2), np.float32))
    np.testing.assert_array_equal(g.storage[name], [3.0, 4.0])  # swapped once; profiling does not train
    assert not (in_tmp / "PWNED").exists()


def test_hostile_json_with_stored_updates_is_inert(in_tmp: Path) -> None:
    g, y, ups = _swap_graph(PWN, "inp")
    g.output("y", y)
    g.updates = dict(ups)
    g2 = from_json(to_json(g))
    fn = gn.compile(g2, updates={k: v for k, v in g2.updates.items()})
    fn(inp=np.ones((1, 2), np.float32))
    np.testing.assert_array_equal(g2.storage[PWN], [3.0, 4.0])
    assert not (in_tmp / "PWNED").exists()


def test_cupy_kernel_sources_have_no_user_strings(in_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Fused elementwise kernels (generated CUDA source) carry op names and literals only, never value names."""
    monkeypatch.setattr(cupy_backend, "load_cupy", lambda: standin_cupy)
    with gn.Graph(PWN) as g:
        x = gn.input(PWN + "x", (4,), "float32")
        p = gn.param(PWN, (4,), init=np.full(4, 0.5, np.float32))
        with g.name_scope("*/ #include <x> /*"):
            y = gn.sigmoid(gn.relu(x * p) + 1.0)
    fn = gn.compile(g, outputs={"y": y}, backend="cupy", host_outputs=True)
    X = np.arange(4, dtype=np.float32) - 1.5
    ref = 1 / (1 + np.exp(-(np.maximum(X * 0.5, 0) + 1.0)))
    np.testing.assert_allclose(np.asarray(fn(**{PWN + "x": X})["y"]), ref, rtol=1e-6)
    assert not (in_tmp / "PWNED").exists()
    assert os.getcwd() == str(in_tmp)
