"""`ostops --help` starts fast because `import automation.cli` loads no heavy library: each command imports
what it uses when it runs (the figure is bench/cli_startup.py's; this is the structural check behind it)."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("locust", "gevent", "pydantic", "requests", "pymysql", "rich.table", "rich.console", "yaml", "jinja2", "bcrypt", "cryptography",
         "automation.instance", "automation.manifest", "automation.osticket.db")


def _loaded_after(statement: str) -> list[str]:
    probe = f"import sys; {statement}; print(__import__('json').dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    return json.loads(done.stdout)


def test_importing_the_command_line_loads_no_heavy_module() -> None:
    loaded = _loaded_after("import automation.cli")
    assert "automation.cli.scenario" in loaded  # every command is registered
    assert [m for m in HEAVY if m in loaded] == []


def test_help_for_every_command_still_loads_none() -> None:
    loaded = _loaded_after("from click.testing import CliRunner; from automation.cli import cli; "
                           "[CliRunner().invoke(cli, [*c, '--help']) for c in (['local', 'up'], ['report'], "
                           "['manifest', 'check'], ['seed'], ['run'], ['load'], ['runs'])]")
    assert [m for m in HEAVY if m in loaded] == []


def test_the_probe_would_see_them() -> None:
    assert "pydantic" in _loaded_after("import automation.instance")


def test_the_consoles_made_on_first_use_work_where_rich_wants_a_console() -> None:
    from rich.progress import Progress

    from automation.cli.common import console, out

    with Progress(console=console, transient=True) as bar:  # rich's Progress enters `with console:`
        task = bar.add_task("x", total=1)
        bar.advance(task)
    with out.capture() as captured:
        out.print("[b]ok[/b]")
    assert captured.get() == "ok\n"
