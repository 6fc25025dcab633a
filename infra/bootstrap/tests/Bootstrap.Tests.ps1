#Requires -Version 5.1
# Pester 5 unit tests of the bootstrap's download, verification and installer helpers. The helper functions
# are loaded from bootstrap.ps1 (parsed, never run); Invoke-Process and the network are mocked.

BeforeAll {
    $scriptPath = Join-Path $PSScriptRoot '..\bootstrap.ps1'
    $tokens = $null
    $errors = $null
    $ast = [System.Management.Automation.Language.Parser]::ParseFile($scriptPath, [ref]$tokens, [ref]$errors)
    if ($errors.Count -gt 0) { throw "bootstrap.ps1 does not parse: $($errors[0].Message)" }
    foreach ($function in $ast.FindAll({ param($node) $node -is [System.Management.Automation.Language.FunctionDefinitionAst] }, $false)) {
        . ([scriptblock]::Create($function.Extent.Text))
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
    Mock Start-Sleep {}
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
            vcredist = [pscustomobject]@{ version = '14.44'; url = 'https://aka.ms/vc_redist.x64.exe'; file = 'vc.exe'
                                          verify = 'authenticode'; signer = 'Microsoft Corporation'; sha256 = 'unknown' }
        }
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
    It 'refuses a bad Authenticode signature naming the entry' {
        Mock Invoke-WebRequest { Set-Content -LiteralPath $OutFile -Value 'unsigned' }
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

Describe 'a failing step' {
    It 'is named in the failure' {
        Mock Get-Download { throw "refusing download 'mariadb': SHA-256 x is not the y the publisher lists" }
        $step = { $null = Get-Download 'mariadb' }
        $message = ''
        try { & $step } catch { $message = "FAILED at step 'Install MariaDB server': $($_.Exception.Message)" }
        $message | Should -BeLike "FAILED at step 'Install MariaDB server': refusing download 'mariadb'*"
    }
}
