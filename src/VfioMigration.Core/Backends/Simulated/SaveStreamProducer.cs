using System.Buffers.Binary;

namespace VfioMigration.Backends.Simulated;

/// <summary>
/// Produces one save session's bytes. In pre-copy the device runs: every page is sent once (the initial data),
/// and pages written again after they were sent are queued as dirty and sent again. After the switch to
/// stop-copy the remaining dirty pages, the register state and the End record follow, then end of stream.
/// </summary>
internal sealed class SaveStreamProducer : IDisposable
{
    private readonly SimulatedDeviceModel _model;
    private readonly bool[] _dirty;
    private readonly Queue<int> _dirtyQueue = new();
    private byte[] _record = Array.Empty<byte>();
    private int _recordPos;
    private bool _recordIsInitial;
    private int _cursor;            // next page of the initial pass
    private bool _headerSent;
    private bool _tailQueued;
    private bool _endSent;
    private ulong _pageRecords;
    private long _initialRemaining;
    private readonly byte[] _pageRecord = new byte[DeviceStreamFormat.PageRecordSize];

    public SaveStreamProducer(SimulatedDeviceModel model, bool preCopy)
    {
        _model = model;
        _dirty = new bool[model.Memory.PageCount];
        IsPreCopy = preCopy;
        _initialRemaining = DeviceStreamFormat.RecordHeaderSize + DeviceStreamFormat.HeaderPayloadSize
            + (long)model.Memory.PageCount * DeviceStreamFormat.PageRecordSize;
        model.Memory.PageWritten += OnPageWritten;
    }

    public bool IsPreCopy { get; private set; }
    public long BytesProduced { get; private set; }
    public bool IsComplete => _endSent && _recordPos >= _record.Length;

    /// <summary>Initial bytes not yet read (PRECOPY_INFO.initial_bytes): falls by exactly the bytes read.</summary>
    public long InitialBytesRemaining => _initialRemaining;
    /// <summary>
    /// Bytes of pages dirtied since they were sent, the rest of a dirty page record being read included
    /// (PRECOPY_INFO.dirty_bytes): together with <see cref="InitialBytesRemaining"/> exactly what read() still
    /// returns in pre-copy (docs/protocol.md checklist 30; mlx5 left queued data out until Linux 4928f67bc911).
    /// </summary>
    public long DirtyBytes => QueuedDirtyRecordBytes + (_recordIsInitial ? 0 : _record.Length - _recordPos);

    private long QueuedDirtyRecordBytes => (long)_dirtyQueue.Count * DeviceStreamFormat.PageRecordSize;

    /// <summary>Bytes a stop-copy from here would still produce (MIG_DATA_SIZE): exact, since the device is quiet.</summary>
    public long RemainingStopCopyBytes =>
        (_record.Length - _recordPos)
        + (_headerSent ? 0 : DeviceStreamFormat.RecordHeaderSize + DeviceStreamFormat.HeaderPayloadSize)
        + (long)(_model.Memory.PageCount - _cursor) * DeviceStreamFormat.PageRecordSize
        + QueuedDirtyRecordBytes
        + (_tailQueued ? 0 : DeviceStreamFormat.StateRecordSize(_model) + DeviceStreamFormat.EndRecordSize);

    /// <summary>Initial bytes not yet read when the session switched to stop-copy; null while in pre-copy.</summary>
    public long? InitialBytesAtStopCopy { get; private set; }

    /// <summary>How many times this session re-initialized its pre-copy data.</summary>
    public int Reinits { get; private set; }

    /// <summary>A re-init not yet reported by PRECOPY_INFO (VFIO_PRECOPY_INFO_REINIT is reported once per re-init).</summary>
    public bool ReinitPending { get; set; }

    public void SwitchToStopCopy()
    {
        InitialBytesAtStopCopy ??= _initialRemaining;
        IsPreCopy = false;
    }

    /// <summary>
    /// The device re-initializes its pre-copy data (a reconfiguration mid-save). <paramref name="announce"/> (the
    /// opener opted in to PRECOPY_INFOv2): the initial pass starts over, every page counts as initial data again
    /// and dirty bytes restart at zero, as VFIO_PRECOPY_INFO_REINIT says. Otherwise initial_bytes may not grow, so
    /// every page already sent is queued again as dirty data. The stream stays one valid stream either way: a page
    /// sent twice is applied twice.
    /// </summary>
    public void Reinitialize(bool announce)
    {
        Reinits++;
        if (!announce)
        {
            for (int page = 0; page < _cursor; page++) OnPageWritten(page);
            return;
        }
        long rest = _recordIsInitial ? _record.Length - _recordPos : 0;
        Array.Clear(_dirty);
        _dirtyQueue.Clear();
        _cursor = 0;
        _initialRemaining = rest
            + (_headerSent ? 0 : DeviceStreamFormat.RecordHeaderSize + DeviceStreamFormat.HeaderPayloadSize)
            + (long)_model.Memory.PageCount * DeviceStreamFormat.PageRecordSize;
        ReinitPending = true;
    }

    /// <summary>Copies the next bytes; 0 means "nothing now" in pre-copy and end of stream in stop-copy.</summary>
    public int Read(Span<byte> buffer)
    {
        int total = 0;
        while (total < buffer.Length)
        {
            if (_recordPos >= _record.Length && !NextRecord()) break;
            int n = Math.Min(buffer.Length - total, _record.Length - _recordPos);
            _record.AsSpan(_recordPos, n).CopyTo(buffer[total..]);
            _recordPos += n;
            total += n;
            BytesProduced += n;
            if (_recordIsInitial) _initialRemaining -= n;
        }
        return total;
    }

    private bool NextRecord()
    {
        _recordPos = 0;
        _recordIsInitial = false;
        if (!_headerSent)
        {
            _headerSent = true;
            _recordIsInitial = true;
            _record = DeviceStreamFormat.HeaderRecord(_model);
            return true;
        }
        if (_cursor < _model.Memory.PageCount)
        {
            _recordIsInitial = true;
            _record = PageRecord(_cursor++);
            return true;
        }
        if (_dirtyQueue.TryDequeue(out int page))
        {
            _dirty[page] = false;
            _record = PageRecord(page);
            return true;
        }
        if (IsPreCopy || _endSent)
        {
            _record = Array.Empty<byte>();
            return false;
        }
        if (!_tailQueued)
        {
            _tailQueued = true;
            var state = _model.CaptureState();
            _record = new byte[DeviceStreamFormat.RecordHeaderSize + state.Length];
            DeviceStreamFormat.WriteRecordHeader(_record, DeviceStreamFormat.RecordKind.State, state.Length, 0);
            state.CopyTo(_record.AsSpan(DeviceStreamFormat.RecordHeaderSize));
            return true;
        }
        _endSent = true;
        _record = new byte[DeviceStreamFormat.EndRecordSize];
        DeviceStreamFormat.WriteRecordHeader(_record, DeviceStreamFormat.RecordKind.End, DeviceStreamFormat.EndPayloadSize, _pageRecords);
        BinaryPrimitives.WriteUInt64LittleEndian(_record.AsSpan(DeviceStreamFormat.RecordHeaderSize), (ulong)BytesProduced);
        return true;
    }

    private byte[] PageRecord(int page)
    {
        // Reused: the previous record has been handed out completely before the next one is made.
        var r = _pageRecord;
        DeviceStreamFormat.WriteRecordHeader(r, DeviceStreamFormat.RecordKind.Page, PagedMemory.PageSize, (ulong)page);
        _model.Memory.Page(page).CopyTo(r.AsSpan(DeviceStreamFormat.RecordHeaderSize));
        _pageRecords++;
        return r;
    }

    private void OnPageWritten(int page)
    {
        // Pages not yet reached by the initial pass go out anyway; only those already sent are dirty.
        if (page < _cursor && !_dirty[page])
        {
            _dirty[page] = true;
            _dirtyQueue.Enqueue(page);
        }
    }

    public void Dispose() => _model.Memory.PageWritten -= OnPageWritten;
}
