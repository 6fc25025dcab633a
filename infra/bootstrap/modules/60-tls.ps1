# ---------------------------------------------------------------------------------------------------------
# TLS: the site certificate from Key Vault, the HTTPS binding, SCHANNEL
# ---------------------------------------------------------------------------------------------------------
function Get-PfxCollection {
    # Every certificate in the tls-pfx secret; keys are not persisted (EphemeralKeySet).
    $bytes = [Convert]::FromBase64String($script:TlsPfxBase64)
    $collection = New-Object System.Security.Cryptography.X509Certificates.X509Certificate2Collection
    $collection.Import($bytes, $script:TlsPfxPassword, [System.Security.Cryptography.X509Certificates.X509KeyStorageFlags]::EphemeralKeySet)
    return , $collection
}

function Get-PfxIntermediates {
    # The chain certificates of a PFX: no private key, and not self-signed (a root is never imported).
    param([Parameter(Mandatory = $true)]$Collection)
    foreach ($cert in $Collection) {
        if (-not $cert.HasPrivateKey -and $cert.Subject -ne $cert.Issuer) { $cert }
    }
}

function Get-TlsCertificateFromSecret {
    # The certificate (with its private key) inside the tls-pfx secret; the key is not persisted here.
    $collection = Get-PfxCollection
    $cert = @($collection | Where-Object { $_.HasPrivateKey }) | Select-Object -First 1
    if ($null -eq $cert) { throw 'the tls-pfx secret holds no certificate with a private key' }
    if ($script:CertificateSha256 -ne '') {
        $actual = Get-CertificateSha256 -Certificate $cert
        if ($actual -ne $script:CertificateSha256) {
            throw ("the tls-pfx secret holds the certificate with SHA-256 {0}, not {1} (settings.tls.certificateSha256: the " +
                   "certificate this deployment made, which the stack output certificatePem pins); Key Vault has another " +
                   "PFX: run pulumi up again") -f $actual, $script:CertificateSha256
        }
    }
    return $cert
}

function Get-SchannelKeys {
    $root = 'HKLM:\SYSTEM\CurrentControlSet\Control\SecurityProviders\SCHANNEL\Protocols'
    foreach ($protocol in @('TLS 1.0', 'TLS 1.1')) {
        foreach ($side in @('Server', 'Client')) { "$root\$protocol\$side" }
    }
}

Add-Step -Name 'Import TLS certificate' -Lab '' -Test {
    if (-not $script:TlsEnabled) { return $true }
    $script:TlsCertificate = Get-TlsCertificateFromSecret
    $installed = Get-Item -LiteralPath ('Cert:\LocalMachine\My\' + $script:TlsCertificate.Thumbprint) -ErrorAction SilentlyContinue
    if ($null -eq $installed -or -not $installed.HasPrivateKey) { return $false }
    foreach ($cert in @(Get-PfxIntermediates -Collection (Get-PfxCollection))) {
        if (-not (Test-Path -LiteralPath ('Cert:\LocalMachine\CA\' + $cert.Thumbprint))) { return $false }
    }
    return $true
} -Action {
    $bytes = [Convert]::FromBase64String($script:TlsPfxBase64)
    $flags = [System.Security.Cryptography.X509Certificates.X509KeyStorageFlags]'MachineKeySet, PersistKeySet'
    $collection = New-Object System.Security.Cryptography.X509Certificates.X509Certificate2Collection
    # Non-exportable (no Exportable flag): the key can be used by IIS but not read back out.
    $collection.Import($bytes, $script:TlsPfxPassword, $flags)
    $store = New-Object System.Security.Cryptography.X509Certificates.X509Store('My', 'LocalMachine')
    $store.Open('ReadWrite')
    try {
        foreach ($cert in $collection) { if ($cert.HasPrivateKey) { $store.Add($cert) } }
    } finally { $store.Close() }
    # The chain the PFX carries: certificates without a key that are not self-signed go to the Intermediate
    # Certification Authorities store (LocalMachine\CA), so Schannel can send them to clients. A root the PFX
    # carries is never trusted from here (no Root store).
    $intermediates = New-Object System.Security.Cryptography.X509Certificates.X509Store('CA', 'LocalMachine')
    $intermediates.Open('ReadWrite')
    try {
        foreach ($cert in @(Get-PfxIntermediates -Collection $collection)) {
            Write-Log "importing intermediate certificate $($cert.Subject) ($($cert.Thumbprint)) into LocalMachine\CA"
            $intermediates.Add($cert)
        }
    } finally { $intermediates.Close() }
}

Add-Step -Name 'Bind HTTPS certificate' -Lab '' -Test {
    if (-not $script:TlsEnabled) { return $true }
    Import-IisModule
    $https = @(Get-WebBinding -Name $SiteName -Protocol https | Where-Object { $_.bindingInformation -eq '*:443:' })
    if ($https.Count -ne 1) { return $false }
    $ssl = Get-Item 'IIS:\SslBindings\0.0.0.0!443' -ErrorAction SilentlyContinue
    return ($null -ne $ssl -and $ssl.Thumbprint -eq $script:TlsCertificate.Thumbprint)
} -Action {
    Import-IisModule
    if (@(Get-WebBinding -Name $SiteName -Protocol https | Where-Object { $_.bindingInformation -eq '*:443:' }).Count -eq 0) {
        New-WebBinding -Name $SiteName -Protocol https -IPAddress '*' -Port 443
    }
    if (Test-Path 'IIS:\SslBindings\0.0.0.0!443') { Remove-Item -Path 'IIS:\SslBindings\0.0.0.0!443' -Force }
    $binding = Get-WebBinding -Name $SiteName -Protocol https | Where-Object { $_.bindingInformation -eq '*:443:' } | Select-Object -First 1
    $binding.AddSslCertificate($script:TlsCertificate.Thumbprint, 'My')
}

Add-Step -Name 'Disable TLS 1.0 and 1.1' -Lab '' -Test {
    # SCHANNEL registry settings (learn.microsoft.com/windows-server/security/tls/tls-registry-settings):
    # Enabled=0 and DisabledByDefault=1 under Protocols\<version>\Server and \Client.
    foreach ($key in (Get-SchannelKeys)) {
        $values = Get-ItemProperty -LiteralPath $key -ErrorAction SilentlyContinue
        if ($null -eq $values -or $null -eq $values.PSObject.Properties['Enabled'] -or $values.Enabled -ne 0) { return $false }
        if ($null -eq $values.PSObject.Properties['DisabledByDefault'] -or $values.DisabledByDefault -ne 1) { return $false }
    }
    return $true
} -Action {
    foreach ($key in (Get-SchannelKeys)) {
        $null = New-Item -Path $key -Force
        $null = New-ItemProperty -LiteralPath $key -Name 'Enabled' -Value 0 -PropertyType DWord -Force
        $null = New-ItemProperty -LiteralPath $key -Name 'DisabledByDefault' -Value 1 -PropertyType DWord -Force
    }
    # SCHANNEL reads these at boot ("TLS registry settings": changes take effect after a restart). The time of
    # the change is kept; 'Confirm TLS 1.0 and 1.1 refused' restarts Windows when the last boot is older.
    Write-TextFile -Path $SchannelStamp -Text ([DateTime]::UtcNow.ToString('o'))
}
