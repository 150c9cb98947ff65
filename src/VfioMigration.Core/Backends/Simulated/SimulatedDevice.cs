using System.Buffers.Binary;
using VfioMigration.Protocol;
using VfioMigration.Protocol.Uapi;
using VfioMigration.Transport;

namespace VfioMigration.Backends.Simulated;

/// <summary>
/// One simulated VFIO device: the model (PCI function or ccw subchannel), its regions, and its migration uAPI
/// (none, a v1 region or the v2 features), answering the same calls a kernel device fd answers. Opening it gives
/// an <see cref="IVfioDeviceTransport"/>; closing that resets the migration state, as closing a real device does.
/// </summary>
public sealed class SimulatedDevice
{
    private const int RegionShift = 40;
    private readonly object _sync = new();
    private readonly Dictionary<int, SimulatedDataChannel> _channels = new();
    private readonly SimulatedV2Migration? _v2;
    private readonly SimulatedV1MigrationRegion? _v1;
    private readonly DmaLoggingTracker? _dmaLog;
    private readonly Func<int> _allocateFd;
    private SimulatedDeviceHandle? _openHandle;

    internal SimulatedDevice(SimulatedDeviceOptions options, GuestMemory guest, Func<int> allocateFd)
    {
        Options = options;
        _allocateFd = allocateFd;
        Model = options.Kind == SimulatedDeviceKind.Pci
            ? new SimulatedPciModel(options.PciIdentity, options.MemorySize, options.Seed, guest)
            : new SimulatedCcwModel(options.CcwDeviceNumber, options.CcwControlUnitType, options.MemorySize, options.Seed, guest);
        if (options.Protocol == MigrationProtocol.V2) _v2 = new SimulatedV2Migration(this, options.Capabilities);
        if (options.Protocol == MigrationProtocol.V1)
            _v1 = new SimulatedV1MigrationRegion(this, options.Capabilities.HasFlag(MigrationCapabilities.Ndma), options.StrictV1, options.V1DataSectionSize);
        if (options.DmaLogging && _v2 is not null) _dmaLog = new DmaLoggingTracker(guest);
    }

    public SimulatedDeviceOptions Options { get; }
    public string Address => Options.Address;
    public SimulatedDeviceModel Model { get; }

    /// <summary>The model as a ccw subchannel (channel programs, CRWs); null for a PCI function.</summary>
    public SimulatedCcwModel? Ccw => Model as SimulatedCcwModel;
    public FaultInjector Faults { get; } = new();
    public bool IsOpen => _openHandle is not null;
    public object SyncRoot => _sync;

    /// <summary>The migration state as the device itself holds it (for tests and diagnostics; users GET it).</summary>
    public MigrationState? MigrationState => _v2?.State ?? _v1?.State;
    public uint? V1DeviceState => _v1?.DeviceState;
    /// <summary>v2: the arcs the device has executed since it was created (diagnostics and conformance tests).</summary>
    public IList<MigrationArc> ArcHistory => _v2?.ArcHistory ?? (IList<MigrationArc>)Array.Empty<MigrationArc>();
    /// <summary>
    /// v2: the current opener opted in to PRECOPY_INFOv2 (feature 12): PRECOPY_INFO flags are an output. Cleared
    /// when the device is closed (vfio_df_close), not by a reset.
    /// </summary>
    public bool PrecopyFlagsAreOutput { get; internal set; }
    /// <summary>Whether the opt-in was set when the device was last closed (a defect may carry it over).</summary>
    internal bool PrecopyFlagsWereOutputAtClose { get; private set; }
    /// <summary>v2: initial bytes the last pre-copy session had not sent when it switched to stop-copy; null before.</summary>
    public long? InitialBytesAtStopCopy { get; private set; }
    /// <summary>v2: how often the last pre-copy session re-initialized its data (<see cref="SimulatedDeviceOptions.PreCopyReinitAfterBytes"/>).</summary>
    public int PreCopyReinits { get; private set; }
    /// <summary>v2: the data fds currently open.</summary>
    public int OpenDataChannels { get { lock (_sync) return _channels.Count; } }

    /// <summary>
    /// Another (simulated) process that holds the device, as a VM's QEMU would: opening it fails with EBUSY, and the
    /// backend names this holder. Null: nobody else holds it.
    /// </summary>
    public DeviceHolder? HeldBy { get; set; }

    /// <summary>Opens the device for exclusive use; a second open fails with EBUSY, like a held group.</summary>
    public IVfioDeviceTransport Open()
    {
        lock (_sync)
        {
            if (_openHandle is not null || HeldBy is not null) throw new VfioCallException(Address, "open", Errno.EBUSY);
            _openHandle = new SimulatedDeviceHandle(this);
            return DefectiveTransport.Wrap(this, _openHandle);
        }
    }

    internal void Close(SimulatedDeviceHandle handle)
    {
        lock (_sync)
        {
            if (_openHandle != handle) return;
            _openHandle = null;
            PrecopyFlagsWereOutputAtClose = PrecopyFlagsAreOutput;
            PrecopyFlagsAreOutput = false;
            if (!Options.StateSurvivesClose) ResetMigration();
        }
    }

    /// <summary>Lets a running device do <paramref name="steps"/> units of work, as time passing would.</summary>
    public void Advance(int steps)
    {
        lock (_sync) for (int i = 0; i < steps; i++) Model.Step();
    }

    private void Activity()
    {
        for (int i = 0; i < Options.StepsPerAccess; i++) Model.Step();
    }

    // ---- uAPI entry points (called through the handle) ----

    internal int GetDeviceInfo(Span<byte> info)
    {
        lock (_sync)
        {
            if (info.Length < VfioUapi.DeviceInfoMinSize || BinaryPrimitives.ReadUInt32LittleEndian(info) < VfioUapi.DeviceInfoMinSize)
                return -Errno.EINVAL;
            uint flags = (Options.Kind == SimulatedDeviceKind.Pci ? VfioUapi.DeviceFlagPci : VfioUapi.DeviceFlagCcw)
                         | (Options.SupportsReset ? VfioUapi.DeviceFlagReset : 0);
            uint irqs = Options.Kind == SimulatedDeviceKind.Pci ? 5u : 3u;
            new DeviceInfo(flags, (uint)RegionCount, irqs, 0).WriteTo(info);
            return 0;
        }
    }

    internal int GetRegionInfo(Span<byte> info)
    {
        lock (_sync)
        {
            if (info.Length < RegionInfo.HeaderSize || BinaryPrimitives.ReadUInt32LittleEndian(info) < RegionInfo.HeaderSize)
                return -Errno.EINVAL;
            uint index = BinaryPrimitives.ReadUInt32LittleEndian(info[8..]);
            var region = Region((int)index);
            if (region is null) return -Errno.EINVAL;
            region.WriteTo(info);
            return 0;
        }
    }

    internal int Read(long offset, Span<byte> buffer)
    {
        lock (_sync)
        {
            if (Faults.Check(FaultPoint.RegionAccess) is var f and < 0) return f;
            var (index, at) = Split(offset);
            var region = Region(index);
            if (region is null || !region.CanRead || at < 0 || at + buffer.Length > (long)region.Size) return -Errno.EINVAL;
            int rc = RegionRead(index, at, buffer);
            if (index != VfioUapi.PciConfigRegionIndex || Options.Kind != SimulatedDeviceKind.Pci) Activity();
            return rc;
        }
    }

    internal int Write(long offset, ReadOnlySpan<byte> buffer)
    {
        lock (_sync)
        {
            if (Faults.Check(FaultPoint.RegionAccess) is var f and < 0) return f;
            var (index, at) = Split(offset);
            var region = Region(index);
            if (region is null || !region.CanWrite || at < 0 || at + buffer.Length > (long)region.Size) return -Errno.EINVAL;
            Activity();
            return RegionWrite(index, at, buffer);
        }
    }

    internal int Feature(Span<byte> argument)
    {
        lock (_sync)
        {
            if (argument.Length < VfioUapi.FeatureHeaderSize) return -Errno.EFAULT;
            uint argsz = DeviceFeatureBuffer.ArgSize(argument);
            uint flags = DeviceFeatureBuffer.Flags(argument);
            if (argsz < VfioUapi.FeatureHeaderSize) return -Errno.EINVAL;
            if ((flags & ~(VfioUapi.FeatureMask | VfioUapi.FeatureGet | VfioUapi.FeatureSet | VfioUapi.FeatureProbe)) != 0) return -Errno.EINVAL;
            if ((flags & VfioUapi.FeatureProbe) == 0 && (flags & VfioUapi.FeatureGet) != 0 && (flags & VfioUapi.FeatureSet) != 0) return -Errno.EINVAL;
            if (argsz > argument.Length) return -Errno.EFAULT;
            if (Faults.Check(FaultPoint.FeatureCall) is var f and < 0) return f;
            Activity();
            var payload = argument[VfioUapi.FeatureHeaderSize..(int)argsz];
            uint id = flags & VfioUapi.FeatureMask;
            bool migrationFeature = id is VfioUapi.FeatureMigration or VfioUapi.FeatureMigDeviceState or VfioUapi.FeatureMigDataSize;
            bool loggingFeature = id is VfioUapi.FeatureDmaLoggingStart or VfioUapi.FeatureDmaLoggingStop or VfioUapi.FeatureDmaLoggingReport;
            // Feature 12 is the core's (7.3): a device without migration has no PRE_COPY, so EINVAL.
            if (id == VfioUapi.FeatureMigPrecopyInfoV2 && Options.PrecopyInfoV2)
                return _v2 is null ? -Errno.EINVAL : _v2.Feature(flags, payload, argsz);
            if (migrationFeature)
                return _v2 is null ? -Errno.ENOTTY : _v2.Feature(flags, payload, argsz);
            if (loggingFeature)
                return _dmaLog is null ? -Errno.ENOTTY : DmaLoggingFeature(id, flags, argsz, payload);
            // Unknown index: the vfio-pci family answers ENOTTY; drivers without a feature handler (vfio-ccw) EINVAL.
            return Options.Kind == SimulatedDeviceKind.Pci ? -Errno.ENOTTY : -Errno.EINVAL;
        }
    }

    internal int Reset()
    {
        lock (_sync)
        {
            if (!Options.SupportsReset) return -Errno.EINVAL;
            if (Faults.Check(FaultPoint.Reset) is var f and < 0) return f;
            Model.ResetFunction();
            ResetMigration();
            return 0;
        }
    }

    internal IMigrationDataChannel Adopt(int fd)
    {
        lock (_sync)
        {
            if (!_channels.TryGetValue(fd, out var channel)) throw new VfioCallException(Address, $"adopt data fd {fd}", Errno.EBADF);
            return channel;
        }
    }

    // ---- data channels ----

    internal SimulatedDataChannel RegisterChannel(SaveStreamProducer? producer, ResumeStreamConsumer? consumer)
    {
        var channel = new SimulatedDataChannel(this, _allocateFd(), producer, consumer);
        _channels[channel.Fd] = channel;
        return channel;
    }

    internal int ChannelRead(SimulatedDataChannel channel, Span<byte> buffer)
    {
        lock (_sync)
        {
            if (channel.IsClosed) return -Errno.EBADF;
            if (!channel.IsSaving) return -Errno.EBADF;
            if (channel.SessionEnded) return -Errno.ENODEV;
            if (Faults.Check(FaultPoint.StreamRead) is var f and < 0) return f;
            Activity();
            var producer = channel.Producer!;
            MaybeReinitialize(producer);
            int n = ReadSave(producer, buffer);
            if (n == 0 && channel.Producer!.IsPreCopy && !Options.PreCopyEmptyReadReturnsZero) return -Errno.ENOMSG;
            return n;
        }
    }

    internal int ChannelWrite(SimulatedDataChannel channel, ReadOnlySpan<byte> buffer)
    {
        lock (_sync)
        {
            if (channel.IsClosed || channel.IsSaving) return -Errno.EBADF;
            if (channel.SessionEnded) return -Errno.ENODEV;
            if (Faults.Check(FaultPoint.StreamWrite) is var f and < 0) return f;
            int rc = channel.Consumer!.Write(buffer);
            return rc != 0 ? rc : buffer.Length;
        }
    }

    internal int ChannelIoctl(SimulatedDataChannel channel, uint request, Span<byte> argument)
    {
        lock (_sync)
        {
            if (channel.IsClosed) return -Errno.EBADF;
            if (request != VfioUapi.VFIO_MIG_GET_PRECOPY_INFO) return -Errno.ENOTTY;
            if (argument.Length < VfioUapi.PrecopyInfoSize || BinaryPrimitives.ReadUInt32LittleEndian(argument) < VfioUapi.PrecopyInfoSize)
                return -Errno.EINVAL;
            if (channel.SessionEnded || !channel.IsSaving || _v2?.State is not (Protocol.MigrationState.PreCopy or Protocol.MigrationState.PreCopyP2P))
                return -Errno.EINVAL;
            var p = channel.Producer!;
            MaybeReinitialize(p);
            // Without the opt-in the flags field is left as the caller wrote it (echoed, as every driver before 7.3
            // did); with it, the field is an output: 0, or REINIT once after each re-init (vfio_check_precopy_ioctl).
            uint? flags = null;
            if (PrecopyFlagsAreOutput)
            {
                flags = p.ReinitPending ? VfioUapi.PrecopyInfoReinit : 0;
                p.ReinitPending = false;
            }
            new PrecopyInfo((ulong)p.InitialBytesRemaining, (ulong)p.DirtyBytes).WriteTo(argument, flags);
            return 0;
        }
    }

    /// <summary>
    /// The reconfiguration of <see cref="SimulatedDeviceOptions.PreCopyReinitAfterBytes"/>: once the pre-copy session
    /// has produced that many bytes, at the next read or PRECOPY_INFO, once per session.
    /// </summary>
    private void MaybeReinitialize(SaveStreamProducer producer)
    {
        if (!producer.IsPreCopy || producer.Reinits != 0 || Options.PreCopyReinitAfterBytes is not { } after || producer.BytesProduced < after) return;
        producer.Reinitialize(announce: PrecopyFlagsAreOutput);
        PreCopyReinits = producer.Reinits;
    }

    internal void NotePreCopyEnded(SaveStreamProducer producer)
    {
        InitialBytesAtStopCopy = producer.InitialBytesAtStopCopy;
        PreCopyReinits = producer.Reinits;
    }

    internal void ChannelClosed(SimulatedDataChannel channel)
    {
        lock (_sync) _channels.Remove(channel.Fd);
    }

    /// <summary>Reads the save stream with the armed truncation and corruption applied.</summary>
    internal int ReadSave(SaveStreamProducer producer, Span<byte> buffer)
    {
        long at = producer.BytesProduced;
        if (Faults.TruncateSaveStreamAt is { } cut)
        {
            if (at >= cut) return 0;
            if (at + buffer.Length > cut) buffer = buffer[..(int)(cut - at)];
        }
        int n = producer.Read(buffer);
        if (Faults.CorruptSaveStreamAt is { } c && c >= at && c < at + n) buffer[(int)(c - at)] ^= 0xFF;
        return n;
    }

    private void ResetMigration()
    {
        _v2?.Reset();
        _v1?.Reset();
        foreach (var c in _channels.Values) c.SessionEnded = true;
        Model.SetRunLevel(RunLevel.Running);
    }

    private int DmaLoggingFeature(uint id, uint flags, uint argsz, Span<byte> payload) => id switch
    {
        VfioUapi.FeatureDmaLoggingStart => SimulatedV2Migration.CheckFeature(flags, argsz, VfioUapi.FeatureSet, 24) is var rc and <= 0 ? rc : _dmaLog!.Start(payload),
        VfioUapi.FeatureDmaLoggingStop => SimulatedV2Migration.CheckFeature(flags, argsz, VfioUapi.FeatureSet, 0) is var rc and <= 0 ? rc : _dmaLog!.Stop(),
        _ => SimulatedV2Migration.CheckFeature(flags, argsz, VfioUapi.FeatureGet, 32) is var rc and <= 0 ? rc : _dmaLog!.Report(payload),
    };

    // ---- regions ----

    private int RegionCount => Options.Kind == SimulatedDeviceKind.Pci
        ? VfioUapi.PciNumRegions + (_v1 is null ? 0 : 1)
        : 4 + (_v1 is null ? 0 : 1);

    private int MigrationRegionIndex => Options.Kind == SimulatedDeviceKind.Pci ? VfioUapi.PciNumRegions : 4;

    private static (int Index, long At) Split(long offset) => ((int)(offset >> RegionShift), offset & ((1L << RegionShift) - 1));

    private static ulong OffsetOf(int index) => (ulong)index << RegionShift;

    private RegionInfo? Region(int index)
    {
        const uint rw = VfioUapi.RegionFlagRead | VfioUapi.RegionFlagWrite;
        if (index < 0 || index >= RegionCount) return null;
        if (_v1 is not null && index == MigrationRegionIndex)
            return new RegionInfo((uint)index, rw, (ulong)_v1.Size, OffsetOf(index), _v1.Capabilities);
        var none = Array.Empty<RegionCapability>();
        if (Options.Kind == SimulatedDeviceKind.Pci)
            return index switch
            {
                0 => new RegionInfo(0, rw, 4096, OffsetOf(0), none),                    // BAR0: registers
                VfioUapi.PciConfigRegionIndex => new RegionInfo((uint)index, rw, SimulatedPciModel.ConfigSpaceSize, OffsetOf(index), none),
                8 => null,                                                             // VGA: not a VGA device
                _ => new RegionInfo((uint)index, 0, 0, OffsetOf(index), none),          // unimplemented BAR
            };
        return index switch
        {
            0 => new RegionInfo(0, rw, SimulatedCcwModel.IoRegionSize, OffsetOf(0), none),
            1 => new RegionInfo(1, rw, SimulatedCcwModel.CmdRegionSize, OffsetOf(1), new[] { RegionCapability.Type(VfioUapi.RegionTypeCcw, VfioUapi.RegionSubtypeCcwAsyncCmd) }),
            2 => new RegionInfo(2, VfioUapi.RegionFlagRead, SimulatedCcwModel.SchibSize, OffsetOf(2), new[] { RegionCapability.Type(VfioUapi.RegionTypeCcw, VfioUapi.RegionSubtypeCcwSchib) }),
            _ => new RegionInfo(3, VfioUapi.RegionFlagRead, SimulatedCcwModel.CrwRegionSize, OffsetOf(3), new[] { RegionCapability.Type(VfioUapi.RegionTypeCcw, VfioUapi.RegionSubtypeCcwCrw) }),
        };
    }

    private int RegionRead(int index, long at, Span<byte> buffer)
    {
        if (_v1 is not null && index == MigrationRegionIndex) return _v1.Read(at, buffer);
        if (Model is SimulatedPciModel pci)
        {
            if (index == VfioUapi.PciConfigRegionIndex) pci.ConfigSpace.Slice((int)at, buffer.Length).CopyTo(buffer);
            else ReadRegisters(at, buffer);
            return buffer.Length;
        }
        var ccw = (SimulatedCcwModel)Model;
        switch (index)
        {
            case 0: ccw.IoRegion.Slice((int)at, buffer.Length).CopyTo(buffer); break;
            case 1: ccw.CommandRegion.Slice((int)at, buffer.Length).CopyTo(buffer); break;
            case 2: ccw.StoreSubchannel().Slice((int)at, buffer.Length).CopyTo(buffer); break;
            default:
                if (at != 0 || buffer.Length < 4) return -Errno.EINVAL;
                buffer.Clear();
                BinaryPrimitives.WriteUInt32BigEndian(buffer, ccw.TakeCrw());
                break;
        }
        return buffer.Length;
    }

    private int RegionWrite(int index, long at, ReadOnlySpan<byte> buffer)
    {
        if (_v1 is not null && index == MigrationRegionIndex) return _v1.Write(at, buffer);
        if (Model is SimulatedPciModel pci)
        {
            if (index == VfioUapi.PciConfigRegionIndex) pci.WriteConfig((int)at, buffer);
            else if (at % 4 == 0 && buffer.Length == 4 && at / 4 < SimulatedDeviceModel.RegisterCount && !Model.IsFrozen)
                Model.WriteRegister((int)(at / 4), BinaryPrimitives.ReadUInt32LittleEndian(buffer));
            return buffer.Length;
        }
        var ccw = (SimulatedCcwModel)Model;
        return index == 0 ? ccw.WriteIoRegion((int)at, buffer) : ccw.WriteCommandRegion((int)at, buffer);
    }

    private void ReadRegisters(long at, Span<byte> buffer)
    {
        buffer.Clear();
        var regs = Model.Registers;
        for (int i = 0; i < buffer.Length; i++)
        {
            long b = at + i;
            if (b / 4 < regs.Length) buffer[i] = (byte)(regs[(int)(b / 4)] >> (int)(8 * (b % 4)));
        }
    }
}
