#Requires -Version 5.1
<#
.SYNOPSIS
    Bring a fresh Windows Server (2019/2022) up serving osTicket over HTTPS: IIS + PHP (FastCGI) + MariaDB +
    osTicket, with no human on RDP.

.DESCRIPTION
    A top-to-bottom list of named steps (see "The steps" below). Each step has a check and an action:
    the check runs first and the action only when the check fails; after the action the check must pass,
    otherwise the step fails. Running the whole script again is therefore safe and cheap.

    Settings (docs/bootstrap.md, the contract in infra/bootstrap_command.py) come from the JSON the Pulumi
    program puts in place of the placeholder line in $EmbeddedSettingsJson, or from -SettingsPath (the
    Windows CI job, manual runs). Nothing arrives on a command line. Secrets are read from Key Vault with the
    VM's managed identity (IMDS) or, with the "environment" source, from environment variables; they are
    held in memory only, masked in every log line, never passed on a command line (SQL and the installer's
    JSON go to the child's standard input, the MariaDB password through the child's environment).

    Every download is verified before it is used (its manifest entry's "verify" method, plus a pinned
    sha256 when there is one); cached files are verified again. One that cannot be verified stops the run
    naming the entry, unless the settings say allowUnverifiedDownloads: true (unsafe; docs/bootstrap.md).

    Every step is logged with a timestamp to one log file ($LogPath, default C:\ostops\bootstrap.log).
    A failure stops the run, logs "FAILED at step '<name>'" and exits 1.

    This file is the entry of a composed script: infra/bootstrap_command.py (ROLE_MODULES) appends, in a fixed
    order, the modules in infra/bootstrap/modules that the role needs (one file per concern: settings, common
    helpers, downloads, steps, data disk, IIS and PHP, the database client, the MariaDB server, osTicket, TLS,
    cron, the runner). Alone it has no steps; `python infra/bootstrap/tests/make_settings.py --composed OUT`
    writes the composed script (docs/bootstrap.md).

    Windows PowerShell 5.1 compatible (PSScriptAnalyzerSettings.psd1 checks it).
#>
[CmdletBinding()]
param(
    [string]$SettingsPath,
    [string]$LogPath = 'C:\ostops\bootstrap.log'
)

$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
Set-StrictMode -Version 2.0

# The Pulumi program replaces the placeholder line with the settings as one line of compact JSON.
$EmbeddedSettingsJson = @'
__OSTOPS_SETTINGS_JSON__
'@
