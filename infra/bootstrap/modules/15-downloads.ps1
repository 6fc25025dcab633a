# ---------------------------------------------------------------------------------------------------------
# Downloads: verified before use; installers
# ---------------------------------------------------------------------------------------------------------
function Invoke-Installer {
    # An installer run; exit 1618 (another installation is in progress) is retried with backoff.
    param(
        [Parameter(Mandatory = $true)][string]$FilePath,
        [Parameter(Mandatory = $true)][string]$Arguments,
        [int[]]$SuccessCodes = @(0, 3010, 1638)
    )
    $delay = 30
    for ($try = 1; ; $try++) {
        $result = Invoke-Process -FilePath $FilePath -Arguments $Arguments
        if ($result.ExitCode -ne 1618 -or $try -ge $InstallerBusyTries) { break }
        Write-Log ("{0}: another installation is in progress (1618), try {1} of {2}; waiting {3} s" -f (Split-Path -Leaf $FilePath), $try, $InstallerBusyTries, $delay) -Level WARN
        Start-Sleep -Seconds $delay
        $delay = $delay * 2
    }
    if ($SuccessCodes -notcontains $result.ExitCode) {
        $detail = (Protect-Text ($result.Error + "`n" + $result.Output).Trim())
        if ($detail.Length -gt 2000) { $detail = $detail.Substring($detail.Length - 2000) }
        throw ('{0} exited with code {1}: {2}' -f (Split-Path -Leaf $FilePath), $result.ExitCode, $detail)
    }
    if ($result.ExitCode -eq 3010) {
        $script:RebootRequired = $true
        Write-Log "$(Split-Path -Leaf $FilePath) asks for a restart (3010); continuing, the restart is reported at the end" -Level WARN
    }
}

function Get-WebText {
    param([Parameter(Mandatory = $true)][string]$Url, [hashtable]$Headers = @{})
    return (Invoke-WebRequest -Uri $Url -Headers $Headers -UseBasicParsing -TimeoutSec 60).Content
}

function Get-PublishedSha256 {
    # The SHA-256 the publisher states for the file $Entry names, fetched from $Url's folder ('' when none).
    param([Parameter(Mandatory = $true)]$Entry, [Parameter(Mandatory = $true)][string]$Url)
    switch ("$($Entry.verify)") {
        'php-sha256-list' { $list = ($Url.Substring(0, $Url.LastIndexOf('/')) + '/sha256sum.txt') }
        'mariadb-sha256sums' { $list = ($Url.Substring(0, $Url.LastIndexOf('/')) + '/sha256sums.txt') }
        'github-release-digest' {
            if ($Entry.url -notmatch '^https://github\.com/([^/]+)/([^/]+)/releases/download/([^/]+)/([^/]+)$') { throw "not a GitHub release asset: $($Entry.url)" }
            $api = 'https://api.github.com/repos/{0}/{1}/releases/tags/{2}' -f $Matches[1], $Matches[2], $Matches[3]
            $release = Invoke-WithRetry -What "GitHub release $api" -Action { Get-WebText -Url $api -Headers @{ Accept = 'application/vnd.github+json' } } | ConvertFrom-Json
            foreach ($asset in @($release.assets)) {
                if ($asset.name -eq $Entry.file -and "$($asset.PSObject.Properties['digest'].Value)" -match '^sha256:([0-9a-f]{64})$') { return $Matches[1] }
            }
            throw "GitHub lists no sha256 digest for $($Entry.file) in $api"
        }
        default { return '' }
    }
    $text = Invoke-WithRetry -What "checksum list $list" -Action { Get-WebText -Url $list }
    foreach ($line in ($text -split "`r?`n")) {
        if ($line -match '^\s*([0-9a-fA-F]{64})\s+\*?(\S+)\s*$' -and $Matches[2] -eq $Entry.file) { return $Matches[1].ToLowerInvariant() }
    }
    throw "$list does not list $($Entry.file)"
}

function Test-DownloadVerified {
    # Throws unless $Path is what $Entry promises: the pinned sha256 (when pinned) and the entry's verify method.
    param([Parameter(Mandatory = $true)][string]$Name, [Parameter(Mandatory = $true)]$Entry,
          [Parameter(Mandatory = $true)][string]$Path, [Parameter(Mandatory = $true)][string]$Url)
    $actual = (Get-FileHash -LiteralPath $Path -Algorithm SHA256).Hash.ToLowerInvariant()
    $pinned = "$($Entry.sha256)"
    if ($pinned -ne 'unknown' -and $actual -ne $pinned) {
        throw ("download '{0}' ({1}): SHA-256 {2} is not the pinned {3}" -f $Name, $Url, $actual, $pinned)
    }
    if ($pinned -eq 'unknown' -and -not $script:AllowUnverified) {
        throw "download '$Name': no sha256 is pinned in the manifest (ostops manifest hash --write --only $Name)"
    }
    $method = "$($Entry.verify)"
    switch ($method) {
        'sha256' {
            if ($pinned -eq 'unknown') { throw "download '$Name': verify is 'sha256' but no sha256 is pinned" }
        }
        'authenticode' {
            $signature = Get-AuthenticodeSignature -LiteralPath $Path
            $subject = if ($null -ne $signature.SignerCertificate) { $signature.SignerCertificate.Subject } else { '' }
            $wanted = 'O=' + $Entry.signer + ','
            if ("$($signature.Status)" -ne 'Valid' -or -not $subject.Contains($wanted)) {
                throw ("download '{0}': Authenticode signature is {1} (signer '{2}'), not a valid signature by {3}" -f $Name, $signature.Status, $subject, $Entry.signer)
            }
        }
        { @('php-sha256-list', 'mariadb-sha256sums', 'github-release-digest') -contains $_ } {
            try {
                $published = Get-PublishedSha256 -Entry $Entry -Url $Url
            } catch {
                # A pinned hash that matched is enough when the publisher's list cannot be read right now.
                if ($pinned -ne 'unknown') {
                    Write-Log "download '$Name': publisher checksum unavailable ($($_.Exception.Message)); the pinned sha256 matched" -Level WARN
                    return $actual
                }
                throw
            }
            if ($actual -ne $published) {
                throw ("download '{0}' ({1}): SHA-256 {2} is not the {3} the publisher lists" -f $Name, $Url, $actual, $published)
            }
        }
        default { throw "download '$Name': unknown verify method '$method'" }
    }
    return $actual
}

function Get-Download {
    # The manifest entry $Name, downloaded (url, then mirrors; 3 tries each) into C:\ostops\downloads and
    # verified, cached copies too. Unverifiable -> throws naming the entry, unless allowUnverifiedDownloads.
    param([Parameter(Mandatory = $true)][string]$Name)
    $property = $script:Downloads.PSObject.Properties[$Name]
    if ($null -eq $property) { throw "the download manifest has no '$Name' entry" }
    $entry = $property.Value
    $target = Join-Path $DownloadDir $entry.file
    $urls = @($entry.url)
    if ($null -ne $entry.PSObject.Properties['mirrors']) { $urls += @($entry.mirrors) }
    if (Test-Path -LiteralPath $target -PathType Leaf) {
        try {
            $sha = Test-DownloadVerified -Name $Name -Entry $entry -Path $target -Url $urls[0]
            Write-Log "using cached $($entry.file), verified by $($entry.verify) (sha256 $sha)"
            return $target
        } catch {
            Write-Log "cached $($entry.file) failed verification ($($_.Exception.Message)); downloading it again" -Level WARN
            Remove-Item -LiteralPath $target -Force
        }
    }
    $partial = "$target.partial"
    $problems = New-Object System.Collections.Generic.List[string]
    foreach ($url in $urls) {
        try {
            Write-Log "downloading $Name $($entry.version) from $url"
            Invoke-WithRetry -What "download '$Name' from $url" -Action {
                Invoke-WebRequest -Uri $url -OutFile $partial -UseBasicParsing -TimeoutSec 900
            }
        } catch {
            $problems.Add("$url ($($_.Exception.Message))")
            continue
        }
        try {
            $sha = Test-DownloadVerified -Name $Name -Entry $entry -Path $partial -Url $url
        } catch {
            if (-not $script:AllowUnverified) {
                Remove-Item -LiteralPath $partial -Force -ErrorAction SilentlyContinue
                throw ("refusing download '{0}': {1}" -f $Name, $_.Exception.Message)
            }
            Write-Log ("UNSAFE: allowUnverifiedDownloads is true; using '{0}' although {1}" -f $Name, $_.Exception.Message) -Level WARN
            $sha = (Get-FileHash -LiteralPath $partial -Algorithm SHA256).Hash.ToLowerInvariant()
        }
        Move-Item -LiteralPath $partial -Destination $target -Force
        Write-Log "downloaded $($entry.file), verified by $($entry.verify) (sha256 $sha)"
        return $target
    }
    throw ("download '{0}' failed from every URL: {1}" -f $Name, ($problems -join '; '))
}

function Install-Msi {
    param([Parameter(Mandatory = $true)][string]$Package, [string]$Properties = '', [Parameter(Mandatory = $true)][string]$LogName)
    $msiLog = Join-Path $WorkDir "logs\$LogName"
    Write-Log "installing $(Split-Path -Leaf $Package) (msiexec log: $msiLog)"
    # 3010: success, reboot required; 1638: this or a newer version is already installed; 1618 is retried.
    Invoke-Installer -FilePath "$env:SystemRoot\System32\msiexec.exe" `
        -Arguments ('/i "{0}" /qn /norestart /l*v "{1}" {2}' -f $Package, $msiLog, $Properties)
}
