import json
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from automation.errors import ConfigError
from automation.instance import Instance
from automation.stack import instance_from_outputs

OSTOPS = str(Path(sys.executable).parent / "ostops")
OUTPUTS = {
    "helpdeskUrl": "https://ostops-lab.westeurope.cloudapp.azure.com/",
    "staffUrl": "https://ostops-lab.westeurope.cloudapp.azure.com/scp/",
    "apiUrl": "https://ostops-lab.westeurope.cloudapp.azure.com/api/",
    "fqdn": "ostops-lab.westeurope.cloudapp.azure.com", "publicIp": "203.0.113.10",
    "rdpCommand": "mstsc /v:ostops-lab.westeurope.cloudapp.azure.com", "adminUsername": "ostopsadmin",
    "osticketAdminUsername": "ostadmin", "osticketAdminPassword": "adm-Secret-1", "apiKey": "B" * 32,
    "vmAdminPassword": "vm-Secret-1", "dbAppPassword": "db-Secret-1",
    "dbHost": "ostops-lab.westeurope.cloudapp.azure.com", "dbPort": 3306, "dbName": "osticket",
    "dbUser": "osticket", "tablePrefix": "ost_", "osticketVersion": "1.18.3",
}


def test_outputs_become_an_instance():
    inst = instance_from_outputs(json.dumps(OUTPUTS), "outputs.json")
    assert inst.kind == "azure" and inst.base_url == OUTPUTS["helpdeskUrl"]
    assert inst.db.ssl and inst.db.port == 3306
    assert inst.api_key.get_secret_value() == "B" * 32


@pytest.mark.parametrize(("change", "message"), [
    ({"dbHost": ""}, "dbHost is empty"),
    ({"apiKey": "[secret]"}, r"apiKey shown as \[secret\]"),
])
def test_unusable_outputs_are_explained(change, message):
    with pytest.raises(ConfigError, match=message):
        instance_from_outputs(json.dumps({**OUTPUTS, **change}), "outputs.json")


def test_missing_keys_and_bad_json():
    partial = {k: v for k, v in OUTPUTS.items() if k not in ("apiKey", "dbName")}
    with pytest.raises(ConfigError, match=r"outputs.json: stack outputs lack apiKey, dbName"):
        instance_from_outputs(json.dumps(partial), "outputs.json")
    with pytest.raises(ConfigError, match=r"outputs.json:1: not JSON"):
        instance_from_outputs("{", "outputs.json")


def test_cli_reads_stdin_writes_0600_and_prints_no_secret(tmp_path):
    target = tmp_path / "azure" / "instance.json"
    result = subprocess.run([OSTOPS, "instance", "from-stack", "--instance", str(target)],
                            input=json.dumps(OUTPUTS), capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert Instance.load(target).admin.password.get_secret_value() == "adm-Secret-1"
    for secret in ("adm-Secret-1", "db-Secret-1", "B" * 32, "vm-Secret-1"):
        assert secret not in result.stdout + result.stderr
    bad = subprocess.run([OSTOPS, "instance", "from-stack", "--instance", str(tmp_path / "x.json")],
                         input="[]", capture_output=True, text=True, timeout=60, check=False)
    assert bad.returncode == 2
    assert "standard input: expected a JSON object" in bad.stderr
    assert not (tmp_path / "x.json").exists()
