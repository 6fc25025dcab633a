"""Typed stack config: defaults, normalisation and one clear error per bad key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml
from pulumi.runtime.config import set_all_config

from automation.errors import ConfigError
from automation.manifest import load_manifest
from infra.config import (
    DEFAULT_VM_SIZE,
    SERVER_IMAGES,
    StackConfig,
    StackConfigError,
    load_config,
)
from tests.infra.conftest import ADMIN_SOURCE, BASE_CONFIG, GIVEN_SECRETS, REPO_ROOT, STACK, install_config

pytestmark = pytest.mark.infra


def load(config: dict[str, str], secrets: dict[str, str] | None = None) -> StackConfig:
    install_config(config, secrets)
    return load_config(pulumi.Config("ostops"), stack=STACK)


def refused(config: dict[str, str], secrets: dict[str, str] | None = None) -> StackConfigError:
    with pytest.raises(StackConfigError) as caught:
        load(config, secrets)
    return caught.value


def example_stack_config() -> dict[str, str]:
    """Pulumi.example.yaml's config as the Pulumi engine hands it to the program (objects as JSON)."""
    document: dict[str, Any] = yaml.safe_load((REPO_ROOT / "Pulumi.example.yaml").read_text(encoding="utf-8"))
    return {
        key.split(":", 1)[1]: value if isinstance(value, str) else json.dumps(value)
        for key, value in document["config"].items()
    }


def test_defaults_fill_everything_optional() -> None:
    config = load(BASE_CONFIG)
    assert config.location == "westeurope"
    assert config.vm_size == DEFAULT_VM_SIZE
    assert config.vm_size.startswith("Standard_B")
    assert config.server_image == SERVER_IMAGES["2022-azure-edition"]
    assert config.server_image.sku == "2022-datacenter-azure-edition"
    assert config.osticket_version == load_manifest().downloads["osticket"].version
    assert config.admin_source_cidr == "203.0.113.0/28"
    assert config.automation_source_ip == "192.0.2.50"
    assert config.automation_source_cidr == "192.0.2.50/32"
    assert config.enable_db_access is False
    assert config.lab_client is False
    assert config.admin_password is None
    assert config.api_key is None
    assert dict(config.tags) == {"project": "ostops", "environment": STACK, "managed-by": "pulumi"}


def test_2019_is_selectable_and_gen2() -> None:
    config = load({**BASE_CONFIG, "windowsImage": "2019-datacenter"})
    assert config.server_image.sku == "2019-datacenter-gensecond"


def test_secrets_are_read_and_hidden_from_repr() -> None:
    config = load(BASE_CONFIG, GIVEN_SECRETS)
    assert config.admin_password is not None
    assert config.admin_password.get_secret_value() == GIVEN_SECRETS["adminPassword"]
    assert config.api_key is not None
    assert config.api_key.get_secret_value() == GIVEN_SECRETS["apiKey"]
    assert all(value not in repr(config) for value in GIVEN_SECRETS.values())


def test_a_bare_admin_address_means_slash_32() -> None:
    assert load({**BASE_CONFIG, "adminSourceCidr": "203.0.113.7"}).admin_source_cidr == "203.0.113.7/32"


def test_user_tags_merge_with_required_ones() -> None:
    config = load({**BASE_CONFIG, "tags": json.dumps({"owner": "ops", "environment": "training"})})
    assert dict(config.tags) == {
        "project": "ostops",
        "environment": "training",
        "managed-by": "pulumi",
        "owner": "ops",
    }


def test_location_falls_back_to_the_provider_setting() -> None:
    config = {k: v for k, v in BASE_CONFIG.items() if k != "location"}
    install_config(config)
    pulumi.runtime.set_config("azure-native:location", "northeurope")
    assert load_config(pulumi.Config("ostops"), stack=STACK).location == "northeurope"


@pytest.mark.parametrize("internet", ["0.0.0.0/0", "*", "Internet", "Any", "any", "INTERNET", " 0.0.0.0/0 "])
def test_admin_source_open_to_the_internet_is_refused(internet: str) -> None:
    error = refused({**BASE_CONFIG, "adminSourceCidr": internet})
    assert error.key == "ostops:adminSourceCidr"
    assert str(error).startswith("ostops:adminSourceCidr: ")
    assert "whole internet" in str(error)


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("16.0.0.0/4", "wider than /28"),
        # issue 20 §9: RDP was accepted from up to a /8 (16.7 million addresses); now /28 at most.
        ("10.0.0.0/8", "wider than /28"),
        ("203.0.113.0/27", "wider than /28"),
        ("203.0.113.7/24", "has host bits set: did you mean 203.0.113.0/24 or 203.0.113.7/32?"),
        ("not-an-address", "is not an IPv4 address or CIDR"),
        ("2001:db8::/64", "IPv4 public address only"),
    ],
)
def test_bad_admin_source_is_refused_with_the_reason(value: str, fragment: str) -> None:
    error = refused({**BASE_CONFIG, "adminSourceCidr": value})
    assert error.key == "ostops:adminSourceCidr"
    assert fragment in str(error)


@pytest.mark.parametrize("value", ["192.0.2.0/24", "192.0.2.50/31", "0.0.0.0/0", "*", "0.0.0.0", "127.0.0.1"])
def test_automation_source_must_be_one_real_address(value: str) -> None:
    error = refused({**BASE_CONFIG, "automationSourceCidr": value})
    assert error.key == "ostops:automationSourceCidr"
    assert "one address" in str(error) or "single" in str(error)


@pytest.mark.parametrize("key", ["location", "dnsLabel", "automationSourceCidr"])
def test_required_keys_are_named_when_missing(key: str) -> None:
    error = refused({k: v for k, v in BASE_CONFIG.items() if k != key})
    assert error.key == f"ostops:{key}"
    assert "is required" in str(error)


@pytest.mark.parametrize(
    ("key", "value", "fragment"),
    [
        ("vmSize", "B2as_v2", "is not a Gen2 x64 size that supports Trusted Launch"),
        # Gen1 only (Av2) and Arm64 (Dpsv5): Azure would fail only after the network is built.
        ("vmSize", "Standard_A1_v2", "supports Trusted Launch"),
        ("vmSize", "Standard_D2ps_v5", "supports Trusted Launch"),
        ("labClientVmSize", "Standard_D2_v3", "supports Trusted Launch"),
        ("vmSize", "standard_b2as_v2", "did you mean 'Standard_B2as_v2'"),
        ("dnsLabel", "ends-with-dash-", "not ending"),
        ("dnsLabel", "x" * 64, "3-63"),
        ("keyVaultPurgeProtection", "maybe", "is not true or false"),
        ("windowsImage", "2016-datacenter", "is not one of: 2022-azure-edition, 2019-datacenter"),
        ("adminUsername", "administrator", "reserved by Azure"),
        ("adminUsername", "a-name-that-is-far-too-long", "1-20"),
        ("osticketVersion", "1.18.2", "below the security floor 1.18.3"),
        ("osticketVersion", "1.17.5", "below the security floor 1.18.3"),
        ("osticketVersion", "latest", "is not a version"),
        ("dnsLabel", "Bad_Label", "lower-case"),
        ("location", "West Europe!", "is not an Azure region name"),
        ("enableDbAccess", "yes", "is not true or false"),
        ("labClient", "1", "is not true or false"),
        ("labClientImage", "windows-7", "is not one of"),
        ("osticketAdminEmail", "not-an-email", "is not an e-mail address"),
        ("helpdeskName", "Help\u0007Desk", "control characters"),
        ("helpdeskName", "x" * 121, "1-120"),
        ("tags", json.dumps({"project": ""}), "required tag 'project' cannot be empty"),
        ("tags", json.dumps(["a", "b"]), "map of tag names"),
        ("adminSourceCIDR", "203.0.113.7/32", "is not a known key"),
        ("bootstrapRun", "-1", "outside 0-9999"),
        ("bootstrapRun", "two", "is not a whole number"),
        ("allowVmReplace", "please", "is not true or false"),
        ("dataDiskSizeGb", "4", "outside 8-1024"),
        ("dataDiskSizeGb", "32GB", "is not a whole number"),
        ("dataDiskSku", "UltraSSD_LRS", "is not one of: StandardSSD_LRS, Premium_LRS"),
        ("hstsMaxAgeSeconds", "31536000", "needs a trusted certificate"),
        ("smtpRelayHost", "smtp relay.example.com", "is not a host name"),
        ("smtpRelayPort", "70000", "outside 1-65535"),
        ("smtpRelayPort", "587", "needs ostops:smtpRelayHost"),
    ],
)
def test_bad_values_name_the_key(key: str, value: str, fragment: str) -> None:
    error = refused({**BASE_CONFIG, key: value})
    assert error.key == f"ostops:{key}"
    assert fragment in str(error)


def test_only_the_manifests_osticket_version_is_accepted() -> None:
    pinned = load_manifest().downloads["osticket"].version
    assert load({**BASE_CONFIG, "osticketVersion": pinned}).osticket_version == pinned
    assert load({**BASE_CONFIG, "osticketVersion": f"v{pinned}"}).osticket_version == pinned
    # Above the floor but not what downloads.json pins: bootstrap.ps1 would refuse it after every resource exists.
    error = refused({**BASE_CONFIG, "osticketVersion": "1.18.10"})
    assert error.key == "ostops:osticketVersion"
    assert f"differs from the version infra/bootstrap/downloads.json pins ({pinned})" in str(error)


@pytest.mark.parametrize("key", sorted(GIVEN_SECRETS))
def test_a_secret_stored_in_plain_text_is_refused(key: str) -> None:
    error = refused({**BASE_CONFIG, key: GIVEN_SECRETS[key]})
    assert error.key == f"ostops:{key}"
    assert f"pulumi config set --secret ostops:{key}" in str(error)
    assert GIVEN_SECRETS[key] not in str(error)


@pytest.mark.parametrize(
    ("key", "value", "fragment"),
    [
        ("adminPassword", "alllowercaseletters", "three of"),
        ("adminPassword", "Short1!", "too short"),
        ("dbAppPassword", "has'quote-and-more", "may contain only"),
        ("osticketAdminPassword", "dollar$sign-password", "may contain only"),
        ("apiKey", "0123456789abcdef0123456789abcdef", "32 upper-case hex"),
    ],
)
def test_weak_or_unsafe_secrets_are_refused_without_echoing_them(key: str, value: str, fragment: str) -> None:
    error = refused(BASE_CONFIG, {key: value})
    assert error.key == f"ostops:{key}"
    assert fragment in str(error)
    assert value not in str(error)


def test_a_non_secret_key_set_as_secret_is_refused() -> None:
    error = refused(
        {k: v for k, v in BASE_CONFIG.items() if k != "adminSourceCidr"}, {"adminSourceCidr": "203.0.113.7"}
    )
    assert error.key == "ostops:adminSourceCidr"
    assert "is not a secret" in str(error)


def test_the_error_is_a_clean_pulumi_exit_and_an_ostops_config_error() -> None:
    error = refused({**BASE_CONFIG, "adminSourceCidr": "0.0.0.0/0"})
    assert isinstance(error, pulumi.RunError)
    assert isinstance(error, ConfigError)
    assert error.exit_code == 2


def test_the_documented_example_loads() -> None:
    config = load(example_stack_config())
    assert config.dns_label == "ostops-helpdesk-example"
    assert config.tags["owner"] == "ops-team"
    assert config.lab_client is False


def test_the_example_with_an_open_admin_source_is_refused() -> None:
    error = refused({**example_stack_config(), "adminSourceCidr": "0.0.0.0/0"})
    assert str(error).startswith("ostops:adminSourceCidr: '0.0.0.0/0' would open RDP to the whole internet")


def test_the_example_documents_every_known_key() -> None:
    from infra.config import KNOWN_KEYS

    text = Path(REPO_ROOT / "Pulumi.example.yaml").read_text(encoding="utf-8")
    assert not [key for key in KNOWN_KEYS if f"ostops:{key}" not in text]


def test_config_as_the_cli_passes_it_in_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """`pulumi up` hands config to the program in PULUMI_CONFIG and PULUMI_CONFIG_SECRET_KEYS."""
    set_all_config({}, [])
    values = {
        f"ostops:{k}": v for k, v in {**BASE_CONFIG, "adminPassword": GIVEN_SECRETS["adminPassword"]}.items()
    }
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps(values))
    monkeypatch.setenv("PULUMI_CONFIG_SECRET_KEYS", json.dumps(["ostops:adminPassword"]))
    config = load_config(pulumi.Config("ostops"), stack=STACK)
    assert config.admin_password is not None
    assert config.admin_password.get_secret_value() == GIVEN_SECRETS["adminPassword"]
    assert config.admin_source_cidr == ADMIN_SOURCE

    monkeypatch.setenv("PULUMI_CONFIG_SECRET_KEYS", "[]")
    with pytest.raises(StackConfigError, match="ostops:adminPassword: is stored in plain text"):
        load_config(pulumi.Config("ostops"), stack=STACK)

    monkeypatch.setenv("PULUMI_CONFIG", json.dumps({**values, "ostops:adminSourceCIDR": "x"}))
    with pytest.raises(StackConfigError, match="ostops:adminSourceCIDR: is not a known key"):
        load_config(pulumi.Config("ostops"), stack=STACK)


def test_a_name_with_quotes_and_a_dash_is_fine_now_that_it_travels_as_json() -> None:
    assert load({**BASE_CONFIG, "helpdeskName": "St. Mary's IT \u2014 Help Desk"}).helpdesk_name == (
        "St. Mary's IT \u2014 Help Desk"
    )


def test_the_allow_list_has_only_x64_sizes_of_trusted_launch_families() -> None:
    from infra.config import TRUSTED_LAUNCH_VM_SIZES

    assert DEFAULT_VM_SIZE in TRUSTED_LAUNCH_VM_SIZES
    for size in TRUSTED_LAUNCH_VM_SIZES:
        family = size.split("_")[1]
        assert family[0] in "BDEF", size
        assert "p" not in family[1:].rstrip("0123456789"), f"{size} looks like an Arm64 size"
        assert not size.endswith(("_v3", "_v6")) or size.startswith("Standard_F"), size


@pytest.mark.parametrize("length", [56, 57, 62, 63])
def test_long_dns_labels_leave_a_valid_distinct_lab_client_label(length: int) -> None:
    from infra.config import DNS_LABEL, lab_client_dns_label

    label = ("ostops-" + "a" * 70)[: length - 1] + "z"
    config = load({**BASE_CONFIG, "dnsLabel": label, "labClient": "true"})
    client = config.lab_client_dns_label
    assert client == lab_client_dns_label(label)
    assert DNS_LABEL.fullmatch(client) and len(client) <= 63 and not client.endswith("-")
    assert client != label


def test_a_62_char_label_whose_cut_ends_in_a_dash_still_works() -> None:
    label = "a" * 55 + "-bcdefg"  # the first 56 characters end with '-'
    assert len(label) == 62
    client = load({**BASE_CONFIG, "dnsLabel": label, "labClient": "true"}).lab_client_dns_label
    assert client == "a" * 55 + "-client"


def test_a_label_that_would_equal_its_lab_client_label_is_refused_naming_dns_label() -> None:
    label = "a" * 56 + "-client"  # 63 characters: cutting and adding "-client" gives it back
    assert len(label) == 63
    error = refused({**BASE_CONFIG, "dnsLabel": label, "labClient": "true"})
    assert error.key == "ostops:dnsLabel"
    assert "no distinct label for the lab client" in str(error)
    # Without a lab client the same label is fine.
    assert load({**BASE_CONFIG, "dnsLabel": label}).dns_label == label


def test_the_config_error_is_exit_2_style() -> None:
    from automation.errors import ConfigError as OstopsConfigError

    error = refused({**BASE_CONFIG, "vmSize": "Standard_A1_v2"})
    assert isinstance(error, OstopsConfigError)
    assert str(error).startswith("ostops:vmSize: 'Standard_A1_v2'")


@pytest.mark.parametrize("name", ["osticket", "labclient"])
def test_computer_names_fit_netbios(name: str) -> None:
    from infra.config import check_computer_name
    from infra.host import SERVER_COMPUTER_NAME
    from infra.lab_client import CLIENT_COMPUTER_NAME

    assert name in {SERVER_COMPUTER_NAME, CLIENT_COMPUTER_NAME}
    assert check_computer_name(name) == name and len(name) <= 15
    with pytest.raises(ValueError, match="1-15"):
        check_computer_name("a-computer-name-too-long")


def test_purge_protection_is_a_config_choice() -> None:
    assert load(BASE_CONFIG).key_vault_purge_protection is False
    assert load({**BASE_CONFIG, "keyVaultPurgeProtection": "true"}).key_vault_purge_protection is True


def user_pfx(password: str = "Pfx-Pass-123") -> str:
    import base64

    from infra.tls import pfx_from_pem
    from tests.infra.conftest import mock_private_key_pem, mock_self_signed_pem

    key = mock_private_key_pem()
    pfx = pfx_from_pem(key, mock_self_signed_pem(key, ["helpdesk.example.org"]), password)
    assert base64.b64decode(pfx)
    return pfx


def test_a_user_pfx_is_read_as_secrets_and_must_open_with_its_password() -> None:
    pfx = user_pfx()
    config = load(BASE_CONFIG, {"tlsPfxBase64": pfx, "tlsPfxPassword": "Pfx-Pass-123"})
    assert config.tls_pfx_base64 is not None and config.tls_pfx_base64.get_secret_value() == pfx
    error = refused(BASE_CONFIG, {"tlsPfxBase64": pfx, "tlsPfxPassword": "Wrong-Pass-123"})
    assert error.key == "ostops:tlsPfxBase64"
    assert "does not open" in str(error) and "Wrong-Pass" not in str(error) and pfx[:20] not in str(error)


@pytest.mark.parametrize("given", ["tlsPfxBase64", "tlsPfxPassword"])
def test_a_pfx_needs_both_keys(given: str) -> None:
    value = user_pfx() if given == "tlsPfxBase64" else "Pfx-Pass-123"
    error = refused(BASE_CONFIG, {given: value})
    assert "give both tlsPfxBase64 and tlsPfxPassword" in str(error)


def test_a_pfx_in_plain_text_is_refused() -> None:
    error = refused({**BASE_CONFIG, "tlsPfxBase64": "QUJD"})
    assert error.key == "ostops:tlsPfxBase64" and "--secret" in str(error)


def test_garbage_instead_of_base64_is_refused_without_echoing_it() -> None:
    error = refused(BASE_CONFIG, {"tlsPfxBase64": "not base64 !!", "tlsPfxPassword": "x"})
    assert "is not base64" in str(error) and "not base64 !!" not in str(error)


# --- issue 20 ---------------------------------------------------------------------------------------------


def test_every_problem_is_listed_at_once() -> None:
    """issue 20 §9: stack config errors came one at a time (the first raised); now every one, like seed files."""
    error = refused(
        {
            "location": "West Europe!",
            "dnsLabel": "Bad_Label",
            "adminSourceCidr": "10.0.0.0/8",
            "vmSize": "Standard_A1_v2",
            "dataDiskSku": "UltraSSD_LRS",
            "unknownKey": "x",
        }
    )
    keys = {"location", "dnsLabel", "adminSourceCidr", "vmSize", "dataDiskSku", "unknownKey", "automationSourceCidr"}
    assert set(error.keys) == {f"ostops:{k}" for k in keys}
    assert len(error.problems) == len(keys)
    text = str(error)
    assert text.startswith(f"{len(keys)} problems in the stack config")
    for key in keys:
        assert f"\nostops:{key}: " in text
    assert isinstance(error, ConfigError) and error.exit_code == 2


def test_a_plain_secret_and_a_bad_value_are_both_named() -> None:
    error = refused({**BASE_CONFIG, "adminPassword": "Plain-Text-Pw-1234", "vmSize": "nope"})
    assert set(error.keys) == {"ostops:vmSize", "ostops:adminPassword"}
    assert "Plain-Text-Pw-1234" not in str(error)


def test_rdp_is_closed_unless_an_admin_source_is_given() -> None:
    config = load({k: v for k, v in BASE_CONFIG.items() if k != "adminSourceCidr"})
    assert config.admin_source_cidr is None


@pytest.mark.parametrize("value", ["203.0.113.0/28", "203.0.113.8/29", "203.0.113.7/32", "203.0.113.7"])
def test_a_slash_28_or_narrower_admin_source_is_accepted(value: str) -> None:
    assert load({**BASE_CONFIG, "adminSourceCidr": value}).admin_source_cidr is not None


def test_the_lab_client_needs_an_admin_source() -> None:
    config = {k: v for k, v in BASE_CONFIG.items() if k != "adminSourceCidr"}
    error = refused({**config, "labClient": "true"})
    assert error.key == "ostops:adminSourceCidr"
    assert "labClient" in str(error)


def test_new_keys_default_sensibly() -> None:
    config = load(BASE_CONFIG)
    assert config.bootstrap_run == 0
    assert config.allow_vm_replace is False
    assert config.data_disk_size_gb == 32
    assert config.data_disk_sku == "StandardSSD_LRS"
    assert config.hsts_max_age_seconds == 0  # self-signed: no HSTS
    assert config.smtp_relay is None


def test_hsts_follows_a_trusted_certificate() -> None:
    """issue 20 §9: HSTS with a two-year max-age on a self-signed certificate; now 0 unless the PFX is the user's."""
    test_pfx = {"tlsPfxBase64": user_pfx(), "tlsPfxPassword": "Pfx-Pass-123"}
    assert load(BASE_CONFIG, test_pfx).hsts_max_age_seconds == 31_536_000
    assert load({**BASE_CONFIG, "hstsMaxAgeSeconds": "300"}, test_pfx).hsts_max_age_seconds == 300
    assert load({**BASE_CONFIG, "hstsMaxAgeSeconds": "0"}).hsts_max_age_seconds == 0


def test_an_smtp_relay_is_read_with_its_password_as_a_secret() -> None:
    config = load(
        {**BASE_CONFIG, "smtpRelayHost": "smtp.sendgrid.net", "smtpRelayUsername": "apikey"},
        {"smtpRelayPassword": "SG.abc-DEF_123.xyz~9"},
    )
    relay = config.smtp_relay
    assert relay is not None
    assert (relay.host, relay.port, relay.username) == ("smtp.sendgrid.net", 587, "apikey")
    assert relay.password is not None and relay.password.get_secret_value() == "SG.abc-DEF_123.xyz~9"
    assert "SG.abc" not in repr(config)
    assert load({**BASE_CONFIG, "smtpRelayHost": "relay.internal", "smtpRelayPort": "25"}).smtp_relay == (
        type(relay)(host="relay.internal", port=25)
    )


def test_an_smtp_password_in_plain_text_or_alone_is_refused() -> None:
    error = refused({**BASE_CONFIG, "smtpRelayHost": "smtp.example.com", "smtpRelayPassword": "Plain-Relay-Pw-1"})
    assert set(error.keys) == {"ostops:smtpRelayPassword", "ostops:smtpRelayUsername"}
    assert "Plain-Relay-Pw-1" not in str(error)
