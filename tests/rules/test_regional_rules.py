"""The rules of the regional services on documented input shapes: where moto lacks an API (EC2
account settings), and the variants a real account shows (conditions, block public access, case 21)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from driftwatch.collectors.aws.lambda_functions import function_config
from driftwatch.model import Finding, Resource, ResourceId
from driftwatch.normalise import Redactor, is_secret, normalise_resource
from tests.rules.test_rules import findings, state
from tests.support.fake_credentials import aws_access_key_id, slack_token

ACCOUNT = "111122223333"
REGION = "eu-west-1"
SETTINGS = ResourceId("aws", ACCOUNT, REGION, "ec2/account-settings", "account")
SNAPSHOT = ResourceId(
    "aws", ACCOUNT, REGION, "ebs/snapshot", "snap-0example1", f"arn:aws:ec2:{REGION}::snapshot/snap-0example1"
)
IMAGE = ResourceId(
    "aws", ACCOUNT, REGION, "ami/image", "ami-0example1", f"arn:aws:ec2:{REGION}::image/ami-0example1"
)
FUNCTION = ResourceId(
    "aws",
    ACCOUNT,
    REGION,
    "lambda/function",
    "orders-api",
    f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:orders-api",
)
TOPIC = ResourceId("aws", ACCOUNT, REGION, "sns/topic", "alerts", f"arn:aws:sns:{REGION}:{ACCOUNT}:alerts")
QUEUE = ResourceId("aws", ACCOUNT, REGION, "sqs/queue", "jobs", f"arn:aws:sqs:{REGION}:{ACCOUNT}:jobs")
RECORDERS = ResourceId("aws", ACCOUNT, REGION, "config/recorders", "account")


def rules_of(found: list[Finding], rule: str) -> list[tuple[str, str]]:
    return [(f.resource.key, f.message) for f in found if f.rule == rule]


# -- case 21: secrets judged by key name and value together ------------------------------------------------

CASE_21_ANSWER = {  # lambda.get_function_configuration of case 21 (ListFunctions entries have this shape)
    "FunctionName": "orders-api",
    "FunctionArn": FUNCTION.arn,
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


def test_case_21_plaintext_secret_names_the_two_secrets_and_not_the_path_or_the_secret_name() -> None:
    config = normalise_resource(Resource(FUNCTION, function_config(CASE_21_ANSWER)), Redactor(b"k")).config

    found = findings(state(FUNCTION, dict(config)))

    assert rules_of(found, "plaintext-secret") == [
        (
            FUNCTION.key,
            f"lambda function orders-api: environment variable {key} holds a secret in plain text (any "
            "reader of the function's configuration sees it); keep it in Secrets Manager or Parameter "
            "Store and pass its name",
        )
        for key in ("DB_PASSWORD", "PAYMENT_API_KEY")
    ]
    assert "EXAMPLE-NOT-A-REAL" not in json.dumps([f.message for f in found])
    assert "LastModified" not in config
    assert config["Environment"]["SecretLike"] == ["DB_PASSWORD", "PAYMENT_API_KEY"]  # type: ignore[index]


MISSED_SECRETS = {  # the audit's examples: stored in clear before, with no finding
    "REDIS_URL": "redis://:EXAMPLE-PW-4@cache:6379",  # a password and no user
    "SENDGRID_KEY": "SG.EXAMPLEEXAMPLEEXAMPLE.EXAMPLEEXAMPLEEXAMPLEEXAMPLE",
    "APP_KEY": "base64:RVhBTVBMRS1OT1QtQS1SRUFMLUtFWS01Cg==",
    "MASTER_KEY": "0f1e2d3c4b5a69788796a5b4c3d2e1f0",
}


def test_case_21_every_value_is_hashed_and_the_missed_secrets_are_found() -> None:
    variables: dict[str, str] = {**CASE_21_ANSWER["Environment"]["Variables"]}  # type: ignore[index]
    variables |= MISSED_SECRETS | {"CACHE_KEY": "orders-by-day"}
    answer = {**CASE_21_ANSWER, "Environment": {"Variables": variables}}
    config = normalise_resource(Resource(FUNCTION, function_config(answer)), Redactor(b"k")).config

    found = rules_of(findings(state(FUNCTION, dict(config))), "plaintext-secret")

    assert [m.split(": ")[1].split(" ")[2] for _, m in found] == sorted(
        ["DB_PASSWORD", "PAYMENT_API_KEY", *MISSED_SECRETS]
    )
    assert config["Environment"]["Variables"] == {  # type: ignore[index]
        k: Redactor(b"k").redact(v) for k, v in variables.items()
    }
    text = json.dumps(config)
    for value in variables.values():
        assert value not in text


def test_a_document_stored_before_secret_like_was_recorded_is_judged_by_its_redacted_values() -> None:
    # Stored by an earlier driftwatch: only the secret-looking values hashed, no SecretLike.
    earlier = function(None, None) | {
        "Environment": {"Variables": {"DB_PASSWORD": Redactor(b"k").redact("x"), "DB_HOST": "db.internal"}}
    }
    found = rules_of(findings(state(FUNCTION, earlier)), "plaintext-secret")
    assert [m.split(": ")[1].split(" ")[2] for _, m in found] == ["DB_PASSWORD"]


@pytest.mark.parametrize(
    ("key", "value", "secret"),
    [
        ("DB_PASSWORD", "EXAMPLE-NOT-A-REAL-PASSWORD-1", True),
        ("PAYMENT_API_KEY", "EXAMPLE-NOT-A-REAL-KEY-2", True),
        ("jwtSecret", "c2VjcmV0LXZhbHVl", True),
        ("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", True),
        ("DATABASE_URL", "postgres://orders:EXAMPLE-PW@db.internal:5432/orders", True),  # by its value
        ("SLACK", slack_token("0000000000-EXAMPLEEXAMPLE"), True),
        ("AUTHORIZATION", "Bearer EXAMPLEEXAMPLEEXAMPLE1234", True),
        ("AWS_CA_BUNDLE", "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem", False),  # a file path
        ("DB_SECRET_NAME", "prod/orders/db", False),  # a secret's name
        (
            "DB_PASSWORD_SECRET_ARN",
            "arn:aws:secretsmanager:eu-west-1:111122223333:secret:prod/orders/db",
            False,
        ),
        ("DB_PASSWORD", "{{resolve:secretsmanager:prod/orders/db:SecretString:password}}", False),
        ("DB_PASSWORD_FILE", "/run/secrets/db-password", False),
        ("ACCESS_KEY_ID", aws_access_key_id("EXAMPLEEXAMPLE01"), False),  # an id, not the secret
        ("TOKEN_TTL", "3600", False),
        ("ENABLE_TOKEN_AUTH", "true", False),
        ("DB_HOST", "orders.cluster-example.eu-west-1.rds.amazonaws.com", False),
        # Short spellings of a password, and a password that starts with a slash.
        ("DB_PASS", "hunter2-plain", True),
        ("SMTP_PASS", "mail-plain-99", True),
        ("REDIS_AUTH", "redis-plain-42", True),
        ("MYSQL_PW", "EXAMPLE-PW-3", True),
        ("SENTRY_DSN", "EXAMPLE-DSN-KEY", True),
        ("PASSWORD", "/hunter2", True),
        ("DB_PASSWORD", "/run/secrets/db-password", False),  # a path of two parts: where it is kept
        ("CONFIG_PASSWORD", "./secrets/db", False),
        ("SLACK_WEBHOOK_URL", "https://hooks.slack.com/services/T0EXAMPLE/B0EXAMPLE/EXAMPLEEXAMPLE", True),
        # Settings about a secret, not the secret.
        ("AUTH_MODE", "password", False),
        ("AUTH_TYPE", "NONE", False),
        ("PASSWORD_ROTATION", "monthly", False),
        ("Author", "alice", False),
        # The audit's misses: a URL with a password and no user, keys named only "..._KEY".
        ("REDIS_URL", "redis://:EXAMPLE-PW-4@cache:6379", True),
        ("SENDGRID_KEY", "SG.xxxxx", True),
        ("ANY_NAME", "SG.EXAMPLEEXAMPLEEXAMPLE.EXAMPLEEXAMPLEEXAMPLEEXAMPLE", True),  # its shape says it
        ("APP_KEY", "base64:RVhBTVBMRS1OT1QtQS1SRUFMLUtFWS01Cg==", True),
        ("MASTER_KEY", "0f1e2d3c4b5a69788796a5b4c3d2e1f0", True),
        ("LICENSE_KEY", "EXAM-1234-PLE5-6789", True),
        # ..._KEY that is not key material: a word, a path, a reference, a public half, a data key.
        ("REDIS_URL", "redis://cache:6379/0", False),
        ("CACHE_KEY", "0f1e2d3c4b5a69788796a5b4c3d2e1f0", False),
        ("PARTITION_KEY", "customer_id", False),
        ("SORT_KEY", "createdAt", False),
        ("KMS_KEY", "alias/orders", False),
        ("KMS_KEY", "1234abcd-12ab-34cd-56ef-1234567890ab", False),
        ("PUBLIC_KEY", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEXAMPLE", False),
        ("APP_KEY", "orders-api", False),
        ("SIGNING_KEY_FILE", "/run/secrets/signing.pem", False),
        ("MASTER_KEY", "/etc/app/master.key", False),
        ("SENDGRID_KEY", "arn:aws:secretsmanager:eu-west-1:111122223333:secret:sendgrid", False),
        ("SENDGRID_KEY", "prod/orders/sendgrid", False),  # a secret's name
    ],
)
def test_case_21_secret_or_not_by_key_and_value_together(key: str, value: str, secret: bool) -> None:
    assert is_secret(key, value) is secret


# -- Lambda function URL -----------------------------------------------------------------------------------


def function(url: dict[str, Any] | None, policy: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "FunctionName": "orders-api",
        "Environment": {"Variables": {}},
        "FunctionUrl": url,
        "Policy": policy,
    }


URL = {
    "AuthType": "NONE",
    "FunctionUrl": "https://example.lambda-url.eu-west-1.on.aws/",
    "InvokeMode": "BUFFERED",
}
URL_PERMISSION = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeFunctionUrl", "Resource": FUNCTION.arn,
         "Condition": {"StringEquals": {"lambda:FunctionUrlAuthType": "NONE"}}}
    ],
}  # fmt: skip


def test_function_url_without_auth_is_public_and_says_whether_the_policy_already_lets_everyone_in() -> None:
    open_now = rules_of(findings(state(FUNCTION, function(URL, URL_PERMISSION))), "lambda-url-public")
    not_yet = rules_of(findings(state(FUNCTION, function(URL, None))), "lambda-url-public")
    signed = rules_of(
        findings(state(FUNCTION, function(URL | {"AuthType": "AWS_IAM"}, URL_PERMISSION))),
        "lambda-url-public",
    )

    assert [m.rsplit(": ", 1)[1] for _, m in open_now] == ["anyone on the internet can call it"]
    assert [m.rsplit(": ", 1)[1] for _, m in not_yet] == [
        "anyone could call it as soon as its resource policy allows lambda:InvokeFunctionUrl to *"
    ]
    assert signed == []


def test_an_alias_url_without_auth_is_public_judged_by_the_aliases_own_policy() -> None:
    # lambda.get_function_url_config(FunctionName="orders-api", Qualifier="live") and
    # lambda.get_policy(..., Qualifier="live"): an alias has its own URL and policy (moto ignores
    # the Qualifier of the first). The function itself has neither here.
    alias_url = URL | {"FunctionUrl": "https://live-example.lambda-url.eu-west-1.on.aws/"}
    alias_arn = f"{FUNCTION.arn}:live"
    alias_permission = {
        **URL_PERMISSION,
        "Statement": [{**URL_PERMISSION["Statement"][0], "Resource": alias_arn}],
    }
    aliases = {
        "live": {"FunctionUrl": alias_url, "Policy": alias_permission},
        "canary": {"FunctionUrl": alias_url | {"AuthType": "AWS_IAM"}, "Policy": alias_permission},
        "beta": {"FunctionUrl": None, "Policy": None},
    }
    found = rules_of(
        findings(state(FUNCTION, function(None, None) | {"Aliases": aliases})), "lambda-url-public"
    )
    # The function's own policy lets everyone in, but not through the alias's URL.
    not_yet = rules_of(
        findings(
            state(
                FUNCTION,
                function(None, URL_PERMISSION)
                | {"Aliases": {"live": {"FunctionUrl": alias_url, "Policy": None}}},
            )
        ),
        "lambda-url-public",
    )

    assert found == [
        (
            FUNCTION.key,
            "lambda function orders-api: alias live's function URL "
            "https://live-example.lambda-url.eu-west-1.on.aws/ has auth type NONE: anyone on the internet "
            "can call it",
        )
    ]
    assert [m.rsplit(": ", 1)[1] for _, m in not_yet] == [
        "anyone could call it as soon as its resource policy allows lambda:InvokeFunctionUrl to *"
    ]


# -- EC2 account settings (moto lacks three of the calls: the documented shapes) ---------------------------


def settings(**fields: Any) -> dict[str, Any]:
    return {
        "EbsEncryptionByDefault": True,
        "InstanceMetadataDefaults": {"HttpTokens": "required", "HttpPutResponseHopLimit": 2},
        "SnapshotBlockPublicAccess": "block-all-sharing",
        "ImageBlockPublicAccess": "block-new-sharing",
    } | fields


def weakened(
    before: dict[str, Any], after: dict[str, Any], unreadable: dict[str, str] | None = None
) -> list[str]:
    found = findings(state(SETTINGS, after, previous=before, unreadable=unreadable))
    return [m for _, m in rules_of(found, "ec2-defaults-weakened")]


def test_h4_imds_default_back_to_optional_is_weakened_and_the_hardening_is_not() -> None:
    # ec2.get_instance_metadata_defaults before:
    #   {"AccountLevel": {"HttpTokens": "required", "HttpPutResponseHopLimit": 2}}
    # and after: {"AccountLevel": {}}, no account default, so IMDSv1 is allowed again.
    assert weakened(settings(), settings(InstanceMetadataDefaults={})) == [
        f"EC2 account defaults in {REGION} weakened: IMDSv2 no longer required by default "
        "(HttpTokens no-preference): IMDSv1 is back"
    ]
    assert weakened(settings(InstanceMetadataDefaults={}), settings()) == []  # hardening: positive drift
    # A region without the API answers InvalidAction: "unsupported" is a state, never "weakened".
    assert weakened(settings(), settings(InstanceMetadataDefaults="unsupported")) == []


def test_every_account_default_that_loosens_is_named_once() -> None:
    after = settings(
        EbsEncryptionByDefault=False,
        SnapshotBlockPublicAccess="block-new-sharing",
        ImageBlockPublicAccess="unblocked",
    )
    assert weakened(settings(), after) == [
        f"EC2 account defaults in {REGION} weakened: EBS encryption by default turned off; "
        "SnapshotBlockPublicAccess block-all-sharing -> block-new-sharing; "
        "ImageBlockPublicAccess block-new-sharing -> unblocked"
    ]
    # A setting that could not be read keeps its last value in the store: nothing to judge.
    assert (
        weakened(
            settings(), settings(EbsEncryptionByDefault=False), {"EbsEncryptionByDefault": "AccessDenied"}
        )
        == []
    )


def snapshot(permissions: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "SnapshotId": SNAPSHOT.id,
        "VolumeId": "vol-0example1",
        "VolumeSize": 100,
        "CreateVolumePermissions": permissions,
    }


@pytest.mark.parametrize(
    ("block", "region", "public"),
    [
        (None, REGION, True),  # settings not collected
        ("unblocked", REGION, True),
        ("block-new-sharing", REGION, True),  # only refuses new public sharing
        ("block-all-sharing", REGION, False),  # makes existing public snapshots private
        ("block-all-sharing", "us-east-1", True),  # another region's setting does not apply
    ],
)
def test_public_snapshot_unless_the_regions_block_covers_existing_shares(
    block: str | None, region: str, public: bool
) -> None:
    states = [state(SNAPSHOT, snapshot([{"Group": "all"}, {"UserId": "444455556666"}]))]
    if block is not None:
        account = ResourceId("aws", ACCOUNT, region, "ec2/account-settings", "account")
        states.append(state(account, settings(SnapshotBlockPublicAccess=block)))

    found = rules_of(findings(*states), "ebs-snapshot-public")

    assert found == (
        [(SNAPSHOT.key, f"EBS snapshot {SNAPSHOT.id} (volume vol-0example1, 100 GiB) is public: any AWS "
          "account can create a volume from it and read its data")]
        if public
        else []
    )  # fmt: skip


def test_a_block_that_could_not_be_read_now_does_not_make_a_public_snapshot_private() -> None:
    account = ResourceId("aws", ACCOUNT, REGION, "ec2/account-settings", "account")
    stale = state(account, settings(), unreadable={"SnapshotBlockPublicAccess": "UnauthorizedOperation"})
    public = state(SNAPSHOT, snapshot([{"Group": "all"}]))
    assert [key for key, _ in rules_of(findings(public, stale), "ebs-snapshot-public")] == [SNAPSHOT.key]


def test_shared_with_one_account_is_not_public() -> None:
    assert (
        rules_of(findings(state(SNAPSHOT, snapshot([{"UserId": "444455556666"}]))), "ebs-snapshot-public")
        == []
    )


def test_a_public_ami_stays_public_under_the_ami_block() -> None:
    image = {"ImageId": IMAGE.id, "Name": "golden", "Public": True, "LaunchPermissions": [{"Group": "all"}]}
    found = findings(
        state(IMAGE, image), state(SETTINGS, settings(ImageBlockPublicAccess="block-new-sharing"))
    )
    assert [k for k, _ in rules_of(found, "ami-public")] == [IMAGE.key]
    private = image | {"Public": False, "LaunchPermissions": [{"UserId": "444455556666"}]}
    assert rules_of(findings(state(IMAGE, private)), "ami-public") == []


# -- SNS and SQS policies: S3's definition of "public" -----------------------------------------------------


def attributes(statement: dict[str, Any]) -> dict[str, Any]:
    return {"Attributes": {"Policy": json.dumps({"Version": "2012-10-17", "Statement": [statement]})}}


EVERYONE = {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sqs:SendMessage", "Resource": QUEUE.arn}


@pytest.mark.parametrize(
    ("change", "public"),
    [
        ({}, True),
        ({"Principal": "*"}, True),
        ({"Condition": {"ArnEquals": {"aws:SourceArn": TOPIC.arn}}}, False),
        ({"Condition": {"StringEquals": {"AWS:SourceAccount": ACCOUNT}}}, False),  # key case does not matter
        ({"Condition": {"ArnLike": {"aws:SourceArn": "arn:aws:sns:*"}}}, True),  # not a fixed value
        ({"Condition": {"StringNotEquals": {"aws:SourceAccount": ACCOUNT}}}, True),  # holds without the key
        ({"Condition": {"StringEqualsIfExists": {"aws:SourceAccount": ACCOUNT}}}, True),
        ({"Condition": {"Bool": {"aws:SecureTransport": "true"}}}, True),  # says nothing about who
        ({"Principal": {"AWS": "arn:aws:iam::444455556666:root"}}, False),  # a fixed principal
        ({"Principal": {"Service": "sns.amazonaws.com"}}, False),
        ({"Effect": "Deny"}, False),
    ],
)
def test_queue_policy_public_only_without_a_fixed_condition(change: dict[str, Any], public: bool) -> None:
    found = findings(state(QUEUE, attributes(EVERYONE | change)))
    assert [k for k, _ in rules_of(found, "sqs-queue-public")] == ([QUEUE.key] if public else [])


def test_topic_policy_public_and_aws_default_policy_not() -> None:
    default = {  # what CreateTopic sets: everyone, narrowed to the owning account
        "Sid": "__default_statement_ID", "Effect": "Allow", "Principal": {"AWS": "*"},
        "Action": ["SNS:Publish", "SNS:Subscribe", "SNS:GetTopicAttributes"], "Resource": TOPIC.arn,
        "Condition": {"StringEquals": {"AWS:SourceOwner": ACCOUNT}},
    }  # fmt: skip
    assert rules_of(findings(state(TOPIC, attributes(default))), "sns-topic-public") == []
    opened = {k: v for k, v in default.items() if k != "Condition"}
    assert rules_of(findings(state(TOPIC, attributes(opened))), "sns-topic-public") == [
        (
            TOPIC.key,
            "SNS topic alerts is public: its policy allows sns:gettopicattributes, sns:publish, "
            "sns:subscribe to everyone (a * principal that no fixed condition such as aws:SourceArn narrows)",
        )
    ]


# -- AWS Config --------------------------------------------------------------------------------------------


def test_config_recorder_stopped_or_deleted_and_an_approved_removal_is_quiet() -> None:
    recording = {"Recorders": {"default": {}}, "Recording": {"default": True}}
    stopped = {"Recorders": {"default": {}}, "Recording": {"default": False}}
    gone: dict[str, Any] = {"Recorders": {}, "Recording": {}}

    assert [
        m for _, m in rules_of(findings(state(RECORDERS, stopped, baseline=recording)), "config-recorder-off")
    ] == [f"AWS Config recorder default in {REGION} is turned off"]
    assert [
        m for _, m in rules_of(findings(state(RECORDERS, gone, previous=recording)), "config-recorder-off")
    ] == [f"AWS Config recorder default in {REGION} was deleted (it was on)"]
    assert (
        rules_of(findings(state(RECORDERS, gone, baseline=gone, previous=recording)), "config-recorder-off")
        == []
    )
    assert (
        rules_of(findings(state(RECORDERS, stopped, baseline=stopped)), "config-recorder-off") == []
    )  # approved
