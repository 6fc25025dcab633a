
# ---------------------------------------------------------------------------------------------------------
# Settings (data, not logic)
# ---------------------------------------------------------------------------------------------------------
$SettingsPlaceholder = '__OSTOPS_' + 'SETTINGS_JSON__'
$MinimumOsTicketVersion = '1.18.3'   # security floor: fixes CVE-2026-22200
$RequiredDownloads = @('osticket', 'php', 'vcredist', 'urlrewrite', 'mariadb')
# The role this script was composed for (infra/bootstrap_command.py ROLE_MODULES); a role's own module sets it.
$ScriptRole = 'install'
$SecretNames = @('adminPassword', 'dbRootPassword', 'dbAppPassword', 'apiKey', 'tlsPfx', 'tlsPfxPassword')
# settings.mode: what this run does. Every step names the modes it belongs to (Add-Step -Modes); later modes
# (upgrade, rotate, backup) add their steps and a value here.
$SupportedModes = @('install')
# settings.restart: 'auto' restarts Windows when a change needs it (SCHANNEL) and resumes at startup; 'never'
# leaves the restart to the operator (the Windows CI job: its runner cannot restart).
$RestartModes = @('auto', 'never')
$HstsMaxAgeLimit = 63072000    # two years, the longest max-age the settings accept
$DownloadTries = 3
$InstallerBusyTries = 5        # exit 1618: another installation is in progress (e.g. platform patching)
# Key Vault RBAC: "it will take up to 10 minutes (600 seconds) after role assignments is changed for role to be
# applied" (Microsoft, "Provide access to Key Vault keys, certificates, and secrets with Azure RBAC", Known limits).
$KeyVaultTries = 19            # sleeps of 5, 10, 20, 40, then 60 s: 915 s (~15 minutes) in all
$KeyVaultApiVersion = '7.4'
# The managed identity endpoint (IMDS); settings.secrets.identityEndpoint may name a loopback stand-in instead
# (tests/windows/fake_azure.py in the Windows CI job), nothing else.
$ImdsEndpoint = 'http://169.254.169.254'
$ImdsIdentityRoute = '/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fvault.azure.net'

$WorkDir = 'C:\ostops'
$DownloadDir = 'C:\ostops\downloads'
$SourceDir = 'C:\ostops\src'
$StateDir = 'C:\ostops\state'
$InstallerPath = 'C:\ostops\installer\installer.php'

$PhpDir = 'C:\PHP'
$PhpExe = 'C:\PHP\php.exe'
$PhpCgi = 'C:\PHP\php-cgi.exe'
$PhpTmpDir = 'C:\PHP\tmp'
$PhpLogDir = 'C:\PHP\logs'
$PhpHandlerName = 'PHP_via_FastCGI'
$PhpHandlerVerb = '*'
# zip: osTicket's exports use ZipArchive. apcu is a PECL DLL, enabled only when the manifest has an 'apcu' entry.
$PhpExtensions = @('mysqli', 'intl', 'gd', 'mbstring', 'fileinfo', 'openssl', 'zip')
$PhpOptionalExtensions = @('imap')   # enabled when the build ships the DLL (PHP 8.2 does; 8.4 dropped it)
$PhpSettings = [ordered]@{
    'memory_limit'                    = '256M'
    'upload_max_filesize'             = '20M'
    'post_max_size'                   = '25M'
    'max_execution_time'              = '300'
    'max_input_time'                  = '300'
    'date.timezone'                   = 'UTC'
    'cgi.fix_pathinfo'                = '1'
    'cgi.force_redirect'              = '0'
    'fastcgi.impersonate'             = '1'
    'fastcgi.logging'                 = '0'
    'expose_php'                      = 'Off'
    'display_errors'                  = 'Off'
    'log_errors'                      = 'On'
    'error_log'                       = '"C:\PHP\logs\php_errors.log"'
    'upload_tmp_dir'                  = '"C:\PHP\tmp"'
    'session.save_path'               = '"C:\PHP\tmp"'
    'opcache.enable'                  = '1'
    'opcache.memory_consumption'      = '128'
    'opcache.interned_strings_buffer' = '16'
    'opcache.max_accelerated_files'   = '10000'
    'opcache.revalidate_freq'         = '60'
}

$IisFeatures = @(
    'Web-Server', 'Web-WebServer',
    'Web-Common-Http', 'Web-Default-Doc', 'Web-Dir-Browsing', 'Web-Http-Errors', 'Web-Static-Content', 'Web-Http-Redirect',
    'Web-Health', 'Web-Http-Logging', 'Web-Performance', 'Web-Stat-Compression',
    'Web-Security', 'Web-Filtering',
    'Web-App-Dev', 'Web-CGI',
    'Web-Mgmt-Tools', 'Web-Mgmt-Console', 'Web-Scripting-Tools'
)
$SiteName = 'osTicket'
$AppPoolName = 'osTicket'
$Webroot = 'C:\inetpub\osticket'
$OstConfig = 'C:\inetpub\osticket\include\ost-config.php'

$MariaDbService = 'MariaDB'
$MariaDbDir = 'C:\MariaDB'
# Without settings.dataDisk the data stay on the OS disk (C:\MariaDB\data); with it, on the data disk
# (<letter>:\mariadb\data). 'Validate settings' sets these four from the settings.
$MariaDbData = 'C:\MariaDB\data'
$MariaDbIni = 'C:\MariaDB\data\my.ini'
$MysqlExe = 'C:\MariaDB\bin\mysql.exe'
$MysqldExe = 'C:\MariaDB\bin\mysqld.exe'
$MariaDbPort = 3306
$MariaDbFeatures = 'DBInstance,MYSQLSERVER,Client,SharedLibraries'
# An existing data directory (a replaced VM, the data disk re-attached): the server and client without
# DBInstance, which would create a new, empty instance; the service is registered against the old one.
$MariaDbFeaturesWithoutInstance = 'MYSQLSERVER,Client,SharedLibraries'
$DbName = 'osticket'
$DbUser = 'osticket'
$TablePrefix = 'ost_'
$DbAppPrivileges = 'SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, INDEX, DROP, CREATE TEMPORARY TABLES, LOCK TABLES'
# Seeding writes configuration rows in one transaction and verification reads; no DDL from outside.
$DbAutomationPrivileges = 'SELECT, INSERT, UPDATE, DELETE'
$DbTlsCert = 'C:\MariaDB\data\ostops-server-cert.pem'
$DbTlsKey = 'C:\MariaDB\data\ostops-server-key.pem'

$HttpFirewallRule = 'ostops-http'
$HttpPorts = @(80, 443)
$DbFirewallRule = 'ostops-mariadb'
$CronTaskName = 'osTicket cron'
$CronTaskPath = '\ostops\'
# Registered while a run is unfinished, removed when one ends well: a restart (ours after the SCHANNEL change,
# or platform patching) resumes the bootstrap at startup, as SYSTEM, from the copy in C:\ostops.
$ResumeTaskName = 'bootstrap resume'
$ScriptCopy = 'C:\ostops\bootstrap.ps1'
$SchannelStamp = 'C:\ostops\state\schannel-changed.txt'
$RestartDelaySeconds = 120     # time for the Run Command to report the run before Windows restarts
$HstsHeader = 'Strict-Transport-Security'
$CronArguments = '-f "C:\inetpub\osticket\api\cron.php"'

$SidSystem = 'S-1-5-18'
$SidAdministrators = 'S-1-5-32-544'
$SidIisUsers = 'S-1-5-32-568'
$SidLocalService = 'S-1-5-19'
