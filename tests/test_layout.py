"""Where resources live in the state repository, and the identity read back from their files."""

from __future__ import annotations

from typing import Any

import pytest

from driftwatch.layout import identity_from_document, readable_label, snapshot_path
from driftwatch.model import ResourceId

GROUP = {"provider": "aws", "account": "111122223333", "region": "eu-west-1", "type": "ec2/security-group"}


def test_an_identity_is_read_back_with_its_arn_and_a_label_from_the_config() -> None:
    arn = "arn:aws:ec2:eu-west-1:111122223333:security-group/sg-0a1b"
    document = {"identity": {**GROUP, "id": "sg-0a1b", "arn": arn}, "config": {"GroupName": "bastion"}}
    identity = identity_from_document(document, "snapshots/x.json")
    assert identity == ResourceId("aws", "111122223333", "eu-west-1", "ec2/security-group", "sg-0a1b", arn)
    assert identity.label == "bastion"
    assert identity.name == "bastion (sg-0a1b)"


def test_a_label_kept_in_the_identity_wins_over_the_config_and_a_missing_arn_is_none() -> None:
    document = {"identity": {**GROUP, "id": "sg-0a1b", "label": "kept"}, "config": {"GroupName": "bastion"}}
    identity = identity_from_document(document, "alert-state.json")
    assert (identity.arn, identity.label) == (None, "kept")


@pytest.mark.parametrize(
    "document",
    [
        None,
        {"config": {}},
        {"identity": "aws/111122223333"},
        {"identity": {**GROUP}},  # no id
        {"identity": {**GROUP, "id": 7}},
        {"identity": {**GROUP, "region": None, "id": "sg-1"}},
    ],
)
def test_a_document_without_a_whole_identity_is_refused_naming_its_file(document: Any) -> None:
    with pytest.raises(ValueError) as raised:
        identity_from_document(document, "snapshots/x.json")
    needs = "provider, account, region, type, id"
    assert str(raised.value) == f'snapshots/x.json: no valid "identity" object (needs {needs})'


@pytest.mark.parametrize(
    ("type_", "config", "label"),
    [
        ("ec2/security-group", {"GroupName": "bastion"}, "bastion"),
        ("ec2/instance", {"Tags": {"Name": "web-1"}}, "web-1"),
        ("ebs/snapshot", {"Tags": {"Name": "nightly"}}, "nightly"),
        ("ami/image", {"Name": "golden-2026"}, "golden-2026"),
        ("kms/key", {"Aliases": ["alias/app", "alias/old"]}, "alias/app"),
        ("kms/key", {"Aliases": []}, ""),
        ("ec2/instance", {"Tags": ["Name", "web-1"]}, ""),  # tags not as a mapping: no label
        ("ec2/security-group", {"GroupName": 42}, ""),
        ("s3/bucket", {"Name": "named-by-its-id-already"}, ""),  # only generated ids get a label
        ("ami/image", None, ""),
    ],
)
def test_readable_labels_come_from_the_field_people_name_each_type_by(
    type_: str, config: Any, label: str
) -> None:
    assert readable_label(type_, config) == label


def test_a_snapshot_path_quotes_what_a_file_name_cannot_hold() -> None:
    identity = ResourceId("aws", "111122223333", "global", "iam/role", "path/with space")
    assert snapshot_path(identity) == "snapshots/aws/111122223333/global/iam/role/path%2Fwith%20space.json"
