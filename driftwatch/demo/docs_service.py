"""The demo's SaaS service: "Acme Docs", a file-sharing workspace whose settings API runs on loopback.

It answers like a typical SaaS admin API (bearer token, a settings object, a paginated list) so
that the demo can watch it with nothing but a ``[saas.docs]`` table in driftwatch.toml.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from driftwatch.demo.json_api import JsonApi, Reply, Request, running_json_api

TOKEN_ENV = "DOCS_TOKEN"
TOKEN = "docs-demo-token"  # a demo's dummy, read from the environment like a real token
WORKSPACE: dict[str, Any] = {
    "id": "acme",
    "name": "Acme Corp",
    "plan": "business",
    "sharing": {
        "default_link_access": "organization",
        "external_sharing": "allowlisted_domains",
        "allowed_domains": ["partner.example"],
        "allow_public_publishing": False,
    },
    "guests": {"allowed": False},
    "security": {"require_2fa": True, "session_timeout_minutes": 480},
    "ai": {"assistant_enabled": True, "use_data_for_training": False},
    "webhook": {"url": "https://hooks.acme.example/docs", "signing_secret": "whsec_demo_9f8e7d6c5b4a3210"},
    "updated_at": "2026-11-28T09:12:44Z",
    "member_count": 57,
}
DRIVES = [
    {"id": f"drv-{n:03d}", "name": name, "link_access": access, "external_members": external}
    for n, (name, access, external) in enumerate(
        [
            ("Finance", "restricted", False),
            ("People", "restricted", False),
            ("Engineering", "organization", False),
            ("Sales", "organization", True),
            ("Marketing", "organization", True),
            ("Legal", "restricted", False),
            ("Board", "restricted", False),
        ],
        start=1,
    )
]
PAGE_SIZE = 3
DRIFTED_SETTING = "sharing.default_link_access"


class DocsService:
    """The service's state, which the demo changes between runs as an admin would in its console."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.workspace = copy.deepcopy(WORKSPACE)
        self.drives = copy.deepcopy(DRIVES)

    def routes(self, api: JsonApi) -> None:
        """Answer the service's two endpoints on ``api``."""
        api.route("GET /api/v1/workspace")(self._workspace)
        api.route("GET /api/v1/shared-drives")(self._drives)

    def _authorised(self, request: Request) -> bool:
        return request.headers.get("authorization") == f"Bearer {TOKEN}"

    def _workspace(self, request: Request) -> Reply:
        if not self._authorised(request):
            return Reply({"error": "invalid_token"}, 401)
        with self._lock:
            return Reply(copy.deepcopy(self.workspace))

    def _drives(self, request: Request) -> Reply:
        if not self._authorised(request):
            return Reply({"error": "invalid_token"}, 401)
        page = int(request.query.get("page", "1"))
        with self._lock:
            rows = self.drives[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
        return Reply({"drives": rows, "page": page})

    def share_with_anyone(self) -> None:
        """The drift: new files' links open to anyone with the link, no sign-in."""
        with self._lock:
            self.workspace["sharing"]["default_link_access"] = "anyone_with_link"
            self.workspace["updated_at"] = "2026-12-03T16:05:10Z"
            self.workspace["member_count"] = 58


@contextmanager
def running_docs_service() -> Iterator[tuple[DocsService, str]]:
    """The service on 127.0.0.1; yields it and its API's base URL."""
    service = DocsService()
    with running_json_api() as api:
        service.routes(api)
        yield service, f"{api.base_url}/api/v1"


def docs_config(base_url: str) -> str:
    """The [saas.docs] table that watches the service: only TOML, no code."""
    return f"""
# Acme Docs, the demo's SaaS service: a generic http collector, configured only here.
[saas.docs]
collector = "http"
base_url = "{base_url}"
token_env = "{TOKEN_ENV}"
volatile = ["$.updated_at", "$.member_count"]
redact = ["$.webhook.signing_secret"]

[[saas.docs.resources]]
type = "workspace"
path = "/workspace"
id = "$.id"

[[saas.docs.resources]]
type = "shared-drive"
path = "/shared-drives"
items = "$.drives"
id = "$.id"
paginate = "page"
"""


DOCS_GUARDRAIL = """
# A rule written as data for the demo's SaaS service (README: "Rules as data").
[[guardrail]]
name = "docs-anyone-with-the-link"
type = "docs/workspace"
path = "$.sharing.default_link_access"
operator = "not_equals"
value = "anyone_with_link"
severity = "critical"
message = "new files in Acme Docs workspace {id} open to anyone with the link"
reference = "Acme data-handling standard, section 4.2"
"""
