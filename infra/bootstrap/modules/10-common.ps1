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
# Files, processes, settings, secrets, ACLs
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
    # A user-assigned identity (the web role's scale set): IMDS takes its client_id ("Required, if your VM has
    # multiple user-assigned managed identities", Microsoft, "How to use managed identities for Azure resources
    # on an Azure VM to acquire an access token"); always given when the settings name one.
    $script:IdentityClientId = "$(Get-SettingValue $secrets 'identityClientId' '')"
    if ($script:IdentityClientId -notmatch '^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})?$') {
        $problems.Add("settings.secrets.identityClientId must be the identity's client id (a GUID), not '$($script:IdentityClientId)'")
    }
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

function Get-KeyVaultSecret {
    # One Key Vault secret through the VM's managed identity; 401/403 and transient errors are retried with
    # backoff while the role assignment propagates. The value is never logged, only the secret's name.
    param([Parameter(Mandatory = $true)][string]$VaultUri, [Parameter(Mandatory = $true)][string]$SecretName)
    $base = $VaultUri.Trim().TrimEnd('/') + '/'
    $url = '{0}secrets/{1}?api-version={2}' -f $base, $SecretName, $KeyVaultApiVersion
    $delay = 5
    for ($try = 1; ; $try++) {
        try {
            $route = $ImdsIdentityRoute
            if ($script:IdentityClientId) { $route += '&client_id=' + $script:IdentityClientId }
            $token = (Invoke-RestMethod -Uri ($script:IdentityEndpoint + $route) -Headers @{ Metadata = 'true' } -UseBasicParsing -TimeoutSec 30).access_token
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

function Get-ExtraGrants {
    # $Grants without SYSTEM and Administrators (they always get full control).
    param([hashtable]$Grants)
    $result = @{}
    foreach ($sid in $Grants.Keys) { if (@($SidSystem, $SidAdministrators) -notcontains $sid) { $result[$sid] = $Grants[$sid] } }
    return $result
}

function Get-CertificateSha256 {
    # SHA-256 of the certificate's DER bytes (RawData), lower-case hex: settings.tls.certificateSha256's form.
    param([Parameter(Mandatory = $true)]$Certificate)
    $sha = [System.Security.Cryptography.SHA256]::Create()
    try { $hash = $sha.ComputeHash($Certificate.RawData) } finally { $sha.Dispose() }
    return (($hash | ForEach-Object { $_.ToString('x2') }) -join '')
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

function Test-ScriptCopyCurrent {
    # C:\ostops\bootstrap.ps1 is this run's script (or this run is that copy).
    if (-not $PSCommandPath -or -not (Test-Path -LiteralPath $PSCommandPath)) { return $true }
    if ([System.IO.Path]::GetFullPath($PSCommandPath) -eq [System.IO.Path]::GetFullPath($ScriptCopy)) { return $true }
    if (-not (Test-Path -LiteralPath $ScriptCopy)) { return $false }
    return ((Get-FileHash -LiteralPath $PSCommandPath -Algorithm SHA256).Hash -eq (Get-FileHash -LiteralPath $ScriptCopy -Algorithm SHA256).Hash)
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
