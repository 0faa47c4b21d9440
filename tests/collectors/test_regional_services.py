"""Lambda, EC2 account settings, EBS snapshots, AMIs, SNS, SQS, Config and GuardDuty through moto's server.

Each test reads one region and only the services it is about (every service is calls per region).
Case 21 of aws-semantics.md end to end: secrets in a Lambda environment never reach git or output.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

from driftwatch.collectors.aws.context import AwsContext, make_session
from driftwatch.collectors.aws.listed import collect_listed
from driftwatch.collectors.aws.messaging import QUEUES
from driftwatch.config import load_config
from tests.conftest import CliResult, Invoke, write_config
from tests.support.aws_faults import Fault, running_fault_proxy
from tests.support.aws_seed import (
    ACCOUNT,
    CASE_21_VARIABLES,
    client,
    create_function,
    everyone_policy,
    open_function_url,
    public_image,
    public_snapshot,
    recording_config,
)

REGION = "us-east-1"
APPROVER = "Sec Admin <sec@example.com>"


def configure(repo: Path, endpoint: str, *services: str, regions: tuple[str, ...] = (REGION,)) -> str:
    path = write_config(repo, endpoint, regions, services=services)
    # moto answers the EC2 calls it lacks with a 500 page; one attempt is enough to record the gap.
    path.write_text(path.read_text(encoding="utf-8").replace("max_attempts = 2", "max_attempts = 1"))
    return str(path)


def run(invoke: Invoke, config: str) -> tuple[CliResult, dict[str, Any]]:
    result = invoke("-c", config, "run", "--format", "json")
    assert result.exit_code in (0, 2), result.stderr
    return result, json.loads(result.stdout)


def approve_all(invoke: Invoke, config: str) -> None:
    result = invoke("-c", config, "approve", "--all", "--reason", "reviewed", "--author", APPROVER)
    assert result.exit_code == 0, result.stderr


def stored(repo: Path, type_: str, id_: str, region: str = REGION) -> dict[str, Any]:
    path = repo / "snapshots" / "aws" / ACCOUNT / region / type_ / f"{quote(id_, safe='-_.')}.json"
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return document


def found(report: dict[str, Any], rule: str) -> list[tuple[str, str, str]]:
    return sorted(
        (f["resource"], f["severity"], f["message"]) for f in report["findings"] if f["rule"] == rule
    )


def redacted(value: str) -> str:  # the key is DRIFTWATCH_REDACTION_KEY of conftest's TEST_ENV
    digest = hmac.new(b"test-redaction-key", value.encode(), hashlib.sha256).hexdigest()[:16]
    return f"[redacted hmac-sha256:{digest}]"


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout


# -- Lambda (case 21) --------------------------------------------------------------------------------------


def test_case_21_lambda_secrets_are_hashed_flagged_by_name_and_value_and_never_leave(
    aws: str, state_repo: Path, invoke: Invoke
) -> None:
    config = configure(state_repo, aws, "lambda")
    arn = create_function(aws, "orders-api", CASE_21_VARIABLES)["FunctionArn"]
    url = open_function_url(aws, "orders-api")
    create_function(aws, "thumbnails")  # no URL, no policy, no variables

    first, report = run(invoke, config)

    orders = stored(state_repo, "lambda/function", "orders-api")["config"]
    assert orders["Environment"] == {  # every value hashed; the judgement made on the plaintext
        "Variables": {k: redacted(v) for k, v in CASE_21_VARIABLES.items()},
        "SecretLike": ["DB_PASSWORD", "PAYMENT_API_KEY"],
    }
    assert orders["FunctionUrl"] == {"AuthType": "NONE", "FunctionUrl": url, "InvokeMode": "Buffered"}
    assert orders["Policy"]["Statement"] == [
        {
            "Action": ["lambda:invokefunctionurl"],
            "Effect": "Allow",
            "FunctionUrlAuthType": "NONE",
            "Principal": {"AWS": ["*"]},
            "Resource": [arn],
            "Sid": "FunctionURLAllowPublicAccess",
        }
    ]
    assert (orders["Runtime"], orders["Role"], orders["Handler"]) == (
        "python3.12",
        f"arn:aws:iam::{ACCOUNT}:role/orders-lambda",
        "handler.handle",
    )
    assert not {"LastModified", "CodeSha256", "State", "RevisionId"} & set(orders)
    thumbnails = stored(state_repo, "lambda/function", "thumbnails")["config"]
    assert (thumbnails["FunctionUrl"], thumbnails["Policy"], thumbnails["Environment"]) == (
        None,
        None,
        {"Variables": {}, "SecretLike": []},
    )
    assert report["coverage_gaps"] == []
    assert found(report, "lambda-url-public") == [
        (
            arn,
            "high",
            f"lambda function orders-api: its function URL {url} has auth type NONE: anyone on the internet "
            "can call it",
        )
    ]
    assert found(report, "plaintext-secret") == [
        (
            arn,
            "high",
            f"lambda function orders-api: environment variable {key} holds a secret in plain text (any "
            "reader of the function's configuration sees it); keep it in Secrets Manager or Parameter Store "
            "and pass its name",
        )
        for key in ("DB_PASSWORD", "PAYMENT_API_KEY")
    ]

    approve_all(invoke, config)
    client(aws, "lambda").update_function_configuration(
        FunctionName="orders-api",
        Environment={"Variables": {**CASE_21_VARIABLES, "DB_PASSWORD": "EXAMPLE-NOT-A-REAL-PASSWORD-3"}},
    )
    second, report = run(invoke, config)

    drift = [f for f in report["findings"] if f["rule"] == "baseline-drift"]
    assert [(f["resource"], f["changes"]) for f in drift] == [
        (
            arn,
            [
                {
                    "path": "Environment.Variables.DB_PASSWORD",
                    "before": redacted("EXAMPLE-NOT-A-REAL-PASSWORD-1"),
                    "after": redacted("EXAMPLE-NOT-A-REAL-PASSWORD-3"),
                    "against": "baseline",
                }
            ],
        )
    ]
    assert found(report, "plaintext-secret") == []  # approved exceptions, still the same keys

    approve_all(invoke, config)
    added = {**CASE_21_VARIABLES, "DB_PASSWORD": "EXAMPLE-NOT-A-REAL-PASSWORD-3"}
    added["ORDERS_API_TOKEN"] = "EXAMPLE-NOT-A-REAL-TOKEN-4"
    client(aws, "lambda").update_function_configuration(
        FunctionName="orders-api", Environment={"Variables": added}
    )
    third, report = run(invoke, config)

    (secret,) = [f for f in report["findings"] if f["rule"] == "plaintext-secret"]
    assert "ORDERS_API_TOKEN holds a secret" in secret["message"]
    assert [c["path"] for c in secret["changes"]] == [
        "Environment.SecretLike",
        "Environment.Variables.ORDERS_API_TOKEN",
    ]
    assert [f["rule"] for f in report["findings"] if f["resource"] == arn] == ["plaintext-secret"]
    history = git(state_repo, "log", "-p", "--all")
    for secret_value in (
        "EXAMPLE-NOT-A-REAL-PASSWORD-1",
        "EXAMPLE-NOT-A-REAL-PASSWORD-3",
        "EXAMPLE-NOT-A-REAL-KEY-2",
        "EXAMPLE-NOT-A-REAL-TOKEN-4",
    ):
        assert secret_value not in history
        assert all(secret_value not in out.stdout + out.stderr for out in (first, second, third))
    for value in CASE_21_VARIABLES.values():  # not even what looks harmless
        assert value not in history


def live_alias(endpoint: str, name: str) -> None:
    lam = client(endpoint, "lambda")
    version = lam.publish_version(FunctionName=name)["Version"]
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion=version)


def test_each_alias_url_and_policy_are_read_and_an_unreadable_one_is_a_gap_not_a_change(
    aws: str, state_repo: Path, invoke: Invoke
) -> None:
    # moto ignores the Qualifier of GetFunctionUrlConfig (it answers the function's own URL), so
    # an alias's public URL is judged on the documented input (tests/rules/test_regional_rules.py).
    create_function(aws, "orders-api")
    live_alias(aws, "orders-api")
    with running_fault_proxy(aws) as proxy:
        config = configure(state_repo, proxy.url, "lambda")
        _, report = run(invoke, config)
        before = stored(state_repo, "lambda/function", "orders-api")
        reads = sorted(
            (c.operation, c.params.get("Qualifier", "")) for c in proxy.calls() if c.service == "lambda"
        )
        proxy.add_fault(Fault("lambda", "GetPolicy", params={"Qualifier": "live"}))
        _, denied = run(invoke, config)

    assert before["config"]["Aliases"] == {"live": {"FunctionUrl": None, "Policy": None}}
    assert report["coverage_gaps"] == []
    assert reads == [
        ("GetFunctionUrlConfig", ""),
        ("GetFunctionUrlConfig", "live"),
        ("GetPolicy", ""),
        ("GetPolicy", "live"),
        ("ListAliases", ""),
        ("ListFunctions", ""),
    ]
    assert stored(state_repo, "lambda/function", "orders-api") == before  # last known, not a change
    assert [(g["api_call"], g["field"], g["code"]) for g in denied["coverage_gaps"]] == [
        ("lambda.get_policy", "Aliases", "AccessDenied")
    ]
    assert [g["message"] for g in denied["coverage_gaps"]] == ["alias live: Access Denied"]


def test_a_function_deleted_between_the_listing_and_its_reads_is_gone_not_stripped_of_its_url(
    aws: str, state_repo: Path, invoke: Invoke
) -> None:
    arn = create_function(aws, "orders-api")["FunctionArn"]
    open_function_url(aws, "orders-api")
    path = state_repo / "snapshots/aws" / ACCOUNT / REGION / "lambda/function/orders-api.json"

    def not_found(operation: str, message: str) -> Fault:
        return Fault("lambda", operation, code="ResourceNotFoundException", status=404, message=message)

    with running_fault_proxy(aws) as proxy:
        config = configure(state_repo, proxy.url, "lambda")
        seen = []
        # What AWS answers for a function deleted after ListFunctions listed it, on each read.
        for operation in ("GetFunctionUrlConfig", "GetPolicy", "ListAliases"):
            proxy.clear()
            run(invoke, config)
            assert path.exists()
            proxy.add_fault(not_found(operation, f"Function not found: {arn}"))
            _, report = run(invoke, config)
            seen.append((operation, path.exists(), report["coverage_gaps"]))
        # The same code with another message is the function's state: it has no policy.
        proxy.clear()
        run(invoke, config)
        proxy.add_fault(not_found("GetPolicy", "The resource you requested does not exist."))
        run(invoke, config)

    assert seen == [
        (operation, False, []) for operation in ("GetFunctionUrlConfig", "GetPolicy", "ListAliases")
    ]
    assert stored(state_repo, "lambda/function", "orders-api")["config"]["Policy"] is None


# -- EC2 account settings, snapshots and AMIs --------------------------------------------------------------


def test_ec2_account_settings_read_where_moto_can_and_gaps_where_it_lacks_the_api(
    aws: str, state_repo: Path, invoke: Invoke
) -> None:
    config = configure(state_repo, aws, "ec2-account")
    client(aws, "ec2").enable_ebs_encryption_by_default()

    _, report = run(invoke, config)

    settings = stored(state_repo, "ec2/account-settings", "account")
    assert settings["config"] == {"EbsEncryptionByDefault": True}
    lacking = ("get_instance_metadata_defaults", "get_snapshot_block_public_access_state",
               "get_image_block_public_access_state")  # fmt: skip
    assert sorted((g["api_call"], g["field"], g["kind"]) for g in report["coverage_gaps"]) == sorted(
        (f"ec2.{call}", field, "error")
        for call, field in zip(
            lacking,
            ("InstanceMetadataDefaults", "SnapshotBlockPublicAccess", "ImageBlockPublicAccess"),
            strict=True,
        )
    )
    manifest = json.loads((state_repo / "snapshots/manifest.json").read_text())
    assert manifest["scopes"][f"aws/{ACCOUNT}/{REGION}/ec2/account-settings"] == (
        "partly read: error (ResponseParserError)"
    )

    client(aws, "ec2").disable_ebs_encryption_by_default()
    _, report = run(invoke, config)

    assert found(report, "ec2-defaults-weakened") == [
        (
            f"aws:{ACCOUNT}:{REGION}:ec2/account-settings/account",
            "high",
            f"EC2 account defaults in {REGION} weakened: EBS encryption by default turned off",
        )
    ]
    assert stored(state_repo, "ec2/account-settings", "account")["config"] == {
        "EbsEncryptionByDefault": False
    }


def test_ec2_account_settings_whose_api_the_region_lacks_are_unsupported_not_gaps(
    aws: str, state_repo: Path, invoke: Invoke
) -> None:
    lacking = (
        "GetInstanceMetadataDefaults",
        "GetSnapshotBlockPublicAccessState",
        "GetImageBlockPublicAccessState",
    )
    with running_fault_proxy(aws) as proxy:
        for operation in lacking:  # what EC2 answers in a region or partition without the API
            proxy.add_fault(Fault("ec2", operation, code="InvalidAction", status=400, message="not valid"))
        config = configure(state_repo, proxy.url, "ec2-account")

        _, report = run(invoke, config)

    assert stored(state_repo, "ec2/account-settings", "account")["config"] == {
        "EbsEncryptionByDefault": False,
        "ImageBlockPublicAccess": "unsupported",
        "InstanceMetadataDefaults": "unsupported",
        "SnapshotBlockPublicAccess": "unsupported",
    }
    assert report["coverage_gaps"] == []


def test_snapshots_and_amis_shared_with_everyone(aws: str, state_repo: Path, invoke: Invoke) -> None:
    config = configure(state_repo, aws, "ebs", "ami")
    shared = public_snapshot(aws)
    private = public_snapshot(aws, public=False)
    golden = public_image(aws, "golden-2026")
    internal = public_image(aws, "internal-2026", public=False)
    client(aws, "ec2").modify_image_attribute(
        ImageId=internal, LaunchPermission={"Add": [{"UserId": "444455556666"}]}
    )

    _, report = run(invoke, config)

    snapshot = stored(state_repo, "ebs/snapshot", shared)
    assert snapshot["identity"]["arn"] == f"arn:aws:ec2:{REGION}::snapshot/{shared}"
    assert snapshot["config"]["CreateVolumePermissions"] == [{"Group": "all"}]
    assert (snapshot["config"]["VolumeSize"], snapshot["config"]["Encrypted"]) == (8, False)
    assert stored(state_repo, "ebs/snapshot", private)["config"]["CreateVolumePermissions"] == []
    assert stored(state_repo, "ami/image", golden)["config"]["Public"] is True
    assert stored(state_repo, "ami/image", internal)["config"]["LaunchPermissions"] == [
        {"UserId": "444455556666"}
    ]
    assert [(r, s) for r, s, _ in found(report, "ebs-snapshot-public")] == [
        (f"arn:aws:ec2:{REGION}::snapshot/{shared}", "critical")
    ]
    assert [(r, s) for r, s, _ in found(report, "ami-public")] == [
        (f"arn:aws:ec2:{REGION}::image/{golden}", "critical")
    ]
    assert report["coverage_gaps"] == []


# -- SNS and SQS -------------------------------------------------------------------------------------------


def test_topics_and_queues_public_only_without_a_fixed_condition(
    aws: str, state_repo: Path, invoke: Invoke
) -> None:
    config = configure(state_repo, aws, "sns", "sqs")
    sns, sqs = client(aws, "sns"), client(aws, "sqs")
    default_topic = sns.create_topic(Name="alerts")["TopicArn"]  # AWS's default policy: own account only
    open_topic = sns.create_topic(Name="webhooks", Attributes={"KmsMasterKeyId": "alias/aws/sns"})["TopicArn"]
    sns.set_topic_attributes(
        TopicArn=open_topic,
        AttributeName="Policy",
        AttributeValue=everyone_policy(open_topic, "SNS:Subscribe"),
    )
    jobs = sqs.create_queue(QueueName="jobs")["QueueUrl"]
    jobs_arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:jobs"
    sqs.set_queue_attributes(QueueUrl=jobs, Attributes={"Policy": everyone_policy(jobs_arn, "sqs:*")})
    fanout = sqs.create_queue(QueueName="fanout", Attributes={"KmsMasterKeyId": "alias/orders"})["QueueUrl"]
    fanout_arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:fanout"
    narrowed = {"ArnEquals": {"aws:SourceArn": default_topic}}  # SNS to SQS, the documented way
    sqs.set_queue_attributes(
        QueueUrl=fanout, Attributes={"Policy": everyone_policy(fanout_arn, "sqs:SendMessage", narrowed)}
    )

    _, report = run(invoke, config)

    webhooks = stored(state_repo, "sns/topic", "webhooks")["config"]
    assert webhooks["Attributes"]["KmsMasterKeyId"] == "alias/aws/sns"
    assert webhooks["Attributes"]["Policy"]["Statement"][0]["Action"] == ["sns:subscribe"]
    assert "SubscriptionsConfirmed" not in webhooks["Attributes"]
    queue = stored(state_repo, "sqs/queue", "fanout")["config"]
    assert queue["Attributes"]["KmsMasterKeyId"] == "alias/orders"
    assert queue["Attributes"]["Policy"]["Statement"][0]["Condition"] == {
        "arnequals": {"aws:sourcearn": [default_topic]}
    }
    assert "ApproximateNumberOfMessages" not in queue["Attributes"]
    assert found(report, "sns-topic-public") == [
        (
            open_topic,
            "critical",
            "SNS topic webhooks is public: its policy allows sns:subscribe to everyone (a * principal that "
            "no fixed condition such as aws:SourceArn narrows)",
        )
    ]
    assert [(r, s) for r, s, _ in found(report, "sqs-queue-public")] == [(jobs_arn, "critical")]
    assert report["coverage_gaps"] == []


def test_the_queue_listing_asks_for_pages_and_follows_every_one(
    aws: str, state_repo: Path, invoke: Invoke
) -> None:
    # Without MaxResults, ListQueues answers at most 1,000 queues and no NextToken (AWS, and moto
    # as AWS): the 1,001st queue was never seen and the scope still counted as read. Making 1,001
    # queues takes half a minute here, so the proof is in two parts: the run asks for pages...
    sqs = client(aws, "sqs")
    names = [f"jobs-{n}" for n in range(5)]
    for name in names:
        sqs.create_queue(QueueName=name)
    with running_fault_proxy(aws) as proxy:
        _, report = run(invoke, configure(state_repo, proxy.url, "sqs"))
    assert [c.params.get("MaxResults") for c in proxy.calls("ListQueues")] == ["1000"]
    assert report["coverage_gaps"] == []

    # ... and the listing follows every page's NextToken (here pages of two queues).
    settings = load_config(Path(configure(state_repo, aws, "sqs"))).aws
    with ThreadPoolExecutor(2) as pool:
        ctx = AwsContext(settings, make_session(settings), pool)
        ctx.account = ACCOUNT
        paged = replace(QUEUES, list_arguments=lambda _account: {"MaxResults": 2})
        collection = collect_listed(ctx, REGION, paged)
    assert sorted(r.identity.id for r in collection.resources) == names
    assert collection.gaps == ()


def test_a_denied_listing_keeps_the_queues_and_a_region_not_enabled_is_skipped(
    aws: str, state_repo: Path, invoke: Invoke
) -> None:
    client(aws, "sqs").create_queue(QueueName="jobs")
    with running_fault_proxy(aws) as proxy:
        config = configure(state_repo, proxy.url, "sqs", regions=(REGION, "ap-east-1"))
        run(invoke, config)
        before = stored(state_repo, "sqs/queue", "jobs")
        client(aws, "sqs").delete_queue(QueueUrl=before["config"]["QueueUrl"])
        proxy.add_fault(Fault("sqs", "ListQueues", code="AccessDenied", status=400, message="not authorised"))

        _, report = run(invoke, config)

    assert stored(state_repo, "sqs/queue", "jobs") == before  # unseen, so not deleted
    assert sorted((g["scope"], g["kind"], g["code"]) for g in report["coverage_gaps"]) == [
        (f"aws/{ACCOUNT}/ap-east-1", "region-disabled", "NotOptedIn"),
        (f"aws/{ACCOUNT}/{REGION}/sqs/queue", "denied", "AccessDenied"),
    ]
    assert all(c["path"] != "" for f in report["findings"] for c in f["changes"])


# -- AWS Config and GuardDuty ------------------------------------------------------------------------------


def test_config_recorder_and_guardduty_detector_turned_off_then_deleted(
    aws: str, state_repo: Path, invoke: Invoke
) -> None:
    config = configure(state_repo, aws, "config", "guardduty")
    recording_config(aws)
    guardduty = client(aws, "guardduty")
    detector = guardduty.create_detector(Enable=True, FindingPublishingFrequency="FIFTEEN_MINUTES")[
        "DetectorId"
    ]

    _, report = run(invoke, config)

    recorders = stored(state_repo, "config/recorders", "account")["config"]
    assert recorders["Recording"] == {"default": True}
    assert recorders["Recorders"]["default"]["roleARN"] == f"arn:aws:iam::{ACCOUNT}:role/aws-config"
    detectors = stored(state_repo, "guardduty/detectors", "account")["config"]["Detectors"]
    assert detectors[detector]["Status"] == "ENABLED"
    assert detectors[detector]["FindingPublishingFrequency"] == "FIFTEEN_MINUTES"
    assert found(report, "config-recorder-off") == found(report, "guardduty-off") == []
    approve_all(invoke, config)

    client(aws, "config").stop_configuration_recorder(ConfigurationRecorderName="default")
    guardduty.update_detector(DetectorId=detector, Enable=False)
    _, report = run(invoke, config)

    assert found(report, "config-recorder-off") == [
        (
            f"aws:{ACCOUNT}:{REGION}:config/recorders/account",
            "high",
            f"AWS Config recorder default in {REGION} is turned off",
        )
    ]
    assert found(report, "guardduty-off") == [
        (
            f"aws:{ACCOUNT}:{REGION}:guardduty/detectors/account",
            "high",
            f"GuardDuty detector {detector} in {REGION} is turned off",
        )
    ]

    guardduty.delete_detector(DetectorId=detector)
    _, report = run(invoke, config)

    assert [m for _, _, m in found(report, "guardduty-off")] == [
        f"GuardDuty detector {detector} in {REGION} was deleted (it was on)"
    ]
    assert report["coverage_gaps"] == []


def test_every_new_regional_type_is_listed_in_its_service() -> None:
    from driftwatch.collectors.aws.services import AWS_SERVICES

    types = {s.name: s.types for s in AWS_SERVICES}
    assert types["lambda"] == ("lambda/function",)
    assert types["ec2-account"] == ("ec2/account-settings",)
    assert (types["ebs"], types["ami"]) == (("ebs/snapshot",), ("ami/image",))
    assert (types["sns"], types["sqs"]) == (("sns/topic",), ("sqs/queue",))
    assert (types["config"], types["guardduty"]) == (("config/recorders",), ("guardduty/detectors",))
    assert all(s.regional for s in AWS_SERVICES if s.name not in ("s3", "iam"))
