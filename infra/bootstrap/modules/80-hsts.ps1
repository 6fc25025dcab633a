# ---------------------------------------------------------------------------------------------------------
# HSTS (settings.hsts)
# ---------------------------------------------------------------------------------------------------------
function Get-HstsHeaderValue {
    # The site's Strict-Transport-Security value in applicationHost.config, $null when there is none.
    Import-IisModule
    $headers = Get-WebConfiguration -PSPath 'MACHINE/WEBROOT/APPHOST' -Location $SiteName -Filter 'system.webServer/httpProtocol/customHeaders/add'
    foreach ($header in @($headers)) {
        if ($null -ne $header -and "$(Get-ConfigValue $header.name)" -eq $HstsHeader) { return "$(Get-ConfigValue $header.value)" }
    }
    return $null
}

function Get-DesiredHstsValue {
    if ($script:HstsMaxAge -le 0) { return $null }
    return ('max-age={0}' -f $script:HstsMaxAge)
}

Add-Step -Name 'Configure HSTS' -Lab '' -Test {
    # Strict-Transport-Security at the site (applicationHost.config, not web.config): settings.hsts.maxAgeSeconds,
    # none at 0 (a self-signed certificate must not be pinned in browsers; RFC 6797 section 12.1).
    if (-not $script:TlsEnabled) { return $true }
    return ((Get-HstsHeaderValue) -ceq (Get-DesiredHstsValue))
} -Action {
    Import-IisModule
    $filter = 'system.webServer/httpProtocol/customHeaders'
    $pspath = 'MACHINE/WEBROOT/APPHOST'
    if ($null -ne (Get-HstsHeaderValue)) {
        Remove-WebConfigurationProperty -PSPath $pspath -Location $SiteName -Filter $filter -Name '.' -AtElement @{ name = $HstsHeader }
    }
    $value = Get-DesiredHstsValue
    if ($null -ne $value) {
        Add-WebConfigurationProperty -PSPath $pspath -Location $SiteName -Filter $filter -Name '.' -Value @{ name = $HstsHeader; value = $value }
    }
}
