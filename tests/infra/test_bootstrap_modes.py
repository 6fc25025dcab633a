"""The bootstrap's backup, upgrade and rotate modes (issue 21): the stack config picks the mode, the settings carry
it to the VM, and the script (parsed with tree-sitter-pwsh; nothing here runs PowerShell) registers each mode's
steps, keeps secrets off command lines, talks to IMDS and Blob storage as Microsoft documents, and rolls an
upgrade back on every failure after its backup."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pulumi
import pytest

from infra import bootstrap_command
from infra.bootstrap_command import (
    INSTALL_ROLE,
    MAX_INLINE_SCRIPT_BYTES,
    OPS_ROLE,
    ROLE_MODULES,
    bootstrap_settings,
    check_script_size,
    embed_settings,
    read_bootstrap_files,
    role_for_mode,
    smtp_relay_settings,
)
from infra.config import BOOTSTRAP_MODES, StackConfigError, load_config
from tests.infra.conftest import BASE_CONFIG, STACK, install_config, run_program
from tests.infra.test_bootstrap import (
    Command,
    assignments,
    commands,
    commands_in,
    function_body,
    real_source,
    step_node,
    steps,
    text,
    unquote,
    walk,
)
from tests.infra.test_production_tier import PRODUCTION, PRODUCTION_SECRETS

pytestmark = pytest.mark.infra

RUN_COMMAND = "azure-native:compute:VirtualMachineRunCommandByVirtualMachine"
UPGRADE_STEPS = [
    "Upgrade: check preconditions", "Upgrade: back up first", "Upgrade: deploy new code",
    "Upgrade: run osTicket upgrader", "Upgrade: compare schema signature", "Upgrade: smoke test",
    "Upgrade: record the new version",
]
ROTATE_STEPS = ["Rotate database password", "Rotate API key", "Rotate admin password"]
BACKUP_STEPS = ["Back up to Blob storage"]
# Microsoft's IMDS token request for Blob storage ("How to use managed identities for Azure resources on an Azure
# VM to acquire an access token"; resource from "Authorize access to blobs using Microsoft Entra ID").
IMDS_STORAGE_TOKEN = "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://storage.azure.com/"
# Put Blob, Remarks: 5,000 MiB in one request from x-ms-version 2019-12-12; Bearer tokens need 2017-11-09 or later.
PUT_BLOB_LIMIT_2019_12_12 = 5000 * 2**20
# Programs that take a password on their command line if given one.
PASSWORD_TAKERS = re.compile(r"(?i)mysql|mariadb|php")


@cache
def ops_source() -> str:
    """The ops role's composed script (settings.mode upgrade and rotate): the backup module and the upgrade and
    rotate one, with what they use; the install role holds the backup module too."""
    return read_bootstrap_files().scripts[OPS_ROLE]


def mutate(old: str, new: str) -> str:
    source = ops_source()
    assert old in source, f"mutation anchor not found: {old!r}"
    return source.replace(old, new, 1)


def step_modes(source: str) -> dict[str, list[str]]:
    """Each Add-Step's -Modes (its literal list; 'install' when absent; '$SupportedModes' spelled out)."""
    supported = re.findall(r"'(\w+)'", assignments(source)["supportedmodes"])
    found = {}
    for cmd in commands(source):
        if cmd.name != "Add-Step":
            continue
        modes = cmd.arg("Modes")
        listed = ["install"] if modes is None else supported if text(modes) == "$SupportedModes" else \
            re.findall(r"'(\w+)'", text(modes))
        found[unquote(text(cmd.arg("Name")))] = listed
    return found


def mode_problems(source: str) -> list[str]:
    problems = []
    modes = step_modes(source)
    order = [s.name for s in steps(source)]
    expected = {"backup": BACKUP_STEPS, "upgrade": UPGRADE_STEPS, "rotate": ROTATE_STEPS}
    for mode, names in expected.items():
        found = [name for name in order if mode in modes[name] and name != "Validate settings"]
        if found != names:
            problems.append(f"mode {mode}: steps {found}, expected {names} in that order")
    for name, listed in modes.items():
        if name == "Validate settings":
            if sorted(listed) != sorted(BOOTSTRAP_MODES):
                problems.append("'Validate settings' does not run in every mode")
        elif len(listed) != 1:
            problems.append(f"step {name!r} runs in {listed}: each step belongs to one mode")
    if modes.get("Schedule nightly backup") != ["install"]:
        problems.append("'Schedule nightly backup' is not an install step")
    return problems


def _args_text(cmd: Command) -> str:
    node = cmd.arg("Arguments")
    return text(node) if node is not None else ""


def command_line_problems(source: str) -> list[str]:
    """No password argument for mysql, mariadb-dump or php; the option file first; secrets on stdin only."""
    problems = []
    secret_names = re.compile(r"(?i)\$(script:)?(\w*(password|passwd|pwd|secret|token|plain)\w*|ApiKey)\b")
    for cmd in commands(source):
        if cmd.name not in ("Invoke-Process", "Invoke-Checked", "Start-Process"):
            continue
        target = text(cmd.arg("FilePath") or cmd.node)
        line = cmd.node.start_point[0] + 1
        if target == "$FilePath":  # Invoke-OpsClient runs mysql.exe and mariadb-dump.exe
            target = "$MysqlExe|$MariaDbDumpExe"
        if not PASSWORD_TAKERS.search(target):
            continue
        arguments = _args_text(cmd)
        if re.search(r"(?i)(^|[\s'\"])(-p\S|--password)", arguments):
            problems.append(f"line {line}: {target} gets a password option: {arguments[:80]}")
        if secret_names.search(arguments):
            problems.append(f"line {line}: {target} gets a secret-named variable on its command line: {arguments[:80]}")
    client = function_body(source, "Invoke-OpsClient")
    runs = [c for c in commands_in(client) if c.name == "Invoke-Process"]
    if not runs or not re.match(r"\('--defaults-extra-file=", _args_text(runs[0])):
        problems.append("Invoke-OpsClient: --defaults-extra-file is not the program's first option")
    php = function_body(source, "Invoke-PhpSecret")
    run = next((c for c in commands_in(php) if c.name == "Invoke-Process"), None)
    if run is None or "$Payload" not in text(run.arg("InputText") or run.node) or "$Payload" in _args_text(run):
        problems.append("Invoke-PhpSecret: the payload does not go to php's standard input alone")
    for name in ("Test-AdminPassword", "Rotate admin password"):
        body = function_body(source, name) if name.startswith("Test-") else step_node(source, name, "Action")
        calls = [c for c in commands_in(body) if c.name == "Invoke-PhpSecret"] if body is not None else []
        if not calls or any("STDIN" not in text(c.arg("Code") or c.node) for c in calls):
            problems.append(f"{name}: the admin password does not reach php through STDIN")
    return problems


def _first(node, name: str) -> Command | None:  # type: ignore[no-untyped-def]
    return next((c for c in commands_in(node) if c.name == name), None) if node is not None else None


def schedule_problems(source: str) -> list[str]:
    problems = []
    action = step_node(source, "Schedule nightly backup", "Action")
    trigger = _first(action, "New-ScheduledTaskTrigger")
    if trigger is None or trigger.arg("Daily") is None or "$script:Backup.Schedule" not in text(trigger.arg("At") or trigger.node):
        problems.append("the backup task's trigger is not daily at settings.backup.schedule")
    principal = _first(action, "New-ScheduledTaskPrincipal")
    if principal is None or unquote(text(principal.arg("UserId") or principal.node)) != "NT AUTHORITY\\SYSTEM":
        problems.append("the backup task does not run as SYSTEM")
    register = _first(action, "Register-ScheduledTask")
    if register is None or text(register.arg("Trigger") or register.node) != "$trigger":
        problems.append("Register-ScheduledTask does not take the daily trigger")
    task_action = _first(action, "New-ScheduledTaskAction")
    if task_action is None or "$BackupScriptCopy" not in text(task_action.node):
        problems.append("the backup task does not run the backup copy of the script")
    options = text(function_body(source, "Get-OpsOptionProblems"))
    if "Schedule = $at" not in options or "'schedule'" not in options:
        problems.append("settings.backup.schedule does not become $script:Backup.Schedule")
    copy = text(function_body(source, "Get-BackupTaskProblems"))
    if "'\"mode\":\"backup\"'" not in copy:
        problems.append("the task's copy does not run in backup mode")
    return problems


def storage_problems(source: str) -> list[str]:
    problems = []
    values = assignments(source)
    if unquote(values.get("storageidentityroute", "")) != IMDS_STORAGE_TOKEN:
        problems.append("$StorageIdentityRoute is not IMDS's token route for https://storage.azure.com/")
    if unquote(values.get("imdsendpoint", "")) != "http://169.254.169.254":
        problems.append("$ImdsEndpoint is not 169.254.169.254")
    blob = function_body(source, "Invoke-Blob")
    token = _first(blob, "Invoke-RestMethod")
    if token is None or "$StorageIdentityRoute" not in text(token.arg("Uri") or token.node) or \
            re.sub(r"\s", "", text(token.arg("Headers") or token.node)) != "@{Metadata='true'}":
        problems.append("the storage token is not asked of IMDS with the header Metadata: true")
    body = text(blob)
    for header, value in (("Authorization", '"Bearer $token"'), ("x-ms-version", "$StorageApiVersion"),
                          ("x-ms-date", "[DateTime]::UtcNow.ToString('r')")):
        if f"$Headers['{header}'] = {value}" not in body:
            problems.append(f"Invoke-Blob does not send {header}: {value}")
    send = text(function_body(source, "Send-BlobFile"))
    for needle in ("'x-ms-blob-type' = 'BlockBlob'", "?comp=block&blockid=", "?comp=blocklist", "<Latest>",
                   "[Uri]::EscapeDataString", "-le $PutBlobMaxBytes"):
        if needle not in send:
            problems.append(f"Send-BlobFile lacks {needle}")
    version = unquote(values.get("storageapiversion", ""))
    if not re.fullmatch(r"\d{4}-\d\d-\d\d", version) or version < "2019-12-12":
        problems.append(f"x-ms-version {version!r}: Bearer and a 5,000 MiB Put Blob need 2019-12-12 or later")
    limit = values.get("putblobmaxbytes", "")
    size = int(limit[:-2]) * 2**20 if limit.endswith("MB") else int(limit or 0)
    if not 0 < size <= PUT_BLOB_LIMIT_2019_12_12:
        problems.append(f"$PutBlobMaxBytes {limit} is beyond Put Blob's single-shot limit")
    if re.search(r"(?i)SharedKey|AccountKey|[?&]sig=", source):
        problems.append("a storage key or SAS in the script: the VM's identity is the only credential")
    return problems


def rollback_problems(source: str) -> list[str]:
    """Every upgrade failure after the backup runs Invoke-UpgradeRollback before the run exits 1."""
    problems = []
    loop = re.search(r"(?s)foreach \(\$step in \$script:Steps\) \{(.*)", source)
    catch = re.search(r"(?s)\} catch \{(.*?)exit 1", loop.group(1)) if loop else None
    if not catch or "& $script:OnStepFailure $step.Name" not in catch.group(1):
        problems.append("the runner's catch does not call $script:OnStepFailure with the failed step's name")
    arms = [n for n in walk(parse_root(source)) if n.type == "assignment_expression"
            and text(n.children[0]) == "$script:OnStepFailure"]
    armed = [n for n in arms if "Invoke-UpgradeRollback" in text(n)]
    backup = step_node(source, "Upgrade: back up first", "Action")
    if len(armed) != 1 or backup is None or not (backup.start_byte <= armed[0].start_byte < backup.end_byte):
        problems.append("the rollback is not armed by 'Upgrade: back up first' (and only there)")
    elif "-FailedStep $failed" not in text(armed[0]):
        problems.append("the rollback is not told the failed step")
    record = step_node(source, "Upgrade: record the new version", "Action")
    cleared = [n for n in arms if text(n.children[-1]).strip() == "$null" and n not in armed]
    if record is None or not any(record.start_byte <= n.start_byte < record.end_byte for n in cleared):
        problems.append("the rollback is not disarmed by the last upgrade step once the smoke test passed")
    order = [s.name for s in steps(source)]
    upgrade = [n for n in order if n.startswith("Upgrade: ")]
    if upgrade and upgrade[-1] != "Upgrade: record the new version":
        problems.append("'Upgrade: record the new version' is not the last upgrade step")
    for name in upgrade[upgrade.index("Upgrade: back up first") + 1:] if "Upgrade: back up first" in upgrade else []:
        for part in ("Test", "Action"):
            node = step_node(source, name, part)
            if node is not None and re.search(r"(?m)^\s*(exit|return\s+\$true\s*$)", text(node)) and part == "Action":
                problems.append(f"{name}: its action leaves without failing through the runner")
            for catch_block in (n for n in walk(node) if n.type == "catch_clause") if node is not None else ():
                if "throw" not in text(catch_block):
                    problems.append(f"{name}: a catch swallows the failure (no rollback would run)")
    rollback = text(function_body(source, "Invoke-UpgradeRollback"))
    for needle in ("Move-Item -LiteralPath $script:UpgradeOld -Destination $Webroot", "Invoke-OpsClient -FilePath $MysqlExe",
                   "source {1}", "DROP DATABASE", "Set-Maintenance -On $false"):
        if needle not in rollback:
            problems.append(f"Invoke-UpgradeRollback lacks {needle}")
    upgrader = text(function_body(source, "Invoke-OsTicketUpgrader"))
    if "'manage.php upgrade'" not in upgrader or "All finished" not in upgrader or "throw" not in upgrader:
        problems.append("the upgrader's failure is not detected (php manage.php upgrade, 'All finished')")
    return problems


def parse_root(source: str):  # type: ignore[no-untyped-def]
    from tests.infra.test_bootstrap import parse

    return parse(source).root_node


def backup_problems(source: str) -> list[str]:
    problems = []
    backup = function_body(source, "Invoke-OstopsBackup")
    calls = [c.name for c in commands_in(backup)]
    if "Set-HardenedAcl" not in calls or "Invoke-OpsClient" not in calls or \
            calls.index("Set-HardenedAcl") > calls.index("Invoke-OpsClient"):
        problems.append("the dump is written before its folder is private")
    if "Get-HardenedAclProblems" not in calls:
        problems.append("the folder's ACL is not checked before the dump")
    body = text(backup)
    for needle in ("--single-transaction", "Remove-Item -LiteralPath $folder -Recurse -Force", "ost-config.php",
                   "schemaSignature", "rows = (Get-TableRowCounts)", "sha256 = $hashes", "createdUtc",
                   "osTicketVersion", "Write-BackupLog -Id $logId -Ok 1", "Write-BackupLog -Id $logId -BlobName"):
        if needle not in body:
            problems.append(f"Invoke-OstopsBackup lacks {needle}")
    if not re.search(r"(?s)finally \{\s*if \(-not \$Keep\) \{ Remove-Item -LiteralPath \$folder", body):
        problems.append("the local copy is not deleted after the upload")
    client = text(function_body(source, "Invoke-OpsClient"))
    if client.index("Write-TextFile") > client.index("Invoke-Process") or "Remove-Item" not in client:
        problems.append("the option file is not written before the client runs and removed after")
    log = text(function_body(source, "Write-BackupLog"))
    table = re.search(r"CREATE TABLE IF NOT EXISTS ostops_ops\.backup_log \((.*?)\) ENGINE", log, re.DOTALL)
    columns = [" ".join(c.split()) for c in table.group(1).split(",")] if table else []
    # The contract `ostops instance status` reads (automation/scheduled_backups.py, its DDL).
    from automation.scheduled_backups import CREATE_TABLE

    shared = re.search(r"\((.*)\)$", CREATE_TABLE)
    contract = [" ".join(c.split()) for c in shared.group(1).split(",")] if shared else []
    if columns != contract:
        problems.append(f"ostops_ops.backup_log is {columns}, not the shared contract {contract}")
    if "CREATE DATABASE IF NOT EXISTS ostops_ops" not in log:
        problems.append("the ostops_ops schema is not created idempotently")
    return problems


def rotation_problems(source: str) -> list[str]:
    problems = []
    db = step_node(source, "Rotate database password", "Action")
    db_text = text(db) if db is not None else ""
    catch = re.search(r"(?s)\} catch \{(.*)\}", db_text)
    if not catch or "Set-DbPassword -Secret $old" not in catch.group(1) or "throw" not in catch.group(1):
        problems.append("a failed database password rotation does not put the old password back")
    for needle in ("Test-AppDbLogin -Secret $old", "Test-AppDbLogin -Secret $new", "scp/login.php"):
        if needle not in db_text:
            problems.append(f"the database password rotation is not proven by {needle}")
    setter = text(function_body(source, "Set-DbPassword"))
    for needle in ("ALTER USER", "Write-TextFile -Path $OstConfig", "Restart-WebAppPool"):
        if needle not in setter:
            problems.append(f"Set-DbPassword lacks {needle}")
    if setter.index("ALTER USER") > setter.index("Write-TextFile") or setter.index("Write-TextFile") > setter.index("Restart-WebAppPool"):
        problems.append("Set-DbPassword: not ALTER USER, then ost-config.php, then the app pool")
    api = text(step_node(source, "Rotate API key", "Action") or parse_root(source))
    if "UPDATE {0}.{1}api_key SET apikey = $key" not in api or "throw 'the old API key is still there'" not in api:
        problems.append("the API key rotation does not replace the key and prove the old one gone")
    admin = text(step_node(source, "Rotate admin password", "Action") or parse_root(source))
    for needle in ("PASSWORD_BCRYPT", "''cost'' => 8", "change_passwd = 0", "namespace = 'pwreset'", "session", "Test-AdminPassword"):
        if needle not in admin:
            problems.append(f"the admin password rotation lacks {needle}")
    return problems


CHECKS = {"modes": mode_problems, "command lines": command_line_problems, "schedule": schedule_problems,
          "storage": storage_problems, "rollback": rollback_problems, "backup": backup_problems,
          "rotation": rotation_problems}


@pytest.mark.parametrize("check", sorted(CHECKS))
def test_the_modes_pass(check: str) -> None:
    assert CHECKS[check](ops_source()) == []


def test_the_install_role_backs_up_and_the_ops_role_upgrades_and_rotates() -> None:
    install = {s.name for s in steps(real_source())}
    ops = {s.name for s in steps(ops_source())}
    assert set(BACKUP_STEPS) | {"Schedule nightly backup"} <= install & ops
    assert not (set(UPGRADE_STEPS) | set(ROTATE_STEPS)) & install and set(UPGRADE_STEPS) | set(ROTATE_STEPS) <= ops
    # What the upgrade runs of the install's steps is in the ops role.
    assert {"Deploy web.config", "Set NTFS permissions", "Make ost-config.php read-only"} <= ops
    assert [role_for_mode(m) for m in BOOTSTRAP_MODES] == [INSTALL_ROLE, OPS_ROLE, OPS_ROLE, INSTALL_ROLE]
    assert ROLE_MODULES[OPS_ROLE][-1] == "99-run" and "86-backup" in ROLE_MODULES[INSTALL_ROLE]


BROKEN = [
    ("a step in two modes", lambda: mutate("Add-Step -Name 'Rotate API key' -Lab '' -Modes @('rotate')",
                                           "Add-Step -Name 'Rotate API key' -Lab '' -Modes @('rotate', 'install')"),
     "modes", "each step belongs to one mode"),
    ("an upgrade step out of order", lambda: mutate("Add-Step -Name 'Upgrade: back up first' -Lab '' -Modes @('upgrade')",
                                                    "Add-Step -Name 'Upgrade: back up first' -Lab '' -Modes @('rotate')"),
     "modes", "mode upgrade"),
    ("a password on mysql's command line",
     lambda: mutate("--protocol=TCP --host=127.0.0.1 --port={1} {2}' -f $Folder",
                    "--protocol=TCP --host=127.0.0.1 --port={1} {2} --password={3}' -f $Folder"),
     "command lines", "password option"),
    ("the secret in php's argv",
     lambda: mutate("-Arguments \"-n -r \"\"$Code\"\"\" -InputText", "-Arguments \"-n -r \"\"$Code\"\" $Payload\" -InputText"),
     "command lines", "payload"),
    ("the option file not first", lambda: mutate("('--defaults-extra-file=\"{0}\\client.cnf\" --protocol=TCP",
                                                 "('--protocol=TCP --defaults-extra-file=\"{0}\\client.cnf\""),
     "command lines", "first option"),
    ("a fixed backup time", lambda: mutate("-Daily -At ([DateTime]::ParseExact($script:Backup.Schedule, 'HH:mm',",
                                           "-Daily -At ([DateTime]::ParseExact('02:00', 'HH:mm',"),
     "schedule", "settings.backup.schedule"),
    ("the wrong token audience", lambda: mutate("&resource=https://storage.azure.com/'", "&resource=https%3A%2F%2Fvault.azure.net'"),
     "storage", "storage.azure.com"),
    ("no Metadata header", lambda: mutate("$StorageIdentityRoute) -Headers @{ Metadata = 'true' }", "$StorageIdentityRoute) -Headers @{}"),
     "storage", "Metadata: true"),
    ("no blob type", lambda: mutate("@{ 'x-ms-blob-type' = 'BlockBlob' }", "@{}"), "storage", "BlockBlob"),
    ("an old x-ms-version", lambda: mutate("$StorageApiVersion = '2019-12-12'", "$StorageApiVersion = '2016-05-31'"),
     "storage", "x-ms-version"),
    ("a single shot beyond the limit", lambda: mutate("$PutBlobMaxBytes = 256MB", "$PutBlobMaxBytes = 6000MB"),
     "storage", "single-shot"),
    ("no rollback hook in the runner",
     lambda: mutate("            if ($null -ne $script:OnStepFailure) { & $script:OnStepFailure $step.Name }   # the upgrade's rollback\n", ""),
     "rollback", "runner's catch"),
    ("the rollback never armed", lambda: mutate("    $script:OnStepFailure = { param($failed) Invoke-UpgradeRollback -FailedStep $failed }\n", ""),
     "rollback", "armed"),
    ("a swallowed upgrader failure", lambda: mutate("    Invoke-OsTicketUpgrader\n", "    try { Invoke-OsTicketUpgrader } catch { Write-Log 'x' }\n"),
     "rollback", "swallows"),
    ("the dump before the ACL", lambda: mutate("        Set-HardenedAcl -Path $folder\n", "")
     .replace("Copy-Item -LiteralPath $OstConfig -Destination \"$folder\\parts\"",
              "Copy-Item -LiteralPath $OstConfig -Destination \"$folder\\parts\"; Set-HardenedAcl -Path $folder", 1),
     "backup", "before its folder is private"),
    ("a changed log column", lambda: mutate("message VARCHAR(1000)) ENGINE", "message TEXT) ENGINE"), "backup", "shared contract"),
    ("no DB rollback on rotation", lambda: mutate("        Set-DbPassword -Secret $old\n", ""), "rotation", "old password back"),
]


@pytest.mark.parametrize(("label", "make", "check", "expected"), BROKEN, ids=[b[0] for b in BROKEN])
def test_a_broken_mode_is_caught(label: str, make, check: str, expected: str) -> None:  # type: ignore[no-untyped-def]
    found = CHECKS[check](make())
    assert any(expected in problem for problem in found), (label, found)


# ------------------------------------------------------------------------- the config -> settings plumbing


def load(config: dict[str, str], secrets: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    install_config(config, secrets)
    return load_config(pulumi.Config("ostops"), stack=STACK)


def test_the_python_modes_are_the_script_s() -> None:
    assert re.findall(r"'(\w+)'", assignments(real_source())["supportedmodes"]) == list(BOOTSTRAP_MODES)


@pytest.mark.parametrize("mode", BOOTSTRAP_MODES)
def test_ostops_bootstrap_mode_is_read(mode: str) -> None:
    assert load(BASE_CONFIG).bootstrap_mode == "install"
    assert load({**BASE_CONFIG, "bootstrapMode": mode}).bootstrap_mode == mode


@pytest.mark.parametrize("value", ["Upgrade", "restore", "install "])
def test_an_unknown_mode_is_refused_naming_the_key(value: str) -> None:
    with pytest.raises(StackConfigError) as caught:
        load({**BASE_CONFIG, "bootstrapMode": value})
    assert caught.value.key == "ostops:bootstrapMode" and "install, upgrade, rotate, backup" in str(caught.value)


def test_the_production_tier_refuses_a_bootstrap_mode() -> None:
    with pytest.raises(StackConfigError) as caught:
        load({**PRODUCTION, "bootstrapMode": "upgrade"}, PRODUCTION_SECRETS)
    assert "ostops:bootstrapMode" in caught.value.keys


def test_the_mode_reaches_the_run_command_and_makes_it_a_new_one(
    bootstrap_paths: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.infra.test_host import settings_of

    monkeypatch.setattr(bootstrap_command, "BOOTSTRAP_SCRIPT_PATH", bootstrap_paths["script"])
    monkeypatch.setattr(bootstrap_command, "INSTALLER_PATH", bootstrap_paths["installer"])
    install, upgrade = (run_program({**BASE_CONFIG, "bootstrapMode": mode}) for mode in ("install", "upgrade"))
    assert settings_of(install)["mode"] == "install" and settings_of(upgrade)["mode"] == "upgrade"
    before, after = install.one(RUN_COMMAND), upgrade.one(RUN_COMMAND)
    assert before.urn == after.urn and before.props["runCommandName"] != after.props["runCommandName"]
    # Only the mode differs (and the certificate, which each mocked run makes anew).
    assert {k: v for k, v in settings_of(install).items() if k not in ("mode", "tls")} == \
        {k: v for k, v in settings_of(upgrade).items() if k not in ("mode", "tls")}


LONGEST_BACKUP = {"containerUrl": f"https://{'s' * 24}.blob.core.windows.net/{'c' * 63}", "schedule": "23:59",
                  "retentionDays": 3650}


def _settings(**extra):  # type: ignore[no-untyped-def]
    files = read_bootstrap_files()
    return files, bootstrap_settings(
        files=files, osticket_version="1.18.3", site_host_name=f"{'h' * 63}.westeurope.cloudapp.azure.com",
        helpdesk_name="St. Mary's IT \u2014 Help Desk & <Support>", admin_username="ostadmin",
        admin_email="ostadmin@example.org", automation_source_ip="203.0.113.7", enable_db_access=True,
        vault_uri=f"https://{'x' * 24}.vault.azure.net/",
        secret_names={k: k for k in ("adminPassword", "dbRootPassword", "dbAppPassword", "apiKey", "tlsPfx", "tlsPfxPassword")},
        certificate_sha256="0" * 64, hsts_max_age_seconds=31536000,
        smtp_relay=smtp_relay_settings("smtp.example.com", 587, "relay@example.com", "smtp-relay-password"), **extra)


def test_the_backup_settings_have_the_contract_shape_and_pass_the_script_s_patterns() -> None:
    _, settings = _settings(backup=LONGEST_BACKUP, mode="backup")
    assert settings["backup"] == LONGEST_BACKUP and settings["mode"] == "backup"
    assert _settings()[1]["backup"] is None
    options = text(function_body(real_source(), "Get-OpsOptionProblems"))
    url = re.search(r"if \(\$url -notmatch '([^']+)'", options)
    at = re.search(r"if \(\$at -notmatch '([^']+)'", options)
    days = re.search(r"if \(\$days -notmatch '([^']+)'", options)
    assert url and at and days
    assert re.fullmatch(url.group(1), LONGEST_BACKUP["containerUrl"])
    assert not re.fullmatch(url.group(1), "https://evil.example.com/c" + "x" * 3)
    assert not re.fullmatch(url.group(1), LONGEST_BACKUP["containerUrl"] + "?sv=2020&sig=abc")
    assert re.fullmatch(at.group(1), "02:30") and not re.fullmatch(at.group(1), "24:00")
    assert re.fullmatch(days.group(1), "30") and not re.fullmatch(days.group(1), "0")
    with pytest.raises(Exception, match="bootstrap mode 'restore'"):
        _settings(mode="restore")


@pytest.mark.parametrize("mode", BOOTSTRAP_MODES)
def test_the_script_of_each_mode_with_the_longest_settings_fits_the_inline_budget(mode: str) -> None:
    """The modes grew the script; with the longest values Azure allows each mode's still goes inline."""
    files, settings = _settings(backup=LONGEST_BACKUP, mode=mode)
    script = embed_settings(files.scripts[role_for_mode(mode)], settings)
    assert check_script_size(script) == script and len(script.encode("utf-8")) <= MAX_INLINE_SCRIPT_BYTES
    assert script.isascii()
