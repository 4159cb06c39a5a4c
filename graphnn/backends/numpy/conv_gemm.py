"""Convolution as GEMM: per-sample patch columns (N, groups, C/groups*kH*kW, Ho*Wo), their transpose col2im,
and the geometry.

Per-sample columns keep everything NCHW: the forward is W @ cols[n] straight into y[n] (no transposes), the weight
needs no reordering, each kernel offset copies whole output rows, and per-sample GEMMs keep OpenBLAS's packed
panels in cache (one (O, K) @ (K, N*Ho*Wo) GEMM ran at 40 GFLOP/s where 64 per-sample ones ran at 60; RESULTS.md).
Written against `xp` so CuPy reuses it. Imports graphnn.ir.
"""

from __future__ import annotations

import ctypes
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple

from ...ir.graph import Node
from ..compiled.team import release as release_team


class Geo(NamedTuple):
    """One convolution's geometry: kernel, stride, padding (top, left, bottom, right), dilation, groups."""

    kh: int
    kw: int
    sh: int
    sw: int
    pt: int
    pl: int
    pb: int
    pr: int
    dh: int
    dw: int
    g: int

    def padded(self, h: int, w: int) -> tuple[int, int]:
        return h + self.pt + self.pb, w + self.pl + self.pr

    def taps(self, ho: int, wo: int) -> list[tuple[int, int, slice, slice]]:
        """For each kernel offset (a, b), row-major: the rows and columns of the padded input it touches."""
        return [(a, b, slice(a * self.dh, a * self.dh + self.sh * (ho - 1) + 1, self.sh),
                 slice(b * self.dw, b * self.dw + self.sw * (wo - 1) + 1, self.sw))
                for a in range(self.kh) for b in range(self.kw)]

    @property
    def pointwise(self) -> bool:
        """A 1x1 kernel with stride 1 and no padding: the convolution is a plain GEMM over channels."""
        return (self.kh, self.kw, self.sh, self.sw, self.pt, self.pl, self.pb, self.pr) == (1, 1, 1, 1, 0, 0, 0, 0)


def geo_of(node: Node, kh: int, kw: int) -> Geo:
    """The geometry from a conv-family node's attrs and its kernel size."""
    a = node.attrs
    return Geo(kh, kw, *a["stride"], *a["padding"], *a["dilation"], a["groups"])


def transposed_as_conv(geo: Geo, h: int, w: int, ho: int, wo: int) -> Geo:
    """For stride 1, the input gradient is a convolution of gy with the flipped kernel: its geometry (padding
    d*(k-1) - p at the start, whatever makes the output h x w at the end; negative pads crop)."""
    top, left = geo.dh * (geo.kh - 1) - geo.pt, geo.dw * (geo.kw - 1) - geo.pl
    return geo._replace(pt=top, pl=left, pb=h + geo.dh * (geo.kh - 1) - ho - top,
                        pr=w + geo.dw * (geo.kw - 1) - wo - left)


def flip_kernel(xp: Any, w: Any, g: int) -> Any:
    """(O, C/g, kH, kW) -> (C, O/g, kH, kW) rotated 180 degrees: the kernel of the stride-1 input gradient."""
    o, cg, kh, kw = w.shape
    wf = w.reshape(g, o // g, cg, kh, kw)[:, :, :, ::-1, ::-1].transpose(0, 2, 1, 3, 4)
    return xp.ascontiguousarray(wf).reshape(g * cg, o // g, kh, kw)


CACHE_BYTES = 2 << 20  # patch columns of this size stay in a core's L2 between the copy and the GEMM
SMALL_GEMM = 64e6  # FLOPs below which a lone block's GEMM runs on one BLAS thread (see Columns.run)


def block_of(xp: Any, n: int, k: int, hw: int, itemsize: int) -> int:
    """Samples per block of columns: as many as fit in CACHE_BYTES on the CPU (the GEMM then reads the columns
    from cache: 1.45x faster than whole-batch columns, RESULTS.md); the whole batch on a GPU."""
    if getattr(xp, "__name__", "") != "numpy":
        return n
    return max(1, min(n, CACHE_BYTES // max(1, k * hw * itemsize)))


def im2col(xp: Any, xpad: Any, geo: Geo, ho: int, wo: int, out: Any = None) -> Any:
    """(N, groups, C/groups*kH*kW, Ho*Wo) patch columns of a padded NCHW x, rows in (c, a, b) order like the
    weight's, written into `out` when given."""
    n, c = xpad.shape[:2]
    cols = xp.empty((n, c, geo.kh, geo.kw, ho, wo), dtype=xpad.dtype) if out is None else \
        out.reshape(n, c, geo.kh, geo.kw, ho, wo)
    for a, b, rs, cs in geo.taps(ho, wo):
        cols[:, :, a, b] = xpad[:, :, rs, cs]
    return cols.reshape(n, geo.g, -1, ho * wo)


def flat_cols(xp: Any, xpad: Any, geo: Geo, ho: int, out: Any) -> Any:
    """Stride-1 patch columns over whole padded rows: row (c, a, b) is the flat padded image of channel c from
    offset a*dh*Wp + b*dw on, one contiguous run of Ho*Wp values, so one strided copy makes them all (faster than
    one 2-D copy per kernel offset: RESULTS.md). Output columns j >= Wo are junk and get dropped or zeroed."""
    n, c, _, wp = xpad.shape
    s0, s1, s2, s3 = xpad.strides
    view = xp.lib.stride_tricks.as_strided(xpad, (n, c, geo.kh, geo.kw, ho * wp), (s0, s1, s2 * geo.dh, s3 * geo.dw, s3))
    cols = out.reshape(n, c, geo.kh, geo.kw, ho * wp)
    cols[...] = view
    return cols.reshape(n, geo.g, -1, ho * wp)


class Columns:
    """The patch columns of one kernel call, made a block of samples at a time into per-worker buffers: whole
    padded rows (width `lw` = Wp) for stride 1, exact windows (`lw` = Wo) otherwise; a pointwise convolution's
    columns are x itself (one block)."""

    def __init__(self, xp: Any, x: Any, geo: Geo, ho: int, wo: int) -> None:
        self.xp, self.geo, self.ho, self.wo = xp, geo, ho, wo
        self.n, c = x.shape[:2]
        self.flat = (geo.sh, geo.sw) == (1, 1) and not geo.pointwise
        self.x = x
        if geo.pointwise:
            self.lw, self.bs = wo, self.n
        else:
            h, w = x.shape[2:]
            self.hp, self.wp = geo.padded(h, w)
            self.lw = self.wp if self.flat else wo
            self.bs = block_of(xp, self.n, c * geo.kh * geo.kw, ho * self.lw, x.dtype.itemsize)
            # where x lands in the padded block, and which part of x lands (a negative pad crops: the stride-1
            # input gradient's pads beyond the kernel's reach)
            self.inner = (slice(max(geo.pt, 0), max(geo.pt, 0) + h - max(-geo.pt, 0) - max(-geo.pb, 0)),
                          slice(max(geo.pl, 0), max(geo.pl, 0) + w - max(-geo.pl, 0) - max(-geo.pr, 0)))
            self.src = (slice(max(-geo.pt, 0), h - max(-geo.pb, 0)), slice(max(-geo.pl, 0), w - max(-geo.pr, 0)))
        self.k = c * geo.kh * geo.kw
        self.scratch: dict[tuple, Any] = {}  # (slot, name) -> buffer; a slot is one worker's

    def buffer(self, slot: int, name: str, shape: tuple, dtype: Any, zero: bool = False) -> Any:
        """A block-sized scratch array of this worker, made once per call (fresh large arrays cost page faults)."""
        key = (slot, name)
        if key not in self.scratch:
            self.scratch[key] = (self.xp.zeros if zero else self.xp.empty)(shape, dtype=dtype)
        return self.scratch[key]

    def padded(self, s: int, e: int, slot: int) -> Any:
        """Samples s:e with their zero border (and, for stride 1, one more zero row that keeps the last kernel
        offset's run of padded rows inside the array), in this worker's buffer: the border is zeroed once, and the
        block is still in cache when the columns are copied from it (no whole-batch padded copy)."""
        geo = self.geo
        if not (geo.pt or geo.pl or geo.pb or geo.pr or self.flat):
            return self.x[s:e]
        c = self.x.shape[1]
        shape = (self.bs, c, self.hp + self.flat, self.wp)
        buf = self.buffer(slot, "xpad", shape, self.x.dtype, zero=True)[:e - s]
        buf[:, :, self.inner[0], self.inner[1]] = self.x[s:e, :, self.src[0], self.src[1]]
        return buf

    def cols(self, s: int, e: int, slot: int) -> Any:
        """(e - s, groups, C/groups*kH*kW, Ho*lw) columns of samples s:e."""
        geo, xp = self.geo, self.xp
        if geo.pointwise:
            return self.x[s:e].reshape(e - s, geo.g, -1, self.ho * self.wo)
        buf = self.buffer(slot, "cols", (self.bs, self.k * self.ho * self.lw), self.x.dtype)[:e - s]
        xpad = self.padded(s, e, slot)
        if self.flat:
            return flat_cols(xp, xpad, geo, self.ho, buf)
        return im2col(xp, xpad, geo, self.ho, self.wo, buf)

    def run(self, fn: Any, flops: float = 0.0, threads: int | None = None) -> int:
        """fn(s, e, slot) over this call's blocks (run_blocks)."""
        return run_blocks(self.xp, self.n, self.bs, fn, flops, threads)


def run_blocks(xp: Any, n: int, bs: int, fn: Any, flops: float = 0.0, threads: int | None = None) -> int:
    """fn(s, e, slot) over the blocks of bs samples; returns the number of slots (workers) used. With several BLAS
    threads on the CPU, blocks run on that many Python threads with BLAS pinned to one thread: one GEMM per sample
    meeting a multi-threaded BLAS's barrier each time was 10x slower on a loaded 2-core machine (RESULTS.md). A
    single block (batch 1) runs on BLAS's own threads when its GEMMs total SMALL_GEMM FLOPs or more (`flops`: the
    kernel's), on one BLAS thread below: splitting it gains microseconds and can wait milliseconds for a
    descheduled thread. `threads`: BLAS's thread count before the plan's BlasSession pinned it to one (None: not
    in a session, pin around this call)."""
    ranges = [(s, min(s + bs, n)) for s in range(0, n, bs)]
    lone_big = len(ranges) == 1 and flops >= SMALL_GEMM
    libs = blas_libs() if getattr(xp, "__name__", "") == "numpy" else []
    if threads is None:
        libs = [] if lone_big else libs
        counts = [lib.get_num_threads() for lib, _ in libs]
        threads, pin, back = max(counts, default=1), 1, counts
    else:  # pinned by the session: a lone big block gets BLAS's threads back for its GEMMs
        libs = libs if lone_big and threads > 1 else []
        pin, back = threads, [1] * len(libs)
    changed = [(lib, quiet, k) for (lib, quiet), k in zip(libs, back) if k != pin]
    for lib, quiet, _ in changed:
        (quiet or lib.set_num_threads)(pin)
    try:
        nw = 1 if lone_big else min(threads, len(ranges))
        if nw <= 1:
            for s, e in ranges:
                fn(s, e, 0)
            return 1

        def worker(slot: int) -> None:
            for s, e in ranges[slot::nw]:
                fn(s, e, slot)

        for f in [pool(nw).submit(worker, k) for k in range(nw)]:
            f.result()
        return nw
    finally:
        for lib, quiet, k in changed:
            (quiet or lib.set_num_threads)(k)


class BlasSession:
    """One plan's BLAS pin across all its convolution kernels: the first conv-family call of a run pins BLAS to one
    thread, and the executor restores it when the run ends (executor.guard_run). Pinning and restoring around each kernel instead left OpenBLAS's
    idle worker spinning ~0.1 s (2^28 cycles) after every multi-threaded GEMM between them (the linear layer's,
    and each restore that raised the count again), on a core the blocks' workers needed: the VGG-like default-
    thread step spent ~80 ms of CPU per step in that spin and ran at the single-thread speed (RESULTS.md). BLAS
    calls after the first conv of a plan (dense layers, the classifier of an inference) run on one thread, so no
    2-thread GEMM wakes the worker during the run. A run that raises anywhere (a conv kernel, or a label check
    between two convs) restores the count before the error leaves the plan."""

    KEY = ("blas_session",)

    def __init__(self, xp: Any) -> None:
        self.numpy = getattr(xp, "__name__", "") == "numpy"
        self.saved: list | None = None  # (lib, quiet setter, count before the pin) while pinned
        self.threads = 1

    @classmethod
    def of(cls, xp: Any, ctx: Any) -> BlasSession | None:
        """The plan's session (made by its first conv-family node), or None for a plain (allocating) call, which
        pins around itself."""
        return None if ctx is None else ctx.facts.setdefault(cls.KEY, cls(xp))

    def enter(self) -> int:
        """Pin BLAS to one thread unless pinned; the thread count the blocks may use (BLAS's own before)."""
        if self.saved is None:
            libs = blas_libs() if self.numpy else []
            self.saved = [(lib, quiet, lib.get_num_threads()) for lib, quiet in libs]
            self.threads = max((k for *_, k in self.saved), default=1)
            for lib, quiet, k in self.saved:
                if k > 1:
                    (quiet or lib.set_num_threads)(1)
        return self.threads

    def restore(self) -> None:
        for lib, quiet, k in self.saved or []:
            if k > 1:
                (quiet or lib.set_num_threads)(k)
        self.saved = None
        if self.numpy:
            release_team()  # the helper of batch-1 layers (compiled/team.py) stops waiting for this run's next layer

    # The executor calls these when the run ends and when any of its kernels raises (executor.guard_run).
    on_plan_end = on_plan_error = restore

    def call(self, fn: Any) -> Any:
        """fn(threads, *arrays) run inside the session (restored at once if it raises)."""

        def run(*arrays: Any) -> None:
            threads = self.enter()
            try:
                fn(threads, *arrays)
            except BaseException:
                self.restore()
                raise

        return run


_LIBS: list = []
_POOLS: dict[int, Any] = {}


def blas_libs() -> list:
    """(threadpoolctl handle, quiet setter or None) per loaded BLAS library: thread counts are read and set per
    call in a microsecond; none without threadpoolctl, and then blocks run one after another. The quiet setter is
    OpenBLAS's `openblas_set_num_threads_local`: raising the count back through `openblas_set_num_threads` wakes
    its idle worker, which then spins ~0.1 s (2^28 cycles) and took a core from the next kernel's blocks (a conv
    after such a restore ran 2x slower, RESULTS.md); the local setter changes the count without the wake-up."""
    if not _LIBS:
        try:
            from threadpoolctl import ThreadpoolController  # optional: only to run blocks on several threads
        except ImportError:
            _LIBS.append([])
        else:
            _LIBS.append([(lib, quiet_setter(lib)) for lib in
                          ThreadpoolController().select(user_api="blas").lib_controllers])
    return _LIBS[0]


def quiet_setter(lib: Any) -> Any:
    """OpenBLAS's thread-count setter that does not wake its workers (`int f(int)`), or None. Only for its
    pthreads build, where the count it sets is the process-wide one (measured: set from one thread, read in
    another); an OpenMP build may keep it per thread."""
    if getattr(lib, "internal_api", "") != "openblas" or getattr(lib, "threading_layer", "") != "pthreads":
        return None
    try:
        f = ctypes.CDLL(lib.filepath).openblas_set_num_threads_local
    except (OSError, AttributeError):
        return None
    f.argtypes, f.restype = [ctypes.c_int], ctypes.c_int
    return f


def pool(n: int) -> Any:
    """A process-wide pool of n threads for conv blocks (NumPy's copies and BLAS release the GIL)."""
    if n not in _POOLS:
        _POOLS[n] = ThreadPoolExecutor(n, thread_name_prefix="graphnn-conv")
    return _POOLS[n]


def col2im(xp: Any, cols: Any, geo: Geo, out: Any, ho: int, wo: int) -> None:
    """The transpose of im2col: add (N, groups, C/groups*kH*kW, Ho*Wo) columns into the padded NCHW `out`
    (windows overlap, so the kernel offsets accumulate)."""
    n, c = out.shape[:2]
    c6 = cols.reshape(n, c, geo.kh, geo.kw, ho, wo)
    for a, b, rs, cs in geo.taps(ho, wo):
        out[:, :, rs, cs] += c6[:, :, a, b]
