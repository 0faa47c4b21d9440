"""The http collector against loopback APIs: pagination, rate limits, failures as gaps, redaction."""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from driftwatch.collectors.build import build_collector
from driftwatch.collectors.saas.http import HttpCollector, next_link
from driftwatch.collectors.saas.settings import SaasSettings, parse_saas
from driftwatch.config import load_config
from driftwatch.defaults import initial_files
from driftwatch.demo.account import demo_clients
from driftwatch.demo.json_api import JsonApi, Reply, Request, running_json_api
from driftwatch.normalise import Redactor
from driftwatch.runner import run_once
from driftwatch.store import init_repo
from tests.conftest import Invoke, write_config
from tests.support.raw_server import raw_server

REDACTOR = Redactor(b"test-redaction-key")


@pytest.fixture
def api() -> Iterator[JsonApi]:
    with running_json_api() as running:
        yield running


def settings(text: str, tmp_path: Path | None = None) -> SaasSettings:
    """The one [saas.NAME] table in ``text``, validated as the config loader does."""
    file = (tmp_path or Path("/nonexistent")) / "driftwatch.toml"
    (parsed,) = parse_saas(file, tomllib.loads(text)["saas"])
    return parsed


class Sleeps:
    """Records the waits the collector asks for, instead of waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def users_page(request: Request) -> Reply:
    """Three pages of two users each, chained by Link headers (the GitHub style)."""
    page = int(request.query.get("page", "1"))
    users = [{"login": f"user{2 * (page - 1) + i}", "role": "member"} for i in (1, 2)]
    headers = {}
    if page < 3:
        headers["Link"] = (
            f'</api/users?page={page + 1}&per_page=2>; rel="next", </api/users?page=3>; rel="last"'
        )
    return Reply(users, headers=headers)


def test_link_header_pagination_reads_every_page_with_the_token(
    api: JsonApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    api.route("GET /api/users")(users_page)
    monkeypatch.setenv("SVC_TOKEN", "s3cr3t-token")
    collector = HttpCollector(
        settings(f"""
[saas.svc]
collector = "http"
base_url = "{api.base_url}/api"
token_env = "SVC_TOKEN"
[[saas.svc.resources]]
type = "user"
path = "/users"
params = {{ per_page = 2 }}
items = "$[*]"
id = "login"
paginate = "link"
"""),
        REDACTOR,
    )
    collection = collector.collect()
    assert sorted(r.identity.id for r in collection.resources) == [f"user{i}" for i in range(1, 7)]
    assert [str(s) for s in collection.scopes_read] == ["saas/svc/global/svc/user"]
    assert collection.gaps == ()
    assert [r.query.get("page") for r in api.requests] == [None, "2", "3"]
    assert {r.headers["authorization"] for r in api.requests} == {"Bearer s3cr3t-token"}


def test_next_link_is_found_among_other_relations() -> None:
    header = '<https://x.test/a?page=1>; rel="prev", <https://x.test/a?page=3,4>; rel="next last"'
    assert next_link(header) == "https://x.test/a?page=3,4"
    assert next_link('<https://x.test/a?page=1>; rel="prev"') is None


def test_cursor_pagination_in_a_field_and_as_a_next_url(api: JsonApi) -> None:
    @api.route("GET /api/conversations.list")
    def slack_style(request: Request) -> Reply:
        cursor = request.query.get("cursor", "")
        channels = {"": ["C1", "C2"], "dXNlcjpVMDYx": ["C3"]}[cursor]
        following = "dXNlcjpVMDYx" if cursor == "" else ""
        return Reply(
            {
                "ok": True,
                "channels": [{"id": c, "is_private": False} for c in channels],
                "response_metadata": {"next_cursor": following},
            }
        )

    @api.route("GET /v1.0/groups")
    def graph_style(request: Request) -> Reply:
        if request.query.get("$skiptoken") == "X2":
            return Reply({"value": [{"id": "g3", "visibility": "Public"}]})
        return Reply(
            {
                "value": [{"id": "g1", "visibility": "Private"}, {"id": "g2", "visibility": "Public"}],
                "@odata.nextLink": f"{api.base_url}/v1.0/groups?$skiptoken=X2",
            }
        )

    collection = HttpCollector(
        settings(f"""
[saas.svc]
collector = "http"
base_url = "{api.base_url}"
[[saas.svc.resources]]
type = "channel"
path = "/api/conversations.list"
items = "$.channels"
id = "id"
paginate = "cursor"
cursor_field = "$.response_metadata.next_cursor"
cursor_param = "cursor"
[[saas.svc.resources]]
type = "group"
path = "/v1.0/groups"
items = "$.value"
id = "id"
paginate = "cursor"
cursor_field = "$['@odata.nextLink']"
"""),
        REDACTOR,
    ).collect()
    ids = sorted((r.identity.type, r.identity.id) for r in collection.resources)
    assert ids == [
        ("svc/channel", "C1"),
        ("svc/channel", "C2"),
        ("svc/channel", "C3"),
        ("svc/group", "g1"),
        ("svc/group", "g2"),
        ("svc/group", "g3"),
    ]
    assert collection.gaps == ()


def test_page_number_pagination_stops_at_an_empty_page(api: JsonApi) -> None:
    @api.route("GET /drives")
    def drives(request: Request) -> Reply:
        page = int(request.query["p"])
        return Reply({"drives": [{"name": f"d{page}"}] if page <= 2 else []})

    collection = HttpCollector(
        settings(f"""
[saas.svc]
collector = "http"
base_url = "{api.base_url}"
[[saas.svc.resources]]
type = "drive"
path = "/drives"
items = "$.drives"
id = "name"
paginate = "page"
page_param = "p"
first_page = 1
"""),
        REDACTOR,
    ).collect()
    assert sorted(r.identity.id for r in collection.resources) == ["d1", "d2"]
    assert [r.query["p"] for r in api.requests] == ["1", "2", "3"]


SINGLE = """
[saas.svc]
collector = "http"
base_url = "{base}"
max_attempts = 3
[[saas.svc.resources]]
type = "settings"
path = "/settings"
fixed_id = "workspace"
"""


def test_429_waits_as_long_as_retry_after_says(api: JsonApi) -> None:
    answers = iter([Reply({"error": "rate"}, 429, {"Retry-After": "7"}), Reply({"sharing": "private"})])
    api.route("GET /settings")(lambda _request: next(answers))
    sleeps = Sleeps()
    collection = HttpCollector(settings(SINGLE.format(base=api.base_url)), REDACTOR, sleep=sleeps).collect()
    assert sleeps.waits == [7.0]
    assert [dict(r.config) for r in collection.resources] == [{"sharing": "private"}]


def test_a_rate_limit_at_zero_waits_for_the_reset_before_the_next_page(api: JsonApi) -> None:
    @api.route("GET /items")
    def items(request: Request) -> Reply:
        if request.query.get("page") == "2":
            return Reply([{"id": "b"}])
        headers = {"RateLimit-Remaining": "0", "RateLimit-Reset": "12", "Link": '</items?page=2>; rel="next"'}
        return Reply([{"id": "a"}], headers=headers)

    sleeps = Sleeps()
    text = f"""
[saas.svc]
collector = "http"
base_url = "{api.base_url}"
[[saas.svc.resources]]
type = "item"
path = "/items"
items = "$[*]"
id = "id"
paginate = "link"
"""
    collection = HttpCollector(settings(text), REDACTOR, sleep=sleeps, clock=lambda: 1000.0).collect()
    assert sleeps.waits == [12.0]
    assert sorted(r.identity.id for r in collection.resources) == ["a", "b"]


def test_a_wait_longer_than_max_wait_is_a_throttled_gap(api: JsonApi) -> None:
    api.route("GET /settings")(lambda _request: Reply({}, 429, {"Retry-After": "3600"}))
    sleeps = Sleeps()
    collection = HttpCollector(settings(SINGLE.format(base=api.base_url)), REDACTOR, sleep=sleeps).collect()
    assert sleeps.waits == []
    (gap,) = collection.gaps
    assert (gap.kind, gap.code, str(gap.scope)) == (
        "throttled",
        "RateLimited",
        "saas/svc/global/svc/settings",
    )
    assert collection.resources == () and collection.scopes_read == frozenset()


def test_401_is_a_denied_gap_not_an_empty_listing(api: JsonApi, monkeypatch: pytest.MonkeyPatch) -> None:
    api.route("GET /settings")(lambda _request: Reply({"message": "Bad credentials"}, 401))
    monkeypatch.setenv("SVC_TOKEN", "expired")
    text = SINGLE.format(base=api.base_url).replace(
        "max_attempts = 3", 'max_attempts = 3\ntoken_env = "SVC_TOKEN"'
    )
    collection = HttpCollector(settings(text), REDACTOR).collect()
    (gap,) = collection.gaps
    assert (gap.kind, gap.code) == ("denied", "HTTP401")
    assert "Bad credentials" in gap.message
    assert len(api.requests) == 1  # a refusal is not retried
    assert collection.scopes_read == frozenset()


def test_a_token_variable_that_is_not_set_is_a_gap_and_nothing_is_sent(
    api: JsonApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SVC_TOKEN", raising=False)
    text = SINGLE.format(base=api.base_url).replace("max_attempts = 3", 'token_env = "SVC_TOKEN"')
    (gap,) = HttpCollector(settings(text), REDACTOR).collect().gaps
    assert (gap.kind, gap.code) == ("denied", "NoToken")
    assert "SVC_TOKEN" in gap.message
    assert api.requests == []


def test_a_next_page_on_another_host_is_not_followed(api: JsonApi, monkeypatch: pytest.MonkeyPatch) -> None:
    api.route("GET /items")(
        lambda _request: Reply([{"id": "a"}], headers={"Link": '<https://evil.example/steal>; rel="next"'})
    )
    monkeypatch.setenv("SVC_TOKEN", "tok")
    text = f"""
[saas.svc]
collector = "http"
base_url = "{api.base_url}"
token_env = "SVC_TOKEN"
[[saas.svc.resources]]
type = "item"
path = "/items"
items = "$[*]"
id = "id"
paginate = "link"
"""
    (gap,) = HttpCollector(settings(text), REDACTOR).collect().gaps
    assert (gap.kind, gap.code) == ("error", "ForeignNextPage")


def test_an_answer_that_is_not_json_is_a_gap(api: JsonApi) -> None:
    api.route("GET /settings")(lambda _request: Reply(b"<html>maintenance</html>"))
    (gap,) = HttpCollector(settings(SINGLE.format(base=api.base_url)), REDACTOR).collect().gaps
    assert (gap.code, gap.kind) == ("NotJson", "error")


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


def _with_aws_off(repo: Path) -> Path:
    path = repo / "driftwatch.toml"
    path.write_text(path.read_text().replace("\nenabled = true\n", "\nenabled = false\n", 1))
    return path


@pytest.fixture
def docs_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    repo = tmp_path / "state"
    init_repo(repo, initial_files(), "driftwatch", "driftwatch@localhost")
    monkeypatch.setenv("DOCS_TOKEN", "docs-token")
    return repo


def test_500_in_the_middle_of_the_pages_keeps_every_stored_drive(api: JsonApi, docs_repo: Path) -> None:
    broken = {"page": 0}

    @api.route("GET /drives")
    def drives(request: Request) -> Reply:
        page = int(request.query["page"])
        if page == broken["page"]:
            return Reply({"error": "internal"}, 500)
        rows = {1: ["finance", "hr"], 2: ["legal"]}.get(page, [])
        return Reply({"drives": [{"id": d, "sharing": "domain", "last_viewed_at": "now"} for d in rows]})

    write_config(docs_repo, None, extra=DOCS.format(base=api.base_url))
    config = load_config(_with_aws_off(docs_repo))
    first = run_once(config, build_collector(config), [])
    stored = sorted(p.name for p in (docs_repo / "snapshots/saas/docs/drive").iterdir())
    assert stored == ["finance.json", "hr.json", "legal.json"]
    assert first.report.gaps == ()
    document = json.loads((docs_repo / "snapshots/saas/docs/drive/hr.json").read_text())
    assert document["config"] == {"id": "hr", "sharing": "domain"}  # last_viewed_at is volatile

    broken["page"] = 2
    second = run_once(config, build_collector(config), [])
    assert sorted(p.name for p in (docs_repo / "snapshots/saas/docs/drive").iterdir()) == stored
    assert second.recorded is not None and second.recorded.removed == ()
    (gap,) = second.report.gaps
    assert (str(gap.scope), gap.kind, gap.code) == ("saas/docs/global/docs/drive", "error", "HTTP500")
    assert "3 resource(s) kept as last read" in gap.message
    assert not [f for f in second.report.findings if f.changes and f.changes[0].after is None]


DOCS = """
[saas.docs]
collector = "http"
base_url = "{base}"
token_env = "DOCS_TOKEN"
max_attempts = 1
volatile = ["$.last_viewed_at"]
[[saas.docs.resources]]
type = "drive"
path = "/drives"
items = "$.drives"
id = "id"
paginate = "page"
redact = ["$.webhook.secret"]
"""


def test_a_secret_field_is_stored_as_a_keyed_hash_that_changes_with_it(api: JsonApi, docs_repo: Path) -> None:
    secret = {"value": "whsec_first_value"}

    @api.route("GET /drives")
    def drives(request: Request) -> Reply:
        rows = [{"id": "hr", "webhook": {"url": "https://hooks.example/x", "secret": secret["value"]}}]
        return Reply({"drives": rows if request.query["page"] == "1" else []})

    write_config(docs_repo, None, extra=DOCS.format(base=api.base_url))
    config = load_config(_with_aws_off(docs_repo))
    run_once(config, build_collector(config), [])
    path = docs_repo / "snapshots/saas/docs/drive/hr.json"
    first = json.loads(path.read_text())["config"]["webhook"]
    assert first["url"] == "https://hooks.example/x"
    assert first["secret"].startswith("[redacted hmac-sha256:")
    assert "whsec_first_value" not in path.read_text()

    secret["value"] = "whsec_second_value"
    run_once(config, build_collector(config), [])
    second = json.loads(path.read_text())["config"]["webhook"]
    assert second["secret"].startswith("[redacted hmac-sha256:") and second["secret"] != first["secret"]


def test_tls_is_verified_and_a_private_ca_can_be_named(tmp_path: Path) -> None:
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    with running_json_api(tls=server_context) as api:
        api.route("GET /settings")(lambda _request: Reply({"sharing": "private"}))
        text = SINGLE.format(base=api.base_url)
        (gap,) = HttpCollector(settings(text, tmp_path), REDACTOR).collect().gaps
        assert (gap.kind, gap.code) == ("unreachable", "TLSVerifyFailed")
        assert api.requests == []  # nothing was sent over the untrusted connection
        ca.cert_pem.write_to_path(str(tmp_path / "private-ca.pem"))
        trusted = text.replace("max_attempts = 3", 'max_attempts = 3\nca_file = "private-ca.pem"')
        collection = HttpCollector(settings(trusted, tmp_path), REDACTOR).collect()
    assert collection.gaps == ()
    assert [dict(r.config) for r in collection.resources] == [{"sharing": "private"}]


def test_a_failing_saas_service_leaves_aws_read_and_its_own_files_kept(
    api: JsonApi, docs_repo: Path, aws: str
) -> None:
    healthy = {"ok": True}

    @api.route("GET /drives")
    def drives(request: Request) -> Reply:
        if not healthy["ok"]:
            return Reply({"error": "maintenance"}, 503)
        return Reply({"drives": [{"id": "hr"}] if request.query["page"] == "1" else []})

    iam = demo_clients(aws).iam
    iam.create_user(UserName="alice")
    path = write_config(docs_repo, aws, extra=DOCS.format(base=api.base_url))
    path.write_text(path.read_text().replace('services = ["s3", "ec2", "iam"]', 'services = ["iam"]'))
    config = load_config(path)
    run_once(config, build_collector(config), [])
    assert (docs_repo / "snapshots/saas/docs/drive/hr.json").exists()

    healthy["ok"] = False
    iam.create_user(UserName="bob")
    result = run_once(config, build_collector(config), [])
    assert result.recorded is not None
    assert [p.rsplit("/", 1)[1] for p in result.recorded.added] == ["bob.json"]
    assert result.recorded.removed == ()
    assert (docs_repo / "snapshots/saas/docs/drive/hr.json").exists()
    assert [(str(g.scope), g.code) for g in result.report.gaps] == [
        ("saas/docs/global/docs/drive", "HTTP503")
    ]


LEAKY = """
[saas.docs]
collector = "http"
base_url = "{base}"
token_env = "DOCS_TOKEN"
max_attempts = 1
[[saas.docs.resources]]
type = "workspace"
path = "/workspace"
fixed_id = "acme"
[[saas.docs.resources]]
type = "drive"
path = "/drives"
items = "$.drives"
id = "id"
"""


def test_a_token_the_service_echoes_reaches_no_file_commit_or_message(
    api: JsonApi, docs_repo: Path, invoke: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = "tok-SUPERSECRET-12345"
    api.route("GET /drives")(lambda _request: Reply({"message": f"token Bearer {token} lacks scope"}, 403))
    api.route("GET /workspace")(
        lambda _request: Reply({"owner": "ops", "echoed_header": f"Bearer {token}", f"seen-{token}": True})
    )
    monkeypatch.setenv("DOCS_TOKEN", token)
    write_config(docs_repo, None, extra=LEAKY.format(base=api.base_url))
    config = _with_aws_off(docs_repo)
    result = invoke("-c", str(config), "run")
    stand_in = REDACTOR.redact(token)
    assert result.exit_code in (0, 1), result.stderr
    assert "lacks scope" in result.stdout + result.stderr  # the gap is told, with its reason
    assert stand_in in result.stdout + result.stderr
    stored = json.loads((docs_repo / "snapshots/saas/docs/workspace/acme.json").read_text())
    assert stored["config"] == {
        "owner": "ops",
        "echoed_header": f"Bearer {stand_in}",
        f"seen-{stand_in}": True,
    }
    history = git(docs_repo, "log", "--all", "-p", "--format=%H%n%B")
    files = [
        p.read_text(errors="replace") for p in docs_repo.rglob("*") if p.is_file() and ".git" not in p.parts
    ]
    assert "lacks scope" in history  # the gap is in the commit message and the manifest ...
    for text in [result.stdout, result.stderr, history, *files]:
        assert token not in text  # ... but the token is nowhere


def test_other_secrets_in_an_error_body_or_a_command_s_stderr_reach_no_commit_or_manifest(
    api: JsonApi, docs_repo: Path, invoke: Invoke
) -> None:
    api.route("GET /workspace")(lambda _request: Reply({"owner": "ops"}))
    api.route("GET /drives")(
        lambda _request: Reply({"error": "bad request", "api_key": "live_9f8e7d6c5b4a", "hint": "retry"}, 400)
    )
    failing = (
        "import sys; print('error: cannot list buckets; token=SECRET' + 'TOKEN123', file=sys.stderr); "
        "sys.exit(3)"
    )
    command = f"""
[saas.cloud]
collector = "command"
[[saas.cloud.resources]]
type = "bucket"
command = [{json.dumps(sys.executable)}, "-c", {json.dumps(failing)}]
items = "$[*]"
id = "$.name"
"""
    write_config(docs_repo, None, extra=LEAKY.format(base=api.base_url) + command)
    result = invoke("-c", str(_with_aws_off(docs_repo)), "run")
    assert result.exit_code in (0, 1), result.stderr
    manifest = (docs_repo / "snapshots/manifest.json").read_text()
    assert "error: cannot list buckets; token=[redacted hmac-sha256:" in manifest  # the reason stays
    assert '\\"hint\\": \\"retry\\"' in manifest and '\\"api_key\\": \\"[redacted hmac-sha256:' in manifest
    revisions = git(docs_repo, "rev-list", "--all").split()
    assert len(revisions) >= 2
    for secret in ("SECRETTOKEN123", "live_9f8e7d6c5b4a"):
        found = subprocess.run(["git", "-C", str(docs_repo), "grep", secret, *revisions], capture_output=True)
        assert found.returncode == 1, found.stdout  # in no file of any revision
        assert secret not in git(docs_repo, "log", "--all", "--format=%B")  # nor in a commit message
        assert secret not in result.stdout + result.stderr


def test_headers_env_and_params_env_are_sent_from_the_environment_and_scrubbed(
    api: JsonApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    @api.route("GET /workspace")
    def workspace(request: Request) -> Reply:
        return Reply(
            {"owner": "ops", "seen": f"{request.headers.get('x-api-key')} {request.query.get('key')}"}
        )

    text = f"""
[saas.docs]
collector = "http"
base_url = "{api.base_url}"
headers_env = {{ X-Api-Key = "DOCS_API_KEY" }}
[[saas.docs.resources]]
type = "workspace"
path = "/workspace"
fixed_id = "acme"
params = {{ lang = "en" }}
params_env = {{ key = "DOCS_PARAM_KEY" }}
"""
    monkeypatch.setenv("DOCS_API_KEY", "live_header_4f9a0c")
    monkeypatch.setenv("DOCS_PARAM_KEY", "q+key/77")
    (resource,) = HttpCollector(settings(text), REDACTOR).collect().resources
    (request,) = api.requests
    assert request.headers["x-api-key"] == "live_header_4f9a0c"
    assert dict(request.query) == {"lang": "en", "key": "q+key/77"}
    stand_ins = f"{REDACTOR.redact('live_header_4f9a0c')} {REDACTOR.redact('q+key/77')}"
    assert dict(resource.config) == {"owner": "ops", "seen": stand_ins}

    monkeypatch.delenv("DOCS_PARAM_KEY")
    (gap,) = HttpCollector(settings(text), REDACTOR).collect().gaps
    assert (gap.kind, gap.code) == ("denied", "NoSecret")
    assert gap.message == "the environment variable DOCS_PARAM_KEY (params_env.key) is not set"
    assert len(api.requests) == 1  # nothing sent without it


def test_a_token_is_scrubbed_when_json_escaped_and_from_an_answer_that_is_not_json(
    api: JsonApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = "tok/SUPERSECRET-12345"
    escaped = "\\u0074ok\\/SUPERSECRET-12345"  # the same token, as JSON may write it
    api.route("GET /workspace")(lambda _request: Reply(b'{"auth": "' + escaped.encode() + b'"}'))
    api.route("GET /drives")(lambda _request: Reply(f"<html>bad token {token}</html>".encode()))
    monkeypatch.setenv("DOCS_TOKEN", token)
    collection = HttpCollector(settings(LEAKY.format(base=api.base_url)), REDACTOR).collect()
    assert [dict(r.config) for r in collection.resources] == [{"auth": REDACTOR.redact(token)}]
    (gap,) = collection.gaps
    assert gap.code == "NotJson"
    assert token not in gap.message and REDACTOR.redact(token) in gap.message


def test_page_number_pagination_with_a_wildcard_stops_at_an_empty_list(api: JsonApi) -> None:
    @api.route("GET /drives")
    def drives(request: Request) -> Reply:
        page = int(request.query["page"])
        return Reply({"drives": [{"name": f"d{page}"}] if page <= 2 else []})

    text = f"""
[saas.svc]
collector = "http"
base_url = "{api.base_url}"
[[saas.svc.resources]]
type = "drive"
path = "/drives"
items = "$.drives[*]"
id = "name"
paginate = "page"
"""
    collection = HttpCollector(settings(text), REDACTOR).collect()
    assert collection.gaps == ()
    assert sorted(r.identity.id for r in collection.resources) == ["d1", "d2"]
    assert [str(s) for s in collection.scopes_read] == ["saas/svc/global/svc/drive"]


WILDCARD_DRIVES = DOCS.replace('items = "$.drives"', 'items = "$.drives[*]"').replace(
    'paginate = "page"', 'paginate = "none"'
)


def test_an_empty_list_deletes_the_stored_items_and_a_missing_list_keeps_them(
    api: JsonApi, docs_repo: Path
) -> None:
    answer: dict[str, object] = {"drives": [{"id": "hr"}, {"id": "legal"}]}
    api.route("GET /drives")(lambda _request: Reply(answer))
    write_config(docs_repo, None, extra=WILDCARD_DRIVES.format(base=api.base_url))
    config = load_config(_with_aws_off(docs_repo))
    run_once(config, build_collector(config), [])
    folder = docs_repo / "snapshots/saas/docs/drive"
    assert sorted(p.name for p in folder.iterdir()) == ["hr.json", "legal.json"]

    answer.clear()
    answer["error"] = {"code": "maintenance"}  # a 200 without the list: not "no drives"
    missing = run_once(config, build_collector(config), [])
    assert sorted(p.name for p in folder.iterdir()) == ["hr.json", "legal.json"]
    assert missing.recorded is not None and missing.recorded.removed == ()
    (gap,) = missing.report.gaps
    assert (gap.kind, gap.code) == ("error", "NoItems")
    assert "2 resource(s) kept as last read" in gap.message

    answer.clear()
    answer["drives"] = []  # the list is there, and empty: every drive is gone
    empty = run_once(config, build_collector(config), [])
    assert empty.report.gaps == ()
    assert empty.recorded is not None
    assert sorted(empty.recorded.removed) == [
        "snapshots/saas/docs/drive/hr.json",
        "snapshots/saas/docs/drive/legal.json",
    ]
    assert not folder.exists() or list(folder.iterdir()) == []


def _head(body: bytes) -> bytes:
    return (
        f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
    )


SLOW_BODY = b'{"sharing": "private", "padding": "' + b"x" * 30 + b'"}'


def _bytes(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


@pytest.mark.parametrize(
    "chunks",
    [[_head(SLOW_BODY), *_bytes(SLOW_BODY)], _bytes(_head(SLOW_BODY) + SLOW_BODY)],
    ids=["body-one-byte-at-a-time", "headers-one-byte-at-a-time"],
)
def test_the_timeout_limits_the_whole_request_not_each_read(chunks: list[bytes]) -> None:
    with raw_server(chunks, pause=0.2) as base:
        text = SINGLE.format(base=base).replace("max_attempts = 3", "max_attempts = 1\ntimeout = 1")
        started = time.monotonic()
        collection = HttpCollector(settings(text), REDACTOR).collect()
        took = time.monotonic() - started
    (gap,) = collection.gaps
    assert (gap.kind, gap.code) == ("unreachable", "Timeout")
    assert "no whole answer within timeout = 1 s" in gap.message
    assert took < 3  # the whole answer takes more than 10 s


def test_a_quick_answer_through_the_raw_server_is_read() -> None:
    with raw_server([_head(SLOW_BODY), SLOW_BODY]) as base:
        text = SINGLE.format(base=base).replace("max_attempts = 3", "max_attempts = 1\ntimeout = 1")
        collection = HttpCollector(settings(text), REDACTOR).collect()
    assert collection.gaps == ()
    assert [r.config["sharing"] for r in collection.resources] == ["private"]


@pytest.mark.parametrize(
    ("chunks", "reason"),
    [
        (
            [_head(SLOW_BODY), SLOW_BODY[:10]],
            "the connection closed in the middle of the answer (10 bytes read)",
        ),
        ([b"SSH-2.0-OpenSSH_9.6\r\n"], "the answer is not HTTP (BadStatusLine: "),
    ],
    ids=["dropped-mid-body", "not-http"],
)
def test_a_broken_connection_or_an_answer_that_is_not_http_is_an_unreachable_gap(
    chunks: list[bytes], reason: str
) -> None:
    sleeps = Sleeps()
    with raw_server(chunks) as base:
        collection = HttpCollector(settings(SINGLE.format(base=base)), REDACTOR, sleep=sleeps).collect()
    (gap,) = collection.gaps
    assert (gap.kind, gap.code, str(gap.scope)) == (
        "unreachable",
        "ConnectionFailed",
        "saas/svc/global/svc/settings",
    )
    assert reason in gap.message and "(3 attempts)" in gap.message
    assert sleeps.waits == [1.0, 2.0]  # retried, as a failed connection is
    assert collection.scopes_read == frozenset()


def test_a_service_that_breaks_the_connection_leaves_aws_and_the_other_services_recorded(
    api: JsonApi, docs_repo: Path, aws: str
) -> None:
    api.route("GET /drives")(
        lambda request: Reply({"drives": [{"id": "hr"}] if request.query["page"] == "1" else []})
    )
    demo_clients(aws).iam.create_user(UserName="alice")
    with raw_server([b"SSH-2.0-OpenSSH_9.6\r\n"]) as broken:
        broken_table = (
            SINGLE.format(base=broken)
            .replace("[saas.svc", "[saas.chat")
            .replace("max_attempts = 3", "max_attempts = 1")
        )
        path = write_config(
            docs_repo, aws, extra=DOCS.format(base=api.base_url) + broken_table, services=("iam",)
        )
        config = load_config(path)
        result = run_once(config, build_collector(config), [])
    assert result.recorded is not None
    assert "snapshots/saas/docs/drive/hr.json" in result.recorded.added
    assert any(p.endswith("/iam/user/alice.json") for p in result.recorded.added)
    assert [(str(g.scope), g.kind, g.code) for g in result.report.gaps] == [
        ("saas/chat/global/chat/settings", "unreachable", "ConnectionFailed")
    ]


def test_a_collector_that_fails_unexpectedly_is_a_gap_for_each_of_its_types(
    api: JsonApi, docs_repo: Path
) -> None:
    api.route("GET /drives")(
        lambda request: Reply({"drives": [{"id": "hr"}] if request.query["page"] == "1" else []})
    )
    missing_ca = LEAKY.format(base="https://127.0.0.1:9").replace("[saas.docs", "[saas.intranet")
    missing_ca = missing_ca.replace("max_attempts = 1", 'max_attempts = 1\nca_file = "no-such-ca.pem"')
    write_config(docs_repo, None, extra=DOCS.format(base=api.base_url) + missing_ca)
    config = load_config(_with_aws_off(docs_repo))
    result = run_once(config, build_collector(config), [])
    assert result.recorded is not None and "snapshots/saas/docs/drive/hr.json" in result.recorded.added
    assert [(str(g.scope), g.code) for g in result.report.gaps] == [
        ("saas/intranet/global/intranet/workspace", "CollectorFailed"),
        ("saas/intranet/global/intranet/drive", "CollectorFailed"),
    ]
    assert "FileNotFoundError" in result.report.gaps[0].message


def test_two_items_with_one_id_or_an_item_without_an_id_fail_their_type_only(api: JsonApi) -> None:
    api.route("GET /groups")(lambda _request: Reply([{"id": "g1"}, {"id": "g1"}]))
    api.route("GET /users")(lambda _request: Reply([{"id": "u1"}, {"login": "u2"}]))
    api.route("GET /settings")(lambda _request: Reply({"sharing": "private"}))
    text = SINGLE.format(base=api.base_url) + "".join(
        f'[[saas.svc.resources]]\ntype = "{kind}"\npath = "/{kind}s"\nitems = "$[*]"\nid = "id"\n'
        for kind in ("group", "user")
    )
    collection = HttpCollector(settings(text), REDACTOR).collect()
    assert sorted((str(g.scope), g.code) for g in collection.gaps) == [
        ("saas/svc/global/svc/group", "DuplicateId"),
        ("saas/svc/global/svc/user", "NoId"),
    ]
    assert "two items have the id 'g1'" in collection.gaps[0].message
    assert [str(s) for s in collection.scopes_read] == ["saas/svc/global/svc/settings"]
    assert [r.identity.type for r in collection.resources] == ["svc/settings"]


LINKED = """
[saas.svc]
collector = "http"
base_url = "{base}"
max_pages = 3
[[saas.svc.resources]]
type = "item"
path = "/items"
items = "$[*]"
id = "id"
paginate = "link"
"""


def test_a_next_page_that_was_already_read_is_a_pagination_loop(api: JsonApi) -> None:
    @api.route("GET /items")
    def items(request: Request) -> Reply:
        page = int(request.query.get("page", "1"))
        back = '</items?page=1>; rel="next"' if page == 2 else '</items?page=2>; rel="next"'
        return Reply([{"id": f"i{page}"}], headers={"Link": back})

    collection = HttpCollector(settings(LINKED.format(base=api.base_url)), REDACTOR).collect()
    (gap,) = collection.gaps
    assert (gap.kind, gap.code) == ("error", "PaginationLoop")
    assert collection.resources == () and collection.scopes_read == frozenset()


def test_more_pages_than_max_pages_is_a_gap(api: JsonApi) -> None:
    @api.route("GET /items")
    def items(request: Request) -> Reply:
        page = int(request.query.get("page", "1"))
        return Reply([{"id": f"i{page}"}], headers={"Link": f'</items?page={page + 1}>; rel="next"'})

    collection = HttpCollector(settings(LINKED.format(base=api.base_url)), REDACTOR).collect()
    (gap,) = collection.gaps
    assert (gap.code, gap.message) == ("TooManyPages", "more than max_pages = 3 pages")
    assert len(api.requests) == 3
    assert collection.resources == ()


def test_a_redirect_carries_the_token_to_the_same_host_only(
    api: JsonApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    with running_json_api() as other:
        other.route("GET /exported")(lambda _request: Reply({"sharing": "domain"}))
        api.route("GET /settings")(
            lambda _request: Reply(None, 302, {"Location": f"{other.base_url}/exported"})
        )
        api.route("GET /moved")(lambda _request: Reply(None, 301, {"Location": "/settings-v2"}))
        api.route("GET /settings-v2")(lambda _request: Reply({"sharing": "private"}))
        monkeypatch.setenv("SVC_TOKEN", "s3cr3t-token")
        text = SINGLE.format(base=api.base_url).replace("max_attempts = 3", 'token_env = "SVC_TOKEN"')
        text += '[[saas.svc.resources]]\ntype = "moved"\npath = "/moved"\nfixed_id = "workspace"\n'
        collection = HttpCollector(settings(text), REDACTOR).collect()
        (elsewhere,) = other.requests
    assert collection.gaps == ()
    assert {r.identity.type: dict(r.config) for r in collection.resources} == {
        "svc/settings": {"sharing": "domain"},
        "svc/moved": {"sharing": "private"},
    }
    assert "authorization" not in elsewhere.headers  # another port is another origin
    assert {r.path: r.headers.get("authorization") for r in api.requests} == {
        "/settings": "Bearer s3cr3t-token",
        "/moved": "Bearer s3cr3t-token",
        "/settings-v2": "Bearer s3cr3t-token",
    }


def test_a_403_at_the_rate_limit_waits_until_x_ratelimit_reset(api: JsonApi) -> None:
    answers = iter(
        [
            Reply(
                {"message": "API rate limit exceeded"},
                403,
                {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1020"},
            ),
            Reply({"sharing": "private"}),
        ]
    )
    api.route("GET /settings")(lambda _request: next(answers))
    sleeps = Sleeps()
    collection = HttpCollector(
        settings(SINGLE.format(base=api.base_url)),
        REDACTOR,
        sleep=sleeps,
        clock=lambda: 1000.0 + sum(sleeps.waits),  # time passes as it sleeps
    ).collect()
    assert sleeps.waits == [20.0]
    assert [dict(r.config) for r in collection.resources] == [{"sharing": "private"}]


def test_retry_after_as_an_http_date_waits_until_that_moment(api: JsonApi) -> None:
    answers = iter(
        [Reply({}, 503, {"Retry-After": "Thu, 01 Jan 1970 00:16:55 GMT"}), Reply({"sharing": "private"})]
    )
    api.route("GET /settings")(lambda _request: next(answers))
    sleeps = Sleeps()
    collection = HttpCollector(
        settings(SINGLE.format(base=api.base_url)), REDACTOR, sleep=sleeps, clock=lambda: 1000.0
    ).collect()
    assert sleeps.waits == [15.0]  # 00:16:55 is 1015 s after the epoch
    assert collection.gaps == ()
