"""``python -m benchmarks``: run every benchmark, print the targets as pass/fail, write JSON and a plot.

Each N of the pipeline benchmark runs in its own process (so that its peak RSS is its own); then
the collection benchmark against moto's server and the history benchmark. Results go to
``benchmarks/results/`` (``results.json``, ``pipeline.png``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.report import plot, print_tables, targets

HERE = Path(__file__).resolve().parent


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    load = os.getloadavg()
    git = subprocess.run(["git", "--version"], capture_output=True, text=True, check=False).stdout.strip()
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "git": git,
        "load_average_at_start": [round(x, 2) for x in load],
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def child(module: str, workdir: Path, out: Path, *args: str) -> dict[str, Any]:
    """Run one benchmark module in its own process and read its JSON result."""
    command = [sys.executable, "-m", module, "--workdir", str(workdir), "--out", str(out), *args]
    subprocess.run(command, check=True, cwd=HERE.parent)
    result: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return result


def main() -> None:
    """Parse the options and run the benchmarks."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--sizes", default="1000,10000,50000", help="N values, comma-separated")
    parser.add_argument("--out", type=Path, default=HERE / "results", help="where results go")
    parser.add_argument("--buckets", type=int, default=300, help="buckets for the collection benchmark")
    parser.add_argument("--skip-collection", action="store_true", help="no collection benchmark")
    parser.add_argument("--skip-history", action="store_true", help="no history benchmark")
    parser.add_argument(
        "--scratch",
        type=Path,
        default=None,
        help="folder for the repositories under test (default: the system's temporary folder); "
        "its file system's cost of creating files is part of every store and git time",
    )
    args = parser.parse_args()
    sizes = [int(n) for n in args.sizes.split(",") if n.strip()]
    args.out.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"machine": machine(), "pipeline": {}}
    results["machine"]["scratch"] = str(args.scratch or tempfile.gettempdir())
    with tempfile.TemporaryDirectory(prefix="driftwatch-bench-", dir=args.scratch) as scratch:
        work = Path(scratch)
        for size in sizes:
            print(f"pipeline, N={size:,} ...", flush=True)
            results["pipeline"][str(size)] = child(
                "benchmarks.pipeline", work / f"n{size}", work / f"n{size}.json", "--size", str(size)
            )
        if not args.skip_collection:
            print(f"collection against moto's server, {args.buckets} buckets ...", flush=True)
            results["collection"] = child(
                "benchmarks.collection",
                work / "collection",
                work / "collection.json",
                "--buckets",
                str(args.buckets),
            )
        if not args.skip_history:
            print("history on 1,000 commits x 10,000 resources ...", flush=True)
            results["history"] = child("benchmarks.history", work / "history", work / "history.json")
    results["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    results["targets"] = targets(results)
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    plot(results, args.out / "pipeline.png")
    print_tables(results)
    print(f"\nwritten: {args.out / 'results.json'}, {args.out / 'pipeline.png'}")


if __name__ == "__main__":
    main()
