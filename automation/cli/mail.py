"""``ostops mail [--run ID] [--to ADDR] [--json]``: what osTicket sent, as the local SMTP server caught it;
``ostops mail show N``: one message, readably."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.markup import escape

from automation.cli.common import instance_option, out, print_json
from automation.errors import ConfigError
from automation.workspace import Workspace

if TYPE_CHECKING:
    from automation.scenarios.mail import MailView


@click.group("mail", invoke_without_command=True)
@click.option("--run", "run_id", default=None, help="Only the mail about this run's tickets (see `ostops runs`).")
@click.option("--to", "to", default=None, help="Only the mail to this address.")
@click.option("--json", "as_json", is_flag=True, help="Print the messages as JSON.")
@instance_option
@click.pass_context
def mail_command(ctx: click.Context, run_id: str | None, to: str | None, as_json: bool,
                 instance_path: Path | None) -> None:
    """The mail osTicket sent (local instances): when, to whom, the subject and the ticket it is about.
    `ostops mail show N` prints message N of the list (the # column) with its text."""
    from rich.table import Table

    from automation.scenarios.mail import mailbox_of, select
    from automation.scenarios.record import load_record

    if ctx.invoked_subcommand is not None:
        if run_id is not None or to is not None or as_json:
            raise click.UsageError("--run, --to and --json go after `show` (ostops mail show N --json)")
        return
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
    every = mailbox.messages()
    position = {m.file: i for i, m in enumerate(every, 1)}
    messages = select(every, numbers, to)
    if as_json:
        print_json("mail", True, folder=str(mailbox.folder), run_id=run_id, to=to,
                   messages=[m.to_dict() for m in messages])
        return
    if not messages:
        out.print(f"no mail{' about run ' + run_id if run_id else ''}{' to ' + to if to else ''} in "
                  f"{escape(str(mailbox.folder))}")
        return
    table = Table("#", "received (UTC)", "to", "subject", "ticket")
    for m in messages:
        table.add_row(str(position[m.file]), m.received.strftime("%Y-%m-%d %H:%M:%S"), escape(", ".join(m.to)), escape(m.subject),
                      f"#{m.numbers[0]}" if m.numbers else "-")
    out.print(table)
    out.print(f"{len(messages)} message(s) in {escape(str(mailbox.folder))}; `ostops mail show N` prints one")


@mail_command.command("show")
@click.argument("ref", metavar="N")
@click.option("--json", "as_json", is_flag=True, help="Print the message as JSON.")
@instance_option
def show_command(ref: str, as_json: bool, instance_path: Path | None) -> None:
    """Print one message: N is its number in `ostops mail`'s list (the # column), its Message-ID or its file
    name. Headers, then the text part; an HTML part reduced to text when it says more."""
    from automation.scenarios.mail import mailbox_of, view

    mailbox = mailbox_of(Workspace.at(instance_path).instance())
    if mailbox.folder is None:
        raise ConfigError(mailbox.unavailable)
    message = view(mailbox.find(ref))
    if as_json:
        print_json("mail show", True, folder=str(mailbox.folder), message=message.to_dict())
        return
    click.echo(render_message(message), nl=False)


def render_message(message: MailView) -> str:
    """Headers, a blank line, the text; the HTML part's text after it when it differs; the attachments' names."""
    width = max(len(name) for name, _ in message.headers) if message.headers else 0
    lines = [f"{name + ':':<{width + 1}} {value}" for name, value in message.headers]
    lines += ["", message.text or "(no text part)"]
    if message.html_text:
        lines += ["", "--- the HTML part, as text ---", message.html_text]
    if message.attachments:
        lines += ["", "attached: " + ", ".join(message.attachments)]
    lines.append(f"({message.file})")
    return "\n".join(lines) + "\n"
