"""The benchmark's verdicts (issue 7's targets, pass/fail), its tables and its plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

SCENARIOS = ("initial", "no_change", "changed_10", "changed_1pct", "provider_default")
STAGES = ("normalise", "store", "compare_rules", "notify")


def _scenario(results: dict[str, Any], size: int, name: str) -> dict[str, Any] | None:
    run = results["pipeline"].get(str(size))
    if run is None:
        return None
    scenario: dict[str, Any] = run["scenarios"][name]
    return scenario


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target with the measured value, the limit and pass/fail; targets not measured are left out."""
    verdicts: list[dict[str, Any]] = []

    def add(name: str, value: float, limit: float, unit: str) -> None:
        verdicts.append(
            {"target": name, "value": value, "limit": limit, "unit": unit, "pass": value <= limit}
        )

    for size in sorted(int(n) for n in results["pipeline"]):
        initial = _scenario(results, size, "initial")
        ten = _scenario(results, size, "changed_10")
        none = _scenario(results, size, "no_change")
        assert initial is not None and ten is not None and none is not None
        add(
            f"store, initial run, N={size:,}: x git CLI add -A + commit",
            initial["ratios"]["store_vs_git_cli"],
            1.5,
            "x",
        )
        add(
            f"store, 10 changed of {size:,}: x git CLI incremental commit",
            ten["ratios"]["store_vs_git_cli"],
            2.0,
            "x",
        )
        add(f"no-change run, N={size:,}: commits made", float(none["committed"]), 0.0, "commits")
        add(
            f"no-change run, N={size:,}: store + compare + rules x (read + hash)",
            none["ratios"]["store_compare_vs_read_hash"],
            1.0,
            "x",
        )
    big = _scenario(results, 50000, "changed_10")
    if big is not None:
        add(
            "compare + rules, 10 changed of 50,000: x hashing every document",
            big["ratios"]["compare_rules_vs_hash"],
            2.0,
            "x",
        )
        initial = _scenario(results, 50000, "initial")
        assert initial is not None
        add("whole pipeline, N=50,000, initial run", initial["seconds"]["pipeline"], 30.0, "s")
        add("whole pipeline, N=50,000, 10 changed", big["seconds"]["pipeline"], 5.0, "s")
        add("peak RSS, N=50,000", results["pipeline"]["50000"]["peak_rss_mb"], 1024.0, "MB")
    if "collection" in results:
        add("collection: x plain boto3 script", results["collection"]["ratio"], 1.1, "x")
    if "history" in results:
        add(
            "driftwatch history RESOURCE, 1,000 commits x 10,000 resources",
            results["history"]["cli_seconds"],
            1.0,
            "s",
        )
    return verdicts


def print_tables(results: dict[str, Any]) -> None:
    """The measured times by N and scenario, the references, the ratios, then the targets."""
    machine = results["machine"]
    print(
        f"\nmachine: {machine['cpus']} cores, Python {machine['python']}, {machine['git']}, load average "
        f"{machine['load_average_at_start']} at start, {machine['load_average_at_end']} at end, "
        f"repositories in {machine.get('scratch', 'the temporary folder')}"
    )
    header = (
        f"{'N':>7} {'scenario':<17} {'changed':>7} {'normalise':>9} {'store':>7} {'cmp+rules':>9} "
        f"{'notify':>7} {'pipeline':>8} | {'git CLI':>7} {'hash':>6} {'read':>6} | "
        f"{'st/git':>6} {'cmp/hash':>8} | {'RSS MB':>6}"
    )
    print("\n" + header + "\n" + "-" * len(header))
    for size, run in sorted(results["pipeline"].items(), key=lambda item: int(item[0])):
        for name in SCENARIOS:
            s = run["scenarios"][name]
            t, r, q = s["seconds"], s["references"], s["ratios"]
            print(
                f"{int(size):>7,} {name:<17} {s['changed']:>7,} {t['normalise']:>9.2f} {t['store']:>7.2f} "
                f"{t['compare_rules']:>9.2f} {t['notify']:>7.2f} {t['pipeline']:>8.2f} | "
                f"{r['git_cli']:>7.2f} {r['hash']:>6.2f} {r['read']:>6.2f} | "
                f"{q['store_vs_git_cli']:>6.2f} {q['compare_rules_vs_hash']:>8.2f} | "
                f"{run['peak_rss_mb']:>6.0f}"
            )
    if "collection" in results:
        c = results["collection"]
        print(
            f"\ncollection, {c['buckets']} buckets on moto's server, {c['workers']} workers: driftwatch "
            f"{c['driftwatch_seconds']:.2f} s, plain boto3 script {c['plain_seconds']:.2f} s "
            f"(x{c['ratio']:.2f})"
        )
    if "history" in results:
        h = results["history"]
        print(
            f"history, {h['commits']:,} commits x {h['resources']:,} resources, {h['entries']} entries: "
            f"`driftwatch history` {h['cli_seconds']:.2f} s (in-process {h['in_process_seconds']:.2f} s)"
        )
    print("\ntargets:")
    for verdict in results["targets"]:
        mark = "PASS" if verdict["pass"] else "FAIL"
        print(
            f"  {mark}  {verdict['target']}: {verdict['value']:.2f} {verdict['unit']} "
            f"(limit {verdict['limit']:g})"
        )


def plot(results: dict[str, Any], target: Path) -> None:
    """Time against N for each stage and reference, one panel per scenario (log-log)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = sorted(int(n) for n in results["pipeline"])
    figure, axes = plt.subplots(1, len(SCENARIOS), figsize=(4 * len(SCENARIOS), 4), sharey=True)
    for axis, name in zip(axes, SCENARIOS, strict=True):
        runs = [results["pipeline"][str(n)]["scenarios"][name] for n in sizes]
        for stage in STAGES:
            axis.plot(sizes, [max(r["seconds"][stage], 1e-4) for r in runs], marker="o", label=stage)
        for ref, style in (("git_cli", "k--"), ("hash", "k:")):
            axis.plot(sizes, [r["references"][ref] for r in runs], style, label=f"ref: {ref}")
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.set_title(name.replace("_", " "))
        axis.set_xlabel("resources (N)")
        axis.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("seconds")
    axes[-1].legend(fontsize="small")
    figure.suptitle(f"driftwatch pipeline by stage ({results['machine']['cpus']} cores)")
    figure.tight_layout()
    figure.savefig(target, dpi=100)
    plt.close(figure)
