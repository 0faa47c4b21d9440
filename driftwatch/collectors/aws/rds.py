"""RDS: DB instances and clusters of a region, with the TLS settings of their parameter groups."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from driftwatch.collectors import Collection
from driftwatch.collectors.aws.calls import ReadFailure, paginate
from driftwatch.collectors.aws.context import AwsContext
from driftwatch.collectors.aws.fields import tag_map
from driftwatch.model import CoverageGap, Resource, ResourceId, Scope

INSTANCE = "rds/db-instance"
CLUSTER = "rds/db-cluster"

TLS_PARAMETERS = ("rds.force_ssl", "require_secure_transport")
"""Parameters that make the engine refuse unencrypted connections (PostgreSQL and SQL Server; MySQL
and MariaDB). A parameter the group's engine does not have is left out."""

INSTANCE_KEYS = (
    "AutoMinorVersionUpgrade",
    "BackupRetentionPeriod",
    "CACertificateIdentifier",
    "CopyTagsToSnapshot",
    "DBClusterIdentifier",
    "DBInstanceArn",
    "DBInstanceClass",
    "DBInstanceIdentifier",
    "DeletionProtection",
    "Engine",
    "EngineVersion",
    "IAMDatabaseAuthenticationEnabled",
    "InstanceCreateTime",
    "KmsKeyId",
    "MultiAZ",
    "PubliclyAccessible",
    "StorageEncrypted",
)
"""Settings kept from ``DescribeDBInstances``, and when the instance was created. Status, restore
times, pending changes and the like move on their own and are left out; ``CertificateDetails``
keeps only the CA's expiry."""

CLUSTER_KEYS = (
    "BackupRetentionPeriod",
    "ClusterCreateTime",
    "DBClusterArn",
    "DBClusterIdentifier",
    "DeletionProtection",
    "Engine",
    "EngineMode",
    "EngineVersion",
    "IAMDatabaseAuthenticationEnabled",
    "KmsKeyId",
    "MultiAZ",
    "PubliclyAccessible",
    "StorageEncrypted",
)
"""Settings kept from ``DescribeDBClusters``; Aurora's storage size and capacity change on their own."""


def collect_databases(ctx: AwsContext, region: str) -> Collection:
    """Every DB instance and DB cluster of one region."""
    client = ctx.client("rds", region)
    result = Collection()
    listings = (
        (INSTANCE, "describe_db_instances", "DBInstances"),
        (CLUSTER, "describe_db_clusters", "DBClusters"),
    )
    for type_, operation, key in listings:
        scope = Scope("aws", ctx.account, region, type_)
        try:
            items = paginate(client, operation, key)
        except ReadFailure as failure:
            result = result.merge(Collection(gaps=(failure.gap(scope),)))
            continue
        groups = _parameter_groups(client, type_, items)
        resources: list[Resource] = []
        gaps: list[CoverageGap] = []
        for item in items:
            resource = _database(ctx, region, type_, item, groups)
            resources.append(resource)
            gaps.extend(
                failure.gap(scope, resource.identity, "ParameterGroups")
                for name, failure in groups.items()
                if isinstance(failure, ReadFailure) and name in _group_names(type_, item)
            )
        result = result.merge(Collection(tuple(resources), frozenset({scope}), tuple(gaps)))
    return result


def _group_names(type_: str, item: Mapping[str, Any]) -> list[str]:
    if type_ == CLUSTER:
        return [item["DBClusterParameterGroup"]] if item.get("DBClusterParameterGroup") else []
    return [g["DBParameterGroupName"] for g in item.get("DBParameterGroups", [])]


def _parameter_groups(
    client: Any, type_: str, items: Iterable[Mapping[str, Any]]
) -> dict[str, dict[str, str] | ReadFailure]:
    """The TLS parameters of every parameter group the items use, each group read once."""
    operation, argument = (
        ("describe_db_cluster_parameters", "DBClusterParameterGroupName")
        if type_ == CLUSTER
        else ("describe_db_parameters", "DBParameterGroupName")
    )
    groups: dict[str, dict[str, str] | ReadFailure] = {}
    for name in sorted({name for item in items for name in _group_names(type_, item)}):
        try:
            parameters = paginate(client, operation, "Parameters", **{argument: name})
        except ReadFailure as failure:
            groups[name] = failure
            continue
        groups[name] = {
            p["ParameterName"]: p.get("ParameterValue")
            for p in parameters
            if p.get("ParameterName") in TLS_PARAMETERS
        }
    return groups


def _database(
    ctx: AwsContext,
    region: str,
    type_: str,
    item: Mapping[str, Any],
    groups: Mapping[str, dict[str, str] | ReadFailure],
) -> Resource:
    if type_ == CLUSTER:
        identity = ResourceId(
            "aws", ctx.account, region, type_, item["DBClusterIdentifier"], item["DBClusterArn"]
        )
        config: dict[str, Any] = {k: item.get(k) for k in CLUSTER_KEYS}
        config["Members"] = [m["DBInstanceIdentifier"] for m in item.get("DBClusterMembers", [])]
    else:
        identity = ResourceId(
            "aws", ctx.account, region, type_, item["DBInstanceIdentifier"], item["DBInstanceArn"]
        )
        config = {k: item.get(k) for k in INSTANCE_KEYS}
        config["CertificateValidTill"] = (item.get("CertificateDetails") or {}).get("ValidTill")
        config["DBSubnetGroup"] = (item.get("DBSubnetGroup") or {}).get("DBSubnetGroupName")
    config["VpcSecurityGroups"] = [g["VpcSecurityGroupId"] for g in item.get("VpcSecurityGroups", [])]
    config["Tags"] = tag_map(item.get("TagList"))
    unreadable: dict[str, str] = {}
    parameters: dict[str, Any] = {}
    for name in _group_names(type_, item):
        read = groups.get(name)
        if isinstance(read, ReadFailure):
            unreadable["ParameterGroups"] = read.code
        else:
            parameters[name] = read
    if "ParameterGroups" not in unreadable:
        config["ParameterGroups"] = parameters
    return Resource(identity, config, unreadable)
