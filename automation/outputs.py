"""Files the commands write on request (--junit, --json, --output): checked before the work is done."""

from __future__ import annotations

import os
from pathlib import Path

from automation.errors import ConfigError


def check_writable(path: Path, option: str) -> Path:
    """Refuse, before anything is done, an output path that cannot be written; missing folders are created."""
    path = path.expanduser()
    if path.is_dir():
        raise ConfigError(f"{option} {path}: is a folder; name a file in it")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{option} {path}: cannot create its folder: {exc.strerror}; choose another path") from exc
    if not os.access(path.parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise ConfigError(f"{option} {path}: not writable; choose another path")
    return path


def write_text(path: Path, text: str, option: str) -> None:
    path = check_writable(path, option)
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{option} {path}: cannot write it: {exc.strerror}; choose another path") from exc
