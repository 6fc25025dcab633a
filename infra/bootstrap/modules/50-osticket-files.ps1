# ---------------------------------------------------------------------------------------------------------
# osTicket: the code, web.config and the IIS site
# ---------------------------------------------------------------------------------------------------------
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

function Get-OsTicketInstalled {
    $text = Read-TextFile $OstConfig
    return ($null -ne $text -and $text -match "define\('OSTINSTALLED',\s*TRUE\)")
}

function Get-AppPoolSid {
    return Get-AccountSid "IIS APPPOOL\$AppPoolName"
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
