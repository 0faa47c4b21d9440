"""The collectors one run uses, from the config: AWS (unless disabled) and every ``[saas.NAME]``."""

from __future__ import annotations

from collections.abc import Callable

from driftwatch.collectors import Collector, Collectors, Progress
from driftwatch.config import Config


def build_collector(config: Config, progress: Callable[[Progress], None] | None = None) -> Collector:
    """One collector that reads everything the config asks for; ``progress`` follows the AWS part."""
    parts: list[Collector] = []
    if config.aws.enabled:
        from driftwatch.collectors.aws import AwsCollector  # boto3 is only loaded when AWS is read

        parts.append(AwsCollector(config.aws, progress=progress))
    if config.saas:
        from driftwatch.collectors.saas import saas_collector
        from driftwatch.redaction_key import load_redactor

        redactor = load_redactor(config)
        parts += [saas_collector(settings, redactor) for settings in config.saas]
    return Collectors(tuple(parts))
