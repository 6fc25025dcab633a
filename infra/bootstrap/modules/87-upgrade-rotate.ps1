# ---------------------------------------------------------------------------------------------------------
# settings.mode upgrade and rotate (the ops role; automation/operations/upgrade.py, rotate.py)
# ---------------------------------------------------------------------------------------------------------
#region ostops-ops: functions (upgrade, rotate)
function ConvertTo-OpsSecureString {
    param([Parameter(Mandatory = $true)][AllowEmptyString()][string]$Text)
    $secure = New-Object System.Security.SecureString
    foreach ($character in $Text.ToCharArray()) { $secure.AppendChar($character) }
    return $secure
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

#region ostops-ops: steps (upgrade, rotate)
# upgrade: any failure after the backup rolls back ($script:OnStepFailure). rotate: rotate.py's order and undo.
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
