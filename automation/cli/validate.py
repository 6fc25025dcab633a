"""``ostops validate``: scenario files checked offline (no instance, no osTicket), for pre-merge jobs and editors."""

from __future__ import annotations

from pathlib import Path

import click

from automation.cli.common import escape, out, print_json
from automation.errors import ScenarioError, UsageError


@click.command("validate")
@click.argument("scenario_files", nargs=-1, required=True, type=click.Path(path_type=Path), metavar="SCENARIO...")
@click.option("--seed", "seed_path", type=click.Path(path_type=Path), default=None,
              help="Check the names against this seed file (default: the one each scenario's `seed:` names).")
@click.option("--json", "as_json", is_flag=True, help="Print each file's outcome as JSON.")
def validate_command(scenario_files: tuple[Path, ...], seed_path: Path | None, as_json: bool) -> None:
    """Check scenario files offline: their shape, and every name they use against the seed file."""
    from automation.scenarios.validate import Validated, validate
    from automation.seeding.models import SeedFile

    seeds: dict[Path, SeedFile] = {}
    done: list[Validated] = []
    failed: list[tuple[Path, UsageError]] = []
    for path in dict.fromkeys(scenario_files):
        try:
            done.append(validate(path, seed_path, seeds))
        except UsageError as exc:
            failed.append((path, exc))
    if as_json:
        files = [{"ok": True, **v.to_dict(), "problems": []} for v in done]
        files += [{"ok": False, "file": str(path), "error": str(exc), "problems": exc.problems}
                  for path, exc in failed]
        print_json("validate", not failed, files=files)
    else:
        for v in done:
            against = (f"names checked against {v.seed}" if v.seed is not None else
                       "shape only: no seed file (give --seed FILE, or `seed:` in the scenario, to check its names)")
            out.print(f"valid: {escape(str(v.path))}: {v.tickets} ticket(s), {v.steps} step(s); {escape(against)}")
    if len(failed) == 1 and not done:
        raise failed[0][1]
    if failed:
        problems: list[str] = []
        for _, error in failed:
            problems += error.problems or [str(error)]
        raise ScenarioError(f"{len(failed)} of {len(failed) + len(done)} scenario files are invalid: "
                            f"{', '.join(str(path) for path, _ in failed)}", list(dict.fromkeys(problems)))
