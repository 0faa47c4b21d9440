"""What AWS collectors share in a run: the session, one client per service and region, a pool."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import boto3
from botocore.config import Config as BotoConfig

from driftwatch.config import AwsSettings

T = TypeVar("T")
R = TypeVar("R")


class AwsContext:
    """One session, a cache of clients (thread-safe to share, costly to create) and a worker pool."""

    def __init__(
        self, settings: AwsSettings, session: boto3.session.Session, pool: ThreadPoolExecutor
    ) -> None:
        self.settings = settings
        self.session = session
        self.pool = pool
        self.account = ""
        self.home_region = home_region(settings.regions)
        self._clients: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()
        self._boto_config = BotoConfig(
            retries={"mode": settings.retry_mode, "total_max_attempts": settings.max_attempts},
            connect_timeout=settings.connect_timeout,
            read_timeout=settings.read_timeout,
            max_pool_connections=max(10, settings.max_workers * 2),
            s3={"addressing_style": "path"} if settings.endpoint_url else None,
        )

    def client(self, service: str, region: str) -> Any:
        """The shared client for ``service`` in ``region``, created on first use."""
        key = (service, region)
        with self._lock:  # sessions are not thread-safe; clients are
            if key not in self._clients:
                client = self.session.client(
                    service,
                    region_name=region,
                    endpoint_url=self.settings.endpoint_url,
                    config=self._boto_config,
                )
                if self.settings.endpoint_url:
                    keep_requests_on_endpoint(client, self.settings.endpoint_url)
                self._clients[key] = client
            return self._clients[key]

    def map(self, work: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        """``work`` applied to every item on the worker pool, results in the items' order."""
        return self.pool.map(work, items)


def home_region(regions: tuple[str, ...]) -> str:
    """The region for global services (STS, IAM, S3's bucket list, region listing).

    It must be enabled in every account of its partition, so it is never simply the first
    configured region, which may be an opt-in region the account has not enabled (case 19).
    """
    for prefix, region in (("cn-", "cn-north-1"), ("us-gov-", "us-gov-west-1")):
        if any(r.startswith(prefix) for r in regions):
            return region
    return "us-east-1"


def keep_requests_on_endpoint(client: Any, endpoint_url: str) -> None:
    """Send every request to the configured endpoint's host.

    Some APIs (s3control) put the account id in front of the host name, which an emulator on
    127.0.0.1 cannot answer; with a custom endpoint the request must still go there.
    """
    netloc = urlsplit(endpoint_url).netloc

    def redirect(request: Any, **_: Any) -> None:
        parts = urlsplit(request.url)
        if parts.netloc != netloc:
            request.url = urlunsplit(parts._replace(netloc=netloc))

    client.meta.events.register("before-send", redirect)


def make_session(settings: AwsSettings) -> boto3.session.Session:
    """A boto3 session using the normal credential chain, or the named profile."""
    return (
        boto3.session.Session(profile_name=settings.profile) if settings.profile else boto3.session.Session()
    )
