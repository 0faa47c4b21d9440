"""Fleet-wide changes, provider default changes (catalogue, section H) and reverted fixes."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from driftwatch.errors import BaselineError
from driftwatch.model import Finding, ResourceId, Severity
from driftwatch.provider_changes import default_catalogue, parse_catalogue, values_at
from driftwatch.rules import ResourceState
from driftwatch.rules.engine import default_settings, evaluate
from driftwatch.rules.fleet import (
    ToolUpgrade,
    group_fleet_changes,
    label_known_changes,
    label_new_defaults,
)
from driftwatch.rules.reverted import BaselineVersion, label_reverted
from tests.support.rule_states import by_rule, state

ACCOUNT = "111122223333"
ALL_ON = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}
SSE_S3 = {
    "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": False}]
}
ACCOUNT_BLOCK = ResourceId("aws", ACCOUNT, "global", "s3/account-public-access-block", "account")


def bucket_id(name: str) -> ResourceId:
    return ResourceId("aws", ACCOUNT, "global", "s3/bucket", name, f"arn:aws:s3:::{name}")


def bucket(name: str, **settings: Any) -> dict[str, Any]:
    config = {
        "Name": name,
        "Acl": {"Grants": []},
        "Policy": None,
        "PublicAccessBlock": ALL_ON,
        "ObjectOwnership": None,
        "Encryption": None,
        "Tags": {},
    }
    return {**config, **settings}


def pipeline(states: list[ResourceState], upgrade: ToolUpgrade | None = None) -> list[Finding]:
    """What the runner does after building the states: rules, then the fleet-wide view."""
    block = {"PublicAccessBlock": None}
    everything = {s.identity.key: s for s in [*states, state(ACCOUNT_BLOCK, block, block, block)]}
    settings = default_settings()
    found = evaluate(everything, settings)
    found = group_fleet_changes(everything, found, settings, default_catalogue(), upgrade)
    found = label_known_changes(everything, found, default_catalogue())
    return label_new_defaults(everything, found, default_catalogue())


def encrypted_fleet(count: int, of: int) -> list[ResourceState]:
    """``of`` approved buckets, the first ``count`` of which gained SSE-S3 since the last run."""
    states = []
    for i in range(of):
        old = bucket(f"data-{i:02}")
        new = bucket(f"data-{i:02}", Encryption=SSE_S3) if i < count else old
        states.append(state(bucket_id(f"data-{i:02}"), new, baseline=old, previous=old))
    return states


def test_the_same_change_on_every_bucket_is_one_finding_matched_to_the_catalogue() -> None:
    found = by_rule(pipeline(encrypted_fleet(6, 6)))
    assert set(found) == {"provider-default-change"}  # no baseline-drift per bucket
    (group,) = found["provider-default-change"]
    assert group.severity is Severity.INFO
    assert group.resource.key == f"aws:{ACCOUNT}:*:s3/bucket/*"
    assert group.resource.name == "every s3/bucket"
    assert [r.id for r in group.related] == [f"data-{i:02}" for i in range(6)]
    assert group.known_change is not None and group.known_change.id == "aws-s3-default-encryption-2023"
    assert group.known_change.date.isoformat() == "2023-01-05"
    assert [(c.path, c.before, c.after) for c in group.changes] == [("Encryption", None, SSE_S3)]
    assert group.message.startswith("the same change on 6 of 6 s3/bucket in one run (Encryption). ")
    assert (
        "Matches a known provider default change: S3 encrypts new objects by default (SSE-S3) "
        in group.message
    )
    assert group.message.endswith("; it tightens security")
    assert group.new_since_previous


def test_the_group_stays_one_finding_in_later_runs_until_approved() -> None:
    later = [
        state(s.identity, s.current, baseline=s.baseline, previous=s.current) for s in encrypted_fleet(6, 6)
    ]
    (group,) = pipeline(later)
    first = by_rule(pipeline(encrypted_fleet(6, 6)))["provider-default-change"][0]
    assert (group.rule, group.id, group.against, group.new_since_previous) == (
        "provider-default-change",
        first.id,
        "baseline",
        False,
    )


def test_below_the_threshold_each_bucket_is_its_own_finding() -> None:
    found = by_rule(pipeline(encrypted_fleet(4, 6)))  # 4 < min_resources (5)
    assert "provider-default-change" not in found
    assert sorted(f.resource.id for f in found["baseline-drift"]) == [
        "data-00",
        "data-01",
        "data-02",
        "data-03",
    ]
    share = by_rule(pipeline(encrypted_fleet(5, 12)))  # 5 of 12 < min_share (0.5)
    assert "provider-default-change" not in share and len(share["baseline-drift"]) == 5


def test_other_drift_on_a_grouped_bucket_is_still_reported_on_its_own() -> None:
    states = encrypted_fleet(6, 6)
    first = states[0]
    tagged = {**first.current, "Tags": {"owner": "mallory"}} if first.current else {}
    states[0] = state(first.identity, tagged, baseline=first.baseline, previous=first.previous)
    found = by_rule(pipeline(states))
    (drift,) = found["baseline-drift"]
    assert drift.resource.id == "data-00"
    assert [c.path for c in drift.changes] == ["Tags.owner"]
    assert drift.message == "1 setting(s) differ from the approved baseline: Tags.owner"
    assert len(found["provider-default-change"][0].related) == 6


def test_a_fleet_change_that_loosens_security_stays_a_finding_on_each_resource() -> None:
    states = []
    for i in range(5):
        identity = ResourceId("aws", ACCOUNT, "eu-west-1", "ec2/security-group", f"sg-{i}")
        closed = {"GroupName": f"app-{i}", "Ingress": {"tcp/22": ["10.0.0.0/8"]}}
        opened = {"GroupName": f"app-{i}", "Ingress": {"tcp/22": ["0.0.0.0/0", "10.0.0.0/8"]}}
        states.append(state(identity, opened, baseline=closed, previous=closed))
    found = pipeline(states)
    assert [(f.rule, f.severity, f.resource.id) for f in found] == [
        ("sg-open-to-world", Severity.CRITICAL, f"sg-{i}") for i in range(5)
    ]


def test_a_fleet_change_no_catalogue_entry_knows_is_a_fleet_wide_change_that_says_when_it_tightens() -> None:
    states = []
    for i in range(5):
        opened = {"GroupName": f"app-{i}", "Ingress": {"tcp/22": ["0.0.0.0/0"]}}
        closed = {"GroupName": f"app-{i}", "Ingress": {"tcp/22": ["10.0.0.0/8"]}}
        identity = ResourceId("aws", ACCOUNT, "eu-west-1", "ec2/security-group", f"sg-{i}")
        states.append(state(identity, closed, baseline=opened, previous=opened))
    (group,) = pipeline(states)
    assert (group.rule, group.severity, group.known_change) == ("fleet-wide-change", Severity.MEDIUM, None)
    assert "provider" not in group.message.split(". ")[0]
    assert group.message.endswith(
        "No known provider default change explains it: review and approve it as one change; "
        "it tightens security (no longer sg-open-to-world)"
    )


def tagged_fleet(count: int, of: int, runs: int = 1) -> list[ResourceState]:
    """``of`` approved buckets, the first ``count`` of which had a tag changed by a script; the
    last ``runs`` of those changed in this run, the others in earlier runs."""
    states = []
    for i in range(of):
        old = bucket(f"data-{i:02}", Tags={"team": "data"})
        new = bucket(f"data-{i:02}", Tags={"team": "platform"}) if i < count else old
        previous = new if i < count - runs else old
        states.append(state(bucket_id(f"data-{i:02}"), new, baseline=old, previous=previous))
    return states


def test_a_script_tagging_every_bucket_is_a_fleet_wide_change_not_a_provider_default() -> None:
    (group,) = pipeline(tagged_fleet(6, 6, runs=6))
    assert (group.rule, group.severity, group.known_change) == ("fleet-wide-change", Severity.MEDIUM, None)
    assert group.message.startswith("the same change on 6 of 6 s3/bucket in one run (Tags.team). ")
    assert "Looks like a provider default change" not in group.message
    # As severe as the drift it stands for, even when configured lower.
    settings = default_settings()
    settings["fleet-wide-change"] = replace(settings["fleet-wide-change"], severity=Severity.INFO)
    everything = {s.identity.key: s for s in tagged_fleet(6, 6, runs=6)}
    (lowered,) = group_fleet_changes(
        everything, evaluate(everything, settings), settings, default_catalogue()
    )
    assert lowered.severity is Severity.MEDIUM


def test_edits_over_several_runs_are_not_called_one_run() -> None:
    (group,) = pipeline(tagged_fleet(6, 6, runs=1))
    assert group.rule == "fleet-wide-change"
    assert group.message.startswith(
        "the same change on 6 of 6 s3/bucket against the approved baseline, 1 of them in this run (Tags.team)"
    )


def test_the_share_of_a_change_nothing_explains_is_of_every_resource_of_the_type() -> None:
    """Five of twenty buckets retagged: all those that had the old tag, but a quarter of the buckets."""
    states = tagged_fleet(5, 5, runs=5)
    for i in range(15):
        other = bucket(f"logs-{i:02}", Tags={"team": "ops"})
        states.append(state(bucket_id(f"logs-{i:02}"), other, baseline=other, previous=other))
    found = by_rule(pipeline(states))
    assert set(found) == {"baseline-drift"} and len(found["baseline-drift"]) == 5


def test_a_field_an_sdk_upgrade_adds_everywhere_is_one_info_finding() -> None:
    states = []
    for i in range(6):
        old = bucket(f"data-{i:02}")
        new = {**old, "AccessPointAlias": f"alias-{i}"}  # a new field, a different value on each
        states.append(state(bucket_id(f"data-{i:02}"), new, baseline=old, previous=old))
    found = pipeline(states, ToolUpgrade("botocore", "1.35.0", "1.36.2"))
    (group,) = found
    assert (group.rule, group.severity, len(group.related)) == ("provider-default-change", Severity.INFO, 6)
    assert group.message.startswith(
        "botocore 1.35.0 -> 1.36.2 added AccessPointAlias to every s3/bucket (6): "
        "a new field in the API's answers"
    )
    # Without the upgrade, the same field appearing everywhere is still one finding, not six, but
    # nothing says a provider did it.
    (plain,) = pipeline(states)
    assert (plain.rule, plain.severity) == ("fleet-wide-change", Severity.MEDIUM)
    assert "(AccessPointAlias appeared, a value on each)" in plain.message


def test_a_catalogued_change_on_too_few_buckets_to_group_is_labelled_on_each() -> None:
    found = pipeline(encrypted_fleet(4, 4))  # 4 < min_resources: not a fleet-wide change
    assert [(f.rule, f.resource.id, f.severity) for f in found] == [
        ("baseline-drift", f"data-{i:02}", Severity.INFO) for i in range(4)
    ]
    assert all(f.known_change and f.known_change.id == "aws-s3-default-encryption-2023" for f in found)
    assert found[0].message == (
        "1 setting(s) differ from the approved baseline: Encryption. Matches a known provider default "
        "change: S3 encrypts new objects by default (SSE-S3) (2023-01-05, "
        "https://docs.aws.amazon.com/AmazonS3/latest/userguide/default-encryption-faq.html)"
    )
    # Anything else changed beside it keeps the drift ordinary.
    versioned = encrypted_fleet(1, 1)
    first = versioned[0]
    both = {**first.current, "Versioning": {"Status": "Suspended"}}
    versioned[0] = state(first.identity, both, first.baseline, first.previous)
    (drift,) = pipeline(versioned)
    assert (drift.severity, drift.known_change) == (Severity.MEDIUM, None)


def test_sse_s3_set_on_some_buckets_while_others_stay_unencrypted_is_not_labelled_a_provider_change() -> None:
    """AWS encrypted every unencrypted bucket (section H1): four of six is someone's edit."""
    found = pipeline(encrypted_fleet(4, 6))
    assert [(f.rule, f.resource.id, f.severity, f.known_change) for f in found] == [
        ("baseline-drift", f"data-{i:02}", Severity.MEDIUM, None) for i in range(4)
    ]


def test_an_sdk_upgrade_adding_a_field_to_a_small_type_is_still_one_info_finding() -> None:
    upgrade = ToolUpgrade("botocore", "1.35.0", "1.36.2")
    states = []
    for i in range(3):  # fewer than min_resources (5)
        old = bucket(f"data-{i:02}")
        states.append(state(bucket_id(f"data-{i:02}"), {**old, "BucketNamespace": "global"}, old, old))
    policy_id = ResourceId("aws", ACCOUNT, "global", "iam/password-policy", "account")
    policy = {"MinimumPasswordLength": 14}
    states.append(state(policy_id, {**policy, "MaxPasswordAgeHint": 0}, policy, policy))
    found = pipeline(states, upgrade)
    assert sorted((f.rule, f.severity, f.resource.type, len(f.related)) for f in found) == [
        ("provider-default-change", Severity.INFO, "iam/password-policy", 1),
        ("provider-default-change", Severity.INFO, "s3/bucket", 3),
    ]
    # Without an upgrade, three buckets gaining a field are three edits, not a provider's change.
    assert {f.rule for f in pipeline(states[:3])} == {"baseline-drift"}
    # A key that was there as null is a setting that changed, not a new field of the API.
    was_null = bucket("b", Website=None)
    website = state(bucket_id("b"), bucket("b", Website={"IndexDocument": "i"}), was_null, was_null)
    assert [f.rule for f in pipeline([website], upgrade)] == ["baseline-drift"]


def test_a_field_every_older_bucket_gained_is_one_finding_even_beside_a_new_bucket() -> None:
    states = []
    for i in range(6):
        old = bucket(f"data-{i:02}")
        new = {**old, "AccessPointAlias": f"alias-{i}"}
        states.append(state(bucket_id(f"data-{i:02}"), new, baseline=old, previous=old))
    states.append(state(bucket_id("fresh"), {**bucket("fresh"), "AccessPointAlias": "alias-new"}))
    found = by_rule(pipeline(states, ToolUpgrade("botocore", "1.35.0", "1.36.2")))
    assert set(found) == {"provider-default-change", "unapproved-resource"}
    (group,) = found["provider-default-change"]
    assert (group.severity, len(group.related)) == (Severity.INFO, 6)
    assert group.message.startswith("botocore 1.35.0 -> 1.36.2 added AccessPointAlias to every s3/bucket (6)")


def test_a_new_bucket_with_the_april_2023_defaults_is_labelled_new_default() -> None:
    older = [
        state(
            bucket_id(f"old-{i}"),
            bucket(f"old-{i}", PublicAccessBlock=None),
            previous=bucket(f"old-{i}", PublicAccessBlock=None),
        )
        for i in range(2)
    ]
    fresh = bucket("fresh", ObjectOwnership="BucketOwnerEnforced", PublicAccessBlock=ALL_ON)
    found = pipeline([*older, state(bucket_id("fresh"), fresh)])
    (unapproved,) = [f for f in found if f.resource.id == "fresh"]
    assert unapproved.known_change is not None
    assert unapproved.known_change.id == "aws-s3-new-bucket-defaults-2023"
    assert (
        "(created with a provider's new default: New S3 buckets get Block Public Access on"
        in unapproved.message
    )
    # A new bucket that differs in anything else was configured differently: no label.
    versioned = {**fresh, "Versioning": {"Status": "Enabled"}}
    other = pipeline([*older, state(bucket_id("fresh"), versioned)])
    assert all(f.known_change is None for f in other)


PUBLIC_POLICY = {
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"AWS": ["*"]},
            "Action": ["s3:getobject"],
            "Resource": ["arn:aws:s3:::web/*"],
        }
    ]
}


def test_a_bucket_public_again_after_an_approved_fix_is_a_critical_reverted_finding() -> None:
    public = bucket("web", Policy=PUBLIC_POLICY, PublicAccessBlock=None)
    private = bucket("web", PublicAccessBlock=None)
    fixed_at = datetime(2026, 11, 2, 9, 14, tzinfo=UTC)
    versions = [
        BaselineVersion("a" * 40, datetime(2026, 10, 1, tzinfo=UTC), "Bob", public),
        BaselineVersion("b" * 40, fixed_at, "Alice Admin", private),
    ]
    block = {"PublicAccessBlock": None}
    states = {
        s.identity.key: s
        for s in (
            state(bucket_id("web"), public, baseline=private, previous=private),
            state(ACCOUNT_BLOCK, block, block, block),
        )
    }
    found = label_reverted(evaluate(states, default_settings()), states, lambda identity: versions)
    first = found[0]
    assert (first.rule, first.severity) == ("s3-bucket-public", Severity.CRITICAL)
    assert first.reverted is not None and first.reverted.commit == "b" * 40
    assert first.message.startswith(
        "reverted to public (fixed on 2026-11-02 in bbbbbbb by Alice Admin): bucket web is public (read)"
    )
    # A public bucket that was never fixed before is public, not reverted.
    never = label_reverted(evaluate(states, default_settings()), states, lambda identity: versions[1:])
    assert all(f.reverted is None for f in never)
    # With its severity lowered in guardrails.toml, a public bucket is medium; a reverted one is
    # still critical.
    settings = default_settings()
    settings["s3-bucket-public"] = replace(settings["s3-bucket-public"], severity=Severity.MEDIUM)
    lowered = [f for f in evaluate(states, settings) if f.rule == "s3-bucket-public"]
    assert [f.severity for f in lowered] == [Severity.MEDIUM]
    (again,) = label_reverted(lowered, states, lambda identity: versions)
    assert (again.severity, again.reverted is not None) == (Severity.CRITICAL, True)


def test_mfa_removed_again_after_an_approved_fix_says_so() -> None:
    user = ResourceId("aws", ACCOUNT, "global", "iam/user", "carol", f"arn:aws:iam::{ACCOUNT}:user/carol")
    without = {"UserName": "carol", "LoginProfile": {"PasswordResetRequired": False}, "MFADevices": []}
    with_mfa = {**without, "MFADevices": ["arn:aws:iam::111122223333:mfa/carol"]}
    versions = [
        BaselineVersion("c" * 40, datetime(2026, 9, 1, tzinfo=UTC), "Bob", without),
        BaselineVersion("d" * 40, datetime(2026, 9, 8, tzinfo=UTC), "Alice Admin", with_mfa),
    ]
    states = {user.key: state(user, without, baseline=with_mfa, previous=with_mfa)}
    (finding,) = by_rule(label_reverted(evaluate(states, default_settings()), states, lambda i: versions))[
        "iam-user-mfa-missing"
    ]
    assert finding.severity is Severity.CRITICAL  # high when not a fix undone
    assert finding.message.startswith(
        "MFA removed again (fixed on 2026-09-08 in ddddddd by Alice Admin): user carol"
    )


def test_values_at_reads_paths_the_comparator_writes() -> None:
    config = {"Ingress": {"tcp/22": ["0.0.0.0/0"]}, "Encryption": SSE_S3}
    assert values_at(config, 'Ingress["tcp/22"]') == [["0.0.0.0/0"]]
    assert values_at(config, "Encryption.Rules[*].ApplyServerSideEncryptionByDefault.SSEAlgorithm") == [
        "AES256"
    ]
    assert values_at(config, "Encryption.Rules[3]") == [] and values_at(config, "Missing.Key") == []


def db_instance(name: str, ca: str, created: str) -> dict[str, Any]:
    """An RDS instance as the collector stores it (section H3)."""
    return {
        "DBInstanceIdentifier": name,
        "DBInstanceArn": f"arn:aws:rds:eu-west-1:{ACCOUNT}:db:{name}",
        "DBInstanceClass": "db.t3.micro",
        "Engine": "postgres",
        "CACertificateIdentifier": ca,
        "CertificateValidTill": "2024-08-22T17:08:50+00:00"
        if ca == "rds-ca-2019"
        else "2025-02-10T00:00:00+00:00",
        "InstanceCreateTime": created,
        "PubliclyAccessible": False,
        "StorageEncrypted": True,
        "Tags": {},
    }


def db_id(name: str) -> ResourceId:
    return ResourceId(
        "aws", ACCOUNT, "eu-west-1", "rds/db-instance", name, f"arn:aws:rds:eu-west-1:{ACCOUNT}:db:{name}"
    )


@pytest.mark.parametrize(
    ("created", "labelled"), [("2024-02-10T09:00:00+00:00", True), ("2024-01-10T09:00:00+00:00", False)]
)
def test_a_new_rds_instance_on_the_2024_ca_is_labelled_only_if_created_after_the_change(
    created: str, labelled: bool
) -> None:
    old = db_instance("orders-db-a", "rds-ca-2019", "2023-06-01T08:00:00+00:00")
    new = db_instance("orders-db-b", "rds-ca-rsa2048-g1", created)
    found = pipeline([state(db_id("orders-db-a"), old, old, old), state(db_id("orders-db-b"), new)])
    (unapproved,) = [f for f in found if f.resource.id == "orders-db-b"]
    label = unapproved.known_change.id if unapproved.known_change else None
    assert label == ("aws-rds-ca-rsa2048-2024" if labelled else None)


@pytest.mark.parametrize(
    ("created", "labelled"), [("2024-02-10T09:00:00+00:00", True), ("2024-01-10T09:00:00+00:00", False)]
)
def test_a_new_rds_cluster_is_judged_by_its_cluster_create_time(created: str, labelled: bool) -> None:
    """A Multi-AZ DB cluster with a CA as an instance has, created at its ClusterCreateTime."""

    def cluster(name: str, ca: str, when: str) -> dict[str, Any]:
        config = db_instance(name, ca, when)
        del config["DBInstanceIdentifier"], config["DBInstanceArn"], config["InstanceCreateTime"]
        arn = f"arn:aws:rds:eu-west-1:{ACCOUNT}:cluster:{name}"
        return {**config, "DBClusterIdentifier": name, "DBClusterArn": arn, "ClusterCreateTime": when}

    def cluster_id(name: str) -> ResourceId:
        arn = f"arn:aws:rds:eu-west-1:{ACCOUNT}:cluster:{name}"
        return ResourceId("aws", ACCOUNT, "eu-west-1", "rds/db-cluster", name, arn)

    old = cluster("orders-a", "rds-ca-2019", "2023-06-01T08:00:00+00:00")
    new = cluster("orders-b", "rds-ca-rsa2048-g1", created)
    found = pipeline([state(cluster_id("orders-a"), old, old, old), state(cluster_id("orders-b"), new)])
    (unapproved,) = [f for f in found if f.resource.id == "orders-b"]
    label = unapproved.known_change.id if unapproved.known_change else None
    assert label == ("aws-rds-ca-rsa2048-2024" if labelled else None)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[change]]\nid = 1", "[[change]] #1 id: required, a non-empty string"),
        ("[[other]]", "only [[change]] tables belong here"),
        (
            '[[change]]\nid="x"\nprovider="aws"\ntype="s3/bucket"\ndate=2023-01-05\ntitle="t"\nurl="u"\n'
            'effect="better"\napplies_to="new"\nseverity="info"\n[[change.match]]\npath="A"\n'
            "before={absent=true}\nafter={equals=1}",
            "[[change]] #1 effect: one of tightens, loosens, neutral, not 'better'",
        ),
        (
            '[[change]]\nid="x"\nprovider="aws"\ntype="s3/bucket"\ndate=2023-01-05\ntitle="t"\nurl="u"\n'
            'effect="neutral"\napplies_to="new"\nseverity="info"\n[[change.match]]\npath="A..B"\n'
            "before={absent=true}\nafter={equals=1}",
            "[[change]] #1 match #1 path: cannot read path 'A..B' at character 2",
        ),
    ],
)
def test_a_malformed_catalogue_is_named_precisely(text: str, message: str) -> None:
    with pytest.raises(BaselineError) as raised:
        parse_catalogue(text, "changes.toml")
    assert str(raised.value) == f"changes.toml: {message}"


def test_the_shipped_catalogue_has_the_five_dated_aws_changes() -> None:
    dates = {entry.known.id: entry.known.date.isoformat() for entry in default_catalogue()}
    assert dates == {
        "aws-s3-default-encryption-2023": "2023-01-05",
        "aws-s3-new-bucket-defaults-2023": "2023-04-25",
        "aws-rds-ca-rsa2048-2024": "2024-01-25",
        "aws-ec2-imds-account-defaults-2024": "2024-03-25",
        "aws-s3-sse-c-blocked-2026": "2026-04-06",
    }


def test_the_change_counts_among_the_resources_that_had_the_old_value() -> None:
    """Six unencrypted buckets of twenty get SSE-S3: all that could change did (section H1)."""
    kms = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}}]}
    states = encrypted_fleet(6, 6)
    for i in range(14):
        already = bucket(f"kms-{i:02}", Encryption=kms)
        states.append(state(bucket_id(f"kms-{i:02}"), already, baseline=already, previous=already))
    (group,) = pipeline(states)
    assert group.rule == "provider-default-change" and len(group.related) == 6
    assert group.message.startswith("the same change on 6 of 20 s3/bucket in one run")


def test_a_key_added_inside_differing_encryption_rules_is_one_change_section_h5() -> None:
    states = []
    for i in range(6):
        algorithm = (
            {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": f"key-{i}"} if i % 2 else {"SSEAlgorithm": "AES256"}
        )
        old = bucket(
            f"data-{i:02}", Encryption={"Rules": [{"ApplyServerSideEncryptionByDefault": algorithm}]}
        )
        rule = {
            "ApplyServerSideEncryptionByDefault": algorithm,
            "BlockedEncryptionTypes": {"EncryptionType": ["SSE-C"]},
        }
        new = {**old, "Encryption": {"Rules": [rule]}}
        states.append(state(bucket_id(f"data-{i:02}"), new, baseline=old, previous=old))
    (group,) = pipeline(states)
    assert [(c.path, c.before, c.after) for c in group.changes] == [
        ("Encryption.Rules[*].BlockedEncryptionTypes", None, {"EncryptionType": ["SSE-C"]})
    ]
    assert group.known_change is not None and group.known_change.id == "aws-s3-sse-c-blocked-2026"
    assert group.severity is Severity.INFO and len(group.related) == 6


def test_a_fleet_wide_change_that_undoes_an_approved_fix_says_so() -> None:
    """Versioning suspended again on every bucket, after an approved fix had enabled it."""
    states = []
    for i in range(5):
        suspended = bucket(f"data-{i:02}", Versioning={"Status": "Suspended"})
        enabled = bucket(f"data-{i:02}", Versioning={"Status": "Enabled"})
        states.append(state(bucket_id(f"data-{i:02}"), suspended, baseline=enabled, previous=enabled))
    fixed_at = datetime(2026, 10, 5, tzinfo=UTC)

    def versions(identity: ResourceId) -> list[BaselineVersion]:
        old = bucket(identity.id, Versioning={"Status": "Suspended"})
        new = bucket(identity.id, Versioning={"Status": "Enabled"})
        return [
            BaselineVersion("e" * 40, datetime(2026, 9, 1, tzinfo=UTC), "Bob", old),
            BaselineVersion("f" * 40, fixed_at, "Alice Admin", new),
        ]

    everything = {s.identity.key: s for s in states}
    (group,) = label_reverted(pipeline(states), everything, versions)
    assert group.rule == "fleet-wide-change" and group.reverted is not None
    assert group.reverted.commit == "f" * 40
    assert group.message.startswith(
        "reverted (fixed on 2026-10-05 in fffffff by Alice Admin): the same change"
    )
