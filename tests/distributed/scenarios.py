"""Scripts the 2-rank tests launch with `mpiexec -n P python scenarios.py NAME OUTDIR [ARGS]`; each writes what
the test compares (rank 0's arrays, every rank's messages) under OUTDIR. Also runs without MPI (one rank)."""

from __future__ import annotations

import json
import os
import sys

import numpy as np

import graphnn as gn

N, D, H, K = 64, 6, 8, 3


def data(dtype: str = "float64") -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.normal(size=(N, D)).astype(dtype), rng.integers(0, K, N)


def mlp(dtype: str, hidden: int = H, seed: int = 1, loss_reduction: str = "mean", drop: float = 0.0):
    """A small MLP; `seed` differs per rank in some scenarios to show that rank 0's parameters win."""
    with gn.Graph(f"mlp_{dtype}") as g:
        x = gn.input("x", (None, D), dtype)
        y = gn.input("y", (None,), "int64")
        h = gn.tanh(x @ gn.param("w1", (D, hidden), init=gn.init.he_normal(seed=seed), dtype=dtype)
                    + gn.param("b1", (hidden,), init=gn.init.zeros(), dtype=dtype))
        if drop:
            h = gn.dropout(h, drop, seed=5)
        logits = h @ gn.param("w2", (hidden, K), init=gn.init.he_normal(seed=seed + 1), dtype=dtype)
        loss = gn.cross_entropy(gn.softmax(logits), y, reduction=loss_reduction)
    return g, loss, h


def stored(g: gn.Graph) -> dict:
    """Copies of every parameter and state array (optimizer slots, running statistics)."""
    return {k: np.array(g.storage[k]) for k in g.storage.keys()}  # noqa: SIM118 - Storage is not a dict


def save(out: str, name: str, arrays: dict) -> None:
    if gn.dist.rank() == 0:
        np.savez(os.path.join(out, name), **arrays)


def same(out: str) -> None:
    """Five steps of SGD with momentum and of Adam, float64 and float32, on the same global batches."""
    for dtype in ("float64", "float32"):
        for opt_name, opt in (("momentum", gn.optim.SGD(0.1, momentum=0.9)), ("adam", gn.optim.Adam(0.01))):
            x_all, y_all = data(dtype)
            g, loss, _ = mlp(dtype, seed=1 + 10 * gn.dist.rank())  # rank 0's init must win
            fn = gn.compile(g, outputs={"loss": loss}, updates=opt.updates(loss, g.params), data_parallel=True)
            losses = []
            for step in range(5):
                rows = slice(16 * (step % 4), 16 * (step % 4) + 16)
                losses.append(fn(x=gn.dist.shard(x_all[rows]), y=gn.dist.shard(y_all[rows]))["loss"])
            save(out, f"{dtype}_{opt_name}.npz", {"losses": np.array(losses), **stored(g)})
    import graphnn.passes.data_parallel as dp

    dp.BUCKET_BYTES = 8 * H * K  # several buckets, the first of them reduced mid-backward
    x64, y64 = data()
    g, loss, _ = mlp("float64")
    fn_small = gn.compile(g, outputs={"loss": loss}, updates=gn.optim.SGD(0.1, momentum=0.9).updates(loss, g.params),
                          data_parallel=True)
    for step in range(5):
        rows = slice(16 * (step % 4), 16 * (step % 4) + 16)
        fn_small(x=gn.dist.shard(x64[rows]), y=gn.dist.shard(y64[rows]))
    save(out, "float64_buckets.npz", stored(g))
    if gn.dist.rank() == 0:
        prof = fn.profile({"x": gn.dist.shard(x_all[:16]), "y": gn.dist.shard(y_all[:16])}, repeat=2)
        with open(os.path.join(out, "report.txt"), "w") as f:
            f.write(str(fn.report()) + "\n" + prof.table())
    else:
        fn.profile({"x": gn.dist.shard(x_all[:16]), "y": gn.dist.shard(y_all[:16])}, repeat=2)


def batchnorm(out: str) -> None:
    """Three Adam steps of Linear -> BatchNorm -> tanh -> Linear, with per-rank (default) and synced statistics."""
    x_all, y_all = data()
    for sync in (False, True):
        with gn.Graph(f"bn_{sync}") as g:
            x = gn.input("x", (None, D), "float64")
            y = gn.input("y", (None,), "int64")
            model = gn.nn.Sequential(gn.nn.Linear(D, H, bias=False), gn.nn.BatchNorm(H, sync=sync),
                                     gn.nn.Tanh(), gn.nn.Linear(H, K))
            loss = gn.cross_entropy(gn.softmax(model(x)), y)
        ups = {**gn.optim.Adam(0.01).updates(loss, g.params), **gn.nn.state_updates(g)}
        fn = gn.compile(g, outputs={"loss": loss}, updates=ups, data_parallel=True)
        for step in range(3):
            rows = slice(16 * step, 16 * step + 16)
            fn(x=gn.dist.shard(x_all[rows]), y=gn.dist.shard(y_all[rows]))
        save(out, f"bn_sync{int(sync)}.npz", stored(g))


def dropout(out: str) -> None:
    """Every rank's dropout output for the same feed (rank 0 gathers them)."""
    g, loss, h = mlp("float64", drop=0.5)
    x_all, y_all = data()
    fn = gn.compile(g, outputs={"loss": loss, "h": h}, updates=gn.optim.SGD(0.1).updates(loss, g.params),
                    data_parallel=True)
    hs = gn.dist.allgather(fn(x=x_all[:4], y=y_all[:4])["h"])  # the same rows on every rank
    save(out, "dropout.npz", {f"rank{r}": a for r, a in enumerate(hs)})


def fit(out: str, epochs: str, resume: str = "") -> None:
    """gn.train.fit(distributed=True) with validation and a checkpoint per epoch (resuming when asked)."""
    x_all, y_all = data()
    g, loss, _ = mlp("float64")
    hist = gn.train.fit(loss, {"x": x_all[:48], "y": y_all[:48]}, gn.optim.Adam(0.01), distributed=True,
                        epochs=int(epochs), batch_size=8, validation_data={"x": x_all[48:], "y": y_all[48:]},
                        checkpoint=os.path.join(out, "ckpt.npz"), resume=resume or None, progress=False)
    save(out, f"fit_{epochs}.npz", stored(g))
    if gn.dist.rank() == 0:
        with open(os.path.join(out, f"fit_{epochs}.json"), "w") as f:
            json.dump(hist.epochs, f)


def fault(out: str) -> None:
    """Rank 1 raises at step 3 while rank 0 goes on into the next all-reduce."""
    g, loss, _ = mlp("float64")
    x_all, y_all = data()
    fn = gn.compile(g, outputs={"loss": loss}, updates=gn.optim.SGD(0.1).updates(loss, g.params), data_parallel=True)
    for step in range(1000):
        if step == 3 and gn.dist.rank() == 1:
            raise ValueError("bad data in shard 1 at step 3")
        fn(x=gn.dist.shard(x_all[:16]), y=gn.dist.shard(y_all[:16]))


def early_fault(out: str) -> None:
    """Rank 1 raises before anything talked to MPI; rank 0 goes on into gn.compile's collectives."""
    if os.environ.get("PMI_RANK", os.environ.get("OMPI_COMM_WORLD_RANK")) == "1":
        raise ValueError("rank 1 failed before touching MPI")
    g, loss, _ = mlp("float64")
    gn.compile(g, outputs={"loss": loss}, updates=gn.optim.SGD(0.1).updates(loss, g.params), data_parallel=True)


def sum_loss(out: str) -> None:
    g, loss, _ = mlp("float64", loss_reduction="sum")
    gn.compile(g, outputs={"loss": loss}, updates=gn.optim.SGD(0.1).updates(loss, g.params), data_parallel=True)


def uneven(out: str) -> None:
    g, loss, _ = mlp("float64")
    x_all, y_all = data()
    fn = gn.compile(g, outputs={"loss": loss}, updates=gn.optim.SGD(0.1).updates(loss, g.params), data_parallel=True)
    rows = 8 if gn.dist.rank() == 0 else 6
    fn(x=x_all[:rows], y=y_all[:rows])


def different_graphs(out: str) -> None:
    g, loss, _ = mlp("float64", hidden=H + gn.dist.rank())
    gn.compile(g, outputs={"loss": loss}, updates=gn.optim.SGD(0.1).updates(loss, g.params), data_parallel=True)


def overlap(out: str) -> None:
    """The same steps with several buckets in flight as non-blocking all-reduces, and with blocking all-reduces."""
    import graphnn.passes.data_parallel as dp
    from graphnn.distributed import shm

    x64, y64 = data()
    dp.BUCKET_BYTES = 8 * H * K  # three buckets: the last layer's reduced while the first layer's backward runs
    for name, overlap in (("overlap", True), ("blocking", False)):
        dp.OVERLAP = overlap
        g, loss, _ = mlp("float64")
        fn = gn.compile(g, outputs={"loss": loss}, updates=gn.optim.Adam(0.01).updates(loss, g.params),
                        data_parallel=True)
        losses = []
        for step in range(6):
            rows = slice(16 * (step % 4), 16 * (step % 4) + 16)
            losses.append(fn(x=gn.dist.shard(x64[rows]), y=gn.dist.shard(y64[rows]))["loss"])
        plan = next(iter(fn._plans.values()))
        started = [st for st in plan.steps if st.node.op == "all_reduce" and st.fast is not None]
        polled = [st for st in plan.steps if st.node.op != "all_reduce" and st.fast is not None]
        shared = len(shm._by_address)  # buckets packed into shared-memory windows so far
        save(out, f"{name}.npz", {"losses": np.array(losses), "started": np.array(len(started)),
                                  "polled": np.array(len(polled)), "shared": np.array(shared), **stored(g)})


def fault_in_flight(out: str, retry: str = "") -> None:
    """Rank 1 raises at step 3 while its first bucket's non-blocking all-reduce is in flight (inside the poll
    after the next kernel); with `retry`, it catches that and calls the step again."""
    import graphnn.backends.numpy.collective as col
    import graphnn.passes.data_parallel as dp

    dp.BUCKET_BYTES = 8 * H * K
    g, loss, _ = mlp("float64")
    x_all, y_all = data()
    fn = gn.compile(g, outputs={"loss": loss}, updates=gn.optim.SGD(0.1).updates(loss, g.params), data_parallel=True)
    state = {"step": 0}
    poll = col.Bucket.poll

    def failing_poll(self: col.Bucket) -> None:
        if state["step"] == 3 and gn.dist.rank() == 1:
            raise FloatingPointError("rank 1 failed with an all-reduce in flight")
        poll(self)

    col.Bucket.poll = failing_poll
    for step in range(1000):
        state["step"] = step
        try:
            fn(x=gn.dist.shard(x_all[:16]), y=gn.dist.shard(y_all[:16]))
        except FloatingPointError:
            if not retry:
                raise
            state["step"] = -1
            fn(x=gn.dist.shard(x_all[:16]), y=gn.dist.shard(y_all[:16]))  # the ranks' collectives no longer match


def uneven_late(out: str) -> None:
    """Equal shards for 4 steps (the agreement is then checked inside the bucket), then unequal ones."""
    g, loss, _ = mlp("float64")
    x_all, y_all = data()
    fn = gn.compile(g, outputs={"loss": loss}, updates=gn.optim.SGD(0.1).updates(loss, g.params), data_parallel=True)
    for _ in range(4):
        fn(x=x_all[:8], y=y_all[:8])
    rows = 8 if gn.dist.rank() == 0 else 6
    fn(x=x_all[:rows], y=y_all[:rows])


def different_functions_late(out: str) -> None:
    """Two data-parallel functions of one graph with buckets of the same size (SGD, SGD with momentum); after 3
    steps in the same order, rank 1 calls the other one."""
    g, loss, _ = mlp("float64")
    x_all, y_all = data()
    fa = gn.compile(g, outputs={"loss": loss}, updates=gn.optim.SGD(0.1).updates(loss, g.params), data_parallel=True)
    fb = gn.compile(g, outputs={"loss": loss}, updates=gn.optim.SGD(0.1, momentum=0.9).updates(loss, g.params),
                    data_parallel=True)
    for step in range(6):
        fns = (fa, fb) if step < 3 or gn.dist.rank() == 0 else (fb, fa)
        for f in fns:
            f(x=gn.dist.shard(x_all[:16]), y=gn.dist.shard(y_all[:16]))


def nan_shard(out: str) -> None:
    """Rank 1's shard holds a NaN at step 2: the optimizer's guard reads the loss averaged over ranks, so every
    rank skips that step alike and the ranks keep equal, finite parameters."""
    g, loss, _ = mlp("float64")
    x_all, y_all = data()
    fn = gn.compile(g, outputs={"loss": loss}, updates=gn.optim.SGD(0.1).updates(loss, g.params), data_parallel=True)
    losses = []
    for step in range(5):
        x = gn.dist.shard(x_all[:16]).copy()
        if step == 2 and gn.dist.rank() == 1:
            x[0, 0] = np.nan
        losses.append(float(fn(x=x, y=gn.dist.shard(y_all[:16]))["loss"]))
    every = gn.dist.allgather({k: np.array(v) for k, v in stored(g).items()})
    if gn.dist.rank() == 0:
        np.savez(os.path.join(out, "nan_shard.npz"), losses=np.array(losses),
                 **{f"r{r}/{k}": v for r, d in enumerate(every) for k, v in d.items()})


if __name__ == "__main__":
    globals()[sys.argv[1]](*sys.argv[2:])
