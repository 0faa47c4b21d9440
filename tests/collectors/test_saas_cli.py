"""check-config on a SaaS config: a guardrail rule with an error, a token that is not set."""

from __future__ import annotations

from pathlib import Path

from driftwatch.defaults import initial_files
from driftwatch.resource_types import AWS_TYPES
from driftwatch.store import init_repo
from tests.conftest import TEST_SERVICES, Invoke, write_config

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


def test_check_config_warns_of_a_guardrail_whose_type_matches_nothing_read(
    tmp_path: Path, invoke: Invoke
) -> None:
    repo = tmp_path / "state"
    init_repo(repo, initial_files(), "driftwatch", "driftwatch@localhost")
    config = write_config(repo, None, extra=SAAS)
    guardrails = repo / "baselines" / "guardrails.toml"
    rule = '\n[[guardrail]]\nname = "{name}"\ntype = {type}\npath = "$.sharing"\noperator = "present"\n'
    guardrails.write_text(
        guardrails.read_text()
        + rule.format(name="typo", type='"docs/workspaces"')
        + rule.format(name="any-docs", type='"docs/*"')
        + rule.format(name="buckets", type='["s3/bucket", "docs/other"]')
    )
    checked = invoke("-c", str(config), "check-config")
    assert checked.exit_code == 0, checked.stderr
    warnings = [line for line in checked.stderr.splitlines() if "matches no resource type" in line]
    read = sorted(["docs/workspace", *(t for service in TEST_SERVICES for t in AWS_TYPES[service])])
    assert warnings == [
        "driftwatch: warning: baselines/guardrails.toml: [[guardrail]] 'typo': type docs/workspaces "
        "matches no resource type this config reads (a typo?); it reads: " + ", ".join(read)
    ]
