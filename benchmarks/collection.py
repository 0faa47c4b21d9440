"""Collection against moto's server: driftwatch's AWS collector against a plain boto3 script.

moto runs in its own process on 127.0.0.1, seeded with a few hundred buckets. The plain script
makes the same calls as the collector's S3 part (the caller's identity, the account-level block,
the bucket list, each bucket's location and settings) with the same boto3 configuration and the
same number of workers, and does nothing else. Each side runs three times, alternately; the
fastest run of each counts.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError

from driftwatch.collectors.aws import AwsCollector
from driftwatch.collectors.aws.context import keep_requests_on_endpoint
from driftwatch.collectors.aws.s3 import BUCKET_READS
from driftwatch.config import AwsSettings

REGIONS = ("us-east-1", "eu-west-1")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_moto() -> tuple[subprocess.Popen[bytes], str]:
    """moto's server in its own process (so that it does not share this one's GIL)."""
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1):
                return server, endpoint
        except OSError:
            time.sleep(0.1)
    server.kill()
    raise RuntimeError("moto's server did not start")


def seed(endpoint: str, buckets: int) -> None:
    """Buckets in two regions, with tags, a policy, a public access block and encryption."""
    session = boto3.session.Session()
    for index in range(buckets):
        region = REGIONS[index % 2]
        s3 = session.client("s3", region_name=region, endpoint_url=endpoint)
        name = f"bench-{index:04d}"
        options: dict[str, Any] = {}
        if region != "us-east-1":
            options["CreateBucketConfiguration"] = {"LocationConstraint": region}
        s3.create_bucket(Bucket=name, **options)
        s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": [{"Key": "team", "Value": f"t{index % 9}"}]})
        s3.put_public_access_block(
            Bucket=name,
            PublicAccessBlockConfiguration={
                "BlockPublicAcls": True,
                "IgnorePublicAcls": True,
                "BlockPublicPolicy": True,
                "RestrictPublicBuckets": True,
            },
        )
        if index % 3 == 0:
            policy = {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Deny",
                        "Principal": "*",
                        "Action": "s3:*",
                        "Resource": [f"arn:aws:s3:::{name}/*"],
                        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                    }
                ],
            }
            s3.put_bucket_policy(Bucket=name, Policy=json.dumps(policy))


def driftwatch_collect(endpoint: str, workers: int) -> float:
    """driftwatch's collector, S3 only, timed."""
    settings = AwsSettings(
        regions=("us-east-1",), endpoint_url=endpoint, services=("s3",), max_workers=workers
    )
    started = time.perf_counter()
    collection = AwsCollector(settings, boto3.session.Session()).collect()
    elapsed = time.perf_counter() - started
    assert not collection.gaps, collection.gaps[:3]
    return elapsed


def plain_collect(endpoint: str, workers: int) -> float:
    """The same calls with plain boto3, timed."""
    started = time.perf_counter()
    session = boto3.session.Session()
    config = BotoConfig(
        retries={"mode": "adaptive", "total_max_attempts": 8},
        connect_timeout=10.0,
        read_timeout=30.0,
        max_pool_connections=max(10, workers * 2),
        s3={"addressing_style": "path"},
    )
    clients: dict[tuple[str, str], Any] = {}

    def client(service: str, region: str) -> Any:
        if (service, region) not in clients:  # made before the workers start, or by one worker
            clients[service, region] = session.client(
                service, region_name=region, endpoint_url=endpoint, config=config
            )
            keep_requests_on_endpoint(clients[service, region], endpoint)  # emulator plumbing only
        return clients[service, region]

    for region in REGIONS:
        client("s3", region)
    account = client("sts", "us-east-1").get_caller_identity()["Account"]
    with contextlib.suppress(ClientError):  # none is set in the seeded account
        client("s3control", "us-east-1").get_public_access_block(AccountId=account)
    home = client("s3", "us-east-1")
    names = [b["Name"] for page in home.get_paginator("list_buckets").paginate() for b in page["Buckets"]]

    def bucket(name: str) -> dict[str, Any]:
        region = home.get_bucket_location(Bucket=name).get("LocationConstraint") or "us-east-1"
        regional = clients["s3", region]
        answers: dict[str, Any] = {}
        for read in BUCKET_READS:
            try:
                answers[read.field] = getattr(regional, read.operation)(Bucket=name)
            except ClientError as exc:
                answers[read.field] = exc.response["Error"]["Code"]
        return answers

    with ThreadPoolExecutor(max_workers=workers) as pool:
        read = list(pool.map(bucket, names))
    elapsed = time.perf_counter() - started
    assert len(read) == len(names)
    return elapsed


def main() -> None:
    """``python -m benchmarks.collection --buckets N --workdir DIR --out FILE``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--buckets", type=int, default=300)
    parser.add_argument("--workers", type=int, default=AwsSettings().max_workers)
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    server, endpoint = start_moto()
    try:
        seed(endpoint, args.buckets)
        ours: list[float] = []
        plain: list[float] = []
        for _ in range(3):
            ours.append(driftwatch_collect(endpoint, args.workers))
            plain.append(plain_collect(endpoint, args.workers))
    finally:
        server.terminate()
        server.wait(timeout=10)
    result = {
        "buckets": args.buckets,
        "workers": args.workers,
        "driftwatch_runs": ours,
        "plain_runs": plain,
        "driftwatch_seconds": min(ours),
        "plain_seconds": min(plain),
        "ratio": min(ours) / min(plain),
    }
    args.out.write_text(json.dumps(result, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
