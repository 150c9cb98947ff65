using VfioMigration.Protocol;
using VfioMigration.Protocol.Uapi;

namespace VfioMigration.Transport;

/// <summary>
/// A transport that passes every call through and counts the MIG_DEVICE_STATE SETs that reach the device, so a check
/// can prove none was sent (docs/protocol.md checklist 16: StopCopy -> PreCopy is refused in userspace).
/// </summary>
internal sealed class CountingTransport : IVfioDeviceTransport
{
    private IVfioDeviceTransport _inner;
    public CountingTransport(IVfioDeviceTransport inner) => _inner = inner;

    /// <summary>Goes on over a new handle of the same device (the conformance suite's close-and-reopen check); counts carry on.</summary>
    public void Replace(IVfioDeviceTransport inner) => _inner = inner;

    /// <summary>SETs of MIG_DEVICE_STATE that ask for a state change (PROBE not set).</summary>
    public int StateSets { get; private set; }

    /// <summary>SETs of MIG_DEVICE_STATE with PROBE set, which only ask whether the feature is there.</summary>
    public int StateSetProbes { get; private set; }

    public string Address => _inner.Address;
    public int GetDeviceInfo(Span<byte> info) => _inner.GetDeviceInfo(info);
    public int GetRegionInfo(Span<byte> info) => _inner.GetRegionInfo(info);
    public int Read(long offset, Span<byte> buffer) => _inner.Read(offset, buffer);
    public int Write(long offset, ReadOnlySpan<byte> buffer) => _inner.Write(offset, buffer);

    public int Feature(Span<byte> argument)
    {
        if (argument.Length >= 8)
        {
            uint flags = DeviceFeatureBuffer.Flags(argument);
            if ((flags & (VfioUapi.FeatureMask | VfioUapi.FeatureSet)) == (VfioUapi.FeatureMigDeviceState | VfioUapi.FeatureSet))
            {
                if ((flags & VfioUapi.FeatureProbe) != 0) StateSetProbes++;
                else StateSets++;
            }
        }
        return _inner.Feature(argument);
    }

    public IMigrationDataChannel AdoptDataChannel(int fd) => _inner.AdoptDataChannel(fd);
    public int Reset() => _inner.Reset();
    /// <summary>Does nothing: the device belongs to whoever opened it, who disposes it.</summary>
    public void Dispose() { }
}
