"""The ``[saas.NAME]`` tables of driftwatch.toml: generic collectors and presets, validated at start.

A table either names a ``preset`` (a data file in ``presets/``, whose keys are defaults the table may
override) or a ``collector`` (``http``, ``command`` or ``file``) and lists its ``[[saas.NAME.resources]]``.
"""

from __future__ import annotations

import ipaddress
import re
import tomllib
from dataclasses import dataclass, field, replace
from importlib.resources import files
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from driftwatch.config import _env_name, _Table, _type_name, _url_check
from driftwatch.errors import ConfigError
from driftwatch.jsonpaths import Path as JsonPath
from driftwatch.jsonpaths import compile_path, container_of
from driftwatch.model import JSONValue
from driftwatch.normalise import is_secret

COLLECTOR_KINDS = ("http", "command", "file")
PAGINATION = ("none", "link", "cursor", "page")
METHODS = ("GET", "POST")
SAAS_KEYS = 'README, "Your own service, with only TOML"'
"""Where a ``[saas.NAME]`` table's keys are documented, for the error about an unknown one."""
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class ResourceSpec:
    """One kind of resource a SaaS collector reads: where from, which items, which id."""

    kind: str
    items: JsonPath | None  # None: the whole document is one item
    id: JsonPath | None  # None: the item's id is ``fixed_id``
    fixed_id: str = ""
    items_optional: bool = False  # an answer without the items means none (Google omits empty lists)
    items_container: JsonPath | None = None  # "$.a" for items = "$.a[*]": present and empty = no items
    volatile: tuple[JsonPath, ...] = ()
    redact: tuple[JsonPath, ...] = ()
    # http
    path: str = ""
    method: str = "GET"
    params: tuple[tuple[str, str], ...] = ()
    params_env: tuple[tuple[str, str], ...] = ()  # query parameter -> environment variable (a secret)
    body: JSONValue = None
    paginate: str = "none"
    cursor_field: JsonPath | None = None
    cursor_param: str = ""
    more_field: JsonPath | None = None
    page_param: str = "page"
    first_page: int = 1
    # command
    command: tuple[str, ...] = ()
    # file
    file: str = ""


@dataclass(frozen=True)
class SaasSettings:
    """One ``[saas.NAME]`` table: a collector, how to reach the service, and what to read."""

    name: str
    collector: str
    service: str
    resources: tuple[ResourceSpec, ...]
    base_url: str = ""
    token_env: str = ""
    auth_header: str = "Authorization"
    auth_scheme: str = "Bearer"
    headers: tuple[tuple[str, str], ...] = ()
    headers_env: tuple[tuple[str, str], ...] = ()  # header -> environment variable (a secret)
    timeout: float = 30.0
    verify_tls: bool = True
    ca_file: Path | None = None
    max_attempts: int = 4
    max_wait: float = 60.0
    max_pages: int = 1000
    folder: Path = field(default_factory=Path)
    preset: str = ""

    def type_of(self, spec: ResourceSpec) -> str:
        """The resource type of ``spec``'s resources: ``<service>/<kind>``."""
        return f"{self.service}/{spec.kind}"

    def secret_variables(self) -> tuple[str, ...]:
        """The environment variables holding this service's secrets: token_env, headers_env, params_env."""
        names = [self.token_env] if self.token_env else []
        names += [v for _, v in self.headers_env]
        names += [v for spec in self.resources for _, v in spec.params_env]
        return tuple(dict.fromkeys(names))


def preset_names() -> list[str]:
    """The presets shipped with driftwatch."""
    folder = files("driftwatch.collectors.saas") / "presets"
    if not folder.is_dir():
        return []
    return sorted(p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml"))


def preset_data(name: str) -> dict[str, Any]:
    """The keys of one shipped preset (a TOML file in ``presets/``)."""
    text = (files("driftwatch.collectors.saas") / "presets" / f"{name}.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def parse_saas(file: Path, raw: Any) -> tuple[SaasSettings, ...]:
    """Every ``[saas.NAME]`` table of the config at ``file``; ConfigError naming the table and key."""
    root = _Table(file, "saas", raw)
    result = []
    for name in list(root.data):
        data = root.take(name, dict, {})
        label = f"[saas.{name}]"
        if not _NAME.match(name):
            raise ConfigError(
                f"{file.name}: {label}: the name must be lower-case letters, digits, - or _ "
                "(it names the folder snapshots/saas/NAME)"
            )
        result.append(_parse_one(file, name, label, dict(data)))
    return tuple(result)


def _parse_one(file: Path, name: str, label: str, data: dict[str, Any]) -> SaasSettings:
    preset = data.get("preset", "")
    if preset:
        if not isinstance(preset, str) or preset not in preset_names():
            raise ConfigError(
                f"{file.name}: {label} preset: {preset!r} is not a preset "
                f"(one of: {', '.join(preset_names())})"
            )
        defaults = preset_data(preset)
        variables = data.pop("vars", {})
        defaults.pop("vars_required", None)
        merged = {**defaults, **data}
        if "resources" not in data:
            merged["resources"] = defaults.get("resources", [])
        data = merged
        data["vars"] = variables
    table = _Table(file, f"saas.{name}", data, label, SAAS_KEYS)
    table.take("preset", str, "")
    variables = table.take("vars", dict, {})
    for key, value in variables.items():
        if not isinstance(value, str):
            raise table.error(f"vars.{key}", f"must be a string, not {_type_name(value)} {value!r}")
    collector = table.take(
        "collector",
        str,
        "",
        lambda c: _one_of(c, "a collector", COLLECTOR_KINDS),
    )
    if not collector:
        raise table.error("collector", f"is required: one of {', '.join(COLLECTOR_KINDS)} (or name a preset)")
    table.take("description", str, "")
    service = table.take("service", str, name, _short_name)

    def substitute(key: str, value: Any) -> Any:
        if isinstance(value, str):
            for var in _VARIABLE.findall(value):
                if var not in variables:
                    raise table.error(key, f'uses ${{{var}}}: set it in [saas.{name}.vars] ({var} = "...")')
            return _VARIABLE.sub(lambda m: variables[m.group(1)], value)
        if isinstance(value, list):
            return [substitute(key, v) for v in value]
        if isinstance(value, dict):
            return {k: substitute(f"{key}.{k}", v) for k, v in value.items()}
        return value

    table.data = {k: substitute(k, v) for k, v in table.data.items()}
    base_url = table.take("base_url", str, "", _url_check).rstrip("/")
    if collector == "http" and not base_url:
        raise table.error("base_url", "is required for an http collector")
    allow_http = table.take("allow_http", bool, False)
    if _in_clear(base_url) and not allow_http:
        raise table.error(
            "base_url",
            f"{base_url} is plain http to a host that is not this machine: the token and the settings "
            "would cross the network in clear. Use https://, or set allow_http = true if the network "
            "in between is trusted",
        )
    token_env = table.take("token_env", str, "", lambda t: _env_name(t) if t else None)
    headers = table.take("headers", dict, {})
    for key, value in headers.items():
        if not isinstance(value, str):
            raise table.error(f"headers.{key}", f"must be a string, not {_type_name(value)}")
        if key.lower() in ("authorization", auth_header_name(table.data).lower()):
            raise table.error(f"headers.{key}", "put secrets in the environment and name them in token_env")
        _not_a_secret(table, "headers", key, value)
    headers_env = _env_table(table, "headers_env", headers)
    if any(k.lower() in ("authorization", auth_header_name(table.data).lower()) for k in headers_env):
        raise table.error("headers_env", "the token's header is set by token_env (and auth_header)")
    ca_file = table.take("ca_file", str, "")
    timeout = float(table.take("timeout", float, 30.0, _seconds))
    volatile = _paths(table, "volatile")
    redact = _paths(table, "redact")
    raw_resources = table.take("resources", list, [])
    settings = SaasSettings(
        name=name,
        collector=collector,
        service=service,
        resources=(),
        base_url=base_url,
        token_env=token_env,
        auth_header=table.take("auth_header", str, "Authorization", _non_empty),
        auth_scheme=table.take("auth_scheme", str, "Bearer"),
        headers=tuple(sorted(headers.items())),
        headers_env=tuple(sorted(headers_env.items())),
        timeout=timeout,
        verify_tls=table.take("verify_tls", bool, True),
        ca_file=(file.resolve().parent / ca_file) if ca_file else None,
        max_attempts=table.take("max_attempts", int, 4, lambda n: None if 1 <= n <= 20 else "must be 1-20"),
        max_wait=float(table.take("max_wait", float, 60.0, _seconds)),
        max_pages=table.take("max_pages", int, 1000, lambda n: None if n >= 1 else "must be at least 1"),
        folder=file.resolve().parent,
        preset=preset,
    )
    table.finish()
    if not raw_resources:
        raise table.error("resources", "at least one [[saas.NAME.resources]] table is required")
    specs: list[ResourceSpec] = []
    for index, raw in enumerate(raw_resources):
        spec = _parse_resource(file, f"{label} resources[{index}]", collector, raw)
        if any(s.kind == spec.kind for s in specs):
            raise ConfigError(f"{file.name}: {label} resources[{index}] type: {spec.kind!r} is listed twice")
        specs.append(replace(spec, volatile=volatile + spec.volatile, redact=redact + spec.redact))
    return replace(settings, resources=tuple(specs))


def _parse_resource(file: Path, label: str, collector: str, raw: Any) -> ResourceSpec:
    table = _Table(file, "", raw, label, SAAS_KEYS)
    kind = table.take("type", str, "", _short_name)
    if not kind:
        raise table.error(
            "type", "is required (the kind of resource, as in snapshots/saas/NAME/TYPE/ID.json)"
        )
    items = _path(table, "items")
    id_path = _path(table, "id")
    fixed_id = table.take("fixed_id", str, "")
    if (id_path is None) == (not fixed_id):
        raise table.error("id", "give either id (a JSON path in each item) or fixed_id (one item's id)")
    if items is not None and fixed_id:
        raise table.error("fixed_id", "only for a single item; with items, give id (a JSON path)")
    volatile, redact = _paths(table, "volatile"), _paths(table, "redact")
    common: dict[str, Any] = {"kind": kind, "items": items, "id": id_path, "fixed_id": fixed_id}
    common["items_container"] = container_of(items) if items is not None else None
    common["items_optional"] = table.take("items_optional", bool, False)
    common |= {"volatile": volatile, "redact": redact}
    if collector == "http":
        path = table.take("path", str, "")
        if not path.startswith("/"):
            raise table.error("path", "is required and starts with / (it is added to base_url)")
        params = table.take("params", dict, {})
        for key, value in params.items():
            if not isinstance(value, str | int):
                raise table.error(f"params.{key}", "must be a string or an integer")
            _not_a_secret(table, "params", key, str(value))
        params_env = _env_table(table, "params_env", params)
        paginate = table.take(
            "paginate",
            str,
            "none",
            lambda p: _one_of(p, "a pagination", PAGINATION),
        )
        spec = ResourceSpec(
            **common,
            path=path,
            method=table.take("method", str, "GET", lambda m: _one_of(m, "a method", METHODS)),
            params=tuple(sorted((k, str(v)) for k, v in params.items())),
            params_env=tuple(sorted(params_env.items())),
            body=table.take("body", dict, None),
            paginate=paginate,
            cursor_field=_path(table, "cursor_field"),
            cursor_param=table.take("cursor_param", str, ""),
            more_field=_path(table, "more_field"),
            page_param=table.take("page_param", str, "page", _non_empty),
            first_page=table.take("first_page", int, 1, lambda n: None if n >= 0 else "must be 0 or more"),
        )
        if paginate == "cursor" and spec.cursor_field is None:
            raise table.error(
                "cursor_field", 'is required with paginate = "cursor" (where the next cursor is)'
            )
        if spec.method == "POST" and spec.body is None:
            raise table.error("body", 'is required with method = "POST" (a table sent as JSON)')
    elif collector == "command":
        command = table.take("command", list, [])
        if not command or not all(isinstance(a, str) and a for a in command):
            raise table.error(
                "command", 'is required: the argument list, as ["gh", "api", "/orgs/acme"] (no shell)'
            )
        spec = ResourceSpec(**common, command=tuple(command))
    else:
        name = table.take("file", str, "")
        if not name:
            raise table.error(
                "file",
                "is required: a file or a glob (*.json, *.yaml), relative to the config file or absolute",
            )
        spec = ResourceSpec(**common, file=name)
    table.finish()
    return spec


def _not_a_secret(table: _Table, key: str, name: str, value: str) -> None:
    """ConfigError for a header or parameter whose value looks like a secret: driftwatch.toml is in git."""
    if is_secret(name, value):
        # The value is not repeated: it is the secret.
        raise table.error(
            f"{key}.{name}",
            "looks like a secret (by its name or its value), and driftwatch.toml is committed to the "
            "state repository: put the value in an environment variable and name the variable in "
            f'{key}_env = {{ {name} = "VARIABLE" }}',
        )


def _env_table(table: _Table, key: str, plain: dict[str, Any]) -> dict[str, str]:
    """``headers_env`` or ``params_env``: names mapped to environment variables that hold their values."""
    names = table.take(key, dict, {})
    for name, variable in names.items():
        if not isinstance(variable, str):
            raise table.error(
                f"{key}.{name}", f"must be a string (a variable's name), not {_type_name(variable)}"
            )
        problem = _env_name(variable)
        if problem:
            raise table.error(f"{key}.{name}", problem)
        if name in plain:
            raise table.error(f"{key}.{name}", f"is also in {key.removesuffix('_env')}: give it once")
    return dict(names)


def _in_clear(url: str) -> bool:
    """True for a plain ``http://`` URL to a host other than this machine (loopback is fine)."""
    parts = urlsplit(url)
    if parts.scheme.lower() != "http":
        return False
    host = (parts.hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:  # a name, not an address
        return True


def _path(table: _Table, key: str) -> JsonPath | None:
    text = table.take(key, str, "")
    if not text:
        return None
    try:
        return compile_path(text)
    except ValueError as exc:
        raise table.error(key, str(exc)) from None


def _paths(table: _Table, key: str) -> tuple[JsonPath, ...]:
    texts = table.take(key, list, [])
    paths = []
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise table.error(f"{key}[{i}]", f"must be a JSON path string, not {_type_name(text)}")
        try:
            paths.append(compile_path(text))
        except ValueError as exc:
            raise table.error(f"{key}[{i}]", str(exc)) from None
    return tuple(paths)


def _one_of(value: str, what: str, choices: tuple[str, ...]) -> str | None:
    return None if value in choices else f"is not {what} (one of: {', '.join(choices)})"


def _short_name(text: str) -> str | None:
    return None if _NAME.match(text) else "must be a short name: lower-case letters, digits, - or _"


def _non_empty(text: str) -> str | None:
    return None if text.strip() else "must not be empty"


def _seconds(value: float) -> str | None:
    return None if 0 < value <= 3600 else f"must be a number of seconds between 0 and 3600, not {value}"


def auth_header_name(data: dict[str, Any]) -> str:
    """The header the token goes in (``auth_header``, by default Authorization)."""
    value = data.get("auth_header", "Authorization")
    return value if isinstance(value, str) else "Authorization"
