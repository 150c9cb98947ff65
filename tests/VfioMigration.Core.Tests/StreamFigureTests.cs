using VfioMigration.Backends.Simulated;
using VfioMigration.Drivers;
using VfioMigration.Operations;
using VfioMigration.Protocol;
using VfioMigration.Protocol.Uapi;

namespace VfioMigration.Tests;

/// <summary>
/// Issue 17 item 16: a save whose stream is shorter or longer than the device's own figures say (MIG_DATA_SIZE for
/// stop-copy, PRECOPY_INFO's initial_bytes for pre-copy, read() = 0 for the end) is saved with a warning that
/// names the numbers; a whole stream gives none.
/// </summary>
public class StreamFigureTests
{
    private const long Memory = 1 << 20;

    private static long WholeStreamBytes(bool live)
    {
        using var f = new ImageFixture();
        var a = f.Host.Add(Sim.V2(memory: Memory));
        var o = Assert.Single(DeviceSetSaver.Save(new[] { f.Save(a.Address, "whole.vfiostate") }, new SaveOptions { Live = live }, false, false));
        Assert.True(o.Succeeded, o.Error?.Message);
        Assert.Empty(o.Warnings ?? Array.Empty<string>());
        return o.Image!.DataBytes!.Value;
    }

    [Theory]
    [InlineData(false, 76)]
    [InlineData(false, 89)]
    [InlineData(false, 40)]
    [InlineData(true, 76)]
    [InlineData(true, 30)]
    public void AStreamCutShortOfTheDevicesOwnFiguresIsSavedWithAWarningNamingTheNumbers(bool live, int percent)
    {
        long whole = WholeStreamBytes(live);
        using var f = new ImageFixture();
        var a = f.Host.Add(Sim.V2(memory: Memory));
        long cut = whole * percent / 100;
        a.Faults.TruncateSaveStreamAt = cut;
        var o = Assert.Single(DeviceSetSaver.Save(new[] { f.Save(a.Address, "cut.vfiostate") }, new SaveOptions { Live = live }, false, false));
        Assert.True(o.Succeeded, o.Error?.Message);
        Assert.Equal(cut, o.Image!.DataBytes);
        // A live save cut in pre-copy also leaves initial data unsent, which the pre-copy check says on its own.
        var warning = Assert.Single(o.Warnings!, w => w.Contains("MIG_DATA_SIZE", StringComparison.Ordinal));
        Assert.All(o.Warnings!, w => Assert.True(w.Contains("MIG_DATA_SIZE", StringComparison.Ordinal) || (live && w.Contains("initial data still unsent", StringComparison.Ordinal)), w));
        Assert.Contains(a.Address, warning);
        Assert.Contains("MIG_DATA_SIZE", warning);
        Assert.Matches(@"\b\d{4,}\b.*\b\d{4,}\b", warning);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void AWholeStreamGivesNoWarning(bool live) => WholeStreamBytes(live);

    [Fact]
    public void ATinyStreamCutToThreeQuartersIsFlaggedToo()
    {
        using var f = new ImageFixture();
        var a = f.Host.Add(Sim.V2(memory: 16 * 1024));
        var whole = Assert.Single(DeviceSetSaver.Save(new[] { f.Save(a.Address, "whole.vfiostate") }, new SaveOptions { FinalState = MigrationState.Running }, false, false));
        Assert.Empty(whole.Warnings ?? Array.Empty<string>());
        a.Faults.TruncateSaveStreamAt = whole.Image!.DataBytes * 3 / 4;
        var o = Assert.Single(DeviceSetSaver.Save(new[] { f.Save(a.Address, "cut.vfiostate") }, new SaveOptions(), false, false));
        Assert.Contains($"{whole.Image.DataBytes * 3 / 4}", Assert.Single(o.Warnings!));
    }

    [Fact]
    public void PreCopyDataTheDeviceCountsAsSentButTheStreamNeverDeliveredIsFlaggedFromPrecopyInfo()
    {
        var host = new SimulatedHost();
        var a = host.Add(Sim.V2(memory: Memory));
        using var session = new VfioHostSession(new SimulatedBackend(host));
        using var lossy = new DropsOnePreCopyRead(session.Migration(a.Address));
        var sunk = new MemoryStream();
        var save = new DeviceSave(lossy, chunk => sunk.Write(chunk));
        DeviceStateSaver.Run(new[] { save }, new SaveOptions { Live = true, ChunkSize = 64 * 1024 }, null, CancellationToken.None);
        Assert.True(lossy.Dropped > 0);
        var warning = Assert.Single(save.StreamWarnings);
        Assert.Contains("PRECOPY_INFO", warning);
        Assert.Contains($"{lossy.Dropped}", warning);
    }

    /// <summary>A driver that loses the second pre-copy read (reports it as "nothing now"), as a buggy data path would.</summary>
    private sealed class DropsOnePreCopyRead(IDeviceMigration inner) : IDeviceMigration
    {
        private int _reads;
        public long Dropped { get; private set; }
        public string Address => inner.Address;
        public MigrationProtocol Protocol => inner.Protocol;
        public MigrationCapabilities Capabilities => inner.Capabilities;
        public Func<string?>? WhatResetLoses { get => inner.WhatResetLoses; set => inner.WhatResetLoses = value; }
        public MigrationState GetState() => inner.GetState();
        public MigrationState ObserveState(out bool leftByAnotherProcess) => inner.ObserveState(out leftByAnotherProcess);
        public string? ResetUnavailable => inner.ResetUnavailable;
        public uint? ReadRawState() => inner.ReadRawState();
        public TransitionPlan Plan(MigrationState current, MigrationState target) => inner.Plan(current, target);
        public TransitionResult RequestState(MigrationState target, CancellationToken cancellationToken = default) => inner.RequestState(target, cancellationToken);
        public PrecopyInfo? GetPrecopyInfo() => inner.GetPrecopyInfo();
        public ulong? GetStopCopySize() => inner.GetStopCopySize();
        public void WriteResumeData(ReadOnlySpan<byte> data) => inner.WriteResumeData(data);
        public void Reset() => inner.Reset();
        public bool ProbeDmaLogging() => inner.ProbeDmaLogging();
        public void Dispose() { }

        public SaveReadResult ReadSaveData(Span<byte> buffer)
        {
            var r = inner.ReadSaveData(buffer);
            if (r.Bytes > 0 && ++_reads == 2 && inner.GetState() == MigrationState.PreCopy)
            {
                Dropped = r.Bytes;
                return new SaveReadResult(0, false);
            }
            return r;
        }
    }
}
