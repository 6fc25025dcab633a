"""The ``ostops`` command line: the one package that imports click.

Exit codes, mapped here and only here (`EXIT_CODES`, `exit_code_for`), from `automation.errors`' tree."""

from __future__ import annotations

import signal
import sys

import click

from automation.cli import instance, lab, load, local, mail, manifest, operations, runs, scenario, seed
from automation.cli.common import Outcome, console, escape, guard_option_values
from automation.cli.examples import add_examples
from automation.cli.rotate import rotate_group
from automation.errors import (
    Interrupted,
    OsTicketError,
    UsageError,
    VerificationError,
    is_environment_failure,
)

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_CHANGES_PENDING, EXIT_ENVIRONMENT = 0, 1, 2, 3, 4
EXIT_INTERRUPTED, EXIT_TERMINATED = 130, 143
# The table of `ostops --help` and the README: what a pipeline can act on.
EXIT_CODES = {
    EXIT_OK: "success: every expectation holds",
    EXIT_FAILED: ("expectations not met: verification mismatches, osTicket refused a step or a login, an "
                  "operation rolled back, a backup file refused"),
    EXIT_USAGE: "bad input (a file, a field, a flag): nothing was written",
    EXIT_CHANGES_PENDING: "changes pending (seed --plan --detailed-exitcode)",
    EXIT_ENVIRONMENT: "osTicket or the environment failed: unreachable, HTTP 5xx, database down, a tool missing",
    EXIT_INTERRUPTED: "interrupted (SIGINT, Ctrl-C); the run's record, --json-file and --junit are written",
    EXIT_TERMINATED: "terminated (SIGTERM, a CI timeout); the same",
}
SIGNAL_EXIT_CODES = {signal.SIGINT: EXIT_INTERRUPTED, signal.SIGTERM: EXIT_TERMINATED}  # the shells' 128 + n
OUTCOME_EXIT_CODES = {Outcome.CHANGES_PENDING: EXIT_CHANGES_PENDING, Outcome.UNHEALTHY: EXIT_ENVIRONMENT}


def _exit_code_table() -> str:
    return "\n".join(f"  {code:>3}  {meaning}" for code, meaning in EXIT_CODES.items())


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(None, "-V", "--version", package_name="ostops")
def cli() -> None:
    """Run osTicket as code: a local instance or Azure, seeding, the ticket lifecycle, verification."""


cli.add_command(local.local)
cli.add_command(seed.seed_command)
cli.add_command(scenario.run_command)
cli.add_command(scenario.verify_command)
cli.add_command(scenario.report_command)
cli.add_command(runs.runs_command)
cli.add_command(runs.purge_command)
cli.add_command(lab.lab_group)
cli.add_command(mail.mail_command)
cli.add_command(load.load_command)
cli.add_command(instance.instance_group)
cli.add_command(manifest.manifest_group)
cli.add_command(rotate_group)
cli.add_command(operations.backup_group)
cli.add_command(operations.restore_command)
cli.add_command(operations.upgrade_command)
add_examples(cli)
guard_option_values(cli)
cli.epilog = f"Exit codes:\n\n\b\n{_exit_code_table()}\n\n{cli.epilog}"


def exit_code_for(exc: BaseException) -> int:
    if isinstance(exc, Interrupted):
        return SIGNAL_EXIT_CODES.get(signal.Signals(exc.signum), EXIT_INTERRUPTED)
    if isinstance(exc, UsageError | click.ClickException):
        return EXIT_USAGE
    if isinstance(exc, KeyboardInterrupt | click.exceptions.Abort):
        return EXIT_INTERRUPTED
    return EXIT_ENVIRONMENT if is_environment_failure(exc) else EXIT_FAILED


def exit_code_for_outcome(result: object) -> int:
    """A command's return value: an `Outcome`, or None for plain success."""
    return OUTCOME_EXIT_CODES.get(result, EXIT_OK) if isinstance(result, Outcome) else EXIT_OK


def main() -> None:
    try:
        result = cli.main(standalone_mode=False)
        sys.exit(exit_code_for_outcome(result))
    except click.exceptions.Abort as exc:
        console.print("aborted")
        sys.exit(exit_code_for(exc))
    except click.ClickException as exc:
        exc.show()
        sys.exit(exit_code_for(exc))
    except OsTicketError as exc:
        label = "verification failed" if isinstance(exc, VerificationError) else "error"
        console.print(f"[red]{label}:[/red] {escape(str(exc))}")
        for problem in exc.problems:
            if problem != str(exc):
                console.print(f"  {escape(problem)}")
        sys.exit(exit_code_for(exc))
    except Interrupted as exc:
        console.print(f"[red]{escape(str(exc))}[/red]")
        sys.exit(exit_code_for(exc))
    except KeyboardInterrupt as exc:
        sys.exit(exit_code_for(exc))


__all__ = ["EXIT_CODES", "cli", "exit_code_for", "exit_code_for_outcome", "is_environment_failure", "main"]
