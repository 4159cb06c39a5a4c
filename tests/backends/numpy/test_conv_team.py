"""The two-thread team (backends/compiled/team.py) and the compiled column path (colconv.py), issue 16: a lone
block's rows split between the calling thread and the helper give what one thread gives and what a float64
convolution written plainly here gives; for Winograd (both forms, pads, odd sizes, the pooled epilogue) and
column convolutions (kernel sizes, pads, bias, ReLU, pooling with odd sizes); the busy, dead-helper, switched-off
and forked cases; a compiled batch-1 net on two BLAS threads; the profile's words; and every conformance case of
cases_conv_colconv.py running on the column path. The split is forced on small maps by lowering MIN_FLOPS.
"""

from __future__ import annotations

import multiprocessing as mp
from typing import Any

import numpy as np
import pytest

import graphnn as gn
from graphnn.backends.compiled import colconv as cc_mod
from graphnn.backends.compiled import team as team_mod
from graphnn.backends.compiled import winograd as wg_mod
from graphnn.backends.compiled.colconv import ColConv

from ...conformance.cases import build_case, draw
from ...conformance.cases_conv_colconv import CASES as COLCONV_CASES

pytestmark = pytest.mark.skipif(not team_mod.available(np.float32),
                                reason="needs numba (the fast extra), NumPy's CBLAS sgemm and Linux semaphores")


def ref(x: np.ndarray, w: np.ndarray, pads: tuple, b: Any = None, relu: bool = False, pool: bool = False,
        dil: tuple = (1, 1), groups: int = 1) -> Any:
    """Direct convolution in float64 (stride 1), then bias, ReLU and the floor-mode 2x2 max pool."""
    n = x.shape[0]
    k, cg, kh, kw = w.shape
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])))
    ho, wo = xp.shape[2] - dil[0] * (kh - 1), xp.shape[3] - dil[1] * (kw - 1)
    y = np.zeros((n, k, ho, wo))
    kg = k // groups
    for g in range(groups):
        xs = xp[:, g * cg:(g + 1) * cg]
        for a in range(kh):
            for c in range(kw):
                win = xs[:, :, a * dil[0]:a * dil[0] + ho, c * dil[1]:c * dil[1] + wo]
                wg = w[g * kg:(g + 1) * kg, :, a, c].astype(np.float64)
                y[:, g * kg:(g + 1) * kg] += np.einsum("kc,nchw->nkhw", wg, win)
    if b is not None:
        y += b.reshape(-1, 1, 1)
    if relu:
        y = np.maximum(y, 0)
    if pool:
        hp, wp = ho // 2, wo // 2
        y = y[:, :, :2 * hp, :2 * wp].reshape(n, k, hp, 2, wp, 2).max(axis=(3, 5))
    return y


def close(y: np.ndarray, want: np.ndarray, rel: float = 1e-5) -> None:
    assert y.shape == want.shape
    assert np.abs(y - want).max() <= rel * max(1.0, np.abs(want).max())


def posted() -> int:
    """Tasks the process's team has posted so far."""
    t = team_mod.team()
    assert t is not None
    return int(t.mail[0])


@pytest.fixture
def split_all(monkeypatch: pytest.MonkeyPatch) -> None:
    """Split every call with rows enough, however small."""
    monkeypatch.setattr(team_mod, "MIN_FLOPS", 0.0)


def operands(rng: np.random.Generator, n: int, c: int, k: int, h: int, w: int, kh: int = 3, kw: int = 3) -> tuple:
    return (rng.standard_normal((n, c, h, w)).astype(np.float32),
            (rng.standard_normal((k, c, kh, kw)) / np.sqrt(c * kh * kw)).astype(np.float32),
            rng.standard_normal(k).astype(np.float32))


@pytest.mark.parametrize("n,c,k,h,w,pads,form", [
    (1, 32, 32, 32, 32, (1, 1, 1, 1), "F23"),
    (1, 32, 48, 17, 13, (0, 1, 2, 1), "F23"),
    (2, 32, 16, 9, 11, (1, 1, 1, 1), "F23"),
    (1, 64, 64, 40, 40, (1, 1, 1, 1), "F43"),
    (1, 64, 32, 35, 30, (2, 0, 1, 1), "F43"),
])
@pytest.mark.parametrize("epilogue", ["plain", "bias-relu-pool", "bias-pool"])
def test_winograd_split_matches_one_thread_and_direct(split_all: None, n: int, c: int, k: int, h: int, w: int,
                                                      pads: tuple, form: str, epilogue: str) -> None:
    rng = np.random.default_rng(h * w + c)
    x, wt, b = operands(rng, n, c, k, h, w)
    bias, relu, pool = (None, False, False) if epilogue == "plain" else (b, epilogue.startswith("bias-relu"), True)
    wino = wg_mod.Winograd.of(np, (3, 3), (1, 1), (1, 1), 1, pads, c, k, np.float32)
    ho, wo = h + pads[0] + pads[2] - 2, w + pads[1] + pads[3] - 2
    f = wg_mod.form_for(n, c, ho, wo) or wg_mod.F23  # the driver's own choice below MIN_TILES
    assert f.m == (4 if form == "F43" else 2)
    want = ref(x, wt, pads, bias, relu, pool)
    one = np.full(want.shape, np.nan, np.float32)
    wino(x, wt, one, None, 1, bias=bias, relu=relu, pool=pool)
    before = posted()
    two = np.full(want.shape, np.nan, np.float32)
    wino(x, wt, two, None, 2, bias=bias, relu=relu, pool=pool)
    assert posted() == before + 1  # the helper took rows
    rel = 2e-5 if form == "F43" else 1e-5
    close(one, want, rel)
    close(two, want, rel)
    np.testing.assert_allclose(two, one, rtol=0, atol=rel * max(1.0, np.abs(want).max()))


@pytest.mark.parametrize("n,c,k,h,w,kh,kw,pads,dil,groups", [
    (1, 3, 32, 32, 32, 3, 3, (1, 1, 1, 1), (1, 1), 1),
    (1, 3, 8, 11, 9, 5, 5, (2, 1, 0, 2), (1, 1), 1),
    (2, 4, 6, 7, 13, 1, 3, (0, 1, 0, 1), (1, 1), 1),
    (1, 1, 5, 6, 6, 3, 3, (0, 0, 0, 0), (1, 1), 1),
    (1, 8, 16, 15, 15, 3, 3, (1, 1, 1, 1), (1, 1), 1),
    (1, 3, 4, 9, 9, 2, 2, (0, 0, 1, 1), (1, 1), 1),
    (1, 2, 3, 5, 4, 1, 1, (1, 2, 0, 1), (1, 1), 1),
    (3, 6, 9, 7, 6, 1, 1, (0, 0, 0, 0), (1, 1), 1),
    (1, 12, 12, 9, 10, 3, 3, (1, 1, 1, 1), (1, 1), 12),
    (2, 6, 4, 10, 9, 3, 2, (2, 1, 1, 0), (2, 3), 2),
    (1, 2, 3, 3, 5, 3, 3, (1, 1, 1, 1), (1, 1), 1),
])
@pytest.mark.parametrize("epilogue", ["plain", "bias", "bias-relu", "bias-relu-pool", "pool"])
@pytest.mark.parametrize("threads", [1, 2])
def test_colconv_matches_direct(split_all: None, n: int, c: int, k: int, h: int, w: int, kh: int, kw: int,
                                pads: tuple, dil: tuple, groups: int, epilogue: str, threads: int) -> None:
    rng = np.random.default_rng(h * 31 + w + kh)
    x, _, b = operands(rng, n, c, k, h, w, kh, kw)
    wt = (rng.standard_normal((k, c // groups, kh, kw)) / np.sqrt(c // groups * kh * kw)).astype(np.float32)
    bias = b if "bias" in epilogue else None
    relu, pool = "relu" in epilogue, "pool" in epilogue
    col = ColConv.of(np, (kh, kw), (1, 1), dil, groups, pads, np.float32)
    assert col is not None
    want = ref(x, wt, pads, bias, relu, pool, dil, groups)
    y = np.full(want.shape, np.nan, np.float32)
    before = posted()
    col(x, wt, y, threads, bias=bias, relu=relu, pool=pool)
    rows = want.shape[2]
    assert posted() == before + (threads > 1 and rows >= 2)
    close(y, want)


def test_colconv_writes_a_strided_destination() -> None:
    rng = np.random.default_rng(5)
    x, wt, b = operands(rng, 1, 3, 4, 6, 6)
    col = ColConv.of(np, (3, 3), (1, 1), (1, 1), 1, (1, 1, 1, 1), np.float32)
    assert col is not None
    big = np.zeros((1, 4, 6, 12), np.float32)
    col(x, wt, big[:, :, :, ::2], 1, bias=b, relu=True)
    close(big[:, :, :, ::2], ref(x, wt, (1, 1, 1, 1), b, True))
    assert not big[:, :, :, 1::2].any()


@pytest.mark.parametrize("geometry", [((3, 3), (2, 2), (1, 1), 1, (1, 1, 1, 1), np.float32),
                                      ((3, 3), (1, 2), (1, 1), 1, (1, 1, 1, 1), np.float32),
                                      ((3, 3), (1, 1), (1, 1), 1, (-1, 0, 0, 0), np.float32),
                                      ((3, 3), (1, 1), (1, 1), 1, (1, 1, 1, 1), np.float64),
                                      ((3, 3), (1, 1), (1, 1), 1, (1, 1, 1, 1), np.int32)])
def test_colconv_declines_what_it_does_not_compute(geometry: tuple) -> None:
    assert ColConv.of(np, *geometry) is None


def test_a_busy_team_runs_the_call_on_one_thread(split_all: None) -> None:
    rng = np.random.default_rng(7)
    x, wt, b = operands(rng, 1, 32, 32, 16, 16)
    wino = wg_mod.Winograd.of(np, (3, 3), (1, 1), (1, 1), 1, (1, 1, 1, 1), 32, 32, np.float32)
    t = team_mod.team()
    assert t is not None
    y = np.full((1, 32, 16, 16), np.nan, np.float32)
    before = posted()
    with t.lock:  # another thread's call holds it
        wino(x, wt, y, None, 2, bias=b, relu=True)
    assert posted() == before
    close(y, ref(x, wt, (1, 1, 1, 1), b, True))


def unstarted_team(monkeypatch: pytest.MonkeyPatch) -> team_mod.Team:
    """A Team whose helper thread is built but not started (start it with .thread.start())."""
    import ctypes
    import threading

    libc = ctypes.CDLL(None)
    for name in ("sem_init", "sem_wait", "sem_post"):
        getattr(libc, name).restype = ctypes.c_int
    libc.sem_init.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint]
    libc.sem_wait.argtypes = libc.sem_post.argtypes = [ctypes.c_void_p]
    with monkeypatch.context() as m:
        m.setattr(threading.Thread, "start", lambda self: None)
        t = team_mod.Team(team_mod.kernels("team"), libc, team_mod.sgemm_blas())
    return t


def test_a_task_posted_before_the_helper_starts_is_still_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """The helper's thread may start (numba compiling its loop) after the first task is posted: it runs it."""
    t = unstarted_team(monkeypatch)
    rng = np.random.default_rng(13)
    x, wt, b = operands(rng, 1, 32, 32, 16, 16)
    wino = wg_mod.Winograd.of(np, (3, 3), (1, 1), (1, 1), 1, (1, 1, 1, 1), 32, 32, np.float32)
    u = wino.kernel(wg_mod.F23, wt)
    key = (wg_mod.F23, 32, 32, 1, 8, 8, np.dtype(np.float32))
    y = np.full((1, 32, 16, 16), np.nan, np.float32)
    seq = t.mod.post_winograd(t.mail, t.post, t.sem, 4, x, u, y, b, True, True, False, 1, 1, 8, 8, 5,
                              *wino.buffers(1, key))
    t.thread.start()
    while not t.mod.wait_done(t.mail, seq, 1 << 20):
        pass
    want = ref(x, wt, (1, 1, 1, 1), b, True)
    close(y[:, :, 10:], want[:, :, 10:])  # tile rows 5:8 are the helper's
    assert np.isnan(y[:, :, :10]).all()  # and only those
    t.stop()


def test_rows_the_helper_does_not_pick_up_are_run_by_the_caller(split_all: None,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    t = unstarted_team(monkeypatch)
    monkeypatch.setattr(team_mod, "SPINS", 1000)
    monkeypatch.setattr(team_mod, "_TEAM", [t])
    rng = np.random.default_rng(8)
    x, wt, b = operands(rng, 1, 3, 8, 12, 10)
    col = ColConv.of(np, (3, 3), (1, 1), (1, 1), 1, (1, 1, 1, 1), np.float32)
    y = np.full((1, 8, 6, 5), np.nan, np.float32)
    col(x, wt, y, 2, bias=b, relu=True, pool=True)  # no helper running: the caller steals its rows
    want = ref(x, wt, (1, 1, 1, 1), b, True, True)
    close(y, want)
    assert t.mail[0] == t.mail[1] == t.mail[3] == 1  # posted, done, claimed (by the caller)
    t.thread.start()  # late: it must skip the stolen task and run the next one
    monkeypatch.setattr(team_mod, "SPINS", 1 << 26)
    y2 = np.full_like(y, np.nan)
    col(x, wt, y2, 2, bias=b, relu=True, pool=True)
    close(y2, want)
    assert t.mail[0] == t.mail[1] == t.mail[3] == 2
    t.stop()
    assert not t.thread.is_alive()
    monkeypatch.setattr(team_mod, "SPINS", 1000)
    y3 = np.full_like(y, np.nan)
    col(x, wt, y3, 2, bias=b, relu=True, pool=True)  # a stopped helper: the caller again
    close(y3, want)


def test_no_team_when_switched_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRAPHNN_NO_TEAM", "1")
    monkeypatch.setattr(team_mod, "_TEAM", [])
    assert team_mod.team() is None and not team_mod.available(np.float32)
    rng = np.random.default_rng(9)
    x, wt, b = operands(rng, 1, 3, 8, 12, 10)
    col = ColConv.of(np, (3, 3), (1, 1), (1, 1), 1, (1, 1, 1, 1), np.float32)
    y = np.empty((1, 8, 12, 10), np.float32)
    col(x, wt, y, 2, bias=b)
    close(y, ref(x, wt, (1, 1, 1, 1), b))


def _child(q: Any) -> None:
    team_mod.MIN_FLOPS = 0.0
    rng = np.random.default_rng(10)
    x, wt, b = operands(rng, 1, 32, 32, 16, 16)
    wino = wg_mod.Winograd.of(np, (3, 3), (1, 1), (1, 1), 1, (1, 1, 1, 1), 32, 32, np.float32)
    y = np.empty((1, 32, 16, 16), np.float32)
    wino(x, wt, y, None, 2, bias=b, relu=True)
    t = team_mod.team()
    q.put((float(np.abs(y - ref(x, wt, (1, 1, 1, 1), b, True)).max()), t is not None and t.thread.is_alive(),
           int(t.mail[0]) if t else -1))


def test_a_forked_child_starts_its_own_helper() -> None:
    assert team_mod.team() is not None  # the parent's helper exists before the fork
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=_child, args=(q,))
    p.start()
    err, alive, tasks = q.get(timeout=60)
    p.join(timeout=30)
    assert p.exitcode == 0 and err < 1e-4 and alive and tasks == 1  # a fresh team: its first task


def vgg_like() -> tuple[gn.Graph, gn.Value, list]:
    """The VGG-like net's convolutions at batch 1 (3->32, 32->32 + pool, 32->64, 64->64 + pool) and its weights."""
    rng = np.random.default_rng(11)
    weights = []
    with gn.Graph("vgg1") as g:
        h = gn.input("x", (1, 3, 32, 32))
        for c_in, c_out, pool in ((3, 32, False), (32, 32, True), (32, 64, False), (64, 64, True)):
            w = (rng.standard_normal((c_out, c_in, 3, 3)) / np.sqrt(9 * c_in)).astype(np.float32)
            b = (rng.standard_normal(c_out) * 0.1).astype(np.float32)
            weights.append((w, b, pool))
            h = gn.relu(gn.conv2d(h, gn.constant(w), 1, 1) + gn.constant(b.reshape(1, c_out, 1, 1)))
            if pool:
                h = gn.max_pool2d(h, 2)
    return g, h, weights


def plain_vgg(weights: list, x: np.ndarray) -> np.ndarray:
    """The same net in float64, written plainly."""
    h = x.astype(np.float64)
    for w, b, pool in weights:
        h = ref(h, w, (1, 1, 1, 1), b, True, pool)
    return h


def test_a_compiled_batch1_net_on_two_blas_threads_uses_the_team() -> None:
    threadpoolctl = pytest.importorskip("threadpoolctl", reason="sets BLAS's thread count")
    g, out, weights = vgg_like()
    fn = gn.compile(g, {"y": out})
    x = np.random.default_rng(12).standard_normal((1, 3, 32, 32)).astype(np.float32)
    with threadpoolctl.threadpool_limits(1, user_api="blas"):
        one = fn(x=x)["y"]
    with threadpoolctl.threadpool_limits(2, user_api="blas"):
        before = posted()
        two = fn(x=x)["y"]
        split = posted() - before
    assert split >= 2  # the 32->32 and 64->64 layers' rows at least
    want = plain_vgg(weights, x)
    close(one, want)
    close(two, want)


def test_profile_names_the_column_path_and_the_split() -> None:
    g, out, _ = vgg_like()
    fn = gn.compile(g, {"y": out})
    prof = fn.profile({"x": np.zeros((1, 3, 32, 32), np.float32)}, repeat=1)
    words = [r.algorithm for r in prof.rows.values() if r.op in ("conv2d", "conv2d_bias_act")]
    assert len(words) == 4
    assert words[0].startswith("compiled columns over padded rows + one CBLAS GEMM per sample")
    assert "helper thread" not in words[0]  # 1.8 MFLOP: too little to split
    assert all(w.startswith("Winograd F(2x2, 3x3)") and w.endswith("rows split with the team's helper thread")
               for w in words[1:])


class ColSpy:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        inner = ColConv.__call__

        def spy(col: ColConv, *a: Any, **kw: Any) -> Any:
            self.calls += 1
            return inner(col, *a, **kw)

        monkeypatch.setattr(ColConv, "__call__", spy)


@pytest.mark.parametrize("case", COLCONV_CASES, ids=lambda case: f"{case.op}-{case.id}")
def test_conformance_cases_take_the_column_path(monkeypatch: pytest.MonkeyPatch, case: Any) -> None:
    spy = ColSpy(monkeypatch)
    g, ins, out = build_case(case, "float32")
    rng = np.random.default_rng(0)
    feeds = {v.name: draw(s, 1, rng, "float32") for v, s in zip(ins, case.inputs)}
    got = gn.compile(g, outputs={"out": out}, passes="none")(**feeds)["out"]
    assert spy.calls == 1
    want = case.ref(*(feeds[v.name].astype(np.float64) for v in ins))
    close(got, want)


def test_colconv_is_kept_for_calls_that_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    col = ColConv.of(np, (3, 3), (1, 1), (1, 1), 1, (1, 1, 1, 1), np.float32)
    assert col is not None and col.fits(1, 3, 32, 32, 32) and not col.fits(64, 32, 32, 32, 32)
    assert not col.fits(1, 512, 512, 7, 7)  # 231 MFLOP: BLAS's threads on the GEMM path
    monkeypatch.setattr(cc_mod, "COLS_VALUES", 10)
    assert not col.fits(1, 3, 32, 32, 32)


def thread_cpu_seconds(native_id: int) -> float:
    """User + system CPU time of one thread of this process (Linux /proc), in seconds."""
    import os

    with open(f"/proc/self/task/{native_id}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_the_helper_sleeps_once_a_run_ends() -> None:
    """Within a plan run the helper may spin for the run's next layer; when the run ends it must sleep: its
    CPU time over a quarter second after the call is a few ticks at most, not the quarter second a spin takes."""
    import time

    threadpoolctl = pytest.importorskip("threadpoolctl", reason="sets BLAS's thread count")
    g, out, _ = vgg_like()
    fn = gn.compile(g, {"y": out})
    x = np.zeros((1, 3, 32, 32), np.float32)
    with threadpoolctl.threadpool_limits(2, user_api="blas"):
        before = posted()
        fn(x=x)
        assert posted() > before
    t = team_mod.team()
    assert t is not None and t.mail[t.mod.HOLD] == 0  # released by the run's end
    cpu0 = thread_cpu_seconds(t.thread.native_id)
    time.sleep(0.25)
    assert thread_cpu_seconds(t.thread.native_id) - cpu0 <= 0.05


def test_many_held_calls_in_a_row_stay_exact(split_all: None) -> None:
    """Calls posted while the helper spins (no semaphore post) and while it sleeps (posted), alternating with
    the run's end, all come back right: no task is lost between the spin, the last look and sem_wait."""
    rng = np.random.default_rng(14)
    x, wt, b = operands(rng, 1, 8, 8, 10, 10)
    col = ColConv.of(np, (3, 3), (1, 1), (1, 1), 1, (1, 1, 1, 1), np.float32)
    want = ref(x, wt, (1, 1, 1, 1), b, True)
    t = team_mod.team()
    assert t is not None
    for i in range(300):
        y = np.full((1, 8, 10, 10), np.nan, np.float32)
        col(x, wt, y, 2, bias=b, relu=True)
        close(y, want)
        if i % 3 == 2:
            team_mod.release()
    team_mod.release()
