# ---------------------------------------------------------------------------------------------------------
# TLS 1.0 and 1.1 refused (may restart Windows: always the last step)
# ---------------------------------------------------------------------------------------------------------
function Test-SchannelRestartPending {
    # True when the SCHANNEL settings changed after the last boot (SCHANNEL reads them at boot only).
    $stamp = Read-TextFile $SchannelStamp
    if ($null -eq $stamp) { return $false }
    $changed = [DateTime]::Parse($stamp.Trim(), [Globalization.CultureInfo]::InvariantCulture, [Globalization.DateTimeStyles]::RoundtripKind).ToUniversalTime()
    $booted = (Get-CimInstance -ClassName Win32_OperatingSystem).LastBootUpTime.ToUniversalTime()
    return ($changed -gt $booted)
}

function Get-LegacyTlsProblems {
    # Handshakes with 127.0.0.1:443 by PHP's OpenSSL (not Schannel, whose own client side is off too): TLS 1.2
    # must succeed (the probe works), TLS 1.0 and 1.1 must fail. SECLEVEL=0 lets OpenSSL 3 offer the old versions.
    $php = @'
<?php
$methods = array('1.0' => STREAM_CRYPTO_METHOD_TLSv1_0_CLIENT, '1.1' => STREAM_CRYPTO_METHOD_TLSv1_1_CLIENT,
                 '1.2' => STREAM_CRYPTO_METHOD_TLSv1_2_CLIENT);
foreach ($methods as $version => $method) {
    $context = stream_context_create(array('ssl' => array('crypto_method' => $method, 'verify_peer' => false,
        'verify_peer_name' => false, 'ciphers' => 'DEFAULT@SECLEVEL=0')));
    $socket = @stream_socket_client('tls://127.0.0.1:443', $errno, $errstr, 15, STREAM_CLIENT_CONNECT, $context);
    echo $version, '=', ($socket ? 'accepted' : 'refused'), "\n";
    if ($socket) fclose($socket);
}
'@
    $result = Invoke-Process -FilePath $PhpExe -InputText $php -WorkingDirectory $PhpDir -TimeoutSeconds 120
    $answers = @{}
    foreach ($line in ($result.Output -split "`r?`n")) {
        if ($line -match '^(1\.[012])=(accepted|refused)$') { $answers[$Matches[1]] = $Matches[2] }
    }
    $problems = New-Object System.Collections.Generic.List[string]
    if ($answers['1.2'] -ne 'accepted') { $problems.Add("the probe could not complete a TLS 1.2 handshake with 127.0.0.1:443 (php: $($result.Error.Trim()))") }
    foreach ($version in @('1.0', '1.1')) {
        if ($answers[$version] -ne 'refused') { $problems.Add("127.0.0.1:443 accepted TLS $version") }
    }
    return @($problems)
}

Add-Step -Name 'Confirm TLS 1.0 and 1.1 refused' -Lab '' -Test {
    if (-not $script:TlsEnabled) { return $true }
    if (Test-SchannelRestartPending) {
        if ($script:RestartMode -eq 'never') {
            # The Windows CI job: its runner cannot restart. The change waits for the next boot, said at the end.
            $script:RestartDeferred = $true
            $script:StepNote = 'deferred: SCHANNEL changed since the last boot and settings.restart is never; TLS 1.0/1.1 stay on until Windows restarts'
            return $true
        }
        return $false
    }
    $refused = Get-LegacyTlsProblems
    foreach ($problem in $refused) { Write-Log "TLS: $problem" -Level WARN }
    return ($refused.Count -eq 0)
} -Action {
    if (-not (Test-SchannelRestartPending)) {
        throw 'the SCHANNEL settings are in place and Windows has restarted since, yet 127.0.0.1:443 still accepts TLS 1.0 or 1.1'
    }
    # A controlled restart: the run ends here (exit 0, 'restart scheduled'); the resume task runs the bootstrap
    # again at startup, and this check then proves the handshakes are refused.
    $null = Invoke-Checked -FilePath "$env:SystemRoot\System32\shutdown.exe" -Arguments ('/r /t {0} /d p:2:4 /c "ostops bootstrap: restart to apply SCHANNEL (TLS 1.0/1.1 off); resumes at startup"' -f $RestartDelaySeconds)
    $script:RestartScheduled = $true
}
