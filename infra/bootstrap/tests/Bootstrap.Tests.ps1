#Requires -Version 5.1
# Pester 5 unit tests of the bootstrap's download, verification and installer helpers. The helper functions
# are loaded from the bootstrap's modules (parsed, never run); Invoke-Process and the network are mocked.

BeforeAll {
    foreach ($module in @(Get-ChildItem -LiteralPath (Join-Path $PSScriptRoot '..\modules') -Filter '*.ps1' | Sort-Object Name)) {
        $tokens = $null
        $errors = $null
        $ast = [System.Management.Automation.Language.Parser]::ParseFile($module.FullName, [ref]$tokens, [ref]$errors)
        if ($errors.Count -gt 0) { throw "$($module.Name) does not parse: $($errors[0].Message)" }
        foreach ($function in $ast.FindAll({ param($node) $node -is [System.Management.Automation.Language.FunctionDefinitionAst] }, $false)) {
            . ([scriptblock]::Create($function.Extent.Text))
        }
    }
    # The settings the helpers read, as the script's top sets them.
    $script:DownloadTries = 3
    $script:InstallerBusyTries = 5
    $script:Secrets = New-Object System.Collections.Generic.List[string]
    $script:AllowUnverified = $false
    $script:RebootRequired = $false
    $script:LogPath = Join-Path $TestDrive 'bootstrap.log'
    $script:WorkDir = $TestDrive
    $script:DownloadDir = Join-Path $TestDrive 'downloads'
    $null = New-Item -ItemType Directory -Path $script:DownloadDir -Force
    $script:SupportedModes = @('install')
    $script:RestartModes = @('auto', 'never')
    $script:HstsMaxAgeLimit = 63072000
    $script:ImdsEndpoint = 'http://169.254.169.254'
    $script:DbUser = 'osticket'
    $script:MariaDbPort = 3306
    $script:MysqlExe = 'C:\MariaDB\bin\mysql.exe'
    Mock Start-Sleep {}
    function Get-Sha256Hex([byte[]]$Bytes) {
        $sha = [System.Security.Cryptography.SHA256]::Create()
        try { return (($sha.ComputeHash($Bytes) | ForEach-Object { $_.ToString('x2') }) -join '') } finally { $sha.Dispose() }
    }
}

Describe 'Invoke-Installer' {
    It 'retries exit 1618 with backoff and then succeeds' {
        $script:calls = 0
        Mock Invoke-Process { $script:calls++; [pscustomobject]@{ ExitCode = $(if ($script:calls -lt 3) { 1618 } else { 0 }); Output = ''; Error = '' } }
        { Invoke-Installer -FilePath 'C:\Windows\System32\msiexec.exe' -Arguments '/i x.msi' } | Should -Not -Throw
        $script:calls | Should -Be 3
        Should -Invoke Start-Sleep -Times 2
    }
    It 'accepts 3010 and records that a restart is needed' {
        Mock Invoke-Process { [pscustomobject]@{ ExitCode = 3010; Output = ''; Error = '' } }
        Invoke-Installer -FilePath 'vc_redist.x64.exe' -Arguments '/quiet'
        $script:RebootRequired | Should -BeTrue
    }
    It 'fails on 1603 naming the program and the code' {
        Mock Invoke-Process { [pscustomobject]@{ ExitCode = 1603; Output = ''; Error = 'fatal error' } }
        { Invoke-Installer -FilePath 'C:\Windows\System32\msiexec.exe' -Arguments '/i x.msi' } | Should -Throw '*msiexec.exe exited with code 1603*'
    }
}

Describe 'Get-Download' {
    BeforeEach {
        Get-ChildItem -LiteralPath $script:DownloadDir | Remove-Item -Force
        $script:Downloads = [pscustomobject]@{
            php = [pscustomobject]@{ version = '8.4.22'; url = 'https://downloads.php.net/~windows/releases/php.zip'; file = 'php.zip'
                                     verify = 'sha256'; sha256 = ('a' * 64); mirrors = @() }
            vcredist = [pscustomobject]@{ version = '14.44'; url = 'https://download.visualstudio.microsoft.com/vc.exe'; file = 'vc.exe'
                                          verify = 'authenticode'; signer = 'Microsoft Corporation'
                                          sha256 = (Get-Sha256Hex ([System.Text.Encoding]::ASCII.GetBytes('unsigned'))) }
            urlrewrite = [pscustomobject]@{ version = '2.1'; url = 'https://download.microsoft.com/rewrite.msi'; file = 'rewrite.msi'
                                            verify = 'authenticode'; signer = 'Microsoft Corporation'; sha256 = 'unknown' }
        }
        $script:AllowUnverified = $false
    }
    It 'fails naming the entry when every URL answers 404' {
        Mock Invoke-WebRequest { throw 'The remote server returned an error: (404) Not Found.' }
        { Get-Download 'php' } | Should -Throw "*download 'php' failed from every URL*404*"
        Should -Invoke Invoke-WebRequest -Times 3
    }
    It 'refuses a hash mismatch and keeps nothing' {
        Mock Invoke-WebRequest { Set-Content -LiteralPath $OutFile -Value 'not php' }
        { Get-Download 'php' } | Should -Throw "*refusing download 'php'*is not the pinned*"
        Test-Path (Join-Path $script:DownloadDir 'php.zip') | Should -BeFalse
    }
    It 'refuses an unpinned entry (issue 20) unless allowUnverifiedDownloads, and even then checks the signature' {
        Mock Invoke-WebRequest { [System.IO.File]::WriteAllText($OutFile, 'unsigned') }
        Mock Get-AuthenticodeSignature { [pscustomobject]@{ Status = 'Valid'; SignerCertificate = [pscustomobject]@{ Subject = 'CN=Microsoft Corporation, O=Microsoft Corporation, C=US' } } }
        { Get-Download 'urlrewrite' } | Should -Throw "*refusing download 'urlrewrite'*no sha256 is pinned*"
        Test-Path (Join-Path $script:DownloadDir 'rewrite.msi') | Should -BeFalse
        $script:AllowUnverified = $true
        Get-Download 'urlrewrite' | Should -Be (Join-Path $script:DownloadDir 'rewrite.msi')
        Should -Invoke Get-AuthenticodeSignature -Times 1
    }
    It 'refuses a bad Authenticode signature naming the entry, after the pinned hash matched' {
        Mock Invoke-WebRequest { [System.IO.File]::WriteAllText($OutFile, 'unsigned') }
        Mock Get-AuthenticodeSignature { [pscustomobject]@{ Status = 'NotSigned'; SignerCertificate = $null } }
        { Get-Download 'vcredist' } | Should -Throw "*refusing download 'vcredist'*Authenticode*"
    }
    It 'verifies a cached file again and downloads anew when it no longer matches' {
        Set-Content -LiteralPath (Join-Path $script:DownloadDir 'php.zip') -Value 'tampered'
        Mock Invoke-WebRequest { throw 'offline' }
        { Get-Download 'php' } | Should -Throw "*download 'php' failed*"
        Should -Invoke Invoke-WebRequest
    }
}

Describe 'Get-HelpdeskEmail' {
    It 'uses the site host name when it has a dot' {
        Get-HelpdeskEmail -HostName 'ostops.westeurope.cloudapp.azure.com' -AdminAddress 'admin@example.com' |
            Should -Be 'helpdesk@ostops.westeurope.cloudapp.azure.com'
    }
    It 'takes the admin e-mail domain for localhost, which the osTicket installer refuses' {
        Get-HelpdeskEmail -HostName 'localhost' -AdminAddress 'admin@example.com' | Should -Be 'helpdesk@example.com'
    }
    It 'does not reuse the admin address' {
        Get-HelpdeskEmail -HostName 'localhost' -AdminAddress 'helpdesk@example.com' | Should -Be 'support@example.com'
    }
}

Describe 'Get-TlsCertificateFromSecret' {
    BeforeAll {
        $rsa = [System.Security.Cryptography.RSA]::Create()
        $rsa.KeySize = 2048
        $request = New-Object System.Security.Cryptography.X509Certificates.CertificateRequest('CN=ostops-ci.example.com', $rsa,
            [System.Security.Cryptography.HashAlgorithmName]::SHA256, [System.Security.Cryptography.RSASignaturePadding]::Pkcs1)
        $cert = $request.CreateSelfSigned([DateTimeOffset]::UtcNow, [DateTimeOffset]::UtcNow.AddDays(2))
        $script:TlsPfxPassword = 'Pester-Pfx-1'
        $script:TlsPfxBase64 = [Convert]::ToBase64String($cert.Export('Pfx', $script:TlsPfxPassword))
        $script:RealSha256 = Get-CertificateSha256 -Certificate $cert
    }
    It 'returns the PFX certificate when it is the one the settings pin' {
        $script:CertificateSha256 = $script:RealSha256
        (Get-TlsCertificateFromSecret).Subject | Should -Be 'CN=ostops-ci.example.com'
    }
    It 'fails naming both fingerprints when Key Vault holds another certificate' {
        $script:CertificateSha256 = 'ab' * 32
        { Get-TlsCertificateFromSecret } | Should -Throw "*SHA-256 $($script:RealSha256), not $('ab' * 32)*"
    }
}

Describe 'Get-OptionProblems (settings mode, restart, dataDisk, hsts, smtpRelay, endpoints)' {
    BeforeEach {
        $script:Good = '{"mode":"install","restart":"auto","dataDisk":{"lun":0,"driveLetter":"F","label":"ostops-data"},' +
            '"hsts":{"maxAgeSeconds":31536000},"smtpRelay":{"host":"smtp.example.com","port":587,"username":"relay@example.com","passwordSecretName":"smtp-relay-password"},' +
            '"secrets":{"source":"keyvault","vaultUri":"https://ostops-kv-1.vault.azure.net/"}}'
    }
    It 'accepts the settings the Pulumi program emits and puts the data directory on the data disk' {
        @(Get-OptionProblems -Settings ($script:Good | ConvertFrom-Json)) | Should -HaveCount 0
        $script:MariaDbData | Should -Be 'F:\mariadb\data'
        $script:MariaDbIni | Should -Be 'F:\mariadb\data\my.ini'
        $script:HstsMaxAge | Should -Be 31536000
        $script:SmtpRelay.Port | Should -Be 587
        $script:IdentityEndpoint | Should -Be 'http://169.254.169.254'
        Get-DesiredHstsValue | Should -Be 'max-age=31536000'
    }
    It 'keeps the data on C: without a data disk, and sends no HSTS at max-age 0' {
        $settings = $script:Good | ConvertFrom-Json
        $settings.dataDisk = $null
        $settings.hsts.maxAgeSeconds = 0
        @(Get-OptionProblems -Settings $settings) | Should -HaveCount 0
        $script:MariaDbData | Should -Be 'C:\MariaDB\data'
        Get-DesiredHstsValue | Should -BeNullOrEmpty
    }
    It 'lists every bad value at once, each naming its key' {
        $bad = '{"mode":"upgrade","restart":"sometimes","dataDisk":{"lun":64,"driveLetter":"C","label":"a b"},"hsts":{"maxAgeSeconds":-1},' +
            '"smtpRelay":{"host":"smtp example","port":0,"username":"","passwordSecretName":"x/y"},' +
            '"secrets":{"source":"keyvault","vaultUri":"http://evil.example.com/","identityEndpoint":"http://10.0.0.5:80"}}'
        $problems = @(Get-OptionProblems -Settings ($bad | ConvertFrom-Json))
        foreach ($key in @('settings.mode', 'settings.restart', 'settings.dataDisk.lun', 'settings.dataDisk.driveLetter', 'settings.dataDisk.label',
                           'settings.hsts.maxAgeSeconds', 'settings.smtpRelay.host', 'settings.smtpRelay.port', 'settings.smtpRelay.username',
                           'settings.smtpRelay.passwordSecretName', 'settings.secrets.identityEndpoint', 'settings.secrets.vaultUri')) {
            @($problems | Where-Object { $_ -like "$key *" }) | Should -HaveCount 1 -Because $key
        }
    }
    It 'accepts a relay without authentication (username and passwordSecretName both null), not half of one' {
        $settings = $script:Good | ConvertFrom-Json
        $settings.smtpRelay.username = $null
        $settings.smtpRelay.passwordSecretName = $null
        @(Get-OptionProblems -Settings $settings) | Should -HaveCount 0
        $settings.smtpRelay.username = 'relay@example.com'
        @(Get-OptionProblems -Settings $settings) | Should -HaveCount 1
    }
    It 'accepts the loopback stand-in for both endpoints, and the vault on loopback only with it' {
        $settings = '{"secrets":{"source":"keyvault","vaultUri":"http://127.0.0.1:50342/","identityEndpoint":"http://127.0.0.1:50342"}}' | ConvertFrom-Json
        @(Get-OptionProblems -Settings $settings) | Should -HaveCount 0
        $script:IdentityEndpoint | Should -Be 'http://127.0.0.1:50342'
        $settings.secrets.identityEndpoint = 'http://169.254.169.254'
        @(Get-OptionProblems -Settings $settings) | Should -HaveCount 1
    }
}

Describe 'Get-PfxIntermediates' {
    It 'returns the chain certificates of a PFX, not the key holder and not the root' {
        $ca = New-Object System.Security.Cryptography.X509Certificates.X509BasicConstraintsExtension($true, $false, 0, $true)
        $sha = [System.Security.Cryptography.HashAlgorithmName]::SHA256
        $pad = [System.Security.Cryptography.RSASignaturePadding]::Pkcs1
        $now = [DateTimeOffset]::UtcNow
        $rootKey = [System.Security.Cryptography.RSA]::Create(); $rootKey.KeySize = 2048
        $rootRequest = New-Object System.Security.Cryptography.X509Certificates.CertificateRequest('CN=Pester Root', $rootKey, $sha, $pad)
        $rootRequest.CertificateExtensions.Add($ca)
        $root = $rootRequest.CreateSelfSigned($now, $now.AddDays(3))
        $midKey = [System.Security.Cryptography.RSA]::Create(); $midKey.KeySize = 2048
        $midRequest = New-Object System.Security.Cryptography.X509Certificates.CertificateRequest('CN=Pester Intermediate', $midKey, $sha, $pad)
        $midRequest.CertificateExtensions.Add($ca)
        $mid = [System.Security.Cryptography.X509Certificates.RSACertificateExtensions]::CopyWithPrivateKey($midRequest.Create($root, $now, $now.AddDays(2), [byte[]](1, 2)), $midKey)
        $leafKey = [System.Security.Cryptography.RSA]::Create(); $leafKey.KeySize = 2048
        $leafRequest = New-Object System.Security.Cryptography.X509Certificates.CertificateRequest('CN=ostops-ci.example.com', $leafKey, $sha, $pad)
        $leaf = [System.Security.Cryptography.X509Certificates.RSACertificateExtensions]::CopyWithPrivateKey($leafRequest.Create($mid, $now, $now.AddDays(1), [byte[]](3, 4)), $leafKey)
        $bundle = New-Object System.Security.Cryptography.X509Certificates.X509Certificate2Collection
        $null = $bundle.Add($leaf)
        $null = $bundle.Add((New-Object System.Security.Cryptography.X509Certificates.X509Certificate2(, $mid.RawData)))
        $null = $bundle.Add((New-Object System.Security.Cryptography.X509Certificates.X509Certificate2(, $root.RawData)))
        $script:TlsPfxPassword = 'Pester-Chain-1'
        $script:TlsPfxBase64 = [Convert]::ToBase64String($bundle.Export('Pfx', $script:TlsPfxPassword))
        $found = @(Get-PfxIntermediates -Collection (Get-PfxCollection))
        $found | Should -HaveCount 1
        $found[0].Subject | Should -Be 'CN=Pester Intermediate'
    }
}

Describe 'Invoke-MariaDbSql' {
    It 'takes a PSCredential and passes its password in the child environment only' {
        $script:DbRootPassword = 'R00t "pw" & <x> ü'
        Mock Invoke-Process { [pscustomobject]@{ ExitCode = 0; Output = '1'; Error = '' } }
        Invoke-MariaDbSql -Sql 'SELECT 1;' | Should -Be '1'
        Should -Invoke Invoke-Process -Times 1 -ParameterFilter {
            $Environment['MYSQL_PWD'] -eq 'R00t "pw" & <x> ü' -and $Arguments -like '*--user=root *' -and $Arguments -notlike '*R00t*'
        }
        (Get-DbCredential -Account 'app').UserName | Should -Be 'osticket'
    }
}

Describe 'a failing step' {
    It 'is named in the failure' {
        Mock Get-Download { throw "refusing download 'mariadb': SHA-256 x is not the y the publisher lists" }
        $step = { $null = Get-Download 'mariadb' }
        $message = ''
        try { & $step } catch { $message = "FAILED at step 'Install MariaDB server': $($_.Exception.Message)" }
        $message | Should -BeLike "FAILED at step 'Install MariaDB server': refusing download 'mariadb'*"
    }
}
