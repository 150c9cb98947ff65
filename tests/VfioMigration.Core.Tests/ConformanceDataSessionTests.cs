using System.Buffers.Binary;
using VfioMigration.Backends.Simulated;
using VfioMigration.Protocol;
using VfioMigration.Protocol.Uapi;
using static VfioMigration.Protocol.MigrationState;

namespace VfioMigration.Tests;

/// <summary>Conformance checklist, docs/protocol.md §8.3 (data sessions) against the simulated devices.</summary>
public class ConformanceDataSessionTests
{
    [Fact]
    public void C23_StopCopyFromStopOpensAFdAndFromPreCopyContinuesTheOldOne()
    {
        var (_, d) = Sim.One(Sim.V2());
        using var t = d.Open();
        Sim.Set(t, Stop);
        var (rc, _, fd) = Sim.Set(t, StopCopy);
        Assert.Equal(0, rc);
        Assert.True(fd >= 0);
        t.AdoptDataChannel(fd).Dispose();
        Sim.Set(t, Running);

        var (_, _, preFd) = Sim.Set(t, PreCopy);
        using var pre = t.AdoptDataChannel(preFd);
        Assert.True(pre.Read(new byte[4096]) > 0);
        var (rc2, _, fd2) = Sim.Set(t, StopCopy);
        Assert.Equal((0, -1), (rc2, fd2));
        Assert.True(Sim.ReadToEnd(pre).Length > 0, "the pre-copy fd carries the stop-copy data");
    }

    [Fact]
    public void C24_ResumeFdIsWriteOnlyAndPreCopyFdIsReadOnly()
    {
        var (_, d) = Sim.One(Sim.V2());
        using var t = d.Open();
        var (_, _, preFd) = Sim.Set(t, PreCopy);
        using (var pre = t.AdoptDataChannel(preFd))
            Assert.Equal(-Errno.EBADF, pre.Write(new byte[8]));
        Sim.Set(t, Running);
        var (_, _, resFd) = Sim.Set(t, Resuming);
        using var res = t.AdoptDataChannel(resFd);
        Assert.Equal(-Errno.EBADF, res.Read(new byte[8]));
    }

    [Fact]
    public void C25_MultiHopSetReturnsAFdOnlyWhenTheFinalArcOpensASession()
    {
        var (_, d) = Sim.One(Sim.V2());
        using var t = d.Open();
        var (rc, _, fd) = Sim.Set(t, StopCopy); // Running -> RunningP2P -> Stop -> StopCopy
        Assert.Equal(0, rc);
        Assert.True(fd >= 0);
        var (rc2, _, fd2) = Sim.Set(t, Running); // StopCopy -> Stop -> RunningP2P -> Running
        Assert.Equal((0, -1), (rc2, fd2));
    }

    [Fact]
    public void C26_DataFdsAreCloseOnExecStreamFiles()
    {
        var (_, d) = Sim.One(Sim.V2());
        using var t = d.Open();
        var (_, _, fd) = Sim.Set(t, StopCopy);
        var ch = (SimulatedDataChannel)t.AdoptDataChannel(fd);
        Assert.True(ch.CloseOnExec);
        Assert.Equal(-Errno.ESPIPE, ch.PositionalRead(0, new byte[8]));
    }

    [Fact]
    public void C27_ReadingPastTheEndOfStopCopyKeepsReturningZero()
    {
        var (_, d) = Sim.One(Sim.V2());
        using var t = d.Open();
        var (_, _, fd) = Sim.Set(t, StopCopy);
        using var ch = t.AdoptDataChannel(fd);
        Sim.ReadToEnd(ch);
        Assert.Equal(0, ch.Read(new byte[100]));
        Assert.Equal(0, ch.Read(new byte[100]));
    }

    [Theory]
    [InlineData(false, -Errno.ENOMSG)]
    [InlineData(true, 0)]
    public void C28_PreCopyNothingNowIsZeroOrEnomsgAndStopCopyAddsMore(bool zero, int expected)
    {
        var (_, d) = Sim.One(Sim.V2() with { PreCopyEmptyReadReturnsZero = zero, StepsPerAccess = 0 });
        using var t = d.Open();
        var (_, _, fd) = Sim.Set(t, PreCopy);
        using var ch = t.AdoptDataChannel(fd);
        var buf = new byte[1 << 20];
        while (ch.Read(buf) > 0) { }
        Assert.Equal(expected, ch.Read(buf));
        Sim.Set(t, StopCopy);
        Assert.True(Sim.ReadToEnd(ch).Length > 0, "stop-copy must deliver the device state after pre-copy");
    }

    [Fact]
    public void C29_OldFdFailsAfterItsSessionEndsAndClosingItChangesNothing()
    {
        var (_, d) = Sim.One(Sim.V2());
        using var t = d.Open();
        var (_, _, fd) = Sim.Set(t, StopCopy);
        var ch = t.AdoptDataChannel(fd);
        Sim.Set(t, Stop);
        Assert.Equal(-Errno.ENODEV, ch.Read(new byte[8]));
        ch.Dispose();
        Assert.Equal(Stop, Sim.Get(t));

        Sim.Set(t, Running);
        var (_, _, preFd) = Sim.Set(t, PreCopy);
        var pre = t.AdoptDataChannel(preFd);
        Sim.Set(t, Running);
        Assert.Equal(-Errno.ENODEV, pre.Read(new byte[8]));

        var (_, _, fd3) = Sim.Set(t, PreCopy);
        var ch3 = t.AdoptDataChannel(fd3);
        t.Dispose(); // device close resets it
        Assert.Equal(-Errno.ENODEV, ch3.Read(new byte[8]));
    }

    [Fact]
    public void C30_PrecopyInfoValidatesAndInitialBytesFallByExactlyWhatWasRead()
    {
        var (_, d) = Sim.One(Sim.V2());
        using var t = d.Open();
        var (_, _, fd) = Sim.Set(t, PreCopy);
        using var ch = t.AdoptDataChannel(fd);
        var info = PrecopyInfo.CreateRequest();
        BinaryPrimitives.WriteUInt32LittleEndian(info, 23);
        Assert.Equal(-Errno.EINVAL, ch.Ioctl(VfioUapi.VFIO_MIG_GET_PRECOPY_INFO, info));
        Assert.Equal(-Errno.ENOTTY, ch.Ioctl(VfioUapi.VFIO_DEVICE_FEATURE, PrecopyInfo.CreateRequest()));

        var before = PrecopyInfo.CreateRequest();
        Assert.Equal(0, ch.Ioctl(VfioUapi.VFIO_MIG_GET_PRECOPY_INFO, before));
        int read = ch.Read(new byte[10_000]);
        var after = PrecopyInfo.CreateRequest();
        Assert.Equal(0, ch.Ioctl(VfioUapi.VFIO_MIG_GET_PRECOPY_INFO, after));
        Assert.True(PrecopyInfo.Parse(before).InitialBytes > 0);
        Assert.Equal(PrecopyInfo.Parse(before).InitialBytes - (ulong)read, PrecopyInfo.Parse(after).InitialBytes);

        Sim.Set(t, StopCopy);
        Assert.Equal(-Errno.EINVAL, ch.Ioctl(VfioUapi.VFIO_MIG_GET_PRECOPY_INFO, PrecopyInfo.CreateRequest()));
    }

    [Fact]
    public void C31_StreamRoundTripGivesAnIdenticalDevice()
    {
        var host = new SimulatedHost();
        var a = host.Add(Sim.V2(seed: 1));
        var b = host.Add(Sim.V2(address: "0000:01:00.1", seed: 2));
        a.Advance(300);
        Assert.NotEqual(a.Model.CaptureState(), b.Model.CaptureState());
        using var ta = a.Open();
        using var tb = b.Open();
        var (_, _, fa) = Sim.Set(ta, StopCopy);
        byte[] stream;
        using (var ch = ta.AdoptDataChannel(fa)) stream = Sim.ReadToEnd(ch);
        var (_, _, fb) = Sim.Set(tb, Resuming);
        using (var ch = tb.AdoptDataChannel(fb)) Assert.Equal(stream.Length, ch.Write(stream));
        Assert.Equal(0, Sim.Set(tb, Stop).Rc);
        Sim.AssertSameDeviceState(a, b);
        Assert.Equal(0, Sim.Set(tb, Running).Rc);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(4093)]
    [InlineData(int.MaxValue)]
    public void C32_ResumeAcceptsAnyChunking(int chunk)
    {
        var options = Sim.V2(memory: 32 * 1024);
        var stream = Sim.SavedStream(options with { Seed = 99 });
        var (_, d) = Sim.One(options);
        using var t = d.Open();
        var (_, _, fd) = Sim.Set(t, Resuming);
        using var ch = t.AdoptDataChannel(fd);
        for (int at = 0; at < stream.Length; at += chunk)
        {
            int n = Math.Min(chunk, stream.Length - at);
            Assert.Equal(n, ch.Write(stream.AsSpan(at, n)));
        }
        Assert.Equal(0, Sim.Set(t, Stop).Rc);
    }

    [Fact]
    public void C33_TruncatedStreamFailsLeavingResumingAndResetRecovers()
    {
        var options = Sim.V2();
        var stream = Sim.SavedStream(options);
        var (_, d) = Sim.One(options);
        using var t = d.Open();
        var (_, _, fd) = Sim.Set(t, Resuming);
        using var ch = t.AdoptDataChannel(fd);
        ch.Write(stream.AsSpan(0, stream.Length - 100));
        Assert.Equal(-Errno.EINVAL, Sim.Set(t, Stop).Rc);
        Assert.Contains(Sim.Get(t), new[] { Resuming, Error });
        Assert.Equal(0, t.Reset());
        Assert.Equal(Running, Sim.Get(t));
    }

    [Theory]
    [InlineData(0)]   // record kind
    [InlineData(16)]  // magic
    [InlineData(24)]  // format version
    [InlineData(32)]  // device identity
    public void C34_CorruptedHeaderNeverResumesSilently(int offset)
    {
        var options = Sim.V2();
        var stream = Sim.SavedStream(options);
        stream[offset] ^= 0x5A;
        var (_, d) = Sim.One(options);
        using var t = d.Open();
        var (_, _, fd) = Sim.Set(t, Resuming);
        using var ch = t.AdoptDataChannel(fd);
        int w = ch.Write(stream);
        int leave = Sim.Set(t, Stop).Rc;
        Assert.True(w < 0 || leave < 0, "a corrupted header must fail the write or leaving Resuming");
    }

    [Fact]
    public void C35_ExtraTrailingBytesFail()
    {
        var options = Sim.V2();
        var stream = Sim.SavedStream(options).Concat(new byte[] { 1, 2, 3 }).ToArray();
        var (_, d) = Sim.One(options);
        using var t = d.Open();
        var (_, _, fd) = Sim.Set(t, Resuming);
        using var ch = t.AdoptDataChannel(fd);
        int w = ch.Write(stream);
        int leave = Sim.Set(t, Stop).Rc;
        Assert.True(w < 0 || leave < 0);
    }

    [Fact]
    public void C36_AbortingARestoreIsAReset()
    {
        var options = Sim.V2();
        var stream = Sim.SavedStream(options);
        var (_, d) = Sim.One(options);
        using var t = d.Open();
        var (_, _, fd) = Sim.Set(t, Resuming);
        using var ch = t.AdoptDataChannel(fd);
        ch.Write(stream.AsSpan(0, 1000));
        Assert.Equal(-Errno.EINVAL, Sim.Set(t, Stop).Rc); // leaving Resuming validates: not a way out
        Assert.Equal(Resuming, Sim.Get(t));
        Assert.Equal(0, t.Reset());
        Assert.Equal(Running, Sim.Get(t));
        Assert.Equal(-Errno.ENODEV, ch.Write(stream.AsSpan(1000, 10)));
    }

    [Fact]
    public void C37_MigDataSizeEqualsTheBytesStopCopyProduces()
    {
        var (_, d) = Sim.One(Sim.V2(memory: 128 * 1024));
        d.Advance(100);
        using var t = d.Open();
        Sim.Set(t, Stop);
        var (rc, b) = Sim.Feature(t, VfioUapi.FeatureGet | VfioUapi.FeatureMigDataSize, 8);
        Assert.Equal(0, rc);
        var (_, _, fd) = Sim.Set(t, StopCopy);
        using var ch = t.AdoptDataChannel(fd);
        Assert.Equal(BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(8)), (ulong)Sim.ReadToEnd(ch).Length);
    }
}
