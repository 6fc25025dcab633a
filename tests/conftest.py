"""Shared fixtures. The ``osticket`` fixture is a REAL local osTicket, brought up once per session."""

from __future__ import annotations

import functools
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from automation.errors import SourceError
from automation.instance import Instance

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class LocalOsTicket:
    instance: Instance
    instance_path: Path
    base: Path


@functools.cache
def _no_source_reason() -> str | None:
    from automation.local import source

    try:
        source.resolve(None, allow_download=False)
    except SourceError as exc:
        return f"no osTicket source for the e2e tests: {exc}"
    for tool in ("mariadbd", "php", "nginx"):
        if not (shutil.which(tool) or shutil.which(tool, path="/usr/sbin")):
            return f"{tool} is not installed (run scripts/setup.sh)"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = _no_source_reason()
    if reason is None:
        return
    skip = pytest.mark.skip(reason=reason)
    for item in items:
        if "e2e" in item.keywords:
            item.add_marker(skip)


def pytest_report_header(config: pytest.Config) -> str:
    reason = _no_source_reason()
    return f"e2e: {'SKIPPED - ' + reason if reason else 'enabled (real osTicket)'}"


def bring_up(prefix: str, web_nodes: int | None = None) -> Iterator[LocalOsTicket]:
    """A fresh local osTicket in a temporary folder, always torn down (``web_nodes``: the multi-node shape)."""
    from automation.local import manager

    base = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        result = manager.up(base / "instance", http_port=None, web_nodes=web_nodes)
        yield LocalOsTicket(result.instance, manager.instance_file(base / "instance"), base / "instance")
    finally:
        manager.down(base / "instance")
        if not os.environ.get("OSTOPS_KEEP_E2E"):
            shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def osticket() -> Iterator[LocalOsTicket]:
    """A real osTicket shared by the e2e session (modules that need a fresh one override this fixture)."""
    yield from bring_up("ostops-e2e-")
