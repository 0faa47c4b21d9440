"""The ``command`` collector: a program's JSON output (gcloud, az, kubectl, gh api ...), as resources.

The command is an argument list run without a shell. A non-zero exit, a time-out or output that
is not JSON is a coverage gap for that resource type: its last known state is kept. A time-out
kills the command and every process it started.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess

from driftwatch.collectors import Collection, register
from driftwatch.collectors.saas.items import Items, ReadFailure
from driftwatch.collectors.saas.settings import SaasSettings
from driftwatch.model import CoverageGap
from driftwatch.normalise import Redactor


@register("command")
class CommandCollector:
    """Runs each configured command of one ``[saas.NAME]`` table and reads its standard output."""

    def __init__(self, settings: SaasSettings, redactor: Redactor) -> None:
        self.settings = settings
        self.redactor = redactor

    def collect(self) -> Collection:
        """Every resource type read whole, or a gap for it."""
        result = Collection()
        for spec in self.settings.resources:
            items = Items(self.settings, spec, self.redactor)
            try:
                document = self._run(list(spec.command))
                resources = items.resources(items.select(document))
            except ReadFailure as failure:
                gap = CoverageGap(
                    items.scope, " ".join(spec.command), failure.kind, failure.code, failure.message
                )
                result = result.merge(Collection(gaps=(gap,)))
                continue
            result = result.merge(Collection(tuple(resources), frozenset({items.scope})))
        return result

    def _run(self, argv: list[str]) -> object:
        try:
            # In a session of its own, so that a time-out ends what it started too (gcloud and az are
            # scripts that start the real program; sh -c forks).
            process = subprocess.Popen(
                argv,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                stdin=subprocess.DEVNULL,
                cwd=self.settings.folder,
                start_new_session=True,
            )
        except OSError as exc:
            raise ReadFailure("error", "CannotRun", f"{argv[0]}: {exc.strerror}") from None
        with process:  # closes the pipes and reaps the command, however this ends
            try:
                stdout, stderr = process.communicate(timeout=self.settings.timeout)
            except subprocess.TimeoutExpired:
                _kill_group(process)
                # What left the group (setsid) may still hold the pipes: do not wait for it long.
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.communicate(timeout=5)
                raise ReadFailure(
                    "error",
                    "Timeout",
                    f"{argv[0]} did not finish within timeout = {self.settings.timeout:g} s",
                ) from None
        if process.returncode != 0:
            last = stderr.decode("utf-8", errors="replace").strip().splitlines()[-1:] or [""]
            raise ReadFailure(
                "error",
                f"Exit{process.returncode}",
                f"{argv[0]} exited with {process.returncode}: {last[0][:200]}",
            )
        try:
            return json.loads(stdout)
        except ValueError as exc:
            raise ReadFailure(
                "error", "NotJson", f"{argv[0]} printed something that is not JSON ({exc})"
            ) from None


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """Kill the command and every process it started (its session's process group)."""
    with contextlib.suppress(ProcessLookupError):  # the whole group has already ended
        os.killpg(process.pid, signal.SIGKILL)
