# ---------------------------------------------------------------------------------------------------------
# The web role: osTicket's database is Azure Database for MySQL - Flexible Server, reached over TLS only
# (settings.database, infra/bootstrap_command.py web_role_settings). Every database call goes through PHP's
# mysqli with the CA bundle, as osTicket's own connection does (bootstrap.php passes DBSSLCA to db_connect).
# ---------------------------------------------------------------------------------------------------------
$ScriptRole = 'web'
# No local MariaDB (no root password) and no site certificate (TLS ends at Application Gateway).
$SecretNames = @('adminPassword', 'dbAppPassword', 'apiKey', 'mysqlAdminPassword', 'secretSalt')
# Plain HTTP from the gateway only (the scale set's security group); no HTTPS listener here.
$HttpPorts = @(80)
$DbInstallLockSeconds = 900
$DbConnectTimeoutSeconds = 15

function Get-WebRoleProblems {
    # settings.database / proxy / cron of the web role, and its two secrets; a list of problems.
    param([Parameter(Mandatory = $true)]$Settings)
    $problems = New-Object System.Collections.Generic.List[string]
    foreach ($key in @('database', 'proxy', 'cron')) {
        if ($null -eq $Settings.PSObject.Properties[$key] -or $null -eq $Settings.$key) { $problems.Add("settings.$key is missing (role web)") }
    }
    if ($problems.Count -gt 0) { return @($problems) }
    $db = $Settings.database
    if ("$($db.host)" -notmatch '^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$') { $problems.Add('settings.database.host is not a host name') }
    foreach ($key in @('name', 'user', 'adminLogin')) {
        if ("$($db.$key)" -notmatch '^[A-Za-z0-9_]{1,32}$') { $problems.Add("settings.database.$key must be 1-32 letters, digits or underscores") }
    }
    if ("$($db.tablePrefix)" -notmatch '^[A-Za-z0-9_]{1,16}$') { $problems.Add('settings.database.tablePrefix must be 1-16 letters, digits or underscores') }
    if ("$($db.installLock)" -notmatch '^[A-Za-z0-9_-]{1,64}$') { $problems.Add('settings.database.installLock must be a lock name') }
    if ($null -eq $db.tls -or $db.tls.required -ne $true) { $problems.Add('settings.database.tls.required must be true (require_secure_transport is on)') }
    elseif ("$($db.tls.caFile)" -notmatch '^[A-Za-z]:\\[A-Za-z0-9_. \\-]+\.pem$') { $problems.Add('settings.database.tls.caFile must be a .pem path') }
    else {
        $cas = @($db.tls.caCertificates)
        if ($cas.Count -eq 0) { $problems.Add('settings.database.tls.caCertificates is empty') }
        foreach ($ca in $cas) {
            if ("$($ca.url)" -notmatch '^https?://' -or "$($ca.sha256)" -cnotmatch '^[0-9a-f]{64}$') {
                $problems.Add("settings.database.tls.caCertificates '$($ca.name)': needs a url and the certificate's SHA-256 (64 lower-case hex digits)")
            }
        }
    }
    foreach ($range in ("$($Settings.proxy.trustedProxies)" -split ',')) {
        if ($range.Trim() -notmatch '^\d{1,3}(\.\d{1,3}){3}(/\d{1,2})?$') { $problems.Add("settings.proxy.trustedProxies: '$range' is not an IPv4 address or CIDR range") }
    }
    if ("$($Settings.cron.lockName)" -notmatch '^[A-Za-z0-9_-]{1,64}$' -or "$($Settings.cron.tickTable)" -notmatch '^[A-Za-z0-9_]{1,64}$') {
        $problems.Add('settings.cron.lockName and tickTable must be names')
    }
    if ("$($Settings.cron.intervalMinutes)" -notmatch '^([1-9]|[1-5][0-9])$') { $problems.Add('settings.cron.intervalMinutes must be 1-59') }
    if ("$($Settings.cron.mode)" -ne 'database-elected') { $problems.Add("settings.cron.mode must be 'database-elected'") }
    return @($problems)
}

function ConvertTo-PemText {
    # One certificate as PEM (base64 of the DER bytes, 64 characters a line).
    param([Parameter(Mandatory = $true)]$Certificate)
    $base64 = [Convert]::ToBase64String($Certificate.RawData)
    $lines = for ($i = 0; $i -lt $base64.Length; $i += 64) { $base64.Substring($i, [Math]::Min(64, $base64.Length - $i)) }
    return ("-----BEGIN CERTIFICATE-----`n" + ($lines -join "`n") + "`n-----END CERTIFICATE-----`n")
}

function Get-PemCertificates {
    # The certificates of a PEM file, in order.
    param([Parameter(Mandatory = $true)][string]$Text)
    foreach ($match in [regex]::Matches($Text, '-----BEGIN CERTIFICATE-----\s*([A-Za-z0-9+/=\s]+?)\s*-----END CERTIFICATE-----')) {
        New-Object System.Security.Cryptography.X509Certificates.X509Certificate2(, [Convert]::FromBase64String(($match.Groups[1].Value -replace '\s', '')))
    }
}

function Invoke-DatabasePhp {
    # A PHP program for the Flexible Server: the connection details and secrets go to its stdin as JSON
    # (never a command line); it connects with mysqli over TLS, verifying the server against the CA bundle.
    param([Parameter(Mandatory = $true)][string]$Program, [Parameter(Mandatory = $true)][hashtable]$Data, [int]$TimeoutSeconds = 120)
    $prelude = @'
<?php
$in = json_decode(stream_get_contents(STDIN), true);
mysqli_report(MYSQLI_REPORT_ERROR | MYSQLI_REPORT_STRICT);
function ostops_db($in, $user, $password) {
    $db = mysqli_init();
    $db->options(MYSQLI_OPT_CONNECT_TIMEOUT, (int) $in['timeout']);
    $db->ssl_set(null, null, $in['ca'], null, null);
    $db->real_connect($in['host'], $user, $password, null, (int) $in['port'], null, MYSQLI_CLIENT_SSL);
    $db->set_charset('utf8mb4');
    return $db;
}
'@
    # The program (no secret in it) as a file in the administrators-only state folder; the data on stdin.
    $text = $prelude + $Program
    $sha = [System.Security.Cryptography.SHA256]::Create()
    try { $digest = (($sha.ComputeHash([System.Text.Encoding]::UTF8.GetBytes($text)) | ForEach-Object { $_.ToString('x2') }) -join '').Substring(0, 12) } finally { $sha.Dispose() }
    $path = Join-Path $StateDir "db-$digest.php"
    Write-TextFile -Path $path -Text $text
    $payload = @{ host = $script:Database.Host; port = $script:Database.Port; ca = $script:Database.CaFile; timeout = $DbConnectTimeoutSeconds }
    foreach ($key in $Data.Keys) { $payload[$key] = $Data[$key] }
    $json = $payload | ConvertTo-Json -Compress -Depth 5
    return (Invoke-Process -FilePath $PhpExe -Arguments ('"{0}"' -f $path) -InputText $json -WorkingDirectory $PhpDir -TimeoutSeconds $TimeoutSeconds)
}

Add-Step -Name 'Validate database settings' -Lab '' -Test {
    $problems = @(Get-WebRoleProblems -Settings $script:Settings)
    if ($problems.Count -eq 0) {
        $db = $script:Settings.database
        $script:Database = [pscustomobject]@{
            Host = "$($db.host)"; Port = [int]$db.port; Name = "$($db.name)"; User = "$($db.user)"; TablePrefix = "$($db.tablePrefix)"
            AdminLogin = "$($db.adminLogin)"; InstallLock = "$($db.installLock)"; CaFile = "$($db.tls.caFile)"
            CaCertificates = @($db.tls.caCertificates); TrustedProxies = "$($script:Settings.proxy.trustedProxies)"
            CronLock = "$($script:Settings.cron.lockName)"; CronTickTable = "$($script:Settings.cron.tickTable)"
            CronMinutes = [int]$script:Settings.cron.intervalMinutes
        }
        $script:MysqlAdminPassword = $script:SecretValues['mysqlAdminPassword']
        $script:SecretSalt = $script:SecretValues['secretSalt']
    }
    foreach ($problem in $problems) { Write-Log "settings: $problem" -Level ERROR }
    return ($problems.Count -eq 0)
} -Action {
    throw 'invalid web role settings (see the lines above)'
}

Add-Step -Name 'Install database CA certificates' -Lab '' -Test {
    # settings.database.tls.caFile holds exactly the pinned CA certificates (osTicket's DBSSLCA), readable by
    # the site and the cron task.
    $text = Read-TextFile $script:Database.CaFile
    if ($null -eq $text) { return $false }
    $found = @(Get-PemCertificates -Text $text | ForEach-Object { Get-CertificateSha256 -Certificate $_ })
    $wanted = @($script:Database.CaCertificates | ForEach-Object { "$($_.sha256)" })
    if (($found -join ',') -ne ($wanted -join ',')) { return $false }
    $folder = Split-Path -Parent $script:Database.CaFile
    $read = [int][System.Security.AccessControl.FileSystemRights]::ReadAndExecute
    foreach ($sid in @($SidIisUsers, $SidLocalService)) {
        if (((Get-GrantedRights -Path $folder -Sid $sid) -band $read) -ne $read) { return $false }
    }
    return $true
} -Action {
    # Microsoft, "Connect using TLS/SSL in Azure Database for MySQL - Flexible Server" (how-to-connect-tls-ssl)
    # and its root CA rotation page: trust DigiCert Global Root CA, DigiCert Global Root G2 and Microsoft RSA
    # Root Certificate Authority 2017 together. Each download is checked against the SHA-256 of the
    # certificate its publisher documents (settings.database.tls.caCertificates[].sha256); no other check is
    # needed, as a root certificate is self-contained.
    $pem = ''
    foreach ($ca in $script:Database.CaCertificates) {
        $bytes = Invoke-WithRetry -What "download $($ca.name)" -Action {
            (Invoke-WebRequest -Uri "$($ca.url)" -UseBasicParsing -TimeoutSec 60).Content
        }
        if ($bytes -is [string]) { $bytes = [System.Text.Encoding]::ASCII.GetBytes($bytes) }
        $certificate = New-Object System.Security.Cryptography.X509Certificates.X509Certificate2(, [byte[]]$bytes)
        $actual = Get-CertificateSha256 -Certificate $certificate
        if ($actual -ne "$($ca.sha256)") {
            throw ("{0} ({1}): the certificate's SHA-256 is {2}, not the pinned {3}; refusing it" -f $ca.name, $ca.url, $actual, $ca.sha256)
        }
        $pem += ConvertTo-PemText -Certificate $certificate
    }
    $folder = Split-Path -Parent $script:Database.CaFile
    $null = New-Item -ItemType Directory -Path $folder -Force
    Write-TextFile -Path $script:Database.CaFile -Text $pem
    # Public certificates: the site (IIS_IUSRS) and the cron task (LOCAL SERVICE) read them; only
    # administrators write them (C:\ostops itself stays administrators-only).
    $null = Invoke-Checked -FilePath "$env:SystemRoot\System32\icacls.exe" -Arguments ('"{0}" /grant "*{1}:(OI)(CI)RX" "*{2}:(OI)(CI)RX" /Q' -f $folder, $SidIisUsers, $SidLocalService)
}

Add-Step -Name 'Check the database over TLS' -Lab '' -Test {
    # The administrator reaches the server, over TLS, and the server is MySQL 8.0.21 or later (osTicket's
    # CREATE TABLE ... SELECT under enforced GTID consistency: osTicket#3384).
    $program = @'
$db = ostops_db($in, $in['user'], $in['password']);
$version = $db->query("SELECT VERSION()")->fetch_row()[0];
$tls = $db->query("SHOW SESSION STATUS LIKE 'Ssl_version'")->fetch_row();
echo json_encode(array('v' => $version, 'tls' => $tls ? $tls[1] : '')), "\n";
'@
    $result = Invoke-DatabasePhp -Program $program -Data @{ user = $script:Database.AdminLogin; password = $script:MysqlAdminPassword }
    $answer = $null
    try { $answer = (@($result.Output -split "`r?`n" | Where-Object { $_.Trim() }) | Select-Object -Last 1) | ConvertFrom-Json } catch { $answer = $null }
    if ($result.ExitCode -ne 0 -or $null -eq $answer) {
        Write-Log ('database: cannot connect over TLS as {0}: {1}' -f $script:Database.AdminLogin, (Protect-Text ($result.Error + ' ' + $result.Output).Trim())) -Level ERROR
        return $false
    }
    $version = [version](("$($answer.v)" -split '-')[0])
    Write-Log ("database: MySQL {0} over {1}" -f $answer.v, $answer.tls)
    return ("$($answer.tls)" -match '^TLSv1\.[23]$' -and $version -ge [version]'8.0.21')
} -Action {
    throw ('the Flexible Server {0} is not reachable over TLS 1.2+ as {1}, or is older than MySQL 8.0.21 (see the line above)' -f $script:Database.Host, $script:Database.AdminLogin)
}
