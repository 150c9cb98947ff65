using System.Buffers.Binary;
using VfioMigration.Protocol;
using VfioMigration.Protocol.Uapi;
using VfioMigration.Transport;

using L = VfioMigration.Protocol.MigrationRegionLayout;

namespace VfioMigration.Backends.Simulated;

/// <summary>
/// A simulated device's open handle as a defective driver answers it: the calls pass to the healthy simulator and
/// the answers are bent as <see cref="SimulatedDefect"/> says. Kept apart from the simulator so a healthy device
/// has no defect code on its paths.
/// </summary>
internal sealed class DefectiveTransport : IVfioDeviceTransport
{
    private readonly IVfioDeviceTransport _inner;
    private readonly SimulatedDevice _device;
    private readonly HashSet<SimulatedDefect> _defects;
    private MigrationState? _stray;
    private int _resetGeneration;
    private long? _v1Base;
    private int _readsSinceStop = -1;

    private DefectiveTransport(IVfioDeviceTransport inner, SimulatedDevice device, IEnumerable<SimulatedDefect> defects)
    {
        _inner = inner;
        _device = device;
        _defects = defects.ToHashSet();
        if (Has(SimulatedDefect.PrecopyOptInSurvivesClose) && device.PrecopyFlagsWereOutputAtClose)
            _inner.Feature(DeviceFeatureBuffer.Create(VfioUapi.FeatureMigPrecopyInfoV2, VfioUapi.FeatureSet, 0));
        if (Has(SimulatedDefect.NotRunningAfterOpen))
        {
            if (device.Options.Protocol == MigrationProtocol.V2) InnerSet(MigrationState.Stop);
            else WriteV1State(0x0);
        }
    }

    /// <summary>The handle as the device's defects bend it; the handle itself when it has none.</summary>
    public static IVfioDeviceTransport Wrap(SimulatedDevice device, IVfioDeviceTransport handle) =>
        device.Options.Defects.Count == 0 ? handle : new DefectiveTransport(handle, device, device.Options.Defects);

    /// <summary>Why a device cannot play these defects (protocol, capabilities), or null.</summary>
    public static string? Problem(SimulatedDeviceOptions o)
    {
        bool v2 = o.Protocol == MigrationProtocol.V2, v1 = o.Protocol == MigrationProtocol.V1;
        foreach (var d in o.Defects)
        {
            string? why = d switch
            {
                SimulatedDefect.V1SpontaneousStateChange when !v1 => "needs a v1 device",
                SimulatedDefect.NotRunningAfterOpen or SimulatedDefect.ResetKeepsState when !v1 && !v2 => "needs a device with migration",
                SimulatedDefect.QuiesceLeaksP2P when !(v2 && o.Capabilities.HasFlag(MigrationCapabilities.P2P)) && !(v1 && o.Capabilities.HasFlag(MigrationCapabilities.Ndma))
                    => "needs a v2 device with P2P or a v1 device with Ndma",
                SimulatedDefect.PreCopyInitialBytesGrow or SimulatedDefect.PreCopyInfoOmitsQueuedData when !(v2 && o.Capabilities.HasFlag(MigrationCapabilities.PreCopy)) => "needs a v2 device with PreCopy",
                SimulatedDefect.DmaLoggingRepeatedStart when !(v2 && o.DmaLogging) => "needs a v2 device with DMA logging",
                SimulatedDefect.PrecopyInfoV2ProbeRefused or SimulatedDefect.PrecopyFlagsEchoedAfterOptIn or SimulatedDefect.ReinitWithoutOptIn or SimulatedDefect.PrecopyOptInSurvivesClose
                    when !(v2 && o.Capabilities.HasFlag(MigrationCapabilities.PreCopy) && o.PrecopyInfoV2) => "needs a v2 device with PreCopy on a kernel with PRECOPY_INFOv2",
                SimulatedDefect.PrecopyInfoV2WithoutPreCopy when !(v2 && !o.Capabilities.HasFlag(MigrationCapabilities.PreCopy) && o.PrecopyInfoV2)
                    => "needs a v2 device without PreCopy on a kernel with PRECOPY_INFOv2",
                SimulatedDefect.V1SpontaneousStateChange or SimulatedDefect.NotRunningAfterOpen or SimulatedDefect.ResetKeepsState or SimulatedDefect.QuiesceLeaksP2P
                    or SimulatedDefect.PreCopyInitialBytesGrow or SimulatedDefect.PreCopyInfoOmitsQueuedData or SimulatedDefect.DmaLoggingRepeatedStart
                    or SimulatedDefect.PrecopyInfoV2ProbeRefused or SimulatedDefect.PrecopyFlagsEchoedAfterOptIn or SimulatedDefect.ReinitWithoutOptIn
                    or SimulatedDefect.PrecopyOptInSurvivesClose or SimulatedDefect.PrecopyInfoV2WithoutPreCopy => null,
                _ when !v2 => "needs a v2 device",
                _ => null,
            };
            if (why is not null) return $"The defect {d} {why}.";
        }
        return null;
    }

    private bool Has(SimulatedDefect d) => _defects.Contains(d);

    public string Address => _inner.Address;
    public int GetDeviceInfo(Span<byte> info) => _inner.GetDeviceInfo(info);
    public int GetRegionInfo(Span<byte> info) => _inner.GetRegionInfo(info);

    public int Read(long offset, Span<byte> buffer)
    {
        int rc = _inner.Read(offset, buffer);
        if (Has(SimulatedDefect.V1SpontaneousStateChange) && rc == 4 && offset == V1Base + L.DeviceStateOffset && _readsSinceStop >= 0 && ++_readsSinceStop >= 3)
        {
            // The device restarts itself: a watchdog in the driver, a firmware that resumes on its own.
            _readsSinceStop = -1;
            WriteV1State(0x1);
        }
        return rc;
    }

    public int Write(long offset, ReadOnlySpan<byte> buffer)
    {
        int rc = _inner.Write(offset, buffer);
        if (_device.Options.Protocol == MigrationProtocol.V1 && buffer.Length == 4 && offset == V1Base + L.DeviceStateOffset && rc == 4)
        {
            _readsSinceStop = (BinaryPrimitives.ReadUInt32LittleEndian(buffer) & 0xF) == 0 ? 0 : -1;
            LeakP2P();
        }
        return rc;
    }

    public int Feature(Span<byte> argument)
    {
        if (argument.Length < 8) return _inner.Feature(argument);
        uint argsz = DeviceFeatureBuffer.ArgSize(argument), flags = DeviceFeatureBuffer.Flags(argument);
        uint id = flags & VfioUapi.FeatureMask;
        bool probe = (flags & VfioUapi.FeatureProbe) != 0, get = (flags & VfioUapi.FeatureGet) != 0, set = (flags & VfioUapi.FeatureSet) != 0;
        if (Has(SimulatedDefect.ArgszUnchecked) && argsz < VfioUapi.FeatureHeaderSize) return 0;
        if (id == VfioUapi.FeatureMigPrecopyInfoV2)
        {
            if (probe && Has(SimulatedDefect.PrecopyInfoV2ProbeRefused)) return -Errno.EINVAL;
            // The opt-in taken without PRE_COPY: the device says yes and changes nothing.
            if (Has(SimulatedDefect.PrecopyInfoV2WithoutPreCopy) && set && !get) return 0;
        }
        if (id == VfioUapi.FeatureMigDeviceState && set && !probe && !get && argument.Length >= 16) return SetState(argument);
        if (id == VfioUapi.FeatureMigDeviceState && get && !probe && !set && _stray is { } stray)
        {
            int g = _inner.Feature(argument);
            if (g == 0) BinaryPrimitives.WriteUInt32LittleEndian(argument[8..], (uint)stray);
            return g;
        }
        if (id == VfioUapi.FeatureDmaLoggingStart && set && !probe && Has(SimulatedDefect.DmaLoggingRepeatedStart))
        {
            var copy = argument.ToArray();
            int first = _inner.Feature(argument);
            if (first != -Errno.EBUSY) return first;
            _inner.Feature(DeviceFeatureBuffer.Create(VfioUapi.FeatureDmaLoggingStop, VfioUapi.FeatureSet, 0));
            copy.CopyTo(argument);
            return _inner.Feature(argument);
        }
        int rc = _inner.Feature(argument);
        if (rc != 0) return rc;
        if (id == VfioUapi.FeatureMigration && get && !probe && Has(SimulatedDefect.UndefinedMigrationFlags) && argument.Length >= 16)
            BinaryPrimitives.WriteUInt64LittleEndian(argument[8..], BinaryPrimitives.ReadUInt64LittleEndian(argument[8..]) | 0x8);
        if (id == VfioUapi.FeatureMigration && probe && Has(SimulatedDefect.ProbeWritesBack) && argument.Length >= 16)
            BinaryPrimitives.WriteUInt64LittleEndian(argument[8..], (ulong)_device.Options.Capabilities & 0x7);
        if (id == VfioUapi.FeatureMigDataSize && get && !probe && Has(SimulatedDefect.DataSizeWrong) && argument.Length >= 16)
            BinaryPrimitives.WriteUInt64LittleEndian(argument[8..], BinaryPrimitives.ReadUInt64LittleEndian(argument[8..]) * 16);
        return rc;
    }

    private int SetState(Span<byte> argument)
    {
        uint target = DeviceFeatureBuffer.ReadDeviceState(argument);
        var before = InnerGet();
        bool supported = target is > 0 and < 8 && TransitionPlanner.IsSupported((MigrationState)target, _device.Options.Capabilities);
        if (Has(SimulatedDefect.SameStateSetFails) && before == (MigrationState)target)
        {
            BinaryPrimitives.WriteInt32LittleEndian(argument[12..], -1);
            return -Errno.EBUSY;
        }
        int rc = _inner.Feature(argument);
        if (rc < 0 && supported && before == MigrationState.Resuming)
        {
            if (Has(SimulatedDefect.AcceptsTruncatedStream))
            {
                // The driver swallows the failed load: it resets the device and goes where it was asked.
                _inner.Reset();
                rc = _inner.Feature(argument);
            }
            else if (Has(SimulatedDefect.FailedSetLeavesStrayState))
            {
                _stray = MigrationState.Running;
                return rc;
            }
        }
        if (rc == 0) { _stray = null; LeakP2P(); }
        return rc;
    }

    private void LeakP2P()
    {
        if (!Has(SimulatedDefect.QuiesceLeaksP2P)) return;
        lock (_device.SyncRoot)
            if (_device.Model.RunLevel is RunLevel.NoPeerToPeer or RunLevel.NoDma) _device.Model.SetRunLevel(RunLevel.Running);
    }

    public IMigrationDataChannel AdoptDataChannel(int fd) => new Channel(this, _inner.AdoptDataChannel(fd), _resetGeneration);

    public int Reset()
    {
        var before = _device.Options.Protocol == MigrationProtocol.V2 ? InnerGet() : null;
        uint? rawBefore = _device.Options.Protocol == MigrationProtocol.V1 ? ReadV1State() : null;
        int rc = _inner.Reset();
        if (rc != 0) return rc;
        _resetGeneration++;
        _stray = null;
        _readsSinceStop = -1;
        if (Has(SimulatedDefect.ResetKeepsState))
        {
            if (before is MigrationState.Stop or MigrationState.RunningP2P) InnerSet(before.Value);
            if ((rawBefore & 0xF) is 0x0 or 0x9) WriteV1State(rawBefore!.Value & 0xF);
        }
        return rc;
    }

    public void Dispose() => _inner.Dispose();

    private MigrationState? InnerGet()
    {
        var b = DeviceFeatureBuffer.MigDeviceState(VfioUapi.FeatureGet, MigrationState.Running);
        return _inner.Feature(b) == 0 ? (MigrationState)DeviceFeatureBuffer.ReadDeviceState(b) : null;
    }

    private void InnerSet(MigrationState s) => _inner.Feature(DeviceFeatureBuffer.MigDeviceState(VfioUapi.FeatureSet, s));

    private long V1Base => _v1Base ??= FindV1Region();

    private long FindV1Region()
    {
        if (_device.Options.Protocol != MigrationProtocol.V1) return -1;
        var calls = new CheckedDeviceCalls(_inner);
        for (uint i = 0; i < 16; i++)
            if (calls.GetRegionInfo(i) is { RegionType: (VfioUapi.RegionTypeMigration, VfioUapi.RegionSubtypeMigration) } r) return (long)r.Offset;
        return -1;
    }

    private uint? ReadV1State()
    {
        Span<byte> b = stackalloc byte[4];
        return _inner.Read(V1Base + L.DeviceStateOffset, b) == 4 ? BinaryPrimitives.ReadUInt32LittleEndian(b) : null;
    }

    private void WriteV1State(uint value)
    {
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(b, value);
        _inner.Write(V1Base + L.DeviceStateOffset, b);
    }

    /// <summary>A data fd as the defective driver answers it.</summary>
    private sealed class Channel : IMigrationDataChannel
    {
        private readonly DefectiveTransport _owner;
        private readonly IMigrationDataChannel _inner;
        private readonly int _generation;
        private long _read;

        public Channel(DefectiveTransport owner, IMigrationDataChannel inner, int generation)
        {
            _owner = owner;
            _inner = inner;
            _generation = generation;
        }

        public int Fd => _inner.Fd;

        private bool Outlived => _owner.Has(SimulatedDefect.ResetKeepsDataFd) && _generation != _owner._resetGeneration;

        public int Read(Span<byte> buffer)
        {
            int rc = _inner.Read(buffer);
            if (rc < 0 && Outlived) return 0;
            if (rc == 0 && _owner.Has(SimulatedDefect.StopCopyEndsWithEnomsg)) return -Errno.ENOMSG;
            if (rc > 0) _read += rc;
            return rc;
        }

        public int Write(ReadOnlySpan<byte> buffer)
        {
            int rc = _inner.Write(buffer);
            return rc < 0 && Outlived ? buffer.Length : rc;
        }

        public int Ioctl(uint request, Span<byte> argument)
        {
            uint flagsIn = argument.Length >= 8 ? BinaryPrimitives.ReadUInt32LittleEndian(argument[4..]) : 0;
            int rc = _inner.Ioctl(request, argument);
            if (rc == 0 && request == VfioUapi.VFIO_MIG_GET_PRECOPY_INFO && argument.Length >= 8)
            {
                bool optedIn = _owner._device.PrecopyFlagsAreOutput;
                if (optedIn && _owner.Has(SimulatedDefect.PrecopyFlagsEchoedAfterOptIn))
                    BinaryPrimitives.WriteUInt32LittleEndian(argument[4..], flagsIn | BinaryPrimitives.ReadUInt32LittleEndian(argument[4..]));
                if (!optedIn && _owner.Has(SimulatedDefect.ReinitWithoutOptIn))
                    BinaryPrimitives.WriteUInt32LittleEndian(argument[4..], flagsIn | VfioUapi.PrecopyInfoReinit);
            }
            if (rc == 0 && request == VfioUapi.VFIO_MIG_GET_PRECOPY_INFO && _owner.Has(SimulatedDefect.PreCopyInitialBytesGrow) && argument.Length >= 16)
                BinaryPrimitives.WriteUInt64LittleEndian(argument[8..], BinaryPrimitives.ReadUInt64LittleEndian(argument[8..]) + 2 * (ulong)_read);
            if (rc == 0 && request == VfioUapi.VFIO_MIG_GET_PRECOPY_INFO && _owner.Has(SimulatedDefect.PreCopyInfoOmitsQueuedData) && _read > 0 && argument.Length >= 24)
                argument[8..24].Clear(); // initial_bytes 0, dirty_bytes 0: only what the device has not yet staged would count
            return rc;
        }

        public void Dispose() => _inner.Dispose();
    }
}
