"""Offline checks of the Windows bootstrap (infra/bootstrap/bootstrap.ps1): it cannot run here, so everything
that can be checked without Windows is checked here, on the real script and on broken copies of it.

Each ``*_problems(source)`` function returns a list of human-readable problems (empty means fine); the
tests assert the real script has none and that a deliberately broken copy is caught by the right check.
"""

from __future__ import annotations

import re
import xml.dom.minidom
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest
import tree_sitter
import tree_sitter_pwsh

from automation.manifest import load_manifest
from infra.bootstrap_command import SCRIPT_PARAMETERS

pytestmark = pytest.mark.infra

REPO = Path(__file__).resolve().parents[2]
BOOTSTRAP_DIR = REPO / "infra" / "bootstrap"
SCRIPT = BOOTSTRAP_DIR / "bootstrap.ps1"
WEB_CONFIG = BOOTSTRAP_DIR / "web.config"
DOCS = REPO / "docs" / "bootstrap.md"
README = REPO / "README.md"  # holds the lab-step mapping table

OSTICKET_FLOOR = (1, 18, 3)  # CVE-2026-22200
SECRETS = {"AdminPassword", "DbRootPassword", "DbAppPassword", "ApiKey"}
# The contract's param() block: the Run Command passes neither; only LogPath has a default.
OPTIONAL_WITH_DEFAULT = {"LogPath"}
# PowerShell functions of the script that may receive a secret: they build SQL or JSON for a child's stdin
# or put the password in the child's environment. Everything else (Write-*, native programs, msiexec,
# Invoke-Process/Invoke-Checked arguments) must never see one.
SECRET_SINKS = {"convertto-sqlstring", "invoke-mariadbsql", "test-mariadblogin"}
OUTPUT_COMMANDS = {"write-log", "write-host", "write-output", "write-verbose", "write-warning", "write-information",
                   "write-debug", "write-error", "out-file", "add-content", "set-content", "out-host"}

# The original lab's manual steps (Windows Server 2019 + IIS), numbered as in the README's mapping table.
LAB_STEPS = {
    1: "Enable IIS with CGI and Common HTTP Features",
    2: "Install Web Platform Installer / PHP Manager for IIS",
    3: "Install the URL Rewrite module",
    4: "Create C:\\PHP and unzip PHP 8.x NTS",
    5: "Install the VC++ redistributable (x86/x64)",
    6: "Install MySQL server (typical, root password)",
    7: "Register PHP in IIS (PHP Manager -> C:\\PHP\\php-cgi.exe)",
    8: "Reload IIS",
    9: "Unzip osTicket, copy upload to C:\\inetpub\\wwwroot\\osTicket",
    10: "Enable PHP extensions php_imap, php_intl, php_opcache",
    11: "Rename ost-sampleconfig.php to ost-config.php",
    12: "Grant permissions on ost-config.php",
    13: "Install HeidiSQL and create the osTicket database",
    14: "Run the web installer",
    15: "Remove setup/",
    16: "Set ost-config.php read-only",
    17: "Log in at /scp",
}
# What the issue asks the script to do beyond the lab; each must be its own named step.
REQUIRED_EXTRA_STEPS = {
    "Validate parameters", "Configure MariaDB network and TLS", "Configure automation database access",
    "Create API key for automation source", "Bind HTTPS certificate", "Open Windows Firewall",
    "Schedule osTicket cron", "Deploy web.config", "Set NTFS permissions", "Make ost-config.php read-only",
    "Remove setup directory", "Run osTicket installer", "Install PHP", "Write php.ini",
}

LANGUAGE = tree_sitter.Language(tree_sitter_pwsh.language())


# ---------------------------------------------------------------------------------------------- parsing


@cache
def parse(source: str) -> tree_sitter.Tree:
    return tree_sitter.Parser(LANGUAGE).parse(source.encode("utf-8"))


def text(node: tree_sitter.Node) -> str:
    return (node.text or b"").decode("utf-8")


def walk(node: tree_sitter.Node) -> Iterator[tree_sitter.Node]:
    yield node
    for child in node.children:
        yield from walk(child)


def unquote(literal: str) -> str:
    if len(literal) >= 2 and literal[0] == literal[-1] and literal[0] in "'\"":
        return literal[1:-1]
    return literal


@cache
def real_source() -> str:
    return SCRIPT.read_text(encoding="utf-8")


def parse_problems(source: str) -> list[str]:
    problems = []
    for node in walk(parse(source).root_node):
        if node.type == "ERROR" or node.is_missing:
            line, col = node.start_point
            kind = f"missing {node.type}" if node.is_missing else "syntax error"
            problems.append(f"line {line + 1}:{col + 1}: {kind} near {text(node)[:60]!r}")
    return problems


@dataclass
class Param:
    name: str
    types: list[str]
    has_default: bool


def script_params(source: str) -> list[Param]:
    root = parse(source).root_node
    blocks = [c for c in root.children if c.type == "param_block"]
    if len(blocks) != 1:
        return []
    params = []
    for node in walk(blocks[0]):
        if node.type != "script_parameter":
            continue
        var = next(c for c in node.children if c.type == "variable")
        types = [text(t) for t in walk(node) if t.type == "type_literal"]
        default = any(c.type == "script_parameter_default" for c in node.children)
        params.append(Param(text(var).lstrip("$"), types, default))
    return params


@dataclass
class Command:
    node: tree_sitter.Node
    name: str
    # [(parameter name or None, argument node)]
    args: list[tuple[str | None, tree_sitter.Node]]

    def arg(self, parameter: str) -> tree_sitter.Node | None:
        return next((a for p, a in self.args if p and p.lower() == parameter.lower()), None)


def commands(source: str) -> list[Command]:
    found = []
    for node in walk(parse(source).root_node):
        if node.type != "command":
            continue
        name_node = next((c for c in node.children if c.type in ("command_name", "command_name_expr")), None)
        if name_node is None:
            continue
        elements = next((c for c in node.children if c.type == "command_elements"), None)
        args: list[tuple[str | None, tree_sitter.Node]] = []
        pending: str | None = None
        for child in elements.children if elements else []:
            if child.type == "command_argument_sep":
                continue
            if child.type == "command_parameter":
                if pending is not None:
                    args.append((pending, child))  # a switch
                pending = text(child).lstrip("-").rstrip(":")
                continue
            args.append((pending, child))
            pending = None
        if pending is not None:
            args.append((pending, name_node))
        found.append(Command(node, text(name_node), args))
    return found


@dataclass
class Step:
    name: str
    lab: str
    test: str
    action: str


def steps(source: str) -> list[Step]:
    found = []
    for cmd in commands(source):
        if cmd.name != "Add-Step":
            continue
        name, lab, test, action = (cmd.arg(p) for p in ("Name", "Lab", "Test", "Action"))
        found.append(Step(
            unquote(text(name)) if name is not None else "",
            unquote(text(lab)) if lab is not None else "<none>",
            text(test) if test is not None and "script_block_expression" in text_types(test) else "",
            text(action) if action is not None and "script_block_expression" in text_types(action) else "",
        ))
    return found


def text_types(node: tree_sitter.Node) -> set[str]:
    return {n.type for n in walk(node)}


def assignments(source: str) -> dict[str, str]:
    """Top-level `$Name = <value>` assignments (the script's settings)."""
    found = {}
    for node in walk(parse(source).root_node):
        if node.type != "assignment_expression":
            continue
        left, right = node.children[0], node.children[-1]
        found.setdefault(text(left).lstrip("$").lower(), text(right))
    return found


# ---------------------------------------------------------------------------------------------- checks


def contract_problems(source: str) -> list[str]:
    params = script_params(source)
    if not params:
        return ["no top-level param() block"]
    names = [p.name for p in params]
    problems = []
    if len(names) != len(set(names)):
        problems.append(f"duplicate parameters: {names}")
    expected = set(SCRIPT_PARAMETERS)
    if missing := expected - set(names):
        problems.append(f"parameters of the contract the script lacks: {sorted(missing)}")
    if extra := set(names) - expected:
        problems.append(f"parameters outside the contract: {sorted(extra)}")
    for p in params:
        if p.types != ["[string]"]:
            problems.append(f"${p.name} must be [string], not {p.types}")
        if p.has_default != (p.name in OPTIONAL_WITH_DEFAULT):
            problems.append(f"${p.name}: only {sorted(OPTIONAL_WITH_DEFAULT)} may have a default")
    return problems


SECRET_LITERAL_PATTERNS = [
    (re.compile(r"(?i)-\w*(password|passwd|pwd|secret|apikey|token)\s+['\"][^'\"$]+['\"]"),
     "a secret-looking parameter given a literal"),
    (re.compile(r"(?i)\$\w*(password|passwd|pwd|secret|apikey|token)\w*\s*=\s*['\"][^'\"$]+['\"]"),
     "a secret-looking variable assigned a literal"),
    (re.compile(r"(?i)identified\s+by\s+'[^']*'"), "a SQL password literal"),
    (re.compile(r"(?i)--password=\S"), "a password on a mysql command line"),
    (re.compile(r"(?i)\bPASSWORD=['\"]?[^\s'\"]"), "a password msiexec property"),
    (re.compile(r"(?i)MYSQL_PWD\s*=\s*['\"]"), "a literal MYSQL_PWD"),
]


def secret_problems(source: str) -> list[str]:
    problems = []
    for pattern, what in SECRET_LITERAL_PATTERNS:
        for match in pattern.finditer(source):
            line = source.count("\n", 0, match.start()) + 1
            problems.append(f"line {line}: {what}: {match.group(0)!r}")
    for cmd in commands(source):
        lowered = cmd.name.lower()
        # ConvertTo-SecureString -AsPlainText on a literal embeds the secret in the script.
        if lowered == "convertto-securestring" and cmd.arg("AsPlainText") is not None:
            for _, arg in cmd.args:
                if arg.type != "command_parameter" and any(n.type == "string_literal" for n in walk(arg)) and \
                        not any(n.type == "variable" for n in walk(arg)):
                    problems.append(f"line {cmd.node.start_point[0] + 1}: ConvertTo-SecureString -AsPlainText on a literal")
        if lowered in SECRET_SINKS or lowered in {"add-step"}:
            continue
        for _, arg in cmd.args:
            for var in (n for n in walk(arg) if n.type == "variable"):
                name = text(var).lstrip("$").split(":")[-1]
                if name in SECRETS and not inside_nested_scriptblock(var, cmd.node):
                    where = "logged" if lowered in OUTPUT_COMMANDS else f"passed to {cmd.name}"
                    problems.append(f"line {var.start_point[0] + 1}: secret ${name} {where}")
    return problems


def inside_nested_scriptblock(node: tree_sitter.Node, command: tree_sitter.Node) -> bool:
    """A variable inside a script block argument belongs to the commands in that block, checked on their own."""
    current = node.parent
    while current is not None and current != command:
        if current.type == "script_block_expression":
            return True
        current = current.parent
    return False


def step_problems(source: str) -> list[str]:
    found = steps(source)
    problems = []
    if len(found) < 20:
        problems.append(f"only {len(found)} Add-Step calls found")
    names = [s.name for s in found]
    for name in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"step name {name!r} is used twice")
    for step in found:
        if not step.name:
            problems.append("a step without a -Name")
        if step.lab == "<none>":
            problems.append(f"step {step.name!r} has no -Lab")
        elif step.lab and not re.fullmatch(r"\d+(,\d+)*", step.lab):
            problems.append(f"step {step.name!r}: -Lab {step.lab!r} is not a list of lab step numbers")
        elif step.lab and (bad := {int(n) for n in step.lab.split(",")} - set(LAB_STEPS)):
            problems.append(f"step {step.name!r}: no lab step {sorted(bad)}")
        if not step.test or not step.action:
            problems.append(f"step {step.name!r} needs both a -Test and an -Action script block")
        elif re.fullmatch(r"\{\s*(return\s+)?\$(false|true)\s*\}", step.test):
            problems.append(f"step {step.name!r}: its -Test checks nothing")
    mapped = {int(n) for s in found if s.lab not in ("", "<none>") and re.fullmatch(r"\d+(,\d+)*", s.lab)
              for n in s.lab.split(",")}
    for number in sorted(set(LAB_STEPS) - mapped):
        problems.append(f"lab step {number} ({LAB_STEPS[number]}) maps to no script step")
    for name in sorted(REQUIRED_EXTRA_STEPS - set(names)):
        problems.append(f"required step {name!r} is missing")
    return problems


def version_problems(source: str) -> list[str]:
    settings = assignments(source)
    floor = unquote(settings.get("minimumosticketversion", "''").strip())
    problems = []
    if not re.fullmatch(r"\d+(\.\d+)+", floor):
        return [f"$MinimumOsTicketVersion is missing or not a version: {floor!r}"]
    if tuple(int(p) for p in floor.split(".")) < OSTICKET_FLOOR:
        problems.append(f"$MinimumOsTicketVersion {floor} is below 1.18.3 (CVE-2026-22200)")
    required = set(re.findall(r"'([a-z]+)'", settings.get("requireddownloads", "")))
    if required != set(load_manifest().downloads):
        problems.append(f"$RequiredDownloads {sorted(required)} differ from the manifest {sorted(load_manifest().downloads)}")
    return problems


def embedded_web_config(source: str) -> str | None:
    match = re.search(r"^\$WebConfig = @'\r?\n(.*?)\r?\n'@", source, re.DOTALL | re.MULTILINE)
    return match.group(1) if match else None


def web_config_problems(source: str) -> list[str]:
    embedded = embedded_web_config(source)
    if embedded is None:
        return ["no $WebConfig here-string in the script"]
    if embedded.replace("\r\n", "\n") != WEB_CONFIG.read_text(encoding="utf-8").rstrip("\n"):
        return ["the web.config embedded in bootstrap.ps1 differs from infra/bootstrap/web.config"]
    return []


PS7_ONLY = [
    (re.compile(r"\?\?=?"), "?? (PowerShell 7)"),
    (re.compile(r"\?\.\w"), "?. (PowerShell 7)"),
    (re.compile(r"(?m)(&&|\|\|)\s*$|\s(&&|\|\|)\s"), "&& / || pipeline chains (PowerShell 7)"),
    (re.compile(r"(?i)-AsHashtable\b"), "ConvertFrom-Json -AsHashtable (PowerShell 6+)"),
    (re.compile(r"(?i)-AdditionalChildPath\b"), "Join-Path -AdditionalChildPath (PowerShell 6+)"),
    (re.compile(r"(?i)-AsByteStream\b"), "-AsByteStream (PowerShell 6+)"),
    (re.compile(r"(?i)\bForEach-Object\s+-Parallel\b"), "ForEach-Object -Parallel (PowerShell 7)"),
    (re.compile(r"(?i)-SkipCertificateCheck\b"), "-SkipCertificateCheck (PowerShell 6+)"),
]


def compatibility_problems(source: str) -> list[str]:
    problems = []
    if not source.isascii():
        problems.append("non-ASCII characters: Windows PowerShell 5.1 reads a BOM-less script as ANSI")
    code = re.sub(r"(?s)@'.*?'@|@\".*?\"@", "", source)  # here-strings hold PHP, XML and SQL
    code = re.sub(r"(?m)#.*$", "", code)
    for pattern, what in PS7_ONLY:
        if match := pattern.search(code):
            problems.append(f"{what}: {match.group(0).strip()!r}")
    if "#Requires -Version 5.1" not in source:
        problems.append("no '#Requires -Version 5.1'")
    return problems


def runner_problems(source: str) -> list[str]:
    problems = []
    if "$ErrorActionPreference = 'Stop'" not in source:
        problems.append("$ErrorActionPreference is not 'Stop'")
    if not re.search(r"FAILED at step '\{0\}'", source) or not re.search(r"(?s)catch \{.*?FAILED at step.*?exit 1", source):
        problems.append("a failure must be logged with the step's name and exit 1")
    if "yyyy-MM-ddTHH:mm:ss" not in source:
        problems.append("log lines carry no timestamp")
    if not re.search(r"\[string\]\$LogPath = 'C:\\ostops\\bootstrap\.log'", source):
        problems.append("the log is not C:\\ostops\\bootstrap.log by default")
    # The check of every step must run before its action, and again after it.
    loop = re.search(r"(?s)foreach \(\$step in \$script:Steps\) \{(.*)", source)
    if not loop or not re.search(r"(?s)& \$step\.Test.*?& \$step\.Action.*?& \$step\.Test", loop.group(1)):
        problems.append("the runner does not check each step before and after its action")
    return problems


CHECKS: dict[str, Callable[[str], list[str]]] = {
    "parse": parse_problems,
    "contract": contract_problems,
    "secrets": secret_problems,
    "steps": step_problems,
    "versions": version_problems,
    "web.config": web_config_problems,
    "compatibility": compatibility_problems,
    "runner": runner_problems,
}


def all_problems(source: str) -> dict[str, list[str]]:
    return {name: found for name, check in CHECKS.items() if (found := check(source))}


# ---------------------------------------------------------------------------------------------- the real script


@pytest.mark.parametrize("check", sorted(CHECKS))
def test_the_bootstrap_passes(check: str) -> None:
    assert CHECKS[check](real_source()) == []


def test_every_powershell_file_parses() -> None:
    scripts = sorted(BOOTSTRAP_DIR.rglob("*.ps1"))
    assert SCRIPT in scripts
    for path in scripts:
        assert parse_problems(path.read_text(encoding="utf-8")) == [], path


def test_param_block_matches_the_contract_exactly() -> None:
    names = [p.name for p in script_params(real_source())]
    assert names == list(SCRIPT_PARAMETERS)
    assert {p.name for p in script_params(real_source()) if p.has_default} == OPTIONAL_WITH_DEFAULT


def test_no_parameter_carries_a_secret() -> None:
    for name in SCRIPT_PARAMETERS:
        assert not re.search(r"(?i)password|secret|apikey|token", name), name


def test_secrets_are_masked_before_anything_is_logged() -> None:
    source = real_source()
    registered = re.search(r"foreach \(\$secret in @\(([^)]*)\)\)", source)
    assert registered, "the secrets are registered for masking"
    assert {v.lstrip("$") for v in re.findall(r"\$\w+", registered.group(1))} == SECRETS
    assert source.index("$script:Secrets.Add($secret)") < source.index("function Write-Log")
    write_log = re.search(r"(?s)function Write-Log \{(.*?)\n\}", source)
    assert write_log
    assert "Protect-Text $Message" in write_log.group(1)


def test_secrets_go_to_stdin_or_the_childs_environment_not_the_command_line() -> None:
    source = real_source()
    assert "$environment['MYSQL_PWD'] = $Password" in source
    installer_call = next(c for c in commands(source) if c.name == "Invoke-Process"
                          and c.arg("FilePath") is not None and text(c.arg("FilePath")) == "$PhpExe"
                          and c.arg("InputText") is not None and "$config" in text(c.arg("InputText")))
    assert "$InstallerPath" in text(installer_call.arg("Arguments"))
    # The MariaDB MSI gets no PASSWORD property; the root password is set over stdin afterwards.
    assert not re.search(r"(?i)PASSWORD=", source)


def test_every_lab_step_maps_to_a_named_step() -> None:
    found = steps(real_source())
    by_lab: dict[int, list[str]] = {}
    for step in found:
        for number in filter(None, step.lab.split(",")):
            by_lab.setdefault(int(number), []).append(step.name)
    assert set(by_lab) == set(LAB_STEPS)
    assert "Create osTicket database and user" in by_lab[13], "HeidiSQL is replaced by the script's DB step"
    assert "Run osTicket installer" in by_lab[14]
    assert "Remove setup directory" in by_lab[15]
    assert "Make ost-config.php read-only" in by_lab[16]


def test_steps_run_in_a_sensible_order() -> None:
    order = [s.name for s in steps(real_source())]

    def before(a: str, b: str) -> None:
        assert order.index(a) < order.index(b), f"{a!r} must run before {b!r}"

    before("Validate parameters", "Prepare working directories")
    before("Install IIS roles", "Install URL Rewrite module")
    before("Install Visual C++ runtime", "Check PHP extensions")
    before("Write php.ini", "Check PHP extensions")
    before("Install MariaDB server", "Secure MariaDB root account")
    before("Secure MariaDB root account", "Configure MariaDB network and TLS")
    before("Create osTicket database and user", "Run osTicket installer")
    before("Deploy osTicket files", "Deploy web.config")
    before("Create IIS site", "Set NTFS permissions")
    before("Run osTicket installer", "Remove setup directory")
    before("Run osTicket installer", "Create API key for automation source")
    before("Set NTFS permissions", "Make ost-config.php read-only")
    assert order[0] == "Validate parameters"
    assert order[-1] == "Reload IIS and check osTicket answers"


def test_docs_map_every_lab_step_to_the_scripts_steps() -> None:
    docs = DOCS.read_text(encoding="utf-8")
    readme = README.read_text(encoding="utf-8")
    found = {s.name: s for s in steps(real_source())}
    rows = {int(m.group(1)): m.group(2) for m in re.finditer(r"(?m)^\|\s*(\d+)\s*\|(.*)\|\s*$", readme)}
    assert set(rows) >= set(LAB_STEPS), "one table row per lab step"
    for number in LAB_STEPS:
        named = set(re.findall(r"`([^`]+)`", rows[number]))
        expected = {name for name, s in found.items() if str(number) in s.lab.split(",")}
        assert expected <= named, f"lab step {number}: the docs miss {sorted(expected - named)}"
        assert named & set(found), f"lab step {number}: the docs name no script step"
    for needle in ("C:\\ostops\\bootstrap.log", "/scp/", "powershell", "Run Command", "certificate"):
        assert needle in docs, needle


def test_php_ini_enables_what_osticket_needs() -> None:
    settings = assignments(real_source())
    extensions = set(re.findall(r"'(\w+)'", settings["phpextensions"]))
    assert {"mysqli", "intl", "gd", "mbstring", "fileinfo", "openssl"} <= extensions
    assert "'imap'" in settings["phpoptionalextensions"]
    ini = settings["phpsettings"]
    for key in ("memory_limit", "upload_max_filesize", "post_max_size", "date.timezone", "cgi.fix_pathinfo",
                "opcache.enable"):
        assert f"'{key}'" in ini, key
    assert "zend_extension=opcache" in real_source()
    assert "php.ini-production" in real_source()


def test_database_is_local_unless_automation_access_is_enabled_with_tls() -> None:
    source = real_source()
    assert "bind-address=127.0.0.1" in source
    assert "bind-address=0.0.0.0" in source
    assert re.search(r"if \(\$script:DbAccessEnabled\) \{ \$lines\.Add\('bind-address=0\.0\.0\.0'\) \}", source)
    assert "REQUIRE SSL" in source
    assert "-RemoteAddress $script:AutomationIp" in source
    # Seeding writes rows and verification reads them; the remote account gets no DDL and no other schema.
    privileges = re.search(r"\$DbAutomationPrivileges = '([^']+)'", source)
    assert privileges
    assert {p.strip() for p in privileges.group(1).split(",")} == {"SELECT", "INSERT", "UPDATE", "DELETE"}


def test_cron_runs_every_five_minutes() -> None:
    source = real_source()
    assert "-RepetitionInterval (New-TimeSpan -Minutes 5)" in source
    assert "api\\cron.php" in source
    assert "$trigger.Repetition.Interval -eq 'PT5M'" in source


def test_web_config_routes_like_the_local_default() -> None:
    dom = xml.dom.minidom.parse(str(WEB_CONFIG))
    rules = {r.getAttribute("name"): r for r in dom.getElementsByTagName("rule")}

    def match(rule: str) -> re.Pattern[str]:
        return re.compile(rules[rule].getElementsByTagName("match")[0].getAttribute("url"), re.IGNORECASE)

    def action(rule: str) -> str:
        node = rules[rule].getElementsByTagName("action")[0]
        return f"{node.getAttribute('type')} {node.getAttribute('url')}".strip()

    def route(url: str) -> str | None:
        for name in rules:
            if m := match(name).match(url):
                kind, _, target = action(name).partition(" ")
                if kind == "None":
                    return url
                return re.sub(r"\{R:(\d)\}", lambda g: m.group(int(g.group(1))) or "", target)
        return None

    assert route("api/tickets.json") == "api/http.php/tickets.json"
    assert route("api/tasks/cron") == "api/http.php/tasks/cron"
    assert route("scp/ajax.php/tickets/1/pages/x") == "scp/ajax.php/tickets/1/pages/x"
    assert route("ajax.php/config/client") == "ajax.php/config/client"
    assert route("api/http.php/tickets.json") == "api/http.php/tickets.json"
    assert route("pages/about") == "pages/index.php/about"
    assert route("scp/login.php") is None
    hidden = {a.getAttribute("segment") for a in dom.getElementsByTagName("hiddenSegments")[0].getElementsByTagName("add")}
    assert {"include", "setup"} <= hidden


def test_manifest_names_match_what_the_script_downloads() -> None:
    used = set(re.findall(r"Get-Download '(\w+)'", real_source()))
    assert used == set(load_manifest().downloads)


# ---------------------------------------------------------------------------------------------- broken copies


def mutate(old: str, new: str, count: int = 1) -> str:
    source = real_source()
    assert old in source, f"mutation anchor not found: {old!r}"
    return source.replace(old, new, count)


BROKEN: list[tuple[str, Callable[[], str], str, str]] = [
    ("unclosed brace", lambda: mutate("function Protect-Text {", "function Protect-Text {{"), "parse", ""),
    ("unterminated string", lambda: mutate("$SiteName = 'osTicket'", "$SiteName = 'osTicket"), "parse", ""),
    ("stray paren", lambda: mutate("Set-StrictMode -Version 2.0", "Set-StrictMode -Version (2.0"), "parse", ""),
    ("renamed parameter", lambda: mutate("[string]$SettingsPath,", "[string]$SettingsFile,"), "contract",
     "SettingsPath"),
    ("dropped parameter", lambda: mutate("    [string]$SettingsPath,\n", ""), "contract", "SettingsPath"),
    ("extra parameter", lambda: mutate("[string]$SettingsPath,", "[string]$SettingsPath,\n    [string]$Region,"),
     "contract", "Region"),
    ("non-string parameter", lambda: mutate("[string]$SettingsPath,", "[bool]$SettingsPath,"),
     "contract", "[string]"),
    ("default on SettingsPath", lambda: mutate("[string]$SettingsPath,", "[string]$SettingsPath = 'x',"),
     "contract", "default"),
    ("secret logged", lambda: mutate("Write-Log 'root has no password yet; setting it'",
                                     'Write-Log "root password is now $DbRootPassword"'), "secrets", "logged"),
    ("secret on a command line",
     lambda: mutate("$null = Invoke-MariaDbSql -Sql 'DROP DATABASE IF EXISTS test; FLUSH PRIVILEGES;'",
                    "$null = Invoke-Checked -FilePath $MysqlExe -Arguments \"--user=root --password=$DbRootPassword\""),
     "secrets", "password"),
    ("secret to msiexec", lambda: mutate("-LogName 'mariadb-msi.log'", "-LogName 'mariadb-msi.log' -Extra $DbRootPassword"),
     "secrets", "passed to Install-Msi"),
    ("embedded password", lambda: mutate("$DbUser = 'osticket'", "$DbUser = 'osticket'\n$DbPassword = 'Hunter2!'"),
     "secrets", "literal"),
    ("plain-text secure string",
     lambda: mutate("$DbUser = 'osticket'", "$DbUser = 'osticket'\n$s = ConvertTo-SecureString 'x' -AsPlainText -Force"),
     "secrets", "AsPlainText"),
    ("SQL password literal", lambda: mutate("IDENTIFIED BY $appPassword REQUIRE SSL", "IDENTIFIED BY 'changeme' REQUIRE SSL"),
     "secrets", "SQL"),
    ("duplicate step", lambda: mutate("Add-Step -Name 'Open Windows Firewall'", "Add-Step -Name 'Install PHP'"),
     "steps", "twice"),
    ("unmapped lab step", lambda: mutate("-Name 'Run osTicket installer' -Lab '14'", "-Name 'Run osTicket installer' -Lab ''"),
     "steps", "lab step 14"),
    ("unknown lab step", lambda: mutate("-Lab '8,17'", "-Lab '8,17,99'"), "steps", "99"),
    ("step without a check", lambda: mutate("-Name 'Remove setup directory' -Lab '15' -Test {\n"
                                            "    return (-not (Test-Path -LiteralPath (Join-Path $Webroot 'setup')))\n}",
                                            "-Name 'Remove setup directory' -Lab '15' -Test {\n    return $false\n}"),
     "steps", "checks nothing"),
    ("removed step", lambda: mutate("Add-Step -Name 'Schedule osTicket cron'", "Add-Step -Name 'Cron'"),
     "steps", "Schedule osTicket cron"),
    ("lowered floor", lambda: mutate("$MinimumOsTicketVersion = '1.18.3'", "$MinimumOsTicketVersion = '1.18.2'"),
     "versions", "1.18.3"),
    ("download not in manifest", lambda: mutate("'urlrewrite', 'mariadb')", "'urlrewrite', 'mysql')"),
     "versions", "manifest"),
    ("web.config drift", lambda: mutate('<add segment="setup" />', '<add segment="setupx" />'), "web.config", "differs"),
    ("PowerShell 7 operator", lambda: mutate("$ip = \"$AutomationSourceIp\" -replace '/32$', ''",
                                             "$ip = $AutomationSourceIp ?? ''"), "compatibility", "??"),
    ("non-ASCII", lambda: mutate("# Settings (data, not logic)", "# Settings \u2014 data"), "compatibility", "ASCII"),
    ("failure without exit code", lambda: mutate("finished steps are skipped\" -Level ERROR\n            exit 1",
                                                 "finished steps are skipped\" -Level ERROR"), "runner", "exit 1"),
    ("action without prior check", lambda: mutate("if ([bool](& $step.Test | Select-Object -Last 1)) {",
                                                  "if ($false) {"), "runner", "before and after"),
]


@pytest.mark.parametrize(("label", "make", "check", "expected"), BROKEN, ids=[b[0] for b in BROKEN])
def test_a_broken_copy_is_caught(label: str, make: Callable[[], str], check: str, expected: str, tmp_path: Path) -> None:
    broken = tmp_path / "bootstrap.ps1"
    broken.write_text(make(), encoding="utf-8")
    problems = all_problems(broken.read_text(encoding="utf-8"))
    assert check in problems, f"{label}: the {check!r} check did not notice; found {problems}"
    assert any(expected in p for p in problems[check]), problems[check]


def test_the_real_script_has_no_problems_at_all() -> None:
    assert all_problems(real_source()) == {}
