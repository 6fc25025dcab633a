"""``ostops rotate api-key | agent-passwords | admin-password | db-password``: a new secret live in osTicket
(and MariaDB), the old one refused, the files that hold it replaced whole, every recorded run re-verified."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from automation.cli.common import escape, instance_option, out, print_json, progress, running_instance
from automation.cli.examples import epilog
from automation.errors import Interrupted, RotationError, UsageError, VerificationError
from automation.workspace import Workspace

if TYPE_CHECKING:
    from automation.operations.rotate import Rotated, Rotation

MASK = "********"


def _common(command: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed([
        click.option("--yes", "-y", is_flag=True, help="Do not ask (needed when standard input is not a terminal)."),
        click.option("--show-secrets", is_flag=True, help="Print the new secret(s) (masked otherwise)."),
        click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON."),
        instance_option,
    ]):
        command = option(command)
    return command


@click.group("rotate", epilog=epilog(["ostops rotate api-key", "ostops rotate agent-passwords --agent john.doe --yes",
                                      "ostops rotate db-password --yes --show-secrets"]))
def rotate_group() -> None:
    """Replace a secret: the new one live in osTicket and MariaDB, the old one refused, the instance file,
    credentials.json and ost-config.php replaced whole, then every recorded run re-verified."""


def _rotate(kind: str, yes: bool, show_secrets: bool, as_json: bool, instance_path: Path | None,
            agents: tuple[str, ...] = ()) -> None:
    from automation.operations.rotate import prepare

    workspace = Workspace.at(instance_path)
    instance = running_instance(workspace)
    rotation = prepare(kind, workspace, instance, agents)
    if not yes:
        if not sys.stdin.isatty():
            raise UsageError(f"{rotation.question}. Standard input is not a terminal, so confirm with --yes; nothing "
                             "was changed")
        click.confirm(f"{rotation.question}.", abort=True, err=True)
    rotated, interrupted = apply_whole(rotation)
    proof = None
    if interrupted is None:
        from automation.operations.reverify import reverify_runs

        # The proof that the rotation lost nothing: every run recorded here, read back with the new secrets.
        proof = reverify_runs(workspace)
    ok = interrupted is None and proof is not None and proof.passed
    secrets = {name: value if show_secrets else MASK for name, value in rotated.secrets.items()}
    if as_json:
        print_json(f"rotate {kind}", ok, rotated=rotated.lines, files=[str(f) for f in rotated.files],
                   reverified=[run.to_dict() for run in proof.runs] if proof else None,
                   **({"secrets": secrets} if show_secrets else {}))
    else:
        for line in rotated.lines:
            out.print(f"rotated: {escape(line)}")
        for path in rotated.files:
            out.print(f"replaced: {escape(str(path))}")
        for name, value in secrets.items():
            out.print(f"new {escape(name)}: {escape(value)}" + ("" if show_secrets else "  (--show-secrets prints it)"))
        if proof is not None:
            out.print(escape(proof.summary()))
    if interrupted is not None:
        raise interrupted
    if proof is not None and not proof.passed:
        raise VerificationError(f"rotate {kind}: the secret is rotated, but {proof.summary()}", proof.problems())


def apply_whole(rotation: Rotation) -> tuple[Rotated, Interrupted | None]:
    """The rotation with SIGINT and SIGTERM held off until it has finished: one arriving meanwhile is returned
    (and raised once the outcome is printed) instead of leaving osTicket and the files disagreeing; a second
    one, or the rotation still going after the grace (automation/interrupt.py), stops it at once, and it undoes
    every step it did."""
    from automation.interrupt import Interruptions

    interruptions = Interruptions()
    rotated: Rotated | None = None
    with interruptions.installed():
        try:
            with interruptions.deferred():
                rotated = rotation.apply(progress)
        except Interrupted as exc:
            if isinstance(exc.__cause__, RotationError):
                raise exc.__cause__ from exc  # stopped midway: it names the signal and what it rolled back
            if rotated is None:
                raise
            return rotated, exc
    assert rotated is not None
    return rotated, None


@rotate_group.command("api-key", epilog=epilog(["ostops rotate api-key", "ostops rotate api-key --yes --show-secrets"]))
@_common
def api_key(yes: bool, show_secrets: bool, as_json: bool, instance_path: Path | None) -> None:
    """A new ticket API key, bound to the same address; the old one is refused (HTTP 401) at once."""
    _rotate("api-key", yes, show_secrets, as_json, instance_path)


@rotate_group.command("agent-passwords", epilog=epilog(["ostops rotate agent-passwords",
                                                        "ostops rotate agent-passwords --agent john.doe --yes"]))
@click.option("--agent", "agents", multiple=True, metavar="USERNAME",
              help="Only this agent (repeatable; default: every agent whose password is in credentials.json).")
@_common
def agent_passwords(agents: tuple[str, ...], yes: bool, show_secrets: bool, as_json: bool,
                    instance_path: Path | None) -> None:
    """New passwords for the seeded agents (stored as osTicket stores them); their old ones and open sessions end."""
    _rotate("agent-passwords", yes, show_secrets, as_json, instance_path, agents)


@rotate_group.command("admin-password", epilog=epilog(["ostops rotate admin-password",
                                                       "ostops rotate admin-password --yes --show-secrets"]))
@_common
def admin_password(yes: bool, show_secrets: bool, as_json: bool, instance_path: Path | None) -> None:
    """A new password for the instance's admin (local instances)."""
    _rotate("admin-password", yes, show_secrets, as_json, instance_path)


@rotate_group.command("db-password", epilog=epilog(["ostops rotate db-password", "ostops rotate db-password --yes"]))
@_common
def db_password(yes: bool, show_secrets: bool, as_json: bool, instance_path: Path | None) -> None:
    """A new MariaDB password for osTicket's database user, in MariaDB and ost-config.php (local instances)."""
    _rotate("db-password", yes, show_secrets, as_json, instance_path)

