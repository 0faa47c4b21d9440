"""The daemon: cycles go on after a failure, and a signal stops it between cycles."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from driftwatch.errors import CollectError
from driftwatch.scheduler import run_every


def test_a_failed_cycle_is_reported_and_the_next_one_runs() -> None:
    calls: list[int] = []
    errors: list[str] = []

    def cycle() -> None:
        calls.append(len(calls) + 1)
        if len(calls) == 1:
            raise CollectError("sts.get_caller_identity failed")
        if len(calls) == 2:
            raise RuntimeError("boom")

    assert run_every(1, cycle, on_error=errors.append, max_cycles=3) == 3
    assert calls == [1, 2, 3]
    assert errors == [
        "cycle 1 failed: sts.get_caller_identity failed; the next cycle runs as scheduled",
        "cycle 2 failed unexpectedly: RuntimeError: boom",
    ]


def test_stop_event_ends_the_loop_between_cycles() -> None:
    stop = threading.Event()
    ran: list[float] = []

    def cycle() -> None:
        ran.append(time.monotonic())
        stop.set()

    assert run_every(3600, cycle, on_error=lambda _: None, stop=stop) == 1
    assert len(ran) == 1


def test_sigterm_stops_the_daemon_cleanly(state_repo: Path) -> None:
    config = state_repo / "driftwatch.toml"
    process = subprocess.Popen(
        [sys.executable, "-m", "driftwatch", "-c", str(config), "run", "--every", "1s"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    assert process.stderr.readline().strip() == "driftwatch: running every 1s; stop with Ctrl-C or SIGTERM"
    deadline = time.monotonic() + 60
    while (
        time.monotonic() < deadline
        and int(
            subprocess.run(
                ["git", "-C", str(state_repo), "rev-list", "--count", "HEAD"], capture_output=True, text=True
            ).stdout
            or 0
        )
        < 2
    ):
        time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0
    assert "received SIGTERM; stopping after the current cycle" in err
    assert "driftwatch run" in out  # at least one cycle reported on the console
    assert not (Path(state_repo) / ".git/index.lock").exists()
