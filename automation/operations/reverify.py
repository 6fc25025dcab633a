"""Re-verify every run recorded in an instance's workspace: the proof that an operation on the help desk
(a restore, an upgrade, a rotation) lost nothing.

Each run is read back from osTicket's database by its record (ticket ids and id range, by primary key) and held
to its ledger: every thread entry's title and body, the subject, every event with its timestamp, the SLA
definitions it used. A scenario run whose scenario file is still at hand is also held to the scenario's
expectations (as ``ostops verify`` does). A load run has no ledger: each ticket it recorded must still be in
osTicket, whole, with the number it was given. Tickets outside a run's recorded id range (osTicket's own, made
later, e.g. during an upgrade) are never counted as the run's.

Use::

    from automation.operations.reverify import reverify_runs
    result = reverify_runs(workspace)                  # every run recorded, oldest first
    result = reverify_runs(workspace, run_ids=[...])   # only these (e.g. the runs a backup holds)
    result.passed; result.runs[0].passed, .problems, .basis; result.problems()  # "run <id>: <problem>" lines
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from automation.errors import OsTicketError
from automation.instance import Instance
from automation.osticket import db
from automation.osticket.schema import Tables
from automation.workspace import Workspace

NO_LEDGER = ("the run record keeps no ledger or id range (a run that failed before its tickets were confirmed, "
             "or one recorded before ledgers): nothing to hold osTicket to")
Basis = Literal["ledger + scenario", "ledger", "tickets", "none"]


@dataclass(frozen=True)
class RunVerdict:
    """One recorded run, re-verified. ``basis`` says what it was held to: its ledger and its scenario's
    expectations, its ledger alone (the scenario file is gone or no longer loads: ``note`` says why), its
    tickets' presence (a load run, which keeps no ledger), or nothing (an unreadable record: a problem)."""

    run_id: str
    kind: str  # scenario | load
    scenario: str
    tickets: int
    basis: Basis
    problems: tuple[str, ...] = ()
    note: str = ""

    @property
    def passed(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "kind": self.kind, "scenario": self.scenario, "tickets": self.tickets,
                "basis": self.basis, "passed": self.passed, "problems": list(self.problems), "note": self.note}


@dataclass(frozen=True)
class Reverification:
    runs: list[RunVerdict] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(run.passed for run in self.runs)

    @property
    def failed(self) -> list[RunVerdict]:
        return [run for run in self.runs if not run.passed]

    def problems(self) -> list[str]:
        return [f"run {run.run_id}: {problem}" for run in self.runs for problem in run.problems]

    def summary(self) -> str:
        """``3 run(s) re-verified, all pass`` / ``3 run(s) re-verified, 1 fail: <id>``."""
        if self.passed:
            return f"{len(self.runs)} run(s) re-verified, all pass"
        return (f"{len(self.runs)} run(s) re-verified, {len(self.failed)} fail: "
                + ", ".join(run.run_id for run in self.failed))


def recorded_run_ids(workspace: Workspace) -> list[str]:
    """The run ids recorded in the workspace, oldest first."""
    return [path.stem for path in workspace.run_files()]


def reverify_runs(workspace: Workspace, run_ids: Iterable[str] | None = None, instance: Instance | None = None,
                  expectations: bool = True) -> Reverification:
    """Every run recorded in ``workspace`` (or only ``run_ids``), re-verified against the database of
    ``instance`` (default: the workspace's). ``expectations=False`` holds scenario runs to their ledgers only.
    Raises `automation.errors.DatabaseError` when the database cannot be reached; a run whose record is
    missing or unreadable is a failed verdict, not an exception."""
    instance = instance or workspace.instance()
    ids = list(run_ids) if run_ids is not None else recorded_run_ids(workspace)
    conn = db.connect(instance)
    try:
        t = Tables(instance.db.table_prefix)
        return Reverification([_reverify_one(workspace, instance, conn, t, run_id, expectations) for run_id in ids])
    finally:
        conn.close()


def _reverify_one(workspace: Workspace, instance: Instance, conn: Any, t: Tables, run_id: str,
                  expectations: bool) -> RunVerdict:
    path = workspace.run_file(run_id)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return RunVerdict(run_id, "?", "", 0, "none", (f"no run record {path}",))
    except (OSError, ValueError) as exc:
        return RunVerdict(run_id, "?", "", 0, "none", (f"{path}: unreadable run record ({exc})",))
    if not isinstance(data, dict):
        return RunVerdict(run_id, "?", "", 0, "none", (f"{path}: not a run record (not a JSON object)",))
    kind = str(data.get("kind") or "scenario")
    scenario = str(data.get("scenario") or "")
    tickets = data.get("tickets") if isinstance(data.get("tickets"), dict) else {}
    assert isinstance(tickets, dict)
    try:
        if kind == "load":
            problems = _load_run_problems(conn, t, run_id, data, tickets)
            return RunVerdict(run_id, kind, scenario, len(tickets), "tickets", tuple(problems))
        return _scenario_run(workspace, instance, conn, t, run_id, scenario, len(tickets), expectations)
    except OsTicketError as exc:
        if isinstance(exc, db.DatabaseError):
            raise
        return RunVerdict(run_id, kind, scenario, len(tickets), "none", (str(exc), *exc.problems))


def _scenario_run(workspace: Workspace, instance: Instance, conn: Any, t: Tables, run_id: str, scenario: str,
                  count: int, expectations: bool) -> RunVerdict:
    from automation.scenarios import ledger as run_ledger
    from automation.scenarios.facts import read_run, read_slas
    from automation.scenarios.record import load_record
    from automation.scenarios.verify import unconfirmed_line, verify

    record = load_record(workspace, run_id)
    assert record is not None  # the file was just read
    if record.ledger is None or record.id_range is None:
        return RunVerdict(run_id, "scenario", scenario, count, "none",
                          (NO_LEDGER,))
    ticket_ids = sorted(record.ticket_ids.values())
    facts = read_run(conn, t, run_id, record.id_range, ticket_ids)
    loaded, note = _scenario_of(scenario) if expectations else (None, "")
    if loaded is not None:
        from automation.scenarios.mail import mailbox_of

        verdict = verify(loaded, run_id, facts, db.server_now(conn), set(ticket_ids), record.ledger,
                         read_slas(conn, t), mailbox_of(instance), record.failed)
        return RunVerdict(run_id, "scenario", scenario, count, "ledger + scenario", tuple(verdict.mismatches()))
    problems: list[str] = []
    found = {f.ticket_id: f for f in facts}
    for key, recorded in record.ledger.tickets.items():
        ticket = found.get(recorded.ticket_id)
        if ticket is None:
            problems.append(f"ticket {key} (#{recorded.number}): not in osTicket (id {recorded.ticket_id})")
            continue
        if ticket.number != recorded.number:
            problems.append(f"ticket {key}: number #{recorded.number} at the run, now #{ticket.number}")
        problems += [f"ticket {key} (#{recorded.number}): {p}" for p in run_ledger.compare(recorded, ticket)]
    confirmed = set(ticket_ids) | {t_.ticket_id for t_ in record.ledger.tickets.values()}
    problems += [unconfirmed_line(f) for f in facts if f.ticket_id not in confirmed]
    problems += run_ledger.compare_slas(record.ledger.slas, read_slas(conn, t))
    return RunVerdict(run_id, "scenario", scenario, count, "ledger", tuple(problems), note)


def _scenario_of(scenario: str) -> tuple[Any, str]:
    """The scenario the run acted out, when its file is still there and loads; else None and why not."""
    from automation.scenarios.loader import load_scenario

    if not scenario:
        return None, "no scenario file recorded"
    path = Path(scenario)
    if not path.is_file():
        return None, f"{scenario}: scenario file not found here; held to its ledger only"
    try:
        return load_scenario(path).scenario, ""
    except OsTicketError as exc:
        return None, f"{scenario}: no longer loads ({exc}); held to its ledger only"


def _load_run_problems(conn: Any, t: Tables, run_id: str, data: dict[str, Any],
                       tickets: dict[str, Any]) -> list[str]:
    """A load run: every ticket it recorded is in osTicket with its number, whole, tagged with the run."""
    from automation.scenarios.facts import TAG_PATTERN

    numbers = {str(key): str(value.get("number")) for key, value in tickets.items()
               if isinstance(value, dict) and value.get("number")}
    span = data.get("id_range")
    if not numbers:
        return []
    after = int(span[0]) if span else 0
    with db.cursor(conn) as cur:
        problems: list[str] = []
        wanted = sorted(set(numbers.values()))
        seen: dict[str, dict[str, Any]] = {}
        for start in range(0, len(wanted), 1000):
            chunk = wanted[start:start + 1000]
            cur.execute(f"""SELECT tk.ticket_id, tk.number, tk.status_id, cd.subject,
                                   (SELECT COUNT(*) FROM {t.thread} th WHERE th.object_type = 'T'
                                    AND th.object_id = tk.ticket_id) AS threads
                            FROM {t.ticket} tk LEFT JOIN {t.ticket__cdata} cd ON cd.ticket_id = tk.ticket_id
                            WHERE tk.ticket_id > %s AND tk.number IN ({', '.join(['%s'] * len(chunk))})""",
                        [after, *chunk])
            seen.update({str(row["number"]): row for row in cur.fetchall()})
    for key, number in numbers.items():
        row = seen.get(number)
        if row is None:
            problems.append(f"ticket {key} (#{number}): not in osTicket")
            continue
        match = TAG_PATTERN.search(row["subject"] or "")
        if match is None or match.group("run") != run_id:
            problems.append(f"ticket {key} (#{number}): subject no longer carries the run's tag "
                            f"(now {row['subject']!r})")
        if not row["threads"] or not row["status_id"]:
            problems.append(f"ticket {key} (#{number}): no longer whole (thread or status missing)")
    return problems
