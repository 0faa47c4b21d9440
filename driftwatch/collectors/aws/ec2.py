"""EC2 security groups, with their rules canonicalised to one entry per protocol and port range."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from driftwatch.collectors import Collection
from driftwatch.collectors.aws.calls import ReadFailure, paginate
from driftwatch.collectors.aws.context import AwsContext
from driftwatch.collectors.aws.fields import tag_map
from driftwatch.model import Resource, ResourceId, Scope

SECURITY_GROUP = "ec2/security-group"


def rule_key(permission: Mapping[str, Any]) -> str:
    """``tcp/22``, ``tcp/1024-65535``, ``icmp/8:-1`` or ``all`` for one IpPermissions entry."""
    protocol = str(permission.get("IpProtocol", "-1")).lower()
    if protocol in ("-1", "all"):
        return "all"
    names = {"6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6"}
    protocol = names.get(protocol, protocol)
    low, high = permission.get("FromPort"), permission.get("ToPort")
    if low is None or (protocol in ("tcp", "udp") and (low, high) in ((0, 65535), (-1, -1))):
        return f"{protocol}/all"
    if protocol.startswith("icmp"):
        return f"{protocol}/{low}:{high}"
    return f"{protocol}/{low}" if low == high else f"{protocol}/{low}-{high}"


def canonical_rules(
    permissions: Sequence[Mapping[str, Any]], direction: str, own_account: str
) -> tuple[dict[str, list[str]], dict[str, str]]:
    """Rules as ``{rule key: sorted peers}``, plus ``{"<direction> <key> <peer>": description}``.

    AWS returns the same rule set in several shapes (several CIDRs under one entry, or one entry
    each) and in any order; this form is the same for all of them (case 11).
    """
    rules: dict[str, set[str]] = {}
    descriptions: dict[str, str] = {}
    for permission in permissions:
        key = rule_key(permission)
        peers: list[tuple[str, str | None]] = []
        peers += [(r["CidrIp"], r.get("Description")) for r in permission.get("IpRanges", [])]
        peers += [(r["CidrIpv6"], r.get("Description")) for r in permission.get("Ipv6Ranges", [])]
        peers += [(r["PrefixListId"], r.get("Description")) for r in permission.get("PrefixListIds", [])]
        for pair in permission.get("UserIdGroupPairs", []):
            group = pair.get("GroupId") or pair.get("GroupName", "?")
            owner = pair.get("UserId")
            peer = group if owner in (None, own_account) else f"{owner}/{group}"
            peers.append((peer, pair.get("Description")))
        for peer, description in peers:
            rules.setdefault(key, set()).add(peer)
            if description:
                descriptions[f"{direction} {key} {peer}"] = description
    return {key: sorted(peers) for key, peers in sorted(rules.items())}, descriptions


def security_group_config(group: Mapping[str, Any]) -> dict[str, Any]:
    """The canonical ``ec2/security-group`` document for one DescribeSecurityGroups entry."""
    owner = group.get("OwnerId", "")
    ingress, in_notes = canonical_rules(group.get("IpPermissions", []), "ingress", owner)
    egress, out_notes = canonical_rules(group.get("IpPermissionsEgress", []), "egress", owner)
    return {
        "Description": group.get("Description", ""),
        "Egress": egress,
        "GroupId": group["GroupId"],
        "GroupName": group.get("GroupName", ""),
        "Ingress": ingress,
        "OwnerId": owner,
        "PeerDescriptions": {**in_notes, **out_notes},
        "Tags": tag_map(group.get("Tags")),
        "VpcId": group.get("VpcId"),
    }


def collect_security_groups(ctx: AwsContext, region: str) -> Collection:
    """Every security group in one region."""
    scope = Scope("aws", ctx.account, region, SECURITY_GROUP)
    try:
        groups = paginate(ctx.client("ec2", region), "describe_security_groups", "SecurityGroups")
    except ReadFailure as failure:
        return Collection(gaps=(failure.gap(scope),))
    resources = tuple(
        Resource(
            ResourceId(
                "aws",
                ctx.account,
                region,
                SECURITY_GROUP,
                g["GroupId"],
                f"arn:aws:ec2:{region}:{ctx.account}:security-group/{g['GroupId']}",
            ),
            security_group_config(g),
        )
        for g in groups
    )
    return Collection(resources, frozenset({scope}))
