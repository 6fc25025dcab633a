"""Benchmark: the multi-node twin (`ostops local up --web-nodes 2`), wall time as a user sees it.

    .venv/bin/python bench/web_nodes.py [--rounds 3] [--keep DIR]

Brings up a fresh two-node instance in a temporary folder (timed: `local up --web-nodes 2` from nothing to
every node UP in HAProxy), then runs `ostops run seed/scenarios/lab.yaml --seed` alternately through HAProxy
(the instance URL) and straight to node 1 (the same instance file with node 1's URL), so the database's growth
weighs on both alike. Target (issue 22): through HAProxy / direct >= 0.9 in throughput, i.e. the lab's time
through HAProxy at most 1/0.9 of the direct one.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
OSTOPS = str(Path(sys.executable).parent / "ostops")
TARGET_RATIO = 0.9
console = Console(highlight=False)


def timed_run(instance_file: Path) -> float:
    started = time.perf_counter()
    out = subprocess.run([OSTOPS, "run", str(REPO / "seed" / "scenarios" / "lab.yaml"), "--seed", "--instance",
                          str(instance_file)], capture_output=True, text=True, timeout=600, cwd=REPO, check=False)
    seconds = time.perf_counter() - started
    if out.returncode != 0:
        raise SystemExit(f"the lab failed (exit {out.returncode}):\n{out.stdout}\n{out.stderr}")
    return seconds


def main() -> int:
    from automation.local import manager

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keep", type=Path, default=None, help="Bring the instance up here and leave it running.")
    args = parser.parse_args()
    base = args.keep or Path(tempfile.mkdtemp(prefix="ostops-bench-nodes-")) / "instance"
    started = time.perf_counter()
    result = manager.up(base, web_nodes=2)
    up_seconds = time.perf_counter() - started
    try:
        local = result.instance.local
        assert local is not None
        direct = result.instance.model_copy(update={"url": f"http://127.0.0.1:{local.web_nodes[0].http_port}/"})
        direct_file = base / "direct.json"  # beside instance.json: the same credentials.json and runs/
        direct.save(direct_file)
        through = manager.instance_file(base)
        timed_run(through)  # warm-up: the seed's first application and PHP's opcache
        proxied, straight = [], []
        for _ in range(args.rounds):
            proxied.append(timed_run(through))
            straight.append(timed_run(direct_file))
    finally:
        if args.keep is None:
            manager.down(base)
    p, d = statistics.median(proxied), statistics.median(straight)
    table = Table("measure", "seconds")
    table.add_row("local up --web-nodes 2", f"{up_seconds:.1f}")
    table.add_row("lab through HAProxy (median)", f"{p:.2f}  {', '.join(f'{s:.2f}' for s in proxied)}")
    table.add_row("lab straight to node 1 (median)", f"{d:.2f}  {', '.join(f'{s:.2f}' for s in straight)}")
    console.print(table)
    ratio = d / p
    console.print(f"through HAProxy / direct (throughput): {ratio:.2f} (target >= {TARGET_RATIO})")
    return 0 if ratio >= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
