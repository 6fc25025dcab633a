"""`ostops instance from-stack` keeps what the stack says about the tier and the management route (Bastion, the
automation subnet, the lab's public address) in the instance file, and `ostops instance status` shows it.

The fixture is the production tier's outputs with ``ostops:bastion true`` as the Pulumi program gives them under
the infra mocks (certificatePem left out); tests/infra/test_from_stack.py checks the program still does."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from automation import health
from automation.cli import cli, exit_code_for, exit_code_for_outcome
from automation.errors import ConfigError
from automation.instance import Instance
from automation.stack import read_stack_outputs

FIXTURE = Path(__file__).parent / "data" / "stack_outputs_production_bastion.json"


def outputs(**changes: Any) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(FIXTURE.read_text(encoding="utf-8"))
    found.update(changes)
    return {k: v for k, v in found.items() if v is not None}


def read(data: dict[str, Any]) -> Instance:
    return read_stack_outputs(json.dumps(data), "outputs.json").instance


def test_the_tier_is_copied() -> None:
    assert read(outputs()).tier == "production"


def test_the_bastion_route_is_copied_with_its_names() -> None:
    route = read(outputs()).management_route
    assert route is not None
    assert route.kind == "bastion"
    assert route.bastion_name == "osticket-bastion-host-az"
    assert route.resource_group == "osticket-rg-az"
    assert route.subnet_prefix == "10.20.3.0/24"
    assert route.virtual_network == "osticket-vnet-az"
    assert "Azure Bastion" in route.how


def test_the_lab_route_is_copied() -> None:
    lab = {"kind": "public", "resourceGroup": "osticket-rg-az", "vmId": "/subscriptions/x/vm",
           "how": "the public address: the help desk over HTTPS; RDP from 203.0.113.0/28 only"}
    instance = read(outputs(tier="lab", managementRoute=lab))
    assert instance.tier == "lab"
    assert instance.management_route is not None
    assert (instance.management_route.kind, instance.management_route.vm_id) == ("public", "/subscriptions/x/vm")


def test_a_stack_from_before_the_route_still_reads() -> None:
    instance = read(outputs(tier=None, managementRoute=None))
    assert instance.tier is None and instance.management_route is None


@pytest.mark.parametrize(("change", "message"), [
    ({"managementRoute": "bastion"}, "stack output managementRoute: must be an object, not text"),
    ({"managementRoute": {"kind": "ssh-everywhere"}}, "stack output managementRoute.kind: Input should be"),
    ({"managementRoute": {"how": "no kind"}}, "stack output managementRoute.kind: Field required"),
    ({"tier": "staging"}, "stack output tier: Input should be 'lab' or 'production'"),
])
def test_a_bad_route_or_tier_is_named(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        read(outputs(**change))


def test_from_stack_writes_it_and_the_file_keeps_it(tmp_path: Path) -> None:
    target = tmp_path / "azure" / "instance.json"
    result = CliRunner().invoke(cli, ["instance", "from-stack", str(FIXTURE), "--instance", str(target)])
    assert result.exit_code == 0, result.output
    assert "management route: bastion osticket-bastion-host-az in osticket-rg-az" in result.output
    saved = json.loads(target.read_text(encoding="utf-8"))
    assert saved["tier"] == "production"
    assert saved["management_route"]["kind"] == "bastion"
    loaded = Instance.load(target)
    assert loaded.management_route is not None and loaded.management_route.bastion_name == "osticket-bastion-host-az"


def test_a_bad_route_writes_nothing(tmp_path: Path) -> None:
    source = tmp_path / "outputs.json"
    source.write_text(json.dumps(outputs(managementRoute={"kind": "telnet"})), encoding="utf-8")
    target = tmp_path / "instance.json"
    result = CliRunner().invoke(cli, ["instance", "from-stack", str(source), "--instance", str(target)])
    assert exit_code_for(result.exception) == 2
    assert "managementRoute.kind" in str(result.exception)
    assert not target.exists()


@pytest.mark.parametrize("as_json", [True, False])
def test_status_shows_the_tier_and_the_route(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, as_json: bool) -> None:
    target = tmp_path / "instance.json"
    assert CliRunner().invoke(cli, ["instance", "from-stack", str(FIXTURE), "--instance", str(target)]).exit_code == 0
    monkeypatch.setattr(health, "check", lambda instance: health.Health(checks={"http": (True, "GET -> 200")}))
    status = CliRunner().invoke(cli, ["instance", "status", "--instance", str(target), *(["--json"] if as_json else [])],
                                standalone_mode=False)
    assert exit_code_for_outcome(status.return_value) == 0, status.output
    if as_json:
        doc = json.loads(status.output)
        assert doc["tier"] == "production"
        assert doc["management_route"].startswith("bastion osticket-bastion-host-az in osticket-rg-az: Through Azure")
    else:
        assert "tier: production" in status.output
        assert "management route: bastion osticket-bastion-host-az" in status.output
