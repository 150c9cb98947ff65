<#
.SYNOPSIS
    Makes the module's MAML help tell the truth about its parameters: syntax, parameter attributes, descriptions
    and related links are generated from the built cmdlets; the prose (synopsis, description, examples) stays as
    written in the MAML file.
.DESCRIPTION
    For every cmdlet in en-US/VfioMigration.PowerShell.dll-Help.xml this rewrites, from the built module:
      - the syntax: one item per parameter set, positional parameters first, switches without a value type;
      - each parameter's required, position, pipeline input, wildcard support (SupportsWildcards), aliases,
        type and default (read from a new instance of the cmdlet);
      - each parameter's description, from the property's XML doc comment (the <summary> in the C# source)
        when it has one, else as the MAML file already has it; a parameter with neither is an error;
      - related links: the online version (README's Cmdlets section under the manifest's ProjectUri), the
        cmdlets of the same task and about_VfioMigration.
    With -Check it changes nothing and fails if the file is not what it would write (the Pester suite runs it so).
.EXAMPLE
    ./tools/Update-ModuleHelp.ps1 -Module ./out/VfioMigration/VfioMigration.psd1
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)] [string] $Module,
    [string] $HelpPath = (Join-Path $PSScriptRoot '..' 'src' 'VfioMigration.PowerShell' 'en-US' 'VfioMigration.PowerShell.dll-Help.xml'),
    [switch] $Check
)
$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest

$common = [System.Management.Automation.Cmdlet]::CommonParameters + [System.Management.Automation.Cmdlet]::OptionalCommonParameters |
    Where-Object { $_ -notin 'WhatIf', 'Confirm' }
$related = @{
    'Get-VfioDevice'             = 'Test-VfioMigration', 'Set-VfioDeviceState', 'Save-VfioDeviceState'
    'Set-VfioDeviceState'        = 'Get-VfioDevice', 'Reset-VfioDevice', 'Test-VfioMigration'
    'Reset-VfioDevice'           = 'Set-VfioDeviceState', 'Get-VfioDevice'
    'Save-VfioDeviceState'       = 'Restore-VfioDeviceState', 'Get-VfioStateImage', 'Get-VfioDevice'
    'Restore-VfioDeviceState'    = 'Save-VfioDeviceState', 'Get-VfioStateImage', 'Reset-VfioDevice'
    'Get-VfioStateImage'         = 'Save-VfioDeviceState', 'Restore-VfioDeviceState', 'Export-VfioQemuStream'
    'Export-VfioQemuStream'      = 'Get-VfioStateImage', 'Save-VfioDeviceState', 'Restore-VfioDeviceState'
    'Test-VfioMigration'         = 'Get-VfioDevice', 'Set-VfioDeviceState'
    'New-VfioSimulatedDevice'    = 'Remove-VfioSimulatedDevice', 'Add-VfioSimulatedFault', 'Get-VfioDevice'
    'Remove-VfioSimulatedDevice' = 'New-VfioSimulatedDevice', 'Get-VfioDevice'
    'Add-VfioSimulatedFault'     = 'Clear-VfioSimulatedFault', 'New-VfioSimulatedDevice'
    'Clear-VfioSimulatedFault'   = 'Add-VfioSimulatedFault'
    'Test-VfioMigrationConformance' = 'Get-VfioConformanceSuite', 'New-VfioSimulatedDevice', 'Reset-VfioDevice'
    'Get-VfioConformanceSuite'   = 'Test-VfioMigrationConformance'
}

$info = Import-Module (Resolve-Path -LiteralPath $Module).ProviderPath -Force -PassThru
$projectUri = $info.PrivateData.PSData.ProjectUri
if (-not $projectUri) { throw "The manifest of $Module has no PrivateData.PSData.ProjectUri, which the help's online links are under" }
$onlineUri = "$($projectUri.ToString().TrimEnd('/'))/blob/main/README.md#cmdlets"
$docFile = Join-Path $info.ModuleBase 'VfioMigration.PowerShell.xml'
$docs = @{}
if (Test-Path $docFile) {
    foreach ($m in ([xml](Get-Content -Raw $docFile)).doc.members.member) {
        $summary = $m.SelectSingleNode('summary')
        if ($m.name -like 'P:*' -and $summary) {
            # <see cref="X.Y"/> reads as Y; white space as in running text.
            $text = ($summary.InnerXml -replace '<see cref="[A-Z]:(?:[\w.]+\.)?(\w+)"\s*/>', '$1' -replace '<[^>]+>', '' -replace '\s+', ' ').Trim()
            $docs[$m.name.Substring(2)] = [System.Net.WebUtility]::HtmlDecode($text)
        }
    }
}

$ns = @{ maml = 'http://schemas.microsoft.com/maml/2004/10'; command = 'http://schemas.microsoft.com/maml/dev/command/2004/10'; dev = 'http://schemas.microsoft.com/maml/dev/2004/10' }
$doc = [System.Xml.XmlDocument]::new()
$doc.PreserveWhitespace = $false
$doc.Load((Resolve-Path $HelpPath).ProviderPath)
$nsm = [System.Xml.XmlNamespaceManager]::new($doc.NameTable)
foreach ($k in $ns.Keys) { $nsm.AddNamespace($k, $ns[$k]) }

function New-El([string] $prefix, [string] $name, [string] $text) {
    $e = $doc.CreateElement($prefix, $name, $ns[$prefix])
    if ($PSBoundParameters.ContainsKey('text')) { $e.InnerText = $text }
    $e
}

function Get-PipelineText($sets) {
    $kinds = @()
    if ($sets | Where-Object ValueFromPipeline) { $kinds += 'ByValue' }
    if ($sets | Where-Object ValueFromPipelineByPropertyName) { $kinds += 'ByPropertyName' }
    if ($kinds) { "True ($($kinds -join ', '))" } else { 'False' }
}

function Get-TypeName([type] $t) {
    if ($t -eq [System.Management.Automation.SwitchParameter]) { return 'SwitchParameter' }
    $n = [Nullable]::GetUnderlyingType($t)
    if ($n) { $t = $n }
    $t.Name
}

function New-ParameterElement($cmd, $p, $setMeta, [string[]] $description, [bool] $inSyntax, $instance) {
    $wild = [bool]($p.Attributes | Where-Object { $_ -is [System.Management.Automation.SupportsWildcardsAttribute] })
    $sets = if ($setMeta) { @($setMeta) } else { @($p.ParameterSets.Values) }
    $required = @($sets | Where-Object { -not $_.IsMandatory }).Count -eq 0
    $positions = @($sets | Where-Object { $_.Position -ge 0 } | ForEach-Object Position)
    $e = New-El command parameter
    $e.SetAttribute('required', $required.ToString().ToLowerInvariant())
    $e.SetAttribute('variableLength', $p.ParameterType.IsArray.ToString().ToLowerInvariant())
    $e.SetAttribute('globbing', $wild.ToString().ToLowerInvariant())
    $e.SetAttribute('pipelineInput', (Get-PipelineText $sets))
    $e.SetAttribute('position', $(if ($positions.Count) { [string]$positions[0] } else { 'named' }))
    $e.SetAttribute('aliases', $(if ($p.Aliases.Count) { $p.Aliases -join ', ' } else { 'none' }))
    $null = $e.AppendChild((New-El maml name $p.Name))
    $d = New-El maml description
    foreach ($para in $description) { $null = $d.AppendChild((New-El maml para $para)) }
    $null = $e.AppendChild($d)
    $type = Get-TypeName $p.ParameterType
    $isSwitch = $p.SwitchParameter
    if (-not ($inSyntax -and $isSwitch)) {
        $v = New-El command parameterValue $type
        $v.SetAttribute('required', (-not $isSwitch).ToString().ToLowerInvariant())
        $v.SetAttribute('variableLength', 'false')
        $null = $e.AppendChild($v)
    }
    $t = New-El dev type
    $null = $t.AppendChild((New-El maml name $type))
    $null = $t.AppendChild((New-El maml uri))
    $null = $e.AppendChild($t)
    $default = 'None'
    if ($isSwitch) { $default = 'False' }
    elseif ($instance -and $p.Name -notin 'WhatIf', 'Confirm' -and -not $required) {
        # A mandatory parameter has no default: the property's initial value (an enum's 0) means nothing.
        $prop = $cmd.ImplementingType.GetProperty($p.Name)
        $value = if ($prop) { $prop.GetValue($instance) } else { $null }
        if ($null -ne $value -and -not ($value -is [array] -and $value.Length -eq 0) -and "$value" -ne '') { $default = "$value" }
    }
    $null = $e.AppendChild((New-El dev defaultValue $default))
    $e
}

$problems = @()
foreach ($node in $doc.SelectNodes('//command:command', $nsm)) {
    $name = $node.SelectSingleNode('command:details/command:name', $nsm).InnerText
    $cmd = Get-Command -Name $name -Module $info.Name
    $instance = try { [Activator]::CreateInstance($cmd.ImplementingType) } catch { $null }
    $params = @($cmd.Parameters.Values | Where-Object { $_.Name -notin $common })

    # Descriptions: the C# doc comment wins; otherwise what the MAML file says today.
    $descriptions = @{}
    foreach ($pe in $node.SelectNodes('command:parameters/command:parameter', $nsm)) {
        $descriptions[$pe.SelectSingleNode('maml:name', $nsm).InnerText] = @($pe.SelectNodes('maml:description/maml:para', $nsm) | ForEach-Object InnerText)
    }
    foreach ($p in $params) {
        $property = $cmd.ImplementingType.GetProperty($p.Name)  # null for -WhatIf and -Confirm, which the engine adds
        $declaring = if ($property) { $property.DeclaringType.FullName } else { '' }
        if ($property -and $docs.ContainsKey("$declaring.$($p.Name)")) { $descriptions[$p.Name] = @($docs["$declaring.$($p.Name)"]) }
        if (-not $descriptions[$p.Name] -or -not ($descriptions[$p.Name] -join '')) { $problems += "$name -$($p.Name) has no description (add a /// <summary> to the property)" }
    }

    # Output types: the descriptions are written by hand, so check the names against [OutputType] rather than generate.
    $declared = @($cmd.OutputType | ForEach-Object Name | Where-Object { $_ -ne 'System.Void' } | Sort-Object -Unique)
    $documented = @($node.SelectNodes('command:returnValues/command:returnValue/dev:type/maml:name', $nsm) | ForEach-Object InnerText |
        Where-Object { $_ -ne 'None' } | Sort-Object -Unique)
    if (Compare-Object $declared $documented) { $problems += "$name documents output types [$($documented -join ', ')] but declares [$($declared -join ', ')] (fix the MAML returnValues)" }

    $syntax = New-El command syntax
    foreach ($set in $cmd.ParameterSets) {
        $item = New-El command syntaxItem
        $null = $item.AppendChild((New-El maml name $name))
        $ordered = @($set.Parameters | Where-Object { $_.Name -notin $common } |
            Sort-Object @{ Expression = { if ($_.Position -ge 0) { $_.Position } else { [int]::MaxValue } } }, @{ Expression = { -not $_.IsMandatory } })
        foreach ($sp in $ordered) {
            $p = $cmd.Parameters[$sp.Name]
            $null = $item.AppendChild((New-ParameterElement $cmd $p $p.ParameterSets[$set.Name] $descriptions[$p.Name] $true $instance))
        }
        $null = $syntax.AppendChild($item)
    }
    $parameters = New-El command parameters
    foreach ($p in $params) { $null = $parameters.AppendChild((New-ParameterElement $cmd $p $null $descriptions[$p.Name] $false $instance)) }

    # First the online version (Get-Help -Online opens the first link with a URI): the cmdlet's row in the
    # project's README, under the manifest's ProjectUri; then the cmdlets of the same task and the about topic.
    $links = New-El maml relatedLinks
    $online = New-El maml navigationLink
    $null = $online.AppendChild((New-El maml linkText 'Online Version:'))
    $null = $online.AppendChild((New-El maml uri $onlineUri))
    $null = $links.AppendChild($online)
    foreach ($target in @($related[$name]) + 'about_VfioMigration') {
        $l = New-El maml navigationLink
        $null = $l.AppendChild((New-El maml linkText $target))
        $null = $l.AppendChild((New-El maml uri))
        $null = $links.AppendChild($l)
    }
    # An older file also had command:relatedLinks, which Get-Help shows as blank lines: one list only.
    foreach ($stray in @($node.SelectNodes('command:relatedLinks', $nsm))) { $null = $node.RemoveChild($stray) }

    foreach ($pair in @(@('command:syntax', $syntax), @('command:parameters', $parameters), @('maml:relatedLinks', $links))) {
        $old = $node.SelectSingleNode($pair[0], $nsm)
        if ($old) { $null = $node.ReplaceChild($pair[1], $old) } else { $null = $node.AppendChild($pair[1]) }
    }
}
if ($problems) { throw ($problems -join "`n") }

$settings = [System.Xml.XmlWriterSettings]::new()
$settings.Indent = $true
$settings.IndentChars = '  '
$settings.Encoding = [System.Text.UTF8Encoding]::new($false)
$buffer = [System.IO.StringWriter]::new()
$writer = [System.Xml.XmlWriter]::Create($buffer, $settings)
$doc.Save($writer)
$writer.Dispose()
$text = $buffer.ToString().Replace('encoding="utf-16"', 'encoding="utf-8"') + "`n"
$current = [System.IO.File]::ReadAllText((Resolve-Path $HelpPath).ProviderPath)
if ($Check) {
    if ($text -ne $current) { throw "$HelpPath is not generated from the cmdlets as built: run ./tools/Update-ModuleHelp.ps1 -Module $Module and commit the result." }
    'help metadata is current'
} elseif ($text -ne $current) {
    [System.IO.File]::WriteAllText((Resolve-Path $HelpPath).ProviderPath, $text)
    "updated $HelpPath"
} else { 'help metadata is current' }
