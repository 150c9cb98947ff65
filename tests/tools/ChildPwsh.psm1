# Runs a command in a new pwsh process, the same pwsh the tests run in, with a changed environment: how the tests
# see the module as a new shell of an administrator does (a scratch HOME, a module path of their choosing).
Set-StrictMode -Version Latest

function Get-PwshCommand {
    # The pwsh running this, also when it is the dotnet tool (ProcessPath is then dotnet, not pwsh).
    $exe = [Environment]::ProcessPath
    if ([IO.Path]::GetFileNameWithoutExtension($exe) -eq 'dotnet') { @($exe, (Join-Path $PSHOME 'pwsh.dll')) } else { @($exe) }
}

function Invoke-ChildPwsh {
    <#
    .SYNOPSIS
        Runs `pwsh -NoProfile -NonInteractive -Command <Command>`; returns ExitCode, Output (stdout) and Errors
        (stderr) as strings. Environment: name = value to set, name = $null to remove.
    #>
    [CmdletBinding()]
    param(
        [Parameter(Mandatory)] [string] $Command,
        [hashtable] $Environment = @{},
        [string] $WorkingDirectory = (Get-Location).ProviderPath,
        [int] $TimeoutSeconds = 300
    )
    $pwsh = @(Get-PwshCommand)
    $info = [System.Diagnostics.ProcessStartInfo]::new($pwsh[0])
    foreach ($a in ($pwsh | Select-Object -Skip 1)) { $info.ArgumentList.Add($a) }
    foreach ($a in '-NoProfile', '-NonInteractive', '-Command', "`$PSStyle.OutputRendering = 'PlainText'; $Command") { $info.ArgumentList.Add($a) }
    $info.WorkingDirectory = $WorkingDirectory
    $info.UseShellExecute = $false
    $info.RedirectStandardInput = $true
    $info.RedirectStandardOutput = $true
    $info.RedirectStandardError = $true
    foreach ($name in $Environment.Keys) {
        if ($null -eq $Environment[$name]) { $null = $info.Environment.Remove($name) } else { $info.Environment[$name] = [string] $Environment[$name] }
    }
    $process = [System.Diagnostics.Process]::Start($info)
    try {
        $process.StandardInput.Close()
        $out = $process.StandardOutput.ReadToEndAsync()
        $err = $process.StandardError.ReadToEndAsync()
        if (-not $process.WaitForExit($TimeoutSeconds * 1000)) {
            $process.Kill($true)
            throw "pwsh did not finish within $TimeoutSeconds s: $Command"
        }
        $process.WaitForExit()
        [pscustomobject]@{ ExitCode = $process.ExitCode; Output = $out.Result; Errors = $err.Result }
    } finally { $process.Dispose() }
}

Export-ModuleMember -Function Invoke-ChildPwsh, Get-PwshCommand
