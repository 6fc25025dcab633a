"""The help desk's names and ids: the one reader of osTicket's name↔id tables (agents, teams, SLAs,
departments, help topics, statuses, priorities, requesters), read once per command, one query per table.

The scenario runner turns the names a scenario uses into the ids the staff panel posts; the load generator
takes its requesters and topics from here. (The seed planner reads whole rows, which it diffs, and indexes
them by the same folded names: `fold`.)"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from automation.osticket.db import cursor
from automation.osticket.schema import TOPIC_ACTIVE, Tables


def fold(name: str) -> str:
    """A name as osTicket's MySQL collation compares it: case-insensitively."""
    return name.casefold()


@dataclass(frozen=True)
class User:
    """A requester (an osTicket user) by name and e-mail; ``user_id`` when read from the help desk."""

    name: str
    email: str
    user_id: int | None = None


@dataclass(frozen=True)
class Topic:
    """A public, active help topic and the SLA osTicket gives a new ticket of it (its own, else its
    department's, else the system default; None when there is none)."""

    topic_id: int
    name: str
    expected_sla_id: int | None


@dataclass
class Directory:
    agents: dict[str, int]
    teams: dict[str, int]
    slas: dict[str, int]
    departments: dict[str, int]
    topics: dict[str, int]
    statuses: dict[str, int]
    priorities: dict[str, int]
    helpdesk_email: str
    users: list[User] = field(default_factory=list)
    public_topics: list[Topic] = field(default_factory=list)
    # a bare department name that several departments share -> their paths (the scenario must name one)
    ambiguous_departments: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def read(cls, conn: Any, t: Tables, users: int = 0) -> Directory:
        """Names and ids; with ``users`` > 0 also that many requesters and the public topics (for load runs)."""
        def pairs(sql: str) -> dict[str, int]:
            with cursor(conn) as cur:
                cur.execute(sql)
                return {str(row["name"]): int(row["id"]) for row in cur.fetchall()}

        with cursor(conn) as cur:
            cur.execute(f"SELECT e.email FROM {t.email} e JOIN {t.config} c ON c.namespace='core' "
                        "AND c.`key`='default_email_id' AND c.value = e.email_id")
            row = cur.fetchone()
        paths = department_paths(conn, t)
        departments, ambiguous = department_names(paths)
        directory = cls(
            agents=pairs(f"SELECT username AS name, staff_id AS id FROM {t.staff}"),
            teams=pairs(f"SELECT name, team_id AS id FROM {t.team}"),
            slas=pairs(f"SELECT name, id FROM {t.sla}"),
            departments=departments,
            topics=pairs(f"SELECT topic AS name, topic_id AS id FROM {t.help_topic}"),
            statuses=pairs(f"SELECT name, id FROM {t.ticket_status}"),
            priorities=pairs(f"SELECT priority_desc AS name, priority_id AS id FROM {t.ticket_priority}"),
            helpdesk_email=str(row["email"]) if row else "helpdesk@example.com",
            ambiguous_departments=ambiguous,
        )
        if users > 0:
            directory.users = read_users(conn, t, users)
            directory.public_topics = read_public_topics(conn, t)
        return directory

    def kinds(self) -> dict[str, dict[str, int]]:
        """Each kind of name a scenario may use, with its ids."""
        return {"agent": self.agents, "team": self.teams, "SLA": self.slas, "department": self.departments,
                "help topic": self.topics, "status": self.statuses, "priority": self.priorities}


DEPT_SEPARATOR = " / "  # as the seed writes a department's path: "Clinical Systems / Network"


def department_paths(conn: Any, t: Tables) -> dict[int, str]:
    """Department id -> its path of names from the top (``Clinical Systems / Network``), from ``pid``."""
    with cursor(conn) as cur:
        cur.execute(f"SELECT id, pid, name FROM {t.department}")
        rows = {int(r["id"]): (int(r["pid"] or 0), str(r["name"])) for r in cur.fetchall()}
    paths: dict[int, str] = {}
    for ident in rows:
        names, seen, probe = [], set(), ident
        while probe in rows and probe not in seen:  # a cycle in the database stops at its first repeat
            seen.add(probe)
            pid, name = rows[probe]
            names.append(name)
            probe = pid
        paths[ident] = DEPT_SEPARATOR.join(reversed(names))
    return paths


def department_names(paths: dict[int, str]) -> tuple[dict[str, int], dict[str, list[str]]]:
    """The names a scenario may use for departments: every path, and a bare name when one department has it;
    and the bare names several share, with their paths."""
    names: dict[str, int] = {path: ident for ident, path in sorted(paths.items())}
    by_name: dict[str, list[str]] = {}
    for path in sorted(paths.values()):
        by_name.setdefault(path.rsplit(DEPT_SEPARATOR, 1)[-1], []).append(path)
    ambiguous = {name: found for name, found in by_name.items() if len(found) > 1}
    for name, found in by_name.items():
        if len(found) == 1:
            names.setdefault(name, names[found[0]])
    return names, ambiguous


def read_users(conn: Any, t: Tables, limit: int) -> list[User]:
    with cursor(conn) as cur:
        cur.execute(f"SELECT u.id, u.name, e.address FROM {t.user} u JOIN {t.user_email} e "
                    f"ON e.id = u.default_email_id ORDER BY u.id LIMIT {int(limit)}")
        return [User(r["name"], r["address"], r["id"]) for r in cur.fetchall()]


def read_public_topics(conn: Any, t: Tables) -> list[Topic]:
    # The SLA osTicket gives a new ticket: the topic's, else its department's, else the system default.
    with cursor(conn) as cur:
        cur.execute(
            f"""SELECT tp.topic_id, tp.topic, COALESCE(ts.id, ds.id, cs.id) AS sla_id
                FROM {t.help_topic} tp
                LEFT JOIN {t.config} dd ON dd.namespace = 'core' AND dd.`key` = 'default_dept_id'
                LEFT JOIN {t.department} d ON d.id = IF(tp.dept_id > 0, tp.dept_id, dd.value)
                LEFT JOIN {t.config} dsla ON dsla.namespace = 'core' AND dsla.`key` = 'default_sla_id'
                LEFT JOIN {t.sla} ts ON ts.id = tp.sla_id AND tp.sla_id > 0
                LEFT JOIN {t.sla} ds ON ds.id = d.sla_id AND d.sla_id > 0
                LEFT JOIN {t.sla} cs ON cs.id = dsla.value
                WHERE tp.flags & {TOPIC_ACTIVE} AND tp.ispublic = 1 ORDER BY tp.topic_id""")
        return [Topic(r["topic_id"], r["topic"], r["sla_id"]) for r in cur.fetchall()]
