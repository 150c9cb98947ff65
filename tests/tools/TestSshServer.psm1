# A private OpenSSH server for the tests: bound to 127.0.0.1 only, its own config, host key, client key and
# known_hosts in a temporary folder, key-based login as the current user, and a `powershell` subsystem that runs
# the pwsh the tests run in. Used by tests/Fleet.Tests.ps1 and tests/Package.Tests.ps1.
Set-StrictMode -Version Latest
Import-Module (Join-Path $PSScriptRoot 'ChildPwsh.psm1')   # Get-PwshCommand

$script:Sshd = '/usr/sbin/sshd'
# sshd started as root insists on its privilege separation directory (compiled in; Debian's service unit creates
# it at boot, a container has none). Created here when missing, and removed again when created here.
$script:PrivsepDir = '/run/sshd'

function Get-SshServerUnavailableReason {
    <# Returns why sshd cannot run here, or $null when it can. #>
    if (-not $IsLinux) { return 'sshd runs only on Linux here' }
    if (-not (Test-Path -LiteralPath $script:Sshd)) { return "$script:Sshd is missing (apt-get install openssh-server)" }
    foreach ($tool in 'ssh', 'ssh-keygen') {
        if (-not (Get-Command $tool -CommandType Application -ErrorAction SilentlyContinue)) { return "$tool is missing (apt-get install openssh-client)" }
    }
    $isRoot = (& id -u) -eq '0'
    if ($isRoot -and -not (Test-Path -LiteralPath $script:PrivsepDir) -and -not (Test-Path -LiteralPath (Split-Path $script:PrivsepDir) -PathType Container)) {
        return "sshd as root needs $script:PrivsepDir and its parent does not exist"
    }
    $null
}

function ConvertTo-ShellWord([string] $Word) { "'" + ($Word -replace "'", "'\''") + "'" }

function Get-FreeLoopbackPort {
    $listener = [System.Net.Sockets.TcpListener]::new([System.Net.IPAddress]::Loopback, 0)
    $listener.Start()
    try { $listener.LocalEndpoint.Port } finally { $listener.Stop() }
}

function Start-TestSshServer {
    <#
    .SYNOPSIS
        Starts sshd on 127.0.0.1 with a powershell subsystem; returns what New-PSSession needs and what
        Stop-TestSshServer removes.
    .PARAMETER Environment
        Variables set for every session (sshd SetEnv), e.g. PSModulePath of the remote pwsh. HOME defaults to a
        folder of the server's own, so the remote pwsh neither reads nor writes the user's profile folders.
    .OUTPUTS
        PSCustomObject: HostName, Port, UserName, KeyFilePath, Options (hashtable for New-PSSession -Options),
        Process, Directory, LogPath.
    #>
    [CmdletBinding()]
    param([hashtable] $Environment = @{})

    $reason = Get-SshServerUnavailableReason
    if ($reason) { throw "sshd cannot run here: $reason" }
    $dir = [IO.Directory]::CreateTempSubdirectory('vfio-sshd-').FullName   # mode 0700
    $createdPrivsep = $false
    try {
        if ((& id -u) -eq '0' -and -not (Test-Path -LiteralPath $script:PrivsepDir)) {
            $null = New-Item -ItemType Directory -Path $script:PrivsepDir
            $createdPrivsep = $true
        }
        foreach ($key in 'host_key', 'client_key') {
            & ssh-keygen -q -t ed25519 -N '' -C "vfio-test-$key" -f (Join-Path $dir $key)
            if ($LASTEXITCODE -ne 0) { throw "ssh-keygen failed for $key (exit $LASTEXITCODE)" }
        }
        Copy-Item (Join-Path $dir 'client_key.pub') (Join-Path $dir 'authorized_keys')

        $subsystem = Join-Path $dir 'pwsh-subsystem'
        $pwsh = (Get-PwshCommand | ForEach-Object { ConvertTo-ShellWord $_ }) -join ' '
        Set-Content -LiteralPath $subsystem -Value "#!/bin/sh`nexec $pwsh -sshs -NoLogo -NoProfile`n"
        [IO.File]::SetUnixFileMode($subsystem, [IO.UnixFileMode]'UserRead, UserWrite, UserExecute')

        $sessionEnv = @{ HOME = (New-Item -ItemType Directory -Path (Join-Path $dir 'home')).FullName }
        foreach ($name in $Environment.Keys) { $sessionEnv[$name] = $Environment[$name] }
        $setEnv = ($sessionEnv.GetEnumerator() | Sort-Object Key | ForEach-Object { "$($_.Key)=$($_.Value)" }) -join ' '
        $log = Join-Path $dir 'sshd.log'
        for ($attempt = 1; ; $attempt++) {
            $port = Get-FreeLoopbackPort
            $config = Join-Path $dir 'sshd_config'
            Set-Content -LiteralPath $config -Value @(
                "Port $port"
                'ListenAddress 127.0.0.1'
                "HostKey $dir/host_key"
                'PidFile none'
                "AuthorizedKeysFile $dir/authorized_keys"
                'AuthenticationMethods publickey'
                'PasswordAuthentication no'
                'KbdInteractiveAuthentication no'
                # Key-only login also for root (the CI user), which sshd's default allows too; said here so the
                # test does not depend on the machine's defaults.
                'PermitRootLogin prohibit-password'
                'UsePAM no'
                # StrictModes would refuse authorized_keys below the world-writable /tmp.
                'StrictModes no'
                'MaxStartups 20'
                $(if ($setEnv) { "SetEnv $setEnv" })
                "Subsystem powershell $subsystem"
            )
            & $script:Sshd -t -f $config 2>&1 | Out-File -LiteralPath $log
            if ($LASTEXITCODE -ne 0) { throw "sshd rejects its config: $(Get-Content -Raw -LiteralPath $log)" }
            $process = Start-Process -FilePath $script:Sshd -ArgumentList '-D', '-e', '-f', $config -RedirectStandardError $log -PassThru
            $deadline = [DateTime]::UtcNow.AddSeconds(10)
            while (-not $process.HasExited -and [DateTime]::UtcNow -lt $deadline -and
                -not (Select-String -LiteralPath $log -Pattern 'Server listening on' -Quiet)) { Start-Sleep -Milliseconds 50 }
            if (-not $process.HasExited -and (Select-String -LiteralPath $log -Pattern 'Server listening on' -Quiet)) { break }
            if (-not $process.HasExited) { $process.Kill(); $process.WaitForExit() }
            # The port may have been taken between choosing it and binding it: try another, twice.
            if ($attempt -ge 3) { throw "sshd did not start: $(Get-Content -Raw -LiteralPath $log)" }
        }
        Set-Content -LiteralPath (Join-Path $dir 'known_hosts') -Value "[127.0.0.1]:$port $(Get-Content -Raw -LiteralPath (Join-Path $dir 'host_key.pub'))".TrimEnd()

        [pscustomobject]@{
            HostName        = '127.0.0.1'
            Port            = $port
            UserName        = [Environment]::UserName
            KeyFilePath     = Join-Path $dir 'client_key'
            # Only this server's host key is trusted, nothing is asked, no agent or other key is offered.
            Options         = @{
                UserKnownHostsFile    = Join-Path $dir 'known_hosts'
                GlobalKnownHostsFile  = '/dev/null'
                StrictHostKeyChecking = 'yes'
                BatchMode             = 'yes'
                IdentitiesOnly        = 'yes'
            }
            Process         = $process
            Directory       = $dir
            LogPath         = $log
            CreatedPrivsep  = $createdPrivsep
        }
    } catch {
        Remove-Item -LiteralPath $dir -Recurse -Force -ErrorAction SilentlyContinue
        if ($createdPrivsep) { Remove-Item -LiteralPath $script:PrivsepDir -ErrorAction SilentlyContinue }
        throw
    }
}

function Test-SshdRunning {
    # By the kernel's command name: sshd rewrites its argv, so Get-Process -Name does not find it.
    foreach ($comm in Get-ChildItem -Path /proc -Directory -ErrorAction SilentlyContinue | Where-Object Name -match '^\d+$') {
        if ((Get-Content -LiteralPath (Join-Path $comm.FullName 'comm') -ErrorAction SilentlyContinue) -eq 'sshd') { return $true }
    }
    $false
}

function Stop-TestSshServer {
    <# Stops the sshd by its PID and removes everything Start-TestSshServer created. #>
    [CmdletBinding()]
    param([Parameter(Mandatory)] $Server)
    if (-not $Server.Process.HasExited) {
        Stop-Process -Id $Server.Process.Id -ErrorAction SilentlyContinue
        $null = $Server.Process.WaitForExit(10000)
    }
    # The session processes of connections just closed (sshd children, the remote pwsh whose HOME is in this
    # folder) can still be writing into it as they exit, so one Remove-Item may leave a file behind: retry a while.
    $deadline = [DateTime]::UtcNow.AddSeconds(15)
    do {
        Remove-Item -LiteralPath $Server.Directory -Recurse -Force -ErrorAction SilentlyContinue
        if (-not (Test-Path -LiteralPath $Server.Directory)) { break }
        Start-Sleep -Milliseconds 200
    } while ([DateTime]::UtcNow -lt $deadline)
    # Left in place while any other sshd runs: a concurrent test run's server needs it for every new connection.
    if ($Server.CreatedPrivsep) {
        # The session processes of connections just closed take a moment to exit.
        $deadline = [DateTime]::UtcNow.AddSeconds(5)
        while ((Test-SshdRunning) -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 100 }
    }
    if ($Server.CreatedPrivsep -and -not (Test-SshdRunning) -and
        -not (Get-ChildItem -Force -LiteralPath $script:PrivsepDir -ErrorAction SilentlyContinue)) {
        Remove-Item -LiteralPath $script:PrivsepDir -ErrorAction SilentlyContinue
    }
}

function New-TestSshSession {
    <# A PSSession over SSH to the test server (New-PSSession -HostName ... -KeyFilePath ...). #>
    [CmdletBinding()]
    param([Parameter(Mandatory)] $Server, [string] $Name)
    $params = @{
        HostName    = $Server.HostName
        Port        = $Server.Port
        UserName    = $Server.UserName
        KeyFilePath = $Server.KeyFilePath
        Options     = $Server.Options
    }
    if ($Name) { $params.Name = $Name }
    New-PSSession @params
}

Export-ModuleMember -Function Get-SshServerUnavailableReason, Start-TestSshServer, Stop-TestSshServer, New-TestSshSession
