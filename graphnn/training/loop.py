"""The training loop: `Trainer` / `fit` run one compiled step (forward, backward, update, monitors) over
shuffled mini-batches, with validation, early stopping, checkpoints, a NaN guard and a progress bar.

User-level library: may import anything from graphnn; tqdm is optional (plain lines without it).
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..compiler import Function, compile
from ..distributed.comm import size as dist_size
from ..ir.errors import GraphError, NumericsError
from ..ir.graph import Graph, Value
from ..ir.ops import elementwise as ew
from ..ir.ops import reduction as red
from . import checkpoint as ckpt
from . import distributed_fit as dfit
from .data import DataError, batches, check_data, take
from .history import History, append_jsonl, plot_history
from .monitor import MONITORS, build_monitors, monitor_outputs
from .optim import Optimizer
from .predict import predict


def accuracy(scores: Value, labels: Value) -> Value:
    """Mean of argmax(scores, -1) == labels, as a float scalar graph value."""
    hit = ew.equal(red.argmax(scores, axis=-1), ew.cast(labels, "int64") if labels.dtype != "int64" else labels)
    return red.mean(ew.cast(hit, scores.dtype))


@dataclass
class EarlyStopping:
    """Stop when `monitor` has not improved by `min_delta` for `patience` epochs; optionally restore the best."""

    monitor: str = "val_loss"
    patience: int = 5
    min_delta: float = 0.0
    mode: str = "min"
    restore_best: bool = True

    def better(self, new: float, best: float) -> bool:
        return new < best - self.min_delta if self.mode == "min" else new > best + self.min_delta


def _progress(total: int, desc: str, enabled: bool) -> Any:
    """One tqdm bar over every batch of the run (None when disabled or tqdm is not installed)."""
    if not enabled or not sys.stderr.isatty():  # a CI log gets the one line per epoch, not a redrawn bar
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc=desc, unit="batch", mininterval=0.05)


class Trainer:
    """Compiles the training step of `loss` once (plus an eval step) and runs epochs over arrays."""

    def __init__(self, loss: Value, optimizer: Optimizer, *, metrics: Mapping[str, Value] | None = None,
                 params: Sequence[Value] | None = None, extra_updates: Mapping[str, Value] | None = None,
                 monitor: Sequence[str] | str | None = None, monitor_every: int = 10,
                 schedule: Callable[[int], float] | None = None, backend: str = "numpy",
                 log_dir: str | None = None, nan_guard: bool = True, distributed: bool = False) -> None:
        self.graph: Graph = loss.graph
        self.distributed = distributed  # under mpiexec: shard batches, average gradients (docs/distributed.md)
        self.loss, self.optimizer, self.schedule = loss, optimizer, schedule
        self.metrics = dict(metrics or {})
        self.log_dir, self.nan_guard, self.backend = log_dir, nan_guard, backend
        if distributed and not dfit.is_chief():
            self.log_dir = None  # one set of logs, rank 0's
        self.monitor_every = max(1, int(monitor_every))
        g = self.graph
        self.updates = dict(optimizer.updates(loss, params))
        self.updates.update(extra_updates or {})  # the optimizer's updates carry the running statistics already
        which = list(MONITORS) if monitor in ("all", True) else ([monitor] if isinstance(monitor, str)
                                                                 else list(monitor or []))
        self.monitors = build_monitors(g, which, loss, optimizer.grads, self.updates, optimizer.params) if which \
            else {}
        self.outputs = {"loss": loss, **self.metrics}
        # The NaN guard's probe: the sum of every updated tensor is non-finite iff one of its entries is
        # (or it overflows, itself a sign of divergence); one reduction per tensor, fused into the step.
        self._probe = _finite_probe(g, self.updates) if nan_guard else None
        step_outputs = {**self.outputs, "_probe": self._probe} if self._probe is not None else self.outputs
        self.step_fn = compile(g, outputs=step_outputs, updates=self.updates, backend=backend, mode="train",
                               data_parallel=distributed)
        self.monitor_fn = (compile(g, outputs={**step_outputs, **self.monitors}, updates=self.updates,
                                   backend=backend, mode="train", data_parallel=distributed)
                           if self.monitors else None)
        self.eval_fn = compile(g, outputs=self.outputs, backend=backend, mode="eval")
        self._check_fn: Function | None = None
        self.history = History()
        self.epoch = 0
        self.global_step = 0
        self.rng_state: dict | None = None

    # ---- one step ----------------------------------------------------------------------------
    def _snapshot(self, into: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
        s = self.graph.storage
        if into is None:
            return {k: np.array(s[k], copy=True) for k in s.keys()}
        for k in s.keys():
            np.copyto(into[k], s[k])
        return into

    def _restore(self, snap: dict[str, np.ndarray]) -> None:
        s = self.graph.storage
        for k, a in snap.items():
            np.copyto(s.values[k], a)
        s.version += 1

    def _nonfinite(self, batch: dict[str, np.ndarray], backup: dict[str, np.ndarray]) -> NumericsError:
        """Re-run the failing batch from the pre-step values with check_numerics to name the first bad node."""
        self._restore(backup)
        if self._check_fn is None:
            self._check_fn = compile(self.graph, outputs=self.outputs, updates=self.updates, backend=self.backend,
                                     mode="train", check_numerics=True)
        where = f"epoch {self.epoch + 1}, step {self.global_step + 1}"
        try:
            self._check_fn(**batch)
        except NumericsError as e:
            self._restore(backup)
            return NumericsError(f"training stopped at {where}: {e}")
        self._restore(backup)
        return NumericsError(f"training stopped at {where}: the loss or an updated value is not finite")

    def train_step(self, batch: dict[str, np.ndarray], backup: dict[str, np.ndarray] | None = None) -> dict:
        """One optimizer step on `batch` (already checked); returns the step's outputs as floats."""
        monitored = self.monitor_fn is not None and self.global_step % self.monitor_every == 0
        fn = self.monitor_fn if monitored else self.step_fn
        if backup is not None:
            self._snapshot(backup)
        out = fn(**(dfit.local_batch(batch) if self.distributed else batch))
        probe = float(out["loss"]) + (float(out["_probe"]) if "_probe" in out else 0.0)
        if not math.isfinite(probe) and backup is not None:
            raise self._nonfinite(batch, backup)
        if monitored:
            rec = {"step": self.global_step, "epoch": self.epoch + 1,
                   **{k: float(out[k]) for k in self.monitors}}
            self.history.monitors.append(rec)
            append_jsonl(self.log_dir, "monitors.jsonl", rec)
        self.global_step += 1
        return {k: float(out[k]) for k in self.outputs}

    # ---- evaluation --------------------------------------------------------------------------
    def evaluate(self, data: Mapping[str, Any], batch_size: int = 256) -> dict[str, float]:
        """Loss and metrics over `data` in eval mode, weighted by batch size."""
        arrays = check_data(self.graph, data, "evaluation data")
        return self._evaluate(arrays, batch_size)

    def _evaluate(self, arrays: dict[str, np.ndarray], batch_size: int) -> dict[str, float]:
        if self.distributed:
            return dfit.evaluate(self.eval_fn, list(self.outputs), arrays, batch_size)
        n = len(next(iter(arrays.values())))
        sums: dict[str, float] = {}
        for idx in batches(n, batch_size):
            out = self.eval_fn(**take(arrays, idx))
            for k in self.outputs:
                sums[k] = sums.get(k, 0.0) + float(out[k]) * len(idx)
        return {k: v / n for k, v in sums.items()}

    # ---- the loop ------------------------------------------------------------------------------
    def fit(self, data: Mapping[str, Any], *, epochs: int = 10, batch_size: int = 32, shuffle: bool = True,
            seed: int = 0, validation_split: float = 0.0, validation_data: Mapping[str, Any] | None = None,
            early_stopping: EarlyStopping | None = None, checkpoint: str | None = None,
            resume: str | None = None, progress: bool = True, verbose: bool = True) -> History:
        """Train for `epochs` (counting epochs already done when resuming); returns the History."""
        arrays = check_data(self.graph, data, "training data")
        if validation_data is not None:
            val = check_data(self.graph, validation_data, "validation data")
        elif validation_split:
            if not 0.0 < validation_split < 1.0:
                raise DataError(f"validation_split must be in (0, 1), got {validation_split}")
            n_all = len(next(iter(arrays.values())))
            n_val = max(1, round(n_all * validation_split))
            # Keras convention: the last rows (before shuffling) are the validation set.
            val = {k: a[n_all - n_val:] for k, a in arrays.items()}
            arrays = {k: a[:n_all - n_val] for k, a in arrays.items()}
        else:
            val = None
        if batch_size <= 0:
            raise DataError(f"batch_size must be positive, got {batch_size}")
        rng = np.random.default_rng(seed)
        best_value: float | None = None
        wait = 0
        if resume is not None:
            meta = self.load_checkpoint(resume, rng)
            es = meta.get("early_stopping") or {}
            best_value, wait = es.get("best"), es.get("wait", 0)
        elif self.log_dir:
            for fname in ("history.jsonl", "monitors.jsonl"):  # a fresh run starts fresh logs
                if os.path.exists(os.path.join(self.log_dir, fname)):
                    os.unlink(os.path.join(self.log_dir, fname))
        n = len(next(iter(arrays.values())))
        if self.distributed:
            dfit.check_batches(n, batch_size, dist_size())
            progress = progress and dfit.is_chief()  # bar, epoch lines and checkpoints: rank 0 only
            verbose = verbose and dfit.is_chief()
        backup = self._snapshot() if self.nan_guard else None
        n_batches = -(-n // batch_size)
        bar = _progress(max(epochs - self.epoch, 0) * n_batches, "training", progress)
        say = bar.write if bar is not None else print  # epoch lines go above the bar
        try:
            self._epochs(arrays, val, epochs, batch_size, shuffle, rng, backup, bar, say, verbose,
                         early_stopping, checkpoint, best_value, wait)
        finally:
            if bar is not None:
                bar.close()
        return self.history

    def _epochs(self, arrays: dict, val: dict | None, epochs: int, batch_size: int, shuffle: bool,
                rng: np.random.Generator, backup: Any, bar: Any, say: Any, verbose: bool,
                early_stopping: EarlyStopping | None, checkpoint: str | None, best_value: float | None,
                wait: int) -> None:
        n = len(next(iter(arrays.values())))
        best_snap = None
        while self.epoch < epochs:
            t0 = time.perf_counter()
            if self.schedule is not None:
                self.optimizer.set_lr(self.schedule(self.epoch))
            order = rng.permutation(n) if shuffle else None
            if bar is not None:
                bar.set_description(f"epoch {self.epoch + 1}/{epochs}", refresh=False)
            sums: dict[str, float] = {}
            for idx in batches(n, batch_size, order):
                out = self.train_step(take(arrays, idx), backup)
                for k, v in out.items():
                    sums[k] = sums.get(k, 0.0) + v * len(idx)
                if bar is not None:
                    bar.set_postfix(loss=f"{out['loss']:.4f}", refresh=False)
                    bar.update(1)
            rec: dict[str, float] = {"epoch": self.epoch + 1, **{k: v / n for k, v in sums.items()}}
            if val is not None:
                rec.update({f"val_{k}": v for k, v in self._evaluate(val, max(batch_size, 256)).items()})
            rec["lr"] = self.optimizer.get_lr()
            rec["seconds"] = time.perf_counter() - t0
            self.history.epochs.append(rec)
            append_jsonl(self.log_dir, "history.jsonl", rec)
            if verbose:
                say(f"epoch {self.epoch + 1}/{epochs} " + " ".join(
                    f"{k}={v:.4f}" for k, v in rec.items() if k not in ("epoch", "seconds")) +
                    f" ({rec['seconds']:.2f}s)")
            self.epoch += 1
            stop = False
            if early_stopping is not None:
                key = early_stopping.monitor
                if key not in rec:
                    raise GraphError(f"early stopping monitors {key!r}, but epochs record {sorted(rec)}")
                if best_value is None or early_stopping.better(rec[key], best_value):
                    best_value, wait = rec[key], 0
                    self.history.best_epoch = self.epoch
                    if early_stopping.restore_best:
                        best_snap = self._snapshot(best_snap)
                else:
                    wait += 1
                    stop = wait >= early_stopping.patience
            if checkpoint is not None:
                self.save_checkpoint(checkpoint, rng, {"best": best_value, "wait": wait})
            if stop:
                self.history.stopped_early = True
                if verbose:
                    say(f"early stopping: {early_stopping.monitor} did not improve for "  # type: ignore[union-attr]
                        f"{wait} epochs; best epoch {self.history.best_epoch}")
                break
        if early_stopping is not None and early_stopping.restore_best and best_snap is not None:
            self._restore(best_snap)

    # ---- checkpoints --------------------------------------------------------------------------------
    def save_checkpoint(self, path: str, rng: np.random.Generator | None = None, es: dict | None = None) -> None:
        """Parameters, all state (optimizer slots, running statistics, lr) and the loop position, atomically
        (when distributed, rank 0 writes and the others skip)."""
        if self.distributed and not dfit.is_chief():
            return
        meta = {"epoch": self.epoch, "global_step": self.global_step, "history": self.history.to_dict(),
                "rng": rng.bit_generator.state if rng is not None else None, "early_stopping": es}
        ckpt.save(self.graph, path, meta=_jsonable(meta))

    def load_checkpoint(self, path: str, rng: np.random.Generator | None = None) -> dict:
        """Restore a checkpoint: what `save_checkpoint` wrote, or any model file (`gn.checkpoint.save`,
        `save_params`, `gn.save`: the loop position then stays, optimizer slots absent from it keep their
        values). Everything is checked first; a failing load changes no value, epoch, step or history."""
        c = ckpt.open_checkpoint(path)
        names = ckpt.plan_load(self.graph, c, whole=True)
        epoch, step, history, rng_state, es = _loop_position(c, self)
        if rng is not None and rng_state is not None:
            probe = np.random.default_rng()
            try:
                probe.bit_generator.state = rng_state
            except (TypeError, ValueError, KeyError) as e:
                raise ckpt.CheckpointError(f"checkpoint {c.path!r}: bad random-generator state ({e})") from None
        arrays = c.arrays(names)
        ckpt.write_values(self.graph, arrays)  # nothing below can fail
        self.epoch, self.global_step, self.history = epoch, step, history
        if rng is not None and rng_state is not None:
            rng.bit_generator.state = rng_state
        return {**c.meta, "early_stopping": es}

    def plot(self, path: str) -> str:
        """The training curves (and monitors) as a PNG."""
        return plot_history(self.history, path)


def _loop_position(c: Any, tr: Trainer) -> tuple[int, int, History, dict | None, dict | None]:
    """(epoch, global_step, history, rng state, early-stopping record) a checkpoint's metadata holds, checked;
    a file without a loop position (a model file) keeps the trainer's."""
    meta = c.meta
    bad = ckpt.CheckpointError
    if "epoch" not in meta:
        return tr.epoch, tr.global_step, tr.history, None, None
    epoch, step = meta.get("epoch"), meta.get("global_step", 0)
    if type(epoch) is not int or type(step) is not int or epoch < 0 or step < 0:
        raise bad(f"checkpoint {c.path!r}: epoch {epoch!r} / global_step {step!r} are not counts")
    try:
        history = History.from_dict(meta.get("history") or {})
    except (TypeError, ValueError, AttributeError) as e:
        raise bad(f"checkpoint {c.path!r}: bad history record ({e})") from None
    es = meta.get("early_stopping")
    if es is not None and not (isinstance(es, dict) and isinstance(es.get("wait", 0), int)
                               and (es.get("best") is None or isinstance(es.get("best"), (int, float)))):
        raise bad(f"checkpoint {c.path!r}: bad early-stopping record {es!r}")
    return epoch, step, history, meta.get("rng"), es


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return None if math.isnan(x) else (1e308 if x > 0 else -1e308)
    if isinstance(x, np.generic):
        return x.item()
    return x


def _finite_probe(g: Graph, updates: Mapping[str, Value]) -> Value | None:
    total = None
    with g:
        for v in updates.values():
            if v.type.is_float:
                s = red.sum(v)
                s = s if s.dtype == "float64" else ew.cast(s, "float64")
                total = s if total is None else total + s
    return total


def fit(loss: Value, data: Mapping[str, Any], optimizer: Optimizer, *, metrics: Mapping[str, Value] | None = None,
        params: Sequence[Value] | None = None, monitor: Any = None, monitor_every: int = 10,
        schedule: Callable[[int], float] | None = None, backend: str = "numpy", log_dir: str | None = None,
        nan_guard: bool = True, distributed: bool = False, **fit_kw: Any) -> History:
    """Build a Trainer for `loss` and train it on `data` (a dict of arrays keyed by input name).
    `distributed=True` under `mpiexec -n P`: each rank trains on 1/P of every global batch (docs/distributed.md)."""
    trainer = Trainer(loss, optimizer, metrics=metrics, params=params, monitor=monitor,
                      monitor_every=monitor_every, schedule=schedule, backend=backend, log_dir=log_dir,
                      nan_guard=nan_guard, distributed=distributed)
    hist = trainer.fit(data, **fit_kw)
    hist.trainer = trainer  # type: ignore[attr-defined]
    return hist


__all__ = ["DataError", "monitor_outputs", "EarlyStopping", "History", "Trainer", "accuracy", "fit", "plot_history",
           "predict"]
