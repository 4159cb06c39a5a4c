"""`from_json` and every checkpoint reader are closed: malformed, truncated or forged input is one graphnn
error line naming the source, never a Python exception from inside, and sizes are checked before data is read."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

import graphnn as gn
from graphnn.ir.serialize import from_json, to_json


def small_graph() -> gn.Graph:
    with gn.Graph("small") as g:
        x = gn.input("x", (None, 3))
        w = gn.param("w", (3, 2), init=np.arange(6, dtype=np.float32).reshape(3, 2))
        g.output("y", gn.relu(x @ w))
    return g


def record() -> dict:
    return json.loads(to_json(small_graph()))


def mutate(path: list, value: object) -> str:
    d = record()
    node = d
    for k in path[:-1]:
        node = node[k]
    if value is KeyError:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return json.dumps(d)


CASES = [
    ("not json", b"{", "not JSON"),
    ("bad utf-8", b"\xff\xfe{", "not JSON"),
    ("deep nesting", "[" * 100_000 + "]" * 100_000, "not JSON|invalid"),
    ("a list", "[]", "not a JSON object"),
    ("wrong format", mutate(["format"], "other/1"), "not a graphnn graph"),
    ("missing nodes", mutate(["nodes"], KeyError), "KeyError"),
    ("name not str", mutate(["name"], 3), "graph name"),
    ("negative dim", mutate(["inputs", 0, "type", "shape"], [-1, 3]), "negative dim"),
    ("unknown dtype", mutate(["params", 0, "type", "dtype"], "complex64"), "dtype"),
    ("unknown op", mutate(["nodes", 0, "op"], "os.system"), "unknown op"),
    ("dangling input", mutate(["nodes", 0, "inputs"], [99999, 1]), "undefined value"),
    ("forged type", mutate(["nodes", 0, "outputs", 0, "type", "shape"], [7, 7]), "re-inferred|type-checks"),
    ("short data", mutate(["values", "w", "data"], "AAAA"), "cannot reshape|ValueError"),
    ("huge shape", mutate(["values", "w", "shape"], [2**40, 2**40]), "does not match the declared type"),
    ("bad base64", mutate(["values", "w", "data"], "!!!!"), "Error"),
    ("value for unknown", mutate(["values", "zz"], {"dtype": "float32", "shape": [], "data": ""}), "neither"),
    ("output dangling", mutate(["outputs", "y"], 424242), "undefined value"),
    ("kind swapped", mutate(["params", 0, "kind"], "input"), "kind"),
]


@pytest.mark.parametrize("text, match", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_from_json_raises_one_graph_error_line(text: object, match: str) -> None:
    with pytest.raises(gn.GraphError, match=match) as e:
        from_json(text, source="model.json")  # type: ignore[arg-type]
    assert str(e.value).startswith("model.json: ") and "\n" not in str(e.value)


def test_roundtrip_still_exact() -> None:
    g = small_graph()
    g2 = from_json(to_json(g))
    np.testing.assert_array_equal(g2.storage["w"], g.storage["w"])
    X = np.ones((2, 3), np.float32)
    np.testing.assert_array_equal(gn.compile(g2)(x=X)["y"], np.maximum(X @ g.storage["w"], 0))


def _save(tmp_path: Path) -> tuple[gn.Graph, str]:
    g = small_graph()
    path = str(tmp_path / "p.npz")
    gn.save_params(g, path)
    return g, path


def _rewrite(path: str, change: dict[str, bytes | None], compress: bool = False) -> None:
    """Replace (or drop, with None) members of the .npz at `path`."""
    with zipfile.ZipFile(path) as z:
        members = {i.filename: z.read(i) for i in z.infolist()}
    for k, v in change.items():
        if v is None:
            members.pop(k, None)
        else:
            members[k] = v
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED) as z:
        for k, v in members.items():
            z.writestr(k, v)


def _npy(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, a, allow_pickle=False)
    return buf.getvalue()


def _forged_header(shape: tuple, dtype: str = "<f4") -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": dtype, "fortran_order": False, "shape": shape})
    return buf.getvalue()


def test_corrupt_checkpoints_are_checkpoint_errors(tmp_path: Path) -> None:
    g, path = _save(tmp_path)
    good = open(path, "rb").read()
    w0 = g.storage["w"].copy()
    variants = {
        "truncated": good[: len(good) // 2],
        "empty": b"",
        "garbage": b"PK\x03\x04" + b"\x00" * 100,
        "text": b"hello",
    }
    for why, data in variants.items():
        open(path, "wb").write(data)
        with pytest.raises(gn.CheckpointError, match="p.npz") as e:
            gn.load_params(g, path)
        assert "\n" not in str(e.value), why
    np.testing.assert_array_equal(g.storage["w"], w0)
    with pytest.raises(gn.CheckpointError, match="no such file"):
        gn.load_params(g, str(tmp_path / "absent.npz"))


@pytest.mark.parametrize("member, why", [
    (_forged_header((2**40, 2**40)) + b"\x00" * 16, "graph has float32\\[3, 2\\], checkpoint has float32"),
    (_forged_header((3, 2), "|O"), "corrupt|dtype"),
    (_npy(np.zeros((3, 2), np.float64)), "checkpoint has float64"),
    (_npy(np.zeros((3, 2), np.float32))[:40], "corrupt"),
    (b"\x93NUMPY\x09\x09", "corrupt"),
])
def test_forged_members_are_refused_before_reading_data(tmp_path: Path, member: bytes, why: str) -> None:
    g, path = _save(tmp_path)
    _rewrite(path, {"v:w.npy": member})
    w0 = g.storage["w"].copy()
    with pytest.raises(gn.CheckpointError, match=why):
        gn.load_params(g, path)
    np.testing.assert_array_equal(g.storage["w"], w0)


def test_zip_bomb_member_is_refused_by_its_declared_size(tmp_path: Path) -> None:
    """A member that inflates far beyond what its header declares is refused before it is inflated."""
    g, path = _save(tmp_path)
    bomb = _npy(np.zeros((3, 2), np.float32)) + b"\x00" * (64 * 2**20)
    _rewrite(path, {"v:w.npy": bomb}, compress=True)
    assert Path(path).stat().st_size < 2**20
    with pytest.raises(gn.CheckpointError, match="stores .* bytes for float32\\[3, 2\\]"):
        gn.load_params(g, path)


def test_bad_text_members(tmp_path: Path) -> None:
    g, path = _save(tmp_path)
    _rewrite(path, {"__meta_json__.npy": _npy(np.frombuffer(b"[1,2", np.uint8))})
    with pytest.raises(gn.CheckpointError, match="unreadable graph or metadata"):
        gn.load_params(g, path)
    _rewrite(path, {"__meta_json__.npy": _npy(np.zeros(3, np.float32))})
    with pytest.raises(gn.CheckpointError, match="expected text"):
        gn.load_params(g, path)
    g, path = _save(tmp_path)
    _rewrite(path, {"evil.txt": b"x"})
    with pytest.raises(gn.CheckpointError, match="unexpected member 'evil.txt'"):
        gn.load_params(g, path)


def test_gn_load_refuses_a_file_whose_values_contradict_its_graph(tmp_path: Path) -> None:
    g = small_graph()
    path = str(tmp_path / "m.npz")
    gn.save(g, path)
    _rewrite(path, {"v:w.npy": _npy(np.zeros((2, 3), np.float32))})
    with pytest.raises(gn.CheckpointError, match=r"w: graph has float32\[3,2\], file has float32\[2, 3\]"):
        gn.load(path)
    gn.save(g, path)
    _rewrite(path, {"__graph_json__.npy": _npy(np.frombuffer(b'{"format": 1}', np.uint8))})
    with pytest.raises(gn.CheckpointError, match="its graph is invalid"):
        gn.load(path)
