"""The daemon: one run every interval with ``schedule``; a failed cycle never stops the next one."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType

import schedule

from driftwatch.errors import DriftwatchError


def run_every(
    seconds: int,
    cycle: Callable[[], object],
    *,
    on_error: Callable[[str], None],
    stop: threading.Event | None = None,
    max_cycles: int | None = None,
) -> int:
    """Run ``cycle`` now and then every ``seconds`` until SIGINT/SIGTERM (or ``stop``); return cycles run.

    ``seconds`` is the pause between the end of one cycle and the start of the next, so cycles
    never overlap. A signal is honoured between cycles, so a cycle in progress finishes its
    commit first; a second signal stops at once.
    """
    stop = stop or threading.Event()
    cycles = 0

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        if stop.is_set():  # a second signal: stop now; the next run recovers the repository
            raise KeyboardInterrupt
        on_error(
            f"received {signal.Signals(signum).name}; stopping after the current cycle "
            "(send it again to stop at once)"
        )
        stop.set()

    def guarded() -> None:
        nonlocal cycles
        cycles += 1
        try:
            cycle()
        except DriftwatchError as exc:
            on_error(f"cycle {cycles} failed: {exc}; the next cycle runs as scheduled")
        except Exception as exc:  # keep the daemon alive through anything a cycle raises
            on_error(f"cycle {cycles} failed unexpectedly: {type(exc).__name__}: {exc}")
        if max_cycles is not None and cycles >= max_cycles:
            stop.set()

    previous = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, request_stop)
    scheduler = schedule.Scheduler()
    scheduler.every(seconds).seconds.do(guarded)
    try:
        guarded()
        while not stop.is_set():
            scheduler.run_pending()
            idle = scheduler.idle_seconds
            stop.wait(timeout=max(0.05, min(idle if idle is not None else 1.0, 1.0)))
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return cycles
