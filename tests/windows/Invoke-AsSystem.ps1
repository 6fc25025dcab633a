#Requires -Version 5.1
<#
.SYNOPSIS
    The Windows CI job runs the bootstrap as a managed Run Command does: as SYSTEM, powershell.exe -File on the
    script with no parameters. A scheduled task is the way to start a program as SYSTEM; this registers one, starts
    it, waits for it and exits with its exit code (LastTaskResult), then removes it.
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory = $true)][string]$ScriptPath,
    [int]$TimeoutMinutes = 80
)
$ErrorActionPreference = 'Stop'
$taskName = 'ostops-ci-bootstrap'
$powershell = "$env:SystemRoot\System32\WindowsPowerShell\v1.0\powershell.exe"
$action = New-ScheduledTaskAction -Execute $powershell -Argument ('-NoProfile -NonInteractive -ExecutionPolicy Bypass -File "{0}"' -f $ScriptPath)
$principal = New-ScheduledTaskPrincipal -UserId 'NT AUTHORITY\SYSTEM' -LogonType ServiceAccount -RunLevel Highest
$settings = New-ScheduledTaskSettingsSet -ExecutionTimeLimit (New-TimeSpan -Minutes $TimeoutMinutes) -MultipleInstances IgnoreNew
$null = Register-ScheduledTask -TaskName $taskName -Action $action -Principal $principal -Settings $settings -Force
try {
    $before = (Get-ScheduledTaskInfo -TaskName $taskName).LastRunTime
    Start-ScheduledTask -TaskName $taskName
    $deadline = (Get-Date).AddMinutes($TimeoutMinutes + 2)
    do {
        Start-Sleep -Seconds 10
        $task = Get-ScheduledTask -TaskName $taskName
        $info = Get-ScheduledTaskInfo -TaskName $taskName
        if ((Get-Date) -gt $deadline) { throw "the bootstrap task did not finish within $TimeoutMinutes minutes" }
    } while ("$($task.State)" -eq 'Running' -or $info.LastRunTime -eq $before)
    Write-Output ("bootstrap as SYSTEM: exit code {0} (LastTaskResult), started {1}" -f $info.LastTaskResult, $info.LastRunTime)
    $code = [int]$info.LastTaskResult
} finally {
    Unregister-ScheduledTask -TaskName $taskName -Confirm:$false
}
exit $code
