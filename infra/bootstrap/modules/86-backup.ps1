# ---------------------------------------------------------------------------------------------------------
# Backups to Blob storage: settings.mode backup and the nightly task (install and ops roles)
# ---------------------------------------------------------------------------------------------------------
#region ostops-ops: functions (backup)
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
$script:OptionChecks += { param($settings) Get-OpsOptionProblems -Settings $settings }

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
#endregion

#region ostops-ops: steps (backup)
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
#endregion
