"""The local instance's SMTP server: every message osTicket sends, kept as one .eml file in the mail folder.

``python -m automation.local.smtpd --dir DIR --port N`` listens on 127.0.0.1 only (aiosmtpd, no auth, no
TLS: loopback) and writes each message whole (a temporary file, then a rename) before it answers 250, so a
message osTicket was told is delivered is already on disk. File names sort by arrival:
``<nanoseconds since the epoch>-<sequence>.eml``. The envelope is kept in two headers put first,
``X-Envelope-From`` and ``X-Envelope-To`` (as an MTA's ``Return-Path`` / ``Delivered-To``)."""

from __future__ import annotations

import argparse
import itertools
import os
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from automation.local import processes

MAIL_DIR = "mail"
PROGRAM = "automation.local.smtpd"  # what the process's command line names: `down` checks it


def message_bytes(mail_from: str, rcpt_tos: list[str], content: bytes) -> bytes:
    envelope = f"X-Envelope-From: <{mail_from}>\r\nX-Envelope-To: {', '.join(rcpt_tos)}\r\n"
    return envelope.encode("ascii", "replace") + content


def store(folder: Path, data: bytes, sequence: int) -> Path:
    """Write one message atomically; its name sorts by arrival."""
    name = f"{time.time_ns():020d}-{sequence:06d}.eml"
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".incoming-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o600)
        target = folder / name
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


class Keeper:
    """aiosmtpd's handler: ``handle_DATA`` is its documented hook (aiosmtpd.readthedocs.io, "Handlers")."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.sequence = itertools.count(1)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content = envelope.original_content or envelope.content
        if isinstance(content, str):
            content = content.encode("utf-8")
        path = store(self.folder, message_bytes(envelope.mail_from or "", list(envelope.rcpt_tos), content),
                     next(self.sequence))
        print(f"stored {path.name} from {envelope.mail_from} to {', '.join(envelope.rcpt_tos)}", flush=True)
        return "250 Message accepted for delivery"


def serve(folder: Path, port: int) -> None:
    from aiosmtpd.controller import Controller

    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    controller = Controller(Keeper(folder), hostname="127.0.0.1", port=port)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    controller.start()
    print(f"listening on 127.0.0.1:{port}, storing in {folder}", flush=True)
    try:
        stop.wait()
    finally:
        controller.stop()


def start(base: Path, port: int) -> int:
    """Start the server for the instance in ``base``; its pid once it listens."""
    folder = base / MAIL_DIR
    log = base / "logs" / "smtpd.log"
    argv = [sys.executable, "-m", PROGRAM, "--dir", str(folder), "--port", str(port)]
    proc = processes.spawn(argv, log, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    processes.wait_for_port(port, proc, "smtpd", log, timeout=20)
    return proc.pid


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog=PROGRAM, description=__doc__.splitlines()[0])
    parser.add_argument("--dir", required=True, type=Path, help="the mail folder")
    parser.add_argument("--port", required=True, type=int, help="the port on 127.0.0.1")
    args = parser.parse_args(argv)
    serve(args.dir, args.port)


if __name__ == "__main__":
    main()
