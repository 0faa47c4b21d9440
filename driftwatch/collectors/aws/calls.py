"""One AWS call and what its failure means: a state ("not configured"), a gap, or a fatal error."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError,
    ConnectTimeoutError,
    EndpointConnectionError,
    HTTPClientError,
    ReadTimeoutError,
)
from botocore.parsers import ResponseParserError

from driftwatch.errors import CredentialsRejected
from driftwatch.model import CoverageGap, GapKind, ResourceId, Scope

ABSENT_CODES = frozenset(
    {
        "NoSuchBucketPolicy",
        "NoSuchPublicAccessBlockConfiguration",
        "ServerSideEncryptionConfigurationNotFoundError",
        "OwnershipControlsNotFoundError",
        "NoSuchLifecycleConfiguration",
        "NoSuchEntity",
        "NoSuchTagSet",
        "NoSuchWebsiteConfiguration",
        "NoSuchCORSConfiguration",
    }
)
"""Error codes that mean "nothing is configured": a real state, stored as such (case 18)."""

DENIED_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
        "AuthorizationError",
        "Forbidden",
        "AllAccessDisabled",
    }
)
THROTTLED_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "RequestLimitExceeded",
        "SlowDown",
        "TooManyRequestsException",
        "RequestThrottled",
        "ProvisionedThroughputExceededException",
    }
)
CREDENTIAL_CODES = frozenset(
    {
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "ExpiredToken",
        "ExpiredTokenException",
        "SignatureDoesNotMatch",
        "AuthFailure",
        "InvalidAccessKeyId",
        "RequestExpired",
    }
)
"""Credentials rejected. In a region that is not enabled this means "skip the region" (case 19);
in an enabled region it is a real credential problem that fails the run."""

ABSENT = object()
"""Returned by :func:`call` for an answer that means "nothing configured"."""


@dataclass
class ReadFailure(Exception):
    """A call that could not be answered: the caller records a gap and keeps the last known state."""

    api_call: str
    kind: GapKind
    code: str
    message: str

    def gap(self, scope: Scope, resource: ResourceId | None = None, field: str | None = None) -> CoverageGap:
        """This failure as a coverage gap of a whole scope, or of one field of one resource."""
        return CoverageGap(scope, self.api_call, self.kind, self.code, self.message, resource, field)


def call(client: Any, operation: str, **kwargs: Any) -> Any:
    """Call ``client.operation(**kwargs)``; return ABSENT for "not configured".

    Raises ReadFailure for a denied, throttled or unreachable call, and CollectError when the
    credentials themselves are rejected.
    """
    return _guarded(client, operation, lambda: getattr(client, operation)(**kwargs))


def paginate(client: Any, operation: str, key: str, **kwargs: Any) -> list[Any]:
    """Every item under ``key`` across all pages of ``operation``; failures as in :func:`call`."""

    def read_all() -> list[Any]:
        pages = client.get_paginator(operation).paginate(**kwargs)
        return [item for page in pages for item in page.get(key, [])]

    result = _guarded(client, operation, read_all)
    return [] if result is ABSENT else list(result)


def _guarded(client: Any, operation: str, read: Callable[[], Any]) -> Any:
    api_call = f"{client.meta.service_model.service_name}.{operation}"
    try:
        return read()
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", "Unknown"))
        message = str(error.get("Message", ""))
        if code in ABSENT_CODES:
            return ABSENT
        if code in CREDENTIAL_CODES:
            raise CredentialsRejected(
                f"{api_call} in {client.meta.region_name}: AWS rejected the credentials ({code}: "
                f"{message}). Check the profile or environment credentials driftwatch runs with.",
                api_call=api_call,
                region=str(client.meta.region_name),
                code=code,
            ) from None
        kind: GapKind = (
            "denied" if code in DENIED_CODES else ("throttled" if code in THROTTLED_CODES else "error")
        )
        raise ReadFailure(api_call, kind, code, message) from None
    except (
        EndpointConnectionError,
        ConnectTimeoutError,
        ReadTimeoutError,
        ConnectionError,
        HTTPClientError,
    ) as exc:
        raise ReadFailure(api_call, "unreachable", type(exc).__name__, str(exc)) from None
    except BotoCoreError as exc:
        raise ReadFailure(api_call, "error", type(exc).__name__, str(exc)) from None
    except ResponseParserError as exc:
        # An answer that is not the API's (an emulator's HTML error page for a call it lacks, a
        # proxy's): a failed read. Its first line says why; the body that follows is noise.
        reason = str(exc).split(":\n", 1)[0]
        raise ReadFailure(api_call, "error", "ResponseParserError", reason) from None
