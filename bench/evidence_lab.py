"""Benchmark: the reference lab with and without `--evidence`, wall time as a user sees it.

    .venv/bin/python bench/evidence_lab.py [--instance FILE] [--rounds 3] [--keep DIR] [--check]

Without --instance a fresh local osTicket is brought up in a temporary folder (and torn down after). Each round
runs `ostops run seed/scenarios/lab.yaml --seed` twice, once plain and once with `--evidence` into a new folder
(the two alternate, so the database's growth weighs on both alike), and times the whole command: Python's
start, the seed, the browser's start, every picture, the write-up and the verdict.
Target (issue 16): the run with --evidence under 60 s on the 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]
OSTOPS = str(Path(sys.executable).parent / "ostops")
TARGET_S = 60.0
console = Console(highlight=False)


def timed_run(instance_file: Path, evidence: Path | None) -> float:
    args = [OSTOPS, "run", str(REPO / "seed" / "scenarios" / "lab.yaml"), "--seed", "--instance", str(instance_file)]
    if evidence is not None:
        args += ["--evidence", str(evidence)]
    started = time.perf_counter()
    out = subprocess.run(args, capture_output=True, text=True, timeout=600, cwd=REPO, check=False)
    seconds = time.perf_counter() - started
    if out.returncode != 0:
        raise SystemExit(f"ostops run failed (exit {out.returncode}):\n{out.stderr[-2000:]}")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--instance", type=Path, help="use this instance instead of a fresh temporary one")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="copy the last round's evidence folder here")
    parser.add_argument("--check", action="store_true", help="exit 1 when the target is missed")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    from automation.local import manager

    temp = Path(tempfile.mkdtemp(prefix="ostops-bench-evidence-"))
    try:
        if args.instance:
            instance_file = args.instance
        else:
            console.print("bringing up a fresh local osTicket ...")
            up = manager.up(temp / "instance")
            instance_file = manager.instance_file(temp / "instance")
            console.print(f"  ready in {up.seconds:.1f} s at {up.instance.base_url}")
        plain: list[float] = []
        with_evidence: list[float] = []
        last = temp / "evidence-0"
        for n in range(args.rounds):
            plain.append(timed_run(instance_file, None))
            last = temp / f"evidence-{n}"
            with_evidence.append(timed_run(instance_file, last))
            console.print(f"  round {n + 1}: plain {plain[-1]:.1f} s, --evidence {with_evidence[-1]:.1f} s")
        pictures = sorted((last / "shots").glob("*.png"))
        size = sum(p.stat().st_size for p in pictures)
        if args.keep:
            shutil.copytree(last, args.keep, dirs_exist_ok=True)
    finally:
        if not args.instance:
            manager.down(temp / "instance")
        shutil.rmtree(temp, ignore_errors=True)

    worst = max(with_evidence)
    table = Table("measure", "min", "median", "max", "target", "met",
                  title=f"reference lab, {args.rounds} round(s), {os.cpu_count()} CPU(s)")
    table.add_row("ostops run --seed (s)", f"{min(plain):.1f}", f"{statistics.median(plain):.1f}",
                  f"{max(plain):.1f}", "", "")
    table.add_row("ostops run --seed --evidence (s)", f"{min(with_evidence):.1f}",
                  f"{statistics.median(with_evidence):.1f}", f"{worst:.1f}", f"< {TARGET_S:.0f}",
                  "yes" if worst < TARGET_S else "NO")
    console.print(table)
    console.print(f"{len(pictures)} pictures, {size / 1e6:.1f} MB in the last round's folder")
    print(json.dumps({"rounds": args.rounds, "plain_s": [round(s, 2) for s in plain],
                      "evidence_s": [round(s, 2) for s in with_evidence], "pictures": len(pictures),
                      "bytes": size, "target_s": TARGET_S, "met": worst < TARGET_S}))
    return 1 if args.check and worst >= TARGET_S else 0


if __name__ == "__main__":
    sys.exit(main())
