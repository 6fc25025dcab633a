"""`ostops validate`: a scenario checked offline, for pre-merge jobs and editors: no instance file, no osTicket.

The scenario's shape (`loader.load_scenario`: schema, duplicate keys, channels, texts, attachments) and then every
name it uses (`loader.check_names`) against the help desk its seed file describes: what a fresh osTicket install
holds (`schema.FRESH_INSTALL_NAMES`) plus every name the seed file defines. The seed is the one given, else the
scenario's own `seed:`; with neither, only the shape is checked, and the result says so."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from automation.osticket.directory import Directory, department_names, fold
from automation.osticket.schema import FRESH_INSTALL_NAMES
from automation.scenarios.loader import LoadedScenario, check_names, load_scenario
from automation.seeding.loader import load_seed
from automation.seeding.models import SeedFile


@dataclass(frozen=True)
class Validated:
    """A scenario file that holds: its tickets and steps, and the seed file its names were checked against (None:
    the shape only)."""

    path: Path
    tickets: int
    steps: int
    seed: Path | None

    def to_dict(self) -> dict[str, object]:
        return {"file": str(self.path), "tickets": self.tickets, "steps": self.steps,
                "names_checked_against": str(self.seed) if self.seed else None}


def seeded_directory(seed: SeedFile) -> Directory:
    """The names the help desk holds once ``seed`` is applied to a fresh install (ids stand-ins: only the names
    are checked). Names compare as osTicket's collation does: a seed's spelling of an installed name replaces it."""
    def merged(installed: tuple[str, ...], seeded: list[str]) -> dict[str, int]:
        names: dict[str, str] = {fold(n): n for n in installed}
        names.update({fold(n): n for n in seeded})
        return {name: index for index, name in enumerate(names.values(), start=1)}

    paths = merged(FRESH_INSTALL_NAMES["departments"], [d.key for d in seed.departments])
    departments, ambiguous = department_names({ident: path for path, ident in paths.items()})
    return Directory(
        agents=merged(FRESH_INSTALL_NAMES["agents"], [a.username for a in seed.agents]),
        teams=merged(FRESH_INSTALL_NAMES["teams"], [t.name for t in seed.teams]),
        slas=merged(FRESH_INSTALL_NAMES["slas"], [s.name for s in seed.slas]),
        departments=departments,
        topics=merged(FRESH_INSTALL_NAMES["topics"], [t.name for t in seed.help_topics]),
        statuses=merged(FRESH_INSTALL_NAMES["statuses"], []),
        priorities=merged(FRESH_INSTALL_NAMES["priorities"], []),
        helpdesk_email="",
        ambiguous_departments=ambiguous,
    )


def validate(path: Path, seed_path: Path | None = None, seeds: dict[Path, SeedFile] | None = None) -> Validated:
    """Raise `ScenarioError` (or `SeedError` for the seed file) with every problem by file:line; reads only.
    ``seeds``: seed files already read, by path (a folder of scenarios sharing one seed reads it once)."""
    loaded = load_scenario(path)
    seed_path = seed_path if seed_path is not None else loaded.seed_path()
    steps = sum(len(ticket.steps) for ticket in loaded.scenario.tickets)
    if seed_path is None:
        return Validated(path, len(loaded.scenario.tickets), steps, None)
    seeds = {} if seeds is None else seeds
    seed = seeds.get(seed_path) or seeds.setdefault(seed_path, load_seed(seed_path))
    # The names are checked against this seed: the "seed not applied on this instance" hint (which reads the
    # scenario's own seed) does not apply offline.
    unseeded = LoadedScenario(loaded.scenario.model_copy(update={"seed": None}), loaded.located)
    check_names(unseeded, seeded_directory(seed), f"checked against {seed_path}")
    return Validated(path, len(loaded.scenario.tickets), steps, seed_path)
