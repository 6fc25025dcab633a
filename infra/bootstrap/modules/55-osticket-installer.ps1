# ---------------------------------------------------------------------------------------------------------
# osTicket's installer against the local database (install role)
# ---------------------------------------------------------------------------------------------------------
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
