"""MariaDB's own client tools for osTicket's database: a consistent dump (``mariadb-dump --single-transaction``)
read as it streams (SHA-256 and rows per table counted on the way) and a plain import; the password in a 0600
option file, never on a command line; every call under a timeout."""

from __future__ import annotations

import contextlib
import hashlib
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from automation.errors import DatabaseError, EnvironmentProblem
from automation.instance import Instance

DUMP_TIMEOUT = 3600.0  # seconds for the whole dump; the watchdog kills mariadb-dump after it
IMPORT_TIMEOUT = 3600.0
# mariadb-dump options (mariadb.com/kb/en/mariadb-dump/): --single-transaction dumps InnoDB tables from one
# consistent snapshot without locking them (every osTicket table is InnoDB); --quick streams rows instead of
# buffering tables; --hex-blob writes file chunks as 0x… (no binary bytes in the SQL); --no-tablespaces needs no
# PROCESS privilege (osTicket's user has none); --skip-dump-date keeps equal databases' dumps equal.
DUMP_OPTIONS = ("--single-transaction", "--quick", "--hex-blob", "--no-tablespaces", "--skip-dump-date",
                "--default-character-set=utf8mb4")
# MariaDB 10.11's mariadb-dump writes an extended INSERT as "INSERT INTO `t` VALUES" and then one row per line
# ("(…),", the last "(…);"): a literal's newlines are escaped (\n), so every line of a statement is one row.
# Older dumps put a statement on one line ("… VALUES (…),(…);"): its rows are its "),(" separators outside
# string literals, plus one; a literal is quoted with ' and escapes with \.
_INSERT = re.compile(rb"^INSERT INTO `([^`]+)` VALUES ?")
_LITERAL = re.compile(rb"'[^'\\]*(?:\\.[^'\\]*)*'")

Progress = Callable[[int], None]  # bytes dumped so far
CHUNK = 1 << 20


def tool(name: str, *alternatives: str) -> str:
    for candidate in (name, *alternatives):
        found = shutil.which(candidate)
        if found:
            return found
    raise EnvironmentProblem(f"{name} not found; install the Debian package mariadb-client "
                             "(apt-get install mariadb-client)")


@contextlib.contextmanager
def option_file(instance: Instance) -> Iterator[Path]:
    """A [client] option file (0600, in a private temporary folder) with the database's address and login:
    how the password reaches mariadb-dump and mariadb without appearing in any process's command line."""
    db = instance.db
    folder = Path(tempfile.mkdtemp(prefix="ostops-db-"))  # mkdtemp: mode 0700
    path = folder / "client.cnf"
    try:
        lines = ["[client]", f"host={db.host}", f"port={db.port}", f"user={db.user}",
                 f"password={_quote(db.password.get_secret_value())}"]
        if db.ssl:
            lines.append("ssl")
            if db.ssl_ca:
                lines += [f"ssl-ca={db.ssl_ca}", "ssl-verify-server-cert"]
        path.touch(mode=0o600)
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        yield path
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _quote(value: str) -> str:
    # Option files take a quoted value with backslash escapes (mariadb.com/kb/en/configuring-mariadb-with-option-files/).
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass
class Dump:
    sql: bytes
    sha256: str
    rows: dict[str, int] = field(default_factory=dict)  # table -> rows in the dump
    seconds: float = 0.0
    tool: str = ""


def rows_in(line: bytes) -> int:
    """The rows of one extended INSERT line (its "),(" separators outside string literals, plus one)."""
    return _LITERAL.sub(b"''", line).count(b"),(") + 1


def count_dump_rows(sql: bytes) -> dict[str, int]:
    """The rows of each table in a dump (0 for a table created without rows). Each statement of MariaDB
    10.11's one-row-a-line form ends at the first ");\n" after its header (a literal's newlines are escaped, so
    that sequence ends a row line) and holds one row per "\n(" in it. Every search is a bytes.find or count,
    in C, over the whole dump."""
    rows: dict[str, int] = {}
    position = 0  # a dump's first line is a comment: every statement follows a newline
    while (create := sql.find(b"\nCREATE TABLE `", position)) >= 0:
        start = create + len(b"\nCREATE TABLE `")
        rows.setdefault(sql[start:sql.index(b"`", start)].decode(), 0)
        position = start
    position = 0
    header = b"\nINSERT INTO `"
    while (found := sql.find(header, position)) >= 0:
        start = found + len(header)
        name_end = sql.index(b"`", start)
        name = sql[start:name_end].decode()
        values = name_end + len(b"` VALUES")
        if sql.startswith(b"\n", values):
            end = sql.find(b");\n", values)
            end = len(sql) if end < 0 else end
            rows[name] = rows.get(name, 0) + sql.count(b"\n(", values, end)
        else:  # the whole statement on one line
            end = sql.find(b"\n", values)
            end = len(sql) if end < 0 else end
            rows[name] = rows.get(name, 0) + rows_in(sql[values:end].strip())
        position = end
    return rows


def dump(instance: Instance, progress: Progress = lambda _: None, timeout: float = DUMP_TIMEOUT) -> Dump:
    """osTicket's database as one consistent SQL dump, with its SHA-256 and the rows of each table counted
    from the dump itself (so they are the snapshot's, whatever osTicket wrote meanwhile)."""
    binary = tool("mariadb-dump", "mysqldump")
    started = time.monotonic()
    digest = hashlib.sha256()
    chunks: list[bytes] = []
    size = 0
    # stderr to a file, not a pipe: a chatty stderr cannot stall the dump
    with option_file(instance) as cnf, tempfile.TemporaryFile() as errors:
        argv = [binary, f"--defaults-extra-file={cnf}", *DUMP_OPTIONS, instance.db.name]
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=errors)
        killed = threading.Event()

        def watchdog() -> None:
            killed.set()
            proc.kill()

        timer = threading.Timer(timeout, watchdog)
        timer.start()
        try:
            assert proc.stdout is not None
            while block := proc.stdout.read(CHUNK):
                digest.update(block)
                chunks.append(block)
                size += len(block)
                progress(size)
            code = proc.wait(timeout=60)
            errors.seek(0)
            error = errors.read().decode(errors="replace").strip()
        finally:
            timer.cancel()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    progress(size)
    if killed.is_set():
        raise DatabaseError(f"mariadb-dump did not finish within {timeout:.0f} s; nothing was written")
    if code != 0:
        raise DatabaseError(f"mariadb-dump failed (exit {code}): {error or 'no message'}; nothing was written")
    sql = b"".join(chunks)
    return Dump(sql, digest.hexdigest(), count_dump_rows(sql), time.monotonic() - started, version(binary))


def version(binary: str) -> str:
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10, check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        return Path(binary).name
    return " ".join(out.split()[:6]) or Path(binary).name


def drop_tables(conn: object, name: str) -> None:
    """Every table of the database (a restore starts from none: the dump creates its own)."""
    from automation.osticket import db

    with db.cursor(conn) as cur:  # type: ignore[arg-type]
        cur.execute("SELECT table_name AS t FROM information_schema.tables WHERE table_schema = %s", (name,))
        tables = [row["t"] for row in cur.fetchall()]
        cur.execute("SET FOREIGN_KEY_CHECKS = 0")
        for table in tables:
            cur.execute(f"DROP TABLE IF EXISTS `{table.replace('`', '``')}`")


def load(instance: Instance, sql: bytes, timeout: float = IMPORT_TIMEOUT) -> float:
    """Feed a dump to ``mariadb`` (the client) into the instance's database; returns the seconds it took."""
    binary = tool("mariadb", "mysql")
    started = time.monotonic()
    with option_file(instance) as cnf:
        try:
            result = subprocess.run([binary, f"--defaults-extra-file={cnf}", "--default-character-set=utf8mb4",
                                     "--binary-mode", instance.db.name], input=sql, capture_output=True,
                                    timeout=timeout, check=False)
        except subprocess.TimeoutExpired as exc:
            raise DatabaseError(f"importing the dump did not finish within {timeout:.0f} s") from exc
    if result.returncode != 0:
        raise DatabaseError(f"importing the dump failed (exit {result.returncode}): "
                            f"{result.stderr.decode(errors='replace').strip() or 'no message'}")
    return time.monotonic() - started


def count_rows(instance: Instance, tables: list[str] | None = None) -> dict[str, int]:
    """The exact rows of each table of the database (COUNT(*), one statement per table)."""
    from automation.osticket import db

    conn = db.connect(instance)
    try:
        with db.cursor(conn) as cur:
            if tables is None:
                cur.execute("SELECT table_name AS t FROM information_schema.tables WHERE table_schema = %s "
                            "AND table_type = 'BASE TABLE'", (instance.db.name,))
                tables = sorted(row["t"] for row in cur.fetchall())
            counts = {}
            for table in tables:
                cur.execute(f"SELECT COUNT(*) AS n FROM `{table.replace('`', '``')}`")
                counts[table] = int(cur.fetchone()["n"])
            return counts
    finally:
        conn.close()
