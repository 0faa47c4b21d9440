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


HTTP_TABLE = """
[saas.docs]
collector = "http"
base_url = "https://docs.example/api"
{top}
[[saas.docs.resources]]
type = "workspace"
path = "/workspace"
fixed_id = "acme"
{resource}
"""


@pytest.mark.parametrize(
    ("top", "resource", "where", "secret"),
    [
        (
            'headers = { X-Api-Key = "live_4f9a0c2e77" }',
            "",
            "[saas.docs] headers.X-Api-Key",
            "live_4f9a0c2e77",
        ),
        (
            'headers = { PRIVATE-TOKEN = "glpat-Zx81KqP0aa" }',
            "",
            "[saas.docs] headers.PRIVATE-TOKEN",
            "glpat-Zx81KqP0aa",
        ),
        ('headers = { X-Trace = "ghp_' + "a" * 36 + '" }', "", "[saas.docs] headers.X-Trace", "ghp_"),
        (
            "",
            'params = { api_key = "k-77aa01", per_page = 100 }',
            "[saas.docs] resources[0] params.api_key",
            "k-77aa01",
        ),
    ],
)
def test_a_secret_in_headers_or_params_is_refused_and_the_environment_offered(
    tmp_path: Path, top: str, resource: str, where: str, secret: str
) -> None:
    with pytest.raises(ConfigError) as error:
        load_config(config_with(tmp_path, HTTP_TABLE.format(top=top, resource=resource)))
    message = str(error.value)
    assert message.startswith(f"driftwatch.toml: {where}: looks like a secret")
    key, name = where.rsplit(" ", 1)[1].split(".")
    assert f'{key}_env = {{ {name} = "VARIABLE" }}' in message
    assert secret not in message


def test_headers_env_and_params_env_name_variables_and_plain_settings_pass(tmp_path: Path) -> None:
    text = HTTP_TABLE.format(
        top='headers = { Accept = "application/json" }\nheaders_env = { X-Api-Key = "DOCS_API_KEY" }',
        resource='params = { per_page = 100, type = "all" }\nparams_env = { api_key = "DOCS_PARAM_KEY" }',
    )
    (saas,) = load_config(config_with(tmp_path, text)).saas
    assert saas.headers_env == (("X-Api-Key", "DOCS_API_KEY"),)
    assert saas.resources[0].params_env == (("api_key", "DOCS_PARAM_KEY"),)
    assert saas.secret_variables() == ("DOCS_API_KEY", "DOCS_PARAM_KEY")
    with pytest.raises(ConfigError, match=r"headers_env.X-Api-Key: is not an environment variable name"):
        load_config(
            config_with(
                tmp_path, HTTP_TABLE.format(top='headers_env = { X-Api-Key = "live-1" }', resource="")
            )
        )


@pytest.mark.parametrize(
    ("base_url", "extra", "refused"),
    [
        ("http://docs.example/api", "", True),
        ("http://10.0.0.7:8080", "", True),
        ("http://docs.example/api", "allow_http = true", False),
        ("https://docs.example/api", "", False),
        ("http://127.0.0.1:8080", "", False),
        ("http://localhost:8080", "", False),
        ("http://[::1]:8080", "", False),
    ],
)
def test_plain_http_to_another_host_is_refused_unless_allowed(
    tmp_path: Path, base_url: str, extra: str, refused: bool
) -> None:
    text = HTTP_TABLE.format(top=extra, resource="").replace("https://docs.example/api", base_url)
    if not refused:
        (saas,) = load_config(config_with(tmp_path, text)).saas
        assert saas.base_url == base_url.rstrip("/")
        return
    with pytest.raises(ConfigError) as error:
        load_config(config_with(tmp_path, text))
    assert str(error.value).startswith(
        f"driftwatch.toml: [saas.docs] base_url: {base_url} is plain http to a host that is not this "
        "machine: the token and the settings would cross the network in clear. Use https://, or set "
        "allow_http = true"
    )
