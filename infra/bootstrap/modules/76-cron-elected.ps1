# ---------------------------------------------------------------------------------------------------------
# osTicket's cron exactly once per tick across the web instances (settings.cron, mode database-elected).
# Every instance has the same scheduled task; osTicket's mail fetcher has no lock of its own, so the
# database elects one instance per tick: the tick is the database's clock divided by the interval, and
# INSERT IGNORE of that tick into the tick table (primary key) succeeds on exactly one instance. That
# instance then runs api/cron.php while it holds GET_LOCK(lockName), so a slow run never overlaps the next
# tick's. The local twin (automation/local) elects the same way.
# ---------------------------------------------------------------------------------------------------------
$CronWrapper = 'C:\PHP\ostops\cron-elected.php'
$CronWrapperArguments = '-f "C:\PHP\ostops\cron-elected.php"'
$CronWrapperText = @'
<?php
// ostops: osTicket's api/cron.php once per tick across the web instances (written by the bootstrap).
define('INCLUDE_DIR', 'C:/inetpub/osticket/include/');
$_SERVER['SCRIPT_NAME'] = 'cron-elected.php';
require 'C:/inetpub/osticket/include/ost-config.php';
mysqli_report(MYSQLI_REPORT_ERROR | MYSQLI_REPORT_STRICT);
list($host, $port) = array_pad(explode(':', DBHOST, 2), 2, 3306);
$db = mysqli_init();
$db->options(MYSQLI_OPT_CONNECT_TIMEOUT, 15);
$db->ssl_set(null, null, DBSSLCA, null, null);
$db->real_connect($host, DBUSER, DBPASS, DBNAME, (int) $port, null, MYSQLI_CLIENT_SSL);
$table = '`__TICK_TABLE__`';
$tick = (int) $db->query('SELECT FLOOR(UNIX_TIMESTAMP() / (60 * __MINUTES__))')->fetch_row()[0];
$stmt = $db->prepare("INSERT IGNORE INTO $table (tick, host, started) VALUES (?, ?, NOW())");
$me = gethostname();
$stmt->bind_param('is', $tick, $me);
$stmt->execute();
if ($stmt->affected_rows !== 1) { echo "tick $tick: another instance runs cron\n"; exit(0); }
if ((int) $db->query("SELECT GET_LOCK('__LOCK__', 0)")->fetch_row()[0] !== 1) { echo "tick $tick: the previous run still holds the lock\n"; exit(0); }
passthru(escapeshellarg(PHP_BINARY) . ' -f ' . escapeshellarg('C:/inetpub/osticket/api/cron.php'), $code);
$db->query("SELECT RELEASE_LOCK('__LOCK__')");
$db->query("DELETE FROM $table WHERE tick < " . ($tick - 2016));
exit($code);
'@

function Get-DesiredCronWrapper {
    $db = $script:Database
    return $CronWrapperText.Replace('__TICK_TABLE__', $db.CronTickTable).Replace('__MINUTES__', "$($db.CronMinutes)").Replace('__LOCK__', $db.CronLock)
}

Add-Step -Name 'Schedule osTicket cron (elected per tick)' -Lab '' -Test {
    if ((Read-TextFile $CronWrapper) -cne (Get-DesiredCronWrapper)) { return $false }
    $task = Get-ScheduledTask -TaskName $CronTaskName -TaskPath $CronTaskPath -ErrorAction SilentlyContinue
    if ($null -eq $task) { return $false }
    $action = @($task.Actions)[0]
    $trigger = @($task.Triggers)[0]
    return ($action.Execute -eq $PhpExe -and $action.Arguments -eq $CronWrapperArguments -and $task.Principal.UserId -match 'LOCAL ?SERVICE$' -and
            $trigger.Repetition.Interval -eq ('PT{0}M' -f $script:Database.CronMinutes) -and "$($task.State)" -ne 'Disabled')
} -Action {
    # Under C:\PHP: only administrators write it, the cron task (LOCAL SERVICE) reads it (step 'Harden PHP folder').
    $null = New-Item -ItemType Directory -Path (Split-Path -Parent $CronWrapper) -Force
    Write-TextFile -Path $CronWrapper -Text (Get-DesiredCronWrapper)
    $action = New-ScheduledTaskAction -Execute $PhpExe -Argument $CronWrapperArguments -WorkingDirectory (Join-Path $Webroot 'api')
    $trigger = New-ScheduledTaskTrigger -Once -At (Get-Date).Date -RepetitionInterval (New-TimeSpan -Minutes $script:Database.CronMinutes)
    $principal = New-ScheduledTaskPrincipal -UserId 'NT AUTHORITY\LOCAL SERVICE' -LogonType ServiceAccount -RunLevel Limited
    $settings = New-ScheduledTaskSettingsSet -MultipleInstances IgnoreNew -ExecutionTimeLimit (New-TimeSpan -Minutes 10) -StartWhenAvailable
    $null = Register-ScheduledTask -TaskName $CronTaskName -TaskPath $CronTaskPath -Action $action -Trigger $trigger `
        -Principal $principal -Settings $settings -Description 'osTicket api/cron.php, elected once per tick across the web instances (ostops bootstrap)' -Force
}
