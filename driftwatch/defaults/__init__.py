"""The files a new state repository starts with: the example config and the default guardrails."""

from __future__ import annotations

from importlib.resources import files

from driftwatch.config import CONFIG_FILE_NAME
from driftwatch.layout import GUARDRAILS, PRIVATE_DIR, SNAPSHOTS

SNAPSHOTS_NOTE = """# snapshots

driftwatch writes here: one JSON file per resource, `manifest.json` for what each run read and
could not read, one commit per run that changed something. Do not edit these files: driftwatch
restores this folder to the last commit before each run. Approve a state in `baselines/`
instead (`driftwatch approve`). The layout is documented in driftwatch's snapshots/README.md.
"""


def default_text(name: str) -> str:
    """The text of a file shipped in ``driftwatch/defaults``."""
    return (files("driftwatch") / "defaults" / name).read_text(encoding="utf-8")


def initial_files(config_text: str | None = None) -> dict[str, str]:
    """The files of a new state repository, by path."""
    return {
        CONFIG_FILE_NAME: config_text if config_text is not None else default_text("config.example.toml"),
        GUARDRAILS: default_text("guardrails.toml"),
        f"{SNAPSHOTS}/README.md": SNAPSHOTS_NOTE,
        ".gitignore": f"{PRIVATE_DIR}/\n",
    }
