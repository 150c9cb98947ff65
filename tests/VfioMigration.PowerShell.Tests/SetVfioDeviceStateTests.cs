using System.Management.Automation;
using VfioMigration.Protocol;

namespace VfioMigration.PowerShell.Tests;

public sealed class SetVfioDeviceStateTests : IDisposable
{
    private readonly Engine _ps = new();
    private readonly string _dir = Directory.CreateTempSubdirectory("vfio-set-").FullName;

    private string StateOf(string address) => _ps.Ok($"(Get-VfioDevice -Simulated {address}).State").Single().ToString()!;

    [Fact]
    public void ByAddressChangesTheStateAndReturnsNothingWithoutPassThru()
    {
        Assert.Empty(_ps.Ok("Set-VfioDeviceState -Simulated -Address 0000:5e:00.1 -State Stop"));
        Assert.Equal("Stop", StateOf("0000:5e:00.1"));
    }

    [Fact]
    public void ByObjectFromThePipelineWithPassThruReturnsTheUpdatedDevice()
    {
        var d = (VfioDevice)_ps.Ok("Get-VfioDevice -Simulated 0000:5e:00.1 | Set-VfioDeviceState -State StopCopy -PassThru").Single().BaseObject;
        Assert.Equal(MigrationState.StopCopy, d.State);
    }

    [Fact]
    public void ByPropertyNameFromPlainObjects()
    {
        _ps.Ok("[pscustomobject]@{ Address = '0.0.0100'; IsSimulated = $true } | Set-VfioDeviceState -State Stop");
        Assert.Equal("Stop", StateOf("0.0.0100"));
    }

    [Fact]
    public void WhatIfChangesNothingAndNamesTheWholePath()
    {
        _ps.Ok("Set-VfioDeviceState -Simulated 0000:3b:00.2 -State StopCopy -WhatIf");
        Assert.Equal("Running", StateOf("0000:3b:00.2"));
        Assert.Contains("Running -> RunningP2P -> Stop -> StopCopy", _ps.Host.Written);
    }

    [Fact]
    public void VerboseShowsEveryHop()
    {
        var (_, ps) = _ps.Run("Set-VfioDeviceState -Simulated 0000:3b:00.2 -State StopCopy -Verbose");
        var verbose = ps.Streams.Verbose.Select(v => v.Message).ToArray();
        Assert.Contains(verbose, v => v.Contains("arc Running -> RunningP2P done"));
        Assert.Contains(verbose, v => v.Contains("arc RunningP2P -> Stop done"));
        Assert.Contains(verbose, v => v.Contains("arc Stop -> StopCopy done"));
    }

    [Fact]
    public void ARefusedTransitionIsANonTerminatingErrorNamingTheStateAndWhereItCanGo()
    {
        _ps.Ok("Set-VfioDeviceState -Simulated 0000:3b:00.2 -State StopCopy");
        var (output, ps) = _ps.Run("Set-VfioDeviceState -Simulated 0000:3b:00.2, 0000:5e:00.1 -State PreCopy -PassThru");
        Assert.Equal(2, ps.Streams.Error.Count);
        var e = ps.Streams.Error.Single(x => ((VfioDevice)x.TargetObject).Name == "0000:3b:00.2");
        Assert.Equal("TransitionRefused,VfioMigration.PowerShell.Commands.SetVfioDeviceStateCommand", e.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.InvalidOperation, e.CategoryInfo.Category);
        Assert.Equal("0000:3b:00.2", ((VfioDevice)e.TargetObject).Name);
        Assert.Contains("now in StopCopy", e.Exception.Message);
        Assert.Contains("Stop, Running, Resuming, RunningP2P", e.Exception.Message);
        Assert.Empty(ps.Streams.Warning);
        // 0000:5e:00.1 has no PreCopy: refused too, on its own record, naming the missing capability.
        var other = ps.Streams.Error.Single(x => ((VfioDevice)x.TargetObject).Name == "0000:5e:00.1");
        Assert.Contains("PreCopy capability", other.Exception.Message);
        Assert.Empty(output);
    }

    [Fact]
    public void AFailedTransitionIntoErrorSaysSoAndResetRecovers()
    {
        // The device holds state restored in this session that no save has captured: a reset would lose it, so
        // the failure leaves the device in Error (recovery policy) and the user decides with Reset-VfioDevice.
        string image = Path.Combine(_dir, "held.vfiostate");
        _ps.Ok($"Save-VfioDeviceState -Simulated 0000:3b:00.3 -Path '{image}' -KeepRunning");
        _ps.Ok($"Restore-VfioDeviceState -Simulated 0000:3b:00.3 -Path '{image}' -Start");
        _ps.Ok("Add-VfioSimulatedFault -Address 0000:3b:00.3 -Point Transition -ArcTo Stop -EnterError -Errno EIO");
        var e = _ps.OneError("Set-VfioDeviceState -Simulated 0000:3b:00.3 -State Stop");
        Assert.Equal("DeviceInErrorState,VfioMigration.PowerShell.Commands.SetVfioDeviceStateCommand", e.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.DeviceError, e.CategoryInfo.Category);
        Assert.Contains("EIO", e.Exception.Message);
        Assert.Contains("it was not reset, because it holds state restored earlier in this session", e.Exception.Message);
        Assert.Contains("only a reset (VFIO_DEVICE_RESET) leaves Error", e.Exception.Message);
        Assert.Contains("Reset-VfioDevice", e.ErrorDetails.RecommendedAction);
        Assert.Equal("Error", StateOf("0000:3b:00.3"));
        var d = (VfioDevice)_ps.Ok("Reset-VfioDevice -Simulated 0000:3b:00.3 -Force -PassThru").Single().BaseObject;
        Assert.Equal(MigrationState.Running, d.State);
    }

    [Fact]
    public void AFailedTransitionIntoErrorOnADeviceHoldingNothingEndsInAResetAndSaysSo()
    {
        _ps.Ok("Add-VfioSimulatedFault -Address 0000:3b:00.3 -Point Transition -ArcTo Stop -EnterError -Errno EIO");
        var e = _ps.OneError("Set-VfioDeviceState -Simulated 0000:3b:00.3 -State Stop");
        Assert.Equal("TransitionFailed,VfioMigration.PowerShell.Commands.SetVfioDeviceStateCommand", e.FullyQualifiedErrorId);
        Assert.Contains("arc RunningP2P -> Stop failed: EIO", e.Exception.Message);
        Assert.Contains("a device in Error takes no recover state", e.Exception.Message);
        Assert.Contains("reset (VFIO_DEVICE_RESET) as a last resort", e.Exception.Message);
        Assert.Contains("The device is now in Running", e.Exception.Message);
        Assert.Equal("Running", StateOf("0000:3b:00.3"));
        // Running again, it takes the change once the fault is gone.
        _ps.Ok("Set-VfioDeviceState -Simulated 0000:3b:00.3 -State Stop");
        Assert.Equal("Stop", StateOf("0000:3b:00.3"));
    }

    /// <summary>Issue 17 item 2: advice that cannot work is never given; the device and the readiness check say what is left.</summary>
    [Fact]
    public void ADeviceWithoutAResetIsNeverToldToUseResetVfioDevice()
    {
        _ps.Ok("$null = New-VfioSimulatedDevice -Address 0000:91:00.0 -NoReset");
        var warning = _ps.Ok("(Test-VfioMigration -Simulated 0000:91:00.0).Blockers | Where-Object Code -eq NoDeviceReset").Single();
        Assert.Equal("Warning", warning.Properties["Severity"].Value.ToString());
        _ps.Ok("Add-VfioSimulatedFault -Address 0000:91:00.0 -Point Transition -ArcTo Stop -EnterError -Errno EIO");
        var e = _ps.OneError("Set-VfioDeviceState -Simulated 0000:91:00.0 -State Stop");
        Assert.Contains("no VFIO reset is possible", e.Exception.Message);
        Assert.DoesNotContain("Reset-VfioDevice", e.ErrorDetails.RecommendedAction);
        Assert.Contains("Remove-Module VfioMigration", e.ErrorDetails.RecommendedAction);
        Assert.Equal("Error", StateOf("0000:91:00.0"));
        var fix = _ps.Ok("(Test-VfioMigration -Simulated 0000:91:00.0).Blockers | Where-Object Code -eq DeviceInError | ForEach-Object Fix").Single().ToString()!;
        Assert.DoesNotContain("Reset-VfioDevice", fix);
        Assert.Contains("none is possible", fix);
        var reset = _ps.OneError("Reset-VfioDevice -Simulated 0000:91:00.0 -Force");
        Assert.DoesNotContain("Reset-VfioDevice", reset.ErrorDetails.RecommendedAction);
    }

    [Fact]
    public void SeveralDevicesAreQuiescedBeforeAnyStops()
    {
        var (_, ps) = _ps.Run("Get-VfioDevice -Simulated '0000:3b:*' | Set-VfioDeviceState -State Stop -Together -Verbose");
        Assert.Empty(ps.Streams.Error);
        var verbose = ps.Streams.Verbose.Select(v => v.Message).ToList();
        int lastQuiesce = verbose.FindLastIndex(v => v.Contains("requesting RunningP2P"));
        int firstStop = verbose.FindIndex(v => v.Contains("requesting Stop"));
        Assert.True(lastQuiesce >= 0 && firstStop > lastQuiesce, string.Join("\n", verbose));
        Assert.Equal("Stop", StateOf("0000:3b:00.2"));
        Assert.Equal("Stop", StateOf("0000:3b:00.3"));
    }

    [Fact]
    public void ASetWithADeviceThatCannotQuiesceIsRefusedUnlessTheCheckIsSkipped()
    {
        var (_, refused) = _ps.Run("Set-VfioDeviceState -Simulated 0000:3b:00.2, 0000:5e:00.1 -State Stop -Together");
        // Every device of the refused set gets its own record; the one that cannot quiesce is named as the cause.
        Assert.Equal(2, refused.Streams.Error.Count);
        Assert.All(refused.Streams.Error, r => Assert.Equal("PeerQuiesceUnsupported,VfioMigration.PowerShell.Commands.SetVfioDeviceStateCommand", r.FullyQualifiedErrorId));
        var e = refused.Streams.Error[0];
        Assert.Contains("0000:5e:00.1", e.Exception.Message);
        Assert.Contains("-SkipQuiesceCheck", e.ErrorDetails.RecommendedAction);
        Assert.Equal("Running", StateOf("0000:3b:00.2"));
        var (_, ps) = _ps.Run("Set-VfioDeviceState -Simulated 0000:3b:00.2, 0000:5e:00.1 -State Stop -Together -SkipQuiesceCheck");
        Assert.Empty(ps.Streams.Error);
        Assert.Contains(ps.Streams.Warning, w => w.Message.Contains("0000:5e:00.1"));
        Assert.Equal("Stop", StateOf("0000:5e:00.1"));
    }

    [Fact]
    public void ErrorIsNotATarget()
    {
        var (_, ps) = _ps.Run("Set-VfioDeviceState -Simulated 0000:3b:00.2 -State Error");
        // Refused by the cmdlet's check (one named state only: OneNameAttribute), with the states that are allowed.
        var e = Assert.Single(ps.Streams.Error);
        Assert.StartsWith("InvalidParameterValue,", e.FullyQualifiedErrorId);
        Assert.Contains("give exactly one of: Running, Stop, StopCopy, Resuming, RunningP2P, PreCopy, PreCopyP2P", e.Exception.Message);
    }

    [Fact]
    public void ADeviceWithoutMigrationGetsAClearError()
    {
        var e = _ps.OneError("Set-VfioDeviceState -Simulated 0000:d8:00.0 -State Stop");
        Assert.StartsWith("MigrationNotSupported", e.FullyQualifiedErrorId);
        Assert.Contains("does not support migration", e.Exception.Message);
    }

    [Fact]
    public void ConfirmAsksOncePerDeviceAndNoSkipsThatDevice()
    {
        _ps.Host.Answer = 2; // "No"
        _ps.Ok("Set-VfioDeviceState -Simulated 0000:3b:00.2, 0000:3b:00.3 -State Stop -Confirm");
        Assert.Equal(2, _ps.Host.Prompts.Count);
        Assert.Equal("Running", StateOf("0000:3b:00.2"));
        _ps.Host.Answer = 0; // "Yes"
        _ps.Ok("Set-VfioDeviceState -Simulated 0000:3b:00.2 -State Stop -Confirm");
        Assert.Equal("Stop", StateOf("0000:3b:00.2"));
    }

    public void Dispose()
    {
        _ps.Dispose();
        Directory.Delete(_dir, recursive: true);
    }
}

[Collection(EnvironmentCollection.Name)]
public sealed class AuditLogTests
{
    [Fact]
    public void TheAuditLogGetsOneJsonLinePerStateChange()
    {
        string path = Path.Combine(Path.GetTempPath(), $"vfio-audit-{Guid.NewGuid():N}.jsonl");
        Environment.SetEnvironmentVariable("VFIO_MIGRATION_AUDIT_LOG", path);
        try
        {
            using var ps = new Engine();
            ps.Ok("Set-VfioDeviceState -Simulated 0000:5e:00.1 -State StopCopy; Set-VfioDeviceState -Simulated 0000:5e:00.1 -State Running");
            var lines = File.ReadAllLines(path);
            Assert.Equal(2, lines.Length);
            using var doc = System.Text.Json.JsonDocument.Parse(lines[0]);
            var r = doc.RootElement;
            Assert.Equal("0000:5e:00.1", r.GetProperty("Device").GetString());
            Assert.Equal("Running", r.GetProperty("From").GetString());
            Assert.Equal("StopCopy", r.GetProperty("To").GetString());
            Assert.Equal("ok", r.GetProperty("Result").GetString());
            Assert.Equal(2, r.GetProperty("Arcs").GetArrayLength());
            Assert.False(string.IsNullOrEmpty(r.GetProperty("User").GetString()));
            Assert.True(DateTimeOffset.TryParse(r.GetProperty("Time").GetString(), out _));
            if (!OperatingSystem.IsWindows()) Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        }
        finally
        {
            Environment.SetEnvironmentVariable("VFIO_MIGRATION_AUDIT_LOG", null);
            File.Delete(path);
        }
    }

}
