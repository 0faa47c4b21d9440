"""Policy normalisation and statement analysis (aws-semantics.md cases 1, 3 and 13)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from deepdiff import DeepDiff

from driftwatch.policy import (
    condition_restricts,
    normalise_policy,
    s3_access,
    statement_denies_all_to_everyone,
    statement_public_principal,
    statement_s3_access,
)

# Case 13: two versions of one managed policy that mean the same thing.
V1 = {
    "Version": "2012-10-17",
    "Statement": {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::example-reports/*"},
}
V2 = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": ["S3:getobject"], "Resource": ["arn:aws:s3:::example-reports/*"]}
    ],
}


def test_case_13_versions_normalise_to_the_same_document() -> None:
    expected = {
        "Version": "2012-10-17",
        "Statement": [
            {"Action": ["s3:getobject"], "Effect": "Allow", "Resource": ["arn:aws:s3:::example-reports/*"]}
        ],
    }
    assert normalise_policy(V1) == expected
    assert normalise_policy(V2) == expected


def test_case_13_semantic_diff_is_empty_after_normalisation_only() -> None:
    assert DeepDiff(V1, V2) != {}  # without normalisation: type changes (dict -> list, str -> list)
    assert DeepDiff(normalise_policy(V1), normalise_policy(V2)) == {}


@pytest.mark.parametrize("principal", ["*", {"AWS": "*"}, {"AWS": ["*"]}])
def test_case_13_principal_spellings_mean_everyone(principal: Any) -> None:
    statement = {"Effect": "Allow", "Principal": principal, "Action": "s3:GetObject"}
    policy = normalise_policy({"Statement": [statement]})
    assert policy["Statement"][0]["Principal"] == {"AWS": ["*"]}
    assert statement_public_principal(statement) is True
    assert statement_public_principal(policy["Statement"][0]) is True


@pytest.mark.parametrize(
    ("statement", "public"),
    [
        ({"Effect": "Allow", "Principal": {"CanonicalUser": "*"}}, True),
        ({"Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam::444455556666:root", "*"]}}, True),
        ({"Effect": "Allow", "NotPrincipal": {"AWS": "arn:aws:iam::444455556666:root"}}, True),
        ({"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::444455556666:root"}}, False),
        ({"Effect": "Allow", "Principal": {"Service": "logging.s3.amazonaws.com"}}, False),
        ({"Effect": "Deny", "Principal": "*"}, False),
        ({"Effect": "Allow"}, False),
    ],
)
def test_public_principal(statement: dict[str, Any], public: bool) -> None:
    assert statement_public_principal(statement) is public


def test_resource_and_condition_values_keep_their_case() -> None:
    policy = normalise_policy(
        json.dumps(
            {
                "Statement": {
                    "Sid": "VpcOnly",
                    "Effect": "Allow",
                    "Principal": {"AWS": "arn:aws:iam::444455556666:Role/Ops"},
                    "Action": ["S3:PutObject", "s3:GetObject", "s3:getobject"],
                    "Resource": ["arn:aws:s3:::Example-Reports/*", "arn:aws:s3:::Example-Reports"],
                    "Condition": {
                        "StringEquals": {"aws:SourceVpc": "vpc-0ABC", "AWS:SourceAccount": ["2", "1"]},
                        "Bool": {"aws:SecureTransport": False},
                        "NumericLessThan": {"s3:max-keys": [10, 9]},
                    },
                }
            }
        )
    )
    assert policy["Statement"] == [
        {
            "Action": ["s3:getobject", "s3:putobject"],
            "Condition": {
                "bool": {"aws:securetransport": [False]},
                "numericlessthan": {"s3:max-keys": [10, 9]},
                "stringequals": {"aws:sourceaccount": ["1", "2"], "aws:sourcevpc": ["vpc-0ABC"]},
            },
            "Effect": "Allow",
            "Principal": {"AWS": ["arn:aws:iam::444455556666:Role/Ops"]},
            "Resource": ["arn:aws:s3:::Example-Reports", "arn:aws:s3:::Example-Reports/*"],
            "Sid": "VpcOnly",
        }
    ]


def test_statement_order_means_nothing_and_normalising_twice_changes_nothing() -> None:
    a = {"Sid": "A", "Effect": "Allow", "Action": "s3:GetObject", "NotResource": "arn:aws:s3:::x"}
    b = {"Sid": "B", "Effect": "Deny", "NotAction": ["S3:Put*", "s3:Delete*"], "Principal": "*"}
    first = normalise_policy({"Version": "2012-10-17", "Statement": [a, b]})
    assert first == normalise_policy(json.dumps({"Version": "2012-10-17", "Statement": [b, a]}))
    assert normalise_policy(first) == first
    assert [s["Sid"] for s in first["Statement"]] == ["A", "B"]  # sorted by canonical JSON
    assert first["Statement"][0]["NotResource"] == ["arn:aws:s3:::x"]
    assert first["Statement"][1]["NotAction"] == ["s3:delete*", "s3:put*"]
    assert first["Statement"][1]["Principal"] == {"AWS": ["*"]}


def test_odd_shapes_do_not_crash() -> None:
    assert normalise_policy("{}") == {"Statement": []}
    assert normalise_policy({"Statement": [{"Effect": "Allow"}, "junk"]})["Statement"] == [
        "junk",
        {"Effect": "Allow"},
    ]
    assert normalise_policy({"Statement": [{"Action": None, "Condition": "x"}]})["Statement"] == [
        {"Action": [], "Condition": "x"}
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json", "not valid JSON"),
        ('["a list"]', "must be a JSON object"),
        ("", "not valid JSON"),
    ],
)
def test_non_json_policy_raises_a_clear_value_error(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        normalise_policy(text)


def _with(condition: dict[str, Any]) -> dict[str, Any]:
    return {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Condition": condition}


@pytest.mark.parametrize(
    ("condition", "restricts"),
    [
        # Case 1 and its variants.
        ({"StringEquals": {"aws:sourcevpc": "vpc-0example1111"}}, True),
        ({"StringEquals": {"aws:SourceVpc": "vpc-0example1111"}}, True),
        ({"StringNotEquals": {"aws:sourcevpc": "vpc-0example1111"}}, False),
        ({"StringEqualsIfExists": {"aws:sourcevpc": "vpc-0example1111"}}, False),
        ({"StringLike": {"aws:sourcevpc": "*"}}, False),
        ({"StringLike": {"aws:sourcevpc": "vpc-*"}}, False),
        ({"StringLike": {"aws:sourcevpc": "vpc-0example1111"}}, True),
        ({"StringEquals": {"aws:sourcevpc": "*"}}, True),  # a literal star: matches nobody
        # Other keys and operators.
        ({"IpAddress": {"aws:SourceIp": ["203.0.113.0/24"]}}, True),
        ({"IpAddress": {"aws:SourceIp": ["203.0.113.0/24", "0.0.0.0/0"]}}, False),
        ({"IpAddress": {"aws:SourceIp": "::/0"}}, False),
        ({"NotIpAddress": {"aws:SourceIp": "203.0.113.0/24"}}, False),
        ({"ArnEquals": {"aws:SourceArn": "arn:aws:cloudtrail:eu-west-1:111122223333:trail/t"}}, True),
        ({"ArnLike": {"aws:SourceArn": "arn:aws:cloudtrail:*:111122223333:trail/*"}}, False),
        ({"ArnNotEquals": {"aws:SourceArn": "arn:aws:sns:eu-west-1:111122223333:t"}}, False),
        ({"StringEquals": {"aws:PrincipalOrgID": "o-example"}}, True),
        ({"StringEquals": {"aws:SourceAccount": "111122223333"}}, True),
        ({"ForAllValues:StringEquals": {"aws:SourceVpc": "vpc-0example1111"}}, False),
        ({"StringEquals": {"s3:prefix": "home/"}}, False),  # not a key that pins the caller
        ({"Bool": {"aws:SecureTransport": "true"}}, False),
        # Conditions AND together: one pinning entry is enough.
        ({"Bool": {"aws:SecureTransport": "true"}, "StringEquals": {"aws:SourceVpce": "vpce-1"}}, True),
        ({}, False),
    ],
)
def test_condition_restricts(condition: dict[str, Any], restricts: bool) -> None:
    assert condition_restricts(_with(condition)) is restricts
    assert condition_restricts(normalise_policy({"Statement": _with(condition)})["Statement"][0]) is restricts


def test_a_statement_without_condition_does_not_restrict() -> None:
    assert condition_restricts({"Effect": "Allow", "Principal": "*"}) is False


@pytest.mark.parametrize(
    ("actions", "expected"),
    [
        # Case 3 and its variants.
        (["s3:Get*"], {"read", "read-acp"}),
        (["s3:*"], {"read", "write", "read-acp", "write-acp"}),
        (["*"], {"read", "write", "read-acp", "write-acp"}),
        (["s3:PutObject"], {"write"}),
        (["S3:GETOBJECT"], {"read"}),
        (["s3:ListBucket"], {"read"}),
        (["s3:DeleteObject", "s3:AbortMultipartUpload"], {"write"}),
        (["s3:PutBucketPolicy"], {"write-acp"}),
        (["s3:GetBucketAcl"], {"read-acp"}),
        (["s3:GetBucketLocation"], {"read-acp"}),  # any s3:Get* counts for S3, as configuration
        (["s3:PutBucketTagging"], {"write"}),  # any s3:Put* counts for S3
        (["s3:*Object"], {"read", "write"}),
        (["sqs:SendMessage"], set()),
    ],
)
def test_s3_access(actions: list[str], expected: set[str]) -> None:
    assert s3_access(actions) == frozenset(expected)


@pytest.mark.parametrize(
    ("not_actions", "expected"),
    [
        (["s3:Delete*", "s3:Put*"], {"read", "write", "read-acp"}),  # AbortMultipartUpload left
        (["s3:Put*", "s3:Delete*", "s3:AbortMultipartUpload", "s3:RestoreObject"], {"read", "read-acp"}),
        (["s3:*"], set()),
        (["s3:Get*", "s3:List*"], {"write", "write-acp"}),
    ],
)
def test_not_action_grants_everything_not_listed(not_actions: list[str], expected: set[str]) -> None:
    assert s3_access(not_actions, not_action=True) == frozenset(expected)
    assert statement_s3_access({"NotAction": not_actions}) == frozenset(expected)


@pytest.mark.parametrize(
    ("statement", "denies"),
    [
        (
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": ["arn:aws:s3:::b", "arn:aws:s3:::b/*"],
            },
            True,
        ),
        ({"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "*", "Resource": "*"}, True),
        ({"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "arn:aws:s3:::b/*"}, False),
        ({"Effect": "Deny", "Principal": "*", "Action": "s3:PutObject", "Resource": "*"}, False),
        (
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": "*",
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
            False,
        ),
        ({"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "*"}, False),
    ],
)
def test_denies_all_to_everyone(statement: dict[str, Any], denies: bool) -> None:
    resources = ("arn:aws:s3:::b", "arn:aws:s3:::b/*")
    assert statement_denies_all_to_everyone(statement, resources) is denies
