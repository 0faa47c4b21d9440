"""Canonical configuration: volatile fields, observations, order, and secret redaction."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from driftwatch.model import Resource, ResourceId
from driftwatch.normalise import Redactor, canonical, file_text, is_secret, normalise_resource, redact_text
from tests.support.fake_credentials import slack_token

REDACTOR = Redactor(b"local-test-key")
LAMBDA = ResourceId("aws", "111122223333", "eu-west-1", "lambda/function", "orders-api")


def case_15_read(request_id: str, last_used: str, service: str, retries: int) -> dict[str, object]:
    return {
        "UserName": "svc-deploy",
        "AccessKeyLastUsed": {"LastUsedDate": last_used, "ServiceName": service, "Region": "eu-west-1"},
        "ResponseMetadata": {
            "RequestId": request_id,
            "HTTPStatusCode": 200,
            "HTTPHeaders": {"date": "Thu, 01 May 2025 10:00:00 GMT"},
            "RetryAttempts": retries,
        },
        "AccessKeyMetadata": [
            {
                "UserName": "svc-deploy",
                "AccessKeyId": "AKIAEXAMPLEKEY00001",
                "Status": "Active",
                "CreateDate": "2024-11-02T08:00:00+00:00",
            }
        ],
    }


def test_case_15_volatile_fields_make_no_diff_but_are_observed() -> None:
    seen_1: dict[str, object] = {}
    seen_2: dict[str, object] = {}
    t1 = canonical(case_15_read("req-1", "2025-05-01T09:12:00+00:00", "s3", 0), observations=seen_1)
    t2 = canonical(case_15_read("req-2", "2025-05-01T10:47:00+00:00", "sts", 1), observations=seen_2)
    assert t1 == t2
    assert "ResponseMetadata" not in t1  # type: ignore[operator]
    assert seen_1 == {
        "AccessKeyLastUsed": {
            "LastUsedDate": "2025-05-01T09:12:00+00:00",
            "Region": "eu-west-1",
            "ServiceName": "s3",
        }
    }
    assert seen_2["AccessKeyLastUsed"]["ServiceName"] == "sts"  # type: ignore[index]


def test_case_15_status_change_and_new_key_are_drift() -> None:
    base = case_15_read("req-1", "x", "s3", 0)
    inactive = case_15_read("req-1", "x", "s3", 0)
    inactive["AccessKeyMetadata"][0]["Status"] = "Inactive"  # type: ignore[index]
    second = case_15_read("req-1", "x", "s3", 0)
    second["AccessKeyMetadata"].append(
        {
            "UserName": "svc-deploy",
            "AccessKeyId": "AKIAEXAMPLEKEY00002",  # type: ignore[attr-defined]
            "Status": "Active",
            "CreateDate": "2025-05-01T08:00:00+00:00",
        }
    )
    assert canonical(inactive) != canonical(base)
    assert canonical(second) != canonical(base)


def test_lists_are_sorted_and_dates_written_as_iso() -> None:
    value = {"b": [3, 1, 2], "a": [{"k": 2}, {"k": 1}], "when": datetime(2025, 1, 2, 3, 4, tzinfo=UTC)}
    assert canonical(value) == {
        "a": [{"k": 1}, {"k": 2}],
        "b": [1, 2, 3],
        "when": "2025-01-02T03:04:00+00:00",
    }
    assert canonical({"b": [3, 1]}, ordered={"b"}) == {"b": [3, 1]}


def test_policy_strings_are_decoded_and_normalised() -> None:
    doc = canonical(
        {
            "Policy": '{"Statement": {"Effect": "Allow", "Principal": "*", "Action": "S3:GetObject",'
            ' "Resource": "arn:aws:s3:::Example/*"}}'
        }
    )
    assert doc == {
        "Policy": {
            "Statement": [
                {
                    "Action": ["s3:getobject"],
                    "Effect": "Allow",
                    "Principal": {"AWS": ["*"]},
                    "Resource": ["arn:aws:s3:::Example/*"],
                }
            ]
        }
    }


def test_file_text_is_sorted_indented_and_ends_with_newline() -> None:
    assert (
        file_text({"b": 1, "a": {"d": 2, "c": 3}})
        == '{\n  "a": {\n    "c": 3,\n    "d": 2\n  },\n  "b": 1\n}\n'
    )


CASE_21 = {
    "FunctionName": "orders-api",
    "Runtime": "python3.12",
    "LastModified": "2025-04-30T12:00:00.000+0000",
    "Environment": {
        "Variables": {
            "DB_HOST": "orders.cluster-example.eu-west-1.rds.amazonaws.com",
            "DB_PASSWORD": "EXAMPLE-NOT-A-REAL-PASSWORD-1",
            "PAYMENT_API_KEY": "EXAMPLE-NOT-A-REAL-KEY-2",
            "AWS_CA_BUNDLE": "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
            "DB_SECRET_NAME": "prod/orders/db",
        }
    },
}


def test_case_21_every_lambda_environment_value_is_a_keyed_hash() -> None:
    stored = normalise_resource(Resource(LAMBDA, CASE_21), REDACTOR)
    variables = stored.config["Environment"]["Variables"]
    assert variables == {k: REDACTOR.redact(v) for k, v in CASE_21["Environment"]["Variables"].items()}  # type: ignore[attr-defined]
    assert variables["DB_PASSWORD"].startswith("[redacted hmac-sha256:")
    text = file_text(stored.config)
    assert "EXAMPLE-NOT-A-REAL" not in text
    assert "orders.cluster-example" not in text  # a secret need not look like one: none is kept


def test_case_21_elsewhere_only_secret_looking_values_are_redacted() -> None:
    bucket = ResourceId("aws", "111122223333", "eu-west-1", "s3/bucket", "example-orders")
    tags = {"Tags": CASE_21["Environment"]["Variables"]}  # type: ignore[index]
    stored = normalise_resource(Resource(bucket, tags), REDACTOR).config["Tags"]
    assert stored["DB_PASSWORD"] == REDACTOR.redact("EXAMPLE-NOT-A-REAL-PASSWORD-1")
    assert stored["PAYMENT_API_KEY"].startswith("[redacted hmac-sha256:")
    assert stored["DB_HOST"] == "orders.cluster-example.eu-west-1.rds.amazonaws.com"
    assert stored["AWS_CA_BUNDLE"] == "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem"
    assert stored["DB_SECRET_NAME"] == "prod/orders/db"


def test_case_21_a_changed_secret_shows_as_a_changed_digest() -> None:
    changed = {
        **CASE_21,
        "Environment": {
            "Variables": {
                **CASE_21["Environment"]["Variables"],  # type: ignore[dict-item]
                "DB_PASSWORD": "ANOTHER-PASSWORD",
            }
        },
    }
    before = normalise_resource(Resource(LAMBDA, CASE_21), REDACTOR).config["Environment"]["Variables"]
    after = normalise_resource(Resource(LAMBDA, changed), REDACTOR).config["Environment"]["Variables"]
    again = normalise_resource(Resource(LAMBDA, CASE_21), REDACTOR).config["Environment"]["Variables"]
    assert before["DB_PASSWORD"] != after["DB_PASSWORD"]
    assert before == again
    assert before["PAYMENT_API_KEY"] == after["PAYMENT_API_KEY"]
    # Another installation's key gives other digests: the digest alone cannot be looked up.
    other = normalise_resource(Resource(LAMBDA, CASE_21), Redactor(b"other-key")).config
    assert other["Environment"]["Variables"]["DB_PASSWORD"] != before["DB_PASSWORD"]


def test_redaction_is_idempotent() -> None:
    once = REDACTOR.redact("hunter2")
    assert REDACTOR.redact(once) == once


def test_secret_judgement() -> None:
    assert is_secret("MasterUserPassword", "pw")
    assert is_secret("client_secret", "abc")
    assert is_secret("AuthToken", "abc")
    assert is_secret("SOME_VAR", slack_token("123456789012-abcdefghij"))
    assert is_secret("key_pem", "-----BEGIN RSA PRIVATE KEY-----\nMIIE...")
    assert not is_secret("AccessKeyId", "AKIAEXAMPLEKEY00001")  # an identifier, not a secret
    assert not is_secret("KMSMasterKeyID", "arn:aws:kms:eu-west-1:111122223333:key/abc")
    assert not is_secret("Author", "alice")
    assert not is_secret("DB_PASSWORD_ARN", "arn:aws:secretsmanager:eu-west-1:111122223333:secret:x")
    assert not is_secret("PasswordResetRequired", True)
    assert not is_secret("MinimumPasswordLength", 14)
    assert not is_secret("DB_PASSWORD", "")


def test_secret_values_in_free_text_are_redacted_too() -> None:
    doc = canonical({"Description": "conn: Server=db;User=sa;Password=Sup3r;"}, redactor=REDACTOR)
    assert "Sup3r" not in str(doc)


def test_inline_policies_are_normalised_by_name() -> None:
    one = canonical(
        {
            "InlinePolicies": {
                "reports": {
                    "Statement": {
                        "Effect": "Allow",
                        "Action": "s3:GetObject",
                        "Resource": "arn:aws:s3:::example-reports/*",
                    }
                }
            }
        }
    )
    two = canonical(
        {
            "InlinePolicies": {
                "reports": {
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Action": ["S3:getobject"],
                            "Resource": ["arn:aws:s3:::example-reports/*"],
                        }
                    ]
                }
            }
        }
    )
    assert one == two
    assert one["InlinePolicies"]["reports"]["Statement"][0]["Action"] == ["s3:getobject"]  # type: ignore[index]


def test_website_routing_rules_keep_their_order() -> None:
    bucket = ResourceId("aws", "111122223333", "global", "s3/bucket", "site", "arn:aws:s3:::site")
    rules = [{"Redirect": {"HostName": "b.example"}}, {"Redirect": {"HostName": "a.example"}}]
    stored = normalise_resource(
        Resource(bucket, {"Website": {"RoutingRules": rules}, "Tags": {"b": "1"}}), REDACTOR
    )
    assert stored.config["Website"]["RoutingRules"] == rules


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("error: cannot list buckets; token=SECRETTOKEN123", "SECRETTOKEN123"),
        ('{"error": "bad request", "api_key": "live_9f8e7d6c5b4a"}', "live_9f8e7d6c5b4a"),
        ("PRIVATE-TOKEN: glpat-abcdefgh1234", "glpat-abcdefgh1234"),
        ("Authorization: Bearer abc.def-1234567", "abc.def-1234567"),
        ("GET https://api.example.com/v1?api_key=k3y-value&page=2", "k3y-value"),
    ],
)
def test_redact_text_hides_a_secret_in_free_text_and_keeps_the_rest(text: str, secret: str) -> None:
    assert redact_text(text, REDACTOR) == text.replace(secret, REDACTOR.redact(secret))


@pytest.mark.parametrize(
    "text",
    [
        "HTTP 401: Basic authentication required",
        "token_type=bearer, expires_in: 3600",
        "https://api.example.com/v1/items?page=2: HTTP 500",
        "password_policy: strict; auth_mode=oauth",
    ],
)
def test_redact_text_leaves_what_only_talks_about_secrets(text: str) -> None:
    assert redact_text(text, REDACTOR) == text
