using VfioMigration.Backends.Simulated;
using VfioMigration.Images;
using VfioMigration.Operations;
using VfioMigration.Protocol;
using VfioMigration.Protocol.Uapi;

namespace VfioMigration.Tests;

/// <summary>
/// PRECOPY_INFOv2 and REINIT (kernel 7.3; docs/protocol.md §3.8, checklist 77, 78): the driver opts in only on a
/// device with PRE_COPY and reads the flags only after; a live save that sees REINIT sends the new initial data
/// in pre-copy again and counts the re-init, and the image records it.
/// </summary>
public sealed class PreCopyReinitTests
{
    private const int Memory = 256 * 1024, Chunk = 16 * 1024;

    private static SimulatedDeviceOptions Reinitializing(string address = "0000:01:00.0", ulong seed = 7, bool kernelHasV2 = true) =>
        Sim.V2(address: address, memory: Memory, seed: seed) with { PreCopyReinitAfterBytes = Memory / 2, PrecopyInfoV2 = kernelHasV2 };

    private static (SaveReport Report, SimulatedDevice Device, MemoryStream Image) LiveSave(SimulatedDeviceOptions options, SaveOptions save, SimulatedHost? host = null)
    {
        host ??= new SimulatedHost();
        var d = host.Add(options);
        using var t = d.Open();
        using var driver = Sim.Driver(t);
        var image = new MemoryStream();
        var report = DeviceStateSaver.Save(driver, image, save with { Live = true, ChunkSize = Chunk });
        return (report, d, image);
    }

    [Fact]
    public void C78_a_reinit_restarts_the_initial_data_rule()
    {
        // One round allowed. The device re-initializes half way through its initial data, so at the end of that
        // round half of the new initial data is still unsent: without treating it as initial data again, the
        // round limit switched over with it outstanding.
        var (report, d, _) = LiveSave(Reinitializing(), new SaveOptions { MaxPreCopyRounds = 1 });
        Assert.Equal(1, d.PreCopyReinits);
        Assert.Equal(1, report.PreCopyReinits);
        Assert.True(report.PreCopyFlagsReported);
        Assert.True(report.PreCopyRounds >= 2, $"{report.PreCopyRounds} pre-copy rounds");
        Assert.Equal(0, d.InitialBytesAtStopCopy);
    }

    [Fact]
    public void C78_without_a_reinit_the_round_limit_still_holds()
    {
        var (report, d, _) = LiveSave(Sim.V2(memory: Memory), new SaveOptions { MaxPreCopyRounds = 1 });
        Assert.Equal(0, report.PreCopyReinits);
        Assert.True(report.PreCopyFlagsReported);
        Assert.Equal(1, report.PreCopyRounds);
        Assert.Equal(0, d.PreCopyReinits);
    }

    [Fact]
    public void C78_the_downtime_limit_may_end_pre_copy_with_reinit_data_left()
    {
        // Any downtime is within a day: once the re-init is seen, the limit may switch over with its data left.
        var (report, d, _) = LiveSave(Reinitializing(), new SaveOptions { MaxPreCopyRounds = 1, MaxDowntime = TimeSpan.FromDays(1), ConvergedDirtyBytes = 0 });
        Assert.Equal(1, report.PreCopyReinits);
        Assert.True(d.InitialBytesAtStopCopy > 0, $"{d.InitialBytesAtStopCopy} initial bytes left at the switch");
    }

    [Fact]
    public void C78_a_reinit_save_restores_identically()
    {
        var host = new SimulatedHost();
        var (report, source, image) = LiveSave(Reinitializing(), new SaveOptions { MaxPreCopyRounds = 2 }, host);
        var target = host.Add(Sim.V2(address: "0000:01:00.1", memory: Memory, seed: 8));
        using var tt = target.Open();
        using var restorer = Sim.Driver(tt);
        image.Position = 0;
        Assert.Equal(report.Bytes, DeviceStateRestorer.Restore(restorer, image, MigrationState.Stop, chunkSize: 7777));
        Sim.AssertSameDeviceState(source, target);
    }

    [Fact]
    public void C77_an_older_kernel_gets_no_opt_in_and_the_reinit_goes_out_as_dirty_data()
    {
        // Feature 12 is unknown (ENOTTY): the flags are never read, the device cannot announce the re-init and
        // sends the pages again as dirty data; the save is whole all the same.
        var host = new SimulatedHost();
        var (report, source, image) = LiveSave(Reinitializing(kernelHasV2: false), new SaveOptions { MaxPreCopyRounds = 4 }, host);
        Assert.Equal(1, source.PreCopyReinits);
        Assert.Equal(0, report.PreCopyReinits);
        Assert.False(report.PreCopyFlagsReported);
        Assert.False(source.PrecopyFlagsAreOutput);
        var target = host.Add(Sim.V2(address: "0000:01:00.1", memory: Memory, seed: 8));
        using var tt = target.Open();
        using var restorer = Sim.Driver(tt);
        image.Position = 0;
        DeviceStateRestorer.Restore(restorer, image, MigrationState.Stop);
        Sim.AssertSameDeviceState(source, target);
    }

    [Fact]
    public void C77_flags_echoed_before_the_opt_in_are_not_read_as_reinit()
    {
        // A kernel whose opt-in failed and whose driver sets bit 0 anyway: the field is reserved, so no re-init.
        var options = Sim.V2(memory: Memory) with { Defects = new[] { SimulatedDefect.ReinitWithoutOptIn } };
        var (report, _, _) = LiveSave(options with { PrecopyInfoV2 = true }, new SaveOptions { MaxPreCopyRounds = 1 }, null);
        // Opted in: the defect is silent then, and no re-init is seen either.
        Assert.Equal(0, report.PreCopyReinits);
        var info = PrecopyInfo.Parse(new byte[] { 24, 0, 0, 0, 1, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 });
        Assert.False(info.Reinit);
        Assert.Equal(0u, info.Flags);
        Assert.True(PrecopyInfo.Parse(new byte[] { 24, 0, 0, 0, 1, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 }, flagsAreOutput: true).Reinit);
    }

    [Fact]
    public void C77_the_opt_in_is_sent_once_per_open_and_only_with_pre_copy()
    {
        var host = new SimulatedHost();
        var d = host.Add(Sim.V2(memory: Memory));
        using (var t = d.Open())
        using (var driver = Sim.Driver(t))
        {
            Assert.False(d.PrecopyFlagsAreOutput);
            DeviceStateSaver.Save(driver, new MemoryStream(), new SaveOptions { Live = true, ChunkSize = Chunk });
            Assert.True(d.PrecopyFlagsAreOutput);
        }
        Assert.False(d.PrecopyFlagsAreOutput);
        var stopOnly = host.Add(Sim.V2(MigrationCapabilities.StopCopy, "0000:01:00.2", Memory));
        using var t2 = stopOnly.Open();
        var counting = new FeatureIds(t2);
        using var driver2 = Sim.Driver(counting);
        DeviceStateSaver.Save(driver2, new MemoryStream(), new SaveOptions { ChunkSize = Chunk });
        Assert.DoesNotContain(VfioUapi.FeatureMigPrecopyInfoV2, counting.Ids);
    }

    [Fact]
    public void C78_the_image_records_the_reinits()
    {
        string dir = Directory.CreateTempSubdirectory("reinit").FullName;
        try
        {
            var host = new SimulatedHost();
            var d = host.Add(Reinitializing());
            using var session = new VfioHostSession(new SimulatedBackend(host));
            string path = Path.Combine(dir, "a.vfiostate");
            var outcome = Assert.Single(session.Save(new[] { new SaveTarget(session.Migration(d.Address), session.Describe(d.Address), path) },
                new SaveOptions { Live = true, MaxPreCopyRounds = 1, ChunkSize = Chunk }, false, false));
            Assert.Null(outcome.Error);
            var image = StateImageInspector.Inspect(path);
            Assert.True(image.IsValid, image.Problem);
            Assert.Equal(1, image.PreCopyReinits);
            Assert.True(image.PreCopyFlagsReported);
        }
        finally { Directory.Delete(dir, true); }
    }

    /// <summary>Passes every call on and records which feature ids were asked for.</summary>
    private sealed class FeatureIds(Transport.IVfioDeviceTransport inner) : Transport.IVfioDeviceTransport
    {
        public List<uint> Ids { get; } = new();
        public string Address => inner.Address;
        public int GetDeviceInfo(Span<byte> info) => inner.GetDeviceInfo(info);
        public int GetRegionInfo(Span<byte> info) => inner.GetRegionInfo(info);
        public int Read(long offset, Span<byte> buffer) => inner.Read(offset, buffer);
        public int Write(long offset, ReadOnlySpan<byte> buffer) => inner.Write(offset, buffer);
        public int Feature(Span<byte> argument)
        {
            Ids.Add(DeviceFeatureBuffer.Flags(argument) & VfioUapi.FeatureMask);
            return inner.Feature(argument);
        }
        public Transport.IMigrationDataChannel AdoptDataChannel(int fd) => inner.AdoptDataChannel(fd);
        public int Reset() => inner.Reset();
        public void Dispose() => inner.Dispose();
    }
}
