"""The Dockerfile, checked without building it: what it copies exists, it has git, runs unprivileged."""

from __future__ import annotations

import configparser
import json
import re
from pathlib import Path

from driftwatch.cli import cli

ROOT = Path(__file__).parent.parent


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of each line, continuation lines joined and comments left out."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text(encoding="utf-8"))
    result = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, rest = line.strip().partition(" ")
            result.append((name.upper(), rest.strip()))
    return result


def test_the_dockerfile_installs_this_package_with_git_and_runs_it_unprivileged() -> None:
    steps = instructions()
    setup = configparser.ConfigParser()
    setup.read(ROOT / "setup.cfg")

    base = next(args for name, args in steps if name == "FROM")
    version = re.fullmatch(r"python:(\d+)\.(\d+)-slim", base)
    assert version, base
    required = re.fullmatch(r">=(\d+)\.(\d+)", setup["options"]["python_requires"])
    assert required and tuple(map(int, version.groups())) >= tuple(map(int, required.groups()))

    copied = [src for name, args in steps if name == "COPY" for src in args.split()[:-1]]
    assert copied and all((ROOT / src).exists() for src in copied), copied
    # What setup.cfg needs to build: its long description and the package itself.
    assert {"setup.cfg", "pyproject.toml", "README.md", "driftwatch"} <= set(copied)

    runs = " ".join(args for name, args in steps if name == "RUN")
    assert re.search(r"apt-get install\b.*\bgit\b", runs)  # GitPython needs the git command
    assert "pip install --no-cache-dir ." in runs
    workdir = [args for name, args in steps if name == "WORKDIR"][-1]
    assert f"safe.directory {workdir}" in runs  # a mounted state repository has another owner

    names = [name for name, _ in steps]
    user = [args for name, args in steps if name == "USER"]
    assert user and user[-1] not in ("root", "0") and names.index("USER") < names.index("ENTRYPOINT")

    scripts = setup["options.entry_points"]["console_scripts"]
    entrypoint = json.loads(next(args for name, args in steps if name == "ENTRYPOINT"))
    command = json.loads(next(args for name, args in steps if name == "CMD"))
    assert entrypoint == ["driftwatch"] and "driftwatch = driftwatch.cli:main" in scripts
    assert command[0] in cli.commands
