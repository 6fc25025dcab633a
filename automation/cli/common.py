"""What every command shares: the consoles, the instance option, and the files written on request
(--json, --junit, --output), checked before any work is done."""

from __future__ import annotations

import copy
import enum
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import click

from automation.errors import ConfigError, LocalInstanceError
from automation.workspace import Workspace

if TYPE_CHECKING:
    from rich.console import Console

    from automation.instance import Instance


class _Deferred:
    """A rich Console made when first used: rich costs a third of the start-up, and `--help` never prints
    through it."""

    def __init__(self, stderr: bool) -> None:
        self._stderr = stderr
        self._console: Console | None = None

    def _made(self) -> Console:
        if self._console is None:
            from rich.console import Console

            # Piped output (CI logs) gets room for the report tables instead of rich's 80-column default,
            # unless COLUMNS says how wide (rich reads it when no width is given).
            width = None if sys.stdout.isatty() or os.environ.get("COLUMNS", "").isdigit() else 160
            self._console = Console(stderr=self._stderr, highlight=False, soft_wrap=True, width=width)
        return self._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self._made(), name)

    # `with console:` (rich's Progress and Live use it) looks these up on the type, not through __getattr__.
    def __enter__(self) -> Console:
        return self._made().__enter__()

    def __exit__(self, *exc: object) -> None:
        self._made().__exit__(*exc)


console = cast("Console", _Deferred(stderr=True))
out = cast("Console", _Deferred(stderr=False))


def escape(text: str) -> str:
    """rich's markup escape, imported when first needed."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)

instance_option = click.option(
    "--instance", "instance_path", type=click.Path(path_type=Path), default=None,
    help="Instance file (default: $OSTOPS_INSTANCE or ~/.local/state/ostops/local/instance.json).",
)


class Outcome(enum.Enum):
    """What a command may return instead of exiting itself; ``automation.cli`` maps it to an exit code."""

    CHANGES_PENDING = "changes pending"
    UNHEALTHY = "unhealthy"  # a health check failed: osTicket or the environment (exit 4)


def progress(message: str) -> None:
    console.print(f"[dim]·[/dim] {escape(message)}")


def warn(message: str) -> None:
    console.print(f"[yellow]warning:[/yellow] {escape(message)}")


def running_instance(workspace: Workspace) -> Instance:
    """The instance, for commands that need its servers: a stopped local one is named, with how to start it."""
    from automation.local.manager import running_services

    instance = workspace.instance()
    if instance.local is not None:
        stopped = [name for name, alive in running_services(instance).items() if not alive]
        if stopped:
            raise LocalInstanceError(f"the local osTicket of {workspace.instance_file} is not running "
                                     f"({', '.join(stopped)} stopped); start it with "
                                     f"`ostops local up --dir {instance.local.dir}`")
    return instance


def guard_option_values(command: click.Command) -> None:
    """No option can swallow the next one: a value that looks like an option (``--junit --seed``, ``--run -y``)
    is refused, exit 2, naming it, instead of becoming a file called ``--seed``. Given to every option of
    ``command`` and its subcommands that takes a value; ``./--name`` still names such a file."""
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            guard_option_values(sub)
    names = frozenset({name for param in command.params for name in (*param.opts, *param.secondary_opts)}
                      | {"-h", "--help"})
    for param in command.params:
        if isinstance(param, click.Option) and not (param.is_flag or param.count):
            param.type = _guarded(param.type, names)


def _guarded(inner: click.ParamType, names: frozenset[str]) -> click.ParamType:
    """``inner`` (a copy, every behaviour kept) refusing option-like values before converting them."""
    if getattr(inner, "guards_options", False):
        return inner
    base = type(inner)

    def convert(self: click.ParamType, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and (value.startswith("--") or value in names):
            self.fail(f"{value!r} looks like an option, not a value for it: give the value (a file name "
                      f"beginning with '-' is written ./{value})", param, ctx)
        return base.convert(self, value, param, ctx)

    guarded = copy.copy(inner)
    guarded.__class__ = type(f"Guarded{base.__name__}", (base,), {"convert": convert, "guards_options": True})
    return guarded


STDOUT = Path("-")


def is_stdout(path: Path) -> bool:
    return str(path) == "-"


def check_writable(path: Path, option: str) -> Path:
    """Refuse, before anything is done or written, an output path that could not be written later: ``-`` is
    standard output; an existing file must be writable; a new one needs an existing, writable folder (a missing
    folder is a typo more often than a wish, so it is never created)."""
    if is_stdout(path):
        return path
    path = path.expanduser()
    if path.is_dir():
        raise ConfigError(f"{option} {path}: is a folder; name a file in it")
    if path.exists():
        if not os.access(path, os.W_OK):
            raise ConfigError(f"{option} {path}: not writable; choose another path")
        return path
    folder = path.parent
    if not folder.exists():
        ancestor = folder
        while not ancestor.exists():
            ancestor = ancestor.parent
        if not ancestor.is_dir():
            raise ConfigError(f"{option} {path}: {ancestor} is not a folder; choose another path")
        raise ConfigError(f"{option} {path}: the folder {folder} does not exist; create it first "
                          f"(mkdir -p {folder}) or choose another path")
    if not folder.is_dir():
        raise ConfigError(f"{option} {path}: {folder} is not a folder; choose another path")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ConfigError(f"{option} {path}: cannot create it in {folder} (not writable); choose another path")
    return path


def write_text(path: Path, text: str, option: str) -> None:
    """Write a requested output file, or standard output for ``-``."""
    path = check_writable(path, option)
    if is_stdout(path):
        click.echo(text, nl=False)
        return
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{option} {path}: cannot write it: {exc.strerror}; choose another path") from exc


def json_document(command: str, ok: bool, **fields: object) -> dict[str, object]:
    """The one shape of every --json document: ``{"command": ..., "ok": ..., <the command's fields>}``."""
    return {"command": command, "ok": ok, **fields}


def print_json(command: str, ok: bool, **fields: object) -> None:
    import json

    click.echo(json.dumps(json_document(command, ok, **fields), indent=2, ensure_ascii=False, default=str))
