"""``ostops manifest``: inspect the download manifest, check its URLs and pin SHA-256 hashes.

Registered by ``automation.cli``; errors are raised as ``automation.errors`` exceptions and mapped to exit
codes there (``ConfigError`` 2, ``DownloadError``/``PublisherError`` 1).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from automation.errors import ConfigError, HashChangedError, UnreachableError
from automation.paths import MANIFEST_PATH

if TYPE_CHECKING:
    from automation.manifest import Download

manifest_option = click.option(
    "--manifest", "path", type=click.Path(path_type=Path, dir_okay=False), default=MANIFEST_PATH,
    show_default=True, help="Download manifest to read (and, with --write, to update).",
)
timeout_option = click.option("--timeout", type=click.FloatRange(min=1), default=60.0, show_default=True,
                              help="Seconds to wait for the connection and for each read.")


@click.group("manifest")
def manifest_group() -> None:
    """The pinned downloads (infra/bootstrap/downloads.json) the Windows bootstrap installs."""


def _urls_to_probe(entry: Download) -> list[str]:
    urls = [entry.fetch_url(url) for url in entry.urls]
    urls += [listing for url in entry.urls if (listing := entry.checksum_list_url(url))]
    api = entry.release_api_url()
    return [*urls, api] if api else urls


@manifest_group.command("check")
@manifest_option
@click.option("--online", is_flag=True, help="Also check that every URL answers (exit 1 naming any that does not).")
@click.option("--timeout", type=click.FloatRange(min=1), default=15.0, show_default=True,
              help="With --online: seconds to wait for each URL.")
@click.option("--json", "as_json", is_flag=True, help="Print the downloads as JSON.")
def manifest_check(path: Path, online: bool, timeout: float, as_json: bool) -> None:
    """List every download with how the bootstrap verifies it (exit 0 unless the file is invalid)."""
    from automation.manifest import METHOD_NOTES, load_manifest, probe

    if as_json and online:
        raise click.UsageError("--json lists the manifest offline; run --online on its own")
    manifest = load_manifest(path)
    if as_json:
        from automation.cli.common import print_json

        print_json("manifest check", True, manifest=str(path),
                   downloads={name: {"version": e.version, "url": e.url, "verify": e.verify,
                                     "sha256": e.sha256 if e.hash_known else None}
                              for name, e in manifest.downloads.items()})
        return
    for name, entry in manifest.downloads.items():
        pinned = entry.sha256 if entry.hash_known else "not pinned"
        click.echo(f"{name:<12} {entry.version:<12} verify={entry.verify:<22} sha256={pinned}")
        click.echo(f"{'':<12} {METHOD_NOTES[entry.verify]}; {entry.url}")
    click.echo(f"{len(manifest.downloads)} downloads, each verified before it runs")
    if not online:
        return
    failures = []
    for name, entry in manifest.downloads.items():
        for url in _urls_to_probe(entry):
            problem = probe(url, timeout=timeout)
            click.echo(f"{name:<12} {'ok' if problem is None else problem:<10} {url}")
            if problem is not None:
                failures.append(f"{name}: {url} ({problem})")
    if failures:
        raise UnreachableError(f"{len(failures)} URL(s) did not answer: " + "; ".join(failures))


@manifest_group.command("hash")
@manifest_option
@click.option("--only", "only", multiple=True, metavar="NAME", help="Hash only this entry (repeatable).")
@click.option("--write", is_flag=True, help="Write the hashes into the manifest (atomically).")
@click.option("--replace", is_flag=True,
              help="With --write, also replace pinned hashes that changed (only after checking why).")
@timeout_option
def manifest_hash(path: Path, only: tuple[str, ...], write: bool, replace: bool, timeout: float) -> None:
    """Read each entry's SHA-256 from its publisher (PHP's and MariaDB's lists, GitHub's asset digest), or
    download and hash it (verify 'sha256' and 'authenticode': the bootstrap still checks the signature on
    Windows), and show (or --write, recording where it came from in sha256Source) it. Needs network access."""
    from automation.manifest import (
        METHOD_NOTES,
        compute_sha256,
        load_manifest,
        publisher_sha256,
        write_hashes,
    )

    manifest = load_manifest(path)
    missing = sorted(set(only) - set(manifest.downloads))
    if missing:
        raise ConfigError(f"{path}: no download named {', '.join(missing)} "
                          f"(known: {', '.join(manifest.downloads)})")
    names = list(only) or list(manifest.downloads)
    hashes: dict[str, str] = {}
    sources: dict[str, str] = {}
    changed: list[str] = []
    for name in names:
        entry = manifest.downloads[name]
        published = publisher_sha256(entry, timeout=timeout)
        sha = published or compute_sha256(entry.fetch_url(entry.url), timeout=timeout)
        hashes[name] = sha
        sources[name] = (f"ostops manifest hash: {METHOD_NOTES[entry.verify]}" if published
                         else f"ostops manifest hash: downloaded from {entry.url} and hashed")
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
            f"{', '.join(changed)}: the download differs from the pinned SHA-256 (as its publisher states it now); the bootstrap would refuse "
            "it. Find out why (a new upload under the same URL, or tampering), then pin it with --write --replace"
        )
    if write and hashes:
        write_hashes(hashes, path, sources)
        click.echo(f"wrote {len(hashes)} hashes to {path}")
    elif not write:
        click.echo("not written (add --write to pin them)")
