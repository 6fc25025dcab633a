"""``ostops manifest``: inspect the download manifest and pin its SHA-256 hashes.

Registered by ``automation.cli``; errors are raised as ``automation.errors`` exceptions and mapped to exit
codes there (``ConfigError`` 2, ``DownloadError`` 1).
"""

from __future__ import annotations

from pathlib import Path

import click

from automation.errors import ConfigError, HashChangedError
from automation.manifest import MANIFEST_PATH, UNKNOWN, compute_sha256, load_manifest, write_hashes

manifest_option = click.option(
    "--manifest", "path", type=click.Path(path_type=Path, dir_okay=False), default=MANIFEST_PATH,
    show_default=True, help="Download manifest to read (and, with --write, to update).",
)


@click.group("manifest")
def manifest_group() -> None:
    """The pinned downloads (infra/bootstrap/downloads.json) the Windows bootstrap installs."""


@manifest_group.command("check")
@manifest_option
@click.option("--json", "as_json", is_flag=True, help="Print the downloads as JSON.")
def manifest_check(path: Path, as_json: bool) -> None:
    """List every download and warn about hashes not pinned yet (exit 0 unless the file is invalid)."""
    manifest = load_manifest(path)
    if as_json:
        from automation.cli.common import print_json

        print_json("manifest check", True, manifest=str(path), unknown_hashes=list(manifest.unknown_hashes()),
                   downloads={name: {"version": e.version, "url": e.url, "sha256": e.sha256}
                              for name, e in manifest.downloads.items()})
        return
    for name, entry in manifest.downloads.items():
        click.echo(f"{name:<12} {entry.version:<14} {entry.sha256:<64}  {entry.url}")
    unknown = manifest.unknown_hashes()
    for name in unknown:
        click.echo(f"warning: {name}: sha256 is {UNKNOWN!r}; the bootstrap accepts it unverified "
                   f"(run `ostops manifest hash --write` with network access)", err=True)
    click.echo(f"{len(manifest.downloads)} downloads, {len(unknown)} without a pinned hash")


@manifest_group.command("hash")
@manifest_option
@click.option("--only", "only", multiple=True, metavar="NAME", help="Hash only this entry (repeatable).")
@click.option("--write", is_flag=True, help="Write the hashes into the manifest (atomically).")
@click.option("--replace", is_flag=True,
              help="With --write, also replace pinned hashes that changed (only after checking why).")
@click.option("--timeout", type=click.FloatRange(min=1), default=60.0, show_default=True,
              help="Seconds to wait for the connection and for each read.")
def manifest_hash(path: Path, only: tuple[str, ...], write: bool, replace: bool, timeout: float) -> None:
    """Download every entry, compute its SHA-256 and show (or --write) it. Needs network access."""
    manifest = load_manifest(path)
    missing = sorted(set(only) - set(manifest.downloads))
    if missing:
        raise ConfigError(f"{path}: no download named {', '.join(missing)} "
                          f"(known: {', '.join(manifest.downloads)})")
    names = list(only) or list(manifest.downloads)
    hashes: dict[str, str] = {}
    changed: list[str] = []
    for name in names:
        entry = manifest.downloads[name]
        sha = compute_sha256(entry.url, timeout=timeout)
        hashes[name] = sha
        if entry.hash_known and entry.sha256 != sha:
            state = f"CHANGED (manifest has {entry.sha256})"
            changed.append(name)
        elif entry.hash_known:
            state = "matches"
        else:
            state = "new"
        click.echo(f"{name:<12} {sha}  {state}")
    if changed and not (write and replace):
        raise HashChangedError(
            f"{', '.join(changed)}: the download differs from the pinned SHA-256; the bootstrap would refuse it. "
            "Find out why (a new upload under the same URL, or tampering), then pin it with --write --replace"
        )
    if write:
        write_hashes(hashes, path)
        click.echo(f"wrote {len(hashes)} hashes to {path}")
    else:
        click.echo("not written (add --write to pin them)")
