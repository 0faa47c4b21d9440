"""The command and file collectors: a real script and real files; failures are gaps, never deletions."""

from __future__ import annotations

import json
import os
import sys
import time
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path

from driftwatch.collectors.saas.command import CommandCollector
from driftwatch.collectors.saas.file import FileCollector
from driftwatch.collectors.saas.settings import SaasSettings, parse_saas
from driftwatch.defaults import initial_files
from driftwatch.normalise import Redactor
from driftwatch.store import init_repo
from tests.conftest import Invoke, write_config

REDACTOR = Redactor(b"test-redaction-key")
SCRIPT = """
import json, sys, time
mode = sys.argv[1]
if mode == "ok":
    print(json.dumps({"items": [{"name": "prod", "public": False}, {"name": "web", "public": True}]}))
elif mode == "slow":
    time.sleep(30)
elif mode == "spawn":  # like gcloud: a wrapper that starts the real program and waits for it
    import subprocess
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    with open("child.pid", "w") as f:
        f.write(str(child.pid))
    child.wait()
elif mode == "fail":
    print("ERROR: (gcloud) You do not currently have an active account selected.", file=sys.stderr)
    sys.exit(1)
else:
    print("Listed 0 items.")
"""


def command_settings(tmp_path: Path, mode: str) -> SaasSettings:
    script = tmp_path / "lister.py"
    script.write_text(SCRIPT)
    text = f"""
[saas.cloud]
collector = "command"
timeout = 2
[[saas.cloud.resources]]
type = "bucket"
command = ["{sys.executable}", "lister.py", "{mode}"]
items = "$.items[*]"
id = "name"
"""
    (parsed,) = parse_saas(tmp_path / "driftwatch.toml", tomllib.loads(text)["saas"])
    return parsed


def test_a_command_s_json_output_becomes_one_resource_per_item(tmp_path: Path) -> None:
    collection = CommandCollector(command_settings(tmp_path, "ok"), REDACTOR).collect()
    assert {r.identity.id: dict(r.config) for r in collection.resources} == {
        "prod": {"name": "prod", "public": False},
        "web": {"name": "web", "public": True},
    }
    assert [str(s) for s in collection.scopes_read] == ["saas/cloud/global/cloud/bucket"]
    assert collection.gaps == ()


def test_a_command_past_its_time_limit_is_a_gap(tmp_path: Path) -> None:
    collection = CommandCollector(command_settings(tmp_path, "slow"), REDACTOR).collect()
    (gap,) = collection.gaps
    assert (gap.code, str(gap.scope)) == ("Timeout", "saas/cloud/global/cloud/bucket")
    assert collection.resources == () and collection.scopes_read == frozenset()


def _running(pid: int) -> bool:
    """True while ``pid`` is a live process (a zombie waiting to be reaped counts as ended)."""
    if not Path("/proc").is_dir():  # no procfs (macOS): a zombie would count as running
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    try:
        return not Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z")
    except FileNotFoundError:
        return False


def test_a_time_out_kills_the_processes_the_command_started(tmp_path: Path) -> None:
    started = time.monotonic()
    (gap,) = CommandCollector(command_settings(tmp_path, "spawn"), REDACTOR).collect().gaps
    assert gap.code == "Timeout" and time.monotonic() - started < 10
    child = int((tmp_path / "child.pid").read_text())
    deadline = time.monotonic() + 5
    while _running(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _running(child)


def test_a_non_zero_exit_is_a_gap_with_the_last_error_line(tmp_path: Path) -> None:
    collection = CommandCollector(command_settings(tmp_path, "fail"), REDACTOR).collect()
    (gap,) = collection.gaps
    assert gap.code == "Exit1"
    assert "You do not currently have an active account selected" in gap.message
    assert collection.scopes_read == frozenset()


def test_output_that_is_not_json_is_a_gap(tmp_path: Path) -> None:
    collection = CommandCollector(command_settings(tmp_path, "garbage"), REDACTOR).collect()
    (gap,) = collection.gaps
    assert gap.code == "NotJson"
    assert collection.resources == () and collection.scopes_read == frozenset()


TOMORROW = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
FILE_TABLE = """
[saas.workspace]
collector = "file"
service = "google"
[[saas.workspace.resources]]
type = "sharing"
file = "export.json"
items = "$.policies[*]"
id = "orgUnit"
"""


def file_settings(tmp_path: Path, pattern: str) -> SaasSettings:
    text = f"""
[saas.workspace]
collector = "file"
service = "google"
[[saas.workspace.resources]]
type = "sharing"
file = "{pattern}"
items = "$.policies[*]"
id = "orgUnit"
redact = ["$.shared_secret"]
"""
    (parsed,) = parse_saas(tmp_path / "driftwatch.toml", tomllib.loads(text)["saas"])
    return parsed


def test_yaml_and_json_exports_are_read_from_a_folder(tmp_path: Path) -> None:
    (tmp_path / "exports").mkdir()
    (tmp_path / "exports" / "a.yaml").write_text(
        "policies:\n  - orgUnit: /sales\n    externalSharing: ALLOWED\n    shared_secret: hunter2hunter2\n"
        "    reviewed: 2026-11-02\n"
    )
    (tmp_path / "exports" / "b.json").write_text(
        '{"policies": [{"orgUnit": "/eng", "externalSharing": "DISALLOWED"}]}'
    )
    collection = FileCollector(file_settings(tmp_path, "exports/*"), REDACTOR).collect()
    configs = {r.identity.id: dict(r.config) for r in collection.resources}
    assert configs["/eng"] == {"orgUnit": "/eng", "externalSharing": "DISALLOWED"}
    assert configs["/sales"]["reviewed"] == "2026-11-02"
    assert configs["/sales"]["shared_secret"] == REDACTOR.redact("hunter2hunter2")
    assert {r.identity.type for r in collection.resources} == {"google/sharing"}


def test_an_absolute_glob_reads_exports_outside_the_config_folder(tmp_path: Path) -> None:
    exports = tmp_path / "srv" / "exports"
    exports.mkdir(parents=True)
    (exports / "sales.yaml").write_text("policies:\n  - orgUnit: /sales\n    externalSharing: ALLOWED\n")
    (exports / "eng.yaml").write_text("policies:\n  - orgUnit: /eng\n    externalSharing: DISALLOWED\n")
    (exports / "notes.txt").write_text("not an export")
    config_folder = tmp_path / "state"
    config_folder.mkdir()
    collection = FileCollector(file_settings(config_folder, f"{exports}/*.yaml"), REDACTOR).collect()
    assert collection.gaps == ()
    assert {r.identity.id: r.config["externalSharing"] for r in collection.resources} == {
        "/eng": "DISALLOWED",
        "/sales": "ALLOWED",
    }
    (gap,) = FileCollector(file_settings(config_folder, f"{exports}/*.json"), REDACTOR).collect().gaps
    assert (gap.code, gap.message) == ("NoFile", f"no file matches {exports}/*.json")


def test_a_malformed_yaml_export_is_a_gap(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("policies: [unclosed\n")
    (gap,) = FileCollector(file_settings(tmp_path, "bad.yaml"), REDACTOR).collect().gaps
    assert gap.code == "NotParsable" and "bad.yaml" in gap.message


def test_a_command_printing_an_empty_list_read_zero_items(tmp_path: Path) -> None:
    text = f"""
[saas.gcp]
collector = "command"
[[saas.gcp.resources]]
type = "bucket"
command = ["{sys.executable}", "-c", "print('[]')"]
items = "$[*]"
id = "$.name"
"""
    (parsed,) = parse_saas(tmp_path / "driftwatch.toml", tomllib.loads(text)["saas"])
    collection = CommandCollector(parsed, REDACTOR).collect()
    assert collection.gaps == ()
    assert collection.resources == ()
    assert [str(s) for s in collection.scopes_read] == ["saas/gcp/global/gcp/bucket"]


def test_an_id_too_long_for_a_file_name_is_stored_and_read_back_by_its_key(
    tmp_path: Path, invoke: Invoke
) -> None:
    repo = tmp_path / "state"
    init_repo(repo, initial_files(), "driftwatch", "driftwatch@localhost")
    long_unit = "/" + "/".join(f"department-{i:03d}" for i in range(25))  # 375 bytes
    (repo / "export.json").write_text(json.dumps({"policies": [{"orgUnit": long_unit, "sharing": "ON"}]}))
    path = write_config(repo, None, extra=FILE_TABLE)
    path.write_text(path.read_text().replace("\nenabled = true\n", "\nenabled = false\n", 1))
    ran = invoke("-c", str(path), "run")
    assert ran.exit_code in (0, 1), ran.stderr
    (stored,) = (repo / "snapshots/saas/workspace/sharing").iterdir()
    assert len(stored.name) <= 205
    assert json.loads(stored.read_text())["identity"]["id"] == long_unit
    shown = invoke(
        "-c",
        str(path),
        "show",
        f"saas:workspace:global:google/sharing/{long_unit}",
        "--at",
        TOMORROW,
        "--format",
        "json",
    )
    assert shown.exit_code == 0, shown.stderr
    assert json.loads(shown.stdout)["state"] == {"orgUnit": long_unit, "sharing": "ON"}
