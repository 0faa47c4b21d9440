"""The demo account: what seed_account() creates in moto, and what apply_drift() changes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from driftwatch.demo import account_data as data
from driftwatch.demo.account import (
    ACCOUNT_ID,
    DEMO_REGIONS,
    DRIFTED_BUCKET,
    MFA_REMOVED_USER,
    NEW_BUCKET,
    OPENED_GROUP_NAME,
    OPENED_GROUP_REGION,
    TAGGED_BUCKET,
    TAGGED_BUCKET_NEW_VALUE,
    TAGGED_BUCKET_OLD_VALUE,
    TAGGED_BUCKET_TAG,
    DemoClients,
    apply_drift,
    demo_clients,
    find_security_group,
    key_id,
    seed_account,
)
from driftwatch.demo.account_data import BUCKETS
from tests.conftest import managed_policies

ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
AUTHENTICATED_USERS = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
LOG_DELIVERY = "http://acs.amazonaws.com/groups/s3/LogDelivery"


@pytest.fixture(scope="module")
def clients(moto_server: str) -> DemoClients:
    with managed_policies(moto_server):
        seed_account(moto_server)
    return demo_clients(moto_server)


@pytest.fixture(scope="module")
def drifted(clients: DemoClients) -> dict[str, Any]:
    """Apply the drift once; return what the drifted resources looked like just before."""
    s3, iam = clients.s3, clients.iam
    before = {
        "block": s3.get_public_access_block(Bucket=DRIFTED_BUCKET)["PublicAccessBlockConfiguration"],
        "policy": json.loads(s3.get_bucket_policy(Bucket=DRIFTED_BUCKET)["Policy"]),
        "ssh": _ssh_sources(clients),
        "mfa": iam.list_mfa_devices(UserName=MFA_REMOVED_USER)["MFADevices"],
        "buckets": _bucket_names(clients),
        "tags": _tags(s3, TAGGED_BUCKET),
        "trust": iam.get_role(RoleName=data.TRUST_OPENED_ROLE)["Role"]["AssumeRolePolicyDocument"],
        "rotation": _rotation(clients, data.ROTATION_OFF_KEY),
        "public_db": _db(clients, data.PUBLIC_DB)["PubliclyAccessible"],
        "logging": clients.cloudtrail["us-east-1"].get_trail_status(Name=data.STOPPED_TRAIL)["IsLogging"],
    }
    apply_drift(clients.s3.meta.endpoint_url)
    return before


def _bucket_names(clients: DemoClients) -> set[str]:
    return {b["Name"] for b in clients.s3.list_buckets()["Buckets"]}


def _tags(s3: Any, bucket: str) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=bucket)["TagSet"]}


def _error_code(call: Any, **kwargs: Any) -> str:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    return str(caught.value.response["Error"]["Code"])


def _grants(s3: Any, bucket: str) -> set[tuple[str, str]]:
    grants = s3.get_bucket_acl(Bucket=bucket)["Grants"]
    return {(g["Grantee"].get("URI", "owner"), g["Permission"]) for g in grants}


def _policy(s3: Any, bucket: str) -> dict[str, Any]:
    return dict(json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"]))


def _ssh_sources(clients: DemoClients) -> set[str]:
    group = find_security_group(clients.ec2[OPENED_GROUP_REGION], OPENED_GROUP_NAME)
    sources: set[str] = set()
    for perm in group["IpPermissions"]:
        if perm.get("FromPort") == 22:
            sources |= {r["CidrIp"] for r in perm["IpRanges"]}
            sources |= {r["CidrIpv6"] for r in perm["Ipv6Ranges"]}
    return sources


def test_the_server_logs_no_request_lines(
    clients: DemoClients, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    capfd.readouterr()
    assert clients.sts.get_caller_identity()["Account"] == ACCOUNT_ID
    out, err = capfd.readouterr()
    assert "HTTP/1.1" not in out + err
    assert [r for r in caplog.records if r.name == "werkzeug"] == []


def test_buckets_are_many_realistic_and_in_two_regions(clients: DemoClients) -> None:
    s3 = clients.s3
    names = _bucket_names(clients)
    assert len(names) >= 25
    assert {spec.name for spec in BUCKETS} <= names
    regions = {s3.get_bucket_location(Bucket=n)["LocationConstraint"] or "us-east-1" for n in names}
    assert regions == set(DEMO_REGIONS)
    tagged = [n for n in names if "TagSet" in _tag_response(s3, n)]
    assert len(tagged) >= 0.75 * len(BUCKETS)
    code = _error_code(clients.s3control.get_public_access_block, AccountId=ACCOUNT_ID)
    assert code == "NoSuchPublicAccessBlockConfiguration"  # the account-level block is unset


def _tag_response(s3: Any, bucket: str) -> dict[str, Any]:
    try:
        return dict(s3.get_bucket_tagging(Bucket=bucket))
    except ClientError:
        return {}


def test_buckets_mix_private_public_and_narrowed_access(clients: DemoClients) -> None:
    s3 = clients.s3
    block = s3.get_public_access_block(Bucket="acme-prod-customer-uploads")
    assert all(block["PublicAccessBlockConfiguration"].values())
    code = _error_code(s3.get_public_access_block, Bucket="acme-press-kit")
    assert code == "NoSuchPublicAccessBlockConfiguration"
    assert (ALL_USERS, "READ") in _grants(s3, "acme-press-kit")
    assert (AUTHENTICATED_USERS, "READ") in _grants(s3, "acme-partner-downloads")
    assert {(LOG_DELIVERY, "WRITE"), (LOG_DELIVERY, "READ_ACP")} <= _grants(s3, "acme-s3-access-logs-use1")
    site = _policy(s3, "acme-marketing-site")["Statement"][0]
    assert (site["Effect"], site["Principal"], site["Action"]) == ("Allow", "*", "s3:GetObject")
    assert "Condition" not in site
    assert s3.get_bucket_website(Bucket="acme-marketing-site")["IndexDocument"]
    vpc_only = _policy(s3, "acme-internal-tools")["Statement"][0]["Condition"]
    assert vpc_only["StringEquals"]["aws:SourceVpc"].startswith("vpc-")
    ip_only = _policy(s3, "acme-eu-analytics-exports")["Statement"][0]["Condition"]
    assert ip_only["IpAddress"]["aws:SourceIp"] == ["203.0.113.0/24", "198.51.100.0/24"]


def test_buckets_encryption_versioning_logging_and_ownership(clients: DemoClients) -> None:
    s3 = clients.s3

    def algorithm(bucket: str) -> str:
        rule = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]
        return str(rule["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"])

    assert algorithm("acme-prod-customer-uploads") == "aws:kms"
    assert algorithm("acme-marketing-site") == "AES256"
    assert sum(spec.sse is not None for spec in BUCKETS) >= 20
    code = _error_code(s3.get_bucket_encryption, Bucket="acme-legacy-ftp-mirror")
    assert code == "ServerSideEncryptionConfigurationNotFoundError"
    assert s3.get_bucket_versioning(Bucket="acme-terraform-state")["Status"] == "Enabled"
    assert "Status" not in s3.get_bucket_versioning(Bucket="acme-press-kit")
    logging = s3.get_bucket_logging(Bucket="acme-eu-customer-data")["LoggingEnabled"]
    assert logging["TargetBucket"] == "acme-s3-access-logs-euw1"
    rules = s3.get_bucket_ownership_controls(Bucket="acme-hr-documents")["OwnershipControls"]
    assert rules["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]


def test_security_groups_span_two_regions(clients: DemoClients) -> None:
    named = {
        (region, group["GroupName"])
        for region in DEMO_REGIONS
        for group in clients.ec2[region].describe_security_groups()["SecurityGroups"]
        if group["GroupName"] != "default"
    }
    assert len(named) >= 10
    assert {region for region, _ in named} == set(DEMO_REGIONS)

    ec2 = clients.ec2["us-east-1"]
    web = find_security_group(ec2, "acme-web")["IpPermissions"]
    https = [p for p in web if p["FromPort"] == 443]
    assert {r["CidrIp"] for p in https for r in p["IpRanges"]} == {"0.0.0.0/0"}
    assert {r["CidrIpv6"] for p in https for r in p["Ipv6Ranges"]} == {"::/0"}
    bastion = find_security_group(ec2, "acme-bastion")["IpPermissions"]
    assert [(p["FromPort"], p["IpRanges"][0]["CidrIp"]) for p in bastion] == [(22, "203.0.113.0/24")]
    app_id = find_security_group(ec2, "acme-app")["GroupId"]
    db = find_security_group(ec2, "acme-db")["IpPermissions"]
    assert [(p["FromPort"], p["UserIdGroupPairs"][0]["GroupId"]) for p in db] == [(5432, app_id)]
    monitoring = find_security_group(ec2, "acme-monitoring")["IpPermissions"]
    assert any(p["PrefixListIds"] for p in monitoring)


def test_iam_users_groups_and_password_policy(clients: DemoClients) -> None:
    iam = clients.iam
    users = [u["UserName"] for u in iam.list_users()["Users"]]
    assert len(users) >= 8

    def has_login(user: str) -> bool:
        try:
            iam.get_login_profile(UserName=user)
        except iam.exceptions.NoSuchEntityException:
            return False
        return True

    logins = {u: has_login(u) for u in users}
    mfa = {u: bool(iam.list_mfa_devices(UserName=u)["MFADevices"]) for u in users}
    keys = {u: [k["Status"] for k in iam.list_access_keys(UserName=u)["AccessKeyMetadata"]] for u in users}
    assert set(logins.values()) == {True, False}
    assert any(logins[u] and not mfa[u] for u in users)  # console users without MFA
    assert sum(mfa.values()) >= 4
    assert any(not k for k in keys.values())
    assert "Inactive" in keys["svc-backup-agent"]
    assert sorted(keys["frank.li"]) == ["Active", "Inactive"]
    attached = iam.list_attached_user_policies(UserName="svc-terraform")["AttachedPolicies"]
    assert attached[0]["PolicyArn"] == "arn:aws:iam::aws:policy/AdministratorAccess"
    assert iam.list_user_policies(UserName="svc-monitoring")["PolicyNames"] == ["cloudwatch-read"]
    groups = iam.list_groups_for_user(UserName="alice.nguyen")["Groups"]
    assert [g["GroupName"] for g in groups] == ["Admins"]
    assert {"Key": "contractor", "Value": "true"} in iam.list_user_tags(UserName="erin.walsh")["Tags"]
    policy = iam.get_account_password_policy()["PasswordPolicy"]
    assert policy["MinimumPasswordLength"] == 14
    assert policy["PasswordReusePrevention"] == 24


def test_drift_makes_the_invoices_bucket_public(clients: DemoClients, drifted: dict[str, Any]) -> None:
    assert all(drifted["block"].values())
    assert drifted["policy"]["Statement"][0]["Effect"] == "Deny"  # TLS only: not public
    code = _error_code(clients.s3.get_public_access_block, Bucket=DRIFTED_BUCKET)
    assert code == "NoSuchPublicAccessBlockConfiguration"
    statement = _policy(clients.s3, DRIFTED_BUCKET)["Statement"][0]
    assert (statement["Effect"], statement["Principal"]) == ("Allow", "*")
    assert statement["Action"] == "s3:GetObject"


def test_drift_opens_ssh_to_the_world(clients: DemoClients, drifted: dict[str, Any]) -> None:
    assert drifted["ssh"] == {"203.0.113.0/24"}
    assert _ssh_sources(clients) == {"203.0.113.0/24", "0.0.0.0/0", "::/0"}


def test_drift_removes_a_console_users_mfa(clients: DemoClients, drifted: dict[str, Any]) -> None:
    iam = clients.iam
    assert len(drifted["mfa"]) == 1
    assert iam.get_login_profile(UserName=MFA_REMOVED_USER)["LoginProfile"]
    assert iam.list_mfa_devices(UserName=MFA_REMOVED_USER)["MFADevices"] == []
    serials = [d["SerialNumber"] for d in iam.list_virtual_mfa_devices()["VirtualMFADevices"]]
    assert drifted["mfa"][0]["SerialNumber"] not in serials


def test_drift_adds_a_bucket_and_changes_a_tag(clients: DemoClients, drifted: dict[str, Any]) -> None:
    assert NEW_BUCKET not in drifted["buckets"]
    assert _bucket_names(clients) == drifted["buckets"] | {NEW_BUCKET}
    assert drifted["tags"][TAGGED_BUCKET_TAG] == TAGGED_BUCKET_OLD_VALUE
    after = _tags(clients.s3, TAGGED_BUCKET)
    assert after == {**drifted["tags"], TAGGED_BUCKET_TAG: TAGGED_BUCKET_NEW_VALUE}


def _rotation(clients: DemoClients, alias: str) -> bool:
    kms = clients.kms["us-east-1"]
    return bool(kms.get_key_rotation_status(KeyId=key_id(kms, alias))["KeyRotationEnabled"])


def _db(clients: DemoClients, name: str) -> dict[str, Any]:
    return dict(clients.rds["us-east-1"].describe_db_instances(DBInstanceIdentifier=name)["DBInstances"][0])


def test_roles_trails_keys_and_databases_are_seeded(clients: DemoClients) -> None:
    roles = {r["RoleName"] for r in clients.iam.list_roles()["Roles"]}
    assert set(data.ROLES) <= roles
    trails = {
        t["Name"]: t
        for region in DEMO_REGIONS
        for t in clients.cloudtrail[region].describe_trails()["trailList"]
    }
    assert set(trails) == {t.name for t in data.TRAILS}
    assert (
        trails[data.STOPPED_TRAIL]["IsMultiRegionTrail"]
        and trails[data.STOPPED_TRAIL]["LogFileValidationEnabled"]
    )
    assert _rotation(clients, "alias/acme-s3-data") and not _rotation(clients, data.LEGACY_KEY)
    for name, (region, _) in data.DB_INSTANCES.items():
        db = clients.rds[region].describe_db_instances(DBInstanceIdentifier=name)["DBInstances"][0]
        assert (db["StorageEncrypted"], db["DeletionProtection"]) == (True, True)
    cluster = clients.rds["us-east-1"].describe_db_clusters(DBClusterIdentifier=data.DB_CLUSTER)[
        "DBClusters"
    ][0]
    assert cluster["StorageEncrypted"]


def test_drift_opens_a_role_stops_a_trail_turns_rotation_off_and_makes_a_database_public(
    clients: DemoClients, drifted: dict[str, Any]
) -> None:
    principals = lambda doc: doc["Statement"][0]["Principal"]["AWS"]  # noqa: E731
    assert principals(drifted["trust"]) == f"arn:aws:iam::{ACCOUNT_ID}:root"
    after = clients.iam.get_role(RoleName=data.TRUST_OPENED_ROLE)["Role"]["AssumeRolePolicyDocument"]
    assert f"arn:aws:iam::{data.PARTNER_ACCOUNT}:root" in principals(after)
    assert drifted["logging"] is True
    assert clients.cloudtrail["us-east-1"].get_trail_status(Name=data.STOPPED_TRAIL)["IsLogging"] is False
    assert drifted["rotation"] is True and _rotation(clients, data.ROTATION_OFF_KEY) is False
    assert drifted["public_db"] is False and _db(clients, data.PUBLIC_DB)["PubliclyAccessible"] is True
    policy = clients.iam.get_account_password_policy()["PasswordPolicy"]
    assert policy["MinimumPasswordLength"] == data.WEAKENED_PASSWORD_LENGTH
