import json
import stat

import pytest
from pydantic import SecretStr

from automation.errors import ConfigError
from automation.instance import SECRET_MASK, DatabaseAccess, Instance, Login


def make_instance() -> Instance:
    return Instance(
        kind="local", url="http://127.0.0.1:8080", osticket_version="1.18.1",
        api_key=SecretStr("A" * 32), admin=Login(username="ostadmin", password=SecretStr("s3cret-admin")),
        db=DatabaseAccess(host="127.0.0.1", port=3307, name="osticket", user="osticket",
                          password=SecretStr("s3cret-db")),
    )


def test_saved_file_is_private_and_round_trips(tmp_path):
    path = tmp_path / "state" / "instance.json"
    make_instance().save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = Instance.load(path)
    assert loaded.admin.password.get_secret_value() == "s3cret-admin"
    assert loaded.base_url == "http://127.0.0.1:8080/"
    assert json.loads(path.read_text())["db"]["password"] == "s3cret-db"


def test_secrets_never_in_repr_or_masked_exports():
    inst = make_instance()
    text = repr(inst) + str(inst.model_dump()) + "\n".join(inst.shell_exports())
    for secret in ("s3cret-admin", "s3cret-db", "A" * 32):
        assert secret not in text
    assert f"export OSTOPS_DB_PASSWORD='{SECRET_MASK}'" in inst.shell_exports()
    assert "export OSTOPS_DB_PASSWORD='s3cret-db'" in inst.shell_exports(show_secrets=True)


def test_shell_exports_quote_single_quotes():
    inst = make_instance()
    inst.admin.password = SecretStr("it's")
    exports = inst.shell_exports(show_secrets=True)
    assert "export OSTOPS_ADMIN_PASSWORD='it'\"'\"'s'" in exports


def test_missing_file_names_path_and_what_to_do(tmp_path):
    with pytest.raises(ConfigError, match=r"instance.json: no instance file; run `ostops local up`"):
        Instance.load(tmp_path / "instance.json")


def test_invalid_file_names_the_field(tmp_path):
    path = tmp_path / "instance.json"
    data = json.loads(make_instance().to_json())
    data["db"]["table_prefix"] = "ost"
    path.write_text(json.dumps(data))
    path.chmod(0o600)
    with pytest.raises(ConfigError, match=r"db\.table_prefix"):
        Instance.load(path)


def test_a_file_others_can_read_is_refused(tmp_path):
    path = tmp_path / "instance.json"
    make_instance().save(path)
    path.chmod(0o644)
    with pytest.raises(ConfigError, match=r"instance.json: other users can read or change it \(mode 0644\) .*"
                                          r"run `chmod 600 .*instance.json`"):
        Instance.load(path)
    path.chmod(0o600)
    assert Instance.load(path).db.password.get_secret_value() == "s3cret-db"


def test_local_commands_refuse_an_azure_instance_named_by_the_environment(tmp_path, monkeypatch):
    from automation.paths import local_dir_from_environment

    azure = tmp_path / "azure" / "instance.json"
    make_instance().model_copy(update={"kind": "azure"}).save(azure)
    monkeypatch.setenv("OSTOPS_INSTANCE", str(azure))
    with pytest.raises(ConfigError, match=r"names an azure instance; `ostops local up/down` need a local one"):
        local_dir_from_environment()
    monkeypatch.setenv("OSTOPS_INSTANCE", str(tmp_path / "local" / "instance.json"))
    assert local_dir_from_environment() == tmp_path / "local"
