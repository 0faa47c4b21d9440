"""The demo account's regional services (Lambda, EC2 defaults, snapshots, AMIs, SNS, SQS, Config,
GuardDuty): seeded clean, then one misconfiguration of each type."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import boto3

from driftwatch.demo import account_data as data

Client = Any


def _client(endpoint_url: str, service: str, region: str = "us-east-1") -> Client:
    session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing")
    return session.client(service, region_name=region, endpoint_url=endpoint_url)


def _zip() -> bytes:
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("handler.py", "def handle(event, context):\n    return {'statusCode': 200}\n")
    return code.getvalue()


def _queue_arn(region: str = "us-east-1") -> str:
    return f"arn:aws:sqs:{region}:{data.ACCOUNT_ID}:{data.ORDER_EVENTS_QUEUE}"


def _topic_arn(region: str = "us-east-1") -> str:
    return f"arn:aws:sns:{region}:{data.ACCOUNT_ID}:{data.ALERTS_TOPIC}"


def _queue_policy(condition: dict[str, Any] | None) -> str:
    statement: dict[str, Any] = {
        "Sid": "TopicDelivery",
        "Effect": "Allow",
        "Principal": "*" if condition is None else {"Service": "sns.amazonaws.com"},
        "Action": "sqs:SendMessage" if condition else "sqs:*",
        "Resource": _queue_arn(),
    }
    if condition:
        statement["Condition"] = condition
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def seed(endpoint_url: str) -> None:
    """Create the regional resources, all configured as the security team wants them."""
    iam = _client(endpoint_url, "iam")
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
             "Principal": {"Service": "lambda.amazonaws.com"}}]}  # fmt: skip
    role = iam.create_role(RoleName="acme-lambda-exec", AssumeRolePolicyDocument=json.dumps(trust))["Role"][
        "Arn"
    ]
    lam = _client(endpoint_url, "lambda")
    for name, variables in ((data.ORDERS_FUNCTION, data.ORDERS_FUNCTION_ENV), (data.THUMBNAILS_FUNCTION, {})):
        lam.create_function(
            FunctionName=name,
            Runtime="python3.12",
            Role=role,
            Handler="handler.handle",
            Code={"ZipFile": _zip()},
            Environment={"Variables": variables},
            Timeout=10,
        )
    for region in data.DEMO_REGIONS:
        ec2 = _client(endpoint_url, "ec2", region)
        ec2.enable_ebs_encryption_by_default()
        _client(endpoint_url, "guardduty", region).create_detector(Enable=True)
    ec2 = _client(endpoint_url, "ec2", data.SNAPSHOT_REGION)
    volume = ec2.create_volume(AvailabilityZone=f"{data.SNAPSHOT_REGION}a", Size=100, Encrypted=False)[
        "VolumeId"
    ]
    ec2.create_snapshot(VolumeId=volume, Description=data.SNAPSHOT_DESCRIPTION)
    ec2 = _client(endpoint_url, "ec2")
    base = ec2.describe_images(Owners=["amazon"], MaxResults=5)["Images"][0]["ImageId"]
    instance = ec2.run_instances(ImageId=base, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    ec2.create_image(InstanceId=instance, Name=data.IMAGE_NAME)
    ec2.terminate_instances(InstanceIds=[instance])
    ec2.run_instances(
        ImageId=base,
        InstanceType="t3.small",
        MinCount=1,
        MaxCount=1,
        MetadataOptions={"HttpTokens": "required", "HttpEndpoint": "enabled"},
        TagSpecifications=[
            {"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": data.WEB_INSTANCE_NAME}]}
        ],
    )
    _client(endpoint_url, "sns").create_topic(Name=data.ALERTS_TOPIC)  # AWS's default policy
    sqs = _client(endpoint_url, "sqs")
    url = sqs.create_queue(QueueName=data.ORDER_EVENTS_QUEUE, Attributes={"SqsManagedSseEnabled": "true"})
    condition = {"ArnEquals": {"aws:SourceArn": _topic_arn()}}
    sqs.set_queue_attributes(QueueUrl=url["QueueUrl"], Attributes={"Policy": _queue_policy(condition)})
    config = _client(endpoint_url, "config", data.CONFIG_REGION)
    config.put_configuration_recorder(
        ConfigurationRecorder={
            "name": "default",
            "roleARN": f"arn:aws:iam::{data.ACCOUNT_ID}:role/acme-config-recorder",
            "recordingGroup": {"allSupported": True, "includeGlobalResourceTypes": True},
        }
    )
    config.put_delivery_channel(DeliveryChannel={"name": "default", "s3BucketName": "acme-config-history"})
    config.start_configuration_recorder(ConfigurationRecorderName="default")


def apply_drift(endpoint_url: str) -> None:
    """One misconfiguration of each regional type."""
    lam = _client(endpoint_url, "lambda")
    variables = {**data.ORDERS_FUNCTION_ENV, data.LEAKED_SECRET_KEY: data.LEAKED_SECRET_VALUE}
    lam.update_function_configuration(FunctionName=data.ORDERS_FUNCTION, Environment={"Variables": variables})
    lam.create_function_url_config(FunctionName=data.ORDERS_FUNCTION, AuthType="NONE")
    lam.add_permission(
        FunctionName=data.ORDERS_FUNCTION,
        StatementId="FunctionURLAllowPublicAccess",
        Action="lambda:InvokeFunctionUrl",
        Principal="*",
        FunctionUrlAuthType="NONE",
    )
    _client(endpoint_url, "ec2", data.EBS_DEFAULT_REGION).disable_ebs_encryption_by_default()
    ec2 = _client(endpoint_url, "ec2", data.SNAPSHOT_REGION)
    snapshot = find_snapshot(ec2)
    ec2.modify_snapshot_attribute(
        SnapshotId=snapshot, Attribute="createVolumePermission", OperationType="add", GroupNames=["all"]
    )
    ec2 = _client(endpoint_url, "ec2")
    ec2.modify_image_attribute(ImageId=find_image(ec2), LaunchPermission={"Add": [{"Group": "all"}]})
    ec2.modify_instance_metadata_options(  # every option given: moto forgets the ones left out
        InstanceId=find_instance(ec2),
        HttpTokens="optional",
        HttpEndpoint="enabled",
        HttpPutResponseHopLimit=1,
        HttpProtocolIpv6="disabled",
        InstanceMetadataTags="disabled",
    )
    anyone = {"Sid": "Anyone", "Effect": "Allow", "Principal": "*",
              "Action": ["SNS:Subscribe", "SNS:Publish"], "Resource": _topic_arn()}  # fmt: skip
    public_topic = {"Version": "2012-10-17", "Statement": [anyone]}
    _client(endpoint_url, "sns").set_topic_attributes(
        TopicArn=_topic_arn(), AttributeName="Policy", AttributeValue=json.dumps(public_topic)
    )
    sqs = _client(endpoint_url, "sqs")
    url = sqs.get_queue_url(QueueName=data.ORDER_EVENTS_QUEUE)["QueueUrl"]
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": _queue_policy(None)})
    _client(endpoint_url, "config", data.CONFIG_REGION).stop_configuration_recorder(
        ConfigurationRecorderName="default"
    )
    guardduty = _client(endpoint_url, "guardduty", data.GUARDDUTY_REGION)
    for detector in guardduty.list_detectors()["DetectorIds"]:
        guardduty.update_detector(DetectorId=detector, Enable=False)


def find_snapshot(ec2: Client) -> str:
    """The id of the demo's database snapshot in ``ec2``'s region."""
    filters = [{"Name": "description", "Values": [data.SNAPSHOT_DESCRIPTION]}]
    snapshots = ec2.describe_snapshots(OwnerIds=["self"], Filters=filters)["Snapshots"]
    return str(snapshots[0]["SnapshotId"])


def find_image(ec2: Client) -> str:
    """The id of the demo's golden AMI in ``ec2``'s region."""
    images = ec2.describe_images(Owners=["self"], Filters=[{"Name": "name", "Values": [data.IMAGE_NAME]}])
    return str(images["Images"][0]["ImageId"])


def find_instance(ec2: Client) -> str:
    """The id of the demo's web server in ``ec2``'s region."""
    filters = [
        {"Name": "tag:Name", "Values": [data.WEB_INSTANCE_NAME]},
        {"Name": "instance-state-name", "Values": ["running"]},
    ]
    reservations = ec2.describe_instances(Filters=filters)["Reservations"]
    return str(reservations[0]["Instances"][0]["InstanceId"])
