using System.Management.Automation;

namespace VfioMigration.PowerShell.Tests;

public sealed class GetVfioDeviceTests : IDisposable
{
    private readonly Engine _ps = new();

    [Fact]
    public void ListsTheDefaultSimulatedHost()
    {
        var devices = _ps.Ok("Get-VfioDevice -Simulated").Select(o => (VfioDevice)o.BaseObject).ToArray();
        Assert.Equal(8, devices.Length);
        Assert.All(devices, d => Assert.True(d.IsSimulated));
        var mlx = devices.Single(d => d.Name == "0000:3b:00.2");
        Assert.Equal(("mlx5_vfio_pci", 61, "15b3", "101e"), (mlx.Driver, mlx.IommuGroup!.Value, mlx.VendorId, mlx.DeviceId));
        Assert.Equal(Protocol.MigrationProtocol.V2, mlx.Protocol);
        Assert.Equal(Protocol.MigrationCapabilities.StopCopy | Protocol.MigrationCapabilities.P2P | Protocol.MigrationCapabilities.PreCopy, mlx.Capabilities);
        Assert.Equal(Protocol.MigrationState.Running, mlx.State);
        var v1 = devices.Single(d => d.Name == "0000:af:00.1");
        Assert.Equal("RUNNING", v1.DeviceStateBits);
        Assert.Equal(1u, v1.RawDeviceState);
        var none = devices.Single(d => d.Name == "0000:d8:00.0");
        Assert.Equal(Protocol.MigrationProtocol.None, none.Protocol);
        Assert.Null(none.State);
        Assert.Equal(2, devices.Count(d => d.Kind == VfioDeviceKind.Ccw));
    }

    /// <summary>Issue 17 item 6: Get-VfioDevice and Test-VfioMigration look without touching; Set-VfioDeviceState takes over with a warning.</summary>
    [Fact]
    public void ADeviceLeftInASessionByAnotherProcessIsReportedNotTakenOverByLooking()
    {
        var host = _ps.Value<Backends.Simulated.SimulatedHost>("[VfioMigration.PowerShell.Session.ModuleState]::Current.SimulatedHost");
        var device = host.Add(new Backends.Simulated.SimulatedDeviceOptions
        {
            Address = "0000:92:00.0", Capabilities = Protocol.MigrationCapabilities.StopCopy | Protocol.MigrationCapabilities.P2P | Protocol.MigrationCapabilities.PreCopy,
            StateSurvivesClose = true, PreCopyEmptyReadReturnsZero = true,
        });
        using (var t = device.Open()) // "another process": a resume begun and abandoned, as mtty keeps it across close
        using (var d = Drivers.MigrationDriverFactory.Open(t))
        {
            d.RequestState(Protocol.MigrationState.Resuming);
            d.WriteResumeData(new byte[] { 1, 2, 3 });
        }
        int arcs = device.ArcHistory.Count;

        var (output, shell) = _ps.Run("Get-VfioDevice -Simulated 0000:92:00.0");
        var seen = (VfioDevice)Assert.Single(output).BaseObject;
        Assert.Empty(shell.Streams.Error);
        Assert.Equal(Protocol.MigrationState.Resuming, seen.State);
        Assert.True(seen.LeftByAnotherProcess);
        Assert.Contains(shell.Streams.Warning, w => w.Message.Contains("another process left") && w.Message.Contains("left as found"));
        var blockers = _ps.Ok("(Test-VfioMigration -Simulated 0000:92:00.0).Blockers.Code").Select(o => o.ToString()).ToArray();
        Assert.Contains("SessionLeftByAnotherProcess", blockers);
        Assert.Equal(Protocol.MigrationState.Resuming, device.MigrationState);
        Assert.Equal(arcs, device.ArcHistory.Count);

        var (_, set) = _ps.Run("Set-VfioDeviceState -Simulated 0000:92:00.0 -State Stop");
        Assert.Empty(set.Streams.Error);
        Assert.Contains(set.Streams.Warning, w => w.Message.Contains("found in Resuming") && w.Message.Contains("VFIO_DEVICE_RESET"));
        Assert.Equal(Protocol.MigrationState.Stop, device.MigrationState);
        Assert.DoesNotContain(device.ArcHistory.Skip(arcs), a => a.From == Protocol.MigrationState.Resuming);
    }

    [Fact]
    public void FiltersByWildcardKindAndMigrationCapability()
    {
        Assert.Equal(2, _ps.Ok("Get-VfioDevice -Simulated '0000:3b:*'").Count);
        Assert.Equal(2, _ps.Ok("Get-VfioDevice -Simulated -Kind Ccw").Count);
        Assert.Equal(7, _ps.Ok("Get-VfioDevice -Simulated -MigrationCapable").Count);
        Assert.Equal(2, _ps.Ok("'0000:3b:00.2', '0.0.0100' | Get-VfioDevice -Simulated").Count);
    }

    [Fact]
    public void AnUnknownAddressIsANonTerminatingObjectNotFoundError()
    {
        var (output, ps) = _ps.Run("Get-VfioDevice -Simulated 0000:99:00.0, 0000:3b:00.2");
        Assert.Single(output);
        var e = Assert.Single(ps.Streams.Error);
        Assert.Equal("DeviceNotFound,VfioMigration.PowerShell.Commands.GetVfioDeviceCommand", e.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.ObjectNotFound, e.CategoryInfo.Category);
        Assert.Equal("0000:99:00.0", e.TargetObject);
        Assert.Contains("Get-VfioDevice -Simulated", e.Exception.Message);
    }

    [Fact]
    public void WithoutSimulatedItSaysWhenThisHostHasNoVfioAndPointsAtSimulated()
    {
        var (output, ps) = _ps.Run("try { Get-VfioDevice } catch { $_.FullyQualifiedErrorId; $_.Exception.Message; $_.ErrorDetails.RecommendedAction }");
        if (File.Exists("/dev/vfio/vfio"))
        {
            // A host with VFIO: the real devices are listed, whatever they are, and nothing says VFIO is missing.
            Assert.DoesNotContain(output, o => o.ToString()!.StartsWith("VfioNotAvailable", StringComparison.Ordinal));
            return;
        }
        var lines = output.Select(o => o.ToString()).ToArray();
        Assert.StartsWith("VfioNotAvailable", lines[0]);
        Assert.Contains("modprobe vfio-pci", lines[1]);
        Assert.Contains("-Simulated", lines[1]);
        Assert.Contains("-Simulated", lines[2]);
        var all = _ps.Run("Get-VfioDevice -All -WarningVariable w -WarningAction SilentlyContinue; $w");
        Assert.Empty(all.Shell.Streams.Error); // candidates can be listed even without the vfio modules
    }

    [Fact]
    public void TheTableViewRendersForLiveAndDeserializedObjects()
    {
        _ps.Ok("Get-VfioDevice -Simulated 0000:af:00.1 | Out-Host");
        _ps.Ok("$d = Get-VfioDevice -Simulated 0000:af:00.1; [System.Management.Automation.PSSerializer]::Deserialize([System.Management.Automation.PSSerializer]::Serialize($d)) | Out-Host");
        var text = Strip(_ps.Host.Written);
        var rows = text.Split('\n').Where(l => l.StartsWith("0000:af:00.1", StringComparison.Ordinal)).ToArray();
        Assert.Equal(2, rows.Length);
        // The live view ends with who holds the device (nobody: '-'); the deserialized one leaves that room to
        // remoting's PSComputerName.
        Assert.Matches(@" +-$", rows[0]);
        Assert.DoesNotMatch(@" +-$", rows[1]);
        Assert.All(rows, r => Assert.Matches(@"^0000:af:00\.1 +Running +V1 +StopCopy, PreCopy, Ndma", r));
        Assert.Equal(2, text.Split('\n').Count(l => l.StartsWith("Name ", StringComparison.Ordinal)));
    }

    [Fact]
    public void ObjectsSurviveRemotingSerialization()
    {
        var back = _ps.Ok("$d = Get-VfioDevice -Simulated 0000:3b:00.2; [System.Management.Automation.PSSerializer]::Deserialize([System.Management.Automation.PSSerializer]::Serialize($d))").Single();
        Assert.Equal("Deserialized.VfioMigration.VfioDevice", back.TypeNames[0]);
        Assert.Equal("0000:3b:00.2", back.Properties["Name"].Value);
        Assert.Equal("mlx5_vfio_pci", back.Properties["Driver"].Value);
        Assert.Equal(61, back.Properties["IommuGroup"].Value);
        Assert.Equal("Running", back.Properties["State"].Value.ToString());
        Assert.Equal("V2", back.Properties["Protocol"].Value.ToString());
        Assert.Equal(true, back.Properties["IsSimulated"].Value);
        // A deserialized object still drives the cmdlets, by property name.
        _ps.Ok("$d = Get-VfioDevice -Simulated 0000:3b:00.2; $r = [System.Management.Automation.PSSerializer]::Deserialize([System.Management.Automation.PSSerializer]::Serialize($d)); $r | Set-VfioDeviceState -State Stop");
        Assert.Equal("Stop", _ps.Ok("(Get-VfioDevice -Simulated 0000:3b:00.2).State").Single().ToString());
    }

    internal static string Strip(string s) => System.Text.RegularExpressions.Regex.Replace(s, "\u001b\\[[0-9;]*m", "").Replace("\r", "");

    public void Dispose() => _ps.Dispose();
}
