"""The built-in rules and the engine, on canonical documents (cases 4, 6, 8, 10 and approval)."""

from __future__ import annotations

from pathlib import Path

import pytest

from driftwatch.baseline import load_guardrails
from driftwatch.collectors.aws.ec2 import security_group_config
from driftwatch.defaults import default_text
from driftwatch.errors import BaselineError
from driftwatch.model import ResourceId, Severity
from driftwatch.rules.engine import default_settings
from tests.support.rule_states import by_rule, findings, state

ACCOUNT = "111122223333"
GROUP = ResourceId(
    "aws",
    ACCOUNT,
    "eu-west-1",
    "ec2/security-group",
    "sg-0example0008",
    f"arn:aws:ec2:eu-west-1:{ACCOUNT}:security-group/sg-0example0008",
)
BUCKET = ResourceId("aws", ACCOUNT, "global", "s3/bucket", "example-logs", "arn:aws:s3:::example-logs")
USER = ResourceId("aws", ACCOUNT, "global", "iam/user", "alice", f"arn:aws:iam::{ACCOUNT}:user/alice")
ALL_ON = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}


CASE_8_GROUP = {
    "GroupId": "sg-0example0008",
    "GroupName": "bastion",
    "VpcId": "vpc-0example1111",
    "OwnerId": ACCOUNT,
    "IpPermissions": [
        {
            "IpProtocol": "tcp",
            "FromPort": 22,
            "ToPort": 22,
            "IpRanges": [{"CidrIp": "10.0.0.0/8"}],
            "Ipv6Ranges": [{"CidrIpv6": "::/0"}],
            "PrefixListIds": [],
            "UserIdGroupPairs": [],
        },
        {
            "IpProtocol": "tcp",
            "FromPort": 443,
            "ToPort": 443,
            "IpRanges": [],
            "Ipv6Ranges": [{"CidrIpv6": "2001:db8:1234::/48"}],
            "PrefixListIds": [],
            "UserIdGroupPairs": [],
        },
    ],
    "IpPermissionsEgress": [],
}


def test_case_8_ssh_open_over_ipv6_is_critical_and_a_specific_ipv6_range_is_not() -> None:
    config = security_group_config(CASE_8_GROUP)
    (finding,) = by_rule(findings(state(GROUP, config)))["sg-open-to-world"]
    assert finding.severity is Severity.CRITICAL
    assert finding.against == "guardrail"
    assert "tcp/22 from ::/0" in finding.message and "SSH 22" in finding.message
    assert "443" not in finding.message


@pytest.mark.parametrize("peer", ["0.0.0.0/0", "::/0"])
def test_case_8_opening_ssh_over_either_family_has_the_same_severity(peer: str) -> None:
    approved = {"GroupName": "bastion", "Ingress": {"tcp/22": ["10.0.0.0/8"]}}
    opened = {"GroupName": "bastion", "Ingress": {"tcp/22": sorted(["10.0.0.0/8", peer])}}
    (finding,) = by_rule(findings(state(GROUP, opened, baseline=approved, previous=approved)))[
        "sg-open-to-world"
    ]
    assert (finding.severity, finding.against, finding.new_since_previous) == (
        Severity.CRITICAL,
        "baseline",
        True,
    )
    assert [(c.path, c.after) for c in finding.changes] == [
        ('Ingress["tcp/22"]', sorted(["10.0.0.0/8", peer]))
    ]


def test_case_10_default_egress_is_not_a_finding_and_removing_it_is_only_drift() -> None:
    group = {
        "GroupId": "sg-0example0010",
        "GroupName": "app",
        "VpcId": "vpc-0example1111",
        "IpPermissions": [],
        "IpPermissionsEgress": [
            {
                "IpProtocol": "-1",
                "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
                "Ipv6Ranges": [],
                "PrefixListIds": [],
                "UserIdGroupPairs": [],
            }
        ],
    }
    config = security_group_config(group)
    assert config["Egress"] == {"all": ["0.0.0.0/0"]}
    assert [f.rule for f in findings(state(GROUP, config))] == ["unapproved-resource"]
    no_egress = {**config, "Egress": {}}
    found = findings(state(GROUP, no_egress, baseline=config, previous=config))
    assert [(f.rule, f.severity) for f in found] == [("baseline-drift", Severity.MEDIUM)]


def test_world_open_web_ports_are_high_and_all_ports_are_critical() -> None:
    web = {
        "GroupName": "web",
        "Ingress": {"tcp/443": ["0.0.0.0/0"], "all": ["::/0"], "tcp/1000-3000": ["0.0.0.0/0"]},
    }
    found = {
        f.message.split("ingress ")[1].split(" from")[0]: f.severity
        for f in by_rule(findings(state(GROUP, web)))["sg-open-to-world"]
    }
    assert found == {"tcp/443": Severity.HIGH, "all": Severity.CRITICAL, "tcp/1000-3000": Severity.CRITICAL}


def test_an_approved_exception_is_silent_until_it_widens() -> None:
    web = {"GroupName": "web", "Ingress": {"tcp/443": ["0.0.0.0/0"]}}
    assert findings(state(GROUP, web, baseline=web, previous=web)) == []
    wider = {"GroupName": "web", "Ingress": {"tcp/443": ["0.0.0.0/0", "::/0"]}}
    rules = [f.rule for f in findings(state(GROUP, wider, baseline=web, previous=web))]
    assert rules == ["sg-open-to-world"]


@pytest.mark.parametrize(
    ("flag", "severity"),
    [
        ("BlockPublicPolicy", Severity.MEDIUM),
        ("BlockPublicAcls", Severity.MEDIUM),
        ("IgnorePublicAcls", Severity.HIGH),
        ("RestrictPublicBuckets", Severity.HIGH),
    ],
)
def test_case_4_a_single_flag_turned_off_is_guardrail_weakened(flag: str, severity: Severity) -> None:
    approved = {
        "Name": "example-logs",
        "PublicAccessBlock": ALL_ON,
        "Acl": {"Grants": []},
        "Policy": None,
        "ObjectOwnership": "BucketOwnerEnforced",
    }
    now = {**approved, "PublicAccessBlock": {**ALL_ON, flag: False}}
    found = findings(state(BUCKET, now, baseline=approved, previous=approved))
    (weakened,) = by_rule(found)["s3-public-access-block-weakened"]
    assert weakened.severity is severity
    assert f"{flag} turned off" in weakened.message
    assert "s3-bucket-public" not in by_rule(found)  # the exposure did not change
    assert [c.path for c in weakened.changes] == [f"PublicAccessBlock.{flag}"]


def test_case_18b_block_removed_is_high_and_named_removed() -> None:
    approved = {"Name": "example-logs", "PublicAccessBlock": ALL_ON}
    now = {"Name": "example-logs", "PublicAccessBlock": None}
    (weakened,) = by_rule(findings(state(BUCKET, now, baseline=approved)))["s3-public-access-block-weakened"]
    assert weakened.severity is Severity.HIGH
    assert weakened.message.startswith("bucket example-logs Block Public Access removed")


def test_case_18a_an_unreadable_block_is_never_weakened() -> None:
    approved = {"Name": "example-logs", "PublicAccessBlock": ALL_ON}
    stale = {"Name": "example-logs", "PublicAccessBlock": ALL_ON}
    found = findings(
        state(BUCKET, stale, baseline=approved, unreadable={"PublicAccessBlock": "AccessDenied"})
    )
    assert found == []


def test_case_6_acls_re_enabled_is_a_weakened_guardrail_not_exposure() -> None:
    acl = {
        "Owner": {"ID": "owner"},
        "Grants": [{"Grantee": {"ID": "owner", "Type": "CanonicalUser"}, "Permission": "FULL_CONTROL"}],
    }
    before = {
        "Name": "example-logs",
        "Acl": acl,
        "Policy": None,
        "PublicAccessBlock": None,
        "ObjectOwnership": "BucketOwnerEnforced",
    }
    after = {**before, "ObjectOwnership": "ObjectWriter"}
    account = ResourceId("aws", ACCOUNT, "global", "s3/account-public-access-block", "account")
    block = {"PublicAccessBlock": None}
    for baseline in (before, None):  # against the approved baseline, or the previous run
        found = findings(
            state(BUCKET, after, baseline=baseline, previous=before),
            state(account, block, baseline=block, previous=block),
        )
        (reenabled,) = by_rule(found)["s3-acls-reenabled"]
        assert reenabled.severity is Severity.MEDIUM
        assert reenabled.message.startswith(
            "bucket example-logs: ACLs re-enabled (object ownership ObjectWriter"
        )
        assert [(c.path, c.before, c.after) for c in reenabled.changes] == [
            ("ObjectOwnership", "BucketOwnerEnforced", "ObjectWriter")
        ]
        assert "s3-bucket-public" not in by_rule(found)  # public: no
        assert "baseline-drift" not in by_rule(found)  # the change is claimed by the finding


def test_a_bucket_made_public_is_critical_and_says_how() -> None:
    private = {
        "Name": "example-logs",
        "Acl": {"Grants": []},
        "Policy": None,
        "PublicAccessBlock": None,
        "ObjectOwnership": None,
    }
    public = {
        **private,
        "Policy": {
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": ["*"]},
                    "Action": ["s3:getobject"],
                    "Resource": ["arn:aws:s3:::example-logs/*"],
                    "Sid": "Public",
                }
            ]
        },
    }
    account = ResourceId("aws", ACCOUNT, "global", "s3/account-public-access-block", "account")
    block = {"PublicAccessBlock": None}
    found = findings(
        state(BUCKET, public, baseline=private, previous=private),
        state(account, block, baseline=block, previous=block),
    )
    (finding,) = by_rule(found)["s3-bucket-public"]
    assert finding.severity is Severity.CRITICAL
    assert finding.message.startswith("bucket example-logs is public (read)")
    assert [c.path for c in finding.changes] == ["Policy"]
    # Without the account-level block the exposure is unknown, never "private" or "public" (case 4C).
    assert "s3-bucket-public" not in by_rule(findings(state(BUCKET, public, baseline=private)))


def test_mfa_missing_and_mfa_removed() -> None:
    with_mfa = {
        "UserName": "alice",
        "LoginProfile": {"PasswordResetRequired": False},
        "MFADevices": [f"arn:aws:iam::{ACCOUNT}:mfa/alice"],
    }
    without = {**with_mfa, "MFADevices": []}
    (finding,) = findings(state(USER, without, baseline=with_mfa, previous=with_mfa))
    assert (finding.rule, finding.severity) == ("iam-user-mfa-missing", Severity.HIGH)
    assert "MFA device arn:aws:iam::111122223333:mfa/alice removed since the last run" in finding.message
    no_console = {"UserName": "svc", "LoginProfile": None, "MFADevices": []}
    assert findings(state(USER, no_console, baseline=no_console)) == []
    unknown = {"UserName": "alice", "LoginProfile": {"PasswordResetRequired": False}, "MFADevices": []}
    assert findings(
        state(USER, unknown, baseline=with_mfa, unreadable={"MFADevices": "AccessDenied"})
    ) != [] and all(
        f.rule == "baseline-drift"
        for f in findings(state(USER, unknown, baseline=with_mfa, unreadable={"MFADevices": "AccessDenied"}))
    )


def test_deleted_resource_with_a_baseline_is_drift_and_unapproved_resource_is_low() -> None:
    approved = {"Name": "example-logs"}
    (deleted,) = findings(state(BUCKET, None, baseline=approved, previous=approved))
    assert (deleted.rule, deleted.severity) == ("baseline-drift", Severity.MEDIUM)
    assert "was deleted" in deleted.message
    (new,) = findings(state(BUCKET, {"Name": "example-logs"}))
    assert (new.rule, new.severity, new.against) == ("unapproved-resource", Severity.LOW, "baseline")
    assert "driftwatch approve arn:aws:s3:::example-logs" in new.message


def write_guardrails(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "guardrails.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_default_guardrails_match_the_rules_defaults(tmp_path: Path) -> None:
    loaded = load_guardrails(write_guardrails(tmp_path, default_text("guardrails.toml")))
    assert loaded == default_settings()
    assert loaded["sg-open-to-world"].params["other_ports_severity"] == "high"
    assert 5432 in loaded["sg-open-to-world"].params["admin_ports"]
    assert loaded["s3-bucket-public"].severity is Severity.CRITICAL


def test_guardrails_disable_and_reweight_rules(tmp_path: Path) -> None:
    settings = load_guardrails(
        write_guardrails(
            tmp_path,
            """
[rules.unapproved-resource]
enabled = false
[rules.sg-open-to-world]
severity = "high"
admin_ports = [22]
""",
        )
    )
    web = {"GroupName": "db", "Ingress": {"tcp/5432": ["0.0.0.0/0"], "tcp/22": ["0.0.0.0/0"]}}
    found = findings(state(GROUP, web), settings=settings)
    assert sorted((f.message.split("ingress ")[1].split(" ")[0], f.severity) for f in found) == [
        ("tcp/22", Severity.HIGH),
        ("tcp/5432", Severity.HIGH),
    ]
    assert all(f.rule != "unapproved-resource" for f in found)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[rules.s3-bucket-publik]\n", "guardrails.toml: [rules.s3-bucket-publik]: unknown rule"),
        (
            '[rules.s3-bucket-public]\nseverity = "severe"\n',
            "guardrails.toml: [rules.s3-bucket-public] severity: 'severe' is not a severity",
        ),
        (
            '[rules.s3-bucket-public]\nenabled = "yes"\n',
            "guardrails.toml: [rules.s3-bucket-public] enabled: must be true or false, not 'yes'",
        ),
        (
            '[rules.sg-open-to-world]\nadmin_ports = ["22"]\n',
            "guardrails.toml: [rules.sg-open-to-world] admin_ports: must be a list of int",
        ),
        (
            "[rules.sg-open-to-world]\nports = [22]\n",
            "guardrails.toml: [rules.sg-open-to-world] ports: unknown key for rule sg-open-to-world",
        ),
        ("[rules]\nx = 1\n", "guardrails.toml: [rules.x]: unknown rule"),
        (
            "[rules.sg-open-to-world]\nadmin_ports = [22, 70000]\n",
            "guardrails.toml: [rules.sg-open-to-world] admin_ports: ports are numbers from 1 to 65535",
        ),
        (
            "[rules.provider-default-change]\nmin_share = 1.5\n",
            "guardrails.toml: [rules.provider-default-change] min_share: a share between 0 and 1 "
            "(0.5 = half), not 1.5",
        ),
        (
            "[rules.provider-default-change]\nmin_resources = 0\n",
            "guardrails.toml: [rules.provider-default-change] min_resources: must be at least 1, not 0",
        ),
        ("severity = 1\n", "guardrails.toml: unknown table or key 'severity'"),
        ("[rules.s3-bucket-public\n", "guardrails.toml: not valid TOML: Expected ']'"),
    ],
)
def test_a_malformed_guardrail_file_is_named_precisely(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(BaselineError) as error:
        load_guardrails(write_guardrails(tmp_path, text), "guardrails.toml")
    assert str(error.value).startswith(message)


def test_a_public_bucket_whose_policy_cannot_be_read_stays_reported() -> None:
    account = ResourceId("aws", ACCOUNT, "global", "s3/account-public-access-block", "account")
    block = {"PublicAccessBlock": None}
    public = {
        "Name": "example-logs",
        "Acl": {"Grants": []},
        "PublicAccessBlock": None,
        "ObjectOwnership": None,
        "Policy": {
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": ["*"]},
                    "Action": ["s3:getobject"],
                    "Resource": ["arn:aws:s3:::example-logs/*"],
                    "Sid": "Public",
                }
            ]
        },
    }
    denied = {"Policy": "AccessDenied", "PublicAccessBlock": "AccessDenied"}
    found = findings(
        state(BUCKET, public, previous=public, unreadable=denied), state(account, block, previous=block)
    )
    (finding,) = by_rule(found)["s3-bucket-public"]
    assert finding.severity is Severity.CRITICAL
    assert finding.message.startswith("bucket example-logs cannot be verified now (")
    assert "at the last successful read it was public (read)" in finding.message
    assert not finding.new_since_previous
    # Approved as public, it stays an approved exception while unreadable.
    approved = findings(
        state(BUCKET, public, baseline=public, previous=public, unreadable=denied),
        state(account, block, baseline=block),
    )
    assert "s3-bucket-public" not in by_rule(approved)


def test_a_guardrail_finding_keeps_its_id_from_the_run_that_caused_it_to_the_runs_after() -> None:
    opened = security_group_config(CASE_8_GROUP)
    closed = {**opened, "Ingress": {k: v for k, v in opened["Ingress"].items() if k != "tcp/22"}}
    (caused,) = by_rule(findings(state(GROUP, opened, previous=closed)))["sg-open-to-world"]
    (still,) = by_rule(findings(state(GROUP, opened, previous=opened)))["sg-open-to-world"]
    assert [c.path for c in caused.changes] == ['Ingress["tcp/22"]'] and still.changes == ()
    assert caused.id == still.id
    other = {**opened, "Ingress": {**opened["Ingress"], "tcp/3389": ["0.0.0.0/0"]}}
    ids = {f.id for f in by_rule(findings(state(GROUP, other, previous=other)))["sg-open-to-world"]}
    assert len(ids) == 2 and caused.id in ids
