"""Each shipped preset, against a loopback server that answers like the vendor's API, end to end."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from driftwatch.collectors.build import build_collector
from driftwatch.config import load_config
from driftwatch.defaults import initial_files
from driftwatch.demo.json_api import JsonApi, Reply, Request, running_json_api
from driftwatch.runner import RunResult, run_once
from driftwatch.store import init_repo
from tests.conftest import write_config


@pytest.fixture
def api() -> Iterator[JsonApi]:
    with running_json_api() as running:
        yield running


def run_preset(tmp_path: Path, table: str) -> tuple[Path, RunResult]:
    """One run of a state repository that reads only the given [saas.NAME] table."""
    repo = tmp_path / "state"
    init_repo(repo, initial_files(), "driftwatch", "driftwatch@localhost")
    path = write_config(repo, None, extra=table)
    path.write_text(path.read_text().replace("\nenabled = true\n", "\nenabled = false\n", 1))
    config = load_config(path)
    return repo, run_once(config, build_collector(config), [])


def stored(repo: Path, collector: str, kind: str, id_: str) -> dict[str, object]:
    path = repo / "snapshots" / "saas" / collector / kind / (quote(id_, safe="-_.") + ".json")
    config: dict[str, object] = json.loads(path.read_text())["config"]
    return config


def findings(result: RunResult) -> set[tuple[str, str]]:
    return {(f.rule, f.resource.id) for f in result.report.findings if f.rule != "unapproved-resource"}


ORG = {
    "login": "acme",
    "id": 9919,
    "url": "https://api.github.com/orgs/acme",
    "name": "Acme Corp",
    "public_repos": 12,
    "total_private_repos": 40,
    "disk_usage": 10000,
    "collaborators": 8,
    "updated_at": "2026-11-30T10:00:00Z",
    "plan": {
        "name": "enterprise",
        "space": 976562499,
        "private_repos": 999999,
        "filled_seats": 57,
        "seats": 60,
    },
    "default_repository_permission": "read",
    "members_can_create_repositories": True,
    "members_can_create_public_repositories": False,
    "members_can_create_private_repositories": True,
    "two_factor_requirement_enabled": False,
    "web_commit_signoff_required": False,
}


def repo_row(name: str, visibility: str) -> dict[str, object]:
    return {
        "id": hash(name) % 100000,
        "name": name,
        "full_name": f"acme/{name}",
        "private": visibility != "public",
        "visibility": visibility,
        "default_branch": "main",
        "archived": False,
        "pushed_at": "2026-12-01T09:00:00Z",
        "stargazers_count": 3,
        "permissions": {"admin": True, "push": True, "pull": True},
        "owner": {"login": "acme", "id": 9919},
    }


def test_github_preset_reads_org_repositories_and_branch_protection(
    api: JsonApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    api.route("GET /orgs/acme")(lambda _request: Reply(ORG))

    @api.route("GET /orgs/acme/repos")
    def repos(request: Request) -> Reply:
        if request.query.get("page") == "2":
            return Reply([repo_row("website", "public")])
        link = f'<{api.base_url}/organizations/9919/repos?per_page=100&type=all&page=2>; rel="next"'
        return Reply([repo_row("api", "private"), repo_row("infra", "internal")], headers={"Link": link})

    # GitHub answers the next page of the repos listing under /organizations/ID/repos.
    api.route("GET /organizations/9919/repos")(repos)

    @api.route("POST /graphql")
    def graphql(request: Request) -> Reply:
        after = request.body["variables"].get("after")
        protection = {"pattern": "main", "requiresApprovingReviews": True, "requiredApprovingReviewCount": 2}
        if after is None:
            nodes = [
                {
                    "nameWithOwner": "acme/api",
                    "defaultBranchRef": {"name": "main", "branchProtectionRule": protection},
                },
                {
                    "nameWithOwner": "acme/infra",
                    "defaultBranchRef": {"name": "main", "branchProtectionRule": None},
                },
            ]
            info = {"hasNextPage": True, "endCursor": "Y3Vyc29yOjI="}
        else:
            nodes = [
                {
                    "nameWithOwner": "acme/website",
                    "defaultBranchRef": {"name": "main", "branchProtectionRule": protection},
                }
            ]
            info = {"hasNextPage": False, "endCursor": "Y3Vyc29yOjM="}
        return Reply({"data": {"organization": {"repositories": {"pageInfo": info, "nodes": nodes}}}})

    monkeypatch.setenv("GITHUB_TOKEN", "ghp_" + "x" * 36)
    repo, result = run_preset(
        tmp_path,
        f"""
[saas.github]
preset = "github"
base_url = "{api.base_url}"
vars = {{ org = "acme" }}
""",
    )
    assert result.report.gaps == ()
    org = stored(repo, "github", "org", "acme")
    assert org["two_factor_requirement_enabled"] is False
    assert "public_repos" not in org and org["plan"] == {"name": "enterprise"}
    website = stored(repo, "github", "repository", "acme/website")
    assert website["visibility"] == "public" and "pushed_at" not in website and "permissions" not in website
    assert stored(repo, "github", "default-branch", "acme/infra")["defaultBranchRef"] == {
        "name": "main",
        "branchProtectionRule": None,
    }
    assert findings(result) == {
        ("github-2fa-not-required", "acme"),
        ("github-default-branch-unprotected", "acme/infra"),
    }
    graphql_calls = [r for r in api.requests if r.path == "/graphql"]
    assert [r.body["variables"] for r in graphql_calls] == [
        {"org": "acme"},
        {"org": "acme", "after": "Y3Vyc29yOjI="},
    ]
    assert {r.headers["accept"] for r in api.requests} == {"application/vnd.github+json"}
    assert {r.headers["authorization"] for r in api.requests} == {"Bearer ghp_" + "x" * 36}


def test_m365_preset_reads_sharing_guest_access_and_groups_across_next_links(
    api: JsonApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    context = "https://graph.microsoft.com/v1.0/$metadata#admin/sharepoint/settings/$entity"
    api.route("GET /admin/sharepoint/settings")(
        lambda _request: Reply(
            {
                "@odata.context": context,
                "sharingCapability": "externalUserAndGuestSharing",
                "sharingDomainRestrictionMode": "none",
                "isResharingByExternalUsersEnabled": False,
                "sharingAllowedDomainList": [],
            }
        )
    )
    api.route("GET /policies/authorizationPolicy")(
        lambda _request: Reply(
            {
                "id": "authorizationPolicy",
                "allowInvitesFrom": "adminsAndGuestInviters",
                "guestUserRoleId": "10dae51f-b6af-4016-8d66-8c2a99b929b3",
                "defaultUserRolePermissions": {"allowedToCreateApps": False},
            }
        )
    )

    @api.route("GET /groups")
    def groups(request: Request) -> Reply:
        if "$skiptoken" in request.query:
            return Reply({"value": [{"id": "g-3", "displayName": "Sales", "visibility": "Private"}]})
        return Reply(
            {
                "value": [
                    {"id": "g-1", "displayName": "All staff", "visibility": "Public"},
                    {"id": "g-2", "displayName": "Finance", "visibility": "Private"},
                ],
                "@odata.nextLink": f"{api.base_url}/groups?$top=100&$skiptoken=RFNwdAIAAQAAAA",
            }
        )

    monkeypatch.setenv("GRAPH_TOKEN", "eyJ0eXAiOiJKV1QiLCJhbGciOi")
    repo, result = run_preset(tmp_path, f'\n[saas.m365]\npreset = "m365"\nbase_url = "{api.base_url}"\n')
    assert result.report.gaps == ()
    assert "@odata.context" not in stored(repo, "m365", "sharepoint-settings", "tenant")
    assert stored(repo, "m365", "group", "g-3")["displayName"] == "Sales"
    assert findings(result) == {("m365-anyone-links-allowed", "tenant")}


def test_google_workspace_preset_reads_policies_by_page_token_and_an_empty_answer(
    api: JsonApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def policy(number: int, unit: str, publishing: bool) -> dict[str, object]:
        return {
            "name": f"policies/ahv4hg7qc24kvaghb7zihwf4r{number}",
            "customer": "customers/C03az79cb",
            "policyQuery": {"orgUnit": unit, "sortOrder": 1},
            "setting": {
                "type": "settings/drive_and_docs.external_sharing",
                "value": {"externalSharingMode": "ALLOWLISTED_DOMAINS", "allowPublishingFiles": publishing},
            },
            "type": "ADMIN",
        }

    @api.route("GET /policies")
    def policies(request: Request) -> Reply:
        if "two_step" in request.query["filter"]:
            return Reply({})  # no such policy: Google leaves "policies" out
        if request.query.get("pageToken") == "NEXT":
            return Reply({"policies": [policy(2, "orgUnits/03ph8a2z1", True)]})
        return Reply({"policies": [policy(1, "orgUnits/03ph8a2z0", False)], "nextPageToken": "NEXT"})

    monkeypatch.setenv("GOOGLE_TOKEN", "ya29.a0AfB_byC")
    repo, result = run_preset(
        tmp_path, f'\n[saas.google]\npreset = "google-workspace"\nbase_url = "{api.base_url}"\n'
    )
    assert result.report.gaps == ()
    assert sorted(p.name for p in (repo / "snapshots/saas/google/drive-sharing").iterdir()) == [
        "policies%2Fahv4hg7qc24kvaghb7zihwf4r1.json",
        "policies%2Fahv4hg7qc24kvaghb7zihwf4r2.json",
    ]
    assert findings(result) == {("google-drive-anyone-with-link", "policies/ahv4hg7qc24kvaghb7zihwf4r2")}


def test_github_preset_records_the_deletion_of_the_last_repository(
    api: JsonApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = ["api"]
    api.route("GET /orgs/acme")(lambda _request: Reply(ORG))
    api.route("GET /orgs/acme/repos")(lambda _request: Reply([repo_row(n, "private") for n in names]))

    @api.route("POST /graphql")
    def graphql(_request: Request) -> Reply:
        nodes = [{"nameWithOwner": f"acme/{n}", "defaultBranchRef": None} for n in names]
        info = {"hasNextPage": False, "endCursor": None}
        return Reply({"data": {"organization": {"repositories": {"pageInfo": info, "nodes": nodes}}}})

    monkeypatch.setenv("GITHUB_TOKEN", "ghp_" + "x" * 36)
    table = f'\n[saas.github]\npreset = "github"\nbase_url = "{api.base_url}"\nvars = {{ org = "acme" }}\n'
    repo, first = run_preset(tmp_path, table)
    assert first.report.gaps == ()
    assert stored(repo, "github", "repository", "acme/api")["visibility"] == "private"

    names.clear()  # the organisation's last repository is deleted
    config = load_config(repo / "driftwatch.toml")
    second = run_once(config, build_collector(config), [])
    assert second.report.gaps == ()
    assert second.recorded is not None
    assert sorted(second.recorded.removed) == [
        "snapshots/saas/github/default-branch/acme%2Fapi.json",
        "snapshots/saas/github/repository/acme%2Fapi.json",
    ]


def github_table(api: JsonApi) -> str:
    return f'\n[saas.github]\npreset = "github"\nbase_url = "{api.base_url}"\nvars = {{ org = "acme" }}\n'


def branch_nodes(rule: object) -> dict[str, object]:
    """One GraphQL page: acme/api, whose default branch has ``rule`` as its protection."""
    nodes = [
        {
            "nameWithOwner": "acme/api",
            "isArchived": False,
            "defaultBranchRef": {"name": "main", "branchProtectionRule": rule},
        }
    ]
    info = {"hasNextPage": False, "endCursor": "Y3Vyc29yOjE="}
    return {"data": {"organization": {"repositories": {"pageInfo": info, "nodes": nodes}}}}


def test_graphql_errors_in_a_200_answer_are_a_gap_not_a_removed_protection(
    api: JsonApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = [branch_nodes({"pattern": "main", "requiresApprovingReviews": True})]
    api.route("GET /orgs/acme")(lambda _request: Reply({**ORG, "two_factor_requirement_enabled": True}))
    api.route("GET /orgs/acme/repos")(lambda _request: Reply([repo_row("api", "private")]))
    api.route("POST /graphql")(lambda _request: Reply(answers[-1]))
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_" + "x" * 36)
    repo, first = run_preset(tmp_path, github_table(api))
    assert first.report.gaps == () and findings(first) == set()

    # The token lost access: GitHub still answers 200, with the field null and the reason in errors.
    denied = branch_nodes(None)
    denied["errors"] = [
        {
            "type": "FORBIDDEN",
            "path": ["organization", "repositories", "nodes", 0, "defaultBranchRef", "branchProtectionRule"],
            "message": "Resource not accessible by integration",
        }
    ]
    answers.append(denied)
    config = load_config(repo / "driftwatch.toml")
    second = run_once(config, build_collector(config), [])
    (gap,) = second.report.gaps
    assert (gap.kind, gap.code) == ("denied", "GraphQLError")
    assert "github answered with 1 error(s)" in gap.message
    assert "(FORBIDDEN): Resource not accessible by integration" in gap.message
    assert findings(second) == set()
    assert stored(repo, "github", "default-branch", "acme/api")["defaultBranchRef"] == {
        "name": "main",
        "branchProtectionRule": {"pattern": "main", "requiresApprovingReviews": True},
    }


def test_more_pages_without_a_cursor_is_a_gap_not_the_later_repositories_deleted(
    api: JsonApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    second_cursor: list[str | None] = ["Y3Vyc29yOjE="]
    api.route("GET /orgs/acme")(lambda _request: Reply({**ORG, "two_factor_requirement_enabled": True}))
    api.route("GET /orgs/acme/repos")(lambda _request: Reply([repo_row("api", "private")]))

    @api.route("POST /graphql")
    def graphql(request: Request) -> Reply:
        rule = {"pattern": "main"}
        if request.body["variables"].get("after") is None:
            page = branch_nodes(rule)
            page["data"]["organization"]["repositories"]["pageInfo"] = {
                "hasNextPage": True,
                "endCursor": second_cursor[-1],
            }
            return Reply(page)
        later = branch_nodes(rule)
        later["data"]["organization"]["repositories"]["nodes"][0]["nameWithOwner"] = "acme/website"
        return Reply(later)

    monkeypatch.setenv("GITHUB_TOKEN", "ghp_" + "x" * 36)
    repo, first = run_preset(tmp_path, github_table(api))
    assert first.report.gaps == ()
    assert stored(repo, "github", "default-branch", "acme/website")["nameWithOwner"] == "acme/website"

    second_cursor.append(None)  # GitHub says there is a next page, but gives no cursor to it
    config = load_config(repo / "driftwatch.toml")
    second = run_once(config, build_collector(config), [])
    (gap,) = second.report.gaps
    assert (gap.kind, gap.code) == ("error", "NoCursor")
    assert "$.data.organization.repositories.pageInfo.hasNextPage says there are more pages" in gap.message
    assert second.recorded is None or second.recorded.removed == ()
    assert stored(repo, "github", "default-branch", "acme/website")["nameWithOwner"] == "acme/website"


def test_github_rules_say_2fa_is_unknown_without_an_owner_token_and_skip_archived_and_empty_repos(
    api: JsonApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    member_view = {k: v for k, v in ORG.items() if k != "two_factor_requirement_enabled"}
    api.route("GET /orgs/acme")(lambda _request: Reply(member_view))  # what a non-owner's token sees
    api.route("GET /orgs/acme/repos")(lambda _request: Reply([repo_row("api", "private")]))

    def node(name: str, archived: bool, branch: object) -> dict[str, object]:
        return {"nameWithOwner": f"acme/{name}", "isArchived": archived, "defaultBranchRef": branch}

    unprotected = {"name": "main", "branchProtectionRule": None}
    nodes = [
        node("api", False, unprotected),
        node("old-site", True, unprotected),  # archived: read-only, protection is moot
        node("new-idea", False, None),  # empty: no default branch yet
    ]
    info = {"hasNextPage": False, "endCursor": "Y3Vyc29yOjM="}
    page = {"data": {"organization": {"repositories": {"pageInfo": info, "nodes": nodes}}}}
    api.route("POST /graphql")(lambda _request: Reply(page))
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_" + "x" * 36)
    repo, result = run_preset(tmp_path, github_table(api))
    assert result.report.gaps == ()
    assert stored(repo, "github", "default-branch", "acme/old-site")["isArchived"] is True
    assert findings(result) == {
        ("github-2fa-unknown", "acme"),
        ("github-default-branch-unprotected", "acme/api"),
    }
    (unknown,) = [f for f in result.report.findings if f.rule == "github-2fa-unknown"]
    assert unknown.severity.name == "LOW"
    assert "is unknown" in unknown.message
