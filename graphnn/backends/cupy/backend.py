"""The CuPy backend: the shared planner and executor with CuPy as the array module, the CuPy kernel tables,
and device mirrors of the graph's parameter/state storage.

Storage protocol. `graph.storage` holds the host (NumPy) arrays every compiled function shares. A CuPy
function runs on a `DeviceMirror`: device copies of those arrays, uploaded when the mirror is stale and updated
in place by training steps, so parameters and optimizer state never cross the bus between steps. While the
device may hold newer values the mirror registers itself as the storage's `host_sync` hook: any host read
(`storage.values`, `storage[name]` -- what the NumPy backend, save/export and `gn.onnx.export` use) first copies
the device values back and marks the mirror stale, so the next CuPy call uploads whatever the host then holds.
`fn.sync_to_host()` does the same explicitly. Imports graphnn.ir and the kernel tables; cupy only on demand.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...ir.errors import BackendError
from . import KERNELS, OUT_KERNELS

INSTALL = "pip install 'graphnn[gpu]' (CuPy for CUDA 12) on a machine with an NVIDIA GPU and driver"


def load_cupy() -> Any:
    """The cupy module, or a BackendError saying what is missing and what to install."""
    try:
        import cupy
    except ImportError as e:
        raise BackendError(f"backend 'cupy' needs CuPy: {INSTALL} ({e})") from None
    try:
        n = cupy.cuda.runtime.getDeviceCount()
    except Exception as e:  # noqa: BLE001 - CUDARuntimeError (no driver/device) is not importable without CUDA
        raise BackendError(f"backend 'cupy': CuPy is installed but no usable GPU was found ({e}); {INSTALL}") from None
    if n < 1:
        raise BackendError(f"backend 'cupy': CuPy is installed but reports no GPU; {INSTALL}")
    return cupy


class DeviceMirror:
    """Device copies of one storage's arrays for one array module; see the module docstring."""

    def __init__(self, storage: Any, xp: Any) -> None:
        self.storage, self.xp = storage, xp
        self.dev: dict[str, Any] = {}
        self.fresh = False  # device arrays equal (or are newer than) the host's
        self.uploaded_version = -1  # storage.version right after the last upload/download

    def view(self) -> dict[str, Any]:
        """The device arrays, uploaded first if the host may have changed since the last sync."""
        st = self.storage
        if not self.fresh:
            host = st._values
            for k in list(self.dev):
                if k not in host:
                    del self.dev[k]
            for k, a in host.items():
                d = self.dev.get(k)
                if d is not None and d.shape == a.shape and d.dtype == a.dtype:
                    d.set(np.ascontiguousarray(a))  # in place: plans holding `d` stay valid
                else:
                    self.dev[k] = self.xp.asarray(a)
            self.fresh = True
            self.uploaded_version = st.version
        if st.host_sync is None:
            st.host_sync = self.to_host
        return self.dev

    def to_host(self) -> None:
        """Copy device values back into the host arrays (if a step changed them); the mirror goes stale."""
        st = self.storage
        st.host_sync = None
        if self.fresh and st.version != self.uploaded_version:
            host = st._values
            for k, d in self.dev.items():
                if k in host and host[k].shape == d.shape and host[k].dtype == d.dtype:
                    if host[k].flags.c_contiguous and host[k].flags.writeable:
                        d.get(out=host[k])
                    else:
                        host[k] = d.get()
        self.fresh = False


class CupyBackend:
    """GPU execution with CuPy; `xp` may be given (the NumPy-backed stand-in in CPU-only tests)."""

    name = "cupy"
    kernels = KERNELS
    out_kernels = OUT_KERNELS

    def __init__(self, xp: Any = None) -> None:
        self.xp = xp if xp is not None else load_cupy()

    def mirror(self, storage: Any) -> DeviceMirror:
        mirrors = storage.__dict__.setdefault("device_mirrors", {})
        m = mirrors.get(id(self.xp))
        if m is None:
            m = mirrors[id(self.xp)] = DeviceMirror(storage, self.xp)
        return m

    def asarray(self, x: Any, dtype: str) -> Any:
        """A feed as a device array: device arrays pass through, host arrays and literals are copied over."""
        if isinstance(x, self.xp.ndarray):
            return x
        a = np.asarray(x)
        # Python literals carry no dtype of their own: give them the input's when that loses nothing.
        if not isinstance(x, np.ndarray) and a.dtype.name != dtype and (
                np.can_cast(a.dtype, dtype, casting="same_kind") or (a.dtype.kind in "iub" and np.dtype(dtype).kind == "f")):
            a = a.astype(dtype)
        return self.xp.asarray(a)

    def storage_view(self, storage: Any) -> dict[str, Any]:
        return self.mirror(storage).view()

    def write_back(self, storage: Any, name: str, new: Any) -> None:
        dst = self.mirror(storage).view()[name]
        if new is not dst:
            self.xp.copyto(dst, new)
        storage.version += 1

    def sync_to_host(self, storage: Any) -> None:
        """Bring device-resident parameter/state values back into the graph's host storage now."""
        m = storage.__dict__.get("device_mirrors", {}).get(id(self.xp))
        if m is not None and storage.host_sync == m.to_host:
            m.to_host()

    def to_output(self, a: Any, host: bool) -> Any:
        if not host:
            return a
        return a.get() if hasattr(a, "get") else np.asarray(a)

    def synchronize(self) -> None:
        """Wait for queued kernels (profiling times whole kernels, not launches)."""
        self.xp.cuda.get_current_stream().synchronize()
