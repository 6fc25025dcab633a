"""Generate a large seed organization (for the performance acceptance test)."""

from __future__ import annotations

from typing import Any

import yaml


def large_org(agents: int = 100, teams: int = 20, departments: int = 20, slas: int = 10,
              prefix: str = "Perf") -> dict[str, Any]:
    """A seed document: ``departments`` departments (half of them nested), ``slas`` SLAs, ``agents`` agents
    spread over the departments with extra access, ``teams`` teams of five members each."""
    sla_names = [f"{prefix} SLA {i:02d}" for i in range(slas)]
    top = [f"{prefix} Dept {i:02d}" for i in range(departments // 2)]
    nested = [f"{top[i % len(top)]} / {prefix} Unit {i:02d}" for i in range(departments - len(top))]
    dept_docs: list[dict[str, Any]] = [
        {"name": name, "sla": sla_names[i % slas], "public": True, "active": True} for i, name in enumerate(top)]
    for i, path in enumerate(nested):
        parent, name = path.rsplit(" / ", 1)
        dept_docs.append({"name": name, "parent": parent, "sla": sla_names[(i + 3) % slas],
                          "schedule": "24/7" if i % 2 else None})
    all_depts = top + nested
    usernames = [f"{prefix.lower()}.agent{i:03d}" for i in range(agents)]
    team_names = [f"{prefix} Team {i:02d}" for i in range(teams)]
    agent_docs = []
    for i, username in enumerate(usernames):
        primary = all_depts[i % len(all_depts)]
        extra = all_depts[(i + 1) % len(all_depts)]
        agent_docs.append({
            "username": username, "first_name": f"Agent{i:03d}", "last_name": prefix,
            "email": f"{username}@example.com", "department": primary, "role": "Expanded Access",
            "access": [{"department": extra, "role": "Limited Access", "alerts": i % 2 == 0}],
            "active": True, "permissions": ["user.dir", "visibility.agents"],
        })
    team_docs = []
    for i, name in enumerate(team_names):
        members = [usernames[(i * 5 + k) % agents] for k in range(5)]
        team_docs.append({"name": name, "lead": members[0], "members": members, "enabled": True})
    return {
        "version": 1,
        "slas": [{"name": n, "grace_hours": 1 + 2 * i, "schedule": "24/7" if i % 2 else None, "active": True}
                 for i, n in enumerate(sla_names)],
        "departments": [{k: v for k, v in d.items() if v is not None} for d in dept_docs],
        "agents": agent_docs,
        "teams": team_docs,
    }


def large_org_yaml(**kwargs: Any) -> str:
    return yaml.safe_dump(large_org(**kwargs), sort_keys=False)
