"""Files the commands write on request (--junit, --json, --output): checked before the work is done."""

from __future__ import annotations

import os
from pathlib import Path

from automation.errors import ConfigError


def check_writable(path: Path, option: str) -> Path:
    """Refuse, before anything is done or written, an output path that could not be written later: an existing
    file must be writable; a new one needs its nearest existing folder to be writable (missing folders are
    created when the file is written)."""
    path = path.expanduser()
    if path.is_dir():
        raise ConfigError(f"{option} {path}: is a folder; name a file in it")
    if path.exists():
        if not os.access(path, os.W_OK):
            raise ConfigError(f"{option} {path}: not writable; choose another path")
        return path
    ancestor = path.parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise ConfigError(f"{option} {path}: {ancestor} is not a folder; choose another path")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise ConfigError(f"{option} {path}: cannot create it in {ancestor} (not writable); choose another path")
    return path


def write_text(path: Path, text: str, option: str) -> None:
    path = check_writable(path, option)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{option} {path}: cannot write it: {exc.strerror}; choose another path") from exc
