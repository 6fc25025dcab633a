"""Act a scenario out as the people in it would: the ticket API for the requester, the staff panel for each
agent. Only acting: run records are `record`, passwords `automation.credentials`, names the help desk's
`Directory`, the verdict `verify`."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol, Self

from automation.credentials import CredentialStore, agent_password, password_variable
from automation.errors import (
    AuthError,
    Interrupted,
    OsTicketError,
    ScenarioError,
    ScenarioStepFailed,
    is_environment_failure,
)
from automation.instance import Instance
from automation.interrupt import Interruptions
from automation.osticket import db
from automation.osticket.api import TicketApi
from automation.osticket.directory import Directory
from automation.osticket.http import instance_session
from automation.osticket.portal import Portal
from automation.osticket.staff import StaffSession
from automation.scenarios import facts as run_facts
from automation.scenarios import ledger as run_ledger
from automation.scenarios import record
from automation.scenarios.agents import check_agents
from automation.scenarios.channels import Requesters, is_agent_step
from automation.scenarios.collaborators import lookup as collaborator_lookup
from automation.scenarios.loader import LoadedScenario, check_names, seed_password_envs
from automation.scenarios.mail import mailbox_of
from automation.scenarios.models import TicketSpec, case_names
from automation.scenarios.reactions import reopened
from automation.scenarios.record import RunResult, SkippedStep, StepResult, failures, new_run_id
from automation.scenarios.verify import unconfirmed_line, verify
from automation.workspace import Workspace

Progress = Callable[[str], None]


class RunObserver(Protocol):
    """Told what the run did, after it was done and its line printed (``automation.scenarios.evidence``
    pictures it). The sentence is that line. An observer keeps its own failures: the run goes on."""

    def run_started(self, run_id: str) -> None: ...

    def ticket_creating(self, spec: TicketSpec, subject: str) -> None: ...

    def ticket_created(self, spec: TicketSpec, number: str, ticket_id: int, sentence: str) -> None: ...

    def step_done(self, spec: TicketSpec, step: Any, number: str, ticket_id: int, sentence: str) -> None: ...


class ScenarioRunner:
    def __init__(self, instance: Instance, workspace: Workspace, conn: Any | None = None,
                 api: TicketApi | None = None, progress: Progress = lambda _: None,
                 observer: RunObserver | None = None, require_mail: bool = False,
                 interruptions: Interruptions | None = None, keep_going: bool = True) -> None:
        self.instance = instance
        # A step osTicket refuses fails its ticket and the run goes on with the next one; False: the run stops
        # there. osTicket or the environment failing stops the run either way.
        self.keep_going = keep_going
        self.require_mail = require_mail
        # Signals noted while a request is in flight stop the run once it is answered (`automation.interrupt`).
        self.interruptions = interruptions or Interruptions()
        self.workspace = workspace
        self.credentials: CredentialStore = workspace.credentials()
        self.conn = conn or db.connect(instance)
        self.tables = db.Tables(instance.db.table_prefix)
        self.api = api or TicketApi(instance.base_url, instance.api_key.get_secret_value(),
                                         session=instance_session(instance))
        self.progress = progress
        self.observer = observer
        self.requesters = Requesters(self.api, Portal(instance.base_url, new_http=lambda: instance_session(instance)),
                                     self.conn, self.tables)
        self._sessions: dict[str, StaffSession] = {}
        self._password_envs: dict[str, str] = {}

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close_sessions(self) -> None:
        self._close_staff()
        self.api.close()

    def close(self) -> None:
        self.close_sessions()
        self.conn.close()

    # -- preparation ---------------------------------------------------------------------------------------
    def password(self, username: str) -> str | None:
        return agent_password(self.instance, self.credentials, username, self._password_envs)

    def check_credentials(self, loaded: LoadedScenario) -> None:
        self._password_envs = seed_password_envs(loaded)
        missing: dict[str, list[str]] = {}  # agent -> where it acts
        for ti, ticket in enumerate(loaded.scenario.tickets):
            for si, step in enumerate(ticket.steps):
                if is_agent_step(step) and (step.actor in missing or self.password(step.actor) is None):
                    missing.setdefault(step.actor, []).append(
                        loaded.located.where(("tickets", ti, "steps", si, "as")))
        if missing:
            problems = [f"{places[0]}: no password for agent {agent!r} (seed it, or set "
                        f"{password_variable(agent)})"
                        + (f"; it also acts at {len(places) - 1} later step(s)" if len(places) > 1 else "")
                        for agent, places in missing.items()]
            raise ScenarioError(f"{loaded.path}: {len(missing)} agent(s) without credentials; nothing was run",
                                problems)

    def prepare(self, loaded: LoadedScenario) -> Directory:
        """Read the help desk's names once, check every name and agent password the scenario needs, and log
        every agent in, so that nothing is created when something is missing or a password is refused."""
        directory = Directory.read(self.conn, self.tables)
        check_names(loaded, directory)
        self.check_credentials(loaded)
        check_agents(self.conn, self.tables, loaded, directory)
        self.log_in_agents(loaded)
        return directory

    def log_in_agents(self, loaded: LoadedScenario) -> None:
        """One staff-panel session per agent the scenario acts as, in the order they first act; the run
        reuses them (no further logins). A refused login is osTicket's answer (exit 1), before any ticket."""
        first: dict[str, tuple[str | int, ...]] = {}
        for ti, ticket in enumerate(loaded.scenario.tickets):
            for si, step in enumerate(ticket.steps):
                if is_agent_step(step):
                    first.setdefault(step.actor, ("tickets", ti, "steps", si, "as"))
        try:
            for username, path in first.items():
                try:
                    self.staff(username)
                except AuthError as exc:
                    raise AuthError(f"{loaded.located.where(path)}: {exc}; no ticket was created") from exc
        except BaseException:
            self._close_staff()
            raise

    def staff(self, username: str) -> StaffSession:
        if username not in self._sessions:
            password = self.password(username)
            if password is None:
                raise ScenarioError(f"no password for agent {username!r}: seed it, or set "
                                    f"{password_variable(username)}")
            session = StaffSession(self.instance.base_url, username, password,
                                   session=instance_session(self.instance))
            try:
                session.login()
            except BaseException:
                session.close()
                raise
            self._sessions[username] = session
        return self._sessions[username]

    def _close_staff(self) -> None:
        for session in self._sessions.values():
            session.close()
        self._sessions.clear()

    # -- the run -------------------------------------------------------------------------------------------
    def run(self, loaded: LoadedScenario, run_id: str | None = None,
            seed_summary: dict[str, int] | None = None) -> RunResult:
        """Prepare, act every ticket out, verify. The run is recorded before its first ticket, as each ticket is
        created, after the acting and after the verdict; also when a step fails or a signal stops it (then the
        error carries the partial result, for the JSON and JUnit files)."""
        result = RunResult(run_id or new_run_id(), str(loaded.path), seed_summary=seed_summary,
                           plan={ticket.key: len(ticket.steps) for ticket in loaded.scenario.tickets})
        try:
            return self._run(loaded, result)
        except Interrupted as exc:
            result.interrupted = exc.name
            if result.id_range is not None:
                self._skip_unreached(loaded, result, f"not reached: the run was interrupted by {exc.name}")
            if result.id_range_open:
                result.unconfirmed.append(
                    f"a ticket creation was cut off by {exc.name}: the ticket may exist unnamed; `ostops report "
                    f"--run {result.run_id}` names it")
            if result.id_range is not None:  # acting had begun: tickets may exist
                record.save(self.workspace, result)
            exc.result = result
            raise
        except OsTicketError as exc:
            exc.result = exc.result or result
            raise

    def _run(self, loaded: LoadedScenario, result: RunResult) -> RunResult:
        started = time.monotonic()
        directory = self.prepare(loaded)
        self.requesters.folder = loaded.path.parent
        before = db.last_ticket_id(self.conn, self.tables)
        result.id_range = (before, before)
        self._save_acting(result)
        self.progress(f"run {result.run_id}: {len(loaded.scenario.tickets)} ticket(s)")
        if self.observer:
            self.observer.run_started(result.run_id)
        try:
            for ti, spec in enumerate(loaded.scenario.tickets):
                try:
                    self._act_ticket(loaded, ti, spec, directory, result)
                except ScenarioStepFailed as exc:
                    if not self.keep_going or is_environment_failure(exc):
                        raise
                    later = len(spec.steps) + 1 - sum(1 for s in result.steps if s.ticket == spec.key)
                    self.progress(f"✗ {exc}; {later} later step(s) of {spec.key} skipped, the run goes on")
            self._skip_unreached(loaded, result, "")
        except OsTicketError as exc:
            self.reconcile(result)
            exc.problems.extend(result.unconfirmed)
            self._skip_unreached(loaded, result, self._stop_reason(result, exc))
            raise
        finally:
            result.seconds = time.monotonic() - started
            record.save(self.workspace, result)
        facts = self._read_run(result)
        confirmed = self._confirmed(result)
        result.verdict = verify(loaded.scenario, result.run_id, facts, db.server_now(self.conn), confirmed,
                                mailbox=mailbox_of(self.instance, self.require_mail), failed=failures(result.steps))
        result.unconfirmed = result.verdict.unconfirmed
        names = {s.sla for t in loaded.scenario.tickets for s in t.steps if s.do == "change_sla"}
        names |= {t.expect.sla for t in loaded.scenario.tickets if t.expect.sla}
        result.ledger = run_ledger.take([f for f in facts if f.ticket_id in confirmed],
                                        run_facts.read_slas(self.conn, self.tables), names)
        result.seconds = time.monotonic() - started
        record.save(self.workspace, result)
        return result

    def _skip_unreached(self, loaded: LoadedScenario, result: RunResult, stopped: str) -> None:
        """Every planned creation and step the run did not act, with why: an earlier step of its ticket failed,
        else the run stopped (``stopped``)."""
        result.stopped = stopped
        acted = {(s.ticket, s.number) for s in result.steps}
        first_error: dict[str, StepResult] = {}
        for s in result.steps:
            if s.error:
                first_error.setdefault(s.ticket, s)
        result.skipped = []
        for ti, spec in enumerate(loaded.scenario.tickets):
            failed = first_error.get(spec.key)
            why = (f"not run: step '{failed.label}' of this ticket failed before it ({failed.where})" if failed
                   else stopped)
            for number, name in enumerate(case_names(spec)):
                if (spec.key, number) in acted:
                    continue
                where = (f"{loaded.path}:{loaded.located.line(('tickets', ti))}" if number == 0
                         else loaded.step_where(ti, number - 1))
                result.skipped.append(SkippedStep(spec.key, name, where, why or "not run"))

    @staticmethod
    def _stop_reason(result: RunResult, exc: OsTicketError) -> str:
        failed = result.steps[-1] if result.steps and result.steps[-1].error else None
        if failed is None or not isinstance(exc, ScenarioStepFailed):
            return f"not reached: the run stopped: {exc}"
        if is_environment_failure(exc):
            return (f"not reached: the run stopped when osTicket or its environment failed at '{failed.name}' "
                    f"({failed.where})")
        return f"not reached: the run stopped at the failure of '{failed.name}' ({failed.where}): --stop-on-failure"

    def _save_acting(self, result: RunResult) -> None:
        """The record as the run goes: open on disk, since the next creation may be under way if the process is
        killed (SIGKILL, power); the saves when the run stops say whether it is. One write (~15 ms) a ticket."""
        known = result.id_range_open
        result.id_range_open = True
        try:
            record.save(self.workspace, result)
        finally:
            result.id_range_open = known

    @staticmethod
    def _confirmed(result: RunResult) -> set[int]:
        return {int(t["ticket_id"]) for t in result.tickets.values()}

    def _read_run(self, result: RunResult, conn: Any | None = None) -> list[run_facts.TicketFacts]:
        """The run's tickets by primary key: those it created and any other of its id range that carries its tag
        or no subject at all; the range's end is the newest ticket now."""
        conn = conn or self.conn
        assert result.id_range is not None
        result.id_range = (result.id_range[0], db.last_ticket_id(conn, self.tables))
        result.id_range_open = False
        return run_facts.read_run(conn, self.tables, result.run_id, result.id_range,
                                  sorted(self._confirmed(result)))

    def reconcile(self, result: RunResult) -> None:
        """After a failure: name every ticket of the run in osTicket that the run was not answered for. Two
        attempts at most (this connection, then a new one), each bounded by the connection's timeouts; a server
        that does not answer a ping within db.CONNECT_TIMEOUT is frozen, and is not waited for again."""
        last: OsTicketError | None = None
        for attempt in range(2):
            try:
                conn = db.answering(self.conn) if attempt == 0 else db.connect(self.instance)
            except db.DatabaseNotAnswering as exc:
                last = exc
                break
            except OsTicketError as exc:
                last = exc
                continue
            try:
                facts = self._read_run(result, conn)
            except OsTicketError as exc:
                last = exc
                continue
            finally:
                if conn is not self.conn:
                    conn.close()
            confirmed = self._confirmed(result)
            result.unconfirmed = [unconfirmed_line(f) for f in facts if f.ticket_id not in confirmed]
            return
        result.unconfirmed = [(f"not reconciled: {last}; tickets of this run may exist unnamed: `ostops report "
                              f"--run {result.run_id}` names them once the database answers")]

    def _act_ticket(self, loaded: LoadedScenario, ti: int, spec: TicketSpec, directory: Directory,
                    result: RunResult) -> None:
        where = f"{loaded.path}:{loaded.located.line(('tickets', ti))}"
        subject = f"{spec.subject} {run_facts.run_tag(result.run_id, spec.key)}"
        names = case_names(spec)
        if self.observer:
            self.observer.ticket_creating(spec, subject)
        # Until its id is read, a ticket may exist that the record's range does not reach: the range is open.
        result.id_range_open = True
        t0 = time.monotonic()
        with self.interruptions.deferred():
            try:
                number = self.requesters.create(spec, subject, directory)
            except (OsTicketError, Interrupted) as exc:
                done = [self._describe(s) for s in result.steps]
                result.steps.append(StepResult(spec.key, where, spec.requester.name, "create", spec.subject,
                                               time.monotonic() - t0, _cut_off(exc), name=names[0],
                                               errored=_errored(exc)))
                if isinstance(exc, Interrupted):
                    raise
                raise ScenarioStepFailed(f"{where} ticket {spec.key}: creating it failed: {exc}", done) from exc
            try:
                ticket_id = self._ticket_id(number)
            except (OsTicketError, Interrupted) as exc:
                result.pending[spec.key] = number  # osTicket made it; the record names its number
                result.steps.append(StepResult(spec.key, where, spec.requester.name, "create", f"#{number}",
                                               time.monotonic() - t0, _cut_off(exc), name=names[0],
                                               errored=_errored(exc)))
                record.save(self.workspace, result)
                if isinstance(exc, OsTicketError) and not isinstance(exc, ScenarioStepFailed):
                    raise ScenarioStepFailed(f"{where} ticket {spec.key} (#{number}): created, but its id could "
                                             f"not be read: {exc}", [self._describe(s) for s in result.steps[:-1]]
                                             ) from exc
                raise
            result.ticket_created(spec.key, number, ticket_id)
            step_result = StepResult(spec.key, where, spec.requester.name, "create", f"#{number} {spec.subject}",
                                     time.monotonic() - t0, name=names[0])
            result.steps.append(step_result)
            self._save_acting(result)
            self.progress(self._describe(step_result))
        if self.observer:
            self.observer.ticket_created(spec, number, ticket_id, self._describe(step_result))
        for si, step in enumerate(spec.steps):
            where = loaded.step_where(ti, si)
            t0 = time.monotonic()
            with self.interruptions.deferred():
                try:
                    detail = self.act_step(step, ticket_id, number, spec, subject, directory)
                except (OsTicketError, Interrupted) as exc:
                    failed = StepResult(spec.key, where, step.actor, step.do, "", time.monotonic() - t0,
                                        _cut_off(exc), si + 1, names[si + 1], _errored(exc))
                    done = [self._describe(s) for s in result.steps]
                    result.steps.append(failed)
                    if isinstance(exc, Interrupted):
                        raise
                    raise ScenarioStepFailed(f"{where} ticket {spec.key} (#{number}), step {si + 1} "
                                             f"({step.actor}: {step.do}) failed: {exc}", done) from exc
                step_result = StepResult(spec.key, where, step.actor, step.do, detail, time.monotonic() - t0,
                                         number=si + 1, name=names[si + 1])
                result.steps.append(step_result)
                self.progress(self._describe(step_result))
            if self.observer:
                self.observer.step_done(spec, step, number, ticket_id, self._describe(step_result))

    @staticmethod
    def _describe(step: StepResult) -> str:
        return f"{step.ticket}: {step.actor} {step.action} {step.detail} ({step.seconds:.2f} s)".replace("  ", " ")

    def _ticket_id(self, number: str) -> int:
        found = db.ticket_ids(self.conn, self.tables, [number])
        if number not in found:
            raise ScenarioStepFailed(f"osTicket answered ticket number {number} but it is not in the database")
        return found[number]

    def act_step(self, step: Any, ticket_id: int, number: str, spec: TicketSpec, subject: str,
             directory: Directory) -> str:
        if not is_agent_step(step):
            before = db.ticket_status(self.conn, self.tables, ticket_id) if step.do == "reply" else None
            detail = self.requesters.act(step, ticket_id, number, spec, subject, directory)
            if before is not None:
                reaction = reopened(before, db.ticket_status(self.conn, self.tables, ticket_id))
                detail = f"{detail} - {reaction}".strip() if reaction else detail
            return detail
        staff = self.staff(step.actor)
        match step.do:
            case "assign_agent":
                return staff.assign_agent(ticket_id, directory.agents[step.agent], step.comment) or step.agent
            case "assign_team":
                return staff.assign_team(ticket_id, directory.teams[step.team], step.comment) or step.team
            case "transfer":
                staff.transfer(ticket_id, directory.departments[step.department], step.comment)
                return f"to {step.department}"
            case "change_sla":
                staff.change_sla(ticket_id, directory.slas[step.sla], step.comment)
                return f"to {step.sla}"
            case "change_priority":
                staff.change_priority(ticket_id, directory.priorities[step.priority], step.comment)
                return f"to {step.priority}"
            case "note":
                staff.post_note(ticket_id, step.text, step.title, self.requesters.files(step.attachments))
                return " ".join(part for part in (repr(step.title) if step.title else "",
                                                  _files(step.attachments)) if part)
            case "reply":
                staff.reply(ticket_id, step.text, self.requesters.files(step.attachments))
                return _files(step.attachments)
            case "add_collaborator":
                thread_id, user_id = collaborator_lookup(self.conn, self.tables, ticket_id, str(step.email))
                return staff.add_collaborator(thread_id, str(step.email),
                                              step.name or str(step.email).split("@", 1)[0], user_id)
            case "set_status":
                staff.set_status(ticket_id, directory.statuses[step.status], step.comment)
                return f"to {step.status}"
            case "cron":
                self.api.run_cron()
                return ""
        raise ScenarioError(f"unknown action {step.do!r}")


def _cut_off(exc: BaseException) -> str:
    if isinstance(exc, Interrupted):
        return f"cut off by {exc.name} before osTicket answered: it may or may not have taken effect"
    return str(exc)


def _errored(exc: BaseException) -> str:
    """Why a step's error is no answer of osTicket's: the signal that cut it off, or osTicket down."""
    if isinstance(exc, Interrupted):
        return exc.name
    return "environment" if is_environment_failure(exc) else ""


def _files(names: list[str]) -> str:
    return f"with {', '.join(names)}" if names else ""
