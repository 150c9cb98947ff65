using VfioMigration.Transport;

namespace VfioMigration.Backends.Simulated;

/// <summary>An open simulated device: the simulator's side of the transport seam.</summary>
internal sealed class SimulatedDeviceHandle : IVfioDeviceTransport
{
    private readonly SimulatedDevice _device;
    private bool _closed;

    public SimulatedDeviceHandle(SimulatedDevice device) => _device = device;

    public string Address => _device.Address;
    public int GetDeviceInfo(Span<byte> info) => Live() ?? _device.GetDeviceInfo(info);
    public int GetRegionInfo(Span<byte> info) => Live() ?? _device.GetRegionInfo(info);
    public int Read(long offset, Span<byte> buffer) => Live() ?? _device.Read(offset, buffer);
    public int Write(long offset, ReadOnlySpan<byte> buffer) => Live() ?? _device.Write(offset, buffer);
    public int Feature(Span<byte> argument) => Live() ?? _device.Feature(argument);
    public int Reset() => Live() ?? _device.Reset();
    public IMigrationDataChannel AdoptDataChannel(int fd) => _device.Adopt(fd);

    private int? Live() => _closed ? -Protocol.Errno.EBADF : null;

    public void Dispose()
    {
        if (_closed) return;
        _closed = true;
        _device.Close(this);
    }
}
