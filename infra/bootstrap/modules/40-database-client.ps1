# ---------------------------------------------------------------------------------------------------------
# The database client: mysql.exe, SQL on stdin, the password in the child's environment
# ---------------------------------------------------------------------------------------------------------
function ConvertTo-SqlString {
    # A quoted MariaDB string literal (used for values on the SQL sent through mysql.exe's stdin).
    param([Parameter(Mandatory = $true)][AllowEmptyString()][string]$Value)
    return "'" + $Value.Replace('\', '\\').Replace("'", "\'") + "'"
}

function Get-DbCredential {
    # A MariaDB account as a PSCredential (PSScriptAnalyzer AvoidUsingUsernameAndPasswordParams, severity Error:
    # no function takes a user name and a plain-text password). The SecureString is built character by
    # character, not with ConvertTo-SecureString -AsPlainText (AvoidUsingConvertToSecureStringWithPlainText).
    param([Parameter(Mandatory = $true)][ValidateSet('root', 'app')][string]$Account)
    if ($Account -eq 'root') { $name = 'root'; $plain = [string]$script:DbRootPassword }
    else { $name = $DbUser; $plain = [string]$script:DbAppPassword }
    $secure = New-Object System.Security.SecureString
    foreach ($character in $plain.ToCharArray()) { $secure.AppendChar($character) }
    $secure.MakeReadOnly()
    return (New-Object System.Management.Automation.PSCredential($name, $secure))
}

function Invoke-MariaDbSql {
    # Runs SQL through mysql.exe's standard input; the password travels in the child's MYSQL_PWD only.
    param(
        [Parameter(Mandatory = $true)][string]$Sql,
        [System.Management.Automation.PSCredential]$Credential = (Get-DbCredential -Account 'root'),
        [switch]$NoPassword,
        [switch]$AllowFailure
    )
    $environment = @{}
    if (-not $NoPassword) { $environment['MYSQL_PWD'] = $Credential.GetNetworkCredential().Password }
    $account = $Credential.UserName
    $arguments = "--no-defaults --protocol=TCP --host=127.0.0.1 --port=$MariaDbPort --user=$account --batch --skip-column-names --connect-timeout=10"
    $result = Invoke-Process -FilePath $MysqlExe -Arguments $arguments -InputText $Sql -Environment $environment -TimeoutSeconds 300
    if ($AllowFailure) { return $result }
    if ($result.ExitCode -ne 0) {
        throw ('mysql.exe as {0} failed (exit {1}): {2}' -f $account, $result.ExitCode, (Protect-Text $result.Error.Trim()))
    }
    return $result.Output.Trim()
}

function Test-MariaDbLogin {
    param([System.Management.Automation.PSCredential]$Credential = (Get-DbCredential -Account 'root'), [switch]$NoPassword)
    if (-not (Test-Path -LiteralPath $MysqlExe)) { return $false }
    $result = Invoke-MariaDbSql -Sql 'SELECT 1;' -Credential $Credential -NoPassword:$NoPassword -AllowFailure
    return ($result.ExitCode -eq 0)
}
