# PSScriptAnalyzer settings for infra/bootstrap (the Windows CI job runs Invoke-ScriptAnalyzer with this file).
# The bootstrap targets Windows PowerShell 5.1 on Windows Server 2019 and 2022.
@{
    Severity     = @('Error', 'Warning')
    ExcludeRules = @(
        # The bootstrap's log is its console output on a Run Command; Write-Host is intended.
        'PSAvoidUsingWriteHost'
    )
    Rules        = @{
        PSUseCompatibleSyntax   = @{
            Enable         = $true
            TargetVersions = @('5.1')
        }
        PSUseCompatibleCommands = @{
            Enable         = $true
            # Profile names from PSScriptAnalyzer's compatibility profiles (Windows PowerShell 5.1, x64).
            TargetProfiles = @(
                'win-8_x64_10.0.17763.0_5.1.17763.316_x64_4.0.30319.42000_framework',
                'win-8_x64_10.0.14393.0_5.1.14393.2791_x64_4.0.30319.42000_framework'
            )
        }
    }
}
