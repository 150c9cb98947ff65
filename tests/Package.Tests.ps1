# Pester 5: the module as an administrator installs it. `./build.ps1 Package` publishes the .nupkg to
# out/repository; the install commands of README.md's "Install" section run in a new pwsh whose HOME is a scratch
# folder and whose module path is pwsh's default for that HOME, so nothing of this machine's modules or
# PSResourceGet settings is read or changed. The installed module is then imported by name, inspected, and every
# script in examples/ runs from it, unmodified.

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'tools' 'ChildPwsh.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'tools' 'TestSshServer.psm1') -Force
    $script:Root = (Resolve-Path (Join-Path $PSScriptRoot '..')).ProviderPath
    $script:Manifest = Import-PowerShellDataFile (Join-Path $script:Root 'VfioMigration.psd1')
    $script:Version = $script:Manifest.ModuleVersion
    $script:Nupkg = Join-Path $script:Root 'out' 'repository' "VfioMigration.$script:Version.nupkg"

    # What of the machine an install could touch: the user's PSResourceGet settings and user module folder.
    $dataHome = [Environment]::GetFolderPath('LocalApplicationData')
    $script:MachineFiles = @((Join-Path $dataHome 'PSResourceGet' 'PSResourceRepository.xml'), (Join-Path $dataHome 'powershell' 'Modules' 'VfioMigration'))
    $fingerprint = { $script:MachineFiles | ForEach-Object { if (Test-Path $_) { "$_ $((Get-FileHash -LiteralPath $_ -ErrorAction SilentlyContinue).Hash) $((Get-ChildItem -Recurse -LiteralPath $_).Count)" } else { "$_ absent" } } }
    $script:Fingerprint = $fingerprint
    $script:MachineBefore = & $fingerprint

    $script:Scratch = [IO.Directory]::CreateTempSubdirectory('vfio-package-test-').FullName
    $script:ScratchHome = (New-Item -ItemType Directory -Path (Join-Path $script:Scratch 'home')).FullName
    # As in a real home: .NET reports a user folder that does not exist as '', and NuGet (under PSResourceGet)
    # then writes NuGet/NuGet.Config into the current directory.
    foreach ($dir in '.config', '.local/share', '.cache') { $null = New-Item -ItemType Directory -Force -Path (Join-Path $script:ScratchHome $dir) }
    $script:TreeBefore = @(Get-ChildItem -Force -Name -LiteralPath $script:Root)
    $script:InstalledModules = Join-Path $script:ScratchHome '.local' 'share' 'powershell' 'Modules'
    # A new administrator's shell: its own HOME, pwsh's default module path for it, no XDG folders of ours.
    $script:AdminShell = @{ HOME = $script:ScratchHome; PSModulePath = $null; XDG_DATA_HOME = $null; XDG_CONFIG_HOME = $null; XDG_CACHE_HOME = $null }

    # The README's install section: its first block builds the package, its second installs it.
    $readme = Get-Content -Raw -LiteralPath (Join-Path $script:Root 'README.md')
    $section = [regex]::Match($readme, '(?ms)^## Install\s*$(.*?)^## ').Groups[1].Value
    $script:Blocks = @([regex]::Matches($section, '(?ms)^```powershell\s*$(.*?)^```') | ForEach-Object { $_.Groups[1].Value.Trim() })

    $script:Package = Invoke-ChildPwsh -WorkingDirectory $script:Root -Command $script:Blocks[0]
    $facts = Join-Path $script:Scratch 'facts.xml'
    $script:Install = Invoke-ChildPwsh -WorkingDirectory $script:Root -Environment $script:AdminShell -Command (
        $script:Blocks[1] + "`n" + @'
$ErrorActionPreference = 'Stop'
$module = Get-Module VfioMigration
$cmdlets = @($module.ExportedCmdlets.Keys | Sort-Object)
[pscustomobject]@{
    Installed  = Get-InstalledPSResource -Name VfioMigration | Select-Object Name, Version, InstalledLocation, LicenseUri, ReleaseNotes
    Repository = Get-PSResourceRepository -Name VfioMigrationLocal | Select-Object Name, Uri, Trusted
    ModuleBase = $module.ModuleBase
    Version    = "$($module.Version)"
    Cmdlets    = $cmdlets
    Help       = @(foreach ($name in $cmdlets) {
        $help = Get-Help $name -Full
        [pscustomobject]@{
            Name     = $name
            Synopsis = "$($help.Synopsis)".Trim()
            Examples = @($help.Examples.Example).Count
            Undocumented = @($help.Parameters.Parameter | Where-Object { -not (($_.Description | ForEach-Object Text) -join '') } | ForEach-Object Name)
        }
    })
    About      = (Get-Help about_VfioMigration | Out-String)
    Formats    = @(Get-FormatData -TypeName 'VfioMigration.*', 'Deserialized.VfioMigration.*' | ForEach-Object TypeNames | Sort-Object -Unique)
    Table      = (Get-VfioDevice -Simulated | Out-String -Width 200)
    Files      = @{ LICENSE = Get-Content -Raw -LiteralPath (Join-Path $module.ModuleBase 'LICENSE'); CHANGELOG = Get-Content -Raw -LiteralPath (Join-Path $module.ModuleBase 'CHANGELOG.md') }
} | Export-Clixml -LiteralPath $args[0]
'@.Replace('$args[0]', "'$facts'"))
    $script:Facts = if (Test-Path $facts) { Import-Clixml -LiteralPath $facts }
}

AfterAll {
    Remove-Item -LiteralPath $script:Scratch -Recurse -Force -ErrorAction SilentlyContinue
    Remove-Module ChildPwsh, TestSshServer -ErrorAction SilentlyContinue
}

Describe 'The package' {
    It 'is built by the README''s command into out/repository' {
        $script:Blocks.Count | Should -Be 2 -Because 'README.md "Install" has a block that builds the package and one that installs it'
        $script:Blocks[0] | Should -Match 'build\.ps1 Package'
        $script:Package.ExitCode | Should -Be 0 -Because $script:Package.Errors
        $script:Package.Output | Should -Match ([regex]::Escape("Published $script:Nupkg"))
        Test-Path -LiteralPath $script:Nupkg | Should -BeTrue
    }

    It 'carries the LICENSE and the CHANGELOG, and its metadata are the manifest''s' {
        Add-Type -AssemblyName System.IO.Compression.FileSystem
        $zip = [IO.Compression.ZipFile]::OpenRead($script:Nupkg)
        try {
            $read = { param($name) $entry = $zip.GetEntry($name); if (-not $entry) { return $null }; $r = [IO.StreamReader]::new($entry.Open()); try { $r.ReadToEnd() } finally { $r.Dispose() } }
            & $read 'LICENSE' | Should -Be (Get-Content -Raw -LiteralPath (Join-Path $script:Root 'LICENSE'))
            & $read 'CHANGELOG.md' | Should -Be (Get-Content -Raw -LiteralPath (Join-Path $script:Root 'CHANGELOG.md'))
            # The docs the about topic and the help refer to, and the isolated dependencies (Dependencies/).
            foreach ($doc in Get-ChildItem -LiteralPath (Join-Path $script:Root 'docs') -Filter '*.md') {
                & $read "docs/$($doc.Name)" | Should -Be (Get-Content -Raw -LiteralPath $doc.FullName) -Because "the package carries docs/$($doc.Name)"
            }
            $zip.GetEntry('Dependencies/net8.0/VfioMigration.Core.dll') | Should -Not -BeNullOrEmpty
            $zip.GetEntry('Dependencies/net10.0/VfioMigration.Core.dll') | Should -Not -BeNullOrEmpty
            $nuspec = [xml] (& $read 'VfioMigration.nuspec')
        } finally { $zip.Dispose() }
        $meta = $nuspec.package.metadata
        $meta.version | Should -Be $script:Version
        $meta.licenseUrl | Should -Be $script:Manifest.PrivateData.PSData.LicenseUri
        $meta.projectUrl | Should -Be $script:Manifest.PrivateData.PSData.ProjectUri
        $meta.releaseNotes | Should -Be $script:Manifest.PrivateData.PSData.ReleaseNotes
        $meta.copyright | Should -Be $script:Manifest.Copyright
        $meta.requireLicenseAcceptance | Should -Be 'false'
    }

    It 'has a version, licence and release notes that agree with LICENSE, CHANGELOG.md and the build' {
        $license = Get-Content -LiteralPath (Join-Path $script:Root 'LICENSE')
        $license[0] | Should -Be 'MIT License'
        $holder = ($license | Select-String -Pattern '^Copyright (\(c\) \d{4} .+)$').Matches[0].Groups[1].Value
        $script:Manifest.Copyright | Should -BeLike "$holder. MIT License*"
        $script:Manifest.PrivateData.PSData.LicenseUri | Should -Be 'https://spdx.org/licenses/MIT.html'

        $changelog = Get-Content -Raw -LiteralPath (Join-Path $script:Root 'CHANGELOG.md')
        $headings = @([regex]::Matches($changelog, '(?m)^## \[(?<v>[^\]]+)\](?: - (?<d>\d{4}-\d{2}-\d{2}))?') | ForEach-Object { $_ })
        $headings[0].Groups['v'].Value | Should -Be 'Unreleased'
        $release = $headings[1]
        $release.Groups['v'].Value | Should -Be $script:Version -Because 'the newest release section is the manifest''s version'
        $release.Groups['d'].Success | Should -BeTrue -Because 'a release section is dated'
        $script:Manifest.PrivateData.PSData.ReleaseNotes | Should -BeLike "$script:Version ($($release.Groups['d'].Value)):*CHANGELOG.md*"

        $props = [xml] (Get-Content -Raw -LiteralPath (Join-Path $script:Root 'Directory.Build.props'))
        $props.Project.PropertyGroup.VersionPrefix | Should -Be $script:Version
    }
}

Describe 'Installed with the README''s commands, in a scratch scope' {
    It 'installs from the folder repository into the scratch user''s module folder' {
        $script:Install.Errors | Should -BeNullOrEmpty
        $script:Install.ExitCode | Should -Be 0
        $script:Facts.Repository.Uri.LocalPath.TrimEnd('/') | Should -Be (Join-Path $script:Root 'out' 'repository')
        $script:Facts.Installed.Name | Should -Be 'VfioMigration'
        "$($script:Facts.Installed.Version)" | Should -Be $script:Version
        $script:Facts.Installed.InstalledLocation | Should -Be $script:InstalledModules
        "$($script:Facts.Installed.LicenseUri)" | Should -Be $script:Manifest.PrivateData.PSData.LicenseUri
    }

    It 'imports by name from there' {
        $script:Facts.ModuleBase | Should -Be (Join-Path $script:InstalledModules 'VfioMigration' $script:Version)
        $script:Facts.Version | Should -Be $script:Version
        $script:Facts.Files.LICENSE | Should -Be (Get-Content -Raw -LiteralPath (Join-Path $script:Root 'LICENSE'))
        $script:Facts.Files.CHANGELOG | Should -Be (Get-Content -Raw -LiteralPath (Join-Path $script:Root 'CHANGELOG.md'))
    }

    It 'exports the cmdlets of the manifest' {
        $script:Facts.Cmdlets | Should -Be @($script:Manifest.CmdletsToExport | Sort-Object)
    }

    It 'has full help for every cmdlet, and about_VfioMigration' {
        $script:Facts.Help.Count | Should -Be $script:Manifest.CmdletsToExport.Count
        foreach ($help in $script:Facts.Help) {
            $help.Synopsis | Should -Not -BeNullOrEmpty -Because "$($help.Name) needs a synopsis"
            $help.Synopsis | Should -Not -Match "^$($help.Name)\s" -Because "$($help.Name) must have MAML help, not the generated syntax"
            $help.Examples | Should -BeGreaterOrEqual 2 -Because "$($help.Name) needs examples"
            $help.Undocumented | Should -BeNullOrEmpty -Because "every parameter of $($help.Name) needs a description"
        }
        $script:Facts.About | Should -Match 'about_VfioMigration'
    }

    It 'has the format data of every type the format file describes' {
        $formatFile = [xml] (Get-Content -Raw -LiteralPath (Join-Path $script:Root 'src' 'VfioMigration.PowerShell' 'VfioMigration.format.ps1xml'))
        $described = @($formatFile.Configuration.ViewDefinitions.View.ViewSelectedBy.TypeName | Sort-Object -Unique)
        $described.Count | Should -BeGreaterThan 0
        @($script:Facts.Formats) | Should -Be $described
        $script:Facts.Table | Should -Match '(?m)^-+ +-+'
        $script:Facts.Table | Should -Match '(?m)^Name +State +Protocol +Capabilities +HeldBy'
    }

    It 'changed nothing of this machine''s modules or PSResourceGet settings, nor added anything to the work tree' {
        & $script:Fingerprint | Should -Be $script:MachineBefore
        @(Get-ChildItem -Force -Name -LiteralPath $script:Root) | Should -Be $script:TreeBefore
    }
}

Describe 'The examples, run from the installed module' {
    BeforeDiscovery {
        $examples = @(Get-ChildItem -Path (Join-Path $PSScriptRoot '..' 'examples') -Filter '*.ps1' | ForEach-Object Name)
    }

    It 'runs <_> unmodified' -ForEach $examples {
        $path = Join-Path $script:Root 'examples' $_
        (Get-Content -LiteralPath $path) -contains '#Requires -Modules VfioMigration' | Should -BeTrue -Because 'the example loads the module by name'
        $arguments = ''
        $server = $null
        if ($_ -eq 'fleet-move.ps1') {
            # Two sessions over SSH to a private sshd whose sessions import the installed package too.
            $reason = Get-SshServerUnavailableReason
            if ($reason) { Set-ItResult -Skipped -Because "sshd cannot run here: $reason"; return }
            $server = Start-TestSshServer -Environment @{ PSModulePath = $script:InstalledModules }
            $options = ($server.Options.GetEnumerator() | ForEach-Object { "$($_.Key) = '$($_.Value)'" }) -join '; '
            $arguments = "-SourceHost 127.0.0.1 -DestinationHost 127.0.0.1 -Port $($server.Port) -UserName '$($server.UserName)' -KeyFilePath '$($server.KeyFilePath)' -SshOption @{ $options }"
        }
        try {
            $r = Invoke-ChildPwsh -WorkingDirectory $script:Scratch -Environment $script:AdminShell -Command "& '$path' $arguments; if (-not `$?) { exit 1 }; (Get-Module VfioMigration).ModuleBase"
        } finally {
            if ($server) { Stop-TestSshServer $server }
        }
        $r.Errors | Should -BeNullOrEmpty
        $r.ExitCode | Should -Be 0
        $r.Output | Should -Match '(?m)^== '
        $r.Output | Should -Not -Match 'Exception'
        ($r.Output.TrimEnd() -split "`n")[-1] | Should -Be (Join-Path $script:InstalledModules 'VfioMigration' $script:Version) -Because 'the example ran with the installed module'
    }
}
