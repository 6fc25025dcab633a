"""The login card of a local lab: where to look (staff panel, Support Center) and as whom (the admin, every
seeded agent, the requesters of the latest run with their ticket numbers)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from automation.errors import UsageError
from automation.osticket import db
from automation.osticket.schema import Tables
from automation.workspace import Workspace


@dataclass(frozen=True)
class Person:
    username: str
    name: str
    password: str | None  # None: not known to ostops (an agent someone added by hand)


@dataclass(frozen=True)
class RequesterTicket:
    number: str
    name: str
    email: str


@dataclass
class LoginCard:
    staff_url: str
    portal_url: str
    check_status_url: str
    admin: Person
    agents: list[Person] = field(default_factory=list)
    tickets: list[RequesterTicket] = field(default_factory=list)
    run_id: str | None = None


def latest_run(workspace: Workspace) -> tuple[str, list[int]] | None:
    """The newest scenario run's id and ticket ids, from its record."""
    for path in reversed(workspace.run_files()):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if data.get("kind", "scenario") != "scenario":
            continue
        ids = [int(t["ticket_id"]) for t in (data.get("tickets") or {}).values() if t.get("ticket_id")]
        return str(data.get("run_id") or path.stem), ids
    return None


def card(workspace: Workspace) -> LoginCard:
    instance = workspace.instance()
    if instance.kind != "local":
        raise UsageError(f"{workspace.instance_file}: a {instance.kind} instance; the login card is for local "
                         "instances (their passwords are yours to see)")
    base = instance.base_url
    credentials = workspace.credentials()
    t = Tables(instance.db.table_prefix)
    run = latest_run(workspace)
    with db.connect(instance) as conn:
        with db.cursor(conn) as cur:
            cur.execute(f"SELECT username, firstname, lastname FROM {t.staff} WHERE isactive = 1 ORDER BY username")
            staff = {row["username"]: f"{row['firstname']} {row['lastname']}".strip() for row in cur.fetchall()}
        tickets: list[RequesterTicket] = []
        if run and run[1]:
            marks = ", ".join(["%s"] * len(run[1]))
            with db.cursor(conn) as cur:
                cur.execute(
                    f"SELECT t.number, u.name, e.address FROM {t.ticket} t "
                    f"JOIN {t.user} u ON u.id = t.user_id "
                    f"LEFT JOIN {t.user_email} e ON e.id = u.default_email_id "
                    f"WHERE t.ticket_id IN ({marks}) ORDER BY t.ticket_id", run[1])
                tickets = [RequesterTicket(str(r["number"]), str(r["name"] or ""), str(r["address"] or ""))
                           for r in cur.fetchall()]
    admin = instance.admin.username
    agents = [Person(u, name, credentials.agent(u)) for u, name in staff.items() if u.casefold() != admin.casefold()]
    return LoginCard(base + "scp/", base, base + "login.php",
                     Person(admin, staff.get(admin, "administrator"), instance.admin.password.get_secret_value()),
                     agents, tickets, run[0] if run else None)
