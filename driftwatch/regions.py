"""The AWS region names that the installed botocore knows, to check a config's regions."""

from __future__ import annotations

import importlib.util
import json
from functools import cache
from pathlib import Path


@cache
def known_regions() -> frozenset[str]:
    """Every region name of every AWS partition that the installed botocore knows.

    Read from botocore's own endpoint data, the file its sessions read, without importing boto3:
    a config is checked by every command, and most of them never call AWS.
    """
    spec = importlib.util.find_spec("botocore")
    folders = list(spec.submodule_search_locations or []) if spec else []
    if not folders:
        raise ImportError("botocore is not installed")
    endpoints = json.loads((Path(folders[0]) / "data" / "endpoints.json").read_bytes())
    return frozenset(region for partition in endpoints["partitions"] for region in partition["regions"])
