"""``ostops mail [--run ID] [--to ADDR] [--json]``: what osTicket sent, as the local SMTP server caught it."""

from __future__ import annotations

from pathlib import Path

import click
from rich.markup import escape

from automation.cli.common import instance_option, out, print_json
from automation.errors import ConfigError
from automation.workspace import Workspace


@click.command("mail")
@click.option("--run", "run_id", default=None, help="Only the mail about this run's tickets (see `ostops runs`).")
@click.option("--to", "to", default=None, help="Only the mail to this address.")
@click.option("--json", "as_json", is_flag=True, help="Print the messages as JSON.")
@instance_option
def mail_command(run_id: str | None, to: str | None, as_json: bool, instance_path: Path | None) -> None:
    """The mail osTicket sent (local instances): when, to whom, the subject and the ticket it is about."""
    from rich.table import Table

    from automation.scenarios.mail import mailbox_of, select
    from automation.scenarios.record import load_record

    workspace = Workspace.at(instance_path)
    mailbox = mailbox_of(workspace.instance())
    if mailbox.folder is None:
        raise ConfigError(mailbox.unavailable)
    numbers: list[str] = []
    if run_id is not None:
        record = load_record(workspace, run_id)
        if record is None or not record.ticket_numbers:
            raise ConfigError(f"{workspace.run_file(run_id)}: no run {run_id} with tickets recorded here; "
                              "see `ostops runs`")
        numbers = sorted(record.ticket_numbers.values())
    messages = select(mailbox.messages(), numbers, to)
    if as_json:
        print_json("mail", True, folder=str(mailbox.folder), run_id=run_id, to=to,
                   messages=[m.to_dict() for m in messages])
        return
    if not messages:
        out.print(f"no mail{' about run ' + run_id if run_id else ''}{' to ' + to if to else ''} in "
                  f"{escape(str(mailbox.folder))}")
        return
    table = Table("received (UTC)", "to", "subject", "ticket")
    for m in messages:
        table.add_row(m.received.strftime("%Y-%m-%d %H:%M:%S"), escape(", ".join(m.to)), escape(m.subject),
                      f"#{m.numbers[0]}" if m.numbers else "-")
    out.print(table)
    out.print(f"{len(messages)} message(s) in {escape(str(mailbox.folder))}")
