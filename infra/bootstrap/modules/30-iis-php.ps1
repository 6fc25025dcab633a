# ---------------------------------------------------------------------------------------------------------
# IIS and PHP
# ---------------------------------------------------------------------------------------------------------
function Import-IisModule {
    if (-not (Get-Module -Name WebAdministration)) { Import-Module WebAdministration -ErrorAction Stop }
}

function Get-ConfigValue {
    # Get-WebConfigurationProperty returns either the value or a ConfigurationAttribute wrapping it.
    param($Value)
    if ($null -ne $Value -and $null -ne $Value.PSObject.Properties['Value']) { return $Value.Value }
    return $Value
}

function Get-PhpVersion {
    if (-not (Test-Path -LiteralPath $PhpExe)) { return '' }
    $result = Invoke-Process -FilePath $PhpExe -Arguments '-n -r "echo PHP_VERSION;"' -WorkingDirectory $PhpDir -TimeoutSeconds 60
    if ($result.ExitCode -ne 0) { return '' }
    return $result.Output.Trim()
}

function Test-ApcuWanted {
    # APCu is a PECL DLL, not part of the PHP zip: only with an 'apcu' manifest entry (docs/bootstrap.md).
    return ($null -ne $script:Downloads.PSObject.Properties['apcu'])
}

function Get-DesiredPhpIni {
    $template = Read-TextFile (Join-Path $PhpDir 'php.ini-production')
    if ($null -eq $template) { throw "$PhpDir\php.ini-production (the production template) is missing" }
    $lines = New-Object System.Collections.Generic.List[string]
    $lines.Add('')
    $lines.Add('; ---- ostops: written by infra/bootstrap/bootstrap.ps1 (step "Write php.ini"); later lines win ----')
    $lines.Add('extension_dir = "C:\PHP\ext"')
    foreach ($name in $PhpExtensions) { $lines.Add("extension=$name") }
    foreach ($name in $PhpOptionalExtensions) {
        if (Test-Path -LiteralPath (Join-Path $PhpDir "ext\php_$name.dll")) { $lines.Add("extension=$name") }
    }
    if (Test-ApcuWanted) { $lines.Add('extension=apcu'); $lines.Add('apc.enabled = 1'); $lines.Add('apc.shm_size = 64M') }
    $lines.Add('zend_extension=opcache')
    foreach ($key in $PhpSettings.Keys) { $lines.Add(('{0} = {1}' -f $key, $PhpSettings[$key])) }
    return $template.TrimEnd() + "`r`n" + ($lines -join "`r`n") + "`r`n"
}

function Get-PhpGrants {
    # IIS worker processes (IIS_IUSRS) and the cron task's account (LOCAL SERVICE) run PHP: read & execute.
    return @{ $SidIisUsers = 'RX'; $SidLocalService = 'RX' }
}

Add-Step -Name 'Install IIS roles' -Lab '1' -Test {
    $missing = @(Get-WindowsFeature -Name $IisFeatures | Where-Object { -not $_.Installed })
    return ($missing.Count -eq 0)
} -Action {
    $result = Install-WindowsFeature -Name $IisFeatures
    if (-not $result.Success) { throw "Install-WindowsFeature failed (exit code $($result.ExitCode))" }
    if ("$($result.RestartNeeded)" -eq 'Yes') { Write-Log 'Windows reports a restart is needed for the IIS roles; continuing' -Level WARN }
}

Add-Step -Name 'Install Visual C++ runtime' -Lab '5' -Test {
    foreach ($key in @('HKLM:\SOFTWARE\Microsoft\VisualStudio\14.0\VC\Runtimes\x64',
                       'HKLM:\SOFTWARE\WOW6432Node\Microsoft\VisualStudio\14.0\VC\Runtimes\x64')) {
        $values = Get-ItemProperty -LiteralPath $key -ErrorAction SilentlyContinue
        if ($null -eq $values) { continue }
        $installed = $values.PSObject.Properties['Installed']
        $minor = $values.PSObject.Properties['Minor']
        # PHP vs17 builds need the 2015-2022 runtime; at least the manifest's version (14.44 -> Minor 44).
        $wantedMinor = [int](("$($script:Downloads.vcredist.version)" -split '\.')[1])
        if ($null -ne $installed -and $installed.Value -eq 1 -and $null -ne $minor -and [int]$minor.Value -ge $wantedMinor) { return $true }
    }
    return $false
} -Action {
    $exe = Get-Download 'vcredist'
    # 3010: installed, reboot pending; 1638: a newer runtime is already installed.
    Invoke-Installer -FilePath $exe -Arguments ('/install /quiet /norestart /log "{0}"' -f (Join-Path $WorkDir 'logs\vcredist.log'))
}

Add-Step -Name 'Install URL Rewrite module' -Lab '3' -Test {
    return (Test-Path -LiteralPath "$env:SystemRoot\System32\inetsrv\rewrite.dll")
} -Action {
    Install-Msi -Package (Get-Download 'urlrewrite') -LogName 'urlrewrite-msi.log'
}

Add-Step -Name 'Install PHP' -Lab '4' -Test {
    $expected = $script:Downloads.php.version
    if (-not (Test-Path -LiteralPath $PhpCgi)) { return $false }
    if ((Get-PhpVersion) -ne $expected) { return $false }
    return (((Get-MachinePath) -split ';') -contains $PhpDir)
} -Action {
    $zip = Get-Download 'php'
    $iis = Get-Service -Name W3SVC -ErrorAction SilentlyContinue
    $restart = ($null -ne $iis -and $iis.Status -eq 'Running')
    # php-cgi.exe is locked while IIS runs it.
    if ($restart) { $null = Invoke-Checked -FilePath "$env:SystemRoot\System32\iisreset.exe" -Arguments '/stop' }
    try {
        $null = New-Item -ItemType Directory -Path $PhpDir -Force
        Expand-Archive -LiteralPath $zip -DestinationPath $PhpDir -Force
    } finally {
        if ($restart) { $null = Invoke-Checked -FilePath "$env:SystemRoot\System32\iisreset.exe" -Arguments '/start' }
    }
    Add-MachinePathEntry -Entry $PhpDir
}

Add-Step -Name 'Harden PHP folder' -Lab '' -Test {
    # C:\PHP holds what IIS and the cron task execute: only SYSTEM and administrators may write it.
    $problems = @(Get-HardenedAclProblems -Path $PhpDir -Grants (Get-PhpGrants))
    foreach ($dir in @($PhpTmpDir, $PhpLogDir)) {
        if (-not (Test-Path -LiteralPath $dir -PathType Container)) { $problems += "$dir is missing"; continue }
        $modify = [int][System.Security.AccessControl.FileSystemRights]::Modify
        foreach ($sid in @($SidIisUsers, $SidLocalService)) {
            if (((Get-GrantedRights -Path $dir -Sid $sid) -band $modify) -ne $modify) { $problems += "$dir lacks Modify for $sid" }
        }
    }
    foreach ($problem in $problems) { Write-Log "ACL: $problem" }
    return ($problems.Count -eq 0)
} -Action {
    foreach ($dir in @($PhpTmpDir, $PhpLogDir)) { $null = New-Item -ItemType Directory -Path $dir -Force }
    Set-HardenedAcl -Path $PhpDir -Grants (Get-PhpGrants)
    foreach ($dir in @($PhpTmpDir, $PhpLogDir)) {
        # Uploads, sessions and PHP's error log: the only places under C:\PHP the app pools and cron write.
        $null = Invoke-Checked -FilePath "$env:SystemRoot\System32\icacls.exe" -Arguments ('"{0}" /grant "*{1}:(OI)(CI)M" "*{2}:(OI)(CI)M" /Q' -f $dir, $SidIisUsers, $SidLocalService)
    }
}

Add-Step -Name 'Write php.ini' -Lab '10' -Test {
    return ((Read-TextFile (Join-Path $PhpDir 'php.ini')) -ceq (Get-DesiredPhpIni))
} -Action {
    Write-TextFile -Path (Join-Path $PhpDir 'php.ini') -Text (Get-DesiredPhpIni)
    # php-cgi.exe reads php.ini once; recycling the pool starts new ones instead of waiting for instanceMaxRequests.
    Import-IisModule
    if (Test-Path "IIS:\AppPools\$AppPoolName") {
        Write-Log "recycling app pool $AppPoolName so PHP reads the new php.ini"
        Restart-WebAppPool -Name $AppPoolName
    }
}

Add-Step -Name 'Check PHP extensions' -Lab '10' -Test {
    $result = Invoke-Process -FilePath $PhpExe -Arguments '-m' -WorkingDirectory $PhpDir -TimeoutSeconds 60
    $loaded = @($result.Output -split "`r?`n" | ForEach-Object { $_.Trim().ToLowerInvariant() })
    $wanted = @($PhpExtensions) + @('zend opcache')
    if (Test-ApcuWanted) { $wanted += 'apcu' }
    foreach ($name in $PhpOptionalExtensions) {
        if (Test-Path -LiteralPath (Join-Path $PhpDir "ext\php_$name.dll")) { $wanted += $name }
        else { Write-Log "PHP extension '$name' is not shipped with this PHP build; osTicket will run without it" -Level WARN }
    }
    $script:MissingPhpExtensions = @($wanted | Where-Object { $loaded -notcontains $_ })
    return ($result.ExitCode -eq 0 -and $script:MissingPhpExtensions.Count -eq 0)
} -Action {
    throw ('PHP does not load: ' + ($script:MissingPhpExtensions -join ', ') + ' (php -m; see C:\PHP\logs\php_errors.log)')
}

Add-Step -Name 'Register PHP FastCGI handler' -Lab '2,7' -Test {
    Import-IisModule
    $app = Get-WebConfiguration -PSPath 'MACHINE/WEBROOT/APPHOST' -Filter "system.webServer/fastCgi/application[@fullPath='$PhpCgi']"
    $handler = Get-WebConfiguration -PSPath 'MACHINE/WEBROOT/APPHOST' -Filter "system.webServer/handlers/add[@name='$PhpHandlerName']"
    if ($null -eq $app -or $null -eq $handler) { return $false }
    # verb "*": osTicket sends DELETE (and PATCH/PUT from some plugins) to scp/ajax.php; a narrower list is repaired.
    return ((Get-ConfigValue $handler.scriptProcessor) -eq $PhpCgi -and (Get-ConfigValue $handler.path) -eq '*.php' -and
            (Get-ConfigValue $handler.verb) -eq $PhpHandlerVerb)
} -Action {
    Import-IisModule
    $pspath = 'MACHINE/WEBROOT/APPHOST'
    $appFilter = "system.webServer/fastCgi/application[@fullPath='$PhpCgi']"
    if ($null -eq (Get-WebConfiguration -PSPath $pspath -Filter $appFilter)) {
        Add-WebConfiguration -PSPath $pspath -Filter 'system.webServer/fastCgi' -Value @{
            fullPath = $PhpCgi; instanceMaxRequests = 10000; activityTimeout = 600; requestTimeout = 600
        }
        Add-WebConfiguration -PSPath $pspath -Filter "$appFilter/environmentVariables" -Value @{ name = 'PHP_FCGI_MAX_REQUESTS'; value = '10000' }
        Add-WebConfiguration -PSPath $pspath -Filter "$appFilter/environmentVariables" -Value @{ name = 'PHPRC'; value = $PhpDir }
    }
    $handlerFilter = "system.webServer/handlers/add[@name='$PhpHandlerName']"
    if ($null -ne (Get-WebConfiguration -PSPath $pspath -Filter $handlerFilter)) {
        Clear-WebConfiguration -PSPath $pspath -Filter $handlerFilter
    }
    Add-WebConfiguration -PSPath $pspath -Filter 'system.webServer/handlers' -AtIndex 0 -Value @{
        name = $PhpHandlerName; path = '*.php'; verb = $PhpHandlerVerb; modules = 'FastCgiModule'
        scriptProcessor = $PhpCgi; resourceType = 'Either'; requireAccess = 'Script'
    }
}
