using System.Management.Automation;

#pragma warning disable CA1416 // the module and its tests run on Linux

namespace VfioMigration.PowerShell.Tests;

/// <summary>Issue 9, as a pwsh user meets it: paths, non-regular files, patterns, pipelines, damaged sets.</summary>
public sealed class ImageFileCmdletTests : IDisposable
{
    private readonly Engine _ps = new();
    private readonly string _dir = Directory.CreateTempSubdirectory("vfio-files-").FullName;

    private string P(string name) => Path.Combine(_dir, name);
    private string StateOf(string address) => _ps.Ok($"(Get-VfioDevice -Simulated {address}).State").Single().ToString()!;

    private static void MkFifo(string path)
    {
        using var p = System.Diagnostics.Process.Start("mkfifo", new[] { path });
        p.WaitForExit();
        Assert.Equal(0, p.ExitCode);
    }

    [Fact]
    public void SaveOntoAFifoOrALinkToADeviceNodeIsRefusedEvenWithForce()
    {
        MkFifo(P("pipe"));
        File.CreateSymbolicLink(P("null-link"), "/dev/null");
        foreach (var target in new[] { "pipe", "null-link" })
        {
            var e = _ps.OneError($"Save-VfioDeviceState -Simulated 0000:5e:00.1 -Path '{P(target)}' -Force");
            Assert.Equal("ImageNotRegularFile,VfioMigration.PowerShell.Commands.SaveVfioDeviceStateCommand", e.FullyQualifiedErrorId);
            Assert.Equal(ErrorCategory.InvalidArgument, e.CategoryInfo.Category);
            Assert.Contains("not a regular file", e.Exception.Message);
            Assert.Contains("is in Running", e.Exception.Message);
            Assert.Equal("Running", StateOf("0000:5e:00.1"));
        }
        Assert.True(new FileInfo(P("null-link")).LinkTarget == "/dev/null");
        Assert.Equal(new[] { "null-link", "pipe" }, Directory.GetFileSystemEntries(_dir).Select(Path.GetFileName).Order());
    }

    [Fact]
    public async Task GetVfioStateImageOnAFifoAnswersAtOnceAndGoesOnWithTheNextFile()
    {
        _ps.Ok($"Save-VfioDeviceState -Simulated 0000:5e:00.1 -Path '{P("good.vfiostate")}' -KeepRunning");
        MkFifo(P("pipe.vfiostate"));
        var run = Task.Run(() => _ps.Run($"Get-VfioStateImage '{P("pipe.vfiostate")}', '{P("good.vfiostate")}'"));
        try
        {
            Assert.Same(run, await Task.WhenAny(run, Task.Delay(TimeSpan.FromSeconds(20))));
        }
        finally
        {
            if (!run.IsCompleted) using (File.OpenWrite(P("pipe.vfiostate"))) { } // release a blocked reader
        }
        var (output, ps) = await run;
        Assert.True(((VfioStateImage)Assert.Single(output).BaseObject).IsValid);
        Assert.StartsWith("ImageNotRegularFile", Assert.Single(ps.Streams.Error).FullyQualifiedErrorId);
    }

    [Fact]
    public void APatternThatMatchesNothingIsImageNotFoundAndNothingIsTouched()
    {
        var get = _ps.OneError($"Get-VfioStateImage '{P("nothing-*.vfiostate")}'");
        Assert.StartsWith("ImageNotFound", get.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.ObjectNotFound, get.CategoryInfo.Category);
        var restore = _ps.OneError($"Restore-VfioDeviceState -Simulated 0000:5e:00.1 -Path '{P("nothing-*.vfiostate")}' -Force");
        Assert.StartsWith("ImageNotFound", restore.FullyQualifiedErrorId);
        Assert.Equal("Running", StateOf("0000:5e:00.1"));
    }

    [Fact]
    public void LiteralPathNamesFilesWithBracketsThatPathTakesAsAPattern()
    {
        var name = P("vm[1].vfiostate");
        _ps.Ok($"Save-VfioDeviceState -Simulated 0000:5e:00.1 -LiteralPath '{name}'");
        Assert.True(File.Exists(name));
        Assert.True(_ps.Value<VfioStateImage>($"Get-VfioStateImage -LiteralPath '{name}'").IsValid);
        Assert.True(_ps.Value<VfioStateImage>($"$ExecutionContext.InvokeProvider.ChildItem.Get([WildcardPattern]::Escape('{_dir}'), $false) | Get-VfioStateImage").IsValid);
        Assert.StartsWith("ImageNotFound", _ps.OneError($"Get-VfioStateImage -Path '{name}'").FullyQualifiedErrorId);
        _ps.Ok($"Restore-VfioDeviceState -Simulated 0000:5e:00.1 -LiteralPath '{name}' -Force");
        Assert.Equal("Stop", StateOf("0000:5e:00.1"));
    }

    [Theory]
    [InlineData(" ")]
    [InlineData("  ")]
    public void BlankNamesAreRefused(string blank)
    {
        var e = _ps.OneError($"$null = $ExecutionContext.SessionState.Path.SetLocation('{_dir}'); Save-VfioDeviceState -Simulated 0000:5e:00.1 -Path '{blank}'");
        Assert.StartsWith("ImagePathInvalid", e.FullyQualifiedErrorId);
        Assert.Empty(Directory.GetFileSystemEntries(_dir));
        Assert.StartsWith("ImagePathInvalid", _ps.OneError($"Get-VfioStateImage -LiteralPath '{blank}'").FullyQualifiedErrorId);
        Assert.Equal("Running", StateOf("0000:5e:00.1"));
    }

    [Fact]
    public void GetVfioStateImageOfADirectorySaysItIsADirectory()
    {
        var e = _ps.OneError($"Get-VfioStateImage -LiteralPath '{_dir}'");
        Assert.StartsWith("ImagePathIsDirectory", e.FullyQualifiedErrorId);
        Assert.Contains("is a directory", e.Exception.Message);
        Assert.DoesNotContain("does not exist", e.Exception.Message);
    }

    [Fact]
    public void ImagesPipedFromGetVfioStateImageBindTheirPathToRestore()
    {
        _ps.Ok($"Save-VfioDeviceState -Simulated 0000:5e:00.1 -Path '{P("qat[1].vfiostate")}'");
        _ps.Ok("Set-VfioDeviceState -Simulated 0000:5e:00.1 -State Running");
        var restored = _ps.Ok($"Get-VfioStateImage -LiteralPath '{P("qat[1].vfiostate")}' | Restore-VfioDeviceState -Simulated -Force -PassThru");
        Assert.Equal("0000:5e:00.1", ((VfioDevice)Assert.Single(restored).BaseObject).Name);
        Assert.Equal("Stop", StateOf("0000:5e:00.1"));
    }

    [Fact]
    public void ASetImageWithADamagedHeaderIsAnErrorForThatFileAndTheOtherFileIsStillListed()
    {
        _ps.Ok($"Get-VfioDevice -Simulated '0000:3b:*' | Save-VfioDeviceState -Path '{_dir}' -Together");
        var first = P("0000-3b-00.2.vfiostate");
        var bytes = File.ReadAllBytes(first);
        int at = System.Text.Encoding.ASCII.GetString(bytes, 0, 1024).IndexOf("\"members\"", StringComparison.Ordinal);
        Assert.True(at > 0);
        bytes[at + 2] ^= 0x20; // "mEmbers": the key is gone, and then the checksum too
        File.WriteAllBytes(first, bytes);
        var (output, ps) = _ps.Run($"Get-VfioStateImage '{P("*.vfiostate")}'");
        Assert.Equal(2, output.Count);
        Assert.False(((VfioStateImage)output[0].BaseObject).IsValid);
        Assert.True(((VfioStateImage)output[1].BaseObject).IsValid);
        var error = Assert.Single(ps.Streams.Error);
        Assert.Equal(ErrorCategory.InvalidData, error.CategoryInfo.Category);
        Assert.IsAssignableFrom<VfioMigrationException>(error.Exception);
    }

    public void Dispose()
    {
        _ps.Dispose();
        Directory.Delete(_dir, recursive: true);
    }
}

/// <summary>The audit log seen from pwsh (environment variables: run alone).</summary>
[Collection(EnvironmentCollection.Name)]
public sealed class AuditLogCmdletTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("vfio-audit-").FullName;

    [Fact]
    public void AnUnwritableAuditLogIsAClearErrorAndTheDeviceIsNotTouched()
    {
        Environment.SetEnvironmentVariable("VFIO_MIGRATION_AUDIT_LOG", Path.Combine(_dir, "missing", "audit.jsonl"));
        try
        {
            using var ps = new Engine();
            var e = ps.OneError("Set-VfioDeviceState -Simulated 0000:5e:00.1 -State Stop -PassThru");
            Assert.StartsWith("AuditLogUnavailable", e.FullyQualifiedErrorId);
            Assert.Contains("VFIO_MIGRATION_AUDIT_LOG", e.Exception.Message);
            Assert.Equal("Running", ps.Ok("(Get-VfioDevice -Simulated 0000:5e:00.1).State").Single().ToString());
        }
        finally
        {
            Environment.SetEnvironmentVariable("VFIO_MIGRATION_AUDIT_LOG", null);
        }
    }

    [Fact]
    public void AnAuditLogThatIsASymlinkIsRefusedAndItsTargetUntouched()
    {
        File.WriteAllText(Path.Combine(_dir, "victim"), "untouched");
        File.CreateSymbolicLink(Path.Combine(_dir, "audit.jsonl"), Path.Combine(_dir, "victim"));
        Environment.SetEnvironmentVariable("VFIO_MIGRATION_AUDIT_LOG", Path.Combine(_dir, "audit.jsonl"));
        try
        {
            using var ps = new Engine();
            var e = ps.OneError($"Save-VfioDeviceState -Simulated 0000:5e:00.1 -Path '{Path.Combine(_dir, "a.vfiostate")}'");
            Assert.StartsWith("AuditLogUnsafe", e.FullyQualifiedErrorId);
            Assert.Equal(ErrorCategory.SecurityError, e.CategoryInfo.Category);
            Assert.Equal("untouched", File.ReadAllText(Path.Combine(_dir, "victim")));
            Assert.False(File.Exists(Path.Combine(_dir, "a.vfiostate")));
        }
        finally
        {
            Environment.SetEnvironmentVariable("VFIO_MIGRATION_AUDIT_LOG", null);
        }
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
