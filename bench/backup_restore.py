"""Benchmark: `ostops backup` vs `mariadb-dump` alone, and restore vs a plain import, on a help desk of 100,000
tickets; mariabackup measured beside them.

    .venv/bin/python bench/backup_restore.py [--tickets 100000] [--reps 3]

A fresh local osTicket is brought up in a temporary folder (torn down after), the reference lab is run on it,
and filler tickets are bulk-inserted (bench/run_lookup_size.py's `fill`: ticket, cdata, thread, one message and
one event each) until it holds --tickets. Then, median of --reps each:

- mariadb-dump alone: the same options ostops uses, into a file;
- ostops backup: the command as a user runs it (a new interpreter, the dump read as it streams with its rows
  counted and hashed, the parts packed, age-encrypted with a passphrase, written 0600), and with --recipient
  (no scrypt);
- mariabackup --backup and --prepare (a physical copy of the whole server's data directory);
- a plain import: the dump fed to `mariadb` into the emptied database;
- restore, its data path: the backup decrypted and checked against its manifest, the tables dropped, the dump
  imported, the rows of every table counted; and once, the whole `ostops restore --dir` (a new instance
  brought up, the proof run) for the recovery time.
Target (issue 21): backup : dump <= 1.3 and restore (data path) : import <= 1.3.
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
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from run_lookup_size import FILL_TIMEOUT_S, fill, run_lab, ticket_count

from automation.instance import Instance
from automation.operations import archive, mariadb
from automation.operations.archive import Keys
from automation.operations.restore import load_database
from automation.osticket import db
from automation.osticket.schema import Tables
from automation.scenarios.record import latest_run_id, load_record
from automation.workspace import Workspace

OSTOPS = str(Path(sys.executable).parent / "ostops")
TARGET = 1.3
PASSPHRASE = "bench passphrase"
console = Console(highlight=False)


def timed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def median_s(call: Callable[[], object], reps: int) -> float:
    times = []
    for _ in range(reps):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def run(argv: list[str], **kwargs: object) -> None:
    kwargs.setdefault("stdout", subprocess.DEVNULL)
    result = subprocess.run(argv, stderr=subprocess.PIPE, timeout=3600, check=False, **kwargs)  # type: ignore[call-overload]
    if result.returncode != 0:
        raise SystemExit(f"{argv[0]} failed (exit {result.returncode}): {result.stderr.decode()[-2000:]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    from automation.local import manager

    began = time.perf_counter()
    temp = Path(tempfile.mkdtemp(prefix="ostops-bench-backup-"))
    env = {**os.environ, "OSTOPS_BACKUP_PASSPHRASE": PASSPHRASE}
    figures: dict[str, float] = {}
    ranges: dict[str, list[float]] = {}
    sizes: dict[str, int] = {}
    loads = [os.getloadavg()[0]]
    try:
        console.print("bringing up a fresh local osTicket ...")
        up = manager.up(temp / "instance")
        instance_file = manager.instance_file(temp / "instance")
        instance: Instance = up.instance
        run_lab(instance_file)
        workspace = Workspace.at(instance_file)
        record = load_record(workspace, latest_run_id(workspace) or "")
        assert record is not None
        conn = db.connect(instance)
        conn._read_timeout = conn._write_timeout = FILL_TIMEOUT_S
        t = Tables(instance.db.table_prefix)
        try:
            have = ticket_count(conn, t)
            seconds = fill(conn, t, min(record.ticket_ids.values()), args.tickets - have, have + 1)
            console.print(f"  {ticket_count(conn, t):,} tickets ({args.tickets - have:,} inserted in {seconds:.1f} s)")
        finally:
            conn.close()
        rows = sum(mariadb.count_rows(instance).values())

        dump_file = temp / "dump.sql"
        binary = mariadb.tool("mariadb-dump")

        def dump_alone() -> None:
            with mariadb.option_file(instance) as cnf, dump_file.open("wb") as out:
                run([binary, f"--defaults-extra-file={cnf}", *mariadb.DUMP_OPTIONS, instance.db.name], stdout=out)

        backup_file = temp / "backup.age"
        recipient_file = temp / "backup-recipient.age"
        import pyrage

        from automation.operations.backup import backup

        identity = pyrage.x25519.Identity.generate()
        recipient = Keys(recipients=[str(identity.to_public())])
        dumped: list[float] = []
        variants: dict[str, Callable[[], object]] = {
            "dump": dump_alone,
            "backup": lambda: run([OSTOPS, "backup", "--output", str(backup_file), "--instance", str(instance_file)],
                                  env=env, cwd=REPO),
            "backup_recipient": lambda: run([OSTOPS, "backup", "--output", str(recipient_file), "--recipient",
                                             str(identity.to_public()), "--instance", str(instance_file)],
                                            env=env, cwd=REPO),
            "backup_inproc": lambda: dumped.append(backup(workspace, recipient_file, recipient,
                                                          instance=instance).dump_seconds),
        }
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # the command as installed: its bytecode compiled once
        env["PYTHONPYCACHEPREFIX"] = str(temp / "pycache")
        run([OSTOPS, "backup", "--help"], env=env, cwd=REPO)
        # Interleaved, one of each per round: the machine's load moves, and each ratio compares neighbours.
        series = {name: [] for name in variants}  # type: dict[str, list[float]]
        for _ in range(args.reps):
            for name, call in variants.items():
                series[name].append(timed(call))
        for name, times in series.items():
            figures[name] = statistics.median(times)
        ranges["backup"] = [b / d for b, d in zip(series["backup"], series["dump"], strict=True)]
        ranges["backup_recipient"] = [b / d for b, d in zip(series["backup_recipient"], series["dump"], strict=True)]
        ranges["backup_inproc"] = [b / d for b, d in zip(series["backup_inproc"], series["dump"], strict=True)]
        figures["backup_inproc_dump"] = statistics.median(dumped)
        sizes["dump"] = dump_file.stat().st_size
        sizes["backup"] = backup_file.stat().st_size
        for name in variants:
            console.print(f"  {name}: " + ", ".join(f"{t:.2f}" for t in series[name]) + " s")

        assert instance.local is not None
        physical = temp / "mariabackup"
        socket = temp / "instance" / "mariadb" / "mysqld.sock"
        root_cnf = temp / "root.cnf"
        root_cnf.touch(mode=0o600)
        root_cnf.write_text(f"[client]\nuser=root\npassword=\"{instance.local.db_root_password.get_secret_value()}\"\n"
                            f"socket={socket}\n")

        def mariabackup() -> None:
            shutil.rmtree(physical, ignore_errors=True)
            run(["mariabackup", f"--defaults-extra-file={root_cnf}", "--backup", f"--target-dir={physical}"])

        figures["mariabackup"] = median_s(mariabackup, args.reps)
        sizes["mariabackup"] = sum(p.stat().st_size for p in physical.rglob("*") if p.is_file())
        figures["mariabackup_prepare"] = median_s(
            lambda: run(["mariabackup", "--prepare", f"--target-dir={physical}"]), 1)
        console.print(f"  mariabackup --backup: {figures['mariabackup']:.2f} s ({sizes['mariabackup'] / 1e6:.0f} MB),"
                      f" --prepare {figures['mariabackup_prepare']:.2f} s")

        sql = dump_file.read_bytes()
        mysql = mariadb.tool("mariadb")

        def plain_import() -> None:
            conn = db.connect(instance)
            try:
                mariadb.drop_tables(conn, instance.db.name)
            finally:
                conn.close()
            with mariadb.option_file(instance) as cnf, dump_file.open("rb") as handle:
                run([mysql, f"--defaults-extra-file={cnf}", "--default-character-set=utf8mb4", instance.db.name],
                    stdin=handle)

        def restore_data_path() -> None:
            opened = archive.open_backup(backup_file, Keys(passphrase=PASSPHRASE))
            load_database(instance, opened.parts[archive.DATABASE])
            counts = mariadb.count_rows(instance)
            assert counts == {k: v for k, v in opened.manifest.rows.items() if k in counts}

        imports, restores = [], []
        for _ in range(args.reps):
            imports.append(timed(plain_import))
            restores.append(timed(restore_data_path))
            loads.append(os.getloadavg()[0])
        figures["import"], figures["restore_data"] = statistics.median(imports), statistics.median(restores)
        ranges["restore_data"] = [r / i for r, i in zip(restores, imports, strict=True)]
        console.print("  plain import: " + ", ".join(f"{t:.2f}" for t in imports) + " s")
        console.print("  restore data path: " + ", ".join(f"{t:.2f}" for t in restores) + " s")
        del sql

        target = temp / "restored"
        started = time.perf_counter()
        run([OSTOPS, "restore", str(backup_file), "--dir", str(target)], env=env, cwd=REPO)
        figures["restore_whole"] = time.perf_counter() - started
        manager.down(target)
        console.print(f"  ostops restore --dir (whole, with the proof): {figures['restore_whole']:.2f} s")
    finally:
        manager.down(temp / "restored")
        manager.down(temp / "instance")
        shutil.rmtree(temp, ignore_errors=True)

    ratios = {"backup": figures["backup"] / figures["dump"],
              "backup_recipient": figures["backup_recipient"] / figures["dump"],
              "restore_data": figures["restore_data"] / figures["import"]}
    loads.append(os.getloadavg()[0])
    table = Table("measure", "seconds", "ratio (each round)", "target", title=f"{args.tickets:,} tickets, {rows:,} rows, "
                  f"dump {sizes['dump'] / 1e6:.0f} MB; median of {args.reps}")
    table.add_row("mariadb-dump alone", f"{figures['dump']:.2f}", "1.00", "")
    def spread(name: str) -> str:
        return f"{min(ranges[name]):.2f}-{max(ranges[name]):.2f}"

    table.add_row("ostops backup (passphrase)", f"{figures['backup']:.2f}", spread("backup"),
                  f"<= {TARGET} {'yes' if ratios['backup'] <= TARGET else 'NO'}")
    table.add_row("ostops backup (--recipient)", f"{figures['backup_recipient']:.2f}",
                  spread("backup_recipient"), f"<= {TARGET} {'yes' if ratios['backup_recipient'] <= TARGET else 'NO'}")
    table.add_row("  in-process, no interpreter start (dump read, hashed, counted)",
                  f"{figures['backup_inproc']:.2f} ({figures['backup_inproc_dump']:.2f})",
                  spread("backup_inproc"), "")
    table.add_row("mariabackup --backup (+ --prepare)",
                  f"{figures['mariabackup']:.2f} (+{figures['mariabackup_prepare']:.2f})",
                  f"{figures['mariabackup'] / figures['dump']:.2f}", "")
    table.add_row("plain import (mariadb < dump)", f"{figures['import']:.2f}", "1.00", "")
    table.add_row("restore: decrypt, check, import, count", f"{figures['restore_data']:.2f}",
                  spread("restore_data"), f"<= {TARGET} {'yes' if ratios['restore_data'] <= TARGET else 'NO'}")
    table.add_row("ostops restore --dir (new instance + proof)", f"{figures['restore_whole']:.2f}",
                  f"{figures['restore_whole'] / figures['import']:.2f}", "")
    console.print(table)
    total = time.perf_counter() - began
    console.print(f"whole benchmark: {total:.0f} s")
    print(json.dumps({"tickets": args.tickets, "rows": rows, "seconds": {k: round(v, 2) for k, v in figures.items()},
                      "bytes": sizes, "ratios": {k: round(v, 3) for k, v in ratios.items()},
                      "ratio_ranges": {k: [round(min(v), 2), round(max(v), 2)] for k, v in ranges.items()},
                      "load_average": [round(min(loads), 1), round(max(loads), 1)],
                      "total_s": round(total, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
