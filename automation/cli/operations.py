"""``ostops backup [verify]``, ``ostops restore`` and ``ostops upgrade``: day-2 operations on a local help desk,
each ending with its proof."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click

from automation.cli.common import check_writable, console, escape, instance_option, out, print_json, progress
from automation.errors import ConfigError, UpgradeError, UsageError
from automation.workspace import Workspace

if TYPE_CHECKING:
    from automation.operations.archive import Keys

def _keys(recipients: tuple[str, ...], identity: Path | None, confirm: bool) -> Keys:
    """Encryption or decryption keys: age recipients / an identity file, else the passphrase."""
    from automation.operations.archive import PASSPHRASE_ENV, Keys
    from automation.operations.backup import passphrase_from_environment

    if recipients:
        return Keys(recipients=list(recipients))
    if identity is not None:
        try:
            lines = identity.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise ConfigError(f"--identity {identity}: cannot read it ({exc.strerror})") from exc
        found = [line.strip() for line in lines if line.strip().startswith("AGE-SECRET-KEY-")]
        if not found:
            raise ConfigError(f"--identity {identity}: no AGE-SECRET-KEY-… line in it (an age identity file)")
        return Keys(identities=found)
    passphrase = passphrase_from_environment()
    if passphrase is None:
        if not sys.stdin.isatty():
            raise ConfigError(f"no passphrase: set {PASSPHRASE_ENV} (standard input is not a terminal to ask "
                              "on), or use --recipient / --identity")
        passphrase = click.prompt("Backup passphrase", hide_input=True, confirmation_prompt=confirm, err=True)
    return Keys(passphrase=passphrase)


@contextmanager
def _progress() -> Iterator[tuple[Callable[[str], None], Callable[[int], None]]]:
    """rich's progress display on standard error: the current step, and the bytes dumped so far."""
    from rich.progress import DownloadColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), DownloadColumn(), TimeElapsedColumn(),
                  console=console, transient=True) as bar:
        task = bar.add_task("starting", total=None)

        def stage(text: str) -> None:
            bar.update(task, description=escape(text))
            progress(text)

        def dumped(size: int) -> None:
            bar.update(task, completed=size)

        yield stage, dumped


recipient_option = click.option("--recipient", "-r", "recipients", multiple=True, metavar="AGE_PUBLIC_KEY",
                                help="Encrypt to this age public key (age1…) instead of a passphrase; repeatable.")
identity_option = click.option("--identity", "-i", type=click.Path(path_type=Path), default=None,
                               help="An age identity file (AGE-SECRET-KEY-…) for a backup made with --recipient.")


@click.group("backup", invoke_without_command=True)
@click.option("--output", "-o", type=click.Path(path_type=Path), default=None,
              help="The backup file (default: backups/ostops-backup-<UTC time>.age beside the instance file).")
@recipient_option
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as one JSON document (tables and progress on standard error).")
@instance_option
@click.pass_context
def backup_group(ctx: click.Context, output: Path | None, recipients: tuple[str, ...], as_json: bool,
                 instance_path: Path | None) -> None:
    """Back up a local help desk into one encrypted file (age): osTicket's database (mariadb-dump
    --single-transaction), ost-config.php with its SECRET_SALT, attachments kept outside the database, and
    ostops's records (runs, ledgers, instance and credentials files), with a manifest of rows per table and the
    SHA-256 of every part. The file is mode 0600.

    \b
    The passphrase comes from $OSTOPS_BACKUP_PASSPHRASE or a prompt, never from the command line.
    """
    if ctx.invoked_subcommand is not None:
        return
    from automation.cli.common import running_instance
    from automation.operations.backup import backup, default_output

    workspace = Workspace.at(instance_path)
    instance = running_instance(workspace)
    target = output or default_output(workspace)
    if output is not None:
        check_writable(output, "--output")
    keys = _keys(recipients, None, confirm=True)
    with _progress() as (stage, dumped):
        result = backup(workspace, target, keys, stage, dumped, instance)
    m = result.manifest
    if as_json:
        print_json("backup", True, file=str(result.path), bytes=result.size, seconds=round(result.seconds, 2),
                   dump_seconds=round(result.dump_seconds, 2),
                   encryption="age recipients" if keys.recipients else "age passphrase (scrypt)",
                   manifest=m.model_dump())
        return
    out.print(f"backup {escape(str(result.path))}: {result.size / 1e6:.1f} MB, osTicket {m.osticket_version}, "
              f"{len(m.rows)} tables, {sum(m.rows.values())} rows, {len(m.runs)} run(s), in {result.seconds:.1f} s "
              f"(dump {result.dump_seconds:.1f} s)")


@backup_group.command("verify")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--restore-test", is_flag=True,
              help="Also restore it into a throwaway local instance and verify every recorded run there.")
@click.option("--source", type=click.Path(path_type=Path), default=None,
              help="osTicket of the backup's version for --restore-test (default: as `ostops local up` finds it).")
@identity_option
@click.option("--json", "as_json", is_flag=True, help="Print the checks as JSON.")
def backup_verify_command(file: Path, restore_test: bool, source: Path | None, identity: Path | None,
                          as_json: bool) -> None:
    """Check a backup: it decrypts, its manifest reads, every part matches its SHA-256, and (--restore-test)
    it restores into a throwaway instance where every recorded run verifies. A backup that fails any check
    exits 1."""
    from automation.operations import vm_backup
    from automation.operations.backup import verify_backup

    if vm_backup.is_vm_backup(file):
        if restore_test:
            raise UsageError(f"{file}: an Azure VM backup zip; --restore-test of it is not supported yet (run "
                             "`ostops backup verify` without it to check its parts)")
        vm = vm_backup.open_vm_backup(file)
        vm_checks = vm_backup.verify_checks(vm)
        if as_json:
            print_json("backup verify", True, file=str(file), manifest=vm.manifest.model_dump(by_alias=True),
                       checks=[{"check": n, "ok": ok, "detail": d} for n, ok, d in vm_checks])
            return
        _print_checks(vm_checks, file)
        out.print(f"{escape(str(file))}: the backup is sound")
        return
    keys = _keys((), identity, confirm=False)
    result = verify_backup(file, keys)
    checks = list(result.checks)
    if restore_test:
        from automation.operations.restore import restore_test as run_restore_test

        with _progress() as (stage, _):
            proof = run_restore_test(result.opened, keys, source, stage)
        checks += [(name, ok, detail) for name, ok, detail in proof.checks]
        if not proof.passed:
            _print_checks(checks, file)
            from automation.errors import RestoreError

            raise RestoreError(f"{file}: the restore test failed", proof.problems)
    if as_json:
        print_json("backup verify", True, file=str(file), manifest=result.opened.manifest.model_dump(),
                   checks=[{"check": n, "ok": ok, "detail": d} for n, ok, d in checks])
        return
    _print_checks(checks, file)
    out.print(f"{escape(str(file))}: the backup is sound")


def _print_checks(checks: list[tuple[str, bool, str]], title: object, to_stderr: bool = False) -> None:
    """The proof as a table: on standard output, or on standard error beside a JSON document."""
    from rich.table import Table

    table = Table("check", "result", "detail", title=escape(str(title)))
    for name, ok, detail in checks:
        table.add_row(escape(name), "[green]ok[/green]" if ok else "[red]failed[/red]", escape(detail))
    (console if to_stderr else out).print(table)


@click.command("restore")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--dir", "directory", type=click.Path(path_type=Path), default=None,
              help="Restore into a new local instance in this folder (otherwise over the current instance).")
@click.option("--source", type=click.Path(path_type=Path), default=None,
              help="osTicket of the backup's version (default: the source the backed-up instance used, else as "
                   "`ostops local up` finds it).")
@click.option("--port", type=int, default=None, help="HTTP port of a new instance (default: a free one).")
@click.option("--yes", "-y", is_flag=True, help="Replace the current instance without asking.")
@identity_option
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as one JSON document (tables and progress on standard error).")
@instance_option
def restore_command(file: Path, directory: Path | None, source: Path | None, port: int | None, yes: bool,
                    identity: Path | None, as_json: bool, instance_path: Path | None) -> None:
    """Restore a backup onto a new local instance (--dir) or over the current one (asked; --yes otherwise; the
    instance it replaces is backed up first). Nothing is touched unless the backup decrypts and every part
    matches its manifest. Ends with the proof: rows per table equal the manifest, every run recorded before the
    backup verifies against its ledger, the admin logs in, the API key is active, the portal answers.

    \b
    The passphrase comes from $OSTOPS_BACKUP_PASSPHRASE or a prompt, never from the command line.
    """
    from automation.operations import restore as restoring
    from automation.operations import vm_backup
    from automation.operations.backup import verify_backup

    if vm_backup.is_vm_backup(file):
        raise UsageError(f"{file}: an Azure VM backup zip; `ostops restore` of it is not supported yet, nothing was "
                         "restored (`ostops backup verify` checks it; docs/operations.md: restore a VM backup)")
    keys = _keys((), identity, confirm=False)
    opened = verify_backup(file, keys).opened
    progress(f"{file}: decrypted, {len(opened.manifest.parts)} part(s) match the manifest")
    with _progress() as (stage, _):
        if directory is not None:
            result = restoring.restore_new(opened, directory, source, port, stage)
        else:
            workspace = Workspace.at(instance_path)

            def confirm(question: str) -> bool:
                if yes:
                    return True
                if not sys.stdin.isatty():
                    raise click.UsageError(f"{question.rstrip('?')}: standard input is not a terminal, so "
                                           "confirm with --yes")
                return click.confirm(question, err=True)

            result = restoring.restore_over(opened, workspace, keys, source, stage, confirm)
    if as_json:
        print_json("restore", result.proof.passed, file=str(file), folder=str(result.folder),
                   instance_file=str(Path(result.folder) / "instance.json"), url=result.instance.base_url,
                   osticket_version=opened.manifest.osticket_version, backup_created=opened.manifest.created,
                   seconds=round(result.seconds, 2),
                   previous_backup=str(result.previous_backup) if result.previous_backup else None,
                   **result.proof.to_dict())
    _print_checks(result.proof.checks, f"restored {file} into {result.folder}", to_stderr=as_json)
    if not result.proof.passed:
        from automation.errors import RestoreError

        raise RestoreError(f"the restored help desk in {result.folder} does not match the backup",
                           result.proof.problems)
    if as_json:
        return
    if result.previous_backup is not None:
        out.print(f"the instance it replaced was backed up first: {escape(str(result.previous_backup))}")
    out.print(f"restored osTicket {opened.manifest.osticket_version} at {result.instance.base_url} "
              f"(instance file {escape(str(Path(result.folder) / 'instance.json'))}) in {result.seconds:.1f} s")


@click.command("upgrade")
@click.option("--to", "version", required=True, help="The osTicket version to upgrade to (e.g. 1.18.1).")
@click.option("--source", type=click.Path(path_type=Path), default=None,
              help="The release zip, its upload/ folder or a source tree (default: as `ostops local up` finds it).")
@click.option("--backup-output", type=click.Path(path_type=Path), default=None,
              help="Where the backup taken first goes (default: backups/ beside the instance file).")
@recipient_option
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as one JSON document (tables and progress on standard error).")
@instance_option
def upgrade_command(version: str, source: Path | None, backup_output: Path | None, recipients: tuple[str, ...],
                    as_json: bool, instance_path: Path | None) -> None:
    """Upgrade the local osTicket with osTicket's own upgrader: a backup first; preconditions (PHP version,
    plugins, free space); the new code in place (ost-config.php kept, setup/ removed); `php manage.php upgrade`;
    the schema signature checked against the release's; a smoke test (API ticket, staff login, portal); every
    recorded run re-verified. Any failure rolls back (old code, the database restored) and exits 1 naming the
    step.

    \b
    The passphrase comes from $OSTOPS_BACKUP_PASSPHRASE or a prompt, never from the command line.
    """
    from automation.cli.common import running_instance
    from automation.operations.upgrade import upgrade

    workspace = Workspace.at(instance_path)
    instance = running_instance(workspace)
    if backup_output is not None:
        check_writable(backup_output, "--backup-output")
    keys = _keys(recipients, None, confirm=True)
    try:
        with _progress() as (stage, _):
            result = upgrade(workspace, instance, version, source, keys, backup_output, stage)
    except UpgradeError as exc:
        if as_json and exc.report is not None:  # steps ran: what they did and the rollback are the report
            print_json("upgrade", False, **exc.report)
        raise
    if as_json:
        print_json("upgrade", True, **result.to_dict())
    _print_checks(result.checks, f"upgrade to osTicket {version}", to_stderr=as_json)
    if as_json:
        return
    out.print(f"upgraded osTicket {result.from_version} -> {result.to_version} in {result.seconds:.1f} s; the "
              f"backup taken first: {escape(str(result.backup))}")
