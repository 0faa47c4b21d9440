"""The demo account as data: buckets, networks, IAM, and the names of what the drift touches."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ACCOUNT_ID = "123456789012"  # moto's default account
ACCOUNT_ALIAS = "acme-prod"
DEMO_REGIONS = ("us-east-1", "eu-west-1")

# What apply_drift() changes.
DRIFTED_BUCKET = "acme-prod-invoices"  # private -> public access block removed + public policy
NEW_BUCKET = "acme-tmp-data-export"  # created by the drift, in us-east-1, nothing configured
TAGGED_BUCKET = "acme-data-lake-raw"  # one tag value changes
TAGGED_BUCKET_TAG = "cost-center"
TAGGED_BUCKET_OLD_VALUE = "CC-2040"
TAGGED_BUCKET_NEW_VALUE = "CC-2045"
OPENED_GROUP_NAME = "acme-bastion"  # SSH opened to 0.0.0.0/0 and ::/0
OPENED_GROUP_REGION = "eu-west-1"
LEFTOVER_BUCKET = "acme-legacy-ftp-mirror"  # public-read ACL; closed by an approved fix, later re-opened
MFA_REMOVED_USER = "carol.diaz"  # has a console password; loses her MFA device

OFFICE_CIDRS = ("203.0.113.0/24", "198.51.100.0/24")  # documentation ranges (RFC 5737)
OFFICE_PREFIX_LIST = "acme-office-networks"
# Fixed ids in aws:SourceVpc conditions; moto's VPC ids are random, so these name no moto VPC.
POLICY_VPC_IDS = {"us-east-1": "vpc-0a1b2c3d4e5f60001", "eu-west-1": "vpc-0a1b2c3d4e5f60002"}
# Region -> (Name tag, CIDR) of the VPC that holds the demo security groups.
VPCS = {
    "us-east-1": ("acme-prod-use1", "10.10.0.0/16"),
    "eu-west-1": ("acme-prod-euw1", "10.20.0.0/16"),
}
LOG_BUCKETS = {"us-east-1": "acme-s3-access-logs-use1", "eu-west-1": "acme-s3-access-logs-euw1"}
NETWORK_TAGS = {"team": "platform", "env": "prod", "managed-by": "terraform"}
PUBLIC_ACCESS_BLOCK_FLAGS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy",
                             "RestrictPublicBuckets")  # fmt: skip
WEBSITE: dict[str, Any] = {
    "IndexDocument": {"Suffix": "index.html"},
    "ErrorDocument": {"Key": "404.html"},
}
DEMO_PASSWORD = "Acme-Demo-Only-Passw0rd!"  # every console user's; a fake account in moto


def kms_key_arn(region: str) -> str:
    """The KMS key (an alias ARN) used for SSE-KMS default encryption in ``region``."""
    return f"arn:aws:kms:{region}:{ACCOUNT_ID}:alias/acme-s3-data"


def _parse_tags(text: str) -> dict[str, str]:
    return dict(pair.split("=", 1) for pair in text.split())


@dataclass(frozen=True)
class BucketSpec:
    """One bucket: where it lives and how it is configured (None / False: not configured)."""

    name: str
    region: str = "us-east-1"
    tags: dict[str, str] = field(default_factory=dict)
    block_public: bool = False  # bucket-level public access block, all four flags on
    acl: str | None = None  # canned ACL, or "log-delivery" (LogDelivery WRITE + READ_ACP)
    policy: str | None = None  # public-read | source-vpc | source-ip | tls-only | cloudtrail
    website: bool = False
    sse: str | None = None  # AES256 | aws:kms
    versioning: str | None = None  # Enabled | Suspended
    logging: bool = False  # access logs to LOG_BUCKETS[region]
    owner_enforced: bool = False  # ObjectOwnership BucketOwnerEnforced

    @classmethod
    def parse(cls, name: str, region: str, settings: str, tags: str = "") -> BucketSpec:
        """Read ``settings`` words: pab, website, logging, owner-enforced, acl:X, policy:X,
        sse:X, versioning:X (the BucketSpec fields), and ``tags`` words ``key=value``."""
        values: dict[str, Any] = {}
        for word in settings.split():
            key, _, value = word.partition(":")
            key = {"pab": "block_public", "owner-enforced": "owner_enforced"}.get(key, key)
            if key not in cls.__dataclass_fields__:
                raise ValueError(f"unknown bucket setting {word!r} for {name}")
            values[key] = value or True
        return cls(name, region, _parse_tags(tags), **values)


_E, _W = "us-east-1", "eu-west-1"
_CONFIDENTIAL = "data-classification=confidential"
# fmt: off
_BUCKET_ROWS: tuple[tuple[str, str, str, str], ...] = (
    (LOG_BUCKETS[_E], _E, "pab acl:log-delivery sse:AES256",
     "team=platform env=prod cost-center=CC-1000 data-classification=internal"),
    (DRIFTED_BUCKET, _E, "pab policy:tls-only sse:aws:kms versioning:Enabled logging",
     f"team=billing env=prod cost-center=CC-1001 {_CONFIDENTIAL}"),
    ("acme-prod-customer-uploads", _E, "pab sse:aws:kms versioning:Enabled logging",
     f"team=core env=prod cost-center=CC-1100 {_CONFIDENTIAL}"),
    ("acme-prod-db-backups", _E, "pab sse:aws:kms versioning:Enabled owner-enforced",
     "team=platform env=prod cost-center=CC-1000 backup=daily"),
    ("acme-prod-app-artifacts", _E, "policy:source-vpc sse:AES256 versioning:Enabled",
     "team=platform env=prod cost-center=CC-1000"),
    ("acme-marketing-site", _E, "policy:public-read website sse:AES256 logging",
     "team=marketing env=prod cost-center=CC-3000 website=www.acme.example"),
    ("acme-docs-site", _E, "policy:public-read website sse:AES256",
     "team=docs env=prod cost-center=CC-3100 website=docs.acme.example"),
    ("acme-press-kit", _E, "acl:public-read",
     "team=marketing env=prod cost-center=CC-3000"),
    ("acme-partner-downloads", _E, "acl:authenticated-read sse:AES256",
     "team=partners env=prod cost-center=CC-3200"),
    ("acme-public-datasets", _E, "acl:public-read sse:AES256 versioning:Enabled",
     "team=research env=prod cost-center=CC-4000 public=true"),
    ("acme-office-reports", _E, "policy:source-ip sse:aws:kms logging",
     "team=finance env=prod cost-center=CC-1002"),
    ("acme-internal-tools", _E, "policy:source-vpc sse:AES256",
     "team=platform env=prod cost-center=CC-1000"),
    ("acme-staging-assets", _E, "sse:AES256 versioning:Suspended",
     "team=core env=staging cost-center=CC-1100"),
    ("acme-dev-scratch", _E, "",
     "team=core env=dev cost-center=CC-1100 owner=bob.martin"),
    ("acme-cloudtrail-logs", _E,
     "pab policy:cloudtrail sse:aws:kms versioning:Enabled owner-enforced",
     "team=security env=prod cost-center=CC-5000"),
    ("acme-terraform-state", _E,
     "pab policy:tls-only sse:aws:kms versioning:Enabled owner-enforced",
     "team=platform env=prod cost-center=CC-1000"),
    (TAGGED_BUCKET, _E, "pab sse:aws:kms logging",
     f"team=data env=prod cost-center={TAGGED_BUCKET_OLD_VALUE} {_CONFIDENTIAL}"),
    ("acme-data-lake-curated", _E, "pab sse:aws:kms versioning:Enabled logging",
     "team=data env=prod cost-center=CC-2040"),
    ("acme-ml-training-data", _E, "pab", ""),
    ("acme-legacy-ftp-mirror", _E, "acl:public-read", ""),
    ("acme-hr-documents", _E,
     "pab policy:tls-only sse:aws:kms versioning:Enabled logging owner-enforced",
     "team=hr env=prod cost-center=CC-6000 data-classification=restricted"),
    ("acme-ci-cache", _E, "",
     "team=platform env=ci cost-center=CC-1000"),
    (LOG_BUCKETS[_W], _W, "pab acl:log-delivery sse:AES256",
     "team=platform env=prod cost-center=CC-1000 data-classification=internal"),
    ("acme-eu-customer-data", _W, "pab sse:aws:kms versioning:Enabled logging",
     f"team=core env=prod cost-center=CC-1100 {_CONFIDENTIAL} gdpr=true"),
    ("acme-eu-marketing-site", _W, "policy:public-read website sse:AES256",
     "team=marketing env=prod cost-center=CC-3000 website=eu.acme.example"),
    ("acme-eu-analytics-exports", _W, "policy:source-ip sse:aws:kms logging",
     "team=data env=prod cost-center=CC-2040"),
    ("acme-eu-backups", _W, "pab sse:aws:kms versioning:Enabled owner-enforced",
     "team=platform env=prod cost-center=CC-1000 backup=daily"),
    ("acme-eu-app-artifacts", _W, "policy:source-vpc sse:AES256 versioning:Enabled",
     "team=platform env=prod cost-center=CC-1000"),
    ("acme-eu-staging-uploads", _W, "",
     "team=core env=staging cost-center=CC-1100"),
)
# fmt: on
BUCKETS: tuple[BucketSpec, ...] = tuple(BucketSpec.parse(*row) for row in _BUCKET_ROWS)


def deny_insecure_transport(bucket: str) -> dict[str, Any]:
    """The usual "TLS only" deny statement (Principal "*" but a Deny: not public)."""
    return {
        "Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
        "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }  # fmt: skip


def cloudtrail_statements(bucket: str) -> list[dict[str, Any]]:
    """The standard CloudTrail delivery statements (a service principal: not public)."""
    service = {"Service": "cloudtrail.amazonaws.com"}
    return [
        {"Sid": "AWSCloudTrailAclCheck", "Effect": "Allow", "Principal": service,
         "Action": "s3:GetBucketAcl", "Resource": f"arn:aws:s3:::{bucket}"},
        {"Sid": "AWSCloudTrailWrite", "Effect": "Allow", "Principal": service,
         "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{bucket}/AWSLogs/{ACCOUNT_ID}/*",
         "Condition": {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control"}}},
    ]  # fmt: skip


# Rule: (protocol, (from port, to port), source, description). A source is a CIDR (IPv4 or
# IPv6), "sg:<name of a group created earlier in the same region>" or "pl:<prefix list name>".
Rule = tuple[str, tuple[int, int], str, str]


@dataclass(frozen=True)
class GroupSpec:
    """One security group in the demo VPC of ``region``."""

    region: str
    name: str
    description: str
    ingress: tuple[Rule, ...]


def _groups(region: str) -> tuple[GroupSpec, ...]:
    office, vpc_cidr = OFFICE_CIDRS[0], VPCS[region][1]
    # fmt: off
    return (
        GroupSpec(region, "acme-web", "Public load balancers", (
            ("tcp", (80, 80), "0.0.0.0/0", "HTTP from anywhere"),
            ("tcp", (80, 80), "::/0", "HTTP from anywhere"),
            ("tcp", (443, 443), "0.0.0.0/0", "HTTPS from anywhere"),
            ("tcp", (443, 443), "::/0", "HTTPS from anywhere"))),
        GroupSpec(region, "acme-bastion", "SSH bastion", (
            ("tcp", (22, 22), office, "SSH from the office"),)),
        GroupSpec(region, "acme-app", "Application servers", (
            ("tcp", (8080, 8080), "sg:acme-web", "From the load balancers"),
            ("tcp", (22, 22), "sg:acme-bastion", "SSH from the bastion"))),
        GroupSpec(region, "acme-db", "PostgreSQL", (
            ("tcp", (5432, 5432), "sg:acme-app", "From the app servers"),)),
        GroupSpec(region, "acme-internal", "Anything from the private ranges", (
            ("-1", (-1, -1), "10.0.0.0/8", "RFC 1918"),
            ("-1", (-1, -1), "172.16.0.0/12", "RFC 1918"))),
        GroupSpec(region, "acme-monitoring", "Prometheus exporters and Grafana", (
            ("tcp", (9100, 9100), vpc_cidr, "node_exporter from the VPC"),
            ("tcp", (3000, 3000), f"pl:{OFFICE_PREFIX_LIST}", "Grafana from the office"))),
    )
    # fmt: on


SECURITY_GROUPS: tuple[GroupSpec, ...] = (
    *_groups("us-east-1"),
    GroupSpec(_E, "acme-cache", "Redis", (("tcp", (6379, 6379), "sg:acme-app", "From the app"),)),
    GroupSpec(_E, "acme-vpn", "Client VPN endpoint", (("udp", (1194, 1194), "0.0.0.0/0", "VPN"),)),
    *_groups("eu-west-1"),
)


def policy_arn(name: str) -> str:
    """The ARN of a managed policy: ours when named in CUSTOMER_POLICIES, else AWS's."""
    if name in CUSTOMER_POLICIES:
        return f"arn:aws:iam::{ACCOUNT_ID}:policy/{name}"
    return f"arn:aws:iam::aws:policy/{name}"


def _allow(actions: list[str], resources: list[str] | str = "*") -> dict[str, Any]:
    statement = {"Effect": "Allow", "Action": actions, "Resource": resources}
    return {"Version": "2012-10-17", "Statement": [statement]}


def _bucket_and_objects(bucket: str) -> list[str]:
    return [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]


CUSTOMER_POLICIES: dict[str, dict[str, Any]] = {
    "acme-ci-deploy": _allow(
        ["s3:PutObject", "s3:GetObject", "ecs:UpdateService", "ecs:RegisterTaskDefinition"],
        ["arn:aws:s3:::acme-prod-app-artifacts/*", "*"],
    ),
    "acme-ops-runbooks": _allow(["ssm:StartSession", "ssm:SendCommand", "ec2:RebootInstances"]),
}
INLINE_POLICIES: dict[str, dict[str, Any]] = {
    "developers-artifacts": _allow(
        ["s3:GetObject", "s3:ListBucket"], _bucket_and_objects("acme-prod-app-artifacts")
    ),
    "backups-write": _allow(["s3:PutObject", "s3:ListBucket"], _bucket_and_objects("acme-prod-db-backups")),
    "cloudwatch-read": _allow(["cloudwatch:GetMetricData", "cloudwatch:ListMetrics", "logs:FilterLogEvents"]),
    "legacy-s3-full": _allow(["s3:*"]),
}
WIDENED_POLICY = "acme-ops-runbooks"  # the drift gives it a new default version allowing everything
ESCALATED_GROUP = "Finance"  # the drift attaches AdministratorAccess to it
# Group name -> (managed policies, inline policies).
GROUPS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "Admins": (("AdministratorAccess",), ()),
    "Developers": (("PowerUserAccess",), ("developers-artifacts",)),
    "Ops": (("ReadOnlyAccess", "acme-ops-runbooks"), ()),
    "Finance": (("job-function/Billing",), ()),
}


@dataclass(frozen=True)
class UserSpec:
    """One IAM user; ``keys`` holds the status of each access key, in creation order."""

    name: str
    path: str
    console: bool  # has a login profile (a console password)
    mfa: bool  # has an enabled virtual MFA device
    keys: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    managed: tuple[str, ...] = ()
    inline: tuple[str, ...] = ()
    tags: dict[str, str] = field(default_factory=dict)


_H, _S = "/humans/", "/service/"
# fmt: off
USERS: tuple[UserSpec, ...] = (
    UserSpec("alice.nguyen", _H, console=True, mfa=True, groups=("Admins",),
             tags=_parse_tags("team=platform email=alice@acme.example")),
    UserSpec("bob.martin", _H, console=True, mfa=True, keys=("Active",), groups=("Developers",),
             tags=_parse_tags("team=core email=bob@acme.example")),
    UserSpec(MFA_REMOVED_USER, _H, console=True, mfa=True, groups=("Finance",),
             tags=_parse_tags("team=finance email=carol@acme.example")),
    UserSpec("dave.okafor", _H, console=True, mfa=True, keys=("Active",),
             groups=("Ops", "Developers"), tags=_parse_tags("team=ops email=dave@acme.example")),
    UserSpec("erin.walsh", _H, console=True, mfa=False, groups=("Developers",),
             tags=_parse_tags("team=core contractor=true email=erin@contractor.example")),
    UserSpec("frank.li", _H, console=True, mfa=False, keys=("Inactive", "Active"),
             managed=("ReadOnlyAccess",), tags=_parse_tags("team=data")),
    UserSpec("break-glass-admin", _H, console=True, mfa=True, groups=("Admins",),
             tags=_parse_tags("purpose=emergency")),
    UserSpec("svc-ci-deploy", _S, console=False, mfa=False, keys=("Active",),
             managed=("acme-ci-deploy",), tags=_parse_tags("team=platform system=github-actions")),
    UserSpec("svc-terraform", _S, console=False, mfa=False, keys=("Active",),
             managed=("AdministratorAccess",), tags=_parse_tags("team=platform system=terraform")),
    UserSpec("svc-backup-agent", _S, console=False, mfa=False, keys=("Inactive",),
             inline=("backups-write",), tags=_parse_tags("team=platform")),
    UserSpec("svc-monitoring", _S, console=False, mfa=False, keys=("Active",),
             inline=("cloudwatch-read",), tags=_parse_tags("team=platform system=grafana")),
    UserSpec("legacy-reporting", _S, console=False, mfa=False, keys=("Active",),
             inline=("legacy-s3-full",)),
)
# fmt: on

PASSWORD_POLICY: dict[str, Any] = {
    "MinimumPasswordLength": 14,
    "RequireSymbols": True,
    "RequireNumbers": True,
    "RequireUppercaseCharacters": True,
    "RequireLowercaseCharacters": True,
    "AllowUsersToChangePassword": True,
    "MaxPasswordAge": 90,
    "PasswordReusePrevention": 24,
    "HardExpiry": False,
}

# IAM roles, CloudTrail, KMS and RDS, and what the drift changes in them.
PARTNER_ACCOUNT = "444455556666"  # a support vendor's account, not ours
TRUST_OPENED_ROLE = "acme-support-access"  # the drift lets PARTNER_ACCOUNT assume it
STOPPED_TRAIL = "acme-org-audit"  # the drift stops its logging
ROTATION_OFF_KEY = "alias/acme-payments"  # the drift turns its automatic rotation off
LEGACY_KEY = "alias/acme-legacy-app"  # seeded without rotation (approved as an exception)
PUBLIC_DB = "acme-orders-db"  # the drift makes it publicly accessible
WEAKENED_PASSWORD_LENGTH = 8  # the drift lowers the password policy's minimum length to this


def trust(principal: dict[str, Any]) -> dict[str, Any]:
    """A trust policy letting ``principal`` assume a role."""
    statement = {"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}
    return {"Version": "2012-10-17", "Statement": [statement]}


# Role name -> (trusted principal, managed policies).
ROLES: dict[str, tuple[dict[str, Any], tuple[str, ...]]] = {
    TRUST_OPENED_ROLE: ({"AWS": f"arn:aws:iam::{ACCOUNT_ID}:root"}, ("ReadOnlyAccess",)),
    "acme-orders-lambda": ({"Service": "lambda.amazonaws.com"}, ("acme-ci-deploy",)),
    "acme-app-instance": ({"Service": "ec2.amazonaws.com"}, ("acme-ops-runbooks",)),
}


@dataclass(frozen=True)
class TrailSpec:
    """One CloudTrail trail, created in ``region`` (its home region)."""

    name: str
    region: str
    multi_region: bool
    bucket: str


TRAILS = (
    TrailSpec(STOPPED_TRAIL, _E, True, "acme-cloudtrail-logs"),
    TrailSpec("acme-eu-data-events", _W, False, LOG_BUCKETS[_W]),
)
# Region -> (alias, description, rotation on) of its customer-managed keys.
KMS_KEYS: dict[str, tuple[tuple[str, str, bool], ...]] = {
    _E: (
        ("alias/acme-s3-data", "S3 default encryption", True),
        (ROTATION_OFF_KEY, "Card tokens", True),
        (LEGACY_KEY, "Legacy app secrets (rotation breaks its client)", False),
    ),
    _W: (("alias/acme-s3-data", "S3 default encryption", True),),
}
TLS_PARAMETER_GROUP = "acme-postgres16-tls"
# DB instance -> (region, engine); every one private, encrypted, TLS enforced.
DB_INSTANCES = {PUBLIC_DB: (_E, "postgres"), "acme-analytics-db": (_W, "postgres")}
DB_CLUSTER = "acme-ledger"  # Aurora PostgreSQL in us-east-1

# The regional services (demo/regional_services.py): clean when seeded; apply_drift() leaves one
# misconfiguration of each type, which the second run reports.
ORDERS_FUNCTION = "acme-orders-api"  # us-east-1; gets a plaintext secret and a public URL
ORDERS_FUNCTION_ENV = {
    "DB_HOST": "orders.cluster-c0ffee.us-east-1.rds.amazonaws.com",
    "DB_SECRET_NAME": "prod/orders/db",  # a reference to Secrets Manager: fine
    "AWS_CA_BUNDLE": "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
}
LEAKED_SECRET_KEY = "PAYMENT_API_KEY"
LEAKED_SECRET_VALUE = "demo-only-not-a-real-key-7f3a"  # never in git, logs or the report
THUMBNAILS_FUNCTION = "acme-thumbnails"
EBS_DEFAULT_REGION = "eu-west-1"  # EBS encryption by default: on in both regions, then off here
SNAPSHOT_REGION = "eu-west-1"
SNAPSHOT_DESCRIPTION = "acme-orders-db nightly"  # shared with everyone by the drift
IMAGE_NAME = "acme-web-golden-2026-11"  # us-east-1; made public by the drift
WEB_INSTANCE_NAME = "acme-web-1"  # us-east-1, IMDSv2 only; the drift lets IMDSv1 answer again
ALERTS_TOPIC = "acme-security-alerts"  # AWS's default policy, then opened to everyone
ORDER_EVENTS_QUEUE = "acme-order-events"  # subscribed to the topic, then opened to everyone
CONFIG_REGION = "us-east-1"  # the Config recorder is stopped here
GUARDDUTY_REGION = "us-east-1"  # the GuardDuty detector is suspended here
