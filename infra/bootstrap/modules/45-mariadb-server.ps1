# ---------------------------------------------------------------------------------------------------------
# The local MariaDB server (install role)
# ---------------------------------------------------------------------------------------------------------
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
