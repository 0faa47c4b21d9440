"""Generic collectors for any service that shows its settings as JSON: ``http``, ``command``, ``file``.

Each ``[saas.NAME]`` table of the config becomes one collector; each item it reads becomes one
resource, stored as ``snapshots/saas/NAME/TYPE/ID.json``.
"""

from __future__ import annotations

from driftwatch.collectors import COLLECTORS, Collector
from driftwatch.collectors.saas import command, file, http  # noqa: F401 - registers the collectors
from driftwatch.collectors.saas.settings import SaasSettings
from driftwatch.normalise import Redactor


def saas_collector(settings: SaasSettings, redactor: Redactor) -> Collector:
    """The collector for one ``[saas.NAME]`` table (redactor: for its ``redact`` paths)."""
    collector: Collector = COLLECTORS[settings.collector](settings, redactor)
    return collector
