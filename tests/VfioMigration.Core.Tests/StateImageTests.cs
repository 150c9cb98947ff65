using System.Buffers.Binary;
using CsCheck;
using VfioMigration.Backends.Simulated;
using VfioMigration.Images;
using VfioMigration.Operations;
using VfioMigration.Protocol;

namespace VfioMigration.Tests;

/// <summary>Save to image files and restore from them: format, atomicity, verification, recovery.</summary>
public class StateImageTests
{
    public static TheoryData<string, bool> Kinds => new()
    {
        { "v2-all", true }, { "v2-all", false }, { "v2-sc", false }, { "v1", true }, { "v1-ndma", false }, { "ccw-v2", false }, { "ccw-v1", true },
    };

    private static SimulatedDeviceOptions Options(string kind, int n) => kind switch
    {
        "v2-all" => Sim.V2(address: $"0000:0{n}:00.0", seed: (ulong)n),
        "v2-sc" => Sim.V2(MigrationCapabilities.StopCopy, $"0000:0{n}:00.0", seed: (ulong)n),
        "v1" => Sim.V1(address: $"0000:0{n}:00.0", seed: (ulong)n),
        "v1-ndma" => Sim.V1(ndma: true, address: $"0000:0{n}:00.0", seed: (ulong)n),
        "ccw-v2" => Sim.Ccw($"0.0.010{n}", (ulong)n),
        _ => Sim.Ccw($"0.0.010{n}", (ulong)n, MigrationProtocol.V1),
    } with
    { MemorySize = 256 * 1024 };

    [Theory]
    [MemberData(nameof(Kinds))]
    public void RoundTripThroughAFileGivesAnIdenticalDevice(string kind, bool live)
    {
        using var f = new ImageFixture();
        var a = f.Host.Add(Options(kind, 1));
        var b = f.Host.Add(Options(kind, 2));
        a.Advance(200);
        var outcome = Assert.Single(DeviceSetSaver.Save(new[] { f.Save(a.Address, "a.vfiostate") }, new SaveOptions { Live = live }, false, false));
        Assert.True(outcome.Succeeded, outcome.Error?.Message);
        Assert.Equal(MigrationState.Stop, outcome.StateNow);
        Assert.Equal(new[] { "a.vfiostate" }, f.Files);
        if (!OperatingSystem.IsWindows()) Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(f.PathFor("a.vfiostate")));
        var image = outcome.Image!;
        Assert.Equal(new FileInfo(f.PathFor("a.vfiostate")).Length, image.FileBytes);
        Assert.Equal(32, image.Checksum!.Length);
        if (live) Assert.True(image.PreCopyRounds > 0);

        var inspected = StateImageInspector.Inspect(f.PathFor("a.vfiostate"));
        Assert.True(inspected.IsValid, inspected.Problem);
        Assert.Equal((a.Address, image.Checksum, image.DataBytes, live ? "live" : "stop-copy"), (inspected.DeviceName, inspected.Checksum, inspected.DataBytes, inspected.SaveMode));

        var restored = Assert.Single(DeviceSetRestorer.Restore(new[] { f.Restore(b.Address, "a.vfiostate") }, MigrationState.Stop, RestoreOverrides.None));
        Assert.True(restored.Succeeded, restored.Error?.Message);
        Assert.Equal(MigrationState.Stop, restored.StateNow);
        Sim.AssertSameDeviceState(a, b);
    }

    [Fact]
    public void ADowntimeLimitEndsPreCopyEarly()
    {
        using var f = new ImageFixture();
        var a = f.Host.Add(Sim.V2(memory: 1 << 20) with { StepsPerAccess = 50 });
        var bounded = Assert.Single(DeviceSetSaver.Save(new[] { f.Save(a.Address, "a.vfiostate") }, new SaveOptions { Live = true, MaxPreCopyRounds = 50, ConvergedDirtyBytes = 0, MaxDowntime = TimeSpan.FromHours(1), ChunkSize = 16 * 1024 }, false, false));
        Assert.True(bounded.Succeeded, bounded.Error?.Message);
        Assert.Equal(1, bounded.Image!.PreCopyRounds); // any downtime is within an hour: one round, then stop-copy
        f.Session.Migration(a.Address).RequestState(MigrationState.Running);
        var unbounded = Assert.Single(DeviceSetSaver.Save(new[] { f.Save(a.Address, "b.vfiostate") }, new SaveOptions { Live = true, MaxPreCopyRounds = 5, ConvergedDirtyBytes = 0, ChunkSize = 16 * 1024 }, false, false));
        Assert.Equal(5, unbounded.Image!.PreCopyRounds); // a busy device never reaches zero dirty bytes
    }

    [Fact]
    public void ACheckpointLeavesTheDeviceRunningAndAnExistingFileNeedsForce()
    {
        using var f = new ImageFixture();
        var a = f.Host.Add(Sim.V2());
        File.WriteAllText(f.PathFor("a.vfiostate"), "precious");
        var refused = Assert.Single(DeviceSetSaver.Save(new[] { f.Save(a.Address, "a.vfiostate") }, new SaveOptions(), overwrite: false, false));
        Assert.Equal("ImageExists", refused.Error!.ErrorId);
        Assert.Equal(MigrationState.Running, refused.StateNow);
        Assert.Equal("precious", File.ReadAllText(f.PathFor("a.vfiostate")));
        var ok = Assert.Single(DeviceSetSaver.Save(new[] { f.Save(a.Address, "a.vfiostate") }, new SaveOptions { FinalState = MigrationState.Running }, overwrite: true, false));
        Assert.True(ok.Succeeded);
        Assert.Equal(MigrationState.Running, ok.StateNow);
        Assert.True(StateImageInspector.Inspect(f.PathFor("a.vfiostate")).IsValid);
    }

    [Fact]
    public void ALinkedPairSavesAsAConsistentSetAndMovesToAnotherPair()
    {
        using var f = new ImageFixture(SimulatedHost.CreateDefault());
        var a = f.Host["0000:3b:00.2"];
        var b = f.Host["0000:3b:00.3"];
        f.Host.Advance(50);
        var outcomes = DeviceSetSaver.Save(new[] { f.Save(a.Address, "a.vfiostate"), f.Save(b.Address, "b.vfiostate") }, new SaveOptions { Live = true }, false, false);
        Assert.All(outcomes, o => Assert.True(o.Succeeded, o.Error?.Message));
        Assert.Equal(0UL, a.Model.PeerWritesLost + b.Model.PeerWritesLost);
        Assert.Equal(outcomes[0].Image!.SetId, outcomes[1].Image!.SetId);
        Assert.Equal(new[] { a.Address, b.Address }, outcomes[0].Image!.SetMembers);

        var mlx = new PciIdentity(0x15b3, 0x101e, 0x15b3, 0x0052, 0x020000);
        var c = f.Host.Add(new SimulatedDeviceOptions { Address = "0000:86:00.2", Driver = "mlx5_vfio_pci", Capabilities = Sim.All, PciIdentity = mlx, MemorySize = 1 << 20, Seed = 5 });
        var d = f.Host.Add(new SimulatedDeviceOptions { Address = "0000:86:00.3", Driver = "mlx5_vfio_pci", Capabilities = Sim.All, PciIdentity = mlx, MemorySize = 1 << 20, Seed = 6 }, c.Address);

        // One image alone is refused: the set is incomplete.
        var partial = Assert.Single(DeviceSetRestorer.Restore(new[] { f.Restore(c.Address, "a.vfiostate") }, MigrationState.Running, RestoreOverrides.None));
        Assert.Equal("ImageSetIncomplete", partial.Error!.ErrorId);
        Assert.Equal(MigrationState.Running, partial.StateNow);

        var restored = DeviceSetRestorer.Restore(new[] { f.Restore(c.Address, "a.vfiostate"), f.Restore(d.Address, "b.vfiostate") }, MigrationState.Stop, RestoreOverrides.None);
        Assert.All(restored, o => Assert.True(o.Succeeded, o.Error?.Message));
        Sim.AssertSameDeviceState(a, c);
        Sim.AssertSameDeviceState(b, d);
        Assert.Equal(c.Model.PeerWritesReceived, d.Model.PeerWritesSent);
    }

    [Fact]
    public void ASetWithADeviceThatCannotQuiesceIsRefusedBeforeAnythingIsTouched()
    {
        using var f = new ImageFixture(SimulatedHost.CreateDefault());
        var outcomes = DeviceSetSaver.Save(new[] { f.Save("0000:3b:00.2", "a.vfiostate"), f.Save("0000:5e:00.1", "b.vfiostate") }, new SaveOptions(), false, false);
        Assert.All(outcomes, o => Assert.Equal(MigrationState.Running, o.StateNow));
        Assert.Contains(outcomes, o => o.Error!.ErrorId == "PeerQuiesceUnsupported");
        Assert.Empty(f.Files);
    }

    // ---- faults during save: no partial file, device back to Running, state reported ----

    public static TheoryData<string> SaveFaults => new()
    {
        "arc:Running->RunningP2P", "arc:RunningP2P->Stop", "arc:Stop->StopCopy", "feature:3", "feature:6", "read:1", "read:5", "disk-full", "cancel",
        "v1-region:4", "v1-region:9", "v1-region:20", "v1-read:3",
    };

    [Theory]
    [MemberData(nameof(SaveFaults))]
    public void EveryFaultDuringASaveLeavesNoFileAndReportsTheDevice(string fault)
    {
        using var f = new ImageFixture();
        var a = f.Host.Add(fault.StartsWith("v1", StringComparison.Ordinal) ? Sim.V1(memory: 256 * 1024) : Sim.V2(memory: 256 * 1024));
        File.WriteAllText(f.PathFor("a.vfiostate"), "previous image");
        using var cts = new CancellationTokenSource();
        var progress = new Progress(p => { if (fault == "cancel" && p.Bytes > 100_000) cts.Cancel(); });
        switch (fault.Split(':'))
        {
            case ["arc", var arc]:
                var parts = arc.Split("->");
                a.Faults.Arm(new FaultRule(FaultPoint.Transition, Errno: Errno.EIO) { ArcFrom = Enum.Parse<MigrationState>(parts[0]), ArcTo = Enum.Parse<MigrationState>(parts[1]) });
                break;
            case ["feature", var n]: a.Faults.Arm(new FaultRule(FaultPoint.FeatureCall, int.Parse(n), Errno.EIO)); break;
            case ["read", var n]: a.Faults.Arm(new FaultRule(FaultPoint.StreamRead, int.Parse(n), Errno.EIO)); break;
            case ["disk-full"]: AtomicFile.WrapForTests.Value = s => new FullDisk(s, 50_000); break;
            case ["v1-region", var n]: a.Faults.Arm(new FaultRule(FaultPoint.RegionAccess, int.Parse(n), Errno.EIO)); break;
            case ["v1-read", var n]: a.Faults.Arm(new FaultRule(FaultPoint.StreamRead, int.Parse(n), Errno.EIO)); break;
        }
        try
        {
            var outcome = Assert.Single(DeviceSetSaver.Save(new[] { f.Save(a.Address, "a.vfiostate") }, new SaveOptions { ChunkSize = 16 * 1024 }, overwrite: true, false, progress, cts.Token));
            Assert.False(outcome.Succeeded);
            Assert.Equal(new[] { "a.vfiostate" }, f.Files); // no partial file next to it
            Assert.Equal("previous image", File.ReadAllText(f.PathFor("a.vfiostate")));
            Assert.Equal(MigrationState.Running, outcome.StateNow);
            Assert.Equal(MigrationState.Running, a.MigrationState);
            Assert.True(outcome.Error!.Message.Contains("is in Running"), outcome.Error.Message);
            if (fault == "disk-full") Assert.Equal("DiskFull", outcome.Error.ErrorId);
            if (fault == "cancel") Assert.Equal("SaveCancelled", outcome.Error.ErrorId);
        }
        finally
        {
            AtomicFile.WrapForTests.Value = null;
        }
    }

    [Fact]
    public void AFaultOnOneDeviceOfASetWritesNoImageAndReturnsEveryDeviceToRunning()
    {
        using var f = new ImageFixture(SimulatedHost.CreateDefault());
        f.Host["0000:3b:00.3"].Faults.Arm(new FaultRule(FaultPoint.StreamRead, 2, Errno.EIO));
        var outcomes = DeviceSetSaver.Save(new[] { f.Save("0000:3b:00.2", "a.vfiostate"), f.Save("0000:3b:00.3", "b.vfiostate") }, new SaveOptions { ChunkSize = 8192 }, false, false);
        Assert.Empty(f.Files);
        Assert.All(outcomes, o => Assert.Equal(MigrationState.Running, o.StateNow));
        Assert.Equal("SaveAborted", outcomes[0].Error!.ErrorId);
        Assert.Contains("saving 0000:3b:00.3 failed", outcomes[0].Error!.Message);
        Assert.Contains("EIO", outcomes[1].Error!.Message);
        Assert.Equal(0UL, f.Host["0000:3b:00.2"].Model.PeerWritesLost + f.Host["0000:3b:00.3"].Model.PeerWritesLost);
    }

    [Fact]
    public void ASaveThatLeavesTheDeviceInErrorSaysSo()
    {
        using var f = new ImageFixture();
        var a = f.Host.Add(Sim.V2());
        a.Faults.Arm(new FaultRule(FaultPoint.Transition, Errno: Errno.EIO) { ArcTo = MigrationState.StopCopy, EnterError = true });
        f.Session.Migration(a.Address).WhatResetLoses = null; // no last-resort reset (FailureRecoveryTests cover it): the device stays in Error
        var outcome = Assert.Single(DeviceSetSaver.Save(new[] { f.Save(a.Address, "a.vfiostate") }, new SaveOptions(), false, false));
        Assert.Equal(MigrationState.Error, outcome.StateNow);
        // The message says so in the core's terms; the module words the remedy as Reset-VfioDevice (ErrorCatalogueTests).
        Assert.Contains("only a reset (VFIO_DEVICE_RESET) leaves Error", outcome.Error!.Message);
        Assert.Equal(ErrorRemedy.ResetDevice, outcome.Error.Remedy);
        Assert.Empty(f.Files);
    }

    // ---- damaged images: rejected before the device is touched ----

    private static (ImageFixture F, SimulatedDevice Target, byte[] Image) SavedImage()
    {
        var f = new ImageFixture();
        var a = f.Host.Add(Sim.V2(memory: 64 * 1024, seed: 3));
        var b = f.Host.Add(Sim.V2(address: "0000:01:00.1", memory: 64 * 1024, seed: 4));
        Assert.True(DeviceSetSaver.Save(new[] { f.Save(a.Address, "a.vfiostate") }, new SaveOptions(), false, false)[0].Succeeded);
        return (f, b, File.ReadAllBytes(f.PathFor("a.vfiostate")));
    }

    public static TheoryData<string, string, string> Damage => new()
    {
        { "bit-flip-data", "checksum", "checksum mismatch" },
        { "bit-flip-header", "checksum", "checksum mismatch" },
        { "truncate", "length", "ends early" },
        { "extend", "length", "bytes follow the end" },
        { "version", "formatVersion", "format version 2 is not supported" },
        { "magic", "magic", "bad magic" },
        { "empty", "magic", "too short" },
    };

    [Theory]
    [MemberData(nameof(Damage))]
    public void ADamagedImageIsRejectedBeforeResuming(string damage, string field, string text)
    {
        var (f, target, image) = SavedImage();
        using (f)
        {
            int headerLength = (int)BinaryPrimitives.ReadUInt32LittleEndian(image.AsSpan(12));
            image = damage switch
            {
                "bit-flip-data" => Flip(image, 16 + headerLength + 4 + 100),
                "bit-flip-header" => Flip(image, 16 + headerLength / 2),
                "truncate" => image[..^20],
                "extend" => image.Concat(new byte[] { 0 }).ToArray(),
                "version" => Patch(image, 8, 2),
                "magic" => Flip(image, 0),
                _ => Array.Empty<byte>(),
            };
            File.WriteAllBytes(f.PathFor("a.vfiostate"), image);
            target.ArcHistory.Clear();
            var o = Assert.Single(DeviceSetRestorer.Restore(new[] { f.Restore(target.Address, "a.vfiostate") }, MigrationState.Stop, RestoreOverrides.Identity | RestoreOverrides.SetMembership));
            var e = Assert.IsType<StateImageException>(o.Error);
            Assert.Equal(field, e.Field);
            Assert.Contains(text, e.Message);
            Assert.Empty(target.ArcHistory); // never entered Resuming: not touched at all
            Assert.Equal(MigrationState.Running, o.StateNow);
        }
    }

    [Fact]
    public void AnImageOfAnotherDeviceIsRefusedNamingTheFieldAndForceRelaxesIdentityButNotTheProtocol()
    {
        var (f, _, _) = SavedImage();
        using (f)
        {
            var other = f.Host.Add(Sim.V2(address: "0000:05:00.0", memory: 64 * 1024) with { PciIdentity = new PciIdentity(0x8086, 0x4941, 0, 0, 0) });
            var o = Assert.Single(DeviceSetRestorer.Restore(new[] { f.Restore(other.Address, "a.vfiostate") }, MigrationState.Stop, RestoreOverrides.None));
            var e = Assert.IsType<StateImageException>(o.Error);
            Assert.Equal("vendorId", e.Field);
            Assert.Contains("'1234' in the image and '8086' on the device", e.Message);
            Assert.Empty(other.ArcHistory);

            // -Force passes identity; the device itself then refuses a foreign stream, and is reset.
            var forced = Assert.Single(DeviceSetRestorer.Restore(new[] { f.Restore(other.Address, "a.vfiostate") }, MigrationState.Stop, RestoreOverrides.Identity | RestoreOverrides.SetMembership));
            Assert.False(forced.Succeeded);
            Assert.Equal(MigrationState.Running, forced.StateNow);
            Assert.Contains("was reset", forced.Error!.Message);

            var v1 = f.Host.Add(Sim.V1(address: "0000:06:00.0", memory: 64 * 1024));
            var proto = Assert.Single(DeviceSetRestorer.Restore(new[] { f.Restore(v1.Address, "a.vfiostate") }, MigrationState.Stop, RestoreOverrides.Identity | RestoreOverrides.SetMembership));
            Assert.Equal("protocol", Assert.IsType<StateImageException>(proto.Error).Field);
        }
    }

    [Fact]
    public void AFailedRestoreResetsTheDevice()
    {
        var (f, target, _) = SavedImage();
        using (f)
        {
            target.Faults.Arm(new FaultRule(FaultPoint.StreamWrite, 1, Errno.EIO));
            var o = Assert.Single(DeviceSetRestorer.Restore(new[] { f.Restore(target.Address, "a.vfiostate") }, MigrationState.Running, RestoreOverrides.None));
            Assert.False(o.Succeeded);
            Assert.Equal(MigrationState.Running, o.StateNow);
            Assert.Contains("reset", o.Error!.Message);
        }
    }

    [Fact]
    public void MutatedImagesNeverVerify()
    {
        var (f, _, image) = SavedImage();
        using (f)
        {
            var gen = Gen.Select(Gen.Int[0, 3], Gen.Int[0, image.Length - 1], Gen.Byte[1, 255]);
            gen.Sample((kind, at, value) =>
            {
                byte[] mutated = kind switch
                {
                    0 => Flip(image, at, value),
                    1 => image[..at],
                    2 => image.Concat(new[] { value }).ToArray(),
                    _ => image[..at].Concat(new[] { value }).Concat(image[at..]).ToArray(),
                };
                Assert.Throws<StateImageException>(() => StateImageReader.Open(new MemoryStream(mutated), "m").ReadData(null));
            }, iter: 300);
            StateImageReader.Open(new MemoryStream(image), "ok").ReadData(null); // the original verifies
        }
    }

    private static byte[] Flip(byte[] b, int at, byte mask = 0x01)
    {
        var c = (byte[])b.Clone();
        c[at] ^= mask;
        return c;
    }

    private static byte[] Patch(byte[] b, int at, ushort value)
    {
        var c = (byte[])b.Clone();
        BinaryPrimitives.WriteUInt16LittleEndian(c.AsSpan(at), value);
        return c;
    }

    private sealed class Progress(Action<SaveProgress> report) : IProgress<SaveProgress>
    {
        public void Report(SaveProgress value) => report(value);
    }

    /// <summary>A file that fills up: writes past the limit fail as ENOSPC does.</summary>
    private sealed class FullDisk(Stream inner, long limit) : Stream
    {
        private long _written;
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => _written;
        public override long Position { get => _written; set => throw new NotSupportedException(); }
        public override void Flush() => inner.Flush();
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));
        public override void Write(ReadOnlySpan<byte> buffer)
        {
            if (_written + buffer.Length > limit) throw new IOException("No space left on device", 28);
            inner.Write(buffer);
            _written += buffer.Length;
        }
    }
}
