"""The instance's folder as one object: ``instance.json``, ``credentials.json``, ``runs/``.

Commands build one from ``--instance`` / ``$OSTOPS_INSTANCE`` / the default and pass it around instead of
paths, so that every file beside the instance is found the same way."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from automation.paths import CREDENTIALS_FILE, default_instance_path

if TYPE_CHECKING:  # the models load when a command reads the files, not when `ostops --help` starts
    from automation.credentials import CredentialStore
    from automation.instance import Instance


@dataclass(frozen=True)
class Workspace:
    instance_file: Path

    @classmethod
    def at(cls, instance_file: Path | None = None) -> Workspace:
        """The workspace of this instance file (default: $OSTOPS_INSTANCE, else the local default)."""
        return cls(Path(instance_file or default_instance_path()).expanduser())

    @property
    def folder(self) -> Path:
        return self.instance_file.parent

    @property
    def credentials_file(self) -> Path:
        return self.folder / CREDENTIALS_FILE

    @property
    def runs_dir(self) -> Path:
        return self.folder / "runs"

    def instance(self) -> Instance:
        from automation.instance import Instance

        return Instance.load(self.instance_file)

    def credentials(self) -> CredentialStore:
        from automation.credentials import CredentialStore

        return CredentialStore(self.credentials_file)

    def run_file(self, run_id: str) -> Path:
        return self.runs_dir / f"{run_id}.json"

    def run_files(self) -> list[Path]:
        """The recorded runs' files, oldest first."""
        return sorted(self.runs_dir.glob("*.json"), key=lambda p: p.stat().st_mtime)
