# ---------------------------------------------------------------------------------------------------------
# osTicket answers
# ---------------------------------------------------------------------------------------------------------
Add-Step -Name 'Reload IIS and check osTicket answers' -Lab '8,17' -Test {
    $checks = [ordered]@{
        'http://127.0.0.1/scp/login.php'            = @(200)
        'http://127.0.0.1/'                         = @(200)
        'http://127.0.0.1/api/tickets.json'         = @(400, 401, 403, 405)   # osTicket's API answered, not IIS
        'http://127.0.0.1/include/ost-config.php'   = @(404)
        'http://127.0.0.1/setup/'                   = @(404)
    }
    $ok = $true
    foreach ($url in $checks.Keys) {
        $status = Get-HttpStatus $url
        if ($checks[$url] -notcontains $status) {
            Write-Log "GET $url answered $status, expected $($checks[$url] -join ' or ')"
            $ok = $false
        }
    }
    return $ok
} -Action {
    $null = Invoke-Checked -FilePath "$env:SystemRoot\System32\iisreset.exe" -Arguments '/restart'
    Start-Sleep -Seconds 5
}
