"""Fuzzing helpers: a per-case wall-clock limit (a hang fails the case instead of the CI job) and the check
that an exception is a graphnn error."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator

import graphnn as gn


class CaseTimeout(Exception):
    """One fuzz case ran past its limit: a hang."""


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise CaseTimeout in the main thread after `seconds` (SIGALRM; the fuzz tests run on POSIX)."""

    def on_alarm(signum: int, frame: object) -> None:
        raise CaseTimeout(f"fuzz case ran over {seconds} s")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def only_graphnn_errors(e: BaseException) -> None:
    """Fail unless `e` is a graphnn error (the case's input was bad) and not a hang."""
    if isinstance(e, CaseTimeout) or not isinstance(e, gn.GraphnnError):
        raise AssertionError(f"non-graphnn exception {type(e).__name__}: {e}") from e
