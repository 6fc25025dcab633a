"""The help desk's names and ids, read once per run (one query per table), and checked against a scenario."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from automation.errors import ScenarioError
from automation.osticket.db import Tables, cursor
from automation.scenarios.loader import LoadedScenario
from automation.scenarios.models import REQUESTER


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

    @classmethod
    def read(cls, conn: Any, t: Tables) -> Directory:
        def pairs(sql: str) -> dict[str, int]:
            with cursor(conn) as cur:
                cur.execute(sql)
                return {str(row["name"]): int(row["id"]) for row in cur.fetchall()}

        with cursor(conn) as cur:
            cur.execute(f"SELECT e.email FROM {t.email} e JOIN {t.config} c ON c.namespace='core' "
                        "AND c.`key`='default_email_id' AND c.value = e.email_id")
            row = cur.fetchone()
        return cls(
            agents=pairs(f"SELECT username AS name, staff_id AS id FROM {t.staff}"),
            teams=pairs(f"SELECT name, team_id AS id FROM {t.team}"),
            slas=pairs(f"SELECT name, id FROM {t.sla}"),
            departments=pairs(f"SELECT name, id FROM {t.department}"),
            topics=pairs(f"SELECT topic AS name, topic_id AS id FROM {t.help_topic}"),
            statuses=pairs(f"SELECT name, id FROM {t.ticket_status}"),
            priorities=pairs(f"SELECT priority_desc AS name, priority_id AS id FROM {t.ticket_priority}"),
            helpdesk_email=str(row["email"]) if row else "helpdesk@example.com",
        )

    def check(self, loaded: LoadedScenario) -> None:
        """Every agent, team, SLA, department, topic and status the scenario names must exist."""
        problems: list[str] = []
        where = loaded.located.where

        def need(kind: str, value: str | None, table: dict[str, int], path: tuple[str | int, ...]) -> None:
            if value is not None and value != "none" and value not in table:
                known = ", ".join(sorted(table)[:12])
                problems.append(f"{where(path)}: unknown {kind} {value!r} (known: {known})")

        for ti, ticket in enumerate(loaded.scenario.tickets):
            need("help topic", ticket.topic, self.topics, ("tickets", ti, "topic"))
            need("priority", ticket.priority, self.priorities, ("tickets", ti, "priority"))
            need("priority", ticket.expect.priority, self.priorities, ("tickets", ti, "expect", "priority"))
            for si, step in enumerate(ticket.steps):
                base = ("tickets", ti, "steps", si)
                if step.actor != REQUESTER:
                    need("agent", step.actor, self.agents, (*base, "as"))
                for attr, kind, table in (("agent", "agent", self.agents), ("team", "team", self.teams),
                                          ("sla", "SLA", self.slas), ("department", "department", self.departments),
                                          ("status", "status", self.statuses),
                                          ("priority", "priority", self.priorities)):
                    need(kind, getattr(step, attr, None), table, (*base, attr))
            exp = ticket.expect
            need("agent", exp.agent, self.agents, ("tickets", ti, "expect", "agent"))
            need("team", exp.team, self.teams, ("tickets", ti, "expect", "team"))
            need("SLA", exp.sla, self.slas, ("tickets", ti, "expect", "sla"))
            need("department", exp.department, self.departments, ("tickets", ti, "expect", "department"))
            for ei, entry in enumerate(exp.entries_in_order):
                if entry.by not in (None, REQUESTER):
                    need("agent", entry.by, self.agents, ("tickets", ti, "expect", "entries_in_order", ei, "by"))
        if problems:
            raise ScenarioError(f"{loaded.path}: {len(problems)} unknown name(s); nothing was run", problems)
