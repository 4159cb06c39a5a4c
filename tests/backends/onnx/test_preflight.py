"""Preflight: opset checks, the dynamic-dimension audit, the mode audit, the stability audit; and what an
exported model keeps (dim names, value names, source locations)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

import graphnn as gn
from graphnn.backends.onnx.preflight import preflight
from graphnn.passes.pipeline import run_pipeline

HERE = "test_preflight.py"


def _mlp(batch: object = None) -> tuple[gn.Graph, gn.Value]:
    r = np.random.default_rng(0)
    with gn.Graph("mlp") as g:
        x = gn.input("x", (batch, 6))
        h = gn.relu(x @ gn.param("w1", (6, 5), init=r.standard_normal((6, 5)).astype("float32")))
        p = gn.softmax(h @ gn.param("w2", (5, 3), init=r.standard_normal((5, 3)).astype("float32")))
    return g, p


def test_opset_too_low_is_refused_and_the_report_is_in_the_error_only(tmp_path, capsys) -> None:
    g, p = _mlp()
    path = tmp_path / "m.onnx"
    with pytest.raises(gn.GraphError) as ei:
        gn.onnx.export(g, path, outputs={"probs": p}, opset=11)
    msg = str(ei.value)
    assert "opset 11 is outside" in msg and "refused by preflight" in msg
    assert "matmul" in msg and "softmax" in msg  # the per-node lowering table is part of the report
    assert msg.count("ONNX preflight (opset 11)") == 1
    assert "ONNX preflight" not in capsys.readouterr().err  # not printed besides: shown once, where it is caught
    assert not path.exists()


def test_table_columns_fit_long_names() -> None:
    with gn.Graph("long") as g:
        x = gn.input("x", (None, 6))
        with g.name_scope("a_rather_long_scope_name"), g.name_scope("and_a_longer_inner_scope"):
            y = gn.relu(x)
    text = str(gn.onnx.preflight(g, {"y": y}))
    rows = [ln for ln in text.splitlines() if "relu" in ln and "Relu" in ln]
    assert rows, text
    cells = rows[0].split()
    assert cells[0].endswith("relu") and cells[1] == "relu" and cells[2] == "13" and cells[3] == "Relu", rows[0]
    head = next(ln for ln in text.splitlines() if ln.strip().startswith("node"))
    assert head.index("op") == rows[0].index(" relu ") + 1 and head.index("lowering") == rows[0].index("Relu")


def test_an_op_needing_a_newer_opset_is_named() -> None:
    r = np.random.default_rng(0)
    with gn.Graph("ln") as g:
        x = gn.input("x", (None, 4))
        y = gn.layer_norm(x, gn.param("g", (4,), init=np.ones(4, "float32")), gn.param("b", (4,), init=r.random(4).astype("float32")))
    with pytest.raises(gn.GraphError, match=r"layer_norm lowers to LayerNormalization, which needs opset >= 17"):
        gn.onnx.export(g, None, outputs={"y": y}, opset=16)
    assert gn.onnx.export(g, None, outputs={"y": y}, opset=17).preflight.ok


def test_broadcasting_the_batch_against_a_literal_is_refused_when_building() -> None:
    # This used to infer (32, 12) and leave it to the preflight dynamic-dim audit to flag the export; the
    # builder now refuses at the user's line, so an exported model can no longer be fixed to one batch size.
    with gn.Graph("fixed"):
        x = gn.input("x", (None, 12))
        mask = gn.constant(np.ones((32, 12), "float32"))
        with pytest.raises(gn.ShapeError, match=f"declare the dim as 32(.|\n)*at: .*{HERE}"):
            x * mask
        assert x.type.shape[0] != 32


def test_a_literal_label_batch_no_longer_fixes_a_none_dim() -> None:
    # Unifying x's None batch with the labels' literal 32 used to rewrite x's declared type (and the audit
    # then flagged it); now the builder refuses at the user's line and says how to declare it.
    with gn.Graph("labels"):
        x = gn.input("x", (None, 4))
        y = gn.input("y", (32,), "int64")
        with pytest.raises(gn.ShapeError, match=f"declare it as 32(.|\n)*at: .*{HERE}"):
            gn.cross_entropy(gn.softmax(x), y)
        assert x.type.shape[0] != 32


def test_mode_audit_refuses_loss_heads_unless_asked() -> None:
    with gn.Graph("loss") as g:
        x = gn.input("x", (None, 4))
        y = gn.input("y", (None,), "int64")
        loss = gn.cross_entropy(gn.softmax(x), y)
    with pytest.raises(gn.GraphError, match="training-mode op in an inference export: a loss head"):
        gn.onnx.export(g, None, outputs={"loss": loss})
    rep = gn.onnx.export(g, None, outputs={"loss": loss}, allow_training_ops=True)
    assert rep.preflight.ok and rep.max_difference < 1e-5


def test_mode_audit_flags_batch_statistics_and_active_dropout_in_a_train_mode_graph() -> None:
    r = np.random.default_rng(0)
    with gn.Graph("bn") as g:
        x = gn.input("x", (None, 3))
        v = [gn.state(f"s{i}", (3,), init=(r.random(3) + 0.5).astype("float32")) for i in range(4)]
        y = gn.dropout(gn.batch_norm(x, *v).y, 0.5)
    work = g.copy()
    work.outputs = {"y": work.value(y.name)}
    work.facts.mode = "train"
    train_graph, _ = run_pipeline(work, "export")
    rep = preflight(train_graph, 17)
    modes = {f.node.split("/")[-1]: f.message for f in rep.findings if f.check == "mode"}
    assert any("batch statistics" in m for m in modes.values()) and any("active dropout" in m for m in modes.values())
    # the same graph exported normally is in eval mode: running statistics, no dropout
    ops = {n.op_type for n in gn.onnx.export(g, None, outputs={"y": y}).model.graph.node}
    assert "BatchNormalization" in ops and "Dropout" not in ops


def test_stability_audit_warns_about_log_of_sigmoid() -> None:
    from graphnn.backends.onnx.exporter import check_stability, to_model
    from graphnn.backends.onnx.preflight import PreflightReport

    with gn.Graph("bce") as g:
        x = gn.input("x", (None, 3))
        t = gn.input("t", (None, 3))
        loss = gn.binary_cross_entropy(gn.sigmoid(x), t)
    g.outputs = {"loss": loss}
    rep = PreflightReport(17)
    check_stability(to_model(g), rep)  # the graph as written, without the fusion passes
    assert any(f.check == "stability" and "Log(Sigmoid" in f.message for f in rep.findings)


def test_naive_losses_export_as_their_fused_stable_forms() -> None:
    with gn.Graph("heads") as g:
        x = gn.input("x", (None, 3))
        t = gn.input("t", (None, 3))
        y = gn.input("y", (None,), "int64")
        bce = gn.binary_cross_entropy(gn.sigmoid(x), t)
        ce = gn.cross_entropy(gn.softmax(x), y)
    rep = gn.onnx.export(g, None, outputs={"bce": bce, "ce": ce}, allow_training_ops=True)
    ops = [n.op_type for n in rep.model.graph.node]
    assert "Sigmoid" not in ops and "Log" not in ops and "SoftmaxCrossEntropyLoss" in ops
    assert not [f for f in rep.preflight.findings if f.check == "stability"]
    assert rep.max_difference < 1e-5


def test_exported_model_keeps_dim_names_value_names_and_locations(tmp_path) -> None:
    r = np.random.default_rng(0)
    with gn.Graph("named") as g:
        x = gn.input("x", (None, None, 4))
        z = gn.input("z", ("time", 4))
        w = gn.param("w", (4, 2), init=r.standard_normal((4, 2)).astype("float32"))
        h = x @ w
        s = gn.sum(z, axis=1)
    rep = gn.onnx.export(g, tmp_path / "n.onnx", outputs={"h": h, "s": s})
    model = onnx.load(tmp_path / "n.onnx")
    dims = {i.name: [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim] for i in model.graph.input}
    assert dims == {"x": ["batch", "x_dim1", 4], "z": ["time", 4]}
    assert [o.name for o in model.graph.output] == ["h", "s"]
    assert [t.name for t in model.graph.initializer] == ["w"]
    node = next(n for n in model.graph.node if n.op_type == "MatMul")
    assert node.input[:] == ["x", "w"] and HERE in node.doc_string
    assert set(rep.parity) == {2, 5} and rep.max_difference < 1e-5


def test_public_preflight_reads_like_a_report() -> None:
    g, p = _mlp()
    rep = gn.onnx.preflight(g, {"probs": p}, opset=13)
    assert rep.ok and [r[1] for r in rep.rows] == ["matmul", "relu", "matmul", "softmax"]
    assert "ONNX preflight (opset 13): 4 nodes, 0 error(s)" in str(rep)
