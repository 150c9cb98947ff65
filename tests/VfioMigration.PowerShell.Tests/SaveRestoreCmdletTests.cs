using System.Management.Automation;
using VfioMigration.Protocol;

#pragma warning disable CA1416 // the module and its tests run on Linux

namespace VfioMigration.PowerShell.Tests;

public sealed class SaveRestoreCmdletTests : IDisposable
{
    private readonly Engine _ps = new();
    private readonly string _dir = Directory.CreateTempSubdirectory("vfio-cmdlet-").FullName;

    private string P(string name) => Path.Combine(_dir, name);
    private string StateOf(string address) => _ps.Ok($"(Get-VfioDevice -Simulated {address}).State").Single().ToString()!;

    [Fact]
    public void SaveWritesAPrivateImageLeavesTheDeviceStoppedAndPassThruDescribesIt()
    {
        Assert.Empty(_ps.Ok($"Save-VfioDeviceState -Simulated -Address 0000:5e:00.1 -Path '{P("qat.vfiostate")}'"));
        Assert.Equal("Stop", StateOf("0000:5e:00.1"));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(P("qat.vfiostate")));
        var image = (VfioStateImage)_ps.Ok($"Get-VfioDevice -Simulated 0000:3b:00.2 | Save-VfioDeviceState -Path '{P("mlx.vfiostate")}' -Live -KeepRunning -PassThru").Single().BaseObject;
        Assert.Equal(("0000:3b:00.2", "live", true), (image.DeviceName, image.SaveMode, image.IsValid));
        Assert.True(image.PreCopyRounds > 0);
        Assert.Equal(new FileInfo(P("mlx.vfiostate")).Length, image.FileBytes);
        Assert.Equal("Running", StateOf("0000:3b:00.2"));
    }

    [Fact]
    public void SaveReportsProgressAndAlwaysCompletesIt()
    {
        var (_, ps) = _ps.Run($"Save-VfioDeviceState -Simulated 0000:3b:00.2 -Path '{P("a.vfiostate")}' -Live");
        Assert.Empty(ps.Streams.Error);
        var records = ps.Streams.Progress.Where(p => p.Activity == "Saving 0000:3b:00.2").ToArray();
        Assert.Contains(records, r => r.RecordType == ProgressRecordType.Processing && r.StatusDescription.Contains("/s"));
        Assert.Equal(ProgressRecordType.Completed, records[^1].RecordType);
    }

    [Fact]
    public void AnExistingFileIsKeptUnlessForce()
    {
        File.WriteAllText(P("a.vfiostate"), "keep me");
        var e = _ps.OneError($"Save-VfioDeviceState -Simulated 0000:5e:00.1 -Path '{P("a.vfiostate")}'");
        Assert.Equal("ImageExists,VfioMigration.PowerShell.Commands.SaveVfioDeviceStateCommand", e.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.ResourceExists, e.CategoryInfo.Category);
        Assert.Contains("-Force", e.ErrorDetails.RecommendedAction);
        Assert.Contains("is in Running", e.Exception.Message);
        Assert.Equal("keep me", File.ReadAllText(P("a.vfiostate")));
        _ps.Ok($"Save-VfioDeviceState -Simulated 0000:5e:00.1 -Path '{P("a.vfiostate")}' -Force");
        Assert.True(_ps.Value<VfioStateImage>($"Get-VfioStateImage '{P("a.vfiostate")}'").IsValid);
    }

    [Fact]
    public void ASetSavedIntoADirectoryRestoresOntoAnotherSetAndGetVfioStateImageShowsIt()
    {
        _ps.Ok($"Get-VfioDevice -Simulated '0000:3b:*' | Save-VfioDeviceState -Path '{_dir}' -Live -Together");
        var images = _ps.Ok($"Get-VfioStateImage '{P("*.vfiostate")}'").Select(o => (VfioStateImage)o.BaseObject).ToArray();
        Assert.Equal(new[] { "0000-3b-00.2.vfiostate", "0000-3b-00.3.vfiostate" }, images.Select(i => Path.GetFileName(i.Path)));
        Assert.All(images, i => Assert.True(i.IsValid));
        Assert.Equal(images[0].SetId, images[1].SetId);
        _ps.Ok("$null = New-VfioSimulatedDevice -Address 0000:86:00.2 -Driver mlx5_vfio_pci -VendorId 15b3 -DeviceId 101e -Capabilities P2P, PreCopy -MemorySize 1MB");
        _ps.Ok("$null = New-VfioSimulatedDevice -Address 0000:86:00.3 -Driver mlx5_vfio_pci -VendorId 15b3 -DeviceId 101e -Capabilities P2P, PreCopy -MemorySize 1MB -PeerAddress 0000:86:00.2");
        var restored = _ps.Ok($"Restore-VfioDeviceState -Simulated 0000:86:00.2, 0000:86:00.3 -Path '{P("0000-3b-00.2.vfiostate")}', '{P("0000-3b-00.3.vfiostate")}' -Start -PassThru");
        Assert.Equal(new[] { MigrationState.Running, MigrationState.Running }, restored.Select(o => ((VfioDevice)o.BaseObject).State!.Value));
        var partial = _ps.OneError($"Restore-VfioDeviceState -Simulated 0000:86:00.2 -Path '{P("0000-3b-00.2.vfiostate")}' -Force -Confirm:$false");
        Assert.StartsWith("ImageSetIncomplete", partial.FullyQualifiedErrorId);
    }

    [Fact]
    public void RestoreRefusesAnImageOfAnotherDeviceNamingTheField()
    {
        _ps.Ok($"Save-VfioDeviceState -Simulated 0000:5e:00.1 -Path '{P("qat.vfiostate")}'");
        _ps.Ok("Set-VfioDeviceState -Simulated 0000:3b:00.2 -State Stop");
        var e = _ps.OneError($"Restore-VfioDeviceState -Simulated 0000:3b:00.2 -Path '{P("qat.vfiostate")}'");
        Assert.Equal("ImageDeviceMismatch,VfioMigration.PowerShell.Commands.RestoreVfioDeviceStateCommand", e.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.InvalidArgument, e.CategoryInfo.Category);
        Assert.Contains("vendorId", e.Exception.Message);
        Assert.Equal("Stop", StateOf("0000:3b:00.2"));
    }

    /// <summary>Issue 17 item 3: -WhatIf is the pre-flight; every image's every mismatch at once, before any question, and no switch that cannot help.</summary>
    [Fact]
    public void RestoreWhatIfRunsEveryCheckAndNamesEveryMismatchBeforeAnyQuestion()
    {
        _ps.Ok($"Save-VfioDeviceState -Simulated 0000:5e:00.1 -Path '{P("qat.vfiostate")}' -KeepRunning");
        _ps.Ok($"Save-VfioDeviceState -Simulated 0000:af:00.1 -Path '{P("v1.vfiostate")}' -KeepRunning");
        var (_, whatIf) = _ps.Run($"Restore-VfioDeviceState -Simulated 0000:3b:00.2, 0000:3b:00.3 -Path '{P("qat.vfiostate")}', '{P("v1.vfiostate")}' -Together -WhatIf");
        var errors = whatIf.Streams.Error.ToArray();
        Assert.Equal(2, errors.Length);
        Assert.All(errors, e => Assert.StartsWith("ImageDeviceMismatch", e.FullyQualifiedErrorId));
        Assert.Contains(errors, e => e.Exception.Message.Contains("qat.vfiostate") && e.Exception.Message.Contains("vendorId") && e.Exception.Message.Contains("driver"));
        Assert.Contains(errors, e => e.Exception.Message.Contains("v1.vfiostate") && e.Exception.Message.Contains("protocol is 'V1' in the image"));
        // The v1 image cannot be restored onto a v2 device at all, so no override is offered for either.
        Assert.All(errors, e => Assert.DoesNotContain("-Skip", e.ErrorDetails?.RecommendedAction ?? ""));
        Assert.DoesNotContain("What if", _ps.Host.Written);
        Assert.Equal("Running", StateOf("0000:3b:00.2"));
        Assert.Equal("Running", StateOf("0000:3b:00.3"));

        // Asked interactively, a refused restore asks nothing.
        var (_, asked) = _ps.Run($"Restore-VfioDeviceState -Simulated 0000:3b:00.2 -Path '{P("qat.vfiostate")}' -Confirm");
        Assert.Empty(_ps.Host.Prompts);
        var one = Assert.Single(asked.Streams.Error);
        Assert.Contains("-SkipIdentityCheck", one.ErrorDetails.RecommendedAction);

        // A restore that passes its pre-flight is only described by -WhatIf.
        _ps.Ok($"Restore-VfioDeviceState -Simulated 0000:5e:00.1 -Path '{P("qat.vfiostate")}' -WhatIf");
        Assert.Contains("What if", _ps.Host.Written);
        Assert.Equal("Running", StateOf("0000:5e:00.1"));
    }

    [Fact]
    public void ADamagedImageIsReportedByGetVfioStateImageAndRefusedByRestore()
    {
        _ps.Ok($"Save-VfioDeviceState -Simulated 0000:5e:00.1 -Path '{P("qat.vfiostate")}'");
        var bytes = File.ReadAllBytes(P("qat.vfiostate"));
        bytes[bytes.Length / 2] ^= 0x40;
        File.WriteAllBytes(P("qat.vfiostate"), bytes);
        var (output, ps) = _ps.Run($"Get-VfioStateImage '{P("qat.vfiostate")}'");
        var image = (VfioStateImage)output.Single().BaseObject;
        Assert.False(image.IsValid);
        Assert.Contains("checksum mismatch", image.Problem);
        Assert.Equal(ErrorCategory.InvalidData, Assert.Single(ps.Streams.Error).CategoryInfo.Category);
        var e = _ps.OneError($"Restore-VfioDeviceState -Simulated 0000:5e:00.1 -Path '{P("qat.vfiostate")}' -Force");
        Assert.StartsWith("ImageChecksumMismatch", e.FullyQualifiedErrorId);
        Assert.Equal("Stop", StateOf("0000:5e:00.1")); // untouched
    }

    [Fact]
    public void RestoreAsksOnlyBeforeReplacingStateItRestoredEarlier()
    {
        _ps.Ok($"Save-VfioDeviceState -Simulated 0000:5e:00.1 -Path '{P("qat.vfiostate")}' -KeepRunning");
        // A freshly opened device holds nothing of value: no question beyond ShouldProcess.
        _ps.Ok($"Restore-VfioDeviceState -Simulated 0000:5e:00.1 -Path '{P("qat.vfiostate")}' -Start");
        Assert.Empty(_ps.Host.Prompts);
        Assert.Equal("Running", StateOf("0000:5e:00.1"));
        // Now it holds the restored state: replacing it asks once; No changes nothing.
        _ps.Host.Answer = 2; // No (the choices are Yes, Yes to All, No, No to All)
        _ps.Ok($"Restore-VfioDeviceState -Simulated 0000:5e:00.1 -Path '{P("qat.vfiostate")}'");
        Assert.Single(_ps.Host.Prompts);
        // The question before a loss defaults to No (of Yes, Yes to All, No, No to All): Enter keeps the state.
        Assert.Equal(2, Assert.Single(_ps.Host.Defaults));
        Assert.Equal("Running", StateOf("0000:5e:00.1"));
        _ps.Ok($"Restore-VfioDeviceState -Simulated 0000:5e:00.1 -Path '{P("qat.vfiostate")}' -Force");
        Assert.Single(_ps.Host.Prompts);
        Assert.Equal("Stop", StateOf("0000:5e:00.1"));
    }

    [Fact]
    public void PathsOutsideTheFileSystemAreRefused()
    {
        var (_, ps) = _ps.Run("Save-VfioDeviceState -Simulated 0000:5e:00.1 -Path Env:\\VFIO_IMAGE");
        Assert.StartsWith("NotAFileSystemPath", Assert.Single(ps.Streams.Error).FullyQualifiedErrorId);
        Assert.Equal("Running", StateOf("0000:5e:00.1"));
    }

    [Fact]
    public void CtrlCDuringASaveLeavesNoFileAndSaysWhereTheDeviceIs()
    {
        _ps.Ok("$null = New-VfioSimulatedDevice -Address 0000:90:00.0 -MemorySize 512MB");
        using var shell = System.Management.Automation.PowerShell.Create();
        shell.Runspace = _ps.Runspace;
        shell.AddScript($"Save-VfioDeviceState -Simulated 0000:90:00.0 -Path '{P("big.vfiostate")}'");
        shell.Streams.Progress.DataAdded += (_, _) => shell.BeginStop(null, null);
        try { shell.Invoke(); } catch (PipelineStoppedException) { }
        Assert.Equal(PSInvocationState.Stopped, shell.InvocationStateInfo.State);
        Assert.Empty(Directory.GetFiles(_dir));
        Assert.Equal("Running", StateOf("0000:90:00.0"));
        Assert.Contains("0000:90:00.0 is in Running", _ps.Host.Written);
    }

    public void Dispose()
    {
        _ps.Dispose();
        Directory.Delete(_dir, recursive: true);
    }
}
