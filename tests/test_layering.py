"""The seams of STYLE.md: each outside library is imported by the one part of driftwatch that owns it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "driftwatch"

OWNERS = {
    "git": ("store/",),
    "deepdiff": ("compare.py",),
    "slack_sdk": ("notify/slack.py",),
    "schedule": ("scheduler.py",),
    "boto3": ("collectors/aws/", "demo/"),  # the demo seeds its emulated account through boto3
    "botocore": ("collectors/aws/", "demo/"),
}


def imported_modules(source: Path) -> set[str]:
    """The top-level names of every module ``source`` imports, wherever in the file."""
    names = set()
    for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("library", sorted(OWNERS))
def test_only_its_owner_imports_each_outside_library(library: str) -> None:
    importers = sorted(
        path.relative_to(PACKAGE).as_posix()
        for path in PACKAGE.rglob("*.py")
        if library in imported_modules(path)
    )
    assert importers, f"nothing imports {library}: the table above is out of date"
    strays = [p for p in importers if not p.startswith(OWNERS[library])]
    assert strays == []
