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
    $role = 'install'
    if ($null -ne $settings.PSObject.Properties['role']) { $role = "$($settings.role)" }
    if ($role -ne $ScriptRole) {
        $problems.Add("settings.role '$role': this script was composed for the '$ScriptRole' role (infra/bootstrap_command.py ROLE_MODULES)")
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
            $script:SecretValues = $secrets
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
