"""The web role's PowerShell side (ostops:tier production): the composed script of ROLE_MODULES["web"], read with
tree-sitter, its PHP programs linted by PHP itself, and its settings contract checked against what
infra/bootstrap_command.py web_role_settings emits."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import zipfile
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from infra.bootstrap_command import (
    MODULES_DIR,
    MYSQL_CA_CERTIFICATES,
    ROLE_MODULES,
    WEB_ROLE,
    bootstrap_settings,
    read_bootstrap_files,
    web_role_settings,
)
from infra.vault import SECRET_NAMES
from tests.infra.test_bootstrap import (
    CHECKS,
    assignments,
    commands,
    function_body,
    here_strings,
    parse,
    step_node,
    steps,
    text,
    walk,
)

pytestmark = pytest.mark.infra

SERVER_STEPS = {"Install MariaDB server", "Harden MariaDB folders", "Secure MariaDB root account",
                "Configure MariaDB network and TLS", "Create osTicket database and user",
                "Configure automation database access"}


@cache
def web() -> str:
    return read_bootstrap_files().scripts[WEB_ROLE]


def module(name: str) -> str:
    return (MODULES_DIR / f"{name}.ps1").read_text(encoding="utf-8")


def step_names(source: str) -> list[str]:
    return [s.name for s in steps(source)]


def settings() -> dict[str, Any]:
    files = read_bootstrap_files()
    base = bootstrap_settings(
        files=files, osticket_version="1.18.3", site_host_name="desk.example.com", helpdesk_name="St. Mary's IT",
        admin_username="ostadmin", admin_email="ostadmin@example.com", automation_source_ip="203.0.113.7",
        enable_db_access=False, vault_uri="https://kv-ostops.vault.azure.net/", secret_names=SECRET_NAMES,
        certificate_sha256="ab" * 32)
    return web_role_settings(
        base, database_host="ostops-mysql.private.mysql.database.azure.com", database_name="osticket",
        database_user="osticket", table_prefix="ost_", admin_login="ostopsdba", trusted_proxies="10.20.1.0/24",
        identity_client_id="0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", secret_names=SECRET_NAMES)


# --- composition -------------------------------------------------------------------------------------------


def test_the_web_role_installs_no_mariadb_server_and_no_site_certificate() -> None:
    names = step_names(web())
    assert not SERVER_STEPS & set(names)
    assert not {"Import TLS certificate", "Bind HTTPS certificate", "Disable TLS 1.0 and 1.1", "Configure HSTS",
                "Confirm TLS 1.0 and 1.1 refused", "Schedule osTicket cron", "Run osTicket installer",
                "Prepare data disk"} & set(names)
    downloads = {text(c.args[0][1]).strip("'") for c in commands(web()) if c.name == "Get-Download" and c.args}
    assert "mariadb" not in downloads and {"php", "osticket", "vcredist", "urlrewrite"} <= downloads
    # Nothing in the web role calls the local server's client (mysql.exe): every query goes through PHP's mysqli.
    assert not {c.name for c in commands(web())} & {"Invoke-MariaDbSql", "Test-MariaDbLogin", "Wait-MariaDb"}
    assert "45-mariadb-server" not in ROLE_MODULES[WEB_ROLE] and "40-database-client" not in ROLE_MODULES[WEB_ROLE]


def test_the_web_role_steps_come_in_a_working_order() -> None:
    order = step_names(web())

    def before(a: str, b: str) -> None:
        assert order.index(a) < order.index(b), f"{a!r} must run before {b!r}"

    assert order[0] == "Validate settings"
    before("Check PHP extensions", "Validate database settings")
    before("Validate database settings", "Install database CA certificates")
    before("Install database CA certificates", "Check the database over TLS")
    before("Check the database over TLS", "Install osTicket database once")
    before("Deploy osTicket files", "Install osTicket database once")
    before("Install osTicket database once", "Write ost-config.php from settings")
    before("Write ost-config.php from settings", "Remove setup directory")
    before("Write ost-config.php from settings", "Make ost-config.php read-only")
    before("Make ost-config.php read-only", "Schedule osTicket cron (elected per tick)")
    assert order[-1] == "Reload IIS and check osTicket answers"


@pytest.mark.parametrize("check", ["parse", "variables", "contract", "secrets", "versions", "web.config", "compatibility",
                                   "runner", "analyzer"])
def test_the_web_role_passes_the_checks_that_apply_to_it(check: str) -> None:
    assert CHECKS[check](web()) == []


def test_the_role_each_script_was_composed_for_is_the_role_its_settings_must_name() -> None:
    """A lab script given web settings (or the reverse) stops at its first step naming both roles."""
    assert assignments(read_bootstrap_files().scripts["install"])["scriptrole"] == "'install'"
    # The web module assigns it after 00-settings: the last assignment in the composed script wins.
    values = [text(n.children[-1]) for n in walk(parse(web()).root_node)
              if n.type == "assignment_expression" and text(n.children[0]) == "$ScriptRole"]
    assert values == ["'install'", "'web'"]
    validate = text(step_node(web(), "Validate settings", "Test") or parse(web()).root_node)
    assert "if ($role -ne $ScriptRole)" in validate and "composed for the '$ScriptRole' role" in validate


# --- the database over TLS ---------------------------------------------------------------------------------


def test_every_query_connects_over_tls_verifying_the_server_against_the_ca_bundle() -> None:
    prelude = text(function_body(web(), "Invoke-DatabasePhp"))
    assert "$db->ssl_set(null, null, $in['ca'], null, null);" in prelude
    assert "MYSQLI_CLIENT_SSL" in prelude and "MYSQLI_OPT_CONNECT_TIMEOUT" in prelude
    check = text(step_node(web(), "Check the database over TLS", "Test") or parse(web()).root_node)
    assert "'^TLSv1\\.[23]$'" in check and "[version]'8.0.21'" in check


def test_ost_config_points_osticket_at_the_flexible_server_over_tls_behind_the_gateway() -> None:
    body = text(function_body(web(), "Get-DesiredOstConfig"))
    for define in ("OSTINSTALLED', TRUE", "'SECRET_SALT'", "'DBHOST'", "'DBUSER'", "'DBPASS'", "'TABLE_PREFIX'",
                   "'DBSSLCA', {0}", "'DBSSLCERT', null", "'DBSSLKEY', null", "'TRUSTED_PROXIES', {0}"):
        assert define in body, define
    assert "$db.CaFile" in body and "$db.TrustedProxies" in body and "$script:SecretSalt" in body


def osticket_mysqli() -> str | None:
    source = os.environ.get("OSTICKET_SOURCE")
    if not source or not Path(source).is_file():
        return None
    with zipfile.ZipFile(source) as archive:
        name = next(n for n in archive.namelist() if n.endswith("upload/include/mysqli.php"))
        return archive.read(name).decode("utf-8").replace("\r\n", "\n")


def ps_double_quoted(source: str, variable: str) -> str:
    literal = assignments(source)[variable.lower()]
    assert literal.startswith('"') and literal.endswith('"')
    return literal[1:-1].replace("`n", "\n").replace("`$", "$")


def test_the_installing_instance_gives_osticket_s_installer_tls() -> None:
    """osTicket's installer connects with db_connect($host, $user, $pass) and no TLS options
    (setup/inc/class.installer.php), and the server requires TLS: the staging copy's include/mysqli.php gets the
    CA when no options came. The block it replaces is osTicket's own, exactly (OSTICKET_SOURCE)."""
    original = ps_double_quoted(module("56-osticket-web"), "DbConnectTlsOriginal")
    patched = ps_double_quoted(module("56-osticket-web"), "DbConnectTlsPatched")
    assert patched.startswith("    // Setup SSL if enabled\n") and patched.endswith(original.splitlines()[-1])
    assert "getenv('OSTOPS_DBSSLCA')" in patched
    action = text(step_node(web(), "Install osTicket database once", "Action") or parse(web()).root_node)
    assert "$SourceDir" in action and "$Webroot" not in action, "the served tree is never patched"
    mysqli = osticket_mysqli()
    if mysqli is None:
        pytest.skip("OSTICKET_SOURCE (an osTicket release zip) is not set")
    assert mysqli.count(original) == 1
    php = shutil.which("php")
    assert php
    lint = subprocess.run([php, "-l"], input=mysqli.replace(original, patched), capture_output=True, text=True,
                          timeout=60, check=False)
    assert lint.returncode == 0, lint.stdout + lint.stderr


def php_programs() -> dict[str, str]:
    """Every PHP program the web role runs, with the prelude Invoke-DatabasePhp puts before it."""
    prelude = here_strings(text(function_body(web(), "Invoke-DatabasePhp")))["prelude"]
    found: dict[str, str] = {}
    for step in ("Check the database over TLS", "Install osTicket database once"):
        for part in ("Test", "Action"):
            node = step_node(web(), step, part)
            programs = here_strings(text(node)) if node is not None else {}
            if "program" in programs:
                found[f"{step} ({part})"] = prelude[2:-2].strip("\r\n") + "\n" + programs["program"][2:-2].strip("\r\n")
    found["cron wrapper"] = here_strings(module("76-cron-elected"))["cronwrappertext"][2:-2].strip("\r\n")
    return found


def test_the_php_programs_are_valid_php() -> None:
    php = shutil.which("php")
    assert php, "php is missing (scripts/setup.sh installs php-cli for the e2e tests)"
    programs = php_programs()
    assert len(programs) == 4
    for name, program in programs.items():
        result = subprocess.run([php, "-l"], input=program, capture_output=True, text=True, timeout=60, check=False)
        assert result.returncode == 0, f"{name}: {result.stdout}{result.stderr}"


# --- the designated installer and cron exactly once ----------------------------------------------------------


def test_one_instance_installs_the_database_under_the_install_lock() -> None:
    action = php_programs()["Install osTicket database once (Action)"]
    lock = action.index("GET_LOCK('\" . $admin->real_escape_string($in['lock'])")
    checked = action.index("schema_signature")
    installer = action.index("proc_open(")
    released = action.index("RELEASE_LOCK(")
    assert lock < checked < installer < released
    # An installed schema ends the program before the installer, still under the lock.
    assert re.search(r"if \(\$signed\) \{ echo json_encode\(array\('ok' => true, 'installed_by' => 'another instance'\)\)", action)
    assert "REQUIRE SSL" in action and "CREATE TABLE IF NOT EXISTS" in action
    step = text(step_node(web(), "Install osTicket database once", "Action") or parse(web()).root_node)
    assert "lock = $script:Database.InstallLock" in step and "$DbInstallLockSeconds" in step
    test = text(step_node(web(), "Install osTicket database once", "Test") or parse(web()).root_node)
    assert "user = $script:Database.User" in test, "installed is checked as the application's user"


def test_cron_runs_once_per_tick_across_instances() -> None:
    wrapper = php_programs()["cron wrapper"]
    elect = wrapper.index("INSERT IGNORE INTO $table (tick, host, started)")
    assert wrapper.index("FLOOR(UNIX_TIMESTAMP() / (60 * __MINUTES__))") < elect
    assert elect < wrapper.index("$stmt->affected_rows !== 1") < wrapper.index("GET_LOCK('__LOCK__', 0)")
    assert wrapper.index("GET_LOCK('__LOCK__', 0)") < wrapper.index("osticket/api/cron.php')") < wrapper.index(
        "RELEASE_LOCK('__LOCK__')")
    assert "ssl_set(null, null, DBSSLCA, null, null)" in wrapper and "MYSQLI_CLIENT_SSL" in wrapper
    body = text(function_body(web(), "Get-DesiredCronWrapper"))
    assert set(re.findall(r"__[A-Z_]+__", wrapper)) == set(re.findall(r"'(__[A-Z_]+__)'", body))
    names = step_names(web())
    assert names.count("Schedule osTicket cron (elected per tick)") == 1 and "Schedule osTicket cron" not in names
    action = text(step_node(web(), "Schedule osTicket cron (elected per tick)", "Action") or parse(web()).root_node)
    assert "NT AUTHORITY\\LOCAL SERVICE" in action and "MultipleInstances IgnoreNew" in action


def test_the_gateway_is_not_redirected_back_to_itself_and_only_http_is_open() -> None:
    override = next(n for n in walk(parse(module("56-osticket-web")).root_node)
                    if n.type == "assignment_expression" and text(n.children[0]) == "$WebConfig")
    assert 'ostops HTTP to HTTPS' in text(override)
    lab = here_strings(web())["webconfig"]
    pattern = re.search(r"'(\(\?s\)[^']+)'", text(override))
    assert pattern
    stripped = re.sub(pattern.group(1).replace("\\r?\\n", "\r?\n"), "", lab)
    assert "ostops HTTP to HTTPS" in lab and "ostops HTTP to HTTPS" not in stripped
    assert stripped.count("<rule ") == lab.count("<rule ") - 1
    assert assignments(module("46-database-tls"))["httpports"] == "@(80)"


# --- the settings contract from both sides -------------------------------------------------------------------


def option_pattern(after: str) -> str:
    body = text(function_body(web(), "Get-WebRoleProblems"))
    found = re.search(re.escape(after) + r"\)\" -notmatch '([^']+)'", body)
    assert found, after
    return found.group(1)


def test_the_web_settings_the_program_emits_pass_the_script_s_own_checks() -> None:
    made = settings()
    db = made["database"]
    assert re.fullmatch(option_pattern("$db.host"), db["host"])
    for key in ("name", "user", "adminLogin"):
        assert re.fullmatch(option_pattern("$db.$key"), db[key]), key
    assert re.fullmatch(option_pattern("$db.tablePrefix"), db["tablePrefix"])
    assert re.fullmatch(option_pattern("$db.installLock"), db["installLock"])
    assert db["tls"]["required"] is True
    assert re.fullmatch(option_pattern("$db.tls.caFile"), db["tls"]["caFile"])
    for ca in db["tls"]["caCertificates"]:
        assert re.fullmatch(r"[0-9a-f]{64}", ca["sha256"]) and ca["url"].startswith("https://")
    assert made["cron"]["mode"] == "database-elected"
    assert re.fullmatch(option_pattern("$Settings.cron.intervalMinutes"), str(made["cron"]["intervalMinutes"]))
    # The secrets the web role reads are among those the program names in settings.secrets.names.
    wanted = set(re.findall(r"'(\w+)'", assignments(module("46-database-tls"))["secretnames"]))
    assert wanted <= set(made["secrets"]["names"])
    assert {"dbRootPassword", "tlsPfx", "tlsPfxPassword"}.isdisjoint(wanted)
    options = text(function_body(web(), "Get-OptionProblems"))
    guid = re.search(r"\$script:IdentityClientId -notmatch '([^']+)'", options)
    assert guid and re.fullmatch(guid.group(1), made["secrets"]["identityClientId"])
    keyvault = text(function_body(web(), "Get-KeyVaultSecret"))
    assert "'&client_id=' + $script:IdentityClientId" in keyvault


DEBIAN_CA = Path("/usr/share/ca-certificates/mozilla")
DEBIAN_NAMES = {"DigiCertGlobalRootCA": "DigiCert_Global_Root_CA.crt", "DigiCertGlobalRootG2": "DigiCert_Global_Root_G2.crt",
                "MicrosoftRSARootCertificateAuthority2017": "Microsoft_RSA_Root_Certificate_Authority_2017.crt"}


def test_the_pinned_ca_thumbprints_match_an_independent_copy_of_each_root() -> None:
    """The SHA-256 pinned for each CA (as DigiCert and Microsoft document them) is that of the same root in
    Debian's ca-certificates (Mozilla's root store), so a typo in a pin cannot pass."""
    assert set(DEBIAN_NAMES) == {name for name, _, _ in MYSQL_CA_CERTIFICATES}
    for name, _, pinned in MYSQL_CA_CERTIFICATES:
        path = DEBIAN_CA / DEBIAN_NAMES[name]
        assert path.is_file(), f"{path}: install Debian's ca-certificates"
        der = x509.load_pem_x509_certificate(path.read_bytes()).public_bytes(Encoding.DER)
        assert hashlib.sha256(der).hexdigest() == pinned, name
