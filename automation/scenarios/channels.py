"""How a requester's ticket arrives (the ticket API, the Support Center's form, an e-mail) and what the requester
does afterwards (replies, checks the status, waits); and the load-time rules for those fields."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from automation.errors import StepError
from automation.osticket import clock, db, runfield
from automation.osticket.api import NewTicket, TicketApi, requester_email
from automation.osticket.directory import Directory
from automation.osticket.portal import Portal, PortalTicket
from automation.osticket.schema import Tables
from automation.osticket.text import normal, shown
from automation.scenarios import attachments
from automation.scenarios.models import AGENT_ONLY, REQUESTER, REQUESTER_ONLY, Scenario, TicketSpec
from automation.yamlfile import Located

# What osTicket writes into ost_ticket.source for each channel.
SOURCES = {"api": "API", "portal": "Web", "email": "Email"}


def channel_problems(scenario: Scenario, located: Located) -> list[str]:
    """The rules pydantic cannot say: which fields each channel takes and who may take which step."""
    problems: list[str] = []
    for ti, ticket in enumerate(scenario.tickets):
        at = ("tickets", ti)
        if ticket.channel == "email" and ticket.topic is not None:
            problems.append(f"{located.where((*at, 'topic'))}: an e-mail carries no help topic (osTicket files it "
                            "by the address it was sent to); drop `topic:` or use channel api or portal")
        if ticket.channel == "portal" and ticket.topic is None:
            problems.append(f"{located.where((*at, 'channel'))}: the Support Center's form needs a help topic; add "
                            "`topic:`")
        if ticket.channel != "api" and ticket.priority is not None:
            problems.append(f"{located.where((*at, 'priority'))}: only the ticket API sets a priority at creation; "
                            f"drop it for channel {ticket.channel}, or add a change_priority step")
        if ticket.channel != "portal" and ticket.fields:
            problems.append(f"{located.where((*at, 'fields'))}: form fields are filled in only in the Support "
                            "Center (channel: portal)")
        for si, step in enumerate(ticket.steps):
            where = located.where((*at, "steps", si, "as"))
            if step.actor != REQUESTER and step.do in REQUESTER_ONLY:
                problems.append(f"{where}: '{step.do}' is the requester's step (as: requester)"
                                if step.do != "advance" else f"{where}: advance takes no `as:` (time passes "
                                                             "for everyone)")
            if step.actor != REQUESTER and step.do == "reply" and step.via is not None:
                problems.append(f"{located.where((*at, 'steps', si, 'via'))}: `via:` is for the requester's "
                                "replies; agents reply in the staff panel")
    return problems


def is_agent_step(step: Any) -> bool:
    return step.actor != REQUESTER and step.do not in REQUESTER_ONLY


class Requesters:
    """The requester's side of a run: the ticket API, the Support Center, e-mail, and the clock."""

    def __init__(self, api: TicketApi, portal: Portal, conn: Any, tables: Tables) -> None:
        self.api = api
        self.portal = portal
        self.conn = conn
        self.tables = tables
        self.folder = Path(".")  # the scenario file's folder: attachments are named relative to it

    def files(self, names: list[str]) -> list[Path]:
        return [attachments.resolve(self.folder, name) for name in names]

    def create(self, spec: TicketSpec, subject: str, directory: Directory, mark: str) -> str:
        """Open the ticket by the spec's channel, its run field holding ``mark`` (`automation.osticket.runfield`);
        returns its number."""
        email = str(spec.requester.email)
        if spec.channel == "email":
            number = self.api.post_email(requester_email(spec.requester.name, email, directory.helpdesk_email,
                                                         subject, spec.message, [str(c) for c in spec.cc],
                                                         self.files(spec.attachments)))
            self._mark(number, mark)
            return number
        if spec.channel == "portal":
            assert spec.topic is not None  # channel_problems
            before = db.last_ticket_id(self.conn, self.tables)
            self.portal.open_ticket(PortalTicket(name=spec.requester.name, email=email, subject=subject,
                                                 message=spec.message, topic_id=directory.topics[spec.topic],
                                                 phone=spec.requester.phone, fields=dict(spec.fields)),
                                    self.files(spec.attachments))
            return self._claim_portal_ticket(email, subject, before, mark)
        return self.api.create_ticket(NewTicket(
            name=spec.requester.name, email=email, phone=spec.requester.phone, subject=subject,
            message=spec.message, topic_id=directory.topics[spec.topic] if spec.topic else None,
            priority_id=directory.priorities[spec.priority] if spec.priority else None,
            autorespond=False, alert=False, attachments=self.files(spec.attachments),
            extra={runfield.NAME: mark},
        ))

    def _mark(self, number: str, mark: str) -> None:
        """A mail carries no form field: the run field is written as soon as osTicket names the ticket."""
        ticket_id = db.ticket_ids(self.conn, self.tables, [number]).get(number)
        if ticket_id is None or not runfield.claim(self.conn, self.tables, ticket_id, mark):
            raise StepError(f"osTicket made ticket #{number} from the mail, but its run field could not be written "
                            "(is the field on the Ticket Details form? seed again)")

    def _claim_portal_ticket(self, email: str, subject: str, above_id: int, mark: str) -> str:
        """A guest is shown no number: the ticket is the newest one from this requester through the Support
        Center that no run has claimed (the one with the subject as osTicket keeps it first: decoded and stripped
        of markup, `automation.osticket.text`); claiming it writes the run field, so two runs never take one."""
        t = self.tables
        with db.cursor(self.conn) as cur:
            cur.execute(f"""SELECT tk.ticket_id, tk.number, cd.subject FROM {t.ticket} tk
                            LEFT JOIN {t.ticket__cdata} cd ON cd.ticket_id = tk.ticket_id
                            JOIN {t.user_email} ue ON ue.user_id = tk.user_id AND ue.address = %s
                            WHERE tk.ticket_id > %s AND tk.source = %s AND {runfield.column(t)} IS NULL
                            ORDER BY tk.ticket_id""", (email, above_id, SOURCES["portal"]))
            rows = list(cur.fetchall())
        wanted = normal(subject)
        for row in sorted(rows, key=lambda r: shown(r["subject"]) != wanted):
            if runfield.claim(self.conn, t, int(row["ticket_id"]), mark):
                return str(row["number"])
        raise StepError(f"the Support Center confirmed the ticket, but osTicket holds no new ticket from {email} "
                        f"{subject!r}")

    def act(self, step: Any, ticket_id: int, number: str, spec: TicketSpec, subject: str,
            directory: Directory) -> str:
        email = str(spec.requester.email)
        match step.do:
            case "cron":
                return self.api.run_cron()
            case "advance":
                clock.shift_ticket(self.conn, self.tables, ticket_id, step.seconds)
                cron = self.api.run_cron()
                return f"{_amount(step.seconds)} into the past; cron {cron}"
            case "check_status":
                seen = self.portal.ticket_status(email, number)
                if step.expect_status is not None and seen != step.expect_status:
                    raise StepError(f"the Support Center shows the requester status {seen!r}, expected "
                                    f"{step.expect_status!r}")
                return f"sees {seen}"
            case "reply":
                if (step.via or ("portal" if spec.channel == "portal" else "email")) == "portal":
                    self.portal.reply(email, number, ticket_id, step.text, self.files(step.attachments))
                    return "in the Support Center"
                self.api.post_email(requester_email(spec.requester.name, email, directory.helpdesk_email,
                                                    f"Re: [#{number}] {subject}", step.text,
                                                    attachments=self.files(step.attachments)))
                return "by e-mail"
        raise StepError(f"'{step.do}' is not a requester's step" if step.do in AGENT_ONLY
                        else f"unknown requester step {step.do!r}")


def _amount(seconds: int) -> str:
    hours, rest = divmod(seconds, 3600)
    return " ".join(part for part in (f"{hours} h" if hours else "", f"{rest // 60} min" if rest // 60 else "",
                                      f"{rest % 60} s" if rest % 60 else "") if part)
