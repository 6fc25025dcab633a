"""Benchmark: how fast `ostops --help` answers, and what importing the command line costs.

    .venv/bin/python bench/cli_startup.py [--runs 21] [--check]

Two figures, each the median of --runs runs (after one warm-up run, so the file cache is warm as it is for a
user typing commands): the wall time of the installed `ostops --help` (interpreter start, imports, the help
text), and the cumulative microseconds `python -X importtime -c 'import automation.cli'` reports for
`automation.cli` (imports only, without the interpreter's start). --check exits 1 when the first is above the
target (issue 13: 150 ms). Heavy modules (pydantic, requests, pymysql, rich's tables, Jinja2) are imported by
the commands that use them; `tests/unit/test_cli_startup.py` keeps them out of `import automation.cli`.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

OSTOPS = str(Path(sys.executable).parent / "ostops")
TARGET_MS = 150.0
_CLI_LINE = re.compile(r"^import time:\s+\d+ \|\s+(\d+) \| automation\.cli$", re.MULTILINE)


def help_ms() -> tuple[float, float]:
    """Wall and CPU (user + system) milliseconds; the CPU figure is what other work on the machine inflates
    least."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run([OSTOPS, "--help"], capture_output=True, timeout=60, check=True)
    wall = (time.perf_counter() - started) * 1000
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000
    return wall, cpu


def import_ms() -> float:
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", "import automation.cli"],
                          capture_output=True, text=True, timeout=60, check=True)
    found = _CLI_LINE.search(done.stderr)
    assert found, "no importtime line for automation.cli"
    return int(found.group(1)) / 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--check", action="store_true", help=f"exit 1 if `ostops --help` takes > {TARGET_MS:g} ms")
    args = parser.parse_args()
    help_ms(), import_ms()  # warm-up
    runs = [help_ms() for _ in range(args.runs)]
    helps, cpus = [wall for wall, _ in runs], [cpu for _, cpu in runs]
    imports = [import_ms() for _ in range(args.runs)]
    print(f"ostops --help: median {statistics.median(helps):.0f} ms wall (min {min(helps):.0f}, "
          f"max {max(helps):.0f}), {statistics.median(cpus):.0f} ms CPU, over {args.runs} runs "
          f"(load average {os.getloadavg()[0]:.1f})")
    print(f"import automation.cli (-X importtime, cumulative): median {statistics.median(imports):.0f} ms "
          f"(min {min(imports):.0f}, max {max(imports):.0f})")
    if args.check and statistics.median(helps) > TARGET_MS:
        print(f"above the target of {TARGET_MS:g} ms", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
