<#
.SYNOPSIS
    Runs examples/fleet-move.ps1 against a private sshd on 127.0.0.1 (tests/tools/TestSshServer.psm1), for a machine
    without an sshd of its own: how README.md's fleet output is made.
.DESCRIPTION
    Both hosts are sessions to that sshd; their pwsh imports the module given here by name. Arguments after the
    -WhatIf goes to the example. The server is stopped and removed afterwards.
.EXAMPLE
    pwsh tests/tools/Invoke-FleetExample.ps1 -WhatIf
#>
param(
    # The module the hosts and this shell use (default: the built out/VfioMigration).
    [string] $Module = (Join-Path $PSScriptRoot '..' '..' 'out' 'VfioMigration' 'VfioMigration.psd1'),
    # Run the example with -WhatIf.
    [switch] $WhatIf
)
$ErrorActionPreference = 'Stop'
Import-Module (Join-Path $PSScriptRoot 'TestSshServer.psm1')
$modules = [IO.Directory]::CreateTempSubdirectory('vfio-fleet-modules-').FullName
$server = $null
try {
    $null = New-Item -ItemType SymbolicLink -Path (Join-Path $modules 'VfioMigration') -Target (Split-Path -Parent (Resolve-Path $Module).ProviderPath)
    $server = Start-TestSshServer -Environment @{ PSModulePath = $modules }
    $env:PSModulePath = $modules + [IO.Path]::PathSeparator + $env:PSModulePath
    $ssh = @{ SourceHost = $server.HostName; DestinationHost = $server.HostName; Port = $server.Port; UserName = $server.UserName; KeyFilePath = $server.KeyFilePath; SshOption = $server.Options }
    & (Join-Path $PSScriptRoot '..' '..' 'examples' 'fleet-move.ps1') @ssh -WhatIf:$WhatIf
} finally {
    if ($server) { Stop-TestSshServer $server }
    Remove-Item -LiteralPath $modules -Recurse -Force
}
