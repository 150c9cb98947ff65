namespace VfioMigration.PowerShell.Tests;

/// <summary>The examples run as they stand against the simulated host, and do what they say.</summary>
public sealed class ExampleTests : IDisposable
{
    private readonly Engine _ps = new();

    private string RunExample(string name)
    {
        var path = Path.Combine(Engine.RepositoryRoot, "examples", name);
        var (output, shell) = _ps.Run($"$PSStyle.OutputRendering = 'PlainText'; & '{path}'");
        Assert.True(shell.Streams.Error.Count == 0, string.Join("\n", shell.Streams.Error));
        Assert.False(shell.HadErrors && shell.Streams.Error.Count > 0);
        return GetVfioDeviceTests.Strip(string.Join("\n", output.Select(o => o.ToString())) + "\n" + _ps.Host.Written);
    }

    [Fact]
    public void TheTourRunsAndRecoversFromError()
    {
        var text = RunExample("tour.ps1");
        Assert.Contains("TransitionRefused,VfioMigration.PowerShell.Commands.SetVfioDeviceStateCommand", text);
        Assert.Contains("RunningP2P  -> device_state 0x9 (RUNNING, NDMA)", text);
        Assert.Contains("PreCopyP2P  -> device_state 0xB (RUNNING, SAVING, NDMA)", text);
        // The first rehearsal ends in a reset (the device held nothing); the second, on restored state, in Error.
        Assert.Contains("reset (VFIO_DEVICE_RESET) as a last resort", text);
        Assert.Contains("DeviceInErrorState", text);
        Assert.Contains("it was not reset, because it holds state restored earlier", text);
        Assert.Contains("Recommendation: Reset-VfioDevice returns the device to Running.", text);
        Assert.Equal("Running", _ps.Ok("(Get-VfioDevice -Simulated 0000:3b:00.3).State").Single().ToString());
    }

    [Fact]
    public void TheMultiDeviceExampleQuiescesFirstAndRefusesAnUnsafeSet()
    {
        var text = RunExample("multi-device-quiesce.ps1");
        Assert.Contains("PeerQuiesceUnsupported", text);
        Assert.Contains("Recommendation: -SkipQuiesceCheck (on Set-VfioDeviceState and Save-VfioDeviceState with -Together)", text);
        Assert.Contains("WARNING: 0000:5e:00.1 (in Running) cannot quiesce", text);
        // NDMA's two readings: the suite reports each, and the peer-to-peer quiesce holds under both.
        Assert.Contains("0000:42:00.0 ndma.reading: Passed. in 0x9 the device started no DMA into guest memory in 50 steps: the RFC's reading", text);
        Assert.Matches(@"0000:43:00\.0 ndma\.reading: Passed\. in 0x9 the device started \d+ DMA writes into guest memory in 50 steps: the NOP2P reading", text);
        Assert.Contains("0000:42:00.0 ndma.p2p-quiesced: Passed.", text);
        Assert.Contains("0000:43:00.0 ndma.p2p-quiesced: Passed.", text);
        Assert.All(_ps.Ok("Get-VfioDevice -Simulated -MigrationCapable").Select(o => ((VfioDevice)o.BaseObject).State.ToString()), s => Assert.Equal("Running", s));
    }

    [Fact]
    public void TheCheckpointExampleRollsADeviceBack()
    {
        var text = RunExample("checkpoint-restore.ps1");
        Assert.Contains("valid: True", text);
        Assert.Contains("0000:5e:00.1", text);
        Assert.Equal("Running", _ps.Ok("(Get-VfioDevice -Simulated 0000:5e:00.1).State").Single().ToString());
    }

    [Fact]
    public void TheMoveExampleCarriesTheStateOfTwoDevicesToTwoOthers()
    {
        var text = RunExample("move-vm-devices.ps1");
        Assert.Contains("0000-3b-00.2.vfiostate", text);
        Assert.Contains("1/2", text);
        var moved = _ps.Ok("Get-VfioDevice -Simulated 0000:86:00.2, 0000:86:00.3").Select(o => ((VfioDevice)o.BaseObject).State.ToString());
        Assert.All(moved, s => Assert.Equal("Running", s));
    }

    public void Dispose() => _ps.Dispose();
}

/// <summary>Every PowerShell file of the project parses: build.ps1, the examples and the Pester suite.</summary>
public sealed class ScriptParseTests
{
    public static TheoryData<string> Scripts()
    {
        var data = new TheoryData<string>();
        foreach (var f in Directory.EnumerateFiles(Engine.RepositoryRoot, "*.ps*1", SearchOption.AllDirectories)
                     .Where(f => !f.Contains("/bin/") && !f.Contains("/obj/") && !f.Contains("/out/") && (f.EndsWith(".ps1") || f.EndsWith(".psd1")))
                     .Select(f => Path.GetRelativePath(Engine.RepositoryRoot, f)))
            data.Add(f);
        return data;
    }

    [Theory]
    [MemberData(nameof(Scripts))]
    public void ParsesWithoutErrors(string relative)
    {
        System.Management.Automation.Language.Parser.ParseFile(Path.Combine(Engine.RepositoryRoot, relative), out _, out var errors);
        Assert.True(errors.Length == 0, string.Join("\n", errors.Select(e => $"{e.Extent.StartLineNumber}: {e.Message}")));
    }

    [Fact]
    public void TheBuiltManifestIsValid()
    {
        using var e = new Engine();
        var info = e.Ok($"Test-ModuleManifest -Path '{Engine.Manifest}' -ErrorAction Stop").Single();
        Assert.Equal(new Version(7, 4), info.Properties["PowerShellVersion"].Value);
    }
}
