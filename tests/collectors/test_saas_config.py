"""[saas.NAME] tables: presets merged with the user's keys, every mistake named by file, table and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from driftwatch.config import load_config
from driftwatch.errors import ConfigError


def config_with(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "driftwatch.toml"
    path.write_text(text)
    return path


def test_a_saas_only_config_turns_aws_off_and_lists_its_collectors(tmp_path: Path) -> None:
    config = load_config(
        config_with(
            tmp_path,
            """
[aws]
enabled = false
[saas.intranet]
collector = "http"
base_url = "https://intranet.example/api"
[[saas.intranet.resources]]
type = "sharing"
path = "/sharing"
fixed_id = "tenant"
""",
        )
    )
    assert config.aws.enabled is False
    (saas,) = config.saas
    assert (saas.name, saas.collector, saas.service, saas.verify_tls) == (
        "intranet",
        "http",
        "intranet",
        True,
    )
    assert [spec.kind for spec in saas.resources] == ["sharing"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[saas.x]\ncollector = "ftp"\n',
            "driftwatch.toml: [saas.x] collector: is not a collector (one of: http, command, file)",
        ),
        (
            '[saas.x]\ncollector = "http"\nbase_url = "https://a.example"\n'
            '[[saas.x.resources]]\ntype = "t"\npath = "/p"\nid = "$.[[bad"\n',
            "driftwatch.toml: [saas.x] resources[0] id: '$.[[bad' is not a JSON path",
        ),
        (
            '[saas.x]\ncollector = "http"\nbase_url = "https://a.example"\n'
            '[[saas.x.resources]]\ntype = "t"\npath = "/p"\nfixed_id = "a"\npagination = "link"\n',
            "driftwatch.toml: [saas.x] resources[0] pagination: unknown key",
        ),
        ('[saas.x]\npreset = "gitlab"\n', "driftwatch.toml: [saas.x] preset: 'gitlab' is not a preset"),
        (
            '[saas.x]\ncollector = "http"\nbase_url = "https://a.example/${tenant}"\n',
            "driftwatch.toml: [saas.x] base_url: uses ${tenant}: set it in [saas.x.vars]",
        ),
        (
            '[saas.x]\ncollector = "http"\nbase_url = "https://a.example"\n'
            'headers = { Authorization = "t" }\n',
            "driftwatch.toml: [saas.x] headers.Authorization: put secrets in the environment",
        ),
    ],
)
def test_a_mistake_names_the_file_table_and_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_config(config_with(tmp_path, text))
    assert str(error.value).startswith(message)
