"""Seed a realistic demo AWS account into a moto server, then apply a known, realistic drift."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import boto3
import botocore.config

from driftwatch.collectors.aws.context import keep_requests_on_endpoint
from driftwatch.demo import account_data as data
from driftwatch.demo import regional_services
from driftwatch.demo.account_data import ACCOUNT_ID as ACCOUNT_ID
from driftwatch.demo.account_data import BUCKETS, BucketSpec, GroupSpec
from driftwatch.demo.account_data import DEMO_REGIONS as DEMO_REGIONS
from driftwatch.demo.account_data import DRIFTED_BUCKET as DRIFTED_BUCKET
from driftwatch.demo.account_data import LEFTOVER_BUCKET as LEFTOVER_BUCKET
from driftwatch.demo.account_data import MFA_REMOVED_USER as MFA_REMOVED_USER
from driftwatch.demo.account_data import NEW_BUCKET as NEW_BUCKET
from driftwatch.demo.account_data import OPENED_GROUP_NAME as OPENED_GROUP_NAME
from driftwatch.demo.account_data import OPENED_GROUP_REGION as OPENED_GROUP_REGION
from driftwatch.demo.account_data import TAGGED_BUCKET as TAGGED_BUCKET
from driftwatch.demo.account_data import TAGGED_BUCKET_NEW_VALUE as TAGGED_BUCKET_NEW_VALUE
from driftwatch.demo.account_data import TAGGED_BUCKET_OLD_VALUE as TAGGED_BUCKET_OLD_VALUE
from driftwatch.demo.account_data import TAGGED_BUCKET_TAG as TAGGED_BUCKET_TAG

Client = Any  # boto3 clients are generated at run time and carry no static type
LOG_DELIVERY = "http://acs.amazonaws.com/groups/s3/LogDelivery"


@dataclass(frozen=True)
class DemoClients:
    """The boto3 clients that talk to one moto endpoint with dummy credentials."""

    s3: Client
    s3control: Client
    ec2: dict[str, Client]
    iam: Client
    sts: Client
    cloudtrail: dict[str, Client]
    kms: dict[str, Client]
    rds: dict[str, Client]


def demo_clients(endpoint_url: str) -> DemoClients:
    """Build s3, s3control, per-region ec2, iam and sts clients aimed at ``endpoint_url``."""
    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )
    s3_config = botocore.config.Config(s3={"addressing_style": "path"})

    def client(service: str, region: str = "us-east-1", **extra: Any) -> Client:
        return session.client(service, region_name=region, endpoint_url=endpoint_url, **extra)

    s3control = client("s3control", config=s3_config)
    keep_requests_on_endpoint(s3control, endpoint_url)  # botocore prefixes the account id to the host
    return DemoClients(
        s3=client("s3", config=s3_config),
        s3control=s3control,
        ec2={region: client("ec2", region) for region in DEMO_REGIONS},
        iam=client("iam"),
        sts=client("sts"),
        cloudtrail={region: client("cloudtrail", region) for region in DEMO_REGIONS},
        kms={region: client("kms", region) for region in DEMO_REGIONS},
        rds={region: client("rds", region) for region in DEMO_REGIONS},
    )


def _tag_set(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": key, "Value": value} for key, value in tags.items()]


def _bucket_policy(kind: str, bucket: str, region: str) -> dict[str, Any]:
    objects = f"arn:aws:s3:::{bucket}/*"
    statements: list[dict[str, Any]]
    condition: dict[str, Any]
    if kind == "public-read":
        statements = [_allow_get("PublicReadGetObject", objects)]
    elif kind == "source-vpc":
        condition = {"StringEquals": {"aws:SourceVpc": data.POLICY_VPC_IDS[region]}}
        statements = [_allow_get("ReadFromProdVpcOnly", objects, condition)]
    elif kind == "source-ip":
        condition = {"IpAddress": {"aws:SourceIp": list(data.OFFICE_CIDRS)}}
        statements = [_allow_get("ReadFromOfficeOnly", objects, condition)]
    elif kind == "tls-only":
        statements = [data.deny_insecure_transport(bucket)]
    elif kind == "cloudtrail":
        statements = data.cloudtrail_statements(bucket)
    else:
        raise ValueError(f"unknown bucket policy kind {kind!r}")
    return {"Version": "2012-10-17", "Statement": statements}


def _allow_get(sid: str, resource: str, condition: dict[str, Any] | None = None) -> dict[str, Any]:
    statement: dict[str, Any] = {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": "*",
        "Action": "s3:GetObject",
        "Resource": resource,
    }
    if condition:
        statement["Condition"] = condition
    return statement


def _log_delivery_acl(s3: Client, bucket: str) -> None:
    owner = s3.get_bucket_acl(Bucket=bucket)["Owner"]
    owner_grantee = {"Type": "CanonicalUser", "ID": owner["ID"]}
    grants = [{"Grantee": owner_grantee, "Permission": "FULL_CONTROL"}] + [
        {"Grantee": {"Type": "Group", "URI": LOG_DELIVERY}, "Permission": permission}
        for permission in ("WRITE", "READ_ACP")
    ]
    s3.put_bucket_acl(Bucket=bucket, AccessControlPolicy={"Grants": grants, "Owner": owner})


def _seed_bucket(s3: Client, spec: BucketSpec) -> None:
    create: dict[str, Any] = {"Bucket": spec.name}
    if spec.region != "us-east-1":
        create["CreateBucketConfiguration"] = {"LocationConstraint": spec.region}
    s3.create_bucket(**create)
    if spec.owner_enforced:
        rules = [{"ObjectOwnership": "BucketOwnerEnforced"}]
        s3.put_bucket_ownership_controls(Bucket=spec.name, OwnershipControls={"Rules": rules})
    if spec.acl == "log-delivery":
        _log_delivery_acl(s3, spec.name)
    elif spec.acl:
        s3.put_bucket_acl(Bucket=spec.name, ACL=spec.acl)
    if spec.block_public:
        flags = dict.fromkeys(data.PUBLIC_ACCESS_BLOCK_FLAGS, True)
        s3.put_public_access_block(Bucket=spec.name, PublicAccessBlockConfiguration=flags)
    if spec.policy:
        policy = _bucket_policy(spec.policy, spec.name, spec.region)
        s3.put_bucket_policy(Bucket=spec.name, Policy=json.dumps(policy))
    if spec.website:
        s3.put_bucket_website(Bucket=spec.name, WebsiteConfiguration=data.WEBSITE)
    if spec.sse:
        default = {"SSEAlgorithm": spec.sse}
        rule: dict[str, Any] = {"ApplyServerSideEncryptionByDefault": default}
        if spec.sse == "aws:kms":  # a KMS key, with an S3 bucket key to cut KMS requests
            default["KMSMasterKeyID"] = data.kms_key_arn(spec.region)
            rule["BucketKeyEnabled"] = True
        config = {"Rules": [rule]}
        s3.put_bucket_encryption(Bucket=spec.name, ServerSideEncryptionConfiguration=config)
    if spec.versioning:
        status = {"Status": spec.versioning}
        s3.put_bucket_versioning(Bucket=spec.name, VersioningConfiguration=status)
    if spec.tags:
        s3.put_bucket_tagging(Bucket=spec.name, Tagging={"TagSet": _tag_set(spec.tags)})


def _seed_s3(s3: Client) -> None:
    for spec in BUCKETS:
        _seed_bucket(s3, spec)
    for spec in BUCKETS:  # second pass: every log bucket exists and accepts deliveries
        if spec.logging:
            log_bucket = data.LOG_BUCKETS[spec.region]
            target = {"TargetBucket": log_bucket, "TargetPrefix": f"{spec.name}/"}
            s3.put_bucket_logging(Bucket=spec.name, BucketLoggingStatus={"LoggingEnabled": target})


def _permission(
    protocol: str, ports: tuple[int, int], source: str, note: str, ids: dict[str, str]
) -> dict[str, Any]:
    """One ingress permission; ``ids`` maps "sg:<name>" and "pl:<name>" sources to ids."""
    permission: dict[str, Any] = {"IpProtocol": protocol}
    if protocol != "-1":
        permission.update(FromPort=ports[0], ToPort=ports[1])
    if source.startswith("sg:"):
        permission["UserIdGroupPairs"] = [{"GroupId": ids[source], "Description": note}]
    elif source.startswith("pl:"):
        permission["PrefixListIds"] = [{"PrefixListId": ids[source], "Description": note}]
    elif ":" in source:
        permission["Ipv6Ranges"] = [{"CidrIpv6": source, "Description": note}]
    else:
        permission["IpRanges"] = [{"CidrIp": source, "Description": note}]
    return permission


def _seed_region_network(ec2: Client, region: str, groups: Iterable[GroupSpec]) -> None:
    vpc_name, cidr = data.VPCS[region]
    tags = {"Name": vpc_name, **data.NETWORK_TAGS}
    vpc = ec2.create_vpc(CidrBlock=cidr, TagSpecifications=[_tag_spec("vpc", tags)])["Vpc"]
    entries = [{"Cidr": c, "Description": "Acme office"} for c in data.OFFICE_CIDRS]
    prefix_list = ec2.create_managed_prefix_list(
        PrefixListName=data.OFFICE_PREFIX_LIST,
        MaxEntries=10,
        AddressFamily="IPv4",
        Entries=entries,
        TagSpecifications=[_tag_spec("prefix-list", data.NETWORK_TAGS)],
    )["PrefixList"]
    ids = {f"pl:{data.OFFICE_PREFIX_LIST}": prefix_list["PrefixListId"]}
    for group in groups:
        group_tags = {"Name": group.name, **data.NETWORK_TAGS}
        group_id = ec2.create_security_group(
            GroupName=group.name,
            Description=group.description,
            VpcId=vpc["VpcId"],
            TagSpecifications=[_tag_spec("security-group", group_tags)],
        )["GroupId"]
        ids[f"sg:{group.name}"] = group_id
        permissions = [_permission(*rule, ids=ids) for rule in group.ingress]
        if permissions:
            ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=permissions)


def _tag_spec(resource_type: str, tags: dict[str, str]) -> dict[str, Any]:
    return {"ResourceType": resource_type, "Tags": _tag_set(tags)}


def _seed_iam(iam: Client) -> None:
    iam.create_account_alias(AccountAlias=data.ACCOUNT_ALIAS)
    for name, policy in data.CUSTOMER_POLICIES.items():
        iam.create_policy(PolicyName=name, PolicyDocument=json.dumps(policy))
    for name, (managed, inline) in data.GROUPS.items():
        iam.create_group(GroupName=name)
        for arn in managed:
            iam.attach_group_policy(GroupName=name, PolicyArn=data.policy_arn(arn))
        for policy_name in inline:
            document = json.dumps(data.INLINE_POLICIES[policy_name])
            iam.put_group_policy(GroupName=name, PolicyName=policy_name, PolicyDocument=document)
    for user in data.USERS:
        iam.create_user(UserName=user.name, Path=user.path, Tags=_tag_set(user.tags))
        for group in user.groups:
            iam.add_user_to_group(GroupName=group, UserName=user.name)
        for arn in user.managed:
            iam.attach_user_policy(UserName=user.name, PolicyArn=data.policy_arn(arn))
        for policy_name in user.inline:
            document = json.dumps(data.INLINE_POLICIES[policy_name])
            iam.put_user_policy(UserName=user.name, PolicyName=policy_name, PolicyDocument=document)
        if user.console:
            iam.create_login_profile(
                UserName=user.name, Password=data.DEMO_PASSWORD, PasswordResetRequired=False
            )
        if user.mfa:
            device = iam.create_virtual_mfa_device(VirtualMFADeviceName=user.name)
            serial = device["VirtualMFADevice"]["SerialNumber"]
            iam.enable_mfa_device(
                UserName=user.name,
                SerialNumber=serial,
                AuthenticationCode1="123456",
                AuthenticationCode2="654321",
            )
        for status in user.keys:
            key_id = iam.create_access_key(UserName=user.name)["AccessKey"]["AccessKeyId"]
            if status != "Active":
                iam.update_access_key(UserName=user.name, AccessKeyId=key_id, Status=status)
    iam.update_account_password_policy(**data.PASSWORD_POLICY)


def _seed_roles(iam: Client) -> None:
    for name, (principal, managed) in data.ROLES.items():
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(data.trust(principal)))
        for arn in managed:
            iam.attach_role_policy(RoleName=name, PolicyArn=data.policy_arn(arn))


def _seed_trails(clients: DemoClients) -> None:
    for trail in data.TRAILS:
        client = clients.cloudtrail[trail.region]
        client.create_trail(
            Name=trail.name,
            S3BucketName=trail.bucket,
            IsMultiRegionTrail=trail.multi_region,
            EnableLogFileValidation=True,
            KmsKeyId=data.kms_key_arn(trail.region),
        )
        client.start_logging(Name=trail.name)


def _seed_keys(clients: DemoClients) -> None:
    for region, keys in data.KMS_KEYS.items():
        kms = clients.kms[region]
        for alias, description, rotation in keys:
            key_id = kms.create_key(Description=description, Tags=_kms_tags(data.NETWORK_TAGS))[
                "KeyMetadata"
            ]["KeyId"]
            kms.create_alias(AliasName=alias, TargetKeyId=key_id)
            if rotation:
                kms.enable_key_rotation(KeyId=key_id)


def _kms_tags(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"TagKey": key, "TagValue": value} for key, value in tags.items()]


def _seed_databases(clients: DemoClients) -> None:
    force_ssl = [{"ParameterName": "rds.force_ssl", "ParameterValue": "1", "ApplyMethod": "immediate"}]
    for region in DEMO_REGIONS:
        rds = clients.rds[region]
        group = data.TLS_PARAMETER_GROUP
        rds.create_db_parameter_group(
            DBParameterGroupName=group, DBParameterGroupFamily="postgres16", Description="TLS only"
        )
        rds.modify_db_parameter_group(DBParameterGroupName=group, Parameters=force_ssl)
    for name, (region, engine) in data.DB_INSTANCES.items():
        clients.rds[region].create_db_instance(
            DBInstanceIdentifier=name,
            DBInstanceClass="db.t3.medium",
            Engine=engine,
            MasterUsername="acme_admin",
            MasterUserPassword=data.DEMO_PASSWORD,
            AllocatedStorage=100,
            PubliclyAccessible=False,
            StorageEncrypted=True,
            DeletionProtection=True,
            DBParameterGroupName=data.TLS_PARAMETER_GROUP,
            Tags=_tag_set(data.NETWORK_TAGS),
        )
    rds = clients.rds["us-east-1"]
    rds.create_db_cluster_parameter_group(
        DBClusterParameterGroupName=f"{data.TLS_PARAMETER_GROUP}-aurora",
        DBParameterGroupFamily="aurora-postgresql16",
        Description="TLS only",
    )
    rds.modify_db_cluster_parameter_group(
        DBClusterParameterGroupName=f"{data.TLS_PARAMETER_GROUP}-aurora", Parameters=force_ssl
    )
    rds.create_db_cluster(
        DBClusterIdentifier=data.DB_CLUSTER,
        Engine="aurora-postgresql",
        MasterUsername="acme_admin",
        MasterUserPassword=data.DEMO_PASSWORD,
        StorageEncrypted=True,
        DeletionProtection=True,
        DBClusterParameterGroupName=f"{data.TLS_PARAMETER_GROUP}-aurora",
    )


def key_id(kms: Client, alias: str) -> str:
    """The id of the key that ``alias`` names in ``kms``'s region."""
    aliases = kms.list_aliases()["Aliases"]
    return str(next(a["TargetKeyId"] for a in aliases if a["AliasName"] == alias))


def seed_account(endpoint_url: str) -> None:
    """Create the demo account (S3, security groups, IAM, CloudTrail, KMS, RDS and the regional
    services) in the empty moto at ``endpoint_url``."""
    clients = demo_clients(endpoint_url)
    try:
        clients.iam.get_policy(PolicyArn=data.policy_arn("AdministratorAccess"))
    except clients.iam.exceptions.NoSuchEntityException:
        raise RuntimeError(
            "moto has no AWS managed policies: start it with MOTO_IAM_LOAD_MANAGED_POLICIES=true"
            " (running_moto_server() does)"
        ) from None
    _seed_s3(clients.s3)
    for region in DEMO_REGIONS:
        groups = [g for g in data.SECURITY_GROUPS if g.region == region]
        _seed_region_network(clients.ec2[region], region, groups)
    _seed_iam(clients.iam)
    _seed_roles(clients.iam)
    _seed_keys(clients)
    _seed_trails(clients)
    _seed_databases(clients)
    regional_services.seed(endpoint_url)


def find_security_group(ec2: Client, group_name: str) -> dict[str, Any]:
    """Return the demo VPC's security group called ``group_name`` in ``ec2``'s region."""
    names = [name for name, _ in data.VPCS.values()]
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": names}])["Vpcs"]
    filters = [
        {"Name": "group-name", "Values": [group_name]},
        {"Name": "vpc-id", "Values": [vpc["VpcId"] for vpc in vpcs]},
    ]
    groups: list[dict[str, Any]] = ec2.describe_security_groups(Filters=filters)["SecurityGroups"]
    if len(groups) != 1:
        raise LookupError(f"expected one security group {group_name!r}, found {len(groups)}")
    return groups[0]


def apply_drift(endpoint_url: str) -> None:
    """Apply the demo drift: a bucket made public, SSH opened, MFA removed, a bucket, a tag, a role
    trusting another account, the password policy weakened, a trail stopped, a key's rotation off,
    a database made public, and one misconfiguration of each regional service
    (``regional_services.apply_drift``)."""
    clients = demo_clients(endpoint_url)
    s3 = clients.s3
    s3.delete_public_access_block(Bucket=DRIFTED_BUCKET)
    policy = _bucket_policy("public-read", DRIFTED_BUCKET, "us-east-1")
    s3.put_bucket_policy(Bucket=DRIFTED_BUCKET, Policy=json.dumps(policy))

    ec2 = clients.ec2[OPENED_GROUP_REGION]
    group_id = find_security_group(ec2, OPENED_GROUP_NAME)["GroupId"]
    note = "temporary: vendor debugging"
    ssh = [_permission("tcp", (22, 22), cidr, note, {}) for cidr in ("0.0.0.0/0", "::/0")]
    ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=ssh)

    iam = clients.iam
    for device in iam.list_mfa_devices(UserName=MFA_REMOVED_USER)["MFADevices"]:
        iam.deactivate_mfa_device(UserName=MFA_REMOVED_USER, SerialNumber=device["SerialNumber"])
        iam.delete_virtual_mfa_device(SerialNumber=device["SerialNumber"])

    s3.create_bucket(Bucket=NEW_BUCKET)
    tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=TAGGED_BUCKET)["TagSet"]}
    if tags.get(TAGGED_BUCKET_TAG) != TAGGED_BUCKET_OLD_VALUE:
        raise RuntimeError(f"{TAGGED_BUCKET} is not in its seeded state; seed the account first")
    tags[TAGGED_BUCKET_TAG] = TAGGED_BUCKET_NEW_VALUE
    s3.put_bucket_tagging(Bucket=TAGGED_BUCKET, Tagging={"TagSet": _tag_set(tags)})
    regional_services.apply_drift(endpoint_url)

    principal = {"AWS": [f"arn:aws:iam::{ACCOUNT_ID}:root", f"arn:aws:iam::{data.PARTNER_ACCOUNT}:root"]}
    document = json.dumps(data.trust(principal))
    iam.update_assume_role_policy(RoleName=data.TRUST_OPENED_ROLE, PolicyDocument=document)
    weaker = {**data.PASSWORD_POLICY, "MinimumPasswordLength": data.WEAKENED_PASSWORD_LENGTH}
    iam.update_account_password_policy(**weaker)
    iam.create_policy_version(
        PolicyArn=data.policy_arn(data.WIDENED_POLICY),
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
        ),
        SetAsDefault=True,
    )
    iam.attach_group_policy(GroupName=data.ESCALATED_GROUP, PolicyArn=data.policy_arn("AdministratorAccess"))
    clients.cloudtrail["us-east-1"].stop_logging(Name=data.STOPPED_TRAIL)
    kms = clients.kms["us-east-1"]
    kms.disable_key_rotation(KeyId=key_id(kms, data.ROTATION_OFF_KEY))
    clients.rds["us-east-1"].modify_db_instance(
        DBInstanceIdentifier=data.PUBLIC_DB, PubliclyAccessible=True, ApplyImmediately=True
    )
    tls_optional = [{"ParameterName": "rds.force_ssl", "ParameterValue": "0", "ApplyMethod": "immediate"}]
    clients.rds["us-east-1"].modify_db_cluster_parameter_group(
        DBClusterParameterGroupName=f"{data.TLS_PARAMETER_GROUP}-aurora", Parameters=tls_optional
    )


def fix_leftover_bucket(endpoint_url: str) -> None:
    """The security team's fix: the leftover public bucket's ACL made private."""
    demo_clients(endpoint_url).s3.put_bucket_acl(Bucket=LEFTOVER_BUCKET, ACL="private")


def reopen_leftover_bucket(endpoint_url: str) -> None:
    """Someone restores the leftover bucket's old public-read ACL: the fix is undone."""
    demo_clients(endpoint_url).s3.put_bucket_acl(Bucket=LEFTOVER_BUCKET, ACL="public-read")


def provider_encrypts_by_default(endpoint_url: str) -> list[str]:
    """Simulate AWS's change of 5 January 2023: every bucket without default encryption gets SSE-S3."""
    s3 = demo_clients(endpoint_url).s3
    changed = []
    for bucket in s3.list_buckets()["Buckets"]:
        try:
            s3.get_bucket_encryption(Bucket=bucket["Name"])
        except s3.exceptions.ClientError as error:
            if error.response["Error"]["Code"] != "ServerSideEncryptionConfigurationNotFoundError":
                raise
            rule = {
                "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"},
                "BucketKeyEnabled": False,
            }
            s3.put_bucket_encryption(
                Bucket=bucket["Name"], ServerSideEncryptionConfiguration={"Rules": [rule]}
            )
            changed.append(bucket["Name"])
    return changed


def revert_drift(endpoint_url: str) -> None:
    """Undo the two dangerous changes of ``apply_drift``: the bucket is private again, SSH closed."""
    clients = demo_clients(endpoint_url)
    s3 = clients.s3
    flags = dict.fromkeys(data.PUBLIC_ACCESS_BLOCK_FLAGS, True)
    s3.put_public_access_block(Bucket=DRIFTED_BUCKET, PublicAccessBlockConfiguration=flags)
    policy = _bucket_policy("tls-only", DRIFTED_BUCKET, "us-east-1")
    s3.put_bucket_policy(Bucket=DRIFTED_BUCKET, Policy=json.dumps(policy))

    ec2 = clients.ec2[OPENED_GROUP_REGION]
    group_id = find_security_group(ec2, OPENED_GROUP_NAME)["GroupId"]
    note = "temporary: vendor debugging"
    ssh = [_permission("tcp", (22, 22), cidr, note, {}) for cidr in ("0.0.0.0/0", "::/0")]
    ec2.revoke_security_group_ingress(GroupId=group_id, IpPermissions=ssh)
