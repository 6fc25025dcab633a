# ---------------------------------------------------------------------------------------------------------
# osTicket locked down: no setup/, code and ost-config.php read-only to the site
# ---------------------------------------------------------------------------------------------------------
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
