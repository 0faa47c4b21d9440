"""EC2 rules: security groups open to the whole internet, over IPv4 or IPv6."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from driftwatch.compare import format_path
from driftwatch.model import Finding, Severity
from driftwatch.rules import (
    Context,
    ResourceState,
    RuleSettings,
    Violation,
    Which,
    guardrail_findings,
    register,
)

WORLD = ("0.0.0.0/0", "::/0")
ADMIN_PORTS = [
    22,
    23,
    135,
    139,
    445,
    1433,
    1521,
    2049,
    2375,
    2376,
    2379,
    3306,
    3389,
    5432,
    5601,
    5900,
    5984,
    6379,
    9042,
    9200,
    9300,
    11211,
    27017,
]
"""Remote administration and database ports: world-open, they are critical."""
PORT_NAMES = {
    22: "SSH",
    23: "telnet",
    3389: "RDP",
    3306: "MySQL",
    5432: "PostgreSQL",
    1433: "SQL Server",
    1521: "Oracle",
    27017: "MongoDB",
    6379: "Redis",
    9200: "Elasticsearch",
    445: "SMB",
    5900: "VNC",
    2375: "Docker API",
    11211: "memcached",
}


def port_range(rule_key: str) -> tuple[int, int] | None:
    """The TCP/UDP port range a canonical rule key covers; None for ICMP and the like."""
    if rule_key == "all":
        return (0, 65535)
    protocol, _, ports = rule_key.partition("/")
    if protocol not in ("tcp", "udp"):
        return None
    if ports == "all":
        return (0, 65535)
    low, _, high = ports.partition("-")
    return (int(low), int(high or low))


def _sensitive(ports: tuple[int, int] | None, admin_ports: Iterable[int]) -> list[int]:
    if ports is None:
        return []
    return [p for p in admin_ports if ports[0] <= p <= ports[1]]


def _open_rules(
    config: Mapping[str, Any], state: ResourceState, ctx: Context, settings: RuleSettings, which: Which
) -> list[Violation]:
    violations = []
    admin_ports = [int(p) for p in settings.params["admin_ports"]]
    for key, peers in sorted((config.get("Ingress") or {}).items()):
        world = [p for p in peers if p in WORLD]
        if not world:
            continue
        hit = _sensitive(port_range(key), admin_ports)
        everything = key == "all" or key.endswith("/all")
        severity = None if (hit or everything) else settings.severity_param("other_ports_severity")
        named = ", ".join(f"{PORT_NAMES.get(p, 'port')} {p}" for p in hit[:4])
        what = "every port" if everything else (named or key)
        message = (
            f"security group {config.get('GroupName', '')} ({state.identity.id}) allows ingress "
            f"{key} from {' and '.join(world)}: {what} open to the internet"
        )
        # The rule and the descriptions of its world-open peers ("temporary: vendor debugging").
        paths = (
            format_path(["Ingress", key]),
            *(format_path(["PeerDescriptions", f"ingress {key} {p}"]) for p in world),
        )
        violations.append(Violation(f"ingress {key} from {','.join(world)}", message, paths, severity))
    return violations


@register(
    "sg-open-to-world",
    types=("ec2/security-group",),
    severity=Severity.CRITICAL,
    params={"other_ports_severity": "high", "admin_ports": ADMIN_PORTS},
)
def open_to_world(state: ResourceState, ctx: Context, settings: RuleSettings) -> list[Finding]:
    """Ingress from 0.0.0.0/0 or ::/0; egress to anywhere is AWS's default and not a finding."""
    return guardrail_findings("sg-open-to-world", state, ctx, settings, _open_rules)
