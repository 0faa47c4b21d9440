"""IAM roles, groups and policies, CloudTrail, KMS and RDS through moto's server: documents and rules.

One seeded account is run, approved, drifted in every new type, and run again; failures of the new
reads become coverage gaps that keep the last known state.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

from tests.conftest import Invoke
from tests.support.aws_faults import Fault, running_fault_proxy
from tests.support.coverage_seed import ACCOUNT, EXTERNAL, TRAIL_BUCKET, clients, seed_coverage, trust_policy

APPROVER = "Sec Admin <sec@example.com>"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/deployer"
TRAIL_ARN = f"arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/org-audit"
DB_ARN = f"arn:aws:rds:us-east-1:{ACCOUNT}:db:orders-db"
PASSWORD_POLICY_KEY = f"aws:{ACCOUNT}:global:iam/password-policy/account"


def stored(repo: Path, region: str, type_: str, id_: str) -> dict[str, Any]:
    path = repo / "snapshots" / "aws" / ACCOUNT / region / type_ / f"{quote(id_, safe='-_.')}.json"
    config: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))["config"]
    return config


def run(invoke: Invoke, repo: Path) -> dict[str, Any]:
    result = invoke("-c", str(repo / "driftwatch.toml"), "run", "--format", "json")
    assert result.exit_code in (0, 2), result.stderr
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def rules_of(report: dict[str, Any]) -> dict[tuple[str, str], tuple[str, str]]:
    """(rule, resource) -> (severity, message), without the approval bookkeeping rules."""
    return {
        (f["rule"], f["resource"]): (f["severity"], f["message"])
        for f in report["findings"]
        if f["rule"] not in ("unapproved-resource", "baseline-drift")
    }


def test_new_types_are_stored_canonically_and_their_drift_is_found(
    aws: str, state_repo: Path, invoke: Invoke
) -> None:
    seeded = seed_coverage(aws)
    c = clients(aws)
    strong = {
        "MinimumPasswordLength": 14,
        "RequireSymbols": True,
        "RequireNumbers": True,
        "MaxPasswordAge": 90,
    }
    c["iam"].update_account_password_policy(**strong)

    first = run(invoke, state_repo)

    assert first["coverage_gaps"] == []
    assert rules_of(first) == {}  # the seeded account is clean
    role = stored(state_repo, "global", "iam/role", "deployer")
    assert role["AssumeRolePolicyDocument"] == {  # canonical policy form (case 13)
        "Statement": [
            {
                "Action": ["sts:assumerole"],
                "Effect": "Allow",
                "Principal": {"AWS": [f"arn:aws:iam::{ACCOUNT}:root"]},
            }
        ],
        "Version": "2012-10-17",
    }
    assert role["AttachedPolicies"] == [seeded.policy_arn]
    assert role["InlinePolicies"]["deploy"]["Statement"][0]["Action"] == ["ecs:updateservice"]
    assert (role["Tags"], role["PermissionsBoundary"], role["Description"]) == (
        {"team": "platform"},
        None,
        "CI deploys",
    )
    group = stored(state_repo, "global", "iam/group", "analysts")
    assert (group["Members"], group["AttachedPolicies"], list(group["InlinePolicies"])) == (
        ["ana"],
        [seeded.policy_arn],
        ["metrics"],
    )
    policy = stored(state_repo, "global", "iam/policy", "read-reports")
    assert policy["DefaultVersionId"] == "v1"
    assert policy["Document"]["Statement"] == [
        {"Action": ["s3:getobject"], "Effect": "Allow", "Resource": ["*"]}
    ]
    assert "AttachmentCount" not in policy and "UpdateDate" not in policy  # they move with other resources
    trail = stored(state_repo, "us-east-1", "cloudtrail/trail", "org-audit")
    assert {
        k: trail[k] for k in ("IsLogging", "IsMultiRegionTrail", "LogFileValidationEnabled", "KmsKeyId")
    } == {
        "IsLogging": True,
        "IsMultiRegionTrail": True,
        "LogFileValidationEnabled": True,
        "KmsKeyId": None,
    }
    assert trail["S3BucketName"] == TRAIL_BUCKET
    assert not list((state_repo / "snapshots" / "aws" / ACCOUNT / "eu-west-1").glob("cloudtrail/**/*.json"))
    key = stored(state_repo, "us-east-1", "kms/key", seeded.key_id)
    assert key["Rotation"]["KeyRotationEnabled"] is True and "NextRotationDate" not in key["Rotation"]
    assert (key["Aliases"], key["Tags"], key["KeyManager"]) == (
        ["alias/app-data"],
        {"team": "core"},
        "CUSTOMER",
    )
    assert key["Policy"]["Statement"][0]["Principal"] == {"AWS": [f"arn:aws:iam::{ACCOUNT}:root"]}
    db = stored(state_repo, "us-east-1", "rds/db-instance", "orders-db")
    assert {
        k: db[k] for k in ("PubliclyAccessible", "StorageEncrypted", "DeletionProtection", "ParameterGroups")
    } == {
        "PubliclyAccessible": False,
        "StorageEncrypted": True,
        "DeletionProtection": True,
        "ParameterGroups": {"pg-tls": {"rds.force_ssl": "1"}},
    }
    assert "DBInstanceStatus" not in db and "LatestRestorableTime" not in db
    cluster = stored(state_repo, "us-east-1", "rds/db-cluster", "ledger")
    assert (cluster["ParameterGroups"], cluster["StorageEncrypted"]) == (
        {"cpg-tls": {"rds.force_ssl": "1"}},
        True,
    )
    assert "Status" not in cluster and "AllocatedStorage" not in cluster
    summary = stored(state_repo, "global", "iam/account-summary", "account")
    assert summary == {
        "SummaryMap": {
            "AccountAccessKeysPresent": 0,
            "AccountMFAEnabled": 0,
            "AccountSigningCertificatesPresent": 0,
        }
    }  # moto has no AccountPasswordPresent: the root password is unknown, so no root-mfa-missing

    approved = invoke(
        "-c", str(state_repo / "driftwatch.toml"), "approve", "--all", "--reason", "ok", "--author", APPROVER
    )
    assert approved.exit_code == 0, approved.stderr
    c["iam"].update_assume_role_policy(
        RoleName="deployer", PolicyDocument=json.dumps(trust_policy(f"arn:aws:iam::{EXTERNAL}:root"))
    )
    c["iam"].update_account_password_policy(**{**strong, "MinimumPasswordLength": 8, "MaxPasswordAge": 365})
    c["cloudtrail"].stop_logging(Name="org-audit")
    c["kms"].disable_key_rotation(KeyId=seeded.key_id)
    anyone = {"Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt", "Resource": "*"}
    open_policy = {"Version": "2012-10-17", "Statement": [anyone]}
    c["kms"].put_key_policy(KeyId=seeded.key_id, PolicyName="default", Policy=json.dumps(open_policy))
    c["rds"].modify_db_instance(
        DBInstanceIdentifier="orders-db", PubliclyAccessible=True, ApplyImmediately=True
    )

    second = run(invoke, state_repo)

    key_arn = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/{seeded.key_id}"
    assert second["coverage_gaps"] == []
    assert rules_of(second) == {
        ("iam-role-trust-external", ROLE_ARN): (
            "high",
            f"role deployer can be assumed by arn:aws:iam::{EXTERNAL}:root: "
            f"account {EXTERNAL} is not a trusted account",
        ),
        ("iam-password-policy-weakened", PASSWORD_POLICY_KEY): (
            "medium",
            f"account {ACCOUNT}: password policy weakened: "
            "MinimumPasswordLength 14 -> 8; MaxPasswordAge 90 -> 365",
        ),
        ("cloudtrail-logging-off", TRAIL_ARN): (
            "high",
            "trail org-audit is not logging (logging stopped since the last run)",
        ),
        ("kms-rotation-disabled", key_arn): (
            "medium",
            f"KMS key {seeded.key_id}: automatic key rotation is off",
        ),
        ("kms-key-public", key_arn): (
            "critical",
            f"KMS key {seeded.key_id}: the key policy lets anyone use it (statement 1)",
        ),
        ("rds-public", DB_ARN): (
            "critical",
            "DB instance orders-db is publicly accessible: its endpoint resolves to a public address, "
            "reachable from the internet as far as its security groups allow",
        ),
    }
    trust_finding = next(f for f in second["findings"] if f["rule"] == "iam-role-trust-external")
    assert [c["path"] for c in trust_finding["changes"]] == ["AssumeRolePolicyDocument.Statement"]

    # The partner account becomes trusted in the config: its access is no longer an outsider's.
    config = state_repo / "driftwatch.toml"
    config.write_text(
        re.sub(
            r"^trusted_accounts = \[\]$", f'trusted_accounts = ["{EXTERNAL}"]', config.read_text(), flags=re.M
        )
    )
    checked = invoke("-c", str(config), "check", "--format", "json")
    assert checked.exit_code == 2, checked.stderr
    assert ("iam-role-trust-external", ROLE_ARN) not in rules_of(json.loads(checked.stdout))


def test_failed_reads_of_the_new_types_are_gaps_that_keep_the_last_known_state(
    aws: str, state_repo: Path, invoke: Invoke
) -> None:
    seeded = seed_coverage(aws)
    c = clients(aws)
    with running_fault_proxy(aws) as proxy:
        config = state_repo / "driftwatch.toml"
        config.write_text(config.read_text().replace(aws, proxy.url))
        assert run(invoke, state_repo)["coverage_gaps"] == []
        before = {
            "trail": stored(state_repo, "us-east-1", "cloudtrail/trail", "org-audit"),
            "key": stored(state_repo, "us-east-1", "kms/key", seeded.key_id),
            "db": stored(state_repo, "us-east-1", "rds/db-instance", "orders-db"),
        }
        c["cloudtrail"].stop_logging(Name="org-audit")
        c["kms"].disable_key_rotation(KeyId=seeded.key_id)
        proxy.add_fault(
            Fault(
                "cloudtrail", "DescribeTrails", code="AccessDeniedException", status=400, region="us-east-1"
            )
        )
        proxy.add_fault(Fault("kms", "GetKeyRotationStatus", code="AccessDeniedException", status=400))
        proxy.add_fault(Fault("iam", "ListRoles", code="AccessDenied"))
        proxy.add_fault(Fault("rds", "DescribeDBParameters", code="AccessDenied"))
        c["rds"].modify_db_parameter_group(
            DBParameterGroupName="pg-tls",
            Parameters=[
                {"ParameterName": "rds.force_ssl", "ParameterValue": "0", "ApplyMethod": "immediate"}
            ],
        )

        second = run(invoke, state_repo)

    gaps = {(g["api_call"], g["kind"], g["field"]) for g in second["coverage_gaps"]}
    assert {
        ("cloudtrail.describe_trails", "denied", None),
        ("kms.get_key_rotation_status", "denied", "Rotation"),
        ("iam.list_roles", "denied", None),
        ("rds.describe_db_parameters", "denied", "ParameterGroups"),
    } <= gaps
    # Nothing unreadable was recorded as changed or deleted, and no rule judged an unknown.
    assert stored(state_repo, "us-east-1", "cloudtrail/trail", "org-audit") == before["trail"]
    assert stored(state_repo, "us-east-1", "kms/key", seeded.key_id) == before["key"]
    assert stored(state_repo, "us-east-1", "rds/db-instance", "orders-db") == before["db"]
    assert stored(state_repo, "global", "iam/role", "deployer")["RoleName"] == "deployer"
    assert not {f["rule"] for f in second["findings"]} & {"cloudtrail-logging-off", "kms-rotation-disabled"}
