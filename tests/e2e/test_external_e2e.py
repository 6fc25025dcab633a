"""Issue 23: an osTicket ostops did not install. tests/helpers/external_osticket.py installs one per release the
way an administrator does (its own folder, MariaDB server, php-fpm pool and nginx, table prefix hd_, osTicket's
own web installer); `ostops instance add` describes it, `ostops instance status` checks it, and the lab and a
hospital-size seed run against it, with what needs local files (the mail capture) skipped with its reason."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from automation.instance import Instance
from tests.helpers import external_osticket
from tests.helpers.osticket import OSTOPS, REPO
from tests.helpers.seed_factory import large_org

pytestmark = pytest.mark.e2e

RELEASES = Path(os.environ.get("OSTICKET_SOURCE", "/work/shared/osticket/osTicket-v1.18.1.zip")).parent
RUN_ID = re.compile(r"run (\d{14}-[0-9a-f]{4}): every expectation holds")


class Target:
    def __init__(self, osticket: external_osticket.ExternalOsTicket, state: Path) -> None:
        self.osticket = osticket
        self.instance_path = state / "ostops" / "external" / "klinikum" / "instance.json"
        self.env = {**os.environ, "XDG_STATE_HOME": str(state), **osticket.environment()}
        self.env.pop("OSTOPS_INSTANCE", None)

    def ostops(self, *args: str, env: dict[str, str] | None = None,
               timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run([OSTOPS, *args], capture_output=True, text=True, timeout=timeout, cwd=REPO,
                              env=env or self.env, stdin=subprocess.DEVNULL, check=False)

    def on_it(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return self.ostops(*args, "--instance", str(self.instance_path), timeout=timeout)


@pytest.fixture(scope="module", params=["1.18.1", "1.17.5"])
def target(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    release = RELEASES / f"osTicket-v{request.param}.zip"
    if not release.exists():
        pytest.fail(f"{release} is missing: the external-instance tests run on osTicket {request.param}")
    with external_osticket.installed(release) as osticket:
        yield Target(osticket, tmp_path_factory.mktemp(f"state-{request.param}"))


def _add_args(o: external_osticket.ExternalOsTicket) -> list[str]:
    return ["instance", "add", "klinikum", "--url", o.url, "--db-host", "127.0.0.1", "--db-port", str(o.db_port),
            "--db-name", o.db_name, "--db-user", o.db_user, "--table-prefix", o.table_prefix,
            "--admin-username", o.admin_username]


def test_instance_add_writes_an_external_instance_file_from_the_environment(target: Target) -> None:
    o = target.osticket
    missing = {k: v for k, v in target.env.items() if k != "OSTOPS_API_KEY"}
    refused = target.ostops(*_add_args(o), env=missing)
    assert refused.returncode == 2, refused.stderr
    assert "OSTOPS_API_KEY" in refused.stderr and not target.instance_path.exists()

    added = target.ostops(*_add_args(o))
    assert added.returncode == 0, added.stdout + added.stderr
    assert target.instance_path.stat().st_mode & 0o777 == 0o600
    for secret in o.environment().values():
        assert secret not in added.stdout + added.stderr
    instance = Instance.load(target.instance_path)
    assert instance.kind == "external" and instance.base_url == o.url
    assert instance.db.table_prefix == "hd_" and instance.db.port == o.db_port and not instance.db.ssl
    # No --osticket-version: the release comes from the database's schema signature.
    assert instance.osticket_version == o.version
    assert instance.api_key.get_secret_value() == o.api_key

    again = target.ostops(*_add_args(o))
    assert again.returncode == 2 and "--yes" in again.stderr


def test_instance_status_reports_the_external_instance_healthy(target: Target) -> None:
    result = target.on_it("instance", "status", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    doc = json.loads(result.stdout)
    assert doc["command"] == "instance status" and doc["ok"] is True and doc["kind"] == "external"
    assert set(doc["checks"]) == {"http", "database", "api key"}
    assert "prefix hd_" in doc["checks"]["database"]["detail"]
    assert "runs cron" in doc["checks"]["api key"]["detail"]
    assert doc["database_schema"].endswith(f"(osTicket {target.osticket.version})")


def test_instance_status_names_a_wrong_table_prefix(target: Target, tmp_path: Path) -> None:
    data = json.loads(target.instance_path.read_text())
    data["db"]["table_prefix"] = "ost_"
    wrong = tmp_path / "instance.json"
    wrong.write_text(json.dumps(data))
    wrong.chmod(0o600)
    result = target.ostops("instance", "status", "--instance", str(wrong))
    assert result.returncode == 4
    assert "UNHEALTHY" in result.stdout and "'ost_'" in result.stdout


def test_the_lab_runs_seeded_verified_and_reported_with_mail_skipped(target: Target) -> None:
    ran = target.on_it("run", str(REPO / "seed" / "scenarios" / "lab.yaml"), "--seed", timeout=600)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    match = RUN_ID.search(ran.stdout)
    assert match, ran.stdout
    run_id = match.group(1)
    output = ran.stdout + ran.stderr
    assert "skipped" in output and "external instance" in output and "relay" in output

    verified = target.on_it("verify", str(REPO / "seed" / "scenarios" / "lab.yaml"), "--run", run_id, "--json")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    doc = json.loads(verified.stdout)
    assert doc["ok"] is True

    report = target.on_it("report", "--run", run_id, "--json")
    assert report.returncode == 0, report.stderr
    review = json.loads(report.stdout)
    assert review["ok"] is True
    assert len(review["tickets"]) == 3

    strict = target.on_it("verify", str(REPO / "seed" / "scenarios" / "lab.yaml"), "--run", run_id,
                          "--require-mail")
    assert strict.returncode == 1, strict.stdout + strict.stderr


# ward.agent003's primary department is the nested "Ward Dept 00 / Ward Unit 00" (seed_factory.large_org).
HOSPITAL_SCENARIO = """\
name: Ward escalation
seed: hospital.yaml
tickets:
  - key: infusion-pump
    requester: {name: "Zoë O'Brien", email: zoe.obrien@klinikum.example.org}
    channel: api
    subject: "Infusion pump #3 alarms (E-17) & stops after < 5 min"
    message: "Pump 3 on ward 2 alarms with E-17 every 10 minutes; 病棟 2."
    steps:
      - as: deskadmin
        do: transfer
        department: Ward Dept 00 / Ward Unit 00
        comment: "For the ward's biomed desk."
      - as: ward.agent003
        do: assign_agent
        agent: ward.agent003
        comment: Taking it.
      - as: ward.agent003
        do: reply
        text: "Biomed replaced the pump's battery pack & reset it; please confirm."
      - as: ward.agent003
        do: set_status
        status: Closed
        comment: Pump replaced.
    expect:
      status: Closed
      department: Ward Dept 00 / Ward Unit 00
      agent: ward.agent003
"""


def test_a_hospital_size_seed_seeds_and_a_scenario_runs(target: Target, tmp_path: Path) -> None:
    seed = large_org(agents=6, teams=2, departments=6, slas=2, prefix="Ward")
    (tmp_path / "hospital.yaml").write_text(yaml.safe_dump(seed, sort_keys=False, allow_unicode=True))
    scenario = tmp_path / "ward.yaml"
    scenario.write_text(HOSPITAL_SCENARIO, encoding="utf-8")
    evidence = tmp_path / "evidence"
    ran = target.on_it("run", str(scenario), "--seed", "--evidence", str(evidence), timeout=600)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert RUN_ID.search(ran.stdout), ran.stdout
    # --evidence needs nothing local: the pages come over HTTP, as on a local instance.
    assert (evidence / "index.html").exists() and (evidence / "README.md").exists()
    assert list(evidence.rglob("*.png")), sorted(p.name for p in evidence.rglob("*"))
    nested = [d for d in seed["departments"] if "parent" in d]
    assert nested, "the seed has nested departments"
    second = target.on_it("seed", str(tmp_path / "hospital.yaml"))
    assert second.returncode == 0, second.stdout + second.stderr


def test_advance_marks_overdue_through_osticket_s_http_cron(target: Target, tmp_path: Path) -> None:
    """No local cron trigger: `advance` runs osTicket's cron with the API key (POST api/tasks/cron), and osTicket
    marks the ticket overdue itself."""
    scenario = tmp_path / "cron.yaml"
    scenario.write_text(yaml.safe_dump({"name": "cron", "review": {"open_tickets": 1}, "tickets": [{
        "key": "old", "requester": {"name": "Ana", "email": "ana@example.org"}, "channel": "api",
        "subject": "cron check", "message": "Cron runs over HTTP with the API key.",
        "steps": [{"do": "advance", "hours": 24 * 14}], "expect": {"status": "Open", "overdue": True}}]}),
        encoding="utf-8")
    ran = target.on_it("run", str(scenario))
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "cron Completed" in ran.stdout + ran.stderr
