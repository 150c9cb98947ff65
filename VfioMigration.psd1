@{
    RootModule             = 'VfioMigration.psm1'
    NestedModules          = @('VfioMigration.Loader.dll', 'VfioMigration.PowerShell.dll')
    ModuleVersion          = '0.2.0'
    CompatiblePSEditions   = @('Core')
    GUID                   = '5d0f7a52-6a3e-4c0e-9a39-3f1b7b4e2c61'
    Author                 = 'VfioMigration contributors'
    CompanyName            = 'VfioMigration'
    Copyright              = '(c) 2026 VfioMigration contributors. MIT License (LICENSE in the module folder).'
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
        'Export-VfioQemuStream'
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
            # The licence text ships in the package (LICENSE); the URI names the licence (SPDX), as a gallery shows it.
            LicenseUri   = 'https://spdx.org/licenses/MIT.html'
            # The project's home: its README and docs/ (the help's online links point there).
            ProjectUri   = 'https://github.com/vfiomigration/VfioMigration'
            ReleaseNotes = '0.2.0 (2026-11-30): the first release. CHANGELOG.md in the module folder lists what it contains.'
        }
    }
}
