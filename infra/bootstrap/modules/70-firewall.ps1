# ---------------------------------------------------------------------------------------------------------
# Windows Firewall
# ---------------------------------------------------------------------------------------------------------
Add-Step -Name 'Open Windows Firewall' -Lab '' -Test {
    $rule = Get-NetFirewallRule -Name $HttpFirewallRule -ErrorAction SilentlyContinue
    if ($null -eq $rule -or "$($rule.Enabled)" -ne 'True' -or "$($rule.Action)" -ne 'Allow') { return $false }
    $ports = @(($rule | Get-NetFirewallPortFilter).LocalPort | ForEach-Object { "$_" } | Sort-Object)
    return (($ports -join ',') -eq (@($HttpPorts | ForEach-Object { "$_" } | Sort-Object) -join ','))
} -Action {
    Remove-NetFirewallRule -Name $HttpFirewallRule -ErrorAction SilentlyContinue
    $null = New-NetFirewallRule -Name $HttpFirewallRule -DisplayName 'ostops: osTicket HTTP and HTTPS' `
        -Direction Inbound -Protocol TCP -LocalPort $HttpPorts -Action Allow -Profile Any
}
