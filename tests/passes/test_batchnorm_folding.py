"""The batch-norm folding pass (graphnn/passes/batchnorm_folding.py): an eval-mode batch norm after a convolution
becomes the convolution with scaled weights plus a bias; numbers against plain NumPy, and no fold when the
convolution has another reader or in training."""

from __future__ import annotations

import numpy as np

import graphnn as gn
from graphnn.ir.ops import norm

from ..conformance import cases as _cases  # noqa: F401 - first: it imports every cases_<family> module
from ..conformance.cases_conv import ref_conv
from .util import evaluate, ops, run_pass

RNG = np.random.default_rng(0)
X = RNG.standard_normal((2, 4, 6, 5))
W = RNG.standard_normal((6, 2, 3, 3))
GAMMA, BETA, MEAN = RNG.standard_normal(6), RNG.standard_normal(6), RNG.standard_normal(6)
VAR = RNG.random(6) + 0.5


def _np_bn(y: np.ndarray) -> np.ndarray:
    sh = (1, -1, 1, 1)
    return (y - MEAN.reshape(sh)) / np.sqrt(VAR.reshape(sh) + 1e-3) * GAMMA.reshape(sh) + BETA.reshape(sh)


def _graph(second_reader: bool = False) -> tuple[gn.Graph, dict]:
    with gn.Graph("bn") as g:
        x = gn.input("x", (None, 4, 6, 5), "float64")
        w = gn.param("w", W.shape, "float64", init=W)
        stats = [gn.param(n, (6,), "float64", init=a) for n, a in
                 (("gamma", GAMMA), ("beta", BETA), ("mean", MEAN), ("var", VAR))]
        c = gn.conv2d(x, w, stride=(1, 2), padding=(1, 0, 0, 1), groups=2)
        y = norm.batch_norm_infer(c, *stats, eps=1e-3)
    return g, ({"y": y, "c": c} if second_reader else {"y": y})


def test_fold_removes_the_normalization_and_keeps_the_numbers() -> None:
    g, outs = _graph()
    opt = run_pass(g, "fold_batchnorm", **outs)
    assert "batch_norm_infer" not in ops(opt) and ops(opt).count("conv2d") == 1
    want = _np_bn(ref_conv(X, W, (1, 2), (1, 0, 0, 1), (1, 1), 2))
    np.testing.assert_allclose(evaluate(opt, x=X)["y"], want, rtol=1e-10, atol=1e-12)
    rec = next(r for r in opt.report.records if r.name == "fold_batchnorm")
    assert rec.counts() == {"batch_norm_infer(conv2d(x, w))": 1}


def test_no_fold_when_the_convolution_is_also_an_output() -> None:
    g, outs = _graph(second_reader=True)
    assert "batch_norm_infer" in ops(run_pass(g, "fold_batchnorm", **outs))


def test_eval_compile_folds_and_reports_it_training_does_not() -> None:
    with gn.Graph("m") as g:
        x = gn.input("x", (None, 3, 5, 5), "float32")
        y = gn.nn.BatchNorm2d(4)(gn.nn.Conv2d(3, 4, 3, bias=False)(x))
        loss = gn.sum(y * y)
    ev = gn.compile(g, outputs={"y": y})
    assert "fold_batchnorm" in str(ev.report())
    assert "batch_norm_infer" not in [n.op for n in ev.graph.nodes]
    tr = gn.compile(g, outputs={"loss": loss}, updates=gn.optim.SGD(0.0).updates(loss, g.params))
    assert "conv2d" in [n.op for n in tr.graph.nodes] and "batch_norm_train" in [n.op for n in tr.graph.nodes]
    xs = np.random.default_rng(1).standard_normal((2, 3, 5, 5)).astype("float32")
    unfolded = gn.compile(g, outputs={"y": y}, passes=["cse"])(x=xs)["y"]
    np.testing.assert_allclose(ev(x=xs)["y"], unfolded, rtol=1e-5, atol=1e-6)
