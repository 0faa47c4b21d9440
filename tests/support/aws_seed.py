"""Small builders of AWS resources in moto for the tests of the regional services."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import boto3

ACCOUNT = "123456789012"  # moto's account
LAMBDA_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ],
}
CASE_21_VARIABLES = {  # aws-semantics.md case 21, as the function's environment
    "DB_HOST": "orders.cluster-example.eu-west-1.rds.amazonaws.com",
    "DB_PASSWORD": "EXAMPLE-NOT-A-REAL-PASSWORD-1",
    "PAYMENT_API_KEY": "EXAMPLE-NOT-A-REAL-KEY-2",
    "AWS_CA_BUNDLE": "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "DB_SECRET_NAME": "prod/orders/db",
}


def client(endpoint: str, service: str, region: str = "us-east-1") -> Any:
    """A boto3 client aimed at moto's server."""
    return boto3.client(service, region_name=region, endpoint_url=endpoint)


def lambda_role(endpoint: str) -> str:
    """An execution role for test functions (moto checks that it exists)."""
    iam = client(endpoint, "iam")
    try:
        return str(iam.get_role(RoleName="orders-lambda")["Role"]["Arn"])
    except iam.exceptions.NoSuchEntityException:
        role = iam.create_role(RoleName="orders-lambda", AssumeRolePolicyDocument=json.dumps(LAMBDA_TRUST))
        return str(role["Role"]["Arn"])


def create_function(
    endpoint: str, name: str, variables: dict[str, str] | None = None, region: str = "us-east-1"
) -> dict[str, Any]:
    """A Python function with ``variables`` in its environment; returns CreateFunction's answer."""
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("handler.py", "def handle(event, context):\n    return 'ok'\n")
    answer: dict[str, Any] = client(endpoint, "lambda", region).create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=lambda_role(endpoint),
        Handler="handler.handle",
        Code={"ZipFile": code.getvalue()},
        Environment={"Variables": variables or {}},
    )
    return answer


def open_function_url(endpoint: str, name: str, region: str = "us-east-1") -> str:
    """Give the function a URL with auth type NONE and the permission the console adds with it."""
    lam = client(endpoint, "lambda", region)
    url = str(lam.create_function_url_config(FunctionName=name, AuthType="NONE")["FunctionUrl"])
    lam.add_permission(
        FunctionName=name,
        StatementId="FunctionURLAllowPublicAccess",
        Action="lambda:InvokeFunctionUrl",
        Principal="*",
        FunctionUrlAuthType="NONE",
    )
    return url


def public_snapshot(endpoint: str, region: str = "us-east-1", public: bool = True) -> str:
    """A snapshot of a new 8 GiB volume, shared with everyone when ``public``; returns its id."""
    ec2 = client(endpoint, "ec2", region)
    volume = ec2.create_volume(AvailabilityZone=f"{region}a", Size=8)["VolumeId"]
    snapshot = str(ec2.create_snapshot(VolumeId=volume, Description="orders-db nightly")["SnapshotId"])
    if public:
        ec2.modify_snapshot_attribute(
            SnapshotId=snapshot, Attribute="createVolumePermission", OperationType="add", GroupNames=["all"]
        )
    return snapshot


def public_image(endpoint: str, name: str, region: str = "us-east-1", public: bool = True) -> str:
    """An AMI made from a new instance, launchable by everyone when ``public``; returns its id."""
    ec2 = client(endpoint, "ec2", region)
    base = ec2.describe_images(Owners=["amazon"], MaxResults=5)["Images"][0]["ImageId"]
    instance = ec2.run_instances(ImageId=base, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    image = str(ec2.create_image(InstanceId=instance, Name=name)["ImageId"])
    if public:
        ec2.modify_image_attribute(ImageId=image, LaunchPermission={"Add": [{"Group": "all"}]})
    return image


def everyone_policy(arn: str, action: str, condition: dict[str, Any] | None = None) -> str:
    """A resource policy granting ``action`` on ``arn`` to ``*``, narrowed by ``condition`` if given."""
    statement: dict[str, Any] = {"Effect": "Allow", "Principal": "*", "Action": action, "Resource": arn}
    if condition:
        statement["Condition"] = condition
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def recording_config(endpoint: str, region: str = "us-east-1") -> None:
    """An AWS Config recorder with a delivery channel, started."""
    config = client(endpoint, "config", region)
    config.put_configuration_recorder(
        ConfigurationRecorder={
            "name": "default",
            "roleARN": f"arn:aws:iam::{ACCOUNT}:role/aws-config",
            "recordingGroup": {"allSupported": True, "includeGlobalResourceTypes": True},
        }
    )
    config.put_delivery_channel(DeliveryChannel={"name": "default", "s3BucketName": "config-logs"})
    config.start_configuration_recorder(ConfigurationRecorderName="default")
