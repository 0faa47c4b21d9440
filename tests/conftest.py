"""Shared fixtures: moto's AWS server on loopback, AWS test credentials, state repositories, the CLI."""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from driftwatch.cli import _main, cli
from driftwatch.defaults import default_text, initial_files
from driftwatch.demo.moto_server import reset_moto, running_moto_server
from driftwatch.demo.walkthrough import DEMO_ENVIRONMENT
from driftwatch.store import init_repo

TEST_ENV = {
    **DEMO_ENVIRONMENT,  # dummy AWS credentials, no user profile files
    "DRIFTWATCH_REDACTION_KEY": "test-redaction-key",
    "GIT_CONFIG_NOSYSTEM": "1",
}


@pytest.fixture(autouse=True)
def _test_environment(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Dummy AWS credentials, a known redaction key, and a HOME without the developer's git config."""
    for key, value in TEST_ENV.items():
        monkeypatch.setenv(key, value)
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("DRIFTWATCH_CONFIG", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """One moto HTTP server on 127.0.0.1 per test process (moto's state is process-wide).

    Without AWS's managed policies, so that emptying it between tests is quick; a test that
    needs them uses ``managed_policies``.
    """
    with running_moto_server(load_aws_managed_policies=False) as endpoint:
        yield endpoint


@contextlib.contextmanager
def managed_policies(endpoint: str) -> Iterator[None]:
    """moto emptied and reloaded with AWS's managed policies (``arn:aws:iam::aws:policy/...``)."""
    os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"
    try:
        reset_moto(endpoint)
        yield
    finally:
        del os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"]


@pytest.fixture
def aws(moto_server: str) -> str:
    """moto's endpoint, emptied for this test."""
    reset_moto(moto_server)
    return moto_server


TEST_SERVICES = ("s3", "ec2", "iam", "cloudtrail", "kms", "rds")
"""The services a test config reads unless it asks for others: each service is a few calls per
region and run, and the tests of the regional services (test_regional_services.py) ask for them."""


def write_config(
    repo: Path,
    endpoint: str | None,
    regions: tuple[str, ...] = ("us-east-1",),
    extra: str = "",
    services: tuple[str, ...] = TEST_SERVICES,
) -> Path:
    """The example config aimed at ``endpoint``, ``regions`` and ``services``, plus ``extra`` TOML."""
    text = default_text("config.example.toml").replace(
        'regions = ["us-east-1"]', "regions = [" + ", ".join(f'"{r}"' for r in regions) + "]"
    )
    listed = ", ".join(f'"{s}"' for s in services)
    text = re.sub(r"^services = \[.*\]$", f"services = [{listed}]", text, count=1, flags=re.MULTILINE)
    if endpoint:
        text = text.replace('endpoint_url = ""', f'endpoint_url = "{endpoint}"')
    text = text.replace(
        'retry_mode = "adaptive"\nmax_attempts = 8', 'retry_mode = "standard"\nmax_attempts = 2'
    )
    path = repo / "driftwatch.toml"
    path.write_text(text + extra, encoding="utf-8")
    return path


@pytest.fixture
def state_repo(tmp_path: Path, aws: str) -> Path:
    """A new state repository whose config reads moto in us-east-1 and eu-west-1."""
    repo = tmp_path / "state"
    init_repo(repo, initial_files(), "driftwatch", "driftwatch@localhost")
    write_config(repo, aws, ("us-east-1", "eu-west-1"))
    return repo


@dataclass(frozen=True)
class CliResult:
    """What one CLI invocation printed and returned."""

    exit_code: int
    stdout: str
    stderr: str


Invoke = Callable[..., CliResult]


@pytest.fixture
def invoke() -> Invoke:
    """Run the CLI in-process as a user would, with the real exit-code mapping of ``main``."""

    def run(*args: str) -> CliResult:
        runner = CliRunner()
        with runner.isolation() as streams:
            code = _main(cli.main, list(args))
        out, err = streams[0].getvalue().decode(), streams[1].getvalue().decode()
        return CliResult(code, out, err)

    return run
