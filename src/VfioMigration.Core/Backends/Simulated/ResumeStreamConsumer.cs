using System.Buffers.Binary;
using VfioMigration.Protocol;

namespace VfioMigration.Backends.Simulated;

/// <summary>
/// Takes a resume session's bytes in any chunking and loads them into the device. The header is checked as
/// soon as it is complete (a foreign or corrupt header fails that write, as mtty does); pages load as they
/// arrive; the register state is held until the session is finalized; bytes after End fail the write.
/// </summary>
internal sealed class ResumeStreamConsumer
{
    private readonly SimulatedDeviceModel _model;
    private readonly byte[] _header = new byte[DeviceStreamFormat.RecordHeaderSize];
    private int _headerFill;
    private byte[]? _payload;
    private int _payloadFill;
    private readonly byte[] _pagePayload = new byte[PagedMemory.PageSize]; // reused: a restore loads thousands of pages
    private DeviceStreamFormat.RecordKind _kind;
    private ulong _argument;
    private bool _sawHeader;
    private bool _sawEnd;
    private byte[]? _state;
    private ulong _pageRecords;
    private long _bytes;
    private long _recordStart;

    public ResumeStreamConsumer(SimulatedDeviceModel model) => _model = model;

    public long BytesConsumed => _bytes;
    /// <summary>Why the stream was refused, once it has been.</summary>
    public string? Failure { get; private set; }

    /// <summary>Consumes bytes; returns 0 or a negated errno (the stream is then dead).</summary>
    public int Write(ReadOnlySpan<byte> data)
    {
        if (Failure is not null) return -Errno.EINVAL;
        while (!data.IsEmpty)
        {
            if (_sawEnd) return Fail(-Errno.EINVAL, "data after the end of the stream");
            if (_payload is null)
            {
                int n = Math.Min(data.Length, _header.Length - _headerFill);
                data[..n].CopyTo(_header.AsSpan(_headerFill));
                _headerFill += n;
                _bytes += n;
                data = data[n..];
                if (_headerFill < _header.Length) break;
                int rc = BeginRecord();
                if (rc != 0) return rc;
            }
            else
            {
                int n = Math.Min(data.Length, _payload.Length - _payloadFill);
                data[..n].CopyTo(_payload.AsSpan(_payloadFill));
                _payloadFill += n;
                _bytes += n;
                data = data[n..];
            }
            if (_payload is not null && _payloadFill == _payload.Length)
            {
                int rc = EndRecord();
                if (rc != 0) return rc;
            }
        }
        return 0;
    }

    /// <summary>Leaving RESUMING: the stream must be complete; then the register state is loaded.</summary>
    public int Finish()
    {
        if (Failure is not null) return -Errno.EINVAL;
        if (!_sawEnd) return Fail(-Errno.EINVAL, _sawHeader ? "stream incomplete: no end record" : "stream empty or incomplete header");
        if (_state is null || !_model.TryLoadState(_state)) return Fail(-Errno.EINVAL, "device state record missing or malformed");
        return 0;
    }

    private int BeginRecord()
    {
        _kind = (DeviceStreamFormat.RecordKind)BinaryPrimitives.ReadUInt32LittleEndian(_header);
        uint length = BinaryPrimitives.ReadUInt32LittleEndian(_header.AsSpan(4));
        _argument = BinaryPrimitives.ReadUInt64LittleEndian(_header.AsSpan(8));
        _recordStart = _bytes - _header.Length;
        if (!_sawHeader && _kind != DeviceStreamFormat.RecordKind.Header)
            return Fail(-Errno.EFAULT, "stream does not start with a device header");
        uint expected = _kind switch
        {
            DeviceStreamFormat.RecordKind.Header => DeviceStreamFormat.HeaderPayloadSize,
            DeviceStreamFormat.RecordKind.Page => PagedMemory.PageSize,
            DeviceStreamFormat.RecordKind.End => DeviceStreamFormat.EndPayloadSize,
            DeviceStreamFormat.RecordKind.State => length <= 1 << 20 ? length : uint.MaxValue,
            _ => uint.MaxValue,
        };
        if (expected == uint.MaxValue || length != expected)
            return Fail(-Errno.EFAULT, $"malformed record (kind {(uint)_kind}, length {length})");
        if (_kind == DeviceStreamFormat.RecordKind.Header && _sawHeader)
            return Fail(-Errno.EFAULT, "second device header");
        if (_kind == DeviceStreamFormat.RecordKind.Page && _argument >= (ulong)_model.Memory.PageCount)
            return Fail(-Errno.EFAULT, $"page {_argument} beyond device memory");
        _payload = _kind == DeviceStreamFormat.RecordKind.Page ? _pagePayload : new byte[length];
        _payloadFill = 0;
        return 0;
    }

    private int EndRecord()
    {
        var payload = _payload!;
        _payload = null;
        _headerFill = 0;
        switch (_kind)
        {
            case DeviceStreamFormat.RecordKind.Header:
                if (DeviceStreamFormat.CheckHeader(payload, _model) is { } why) return Fail(-Errno.EFAULT, why);
                _sawHeader = true;
                break;
            case DeviceStreamFormat.RecordKind.Page:
                _model.Memory.LoadPage((int)_argument, payload);
                _pageRecords++;
                break;
            case DeviceStreamFormat.RecordKind.State:
                _state = payload;
                break;
            case DeviceStreamFormat.RecordKind.End:
                if (_argument != _pageRecords || BinaryPrimitives.ReadUInt64LittleEndian(payload) != (ulong)_recordStart)
                    return Fail(-Errno.EINVAL, "end record does not match the data received");
                _sawEnd = true;
                break;
        }
        return 0;
    }

    private int Fail(int rc, string why)
    {
        Failure = why;
        return rc;
    }
}
