"""`python -m benchmarks.gpt [--rounds 7] [--steps 5] [--threads N] [--clock wall|cpu]`: one causal pre-norm GPT
block (d_model 64, 4 heads, T 64, batch 32, d_ff 256, exact GELU) — a training step (MSE loss, SGD) in graphnn against PyTorch eager
(nn.TransformerEncoderLayer, norm_first) and JAX jit, and inference against onnxruntime on graphnn's exported file.
Same weights everywhere (the first losses must agree); medians of interleaved rounds; ratios printed.
"""

from __future__ import annotations

import os

if __name__ == "__main__":  # before NumPy loads
    from benchmarks.env import prepare

    prepare("benchmarks.gpt")

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

E, H, F, T, B, LR = 64, 4, 256, 64, 32, 0.01
Step = Callable[[], float]


def init_params(seed: int = 0) -> dict[str, np.ndarray]:
    """One set of block weights in graphnn's layout ((in, out) matrices)."""
    rng = np.random.default_rng(seed)

    def w(i: int, o: int) -> np.ndarray:
        return (rng.standard_normal((i, o)) / np.sqrt(i)).astype(np.float32)

    z = lambda n: np.zeros(n, np.float32)
    return {"ln1/gamma": np.ones(E, np.float32), "ln1/beta": z(E), "attn/w_qkv": w(E, 3 * E), "attn/b_qkv": z(3 * E),
            "attn/w_out": w(E, E), "attn/b_out": z(E), "ln2/gamma": np.ones(E, np.float32), "ln2/beta": z(E),
            "fc1/w": w(E, F), "fc1/b": z(F), "fc2/w": w(F, E), "fc2/b": z(E)}


def data(seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((B, T, E)).astype(np.float32), rng.standard_normal((B, T, E)).astype(np.float32)


def graphnn_steps(p0: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray) -> tuple[Step, Step, Any]:
    """(training step, inference call, the graph and its output for export)."""
    import graphnn as gn

    with gn.Graph("gpt_block") as g:
        xv, yv = gn.input("x", (None, T, E)), gn.input("y", (None, T, E))
        blk = gn.nn.TransformerBlock(E, H, F, causal=True)
        out = blk(xv)
        loss = gn.mse(out, yv)
    for p in blk.params:
        g.storage[p.name][...] = p0[p.name.split("/", 1)[1]]
    train = gn.compile(g, outputs={"loss": loss}, updates=gn.optim.SGD(LR).updates(loss, blk.params))
    infer = gn.compile(g, outputs={"out": out}, mode="eval")
    return (lambda: float(train(x=x, y=y)["loss"])), (lambda: infer(x=x)["out"]), (g, out)


def torch_step(p0: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray, threads: int | None) -> Step:
    import torch

    if threads:
        torch.set_num_threads(threads)
    layer = torch.nn.TransformerEncoderLayer(E, H, F, dropout=0.0, activation="gelu", batch_first=True,
                                             norm_first=True)
    t = lambda a: torch.from_numpy(np.ascontiguousarray(a))
    with torch.no_grad():
        for mod, gamma, beta in ((layer.norm1, "ln1/gamma", "ln1/beta"), (layer.norm2, "ln2/gamma", "ln2/beta")):
            mod.weight.copy_(t(p0[gamma]))
            mod.bias.copy_(t(p0[beta]))
        layer.self_attn.in_proj_weight.copy_(t(p0["attn/w_qkv"].T))
        layer.self_attn.in_proj_bias.copy_(t(p0["attn/b_qkv"]))
        layer.self_attn.out_proj.weight.copy_(t(p0["attn/w_out"].T))
        layer.self_attn.out_proj.bias.copy_(t(p0["attn/b_out"]))
        for lin, name in ((layer.linear1, "fc1"), (layer.linear2, "fc2")):
            lin.weight.copy_(t(p0[f"{name}/w"].T))
            lin.bias.copy_(t(p0[f"{name}/b"]))
    mask = torch.nn.Transformer.generate_square_subsequent_mask(T)
    xt, yt = t(x), t(y)
    params = list(layer.parameters())

    def step() -> float:
        for q in params:
            q.grad = None
        loss = torch.nn.functional.mse_loss(layer(xt, src_mask=mask, is_causal=True), yt)
        loss.backward()
        with torch.no_grad():
            for q in params:
                q.sub_(LR * q.grad)
        return float(loss.detach())

    return step


def jax_step(p0: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray) -> Step:
    import jax
    import jax.numpy as jnp

    def ln(a: Any, g: Any, b: Any) -> Any:
        m = a.mean(-1, keepdims=True)
        return (a - m) / jnp.sqrt(((a - m) ** 2).mean(-1, keepdims=True) + 1e-5) * g + b

    causal = jnp.tril(jnp.ones((T, T), bool))

    def block(p: dict, a: Any) -> Any:
        qkv = (ln(a, p["ln1/gamma"], p["ln1/beta"]) @ p["attn/w_qkv"] + p["attn/b_qkv"])
        q, k, v = qkv.reshape(B, T, 3, H, E // H).transpose(2, 0, 3, 1, 4)
        s = jnp.where(causal, q @ k.swapaxes(-1, -2) / np.sqrt(E // H), -jnp.inf)
        o = (jax.nn.softmax(s, axis=-1) @ v).transpose(0, 2, 1, 3).reshape(B, T, E)
        a = a + o @ p["attn/w_out"] + p["attn/b_out"]
        h = jax.nn.gelu(ln(a, p["ln2/gamma"], p["ln2/beta"]) @ p["fc1/w"] + p["fc1/b"], approximate=False)
        return a + h @ p["fc2/w"] + p["fc2/b"]

    @jax.jit
    def update(p: dict, a: Any, b: Any) -> tuple[dict, Any]:
        loss, grads = jax.value_and_grad(lambda q: jnp.mean((block(q, a) - b) ** 2))(p)
        return jax.tree_util.tree_map(lambda w, d: w - LR * d, p, grads), loss

    state = {"p": {k: jnp.asarray(v) for k, v in p0.items()}}
    xa, ya = jnp.asarray(x), jnp.asarray(y)

    def step() -> float:
        state["p"], loss = update(state["p"], xa, ya)
        return float(loss.block_until_ready())

    return step


def ort_infer(model: Any, x: np.ndarray, threads: int | None) -> Step:
    import onnxruntime as ort

    so = ort.SessionOptions()
    if threads:
        so.intra_op_num_threads = threads
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    return lambda: sess.run(None, {"x": x})[0]


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def interleaved(runners: dict[str, Step], rounds: int, steps: int, clock: str = "wall") -> dict[str, float]:
    """Median per-call seconds of each runner over `rounds` rounds of `steps` calls, runners interleaved. The
    "cpu" clock counts the process's CPU seconds (every thread): with --threads 1 on a machine that other jobs
    share, it leaves out the time this process waited for a core."""
    now = CLOCKS[clock]
    times: dict[str, list[float]] = {k: [] for k in runners}
    for _ in range(rounds):
        for name, f in runners.items():
            t0 = now()
            for _ in range(steps):
                f()
            times[name].append((now() - t0) / steps)
    return {k: statistics.median(v) for k, v in times.items()}


def main(argv: list[str] | None = None) -> dict[str, float]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--clock", choices=sorted(CLOCKS), default="wall",
                    help="wall seconds (default) or the process's CPU seconds (fairer on a shared machine)")
    args = ap.parse_args(argv)
    import graphnn as gn

    p0, (x, y) = init_params(), data()
    numba_off = os.environ.get("GRAPHNN_NO_NUMBA", "").strip().lower() in ("1", "true", "yes", "on")
    try:
        import numba  # noqa: F401  (only asked whether it is there: graphnn's optional compiled kernels)
        compiled = "off (GRAPHNN_NO_NUMBA)" if numba_off else "on (numba)"
    except ImportError:
        compiled = "off (numba not installed)"
    print(f"graphnn's compiled kernels (extra `fast`): {compiled}")
    g_train, g_infer, (g, out) = graphnn_steps(p0, x, y)
    train: dict[str, Step] = {"graphnn": g_train}
    try:
        train["pytorch eager"] = torch_step(p0, x, y, args.threads)
    except ImportError as e:
        print(f"PyTorch skipped: {e}")
    try:
        train["jax jit"] = jax_step(p0, x, y)
    except ImportError as e:
        print(f"JAX skipped: {e}")
    first = {k: f() for k, f in train.items()}  # warm-up; the same weights must give the same first loss
    spread = max(first.values()) - min(first.values())
    print(f"first losses {', '.join(f'{k} {v:.6f}' for k, v in first.items())} (spread {spread:.1e})")
    assert spread < 1e-4 * max(first.values()), "the runners do not compute the same block"
    res = interleaved(train, args.rounds, args.steps, args.clock)
    print(f"GPT block training step (d_model {E}, {H} heads, T {T}, batch {B}), median of {args.rounds} rounds, "
          f"{args.clock} clock:")
    for k, s in res.items():
        print(f"  {k:<14}{s * 1e3:9.2f} ms   graphnn / {k}: {res['graphnn'] / s:5.2f}x")
    model = gn.onnx.export(g, None, outputs={"out": out}, check_parity=False).model
    infer = {"graphnn": g_infer, "onnxruntime": ort_infer(model, x, args.threads)}
    np.testing.assert_allclose(infer["graphnn"](), infer["onnxruntime"](), rtol=1e-4, atol=1e-4)
    ires = interleaved(infer, args.rounds, args.steps, args.clock)
    print("inference (forward only, graphnn's ONNX export in onnxruntime):")
    for k, s in ires.items():
        print(f"  {k:<14}{s * 1e3:9.2f} ms   graphnn / {k}: {ires['graphnn'] / s:5.2f}x")
    return {**{f"train {k}": v for k, v in res.items()}, **{f"infer {k}": v for k, v in ires.items()}}


if __name__ == "__main__":
    main()
