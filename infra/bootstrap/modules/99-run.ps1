# ---------------------------------------------------------------------------------------------------------
# Run
# ---------------------------------------------------------------------------------------------------------
$null = New-Item -ItemType Directory -Path (Split-Path -Parent $LogPath) -Force
[Net.ServicePointManager]::SecurityProtocol = [Net.ServicePointManager]::SecurityProtocol -bor [Net.SecurityProtocolType]::Tls12
$script:DbAccessEnabled = $false
$script:AllowUnverified = $false
$script:RebootRequired = $false
$script:RestartScheduled = $false
$script:RestartDeferred = $false
$script:Mode = 'install'
$script:RestartMode = 'auto'
$script:DataDisk = $null
$script:HstsMaxAge = 0
$script:SmtpRelay = $null
$script:IdentityEndpoint = $ImdsEndpoint
$script:IdentityClientId = ''
$script:AutomationIp = ''
$script:Downloads = $null
$script:Settings = $null
foreach ($name in @('OsTicketVersion', 'SiteHostName', 'HelpdeskName', 'AdminUsername', 'AdminEmail', 'AdminPassword',
                    'DbRootPassword', 'DbAppPassword', 'ApiKey', 'TlsPfxBase64', 'TlsPfxPassword', 'SmtpPassword')) {
    Set-Variable -Scope Script -Name $name -Value ''
}
$script:TlsEnabled = $true
$script:TlsCertificate = $null

$mutex = New-Object System.Threading.Mutex($false, 'Global\ostops-bootstrap')
try {
    $acquired = $mutex.WaitOne(0)
} catch [System.Threading.AbandonedMutexException] {
    $acquired = $true   # an earlier run ended without releasing it
}
if (-not $acquired) {
    Write-Log 'another bootstrap run is in progress; exiting' -Level ERROR
    exit 1
}

Write-Log ('bootstrap started: {0} steps, log {1}' -f $script:Steps.Count, $LogPath)
$started = Get-Date
try {
    foreach ($step in $script:Steps) {
        # settings.mode (read by the first step) picks the steps of this run.
        if ($step.Modes -notcontains $script:Mode) { continue }
        $stepStarted = Get-Date
        try {
            $script:StepNote = ''
            if ([bool](& $step.Test | Select-Object -Last 1)) {
                if ($script:StepNote) { Write-Log "step '$($step.Name)': already in place ($($script:StepNote))" -Level WARN }
                else { Write-Log "step '$($step.Name)': already in place" }
            } else {
                Write-Log "step '$($step.Name)': running"
                $null = & $step.Action
                if ($script:RestartScheduled) {
                    # The run stops here on purpose; the resume task finishes it after the restart.
                    Write-Log ("step '{0}': Windows restarts in {1} s; the bootstrap resumes at startup (task {2}{3})" -f $step.Name, $RestartDelaySeconds, $CronTaskPath, $ResumeTaskName) -Level WARN
                    exit 0
                }
                if (-not [bool](& $step.Test | Select-Object -Last 1)) {
                    throw 'the action finished but the step''s check still fails'
                }
                Write-Log ("step '{0}': done in {1:N0} s" -f $step.Name, ((Get-Date) - $stepStarted).TotalSeconds)
            }
            # From here on a restart (ours, or platform patching) resumes the run at startup.
            if ($step.Name -eq 'Prepare working directories') { Register-ResumeTask }
        } catch {
            Write-Log ("FAILED at step '{0}': {1}" -f $step.Name, $_.Exception.Message) -Level ERROR
            Write-Log ("  at {0}" -f $_.InvocationInfo.PositionMessage) -Level ERROR
            Write-Log "fix the cause and run the bootstrap again (docs/bootstrap.md); finished steps are skipped" -Level ERROR
            exit 1
        }
    }
} finally {
    $mutex.ReleaseMutex()
}
if ($script:RestartDeferred -or $script:RebootRequired) {
    Write-Log 'a restart of Windows is still needed (TLS 1.0/1.1 off with settings.restart never, or an installer''s 3010); restart, then run the bootstrap again to confirm' -Level WARN
}
Write-Log ('bootstrap finished in {0:N0} s: staff panel https://{1}/scp/ (user {2})' -f ((Get-Date) - $started).TotalSeconds, $script:SiteHostName, $script:AdminUsername)
# Last: when this run is the resume task itself, removing the task may end it.
Unregister-ResumeTask
exit 0
