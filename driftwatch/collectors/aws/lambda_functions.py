"""Lambda functions: configuration, environment (every value hashed later), URLs and resource policies."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from driftwatch.collectors import Collection
from driftwatch.collectors.aws.calls import ReadFailure, paginate
from driftwatch.collectors.aws.context import AwsContext
from driftwatch.collectors.aws.fields import FieldRead, FieldResult, read_fields
from driftwatch.collectors.aws.listed import ListedType, collect_listed, pick
from driftwatch.model import JSONValue, ResourceId
from driftwatch.normalise import is_secret

FUNCTION = "lambda/function"
_NOT_FOUND = frozenset({"ResourceNotFoundException"})  # no URL, no policy: a state...
_GONE = ("Function not found",)  # ...unless it is the function that is not found: gone
_SETTINGS = (
    "FunctionName",
    "FunctionArn",
    "Runtime",
    "Role",
    "Handler",
    "Description",
    "Timeout",
    "MemorySize",
    "KMSKeyArn",
    "PackageType",
    "Architectures",
    "EphemeralStorage",
    "DeadLetterConfig",
    "FileSystemConfigs",
    "LoggingConfig",
    "SigningProfileVersionArn",
)


def function_config(item: Mapping[str, Any]) -> dict[str, JSONValue]:
    """The settings of one ListFunctions entry.

    Left out: the code's hash and size (a deploy is not a settings change), ``LastModified`` and
    ``RevisionId`` (they change with any change), and ``State``/``LastUpdateStatus`` (AWS turns
    an idle function ``Inactive`` by itself). Environment values are kept here and normalisation
    replaces every one by its keyed hash before anything is written (a secret need not look like
    one); ``SecretLike`` names the variables whose key and value together look like a secret,
    judged now, while the plaintext is still here, for the ``plaintext-secret`` rule.
    """
    environment = item.get("Environment") or {}
    variables = dict(environment.get("Variables") or {})
    vpc = item.get("VpcConfig") or {}
    return pick(item, _SETTINGS) | {
        "Environment": {
            "Variables": variables,
            "SecretLike": sorted(k for k, v in variables.items() if is_secret(k, v)),
        },
        "Layers": [layer["Arn"] for layer in item.get("Layers") or []],
        "TracingConfig": (item.get("TracingConfig") or {}).get("Mode"),
        "VpcConfig": pick(vpc, ("SubnetIds", "SecurityGroupIds", "Ipv6AllowedForDualStack")),
    }


def _environment_error(item: Mapping[str, Any]) -> dict[str, str]:
    # Variables encrypted with a KMS key the reader may not use come back as an Error instead.
    error = (item.get("Environment") or {}).get("Error")
    return {"Environment": str(error.get("ErrorCode", "Error"))} if isinstance(error, Mapping) else {}


_ACCESS = (
    FieldRead(
        "FunctionUrl",
        "get_function_url_config",
        lambda a: pick(a, ("AuthType", "Cors", "FunctionUrl", "InvokeMode")),
        absent_codes=_NOT_FOUND,
        gone_messages=_GONE,
    ),
    FieldRead("Policy", "get_policy", lambda a: a["Policy"], absent_codes=_NOT_FOUND, gone_messages=_GONE),
)
"""A function's, or one alias's, URL and resource policy: each alias has its own of both."""


def read_aliases(client: Any, identity: ResourceId, function: Mapping[str, Any]) -> FieldResult:
    """``Aliases``: each alias's name -> its own URL and policy (``null``: none).

    Made after the function's own reads: ListAliases has no "nothing configured" answer, so its
    ``ResourceNotFoundException`` means the function was deleted since the listing, and so do
    the URL and policy reads' "Function not found". Any other failure leaves ``Aliases``
    unreadable (its last known value kept), never a deletion.
    """
    result = FieldResult(identity)
    name = function["FunctionName"]
    try:
        aliases = paginate(client, "list_aliases", "Aliases", FunctionName=name)
    except ReadFailure as failure:
        result.failed("Aliases", failure)
        return result
    found: dict[str, JSONValue] = {}
    for alias in aliases:
        reads = read_fields(client, identity, _ACCESS, FunctionName=name, Qualifier=alias["Name"])
        for code in reads.unreadable.values():
            result.unreadable.setdefault("Aliases", code)
        result.gaps.extend(
            replace(gap, field="Aliases", message=f"alias {alias['Name']}: {gap.message}")
            for gap in reads.gaps
        )
        found[str(alias["Name"])] = dict(reads.config)
    if "Aliases" not in result.unreadable:
        result.config["Aliases"] = found
    return result


FUNCTIONS = ListedType(
    type=FUNCTION,
    client="lambda",
    list_operation="list_functions",
    items="Functions",
    identify=lambda f, _account, _region: (f["FunctionName"], f["FunctionArn"]),
    base=function_config,
    broken=_environment_error,
    reads=_ACCESS,
    arguments=lambda f: {"FunctionName": f["FunctionName"]},
    details=read_aliases,
    gone_codes=_NOT_FOUND,
)
"""``lambda/function``: each function's settings, its URL (``null``: none), its policy
(``null``: none) and its aliases' URLs and policies; a function deleted since the listing is left
out, as a deleted one is."""


def collect_functions(ctx: AwsContext, region: str) -> Collection:
    """Every Lambda function in one region."""
    return collect_listed(ctx, region, FUNCTIONS)
