"""Property: any corruption of a checkpoint file either loads (then every value fits the graph) or raises one
CheckpointError naming the file, and a failing load changes no value, epoch or step; never a hang."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import graphnn as gn
from graphnn import nn
from tests.fuzz.conftest import only_graphnn_errors, time_limit


def trainer() -> gn.train.Trainer:
    with gn.Graph("ck"):
        x = gn.input("x", (None, 3))
        y = gn.input("y", (None,), "int64")
        logits = nn.Sequential(nn.Linear(3, 4, init=gn.init.normal(seed=2)), nn.BatchNorm1d(4), nn.ReLU(),
                               nn.Linear(4, 2, init=gn.init.normal(seed=3)))(x)
        loss = gn.cross_entropy(gn.softmax(logits), y)
    return gn.train.Trainer(loss, gn.optim.Adam(0.01))


def _good(tmp: Path) -> bytes:
    tr = trainer()
    tr.fit({"x": np.eye(3, dtype=np.float32), "y": np.array([0, 1, 0])}, epochs=1, progress=False, verbose=False)
    tr.save_checkpoint(str(tmp / "good.npz"))
    return (tmp / "good.npz").read_bytes()


GOOD: bytes = b""
TR = trainer()


def state(tr: gn.train.Trainer) -> tuple:
    s = tr.graph.storage
    return tr.epoch, tr.global_step, {k: np.array(s[k]) for k in s.keys()}


def _attempt(tmp: Path, data: bytes) -> None:
    path = tmp / "fuzz.npz"
    path.write_bytes(data)
    before = state(TR)
    for load in (lambda: TR.load_checkpoint(str(path)), lambda: gn.load_params(TR.graph, str(path)),
                 lambda: gn.load(str(path))):
        try:
            with time_limit(10):
                load()
        except Exception as e:  # noqa: BLE001 - the property is about which exceptions appear
            only_graphnn_errors(e)
            assert "fuzz.npz" in str(e) and "\n" not in str(e), e
            after = state(TR)
            assert after[:2] == before[:2]
            for k, a in before[2].items():
                np.testing.assert_array_equal(after[2][k], a, err_msg=k)
        else:
            for n in gn.checkpoint.model_state(TR.graph):
                assert TR.graph.storage[n].shape == before[2][n].shape
        before = state(TR)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.floats(0, 1), st.binary(max_size=4), st.integers(0, 8)), min_size=1, max_size=4))
def test_byte_corruption(tmp_path: Path, edits: list) -> None:
    global GOOD
    if not GOOD:
        GOOD = _good(tmp_path)
    data = bytearray(GOOD)
    for where, new, drop in edits:
        pos = int(where * len(data))
        data[pos:pos + drop] = new
    _attempt(tmp_path, bytes(data))


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.data())
def test_member_rewrites(tmp_path: Path, data: st.DataObject) -> None:
    """Members replaced by arrays of other shapes/dtypes, dropped, duplicated or compressed."""
    global GOOD
    if not GOOD:
        GOOD = _good(tmp_path)
    with zipfile.ZipFile(io.BytesIO(GOOD)) as z:
        members = {i.filename: z.read(i) for i in z.infolist()}
    names = sorted(members)
    for _ in range(data.draw(st.integers(1, 3))):
        victim = data.draw(st.sampled_from(names))
        action = data.draw(st.sampled_from(["drop", "shape", "dtype", "text", "huge"]))
        if action == "drop":
            members.pop(victim, None)
            continue
        buf = io.BytesIO()
        if action == "huge":
            np.lib.format.write_array_header_1_0(buf, {"descr": "<f4", "fortran_order": False,
                                                       "shape": (2**31, 2**31)})
        else:
            shape = tuple(data.draw(st.lists(st.integers(0, 5), max_size=3)))
            dtype = data.draw(st.sampled_from(["float32", "float64", "int64", "uint8", "bool"]))
            arr = np.zeros(shape, dtype) if action != "text" else np.frombuffer(b'{"epoch": -1}', np.uint8)
            np.lib.format.write_array(buf, arr)
        members[victim] = buf.getvalue()
    out = io.BytesIO()
    comp = zipfile.ZIP_DEFLATED if data.draw(st.booleans()) else zipfile.ZIP_STORED
    with zipfile.ZipFile(out, "w", comp) as z:
        for k, v in members.items():
            z.writestr(k, v)
    _attempt(tmp_path, out.getvalue())
