"""MariaDB's own client tools for osTicket's database: a consistent dump (``mariadb-dump --single-transaction``)
read as it streams (SHA-256 and rows per table counted on the way) and a plain import; the password in a 0600
option file, never on a command line; every call under a timeout."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

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
    """A dump as read from mariadb-dump: its blocks (joined only where one buffer is needed), SHA-256, size and
    the rows of each table, all taken as it streamed."""

    blocks: list[bytes]
    sha256: str
    size: int
    rows: dict[str, int] = field(default_factory=dict)  # table -> rows in the dump
    seconds: float = 0.0
    tool: str = ""

    @property
    def sql(self) -> bytes:
        return b"".join(self.blocks)


def rows_in(line: bytes) -> int:
    """The rows of one extended INSERT line (its "),(" separators outside string literals, plus one)."""
    return _LITERAL.sub(b"''", line).count(b"),(") + 1


class RowCounter:
    """The rows of each table in a dump (0 for a table created without rows), fed block by block as it streams.

    MariaDB 10.11's one-row-a-line form: a statement starts with "INSERT INTO `t` VALUES" on a line of its own,
    holds one row per "\n(" and ends at the first ");\n" (a literal's newlines are escaped, so neither sequence
    can be inside one). Older dumps put a whole statement on one line (`rows_in`). Blocks are scanned up to their
    last newline, the rest carried to the next, so a statement split across blocks counts once; every search is
    a bytes.find or count, in C."""

    def __init__(self) -> None:
        self.rows: dict[str, int] = {}
        self._carry = b""
        self._open: str | None = None  # the table whose one-row-a-line INSERT has not ended yet

    def feed(self, block: bytes) -> None:
        cut = block.rfind(b"\n")
        if cut < 0:
            self._carry += block
            return
        # "\n" first: the scan anchors statements at line starts, and the carry starts a line
        self._scan(b"".join((b"\n", self._carry, memoryview(block)[:cut + 1])))
        self._carry = block[cut + 1:]

    def finish(self) -> dict[str, int]:
        if self._carry:
            self._scan(b"".join((b"\n", self._carry, b"\n")))
            self._carry = b""
        return self.rows

    def _rows_until_end(self, data: bytes, table: str, start: int) -> int:
        end = data.find(b");\n", start)
        self.rows[table] = self.rows.get(table, 0) + data.count(b"\n(", start, len(data) if end < 0 else end)
        self._open = table if end < 0 else None
        return len(data) if end < 0 else end

    def _scan(self, data: bytes) -> None:
        position = 0
        if self._open is not None:
            position = self._rows_until_end(data, self._open, 0)
        created = position
        while (create := data.find(b"\nCREATE TABLE `", created)) >= 0:
            start = create + len(b"\nCREATE TABLE `")
            self.rows.setdefault(data[start:data.index(b"`", start)].decode(), 0)
            created = start
        header = b"\nINSERT INTO `"
        while (found := data.find(header, position)) >= 0:
            start = found + len(header)
            name_end = data.index(b"`", start)
            name = data[start:name_end].decode()
            values = name_end + len(b"` VALUES")
            if data.startswith(b"\n", values):
                position = self._rows_until_end(data, name, values)
            else:  # the whole statement on one line
                end = data.find(b"\n", values)
                end = len(data) if end < 0 else end
                self.rows[name] = self.rows.get(name, 0) + rows_in(data[values:end].strip())
                position = end


def count_dump_rows(sql: bytes) -> dict[str, int]:
    """The rows of each table in a whole dump (`RowCounter` fed at once)."""
    counter = RowCounter()
    counter.feed(sql)
    return counter.finish()


class RunningDump:
    """mariadb-dump started (`start_dump`) and writing into its pipe while the caller does other work; `read`
    then takes the dump as it streams: hashed, its rows counted and its size reported block by block."""

    def __init__(self, instance: Instance, binary: str, cnf: Path, errors: IO[bytes], timeout: float) -> None:
        self.binary, self.timeout, self._errors = binary, timeout, errors
        self.started = time.monotonic()
        argv = [binary, f"--defaults-extra-file={cnf}", *DUMP_OPTIONS, instance.db.name]
        # stderr to a file, not a pipe: a chatty stderr cannot stall the dump
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=errors, bufsize=0)
        assert self.proc.stdout is not None
        with contextlib.suppress(OSError, AttributeError):  # Linux only; the limit is /proc/sys/fs/pipe-max-size
            # pipe(7) F_SETPIPE_SZ: a 1 MiB pipe lets mariadb-dump run a block ahead of the reader
            fcntl.fcntl(self.proc.stdout.fileno(), fcntl.F_SETPIPE_SZ, CHUNK)
        self._killed = threading.Event()
        self._timer = threading.Timer(timeout, self._watchdog)
        self._timer.start()
        try:  # the tool's version for the manifest, asked while the dump runs
            self._version: subprocess.Popen[str] | None = subprocess.Popen(
                [binary, "--version"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        except OSError:
            self._version = None

    def _watchdog(self) -> None:
        self._killed.set()
        self.proc.kill()

    def read(self, progress: Progress = lambda _: None) -> Dump:
        digest = hashlib.sha256()
        counter = RowCounter()
        blocks: list[bytes] = []
        size = 0
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        while block := os.read(fd, CHUNK):
            digest.update(block)
            counter.feed(block)
            blocks.append(block)
            size += len(block)
            progress(size)
        code = self.proc.wait(timeout=60)
        self._timer.cancel()
        progress(size)
        if self._killed.is_set():
            raise DatabaseError(f"mariadb-dump did not finish within {self.timeout:.0f} s; nothing was written")
        if code != 0:
            self._errors.seek(0)
            error = self._errors.read().decode(errors="replace").strip()
            raise DatabaseError(f"mariadb-dump failed (exit {code}): {error or 'no message'}; nothing was written")
        return Dump(blocks, digest.hexdigest(), size, counter.finish(), time.monotonic() - self.started,
                    self._tool_version())

    def _tool_version(self) -> str:
        out = ""
        if self._version is not None:
            try:
                out = self._version.communicate(timeout=10)[0]
            except subprocess.TimeoutExpired:
                self._version.kill()
                self._version.communicate()
        return " ".join(out.split()[:6]) or Path(self.binary).name

    def stop(self) -> None:
        self._timer.cancel()
        if self._version is not None and self._version.poll() is None:
            self._version.kill()
            self._version.wait()
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@contextlib.contextmanager
def start_dump(instance: Instance, timeout: float = DUMP_TIMEOUT) -> Iterator[RunningDump]:
    """osTicket's database as one consistent SQL dump, started at once: the caller reads it with
    `RunningDump.read` (its SHA-256 and the rows of each table counted from the dump itself, so they are the
    snapshot's, whatever osTicket wrote meanwhile). mariadb-dump is killed if the block is left early."""
    binary = tool("mariadb-dump", "mysqldump")
    with option_file(instance) as cnf, tempfile.TemporaryFile() as errors:
        running = RunningDump(instance, binary, cnf, errors, timeout)
        try:
            yield running
        finally:
            running.stop()


def dump(instance: Instance, progress: Progress = lambda _: None, timeout: float = DUMP_TIMEOUT) -> Dump:
    with start_dump(instance, timeout) as running:
        return running.read(progress)


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
