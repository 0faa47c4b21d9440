"""Generic collectors for any service that shows its settings as JSON: ``http``, ``command``, ``file``.

Each ``[saas.NAME]`` table of the config becomes one collector; each item it reads becomes one
resource, stored as ``snapshots/saas/NAME/TYPE/ID.json``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

from driftwatch.collectors import COLLECTORS, Collection, Collector
from driftwatch.collectors.saas import command, file, http  # noqa: F401 - registers the collectors
from driftwatch.collectors.saas.items import Items
from driftwatch.collectors.saas.scrub import Scrubber
from driftwatch.collectors.saas.settings import SaasSettings
from driftwatch.model import CoverageGap
from driftwatch.normalise import Redactor, redact_text


@dataclass(frozen=True)
class Contained:
    """One ``[saas.NAME]`` collector whose unexpected failure is a gap for each of its types.

    A collector turns what it expects to go wrong into gaps itself; this is for the rest (a bug,
    a CA file that is not there), so that one service never stops AWS and the other services
    from being read and recorded. Every gap's message leaves here with secret-looking text
    redacted: it quotes what the service or command said (an error body, the last line of
    stderr), and it goes into the commit message and ``snapshots/manifest.json``.
    """

    settings: SaasSettings
    redactor: Redactor

    def collect(self) -> Collection:
        """What the collector read, or a gap for each of its resource types if it failed."""
        try:
            collector: Collector = COLLECTORS[self.settings.collector](self.settings, self.redactor)
            collection = collector.collect()
        except Exception as exc:  # any failure of one service is a gap, never a crashed run
            secrets = [os.environ.get(name) for name in self.settings.secret_variables()]
            reason = Scrubber.of(self.redactor, *secrets).text(f"{type(exc).__name__}: {exc}")
            reason = redact_text(reason, self.redactor)
            gaps = tuple(
                CoverageGap(
                    Items(self.settings, spec, self.redactor).scope,
                    f"{self.settings.collector} collector [saas.{self.settings.name}]",
                    "error",
                    "CollectorFailed",
                    f"the {self.settings.collector} collector failed unexpectedly: {reason[:300]}",
                )
                for spec in self.settings.resources
            )
            return Collection(gaps=gaps)
        gaps = tuple(
            replace(
                gap,
                api_call=redact_text(gap.api_call, self.redactor),
                message=redact_text(gap.message, self.redactor),
            )
            for gap in collection.gaps
        )
        return replace(collection, gaps=gaps)


def saas_collector(settings: SaasSettings, redactor: Redactor) -> Collector:
    """The collector for one ``[saas.NAME]`` table (redactor: for its ``redact`` paths)."""
    return Contained(settings, redactor)
