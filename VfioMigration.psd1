@{
    RootModule             = 'VfioMigration.psm1'
    NestedModules          = @('VfioMigration.PowerShell.dll')
    ModuleVersion          = '0.1.0'
    CompatiblePSEditions   = @('Core')
    GUID                   = '5d0f7a52-6a3e-4c0e-9a39-3f1b7b4e2c61'
    Author                 = 'VfioMigration contributors'
    CompanyName            = 'VfioMigration'
    Copyright              = '(c) VfioMigration contributors.'
    Description            = 'Inspect Linux VFIO devices and drive their migration state (v1 migration region with NDMA, v2 feature state machine): change state, save to and restore from files. Includes simulated PCI and s390 ccw devices that behave like real ones.'
    PowerShellVersion      = '7.4'
    FormatsToProcess       = @('VfioMigration.format.ps1xml')
    TypesToProcess         = @('VfioMigration.types.ps1xml')
    CmdletsToExport        = @(
        'Get-VfioDevice'
        'Set-VfioDeviceState'
        'Reset-VfioDevice'
        'Save-VfioDeviceState'
        'Restore-VfioDeviceState'
        'Get-VfioStateImage'
        'Test-VfioMigration'
        'Test-VfioMigrationConformance'
        'Get-VfioConformanceSuite'
        'New-VfioSimulatedDevice'
        'Remove-VfioSimulatedDevice'
        'Add-VfioSimulatedFault'
        'Clear-VfioSimulatedFault'
    )
    FunctionsToExport      = @()
    AliasesToExport        = @()
    VariablesToExport      = @()
    PrivateData            = @{
        PSData = @{
            Tags         = @('VFIO', 'Linux', 'Virtualization', 'Migration', 'KVM', 'QEMU', 'PCI', 's390', 'Hypervisor')
            ReleaseNotes = 'See CHANGELOG.md.'
        }
    }
}
