"""Files a scenario attaches and collaborators it names: the load-time rules (exit 2 with file:line).

What osTicket 1.18.1 accepts by default (include/class.forms.php, FileUploadField): any file type (the
ticket form's attachment field has no type restriction and ``allowed_filetypes`` is empty), files up to
``max_file_size``, which the installer sets to the power of two just at or above half of PHP's
``upload_max_filesize`` (include/class.i18n.php): 1 MiB for PHP's default of 2M; and a file whose type says
image must be one for the staff panel's and the portal's uploads (``FileUploadField::isValidFile``:
``exif_imagetype``). An attachment osTicket refuses is dropped from the ticket with only a system note "File
Import Error" (include/api.tickets.php: "soft fail"; class.thread.php), so it is refused here, before the run."""

from __future__ import annotations

import mimetypes
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from automation.scenarios.models import Scenario
from automation.yamlfile import Located

MAX_FILE_SIZE = 1 << 20  # osTicket's default max_file_size with PHP's default upload_max_filesize (2M)
_IMAGE_MAGIC = {"image/png": (b"\x89PNG\r\n\x1a\n",), "image/jpeg": (b"\xff\xd8\xff",),
                "image/gif": (b"GIF87a", b"GIF89a"), "image/bmp": (b"BM",), "image/webp": (b"RIFF",)}


def mime_type(name: str) -> str:
    """The type the file is sent with (as api.py and staff.py send it): by its name, else octet-stream."""
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


def resolve(folder: Path, name: str) -> Path:
    return (folder / name).resolve()


def file_problem(folder: Path, name: str) -> str | None:
    """Why osTicket would not take this file as an attachment, or None."""
    path = resolve(folder, name)
    if not path.is_file():
        return f"attachment {name!r}: no such file {path} (attachments are read from the scenario file's folder)"
    size = path.stat().st_size
    if size == 0:
        return f"attachment {name!r}: the file is empty"
    if size > MAX_FILE_SIZE:
        return (f"attachment {name!r}: {size} bytes is more than osTicket's default maximum file size "
                f"({MAX_FILE_SIZE} bytes, 1 MiB)")
    mime = mime_type(path.name)
    if mime.startswith("image/"):
        with path.open("rb") as f:
            head = f.read(16)
        magic = _IMAGE_MAGIC.get(mime)
        if magic is None or not head.startswith(magic):
            return (f"attachment {name!r}: named as {mime} but it is not such an image (osTicket's upload "
                    "check refuses it: FileUploadField::isValidFile)")
    return None


def _attachment_places(scenario: Scenario) -> Iterator[tuple[tuple[str | int, ...], list[str], Any, Any]]:
    """(path of the `attachments` key, the names, the ticket, the step or None)."""
    for ti, ticket in enumerate(scenario.tickets):
        if ticket.attachments:
            yield ("tickets", ti, "attachments"), ticket.attachments, ticket, None
        for si, step in enumerate(ticket.steps):
            names = getattr(step, "attachments", None)
            if names:
                yield ("tickets", ti, "steps", si, "attachments"), names, ticket, step


def problems(scenario: Scenario, located: Located, folder: Path) -> list[str]:
    found: list[str] = []
    for at, names, _ticket, _step in _attachment_places(scenario):
        for i, name in enumerate(names):
            problem = file_problem(folder, name)
            if problem:
                found.append(f"{located.where((*at, i))}: {problem}")
    for ti, ticket in enumerate(scenario.tickets):
        owner = str(ticket.requester.email).casefold()
        if ticket.cc and ticket.channel != "email":
            found.append(f"{located.where(('tickets', ti, 'cc'))}: osTicket 1.18's ticket API and Support Center "
                         "form take no CC; use channel: email (the e-mail's Cc) or an add_collaborator step")
        for ci, email in enumerate(ticket.cc):
            if str(email).casefold() == owner:
                found.append(f"{located.where(('tickets', ti, 'cc', ci))}: the requester cannot be her own "
                             "collaborator (osTicket: \"Ticket Owner cannot be a Collaborator\")")
        for si, step in enumerate(ticket.steps):
            if step.do == "add_collaborator" and str(step.email).casefold() == owner:
                found.append(f"{located.where(('tickets', ti, 'steps', si, 'email'))}: the requester cannot be "
                             "her own collaborator (osTicket: \"Ticket Owner cannot be a Collaborator\")")
    return found
