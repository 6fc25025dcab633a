"""The examples that end every ``--help`` (click epilogs), one to three per command, keyed by its path."""

from __future__ import annotations

import click

EXAMPLES: dict[str, list[str]] = {
    "ostops": ["ostops local up && ostops seed seed/helpdesk.yaml", "ostops run seed/scenarios/lab.yaml --seed",
               "ostops report"],
    "ostops local": ["ostops local up", "ostops local status"],
    "ostops local up": ["ostops local up", "ostops local up --dir /tmp/lab --port 8081 --source osTicket-v1.18.1.zip",
                        "ostops local up --fresh"],
    "ostops local down": ["ostops local down", "ostops local down --dir /tmp/lab"],
    "ostops local status": ["ostops local status", "ostops local status --json | jq .ok"],
    "ostops local env": ["eval \"$(ostops local env)\"", "ostops local env --show-secrets"],
    "ostops local logins": ["ostops local logins", "ostops local logins --show-secrets"],
    "ostops seed": ["ostops seed seed/helpdesk.yaml --plan", "ostops seed seed/helpdesk.yaml",
                    "ostops seed seed/helpdesk.yaml --plan --detailed-exitcode  # 3: changes pending"],
    "ostops validate": ["ostops validate seed/scenarios/lab.yaml",
                        "ostops validate seed/scenarios/*.yaml  # a pre-merge job: every scenario, no osTicket",
                        "ostops validate my-ticket.yaml --seed my-helpdesk.yaml --json"],
    "ostops run": ["ostops run seed/scenarios/lab.yaml --seed",
                   "ostops run seed/scenarios/lab.yaml --junit out.xml --json-file run.json",
                   "ostops run seed/scenarios/my-ticket.yaml --only my-ticket"],
    "ostops verify": ["ostops verify seed/scenarios/lab.yaml",
                      "ostops verify seed/scenarios/lab.yaml --run 20261127150543-f51f --json"],
    "ostops report": ["ostops report", "ostops report --format html --output review.html",
                      "ostops report --run 20261127150543-f51f --json"],
    "ostops runs": ["ostops runs", "ostops runs --json | jq -r '.runs[-1].run_id'"],
    "ostops mail": ["ostops mail", "ostops mail --run 20261127150543-f51f --to karen.doe@example.com",
                    "ostops mail --json | jq -r '.messages[].subject'"],
    "ostops mail show": ["ostops mail show 3", "ostops mail show 3 --json | jq -r .message.text"],
    "ostops purge": ["ostops purge --run 20261127150543-f51f", "ostops purge --run 20261127150543-f51f --yes",
                     "ostops purge --all-runs --older-than 7d --yes"],
    "ostops lab": ["ostops lab reset"],
    "ostops lab reset": ["ostops lab reset", "ostops lab reset --seed my-helpdesk.yaml --yes"],
    "ostops load": ["ostops load --tickets 300 --concurrency 4",
                    "ostops load --tickets 100 --scenario seed/scenarios/lab.yaml --sample 5 --json"],
    "ostops instance": ["pulumi stack output --json --show-secrets | ostops instance from-stack",
                        "ostops instance add staging --url https://helpdesk.example.org/ --db-host 127.0.0.1",
                        "ostops instance status --json"],
    "ostops instance add": [("OSTOPS_DB_PASSWORD=… OSTOPS_API_KEY=… OSTOPS_ADMIN_PASSWORD=… ostops instance add "
                             "staging --url https://helpdesk.example.org/ --db-host db.example.org --db-ca ca.pem"),
                            ("ostops instance add docker --url http://127.0.0.1:8080/ --db-host 127.0.0.1 "
                             "--db-port 13306")],
    "ostops instance status": ["ostops instance status",
                               "ostops instance status --json --instance staging/instance.json"],
    "ostops instance from-stack": ["pulumi stack output --json --show-secrets | ostops instance from-stack",
                                   "ostops instance from-stack outputs.json --db-ca server-cert.pem"],
    "ostops backup": ["OSTOPS_BACKUP_PASSPHRASE=... ostops backup",
                      "ostops backup --output /srv/backups/helpdesk.age --recipient age1...",
                      "ostops backup verify /srv/backups/helpdesk.age --restore-test"],
    "ostops backup verify": ["ostops backup verify helpdesk.age --restore-test",
                             "ostops backup verify osticket-vm-20261206T023000Z-nightly.zip",
                             "ostops backup verify helpdesk.age --identity key.txt --json"],
    "ostops restore": ["ostops restore helpdesk.age --dir /tmp/drill", "ostops restore helpdesk.age --yes"],
    "ostops upgrade": ["ostops upgrade --to 1.18.1 --source osTicket-v1.18.1.zip",
                       "ostops upgrade --to 1.18.1 --recipient age1..."],
    "ostops manifest": ["ostops manifest check", "ostops manifest hash --write"],
    "ostops manifest check": ["ostops manifest check", "ostops manifest check --json"],
    "ostops manifest hash": ["ostops manifest hash", "ostops manifest hash --only php --write",
                             "ostops manifest hash --write --replace"],
}


def epilog(lines: list[str]) -> str:
    # \b keeps click from rewrapping the examples into one paragraph.
    return "Examples:\n\n\b\n" + "\n".join(f"  {line}" for line in lines)


def add_examples(command: click.Command, path: str = "ostops") -> None:
    """Give ``command`` and every subcommand its examples' epilog."""
    if path in EXAMPLES:
        command.epilog = epilog(EXAMPLES[path])
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            add_examples(sub, f"{path} {name}")
