"""Config loading: defaults, and one precise message per kind of mistake."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest

from driftwatch.config import AlertSettings, NotifyFilter, RemoteSettings, load_config, parse_interval
from driftwatch.defaults import default_text
from driftwatch.errors import ConfigError
from driftwatch.model import Severity, TrustedAccounts
from driftwatch.regions import known_regions
from tests.support.fake_credentials import slack_token


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_example_config_is_valid_and_matches_the_documented_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, default_text("config.example.toml")))
    empty = load_config(write(tmp_path, ""))
    # Every default shown in config.example.toml is the default the code applies.
    assert config.aws == empty.aws
    assert config.state == empty.state
    assert config.redaction == empty.redaction
    assert config.notify == empty.notify
    assert (config.fail_on, config.every_seconds) == (empty.fail_on, empty.every_seconds)
    assert (config.templates_dir, config.remote) == (empty.templates_dir, empty.remote)
    assert (empty.templates_dir, empty.remote) == (None, RemoteSettings())
    assert config.alerts == empty.alerts == AlertSettings()
    assert config.aws.regions == ("us-east-1",)
    assert config.aws.retry_mode == "adaptive"
    assert config.state.repo == tmp_path.resolve()
    assert config.fail_on is Severity.HIGH
    assert config.every_seconds == 900
    assert [n.type for n in config.notify] == ["console"]


def test_values_are_read(tmp_path: Path) -> None:
    config = load_config(
        write(
            tmp_path,
            """
[state]
repo = "state"
author_email = "bot@example.com"
[aws]
regions = ["eu-west-1", "us-east-2"]
profile = "audit"
endpoint_url = "http://127.0.0.1:5000"
max_workers = 4
connect_timeout = 3
trusted_accounts = ["444455556666", "777788889999"]
organization_id = "o-a1b2c3d4e5"
[check]
fail_on = "Critical"
[schedule]
every = "2h"
[[notify]]
type = "slack"
channel = "#drift"
min_severity = "medium"
""",
        )
    )
    assert config.state.repo == (tmp_path / "state").resolve()
    assert config.state.author_email == "bot@example.com"
    assert config.aws.regions == ("eu-west-1", "us-east-2")
    assert config.aws.profile == "audit"
    assert config.aws.endpoint_url == "http://127.0.0.1:5000"
    assert config.aws.max_workers == 4
    assert config.aws.connect_timeout == 3.0
    assert config.aws.trusted == TrustedAccounts(frozenset({"444455556666", "777788889999"}), "o-a1b2c3d4e5")
    assert config.fail_on is Severity.CRITICAL
    assert config.every_seconds == 7200
    (slack,) = config.notify
    assert (slack.type, slack.min_severity) == ("slack", Severity.MEDIUM)
    assert slack.options == {
        "channel": "#drift",
        "token_env": "SLACK_BOT_TOKEN",
        "base_url": "https://slack.com/api/",
        "webhook_url_env": "",
        "thread_details": False,
    }
    assert config.alerts.remind_after_seconds == 86400 and config.alerts.commit_url == ""


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[[notify]]\ntype = "console"\nmin_severity = "high"\nmax_severity = "medium"\n',
            "config.toml: [[notify]] #1 max_severity: medium is below min_severity high",
        ),
        (
            '[[notify]]\ntype = "console"\nrules = ["s3-bucket-public", "s3-public"]\n',
            'config.toml: [[notify]] #1 rules[1]: "s3-public" is not a rule (one of: ',
        ),
        (
            '[[notify]]\ntype = "console"\naccounts = ["1111-2222-3333"]\n',
            'config.toml: [[notify]] #1 accounts[0]: "1111-2222-3333" is not an AWS account id (12 digits)',
        ),
        (
            '[[notify]]\ntype = "console"\nresources = []\n',
            "config.toml: [[notify]] #1 resources: must not be empty (leave the key out instead)",
        ),
        (
            '[[notify]]\ntype = "webhook"\nurl = "https://x.example"\nsecret_env = "abc def"\n',
            "config.toml: [[notify]] #1 secret_env: is not an environment variable name (name the variable;",
        ),
        ("[remote]\nattempts = 0\n", "config.toml: [remote] attempts: must be between 1 and 20, not 0"),
        ('[remote]\nname = "a b"\n', "config.toml: [remote] name: 'a b' is not a git remote name"),
        ("[remote]\nbackoff = -1\n", "config.toml: [remote] backoff: must be 0 to 600 seconds, not -1"),
        ("[templates]\ndir = 3\n", "config.toml: [templates] dir: must be a string, not integer 3"),
        ('[alerts]\nremind_after = "0h"\n', "config.toml: [alerts] remind_after: '0h' is not an interval"),
        (
            '[alerts]\ncommit_url = "https://git.example.com/c/"\n',
            "config.toml: [alerts] commit_url: 'https://git.example.com/c/' must contain {commit}",
        ),
        (
            '[[notify]]\ntype = "slack"\n',
            "config.toml: [[notify]] #1 channel: is required for a slack notifier (or webhook_url_env",
        ),
        (
            '[[notify]]\ntype = "slack"\nwebhook_url_env = "HOOK"\nthread_details = true\n',
            "config.toml: [[notify]] #1 thread_details: cannot go with webhook_url_env",
        ),
        (
            '[aws]\nregions = ["us-east-1", "eu-west-9"]\n',
            'config.toml: [aws] regions[1]: "eu-west-9" is not an AWS region',
        ),
        ('[aws]\nregions = ["*", "us-east-1"]\n', 'config.toml: [aws] regions[0]: "*" must stand alone'),
        ("[aws]\nregions = []\n", "config.toml: [aws] regions: must name at least one region"),
        ('[aws]\nregion = "us-east-1"\n', "config.toml: [aws] region: unknown key"),
        ("[aws]\nservices = []\n", "config.toml: [aws] services: must not be empty"),
        ('[aws]\nservices = ["s3", "s3"]\n', 'config.toml: [aws] services[1]: "s3" is listed twice'),
        (
            '[[notify]]\ntype = "slack"\nchannel = "#x"\nbase_url = "ftp://x"\n',
            "config.toml: [[notify]] #1 base_url: 'ftp://x' is not an http(s) URL",
        ),
        (
            f'[[notify]]\ntype = "slack"\nchannel = "#x"\ntoken_env = "{slack_token("123")}"\n',
            "config.toml: [[notify]] #1 token_env: is not an environment variable name (name the variable;",
        ),
        ('[aws]\nmax_workers = "8"\n', "config.toml: [aws] max_workers: must be an integer, not string '8'"),
        ("[aws]\nmax_workers = 0\n", "config.toml: [aws] max_workers: must be between 1 and 64, not 0"),
        (
            "[aws]\nmax_attempts = true\n",
            "config.toml: [aws] max_attempts: must be an integer, not boolean True",
        ),
        (
            '[aws]\nretry_mode = "legacy"\n',
            "config.toml: [aws] retry_mode: must be one of: standard, adaptive",
        ),
        (
            '[aws]\nservices = ["s3", "gamelift"]\n',
            'config.toml: [aws] services[1]: "gamelift" is not a supported service',
        ),
        (
            '[aws]\ntrusted_accounts = ["44445555666"]\n',
            'config.toml: [aws] trusted_accounts[0]: "44445555666" is not a 12-digit account id',
        ),
        (
            '[aws]\ntrusted_accounts = "444455556666"\n',
            "config.toml: [aws] trusted_accounts: must be a list, not string '444455556666'",
        ),
        (
            '[aws]\norganization_id = "r-abc"\n',
            "config.toml: [aws] organization_id: 'r-abc' is not an AWS Organizations id",
        ),
        (
            '[aws]\nendpoint_url = "localhost:5000"\n',
            "config.toml: [aws] endpoint_url: 'localhost:5000' is not an http(s) URL",
        ),
        ('[check]\nfail_on = "urgent"\n', "config.toml: [check] fail_on: 'urgent' is not a severity"),
        (
            '[schedule]\nevery = "15 minutes"\n',
            "config.toml: [schedule] every: '15 minutes' is not an interval",
        ),
        (
            '[state]\nauthor_email = "nobody"\n',
            "config.toml: [state] author_email: 'nobody' is not an email address",
        ),
        ('[[notify]]\nmin_severity = "low"\n', "config.toml: [[notify]] #1 type: is required"),
        ('[[notify]]\ntype = "pager"\n', "config.toml: [[notify]] #1 type: 'pager' is not a notifier"),
        (
            '[[notify]]\ntype = "slack"\n',
            "config.toml: [[notify]] #1 channel: is required for a slack notifier",
        ),
        ('[[notify]]\ntype = "console"\nchannel = "#x"\n', "config.toml: [[notify]] #1 channel: unknown key"),
        ("aws = 3\n", "config.toml: aws: must be a table, not integer 3"),
        ('colour = "blue"\n', "config.toml: colour: unknown key"),
        ("[aws\n", "config.toml: not valid TOML: Expected ']'"),
        (
            '[aws]\nregions = ["us-east-1", "us-east-1"]\n',
            'config.toml: [aws] regions[1]: "us-east-1" is listed twice',
        ),
        (
            "[aws]\nread_timeout = inf\n",
            "config.toml: [aws] read_timeout: must be a number of seconds between 0 and 3600",
        ),
        (
            '[state]\nrepo = "state"\n[redaction]\nkey_file = "state/key"\n',
            "config.toml: [redaction] key_file: ",
        ),
    ],
)
def test_mistakes_are_named_with_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_config(write(tmp_path, text))
    assert str(error.value).startswith(message)


def test_routing_remote_and_templates_are_read(tmp_path: Path) -> None:
    (tmp_path / "tpl").mkdir()
    config = load_config(
        write(
            tmp_path,
            """
[remote]
name = "upstream"
attempts = 5
backoff = 0
[templates]
dir = "tpl"
[[notify]]
type = "webhook"
url = "https://hooks.example.com/drift"
min_severity = "medium"
max_severity = "high"
rules = ["baseline-drift"]
accounts = ["111122223333"]
resources = ["arn:aws:s3:::prod-*"]
""",
        )
    )
    assert config.remote == RemoteSettings("upstream", 5, 0.0, 120.0)
    assert config.templates_dir == (tmp_path / "tpl").resolve()
    (hook,) = config.notify
    assert hook.filter == NotifyFilter(
        Severity.HIGH, ("baseline-drift",), ("111122223333",), ("arn:aws:s3:::prod-*",)
    )
    assert hook.options == {"url": "https://hooks.example.com/drift", "secret_env": "", "timeout": 10.0}
    assert hook.label == "[[notify]] #1 (webhook https://hooks.example.com/drift)"


def test_every_commented_notifier_in_the_example_config_is_valid(tmp_path: Path) -> None:
    lines = default_text("config.example.toml").splitlines()
    examples = []
    for number, line in enumerate(lines):
        if line == "# [[notify]]":
            block = []
            for following in lines[number:]:
                if not following.startswith("# ") or (following.startswith("# [[notify]]") and block):
                    break
                block.append(following[2:])
            examples.append("\n".join(block))
    config = load_config(write(tmp_path, "\n\n".join(examples)))
    assert [(n.type, n.min_severity, n.filter.max_severity) for n in config.notify] == [
        ("slack", Severity.CRITICAL, Severity.CRITICAL),
        ("slack", Severity.LOW, Severity.HIGH),
        ("slack", Severity.LOW, Severity.CRITICAL),
        ("webhook", Severity.MEDIUM, Severity.CRITICAL),
        ("email", Severity.HIGH, Severity.CRITICAL),
    ]


def test_a_config_that_is_not_utf8_is_named(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes(b"[aws]\n# caf\xe9\n")
    with pytest.raises(
        ConfigError, match=r"^config.toml: not UTF-8 text \(byte 11: invalid continuation byte\)"
    ):
        load_config(path)


def test_missing_file_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no such config file \(create one with `driftwatch init PATH`\)"):
        load_config(tmp_path / "absent.toml")


def test_all_regions_star(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, '[aws]\nregions = ["*"]\n'))
    assert config.aws.all_regions


@pytest.mark.parametrize(("text", "seconds"), [("30s", 30), ("15m", 900), ("2h", 7200), ("1d", 86400)])
def test_intervals(text: str, seconds: int) -> None:
    assert parse_interval(text) == seconds


@pytest.mark.parametrize("text", ["0m", "15", "m", "-5m", "1w"])
def test_bad_intervals(text: str) -> None:
    with pytest.raises(ValueError, match="is not an interval"):
        parse_interval(text)


def test_intervals_longer_than_a_year_are_refused() -> None:
    assert parse_interval("366d") == 366 * 86400
    with pytest.raises(ValueError, match="'3000000d' is longer than a year"):
        parse_interval("3000000d")


def test_several_accounts_are_read(tmp_path: Path) -> None:
    config = load_config(
        write(
            tmp_path,
            '[aws]\nprofiles = ["prod", "staging"]\naccounts = ["111122223333", "444455556666"]\n'
            'role_arn = "arn:aws:iam::{account}:role/driftwatch-read-only"\nexternal_id = "dw-7f3a"\n',
        )
    )
    assert (config.aws.profiles, config.aws.accounts) == (
        ("prod", "staging"),
        ("111122223333", "444455556666"),
    )
    assert config.aws.role_arn == "arn:aws:iam::{account}:role/driftwatch-read-only"
    assert (config.aws.external_id, config.aws.role_session_name) == ("dw-7f3a", "driftwatch")
    assert config.aws.several_accounts
    assert not load_config(write(tmp_path, "")).aws.several_accounts


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[aws]\naccounts = ["11112222333"]\nrole_arn = "arn:aws:iam::{account}:role/r"\n',
            'config.toml: [aws] accounts[0]: "11112222333" is not a 12-digit account id',
        ),
        (
            '[aws]\naccounts = ["111122223333"]\n',
            "config.toml: [aws] role_arn: accounts needs a role to assume in each account",
        ),
        (
            '[aws]\norganization = true\nrole_arn = "arn:aws:iam::111122223333:role/r"\n',
            "config.toml: [aws] role_arn: organization = true needs a role to assume in each account",
        ),
        (
            '[aws]\nrole_arn = "arn:aws:iam::{account}:role/r"\n',
            'config.toml: [aws] role_arn: "{account}" is filled in from [aws] accounts or organization',
        ),
        (
            '[aws]\nrole_arn = "arn:aws:iam::{account}:user/r"\norganization = true\n',
            "config.toml: [aws] role_arn: 'arn:aws:iam::{account}:user/r' is not an IAM role ARN",
        ),
        ('[aws]\norganization = "yes"\n', "config.toml: [aws] organization: must be true or false"),
        ('[aws]\nprofiles = ["a", "a"]\n', 'config.toml: [aws] profiles[1]: "a" is listed twice'),
        (
            '[aws]\nrole_session_name = "x"\n',
            "config.toml: [aws] role_session_name: 'x' is not a role session",
        ),
    ],
)
def test_account_mistakes_are_named(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_config(write(tmp_path, text))
    assert str(error.value).startswith(message)


def test_known_regions_are_the_regions_botocore_sessions_know() -> None:
    session = boto3.session.Session()
    expected = {
        region
        for partition in session.get_available_partitions()
        for service in ("ec2", "s3", "iam", "sts")
        for region in session.get_available_regions(service, partition_name=partition)
    }
    assert known_regions() == expected
    assert {"us-east-1", "eu-west-1", "cn-north-1", "us-gov-west-1"} <= known_regions()


def test_a_secret_pasted_where_its_variable_name_goes_is_not_repeated_in_the_error(tmp_path: Path) -> None:
    text = '[saas.acme]\ncollector = "http"\nbase_url = "https://api.example"\ntoken_env = "tok-3f9a!x"\n'
    with pytest.raises(ConfigError) as error:
        load_config(write(tmp_path, text))
    assert str(error.value) == (
        "config.toml: [saas.acme] token_env: is not an environment variable name (name the variable; "
        "the secret itself goes in the environment)"
    )


def test_an_unknown_key_in_a_saas_table_points_to_where_those_keys_are_documented(tmp_path: Path) -> None:
    text = '[saas.acme]\ncollector = "http"\nbase_url = "https://api.example"\nbase_uri = "x"\n'
    with pytest.raises(ConfigError) as error:
        load_config(write(tmp_path, text))
    assert str(error.value) == (
        'config.toml: [saas.acme] base_uri: unknown key (see README, "Your own service, with only TOML" '
        "for the keys this table takes)"
    )
