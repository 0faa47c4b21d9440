"""Templates: the shipped ones, a user's folder that replaces any of them, and errors with name and line."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from driftwatch.config import load_config, shipped_templates
from driftwatch.errors import ConfigError
from driftwatch.model import Finding, Notification, ResourceId, RunReport, Severity
from driftwatch.notify.build import build_notifiers
from driftwatch.notify.slack import SlackNotifier, default_templates
from tests.support.fake_credentials import slack_token

WHEN = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
BUCKET = ResourceId("aws", "111122223333", "global", "s3/bucket", "exports", "arn:aws:s3:::exports")
REPORT = RunReport(
    "20261203T090000Z-ab12",
    WHEN,
    WHEN,
    "/srv/state",
    "0123456789abcdef",
    3,
    1,
    (Finding("s3-bucket-public", Severity.CRITICAL, BUCKET, "public to everyone", "baseline"),),
)


def config_with_templates(tmp_path: Path, templates: dict[str, str]) -> Path:
    folder = tmp_path / "my-templates"
    folder.mkdir()
    for name, text in templates.items():
        (folder / name).write_text(text, encoding="utf-8")
    path = tmp_path / "driftwatch.toml"
    path.write_text('[templates]\ndir = "my-templates"\n[[notify]]\ntype = "console"\n', encoding="utf-8")
    return path


def console_output(config_path: Path) -> tuple[list[str], list[str]]:
    config = load_config(config_path)
    lines: list[str] = []
    notifiers, errors = build_notifiers(config.notify, lines.append, config.templates_dir)
    for notifier in notifiers:
        notifier.notify(Notification.from_report(REPORT))
    return lines, errors


def test_the_shipped_templates_are_used_without_a_folder(tmp_path: Path) -> None:
    path = tmp_path / "driftwatch.toml"
    path.write_text("", encoding="utf-8")
    [text], errors = console_output(path)
    assert errors == []
    assert text.startswith("driftwatch run 20261203T090000Z-ab12: 3 resources read")
    assert {"console.txt.j2", "slack_digest.json.j2", "email.html.j2"} <= shipped_templates()


def test_a_template_in_the_folder_replaces_the_shipped_one_and_may_include_helpers(tmp_path: Path) -> None:
    path = config_with_templates(
        tmp_path,
        {
            "console.txt.j2": '{% include "_line.j2" %}{% for f in shown %}{{ f.rule }}{% endfor %}\n',
            "_line.j2": "run {{ report.run_id }}: ",
        },
    )
    assert console_output(path) == (["run 20261203T090000Z-ab12: s3-bucket-public"], [])
    # Templates not in the folder stay the shipped ones.
    slack = SlackNotifier("#c", slack_token("t"), templates=default_templates(tmp_path / "my-templates"))
    assert slack.render(Notification.from_report(REPORT))[0].text.startswith(
        "driftwatch run 20261203T090000Z-ab12: 1 new (1 critical)"
    )


def test_a_syntax_error_names_the_users_file_and_line(tmp_path: Path) -> None:
    path = config_with_templates(tmp_path, {"console.txt.j2": "ok\n{% for f in shown %}\n{{ f.rule }}\n"})
    lines, [error] = console_output(path)
    assert lines == []
    assert error == (
        f"[[notify]] #1 (console): template {tmp_path / 'my-templates' / 'console.txt.j2'} line 3: "
        "Unexpected end of template. Jinja was looking for the following tags: 'endfor' or 'else'. "
        "The innermost block that needs to be closed is 'for'."
    )


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (
            "run {{ report.run_id }}\n\n{{ report.nope }}\n",
            3,
            "'driftwatch.model.RunReport object' has no attribute 'nope'",
        ),
        ("{% for f in shown %}\n{{ f.severity / 0 }}{% endfor %}", 2, "ZeroDivisionError: division by zero"),
    ],
)
def test_an_error_while_rendering_names_the_template_and_line(
    tmp_path: Path, text: str, line: int, message: str
) -> None:
    from driftwatch.errors import NotifyError

    path = config_with_templates(tmp_path, {"console.txt.j2": text})
    with pytest.raises(NotifyError) as error:
        console_output(path)
    where = tmp_path / "my-templates" / "console.txt.j2"
    assert str(error.value) == f"template {where} line {line}: {message}"


def test_an_error_in_a_shipped_template_is_named_by_its_name(tmp_path: Path) -> None:
    from driftwatch.errors import NotifyError
    from driftwatch.notify.render import environment, render

    with pytest.raises(NotifyError, match=r"^template console\.txt\.j2 line \d+: 'report' is undefined$"):
        render(environment(), "console.txt.j2")


@pytest.mark.parametrize(
    ("files", "dir_value", "message"),
    [
        ({}, "missing", "driftwatch.toml: [templates] dir: {tmp}/missing is not a folder"),
        (
            {"slack-digest.json.j2": "[]"},
            "my-templates",
            "driftwatch.toml: [templates] dir: slack-digest.json.j2 in {tmp}/my-templates replaces no "
            "template",
        ),
    ],
)
def test_a_templates_folder_that_would_do_nothing_is_refused(
    tmp_path: Path, files: dict[str, str], dir_value: str, message: str
) -> None:
    path = config_with_templates(tmp_path, files)
    path.write_text(path.read_text().replace('"my-templates"', f'"{dir_value}"'), encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert str(error.value).startswith(message.format(tmp=tmp_path))
