# ---------------------------------------------------------------------------------------------------------
# osTicket's cron as a scheduled task on this machine (install role)
# ---------------------------------------------------------------------------------------------------------
Add-Step -Name 'Schedule osTicket cron' -Lab '' -Test {
    $task = Get-ScheduledTask -TaskName $CronTaskName -TaskPath $CronTaskPath -ErrorAction SilentlyContinue
    if ($null -eq $task) { return $false }
    $action = @($task.Actions)[0]
    $trigger = @($task.Triggers)[0]
    return ($action.Execute -eq $PhpExe -and $action.Arguments -eq $CronArguments -and $task.Principal.UserId -match 'LOCAL ?SERVICE$' -and
            $trigger.Repetition.Interval -eq 'PT5M' -and "$($task.State)" -ne 'Disabled')
} -Action {
    $action = New-ScheduledTaskAction -Execute $PhpExe -Argument $CronArguments -WorkingDirectory (Join-Path $Webroot 'api')
    $trigger = New-ScheduledTaskTrigger -Once -At (Get-Date).Date -RepetitionInterval (New-TimeSpan -Minutes 5)
    # LOCAL SERVICE: a built-in account with minimal rights and no password to manage; it may read the code,
    # ost-config.php and run PHP, and write nothing but PHP's tmp and logs folders (never SYSTEM: issue 12).
    $principal = New-ScheduledTaskPrincipal -UserId 'NT AUTHORITY\LOCAL SERVICE' -LogonType ServiceAccount -RunLevel Limited
    $settings = New-ScheduledTaskSettingsSet -MultipleInstances IgnoreNew -ExecutionTimeLimit (New-TimeSpan -Minutes 10) -StartWhenAvailable
    $null = Register-ScheduledTask -TaskName $CronTaskName -TaskPath $CronTaskPath -Action $action -Trigger $trigger `
        -Principal $principal -Settings $settings -Description 'osTicket api/cron.php every 5 minutes (ostops bootstrap)' -Force
}
