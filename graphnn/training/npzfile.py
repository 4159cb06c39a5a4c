"""The checkpoint file format on disk: an `.npz` written atomically (temp file, fsync, rename; stale temps of
killed writers removed by the next write) and read closed: every member's declared size and `.npy` header is
checked against what the caller expects before a byte of data is decompressed, and every failure is one
`CheckpointError` line naming the file. User-level library: imports graphnn.ir only.
"""

from __future__ import annotations

import glob
import os
import tempfile
import zipfile
from collections.abc import Callable
from typing import Any

import numpy as np

from ..ir.errors import GraphnnError

TEXT_LIMIT = 256 * 2**20  # the graph JSON and metadata members: beyond this the file is not one we wrote
_HEADER_SLACK = 2**16  # an .npy header is at most 64 KiB (numpy's own limit on reading one)


class CheckpointError(GraphnnError):
    """A checkpoint file that cannot be read or does not match the graph."""


def _temp_prefix(path: str) -> str:
    return f".{os.path.basename(path)}."


def _remove_stale_temps(path: str) -> None:
    """Temp files left by writers of `path` that were killed (their process is gone) are removed."""
    d = os.path.dirname(os.path.abspath(path))
    for tmp in glob.glob(os.path.join(glob.escape(d), glob.escape(_temp_prefix(path)) + "*.tmp")):
        pid = os.path.basename(tmp)[len(_temp_prefix(path)):].split(".", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and _alive(int(pid)):
            continue  # another live process is writing this path right now
        try:
            os.unlink(tmp)
        except OSError:
            pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def atomic_write(path: str, write: Callable[[Any], None]) -> None:
    """Call `write(fileobj)` on a temp file next to `path`, fsync it, then rename it over `path`.

    A crash before the rename leaves the previous file untouched; the rename itself is atomic on POSIX. The
    temp is named `.<file>.<pid>.<random>.tmp` so the next write to `path` can find and remove it.
    """
    d = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(d, exist_ok=True)
        _remove_stale_temps(path)
        fd, tmp = tempfile.mkstemp(prefix=f"{_temp_prefix(path)}{os.getpid()}.", suffix=".tmp", dir=d)
    except OSError as e:
        raise CheckpointError(f"cannot write {path!r}: {e.strerror or e}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    try:  # make the rename itself durable
        dfd = os.open(d, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def _header(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> tuple[tuple[int, ...], np.dtype]:
    """The shape and dtype an `.npy` member declares (reads only its header)."""
    with zf.open(info) as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, _fortran, dtype = np.lib.format.read_array_header_1_0(f, max_header_size=_HEADER_SLACK)
        elif version in ((2, 0), (3, 0)):
            shape, _fortran, dtype = np.lib.format.read_array_header_2_0(f, max_header_size=_HEADER_SLACK)
        else:
            raise ValueError(f"unsupported .npy version {version}")
    if dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None:
        raise ValueError(f"dtype {dtype} is not a plain numeric dtype")
    if not all(isinstance(n, int) and n >= 0 for n in shape):
        raise ValueError(f"bad shape {shape}")
    return tuple(shape), dtype


def _archive(path: str) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint {path!r}: no such file") from None
    except (OSError, zipfile.BadZipFile, ValueError, EOFError) as e:
        raise CheckpointError(f"checkpoint {path!r}: not a readable .npz archive ({_one_line(e)})") from None


def scan(path: str, text_keys: set[str]) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """Every member's declared shape and dtype, read from the headers only; a member whose stored size exceeds
    what its header declares, or a text member (`text_keys`) over TEXT_LIMIT, is a CheckpointError."""
    where = f"checkpoint {path!r}"
    heads: dict[str, tuple[tuple[int, ...], np.dtype]] = {}
    with _archive(path) as zf:
        try:
            for info in zf.infolist():
                if not info.filename.endswith(".npy"):
                    raise CheckpointError(f"{where}: unexpected member {info.filename!r}")
                key = info.filename[:-4]
                if key in heads:
                    raise CheckpointError(f"{where}: member {key!r} appears twice")
                shape, dtype = _header(zf, info)
                nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
                if key in text_keys and (len(shape) != 1 or dtype != np.uint8 or nbytes > TEXT_LIMIT):
                    raise CheckpointError(f"{where}: {key} is {dtype}{list(shape)}, expected text under "
                                          f"{TEXT_LIMIT} bytes")
                if info.file_size > nbytes + _HEADER_SLACK:
                    raise CheckpointError(f"{where}: {key} stores {info.file_size} bytes for "
                                          f"{dtype.name}{list(shape)} ({nbytes} bytes)")
                heads[key] = (shape, dtype)
        except CheckpointError:
            raise
        except Exception as e:  # noqa: BLE001 - a corrupt archive surfaces as any of zlib/zipfile/numpy errors
            raise CheckpointError(f"{where}: corrupt ({type(e).__name__}: {_one_line(e)})") from None
    return heads


def read_arrays(path: str, keys: list[str]) -> dict[str, np.ndarray]:
    """The data of members `keys` (already checked by `scan` against what the caller expects), no pickle."""
    where = f"checkpoint {path!r}"
    out: dict[str, np.ndarray] = {}
    with _archive(path) as zf:
        try:
            for key in keys:
                with zf.open(key + ".npy") as f:
                    out[key] = np.lib.format.read_array(f, allow_pickle=False)
        except Exception as e:  # noqa: BLE001 - a corrupt archive surfaces as any of zlib/zipfile/numpy errors
            raise CheckpointError(f"{where}: corrupt ({type(e).__name__}: {_one_line(e)})") from None
    return out


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split())[:200]
