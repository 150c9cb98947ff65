using System.Management.Automation;
using VfioMigration.Protocol;

namespace VfioMigration.PowerShell.Tests;

public sealed class SimulatedHostCmdletTests : IDisposable
{
    private readonly Engine _ps = new();

    [Fact]
    public void NewAddsADeviceThatBehavesAndRemoveTakesItAway()
    {
        var d = (VfioDevice)_ps.Ok("New-VfioSimulatedDevice -Address 0000:01:00.0 -Capabilities P2P, PreCopy -MemorySize 64KB -IommuGroup 7 -PeerAddress 0000:3b:00.2").Single().BaseObject;
        Assert.Equal(MigrationCapabilities.StopCopy | MigrationCapabilities.P2P | MigrationCapabilities.PreCopy, d.Capabilities);
        Assert.Equal(7, d.IommuGroup);
        Assert.Equal(MigrationState.Running, d.State);
        _ps.Ok("Set-VfioDeviceState -Simulated 0000:01:00.0 -State PreCopyP2P");
        var ccw = (VfioDevice)_ps.Ok("New-VfioSimulatedDevice -Address 0.0.0200 -Kind Ccw -Protocol V1").Single().BaseObject;
        Assert.Equal((VfioDeviceKind.Ccw, MigrationProtocol.V1, "vfio_ccw"), (ccw.Kind, ccw.Protocol, ccw.Driver));
        Assert.Equal(10, _ps.Ok("Get-VfioDevice -Simulated").Count);
        _ps.Ok("Get-VfioDevice -Simulated 0000:01:00.0, 0.0.0200 | Remove-VfioSimulatedDevice");
        Assert.Equal(8, _ps.Ok("Get-VfioDevice -Simulated").Count);
    }

    [Theory]
    [InlineData("New-VfioSimulatedDevice -Address 3b:00.2", "InvalidSimulatedDevice", "not a PCI address")]
    [InlineData("New-VfioSimulatedDevice -Address 0000:3b:00.2", "DeviceExists", "already exists")]
    [InlineData("New-VfioSimulatedDevice -Address 0000:01:00.0 -Protocol V2 -Capabilities Ndma", "InvalidSimulatedDevice", "Ndma is a v1 capability")]
    [InlineData("New-VfioSimulatedDevice -Address 0000:01:00.0 -PeerAddress 0000:99:00.0", "PeerNotFound", "does not exist")]
    [InlineData("New-VfioSimulatedDevice -Address 0.0.0300 -Kind Ccw -PeerAddress 0000:3b:00.2", "PeerNotPci", "Only PCI")]
    public void BadDeviceDefinitionsAreClearErrors(string script, string id, string text)
    {
        var e = _ps.OneError(script);
        Assert.StartsWith(id + ",", e.FullyQualifiedErrorId);
        Assert.Contains(text, e.Exception.Message);
    }

    [Fact]
    public void MemorySizeOutOfRangeIsTheModulesError()
    {
        var e = _ps.OneError("New-VfioSimulatedDevice -Address 0000:01:00.0 -MemorySize 1KB");
        Assert.StartsWith("InvalidParameterValue,", e.FullyQualifiedErrorId);
        Assert.Contains("-MemorySize: 1024 is out of range; give a number from 16384 to 68719476736.", e.Exception.Message);
    }

    [Theory]
    [InlineData("Add-VfioSimulatedFault -Address 0000:3b:00.2 -ArcTo 'Stop,Running'", "-ArcTo: 'Stop,Running' names more than one value, and only one is taken; give exactly one of: Error, Stop, Running,")]
    [InlineData("Add-VfioSimulatedFault -Address 0000:3b:00.2 -Nth 0", "-Nth: 0 is out of range; give a number from 1 to 2147483647.")]
    [InlineData("New-VfioSimulatedDevice -Address 0000:01:00.0 -VendorId xyz", "-VendorId: 'xyz' is not a PCI id; give 1 to 4 hex digits, 0x optional")]
    [InlineData("New-VfioSimulatedDevice -Address 0000:01:00.0 -Driver ''", "-Driver: the value is empty; give a driver name")]
    [InlineData("Get-VfioStateImage -Path @('a', $null)", "-Path: the list holds an empty value; give an image file path.")]
    public void RefusedParameterValuesAreTheModulesError(string script, string text)
    {
        var e = _ps.OneError(script);
        Assert.StartsWith("InvalidParameterValue,", e.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.InvalidArgument, e.CategoryInfo.Category);
        Assert.Contains(text, e.Exception.Message);
    }

    [Fact]
    public void AllowedParameterValuesStillBind()
    {
        var d = (VfioDevice)_ps.Ok("New-VfioSimulatedDevice -Address 0000:01:00.0 -VendorId 0x10de -Kind pci -NdmaReading rfc -MemorySize 16KB").Single().BaseObject;
        Assert.Equal("0000:01:00.0", d.Name);
        var rule = _ps.Ok("Add-VfioSimulatedFault -Address 0000:3b:00.2 -ArcFrom running -ArcTo ([VfioMigration.Protocol.MigrationState]::Stop) -Nth 1").Single();
        Assert.Contains("Stop", rule.ToString());
    }

    [Fact]
    public void FaultsCanBeArmedAndCleared()
    {
        var rule = _ps.Ok("Add-VfioSimulatedFault -Address 0000:5e:00.1 -Point FeatureCall -Nth 2 -Errno ENODEV").Single();
        Assert.Contains("ENODEV", rule.ToString());
        _ps.Ok("Clear-VfioSimulatedFault -Address 0000:5e:00.1");
        _ps.Ok("Set-VfioDeviceState -Simulated 0000:5e:00.1 -State Stop");
        var e = _ps.OneError("Add-VfioSimulatedFault -Address 0000:5e:00.1 -Errno EWHATEVER");
        Assert.StartsWith("InvalidFault", e.FullyQualifiedErrorId);
        Assert.Contains("EIO", e.Exception.Message);
    }

    [Fact]
    public void AHungChannelProgramMakesTheStopFailClearlyAndTheDeviceStaysRunning()
    {
        _ps.Ok("Add-VfioSimulatedFault -Address 0.0.0100 -HangNextChannelProgram");
        _ps.Ok("$null = Get-VfioDevice -Simulated 0.0.0100; $null = Get-VfioDevice -Simulated 0.0.0100"); // the guest starts a program
        var e = _ps.OneError("Set-VfioDeviceState -Simulated 0.0.0100 -State Stop");
        Assert.StartsWith("TransitionFailed", e.FullyQualifiedErrorId);
        Assert.Contains("ETIMEDOUT", e.Exception.Message);
        Assert.Contains("now in Running", e.Exception.Message);
    }

    [Fact]
    public void ResetAsksOnlyOverRestoredStateAndAnswersNoChangeNothing()
    {
        _ps.Ok("Set-VfioDeviceState -Simulated 0000:5e:00.1 -State Stop");
        _ps.Ok("Reset-VfioDevice -Simulated 0000:5e:00.1");
        Assert.Empty(_ps.Host.Prompts);
        Assert.Equal("Running", _ps.Ok("(Get-VfioDevice -Simulated 0000:5e:00.1).State").Single().ToString());
        var image = Path.Combine(Path.GetTempPath(), $"vfio-reset-{Guid.NewGuid():N}.vfiostate");
        try
        {
            _ps.Ok($"Save-VfioDeviceState -Simulated 0000:5e:00.1 -Path '{image}'; Restore-VfioDeviceState -Simulated 0000:5e:00.1 -Path '{image}'");
        }
        finally { File.Delete(image); }
        _ps.Host.Answer = 2; // No (the choices are Yes, Yes to All, No, No to All)
        _ps.Ok("Reset-VfioDevice -Simulated 0000:5e:00.1");
        Assert.Single(_ps.Host.Prompts);
        Assert.Equal("Stop", _ps.Ok("(Get-VfioDevice -Simulated 0000:5e:00.1).State").Single().ToString());
        _ps.Ok("Reset-VfioDevice -Simulated 0000:5e:00.1 -Force");
        Assert.Equal("Running", _ps.Ok("(Get-VfioDevice -Simulated 0000:5e:00.1).State").Single().ToString());
        var e = _ps.OneError("Reset-VfioDevice -Simulated 0000:d8:00.0 -Force");
        Assert.Contains("VFIO_DEVICE_RESET", e.Exception.Message);
    }

    [Fact]
    public void DevicesStayOpenForTheRunspaceAndRemoveModuleClosesThem()
    {
        _ps.Ok("Set-VfioDeviceState -Simulated 0000:5e:00.1 -State Stop");
        Assert.Equal("Stop", _ps.Ok("(Get-VfioDevice -Simulated 0000:5e:00.1).State").Single().ToString());
        var device = _ps.Ok("Get-VfioDevice -Simulated 0000:5e:00.1").Single();
        _ps.Ok("Remove-Module VfioMigration");
        _ps.Ok($"Import-Module '{Engine.Manifest}'");
        // A new simulated host after the module was removed: the old one was closed.
        Assert.Equal("Running", _ps.Ok("(Get-VfioDevice -Simulated 0000:5e:00.1).State").Single().ToString());
    }

    [Fact]
    public void CtrlCStopsAListingCleanly()
    {
        _ps.Ok("1..400 | ForEach-Object { $null = New-VfioSimulatedDevice -Address ('0000:{0:x2}:{1:x2}.0' -f (16 + [int][math]::Floor($_ / 32)), ($_ % 32)) -MemorySize 16KB }");
        using var shell = System.Management.Automation.PowerShell.Create();
        shell.Runspace = _ps.Runspace;
        shell.AddScript("Get-VfioDevice -Simulated");
        var output = new PSDataCollection<PSObject>();
        int seen = 0;
        output.DataAdded += (_, _) => { if (Interlocked.Increment(ref seen) == 5) shell.BeginStop(null, null); };
        var async = shell.BeginInvoke<PSObject, PSObject>(null, output);
        try { shell.EndInvoke(async); } catch (PipelineStoppedException) { }
        Assert.Equal(PSInvocationState.Stopped, shell.InvocationStateInfo.State);
        Assert.True(output.Count < 408, $"{output.Count} devices listed after Ctrl+C");
    }

    public void Dispose() => _ps.Dispose();
}
