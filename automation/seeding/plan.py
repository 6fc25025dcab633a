"""Read osTicket's current configuration (one query per table) and diff it against a seed → a Plan.

Values are compared in *seed terms*: references are ``Ref(kind, natural key)`` on both sides (an id in the
database is turned back into its natural key), so a plan can name things that do not exist yet.
Natural keys compare case-insensitively, like osTicket's MySQL collation.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from automation.credentials import CredentialStore
from automation.errors import SeedError
from automation.osticket.db import cursor
from automation.osticket.directory import fold
from automation.osticket.schema import (
    ALERTS,
    DEPT_ACTIVE,
    SLA_ACTIVE,
    SLA_ESCALATE,
    SLA_NOALERTS,
    SLA_TRANSIENT,
    TEAM_ENABLED,
    TEAM_NOALERTS,
    TOPIC_ACTIVE,
    Tables,
)
from automation.seeding.models import DEPT_SEPARATOR, SeedFile
from automation.seeding.passwords import env_secret, verify_password
from automation.suggest import by_line, count, did_you_mean

SECRET = "********"

SETTING_KEYS = {
    "verify_email_addrs": "verify_email_addrs",
    "status_check_email_verification": "client_verify_email",
    "new_ticket_autoresponse": "ticket_autoresponder",
    "default_sla": "default_sla_id",
    "default_department": "default_dept_id",
    "default_schedule": "schedule_id",
    "default_priority": "default_priority_id",
}
# A boolean key missing from ost_config takes OsticketConfig::$defaults (include/class.config.php, v1.18.1);
# ticket_autoresponder has none there (Config::get gives null: off; the installer writes 0, i18n/en_US/config.yaml).
BOOL_SETTING_DEFAULTS = {"verify_email_addrs": True, "client_verify_email": True, "ticket_autoresponder": False}
SETTING_REFS = {"default_sla": "sla", "default_department": "dept", "default_schedule": "schedule",
                "default_priority": "priority"}
PERMISSION_ORDER = ["user.create", "user.delete", "user.edit", "user.manage", "user.dir", "org.create",
                    "org.delete", "org.edit", "faq.manage", "visibility.agents", "emails.banlist",
                    "visibility.departments", "stats.agents", "search.all"]


@dataclass(frozen=True)
class Ref:
    """A reference by natural key; equal when the keys are equal ignoring case."""

    kind: str
    key: str

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Ref) and self.kind == other.kind and fold(self.key) == fold(other.key)

    def __hash__(self) -> int:
        return hash((self.kind, fold(self.key)))

    def __str__(self) -> str:
        return self.key


def normalize_phone(value: str | None) -> str | None:
    """osTicket stores phones as digits, an extension after 'X' (``5551234567X12``)."""
    if value is None:
        return None
    match = re.match(r"^(.*?)(?:\s*(?:x|ext\.?)\s*([0-9]+))?$", value.strip(), re.IGNORECASE)
    main, ext = (match.group(1), match.group(2)) if match else (value, None)
    digits = re.sub(r"[^0-9]", "", main)
    return f"{digits}X{ext}" if ext else digits


def permissions_json(perms: frozenset[str]) -> str:
    if not perms:
        return ""
    ordered = sorted(perms, key=lambda p: (PERMISSION_ORDER.index(p) if p in PERMISSION_ORDER else 99, p))
    return json.dumps(dict.fromkeys(ordered, 1), separators=(",", ":"))


def parse_permissions(raw: str | None) -> frozenset[str]:
    if not raw:
        return frozenset()
    try:
        data = json.loads(raw)
    except ValueError:
        return frozenset()
    return frozenset(k for k, v in data.items() if v) if isinstance(data, dict) else frozenset()


# ---------------------------------------------------------------- state


@dataclass
class State:
    """osTicket's current configuration rows (DictCursor rows), one query per table."""

    slas: list[dict[str, Any]] = field(default_factory=list)
    depts: list[dict[str, Any]] = field(default_factory=list)
    staff: list[dict[str, Any]] = field(default_factory=list)
    dept_access: list[dict[str, Any]] = field(default_factory=list)
    teams: list[dict[str, Any]] = field(default_factory=list)
    team_members: list[dict[str, Any]] = field(default_factory=list)
    topics: list[dict[str, Any]] = field(default_factory=list)
    api_keys: list[dict[str, Any]] = field(default_factory=list)
    users: list[dict[str, Any]] = field(default_factory=list)
    user_emails: list[dict[str, Any]] = field(default_factory=list)
    user_phones: list[dict[str, Any]] = field(default_factory=list)
    orgs: list[dict[str, Any]] = field(default_factory=list)
    roles: list[dict[str, Any]] = field(default_factory=list)
    schedules: list[dict[str, Any]] = field(default_factory=list)
    priorities: list[dict[str, Any]] = field(default_factory=list)
    config: dict[str, str] = field(default_factory=dict)
    forms: dict[str, int] = field(default_factory=dict)  # form type ('U','T','O') → form id
    phone_field_id: int | None = None
    tables: set[str] = field(default_factory=set)

    # derived maps (filled by index())
    ids: dict[str, dict[str, int]] = field(default_factory=dict)   # kind → folded key → id
    keys: dict[str, dict[int, str]] = field(default_factory=dict)  # kind → id → key

    def index(self) -> State:
        self.ids, self.keys = {}, {}
        by_id = {int(d["id"]): d for d in self.depts}
        dept_keys: dict[int, str] = {}

        def dept_key(did: int, depth: int = 0) -> str:
            if did in dept_keys:
                return dept_keys[did]
            row = by_id[did]
            pid = int(row["pid"] or 0)
            key = row["name"]
            if pid and pid in by_id and depth < 50:
                key = dept_key(pid, depth + 1) + DEPT_SEPARATOR + row["name"]
            dept_keys[did] = key
            return key

        for did in by_id:
            dept_key(did)
        self._add("dept", dept_keys)
        self._add("sla", {int(r["id"]): r["name"] for r in self.slas})
        self._add("agent", {int(r["staff_id"]): r["username"] for r in self.staff})
        self._add("team", {int(r["team_id"]): r["name"] for r in self.teams})
        self._add("topic", {int(r["topic_id"]): r["topic"] for r in self.topics})
        self._add("org", {int(r["id"]): r["name"] for r in self.orgs})
        self._add("role", {int(r["id"]): r["name"] for r in self.roles})
        self._add("schedule", {int(r["id"]): r["name"] for r in self.schedules})
        self._add("priority", {int(r["priority_id"]): r["priority"] for r in self.priorities})
        for r in self.priorities:  # 'Emergency' (the description) works too
            self.ids["priority"].setdefault(fold(r["priority_desc"] or r["priority"]), int(r["priority_id"]))
        return self

    def _add(self, kind: str, keys: dict[int, str]) -> None:
        self.keys[kind] = keys
        ids: dict[str, int] = {}
        for ident, key in sorted(keys.items()):
            ids.setdefault(fold(key), ident)
        self.ids[kind] = ids

    def ref(self, kind: str, ident: Any) -> Ref | None:
        if not ident:
            return None
        key = self.keys.get(kind, {}).get(int(ident))
        return Ref(kind, key if key is not None else f"#{ident}")

    def lookup(self, kind: str, key: str) -> int | None:
        return self.ids.get(kind, {}).get(fold(key))


def read_state(conn: Any, tables: Tables) -> State:
    t = tables
    s = State()
    with cursor(conn) as cur:
        def rows(sql: str, args: Any = None) -> list[dict[str, Any]]:
            cur.execute(sql, args)
            return list(cur.fetchall())

        s.slas = rows(f"SELECT id, schedule_id, flags, grace_period, name, notes FROM {t.sla}")
        s.depts = rows(f"SELECT id, pid, name, sla_id, schedule_id, manager_id, flags, ispublic, path "
                       f"FROM {t.department}")
        s.staff = rows(f"SELECT staff_id, dept_id, role_id, username, firstname, lastname, email, passwd, "
                       f"isactive, isadmin, onvacation, assigned_only, permissions FROM {t.staff}")
        s.dept_access = rows(f"SELECT staff_id, dept_id, role_id, flags FROM {t.staff_dept_access}")
        s.teams = rows(f"SELECT team_id, lead_id, flags, name, notes FROM {t.team}")
        s.team_members = rows(f"SELECT team_id, staff_id, flags FROM {t.team_member}")
        s.topics = rows(f"SELECT topic_id, topic_pid, ispublic, flags, priority_id, dept_id, sla_id, sort, "
                        f"topic, notes FROM {t.help_topic}")
        s.api_keys = rows(f"SELECT id, isactive, ipaddr, apikey, can_create_tickets, can_exec_cron, notes "
                          f"FROM {t.api_key}")
        s.users = rows(f"SELECT id, org_id, default_email_id, name FROM {t.user}")
        s.user_emails = rows(f"SELECT id, user_id, address FROM {t.user_email}")
        s.orgs = rows(f"SELECT id, name FROM {t.organization}")
        s.roles = rows(f"SELECT id, name FROM {t.role}")
        s.schedules = rows(f"SELECT id, name FROM {t.schedule}")
        s.priorities = rows(f"SELECT priority_id, priority, priority_desc FROM {t.ticket_priority}")
        s.config = {r["key"]: r["value"] for r in rows(
            f"SELECT `key`, value FROM {t.config} WHERE namespace = 'core' AND `key` IN "
            f"({', '.join(['%s'] * (len(SETTING_KEYS) + 1))})", [*SETTING_KEYS.values(), "topic_sort_mode"])}
        forms = rows(f"SELECT id, type FROM {t.form} WHERE type IN ('U', 'T', 'O') ORDER BY id")
        for form in forms:
            s.forms.setdefault(form["type"], int(form["id"]))
        if "U" in s.forms:
            phone = rows(f"SELECT id FROM {t.form_field} WHERE form_id = %s AND name = 'phone' ORDER BY id",
                         [s.forms["U"]])
            s.phone_field_id = int(phone[0]["id"]) if phone else None
            if s.phone_field_id:
                s.user_phones = rows(
                    f"SELECT e.object_id AS user_id, e.id AS entry_id, v.value AS phone, "
                    f"v.field_id IS NOT NULL AS has_value FROM {t.form_entry} e "
                    f"LEFT JOIN {t.form_entry_values} v ON v.entry_id = e.id AND v.field_id = %s "
                    f"WHERE e.object_type = 'U' AND e.form_id = %s ORDER BY e.id",
                    [s.phone_field_id, s.forms["U"]])
        s.tables = {r["name"] for r in rows(
            "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = DATABASE() "
            "AND table_name = %s", [f"{t.prefix}user__cdata"])}
    return s.index()


# ---------------------------------------------------------------- plan


@dataclass
class Change:
    kind: str
    key: str
    action: str  # create | update | unchanged
    fields: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    row_id: int | None = None
    target: dict[str, Any] = field(default_factory=dict)
    row: dict[str, Any] = field(default_factory=dict)
    secret: str | None = None         # a password or API key to write (never shown)
    store_secret: bool = False        # keep it in the credentials file (not from the environment)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "key": self.key, "action": self.action}
        if self.action == "create":
            out["fields"] = {k: show(new) for k, (_, new) in self.fields.items()}
        elif self.action == "update":
            out["fields"] = {k: {"from": show(old), "to": show(new)} for k, (old, new) in self.fields.items()}
        return out

    def describe(self) -> str:
        if self.action == "unchanged":
            return f"  unchanged {self.kind} {self.key!r}"
        if self.action == "create":
            return f"+ create {self.kind} {self.key!r}"
        parts = ", ".join(f"{k}: {show_text(old)} → {show_text(new)}" for k, (old, new) in self.fields.items())
        return f"~ update {self.kind} {self.key!r}: {parts}"


def show(value: Any) -> Any:
    if isinstance(value, Ref):
        return value.key
    if isinstance(value, frozenset | set):
        return sorted((show(v) for v in value), key=lambda v: json.dumps(v, default=str).casefold())
    if isinstance(value, tuple):
        return [show(v) for v in value]
    return value


def show_text(value: Any) -> str:
    return json.dumps(show(value), ensure_ascii=False, default=str)


@dataclass
class Plan:
    entries: list[Change] = field(default_factory=list)
    # link-table work the apply step does (references resolved at apply time)
    access_add: list[tuple[Ref, Ref, Ref, bool]] = field(default_factory=list)
    access_update: list[tuple[Ref, Ref, Ref, bool]] = field(default_factory=list)
    access_remove: list[tuple[Ref, Ref]] = field(default_factory=list)
    members_add: list[tuple[Ref, Ref]] = field(default_factory=list)
    members_remove: list[tuple[Ref, Ref]] = field(default_factory=list)
    topic_sort_alpha: bool = True
    seconds: float = 0.0

    def _count(self, action: str) -> int:
        return sum(1 for c in self.entries if c.action == action)

    @property
    def create(self) -> int:
        return self._count("create")

    @property
    def update(self) -> int:
        return self._count("update")

    @property
    def unchanged(self) -> int:
        return self._count("unchanged")

    @property
    def changes(self) -> list[Change]:
        return [c for c in self.entries if c.action != "unchanged"]

    def to_json(self) -> dict[str, Any]:
        return {"create": self.create, "update": self.update, "unchanged": self.unchanged,
                "changes": [c.to_json() for c in self.changes]}

    def lines(self, verbose: bool = True) -> list[str]:
        return [c.describe() for c in self.entries if verbose or c.action != "unchanged"]

    def summary(self) -> str:
        return f"{self.create} to create, {self.update} to update, {self.unchanged} unchanged"


def _diff(current: dict[str, Any], desired: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    return {k: (current.get(k), v) for k, v in desired.items() if current.get(k) != v}


def _set(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


class _Planner:
    def __init__(self, seed: SeedFile, state: State, store: CredentialStore) -> None:
        self.seed = seed
        self.state = state
        self.store = store
        self.plan = Plan(topic_sort_alpha=(state.config.get("topic_sort_mode") or "a") == "a")
        self.problems: list[str] = []
        self.file_keys: dict[str, set[str]] = {
            "sla": {fold(s.name) for s in seed.slas},
            "dept": {fold(d.key) for d in seed.departments},
            "agent": {fold(a.username) for a in seed.agents},
            "team": {fold(t.name) for t in seed.teams},
            "topic": {fold(t.name) for t in seed.help_topics},
        }

    WHAT = {"sla": "SLA", "dept": "department", "agent": "agent", "team": "team", "topic": "help topic",
            "role": "role", "schedule": "schedule", "priority": "priority"}

    def ref(self, kind: str, key: str | None, path: str) -> Ref | None:
        if key is None:
            return None
        if fold(key) not in self.file_keys.get(kind, set()) and self.state.lookup(kind, key) is None:
            hint = ""
            known = sorted(set(self.state.keys.get(kind, {}).values()))
            hint = did_you_mean(key, [*known, *self.file_keys.get(kind, set())])
            if kind in ("role", "schedule", "priority") and known:
                hint += f" (known: {', '.join(known)})"
            self.problems.append(f"{self.seed.where(path)}: unknown {self.WHAT[kind]} {key!r}{hint}")
        return Ref(kind, key)

    def entry(self, kind: str, key: str, row: dict[str, Any] | None, row_id: int | None,
              current: dict[str, Any], desired: dict[str, Any], defaults: dict[str, Any]) -> Change:
        if row is None:
            target = {**defaults, **desired}
            change = Change(kind, key, "create", {k: (None, v) for k, v in target.items()}, None, target, {})
        else:
            fields = _diff(current, desired)
            change = Change(kind, key, "update" if fields else "unchanged", fields, row_id,
                            {**current, **desired}, row)
        self.plan.entries.append(change)
        return change

    # -- entities

    def slas(self) -> None:
        rows = {fold(r["name"]): r for r in self.state.slas}
        for i, sla in enumerate(self.seed.slas):
            p = f"slas[{i}]"
            row = rows.get(fold(sla.name))
            desired = _set({
                "name": sla.name, "grace_hours": sla.grace_hours,
                "schedule": self.ref("schedule", sla.schedule, f"{p}.schedule"),
                "active": sla.active, "escalate": sla.escalate, "transient": sla.transient,
                "no_alerts": sla.no_alerts, "notes": sla.notes,
            })
            current: dict[str, Any] = {}
            if row:
                flags = int(row["flags"])
                current = {"name": row["name"], "grace_hours": int(row["grace_period"]),
                           "schedule": self.state.ref("schedule", row["schedule_id"]),
                           "active": bool(flags & SLA_ACTIVE), "escalate": bool(flags & SLA_ESCALATE),
                           "transient": bool(flags & SLA_TRANSIENT), "no_alerts": bool(flags & SLA_NOALERTS),
                           "notes": row["notes"] or ""}
            defaults = {"schedule": None, "active": True, "escalate": False, "transient": False,
                        "no_alerts": False, "notes": ""}
            self.entry("sla", sla.name, row, int(row["id"]) if row else None, current, desired, defaults)

    def depts(self) -> None:
        rows = {fold(key): int(ident) for ident, key in self.state.keys["dept"].items()}
        by_id = {int(r["id"]): r for r in self.state.depts}
        default_dept = self.seed.settings.default_department if self.seed.settings else None
        current_default = self.state.ref("dept", self.state.config.get("default_dept_id"))
        for i, dept in enumerate(self.seed.departments):
            p = f"departments[{i}]"
            ident = rows.get(fold(dept.key))
            row = by_id.get(ident) if ident else None
            desired = _set({
                "name": dept.name,
                "parent": self.ref("dept", dept.parent, f"{p}.parent"),
                "sla": self.ref("sla", dept.sla, f"{p}.sla"),
                "schedule": self.ref("schedule", dept.schedule, f"{p}.schedule"),
                "manager": self.ref("agent", dept.manager, f"{p}.manager"),
                "public": dept.public, "active": dept.active,
            })
            is_default = (fold(default_dept) == fold(dept.key)) if default_dept else (
                current_default is not None and current_default == Ref("dept", dept.key))
            if is_default and dept.public is False:
                self.problems.append(f"{self.seed.where(f'{p}.public')}: the default department cannot be private")
            if is_default and dept.active is False:
                self.problems.append(f"{self.seed.where(f'{p}.active')}: the default department must be active")
            current: dict[str, Any] = {}
            if row:
                flags = int(row["flags"])
                current = {"name": row["name"], "parent": self.state.ref("dept", row["pid"]),
                           "sla": self.state.ref("sla", row["sla_id"]),
                           "schedule": self.state.ref("schedule", row["schedule_id"]),
                           "manager": self.state.ref("agent", row["manager_id"]),
                           "public": bool(row["ispublic"]), "active": bool(flags & DEPT_ACTIVE)}
            defaults = {"parent": None, "sla": None, "schedule": None, "manager": None, "public": True,
                        "active": True}
            self.entry("department", dept.key, row, ident, current, desired, defaults)
        self._check_cycles("department", {d.key: d.parent for d in self.seed.departments}, "departments")

    def _check_cycles(self, what: str, parents: dict[str, str | None], section: str) -> None:
        folded = {fold(k): (fold(v) if v else None) for k, v in parents.items()}
        for i, key in enumerate(parents):
            seen, probe = {fold(key)}, folded.get(fold(key))
            while probe is not None and probe in folded:
                if probe in seen:
                    self.problems.append(f"{self.seed.where(f'{section}[{i}].parent')}: {what} parents form a cycle")
                    break
                seen.add(probe)
                probe = folded[probe]

    def agents(self) -> None:
        by_name = {fold(r["username"]): r for r in self.state.staff}
        access_now: dict[int, dict[int, dict[str, Any]]] = {}
        for r in self.state.dept_access:
            access_now.setdefault(int(r["staff_id"]), {})[int(r["dept_id"])] = r
        emails = {fold(r["email"] or ""): r["username"] for r in self.state.staff}
        for i, agent in enumerate(self.seed.agents):
            p = f"agents[{i}]"
            row = by_name.get(fold(agent.username))
            other = emails.get(fold(agent.email))
            if other is not None and fold(other) != fold(agent.username) and fold(other) not in self.file_keys["agent"]:
                self.problems.append(f"{self.seed.where(f'{p}.email')}: {agent.email!r} is already used by agent "
                                     f"{other!r}")
            primary = self.ref("dept", agent.department, f"{p}.department")
            access = None
            if agent.access is not None:
                access = frozenset(
                    (self.ref("dept", a.department, f"{p}.access[{j}].department"),
                     self.ref("role", a.role, f"{p}.access[{j}].role"), a.alerts)
                    for j, a in enumerate(agent.access))
            for j, team in enumerate(agent.teams or []):
                self.ref("team", team, f"{p}.teams[{j}]")
            desired = _set({
                "first_name": agent.first_name, "last_name": agent.last_name, "email": agent.email,
                "department": primary, "role": self.ref("role", agent.role, f"{p}.role"),
                "admin": agent.admin, "active": agent.active, "on_vacation": agent.on_vacation,
                "assigned_only": agent.assigned_only,
                "permissions": frozenset(agent.permissions) if agent.permissions is not None else None,
                "access": access,
            })
            current: dict[str, Any] = {}
            current_access: dict[int, dict[str, Any]] = {}
            if row:
                current_access = access_now.get(int(row["staff_id"]), {})
                current = {
                    "first_name": row["firstname"] or "", "last_name": row["lastname"] or "",
                    "email": row["email"] or "", "department": self.state.ref("dept", row["dept_id"]),
                    "role": self.state.ref("role", row["role_id"]), "admin": bool(row["isadmin"]),
                    "active": bool(row["isactive"]), "on_vacation": bool(row["onvacation"]),
                    "assigned_only": bool(row["assigned_only"]),
                    "permissions": parse_permissions(row["permissions"]),
                    "access": frozenset((self.state.ref("dept", d), self.state.ref("role", a["role_id"]),
                                         bool(int(a["flags"]) & ALERTS)) for d, a in current_access.items()),
                }
            # password: the environment, else the credentials file, else (new agents) generated at apply
            from_env = env_secret(agent.password_env)
            password = from_env or self.store.agent(agent.username)
            if row and password and not verify_password(password, row["passwd"]):
                desired["password"] = SECRET
                current["password"] = "(other)"
            defaults = {"admin": False, "active": True, "on_vacation": False, "assigned_only": False,
                        "permissions": frozenset(), "access": frozenset()}
            change = self.entry("agent", agent.username, row, int(row["staff_id"]) if row else None, current, desired,
                                defaults)
            if change.action == "create" or "password" in change.fields:
                change.secret = password
                change.store_secret = from_env is None
            self._plan_access(agent.username, row is not None, current_access, desired, change)

    def _plan_access(self, username: str, exists: bool, current_rows: dict[int, dict[str, Any]],
                     desired: dict[str, Any], change: Change) -> None:
        agent = Ref("agent", username)
        primary: Ref | None = change.target.get("department")
        now: dict[Any, tuple[Any, bool]] = {
            self.state.ref("dept", d): (self.state.ref("role", r["role_id"]), bool(int(r["flags"]) & ALERTS))
            for d, r in current_rows.items()}
        want: dict[Any, tuple[Any, bool]] = (
            {d: (r, al) for d, r, al in desired["access"]} if "access" in desired else dict(now))
        if primary is not None:  # osTicket never lists the primary department as extended access
            want.pop(primary, None)
        for dept, (role, alerts) in want.items():
            if dept not in now:
                self.plan.access_add.append((agent, dept, role, alerts))
            elif now[dept] != (role, alerts):
                self.plan.access_update.append((agent, dept, role, alerts))
        for dept in now:
            if dept not in want and dept is not None:
                self.plan.access_remove.append((agent, dept))
        if exists and "access" not in change.fields and primary in now:
            change.fields["access"] = (frozenset(now.items()), frozenset(want.items()))
            if change.action == "unchanged":
                change.action = "update"

    def teams(self) -> None:
        rows = {fold(r["name"]): r for r in self.state.teams}
        members_now: dict[Ref, set[Ref]] = {}
        for r in self.state.team_members:
            t_ref, a_ref = self.state.ref("team", r["team_id"]), self.state.ref("agent", r["staff_id"])
            if t_ref is not None and a_ref is not None:
                members_now.setdefault(t_ref, set()).add(a_ref)
        listed: dict[Ref, set[Ref]] = {}       # team → agents whose `teams` names it
        explicit_agents: set[Ref] = set()      # agents with a `teams` list (the complete list)
        for agent in self.seed.agents:
            if agent.teams is not None:
                explicit_agents.add(Ref("agent", agent.username))
                for team_name in agent.teams:
                    listed.setdefault(Ref("team", team_name), set()).add(Ref("agent", agent.username))
        file_teams = {Ref("team", t.name): t for t in self.seed.teams}
        every_team = set(file_teams) | set(listed) | {t for t in members_now if members_now[t] & explicit_agents}
        desired_members: dict[Ref, set[Ref]] = {}
        for team_ref in every_team:
            spec = file_teams.get(team_ref)
            now = members_now.get(team_ref, set())
            if spec is not None and spec.members is not None:
                want = {Ref("agent", m) for m in spec.members}
            else:
                want = {a for a in now if a not in explicit_agents}
            want |= listed.get(team_ref, set())
            desired_members[team_ref] = want
            for member in sorted(want - now, key=str):
                self.plan.members_add.append((team_ref, member))
            for member in sorted(now - want, key=str):
                self.plan.members_remove.append((team_ref, member))
        for i, team in enumerate(self.seed.teams):
            p = f"teams[{i}]"
            row = rows.get(fold(team.name))
            for j, username in enumerate(team.members or []):
                self.ref("agent", username, f"{p}.members[{j}]")
            team_ref = Ref("team", team.name)
            desired = _set({
                "name": team.name, "lead": self.ref("agent", team.lead, f"{p}.lead"),
                "enabled": team.enabled, "alerts": team.alerts, "notes": team.notes,
                "members": frozenset(desired_members.get(team_ref, set())),
            })
            current: dict[str, Any] = {}
            if row:
                flags = int(row["flags"])
                current = {"name": row["name"], "lead": self.state.ref("agent", row["lead_id"]),
                           "enabled": bool(flags & TEAM_ENABLED), "alerts": not flags & TEAM_NOALERTS,
                           "notes": row["notes"] or "",
                           "members": frozenset(members_now.get(team_ref, set()))}
            defaults = {"lead": None, "enabled": True, "alerts": True, "notes": ""}
            self.entry("team", team.name, row, int(row["team_id"]) if row else None, current, desired, defaults)
        # membership of teams the file does not list is shown on the agents that name them
        outside = {t for t in every_team if t not in file_teams}
        if outside:
            agent_changes = {Ref("agent", c.key): c for c in self.plan.entries if c.kind == "agent"}
            for team_ref in outside:
                now = members_now.get(team_ref, set())
                for member in desired_members[team_ref] ^ now:
                    change = agent_changes.get(member)
                    if change is None or change.action == "create":
                        continue
                    old, new = change.fields.get("teams", (frozenset(), frozenset()))
                    if member in now:
                        old = old | {team_ref}
                    else:
                        new = new | {team_ref}
                    change.fields["teams"] = (old, new)
                    change.action = "update"

    def topics(self) -> None:
        rows = {fold(r["topic"]): r for r in sorted(self.state.topics, key=lambda r: int(r["topic_id"]))[::-1]}
        for i, topic in enumerate(self.seed.help_topics):
            p = f"help_topics[{i}]"
            row = rows.get(fold(topic.name))
            desired = _set({
                "name": topic.name, "parent": self.ref("topic", topic.parent, f"{p}.parent"),
                "department": self.ref("dept", topic.department, f"{p}.department"),
                "sla": self.ref("sla", topic.sla, f"{p}.sla"),
                "priority": self.ref("priority", topic.priority, f"{p}.priority"),
                "public": topic.public, "active": topic.active, "notes": topic.notes,
            })
            current: dict[str, Any] = {}
            if row:
                flags = int(row["flags"])
                current = {"name": row["topic"], "parent": self.state.ref("topic", row["topic_pid"]),
                           "department": self.state.ref("dept", row["dept_id"]),
                           "sla": self.state.ref("sla", row["sla_id"]),
                           "priority": self.state.ref("priority", row["priority_id"]),
                           "public": bool(row["ispublic"]), "active": bool(flags & TOPIC_ACTIVE),
                           "notes": row["notes"] or ""}
                if "priority" in desired and current["priority"] is not None:
                    # compare priorities by id: 'emergency' and 'Emergency' are the same row
                    pid = self.state.lookup("priority", desired["priority"].key)
                    if pid is not None and pid == int(row["priority_id"]):
                        desired["priority"] = current["priority"]
            defaults = {"parent": None, "department": None, "sla": None, "priority": None, "public": True,
                        "active": True, "notes": ""}
            self.entry("help topic", topic.name, row, int(row["topic_id"]) if row else None, current, desired, defaults)
        self._check_cycles("help topic", {t.name: t.parent for t in self.seed.help_topics}, "help_topics")

    def api_keys(self) -> None:
        rows = {r["ipaddr"]: r for r in self.state.api_keys}
        for key in self.seed.api_keys:
            row = rows.get(key.ip)
            desired = _set({"active": key.active, "can_create_tickets": key.can_create_tickets,
                            "can_exec_cron": key.can_exec_cron, "notes": key.notes})
            current: dict[str, Any] = {}
            from_env = env_secret(key.key_env)
            if row:
                current = {"active": bool(row["isactive"]), "can_create_tickets": bool(row["can_create_tickets"]),
                           "can_exec_cron": bool(row["can_exec_cron"]), "notes": row["notes"] or ""}
                if from_env and from_env != row["apikey"]:
                    desired["key"], current["key"] = SECRET, "(other)"
            defaults = {"active": True, "can_create_tickets": True, "can_exec_cron": False, "notes": ""}
            change = self.entry("api key", key.ip, row, int(row["id"]) if row else None, current, desired, defaults)
            if change.action == "create" or "key" in change.fields:
                change.secret = from_env or self.store.api_key(key.ip)
                change.store_secret = from_env is None

    def users(self) -> None:
        emails = {fold(r["address"]): int(r["user_id"]) for r in self.state.user_emails}
        by_id = {int(r["id"]): r for r in self.state.users}
        phones: dict[int, dict[str, Any]] = {}
        for r in self.state.user_phones:
            phones.setdefault(int(r["user_id"]), r)
        orgs: dict[str, str] = {}
        for user in self.seed.users:
            if user.organization:
                orgs.setdefault(fold(user.organization), user.organization)
        for name in orgs.values():
            if self.state.lookup("org", name) is None:
                self.plan.entries.append(Change("organization", name, "create", {"name": (None, name)}, None,
                                                {"name": name}))
            else:  # named by users only: nothing of it to change, but it is part of the seed's picture
                self.plan.entries.append(Change("organization", name, "unchanged"))
        for user in self.seed.users:
            uid = emails.get(fold(user.email))
            row = by_id.get(uid) if uid else None
            desired = _set({"name": user.name, "phone": normalize_phone(user.phone),
                            "organization": Ref("org", user.organization) if user.organization else None})
            current: dict[str, Any] = {}
            if row:
                phone = phones.get(int(row["id"]), {})
                current = {"name": row["name"], "phone": phone.get("phone") or "",
                           "organization": self.state.ref("org", row["org_id"])}
            defaults = {"phone": None, "organization": None}
            self.entry("user", user.email, row, uid, current, desired, defaults)

    def settings(self) -> None:
        settings = self.seed.settings
        if settings is None:
            return
        for name, value in settings.model_dump(exclude_none=True).items():
            config_key = SETTING_KEYS[name]
            raw = self.state.config.get(config_key)
            if config_key in BOOL_SETTING_DEFAULTS:
                current: Any = BOOL_SETTING_DEFAULTS[config_key] if raw is None else raw not in ("0", "")
                desired: Any = bool(value)
            else:
                kind = SETTING_REFS[name]
                current = self.state.ref(kind, raw) if raw and str(raw).isdigit() else None
                desired = self.ref(kind, value, f"settings.{name}")
                if kind == "priority" and current is not None and raw is not None \
                        and self.state.lookup("priority", value) == int(raw):
                    desired = current
            change = Change("setting", name, "unchanged" if current == desired else "update",
                            {} if current == desired else {"value": (current, desired)},
                            None, {"value": desired}, {"key": config_key})
            self.plan.entries.append(change)

    def run(self) -> Plan:
        self.settings()
        self.slas()
        self.depts()
        self.agents()
        self.teams()
        self.topics()
        self.api_keys()
        self.users()
        if self.problems:
            raise SeedError(f"{self.seed._source}: {count(len(self.problems))}", problems=by_line(self.problems))
        return self.plan


def diff(seed: SeedFile, state: State, store: CredentialStore | None = None) -> Plan:
    """The pure part of planning: raises SeedError listing every unresolved reference."""
    return _Planner(seed, state, store or CredentialStore(None)).run()


def plan_seed(conn: Any, tables: Tables, seed: SeedFile, credentials: CredentialStore | None = None) -> Plan:
    return diff(seed, read_state(conn, tables), credentials)
