"""The IAM account, role trust, CloudTrail, KMS and RDS rules on documented input shapes.

moto cannot give the root user MFA, access keys or AccountPasswordPresent, so the root rules are
checked here on GetAccountSummary's shape; the other rules also run through moto's server in
tests/collectors/test_aws_coverage.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from driftwatch.model import Finding, ResourceId, Severity, TrustedAccounts
from driftwatch.rules.engine import default_settings, evaluate
from driftwatch.rules.iam_trust import outside_principals
from driftwatch.rules.kms import public_statements
from tests.rules.test_rules import state

ACCOUNT = "111122223333"
OTHER = "444455556666"
ORG = "o-a1b2c3d4e5"
SUMMARY = ResourceId("aws", ACCOUNT, "global", "iam/account-summary", "account")
PASSWORDS = ResourceId("aws", ACCOUNT, "global", "iam/password-policy", "account")
ROLE = ResourceId("aws", ACCOUNT, "global", "iam/role", "deployer", f"arn:aws:iam::{ACCOUNT}:role/deployer")


def rules(*states: Any, trusted: TrustedAccounts | None = None) -> dict[str, list[Finding]]:
    found = evaluate({s.identity.key: s for s in states}, default_settings(), trusted=trusted)
    result: dict[str, list[Finding]] = {}
    for f in found:
        if f.rule not in ("unapproved-resource", "baseline-drift"):
            result.setdefault(f.rule, []).append(f)
    return result


def summary(mfa: int, password: int | None, keys: int = 0) -> dict[str, Any]:
    values = {
        "AccountMFAEnabled": mfa,
        "AccountAccessKeysPresent": keys,
        "AccountSigningCertificatesPresent": 0,
    }
    if password is not None:
        values["AccountPasswordPresent"] = password
    return {"SummaryMap": values}


def test_root_with_a_password_and_no_mfa_is_critical() -> None:
    found = rules(state(SUMMARY, summary(mfa=0, password=1)))
    assert [(f.rule, f.severity) for fs in found.values() for f in fs] == [
        ("root-mfa-missing", Severity.CRITICAL)
    ]
    assert (
        found["root-mfa-missing"][0].message
        == f"account {ACCOUNT}: the root user has a password and no MFA device"
    )
    assert rules(state(SUMMARY, summary(mfa=1, password=1))) == {}


def test_root_credentials_removed_centrally_is_not_mfa_disabled() -> None:
    # Member account after "delete root credentials" (AWS Organizations, November 2024): no
    # password, no keys, and therefore no MFA device either.
    assert rules(state(SUMMARY, summary(mfa=0, password=0))) == {}
    # The same after a previous run that had MFA: the MFA going away with the password is no finding.
    assert rules(state(SUMMARY, summary(mfa=0, password=0), previous=summary(mfa=1, password=1))) == {}
    # Without AccountPasswordPresent (an emulator) the password is unknown: no claim either way.
    assert rules(state(SUMMARY, summary(mfa=0, password=None))) == {}
    # An unreadable summary is a gap, never "MFA missing".
    assert rules(state(SUMMARY, summary(mfa=0, password=1), unreadable={"SummaryMap": "AccessDenied"})) == {}


def test_root_access_keys_are_critical_even_without_a_password() -> None:
    found = rules(state(SUMMARY, summary(mfa=0, password=0, keys=1)))
    assert list(found) == ["root-access-keys-present"]
    assert found["root-access-keys-present"][0].severity is Severity.CRITICAL
    assert found["root-access-keys-present"][0].message == f"account {ACCOUNT}: the root user has access keys"


STRONG = {
    "MinimumPasswordLength": 14,
    "RequireSymbols": True,
    "RequireNumbers": True,
    "RequireUppercaseCharacters": True,
    "RequireLowercaseCharacters": True,
    "MaxPasswordAge": 90,
    "PasswordReusePrevention": 24,
}


@pytest.mark.parametrize(
    ("after", "why"),
    [
        ({**STRONG, "MinimumPasswordLength": 8}, "MinimumPasswordLength 14 -> 8"),
        ({**STRONG, "RequireSymbols": False}, "RequireSymbols turned off"),
        ({k: v for k, v in STRONG.items() if k != "MaxPasswordAge"}, "MaxPasswordAge 90 -> none"),
        ({**STRONG, "PasswordReusePrevention": 3}, "PasswordReusePrevention 24 -> 3"),
        (None, "password policy removed"),
    ],
)
def test_password_policy_weakened_against_the_baseline(after: dict[str, Any] | None, why: str) -> None:
    found = rules(state(PASSWORDS, {"PasswordPolicy": after}, baseline={"PasswordPolicy": STRONG}))
    (finding,) = found["iam-password-policy-weakened"]
    assert (finding.severity, finding.against) == (Severity.MEDIUM, "baseline")
    assert finding.message == f"account {ACCOUNT}: password policy weakened: {why}"


def test_password_policy_made_stricter_or_unreadable_is_not_weakened() -> None:
    stricter = {**STRONG, "MinimumPasswordLength": 20, "MaxPasswordAge": 60}
    assert rules(state(PASSWORDS, {"PasswordPolicy": stricter}, previous={"PasswordPolicy": STRONG})) == {}
    unreadable = {"PasswordPolicy": "AccessDenied"}
    assert (
        rules(
            state(
                PASSWORDS,
                {"PasswordPolicy": None},
                previous={"PasswordPolicy": STRONG},
                unreadable=unreadable,
            )
        )
        == {}
    )


def trust(principal: Any, condition: dict[str, Any] | None = None) -> dict[str, Any]:
    statement: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": principal,
        "Action": "sts:AssumeRoleWithWebIdentity",
    }
    if condition:
        statement["Condition"] = condition
    return {"Version": "2012-10-17", "Statement": statement}


GITHUB = f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"
ANY_GITHUB_IDENTITY = (
    "any identity token.actions.githubusercontent.com authenticates "
    "(no condition pins token.actions.githubusercontent.com:sub)"
)


@pytest.mark.parametrize(
    ("document", "outside"),
    [
        (trust({"AWS": f"arn:aws:iam::{ACCOUNT}:root"}), []),
        (trust({"Service": "lambda.amazonaws.com"}), []),
        (trust({"AWS": OTHER}), [(OTHER, f"account {OTHER} is not a trusted account")]),
        (
            trust({"AWS": f"arn:aws:iam::{OTHER}:role/ci"}, {"StringEquals": {"sts:ExternalId": "x-123"}}),
            [
                (
                    f"arn:aws:iam::{OTHER}:role/ci",
                    f"account {OTHER} is not a trusted account (an sts:ExternalId condition is set)",
                )
            ],
        ),
        (trust("*"), [("*", "anyone with AWS credentials")]),
        (
            trust({"AWS": "*"}, {"StringEquals": {"aws:PrincipalOrgID": ORG}}),
            [],
        ),  # pinned to our organisation
        (
            trust({"AWS": "*"}, {"StringEquals": {"aws:PrincipalOrgID": "o-zzzzzzzzzz"}}),
            [("*", "anyone with AWS credentials")],
        ),
        (
            trust({"AWS": "*"}, {"StringNotEquals": {"aws:PrincipalOrgID": ORG}}),
            [("*", "anyone with AWS credentials")],
        ),
        (trust({"AWS": "*"}, {"StringEquals": {"aws:PrincipalAccount": ["777788889999"]}}), []),
        (trust({"AWS": "AROAEXAMPLEDELETEDROLE"}), []),  # a deleted principal admits nobody
        (
            trust(
                {"Federated": GITHUB},
                {"StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"}},
            ),
            [
                (
                    GITHUB,
                    ANY_GITHUB_IDENTITY,
                )
            ],
        ),
        (
            trust(
                {"Federated": GITHUB},
                {"StringLike": {"token.actions.githubusercontent.com:sub": "repo:acme/app:*"}},
            ),
            [],
        ),
        (
            trust(
                {"Federated": GITHUB}, {"StringLike": {"token.actions.githubusercontent.com:sub": "repo:*"}}
            ),
            [
                (
                    GITHUB,
                    ANY_GITHUB_IDENTITY,
                )
            ],
        ),
        (trust({"Federated": f"arn:aws:iam::{ACCOUNT}:saml-provider/okta"}), []),
    ],
)
def test_trust_policy_principals_outside_the_trusted_accounts(
    document: dict[str, Any], outside: list[tuple[str, str]]
) -> None:
    trusted = TrustedAccounts(frozenset({"777788889999"}), ORG)
    assert outside_principals(document, ACCOUNT, trusted) == outside


def test_role_trust_findings_use_the_configured_trust_and_severity() -> None:
    role = {"RoleName": "deployer", "AssumeRolePolicyDocument": trust({"AWS": [OTHER, "*"]})}
    found = rules(state(ROLE, role))["iam-role-trust-external"]
    assert [(f.severity, f.message) for f in found] == [
        (Severity.CRITICAL, "role deployer can be assumed by *: anyone with AWS credentials"),
        (Severity.HIGH, f"role deployer can be assumed by {OTHER}: account {OTHER} is not a trusted account"),
    ]
    partner = {"RoleName": "deployer", "AssumeRolePolicyDocument": trust({"AWS": OTHER})}
    assert rules(state(ROLE, partner), trusted=TrustedAccounts(frozenset({OTHER}))) == {}
    # Approved in the baseline: an accepted exception, not reported again.
    assert rules(state(ROLE, partner, baseline=partner)) == {}


KMS_KEY = ResourceId(
    "aws", ACCOUNT, "eu-west-1", "kms/key", "1234abcd", f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/1234abcd"
)


def key_policy(statement: dict[str, Any]) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [{"Sid": "Use", "Effect": "Allow", "Action": "kms:*", "Resource": "*", **statement}],
    }


@pytest.mark.parametrize(
    ("statement", "public"),
    [
        ({"Principal": "*"}, ["Use"]),
        ({"Principal": {"AWS": ["*"]}, "Condition": {"StringEquals": {"kms:CallerAccount": ACCOUNT}}}, []),
        (
            {
                "Principal": "*",
                "Condition": {"StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}},
            },
            ["Use"],
        ),
        ({"Principal": "*", "Condition": {"StringLike": {"aws:PrincipalOrgID": "o-*"}}}, ["Use"]),
        ({"NotPrincipal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}}, ["Use"]),
        ({"Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}}, []),
        ({"Principal": "*", "Effect": "Deny"}, []),
    ],
)
def test_kms_key_policy_public_when_star_is_not_narrowed(
    statement: dict[str, Any], public: list[str]
) -> None:
    assert public_statements(key_policy(statement)) == public


def kms_key(
    rotation: dict[str, Any] | None, state_: str = "Enabled", policy: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "KeyState": state_,
        "Rotation": rotation,
        "Policy": policy or key_policy({"Principal": {"AWS": ACCOUNT}}),
    }


def test_kms_rules_on_a_collected_key() -> None:
    found = rules(
        state(KMS_KEY, kms_key({"KeyRotationEnabled": False}, policy=key_policy({"Principal": "*"})))
    )
    assert {r: [(f.severity, f.message) for f in fs] for r, fs in found.items()} == {
        "kms-key-public": [(Severity.CRITICAL, "KMS key 1234abcd: the key policy lets anyone use it (Use)")],
        "kms-rotation-disabled": [(Severity.MEDIUM, "KMS key 1234abcd: automatic key rotation is off")],
    }
    assert rules(state(KMS_KEY, kms_key({"KeyRotationEnabled": True, "RotationPeriodInDays": 365}))) == {}
    assert rules(state(KMS_KEY, kms_key(None))) == {}  # asymmetric or imported: AWS cannot rotate it
    assert rules(state(KMS_KEY, kms_key({"KeyRotationEnabled": False}, "PendingDeletion"))) == {}
    unreadable = {"Rotation": "AccessDeniedException"}
    assert rules(state(KMS_KEY, kms_key({"KeyRotationEnabled": False}), unreadable=unreadable)) == {}


TRAIL = ResourceId(
    "aws",
    ACCOUNT,
    "eu-west-1",
    "cloudtrail/trail",
    "audit",
    f"arn:aws:cloudtrail:eu-west-1:{ACCOUNT}:trail/audit",
)


def test_cloudtrail_logging_off() -> None:
    stopped = rules(
        state(TRAIL, {"Name": "audit", "IsLogging": False}, previous={"Name": "audit", "IsLogging": True})
    )
    (finding,) = stopped["cloudtrail-logging-off"]
    assert (finding.severity, finding.message) == (
        Severity.HIGH,
        "trail audit is not logging (logging stopped since the last run)",
    )
    assert rules(state(TRAIL, {"Name": "audit", "IsLogging": True})) == {}
    assert (
        rules(state(TRAIL, {"Name": "audit", "IsLogging": False}, unreadable={"IsLogging": "AccessDenied"}))
        == {}
    )


def test_rds_public_instances_and_clusters() -> None:
    db = ResourceId(
        "aws", ACCOUNT, "eu-west-1", "rds/db-instance", "orders", f"arn:aws:rds:eu-west-1:{ACCOUNT}:db:orders"
    )
    cluster = ResourceId(
        "aws",
        ACCOUNT,
        "eu-west-1",
        "rds/db-cluster",
        "ledger",
        f"arn:aws:rds:eu-west-1:{ACCOUNT}:cluster:ledger",
    )
    found = rules(state(db, {"PubliclyAccessible": True}), state(cluster, {"PubliclyAccessible": True}))
    assert [(f.resource.id, f.severity) for f in found["rds-public"]] == [
        ("ledger", Severity.CRITICAL),
        ("orders", Severity.CRITICAL),
    ]
    assert rules(state(db, {"PubliclyAccessible": False}), state(cluster, {"PubliclyAccessible": None})) == {}


def test_every_account_driftwatch_reads_is_trusted() -> None:
    # The management account reads member accounts whose access role trusts it (multi-account).
    member = ResourceId("aws", OTHER, "global", "iam/role", "access", f"arn:aws:iam::{OTHER}:role/access")
    trusting_us = {
        "RoleName": "access",
        "AssumeRolePolicyDocument": trust({"AWS": f"arn:aws:iam::{ACCOUNT}:root"}),
    }
    assert rules(state(member, trusting_us), state(SUMMARY, summary(mfa=1, password=1))) == {}
    assert list(rules(state(member, trusting_us))) == ["iam-role-trust-external"]


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"tls": {"rds.force_ssl": "0"}}, "parameter group tls sets rds.force_ssl = 0"),
        (
            {"mysql-tls": {"require_secure_transport": "OFF"}},
            "parameter group mysql-tls sets require_secure_transport = OFF",
        ),
        ({"tls": {"rds.force_ssl": "1"}}, None),
        ({"tls": {}}, None),  # the engine has no such parameter
    ],
)
def test_rds_tls_not_required_by_the_parameter_group(parameters: dict[str, Any], message: str | None) -> None:
    db = ResourceId(
        "aws", ACCOUNT, "eu-west-1", "rds/db-instance", "orders", f"arn:aws:rds:eu-west-1:{ACCOUNT}:db:orders"
    )
    found = rules(state(db, {"PubliclyAccessible": False, "ParameterGroups": parameters}))
    assert [f.message for f in found.get("rds-tls-not-required", [])] == (
        [f"DB instance orders accepts unencrypted connections: {message}"] if message else []
    )


def test_rds_parameter_groups_that_could_not_be_read_are_not_tls_off() -> None:
    db = ResourceId(
        "aws", ACCOUNT, "eu-west-1", "rds/db-instance", "orders", f"arn:aws:rds:eu-west-1:{ACCOUNT}:db:orders"
    )
    unread = state(db, {"PubliclyAccessible": False}, unreadable={"ParameterGroups": "AccessDenied"})
    assert "rds-tls-not-required" not in rules(unread)
