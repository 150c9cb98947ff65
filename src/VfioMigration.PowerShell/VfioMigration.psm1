# The module's root: the cmdlets come from VfioMigration.PowerShell.dll (a nested module). A script root exists
# only for OnRemove: Remove-Module and Import-Module -Force close the devices this session holds, and a warning
# says, per device left in a state other than Running, what closing does to it (a binary module's cleanup hook
# has no pipeline to warn on).
$ExecutionContext.SessionState.Module.OnRemove = {
    $warnings = [VfioMigration.PowerShell.Session.ModuleState]::CloseForRemoval()
    if (-not $warnings.Count) { return }
    # Through the removing command itself (Remove-Module, Import-Module -Force), so its -WarningAction and
    # -WarningVariable apply; this hook has no preference of its own.
    $removing = [VfioMigration.PowerShell.Session.RemovingCommand]::Of($ExecutionContext)
    # Write-Warning lives in Microsoft.PowerShell.Utility, which a hosted engine may not have loaded.
    $canWarn = [bool](Get-Command -Name Write-Warning -CommandType Cmdlet -ErrorAction Ignore)
    foreach ($warning in $warnings) {
        if ($removing) { $removing.WriteWarning($warning) }
        elseif ($canWarn) { Write-Warning $warning }
        else { $Host.UI.WriteWarningLine($warning) }
    }
}
