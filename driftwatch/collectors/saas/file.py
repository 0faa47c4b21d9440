"""The ``file`` collector: JSON or YAML files exported from admin consoles, read from a folder."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from driftwatch.collectors import Collection, register
from driftwatch.collectors.saas.items import Items, ReadFailure
from driftwatch.collectors.saas.settings import SaasSettings
from driftwatch.model import CoverageGap, JSONValue
from driftwatch.normalise import Redactor


@register("file")
class FileCollector:
    """Reads each configured file (or glob) of one ``[saas.NAME]`` table, relative to the config."""

    def __init__(self, settings: SaasSettings, redactor: Redactor) -> None:
        self.settings = settings
        self.redactor = redactor

    def collect(self) -> Collection:
        """Every resource type read whole, or a gap for it."""
        result = Collection()
        for spec in self.settings.resources:
            items = Items(self.settings, spec, self.redactor)
            try:
                paths = matching_files(self.settings.folder, spec.file)
                if not paths:
                    where = "" if Path(spec.file).is_absolute() else f" in {self.settings.folder}"
                    raise ReadFailure("error", "NoFile", f"no file matches {spec.file}{where}")
                found: list[JSONValue] = []
                for path in paths:
                    found += items.select(load_document(path))
                resources = items.resources(found)
            except ReadFailure as failure:
                gap = CoverageGap(
                    items.scope, f"read {spec.file}", failure.kind, failure.code, failure.message
                )
                result = result.merge(Collection(gaps=(gap,)))
                continue
            result = result.merge(Collection(tuple(resources), frozenset({items.scope})))
        return result


def matching_files(folder: Path, pattern: str) -> list[Path]:
    """The files a glob matches, sorted: relative to ``folder``, or absolute (``/srv/exports/*.yaml``)."""
    written = Path(pattern)
    if written.is_absolute():  # Path.glob takes relative patterns only: glob from the root
        folder, written = Path(written.anchor), written.relative_to(written.anchor)
    return sorted(folder.glob(str(written)))


def load_document(path: Path) -> JSONValue:
    """A JSON or YAML file's document (YAML: one document, safe types only); ReadFailure otherwise."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ReadFailure("error", "CannotRead", f"{path}: {exc}") from None
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            return json.loads(json.dumps(yaml.safe_load(text), default=str))  # dates become strings
        return json.loads(text)
    except (ValueError, yaml.YAMLError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ReadFailure("error", "NotParsable", f"{path}: {first}") from None
