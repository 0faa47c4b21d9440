"""Effective S3 bucket exposure (aws-semantics.md cases 1, 3, 4, 5, 6 and 18)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from driftwatch.policy import normalise_policy
from driftwatch.rules.s3_exposure import BucketExposure, evaluate_bucket_exposure

OWNER = "canonical-id-owner-example"
OWNER_GRANT = {"Grantee": {"Type": "CanonicalUser", "ID": OWNER}, "Permission": "FULL_CONTROL"}
ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
AUTHENTICATED_USERS = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
LOG_DELIVERY = "http://acs.amazonaws.com/groups/s3/LogDelivery"
NO_ACCOUNT_BLOCK: dict[str, Any] = {"PublicAccessBlock": None}
ALL_FALSE = {
    "BlockPublicAcls": False,
    "IgnorePublicAcls": False,
    "BlockPublicPolicy": False,
    "RestrictPublicBuckets": False,
}


def group_grant(uri: str, permission: str) -> dict[str, Any]:
    return {"Grantee": {"Type": "Group", "URI": uri}, "Permission": permission}


def bucket_config(name: str, responses: dict[str, Any]) -> dict[str, Any]:
    """The canonical ``s3/bucket`` config for boto3-shaped responses (None: nothing configured)."""
    acl = responses.get("s3.get_bucket_acl", {"Owner": {"ID": OWNER}, "Grants": [OWNER_GRANT]})
    policy = responses.get("s3.get_bucket_policy")
    block = responses.get("s3.get_public_access_block")
    ownership = responses.get("s3.get_bucket_ownership_controls")
    return {
        "Acl": {
            "Grants": sorted(acl["Grants"], key=lambda g: json.dumps(g, sort_keys=True)),
            "Owner": acl["Owner"],
        },
        "Encryption": None,
        "Logging": None,
        "Name": name,
        "ObjectOwnership": ownership["OwnershipControls"]["Rules"][0]["ObjectOwnership"]
        if ownership
        else None,
        "Policy": normalise_policy(policy["Policy"]) if policy else None,
        "PolicyStatus": None,
        "PublicAccessBlock": block["PublicAccessBlockConfiguration"] if block else None,
        "Region": "eu-west-1",
        "Tags": {},
        "Versioning": {},
        "Website": None,
    }


def account_config(response: dict[str, Any] | None) -> dict[str, Any]:
    """The canonical ``s3/account-public-access-block`` config (None: no block configured)."""
    return {"PublicAccessBlock": response["PublicAccessBlockConfiguration"] if response else None}


def policy_response(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Policy": json.dumps({"Version": "2012-10-17", "Statement": list(statements)})}


# ---------------------------------------------------------------- case 1: VPC-pinned "*" policy


def case1_statement(condition: dict[str, Any]) -> dict[str, Any]:
    return {
        "Sid": "VpcOnly",
        "Effect": "Allow",
        "Principal": "*",
        "Action": "s3:GetObject",
        "Resource": "arn:aws:s3:::example-internal-reports/*",
        "Condition": condition,
    }


def case1(condition: dict[str, Any]) -> BucketExposure:
    bucket = bucket_config(
        "example-internal-reports", {"s3.get_bucket_policy": policy_response(case1_statement(condition))}
    )
    return evaluate_bucket_exposure(bucket, NO_ACCOUNT_BLOCK)


def test_case_1_policy_string_as_given_is_not_public() -> None:
    policy = (
        '{"Version":"2012-10-17","Statement":[{"Sid":"VpcOnly","Effect":"Allow","Principal":"*",'
        '"Action":"s3:GetObject","Resource":"arn:aws:s3:::example-internal-reports/*",'
        '"Condition":{"StringEquals":{"aws:sourcevpc":"vpc-0example1111"}}}]}'
    )
    bucket = bucket_config("example-internal-reports", {"s3.get_bucket_policy": {"Policy": policy}})
    assert evaluate_bucket_exposure(bucket, NO_ACCOUNT_BLOCK) == BucketExposure(status="private")


@pytest.mark.parametrize("key", ["aws:sourcevpc", "aws:SourceVpc", "AWS:SOURCEVPC"])
def test_case_1_fixed_source_vpc_in_any_letter_case_is_not_public(key: str) -> None:
    assert case1({"StringEquals": {key: "vpc-0example1111"}}).status == "private"


def test_case_1_string_equals_literal_star_matches_nobody_so_not_public() -> None:
    assert case1({"StringEquals": {"aws:sourcevpc": "*"}}).status == "private"


@pytest.mark.parametrize(
    "condition",
    [
        {"StringNotEquals": {"aws:sourcevpc": "vpc-0example1111"}},
        {"StringEqualsIfExists": {"aws:sourcevpc": "vpc-0example1111"}},
        {"StringLike": {"aws:sourcevpc": "*"}},
        {"StringLike": {"aws:sourcevpc": "vpc-*"}},
    ],
    ids=["StringNotEquals", "StringEqualsIfExists", "StringLike-star", "StringLike-vpc-star"],
)
def test_case_1_variants_that_make_it_public(condition: dict[str, Any]) -> None:
    exposure = case1(condition)
    assert exposure.status == "public"
    assert (exposure.read, exposure.write) == (True, False)
    assert exposure.via == (
        "policy statement 'VpcOnly' allows s3:getobject to everyone (its condition does not pin the caller)",
    )


# ---------------------------------------------------------------- case 3: read versus write


def case3(action: Any) -> BucketExposure:
    statement = {
        "Sid": "Site",
        "Effect": "Allow",
        "Principal": "*",
        "Action": action,
        "Resource": "arn:aws:s3:::example-website/*",
    }
    bucket = bucket_config("example-website", {"s3.get_bucket_policy": policy_response(statement)})
    return evaluate_bucket_exposure(bucket, NO_ACCOUNT_BLOCK)


def test_case_3_get_star_is_public_read_not_write() -> None:
    exposure = case3("s3:Get*")
    assert exposure.status == "public"
    assert exposure.read is True
    assert exposure.write is False
    assert exposure.acl_writable is False
    assert exposure.via == ("policy statement 'Site' allows s3:get* to everyone",)


@pytest.mark.parametrize(
    ("action", "read", "write"),
    [("s3:*", True, True), (["s3:PutObject"], False, True), ("S3:GETOBJECT", True, False)],
)
def test_case_3_variants(action: Any, read: bool, write: bool) -> None:
    exposure = case3(action)
    assert (exposure.status, exposure.read, exposure.write) == ("public", read, write)


def test_case_3_s3_star_is_as_bad_as_full_control() -> None:
    assert case3("s3:*").worst == "write-acp"
    assert case3("S3:GETOBJECT").worst == "read"
    assert case3("S3:GETOBJECT").via == ("policy statement 'Site' allows s3:getobject to everyone",)


# ---------------------------------------------------------------- case 4: Block Public Access

CASE4 = {
    "s3.get_bucket_acl": {"Owner": {"ID": OWNER}, "Grants": [OWNER_GRANT, group_grant(ALL_USERS, "READ")]},
    "s3.get_bucket_policy": policy_response(
        {
            "Effect": "Allow",
            "Principal": "*",
            "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::example-legacy/*",
        }
    ),
    "s3.get_public_access_block": {
        "PublicAccessBlockConfiguration": {
            "BlockPublicAcls": True,
            "IgnorePublicAcls": False,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": False,
        }
    },
}
CASE4_ACCOUNT = {"PublicAccessBlockConfiguration": ALL_FALSE}


def test_case_4_block_flags_do_not_neutralise_existing_grants() -> None:
    exposure = evaluate_bucket_exposure(bucket_config("example-legacy", CASE4), account_config(CASE4_ACCOUNT))
    assert exposure.status == "public"
    assert exposure.read is True
    assert exposure.write is False
    assert exposure.via == (
        "ACL grants READ to AllUsers (anyone on the internet)",
        "a policy statement allows s3:getobject to everyone",
    )
    assert exposure.unknown_because == ()


def test_case_4_variant_b_account_level_ignore_and_restrict_win() -> None:
    account = {
        "PublicAccessBlockConfiguration": {
            **ALL_FALSE,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }
    }
    exposure = evaluate_bucket_exposure(bucket_config("example-legacy", CASE4), account_config(account))
    assert exposure == BucketExposure(status="private")


@pytest.mark.parametrize(
    ("account", "unreadable", "why"),
    [
        (account_config(CASE4_ACCOUNT), True, "could not be read"),  # stale value not trusted
        (None, False, "is not known"),
    ],
)
def test_case_4_variant_c_account_block_unknown_gives_unknown(
    account: dict[str, Any] | None, unreadable: bool, why: str
) -> None:
    exposure = evaluate_bucket_exposure(
        bucket_config("example-legacy", CASE4), account, account_block_unreadable=unreadable
    )
    assert exposure.status == "unknown"
    assert (exposure.read, exposure.write, exposure.via) == (False, False, ())
    assert len(exposure.unknown_because) == 2
    assert exposure.unknown_because[0].startswith(
        "ACL grants READ to AllUsers (anyone on the internet), unless ACLs are disabled or ignored"
    )
    assert all(f"the account-level public access block {why}" in r for r in exposure.unknown_because)


def test_case_4_variant_c_bucket_flags_alone_can_settle_it() -> None:
    responses = {
        **CASE4,
        "s3.get_public_access_block": {
            "PublicAccessBlockConfiguration": {
                **ALL_FALSE,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            }
        },
    }
    exposure = evaluate_bucket_exposure(
        bucket_config("example-legacy", responses), None, account_block_unreadable=True
    )
    assert exposure == BucketExposure(status="private")


# ---------------------------------------------------------------- case 5: ACL grantees

CASE5_GRANTS = [
    OWNER_GRANT,
    group_grant(AUTHENTICATED_USERS, "READ"),
    group_grant(LOG_DELIVERY, "WRITE"),
    group_grant(ALL_USERS, "READ_ACP"),
]


def case5(
    grants: list[dict[str, Any]],
    bucket_block: dict[str, Any] | None = None,
    account_block: dict[str, Any] | None = None,
) -> BucketExposure:
    responses: dict[str, Any] = {"s3.get_bucket_acl": {"Owner": {"ID": OWNER}, "Grants": grants}}
    if bucket_block:
        responses["s3.get_public_access_block"] = {"PublicAccessBlockConfiguration": bucket_block}
    account = {"PublicAccessBlockConfiguration": account_block} if account_block else None
    return evaluate_bucket_exposure(bucket_config("example-shared", responses), account_config(account))


def test_case_5_authenticated_users_read_is_public_and_log_delivery_is_not() -> None:
    exposure = case5(CASE5_GRANTS)
    assert exposure.status == "public"
    assert exposure.read is True
    assert exposure.write is False  # LogDelivery WRITE is not public
    assert exposure.acl_readable is True  # AllUsers READ_ACP: the ACL, not the data
    assert exposure.worst == "read"
    assert set(exposure.via) == {
        "ACL grants READ to AuthenticatedUsers (anyone with an AWS account)",
        "ACL grants READ_ACP to AllUsers (anyone on the internet)",
    }


def test_case_5_log_delivery_alone_is_not_public() -> None:
    assert case5([OWNER_GRANT, group_grant(LOG_DELIVERY, "WRITE")]).status == "private"


def test_case_5_read_acp_alone_is_the_lowest_exposure() -> None:
    exposure = case5([OWNER_GRANT, group_grant(ALL_USERS, "READ_ACP")])
    assert (exposure.status, exposure.read, exposure.acl_readable) == ("public", False, True)
    assert exposure.worst == "read-acp"


@pytest.mark.parametrize(
    ("permission", "worst"),
    [
        ("FULL_CONTROL", "write-acp"),
        ("WRITE_ACP", "write-acp"),
        ("WRITE", "write"),
        ("READ", "read"),
        ("READ_ACP", "read-acp"),
    ],
)
def test_case_5_permission_severity_order(permission: str, worst: str) -> None:
    assert case5([group_grant(AUTHENTICATED_USERS, permission)]).worst == worst


@pytest.mark.parametrize("level", ["bucket", "account"])
def test_case_5_ignore_public_acls_at_either_level_neutralises_every_grant(level: str) -> None:
    flags = {**ALL_FALSE, "IgnorePublicAcls": True}
    exposure = case5(CASE5_GRANTS, **{f"{level}_block": flags})
    assert exposure == BucketExposure(status="private")


# ---------------------------------------------------------------- case 6: ObjectOwnership


def ownership(value: str) -> dict[str, Any]:
    return {"OwnershipControls": {"Rules": [{"ObjectOwnership": value}]}}


@pytest.mark.parametrize("value", ["BucketOwnerEnforced", "ObjectWriter"])
def test_case_6_owner_grant_alone_is_private_before_and_after(value: str) -> None:
    bucket = bucket_config("example-data", {"s3.get_bucket_ownership_controls": ownership(value)})
    assert bucket["ObjectOwnership"] == value
    assert evaluate_bucket_exposure(bucket, NO_ACCOUNT_BLOCK).status == "private"


@pytest.mark.parametrize(
    ("controls", "status"),
    [
        (ownership("BucketOwnerEnforced"), "private"),  # ACL content plays no part
        (ownership("ObjectWriter"), "public"),
        (ownership("BucketOwnerPreferred"), "public"),
        (None, "public"),  # never configured: the legacy behaviour, ACLs enabled
    ],
)
def test_case_6_acl_only_counts_while_acls_are_enabled(controls: Any, status: str) -> None:
    responses: dict[str, Any] = {
        "s3.get_bucket_acl": {
            "Owner": {"ID": OWNER},
            "Grants": [OWNER_GRANT, group_grant(ALL_USERS, "WRITE")],
        }
    }
    if controls:
        responses["s3.get_bucket_ownership_controls"] = controls
    exposure = evaluate_bucket_exposure(bucket_config("example-data", responses), NO_ACCOUNT_BLOCK)
    assert exposure.status == status
    assert exposure.write is (status == "public")


# ---------------------------------------------------------------- case 18: unreadable fields


def test_case_18_unreadable_acl_while_acls_count_is_unknown_not_private() -> None:
    exposure = evaluate_bucket_exposure(
        bucket_config("example-logs", {}), NO_ACCOUNT_BLOCK, unreadable=["Acl"]
    )
    assert exposure.status == "unknown"
    assert exposure.unknown_because == (
        "the bucket ACL could not be read, and ACLs are not known to be disabled or ignored",
    )


def test_case_18_unreadable_acl_does_not_matter_when_acls_are_disabled() -> None:
    bucket = bucket_config(
        "example-logs", {"s3.get_bucket_ownership_controls": ownership("BucketOwnerEnforced")}
    )
    del bucket["Acl"]  # a field missing from the config counts as unreadable
    assert evaluate_bucket_exposure(bucket, NO_ACCOUNT_BLOCK).status == "private"


def test_case_18_unreadable_policy_is_unknown_unless_restrict_public_buckets() -> None:
    bucket = bucket_config("example-logs", {})
    assert evaluate_bucket_exposure(bucket, NO_ACCOUNT_BLOCK, unreadable={"Policy"}).status == "unknown"
    restricted = account_config(
        {"PublicAccessBlockConfiguration": {**ALL_FALSE, "RestrictPublicBuckets": True}}
    )
    assert evaluate_bucket_exposure(bucket, restricted, unreadable={"Policy"}).status == "private"


def test_case_18_stale_public_access_block_is_not_trusted() -> None:
    responses = {
        **CASE4,
        "s3.get_public_access_block": {
            "PublicAccessBlockConfiguration": {
                **ALL_FALSE,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            }
        },
    }
    bucket = bucket_config("example-legacy", responses)
    exposure = evaluate_bucket_exposure(
        bucket, account_config(CASE4_ACCOUNT), unreadable=["PublicAccessBlock"]
    )
    assert exposure.status == "unknown"
    assert all("the bucket's PublicAccessBlock could not be read" in r for r in exposure.unknown_because)


def test_case_18_what_is_readable_can_still_prove_public() -> None:
    exposure = evaluate_bucket_exposure(
        bucket_config("example-legacy", CASE4), account_config(CASE4_ACCOUNT), unreadable=["Acl"]
    )
    assert exposure.status == "public"
    assert exposure.via == ("a policy statement allows s3:getobject to everyone",)
    assert exposure.unknown_because == (
        "the bucket ACL could not be read, and ACLs are not known to be disabled or ignored",
    )


# ---------------------------------------------------------------- deny statements


def test_unconditional_deny_of_everything_to_everyone_wins() -> None:
    responses = {
        **CASE4,
        "s3.get_bucket_policy": policy_response(
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": "arn:aws:s3:::example-legacy/*",
            },
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": ["arn:aws:s3:::example-legacy", "arn:aws:s3:::example-legacy/*"],
            },
        ),
    }
    exposure = evaluate_bucket_exposure(
        bucket_config("example-legacy", responses), account_config(CASE4_ACCOUNT)
    )
    assert exposure == BucketExposure(status="private")


def test_narrower_deny_is_ignored() -> None:
    responses = {
        **CASE4,
        "s3.get_bucket_policy": policy_response(
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": "arn:aws:s3:::example-legacy/*",
            },
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": "*",
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
        ),
    }
    exposure = evaluate_bucket_exposure(
        bucket_config("example-legacy", responses), account_config(CASE4_ACCOUNT)
    )
    assert exposure.status == "public"


def test_a_policy_judged_again_as_text_or_object_gives_the_same_verdict_and_a_broken_one_is_a_doubt() -> None:
    statement = {**case1_statement({}), "Sid": "Anyone"}
    bucket = bucket_config("example-site", {"s3.get_bucket_policy": policy_response(statement)})
    verdict = evaluate_bucket_exposure(bucket, NO_ACCOUNT_BLOCK)
    assert (verdict.status, verdict.read) == ("public", True)
    as_text = {**bucket, "Policy": json.dumps(bucket["Policy"])}
    for _ in range(2):  # the second time from what the first one normalised
        assert evaluate_bucket_exposure(bucket, NO_ACCOUNT_BLOCK) == verdict
        assert evaluate_bucket_exposure(as_text, NO_ACCOUNT_BLOCK) == verdict
    broken = evaluate_bucket_exposure({**bucket, "Policy": '{"Statement": ['}, NO_ACCOUNT_BLOCK)
    assert broken.status == "unknown"
    assert broken.unknown_because[0].startswith("the bucket policy could not be parsed (policy document is")
    listed = evaluate_bucket_exposure({**bucket, "Policy": [statement]}, NO_ACCOUNT_BLOCK)
    assert listed.unknown_because == (
        "the bucket policy could not be parsed (policy document must be a JSON object, not list)",
    )
