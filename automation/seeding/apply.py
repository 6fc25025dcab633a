"""Apply a Plan through osTicket's database in ONE transaction: the whole file applies or nothing does.

Keeps the invariants osTicket's admin forms keep: bcrypt hashes, the agent permissions JSON and
``extra.def_assn_role``, ``staff_dept_access`` beside (never including) the primary department, department
``path`` and flags, ``team_member`` rows, the help topic's link to the Ticket Details form (and the
alphabetical topic sort order), user e-mail / default e-mail / Contact Information form entry, and the
created/updated timestamps. Table names come from the instance's prefix.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pymysql

from automation.credentials import CredentialStore
from automation.errors import ConfigError
from automation.instance import Instance
from automation.newsecrets import new_api_key, new_password
from automation.osticket import runfield
from automation.osticket.db import CONNECT_TIMEOUT, DatabaseError, connect
from automation.osticket.schema import (
    ALERTS,
    DEPT_ACTIVE,
    DEPT_ARCHIVED,
    SLA_ACTIVE,
    SLA_ESCALATE,
    SLA_NOALERTS,
    SLA_TRANSIENT,
    TEAM_ENABLED,
    TEAM_NOALERTS,
    TOPIC_ACTIVE,
    TOPIC_ARCHIVED,
    Tables,
)
from automation.seeding.models import DEPT_SEPARATOR, SeedFile
from automation.seeding.passwords import hash_password
from automation.seeding.plan import (
    SETTING_KEYS,
    Change,
    Plan,
    Ref,
    State,
    diff,
    fold,
    permissions_json,
    read_state,
)


def _bits(flags: int, pairs: list[tuple[int, bool | None]]) -> int:
    for bit, on in pairs:
        if on is None:
            continue
        flags = flags | bit if on else flags & ~bit
    return flags


class _Applier:
    def __init__(self, cur: Any, tables: Tables, plan: Plan, state: State, store: CredentialStore) -> None:
        self.cur = cur
        self.t = tables
        self.plan = plan
        self.state = state
        self.store = store
        self.ids: dict[str, dict[str, int]] = {k: dict(v) for k, v in state.ids.items()}
        self.paths: dict[int, str] = {int(d["id"]): d["path"] or f"/{d['id']}/" for d in state.depts}

    # -- helpers

    def id_of(self, ref: Ref | None) -> int:
        if ref is None:
            return 0
        try:
            return self.ids[ref.kind][fold(ref.key)]
        except KeyError:
            raise DatabaseError(f"internal error: {ref.kind} {ref.key!r} was not resolved") from None

    def insert(self, table: str, values: dict[str, Any], now: tuple[str, ...] = ("created", "updated")) -> int:
        cols = [f"`{c}`" for c in values] + [f"`{c}`" for c in now]
        marks = ["%s"] * len(values) + ["NOW()"] * len(now)
        self.cur.execute(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join(marks)})",
                         list(values.values()))
        return int(self.cur.lastrowid)

    def update(self, table: str, key: str, ident: int, values: dict[str, Any], stamp: bool = True) -> None:
        if not values:
            return
        sets = [f"`{c}` = %s" for c in values] + (["`updated` = NOW()"] if stamp else [])
        self.cur.execute(f"UPDATE {table} SET {', '.join(sets)} WHERE `{key}` = %s", [*values.values(), ident])

    def changes(self, kind: str, action: str | None = None) -> list[Change]:
        return [c for c in self.plan.entries if c.kind == kind and c.action != "unchanged"
                and (action is None or c.action == action)]

    # -- entities

    def organizations(self) -> None:
        for change in self.changes("organization", "create"):
            ident = self.insert(self.t.organization, {"name": change.key, "manager": "", "status": 8,
                                                      "domain": "", "extra": None})
            self.ids.setdefault("org", {})[fold(change.key)] = ident
            if "O" in self.state.forms:
                self.insert(self.t.form_entry, {"form_id": self.state.forms["O"], "object_id": ident,
                                                "object_type": "O", "sort": 1, "extra": None})

    def slas(self) -> None:
        for change in self.changes("sla"):
            tg = change.target
            flags = _bits(int(change.row.get("flags", 0)), [
                (SLA_ACTIVE, tg.get("active")), (SLA_ESCALATE, tg.get("escalate")),
                (SLA_NOALERTS, tg.get("no_alerts")), (SLA_TRANSIENT, tg.get("transient"))])
            cols = {"name": tg["name"], "grace_period": tg["grace_hours"],
                    "schedule_id": self.id_of(tg.get("schedule")), "flags": flags, "notes": tg.get("notes", "")}
            if change.action == "create":
                self.ids["sla"][fold(change.key)] = self.insert(self.t.sla, cols)
            else:
                mapping = {"name": "name", "grace_hours": "grace_period", "schedule": "schedule_id",
                           "notes": "notes"}
                self.update(self.t.sla, "id", _id(change), _only(cols, change, mapping, "flags",
                                                                    {"active", "escalate", "transient", "no_alerts"}))

    def departments(self) -> None:
        creates = sorted(self.changes("department", "create"), key=lambda c: c.key.count(DEPT_SEPARATOR))
        for change in creates:
            tg = change.target
            pid = self.id_of(tg.get("parent"))
            flags = DEPT_ACTIVE if tg.get("active", True) else 0
            ident = self.insert(self.t.department, {
                "pid": pid or None, "tpl_id": 0, "sla_id": self.id_of(tg.get("sla")),
                "schedule_id": self.id_of(tg.get("schedule")), "email_id": 0, "autoresp_email_id": 0,
                "manager_id": 0, "flags": flags, "name": tg["name"], "signature": "",
                "ispublic": int(tg.get("public", True)), "group_membership": 1, "ticket_auto_response": 1,
                "message_auto_response": 1, "path": ""})
            path = (self.paths.get(pid, f"/{pid}/") if pid else "/") + f"{ident}/"
            self.paths[ident] = path
            self.cur.execute(f"UPDATE {self.t.department} SET path = %s WHERE id = %s", [path, ident])
            self.ids["dept"][fold(change.key)] = ident
        for change in self.changes("department", "update"):
            tg = change.target
            active = tg.get("active")
            flags = _bits(int(change.row["flags"]), [(DEPT_ACTIVE, active), (DEPT_ARCHIVED, False if active else None)])
            cols = {"name": tg["name"], "sla_id": self.id_of(tg.get("sla")),
                    "schedule_id": self.id_of(tg.get("schedule")), "ispublic": int(tg.get("public", True)),
                    "flags": flags}
            mapping = {"name": "name", "sla": "sla_id", "schedule": "schedule_id", "public": "ispublic"}
            self.update(self.t.department, "id", _id(change), _only(cols, change, mapping, "flags", {"active"}))

    def department_managers(self) -> None:
        for change in self.changes("department"):
            manager = change.target.get("manager")
            if (change.action == "create" and manager is not None) or "manager" in change.fields:
                ident = self.ids["dept"][fold(change.key)]
                self.update(self.t.department, "id", ident, {"manager_id": self.id_of(manager)})

    def agents(self) -> None:
        for change in self.changes("agent"):
            tg = change.target
            password = None
            if change.action == "create" or "password" in change.fields:
                password = change.secret or new_password()
                if change.store_secret:
                    self.store.set_agent(change.key, password)
            cols: dict[str, Any] = {
                "dept_id": self.id_of(tg["department"]), "role_id": self.id_of(tg["role"]),
                "firstname": tg["first_name"], "lastname": tg["last_name"], "email": tg["email"],
                "isadmin": int(tg["admin"]), "isactive": int(tg["active"]), "onvacation": int(tg["on_vacation"]),
                "assigned_only": int(tg["assigned_only"]), "permissions": permissions_json(tg["permissions"]),
            }
            if change.action == "create":
                assert password is not None
                cols.update({"username": change.key, "passwd": hash_password(password), "backend": None,
                             "phone": "", "mobile": "", "signature": "", "isvisible": 1, "change_passwd": 0,
                             "extra": '{"def_assn_role":true}'})
                self.ids["agent"][fold(change.key)] = self.insert(self.t.staff, cols,
                                                                  ("created", "passwdreset", "updated"))
                continue
            mapping = {"first_name": "firstname", "last_name": "lastname", "email": "email",
                       "department": "dept_id", "role": "role_id", "admin": "isadmin", "active": "isactive",
                       "on_vacation": "onvacation", "assigned_only": "assigned_only",
                       "permissions": "permissions"}
            values = {col: cols[col] for field, col in mapping.items() if field in change.fields}
            if password is not None:
                values.update({"passwd": hash_password(password), "change_passwd": 0})
            self.update(self.t.staff, "staff_id", _id(change), values)
            if password is not None:
                self.cur.execute(f"UPDATE {self.t.staff} SET passwdreset = NOW() WHERE staff_id = %s", [_id(change)])

    def dept_access(self) -> None:
        p = self.plan
        if p.access_remove:
            self.cur.executemany(f"DELETE FROM {self.t.staff_dept_access} WHERE staff_id = %s AND dept_id = %s",
                                 [(self.id_of(a), self.id_of(d)) for a, d in p.access_remove])
        if p.access_update:
            self.cur.executemany(
                f"UPDATE {self.t.staff_dept_access} SET role_id = %s, flags = %s WHERE staff_id = %s AND dept_id = %s",
                [(self.id_of(r), ALERTS if al else 0, self.id_of(a), self.id_of(d)) for a, d, r, al in p.access_update])
        if p.access_add:
            self.cur.executemany(
                f"INSERT INTO {self.t.staff_dept_access} (staff_id, dept_id, role_id, flags) VALUES (%s, %s, %s, %s)",
                [(self.id_of(a), self.id_of(d), self.id_of(r), ALERTS if al else 0) for a, d, r, al in p.access_add])

    def teams(self) -> None:
        for change in self.changes("team"):
            tg = change.target
            flags = _bits(int(change.row.get("flags", 0)), [
                (TEAM_ENABLED, tg.get("enabled")),
                (TEAM_NOALERTS, None if tg.get("alerts") is None else not tg["alerts"])])
            cols = {"name": tg["name"], "lead_id": self.id_of(tg.get("lead")), "flags": flags,
                    "notes": tg.get("notes", "")}
            if change.action == "create":
                self.ids["team"][fold(change.key)] = self.insert(self.t.team, cols)
            else:
                mapping = {"name": "name", "lead": "lead_id", "notes": "notes"}
                values = _only(cols, change, mapping, "flags", {"enabled", "alerts"})
                if values:
                    self.update(self.t.team, "team_id", _id(change), values)
                elif "members" in change.fields:  # osTicket stamps the team when its members change
                    self.cur.execute(f"UPDATE {self.t.team} SET updated = NOW() WHERE team_id = %s", [_id(change)])

    def team_members(self) -> None:
        p = self.plan
        if p.members_remove:
            self.cur.executemany(f"DELETE FROM {self.t.team_member} WHERE team_id = %s AND staff_id = %s",
                                 [(self.id_of(t), self.id_of(a)) for t, a in p.members_remove])
        if p.members_add:
            self.cur.executemany(
                f"INSERT INTO {self.t.team_member} (team_id, staff_id, flags) VALUES (%s, %s, %s)",
                [(self.id_of(t), self.id_of(a), ALERTS) for t, a in p.members_add])

    def topics(self) -> None:
        pending = self.changes("help topic", "create")
        renamed = any("name" in c.fields or "parent" in c.fields for c in self.changes("help topic", "update"))
        while pending:
            ready = [c for c in pending if c.target.get("parent") is None
                     or fold(c.target["parent"].key) in self.ids["topic"]]
            if not ready:
                raise DatabaseError("internal error: help topic parents could not be ordered")
            for change in ready:
                tg = change.target
                flags = TOPIC_ACTIVE if tg.get("active", True) else 0
                ident = self.insert(self.t.help_topic, {
                    "topic_pid": self.id_of(tg.get("parent")), "ispublic": int(tg.get("public", True)),
                    "noautoresp": 0, "flags": flags, "status_id": 0, "priority_id": self.id_of(tg.get("priority")),
                    "dept_id": self.id_of(tg.get("department")), "staff_id": 0, "team_id": 0,
                    "sla_id": self.id_of(tg.get("sla")), "page_id": 0, "sequence_id": 0, "sort": 0,
                    "topic": tg["name"], "number_format": None, "notes": tg.get("notes", "")})
                self.ids["topic"][fold(change.key)] = ident
                if "T" in self.state.forms:
                    self.cur.execute(
                        f"INSERT INTO {self.t.help_topic_form} (topic_id, form_id, sort, extra) VALUES (%s, %s, 1, %s)",
                        [ident, self.state.forms["T"], '{"disable":[]}'])
                pending.remove(change)
        for change in self.changes("help topic", "update"):
            tg = change.target
            active = tg.get("active")
            flags = _bits(int(change.row["flags"]), [(TOPIC_ACTIVE, active), (TOPIC_ARCHIVED, False if active else None)])
            cols = {"topic": tg["name"], "topic_pid": self.id_of(tg.get("parent")),
                    "dept_id": self.id_of(tg.get("department")), "sla_id": self.id_of(tg.get("sla")),
                    "priority_id": self.id_of(tg.get("priority")), "ispublic": int(tg.get("public", True)),
                    "notes": tg.get("notes", ""), "flags": flags}
            mapping = {"name": "topic", "parent": "topic_pid", "department": "dept_id", "sla": "sla_id",
                       "priority": "priority_id", "public": "ispublic", "notes": "notes"}
            self.update(self.t.help_topic, "topic_id", _id(change), _only(cols, change, mapping, "flags", {"active"}))
        if (self.changes("help topic", "create") or renamed) and self.plan.topic_sort_alpha:
            self._sort_topics()

    def _sort_topics(self) -> None:
        """Topic::updateSortOrder: alphabetical by full name ('Parent / Child'), 1..n."""
        self.cur.execute(f"SELECT topic_id, topic_pid, topic FROM {self.t.help_topic}")
        rows = {int(r["topic_id"]): r for r in self.cur.fetchall()}

        def full(tid: int, depth: int = 0) -> str:
            row = rows[tid]
            pid = int(row["topic_pid"] or 0)
            name = str(row["topic"])
            return full(pid, depth + 1) + " / " + name if pid in rows and depth < 20 else name

        order = sorted(rows, key=lambda tid: full(tid).casefold())
        self.cur.executemany(f"UPDATE {self.t.help_topic} SET sort = %s WHERE topic_id = %s",
                             [(index + 1, tid) for index, tid in enumerate(order)])

    def api_keys(self) -> None:
        for change in self.changes("api key"):
            tg = change.target
            cols: dict[str, Any] = {"isactive": int(tg["active"]), "can_create_tickets": int(tg["can_create_tickets"]),
                                    "can_exec_cron": int(tg["can_exec_cron"]), "notes": tg.get("notes", "")}
            key = None
            if change.action == "create" or "key" in change.fields:
                key = change.secret or new_api_key()
                if change.store_secret:
                    self.store.set_api_key(change.key, key)
            if change.action == "create":
                self.insert(self.t.api_key, {"ipaddr": change.key, "apikey": key, **cols})
                continue
            mapping = {"active": "isactive", "can_create_tickets": "can_create_tickets",
                       "can_exec_cron": "can_exec_cron", "notes": "notes"}
            values = {col: cols[col] for field, col in mapping.items() if field in change.fields}
            if key is not None:
                values["apikey"] = key
            self.update(self.t.api_key, "id", _id(change), values)

    def users(self) -> None:
        phones = {int(r["user_id"]): r for r in self.state.user_phones}
        cdata = f"{self.t.prefix}user__cdata" in self.state.tables
        form_u, phone_field = self.state.forms.get("U"), self.state.phone_field_id
        for change in self.changes("user"):
            tg = change.target
            org_id = self.id_of(tg.get("organization"))
            phone = tg.get("phone")
            if change.action == "create":
                uid = self.insert(self.t.user, {"org_id": org_id, "default_email_id": 0, "status": 0,
                                                "name": tg["name"]})
                self.cur.execute(f"INSERT INTO {self.t.user_email} (user_id, flags, address) VALUES (%s, 0, %s)",
                                 [uid, change.key])
                self.cur.execute(f"UPDATE {self.t.user} SET default_email_id = %s WHERE id = %s",
                                 [self.cur.lastrowid, uid])
                if form_u:
                    entry = self.insert(self.t.form_entry, {"form_id": form_u, "object_id": uid,
                                                            "object_type": "U", "sort": 1, "extra": None})
                    if phone and phone_field:
                        self.cur.execute(f"INSERT INTO {self.t.form_entry_values} (entry_id, field_id, value) "
                                         f"VALUES (%s, %s, %s)", [entry, phone_field, phone])
                if cdata:
                    self.cur.execute(f"INSERT INTO `{self.t.prefix}user__cdata` (user_id, phone, notes) "
                                     f"VALUES (%s, %s, '') ON DUPLICATE KEY UPDATE phone = VALUES(phone)",
                                     [uid, phone or None])
                continue
            uid = _id(change)
            values: dict[str, Any] = {}
            if "name" in change.fields:
                values["name"] = tg["name"]
            if "organization" in change.fields:
                values["org_id"] = org_id
            self.update(self.t.user, "id", uid, values)
            if "phone" in change.fields and form_u and phone_field:
                known = phones.get(uid)
                if known is None:
                    entry = self.insert(self.t.form_entry, {"form_id": form_u, "object_id": uid,
                                                            "object_type": "U", "sort": 1, "extra": None})
                else:
                    entry = int(known["entry_id"])
                    self.cur.execute(f"UPDATE {self.t.form_entry} SET updated = NOW() WHERE id = %s", [entry])
                if known is not None and known["has_value"]:
                    self.cur.execute(f"UPDATE {self.t.form_entry_values} SET value = %s "
                                     f"WHERE entry_id = %s AND field_id = %s", [phone, entry, phone_field])
                else:
                    self.cur.execute(f"INSERT INTO {self.t.form_entry_values} (entry_id, field_id, value) "
                                     f"VALUES (%s, %s, %s)", [entry, phone_field, phone])
                if cdata:
                    self.cur.execute(f"INSERT INTO `{self.t.prefix}user__cdata` (user_id, phone, notes) "
                                     f"VALUES (%s, %s, '') ON DUPLICATE KEY UPDATE phone = VALUES(phone)",
                                     [uid, phone])

    def settings(self) -> None:
        rows = []
        for change in self.changes("setting"):
            value = change.target["value"]
            raw = ("1" if value else "0") if isinstance(value, bool) else str(self.id_of(value))
            rows.append((SETTING_KEYS[change.key], raw))
        if rows:
            self.cur.executemany(
                f"INSERT INTO {self.t.config} (namespace, `key`, value, updated) VALUES ('core', %s, %s, NOW()) "
                f"ON DUPLICATE KEY UPDATE value = VALUES(value), updated = NOW()", rows)

    def run(self) -> None:
        self.organizations()
        self.slas()
        self.departments()
        self.agents()
        self.department_managers()
        self.dept_access()
        self.teams()
        self.team_members()
        self.topics()
        self.api_keys()
        self.users()
        self.settings()


def _id(change: Change) -> int:
    assert change.row_id is not None
    return change.row_id


def _only(cols: dict[str, Any], change: Change, mapping: dict[str, str], flags_col: str,
          flag_fields: set[str]) -> dict[str, Any]:
    """The columns behind the fields that change (flags when any flag field changes)."""
    values = {col: cols[col] for field, col in mapping.items() if field in change.fields}
    if flag_fields & set(change.fields):
        values[flags_col] = cols[flags_col]
    return values


# Test hook: called inside the transaction after all writes, before the commit.
_before_commit: Callable[[Any], None] | None = None


# Seeds are serialised by a MariaDB advisory lock: two `ostops seed` of one new file at once would otherwise both
# plan "create" and the second insert would hit a unique key. GET_LOCK(name, timeout) answers 1 (held), 0 (timed
# out) or NULL (an error); IS_USED_LOCK(name) the holder's connection id; a lock is released by RELEASE_LOCK or
# when its connection ends (https://mariadb.com/kb/en/get_lock/, /is_used_lock/, /release_lock/).
LOCK_WAIT = 30.0  # seconds a seed waits for another to finish


def lock_name(instance: Instance) -> str:
    """One lock per osTicket database and table prefix (MariaDB allows 64 characters)."""
    return f"ostops.seed.{instance.db.name}.{instance.db.table_prefix}"[:64]


def _lock(conn: Any, name: str, wait: float) -> None:
    """Take the seed lock, waiting at most ``wait`` seconds; a `DatabaseError` naming the holder when it is busy."""
    holder, who = None, ""
    read_timeout = conn._read_timeout
    conn._read_timeout = max(read_timeout or 0, wait + CONNECT_TIMEOUT)  # the wait is the server's, not a hang
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT GET_LOCK(%s, %s) AS got", [name, wait])
            got = cur.fetchone()["got"]
            conn._read_timeout = read_timeout
            if got == 1:
                return
            cur.execute("SELECT IS_USED_LOCK(%s) AS holder", [name])
            holder = cur.fetchone()["holder"]
            if holder is not None:
                cur.execute("SELECT USER AS user, HOST AS host, TIME AS seconds FROM information_schema.PROCESSLIST "
                            "WHERE ID = %s", [holder])
                row = cur.fetchone()
                who = f" (MariaDB connection {holder}" + (
                    f": {row['user']}@{row['host']}, connected {row['seconds']} s" if row else "") + ")"
    except pymysql.MySQLError as exc:
        raise DatabaseError(f"seeding: cannot take the seed lock {name!r} in osTicket's database: "
                            f"{exc.args[-1]}; nothing was written") from exc
    finally:
        conn._read_timeout = read_timeout
    if got is None:
        raise DatabaseError(f"seeding: MariaDB could not take the seed lock {name!r}; nothing was written")
    end = f"wait for it to finish (or end that connection: KILL {holder}) and seed again" if holder is not None \
        else "seed again"
    raise DatabaseError(f"seeding: another seed of this help desk holds the seed lock {name!r}{who} and did not "
                        f"finish within {wait:g} s; nothing was written; {end}")


def _unlock(conn: Any, name: str) -> None:
    with contextlib.suppress(pymysql.MySQLError), conn.cursor() as cur:
        cur.execute("SELECT RELEASE_LOCK(%s)", [name])


def _refused(exc: pymysql.MySQLError) -> str:
    """A statement's refusal in the seed's words, not the driver's."""
    code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
    text = str(exc.args[-1]) if exc.args else type(exc).__name__
    if code == 1062:  # ER_DUP_ENTRY: written by someone else between the plan and the insert
        match = re.match(r"Duplicate entry '(.*)' for key '(.*)'", text)
        value = f" {match.group(1)!r}" if match else ""
        return (f"osTicket already holds{value} (written by someone else while this seed ran: the staff panel or "
                "another program); nothing was written; seed again to plan against it")
    if isinstance(exc, pymysql.IntegrityError):
        return f"osTicket's database refused a row ({text}); nothing was written"
    return f"{text}; nothing was written"


def apply_seed(instance: Instance, seed: SeedFile, credentials_path: Path | None,
               lock_wait: float = LOCK_WAIT) -> Plan:
    """Plan and apply ``seed`` in one transaction, one seed of this help desk at a time (waiting at most
    ``lock_wait`` seconds for another); returns the plan that was applied."""
    tables = Tables(instance.db.table_prefix)
    conn = connect(instance, autocommit=False)
    started = time.monotonic()
    name = lock_name(instance)
    try:
        _lock(conn, name, lock_wait)
        try:
            conn.commit()  # the transaction (and its snapshot) starts once the lock is held
            conn.begin()
            store = CredentialStore(credentials_path)  # read under the lock: another seed may just have saved it
            state = read_state(conn, tables)
            plan = diff(seed, state, store)
            needs_store = any(c.action == "create" and c.kind in ("agent", "api key") and c.store_secret
                              and not c.secret for c in plan.entries)
            if needs_store and credentials_path is None:
                raise ConfigError("a credentials file is needed to store generated passwords and keys")
            with conn.cursor() as cur:
                _Applier(cur, tables, plan, state, store).run()
                if _before_commit is not None:
                    _before_commit(cur)
            store.save()  # before the commit: a stored, unused password is harmless; a lost one is not
            conn.commit()
            # The ticket form's hidden run field (`automation.osticket.runfield`) after the commit: its column in
            # ticket__cdata is DDL, which would commit the transaction half-way.
            runfield.ensure(conn, tables)
        except pymysql.MySQLError as exc:
            _rollback(conn)
            raise DatabaseError(f"seeding failed: {_refused(exc)}") from exc
        except BaseException:
            _rollback(conn)
            raise
        finally:
            _unlock(conn, name)
    finally:
        with contextlib.suppress(pymysql.MySQLError):
            conn.close()
    plan.seconds = time.monotonic() - started
    return plan


def _rollback(conn: Any) -> None:
    with contextlib.suppress(pymysql.MySQLError):
        conn.rollback()


def plan_against(instance: Instance, seed: SeedFile, credentials_path: Path | None) -> Plan:
    """What applying ``seed`` would change, read in one consistent pass; nothing is written."""
    conn = connect(instance, autocommit=True)
    try:
        return diff(seed, read_state(conn, Tables(instance.db.table_prefix)), CredentialStore(credentials_path))
    finally:
        conn.close()
