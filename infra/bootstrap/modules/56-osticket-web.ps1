# ---------------------------------------------------------------------------------------------------------
# The web role's osTicket: the database installed once for all instances, ost-config.php from the settings
# and Key Vault, the site behind Application Gateway.
# ---------------------------------------------------------------------------------------------------------
# TLS ends at the gateway, which redirects HTTP to HTTPS itself and forwards plain HTTP here: the lab's
# redirect rule would send every forwarded request back to the gateway for ever.
$WebConfig = [regex]::Replace($WebConfig, '(?s)\r?\n[ \t]*<rule name="ostops HTTP to HTTPS".*?</rule>', '')
# osTicket's installer (setup/inc/class.installer.php) calls db_connect() without the TLS options that
# bootstrap.php passes from DBSSLCA, and the Flexible Server refuses connections without TLS
# (require_secure_transport). The installing instance runs the installer from the extracted release in
# C:\ostops\src (never the served tree), its include/mysqli.php given the CA when no options came.
$DbConnectTlsOriginal = "    // Setup SSL if enabled`n    if (isset(`$options['ssl']))"
$DbConnectTlsPatched = "    // Setup SSL if enabled`n    if (!isset(`$options['ssl']) and getenv('OSTOPS_DBSSLCA'))`n        `$options['ssl'] = array('key' => null, 'cert' => null, 'ca' => getenv('OSTOPS_DBSSLCA'));`n    if (isset(`$options['ssl']))"

function ConvertTo-PhpLiteral {
    # A single-quoted PHP string literal.
    param([Parameter(Mandatory = $true)][AllowEmptyString()][string]$Value)
    return "'" + $Value.Replace('\', '\\').Replace("'", "\'") + "'"
}

function Get-DesiredOstConfig {
    # ost-config.php of a web instance: every instance writes the same file (SECRET_SALT from Key Vault signs
    # links and CSRF tokens and decrypts stored passwords, so it must be one value). DBSSLCERT and DBSSLKEY are
    # defined too: bootstrap.php reads all three once DBSSLCA is defined. TRUSTED_PROXIES: the gateway's subnet,
    # so osTicket takes the client's address from X-Forwarded-For (include/class.osticket.php).
    $db = $script:Database
    $lines = @(
        '<?php',
        '# Written by the ostops bootstrap (web role) from its settings and Key Vault; changes are overwritten.',
        "if (!strcasecmp(basename(`$_SERVER['SCRIPT_NAME']), basename(__FILE__)) or !defined('INCLUDE_DIR')) die('kwaheri rafiki!');",
        "define('OSTINSTALLED', TRUE);",
        ("define('SECRET_SALT', {0});" -f (ConvertTo-PhpLiteral ([string]$script:SecretSalt))),
        ("define('ADMIN_EMAIL', {0});" -f (ConvertTo-PhpLiteral $script:AdminEmail)),
        "define('DBTYPE', 'mysql');",
        ("define('DBHOST', {0});" -f (ConvertTo-PhpLiteral ('{0}:{1}' -f $db.Host, $db.Port))),
        ("define('DBNAME', {0});" -f (ConvertTo-PhpLiteral $db.Name)),
        ("define('DBUSER', {0});" -f (ConvertTo-PhpLiteral $db.User)),
        ("define('DBPASS', {0});" -f (ConvertTo-PhpLiteral ([string]$script:DbAppPassword))),
        ("define('TABLE_PREFIX', {0});" -f (ConvertTo-PhpLiteral $db.TablePrefix)),
        ("define('DBSSLCA', {0});" -f (ConvertTo-PhpLiteral $db.CaFile)),
        "define('DBSSLCERT', null);",
        "define('DBSSLKEY', null);",
        ("define('TRUSTED_PROXIES', {0});" -f (ConvertTo-PhpLiteral $db.TrustedProxies)),
        "define('LOCAL_NETWORKS', '127.0.0.0/24');"
    )
    return (($lines -join "`r`n") + "`r`n")
}

Add-Step -Name 'Install osTicket database once' -Lab '13,14' -Test {
    # Installed when osTicket's config table has its schema signature; checked as the application's user,
    # over TLS, which proves that user too.
    $program = @'
$db = ostops_db($in, $in['user'], $in['password']);
$db->select_db($in['name']);
$found = $db->query("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '" . $db->real_escape_string($in['prefix'] . 'config') . "'")->fetch_row()[0];
$signed = 0;
if ($found) $signed = $db->query("SELECT COUNT(*) FROM `" . $in['prefix'] . "config` WHERE namespace = 'core' AND `key` = 'schema_signature'")->fetch_row()[0];
echo json_encode(array('installed' => (int) $signed > 0)), "\n";
'@
    $result = Invoke-DatabasePhp -Program $program -Data @{ user = $script:Database.User; password = [string]$script:DbAppPassword; name = $script:Database.Name; prefix = $script:Database.TablePrefix }
    $answer = $null
    try { $answer = (@($result.Output -split "`r?`n" | Where-Object { $_.Trim() }) | Select-Object -Last 1) | ConvertFrom-Json } catch { $answer = $null }
    return ($result.ExitCode -eq 0 -and $null -ne $answer -and $answer.installed -eq $true)
} -Action {
    # The designated installer: every instance runs this action, and the database elects one. The first to
    # take GET_LOCK(installLock) (the lock holder; the others wait for it, up to $DbInstallLockSeconds)
    # creates the database, the application's user (TLS required) and the cron tick table, then looks for an
    # installed osTicket; only when there is none does it run osTicket's installer, still holding the lock.
    # An instance that gets the lock later finds the schema signature and installs nothing.
    $extracted = Join-Path $SourceDir ('osTicket-' + $script:Downloads.osticket.version)
    $staging = Join-Path $extracted 'upload'
    $mysqli = Join-Path $staging 'include\mysqli.php'
    $code = Read-TextFile $mysqli
    if ($null -eq $code) { throw "$mysqli is missing; run the bootstrap again (step 'Deploy osTicket files' extracts it)" }
    if (-not $code.Contains($DbConnectTlsPatched)) {
        $normalised = $code.Replace("`r`n", "`n")
        if (-not $normalised.Contains($DbConnectTlsOriginal)) { throw "$mysqli has no db_connect() TLS block as osTicket $($script:Downloads.osticket.version) ships it; refusing to install over a connection without TLS" }
        Write-TextFile -Path $mysqli -Text $normalised.Replace($DbConnectTlsOriginal, $DbConnectTlsPatched)
    }
    if (-not (Test-Path -LiteralPath (Join-Path $staging 'include\ost-config.php'))) {
        Copy-Item -LiteralPath (Join-Path $staging 'include\ost-sampleconfig.php') -Destination (Join-Path $staging 'include\ost-config.php')
    }
    [System.IO.File]::WriteAllBytes($InstallerPath, $script:InstallerBytes)
    $program = @'
$admin = ostops_db($in, $in['admin_user'], $in['admin_password']);
if ((int) $admin->query("SELECT GET_LOCK('" . $admin->real_escape_string($in['lock']) . "', " . (int) $in['lock_seconds'] . ")")->fetch_row()[0] !== 1)
    { echo json_encode(array('ok' => false, 'error' => 'another instance held the install lock too long')), "\n"; exit(1); }
$name = $admin->real_escape_string($in['name']);
$user = $admin->real_escape_string($in['user']);
$password = "'" . $admin->real_escape_string($in['password']) . "'";
$admin->query("CREATE DATABASE IF NOT EXISTS `$name` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci");
$admin->query("CREATE USER IF NOT EXISTS '$user'@'%' IDENTIFIED BY $password REQUIRE SSL");
$admin->query("ALTER USER '$user'@'%' IDENTIFIED BY $password REQUIRE SSL");
$admin->query("GRANT " . $in['privileges'] . " ON `$name`.* TO '$user'@'%'");
$admin->query("CREATE TABLE IF NOT EXISTS `$name`.`" . $in['tick_table'] . "` (tick BIGINT NOT NULL PRIMARY KEY, host VARCHAR(255) NOT NULL, started DATETIME NOT NULL)");
$prefix = $admin->real_escape_string($in['prefix']);
$found = (int) $admin->query("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '$name' AND TABLE_NAME = '{$prefix}config'")->fetch_row()[0];
$signed = $found ? (int) $admin->query("SELECT COUNT(*) FROM `$name`.`{$prefix}config` WHERE namespace = 'core' AND `key` = 'schema_signature'")->fetch_row()[0] : 0;
if ($signed) { echo json_encode(array('ok' => true, 'installed_by' => 'another instance')), "\n"; exit(0); }
$pipes = array();
$child = proc_open(array(PHP_BINARY, $in['installer']), array(0 => array('pipe', 'r'), 1 => array('pipe', 'w'), 2 => array('pipe', 'w')),
    $pipes, dirname($in['installer']), array_merge(getenv(), array('OSTOPS_DBSSLCA' => $in['ca'])));
fwrite($pipes[0], json_encode($in['config'])); fclose($pipes[0]);
$out = stream_get_contents($pipes[1]); $err = stream_get_contents($pipes[2]);
$exit = proc_close($child);
$admin->query("SELECT RELEASE_LOCK('" . $admin->real_escape_string($in['lock']) . "')");
$lines = array_values(array_filter(array_map('trim', explode("\n", $out))));
echo $lines ? end($lines) : json_encode(array('ok' => false, 'error' => trim($err), 'exit' => $exit)), "\n";
exit($exit);
'@
    $helpdeskEmail = Get-HelpdeskEmail -HostName $SiteHostName -AdminAddress $AdminEmail
    # The shared installer's keys (automation/local/installer.php); no SMTP relay here: its password would be
    # encrypted with the installer's own interim salt, not the instances' SECRET_SALT (docs/azure.md).
    $config = [ordered]@{
        webroot = $staging; db_host = $script:Database.Host; db_port = $script:Database.Port; db_name = $script:Database.Name
        db_user = $script:Database.User; db_pass = [string]$script:DbAppPassword; table_prefix = $script:Database.TablePrefix
        helpdesk_name = $HelpdeskName; helpdesk_email = $helpdeskEmail; admin_firstname = 'osTicket'; admin_lastname = 'Admin'
        admin_email = $AdminEmail; admin_username = $AdminUsername; admin_password = [string]$script:AdminPassword
        helpdesk_url = "https://$SiteHostName/"; api_key = [string]$script:ApiKey; api_key_ip = $script:AutomationIp
    }
    $result = Invoke-DatabasePhp -Program $program -TimeoutSeconds ($DbInstallLockSeconds + 660) -Data @{
        admin_user = $script:Database.AdminLogin; admin_password = [string]$script:MysqlAdminPassword; lock = $script:Database.InstallLock
        lock_seconds = $DbInstallLockSeconds; name = $script:Database.Name; user = $script:Database.User; password = [string]$script:DbAppPassword
        privileges = $DbAppPrivileges; tick_table = $script:Database.CronTickTable; prefix = $script:Database.TablePrefix
        installer = $InstallerPath; config = $config
    }
    $config = $null
    $last = @($result.Output -split "`r?`n" | Where-Object { $_.Trim() }) | Select-Object -Last 1
    $answer = $null
    try { $answer = $last | ConvertFrom-Json } catch { $answer = $null }
    if ($null -eq $answer -or -not $answer.ok) {
        throw ('installing the osTicket database failed (exit {0}): {1}' -f $result.ExitCode, (Protect-Text (($last, $result.Error) -join ' ').Trim()))
    }
    Write-Log ('osTicket database: ' + (Protect-Text $last))
}

Add-Step -Name 'Write ost-config.php from settings' -Lab '11,12' -Test {
    return ((Read-TextFile $OstConfig) -ceq (Get-DesiredOstConfig))
} -Action {
    if (Test-Path -LiteralPath $OstConfig) { Set-ItemProperty -LiteralPath $OstConfig -Name IsReadOnly -Value $false }
    Write-TextFile -Path $OstConfig -Text (Get-DesiredOstConfig)
}
