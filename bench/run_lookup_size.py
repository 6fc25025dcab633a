"""Benchmark: `verify` and `report` of a 3-ticket run on a help desk of 1,000 and of 1,000,000 tickets.

    .venv/bin/python bench/run_lookup_size.py [--sizes 1000 1000000] [--reps 15] [--check]

A fresh local osTicket is brought up in a temporary folder (and torn down after), seeded with
seed/helpdesk.yaml, and the reference lab (seed/scenarios/lab.yaml, 3 tickets) is run with `ostops run`. Then
filler tickets are bulk-inserted after it until the help desk holds each size: rows in ost_ticket (distinct
numbers), ost_ticket__cdata (distinct subjects), ost_thread, one message (ost_thread_entry), one `created` event
(ost_thread_event) and the Ticket Details answers (ost_form_entry, ost_form_entry_values: subject, priority and
an empty run field) each, copied from the lab's first ticket, with multi-row INSERT ... SELECT
from MariaDB's SEQUENCE engine (`seq_1_to_N`), in one transaction per size. At each size `verify_past_run` and
`read_report` are timed in-process (median of --reps) with the run record's ids and id range (read by primary
key), and without them (the run field: a scan of its values, as for a run whose record is lost); beside each, its six
database queries alone (`facts.read_run` on an open connection), without the constant costs around them (a
TLS context per connection, parsing the run's mail for `expect.mail`).
Target (issue 14): with the record, largest size : smallest size <= 1.2.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from automation.instance import Instance
from automation.osticket import db
from automation.osticket.schema import Tables
from automation.scenarios.facts import read_run
from automation.scenarios.loader import load_scenario
from automation.scenarios.mail import mailbox_of
from automation.scenarios.record import RunRecord, latest_run_id, load_record
from automation.scenarios.report import read_report
from automation.scenarios.verify import verify_past_run
from automation.workspace import Workspace

OSTOPS = str(Path(sys.executable).parent / "ostops")
LAB = REPO / "seed" / "scenarios" / "lab.yaml"
TARGET = 1.2
FILL_TIMEOUT_S = 900  # one INSERT ... SELECT of a million rows outlasts the 60 s statement timeout
console = Console(highlight=False)


def run_lab(instance_file: Path) -> None:
    out = subprocess.run([OSTOPS, "run", str(LAB), "--seed", "--instance", str(instance_file)],
                         capture_output=True, text=True, timeout=300, cwd=REPO, check=False)
    if out.returncode != 0:
        raise SystemExit(f"ostops run failed (exit {out.returncode}):\n{out.stderr[-2000:]}")


def ticket_count(conn: Any, t: Tables) -> int:
    with db.cursor(conn) as cur:
        cur.execute(f"SELECT COUNT(*) AS n FROM {t.ticket}")
        return int(cur.fetchone()["n"])


def fill(conn: Any, t: Tables, template_id: int, count: int, start: int) -> float:
    """Insert ``count`` filler tickets shaped like ``template_id`` (numbers and subjects from ``start``), with
    their cdata, thread, first message and created event, in one transaction; the seconds it took."""
    if count <= 0:
        return 0.0
    started = time.perf_counter()
    seq = f"seq_{start}_to_{start + count - 1}"
    with db.cursor(conn) as cur:
        cur.execute(f"SELECT MAX(ticket_id) AS t FROM {t.ticket}")
        first_ticket = int(cur.fetchone()["t"])
        cur.execute(f"SELECT MAX(id) AS t FROM {t.thread}")
        first_thread = int(cur.fetchone()["t"])
        cur.execute("START TRANSACTION")
        cur.execute(
            f"""INSERT INTO {t.ticket} (number, user_id, user_email_id, status_id, dept_id, sla_id, topic_id,
                    staff_id, team_id, email_id, lock_id, flags, sort, ip_address, source, source_extra,
                    isoverdue, isanswered, duedate, est_duedate, reopened, closed, lastupdate, created, updated)
                SELECT CONCAT('F', LPAD(s.seq, 7, '0')), tk.user_id, tk.user_email_id, tk.status_id, tk.dept_id,
                    tk.sla_id, tk.topic_id, 0, 0, 0, 0, 0, 0, tk.ip_address, tk.source, NULL, 0, 0, NULL,
                    tk.created + INTERVAL (s.seq MOD 86400) SECOND, NULL, NULL,
                    tk.created, tk.created, tk.created
                FROM {seq} s JOIN {t.ticket} tk ON tk.ticket_id = %s""", [template_id])
        cur.execute(
            f"""INSERT INTO {t.ticket__cdata} (ticket_id, subject, priority)
                SELECT tk.ticket_id, CONCAT('Printer on floor ', tk.number, ' jams again'), 2
                FROM {t.ticket} tk WHERE tk.ticket_id > %s""", [first_ticket])
        cur.execute(
            f"""INSERT INTO {t.thread} (object_id, object_type, extra, lastresponse, lastmessage, created)
                SELECT tk.ticket_id, 'T', NULL, NULL, tk.created, tk.created
                FROM {t.ticket} tk WHERE tk.ticket_id > %s""", [first_ticket])
        cur.execute(
            f"""INSERT INTO {t.thread_entry} (pid, thread_id, staff_id, user_id, type, flags, poster, editor,
                    editor_type, source, title, body, format, ip_address, extra, recipients, created, updated)
                SELECT 0, th.id, 0, e.user_id, 'M', e.flags, e.poster, NULL, NULL, e.source, e.title,
                    CONCAT('<p>The printer on floor ', th.object_id, ' jams on every second page.</p>'),
                    'html', e.ip_address, NULL, NULL, th.created, th.created
                FROM {t.thread} th
                JOIN (SELECT e.* FROM {t.thread_entry} e JOIN {t.thread} tt ON tt.id = e.thread_id
                      WHERE tt.object_type = 'T' AND tt.object_id = %s AND e.type = 'M'
                      ORDER BY e.id LIMIT 1) e
                WHERE th.id > %s""", [template_id, first_thread])
        cur.execute(
            f"""INSERT INTO {t.thread_event} (thread_id, thread_type, event_id, staff_id, team_id, dept_id,
                    topic_id, data, username, uid, uid_type, annulled, timestamp)
                SELECT th.id, 'T', ev.event_id, 0, 0, ev.dept_id, ev.topic_id, NULL, ev.username, ev.uid,
                    ev.uid_type, 0, th.created
                FROM {t.thread} th
                JOIN (SELECT te.* FROM {t.thread_event} te JOIN {t.thread} tt ON tt.id = te.thread_id
                      WHERE tt.object_type = 'T' AND tt.object_id = %s ORDER BY te.id LIMIT 1) ev
                WHERE th.id > %s""", [template_id, first_thread])
        # Each ticket's Ticket Details answers as osTicket keeps them: subject, priority and the run field, which
        # a ticket no run made leaves empty (NULL); the lookup without a record scans these values.
        cur.execute(f"SELECT MAX(id) AS e FROM {t.form_entry}")
        first_entry = int(cur.fetchone()["e"] or 0)
        cur.execute(
            f"""INSERT INTO {t.form_entry} (form_id, object_id, object_type, sort, extra, created, updated)
                SELECT fm.id, tk.ticket_id, 'T', 1, NULL, tk.created, tk.created
                FROM {t.ticket} tk JOIN {t.form} fm ON fm.type = 'T' WHERE tk.ticket_id > %s""", [first_ticket])
        cur.execute(
            f"""INSERT INTO {t.form_entry_values} (entry_id, field_id, value, value_id)
                SELECT e.id, f.id, CASE f.name WHEN 'subject' THEN cd.subject WHEN 'priority' THEN 'Normal'
                                               ELSE NULL END,
                       CASE f.name WHEN 'priority' THEN 2 ELSE NULL END
                FROM {t.form_entry} e JOIN {t.form_field} f ON f.form_id = e.form_id
                JOIN {t.ticket__cdata} cd ON cd.ticket_id = e.object_id
                WHERE e.id > %s AND f.name IN ('subject', 'priority', 'ostops_run')""", [first_entry])
        cur.execute("COMMIT")
        for table in (t.ticket, t.ticket__cdata, t.thread, t.thread_entry, t.thread_event, t.form_entry,
                      t.form_entry_values):
            cur.execute(f"ANALYZE TABLE {table}")
            cur.fetchall()
    return time.perf_counter() - started


def median_ms(call: Callable[[], object], reps: int) -> float:
    call()  # warm: the first call after a bulk insert reads pages from disk
    times = []
    for _ in range(reps):
        started = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - started)
        if result is None:
            raise SystemExit("the run's tickets were not found")
    return statistics.median(times) * 1000


def measure(instance: Instance, conn: Any, record: RunRecord, reps: int) -> dict[str, float]:
    scenario = load_scenario(LAB).scenario
    ids = sorted(record.ticket_ids.values())
    order = list(record.ticket_ids)
    mailbox = mailbox_of(instance)

    def verify_record() -> object:
        verdict = verify_past_run(instance, scenario, record.run_id, record.id_range, ids, record.ledger, mailbox)
        if verdict is not None and not verdict.passed:
            raise SystemExit(f"verify failed: {verdict.mismatches()}")
        return verdict

    def report_record() -> object:
        report = read_report(instance, record.run_id, record.id_range, ids, order)
        if report is not None and len(report.tickets) != len(ids):
            raise SystemExit(f"report shows {len(report.tickets)} tickets, the run made {len(ids)}")
        return report

    fallback_reps = max(3, reps // 3)
    t = Tables(instance.db.table_prefix)
    return {
        "queries": median_ms(lambda: read_run(conn, t, record.run_id, record.id_range, ids) or None, reps),
        "verify": median_ms(verify_record, reps),
        "report": median_ms(report_record, reps),
        "verify_tag": median_ms(lambda: verify_past_run(instance, scenario, record.run_id, mailbox=mailbox),
                                fallback_reps),
        "report_tag": median_ms(lambda: read_report(instance, record.run_id, order=order), fallback_reps),
        "queries_tag": median_ms(lambda: read_run(conn, t, record.run_id) or None, fallback_reps),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 1_000_000])
    parser.add_argument("--reps", type=int, default=15)
    parser.add_argument("--check", action="store_true", help="exit 1 when the target is missed")
    args = parser.parse_args()
    sizes = sorted(args.sizes)
    from automation.local import manager

    began = time.perf_counter()
    temp = Path(tempfile.mkdtemp(prefix="ostops-bench-lookup-"))
    results: dict[int, dict[str, float]] = {}
    fills: dict[int, float] = {}
    try:
        console.print("bringing up a fresh local osTicket ...")
        up = manager.up(temp / "instance")
        instance_file = manager.instance_file(temp / "instance")
        instance = up.instance
        console.print(f"  ready in {up.seconds:.1f} s; running the lab (seed + 3 tickets) ...")
        run_lab(instance_file)
        workspace = Workspace.at(instance_file)
        run_id = latest_run_id(workspace)
        record = load_record(workspace, run_id) if run_id else None
        if record is None or record.id_range is None or len(record.ticket_ids) != 3:
            raise SystemExit(f"no usable run record in {workspace.runs_dir}")
        conn = db.connect(instance)
        conn._read_timeout = conn._write_timeout = FILL_TIMEOUT_S
        t = Tables(instance.db.table_prefix)
        try:
            for size in sizes:
                have = ticket_count(conn, t)
                fills[size] = fill(conn, t, min(record.ticket_ids.values()), size - have, have + 1)
                console.print(f"  {ticket_count(conn, t):,} tickets ({size - have:,} inserted in "
                              f"{fills[size]:.1f} s); timing ...")
                results[size] = measure(instance, conn, record, args.reps)
                console.print("    " + ", ".join(f"{k} {v:.2f} ms" for k, v in results[size].items()))
        finally:
            conn.close()
    finally:
        manager.down(temp / "instance")
        shutil.rmtree(temp, ignore_errors=True)

    small, large = sizes[0], sizes[-1]
    ratios = {k: results[large][k] / results[small][k] for k in results[large]}
    table = Table("measure (median ms)", *(f"{s:,} tickets" for s in sizes), f"{large:,} : {small:,}", "target",
                  title=f"3-ticket lab run; {args.reps} reps with the record, {max(3, args.reps // 3)} without")
    labels = {"verify": "verify (record: ids, id range)", "report": "report (record: ids, id range)",
              "queries": "  its six queries (read_run, open connection)",
              "verify_tag": "verify (no record: run field)", "report_tag": "report (no record: run field)",
              "queries_tag": "  its six queries (read_run, open connection)"}
    for key, label in labels.items():
        targeted = key in ("verify", "report")
        met = "yes" if ratios[key] <= TARGET else "NO"
        table.add_row(label, *(f"{results[s][key]:.2f}" for s in sizes), f"{ratios[key]:.2f}",
                      f"<= {TARGET} {met}" if targeted else "")
    console.print(table)
    total = time.perf_counter() - began
    console.print(f"whole benchmark: {total:.0f} s")
    print(json.dumps({"sizes": sizes, "ms": {str(s): {k: round(v, 3) for k, v in r.items()}
                                             for s, r in results.items()},
                      "ratios": {k: round(v, 3) for k, v in ratios.items()},
                      "fill_s": {str(s): round(v, 1) for s, v in fills.items()}, "total_s": round(total, 1)}))
    return 1 if args.check and max(ratios["verify"], ratios["report"]) > TARGET else 0


if __name__ == "__main__":
    sys.exit(main())
