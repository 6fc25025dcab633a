# PSScriptAnalyzer settings for infra/bootstrap and tests/windows (the Windows CI job runs Invoke-ScriptAnalyzer
# 1.24.0 with this file and fails on any Error, ParseError or compatibility finding).
# The bootstrap targets Windows PowerShell 5.1 on Windows Server 2019 and 2022. PSScriptAnalyzer 1.24.0 ships
# Windows PowerShell 5.1 profiles for Server 2016 (14393) and Server 2019 (17763), none for Server 2022 (20348):
# the 2019 profile is the nearest, and the job itself runs on Server 2022, where a missing command fails the run.
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
            # Profile names from PSScriptAnalyzer's compatibility profiles (Windows PowerShell 5.1, x64, Server).
            TargetProfiles = @(
                'win-8_x64_10.0.17763.0_5.1.17763.316_x64_4.0.30319.42000_framework',
                'win-8_x64_10.0.14393.0_5.1.14393.2791_x64_4.0.30319.42000_framework'
            )
        }
        PSUseCompatibleTypes    = @{
            Enable         = $true
            TargetProfiles = @(
                'win-8_x64_10.0.17763.0_5.1.17763.316_x64_4.0.30319.42000_framework',
                'win-8_x64_10.0.14393.0_5.1.14393.2791_x64_4.0.30319.42000_framework'
            )
        }
    }
}
