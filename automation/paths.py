"""Where ostops keeps and finds things, with nothing heavy imported: the command line's option defaults and
``ostops --help`` need these before any model or network library is loaded."""

from __future__ import annotations

import json
import os
from pathlib import Path

from automation.errors import ConfigError

CREDENTIALS_FILE = "credentials.json"  # beside the instance file
MANIFEST_PATH = Path(__file__).resolve().parents[1] / "infra" / "bootstrap" / "downloads.json"


def state_home() -> Path:
    return Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state") / "ostops"


def default_local_dir() -> Path:
    return state_home() / "local"


def local_dir_from_environment() -> Path:
    """The local instance folder `local up` and `local down` use without --dir: the folder of
    $OSTOPS_INSTANCE when it is set (so every command means the same instance), else the default one."""
    env = os.environ.get("OSTOPS_INSTANCE")
    if not env:
        return default_local_dir()
    path = Path(env).expanduser()
    if path.name != "instance.json":
        raise ConfigError(f"OSTOPS_INSTANCE={env}: a local instance's file is <folder>/instance.json; "
                          "pass --dir FOLDER to `ostops local up/down`")
    try:
        kind = json.loads(path.read_text(encoding="utf-8")).get("kind", "local")
    except (OSError, ValueError, AttributeError):
        kind = "local"  # missing or unreadable: `up` creates it, `down` finds nothing, Instance.load explains
    if kind != "local":
        raise ConfigError(f"OSTOPS_INSTANCE={env} names an {kind} instance; `ostops local up/down` need a local "
                          "one: pass --dir FOLDER or unset OSTOPS_INSTANCE")
    return path.parent


def default_azure_instance_path() -> Path:
    return state_home() / "azure" / "instance.json"


def default_external_instance_path(name: str) -> Path:
    """`ostops instance add NAME`: each external instance in its own folder (its credentials and runs beside)."""
    return state_home() / "external" / name / "instance.json"


def default_instance_path() -> Path:
    env = os.environ.get("OSTOPS_INSTANCE")
    return Path(env) if env else default_local_dir() / "instance.json"
