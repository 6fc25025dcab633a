"""Rotating an instance's secrets: the ticket API key, the seeded agents' passwords, the admin's password and
the MariaDB password osTicket connects with.

Each rotation is prepared first (read only: what will change, and why it cannot, as a `UsageError`), then
applied in an order that never leaves osTicket, MariaDB and the files disagreeing: the secret changes where it
is checked (osTicket's tables, MariaDB), then in the files that hold it (``ost-config.php``, the instance file,
``credentials.json``, each replaced whole), then the new one is proved (an agent's staff login, the database
connection). Every step that has been done registers how to undo it; a failure anywhere undoes them all, newest
first, and the `RotationError` says what was rolled back. New secrets are never logged, printed or put on a
command line: they go over the database protocol as statement parameters and into 0600 files.

On Azure only the agents' passwords rotate here: the API key, the admin's and the database's passwords live in
Key Vault, set from the stack config, and the bootstrap's ``rotate`` mode applies them on the VM; for those this
module prints the steps instead (docs/operations.md, "Rotation on Azure")."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from pymysql.constants import ER

from automation.credentials import password_variable
from automation.errors import ConfigError, DatabaseError, OsTicketError, RotationError, UsageError
from automation.files import replace_keeping_mode, write_private
from automation.instance import Instance
from automation.newsecrets import new_api_key, new_password
from automation.osticket import db
from automation.osticket.config_file import read_define, replace_define
from automation.workspace import Workspace

Progress = Callable[[str], None]
KINDS = ("api-key", "agent-passwords", "admin-password", "db-password")
ACCESS_DENIED = ER.ACCESS_DENIED_ERROR  # 1045: a login refused for its password (MariaDB, MySQL)
LOCAL_BACKENDS = (None, "", "local")  # ost_staff.backend of agents whose password osTicket itself checks


def _quiet(_: str) -> None:
    return None


@dataclass
class Rotated:
    """What a rotation changed: one line per secret (no secret in it), the files rewritten, and the new secrets
    by name (shown only on request)."""

    kind: str
    lines: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    secrets: dict[str, str] = field(default_factory=dict)


class Undo:
    """The steps done so far, each with how to undo it; `unwind` undoes them newest first."""

    def __init__(self) -> None:
        self._steps: list[tuple[str, Callable[[], object]]] = []

    def push(self, what: str, undo: Callable[[], object]) -> None:
        self._steps.append((what, undo))

    def unwind(self) -> list[str]:
        notes = []
        while self._steps:
            what, undo = self._steps.pop()
            try:
                undo()
                notes.append(f"rolled back: {what}")
            except Exception as exc:  # noqa: BLE001 (every other step is still undone; this one is named)
                notes.append(f"NOT rolled back: {what} ({exc}); put it back by hand")
        return notes


def _failed(kind: str, exc: BaseException, notes: list[str]) -> RotationError:
    reason = str(exc) or type(exc).__name__
    state = ("nothing was changed" if not notes else "every step was rolled back"
             if not any(n.startswith("NOT") for n in notes) else "SOME STEPS COULD NOT BE ROLLED BACK")
    extra = exc.problems if isinstance(exc, OsTicketError) else []
    return RotationError(f"rotate {kind} failed: {reason}; {state}", [*extra, *notes])


def _run(kind: str, steps: Callable[[Undo], Rotated]) -> Rotated:
    undo = Undo()
    try:
        return steps(undo)
    except BaseException as exc:
        raise _failed(kind, exc, undo.unwind()) from exc


# -- files ---------------------------------------------------------------------------------------------------
def _write(path: Path, text: str, keep_mode: bool = False) -> None:
    try:
        if keep_mode:
            replace_keeping_mode(path, text)
        else:
            write_private(path, text)
    except OSError as exc:
        raise RotationError(f"cannot write {path}: {exc.strerror or exc}") from exc


def _replace_file(undo: Undo, path: Path, text: str, keep_mode: bool = False) -> None:
    """Replace ``path`` whole with ``text``; the undo puts the old content back (or removes a new file)."""
    old = path.read_text(encoding="utf-8") if path.exists() else None
    _write(path, text, keep_mode)
    if old is None:
        undo.push(f"{path} removed", lambda: path.unlink(missing_ok=True))
    else:
        undo.push(f"{path} restored", lambda: _write(path, old, keep_mode))


# -- checks --------------------------------------------------------------------------------------------------
# On Azure: the stack config key of each secret (infra/config.py KNOWN_KEYS; Pulumi writes it to Key Vault) and a
# shell expression for a new value the config accepts (SAFE_SECRET; an API key is 32 upper-case hex characters).
AZURE_SECRET_KEYS = {
    "api-key": ("apiKey", '"$(openssl rand -hex 16 | tr a-f A-F)"'),
    "admin-password": ("osticketAdminPassword", '"$(openssl rand -hex 16)"'),
    "db-password": ("dbAppPassword", '"$(openssl rand -hex 16)"'),
}


def azure_rotation_steps(what: str) -> list[str]:
    """What rotates ``what`` on an Azure instance: Key Vault gets the new value from the stack, the bootstrap's
    rotate mode makes it live on the VM and proves it, then the instance file follows and the runs re-verify."""
    key, value = AZURE_SECRET_KEYS[what]
    return [
        f"pulumi config set --secret ostops:{key} {value}",
        "pulumi config set ostops:bootstrapMode rotate",
        ("pulumi config set ostops:bootstrapRun <the current value + 1>   (a new Run Command even when the mode "
         "is already rotate)"),
        "pulumi up   (the Run Command fails naming the step, the old secret back, if the new one cannot be proven)",
        "pulumi stack output --json --show-secrets | ostops instance from-stack",
        "ostops runs, then ostops verify SCENARIO_FILE --run RUN_ID for each run recorded before",
        "pulumi config set ostops:bootstrapMode install   (the next pulumi up installs as before)",
    ]


def _local_only(instance: Instance, workspace: Workspace, what: str) -> None:
    if instance.kind == "azure":
        raise UsageError(f"{workspace.instance_file}: on Azure the {what} lives in Key Vault and the bootstrap "
                         "applies it on the VM, so it rotates through the stack; nothing was changed. The steps "
                         "(docs/operations.md, \"Rotation on Azure\"):", azure_rotation_steps(what))
    if instance.local is None:
        raise UsageError(f"{workspace.instance_file}: rotate {what} works on local and Azure instances only: "
                         f"this {instance.kind} instance's secrets are kept where ostops cannot change them; "
                         "nothing was changed")


def _env_override(username: str) -> None:
    variable = password_variable(username)
    if os.environ.get(variable):
        raise UsageError(f"agent {username!r}: its password comes from ${variable}, which ostops cannot change; "
                         f"rotate it where that variable is kept, or unset it; nothing was changed")


def staff_login(instance: Instance, username: str, password: str) -> None:
    """A real staff-panel login (osTicket's own password check, sessions in its database); raises `AuthError`."""
    from automation.osticket.http import instance_session
    from automation.osticket.staff import StaffSession

    session = StaffSession(instance.base_url, username, password, session=instance_session(instance))
    try:
        session.login()
    finally:
        session.close()


def refused_by_mariadb(instance: Instance, password: str, tries: int = 3) -> bool:
    """True when MariaDB refuses the instance's database user with ``password`` (access denied), False when it
    lets it in. Any other failure (a handshake timing out on a loaded machine) proves neither: the login is tried
    again (it changes nothing), and after ``tries`` the last error is raised."""
    probe = instance.model_copy(update={"db": instance.db.model_copy(update={"password": SecretStr(password)})})
    for attempt in range(1, tries + 1):
        try:
            db.connect(probe).close()
        except DatabaseError as exc:
            cause = exc.__cause__
            if cause is not None and getattr(cause, "args", (None,))[0] == ACCESS_DENIED:
                return True
            if attempt == tries:
                raise
            continue
        return False
    raise AssertionError("unreachable")


# -- the rotations -------------------------------------------------------------------------------------------
@dataclass
class Rotation:
    """A prepared rotation: ``question`` says what will change (asked before anything does); ``apply`` does it."""

    kind: str
    question: str
    _apply: Callable[[Progress], Rotated]

    def apply(self, progress: Progress = _quiet) -> Rotated:
        return self._apply(progress)


def prepare(kind: str, workspace: Workspace, instance: Instance, agents: tuple[str, ...] = ()) -> Rotation:
    """Read what ``kind`` would change and refuse (`UsageError`, nothing changed) what cannot be rotated."""
    if kind == "api-key":
        return _prepare_api_key(workspace, instance)
    if kind == "agent-passwords":
        return _prepare_passwords(workspace, instance, _agents_to_rotate(workspace, instance, agents), admin=False)
    if kind == "admin-password":
        _local_only(instance, workspace, "admin-password")
        return _prepare_passwords(workspace, instance, [instance.admin.username], admin=True)
    if kind == "db-password":
        return _prepare_db_password(workspace, instance)
    raise UsageError(f"unknown rotation {kind!r}; choose one of {', '.join(KINDS)}")


def _prepare_api_key(workspace: Workspace, instance: Instance) -> Rotation:
    _local_only(instance, workspace, "api-key")
    t = db.Tables(instance.db.table_prefix)
    old = instance.api_key.get_secret_value()
    conn = db.connect(instance)
    try:
        with db.cursor(conn) as cur:
            cur.execute(f"SELECT id, ipaddr, isactive FROM {t.api_key} WHERE apikey = %s", (old,))
            row = cur.fetchone()
    finally:
        conn.close()
    if row is None:
        raise ConfigError(f"{workspace.instance_file}: its API key is not in osTicket's {t.prefix}api_key (deleted in "
                          "the admin panel, or a stale instance file); nothing was changed")
    key_id, ip = int(row["id"]), str(row["ipaddr"])
    question = (f"Replace the ticket API key of {instance.base_url} (osTicket's key {key_id}, bound to {ip})? "
                "The old key is refused at once: anything else that sends it (an integration, a mail pipe) needs "
                "the new one")

    def apply(progress: Progress) -> Rotated:
        def steps(undo: Undo) -> Rotated:
            new = new_api_key()
            # osTicket has no "new key" action (API::save never changes apikey); its keys are 32 upper-case hex
            # characters (strtoupper(md5(...)), include/class.api.php), looked up by apikey AND ipaddr: the
            # binding and the key's permissions stay as they are.
            # The undo first: should the statement's answer be lost after the server applied it, it still applies.
            undo.push(f"API key {key_id} in {t.prefix}api_key",
                      lambda: _execute(instance, f"UPDATE {t.api_key} SET apikey = %s WHERE id = %s AND apikey = %s",
                                       (old, key_id, new)))
            _execute(instance, f"UPDATE {t.api_key} SET apikey = %s, updated = NOW() WHERE id = %s AND apikey = %s",
                     (new, key_id, old), expect_rows=1)
            progress(f"osTicket's API key {key_id} (bound to {ip}) replaced")
            rotated = Rotated("api-key", [f"API key {key_id} of {instance.base_url}, bound to {ip}"],
                              secrets={"API key": new})
            updated = instance.model_copy(update={"api_key": SecretStr(new)})
            _replace_file(undo, workspace.instance_file, updated.to_json())
            rotated.files.append(workspace.instance_file)
            store = workspace.credentials()
            for held_ip, key in list(store.api_keys.items()):
                if key == old:
                    store.set_api_key(held_ip, new)
            if store.dirty and store.path is not None:
                _replace_file(undo, store.path, store.text())
                rotated.files.append(store.path)
            check = db.connect(updated)
            try:
                with db.cursor(check) as cur:
                    cur.execute(f"SELECT apikey, ipaddr FROM {t.api_key} WHERE apikey IN (%s, %s)", (old, new))
                    held = [(r["apikey"], r["ipaddr"]) for r in cur.fetchall()]
            finally:
                check.close()
            if held != [(new, ip)]:
                raise RotationError(f"{t.prefix}api_key does not hold the new key alone, bound to {ip}, after the change")
            progress(f"{t.prefix}api_key holds the new key, bound to {ip}; the old one is gone")
            return rotated

        return _run("api-key", steps)

    return Rotation("api-key", question, apply)


def _execute(instance: Instance, sql: str, args: tuple[Any, ...], expect_rows: int | None = None) -> None:
    conn = db.connect(instance)
    try:
        with db.cursor(conn) as cur:
            count = cur.execute(sql, args)
        if expect_rows is not None and count != expect_rows:
            raise RotationError(f"expected to change {expect_rows} row(s), changed {count}: the row changed "
                                "meanwhile; run the rotation again")
    finally:
        conn.close()


def _agents_to_rotate(workspace: Workspace, instance: Instance, asked: tuple[str, ...]) -> list[str]:
    store = workspace.credentials()
    admin = instance.admin.username.casefold()
    held = {name.casefold(): name for name in store.agents if name.casefold() != admin}
    for name in asked:
        if name.casefold() == admin:
            raise UsageError(f"--agent {name}: the instance's admin; rotate it with `ostops rotate admin-password`")
        if name.casefold() not in held:
            known = ", ".join(sorted(held.values())) or "none"
            raise UsageError(f"--agent {name}: not an agent whose password ostops keeps in "
                             f"{workspace.credentials_file} (seeded agents: {known}); nothing was changed")
    names = list(dict.fromkeys(held[name.casefold()] for name in asked)) if asked else sorted(held.values())
    if not names:
        raise UsageError(f"{workspace.credentials_file}: no agent passwords to rotate (agents get one when "
                         "`ostops seed` creates them); nothing was changed")
    return names


def _prepare_passwords(workspace: Workspace, instance: Instance, usernames: list[str], admin: bool) -> Rotation:
    kind = "admin-password" if admin else "agent-passwords"
    for name in usernames:
        _env_override(name)
    t = db.Tables(instance.db.table_prefix)
    conn = db.connect(instance)
    try:
        with db.cursor(conn) as cur:
            cur.execute(f"SELECT staff_id, username, passwd, backend, isactive, change_passwd, passwdreset "
                        f"FROM {t.staff} WHERE username IN ({', '.join(['%s'] * len(usernames))})", usernames)
            rows = {str(r["username"]).casefold(): r for r in cur.fetchall()}
    finally:
        conn.close()
    missing = [name for name in usernames if name.casefold() not in rows]
    if missing:
        raise ConfigError(f"no agent {', '.join(map(repr, missing))} in osTicket's {t.prefix}staff (deleted in the admin "
                          "panel?); nothing was changed")
    foreign = [f"{name} ({rows[name.casefold()]['backend']})" for name in usernames
               if rows[name.casefold()]["backend"] not in LOCAL_BACKENDS]
    if foreign:
        raise UsageError(f"agent(s) {', '.join(foreign)} sign in through another authentication backend: osTicket "
                         "does not hold their password; nothing was changed")
    targets = [rows[name.casefold()] | {"username": name} for name in usernames]
    who = "the admin " + usernames[0] if admin else f"{len(usernames)} agent(s): {', '.join(usernames)}"
    question = (f"Set new passwords for {who} on {instance.base_url}? The old passwords stop working at once and "
                "the agents' open staff-panel sessions end (as when osTicket changes a password)")

    def apply(progress: Progress) -> Rotated:
        from automation.seeding.passwords import hash_password

        def steps(undo: Undo) -> Rotated:
            new = {row["username"]: new_password() for row in targets}
            _set_passwords(instance, t, targets, {name: hash_password(pw) for name, pw in new.items()}, undo)
            progress(f"new password hashes in {t.prefix}staff for {', '.join(new)}")
            rotated = Rotated(kind, [f"{'admin' if admin else 'agent'} {name}" for name in new], secrets=dict(new))
            if admin:
                login = instance.admin.model_copy(update={"password": SecretStr(new[usernames[0]])})
                updated = instance.model_copy(update={"admin": login})
                _replace_file(undo, workspace.instance_file, updated.to_json())
                rotated.files.append(workspace.instance_file)
            store = workspace.credentials()
            for name, pw in new.items():
                if not admin or store.agent(name) is not None:
                    store.set_agent(name, pw)
            if store.dirty and store.path is not None:
                _replace_file(undo, store.path, store.text())
                rotated.files.append(store.path)
            for row in targets:
                if row["isactive"]:
                    staff_login(instance, row["username"], new[row["username"]])
                else:
                    rotated.lines.append(f"{row['username']} is disabled in osTicket: its new login was not tried")
            progress("each agent signed in to the staff panel with the new password")
            return rotated

        return _run(kind, steps)

    return Rotation(kind, question, apply)


def _set_passwords(instance: Instance, t: db.Tables, rows: list[dict[str, Any]], hashes: dict[str, str],
                   undo: Undo) -> None:
    """What osTicket's Staff::setPassword does (include/class.staff.php, 1.18.1): the new bcrypt hash
    (Passwd::hash, work factor 8), change_passwd = 0, passwdreset = NOW(), the agent's password-reset tokens
    dropped (cancelResetTokens: ``config`` rows of namespace ``pwreset`` whose value is the staff id) and its
    sessions ended (the ``auth.clean`` signal: PasswordPolicy::cleanSessions deletes its ``session`` rows).
    One transaction for every agent."""
    conn = db.connect(instance, autocommit=False)
    try:
        with db.cursor(conn) as cur:
            for row in rows:
                sid = int(row["staff_id"])
                cur.execute(f"UPDATE {t.staff} SET passwd = %s, change_passwd = 0, passwdreset = NOW() "
                            "WHERE staff_id = %s", (hashes[row["username"]], sid))
                cur.execute(f"DELETE FROM {t.config} WHERE namespace = 'pwreset' AND value = %s", (str(sid),))
                cur.execute(f"DELETE FROM {t.session} WHERE user_id = %s", (str(sid),))
        # Pushed before the commit: should the commit's answer be lost after the server applied it, putting the
        # old hashes back is still right (and harmless when nothing was applied).
        undo.push(f"the old password hashes in {t.prefix}staff", lambda: _restore_passwords(instance, t, rows))
        conn.commit()
    except BaseException:
        with contextlib.suppress(Exception):
            conn.rollback()
        raise
    finally:
        conn.close()


def _restore_passwords(instance: Instance, t: db.Tables, rows: list[dict[str, Any]]) -> None:
    conn = db.connect(instance, autocommit=False)
    try:
        with db.cursor(conn) as cur:
            for row in rows:
                cur.execute(f"UPDATE {t.staff} SET passwd = %s, change_passwd = %s, passwdreset = %s "
                            "WHERE staff_id = %s", (row["passwd"], row["change_passwd"], row["passwdreset"],
                                                    int(row["staff_id"])))
        conn.commit()
    finally:
        conn.close()


def _prepare_db_password(workspace: Workspace, instance: Instance) -> Rotation:
    _local_only(instance, workspace, "db-password")
    local = instance.local
    assert local is not None
    config = Path(local.webroot) / "include" / "ost-config.php"
    try:
        text = config.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{config}: cannot read osTicket's configuration: {exc.strerror or exc}; nothing was "
                          "changed") from exc
    old = instance.db.password.get_secret_value()
    if read_define(text, "DBPASS", str(config)) != old:
        raise ConfigError(f"{config}: its DBPASS differs from db.password in {workspace.instance_file}: they "
                          "already disagree; make them equal by hand first; nothing was changed")
    from automation.local import database
    from automation.local.manager import NODE_MARK, node_dir

    base = Path(local.dir)
    root_password = local.db_root_password.get_secret_value()
    root = database.root_connection(base, root_password)
    try:
        with root.cursor() as cur:
            cur.execute("SELECT Host FROM mysql.user WHERE User = %s ORDER BY Host", (instance.db.user,))
            hosts = [str(r[0]) for r in cur.fetchall()]
    finally:
        root.close()
    if not hosts:
        raise ConfigError(f"MariaDB has no user {instance.db.user!r} (db.user in {workspace.instance_file}); "
                          "nothing was changed")
    accounts = ", ".join(f"{instance.db.user}@{h}" for h in hosts)
    # Every php-fpm of the instance: the one, or each web node's ("php-fpm@2"), all over the one webroot.
    fpms = [(pid, node_dir(base, int(node)) if node else base) for name, pid in sorted(local.pids.items())
            for program, _, node in [name.partition(NODE_MARK)] if program == "php-fpm"]
    if not fpms:
        raise ConfigError(f"{workspace.instance_file}: no php-fpm recorded for this instance; nothing was changed")
    question = (f"Change the MariaDB password of {accounts} and osTicket's {config}, then reload php-fpm "
                f"({len(fpms)})? "
                "Requests arriving during the change (about a second) may fail")

    def alter(password: str) -> None:
        conn = database.root_connection(base, root_password)
        try:
            with conn.cursor() as cur:
                for host in hosts:
                    cur.execute("ALTER USER %s@%s IDENTIFIED BY %s", (instance.db.user, host, password))
        finally:
            conn.close()

    def apply(progress: Progress) -> Rotated:
        from automation.local import webserver
        def reload() -> None:
            for pid, folder in fpms:
                webserver.reload_fpm(pid, folder)

        def steps(undo: Undo) -> Rotated:
            new = new_password()
            undo.push(f"the MariaDB password of {accounts}", lambda: alter(old))  # ALTER USER is not transactional
            alter(new)
            progress(f"MariaDB password of {accounts} changed")
            config_undo_text = text

            def restore_config() -> None:
                _write(config, config_undo_text, keep_mode=True)
                reload()

            _write(config, replace_define(text, "DBPASS", new, str(config)), keep_mode=True)
            undo.push(f"{config} (and php-fpm reloaded)", restore_config)
            reload()
            progress(f"{config} rewritten (mode and owner kept), php-fpm reloaded ({len(fpms)})")
            updated = instance.model_copy(update={"db": instance.db.model_copy(update={"password": SecretStr(new)})})
            _replace_file(undo, workspace.instance_file, updated.to_json())
            db.connect(updated).close()
            if not refused_by_mariadb(updated, old):
                raise RotationError(f"MariaDB still accepts the old password of {instance.db.user}")
            staff_login(updated, updated.admin.username, updated.admin.password.get_secret_value())
            progress("MariaDB refuses the old password; osTicket signs the admin in with the new one")
            return Rotated("db-password", [f"MariaDB user {accounts}; DBPASS in {config}"],
                           [config, workspace.instance_file], {"database password": new})

        return _run("db-password", steps)

    return Rotation("db-password", question, apply)


__all__ = ["AZURE_SECRET_KEYS", "KINDS", "Rotated", "Rotation", "azure_rotation_steps", "prepare", "refused_by_mariadb",
           "staff_login"]
