"""The comparator: precise paths, nothing collapsed, reordered lists are not changes."""

from __future__ import annotations

from deepdiff import DeepDiff

from driftwatch.collectors.aws.ec2 import canonical_rules
from driftwatch.compare import diff_configs, format_path, pinned, share_unchanged
from driftwatch.model import ResourceId

BUCKET = ResourceId("aws", "111122223333", "global", "s3/bucket", "example-logs", "arn:aws:s3:::example-logs")
GROUP = ResourceId("aws", "111122223333", "eu-west-1", "ec2/security-group", "sg-0example0011")

CASE_16_PREVIOUS = {
    "s3": {
        "buckets": {
            "example-logs": {
                "PublicAccessBlock": {
                    "BlockPublicAcls": True,
                    "IgnorePublicAcls": True,
                    "BlockPublicPolicy": True,
                    "RestrictPublicBuckets": True,
                }
            },
            "example-web": {"Acl": []},
            "example-data": {},
        }
    },
    "iam": {"users": ["svc-deploy"]},
    "ec2": {"security_groups": []},
    "lambda": {},
}
CASE_16_CURRENT = {
    "s3": {
        "buckets": {
            "example-logs": {
                "PublicAccessBlock": {
                    "BlockPublicAcls": False,
                    "IgnorePublicAcls": True,
                    "BlockPublicPolicy": True,
                    "RestrictPublicBuckets": True,
                }
            }
        }
    },
}


def test_case_16_deepdiff_defaults_collapse_but_driftwatch_does_not() -> None:
    # The fault: with deepdiff's defaults the whole document becomes one root change.
    assert list(DeepDiff(CASE_16_PREVIOUS, CASE_16_CURRENT).affected_paths) == ["root"]
    changes = {
        c.path: (c.before, c.after)
        for c in diff_configs(BUCKET, CASE_16_PREVIOUS, CASE_16_CURRENT, "previous")
    }
    assert changes["s3.buckets.example-logs.PublicAccessBlock.BlockPublicAcls"] == (True, False)
    assert set(changes) == {
        "s3.buckets.example-logs.PublicAccessBlock.BlockPublicAcls",
        "s3.buckets.example-web",
        "s3.buckets.example-data",
        "iam",
        "ec2",
        "lambda",
    }


CASE_11_BEFORE = [
    {
        "IpProtocol": "tcp",
        "FromPort": 443,
        "ToPort": 443,
        "IpRanges": [{"CidrIp": "10.0.0.0/8"}],
        "Ipv6Ranges": [],
    },
    {
        "IpProtocol": "tcp",
        "FromPort": 22,
        "ToPort": 22,
        "IpRanges": [{"CidrIp": "10.1.0.0/16"}],
        "Ipv6Ranges": [],
    },
]
CASE_11_AFTER = [
    {
        "IpProtocol": "tcp",
        "FromPort": 22,
        "ToPort": 22,
        "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
        "Ipv6Ranges": [],
    },
    {
        "IpProtocol": "tcp",
        "FromPort": 443,
        "ToPort": 443,
        "IpRanges": [{"CidrIp": "10.0.0.0/8"}],
        "Ipv6Ranges": [],
    },
]


def test_case_11_reordered_rules_give_exactly_one_change() -> None:
    # The fault: a positional diff of the raw rules reports six changes.
    raw = DeepDiff({"IpPermissions": CASE_11_BEFORE}, {"IpPermissions": CASE_11_AFTER})
    assert len(raw["values_changed"]) == 6
    before = {"Ingress": canonical_rules(CASE_11_BEFORE, "ingress", "111122223333")[0]}
    after = {"Ingress": canonical_rules(CASE_11_AFTER, "ingress", "111122223333")[0]}
    (change,) = diff_configs(GROUP, before, after, "previous")
    assert (change.path, change.before, change.after) == ('Ingress["tcp/22"]', ["10.1.0.0/16"], ["0.0.0.0/0"])


def test_case_11_grouped_and_split_rule_shapes_are_the_same() -> None:
    grouped = [
        {
            "IpProtocol": "tcp",
            "FromPort": 22,
            "ToPort": 22,
            "IpRanges": [{"CidrIp": "10.0.0.0/8"}, {"CidrIp": "192.168.0.0/16"}],
        }
    ]
    split = [
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "192.168.0.0/16"}]},
        {"IpProtocol": "6", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]},
    ]
    assert canonical_rules(grouped, "ingress", "1") == canonical_rules(split, "ingress", "1")


def test_equal_documents_give_no_changes_and_added_removed_are_whole() -> None:
    assert diff_configs(BUCKET, {"a": 1}, {"a": 1}, "baseline") == ()
    (added,) = diff_configs(BUCKET, None, {"a": 1}, "previous")
    (removed,) = diff_configs(BUCKET, {"a": 1}, None, "previous")
    assert (added.path, added.before, added.after) == ("", None, {"a": 1})
    assert (removed.path, removed.before, removed.after) == ("", {"a": 1}, None)


def test_type_changes_and_nested_list_changes_are_reported_at_the_list() -> None:
    before = {"Policy": {"Statement": [{"Effect": "Allow", "Action": ["s3:getobject"]}]}, "Flag": "1"}
    after = {"Policy": {"Statement": [{"Effect": "Allow", "Action": ["s3:*"]}]}, "Flag": 1}
    changes = {c.path: (c.before, c.after) for c in diff_configs(BUCKET, before, after, "previous")}
    assert changes == {
        "Flag": ("1", 1),
        "Policy.Statement": (
            [{"Effect": "Allow", "Action": ["s3:getobject"]}],
            [{"Effect": "Allow", "Action": ["s3:*"]}],
        ),
    }


def test_paths_are_readable() -> None:
    assert format_path(["PublicAccessBlock", "BlockPublicAcls"]) == "PublicAccessBlock.BlockPublicAcls"
    assert format_path(["Ingress", "tcp/22"]) == 'Ingress["tcp/22"]'
    assert format_path(["Tags", "cost.center"]) == 'Tags["cost.center"]'
    assert format_path(["Policy", "Statement", 0]) == "Policy.Statement[0]"


def test_a_partial_baseline_pins_only_its_keys() -> None:
    current = {"Tags": {"team": "web", "cost-center": "1"}, "Versioning": {"Status": "Enabled"}, "Name": "x"}
    baseline = {"Versioning": {"Status": "Enabled"}, "Tags": {"team": "data"}}
    assert pinned(current, baseline) == {"Versioning": {"Status": "Enabled"}, "Tags": {"team": "web"}}
    (change,) = diff_configs(BUCKET, baseline, pinned(current, baseline), "baseline")
    assert (change.path, change.before, change.after) == ("Tags.team", "data", "web")
    # A key the baseline pins that the resource no longer has is reported as removed.
    (gone,) = diff_configs(
        BUCKET, {"Logging": {"TargetBucket": "l"}}, pinned({"Name": "x"}, {"Logging": {}}), "baseline"
    )
    assert (gone.path, gone.after) == ("Logging", None)


def test_unchanged_values_are_shared_and_the_same_changes_are_found() -> None:
    before = {"Tags": {"team": "a"}, "Size": 1, "Public": True, "Rate": 0.0, "Name": "x", "Gone": [1]}
    after = {"Tags": {"team": "a"}, "Size": 1.0, "Public": 1, "Rate": -0.0, "Name": "y", "New": 2}
    shared = share_unchanged(before, after)
    assert shared is not before and shared == before  # a new mapping of the same values
    assert shared["Tags"] is after["Tags"]
    # Equal in Python, not in JSON: 1 and 1.0, True and 1, 0.0 and -0.0 stay apart.
    assert [shared[k] is before[k] for k in ("Size", "Public", "Rate", "Name", "Gone")] == [True] * 5
    changes = diff_configs(BUCKET, shared, after, "previous")
    assert changes == diff_configs(BUCKET, before, after, "previous")
    assert [c.path for c in changes] == ["Gone", "Name", "New", "Public", "Rate", "Size"]


def test_a_nan_is_never_shared_yet_compares_as_unchanged() -> None:
    before, after = {"Ratio": float("nan")}, {"Ratio": float("nan")}
    assert share_unchanged(before, after)["Ratio"] is before["Ratio"]
    assert diff_configs(BUCKET, before, after, "previous") == ()
