"""check-config on a SaaS config: a guardrail rule with an error, a token that is not set."""

from __future__ import annotations

from pathlib import Path

from driftwatch.defaults import initial_files
from driftwatch.store import init_repo
from tests.conftest import Invoke, write_config

SAAS = """
[saas.docs]
collector = "http"
base_url = "https://docs.example.com/api"
token_env = "DOCS_SECRET_TOKEN"
[[saas.docs.resources]]
type = "workspace"
path = "/workspace"
fixed_id = "acme"
"""


def test_check_config_names_a_broken_rule_and_warns_of_a_missing_token(
    tmp_path: Path, invoke: Invoke
) -> None:
    repo = tmp_path / "state"
    init_repo(repo, initial_files(), "driftwatch", "driftwatch@localhost")
    config = write_config(repo, None, extra=SAAS)
    guardrails = repo / "baselines" / "guardrails.toml"
    guardrails.write_text(
        guardrails.read_text()
        + '\n[[guardrail]]\nname = "docs-sharing"\ntype = "docs/workspace"\npath = "$.sharing"\n'
        'operator = "is"\nvalue = "private"\n'
    )
    refused = invoke("-c", str(config), "check-config")
    assert refused.exit_code == 1
    assert refused.stderr.startswith(
        "driftwatch: baselines/guardrails.toml: [[guardrail]] 'docs-sharing': "
        "operator: 'is' is not an operator"
    )

    guardrails.write_text(guardrails.read_text().replace('operator = "is"', 'operator = "equals"'))
    accepted = invoke("-c", str(config), "check-config")
    assert accepted.exit_code == 0, accepted.stderr
    assert (
        "warning: [saas.docs]: the environment variable DOCS_SECRET_TOKEN is not set here" in accepted.stderr
    )
