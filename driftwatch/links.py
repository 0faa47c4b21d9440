"""Links to a commit on the git host of the state repository's remote (GitHub, GitLab or a pattern)."""

from __future__ import annotations

import re
from urllib.parse import quote

_SCP = re.compile(r"^(?:[^@/]+@)?(?P<host>[^:/]+):(?P<path>[^/].*)$")  # git@github.com:org/repo.git
_URL = re.compile(r"^(?:https?|ssh|git)://(?:[^@/]+@)?(?P<host>[^/:]+)(?::\d+)?/(?P<path>.+)$")


def commit_url(remote: str | None, commit: str | None, pattern: str = "") -> str | None:
    """The web page of ``commit``: from ``pattern`` (``{commit}`` is replaced) when given, else
    from a GitHub or GitLab ``remote`` URL (https or ssh form); None when neither applies."""
    if not commit:
        return None
    if pattern:
        return pattern.replace("{commit}", quote(commit, safe=""))
    if not remote:
        return None
    match = _URL.match(remote) or _SCP.match(remote)
    if not match:
        return None
    host = match.group("host").lower()
    path = match.group("path").strip("/").removesuffix(".git")
    if "/" not in path:
        return None
    if host == "github.com" or host.startswith("github."):
        return f"https://{host}/{path}/commit/{commit}"
    if host == "gitlab.com" or host.startswith("gitlab."):
        return f"https://{host}/{path}/-/commit/{commit}"
    return None
