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

# ---------------------------------------------------------------------------------------------------------
# Settings (data, not logic)
# ---------------------------------------------------------------------------------------------------------
$SettingsPlaceholder = '__OSTOPS_' + 'SETTINGS_JSON__'
$MinimumOsTicketVersion = '1.18.3'   # security floor: fixes CVE-2026-22200
$RequiredDownloads = @('osticket', 'php', 'vcredist', 'urlrewrite', 'mariadb')
$SecretNames = @('adminPassword', 'dbRootPassword', 'dbAppPassword', 'apiKey', 'tlsPfx', 'tlsPfxPassword')
# settings.mode: what this run does. Every step names the modes it belongs to (Add-Step -Modes).
$SupportedModes = @('install', 'upgrade', 'rotate', 'backup')
# settings.restart: 'auto' restarts Windows when a change needs it (SCHANNEL) and resumes at startup; 'never'
# leaves the restart to the operator (the Windows CI job: its runner cannot restart).
$RestartModes = @('auto', 'never')
$HstsMaxAgeLimit = 63072000    # two years, the longest max-age the settings accept
$DownloadTries = 3
$InstallerBusyTries = 5        # exit 1618: another installation is in progress (e.g. platform patching)
# Key Vault RBAC: "it will take up to 10 minutes (600 seconds) after role assignments is changed for role to be
# applied" (Microsoft, "Provide access to Key Vault keys, certificates, and secrets with Azure RBAC", Known limits).
$KeyVaultTries = 19            # sleeps of 5, 10, 20, 40, then 60 s: 915 s (~15 minutes) in all
$KeyVaultApiVersion = '7.4'
# The managed identity endpoint (IMDS); settings.secrets.identityEndpoint may name a loopback stand-in instead
# (tests/windows/fake_azure.py in the Windows CI job), nothing else.
$ImdsEndpoint = 'http://169.254.169.254'
$ImdsIdentityRoute = '/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fvault.azure.net'

$WorkDir = 'C:\ostops'
$DownloadDir = 'C:\ostops\downloads'
$SourceDir = 'C:\ostops\src'
$StateDir = 'C:\ostops\state'
$InstallerPath = 'C:\ostops\installer\installer.php'

$PhpDir = 'C:\PHP'
$PhpExe = 'C:\PHP\php.exe'
$PhpCgi = 'C:\PHP\php-cgi.exe'
$PhpTmpDir = 'C:\PHP\tmp'
$PhpLogDir = 'C:\PHP\logs'
$PhpHandlerName = 'PHP_via_FastCGI'
$PhpHandlerVerb = '*'
# zip: osTicket's exports use ZipArchive. apcu is a PECL DLL, enabled only when the manifest has an 'apcu' entry.
$PhpExtensions = @('mysqli', 'intl', 'gd', 'mbstring', 'fileinfo', 'openssl', 'zip')
$PhpOptionalExtensions = @('imap')   # enabled when the build ships the DLL (PHP 8.2 does; 8.4 dropped it)
$PhpSettings = [ordered]@{
    'memory_limit'                    = '256M'
    'upload_max_filesize'             = '20M'
    'post_max_size'                   = '25M'
    'max_execution_time'              = '300'
    'max_input_time'                  = '300'
    'date.timezone'                   = 'UTC'
    'cgi.fix_pathinfo'                = '1'
    'cgi.force_redirect'              = '0'
    'fastcgi.impersonate'             = '1'
    'fastcgi.logging'                 = '0'
    'expose_php'                      = 'Off'
    'display_errors'                  = 'Off'
    'log_errors'                      = 'On'
    'error_log'                       = '"C:\PHP\logs\php_errors.log"'
    'upload_tmp_dir'                  = '"C:\PHP\tmp"'
    'session.save_path'               = '"C:\PHP\tmp"'
    'opcache.enable'                  = '1'
    'opcache.memory_consumption'      = '128'
    'opcache.interned_strings_buffer' = '16'
    'opcache.max_accelerated_files'   = '10000'
    'opcache.revalidate_freq'         = '60'
}

$IisFeatures = @(
    'Web-Server', 'Web-WebServer',
    'Web-Common-Http', 'Web-Default-Doc', 'Web-Dir-Browsing', 'Web-Http-Errors', 'Web-Static-Content', 'Web-Http-Redirect',
    'Web-Health', 'Web-Http-Logging', 'Web-Performance', 'Web-Stat-Compression',
    'Web-Security', 'Web-Filtering',
    'Web-App-Dev', 'Web-CGI',
    'Web-Mgmt-Tools', 'Web-Mgmt-Console', 'Web-Scripting-Tools'
)
$SiteName = 'osTicket'
$AppPoolName = 'osTicket'
$Webroot = 'C:\inetpub\osticket'
$OstConfig = 'C:\inetpub\osticket\include\ost-config.php'

$MariaDbService = 'MariaDB'
$MariaDbDir = 'C:\MariaDB'
# Without settings.dataDisk the data stay on the OS disk (C:\MariaDB\data); with it, on the data disk
# (<letter>:\mariadb\data). 'Validate settings' sets these four from the settings.
$MariaDbData = 'C:\MariaDB\data'
$MariaDbIni = 'C:\MariaDB\data\my.ini'
$MysqlExe = 'C:\MariaDB\bin\mysql.exe'
$MysqldExe = 'C:\MariaDB\bin\mysqld.exe'
$MariaDbPort = 3306
$MariaDbFeatures = 'DBInstance,MYSQLSERVER,Client,SharedLibraries'
# An existing data directory (a replaced VM, the data disk re-attached): the server and client without
# DBInstance, which would create a new, empty instance; the service is registered against the old one.
$MariaDbFeaturesWithoutInstance = 'MYSQLSERVER,Client,SharedLibraries'
$DbName = 'osticket'
$DbUser = 'osticket'
$TablePrefix = 'ost_'
$DbAppPrivileges = 'SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, INDEX, DROP, CREATE TEMPORARY TABLES, LOCK TABLES'
# Seeding writes configuration rows in one transaction and verification reads; no DDL from outside.
$DbAutomationPrivileges = 'SELECT, INSERT, UPDATE, DELETE'
$DbTlsCert = 'C:\MariaDB\data\ostops-server-cert.pem'
$DbTlsKey = 'C:\MariaDB\data\ostops-server-key.pem'

$HttpFirewallRule = 'ostops-http'
$DbFirewallRule = 'ostops-mariadb'
$CronTaskName = 'osTicket cron'
$CronTaskPath = '\ostops\'
# Registered while a run is unfinished, removed when one ends well: a restart (ours after the SCHANNEL change,
# or platform patching) resumes the bootstrap at startup, as SYSTEM, from the copy in C:\ostops.
$ResumeTaskName = 'bootstrap resume'
$ScriptCopy = 'C:\ostops\bootstrap.ps1'
$SchannelStamp = 'C:\ostops\state\schannel-changed.txt'
$RestartDelaySeconds = 120     # time for the Run Command to report the run before Windows restarts
$HstsHeader = 'Strict-Transport-Security'
$CronArguments = '-f "C:\inetpub\osticket\api\cron.php"'

$SidSystem = 'S-1-5-18'
$SidAdministrators = 'S-1-5-32-544'
$SidIisUsers = 'S-1-5-32-568'
$SidLocalService = 'S-1-5-19'

# ---------------------------------------------------------------------------------------------------------
# Logging and secret masking
# ---------------------------------------------------------------------------------------------------------
$script:Secrets = New-Object System.Collections.Generic.List[string]

function Add-Secret {
    # Every later log line masks this value, also as it appears inside JSON or a SQL literal.
    param([AllowEmptyString()][string]$Value)
    if ([string]::IsNullOrEmpty($Value)) { return }
    $script:Secrets.Add($Value)
    $script:Secrets.Add(($Value | ConvertTo-Json -Compress).Trim('"'))
    $script:Secrets.Add($Value.Replace('\', '\\').Replace("'", "\'"))
}

function Protect-Text {
    param([string]$Text)
    if ([string]::IsNullOrEmpty($Text)) { return '' }
    foreach ($secret in $script:Secrets) {
        if ($secret.Length -gt 0) { $Text = $Text.Replace($secret, '********') }
    }
    return $Text
}

function Write-Log {
    param(
        [Parameter(Mandatory = $true)][AllowEmptyString()][string]$Message,
        [ValidateSet('INFO', 'WARN', 'ERROR')][string]$Level = 'INFO'
    )
    $line = '{0} [{1}] {2}' -f (Get-Date).ToString('yyyy-MM-ddTHH:mm:ss.fffzzz'), $Level, (Protect-Text $Message)
    [System.IO.File]::AppendAllText($LogPath, $line + "`r`n", (New-Object System.Text.UTF8Encoding $false))
    Write-Host $line
}

# ---------------------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------------------
function Write-TextFile {
    # UTF-8 without a byte order mark: php.ini, my.ini and web.config all read it.
    param([Parameter(Mandatory = $true)][string]$Path, [Parameter(Mandatory = $true)][AllowEmptyString()][string]$Text)
    [System.IO.File]::WriteAllText($Path, $Text, (New-Object System.Text.UTF8Encoding $false))
}

function Read-TextFile {
    param([Parameter(Mandatory = $true)][string]$Path)
    if (-not (Test-Path -LiteralPath $Path -PathType Leaf)) { return $null }
    return [System.IO.File]::ReadAllText($Path)
}

function Invoke-Process {
    # Runs a program with its standard input fed from -InputText (never the command line) and returns
    # ExitCode, Output and Error. -Environment adds variables to the child only.
    param(
        [Parameter(Mandatory = $true)][string]$FilePath,
        [string]$Arguments = '',
        [string]$InputText = '',
        [hashtable]$Environment = @{},
        [string]$WorkingDirectory = 'C:\ostops',
        [int]$TimeoutSeconds = 1800
    )
    $startInfo = New-Object System.Diagnostics.ProcessStartInfo
    $startInfo.FileName = $FilePath
    $startInfo.Arguments = $Arguments
    $startInfo.UseShellExecute = $false
    $startInfo.CreateNoWindow = $true
    $startInfo.RedirectStandardInput = $true
    $startInfo.RedirectStandardOutput = $true
    $startInfo.RedirectStandardError = $true
    $startInfo.StandardOutputEncoding = [System.Text.Encoding]::UTF8
    $startInfo.StandardErrorEncoding = [System.Text.Encoding]::UTF8
    $startInfo.WorkingDirectory = $WorkingDirectory
    foreach ($key in $Environment.Keys) {
        $startInfo.EnvironmentVariables[$key] = [string]$Environment[$key]
    }
    $process = [System.Diagnostics.Process]::Start($startInfo)
    $stdout = $process.StandardOutput.ReadToEndAsync()
    $stderr = $process.StandardError.ReadToEndAsync()
    try {
        if ($InputText.Length -gt 0) {
            $bytes = (New-Object System.Text.UTF8Encoding $false).GetBytes($InputText)
            $process.StandardInput.BaseStream.Write($bytes, 0, $bytes.Length)
            $process.StandardInput.BaseStream.Flush()
        }
        $process.StandardInput.Close()
    } catch [System.IO.IOException] {
        # The program exited before reading everything; its exit code and stderr tell why.
    }
    if (-not $process.WaitForExit($TimeoutSeconds * 1000)) {
        $process.Kill()
        throw ('{0} did not finish within {1} s' -f (Split-Path -Leaf $FilePath), $TimeoutSeconds)
    }
    $process.WaitForExit()
    return [pscustomobject]@{ ExitCode = $process.ExitCode; Output = $stdout.Result; Error = $stderr.Result }
}

function Invoke-Checked {
    # Invoke-Process that throws (with the program's masked stderr) unless the exit code is acceptable.
    param(
        [Parameter(Mandatory = $true)][string]$FilePath,
        [string]$Arguments = '',
        [string]$InputText = '',
        [hashtable]$Environment = @{},
        [int[]]$SuccessCodes = @(0),
        [string]$WorkingDirectory = 'C:\ostops'
    )
    $result = Invoke-Process -FilePath $FilePath -Arguments $Arguments -InputText $InputText `
        -Environment $Environment -WorkingDirectory $WorkingDirectory
    if ($SuccessCodes -notcontains $result.ExitCode) {
        $detail = ($result.Error + "`n" + $result.Output).Trim()
        if ($detail.Length -gt 2000) { $detail = $detail.Substring($detail.Length - 2000) }
        throw ('{0} exited with code {1}: {2}' -f (Split-Path -Leaf $FilePath), $result.ExitCode, (Protect-Text $detail))
    }
    return $result
}

function Invoke-WithRetry {
    # Runs $Action up to $Tries times, waiting $DelaySeconds, then twice as long, between tries; rethrows the last failure.
    param(
        [Parameter(Mandatory = $true)][string]$What,
        [Parameter(Mandatory = $true)][scriptblock]$Action,
        [int]$Tries = $DownloadTries,
        [int]$DelaySeconds = 10
    )
    for ($try = 1; ; $try++) {
        try {
            return (& $Action)
        } catch {
            if ($try -ge $Tries) { throw }
            Write-Log ("{0}: try {1} of {2} failed ({3}); retrying in {4} s" -f $What, $try, $Tries, $_.Exception.Message, $DelaySeconds) -Level WARN
            Start-Sleep -Seconds $DelaySeconds
            $DelaySeconds = $DelaySeconds * 2
        }
    }
}

function Invoke-Installer {
    # An installer run; exit 1618 (another installation is in progress) is retried with backoff.
    param(
        [Parameter(Mandatory = $true)][string]$FilePath,
        [Parameter(Mandatory = $true)][string]$Arguments,
        [int[]]$SuccessCodes = @(0, 3010, 1638)
    )
    $delay = 30
    for ($try = 1; ; $try++) {
        $result = Invoke-Process -FilePath $FilePath -Arguments $Arguments
        if ($result.ExitCode -ne 1618 -or $try -ge $InstallerBusyTries) { break }
        Write-Log ("{0}: another installation is in progress (1618), try {1} of {2}; waiting {3} s" -f (Split-Path -Leaf $FilePath), $try, $InstallerBusyTries, $delay) -Level WARN
        Start-Sleep -Seconds $delay
        $delay = $delay * 2
    }
    if ($SuccessCodes -notcontains $result.ExitCode) {
        $detail = (Protect-Text ($result.Error + "`n" + $result.Output).Trim())
        if ($detail.Length -gt 2000) { $detail = $detail.Substring($detail.Length - 2000) }
        throw ('{0} exited with code {1}: {2}' -f (Split-Path -Leaf $FilePath), $result.ExitCode, $detail)
    }
    if ($result.ExitCode -eq 3010) {
        $script:RebootRequired = $true
        Write-Log "$(Split-Path -Leaf $FilePath) asks for a restart (3010); continuing, the restart is reported at the end" -Level WARN
    }
}

function Get-WebText {
    param([Parameter(Mandatory = $true)][string]$Url, [hashtable]$Headers = @{})
    return (Invoke-WebRequest -Uri $Url -Headers $Headers -UseBasicParsing -TimeoutSec 60).Content
}

function Get-PublishedSha256 {
    # The SHA-256 the publisher states for the file $Entry names, fetched from $Url's folder ('' when none).
    param([Parameter(Mandatory = $true)]$Entry, [Parameter(Mandatory = $true)][string]$Url)
    switch ("$($Entry.verify)") {
        'php-sha256-list' { $list = ($Url.Substring(0, $Url.LastIndexOf('/')) + '/sha256sum.txt') }
        'mariadb-sha256sums' { $list = ($Url.Substring(0, $Url.LastIndexOf('/')) + '/sha256sums.txt') }
        'github-release-digest' {
            if ($Entry.url -notmatch '^https://github\.com/([^/]+)/([^/]+)/releases/download/([^/]+)/([^/]+)$') { throw "not a GitHub release asset: $($Entry.url)" }
            $api = 'https://api.github.com/repos/{0}/{1}/releases/tags/{2}' -f $Matches[1], $Matches[2], $Matches[3]
            $release = Invoke-WithRetry -What "GitHub release $api" -Action { Get-WebText -Url $api -Headers @{ Accept = 'application/vnd.github+json' } } | ConvertFrom-Json
            foreach ($asset in @($release.assets)) {
                if ($asset.name -eq $Entry.file -and "$($asset.PSObject.Properties['digest'].Value)" -match '^sha256:([0-9a-f]{64})$') { return $Matches[1] }
            }
            throw "GitHub lists no sha256 digest for $($Entry.file) in $api"
        }
        default { return '' }
    }
    $text = Invoke-WithRetry -What "checksum list $list" -Action { Get-WebText -Url $list }
    foreach ($line in ($text -split "`r?`n")) {
        if ($line -match '^\s*([0-9a-fA-F]{64})\s+\*?(\S+)\s*$' -and $Matches[2] -eq $Entry.file) { return $Matches[1].ToLowerInvariant() }
    }
    throw "$list does not list $($Entry.file)"
}

function Test-DownloadVerified {
    # Throws unless $Path is what $Entry promises: the pinned sha256 (when pinned) and the entry's verify method.
    param([Parameter(Mandatory = $true)][string]$Name, [Parameter(Mandatory = $true)]$Entry,
          [Parameter(Mandatory = $true)][string]$Path, [Parameter(Mandatory = $true)][string]$Url)
    $actual = (Get-FileHash -LiteralPath $Path -Algorithm SHA256).Hash.ToLowerInvariant()
    $pinned = "$($Entry.sha256)"
    if ($pinned -ne 'unknown' -and $actual -ne $pinned) {
        throw ("download '{0}' ({1}): SHA-256 {2} is not the pinned {3}" -f $Name, $Url, $actual, $pinned)
    }
    if ($pinned -eq 'unknown' -and -not $script:AllowUnverified) {
        throw "download '$Name': no sha256 is pinned in the manifest (ostops manifest hash --write --only $Name)"
    }
    $method = "$($Entry.verify)"
    switch ($method) {
        'sha256' {
            if ($pinned -eq 'unknown') { throw "download '$Name': verify is 'sha256' but no sha256 is pinned" }
        }
        'authenticode' {
            $signature = Get-AuthenticodeSignature -LiteralPath $Path
            $subject = if ($null -ne $signature.SignerCertificate) { $signature.SignerCertificate.Subject } else { '' }
            $wanted = 'O=' + $Entry.signer + ','
            if ("$($signature.Status)" -ne 'Valid' -or -not $subject.Contains($wanted)) {
                throw ("download '{0}': Authenticode signature is {1} (signer '{2}'), not a valid signature by {3}" -f $Name, $signature.Status, $subject, $Entry.signer)
            }
        }
        { @('php-sha256-list', 'mariadb-sha256sums', 'github-release-digest') -contains $_ } {
            try {
                $published = Get-PublishedSha256 -Entry $Entry -Url $Url
            } catch {
                # A pinned hash that matched is enough when the publisher's list cannot be read right now.
                if ($pinned -ne 'unknown') {
                    Write-Log "download '$Name': publisher checksum unavailable ($($_.Exception.Message)); the pinned sha256 matched" -Level WARN
                    return $actual
                }
                throw
            }
            if ($actual -ne $published) {
                throw ("download '{0}' ({1}): SHA-256 {2} is not the {3} the publisher lists" -f $Name, $Url, $actual, $published)
            }
        }
        default { throw "download '$Name': unknown verify method '$method'" }
    }
    return $actual
}

function Get-Download {
    # The manifest entry $Name, downloaded (url, then mirrors; 3 tries each) into C:\ostops\downloads and
    # verified, cached copies too. Unverifiable -> throws naming the entry, unless allowUnverifiedDownloads.
    param([Parameter(Mandatory = $true)][string]$Name)
    $property = $script:Downloads.PSObject.Properties[$Name]
    if ($null -eq $property) { throw "the download manifest has no '$Name' entry" }
    $entry = $property.Value
    $target = Join-Path $DownloadDir $entry.file
    $urls = @($entry.url)
    if ($null -ne $entry.PSObject.Properties['mirrors']) { $urls += @($entry.mirrors) }
    if (Test-Path -LiteralPath $target -PathType Leaf) {
        try {
            $sha = Test-DownloadVerified -Name $Name -Entry $entry -Path $target -Url $urls[0]
            Write-Log "using cached $($entry.file), verified by $($entry.verify) (sha256 $sha)"
            return $target
        } catch {
            Write-Log "cached $($entry.file) failed verification ($($_.Exception.Message)); downloading it again" -Level WARN
            Remove-Item -LiteralPath $target -Force
        }
    }
    $partial = "$target.partial"
    $problems = New-Object System.Collections.Generic.List[string]
    foreach ($url in $urls) {
        try {
            Write-Log "downloading $Name $($entry.version) from $url"
            Invoke-WithRetry -What "download '$Name' from $url" -Action {
                Invoke-WebRequest -Uri $url -OutFile $partial -UseBasicParsing -TimeoutSec 900
            }
        } catch {
            $problems.Add("$url ($($_.Exception.Message))")
            continue
        }
        try {
            $sha = Test-DownloadVerified -Name $Name -Entry $entry -Path $partial -Url $url
        } catch {
            if (-not $script:AllowUnverified) {
                Remove-Item -LiteralPath $partial -Force -ErrorAction SilentlyContinue
                throw ("refusing download '{0}': {1}" -f $Name, $_.Exception.Message)
            }
            Write-Log ("UNSAFE: allowUnverifiedDownloads is true; using '{0}' although {1}" -f $Name, $_.Exception.Message) -Level WARN
            $sha = (Get-FileHash -LiteralPath $partial -Algorithm SHA256).Hash.ToLowerInvariant()
        }
        Move-Item -LiteralPath $partial -Destination $target -Force
        Write-Log "downloaded $($entry.file), verified by $($entry.verify) (sha256 $sha)"
        return $target
    }
    throw ("download '{0}' failed from every URL: {1}" -f $Name, ($problems -join '; '))
}

function Install-Msi {
    param([Parameter(Mandatory = $true)][string]$Package, [string]$Properties = '', [Parameter(Mandatory = $true)][string]$LogName)
    $msiLog = Join-Path $WorkDir "logs\$LogName"
    Write-Log "installing $(Split-Path -Leaf $Package) (msiexec log: $msiLog)"
    # 3010: success, reboot required; 1638: this or a newer version is already installed; 1618 is retried.
    Invoke-Installer -FilePath "$env:SystemRoot\System32\msiexec.exe" `
        -Arguments ('/i "{0}" /qn /norestart /l*v "{1}" {2}' -f $Package, $msiLog, $Properties)
}

function Read-Settings {
    # The settings JSON: embedded by the Pulumi program, or -SettingsPath when the placeholder is still there.
    if ($EmbeddedSettingsJson.Trim() -ne $SettingsPlaceholder) { return ($EmbeddedSettingsJson | ConvertFrom-Json) }
    if (-not [string]::IsNullOrEmpty($SettingsPath)) {
        if (-not (Test-Path -LiteralPath $SettingsPath -PathType Leaf)) { throw "-SettingsPath ${SettingsPath}: no such file" }
        return ([System.IO.File]::ReadAllText($SettingsPath) | ConvertFrom-Json)
    }
    throw 'no settings: the embedded settings placeholder was not replaced and no -SettingsPath was given'
}

function Get-SettingValue {
    # $Object.$Name, or $Default when the key is absent or null.
    param($Object, [Parameter(Mandatory = $true)][string]$Name, $Default = $null)
    if ($null -eq $Object) { return $Default }
    $property = $Object.PSObject.Properties[$Name]
    if ($null -eq $property -or $null -eq $property.Value) { return $Default }
    return $property.Value
}

function Get-OptionProblems {
    # mode, restart, dataDisk, hsts, smtpRelay and the secrets' endpoints (docs/bootstrap.md, "The settings"):
    # every problem, each naming its key; the values go to script variables.
    param([Parameter(Mandatory = $true)]$Settings)
    $problems = New-Object System.Collections.Generic.List[string]
    $script:Mode = "$(Get-SettingValue $Settings 'mode' 'install')"
    if ($SupportedModes -notcontains $script:Mode) { $problems.Add("settings.mode must be one of $($SupportedModes -join ', '), not '$($script:Mode)'") }
    $script:RestartMode = "$(Get-SettingValue $Settings 'restart' 'auto')"
    if ($RestartModes -notcontains $script:RestartMode) { $problems.Add("settings.restart must be one of $($RestartModes -join ', '), not '$($script:RestartMode)'") }

    # dataDisk: {"lun", "driveLetter", "label"}; the MariaDB data directory moves onto it.
    $script:DataDisk = $null
    $disk = Get-SettingValue $Settings 'dataDisk'
    if ($null -ne $disk) {
        $before = $problems.Count
        $lun = "$(Get-SettingValue $disk 'lun')"; $letter = "$(Get-SettingValue $disk 'driveLetter')"; $label = "$(Get-SettingValue $disk 'label')"
        # Azure numbers data disks' LUNs 0-63 (a VM takes at most 64 data disks).
        if ($lun -notmatch '^\d{1,2}$' -or [int]$lun -gt 63) { $problems.Add("settings.dataDisk.lun must be a whole number from 0 to 63, not '$lun'") }
        if ($letter -notmatch '^[D-Zd-z]$') { $problems.Add("settings.dataDisk.driveLetter must be one letter from D to Z, not '$letter'") }
        # NTFS volume labels hold at most 32 characters.
        if ($label -notmatch '^[A-Za-z0-9_-]{1,32}$') { $problems.Add("settings.dataDisk.label must be 1-32 letters, digits, '-' or '_', not '$label'") }
        if ($problems.Count -eq $before) {
            $script:DataDisk = [pscustomobject]@{ Lun = [int]$lun; DriveLetter = $letter.ToUpperInvariant(); Label = $label }
        }
    }
    if ($null -ne $script:DataDisk) { $script:MariaDbData = '{0}:\mariadb\data' -f $script:DataDisk.DriveLetter }
    else { $script:MariaDbData = 'C:\MariaDB\data' }
    $script:MariaDbIni = Join-Path $script:MariaDbData 'my.ini'
    $script:DbTlsCert = Join-Path $script:MariaDbData 'ostops-server-cert.pem'
    $script:DbTlsKey = Join-Path $script:MariaDbData 'ostops-server-key.pem'

    # hsts: {"maxAgeSeconds": N}; 0 sends no Strict-Transport-Security header (a self-signed certificate).
    $hsts = Get-SettingValue $Settings 'hsts'
    $maxAge = "$(Get-SettingValue $hsts 'maxAgeSeconds' 0)"
    if ($maxAge -notmatch '^\d{1,9}$' -or [long]$maxAge -gt $HstsMaxAgeLimit) {
        $problems.Add("settings.hsts.maxAgeSeconds must be a whole number from 0 to $HstsMaxAgeLimit, not '$maxAge'")
        $script:HstsMaxAge = 0
    } else { $script:HstsMaxAge = [int]$maxAge }

    # smtpRelay: null, or {"host", "port", "username", "passwordSecretName"}; the password comes from the
    # secrets' source under that name. username and passwordSecretName both null: a relay without authentication.
    $script:SmtpRelay = $null
    $relay = Get-SettingValue $Settings 'smtpRelay'
    if ($null -ne $relay) {
        $relayHost = "$(Get-SettingValue $relay 'host')"; $port = "$(Get-SettingValue $relay 'port')"
        $user = "$(Get-SettingValue $relay 'username')"; $secretName = "$(Get-SettingValue $relay 'passwordSecretName')"
        $before = $problems.Count
        if ($relayHost -notmatch '^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$') { $problems.Add("settings.smtpRelay.host is not a host name: '$relayHost'") }
        if ($port -notmatch '^\d{1,5}$' -or [int]$port -lt 1 -or [int]$port -gt 65535) { $problems.Add("settings.smtpRelay.port must be 1-65535, not '$port'") }
        $anonymous = ($null -eq (Get-SettingValue $relay 'username') -and $null -eq (Get-SettingValue $relay 'passwordSecretName'))
        if (-not $anonymous) {
            if ([string]::IsNullOrWhiteSpace($user)) { $problems.Add('settings.smtpRelay.username is empty (null with a null passwordSecretName: no authentication)') }
            # Key Vault secret names: 1-127 letters, digits and dashes (environment variable names: letters, digits, _).
            if ($secretName -notmatch '^[0-9A-Za-z_-]{1,127}$') { $problems.Add("settings.smtpRelay.passwordSecretName is not a secret name: '$secretName'") }
        }
        if ($problems.Count -eq $before) {
            $script:SmtpRelay = [pscustomobject]@{ Host = $relayHost; Port = [int]$port; Username = $user; PasswordSecretName = $secretName }
        }
    }

    # The secrets' endpoints: Azure's, or a stand-in on loopback (never another host: the token is a credential).
    $secrets = Get-SettingValue $Settings 'secrets'
    $script:IdentityEndpoint = "$(Get-SettingValue $secrets 'identityEndpoint' $ImdsEndpoint)".TrimEnd('/')
    $loopback = '^http://127\.0\.0\.1:\d{1,5}$'
    if ($script:IdentityEndpoint -ne $ImdsEndpoint -and $script:IdentityEndpoint -notmatch $loopback) {
        $problems.Add("settings.secrets.identityEndpoint must be $ImdsEndpoint or http://127.0.0.1:<port> (a stand-in), not '$($script:IdentityEndpoint)'")
    }
    if ("$(Get-SettingValue $secrets 'source')" -eq 'keyvault') {
        $vault = "$(Get-SettingValue $secrets 'vaultUri')".TrimEnd('/')
        $azureVault = '^https://[0-9A-Za-z-]{3,24}\.vault\.(azure\.net|azure\.cn|usgovcloudapi\.net|microsoftazure\.de)$'
        if ($vault -notmatch $azureVault -and -not ($vault -match $loopback -and $script:IdentityEndpoint -match $loopback)) {
            $problems.Add("settings.secrets.vaultUri must be a Key Vault's https://<name>.vault.azure.net/ (or, with a loopback identityEndpoint, http://127.0.0.1:<port>/), not '$vault'")
        }
    }
    return @($problems)
}

function Get-HelpdeskEmail {
    # The help desk's own address: helpdesk@<host>, or support@ when that is the admin's. osTicket's installer
    # refuses any address at host 'localhost' (Validator::is_email, include/class.validator.php of 1.18.1), so
    # a host name without a dot (localhost, a bare computer name) takes the admin e-mail's domain instead.
    param([Parameter(Mandatory = $true)][string]$HostName, [Parameter(Mandatory = $true)][string]$AdminAddress)
    $domain = $HostName
    if ($domain -notmatch '\.') { $domain = ($AdminAddress -split '@')[-1] }
    $email = "helpdesk@$domain"
    if ($email -eq $AdminAddress) { $email = "support@$domain" }
    return $email
}

function Get-KeyVaultSecret {
    # One Key Vault secret through the VM's managed identity; 401/403 and transient errors are retried with
    # backoff while the role assignment propagates. The value is never logged, only the secret's name.
    param([Parameter(Mandatory = $true)][string]$VaultUri, [Parameter(Mandatory = $true)][string]$SecretName)
    $base = $VaultUri.Trim().TrimEnd('/') + '/'
    $url = '{0}secrets/{1}?api-version={2}' -f $base, $SecretName, $KeyVaultApiVersion
    $delay = 5
    for ($try = 1; ; $try++) {
        try {
            $token = (Invoke-RestMethod -Uri ($script:IdentityEndpoint + $ImdsIdentityRoute) -Headers @{ Metadata = 'true' } -UseBasicParsing -TimeoutSec 30).access_token
            $secret = Invoke-RestMethod -Uri $url -Headers @{ Authorization = "Bearer $token" } -UseBasicParsing -TimeoutSec 30
            return [string]$secret.value
        } catch {
            if ($try -ge $KeyVaultTries) { throw "cannot read Key Vault secret '$SecretName' after $try tries: $($_.Exception.Message)" }
            Write-Log "Key Vault secret '$SecretName': try $try of $KeyVaultTries failed ($($_.Exception.Message)); retrying in $delay s" -Level WARN
            Start-Sleep -Seconds $delay
            $delay = [Math]::Min($delay * 2, 60)
        }
    }
}

function Read-Secret {
    # One secret by its name in the source (a Key Vault secret, or an environment variable), masked at once.
    param([Parameter(Mandatory = $true)]$Secrets, [Parameter(Mandatory = $true)][string]$Key, [Parameter(Mandatory = $true)][string]$Name)
    if ("$($Secrets.source)" -eq 'keyvault') {
        $value = Get-KeyVaultSecret -VaultUri "$($Secrets.vaultUri)" -SecretName $Name
    } elseif ("$($Secrets.source)" -eq 'environment') {
        $value = [Environment]::GetEnvironmentVariable($Name)
    } else {
        throw "settings.secrets.source must be 'keyvault' or 'environment', not '$($Secrets.source)'"
    }
    if ([string]::IsNullOrEmpty($value)) { throw "secret $Key ($($Secrets.source) '$Name') is empty" }
    Add-Secret $value
    return $value
}

function Read-Secrets {
    param([Parameter(Mandatory = $true)]$Secrets)
    $values = @{}
    foreach ($key in $SecretNames) {
        $name = "$($Secrets.names.PSObject.Properties[$key].Value)"
        if ([string]::IsNullOrWhiteSpace($name)) { throw "settings.secrets.names.$key is missing" }
        $values[$key] = Read-Secret -Secrets $Secrets -Key $key -Name $name
    }
    return $values
}

function Get-MachinePath {
    # The machine PATH as stored: %...% entries stay unexpanded (GetValue with DoNotExpandEnvironmentNames).
    $key = [Microsoft.Win32.Registry]::LocalMachine.OpenSubKey('SYSTEM\CurrentControlSet\Control\Session Manager\Environment')
    try {
        return [string]$key.GetValue('Path', '', [Microsoft.Win32.RegistryValueOptions]::DoNotExpandEnvironmentNames)
    } finally { $key.Close() }
}

function Add-MachinePathEntry {
    param([Parameter(Mandatory = $true)][string]$Entry)
    $key = [Microsoft.Win32.Registry]::LocalMachine.OpenSubKey('SYSTEM\CurrentControlSet\Control\Session Manager\Environment', $true)
    try {
        $raw = [string]$key.GetValue('Path', '', [Microsoft.Win32.RegistryValueOptions]::DoNotExpandEnvironmentNames)
        if (($raw -split ';') -contains $Entry) { return }
        $key.SetValue('Path', $raw.TrimEnd(';') + ';' + $Entry, [Microsoft.Win32.RegistryValueKind]::ExpandString)
    } finally { $key.Close() }
}

function Get-ServiceAccountSid {
    # The account a Windows service runs as (the MariaDB MSI picks it), as a SID.
    param([Parameter(Mandatory = $true)][string]$ServiceName)
    $service = Get-CimInstance -ClassName Win32_Service -Filter "Name='$ServiceName'"
    if ($null -eq $service) { throw "service $ServiceName is not installed" }
    $account = "$($service.StartName)"
    if ($account -eq 'LocalSystem') { return $SidSystem }
    return Get-AccountSid $account
}

function Get-HardenedAclProblems {
    # What differs from: inheritance off, Administrators and SYSTEM full control, each of $Grants (SID ->
    # 'RX' or 'M') exactly that, and no other Allow entry.
    param([Parameter(Mandatory = $true)][string]$Path, [hashtable]$Grants = @{})
    if (-not (Test-Path -LiteralPath $Path)) { return @("$Path is missing") }
    $problems = New-Object System.Collections.Generic.List[string]
    $acl = Get-Acl -LiteralPath $Path
    if (-not $acl.AreAccessRulesProtected) { $problems.Add("$Path inherits its parent's ACL") }
    $full = [int][System.Security.AccessControl.FileSystemRights]::FullControl
    $expected = @{ $SidSystem = $full; $SidAdministrators = $full }
    foreach ($sid in $Grants.Keys) {
        $expected[$sid] = if ($Grants[$sid] -eq 'M') { [int][System.Security.AccessControl.FileSystemRights]::Modify } else { [int][System.Security.AccessControl.FileSystemRights]::ReadAndExecute }
    }
    $sync = [int][System.Security.AccessControl.FileSystemRights]::Synchronize
    $seen = @{}
    foreach ($rule in $acl.Access) {
        if ($rule.AccessControlType -ne 'Allow') { continue }
        try { $sid = $rule.IdentityReference.Translate([System.Security.Principal.SecurityIdentifier]).Value } catch { $sid = "$($rule.IdentityReference)" }
        $rights = [int]$rule.FileSystemRights -bor $sync
        if (-not $expected.ContainsKey($sid)) { $problems.Add("$Path grants $($rule.IdentityReference) $($rule.FileSystemRights)"); continue }
        if ($rights -ne ($expected[$sid] -bor $sync)) { $problems.Add("$Path grants $($rule.IdentityReference) $($rule.FileSystemRights)") }
        $seen[$sid] = $true
    }
    foreach ($sid in $expected.Keys) {
        if (-not $seen.ContainsKey($sid)) { $problems.Add("$Path does not grant $sid") }
    }
    return @($problems)
}

function Set-HardenedAcl {
    # Inheritance removed, everything else replaced: Administrators and SYSTEM full control plus $Grants.
    param([Parameter(Mandatory = $true)][string]$Path, [hashtable]$Grants = @{})
    $arguments = '"{0}" /inheritance:r /grant:r "*{1}:(OI)(CI)F" "*{2}:(OI)(CI)F"' -f $Path, $SidSystem, $SidAdministrators
    foreach ($sid in $Grants.Keys) { $arguments += (' "*{0}:(OI)(CI){1}"' -f $sid, $Grants[$sid]) }
    # /reset on the children first so that nothing below keeps a looser explicit entry.
    $null = Invoke-Checked -FilePath "$env:SystemRoot\System32\icacls.exe" -Arguments ('"{0}\*" /reset /T /C /Q' -f $Path) -SuccessCodes @(0, 2)
    $null = Invoke-Checked -FilePath "$env:SystemRoot\System32\icacls.exe" -Arguments ($arguments + ' /Q')
    $acl = Get-Acl -LiteralPath $Path
    foreach ($rule in @($acl.Access)) {
        try { $sid = $rule.IdentityReference.Translate([System.Security.Principal.SecurityIdentifier]).Value } catch { $sid = '' }
        if (@($SidSystem, $SidAdministrators) + @($Grants.Keys) -notcontains $sid) { $null = $acl.RemoveAccessRuleAll($rule) }
    }
    Set-Acl -LiteralPath $Path -AclObject $acl
}

function Import-IisModule {
    if (-not (Get-Module -Name WebAdministration)) { Import-Module WebAdministration -ErrorAction Stop }
}

function Get-ConfigValue {
    # Get-WebConfigurationProperty returns either the value or a ConfigurationAttribute wrapping it.
    param($Value)
    if ($null -ne $Value -and $null -ne $Value.PSObject.Properties['Value']) { return $Value.Value }
    return $Value
}

function ConvertTo-SqlString {
    # A quoted MariaDB string literal (used for values on the SQL sent through mysql.exe's stdin).
    param([Parameter(Mandatory = $true)][AllowEmptyString()][string]$Value)
    return "'" + $Value.Replace('\', '\\').Replace("'", "\'") + "'"
}

function Get-DbCredential {
    # A MariaDB account as a PSCredential (PSScriptAnalyzer AvoidUsingUsernameAndPasswordParams, severity Error:
    # no function takes a user name and a plain-text password). The SecureString is built character by
    # character, not with ConvertTo-SecureString -AsPlainText (AvoidUsingConvertToSecureStringWithPlainText).
    param([Parameter(Mandatory = $true)][ValidateSet('root', 'app')][string]$Account)
    if ($Account -eq 'root') { $name = 'root'; $plain = [string]$script:DbRootPassword }
    else { $name = $DbUser; $plain = [string]$script:DbAppPassword }
    $secure = New-Object System.Security.SecureString
    foreach ($character in $plain.ToCharArray()) { $secure.AppendChar($character) }
    $secure.MakeReadOnly()
    return (New-Object System.Management.Automation.PSCredential($name, $secure))
}

function Invoke-MariaDbSql {
    # Runs SQL through mysql.exe's standard input; the password travels in the child's MYSQL_PWD only.
    param(
        [Parameter(Mandatory = $true)][string]$Sql,
        [System.Management.Automation.PSCredential]$Credential = (Get-DbCredential -Account 'root'),
        [switch]$NoPassword,
        [switch]$AllowFailure
    )
    $environment = @{}
    if (-not $NoPassword) { $environment['MYSQL_PWD'] = $Credential.GetNetworkCredential().Password }
    $account = $Credential.UserName
    $arguments = "--no-defaults --protocol=TCP --host=127.0.0.1 --port=$MariaDbPort --user=$account --batch --skip-column-names --connect-timeout=10"
    $result = Invoke-Process -FilePath $MysqlExe -Arguments $arguments -InputText $Sql -Environment $environment -TimeoutSeconds 300
    if ($AllowFailure) { return $result }
    if ($result.ExitCode -ne 0) {
        throw ('mysql.exe as {0} failed (exit {1}): {2}' -f $account, $result.ExitCode, (Protect-Text $result.Error.Trim()))
    }
    return $result.Output.Trim()
}

function Test-MariaDbLogin {
    param([System.Management.Automation.PSCredential]$Credential = (Get-DbCredential -Account 'root'), [switch]$NoPassword)
    if (-not (Test-Path -LiteralPath $MysqlExe)) { return $false }
    $result = Invoke-MariaDbSql -Sql 'SELECT 1;' -Credential $Credential -NoPassword:$NoPassword -AllowFailure
    return ($result.ExitCode -eq 0)
}

function Wait-MariaDb {
    param([switch]$NoPassword)
    $deadline = (Get-Date).AddSeconds(120)
    while ((Get-Date) -lt $deadline) {
        $result = Invoke-MariaDbSql -Sql 'SELECT 1;' -NoPassword:$NoPassword -AllowFailure
        if ($result.ExitCode -eq 0) { return }
        # Access denied means the server is up; that is all this waits for.
        if ($result.Error -match 'Access denied') { return }
        Start-Sleep -Seconds 3
    }
    throw 'MariaDB did not accept connections on 127.0.0.1 within 120 s'
}

function Get-AccountSid {
    param([Parameter(Mandatory = $true)][string]$Account)
    if ($Account -like 'S-1-*') { return $Account }
    $nt = New-Object System.Security.Principal.NTAccount($Account)
    return $nt.Translate([System.Security.Principal.SecurityIdentifier]).Value
}

function Get-GrantedRights {
    # Union of the Allow rights the ACL of $Path gives the account with SID $Sid.
    param([Parameter(Mandatory = $true)][string]$Path, [Parameter(Mandatory = $true)][string]$Sid)
    $rights = 0
    foreach ($rule in (Get-Acl -LiteralPath $Path).Access) {
        if ($rule.AccessControlType -ne 'Allow') { continue }
        try {
            $ruleSid = $rule.IdentityReference.Translate([System.Security.Principal.SecurityIdentifier]).Value
        } catch {
            continue
        }
        if ($ruleSid -eq $Sid) { $rights = $rights -bor [int]$rule.FileSystemRights }
    }
    return $rights
}

function Test-ReadOnlyForAppPool {
    # True when the app pool identity can read $Path but nobody except SYSTEM and Administrators can write it.
    param([Parameter(Mandatory = $true)][string]$Path, [Parameter(Mandatory = $true)][string]$PoolSid)
    if (-not (Test-Path -LiteralPath $Path)) { return $false }
    $writeMask = [int][System.Security.AccessControl.FileSystemRights]'WriteData, AppendData, WriteExtendedAttributes, WriteAttributes, Delete, DeleteSubdirectoriesAndFiles, ChangePermissions, TakeOwnership'
    $readMask = [int][System.Security.AccessControl.FileSystemRights]'ReadData, ReadAttributes, ReadPermissions'
    if (((Get-GrantedRights -Path $Path -Sid $PoolSid) -band $readMask) -ne $readMask) { return $false }
    foreach ($rule in (Get-Acl -LiteralPath $Path).Access) {
        if ($rule.AccessControlType -ne 'Allow') { continue }
        if (([int]$rule.FileSystemRights -band $writeMask) -eq 0) { continue }
        try {
            $ruleSid = $rule.IdentityReference.Translate([System.Security.Principal.SecurityIdentifier]).Value
        } catch {
            return $false
        }
        if (@($SidSystem, $SidAdministrators) -notcontains $ruleSid) { return $false }
    }
    return $true
}

function Get-AppPoolSid {
    return Get-AccountSid "IIS APPPOOL\$AppPoolName"
}

function Get-PhpVersion {
    if (-not (Test-Path -LiteralPath $PhpExe)) { return '' }
    $result = Invoke-Process -FilePath $PhpExe -Arguments '-n -r "echo PHP_VERSION;"' -WorkingDirectory $PhpDir -TimeoutSeconds 60
    if ($result.ExitCode -ne 0) { return '' }
    return $result.Output.Trim()
}

function Test-ApcuWanted {
    # APCu is a PECL DLL, not part of the PHP zip: only with an 'apcu' manifest entry (docs/bootstrap.md).
    return ($null -ne $script:Downloads.PSObject.Properties['apcu'])
}

function Get-DesiredPhpIni {
    $template = Read-TextFile (Join-Path $PhpDir 'php.ini-production')
    if ($null -eq $template) { throw "$PhpDir\php.ini-production (the production template) is missing" }
    $lines = New-Object System.Collections.Generic.List[string]
    $lines.Add('')
    $lines.Add('; ---- ostops: written by infra/bootstrap/bootstrap.ps1 (step "Write php.ini"); later lines win ----')
    $lines.Add('extension_dir = "C:\PHP\ext"')
    foreach ($name in $PhpExtensions) { $lines.Add("extension=$name") }
    foreach ($name in $PhpOptionalExtensions) {
        if (Test-Path -LiteralPath (Join-Path $PhpDir "ext\php_$name.dll")) { $lines.Add("extension=$name") }
    }
    if (Test-ApcuWanted) { $lines.Add('extension=apcu'); $lines.Add('apc.enabled = 1'); $lines.Add('apc.shm_size = 64M') }
    $lines.Add('zend_extension=opcache')
    foreach ($key in $PhpSettings.Keys) { $lines.Add(('{0} = {1}' -f $key, $PhpSettings[$key])) }
    return $template.TrimEnd() + "`r`n" + ($lines -join "`r`n") + "`r`n"
}

function Get-MariaDbBlock {
    $lines = New-Object System.Collections.Generic.List[string]
    $lines.Add('# BEGIN ostops (written by infra/bootstrap/bootstrap.ps1; edit the script, not this block)')
    $lines.Add('[mysqld]')
    if ($script:DbAccessEnabled) { $lines.Add('bind-address=0.0.0.0') } else { $lines.Add('bind-address=127.0.0.1') }
    $lines.Add("port=$MariaDbPort")
    $lines.Add('character-set-server=utf8mb4')
    $lines.Add('collation-server=utf8mb4_unicode_ci')
    $lines.Add('local-infile=0')
    if ($script:DbAccessEnabled) {
        $lines.Add('ssl-cert=' + $DbTlsCert.Replace('\', '/'))
        $lines.Add('ssl-key=' + $DbTlsKey.Replace('\', '/'))
        $lines.Add('tls_version=TLSv1.2,TLSv1.3')
    }
    $lines.Add('# END ostops')
    return ($lines -join "`r`n")
}

function Get-MariaDbIniWithoutBlock {
    $text = Read-TextFile $MariaDbIni
    if ($null -eq $text) { throw "$MariaDbIni is missing; is MariaDB installed?" }
    return ([regex]::Replace($text, '(?s)\r?\n?# BEGIN ostops.*?# END ostops\r?\n?', "`r`n")).TrimEnd()
}

function Get-HttpStatus {
    # Status code of a GET to the local site, without following redirects (0 when nothing answered).
    param([Parameter(Mandatory = $true)][string]$Url)
    $request = [System.Net.HttpWebRequest]::Create($Url)
    $request.AllowAutoRedirect = $false
    $request.Timeout = 30000
    try {
        $response = $request.GetResponse()
    } catch {
        # 4xx/5xx arrive as a WebException (wrapped by PowerShell) that still carries the response.
        $exception = $_.Exception
        while ($null -ne $exception -and -not ($exception -is [System.Net.WebException])) { $exception = $exception.InnerException }
        if ($null -eq $exception -or $null -eq $exception.Response) { return 0 }
        $response = $exception.Response
    }
    try { return [int]$response.StatusCode } finally { $response.Close() }
}

function Get-ExtraGrants {
    # $Grants without SYSTEM and Administrators (they always get full control).
    param([hashtable]$Grants)
    $result = @{}
    foreach ($sid in $Grants.Keys) { if (@($SidSystem, $SidAdministrators) -notcontains $sid) { $result[$sid] = $Grants[$sid] } }
    return $result
}

function Get-PhpGrants {
    # IIS worker processes (IIS_IUSRS) and the cron task's account (LOCAL SERVICE) run PHP: read & execute.
    return @{ $SidIisUsers = 'RX'; $SidLocalService = 'RX' }
}

function Get-SchannelKeys {
    $root = 'HKLM:\SYSTEM\CurrentControlSet\Control\SecurityProviders\SCHANNEL\Protocols'
    foreach ($protocol in @('TLS 1.0', 'TLS 1.1')) {
        foreach ($side in @('Server', 'Client')) { "$root\$protocol\$side" }
    }
}

function Get-PfxCollection {
    # Every certificate in the tls-pfx secret; keys are not persisted (EphemeralKeySet).
    $bytes = [Convert]::FromBase64String($script:TlsPfxBase64)
    $collection = New-Object System.Security.Cryptography.X509Certificates.X509Certificate2Collection
    $collection.Import($bytes, $script:TlsPfxPassword, [System.Security.Cryptography.X509Certificates.X509KeyStorageFlags]::EphemeralKeySet)
    return , $collection
}

function Get-PfxIntermediates {
    # The chain certificates of a PFX: no private key, and not self-signed (a root is never imported).
    param([Parameter(Mandatory = $true)]$Collection)
    foreach ($cert in $Collection) {
        if (-not $cert.HasPrivateKey -and $cert.Subject -ne $cert.Issuer) { $cert }
    }
}

function Get-HstsHeaderValue {
    # The site's Strict-Transport-Security value in applicationHost.config, $null when there is none.
    Import-IisModule
    $headers = Get-WebConfiguration -PSPath 'MACHINE/WEBROOT/APPHOST' -Location $SiteName -Filter 'system.webServer/httpProtocol/customHeaders/add'
    foreach ($header in @($headers)) {
        if ($null -ne $header -and "$(Get-ConfigValue $header.name)" -eq $HstsHeader) { return "$(Get-ConfigValue $header.value)" }
    }
    return $null
}

function Get-DesiredHstsValue {
    if ($script:HstsMaxAge -le 0) { return $null }
    return ('max-age={0}' -f $script:HstsMaxAge)
}

function Test-SchannelRestartPending {
    # True when the SCHANNEL settings changed after the last boot (SCHANNEL reads them at boot only).
    $stamp = Read-TextFile $SchannelStamp
    if ($null -eq $stamp) { return $false }
    $changed = [DateTime]::Parse($stamp.Trim(), [Globalization.CultureInfo]::InvariantCulture, [Globalization.DateTimeStyles]::RoundtripKind).ToUniversalTime()
    $booted = (Get-CimInstance -ClassName Win32_OperatingSystem).LastBootUpTime.ToUniversalTime()
    return ($changed -gt $booted)
}

function Get-LegacyTlsProblems {
    # Handshakes with 127.0.0.1:443 by PHP's OpenSSL (not Schannel, whose own client side is off too): TLS 1.2
    # must succeed (the probe works), TLS 1.0 and 1.1 must fail. SECLEVEL=0 lets OpenSSL 3 offer the old versions.
    $php = @'
<?php
$methods = array('1.0' => STREAM_CRYPTO_METHOD_TLSv1_0_CLIENT, '1.1' => STREAM_CRYPTO_METHOD_TLSv1_1_CLIENT,
                 '1.2' => STREAM_CRYPTO_METHOD_TLSv1_2_CLIENT);
foreach ($methods as $version => $method) {
    $context = stream_context_create(array('ssl' => array('crypto_method' => $method, 'verify_peer' => false,
        'verify_peer_name' => false, 'ciphers' => 'DEFAULT@SECLEVEL=0')));
    $socket = @stream_socket_client('tls://127.0.0.1:443', $errno, $errstr, 15, STREAM_CLIENT_CONNECT, $context);
    echo $version, '=', ($socket ? 'accepted' : 'refused'), "\n";
    if ($socket) fclose($socket);
}
'@
    $result = Invoke-Process -FilePath $PhpExe -InputText $php -WorkingDirectory $PhpDir -TimeoutSeconds 120
    $answers = @{}
    foreach ($line in ($result.Output -split "`r?`n")) {
        if ($line -match '^(1\.[012])=(accepted|refused)$') { $answers[$Matches[1]] = $Matches[2] }
    }
    $problems = New-Object System.Collections.Generic.List[string]
    if ($answers['1.2'] -ne 'accepted') { $problems.Add("the probe could not complete a TLS 1.2 handshake with 127.0.0.1:443 (php: $($result.Error.Trim()))") }
    foreach ($version in @('1.0', '1.1')) {
        if ($answers[$version] -ne 'refused') { $problems.Add("127.0.0.1:443 accepted TLS $version") }
    }
    return @($problems)
}

function Test-ScriptCopyCurrent {
    # C:\ostops\bootstrap.ps1 is this run's script (or this run is that copy).
    if (-not $PSCommandPath -or -not (Test-Path -LiteralPath $PSCommandPath)) { return $true }
    if ([System.IO.Path]::GetFullPath($PSCommandPath) -eq [System.IO.Path]::GetFullPath($ScriptCopy)) { return $true }
    if (-not (Test-Path -LiteralPath $ScriptCopy)) { return $false }
    return ((Get-FileHash -LiteralPath $PSCommandPath -Algorithm SHA256).Hash -eq (Get-FileHash -LiteralPath $ScriptCopy -Algorithm SHA256).Hash)
}

function Get-DataDisk {
    # The disk at settings.dataDisk.lun: Azure shows a data disk's LUN in its physical location ("... : LUN 0",
    # Microsoft's "Manage disks in standalone Storage Spaces on Windows Server hosted in Azure"). The boot and
    # system disk never qualify.
    $wanted = 'LUN {0}$' -f $script:DataDisk.Lun
    $found = @()
    foreach ($physical in @(Get-PhysicalDisk | Where-Object { "$($_.PhysicalLocation)" -match $wanted })) {
        $disk = Get-Disk -Number ([int]$physical.DeviceId) -ErrorAction SilentlyContinue
        if ($null -ne $disk -and -not $disk.IsBoot -and -not $disk.IsSystem) { $found += $disk }
    }
    if ($found.Count -ne 1) {
        throw ("settings.dataDisk.lun {0}: {1} data disk(s) at that LUN; is the managed data disk attached (docs/azure.md)?" -f $script:DataDisk.Lun, $found.Count)
    }
    return $found[0]
}

function Get-DataVolume {
    # The data disk's volume at its drive letter, $null when it is not there yet.
    $volume = Get-Volume -DriveLetter $script:DataDisk.DriveLetter -ErrorAction SilentlyContinue
    if ($null -eq $volume) { return $null }
    $disk = Get-DataDisk
    $onDisk = @(Get-Partition -DiskNumber $disk.Number | Where-Object { "$($_.DriveLetter)" -eq $script:DataDisk.DriveLetter })
    if ($onDisk.Count -ne 1) { throw ("drive {0}: is not on the data disk at LUN {1}; free the letter or choose another (settings.dataDisk.driveLetter)" -f $script:DataDisk.DriveLetter, $script:DataDisk.Lun) }
    return $volume
}

function Test-ExistingDataDirectory {
    # A data directory a previous VM left: MariaDB's own schema and the defaults file are both there.
    return ((Test-Path -LiteralPath (Join-Path $MariaDbData 'mysql') -PathType Container) -and (Test-Path -LiteralPath $MariaDbIni -PathType Leaf))
}

function Get-ForeignDatabaseFirewallRules {
    # Enabled inbound Allow rules, other than ours, for mysqld.exe / mariadbd.exe or for local TCP port 3306.
    $names = @{}
    foreach ($filter in @(Get-NetFirewallApplicationFilter -All)) {
        if ("$($filter.Program)" -match '(?i)\\(mysqld|mariadbd)\.exe$') { foreach ($rule in @($filter | Get-NetFirewallRule)) { $names[$rule.Name] = $rule } }
    }
    foreach ($filter in @(Get-NetFirewallPortFilter -All)) {
        if (@($filter.LocalPort | ForEach-Object { "$_" }) -contains "$MariaDbPort") { foreach ($rule in @($filter | Get-NetFirewallRule)) { $names[$rule.Name] = $rule } }
    }
    foreach ($rule in $names.Values) {
        if ($rule.Name -ne $DbFirewallRule -and "$($rule.Direction)" -eq 'Inbound' -and "$($rule.Action)" -eq 'Allow' -and "$($rule.Enabled)" -eq 'True') { $rule }
    }
}

function Register-ResumeTask {
    # At startup, as SYSTEM: the bootstrap copy again, until a run ends well (Unregister-ResumeTask).
    $action = New-ScheduledTaskAction -Execute "$env:SystemRoot\System32\WindowsPowerShell\v1.0\powershell.exe" `
        -Argument ('-NoProfile -NonInteractive -ExecutionPolicy Bypass -File "{0}"' -f $ScriptCopy)
    $trigger = New-ScheduledTaskTrigger -AtStartup
    $principal = New-ScheduledTaskPrincipal -UserId 'NT AUTHORITY\SYSTEM' -LogonType ServiceAccount -RunLevel Highest
    $settings = New-ScheduledTaskSettingsSet -MultipleInstances IgnoreNew -ExecutionTimeLimit (New-TimeSpan -Hours 2) -StartWhenAvailable
    $null = Register-ScheduledTask -TaskName $ResumeTaskName -TaskPath $CronTaskPath -Action $action -Trigger $trigger `
        -Principal $principal -Settings $settings -Description 'ostops bootstrap: resume an unfinished run after a restart' -Force
}

function Unregister-ResumeTask {
    if ($null -ne (Get-ScheduledTask -TaskName $ResumeTaskName -TaskPath $CronTaskPath -ErrorAction SilentlyContinue)) {
        Unregister-ScheduledTask -TaskName $ResumeTaskName -TaskPath $CronTaskPath -Confirm:$false
    }
}

function Get-TlsCertificateFromSecret {
    # The certificate (with its private key) inside the tls-pfx secret; the key is not persisted here.
    $collection = Get-PfxCollection
    $cert = @($collection | Where-Object { $_.HasPrivateKey }) | Select-Object -First 1
    if ($null -eq $cert) { throw 'the tls-pfx secret holds no certificate with a private key' }
    if ($script:CertificateSha256 -ne '') {
        $actual = Get-CertificateSha256 -Certificate $cert
        if ($actual -ne $script:CertificateSha256) {
            throw ("the tls-pfx secret holds the certificate with SHA-256 {0}, not {1} (settings.tls.certificateSha256: the " +
                   "certificate this deployment made, which the stack output certificatePem pins); Key Vault has another " +
                   "PFX: run pulumi up again") -f $actual, $script:CertificateSha256
        }
    }
    return $cert
}

function Get-CertificateSha256 {
    # SHA-256 of the certificate's DER bytes (RawData), lower-case hex: settings.tls.certificateSha256's form.
    param([Parameter(Mandatory = $true)]$Certificate)
    $sha = [System.Security.Cryptography.SHA256]::Create()
    try { $hash = $sha.ComputeHash($Certificate.RawData) } finally { $sha.Dispose() }
    return (($hash | ForEach-Object { $_.ToString('x2') }) -join '')
}

function Get-OsTicketInstalled {
    $text = Read-TextFile $OstConfig
    return ($null -ne $text -and $text -match "define\('OSTINSTALLED',\s*TRUE\)")
}

#region ostops-ops: functions
# settings.mode backup (also nightly), upgrade, rotate: automation/operations/*.py on the VM (docs/operations.md).
$BackupTaskName = 'osTicket backup'
$BackupScriptCopy = 'C:\ostops\backup.ps1'   # the bootstrap copy with mode 'backup' (param() takes no mode)
# mariadb-dump: the client's name since MariaDB 10.5 (mariadb.com/kb "mariadb-dump"), MSI feature Client.
$MariaDbDumpExe = 'C:\MariaDB\bin\mariadb-dump.exe'
# IMDS: GET with header Metadata: true ("How to use managed identities for Azure resources on an Azure VM to acquire
# an access token"); resource https://storage.azure.com/ ("Authorize access to blobs using Microsoft Entra ID").
$StorageIdentityRoute = '/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://storage.azure.com/'
# Bearer needs x-ms-version 2017-11-09+ ("Authorize with Microsoft Entra ID"). From 2019-12-12 Put Blob takes up to
# 5,000 MiB, Put Block 4,000 MiB (their Remarks); a Put Blob body is read into memory, so above 256 MiB: blocks.
$StorageApiVersion = '2019-12-12'
$PutBlobMaxBytes = 256MB
$PutBlockBytes = 100MB
$script:Backup = $null; $script:LastBackup = $null; $script:Release = $null; $script:UpgradeDone = $false
$script:UpgradeProblems = @(); $script:UpgradeBackup = $null; $script:UpgradeOld = ''; $script:UpgradeFrom = ''
$script:OnStepFailure = $null

function Get-OpsOptionProblems {
    # settings.backup: null or {containerUrl, schedule "HH:mm" (VM clock: UTC), retentionDays}.
    param([Parameter(Mandatory = $true)]$Settings)
    $backup = Get-SettingValue $Settings 'backup'
    if ($null -eq $backup) { return @(if ($script:Mode -eq 'backup') { 'settings.mode is backup but settings.backup is null' }) }
    $url = "$(Get-SettingValue $backup 'containerUrl')".TrimEnd('/'); $at = "$(Get-SettingValue $backup 'schedule')"
    $days = "$(Get-SettingValue $backup 'retentionDays')"
    $problems = @()
    # Account: 3-24 of a-z0-9; container: 3-63 of a-z0-9 and single dashes.
    if ($url -notmatch '^https://[a-z0-9]{3,24}\.blob\.core\.windows\.net/[a-z0-9](-?[a-z0-9]){2,62}$') {
        $problems += "settings.backup.containerUrl must be https://<account>.blob.core.windows.net/<container>, not '$url'"
    }
    if ($at -notmatch '^([01]\d|2[0-3]):[0-5]\d$') { $problems += "settings.backup.schedule must be HH:mm, not '$at'" }
    if ($days -notmatch '^[1-9]\d{0,3}$') { $problems += "settings.backup.retentionDays must be a whole number from 1, not '$days'" }
    if (-not $problems) { $script:Backup = [pscustomobject]@{ ContainerUrl = $url; Schedule = $at } }
    return $problems
}

function ConvertTo-OpsSecureString {
    param([Parameter(Mandatory = $true)][AllowEmptyString()][string]$Text)
    $secure = New-Object System.Security.SecureString
    foreach ($character in $Text.ToCharArray()) { $secure.AppendChar($character) }
    return $secure
}

function Invoke-OpsClient {
    # mysql.exe or mariadb-dump.exe as root; the password in an option file in the private $Folder, never argv.
    # name = value, the value double-quoted with \\ and \" escapes ("Configuring MariaDB with Option Files"); the
    # option file must be the first option.
    param([Parameter(Mandatory = $true)][string]$FilePath, [Parameter(Mandatory = $true)][string]$Folder, [Parameter(Mandatory = $true)][string]$Arguments)
    $secret = (Get-DbCredential -Account 'root').GetNetworkCredential().Password
    Write-TextFile -Path "$Folder\client.cnf" -Text ("[client]`r`nuser = root`r`n" + 'password = "' + $secret.Replace('\', '\\').Replace('"', '\"') + '"')
    $result = Invoke-Process -FilePath $FilePath -TimeoutSeconds 3600 -Arguments ('--defaults-extra-file="{0}\client.cnf" --protocol=TCP --host=127.0.0.1 --port={1} {2}' -f $Folder, $MariaDbPort, $Arguments)
    Remove-Item -LiteralPath "$Folder\client.cnf"
    if ($result.ExitCode -ne 0) { throw ('{0} failed (exit {1}): {2}' -f (Split-Path -Leaf $FilePath), $result.ExitCode, (Protect-Text $result.Error.Trim())) }
}

function Write-BackupLog {
    # ostops_ops.backup_log (read by `ostops instance status`): without -Id a new row, its id returned.
    param([long]$Id = 0, [int]$Ok = 0, [string]$BlobName = '', [long]$Bytes = 0, [string]$Sha256 = '', [string]$Message = '')
    $text = Protect-Text $Message
    $text = ConvertTo-SqlString $text.Substring(0, [Math]::Min(1000, $text.Length))
    if ($Id -gt 0) {
        $null = Invoke-MariaDbSql -Sql ("UPDATE ostops_ops.backup_log SET finished_utc = UTC_TIMESTAMP(), ok = $Ok, blob_name = " + (ConvertTo-SqlString $BlobName) +
            ", bytes = $Bytes, sha256 = " + (ConvertTo-SqlString $Sha256) + ", message = $text WHERE id = $Id;")
        return
    }
    $grant = if ($script:DbAccessEnabled) { "GRANT SELECT ON ostops_ops.backup_log TO '$DbUser'@'$($script:AutomationIp)';" }
    return [long](Invoke-MariaDbSql -Sql @"
CREATE DATABASE IF NOT EXISTS ostops_ops CHARACTER SET utf8mb4;
CREATE TABLE IF NOT EXISTS ostops_ops.backup_log (id BIGINT AUTO_INCREMENT PRIMARY KEY, started_utc DATETIME, finished_utc DATETIME NULL,
  ok TINYINT, blob_name VARCHAR(255), bytes BIGINT, sha256 CHAR(64), message VARCHAR(1000)) ENGINE=InnoDB;
$grant
INSERT INTO ostops_ops.backup_log (started_utc, ok, message) VALUES (UTC_TIMESTAMP(), 0, $text); SELECT LAST_INSERT_ID();
"@)
}

function Invoke-OstSql {
    # {0}: osTicket's database, {1}: its table prefix.
    param([Parameter(Mandatory = $true)][string]$Sql)
    return (Invoke-MariaDbSql -Sql ($Sql -f $DbName, $TablePrefix))
}

function Get-DbSchemaSignature {
    return (Invoke-OstSql "SELECT value FROM {0}.{1}config WHERE namespace = 'core' AND ``key`` = 'schema_signature';")
}

function Get-TableRowCounts {
    $tables = @((Invoke-MariaDbSql -Sql "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = '$DbName' AND TABLE_TYPE = 'BASE TABLE';") -split "`r?`n" | Where-Object { $_ })
    $selects = ($tables | ForEach-Object { "SELECT '$_', COUNT(*) FROM $DbName.``$_``" }) -join ' UNION ALL '
    $counts = [ordered]@{}
    foreach ($line in ((Invoke-MariaDbSql -Sql "START TRANSACTION WITH CONSISTENT SNAPSHOT; $selects; COMMIT;") -split "`r?`n" | Where-Object { $_ })) {
        $name, $count = $line -split "`t"; $counts[$name] = [long]$count
    }
    return $counts
}

function Invoke-Blob {
    # Blob REST PUT with the VM's identity (no storage key); headers as Put Blob's docs list them.
    param([Parameter(Mandatory = $true)][string]$Url, $Body, [hashtable]$Headers = @{}, [string]$ContentType = 'application/octet-stream')
    $token = (Invoke-WithRetry -What 'managed identity token for Blob storage' -Action {
        Invoke-RestMethod -Uri ($script:IdentityEndpoint + $StorageIdentityRoute) -Headers @{ Metadata = 'true' } -UseBasicParsing -TimeoutSec 30 }).access_token
    Add-Secret $token
    $Headers['Authorization'] = "Bearer $token"; $Headers['x-ms-version'] = $StorageApiVersion; $Headers['x-ms-date'] = [DateTime]::UtcNow.ToString('r')
    $null = Invoke-WithRetry -What "PUT $Url" -Action { Invoke-WebRequest -Uri $Url -Method Put -Headers $Headers -Body $Body -ContentType $ContentType -UseBasicParsing -TimeoutSec 1800 }
}

function Send-BlobFile {
    # Put Blob; larger: Put Block (blockid: base64, one length, URL-encoded) and Put Block List (their docs).
    param([Parameter(Mandatory = $true)][string]$Path, [Parameter(Mandatory = $true)][string]$Url)
    if ((Get-Item -LiteralPath $Path).Length -le $PutBlobMaxBytes) {
        return (Invoke-Blob -Url $Url -Body ([System.IO.File]::ReadAllBytes($Path)) -Headers @{ 'x-ms-blob-type' = 'BlockBlob' } -ContentType 'application/zip')
    }
    $ids = @(); $buffer = New-Object byte[] $PutBlockBytes
    $stream = [System.IO.File]::OpenRead($Path)
    try {
        while (($read = $stream.Read($buffer, 0, $buffer.Length)) -gt 0) {
            $ids += [Convert]::ToBase64String([Text.Encoding]::ASCII.GetBytes(('{0:d6}' -f $ids.Count)))
            $chunk = New-Object byte[] $read; [Array]::Copy($buffer, $chunk, $read)
            Invoke-Blob -Url ('{0}?comp=block&blockid={1}' -f $Url, [Uri]::EscapeDataString($ids[-1])) -Body $chunk
        }
    } finally { $stream.Dispose() }
    $list = '<?xml version="1.0" encoding="utf-8"?><BlockList>' + (($ids | ForEach-Object { "<Latest>$_</Latest>" }) -join '') + '</BlockList>'
    Invoke-Blob -Url "$Url`?comp=blocklist" -Body $list -Headers @{ 'x-ms-blob-content-type' = 'application/zip' } -ContentType 'application/xml'
}

function Invoke-OstopsBackup {
    # Dump (one consistent InnoDB snapshot), ost-config.php (SECRET_SALT), manifest: zipped, put, logged. -Keep: the
    # private folder stays for the upgrade's rollback.
    param([switch]$Keep, [string]$Reason = 'nightly')
    $stamp = [DateTime]::UtcNow.ToString('yyyyMMddTHHmmssZ')
    $name = '{0}/osticket-{1}-{2}.zip' -f $env:COMPUTERNAME.ToLowerInvariant(), $stamp, $Reason
    $logId = Write-BackupLog -Message "started ($Reason)"
    $folder = "C:\ostops\ops\$stamp"
    try {
        $null = New-Item -ItemType Directory -Path "$folder\parts" -Force
        Set-HardenedAcl -Path $folder
        if (@(Get-HardenedAclProblems -Path $folder).Count -gt 0) { throw "$folder is not private" }
        $dump = "$folder\parts\osticket.sql"
        Invoke-OpsClient -FilePath $MariaDbDumpExe -Folder $folder -Arguments ('--single-transaction --routines --triggers --hex-blob --default-character-set=utf8mb4 --result-file="{0}" {1}' -f $dump, $DbName)
        Copy-Item -LiteralPath $OstConfig -Destination "$folder\parts"
        $hashes = @{}
        foreach ($part in @('osticket.sql', 'ost-config.php')) { $hashes[$part] = (Get-FileHash -LiteralPath "$folder\parts\$part" -Algorithm SHA256).Hash.ToLowerInvariant() }
        $manifest = [ordered]@{ createdUtc = [DateTime]::UtcNow.ToString('o'); reason = $Reason; osTicketVersion = (Get-InstalledVersion)
                                schemaSignature = (Get-DbSchemaSignature); rows = (Get-TableRowCounts); sha256 = $hashes }
        Write-TextFile -Path "$folder\parts\manifest.json" -Text ($manifest | ConvertTo-Json -Depth 4)
        # ZipFile: Compress-Archive stops at 2 GB ("the maximum file size that you can compress", its docs). Named as a
        # string, its assembly loaded just above (a type literal meets PSUseCompatibleTypes' default-session profiles).
        Add-Type -AssemblyName System.IO.Compression.FileSystem
        ('System.IO.Compression.ZipFile' -as [type])::CreateFromDirectory("$folder\parts", "$folder\backup.zip")
        $zip = Get-Item -LiteralPath "$folder\backup.zip"
        $sha = (Get-FileHash -LiteralPath $zip.FullName -Algorithm SHA256).Hash.ToLowerInvariant()
        Send-BlobFile -Path $zip.FullName -Url "$($script:Backup.ContainerUrl)/$name"
        Write-BackupLog -Id $logId -Ok 1 -BlobName $name -Bytes $zip.Length -Sha256 $sha -Message "uploaded ($Reason): $($manifest.rows.Count) tables"
        Write-Log ('backup {0}: {1:N0} bytes, sha256 {2}' -f $name, $zip.Length, $sha)
        return [pscustomobject]@{ BlobName = $name; Folder = $folder; Dump = $dump }
    } catch {
        $failure = $_; $Keep = $false
        Write-BackupLog -Id $logId -BlobName $name -Message ("failed ($Reason): " + $failure.Exception.Message)
        throw $failure
    } finally {
        if (-not $Keep) { Remove-Item -LiteralPath $folder -Recurse -Force -ErrorAction SilentlyContinue }
    }
}

function Get-BackupTaskProblems {
    # The task's copy: this script with mode backup (compact JSON: a key once per object).
    $task = Get-ScheduledTask -TaskName $BackupTaskName -TaskPath $CronTaskPath -ErrorAction SilentlyContinue
    if ($null -eq $script:Backup) { return @(if ($null -ne $task) { 'a backup task without settings.backup' }) }
    $parts = [System.IO.File]::ReadAllText($ScriptCopy) -split [regex]::Escape('"mode":"' + $script:Mode + '"')
    if ($parts.Count -ne 2) { throw "$ScriptCopy does not hold settings.mode once" }
    $script:BackupScriptText = $parts -join '"mode":"backup"'
    # A new schedule is a new copy: registered again.
    if ($null -eq $task -or "$(@($task.Actions)[0].Arguments)" -notlike "*$BackupScriptCopy*") { return @('no task runs the copy') }
    if ((Read-TextFile $BackupScriptCopy) -cne $script:BackupScriptText) { return @("$BackupScriptCopy is not this run's script") }
}

function Get-InstalledVersion {
    return "$(Read-TextFile "$StateDir\osticket-version.txt")".Trim()
}

function Get-Release {
    # The verified release: upload\, core.sig, the PHP it needs (include/class.setup.php $prereq['php']).
    $zip = Get-Download 'osticket'
    $upload = "$SourceDir\osTicket-$($script:Downloads.osticket.version)\upload"
    if (-not (Test-Path -LiteralPath "$upload\manage.php")) { Expand-Archive -LiteralPath $zip -DestinationPath (Split-Path $upload) -Force }
    $signature = "$(Read-TextFile "$upload\include\upgrader\streams\core.sig")".Trim()
    if ($signature -notmatch '^[0-9a-f]{32}$') { throw "$zip has no include\upgrader\streams\core.sig" }
    $php = if ("$(Read-TextFile "$upload\include\class.setup.php")" -match "'php'\s*=>\s*'([0-9.]+)'") { $Matches[1] } else { '0' }
    return [pscustomobject]@{ Upload = $upload; Signature = $signature; PhpMinimum = $php; Version = "$($script:Downloads.osticket.version)" }
}

function Get-UpgradeProblems {
    # Read only: an older osTicket installed, the PHP the release needs, free space (code, backup, growth).
    $release = $script:Release; $php = Get-PhpVersion
    if (-not (Get-OsTicketInstalled) -or -not $script:UpgradeFrom) { 'osTicket is not installed; run the install mode first' }
    elseif ([version]$release.Version -lt [version]$script:UpgradeFrom) { "osTicket $($script:UpgradeFrom) is installed; $($release.Version) is older" }
    if (-not $php -or [version]$php -lt [version]$release.PhpMinimum) { "PHP '$php' is older than the $($release.PhpMinimum) osTicket $($release.Version) needs" }
    $database = [long](Invoke-MariaDbSql -Sql "SELECT COALESCE(SUM(data_length + index_length), 0) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '$DbName';")
    $needed = (Get-ChildItem -LiteralPath $release.Upload -Recurse -File | Measure-Object -Property Length -Sum).Sum + 3 * $database + 64MB
    $free = (Get-PSDrive -Name 'C').Free
    if ($free -lt $needed) { 'C: has {0:N0} MiB free, the upgrade needs {1:N0}' -f ($free / 1MB), ($needed / 1MB) }
}

function Set-Maintenance {
    # osTicket refuses mixed code and schema: site, pool (WebAdministration) and cron (ScheduledTasks) stop.
    param([Parameter(Mandatory = $true)][bool]$On)
    Import-IisModule
    $pool = (Get-WebAppPoolState -Name $AppPoolName).Value
    if ($On) {
        $null = Disable-ScheduledTask -TaskName $CronTaskName -TaskPath $CronTaskPath
        Stop-Website -Name $SiteName
        if ($pool -ne 'Stopped') { Stop-WebAppPool -Name $AppPoolName }
    } else {
        if ($pool -ne 'Started') { Start-WebAppPool -Name $AppPoolName }
        Start-Website -Name $SiteName
        $null = Enable-ScheduledTask -TaskName $CronTaskName -TaskPath $CronTaskPath
    }
}

function Invoke-OsTicketUpgrader {
    # php manage.php upgrade (include/cli/modules/upgrade.php): "... <version>" before each attempt, "All
    # finished" at the end; a failing patch is retried forever, so 3 attempts or the timeout fail it.
    $result = Invoke-Process -FilePath $PhpExe -Arguments 'manage.php upgrade' -WorkingDirectory $Webroot -TimeoutSeconds 900
    $repeated = @($result.Output -split "`r?`n" | Where-Object { $_ -like '... *' } | Group-Object | Where-Object { $_.Count -ge 3 })
    if ($repeated -or $result.ExitCode -ne 0 -or $result.Output -notmatch 'All finished') {
        $detail = ($result.Output + ' ' + $result.Error).Trim()
        throw ("osTicket's upgrader failed (exit {0}): {1}" -f $result.ExitCode, (Protect-Text $detail.Substring([Math]::Max(0, $detail.Length - 1500))))
    }
}

function Invoke-UpgradeRollback {
    # Any step failing after the backup: old code back, the database restored from that backup, the site started.
    param([Parameter(Mandatory = $true)][string]$FailedStep)
    $backup = $script:UpgradeBackup
    Write-Log "upgrade failed at step '$FailedStep'; rolling back to osTicket $($script:UpgradeFrom) with $($backup.BlobName)" -Level ERROR
    try {
        Set-Maintenance -On $true
        if (Test-Path -LiteralPath $script:UpgradeOld) {
            if (Test-Path -LiteralPath $Webroot) { Move-Item -LiteralPath $Webroot -Destination ($script:UpgradeOld -replace '\.old-', '.failed-') }
            Move-Item -LiteralPath $script:UpgradeOld -Destination $Webroot
        }
        $null = Invoke-MariaDbSql -Sql "DROP DATABASE IF EXISTS $DbName; CREATE DATABASE $DbName CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;"
        Invoke-OpsClient -FilePath $MysqlExe -Folder $backup.Folder -Arguments ('--database={0} --execute="source {1}"' -f $DbName, $backup.Dump.Replace('\', '/'))
        Write-TextFile -Path "$StateDir\osticket-version.txt" -Text $script:UpgradeFrom
        Set-Maintenance -On $false
        Write-Log "rolled back: osTicket $($script:UpgradeFrom), schema signature $(Get-DbSchemaSignature)" -Level ERROR
        Remove-Item -LiteralPath $backup.Folder -Recurse -Force
    } catch {
        Write-Log "the rollback failed too ($($_.Exception.Message)); restore $($backup.BlobName) by hand" -Level ERROR
    }
}

function Get-OstConfigDbPass {
    $text = "$(Read-TextFile $OstConfig)"
    $match = [regex]::Match($text, "define\('DBPASS',\s*'((?:[^'\\]|\\.)*)'\)")
    if (-not $match.Success) { throw "$OstConfig has no define('DBPASS', '...')" }
    return [pscustomobject]@{ Text = $text; Match = $match; Value = $match.Groups[1].Value.Replace("\'", "'").Replace('\\', '\') }
}

function Set-DbPassword {
    # ALTER USER, ost-config.php replaced whole (same file: ACL kept), the pool recycled (opcache holds the old).
    param([Parameter(Mandatory = $true)][System.Security.SecureString]$Secret)
    $plain = (New-Object System.Management.Automation.PSCredential('x', $Secret)).GetNetworkCredential().Password
    $accounts = @((Invoke-MariaDbSql -Sql "SELECT CONCAT(QUOTE(User), '@', QUOTE(Host)) FROM mysql.user WHERE User = '$DbUser';") -split "`r?`n" | Where-Object { $_ })
    $null = Invoke-MariaDbSql -Sql ((($accounts | ForEach-Object { "ALTER USER $_ IDENTIFIED BY $(ConvertTo-SqlString $plain);" }) -join "`n") + "`nFLUSH PRIVILEGES;")
    $config = Get-OstConfigDbPass
    $text = $config.Text.Remove($config.Match.Index, $config.Match.Length).Insert($config.Match.Index, "define('DBPASS', '" + $plain.Replace('\', '\\').Replace("'", "\'") + "')")
    Set-ItemProperty -LiteralPath $OstConfig -Name IsReadOnly -Value $false
    try { Write-TextFile -Path $OstConfig -Text $text } finally { Set-ItemProperty -LiteralPath $OstConfig -Name IsReadOnly -Value $true }
    Import-IisModule
    Restart-WebAppPool -Name $AppPoolName
}

function Test-AppDbLogin {
    param([Parameter(Mandatory = $true)][System.Security.SecureString]$Secret)
    return (Test-MariaDbLogin -Credential (New-Object System.Management.Automation.PSCredential($DbUser, $Secret)))
}

function Invoke-PhpSecret {
    # php.exe -r $Code with $Payload as JSON on standard input: a secret never reaches argv.
    param([Parameter(Mandatory = $true)][string]$Code, [Parameter(Mandatory = $true)][hashtable]$Payload)
    $result = Invoke-Process -FilePath $PhpExe -Arguments "-n -r ""$Code""" -InputText ($Payload | ConvertTo-Json -Compress) -WorkingDirectory $PhpDir -TimeoutSeconds 60
    if ($result.ExitCode -ne 0) { throw ('php.exe failed (exit {0}): {1}' -f $result.ExitCode, (Protect-Text $result.Error.Trim())) }
    return $result.Output.Trim()
}

function Get-AdminRow {
    $id, $hash = (Invoke-OstSql ('SELECT staff_id, passwd FROM {0}.{1}staff WHERE username = ' + (ConvertTo-SqlString $AdminUsername))) -split "`t"
    if (-not $hash) { throw "osTicket has no staff account '$AdminUsername' (settings.adminUsername)" }
    return [pscustomobject]@{ Id = [int]$id; Hash = $hash }
}

function Test-AdminPassword {
    # password_verify against the stored hash: crypt(), as osTicket's Passwd::cmp (phpass) checks it.
    $payload = @{ p = $AdminPassword; h = (Get-AdminRow).Hash }
    return ((Invoke-PhpSecret -Code '$i = json_decode(stream_get_contents(STDIN)); echo password_verify($i->p, $i->h) ? 1 : 0;' -Payload $payload) -eq '1')
}

function Get-AutomationKeyRows {
    foreach ($row in @((Invoke-OstSql "SELECT id, apikey FROM {0}.{1}api_key WHERE ipaddr = '$($script:AutomationIp)'") -split "`r?`n" | Where-Object { $_ })) {
        $id, $key = $row -split "`t"; [pscustomobject]@{ Id = [int]$id; Key = $key }
    }
}
#endregion

# ---------------------------------------------------------------------------------------------------------
# The steps: name, the original lab's manual step numbers it replaces (docs/bootstrap.md), check, action.
# ---------------------------------------------------------------------------------------------------------
$script:Steps = New-Object System.Collections.Generic.List[object]

function Add-Step {
    # -Modes: the settings.mode values the step runs in ('install' unless given; 'Validate settings' runs in all).
    param(
        [Parameter(Mandatory = $true)][string]$Name,
        [Parameter(Mandatory = $true)][AllowEmptyString()][string]$Lab,
        [Parameter(Mandatory = $true)][scriptblock]$Test,
        [Parameter(Mandatory = $true)][scriptblock]$Action,
        [string[]]$Modes = @('install')
    )
    foreach ($existing in $script:Steps) {
        if ($existing.Name -eq $Name) { throw "duplicate step name '$Name'" }
    }
    foreach ($mode in $Modes) {
        if ($SupportedModes -notcontains $mode) { throw "step '$Name': unknown mode '$mode'" }
    }
    $script:Steps.Add([pscustomobject]@{ Name = $Name; Lab = $Lab; Test = $Test; Action = $Action; Modes = $Modes })
}

Add-Step -Name 'Validate settings' -Lab '' -Modes $SupportedModes -Test {
    $problems = New-Object System.Collections.Generic.List[string]
    # 64-bit guard: every download is x64, and a 32-bit PowerShell would see the WOW64 registry and Program Files.
    if (-not [Environment]::Is64BitOperatingSystem -or -not [Environment]::Is64BitProcess) {
        $problems.Add('this needs 64-bit Windows and a 64-bit PowerShell (run %SystemRoot%\System32\WindowsPowerShell\v1.0\powershell.exe)')
        $script:SettingsProblems = $problems
        return $false
    }
    try {
        $settings = Read-Settings
    } catch {
        $problems.Add($_.Exception.Message)
        $script:SettingsProblems = $problems
        return $false
    }
    $script:Settings = $settings
    foreach ($key in @('osTicketVersion', 'siteHostName', 'helpdeskName', 'adminUsername', 'adminEmail', 'installerBase64')) {
        if ($null -eq $settings.PSObject.Properties[$key] -or [string]::IsNullOrWhiteSpace("$($settings.$key)")) { $problems.Add("settings.$key is empty") }
    }
    foreach ($key in @('manifest', 'secrets')) {
        if ($null -eq $settings.PSObject.Properties[$key]) { $problems.Add("settings.$key is missing") }
    }
    if ($problems.Count -gt 0) { $script:SettingsProblems = $problems; return $false }
    $script:OsTicketVersion = "$($settings.osTicketVersion)".TrimStart('v')
    $script:SiteHostName = "$($settings.siteHostName)"
    $script:HelpdeskName = "$($settings.helpdeskName)"
    $script:AdminUsername = "$($settings.adminUsername)"
    $script:AdminEmail = "$($settings.adminEmail)"
    $script:DbAccessEnabled = ($null -ne $settings.PSObject.Properties['enableDbAccess'] -and $settings.enableDbAccess -eq $true)
    $script:AllowUnverified = ($null -ne $settings.PSObject.Properties['allowUnverifiedDownloads'] -and $settings.allowUnverifiedDownloads -eq $true)
    if ($script:AllowUnverified) { Write-Log 'UNSAFE: allowUnverifiedDownloads is true; a download that cannot be verified is used anyway' -Level WARN }
    foreach ($problem in (Get-OptionProblems -Settings $settings)) { $problems.Add($problem) }
    foreach ($problem in (Get-OpsOptionProblems -Settings $settings)) { $problems.Add($problem) }
    $ip = "$($settings.PSObject.Properties['automationSourceIp'].Value)" -replace '/32$', ''
    if ($ip -eq '') { $ip = '127.0.0.1' }   # no automation source: the API key answers local callers only
    $parsed = $null
    if (-not [System.Net.IPAddress]::TryParse($ip, [ref]$parsed) -or $ip -notmatch '^\d{1,3}(\.\d{1,3}){3}$') {
        $problems.Add('settings.automationSourceIp must be one IPv4 address or "": osTicket API keys bind to one address')
    }
    $script:AutomationIp = $ip
    if ($script:AdminEmail -notmatch '^[^@\s]+@[^@\s]+\.[^@\s]+$') { $problems.Add('settings.adminEmail is not an e-mail address') }
    if ($script:SiteHostName -notmatch '^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$') { $problems.Add('settings.siteHostName is not a host name') }
    if ($script:AdminUsername -notmatch '^[A-Za-z0-9._-]{3,64}$') { $problems.Add('settings.adminUsername must be 3-64 letters, digits, dots, dashes or underscores') }
    $parsedVersion = $null
    if (-not [version]::TryParse($script:OsTicketVersion, [ref]$parsedVersion)) {
        $problems.Add("settings.osTicketVersion '$($script:OsTicketVersion)' is not a version")
    } elseif ($parsedVersion -lt [version]$MinimumOsTicketVersion) {
        $problems.Add("osTicket $($script:OsTicketVersion) is below the security floor $MinimumOsTicketVersion (CVE-2026-22200); refusing to install it")
    }
    $script:Downloads = $settings.manifest.downloads
    $script:ManifestJson = ($settings.manifest | ConvertTo-Json -Depth 10)
    $methods = @('sha256', 'php-sha256-list', 'mariadb-sha256sums', 'authenticode', 'github-release-digest')
    foreach ($name in $RequiredDownloads) {
        $property = $script:Downloads.PSObject.Properties[$name]
        if ($null -eq $property) { $problems.Add("the download manifest has no '$name' entry"); continue }
        $entry = $property.Value
        if ("$($entry.url)" -notmatch '^https://') { $problems.Add("manifest entry '$name': url must be https://") }
        if ("$($entry.sha256)" -cnotmatch '^([0-9a-f]{64}|unknown)$') { $problems.Add("manifest entry '$name': sha256 must be 64 lower-case hex digits or ""unknown""") }
        $verify = "$($entry.PSObject.Properties['verify'].Value)"
        if ($methods -notcontains $verify) { $problems.Add("manifest entry '$name': verify must be one of $($methods -join ', ')") }
        elseif ("$($entry.sha256)" -eq 'unknown' -and -not $script:AllowUnverified) {
            # A pinned hash makes the run independent of the publisher answering now (GitHub's API allows 60
            # unauthenticated requests an hour); the publisher's check stays as a second layer.
            $problems.Add("manifest entry '$name' has no pinned sha256; pin it (ostops manifest hash --write --only $name, docs/bootstrap.md) or set allowUnverifiedDownloads (unsafe)")
        }
    }
    $osticketEntry = $script:Downloads.PSObject.Properties['osticket']
    if ($null -ne $osticketEntry -and "$($osticketEntry.Value.version)".TrimStart('v') -ne $script:OsTicketVersion) {
        $problems.Add("settings.osTicketVersion $($script:OsTicketVersion) differs from the manifest's osticket entry ($($osticketEntry.Value.version))")
    }
    try {
        $script:InstallerBytes = [Convert]::FromBase64String("$($settings.installerBase64)")
        if ([System.Text.Encoding]::UTF8.GetString($script:InstallerBytes) -notmatch '^\s*<\?php') { $problems.Add('settings.installerBase64 does not decode to a PHP file') }
    } catch {
        $problems.Add('settings.installerBase64 is not base64')
    }
    $script:TlsEnabled = -not ($null -ne $settings.PSObject.Properties['tls'] -and $settings.tls.enabled -eq $false)
    # The certificate the Pulumi program deployed (its fingerprint changes the script, so a new one re-runs it).
    $script:CertificateSha256 = ''
    if ($null -ne $settings.PSObject.Properties['tls'] -and $null -ne $settings.tls.PSObject.Properties['certificateSha256']) {
        $script:CertificateSha256 = "$($settings.tls.certificateSha256)".ToLowerInvariant()
    }
    if ($script:CertificateSha256 -notmatch '^([0-9a-f]{64})?$') { $problems.Add('settings.tls.certificateSha256 must be 64 hex digits (the SHA-256 of the certificate)') }
    if ($script:TlsEnabled -and $script:CertificateSha256 -eq '' -and "$($settings.secrets.source)" -eq 'keyvault') {
        $problems.Add('settings.tls.certificateSha256 is missing: with Key Vault secrets the settings pin the certificate in tls-pfx')
    }
    if ($problems.Count -eq 0) {
        try {
            $secrets = Read-Secrets -Secrets $settings.secrets
            $script:AdminPassword = $secrets['adminPassword']; $script:DbRootPassword = $secrets['dbRootPassword']
            $script:DbAppPassword = $secrets['dbAppPassword']; $script:ApiKey = $secrets['apiKey']
            $script:TlsPfxBase64 = $secrets['tlsPfx']; $script:TlsPfxPassword = $secrets['tlsPfxPassword']
            if ("$($script:ApiKey)" -cnotmatch '^[0-9A-F]{32}$') { $problems.Add('secret apiKey must be 32 upper-case hex characters') }
            if ($null -ne $script:SmtpRelay -and $script:SmtpRelay.PasswordSecretName) {
                $script:SmtpPassword = Read-Secret -Secrets $settings.secrets -Key 'smtpRelay.password' -Name $script:SmtpRelay.PasswordSecretName
            }
        } catch {
            $problems.Add($_.Exception.Message)
        }
    }
    $script:SettingsProblems = $problems
    return ($problems.Count -eq 0)
} -Action {
    throw ('invalid settings: ' + ($script:SettingsProblems -join '; '))
}

Add-Step -Name 'Prepare working directories' -Lab '' -Test {
    $ok = $true
    foreach ($dir in @($WorkDir, $DownloadDir, $SourceDir, $StateDir, (Split-Path $InstallerPath), (Join-Path $WorkDir 'logs'))) {
        if (-not (Test-Path -LiteralPath $dir -PathType Container)) { $ok = $false }
    }
    # Inheritance off: C:\ostops is for SYSTEM and administrators only.
    if (-not ($ok -and (Get-Acl -LiteralPath $WorkDir).AreAccessRulesProtected)) { return $false }
    # The manifest and installer of this run, kept for a re-run by hand (docs/bootstrap.md).
    $manifestCopy = Join-Path $WorkDir 'downloads.json'
    if (-not (Test-Path -LiteralPath $manifestCopy) -or -not (Test-Path -LiteralPath $InstallerPath)) { return $false }
    $sameManifest = [System.IO.File]::ReadAllText($manifestCopy) -ceq $script:ManifestJson
    $sameInstaller = [Convert]::ToBase64String([System.IO.File]::ReadAllBytes($InstallerPath)) -eq [Convert]::ToBase64String($script:InstallerBytes)
    return ($sameManifest -and $sameInstaller -and (Test-ScriptCopyCurrent))
} -Action {
    foreach ($dir in @($WorkDir, $DownloadDir, $SourceDir, $StateDir, (Split-Path $InstallerPath), (Join-Path $WorkDir 'logs'))) {
        $null = New-Item -ItemType Directory -Path $dir -Force
    }
    # Downloads, state and the installer are for SYSTEM and administrators only.
    $null = Invoke-Checked -FilePath "$env:SystemRoot\System32\icacls.exe" `
        -Arguments ('"{0}" /inheritance:r /grant:r "*{1}:(OI)(CI)F" "*{2}:(OI)(CI)F" /T /C /Q' -f $WorkDir, $SidSystem, $SidAdministrators)
    Write-TextFile -Path (Join-Path $WorkDir 'downloads.json') -Text $script:ManifestJson
    [System.IO.File]::WriteAllBytes($InstallerPath, $script:InstallerBytes)
    if (-not (Test-ScriptCopyCurrent)) {
        # This run's script (settings embedded, no secrets): what the resume task and a re-run by hand start.
        Copy-Item -LiteralPath $PSCommandPath -Destination $ScriptCopy -Force
    }
}

Add-Step -Name 'Prepare data disk' -Lab '' -Test {
    if ($null -eq $script:DataDisk) { return $true }
    $volume = Get-DataVolume
    if ($null -eq $volume) { return $false }
    return ("$($volume.FileSystemLabel)" -eq $script:DataDisk.Label -and "$($volume.DriveLetter)" -eq $script:DataDisk.DriveLetter -and
            "$($volume.FileSystem)" -eq 'NTFS')
} -Action {
    $disk = Get-DataDisk
    if ("$($disk.PartitionStyle)" -eq 'RAW') {
        # Only a disk with no partition table is ever initialised and formatted: a re-attached data disk keeps
        # its data (docs/bootstrap.md, "Data disk").
        Write-Log ("data disk at LUN {0} is raw: initialising (GPT) and formatting it NTFS '{1}' as {2}:" -f $script:DataDisk.Lun, $script:DataDisk.Label, $script:DataDisk.DriveLetter)
        if ($disk.IsOffline) { Set-Disk -Number $disk.Number -IsOffline $false }
        if ($disk.IsReadOnly) { Set-Disk -Number $disk.Number -IsReadOnly $false }
        Initialize-Disk -Number $disk.Number -PartitionStyle GPT
        $partition = New-Partition -DiskNumber $disk.Number -UseMaximumSize -DriveLetter $script:DataDisk.DriveLetter
        $null = Format-Volume -Partition $partition -FileSystem NTFS -NewFileSystemLabel $script:DataDisk.Label -Confirm:$false
        return
    }
    # An existing disk: bring it online and give its volume the letter; never format it.
    if ($disk.IsOffline) { Set-Disk -Number $disk.Number -IsOffline $false }
    if ($disk.IsReadOnly) { Set-Disk -Number $disk.Number -IsReadOnly $false }
    $volumes = @(Get-Partition -DiskNumber $disk.Number | Get-Volume | Where-Object { "$($_.FileSystemLabel)" -eq $script:DataDisk.Label })
    if ($volumes.Count -ne 1) {
        throw ("the data disk at LUN {0} is not raw and has {1} volume(s) labelled '{2}'; refusing to format a disk holding data. " +
               "Check the disk (docs/bootstrap.md, 'Data disk')") -f $script:DataDisk.Lun, $volumes.Count, $script:DataDisk.Label
    }
    $partition = Get-Partition -DiskNumber $disk.Number | Where-Object { (Get-Volume -Partition $_ -ErrorAction SilentlyContinue).FileSystemLabel -eq $script:DataDisk.Label } | Select-Object -First 1
    if ("$($partition.DriveLetter)" -ne $script:DataDisk.DriveLetter) {
        Write-Log ("data disk at LUN {0}: existing volume '{1}' gets drive letter {2}:" -f $script:DataDisk.Lun, $script:DataDisk.Label, $script:DataDisk.DriveLetter)
        Set-Partition -DiskNumber $disk.Number -PartitionNumber $partition.PartitionNumber -NewDriveLetter $script:DataDisk.DriveLetter
    }
}

Add-Step -Name 'Install IIS roles' -Lab '1' -Test {
    $missing = @(Get-WindowsFeature -Name $IisFeatures | Where-Object { -not $_.Installed })
    return ($missing.Count -eq 0)
} -Action {
    $result = Install-WindowsFeature -Name $IisFeatures
    if (-not $result.Success) { throw "Install-WindowsFeature failed (exit code $($result.ExitCode))" }
    if ("$($result.RestartNeeded)" -eq 'Yes') { Write-Log 'Windows reports a restart is needed for the IIS roles; continuing' -Level WARN }
}

Add-Step -Name 'Install Visual C++ runtime' -Lab '5' -Test {
    foreach ($key in @('HKLM:\SOFTWARE\Microsoft\VisualStudio\14.0\VC\Runtimes\x64',
                       'HKLM:\SOFTWARE\WOW6432Node\Microsoft\VisualStudio\14.0\VC\Runtimes\x64')) {
        $values = Get-ItemProperty -LiteralPath $key -ErrorAction SilentlyContinue
        if ($null -eq $values) { continue }
        $installed = $values.PSObject.Properties['Installed']
        $minor = $values.PSObject.Properties['Minor']
        # PHP vs17 builds need the 2015-2022 runtime; at least the manifest's version (14.44 -> Minor 44).
        $wantedMinor = [int](("$($script:Downloads.vcredist.version)" -split '\.')[1])
        if ($null -ne $installed -and $installed.Value -eq 1 -and $null -ne $minor -and [int]$minor.Value -ge $wantedMinor) { return $true }
    }
    return $false
} -Action {
    $exe = Get-Download 'vcredist'
    # 3010: installed, reboot pending; 1638: a newer runtime is already installed.
    Invoke-Installer -FilePath $exe -Arguments ('/install /quiet /norestart /log "{0}"' -f (Join-Path $WorkDir 'logs\vcredist.log'))
}

Add-Step -Name 'Install URL Rewrite module' -Lab '3' -Test {
    return (Test-Path -LiteralPath "$env:SystemRoot\System32\inetsrv\rewrite.dll")
} -Action {
    Install-Msi -Package (Get-Download 'urlrewrite') -LogName 'urlrewrite-msi.log'
}

Add-Step -Name 'Install PHP' -Lab '4' -Test {
    $expected = $script:Downloads.php.version
    if (-not (Test-Path -LiteralPath $PhpCgi)) { return $false }
    if ((Get-PhpVersion) -ne $expected) { return $false }
    return (((Get-MachinePath) -split ';') -contains $PhpDir)
} -Action {
    $zip = Get-Download 'php'
    $iis = Get-Service -Name W3SVC -ErrorAction SilentlyContinue
    $restart = ($null -ne $iis -and $iis.Status -eq 'Running')
    # php-cgi.exe is locked while IIS runs it.
    if ($restart) { $null = Invoke-Checked -FilePath "$env:SystemRoot\System32\iisreset.exe" -Arguments '/stop' }
    try {
        $null = New-Item -ItemType Directory -Path $PhpDir -Force
        Expand-Archive -LiteralPath $zip -DestinationPath $PhpDir -Force
    } finally {
        if ($restart) { $null = Invoke-Checked -FilePath "$env:SystemRoot\System32\iisreset.exe" -Arguments '/start' }
    }
    Add-MachinePathEntry -Entry $PhpDir
}

Add-Step -Name 'Harden PHP folder' -Lab '' -Test {
    # C:\PHP holds what IIS and the cron task execute: only SYSTEM and administrators may write it.
    $problems = @(Get-HardenedAclProblems -Path $PhpDir -Grants (Get-PhpGrants))
    foreach ($dir in @($PhpTmpDir, $PhpLogDir)) {
        if (-not (Test-Path -LiteralPath $dir -PathType Container)) { $problems += "$dir is missing"; continue }
        $modify = [int][System.Security.AccessControl.FileSystemRights]::Modify
        foreach ($sid in @($SidIisUsers, $SidLocalService)) {
            if (((Get-GrantedRights -Path $dir -Sid $sid) -band $modify) -ne $modify) { $problems += "$dir lacks Modify for $sid" }
        }
    }
    foreach ($problem in $problems) { Write-Log "ACL: $problem" }
    return ($problems.Count -eq 0)
} -Action {
    foreach ($dir in @($PhpTmpDir, $PhpLogDir)) { $null = New-Item -ItemType Directory -Path $dir -Force }
    Set-HardenedAcl -Path $PhpDir -Grants (Get-PhpGrants)
    foreach ($dir in @($PhpTmpDir, $PhpLogDir)) {
        # Uploads, sessions and PHP's error log: the only places under C:\PHP the app pools and cron write.
        $null = Invoke-Checked -FilePath "$env:SystemRoot\System32\icacls.exe" -Arguments ('"{0}" /grant "*{1}:(OI)(CI)M" "*{2}:(OI)(CI)M" /Q' -f $dir, $SidIisUsers, $SidLocalService)
    }
}

Add-Step -Name 'Write php.ini' -Lab '10' -Test {
    return ((Read-TextFile (Join-Path $PhpDir 'php.ini')) -ceq (Get-DesiredPhpIni))
} -Action {
    Write-TextFile -Path (Join-Path $PhpDir 'php.ini') -Text (Get-DesiredPhpIni)
    # php-cgi.exe reads php.ini once; recycling the pool starts new ones instead of waiting for instanceMaxRequests.
    Import-IisModule
    if (Test-Path "IIS:\AppPools\$AppPoolName") {
        Write-Log "recycling app pool $AppPoolName so PHP reads the new php.ini"
        Restart-WebAppPool -Name $AppPoolName
    }
}

Add-Step -Name 'Check PHP extensions' -Lab '10' -Test {
    $result = Invoke-Process -FilePath $PhpExe -Arguments '-m' -WorkingDirectory $PhpDir -TimeoutSeconds 60
    $loaded = @($result.Output -split "`r?`n" | ForEach-Object { $_.Trim().ToLowerInvariant() })
    $wanted = @($PhpExtensions) + @('zend opcache')
    if (Test-ApcuWanted) { $wanted += 'apcu' }
    foreach ($name in $PhpOptionalExtensions) {
        if (Test-Path -LiteralPath (Join-Path $PhpDir "ext\php_$name.dll")) { $wanted += $name }
        else { Write-Log "PHP extension '$name' is not shipped with this PHP build; osTicket will run without it" -Level WARN }
    }
    $script:MissingPhpExtensions = @($wanted | Where-Object { $loaded -notcontains $_ })
    return ($result.ExitCode -eq 0 -and $script:MissingPhpExtensions.Count -eq 0)
} -Action {
    throw ('PHP does not load: ' + ($script:MissingPhpExtensions -join ', ') + ' (php -m; see C:\PHP\logs\php_errors.log)')
}

Add-Step -Name 'Register PHP FastCGI handler' -Lab '2,7' -Test {
    Import-IisModule
    $app = Get-WebConfiguration -PSPath 'MACHINE/WEBROOT/APPHOST' -Filter "system.webServer/fastCgi/application[@fullPath='$PhpCgi']"
    $handler = Get-WebConfiguration -PSPath 'MACHINE/WEBROOT/APPHOST' -Filter "system.webServer/handlers/add[@name='$PhpHandlerName']"
    if ($null -eq $app -or $null -eq $handler) { return $false }
    # verb "*": osTicket sends DELETE (and PATCH/PUT from some plugins) to scp/ajax.php; a narrower list is repaired.
    return ((Get-ConfigValue $handler.scriptProcessor) -eq $PhpCgi -and (Get-ConfigValue $handler.path) -eq '*.php' -and
            (Get-ConfigValue $handler.verb) -eq $PhpHandlerVerb)
} -Action {
    Import-IisModule
    $pspath = 'MACHINE/WEBROOT/APPHOST'
    $appFilter = "system.webServer/fastCgi/application[@fullPath='$PhpCgi']"
    if ($null -eq (Get-WebConfiguration -PSPath $pspath -Filter $appFilter)) {
        Add-WebConfiguration -PSPath $pspath -Filter 'system.webServer/fastCgi' -Value @{
            fullPath = $PhpCgi; instanceMaxRequests = 10000; activityTimeout = 600; requestTimeout = 600
        }
        Add-WebConfiguration -PSPath $pspath -Filter "$appFilter/environmentVariables" -Value @{ name = 'PHP_FCGI_MAX_REQUESTS'; value = '10000' }
        Add-WebConfiguration -PSPath $pspath -Filter "$appFilter/environmentVariables" -Value @{ name = 'PHPRC'; value = $PhpDir }
    }
    $handlerFilter = "system.webServer/handlers/add[@name='$PhpHandlerName']"
    if ($null -ne (Get-WebConfiguration -PSPath $pspath -Filter $handlerFilter)) {
        Clear-WebConfiguration -PSPath $pspath -Filter $handlerFilter
    }
    Add-WebConfiguration -PSPath $pspath -Filter 'system.webServer/handlers' -AtIndex 0 -Value @{
        name = $PhpHandlerName; path = '*.php'; verb = $PhpHandlerVerb; modules = 'FastCgiModule'
        scriptProcessor = $PhpCgi; resourceType = 'Either'; requireAccess = 'Script'
    }
}

Add-Step -Name 'Install MariaDB server' -Lab '6' -Test {
    $service = Get-Service -Name $MariaDbService -ErrorAction SilentlyContinue
    if ($null -eq $service -or -not (Test-Path -LiteralPath $MysqldExe) -or -not (Test-Path -LiteralPath $MysqlExe)) { return $false }
    $version = Invoke-Process -FilePath $MysqldExe -Arguments '--version' -TimeoutSeconds 60
    if ($version.Output -notmatch [regex]::Escape($script:Downloads.mariadb.version)) { return $false }
    if ($service.StartType -ne 'Automatic') { return $false }
    # The instance this run means: settings.dataDisk puts its data directory (and my.ini) on the data disk.
    if (-not (Test-Path -LiteralPath $MariaDbIni -PathType Leaf)) { return $false }
    return ($service.Status -eq 'Running')
} -Action {
    $msi = Get-Download 'mariadb'
    $existing = Test-ExistingDataDirectory
    if ($existing) {
        # A replaced VM with the data disk re-attached: keep the data, the accounts and their passwords (Key Vault
        # still holds them); install the programs only and register the service against the old directory.
        Write-Log "MariaDB: existing data directory $MariaDbData recognised; installing the server without a new instance"
        $features = $MariaDbFeaturesWithoutInstance
    } else {
        $features = $MariaDbFeatures
    }
    # No PASSWORD property: it would sit on msiexec's command line and in its log. The next step sets it.
    # No ALLOWREMOTEROOTACCESS: any value turns remote root on. ADDLOCAL: the server and its client tools only
    # (feature names from MariaDB's MSI documentation), so HeidiSQL and the development files stay out.
    Install-Msi -Package $msi -LogName 'mariadb-msi.log' `
        -Properties ('INSTALLDIR="{0}" DATADIR="{1}" SERVICENAME={2} PORT={3} UTF8=1 ADDLOCAL={4}' -f $MariaDbDir, $MariaDbData, $MariaDbService, $MariaDbPort, $features)
    if ($existing -and $null -eq (Get-Service -Name $MariaDbService -ErrorAction SilentlyContinue)) {
        # mysqld --install <name> --defaults-file=<my.ini> registers the Windows service (MariaDB's "Running
        # MariaDB on Windows as a service"); then a virtual account, as the MSI's instance runs under.
        $null = Invoke-Checked -FilePath $MysqldExe -Arguments ('--install {0} "--defaults-file={1}"' -f $MariaDbService, $MariaDbIni)
        $null = Invoke-Checked -FilePath "$env:SystemRoot\System32\sc.exe" -Arguments ('config {0} obj= "NT SERVICE\{0}"' -f $MariaDbService)
        Set-HardenedAcl -Path $MariaDbData -Grants @{ (Get-AccountSid "NT SERVICE\$MariaDbService") = 'M' }
    }
    Set-Service -Name $MariaDbService -StartupType Automatic
    if ((Get-Service -Name $MariaDbService).Status -ne 'Running') { Start-Service -Name $MariaDbService }
    Wait-MariaDb -NoPassword:(-not $existing)
}

Add-Step -Name 'Harden MariaDB folders' -Lab '' -Test {
    # The data folder holds the databases and the TLS private key: the service account, SYSTEM and administrators only.
    $serviceSid = Get-ServiceAccountSid -ServiceName $MariaDbService
    $problems = @(Get-HardenedAclProblems -Path $MariaDbDir -Grants (Get-ExtraGrants @{ $serviceSid = 'RX' }))
    $problems += @(Get-HardenedAclProblems -Path $MariaDbData -Grants (Get-ExtraGrants @{ $serviceSid = 'M' }))
    foreach ($problem in $problems) { Write-Log "ACL: $problem" }
    return ($problems.Count -eq 0)
} -Action {
    $serviceSid = Get-ServiceAccountSid -ServiceName $MariaDbService
    Set-HardenedAcl -Path $MariaDbDir -Grants (Get-ExtraGrants @{ $serviceSid = 'RX' })
    Set-HardenedAcl -Path $MariaDbData -Grants (Get-ExtraGrants @{ $serviceSid = 'M' })
}

Add-Step -Name 'Secure MariaDB root account' -Lab '6' -Test {
    if (-not (Test-MariaDbLogin)) { return $false }
    $loose = Invoke-MariaDbSql -Sql "SELECT COUNT(*) FROM mysql.user WHERE User = '' OR (User = 'root' AND Host NOT IN ('localhost', '127.0.0.1', '::1'));"
    $testDb = Invoke-MariaDbSql -Sql "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'test';"
    return ($loose -eq '0' -and $testDb -eq '0')
} -Action {
    $rootPassword = ConvertTo-SqlString $DbRootPassword
    $sql = @"
ALTER USER 'root'@'localhost' IDENTIFIED BY $rootPassword;
ALTER USER IF EXISTS 'root'@'127.0.0.1' IDENTIFIED BY $rootPassword;
ALTER USER IF EXISTS 'root'@'::1' IDENTIFIED BY $rootPassword;
FLUSH PRIVILEGES;
"@
    if (Test-MariaDbLogin) {
        Write-Log 'root already has the configured password; removing anonymous and remote root accounts'
    } elseif (Test-MariaDbLogin -NoPassword) {
        Write-Log 'root has no password yet; setting it'
        $null = Invoke-MariaDbSql -Sql $sql -NoPassword
    } else {
        throw 'MariaDB refuses root with both the configured password and an empty one; reset it by hand (docs/bootstrap.md)'
    }
    $accounts = Invoke-MariaDbSql -Sql "SELECT CONCAT(QUOTE(User), '@', QUOTE(Host)) FROM mysql.user WHERE User = '' OR (User = 'root' AND Host NOT IN ('localhost', '127.0.0.1', '::1'));"
    foreach ($account in @($accounts -split "`r?`n" | Where-Object { $_ })) {
        Write-Log "dropping MariaDB account $account"
        $null = Invoke-MariaDbSql -Sql "DROP USER $account;"
    }
    $null = Invoke-MariaDbSql -Sql 'DROP DATABASE IF EXISTS test; FLUSH PRIVILEGES;'
}

Add-Step -Name 'Configure MariaDB network and TLS' -Lab '6' -Test {
    $text = Read-TextFile $MariaDbIni
    if ($null -eq $text -or -not $text.Contains((Get-MariaDbBlock))) { return $false }
    if ($script:DbAccessEnabled) {
        if (-not (Test-Path -LiteralPath $DbTlsCert) -or -not (Test-Path -LiteralPath $DbTlsKey)) { return $false }
        if ((Invoke-MariaDbSql -Sql 'SELECT @@have_ssl;') -ne 'YES') { return $false }
    }
    return ((Get-Service -Name $MariaDbService).Status -eq 'Running')
} -Action {
    if ($script:DbAccessEnabled -and -not ((Test-Path -LiteralPath $DbTlsCert) -and (Test-Path -LiteralPath $DbTlsKey))) {
        Write-Log "creating a self-signed TLS certificate for MariaDB (CN=$SiteHostName)"
        $php = @'
<?php
$cfg = array('config' => getenv('OSTOPS_OPENSSL_CNF'), 'digest_alg' => 'sha256',
             'private_key_bits' => 2048, 'private_key_type' => OPENSSL_KEYTYPE_RSA);
$key = openssl_pkey_new($cfg);
$csr = openssl_csr_new(array('commonName' => getenv('OSTOPS_CN')), $key, $cfg);
$crt = openssl_csr_sign($csr, null, $key, 825, $cfg, random_int(1, PHP_INT_MAX));
if (!$key || !$csr || !$crt || !openssl_x509_export($crt, $crtPem) || !openssl_pkey_export($key, $keyPem, null, $cfg)) {
    fwrite(STDERR, openssl_error_string() . "\n");
    exit(1);
}
file_put_contents(getenv('OSTOPS_KEY'), $keyPem);
file_put_contents(getenv('OSTOPS_CERT'), $crtPem);
echo "ok\n";
'@
        $null = Invoke-Checked -FilePath $PhpExe -InputText $php -WorkingDirectory $PhpDir -Environment @{
            OSTOPS_OPENSSL_CNF = (Join-Path $PhpDir 'extras\ssl\openssl.cnf'); OSTOPS_CN = $SiteHostName
            OSTOPS_KEY = $DbTlsKey; OSTOPS_CERT = $DbTlsCert
        }
    }
    Write-TextFile -Path $MariaDbIni -Text ((Get-MariaDbIniWithoutBlock) + "`r`n`r`n" + (Get-MariaDbBlock) + "`r`n")
    Restart-Service -Name $MariaDbService
    Wait-MariaDb
}

Add-Step -Name 'Create osTicket database and user' -Lab '13' -Test {
    $schemas = Invoke-MariaDbSql -Sql "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '$DbName';"
    $users = Invoke-MariaDbSql -Sql "SELECT COUNT(*) FROM mysql.user WHERE User = '$DbUser' AND Host IN ('localhost', '127.0.0.1');"
    if ($schemas -ne '1' -or $users -ne '2') { return $false }
    return (Test-MariaDbLogin -Credential (Get-DbCredential -Account 'app'))
} -Action {
    $appPassword = ConvertTo-SqlString $DbAppPassword
    # The same database, users and grants as the local default (automation/local/database.py).
    $null = Invoke-MariaDbSql -Sql @"
CREATE DATABASE IF NOT EXISTS ``$DbName`` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE USER IF NOT EXISTS '$DbUser'@'127.0.0.1' IDENTIFIED BY $appPassword;
CREATE USER IF NOT EXISTS '$DbUser'@'localhost' IDENTIFIED BY $appPassword;
ALTER USER '$DbUser'@'127.0.0.1' IDENTIFIED BY $appPassword;
ALTER USER '$DbUser'@'localhost' IDENTIFIED BY $appPassword;
GRANT $DbAppPrivileges ON ``$DbName``.* TO '$DbUser'@'127.0.0.1';
GRANT $DbAppPrivileges ON ``$DbName``.* TO '$DbUser'@'localhost';
FLUSH PRIVILEGES;
"@
}

Add-Step -Name 'Configure automation database access' -Lab '' -Test {
    # The MariaDB MSI opens the firewall for mysqld.exe to any address (win/packaging/CPackWixConfig.cmake,
    # Scope='any'): no inbound allow for mysqld or port 3306 may exist besides ours.
    $foreign = @(Get-ForeignDatabaseFirewallRules)
    foreach ($rule in $foreign) { Write-Log "firewall: inbound rule '$($rule.DisplayName)' ($($rule.Name)) allows MariaDB" -Level WARN }
    if ($foreign.Count -gt 0) { return $false }
    $hosts = @((Invoke-MariaDbSql -Sql "SELECT CONCAT(Host, ' ', ssl_type) FROM mysql.user WHERE User = '$DbUser' AND Host NOT IN ('localhost', '127.0.0.1', '::1');") -split "`r?`n" | Where-Object { $_ })
    $rule = Get-NetFirewallRule -Name $DbFirewallRule -ErrorAction SilentlyContinue
    if (-not $script:DbAccessEnabled) { return ($hosts.Count -eq 0 -and $null -eq $rule) }
    if ($hosts.Count -ne 1 -or $hosts[0] -ne "$($script:AutomationIp) ANY" -or $null -eq $rule) { return $false }
    $remote = @(($rule | Get-NetFirewallAddressFilter).RemoteAddress)
    return ($remote.Count -eq 1 -and $remote[0] -eq $script:AutomationIp)
} -Action {
    $stale = Invoke-MariaDbSql -Sql "SELECT CONCAT(QUOTE(User), '@', QUOTE(Host)) FROM mysql.user WHERE User = '$DbUser' AND Host NOT IN ('localhost', '127.0.0.1', '::1');"
    foreach ($account in @($stale -split "`r?`n" | Where-Object { $_ })) {
        Write-Log "dropping MariaDB account $account"
        $null = Invoke-MariaDbSql -Sql "DROP USER $account;"
    }
    foreach ($rule in @(Get-ForeignDatabaseFirewallRules)) {
        Write-Log "firewall: removing inbound rule '$($rule.DisplayName)' ($($rule.Name)), which allows MariaDB"
        Remove-NetFirewallRule -Name $rule.Name
    }
    Remove-NetFirewallRule -Name $DbFirewallRule -ErrorAction SilentlyContinue
    if ($script:DbAccessEnabled) {
        $appPassword = ConvertTo-SqlString $DbAppPassword
        $account = "'$DbUser'@'$($script:AutomationIp)'"
        # TLS required, one source address, rows only (no DDL): what seeding and verification need.
        $null = Invoke-MariaDbSql -Sql @"
CREATE USER $account IDENTIFIED BY $appPassword REQUIRE SSL;
GRANT $DbAutomationPrivileges ON ``$DbName``.* TO $account;
FLUSH PRIVILEGES;
"@
        $null = New-NetFirewallRule -Name $DbFirewallRule -DisplayName 'ostops: MariaDB from the automation source only' `
            -Direction Inbound -Protocol TCP -LocalPort $MariaDbPort -RemoteAddress $script:AutomationIp -Action Allow -Profile Any
    }
}

Add-Step -Name 'Deploy osTicket files' -Lab '9' -Test {
    $marker = Read-TextFile (Join-Path $StateDir 'osticket-version.txt')
    return ($null -ne $marker -and $marker.Trim() -eq $script:Downloads.osticket.version -and (Test-Path -LiteralPath (Join-Path $Webroot 'main.inc.php')))
} -Action {
    $zip = Get-Download 'osticket'
    $extracted = Join-Path $SourceDir ('osTicket-' + $script:Downloads.osticket.version)
    if (Test-Path -LiteralPath $extracted) { Remove-Item -LiteralPath $extracted -Recurse -Force }
    Expand-Archive -LiteralPath $zip -DestinationPath $extracted -Force
    $upload = Join-Path $extracted 'upload'
    if (-not (Test-Path -LiteralPath (Join-Path $upload 'main.inc.php'))) { throw "$zip has no upload\main.inc.php; is it an osTicket release?" }
    $null = New-Item -ItemType Directory -Path $Webroot -Force
    # Never overwrite the installed configuration; once installed, setup\ stays gone.
    $exclude = '/XF ost-config.php'
    if (Get-OsTicketInstalled) { $exclude += ' /XD "{0}"' -f (Join-Path $upload 'setup') }
    # robocopy: exit codes below 8 mean success.
    $null = Invoke-Checked -FilePath "$env:SystemRoot\System32\robocopy.exe" `
        -Arguments ('"{0}" "{1}" /E /R:2 /W:2 /NP /NFL /NDL {2}' -f $upload, $Webroot, $exclude) -SuccessCodes @(0, 1, 2, 3, 4, 5, 6, 7)
    Write-TextFile -Path (Join-Path $StateDir 'osticket-version.txt') -Text $script:Downloads.osticket.version
}

Add-Step -Name 'Deploy web.config' -Lab '9' -Test {
    return ((Read-TextFile (Join-Path $Webroot 'web.config')) -ceq $WebConfig)
} -Action {
    Write-TextFile -Path (Join-Path $Webroot 'web.config') -Text $WebConfig
}

Add-Step -Name 'Create IIS site' -Lab '9' -Test {
    Import-IisModule
    if (-not (Test-Path "IIS:\AppPools\$AppPoolName") -or -not (Test-Path "IIS:\Sites\$SiteName")) { return $false }
    $pool = Get-Item "IIS:\AppPools\$AppPoolName"
    if ($pool.managedRuntimeVersion -ne '' -or $pool.processModel.identityType -ne 'ApplicationPoolIdentity') { return $false }
    $site = Get-Item "IIS:\Sites\$SiteName"
    if ($site.physicalPath -ne $Webroot -or $site.applicationPool -ne $AppPoolName -or $site.State -ne 'Started') { return $false }
    $http = @(Get-WebBinding -Name $SiteName -Protocol http | Where-Object { $_.bindingInformation -eq '*:80:' })
    if ($http.Count -ne 1) { return $false }
    $anonymous = Get-ConfigValue (Get-WebConfigurationProperty -PSPath 'MACHINE/WEBROOT/APPHOST' -Location $SiteName `
        -Filter 'system.webServer/security/authentication/anonymousAuthentication' -Name userName)
    if ("$anonymous" -ne '') { return $false }
    if (Test-Path 'IIS:\Sites\Default Web Site') {
        if ((Get-Item 'IIS:\Sites\Default Web Site').serverAutoStart) { return $false }
    }
    return $true
} -Action {
    Import-IisModule
    if (Test-Path 'IIS:\Sites\Default Web Site') {
        # It holds *:80; keep it, stopped.
        Stop-Website -Name 'Default Web Site'
        Set-ItemProperty 'IIS:\Sites\Default Web Site' -Name serverAutoStart -Value $false
    }
    if (-not (Test-Path "IIS:\AppPools\$AppPoolName")) { $null = New-WebAppPool -Name $AppPoolName }
    Set-ItemProperty "IIS:\AppPools\$AppPoolName" -Name managedRuntimeVersion -Value ''
    Set-ItemProperty "IIS:\AppPools\$AppPoolName" -Name processModel.identityType -Value 'ApplicationPoolIdentity'
    if (-not (Test-Path "IIS:\Sites\$SiteName")) {
        $null = New-Website -Name $SiteName -PhysicalPath $Webroot -ApplicationPool $AppPoolName -IPAddress '*' -Port 80
    }
    Set-ItemProperty "IIS:\Sites\$SiteName" -Name physicalPath -Value $Webroot
    Set-ItemProperty "IIS:\Sites\$SiteName" -Name applicationPool -Value $AppPoolName
    if (@(Get-WebBinding -Name $SiteName -Protocol http | Where-Object { $_.bindingInformation -eq '*:80:' }).Count -eq 0) {
        New-WebBinding -Name $SiteName -Protocol http -IPAddress '*' -Port 80
    }
    # Anonymous requests run as the app pool identity, so its ACLs are the only ones that matter.
    Set-WebConfigurationProperty -PSPath 'MACHINE/WEBROOT/APPHOST' -Location $SiteName `
        -Filter 'system.webServer/security/authentication/anonymousAuthentication' -Name userName -Value ''
    Start-Website -Name $SiteName
}

Add-Step -Name 'Prepare ost-config.php' -Lab '11,12' -Test {
    return (Test-Path -LiteralPath $OstConfig -PathType Leaf)
} -Action {
    # Only the installer (run as SYSTEM in the next step) writes it; the app pool never gets write access.
    Copy-Item -LiteralPath (Join-Path $Webroot 'include\ost-sampleconfig.php') -Destination $OstConfig
}

Add-Step -Name 'Run osTicket installer' -Lab '14' -Test {
    return (Get-OsTicketInstalled)
} -Action {
    [System.IO.File]::WriteAllBytes($InstallerPath, $script:InstallerBytes)
    $helpdeskEmail = Get-HelpdeskEmail -HostName $SiteHostName -AdminAddress $AdminEmail
    # Secrets travel on php's stdin only (automation/local/installer.php); nothing is written to disk.
    $config = [ordered]@{
        webroot = $Webroot; db_host = '127.0.0.1'; db_port = $MariaDbPort; db_name = $DbName; db_user = $DbUser
        db_pass = $DbAppPassword; table_prefix = $TablePrefix; helpdesk_name = $HelpdeskName
        helpdesk_email = $helpdeskEmail; admin_firstname = 'osTicket'; admin_lastname = 'Admin'
        admin_email = $AdminEmail; admin_username = $AdminUsername; admin_password = $AdminPassword
        helpdesk_url = "https://$SiteHostName/"; api_key = $ApiKey; api_key_ip = $script:AutomationIp
    }
    if ($null -ne $script:SmtpRelay) {
        # settings.smtpRelay: osTicket's outgoing mail goes through the relay (basic authentication; TLS by port).
        $config['smtp_host'] = $script:SmtpRelay.Host; $config['smtp_port'] = $script:SmtpRelay.Port
        if ($script:SmtpRelay.Username) { $config['smtp_username'] = $script:SmtpRelay.Username; $config['smtp_password'] = $script:SmtpPassword }
    }
    $result = Invoke-Process -FilePath $PhpExe -Arguments ('"{0}"' -f $InstallerPath) -InputText ($config | ConvertTo-Json -Compress) `
        -WorkingDirectory $Webroot -TimeoutSeconds 600
    $config = $null
    $last = @($result.Output -split "`r?`n" | Where-Object { $_.Trim() }) | Select-Object -Last 1
    $answer = $null
    try { $answer = $last | ConvertFrom-Json } catch { $answer = $null }
    if ($null -eq $answer -or -not $answer.ok) {
        $detail = if ($null -ne $answer) { ($answer | ConvertTo-Json -Compress) } else { ($result.Output + ' ' + $result.Error).Trim() }
        throw ('osTicket installer failed (exit {0}): {1}' -f $result.ExitCode, (Protect-Text $detail))
    }
    Write-Log ('osTicket installer: ' + (Protect-Text $last))
}

Add-Step -Name 'Create API key for automation source' -Lab '' -Test {
    $key = ConvertTo-SqlString $ApiKey
    $count = Invoke-MariaDbSql -Sql ("SELECT COUNT(*) FROM ``{0}``.``{1}api_key`` WHERE apikey = {2} AND ipaddr = '{3}' AND isactive = 1 AND can_create_tickets = 1 AND can_exec_cron = 1;" -f $DbName, $TablePrefix, $key, $script:AutomationIp)
    return ($count -eq '1')
} -Action {
    $key = ConvertTo-SqlString $ApiKey
    # The same row the installer writes; here so that a changed AutomationSourceIp or key is applied on re-run.
    $null = Invoke-MariaDbSql -Sql ("INSERT INTO ``{0}``.``{1}api_key`` SET isactive = 1, can_create_tickets = 1, can_exec_cron = 1, ipaddr = '{3}', apikey = {2}, notes = 'ostops automation key', created = NOW(), updated = NOW() ON DUPLICATE KEY UPDATE isactive = 1, can_create_tickets = 1, can_exec_cron = 1, ipaddr = VALUES(ipaddr), updated = NOW();" -f $DbName, $TablePrefix, $key, $script:AutomationIp)
}

Add-Step -Name 'Remove setup directory' -Lab '15' -Test {
    return (-not (Test-Path -LiteralPath (Join-Path $Webroot 'setup')))
} -Action {
    if (-not (Get-OsTicketInstalled)) { throw 'osTicket is not installed; setup\ is still needed' }
    Remove-Item -LiteralPath (Join-Path $Webroot 'setup') -Recurse -Force
}

Add-Step -Name 'Set NTFS permissions' -Lab '12' -Test {
    $poolSid = Get-AppPoolSid
    if (-not (Test-ReadOnlyForAppPool -Path $Webroot -PoolSid $poolSid)) { return $false }
    foreach ($sample in @('index.php', 'include\main.inc.php', 'scp\index.php', 'api\http.php', 'web.config')) {
        $path = Join-Path $Webroot $sample
        if ((Test-Path -LiteralPath $path) -and -not (Test-ReadOnlyForAppPool -Path $path -PoolSid $poolSid)) { return $false }
    }
    return $true
} -Action {
    $poolSid = Get-AppPoolSid
    # The code is read-only to the app pool; only SYSTEM and administrators may change it.
    $null = Invoke-Checked -FilePath "$env:SystemRoot\System32\icacls.exe" `
        -Arguments ('"{0}" /inheritance:r /grant:r "*{1}:(OI)(CI)F" "*{2}:(OI)(CI)F" "*{3}:(OI)(CI)RX" "*{4}:(OI)(CI)RX" /Q' -f $Webroot, $SidSystem, $SidAdministrators, $poolSid, $SidLocalService)
    $null = Invoke-Checked -FilePath "$env:SystemRoot\System32\icacls.exe" -Arguments ('"{0}\*" /reset /T /C /Q' -f $Webroot)
}

Add-Step -Name 'Make ost-config.php read-only' -Lab '16' -Test {
    if (-not (Test-Path -LiteralPath $OstConfig)) { return $false }
    if (-not (Get-Item -LiteralPath $OstConfig).IsReadOnly) { return $false }
    $poolSid = Get-AppPoolSid
    if (-not (Test-ReadOnlyForAppPool -Path $OstConfig -PoolSid $poolSid)) { return $false }
    $acl = Get-Acl -LiteralPath $OstConfig
    return $acl.AreAccessRulesProtected
} -Action {
    if (-not (Get-OsTicketInstalled)) { throw 'osTicket is not installed; ost-config.php must stay writable for the installer' }
    $poolSid = Get-AppPoolSid
    $null = Invoke-Checked -FilePath "$env:SystemRoot\System32\icacls.exe" `
        -Arguments ('"{0}" /inheritance:r /grant:r "*{1}:F" "*{2}:F" "*{3}:R" "*{4}:R" /Q' -f $OstConfig, $SidSystem, $SidAdministrators, $poolSid, $SidLocalService)
    Set-ItemProperty -LiteralPath $OstConfig -Name IsReadOnly -Value $true
}

Add-Step -Name 'Import TLS certificate' -Lab '' -Test {
    if (-not $script:TlsEnabled) { return $true }
    $script:TlsCertificate = Get-TlsCertificateFromSecret
    $installed = Get-Item -LiteralPath ('Cert:\LocalMachine\My\' + $script:TlsCertificate.Thumbprint) -ErrorAction SilentlyContinue
    if ($null -eq $installed -or -not $installed.HasPrivateKey) { return $false }
    foreach ($cert in @(Get-PfxIntermediates -Collection (Get-PfxCollection))) {
        if (-not (Test-Path -LiteralPath ('Cert:\LocalMachine\CA\' + $cert.Thumbprint))) { return $false }
    }
    return $true
} -Action {
    $bytes = [Convert]::FromBase64String($script:TlsPfxBase64)
    $flags = [System.Security.Cryptography.X509Certificates.X509KeyStorageFlags]'MachineKeySet, PersistKeySet'
    $collection = New-Object System.Security.Cryptography.X509Certificates.X509Certificate2Collection
    # Non-exportable (no Exportable flag): the key can be used by IIS but not read back out.
    $collection.Import($bytes, $script:TlsPfxPassword, $flags)
    $store = New-Object System.Security.Cryptography.X509Certificates.X509Store('My', 'LocalMachine')
    $store.Open('ReadWrite')
    try {
        foreach ($cert in $collection) { if ($cert.HasPrivateKey) { $store.Add($cert) } }
    } finally { $store.Close() }
    # The chain the PFX carries: certificates without a key that are not self-signed go to the Intermediate
    # Certification Authorities store (LocalMachine\CA), so Schannel can send them to clients. A root the PFX
    # carries is never trusted from here (no Root store).
    $intermediates = New-Object System.Security.Cryptography.X509Certificates.X509Store('CA', 'LocalMachine')
    $intermediates.Open('ReadWrite')
    try {
        foreach ($cert in @(Get-PfxIntermediates -Collection $collection)) {
            Write-Log "importing intermediate certificate $($cert.Subject) ($($cert.Thumbprint)) into LocalMachine\CA"
            $intermediates.Add($cert)
        }
    } finally { $intermediates.Close() }
}

Add-Step -Name 'Bind HTTPS certificate' -Lab '' -Test {
    if (-not $script:TlsEnabled) { return $true }
    Import-IisModule
    $https = @(Get-WebBinding -Name $SiteName -Protocol https | Where-Object { $_.bindingInformation -eq '*:443:' })
    if ($https.Count -ne 1) { return $false }
    $ssl = Get-Item 'IIS:\SslBindings\0.0.0.0!443' -ErrorAction SilentlyContinue
    return ($null -ne $ssl -and $ssl.Thumbprint -eq $script:TlsCertificate.Thumbprint)
} -Action {
    Import-IisModule
    if (@(Get-WebBinding -Name $SiteName -Protocol https | Where-Object { $_.bindingInformation -eq '*:443:' }).Count -eq 0) {
        New-WebBinding -Name $SiteName -Protocol https -IPAddress '*' -Port 443
    }
    if (Test-Path 'IIS:\SslBindings\0.0.0.0!443') { Remove-Item -Path 'IIS:\SslBindings\0.0.0.0!443' -Force }
    $binding = Get-WebBinding -Name $SiteName -Protocol https | Where-Object { $_.bindingInformation -eq '*:443:' } | Select-Object -First 1
    $binding.AddSslCertificate($script:TlsCertificate.Thumbprint, 'My')
}

Add-Step -Name 'Disable TLS 1.0 and 1.1' -Lab '' -Test {
    # SCHANNEL registry settings (learn.microsoft.com/windows-server/security/tls/tls-registry-settings):
    # Enabled=0 and DisabledByDefault=1 under Protocols\<version>\Server and \Client.
    foreach ($key in (Get-SchannelKeys)) {
        $values = Get-ItemProperty -LiteralPath $key -ErrorAction SilentlyContinue
        if ($null -eq $values -or $null -eq $values.PSObject.Properties['Enabled'] -or $values.Enabled -ne 0) { return $false }
        if ($null -eq $values.PSObject.Properties['DisabledByDefault'] -or $values.DisabledByDefault -ne 1) { return $false }
    }
    return $true
} -Action {
    foreach ($key in (Get-SchannelKeys)) {
        $null = New-Item -Path $key -Force
        $null = New-ItemProperty -LiteralPath $key -Name 'Enabled' -Value 0 -PropertyType DWord -Force
        $null = New-ItemProperty -LiteralPath $key -Name 'DisabledByDefault' -Value 1 -PropertyType DWord -Force
    }
    # SCHANNEL reads these at boot ("TLS registry settings": changes take effect after a restart). The time of
    # the change is kept; 'Confirm TLS 1.0 and 1.1 refused' restarts Windows when the last boot is older.
    Write-TextFile -Path $SchannelStamp -Text ([DateTime]::UtcNow.ToString('o'))
}

Add-Step -Name 'Open Windows Firewall' -Lab '' -Test {
    $rule = Get-NetFirewallRule -Name $HttpFirewallRule -ErrorAction SilentlyContinue
    if ($null -eq $rule -or "$($rule.Enabled)" -ne 'True' -or "$($rule.Action)" -ne 'Allow') { return $false }
    $ports = @(($rule | Get-NetFirewallPortFilter).LocalPort | ForEach-Object { "$_" } | Sort-Object)
    return (($ports -join ',') -eq '443,80')
} -Action {
    Remove-NetFirewallRule -Name $HttpFirewallRule -ErrorAction SilentlyContinue
    $null = New-NetFirewallRule -Name $HttpFirewallRule -DisplayName 'ostops: osTicket HTTP and HTTPS' `
        -Direction Inbound -Protocol TCP -LocalPort @(80, 443) -Action Allow -Profile Any
}

Add-Step -Name 'Schedule osTicket cron' -Lab '' -Test {
    $task = Get-ScheduledTask -TaskName $CronTaskName -TaskPath $CronTaskPath -ErrorAction SilentlyContinue
    if ($null -eq $task) { return $false }
    $action = @($task.Actions)[0]
    $trigger = @($task.Triggers)[0]
    return ($action.Execute -eq $PhpExe -and $action.Arguments -eq $CronArguments -and $task.Principal.UserId -match 'LOCAL ?SERVICE$' -and
            $trigger.Repetition.Interval -eq 'PT5M' -and "$($task.State)" -ne 'Disabled')
} -Action {
    $action = New-ScheduledTaskAction -Execute $PhpExe -Argument $CronArguments -WorkingDirectory (Join-Path $Webroot 'api')
    $trigger = New-ScheduledTaskTrigger -Once -At (Get-Date).Date -RepetitionInterval (New-TimeSpan -Minutes 5)
    # LOCAL SERVICE: a built-in account with minimal rights and no password to manage; it may read the code,
    # ost-config.php and run PHP, and write nothing but PHP's tmp and logs folders (never SYSTEM: issue 12).
    $principal = New-ScheduledTaskPrincipal -UserId 'NT AUTHORITY\LOCAL SERVICE' -LogonType ServiceAccount -RunLevel Limited
    $settings = New-ScheduledTaskSettingsSet -MultipleInstances IgnoreNew -ExecutionTimeLimit (New-TimeSpan -Minutes 10) -StartWhenAvailable
    $null = Register-ScheduledTask -TaskName $CronTaskName -TaskPath $CronTaskPath -Action $action -Trigger $trigger `
        -Principal $principal -Settings $settings -Description 'osTicket api/cron.php every 5 minutes (ostops bootstrap)' -Force
}

Add-Step -Name 'Configure HSTS' -Lab '' -Test {
    # Strict-Transport-Security at the site (applicationHost.config, not web.config): settings.hsts.maxAgeSeconds,
    # none at 0 (a self-signed certificate must not be pinned in browsers; RFC 6797 section 12.1).
    if (-not $script:TlsEnabled) { return $true }
    return ((Get-HstsHeaderValue) -ceq (Get-DesiredHstsValue))
} -Action {
    Import-IisModule
    $filter = 'system.webServer/httpProtocol/customHeaders'
    $pspath = 'MACHINE/WEBROOT/APPHOST'
    if ($null -ne (Get-HstsHeaderValue)) {
        Remove-WebConfigurationProperty -PSPath $pspath -Location $SiteName -Filter $filter -Name '.' -AtElement @{ name = $HstsHeader }
    }
    $value = Get-DesiredHstsValue
    if ($null -ne $value) {
        Add-WebConfigurationProperty -PSPath $pspath -Location $SiteName -Filter $filter -Name '.' -Value @{ name = $HstsHeader; value = $value }
    }
}

Add-Step -Name 'Reload IIS and check osTicket answers' -Lab '8,17' -Test {
    $checks = [ordered]@{
        'http://127.0.0.1/scp/login.php'            = @(200)
        'http://127.0.0.1/'                         = @(200)
        'http://127.0.0.1/api/tickets.json'         = @(400, 401, 403, 405)   # osTicket's API answered, not IIS
        'http://127.0.0.1/include/ost-config.php'   = @(404)
        'http://127.0.0.1/setup/'                   = @(404)
    }
    $ok = $true
    foreach ($url in $checks.Keys) {
        $status = Get-HttpStatus $url
        if ($checks[$url] -notcontains $status) {
            Write-Log "GET $url answered $status, expected $($checks[$url] -join ' or ')"
            $ok = $false
        }
    }
    return $ok
} -Action {
    $null = Invoke-Checked -FilePath "$env:SystemRoot\System32\iisreset.exe" -Arguments '/restart'
    Start-Sleep -Seconds 5
}

#region ostops-ops: steps
# upgrade: any failure after the backup rolls back ($script:OnStepFailure). rotate: rotate.py's order and undo.
Add-Step -Name 'Schedule nightly backup' -Lab '' -Test {
    $problems = @(Get-BackupTaskProblems)
    foreach ($problem in $problems) { Write-Log "backup task: $problem" }
    return ($problems.Count -eq 0)
} -Action {
    Unregister-ScheduledTask -TaskName $BackupTaskName -TaskPath $CronTaskPath -Confirm:$false -ErrorAction SilentlyContinue
    if ($null -eq $script:Backup) { return }
    Write-TextFile -Path $BackupScriptCopy -Text $script:BackupScriptText
    # ScheduledTasks module: New-ScheduledTaskTrigger -Daily -At; Register-ScheduledTask -Force.
    $action = New-ScheduledTaskAction -Execute "$env:SystemRoot\System32\WindowsPowerShell\v1.0\powershell.exe" `
        -Argument ('-NoProfile -NonInteractive -ExecutionPolicy Bypass -File "{0}" -LogPath "C:\ostops\logs\backup.log"' -f $BackupScriptCopy)
    $trigger = New-ScheduledTaskTrigger -Daily -At ([DateTime]::ParseExact($script:Backup.Schedule, 'HH:mm', [Globalization.CultureInfo]::InvariantCulture))
    $principal = New-ScheduledTaskPrincipal -UserId 'NT AUTHORITY\SYSTEM' -LogonType ServiceAccount -RunLevel Highest
    $settings = New-ScheduledTaskSettingsSet -MultipleInstances IgnoreNew -ExecutionTimeLimit (New-TimeSpan -Hours 4) -StartWhenAvailable
    $null = Register-ScheduledTask -TaskName $BackupTaskName -TaskPath $CronTaskPath -Action $action -Trigger $trigger `
        -Principal $principal -Settings $settings -Description 'ostops: osTicket backup to Blob storage' -Force
}

Add-Step -Name 'Back up to Blob storage' -Lab '' -Modes @('backup') -Test {
    return ($null -ne $script:LastBackup)
} -Action {
    $script:LastBackup = Invoke-OstopsBackup
}

Add-Step -Name 'Upgrade: check preconditions' -Lab '' -Modes @('upgrade') -Test {
    $script:Release = Get-Release
    $script:UpgradeFrom = Get-InstalledVersion
    # Done already: the target's code and schema signature, no setup\.
    $script:UpgradeDone = ($script:UpgradeFrom -eq $script:Release.Version -and (Get-DbSchemaSignature) -eq $script:Release.Signature -and
                           -not (Test-Path -LiteralPath (Join-Path $Webroot 'setup')))
    $script:UpgradeProblems = @(if (-not $script:UpgradeDone) { Get-UpgradeProblems })
    return ($script:UpgradeProblems.Count -eq 0)
} -Action {
    throw ('the upgrade cannot start; nothing was changed: ' + ($script:UpgradeProblems -join '; '))
}

Add-Step -Name 'Upgrade: back up first' -Lab '' -Modes @('upgrade') -Test {
    return ($script:UpgradeDone -or $null -ne $script:UpgradeBackup)
} -Action {
    $script:UpgradeBackup = Invoke-OstopsBackup -Keep -Reason "pre-upgrade-$($script:Release.Version)"
    $script:UpgradeOld = $Webroot + '.old-' + [DateTime]::UtcNow.ToString('yyyyMMddHHmmss')
    $script:OnStepFailure = { param($failed) Invoke-UpgradeRollback -FailedStep $failed }
}

Add-Step -Name 'Upgrade: deploy new code' -Lab '' -Modes @('upgrade') -Test {
    return ($script:UpgradeDone -or (Test-Path -LiteralPath $script:UpgradeOld))
} -Action {
    # Maintenance on; old code aside; the new with the old ost-config.php, plugins and the install's ACLs.
    Set-Maintenance -On $true
    Move-Item -LiteralPath $Webroot -Destination $script:UpgradeOld
    foreach ($copy in @(@($script:Release.Upload, $Webroot, ''), @("$($script:UpgradeOld)\include\plugins", "$Webroot\include\plugins", '/XC /XN /XO'))) {
        $null = Invoke-Checked -FilePath "$env:SystemRoot\System32\robocopy.exe" -Arguments ('"{0}" "{1}" /E /R:2 /W:2 /NP /NFL /NDL {2}' -f $copy) -SuccessCodes @(0, 1, 2, 3, 4, 5, 6, 7)
    }
    Copy-Item -LiteralPath "$($script:UpgradeOld)\include\ost-config.php" -Destination $OstConfig -Force
    foreach ($name in @('Deploy web.config', 'Set NTFS permissions', 'Make ost-config.php read-only')) { Invoke-InstallStep -Name $name }
}

Add-Step -Name 'Upgrade: run osTicket upgrader' -Lab '' -Modes @('upgrade') -Test {
    return ($script:UpgradeDone -or -not (Test-Path -LiteralPath "$Webroot\setup"))
} -Action {
    Invoke-OsTicketUpgrader
    Remove-Item -LiteralPath "$Webroot\setup" -Recurse -Force
}

Add-Step -Name 'Upgrade: compare schema signature' -Lab '' -Modes @('upgrade') -Test {
    return ((Get-DbSchemaSignature) -eq $script:Release.Signature)
} -Action {
    throw "the database's schema signature $(Get-DbSchemaSignature) is not the release's core.sig $($script:Release.Signature)"
}

Add-Step -Name 'Upgrade: smoke test' -Lab '' -Modes @('upgrade') -Test {
    Import-IisModule
    $answers = "$(Get-HttpStatus 'http://127.0.0.1/') $(Get-HttpStatus 'http://127.0.0.1/scp/login.php')"
    Write-Log "smoke: / and /scp/login.php answer $answers"
    return ((Get-Website -Name $SiteName).State -eq 'Started' -and $answers -eq '200 200')
} -Action {
    Set-Maintenance -On $false
    Start-Sleep -Seconds 5
}

Add-Step -Name 'Upgrade: record the new version' -Lab '' -Modes @('upgrade') -Test {
    return ((Get-InstalledVersion) -eq $script:Release.Version -and $null -eq $script:OnStepFailure)
} -Action {
    Write-TextFile -Path (Join-Path $StateDir 'osticket-version.txt') -Text $script:Release.Version
    $script:OnStepFailure = $null
    Remove-Item -LiteralPath $script:UpgradeOld, $script:UpgradeBackup.Folder -Recurse -Force -ErrorAction SilentlyContinue
}

Add-Step -Name 'Rotate database password' -Lab '' -Modes @('rotate') -Test {
    $new = Get-DbCredential -Account 'app'
    return ((Get-OstConfigDbPass).Value -ceq $new.GetNetworkCredential().Password -and (Test-AppDbLogin -Secret $new.Password))
} -Action {
    $old = ConvertTo-OpsSecureString (Get-OstConfigDbPass).Value
    $new = (Get-DbCredential -Account 'app').Password
    try {
        Set-DbPassword -Secret $new
        # Proof: old refused, new accepted, osTicket reaching its database (bootstrap.php's croak answers 500).
        if ((Test-AppDbLogin -Secret $old) -or -not (Test-AppDbLogin -Secret $new)) { throw 'MariaDB does not refuse the old password and accept the new' }
        Start-Sleep -Seconds 3
        $status = Get-HttpStatus 'http://127.0.0.1/scp/login.php'
        if ($status -ne 200) { throw "/scp/login.php answered $status with the new password" }
    } catch {
        Write-Log "database password rotation failed ($($_.Exception.Message)); the old password goes back" -Level ERROR
        Set-DbPassword -Secret $old
        throw
    }
}

Add-Step -Name 'Rotate API key' -Lab '' -Modes @('rotate') -Test {
    $rows = @(Get-AutomationKeyRows)
    return ($rows.Count -eq 1 -and $rows[0].Key -ceq $ApiKey)
} -Action {
    $old = @(Get-AutomationKeyRows | Where-Object { $_.Key -cne $ApiKey })
    if ($old.Count -ne 1) { throw "$($old.Count) other API keys are bound to $($script:AutomationIp); expected the install's one" }
    # The same row (osTicket looks keys up by apikey and ipaddr); the old key gone.
    $key = ConvertTo-SqlString $ApiKey
    $null = Invoke-OstSql "UPDATE {0}.{1}api_key SET apikey = $key, updated = NOW() WHERE id = $($old[0].Id);"
    if ((Invoke-OstSql ("SELECT COUNT(*) FROM {0}.{1}api_key WHERE apikey = " + (ConvertTo-SqlString $old[0].Key) + ';')) -ne '0') { throw 'the old API key is still there' }
}

Add-Step -Name 'Rotate admin password' -Lab '' -Modes @('rotate') -Test {
    return (Test-AdminPassword)
} -Action {
    $row = Get-AdminRow
    # Staff::setPassword (rotate.py): bcrypt at work factor 8 (include/class.passwd.php), tokens and sessions dropped.
    $payload = @{ p = $AdminPassword }
    $hash = Invoke-PhpSecret -Code 'echo password_hash(json_decode(stream_get_contents(STDIN))->p, PASSWORD_BCRYPT, array(''cost'' => 8));' -Payload $payload
    if ($hash -notmatch '^\$2y\$08\$[./A-Za-z0-9]{53}$') { throw 'php.exe returned no bcrypt hash' }
    $id = $row.Id
    $null = Invoke-OstSql ("START TRANSACTION; UPDATE {0}.{1}staff SET passwd = " + (ConvertTo-SqlString $hash) + ", change_passwd = 0, passwdreset = NOW() WHERE staff_id = $id; " +
        "DELETE FROM {0}.{1}config WHERE namespace = 'pwreset' AND value = '$id'; DELETE FROM {0}.{1}session WHERE user_id = '$id'; COMMIT;")
    if (-not (Test-AdminPassword)) {
        $null = Invoke-OstSql ("UPDATE {0}.{1}staff SET passwd = " + (ConvertTo-SqlString $row.Hash) + " WHERE staff_id = $id;")
        throw 'the new password does not verify against the stored hash; the old hash is back'
    }
}
#endregion

Add-Step -Name 'Confirm TLS 1.0 and 1.1 refused' -Lab '' -Test {
    if (-not $script:TlsEnabled) { return $true }
    if (Test-SchannelRestartPending) {
        if ($script:RestartMode -eq 'never') {
            # The Windows CI job: its runner cannot restart. The change waits for the next boot, said at the end.
            $script:RestartDeferred = $true
            $script:StepNote = 'deferred: SCHANNEL changed since the last boot and settings.restart is never; TLS 1.0/1.1 stay on until Windows restarts'
            return $true
        }
        return $false
    }
    $refused = Get-LegacyTlsProblems
    foreach ($problem in $refused) { Write-Log "TLS: $problem" -Level WARN }
    return ($refused.Count -eq 0)
} -Action {
    if (-not (Test-SchannelRestartPending)) {
        throw 'the SCHANNEL settings are in place and Windows has restarted since, yet 127.0.0.1:443 still accepts TLS 1.0 or 1.1'
    }
    # A controlled restart: the run ends here (exit 0, 'restart scheduled'); the resume task runs the bootstrap
    # again at startup, and this check then proves the handshakes are refused.
    $null = Invoke-Checked -FilePath "$env:SystemRoot\System32\shutdown.exe" -Arguments ('/r /t {0} /d p:2:4 /c "ostops bootstrap: restart to apply SCHANNEL (TLS 1.0/1.1 off); resumes at startup"' -f $RestartDelaySeconds)
    $script:RestartScheduled = $true
}

# ---------------------------------------------------------------------------------------------------------
# web.config (identical to infra/bootstrap/web.config; the tests compare them)
# ---------------------------------------------------------------------------------------------------------
$WebConfig = @'
<?xml version="1.0" encoding="UTF-8"?>
<!--
  ostops: osTicket on IIS. Deployed by infra/bootstrap/bootstrap.ps1 (step "Deploy web.config"), which embeds
  an identical copy of this file; tests/infra/test_bootstrap.py fails when the two differ.
  The rewrite rules are osTicket's own upload/web.config (the IIS twin of its .htaccess files) plus the
  staff AJAX and client AJAX PATH_INFO routes, so the URLs match the local default (nginx):
    /api/tickets.json        -> /api/http.php/tickets.json
    /scp/ajax.php/...        -> scp/ajax.php with PATH_INFO (kept away from the api/ and pages/ rules)
  include/ and setup/ are hidden from every request (404), whatever the rewrite rules say.
  Plain HTTP from anywhere but loopback is redirected to https. Strict-Transport-Security is not here: the
  bootstrap sets it on the site (step "Configure HSTS", settings.hsts), none with a self-signed certificate.
-->
<configuration>
    <system.webServer>
        <directoryBrowse enabled="false" />
        <defaultDocument enabled="true">
            <files>
                <clear />
                <add value="index.php" />
            </files>
        </defaultDocument>
        <security>
            <requestFiltering allowDoubleEscaping="false">
                <hiddenSegments applyToWebDAV="true">
                    <add segment="include" />
                    <add segment="setup" />
                </hiddenSegments>
                <fileExtensions allowUnlisted="true">
                    <add fileExtension=".ini" allowed="false" />
                    <add fileExtension=".log" allowed="false" />
                    <add fileExtension=".sql" allowed="false" />
                </fileExtensions>
                <!-- 25 MiB, matching post_max_size in php.ini -->
                <requestLimits maxAllowedContentLength="26214400" />
            </requestFiltering>
        </security>
        <rewrite>
            <rules>
                <rule name="ostops HTTP to HTTPS" stopProcessing="true">
                    <!-- Port 80 answers only with a redirect; loopback stays on http for the bootstrap's own checks -->
                    <match url="(.*)" />
                    <conditions logicalGrouping="MatchAll">
                        <add input="{HTTPS}" pattern="^OFF$" />
                        <add input="{REMOTE_ADDR}" pattern="^(127\.0\.0\.1|::1)$" negate="true" />
                    </conditions>
                    <action type="Redirect" url="https://{HTTP_HOST}/{R:1}" appendQueryString="true" redirectType="Permanent" />
                </rule>
                <rule name="osTicket staff ajax" stopProcessing="true">
                    <match url="^(.*/)?scp/ajax\.php/(.*)$" ignoreCase="true" />
                    <!-- PATH_INFO route: served as is, and no later rule may touch it -->
                    <action type="None" />
                </rule>
                <rule name="osTicket client ajax" stopProcessing="true">
                    <match url="^(.*/)?ajax\.php/(.*)$" ignoreCase="true" />
                    <action type="None" />
                </rule>
                <rule name="osTicket other PATH_INFO routes" stopProcessing="true">
                    <!-- api/http.php/tickets.json, pages/index.php/x, scp/apps/dispatcher.php/x asked for directly -->
                    <match url="^(.*/)?[^/]+\.php/(.*)$" ignoreCase="true" />
                    <action type="None" />
                </rule>
                <rule name="osTicket HTTP api" stopProcessing="true">
                    <match url="^(.*/)?api/(.*)$" ignoreCase="true" />
                    <conditions logicalGrouping="MatchAll">
                        <add input="{REQUEST_FILENAME}" matchType="IsFile" negate="true" />
                        <add input="{REQUEST_FILENAME}" matchType="IsDirectory" negate="true" />
                    </conditions>
                    <action type="Rewrite" url="{R:1}api/http.php/{R:2}" appendQueryString="true" />
                </rule>
                <rule name="osTicket site pages" stopProcessing="true">
                    <match url="^(.*/)?pages/(.*)$" ignoreCase="true" />
                    <conditions logicalGrouping="MatchAll">
                        <add input="{REQUEST_FILENAME}" matchType="IsFile" negate="true" />
                        <add input="{REQUEST_FILENAME}" matchType="IsDirectory" negate="true" />
                    </conditions>
                    <action type="Rewrite" url="{R:1}pages/index.php/{R:2}" appendQueryString="true" />
                </rule>
                <rule name="osTicket staff applications" stopProcessing="true">
                    <match url="^(.*/)?scp/apps/(.*)$" ignoreCase="true" />
                    <conditions logicalGrouping="MatchAll">
                        <add input="{REQUEST_FILENAME}" matchType="IsFile" negate="true" />
                        <add input="{REQUEST_FILENAME}" matchType="IsDirectory" negate="true" />
                    </conditions>
                    <action type="Rewrite" url="{R:1}scp/apps/dispatcher.php/{R:2}" appendQueryString="true" />
                </rule>
            </rules>
        </rewrite>
        <httpProtocol>
            <customHeaders>
                <remove name="X-Powered-By" />
                <add name="X-Content-Type-Options" value="nosniff" />
            </customHeaders>
        </httpProtocol>
    </system.webServer>
</configuration>
'@

# ---------------------------------------------------------------------------------------------------------
# Run
# ---------------------------------------------------------------------------------------------------------
$null = New-Item -ItemType Directory -Path (Split-Path -Parent $LogPath) -Force
[Net.ServicePointManager]::SecurityProtocol = [Net.ServicePointManager]::SecurityProtocol -bor [Net.SecurityProtocolType]::Tls12
$script:DbAccessEnabled = $false
$script:AllowUnverified = $false
$script:RebootRequired = $false
$script:RestartScheduled = $false
$script:RestartDeferred = $false
$script:Mode = 'install'
$script:RestartMode = 'auto'
$script:DataDisk = $null
$script:HstsMaxAge = 0
$script:SmtpRelay = $null
$script:IdentityEndpoint = $ImdsEndpoint
$script:AutomationIp = ''
$script:Downloads = $null
$script:Settings = $null
foreach ($name in @('OsTicketVersion', 'SiteHostName', 'HelpdeskName', 'AdminUsername', 'AdminEmail', 'AdminPassword',
                    'DbRootPassword', 'DbAppPassword', 'ApiKey', 'TlsPfxBase64', 'TlsPfxPassword', 'SmtpPassword')) {
    Set-Variable -Scope Script -Name $name -Value ''
}
$script:TlsEnabled = $true
$script:TlsCertificate = $null

$mutex = New-Object System.Threading.Mutex($false, 'Global\ostops-bootstrap')
try {
    $acquired = $mutex.WaitOne(0)
} catch [System.Threading.AbandonedMutexException] {
    $acquired = $true   # an earlier run ended without releasing it
}
if (-not $acquired) {
    Write-Log 'another bootstrap run is in progress; exiting' -Level ERROR
    exit 1
}

Write-Log ('bootstrap started: {0} steps, log {1}' -f $script:Steps.Count, $LogPath)
$started = Get-Date
try {
    foreach ($step in $script:Steps) {
        # settings.mode (read by the first step) picks the steps of this run.
        if ($step.Modes -notcontains $script:Mode) { continue }
        $stepStarted = Get-Date
        try {
            $script:StepNote = ''
            if ([bool](& $step.Test | Select-Object -Last 1)) {
                if ($script:StepNote) { Write-Log "step '$($step.Name)': already in place ($($script:StepNote))" -Level WARN }
                else { Write-Log "step '$($step.Name)': already in place" }
            } else {
                Write-Log "step '$($step.Name)': running"
                $null = & $step.Action
                if ($script:RestartScheduled) {
                    # The run stops here on purpose; the resume task finishes it after the restart.
                    Write-Log ("step '{0}': Windows restarts in {1} s; the bootstrap resumes at startup (task {2}{3})" -f $step.Name, $RestartDelaySeconds, $CronTaskPath, $ResumeTaskName) -Level WARN
                    exit 0
                }
                if (-not [bool](& $step.Test | Select-Object -Last 1)) {
                    throw 'the action finished but the step''s check still fails'
                }
                Write-Log ("step '{0}': done in {1:N0} s" -f $step.Name, ((Get-Date) - $stepStarted).TotalSeconds)
            }
            # From here on a restart (ours, or platform patching) resumes the run at startup.
            if ($step.Name -eq 'Prepare working directories') { Register-ResumeTask }
        } catch {
            Write-Log ("FAILED at step '{0}': {1}" -f $step.Name, $_.Exception.Message) -Level ERROR
            Write-Log ("  at {0}" -f $_.InvocationInfo.PositionMessage) -Level ERROR
            if ($null -ne $script:OnStepFailure) { & $script:OnStepFailure $step.Name }   # the upgrade's rollback
            Write-Log "fix the cause and run the bootstrap again (docs/bootstrap.md); finished steps are skipped" -Level ERROR
            exit 1
        }
    }
} finally {
    $mutex.ReleaseMutex()
}
if ($script:RestartDeferred -or $script:RebootRequired) {
    Write-Log 'a restart of Windows is still needed (TLS 1.0/1.1 off with settings.restart never, or an installer''s 3010); restart, then run the bootstrap again to confirm' -Level WARN
}
Write-Log ('bootstrap finished in {0:N0} s: staff panel https://{1}/scp/ (user {2})' -f ((Get-Date) - $started).TotalSeconds, $script:SiteHostName, $script:AdminUsername)
# Last: when this run is the resume task itself, removing the task may end it.
Unregister-ResumeTask
exit 0
