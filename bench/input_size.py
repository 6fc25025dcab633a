"""How long loading a seed and a scenario file takes, and how much memory, by size (issue 14).

Generates a seed of users and a scenario of tickets of about SIZE MB each, loads each in a fresh Python process
(`load_seed`, `load_scenario`: parsing, line numbers, the pydantic models and the file's own checks; no
database), and prints wall and CPU time (CPU time is what to compare on a shared machine) and peak RSS (`resource.getrusage(RUSAGE_SELF).ru_maxrss` of that process,
which includes the interpreter's ~40 MB). Sizes 1, 2 and 5 MB by default: the ratio shows whether the cost is
linear.

    .venv/bin/python bench/input_size.py [--sizes 1 2 5]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

CHILD = """
import json, resource, sys, time
sys.path.insert(0, {repo!r})
from pathlib import Path
kind, path = sys.argv[1], Path(sys.argv[2])
from automation.seeding.loader import load_seed
from automation.scenarios.loader import load_scenario
cpu = time.process_time()
started = time.perf_counter()  # after the imports (about 1 s of pydantic models), which every command pays alike
if kind == "seed":
    n = len(load_seed(path).users)
else:
    n = len(load_scenario(path).scenario.tickets)
seconds = time.perf_counter() - started
print(json.dumps({{"items": n, "seconds": seconds, "cpu": time.process_time() - cpu, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def seed_text(size: int) -> str:
    lines = ["version: 1", "users:"]
    total, i = 0, 0
    while total < size:
        line = (f"  - {{name: User {i:07d}, email: user{i:07d}@example.com, phone: \"+1 555 {i % 10000:04d}\", "
                f"organization: Org {i % 500}}}")
        lines.append(line)
        total += len(line) + 1
        i += 1
    return "\n".join(lines) + "\n"


def scenario_text(size: int) -> str:
    lines = ["name: size benchmark", "tickets:"]
    total, i = 0, 0
    while total < size:
        block = [f"  - key: t{i}",
                 f"    requester: {{name: User {i}, email: user{i}@example.com}}",
                 "    topic: Report a Problem",
                 f"    subject: Ticket number {i}",
                 f"    message: The printer on floor {i % 40} is offline again.",
                 "    steps:",
                 "      - {as: john.doe, do: change_sla, sla: Sev-B, comment: Printers matter.}",
                 "      - {as: john.doe, do: note, text: Restarted the spooler.}",
                 "      - {as: john.doe, do: set_status, status: Closed}",
                 "    expect: {status: Closed, sla: Sev-B}"]
        lines += block
        total += sum(len(b) + 1 for b in block)
        i += 1
    lines.append("review: {open_tickets: 0}")
    return "\n".join(lines) + "\n"


def measure(kind: str, path: Path) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", CHILD.format(repo=str(REPO)), kind, str(path)], capture_output=True,
                         text=True, check=True, timeout=900)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=float, nargs="+", default=[1, 2, 5], help="file sizes in MB")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for kind, make in (("seed", seed_text), ("scenario", scenario_text)):
            first: dict[str, float] | None = None
            for mb in args.sizes:
                path = Path(tmp) / f"{kind}-{mb}.yaml"
                path.write_text(make(int(mb * 1_000_000)))
                got = measure(kind, path)
                first = first or {**got, "mb": mb}
                per = (got["cpu"] / mb) / (first["cpu"] / first["mb"])
                print(f"{kind:8} {path.stat().st_size / 1e6:5.1f} MB {int(got['items']):7d} items "
                      f"{got['seconds']:6.2f} s wall {got['cpu']:6.2f} s CPU  peak RSS {got['peak_mb']:4.0f} MB  "
                      f"(CPU per MB x{per:.2f} of the {first['mb']:g} MB file's)", flush=True)


if __name__ == "__main__":
    main()
